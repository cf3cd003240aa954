package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// copyOrder is the order tables are copied in, parents before the rows that reference them;
// tables not named here follow in alphabetical order, and project_revisions comes last so that
// the counters arrive as they were, not as the copy's inserts would have moved them.
var copyOrder = []string{
	"projects", "users", "merge_requests", "mr_commits", "mr_notes", "environments", "deployments",
	"deployment_merge_requests", "pipelines", "sync_cursors", "project_syncs",
	"fact_state", "fact_projects", "mr_facts", "deployment_facts", "deployment_mr_facts", "coverage_days",
	"fact_days", "fact_names", "digest_sends", "digest_failures",
	"auth_users", "auth_user_projects", "auth_sessions", "auth_pending", "api_tokens", "api_token_projects",
}

// TableCount is a table's rows in the source and, after the copy, in the target.
type TableCount struct {
	Table          string
	Source, Target int64
}

// ErrTargetNotEmpty is returned by CopyTo when the target holds rows and force is off.
var ErrTargetNotEmpty = errors.New("the target database is not empty")

// OpenSQLiteReadOnly opens an existing SQLite file for reading only: no migration runs and
// nothing is written, so the file is left exactly as it was.
func OpenSQLiteReadOnly(ctx context.Context, path string) (*Store, error) {
	if _, err := statFile(path); err != nil {
		return nil, fmt.Errorf("store: database %s does not exist: %w", path, err)
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "query_only(1)")
	q.Set("mode", "ro")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	return &Store{DB: db, path: path, dialect: SQLite}, nil
}

// CopyTo copies every table of s (SQLite) into dst (PostgreSQL, migrated to this version) in
// one transaction, with PostgreSQL's COPY, and returns each table's row counts on both sides,
// read again after the commit. The columns copied are those both sides have: a source from an
// older version gets the target's defaults for what it lacks. dst must be empty unless force,
// which empties it first. progress, if not nil, is called as rows go.
func (s *Store) CopyTo(ctx context.Context, dst *Store, force bool, progress func(table string, done, total int64)) ([]TableCount, error) {
	if s.dialect != SQLite || dst.dialect != Postgres {
		return nil, fmt.Errorf("store: copy goes from SQLite to PostgreSQL, not %s to %s", s.dialect, dst.dialect)
	}
	srcTables, err := s.tables(ctx)
	if err != nil {
		return nil, err
	}
	dstTables, err := dst.tables(ctx)
	if err != nil {
		return nil, err
	}
	var tables, skipped []string
	for _, t := range srcTables {
		if slices.Contains(dstTables, t) {
			tables = append(tables, t)
		} else {
			skipped = append(skipped, t)
		}
	}
	if len(skipped) > 0 {
		return nil, fmt.Errorf("store: the source has tables this version of pacer does not know (%s): use the pacer that wrote it",
			strings.Join(skipped, ", "))
	}
	sortForCopy(tables)

	var nonEmpty []string
	for _, t := range dstTables {
		var one int
		switch err := dst.DB.QueryRowContext(ctx, `SELECT 1 FROM `+t+` LIMIT 1`).Scan(&one); {
		case err == nil:
			nonEmpty = append(nonEmpty, t)
		case !errors.Is(err, sql.ErrNoRows):
			return nil, fmt.Errorf("store: read target %s: %w", t, err)
		}
	}
	if len(nonEmpty) > 0 && !force {
		return nil, fmt.Errorf("%w (%s hold rows): pass --force to replace them", ErrTargetNotEmpty, strings.Join(nonEmpty, ", "))
	}

	counts := make([]TableCount, len(tables))
	for i, t := range tables {
		counts[i].Table = t
		if err := s.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+t).Scan(&counts[i].Source); err != nil {
			return nil, fmt.Errorf("store: count %s: %w", t, err)
		}
	}

	conn, err := dst.DB.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		rc, ok := dc.(*rebindConn)
		if !ok {
			return fmt.Errorf("store: unexpected PostgreSQL driver connection %T", dc)
		}
		pc := rc.Raw().(*stdlib.Conn).Conn()
		tx, err := pc.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(ctx)
		if force && len(dstTables) > 0 {
			if _, err := tx.Exec(ctx, `TRUNCATE `+strings.Join(dstTables, ", ")+` CASCADE`); err != nil {
				return fmt.Errorf("empty the target: %w", err)
			}
		}
		for i, t := range tables {
			// The copy brings the revision counters as they were; the triggers that move them
			// on every insert stay off for its length (foreign keys are still checked).
			if _, err := tx.Exec(ctx, `ALTER TABLE `+t+` DISABLE TRIGGER USER`); err != nil {
				return fmt.Errorf("%s: %w", t, err)
			}
			if err := s.copyTable(ctx, tx, t, counts[i].Source, progress); err != nil {
				return fmt.Errorf("%s: %w", t, err)
			}
			if _, err := tx.Exec(ctx, `ALTER TABLE `+t+` ENABLE TRIGGER USER`); err != nil {
				return fmt.Errorf("%s: %w", t, err)
			}
		}
		// Identity columns continue after the highest id copied.
		rows, err := tx.Query(ctx, `SELECT table_name, column_name FROM information_schema.columns
			WHERE table_schema = current_schema() AND is_identity = 'YES'`)
		if err != nil {
			return err
		}
		type col struct{ table, column string }
		var ids []col
		for rows.Next() {
			var c col
			if err := rows.Scan(&c.table, &c.column); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, c)
		}
		rows.Close()
		for _, c := range ids {
			if _, err := tx.Exec(ctx, fmt.Sprintf(`SELECT setval(pg_get_serial_sequence('%s', '%s'), COALESCE(MAX(%s), 0) + 1, false) FROM %s`,
				c.table, c.column, c.column, c.table)); err != nil {
				return fmt.Errorf("%s.%s: %w", c.table, c.column, err)
			}
		}
		return tx.Commit(ctx)
	})
	if err != nil {
		return nil, fmt.Errorf("store: copy: %w", err)
	}
	// The planner's statistics of the copied tables now, not when autovacuum gets to them: a
	// dashboard opened right after the copy would otherwise plan its queries on empty tables.
	if _, err := dst.DB.ExecContext(ctx, `ANALYZE`); err != nil {
		return nil, fmt.Errorf("store: analyze the copy: %w", err)
	}
	for i, t := range tables {
		if err := dst.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+t).Scan(&counts[i].Target); err != nil {
			return counts, fmt.Errorf("store: count %s in the target: %w", t, err)
		}
	}
	return counts, nil
}

func sortForCopy(tables []string) {
	rank := func(t string) int {
		if t == "project_revisions" {
			return len(copyOrder) + 1
		}
		if i := slices.Index(copyOrder, t); i >= 0 {
			return i
		}
		return len(copyOrder)
	}
	sort.SliceStable(tables, func(i, j int) bool {
		ri, rj := rank(tables[i]), rank(tables[j])
		if ri != rj {
			return ri < rj
		}
		return tables[i] < tables[j]
	})
}

// tables lists the store's tables, without the migrations' own bookkeeping.
func (s *Store) tables(ctx context.Context) ([]string, error) {
	q := `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`
	if s.dialect == Postgres {
		q = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()
			AND table_type = 'BASE TABLE' ORDER BY table_name`
	}
	rows, err := s.DB.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("store: list tables: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, err
		}
		if t != "schema_migrations" {
			out = append(out, t)
		}
	}
	return out, rows.Err()
}

// columns lists a table's columns with their declared types, lower-cased.
func (s *Store) columns(ctx context.Context, q queryer, table string) (map[string]string, []string, error) {
	var rows interface {
		Next() bool
		Scan(...any) error
		Close()
		Err() error
	}
	if s.dialect == SQLite {
		r, err := s.DB.QueryContext(ctx, `SELECT name, type FROM pragma_table_info(?) ORDER BY cid`, table)
		if err != nil {
			return nil, nil, err
		}
		rows = sqlRows{r}
	} else {
		r, err := q.Query(ctx, `SELECT column_name, data_type FROM information_schema.columns
			WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`, table)
		if err != nil {
			return nil, nil, err
		}
		rows = r
	}
	defer rows.Close()
	types := map[string]string{}
	var order []string
	for rows.Next() {
		var name, typ string
		if err := rows.Scan(&name, &typ); err != nil {
			return nil, nil, err
		}
		types[name] = strings.ToLower(typ)
		order = append(order, name)
	}
	return types, order, rows.Err()
}

type queryer interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { r.Rows.Close() }

// copyTable streams one table from the SQLite source into the PostgreSQL transaction.
func (s *Store) copyTable(ctx context.Context, tx pgx.Tx, table string, total int64, progress func(string, int64, int64)) error {
	srcCols, _, err := s.columns(ctx, nil, table)
	if err != nil {
		return err
	}
	dstTypes, dstOrder, err := (&Store{dialect: Postgres}).columns(ctx, tx, table)
	if err != nil {
		return err
	}
	var cols []string
	for _, c := range dstOrder {
		if _, ok := srcCols[c]; ok {
			cols = append(cols, c)
		}
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT `+strings.Join(cols, ", ")+` FROM `+table)
	if err != nil {
		return err
	}
	defer rows.Close()
	src := &copySource{rows: rows, vals: make([]any, len(cols)), ptrs: make([]any, len(cols)), types: make([]string, len(cols))}
	for i, c := range cols {
		src.ptrs[i] = &src.vals[i]
		src.types[i] = dstTypes[c]
	}
	src.tick = func(n int64) {
		if progress != nil {
			progress(table, n, total)
		}
	}
	if progress != nil {
		progress(table, 0, total)
	}
	n, err := tx.CopyFrom(ctx, pgx.Identifier{table}, cols, src)
	if err != nil {
		return err
	}
	if progress != nil {
		progress(table, n, total)
	}
	return nil
}

// copySource feeds SQLite rows to COPY, each value in the type of its target column (SQLite
// is loosely typed: a whole REAL may come back as an integer, text as bytes).
type copySource struct {
	rows  *sql.Rows
	vals  []any
	ptrs  []any
	types []string
	n     int64
	tick  func(int64)
	err   error
}

func (c *copySource) Next() bool {
	if !c.rows.Next() {
		return false
	}
	if c.err = c.rows.Scan(c.ptrs...); c.err != nil {
		return false
	}
	for i, v := range c.vals {
		c.vals[i] = coerce(v, c.types[i])
	}
	c.n++
	if c.n%20000 == 0 {
		c.tick(c.n)
	}
	return true
}

func (c *copySource) Values() ([]any, error) { return c.vals, c.err }

func (c *copySource) Err() error {
	if c.err != nil {
		return c.err
	}
	return c.rows.Err()
}

func coerce(v any, typ string) any {
	switch typ {
	case "bigint", "integer", "smallint":
		switch x := v.(type) {
		case float64:
			return int64(x)
		case bool:
			if x {
				return int64(1)
			}
			return int64(0)
		}
	case "double precision", "real", "numeric":
		if x, ok := v.(int64); ok {
			return float64(x)
		}
	case "text":
		if x, ok := v.([]byte); ok {
			return string(x)
		}
	case "bytea":
		if x, ok := v.(string); ok {
			return []byte(x)
		}
	}
	return v
}
