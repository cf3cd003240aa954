package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pacer-dev/pacer/auth"
	"github.com/pacer-dev/pacer/store"
)

// defaultTokenLife is how long a token lives unless --expires says otherwise.
const defaultTokenLife = "90d"

// runToken manages the machine tokens: create (printed once, stored as a hash), list, revoke.
func runToken(ctx context.Context, args []string, env env, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		writeDescription(stdout, "token")
		fmt.Fprintln(stdout, "Usage: pacer token create NAME [--project PATH]… [--expires 90d|never]")
		fmt.Fprintln(stdout, "       pacer token list")
		fmt.Fprintln(stdout, "       pacer token revoke NAME")
		fmt.Fprintln(stdout)
		fmt.Fprintln(stdout, "A token opens the CSV exports (/export/DATASET.csv) as Authorization: Bearer TOKEN,")
		fmt.Fprintln(stdout, "over the projects it was granted (every project when none is named).")
		writeExamples(stdout, "token")
		if len(args) == 0 {
			return usagef("token: say create, list or revoke (see pacer token -h)")
		}
		return nil
	}
	sub, rest := args[0], args[1:]
	fs := newFlagSet("token "+sub, env, stderr)
	var projects stringList
	expires := defaultTokenLife
	if sub == "create" {
		fs.Var(&projects, "project", "grant the project `PATH` (repeatable; none: every project)")
		fs.StringVar(&expires, "expires", defaultTokenLife, "the token's `LIFETIME`: days (90d), a duration (720h), or never")
		fs.twin("project", "")
		fs.twin("expires", "")
	}
	// The name may come before or after the flags: pacer token create ci --project a/b.
	var names []string
	for {
		if err := fs.parse(rest); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		names = append(names, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	switch sub {
	case "create", "revoke":
		if len(names) != 1 {
			return usagef("token %s: give one token NAME (see pacer token -h)", sub)
		}
	case "list":
		if len(names) > 0 {
			return usagef("token list: unexpected argument %q", names[0])
		}
	default:
		return usagef("token: unknown action %q (use create, list or revoke)", sub)
	}
	var until *time.Time
	if sub == "create" {
		d, err := parseLifetime(expires)
		if err != nil {
			return usagef("token create: --expires %q: %v", expires, err)
		}
		if d > 0 {
			t := time.Now().Add(d).UTC().Truncate(time.Second)
			until = &t
		}
	}
	cfg, dbPath, err := fs.loadConfig()
	if err != nil {
		return err
	}
	st, err := store.OpenExisting(ctx, dbPath)
	if err != nil {
		return err
	}
	defer st.Close()
	a := auth.New(auth.Options{Store: st, Config: cfg})

	switch sub {
	case "create":
		raw, err := a.CreateToken(ctx, names[0], projects, until)
		if err != nil {
			return usageError{strings.TrimPrefix(err.Error(), "auth: ")}
		}
		if len(projects) > 0 {
			ids, err := st.ProjectIDsByPath(ctx, projects)
			if err != nil {
				return err
			}
			if len(ids) < len(projects) {
				fmt.Fprintf(stderr, "note: %s of %d granted are not in the database yet; the token sees them once a sync brings them\n",
					plural(len(projects)-len(ids), "project", "projects"), len(projects))
			}
		}
		// The token alone on stdout, so a script can capture it; the rest on stderr.
		fmt.Fprintln(stdout, raw)
		fmt.Fprintf(stderr, "Token %q created: it reads %s, %s. It is shown only now: keep it in a secret store.\n",
			names[0], grantText(projects), expiryText(until))
		fmt.Fprintln(stderr, "Use it as: curl -H 'Authorization: Bearer TOKEN' https://pacer.example.com/export/merge-requests.csv")
		return nil
	case "revoke":
		if err := a.RevokeToken(ctx, names[0]); err != nil {
			return usageError{strings.TrimPrefix(err.Error(), "auth: ")}
		}
		fmt.Fprintf(stdout, "Token %q revoked: requests with it are refused from now on.\n", names[0])
		return nil
	}
	ts, err := a.Tokens(ctx)
	if err != nil {
		return err
	}
	if len(ts) == 0 {
		fmt.Fprintln(stdout, "No tokens. pacer token create NAME makes one.")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tPROJECTS\tCREATED\tEXPIRES\tLAST USED")
	for _, t := range ts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.Name, grantText(t.Projects), t.CreatedAt.Format(time.DateOnly),
			dateOr(t.ExpiresAt, "never"), dateOr(t.LastUsedAt, "never"))
	}
	return tw.Flush()
}

// parseLifetime reads 90d, 720h, 1h30m or never (0).
func parseLifetime(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "never" {
		return 0, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 1 || n > 3650 {
			return 0, fmt.Errorf("use a number of days from 1 to 3650, such as 90d")
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < time.Minute {
		return 0, fmt.Errorf("use days (90d), a duration of a minute or more (720h), or never")
	}
	return d, nil
}

func grantText(projects []string) string {
	if len(projects) == 0 {
		return "every project"
	}
	return strings.Join(projects, ", ")
}

func expiryText(t *time.Time) string {
	if t == nil {
		return "never expires"
	}
	return "expires " + t.Format("2006-01-02 15:04 UTC")
}

func dateOr(t *time.Time, none string) string {
	if t == nil {
		return none
	}
	return t.Format("2006-01-02 15:04")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}
