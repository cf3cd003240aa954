// Package store keeps Pacer's data in one SQLite file (or a PostgreSQL database): the raw GitLab
// history the collector fetched, the facts derived from it, and what the digest has sent.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // the pure-Go SQLite driver, registered as "sqlite"
)

// ErrNotFound is returned by getters when no row matches.
var ErrNotFound = errors.New("store: not found")

//go:embed migrations/*.sql migrations/postgres/*.sql
var migrations embed.FS

// Store wraps the database.
type Store struct {
	DB      *sql.DB
	path    string
	dialect Dialect

	ingest sync.Mutex // serialises the collector's writes; see ingestTx in sync.go
}

// Open opens the database and applies pending migrations: path is a SQLite file (created if
// needed; WAL, a busy timeout and foreign keys) or a postgres:// URL.
func Open(ctx context.Context, path string) (*Store, error) {
	if IsURL(path) {
		return openPostgresStore(ctx, path)
	}
	db, err := sql.Open("sqlite", DSN(path))
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	// SQLite allows one writer; readers run beside it in WAL mode.
	db.SetMaxOpenConns(8)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	s := &Store{DB: db, path: path, dialect: SQLite}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func openPostgresStore(ctx context.Context, dsn string) (*Store, error) {
	db, err := openPostgres(dsn)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	// Readers and the collector's writers each take a connection; the server keeps MVCC
	// snapshots, so nobody waits on a lock for a whole refresh.
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(16)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: cannot reach PostgreSQL at %s: %s", Redact(dsn), redactErr(err, dsn))
	}
	s := &Store{DB: db, path: dsn, dialect: Postgres}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, errors.New(redactErr(err, dsn))
	}
	return s, nil
}

// Dialect is the SQL database the store speaks.
func (s *Store) Dialect() Dialect { return s.dialect }

// OpenExisting opens a database that must already exist, without creating the file.
// Commands that only read (export, digest) use it so that a mistyped --db is an error.
func OpenExisting(ctx context.Context, path string) (*Store, error) {
	if IsURL(path) {
		return Open(ctx, path)
	}
	if _, err := statFile(path); err != nil {
		return nil, fmt.Errorf("store: database %s does not exist (run `pacer sync` or `pacer demo` first, or pass --db): %w", path, err)
	}
	return Open(ctx, path)
}

// DSN is the modernc SQLite data source name for path with Pacer's pragmas.
func DSN(path string) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	return "file:" + path + "?" + q.Encode()
}

// Path is the file the store was opened from, or its PostgreSQL URL without the password.
func (s *Store) Path() string { return Redact(s.path) }

// Close closes the database.
func (s *Store) Close() error { return s.DB.Close() }

// SchemaVersion is the number of the last applied migration.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := s.DB.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("store: schema version: %w", err)
	}
	return v, nil
}

func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.DB.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT    NOT NULL,
		applied_at BIGINT  NOT NULL
	)`); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	files, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	sort.Strings(files)
	current, err := s.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	for _, f := range files {
		name := strings.TrimPrefix(f, "migrations/")
		num, _, ok := strings.Cut(name, "_")
		version, err := strconv.Atoi(num)
		if !ok || err != nil {
			return fmt.Errorf("store: migration %s is not named NNNN_name.sql", name)
		}
		if version <= current {
			continue
		}
		body, err := s.migrationBody(f)
		if err != nil {
			return fmt.Errorf("store: migration %s: %w", name, err)
		}
		if err := s.inTx(ctx, func(tx *sql.Tx) error {
			// Several processes may start at once on one database: the first applies the
			// migration, the others wait here and find it applied.
			if s.dialect == Postgres {
				if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(?)`, migrationLock); err != nil {
					return err
				}
			}
			var applied int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, version).Scan(&applied); err != nil {
				return err
			}
			if applied > 0 {
				return nil
			}
			if _, err := tx.ExecContext(ctx, body); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations(version, name, applied_at) VALUES (?, ?, ?)`,
				version, name, time.Now().Unix())
			return err
		}); err != nil {
			return fmt.Errorf("store: migration %s: %w", name, err)
		}
	}
	return nil
}

// migrationLock is the advisory lock key PostgreSQL migrations run under.
const migrationLock = 7_450_223_901

// migrationBody is the migration file f for the store's dialect: PostgreSQL reads
// migrations/postgres/NAME instead where the two must differ (each says why at its top).
func (s *Store) migrationBody(f string) (string, error) {
	if s.dialect == Postgres {
		alt := "migrations/postgres/" + strings.TrimPrefix(f, "migrations/")
		if b, err := migrations.ReadFile(alt); err == nil {
			return string(b), nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
	}
	b, err := migrations.ReadFile(f)
	return string(b), err
}

// InTx runs fn in one write transaction, committing if it returns nil.
func (s *Store) InTx(ctx context.Context, fn func(tx *sql.Tx) error) error { return s.inTx(ctx, fn) }

func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.DB.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}
