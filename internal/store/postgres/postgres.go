// Package postgres opens the production store on PostgreSQL through pgx. Revisions come from
// a sequence taken under a transaction-level advisory lock, so commit order equals revision
// order and a watcher reading "revision > N" can never skip a write. Commits are announced
// with NOTIFY so that every replica's watchers wake at once.
package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/paved-dev/paved/internal/store/sqlstore"
)

const channel = "paved_events"

var schema = []string{
	`CREATE TABLE IF NOT EXISTS objects (
		id BIGSERIAL PRIMARY KEY,
		resource TEXT NOT NULL,
		namespace TEXT NOT NULL,
		name TEXT NOT NULL,
		rev BIGINT NOT NULL,
		uid TEXT NOT NULL,
		value BYTEA NOT NULL,
		UNIQUE (resource, namespace, name)
	)`,
	`CREATE TABLE IF NOT EXISTS labels (
		obj_id BIGINT NOT NULL,
		resource TEXT NOT NULL,
		key TEXT NOT NULL,
		value TEXT NOT NULL,
		PRIMARY KEY (obj_id, key)
	)`,
	`CREATE INDEX IF NOT EXISTS labels_by_value ON labels (resource, key, value, obj_id)`,
	`CREATE TABLE IF NOT EXISTS owners (
		obj_id BIGINT NOT NULL,
		owner_uid TEXT NOT NULL,
		PRIMARY KEY (obj_id, owner_uid)
	)`,
	`CREATE INDEX IF NOT EXISTS owners_by_uid ON owners (owner_uid, obj_id)`,
	`CREATE TABLE IF NOT EXISTS events (
		rev BIGSERIAL PRIMARY KEY,
		type INTEGER NOT NULL,
		resource TEXT NOT NULL,
		namespace TEXT NOT NULL,
		name TEXT NOT NULL,
		value BYTEA NOT NULL
	)`,
	`CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BIGINT NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires BIGINT NOT NULL)`,
}

// writeLockKey is the advisory lock every write transaction takes before it draws revisions.
const writeLockKey = 0x70617665 // "pave"

// Store is an open PostgreSQL backend.
type Store struct {
	*sqlstore.DB
	pool   *sql.DB
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Option tunes Open.
type Option func(*sqlstore.Dialect)

// WithBeforeCommit runs f just before every write transaction commits; tests use it to
// provoke out-of-order commits.
func WithBeforeCommit(f func()) Option {
	return func(d *sqlstore.Dialect) { d.BeforeCommit = f }
}

// Open connects to url (postgres://...), creates the schema and starts listening for
// other replicas' commits.
func Open(ctx context.Context, url string, log *slog.Logger, opts ...Option) (*Store, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse database URL: %w", err)
	}
	pool := stdlib.OpenDB(*cfg)
	pool.SetMaxOpenConns(16)
	pool.SetMaxIdleConns(8)
	pool.SetConnMaxIdleTime(5 * time.Minute)
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.PingContext(pctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: connect to %s@%s/%s: %w", cfg.User, cfg.Host, cfg.Database, err)
	}
	// Several replicas may start at once: serialise schema creation.
	conn, err := pool.Conn(ctx)
	if err != nil {
		pool.Close()
		return nil, err
	}
	_, err = conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, writeLockKey+1)
	if err == nil {
		for _, stmt := range schema {
			if _, err = conn.ExecContext(ctx, stmt); err != nil {
				err = fmt.Errorf("postgres: create schema: %w", err)
				break
			}
		}
		_, _ = conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock($1)`, writeLockKey+1)
	}
	conn.Close()
	if err != nil {
		pool.Close()
		return nil, err
	}
	d := dialect()
	for _, o := range opts {
		o(&d)
	}
	db, err := sqlstore.Open(ctx, d, pool, pool)
	if err != nil {
		pool.Close()
		return nil, err
	}
	lctx, lcancel := context.WithCancel(context.Background())
	s := &Store{DB: db, pool: pool, cancel: lcancel}
	s.wg.Add(1)
	go s.listen(lctx, cfg, log)
	return s, nil
}

func dialect() sqlstore.Dialect {
	return sqlstore.Dialect{
		Name:          "postgres",
		Numbered:      true,
		WriteLock:     fmt.Sprintf(`SELECT pg_advisory_xact_lock(%d)`, writeLockKey),
		Notify:        `SELECT pg_notify('` + channel + `', ?)`,
		NowMillis:     `(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT`,
		ForcedJoin:    "JOIN",
		ReadIsolation: sql.LevelRepeatableRead,
	}
}

// listen wakes this replica's watchers when any replica commits. If the connection drops,
// the watch hub still polls every second, so nothing is missed meanwhile.
func (s *Store) listen(ctx context.Context, cfg *pgx.ConnConfig, log *slog.Logger) {
	defer s.wg.Done()
	for ctx.Err() == nil {
		err := s.listenOnce(ctx, cfg)
		if ctx.Err() != nil {
			return
		}
		log.Warn("postgres: LISTEN connection lost; reconnecting", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

func (s *Store) listenOnce(ctx context.Context, cfg *pgx.ConnConfig) error {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+channel); err != nil {
		return err
	}
	s.Signal()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		}
		s.Signal()
	}
}

// Close stops listening and closes the pool.
func (s *Store) Close() error {
	s.cancel()
	s.wg.Wait()
	_ = s.DB.Close()
	return s.pool.Close()
}
