package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pacer-dev/pacer/config"
	"github.com/pacer-dev/pacer/digest"
	"github.com/pacer-dev/pacer/metrics"
	"github.com/pacer-dev/pacer/store"
)

// digestNow is the clock that picks the last full week.
var digestNow = time.Now

// runDigest renders and sends the weekly digest (SPEC section 6).
func runDigest(ctx context.Context, args []string, env env, stdout, stderr io.Writer) error {
	fs := newFlagSet("digest", env, stderr)
	// --to is an address here but a date in export: its twin is PACER_DIGEST_TO, not PACER_TO.
	fs.twin("to", "PACER_DIGEST_TO")
	var weekFlag, out, team string
	var to, services stringList
	var dryRun bool
	fs.StringVar(&weekFlag, "week", "", "ISO `WEEK` to send, such as 2026-W09 (default: the last full week)")
	fs.Var(&to, "to", "send to this `ADDRESS` instead of the subscribers, even if it already had the week (repeatable)")
	fs.StringVar(&out, "out", "", "write the HTML digest to `FILE.html`; without --to, send nothing")
	fs.BoolVar(&dryRun, "dry-run", false, "list what would be sent, send and record nothing")
	fs.StringVar(&team, "team", "", "with --out: the digest of this `TEAM` (default: everyone)")
	fs.Var(&services, "service", "with --out: the digest of this `SERVICE` (repeatable)")
	fs.Usage = func() {
		w := fs.Output()
		io.WriteString(w, "Usage: pacer digest [--week YYYY-Www] [--to ADDR]... [--out FILE.html] [--dry-run]\n\n"+
			"Sends the weekly digest of the last full ISO week (or --week) to every subscriber who has\n"+
			"not had it yet. Subscriptions and SMTP settings come from the config file; the SMTP\n"+
			"password from PACER_SMTP_PASSWORD.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("digest: unexpected argument %q (flags such as --to repeat)", fs.Arg(0))
	}
	now := digestNow()
	week := digest.LastFullWeek(now)
	if weekFlag != "" {
		w, err := digest.ParseWeek(weekFlag)
		if err != nil {
			return usagef("digest: --week: %s", strings.TrimPrefix(err.Error(), "digest: "))
		}
		if w.End().After(now) {
			return usagef("digest: --week %s has not ended yet (the last full week is %s)", w, week)
		}
		week = w
	}
	if team != "" && len(services) > 0 {
		return usagef("digest: give --team or --service, not both")
	}
	if (team != "" || len(services) > 0) && out == "" {
		return usagef("digest: --team and --service choose the scope of --out; subscribers get their subscription's scope")
	}
	for _, a := range to {
		if !strings.Contains(a, "@") {
			return usagef("digest: --to %q is not an email address", a)
		}
	}
	if out != "" && !strings.EqualFold(filepath.Ext(out), ".html") && !strings.EqualFold(filepath.Ext(out), ".htm") {
		return usagef("digest: --out %q: give a file name ending in .html", out)
	}

	cfg, dbPath, err := fs.loadConfig()
	if err != nil {
		return err
	}
	scope := digest.Scope{Team: team, Services: services}
	if fs.config == "" {
		// Without --config the database's own configuration applies (its teams, subscriptions).
		st, err := store.OpenExisting(ctx, dbPath)
		if err != nil {
			return usageError{err.Error()}
		}
		cfg, err = fs.withStoredConfig(ctx, st, cfg)
		st.Close()
		if err != nil {
			return err
		}
	}
	if err := metrics.New(nil, cfg).Validate(ctx, metrics.Filter{Team: team}); err != nil {
		return usagef("digest: --team: %v", err)
	}
	sending := !dryRun && (out == "" || len(to) > 0)
	if sending || dryRun {
		if len(to) == 0 && len(cfg.Digest.Subscriptions) == 0 {
			if dryRun {
				// A dry run answers its question: nothing would be sent.
				fmt.Fprintln(stdout, "Nothing to send: no [[digest.subscription]] in the configuration and no --to (see docs/digest.md).")
				return nil
			}
			return usagef("digest: nobody to send to: add a [[digest.subscription]] to the config file (see docs/digest.md) or pass --to")
		}
	}
	if sending {
		if err := digest.New(nil, nil, cfg).CheckSMTP(); err != nil {
			return usagef("%v (see docs/digest.md)", err)
		}
	}

	st, err := store.OpenExisting(ctx, dbPath)
	if err != nil {
		return usageError{err.Error()}
	}
	defer st.Close()
	// The digest only reads the facts: it never derives them again under other rules.
	eng := metrics.New(st, cfg).ReadOnly()
	// The table below reports each recipient; the log only adds what goes wrong beyond that.
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	s := digest.New(st, eng, cfg, digest.WithLogger(logger))

	if out != "" {
		if err := validateScope(ctx, eng, scope); err != nil {
			return err
		}
		_, html, _, err := s.Render(ctx, week, scope)
		if err != nil {
			return err
		}
		if err := os.WriteFile(out, []byte(html), 0o644); err != nil {
			return fmt.Errorf("digest: write %s: %w", out, err)
		}
		fmt.Fprintf(stdout, "wrote the %s digest of %s to %s\n", strings.ToLower(scope.Label()), week, out)
		if !sending && !dryRun {
			return nil
		}
	}

	ds, err := s.Send(ctx, week, to, dryRun)
	printDeliveries(stdout, week, ds)
	if err != nil {
		var se *digest.SendError
		if errors.As(err, &se) {
			return exitError{code: 1, msg: fmt.Sprintf("digest: %d of %d messages not sent (the reasons are above); nothing is recorded for them, so the same command retries them",
				se.Failed, len(ds))}
		}
		return err
	}
	return nil
}

func validateScope(ctx context.Context, eng *metrics.Engine, scope digest.Scope) error {
	err := eng.Validate(ctx, metrics.Filter{Team: scope.Team, Services: scope.Services})
	var fe *metrics.FilterError
	if errors.As(err, &fe) {
		return usagef("digest: --%s: %s", fe.Field, fe.Message)
	}
	return err
}

func printDeliveries(w io.Writer, week digest.Week, ds []digest.Delivery) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, d := range ds {
		detail := d.Subject
		switch d.Status {
		case digest.AlreadySent:
			detail = "on " + d.SentAt.UTC().Format("2006-01-02 15:04 UTC") + " (pass --to to send it again)"
		case digest.Failed:
			detail = d.Err.Error()
		case digest.InProgress:
			detail = "another Pacer process is sending it right now"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", d.Status, week, d.Recipient, d.Scope.Label(), detail)
	}
	tw.Flush()
}

// digestJob is serve's weekly digest job, present when subscriptions and SMTP are configured.
// Its due check asks the store whether a subscriber lacks the due week (see digest.Schedule),
// so a restart neither resends nor skips; it runs on the job table's short tick.
func digestJob(st *store.Store, eng *metrics.Engine, cfg *config.Config, log *slog.Logger, opts ...digest.Option) (job, bool) {
	s := digest.New(st, eng, cfg, append([]digest.Option{digest.WithLogger(log)}, opts...)...)
	if err := s.Ready(); err != nil {
		if len(cfg.Digest.Subscriptions) > 0 {
			log.Warn("digest: not sending on schedule", "reason", err.Error())
		}
		return job{}, false
	}
	for _, err := range s.CheckSubscriptions(context.Background()) {
		log.Warn("digest: a subscription cannot be sent as configured", "error", err.Error())
	}
	next := s.Schedule().Next(time.Now())
	log.Info("digest: scheduled", "next_week", next.Week.String(), "next_at", next.At.Format(time.RFC3339),
		"subscriptions", len(cfg.Digest.Subscriptions))
	return job{
		name:  "digest",
		every: time.Minute,
		due:   s.Pending,
		run:   func(ctx context.Context) error { return s.SendDue(ctx, time.Now()) },
	}, true
}
