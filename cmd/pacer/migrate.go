package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/pacer-dev/pacer/store"
)

// runMigrate copies a SQLite database into PostgreSQL.
func runMigrate(ctx context.Context, args []string, env env, stdout, stderr io.Writer) error {
	fs := newFlagSet("migrate", env, stderr)
	from := fs.String("from", "", "the SQLite database `FILE` to copy (left untouched)")
	to := fs.String("to", "", "the PostgreSQL `URL` to copy into: postgres://USER:PASSWORD@HOST:PORT/DATABASE (its password may come from PGPASSWORD)")
	force := fs.Bool("force", false, "replace what the target already holds")
	if err := fs.parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("migrate: unexpected argument %q (see pacer migrate -h)", fs.Arg(0))
	}
	if *from == "" || *to == "" {
		return usagef("migrate: give --from FILE and --to postgres://… (see pacer migrate -h)")
	}
	if store.IsURL(*from) {
		return usagef("migrate: --from must be a SQLite file; %s is a PostgreSQL URL", store.Redact(*from))
	}
	if !store.IsURL(*to) {
		return usagef("migrate: --to must be a postgres:// or postgresql:// URL, not %q", *to)
	}
	if _, err := os.Stat(*from); err != nil {
		return usagef("migrate: cannot read %s: %v", *from, errors.Unwrap(err))
	}
	src, err := store.OpenSQLiteReadOnly(ctx, *from)
	if err != nil {
		return usagef("migrate: %v", err)
	}
	defer src.Close()
	dst, err := store.Open(ctx, *to)
	if err != nil {
		// A bad URL, an unreachable server, a refused password: one line, exit 2.
		return usagef("migrate: %v", err)
	}
	defer dst.Close()

	start := time.Now()
	tty := isTerminal(stderr)
	last := ""
	progress := func(table string, done, total int64) {
		if tty {
			fmt.Fprintf(stderr, "\r\033[Kcopying %-26s %9d / %d rows", table, done, total)
			return
		}
		if table != last && done == 0 {
			fmt.Fprintf(stderr, "copying %s (%d rows)\n", table, total)
		}
		last = table
	}
	counts, err := src.CopyTo(ctx, dst, *force, progress)
	if tty {
		fmt.Fprint(stderr, "\r\033[K")
	}
	if errors.Is(err, store.ErrTargetNotEmpty) {
		return usagef("migrate: %s: %v", dst.Path(), err)
	}
	if err != nil {
		return fmt.Errorf("migrate: %w (the target is unchanged: the copy is one transaction)", err)
	}
	var rows int64
	var bad []string
	for _, c := range counts {
		rows += c.Source
		if c.Source != c.Target {
			bad = append(bad, fmt.Sprintf("%s: %d in the source, %d in the target", c.Table, c.Source, c.Target))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("migrate: row counts differ after the copy: %v", bad)
	}
	fmt.Fprintf(stdout, "Copied %d rows in %d tables from %s to %s in %s; row counts verified.\n",
		rows, len(counts), *from, dst.Path(), time.Since(start).Round(time.Millisecond))
	fmt.Fprintf(stdout, "Serve it with: pacer serve --db '%s'\n", dst.Path())
	return nil
}
