package metrics

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"
)

// A rebuild derives every fact from scratch (the first refresh, changed rules, a new build).
// Done in one transaction, it held SQLite's only write lock for about 50 s on a million MRs,
// and every other writer (a sync, the digest's send records) gave up after its 10 s busy
// timeout. So it is staged:
//
//  1. The per-project fact tables (stagedTables) get empty copies named <table>_next.
//  2. Projects are derived into the copies in transactions of about rebuildBatch each, with
//     a pause between them in which a waiting writer gets the lock (SQLite's busy handler
//     retries every 100 ms at most, so a pause shorter than that could starve it).
//  3. One short transaction publishes: it renames the live tables to <table>_old and the
//     copies to the live names, writes the packed days and names (built in memory meanwhile),
//     derives coverage and records the fact state.
//  4. The old tables are dropped, one transaction each.
//
// Readers never see a half-derived state: until step 3 commits they read the previous facts,
// untouched, and from then on the new ones, all of them (WAL readers keep their snapshot).
// Renaming was chosen over copying staged rows into the live tables, which would write a
// million rows again inside the publishing transaction, and over a generation column in every
// fact table, which every query would have to filter on.
//
// Secondary indexes move with their table on a rename, so the copies' indexes cannot take the
// live names; they alternate between the migration's name and that name plus "_next"
// (stagedIndexName). No query names an index.
//
// Two processes may rebuild at once (serve and a sync started by hand); each start takes over
// the staged tables, recorded in fact_staging, and a rebuild that finds it was taken over stops
// without error: the other one publishes facts at least as recent.

// stagedTables are the fact tables a rebuild fills under other names and publishes by renaming.
// fact_days and fact_names are small (a few hundred rows) and written while publishing.
var stagedTables = []string{"mr_facts", "deployment_facts", "deployment_mr_facts", "fact_projects"}

const (
	stagedSuffix = "_next"
	oldSuffix    = "_old"
	// rebuildPause is the gap between a rebuild's transactions: longer than the 100 ms the
	// busy handler sleeps between attempts at most, so a waiting writer always gets a turn.
	rebuildPause = 110 * time.Millisecond
)

// rebuildBatch is how long one rebuild transaction keeps deriving projects before it commits
// (a project is never split: one with a very large history makes a longer transaction).
// Tests shorten it.
var rebuildBatch = time.Second

var errTakenOver = errors.New("metrics: another refresh took over the staged facts")

// rebuild derives every fact from scratch in short transactions and publishes them at once.
// fp identifies the rules; stats is filled in.
func (e *Engine) rebuild(ctx context.Context, fp string, isBot func(int64, string) bool, stats *refreshStats) error {
	// What to derive, read without the write lock: the projects and markers of one snapshot.
	// A project that changes after this is derived from its newer rows but stored with this
	// older marker, so the next refresh derives it again; a sync that finishes after this
	// changes the sync marker, so the published state is not current for it either.
	var (
		syncs    string
		projects []rawProject
		markers  map[int64]string
	)
	rtx, err := e.st.DB.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("metrics: begin read: %w", err)
	}
	if syncs, _, err = syncMarker(ctx, rtx); err == nil {
		if projects, err = e.loadProjects(ctx, rtx); err == nil {
			markers, err = projectMarkers(ctx, rtx)
		}
	}
	rtx.Rollback()
	if err != nil {
		return err
	}
	stats.n = len(projects)

	token, err := e.stageTables(ctx, stats)
	if errors.Is(err, errTakenOver) {
		slog.Info("metrics: another refresh took over deriving the facts; it publishes them")
		return nil
	}
	if err != nil {
		return err
	}
	pack := newPacker()
	for i := 0; i < len(projects); {
		if i > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(rebuildPause):
			}
		}
		err := e.timedTx(ctx, stats, func(tx *sql.Tx) error {
			if err := checkStaging(ctx, tx, token); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `PRAGMA cache_size = -131072`); err != nil {
				return fmt.Errorf("metrics: cache size: %w", err)
			}
			defer tx.ExecContext(context.WithoutCancel(ctx), `PRAGMA cache_size = -2000`)
			w, err := newFactWriter(ctx, tx, pack, stagedSuffix)
			if err != nil {
				return err
			}
			defer w.close()
			began := time.Now()
			for first := true; i < len(projects) && (first || time.Since(began) < rebuildBatch); i, first = i+1, false {
				p := projects[i]
				m, d, err := e.refreshProject(ctx, tx, p, isBot, w)
				if err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, `INSERT INTO fact_projects`+stagedSuffix+`(project_id, marker) VALUES (?, ?)`,
					p.id, markers[p.id]); err != nil {
					return fmt.Errorf("metrics: record project marker: %w", err)
				}
				stats.projects++
				stats.mrs += m
				stats.deployments += d
			}
			return nil
		})
		if errors.Is(err, errTakenOver) {
			slog.Info("metrics: another refresh took over deriving the facts; it publishes them")
			return nil
		}
		if err != nil {
			return err
		}
	}

	err = e.timedTx(ctx, stats, func(tx *sql.Tx) error {
		if err := checkStaging(ctx, tx, token); err != nil {
			return err
		}
		for _, t := range stagedTables {
			if _, err := tx.ExecContext(ctx, `ALTER TABLE `+t+` RENAME TO `+t+oldSuffix); err != nil {
				return fmt.Errorf("metrics: publish %s: %w", t, err)
			}
			if _, err := tx.ExecContext(ctx, `ALTER TABLE `+t+stagedSuffix+` RENAME TO `+t); err != nil {
				return fmt.Errorf("metrics: publish %s: %w", t, err)
			}
		}
		if err := pack.write(ctx, tx); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM fact_staging`); err != nil {
			return fmt.Errorf("metrics: publish: %w", err)
		}
		return publishCommon(ctx, tx, fp+":"+syncs)
	})
	if errors.Is(err, errTakenOver) {
		slog.Info("metrics: another refresh took over deriving the facts; it publishes them")
		return nil
	}
	if err != nil {
		return err
	}
	// The facts are published; a failure to free the old tables' space is only logged, and
	// the next rebuild drops them first.
	for _, t := range stagedTables {
		if err := e.timedTx(ctx, stats, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `DROP TABLE IF EXISTS `+t+oldSuffix)
			return err
		}); err != nil {
			slog.Warn("metrics: drop replaced facts", "table", t+oldSuffix, "err", err)
			break
		}
	}
	return nil
}

// timedTx runs fn in a write transaction, counting it and keeping the longest in stats.
func (e *Engine) timedTx(ctx context.Context, stats *refreshStats, fn func(tx *sql.Tx) error) error {
	began := time.Now()
	err := e.st.InTx(ctx, fn)
	stats.txs++
	stats.longestTx = max(stats.longestTx, time.Since(began))
	return err
}

// stageTables records this rebuild as the owner of the staged tables (another one running
// stops at its next transaction), drops what an interrupted rebuild left, and creates empty
// copies of stagedTables with their indexes.
func (e *Engine) stageTables(ctx context.Context, stats *refreshStats) (string, error) {
	var b [16]byte
	rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	// fact_staging is created here rather than by a migration: only a rebuild uses it.
	if err := e.timedTx(ctx, stats, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS fact_staging (
			id INTEGER PRIMARY KEY CHECK (id = 1), token TEXT NOT NULL, started_at INTEGER NOT NULL)`); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO fact_staging(id, token, started_at) VALUES (1, ?, ?)
			ON CONFLICT(id) DO UPDATE SET token = excluded.token, started_at = excluded.started_at`, token, time.Now().Unix())
		return err
	}); err != nil {
		return "", fmt.Errorf("metrics: stage fact tables: %w", err)
	}
	// Dropping leftovers frees their pages: one transaction per table, as for the old tables.
	for _, t := range stagedTables {
		for _, name := range []string{t + stagedSuffix, t + oldSuffix} {
			if err := e.timedTx(ctx, stats, func(tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, `DROP TABLE IF EXISTS `+name)
				return err
			}); err != nil {
				return "", fmt.Errorf("metrics: drop leftover %s: %w", name, err)
			}
		}
	}
	err := e.timedTx(ctx, stats, func(tx *sql.Tx) error {
		if err := checkStaging(ctx, tx, token); err != nil {
			return err
		}
		for _, t := range stagedTables {
			// A rebuild this one took over from may have staged one again meanwhile.
			if _, err := tx.ExecContext(ctx, `DROP TABLE IF EXISTS `+t+stagedSuffix); err != nil {
				return err
			}
			stmts, err := stagedSchema(ctx, tx, t)
			if err != nil {
				return err
			}
			for _, q := range stmts {
				if _, err := tx.ExecContext(ctx, q); err != nil {
					return fmt.Errorf("%s: %w", q, err)
				}
			}
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("metrics: stage fact tables: %w", err)
	}
	return token, nil
}

// checkStaging fails with errTakenOver when another rebuild has taken over the staged tables.
func checkStaging(ctx context.Context, tx *sql.Tx, token string) error {
	var have string
	switch err := tx.QueryRowContext(ctx, `SELECT token FROM fact_staging WHERE id = 1`).Scan(&have); {
	case err == sql.ErrNoRows:
		return errTakenOver // published by the other one
	case err != nil:
		return fmt.Errorf("metrics: read staging owner: %w", err)
	case have != token:
		return errTakenOver
	}
	return nil
}

var (
	createTableRe = regexp.MustCompile(`(?is)^CREATE\s+TABLE\s+("?)(\w+)("?)\s*\(`)
	createIndexRe = regexp.MustCompile(`(?is)^CREATE\s+(UNIQUE\s+)?INDEX\s+(?:IF\s+NOT\s+EXISTS\s+)?"?(\w+)"?\s+ON\s+"?(\w+)"?\s*\(`)
)

// stagedSchema returns the statements that create table+stagedSuffix like table, with its
// indexes, from the live schema (so a migration that changes a fact table needs nothing here).
func stagedSchema(ctx context.Context, tx *sql.Tx, table string) ([]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT type, name, sql FROM sqlite_master
		WHERE tbl_name = ? AND sql IS NOT NULL ORDER BY type = 'index'`, table)
	if err != nil {
		return nil, fmt.Errorf("metrics: read schema of %s: %w", table, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var typ, name, q string
		if err := rows.Scan(&typ, &name, &q); err != nil {
			return nil, fmt.Errorf("metrics: read schema of %s: %w", table, err)
		}
		switch typ {
		case "table":
			m := createTableRe.FindStringSubmatchIndex(q)
			if m == nil || !strings.EqualFold(q[m[4]:m[5]], table) {
				return nil, fmt.Errorf("metrics: unexpected schema of %s: %s", table, q)
			}
			out = append(out, `CREATE TABLE `+table+stagedSuffix+` (`+q[m[1]:])
		case "index":
			m := createIndexRe.FindStringSubmatch(q)
			if m == nil || !strings.EqualFold(m[3], table) {
				return nil, fmt.Errorf("metrics: unexpected index on %s: %s", table, q)
			}
			rest := q[len(m[0]):]
			out = append(out, `CREATE `+m[1]+`INDEX `+stagedIndexName(m[2])+` ON `+table+stagedSuffix+` (`+rest)
		default:
			return nil, fmt.Errorf("metrics: unexpected %s %s on %s: stage it or drop it", typ, name, table)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("metrics: read schema of %s: %w", table, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("metrics: no table %s (is the database migrated?)", table)
	}
	return out, nil
}

// stagedIndexName is the name of an index's copy on a staged table: the live name's other
// form, since the live index keeps its name until its table is dropped after publishing.
func stagedIndexName(live string) string {
	if s, ok := strings.CutSuffix(live, stagedSuffix); ok {
		return s
	}
	return live + stagedSuffix
}
