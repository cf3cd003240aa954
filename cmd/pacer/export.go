package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/pacer-dev/pacer/metrics"
	"github.com/pacer-dev/pacer/store"
)

// runExport writes a dataset as CSV to standard output (SPEC section 4).
func runExport(ctx context.Context, args []string, env env, stdout, stderr io.Writer) error {
	fs := newFlagSet("export", env, stderr)
	var from, to, team, by string
	var services stringList
	fs.StringVar(&from, "from", "", "first `DATE` (YYYY-MM-DD, UTC, inclusive; default: the beginning of the data)")
	fs.StringVar(&to, "to", "", "last `DATE` (YYYY-MM-DD, UTC, inclusive; default: today)")
	fs.Var(&services, "service", "only this `SERVICE` (repeatable; a configured name or a project's full path)")
	fs.StringVar(&team, "team", "", "only this `TEAM`'s services or authors (from the config)")
	fs.StringVar(&by, "by", "week", "`PERIOD` of the metrics dataset: week, day, month or quarter")
	fs.Usage = func() {
		w := fs.Output()
		io.WriteString(w, "Usage: pacer export DATASET [flags]\n\nDATASET is one of: "+strings.Join(metrics.Datasets, ", ")+"\n\nFlags:\n")
		fs.PrintDefaults()
	}
	// The dataset may come before, after or between the flags.
	dataset, args := takeDataset(fs, args)
	if err := fs.parse(args); err != nil {
		return err
	}
	rest := fs.Args()
	if dataset == "" && len(rest) > 0 {
		dataset, rest = rest[0], rest[1:]
	}
	if len(rest) > 0 {
		return usagef("export: unexpected argument %q (give one dataset; flags such as --service repeat)", rest[0])
	}
	if dataset == "" {
		return usagef("export: which dataset? (pacer export DATASET, one of %s)", strings.Join(metrics.Datasets, ", "))
	}
	if !slices.Contains(metrics.Datasets, dataset) {
		return usagef("export: unknown dataset %q (use %s)", dataset, strings.Join(metrics.Datasets, ", "))
	}
	f := metrics.Filter{Services: services, Team: team, By: metrics.Period(by)}
	var err error
	if f.From, err = exportDate("from", from); err != nil {
		return err
	}
	if f.To, err = exportDate("to", to); err != nil {
		return err
	}
	switch f.By {
	case metrics.Week, metrics.Day, metrics.Month, metrics.Quarter:
	default:
		return usagef("export: --by %q is not a period (use week, day, month or quarter)", by)
	}
	if !f.From.IsZero() && !f.To.IsZero() && f.From.After(f.To) {
		return usagef("export: the range is reversed: --from %s is after --to %s (swap them)", from, to)
	}
	// Without --to the range ends today: a later --from is a reversed range too.
	if today := time.Now().UTC().Format(time.DateOnly); f.To.IsZero() && from > today {
		return usagef("export: the range is reversed: --from %s is after today, %s, where the range ends without --to", from, today)
	}
	cfg, dbPath, err := fs.loadConfig()
	if err != nil {
		return err
	}
	// A team typo is reported before the database is opened (Validate needs no store for it),
	// when the configuration is given; without one, the database's own is read first.
	if fs.config != "" {
		if err := metrics.New(nil, cfg).Validate(ctx, metrics.Filter{Team: f.Team}); err != nil {
			return usagef("export: --team: %v", err)
		}
	}
	st, err := store.OpenExisting(ctx, dbPath)
	if err != nil {
		return usageError{err.Error()}
	}
	defer st.Close()
	if cfg, err = fs.withStoredConfig(ctx, st, cfg); err != nil {
		return err
	}
	// Export only reads: it never derives the facts again under other rules than the stored ones.
	e := metrics.New(st, cfg).ReadOnly()
	if err := e.Validate(ctx, f); err != nil {
		var fe *metrics.FilterError
		if errors.As(err, &fe) {
			return usagef("export: --%s: %s", fe.Field, fe.Message)
		}
		return err
	}
	out := bufio.NewWriterSize(stdout, 64<<10)
	if err := metrics.WriteCSV(ctx, out, e, dataset, f); err != nil {
		var re *metrics.RulesError
		if errors.As(err, &re) {
			return usagef("export: %v", re)
		}
		return err
	}
	return out.Flush()
}

// takeDataset removes the first argument that is neither a flag nor a flag's value, so that
// the flags after it are parsed too (Go's flag package stops at the first non-flag argument).
func takeDataset(fs *flagSet, args []string) (string, []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break // what follows is positional; parse leaves it in fs.Args()
		}
		if a == "-" || !strings.HasPrefix(a, "-") {
			return a, append(args[:i:i], args[i+1:]...)
		}
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		f := fs.Lookup(name)
		if f == nil {
			continue // parse reports the unknown flag
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			continue
		}
		i++ // the flag's value
	}
	return "", args
}

// exportDate reads a YYYY-MM-DD flag value as a UTC date; empty is the zero time.
func exportDate(flag, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.DateOnly, v)
	if err != nil {
		return time.Time{}, usagef("export: --%s %q is not a date (use YYYY-MM-DD, such as 2026-03-02)", flag, v)
	}
	return t, nil
}
