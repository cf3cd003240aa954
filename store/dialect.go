package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// Dialect is the SQL database a store speaks. The queries are one set of plain SQL that both
// run; the few places where the two must differ ask Dialect.
type Dialect int

const (
	// SQLite is the default: one file, through modernc.org/sqlite.
	SQLite Dialect = iota
	// Postgres is PostgreSQL through pgx's database/sql driver.
	Postgres
)

func (d Dialect) String() string {
	if d == Postgres {
		return "postgres"
	}
	return "sqlite"
}

// IsURL reports whether a --db value names a PostgreSQL server rather than a SQLite file.
func IsURL(db string) bool {
	l := strings.ToLower(db)
	return strings.HasPrefix(l, "postgres://") || strings.HasPrefix(l, "postgresql://")
}

// Redact returns db fit for a log line, an error message or a page: a URL without its password
// (and without a password given as a query parameter); a file path as it is.
func Redact(db string) string {
	if !IsURL(db) {
		return db
	}
	u, err := url.Parse(db)
	if err != nil {
		// Never echo what could not be parsed: it may hold the password in the clear.
		scheme, _, _ := strings.Cut(db, "://")
		return scheme + "://(unparsable URL)"
	}
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// openPostgres opens a pool on the PostgreSQL server the URL names. The queries keep SQLite's
// `?` placeholders; the connector rewrites them to `$1, $2, …` once per distinct query.
func openPostgres(dsn string) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("bad PostgreSQL URL %s (expected postgres://USER:PASSWORD@HOST:PORT/DATABASE): %s",
			Redact(dsn), redactErr(err, dsn))
	}
	return sql.OpenDB(&rebindConnector{inner: stdlib.GetConnector(*cfg)}), nil
}

// redactErr is err's text with any password of dsn removed.
func redactErr(err error, dsn string) string {
	msg := err.Error()
	if u, perr := url.Parse(dsn); perr == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
			msg = strings.ReplaceAll(msg, url.QueryEscape(pw), "xxxxx")
		}
	}
	if u, perr := url.Parse(dsn); perr == nil {
		if pw := u.Query().Get("password"); pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
		}
	}
	// pgx lists every address it tried on lines of their own: one line, each reason once.
	var parts []string
	for _, l := range strings.Split(msg, "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !slices.Contains(parts, l) {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, " ")
}

// rebind rewrites `?` placeholders to PostgreSQL's `$n`, leaving string literals, quoted
// identifiers and comments alone.
func rebind(q string) string {
	if !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '\'' || c == '"':
			j := i + 1
			for j < len(q) {
				if q[j] == c {
					if j+1 < len(q) && q[j+1] == c { // doubled quote inside the literal
						j += 2
						continue
					}
					break
				}
				j++
			}
			if j >= len(q) {
				j = len(q) - 1
			}
			b.WriteString(q[i : j+1])
			i = j
		case c == '-' && i+1 < len(q) && q[i+1] == '-':
			j := strings.IndexByte(q[i:], '\n')
			if j < 0 {
				j = len(q) - i - 1
			}
			b.WriteString(q[i : i+j+1])
			i += j
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

var rebound sync.Map // query → rebound query; the queries are a fixed set of constants

func rebindCached(q string) string {
	if v, ok := rebound.Load(q); ok {
		return v.(string)
	}
	r := rebind(q)
	if len(q) < 64<<10 {
		rebound.Store(q, r)
	}
	return r
}

type rebindConnector struct{ inner driver.Connector }

func (c *rebindConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.inner.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &rebindConn{Conn: conn}, nil
}

func (c *rebindConnector) Driver() driver.Driver { return c.inner.Driver() }

// rebindConn forwards everything to pgx's connection, rewriting the query text on the way.
type rebindConn struct{ driver.Conn }

var errNoContext = errors.New("store: driver lacks a context-aware method")

func (c *rebindConn) Prepare(q string) (driver.Stmt, error) { return c.Conn.Prepare(rebindCached(q)) }

func (c *rebindConn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	if p, ok := c.Conn.(driver.ConnPrepareContext); ok {
		return p.PrepareContext(ctx, rebindCached(q))
	}
	return c.Conn.Prepare(rebindCached(q))
}

func (c *rebindConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	e, ok := c.Conn.(driver.ExecerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	if len(args) > 0 {
		q = rebindCached(q)
	}
	return e.ExecContext(ctx, q, args)
}

func (c *rebindConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	qc, ok := c.Conn.(driver.QueryerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	if len(args) > 0 {
		q = rebindCached(q)
	}
	return qc.QueryContext(ctx, q, args)
}

func (c *rebindConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if b, ok := c.Conn.(driver.ConnBeginTx); ok {
		return b.BeginTx(ctx, opts)
	}
	return nil, errNoContext
}

func (c *rebindConn) Ping(ctx context.Context) error {
	if p, ok := c.Conn.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

func (c *rebindConn) CheckNamedValue(v *driver.NamedValue) error {
	// Flags are integer 0/1 columns on both databases, as SQLite stores a Go bool.
	if b, ok := v.Value.(bool); ok {
		v.Value = int64(0)
		if b {
			v.Value = int64(1)
		}
		return nil
	}
	if n, ok := c.Conn.(driver.NamedValueChecker); ok {
		return n.CheckNamedValue(v)
	}
	return driver.ErrSkip
}

func (c *rebindConn) ResetSession(ctx context.Context) error {
	if r, ok := c.Conn.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (c *rebindConn) IsValid() bool {
	if v, ok := c.Conn.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

// Raw is pgx's own connection, for what database/sql cannot do (COPY).
func (c *rebindConn) Raw() driver.Conn { return c.Conn }

// OpenRaw opens a PostgreSQL URL as a plain pool with the store's placeholder rewriting and
// no migrations: for tests and tools that manage databases and schemas themselves.
func OpenRaw(dsn string) (*sql.DB, error) {
	db, err := openPostgres(dsn)
	if err != nil {
		return nil, err
	}
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, fmt.Errorf("cannot reach PostgreSQL at %s: %s", Redact(dsn), redactErr(err, dsn))
	}
	return db, nil
}
