// Package sqlite opens the embedded default store: a SQLite file (pure Go, no cgo) in WAL
// mode with one writer connection and a pool of readers.
package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/paved-dev/paved/internal/store/sqlstore"
)

// Options tune the SQLite store.
type Options struct {
	// Synchronous is SQLite's synchronous pragma: NORMAL (default) keeps every acknowledged
	// write across a process crash; FULL also across a power loss, at some write speed.
	Synchronous string
	// PageSize is the page size of a new database file (default 4096); it cannot change
	// after the file is created.
	PageSize int
}

var schema = []string{
	`CREATE TABLE IF NOT EXISTS objects (
		id INTEGER PRIMARY KEY,
		resource TEXT NOT NULL,
		namespace TEXT NOT NULL,
		name TEXT NOT NULL,
		rev INTEGER NOT NULL,
		uid TEXT NOT NULL,
		value BLOB NOT NULL,
		UNIQUE (resource, namespace, name)
	)`,
	`CREATE TABLE IF NOT EXISTS labels (
		obj_id INTEGER NOT NULL,
		resource TEXT NOT NULL,
		key TEXT NOT NULL,
		value TEXT NOT NULL,
		PRIMARY KEY (obj_id, key)
	) WITHOUT ROWID`,
	`CREATE INDEX IF NOT EXISTS labels_by_value ON labels (resource, key, value, obj_id)`,
	`CREATE TABLE IF NOT EXISTS owners (
		obj_id INTEGER NOT NULL,
		owner_uid TEXT NOT NULL,
		PRIMARY KEY (obj_id, owner_uid)
	) WITHOUT ROWID`,
	`CREATE INDEX IF NOT EXISTS owners_by_uid ON owners (owner_uid, obj_id)`,
	`CREATE TABLE IF NOT EXISTS events (
		rev INTEGER PRIMARY KEY, -- no AUTOINCREMENT: compaction never deletes the newest row, so rowids are never reused
		type INTEGER NOT NULL,
		resource TEXT NOT NULL,
		namespace TEXT NOT NULL,
		name TEXT NOT NULL,
		value BLOB NOT NULL
	)`,
	`CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires INTEGER NOT NULL)`,
}

// Store is an open SQLite backend.
type Store struct {
	*sqlstore.DB
	writer, reader *sql.DB
}

// Open opens (creating if needed) the database file at path.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: create directory for %s: %w", path, err)
	}
	syncMode := opts.Synchronous
	if syncMode == "" {
		syncMode = "NORMAL"
	}
	switch syncMode {
	case "OFF", "NORMAL", "FULL", "EXTRA":
	default:
		return nil, fmt.Errorf("sqlite: synchronous must be OFF, NORMAL, FULL or EXTRA, not %q", syncMode)
	}
	pageSize := opts.PageSize
	if pageSize == 0 {
		pageSize = 4096
	}
	if pageSize < 512 || pageSize > 65536 || pageSize&(pageSize-1) != 0 {
		return nil, fmt.Errorf("sqlite: page size %d must be a power of two from 512 to 65536", pageSize)
	}
	dsn := func(extra ...string) string {
		v := url.Values{}
		v.Add("_pragma", fmt.Sprintf("page_size(%d)", pageSize))
		v.Add("_pragma", "journal_mode(WAL)")
		v.Add("_pragma", "busy_timeout(10000)")
		v.Add("_pragma", "synchronous("+syncMode+")")
		v.Add("_pragma", "temp_store(MEMORY)")
		v.Add("_pragma", "wal_autocheckpoint(8000)")
		// No mmap: each connection would map the file again, and every page a full scan
		// touches (building the query index at start) would count in the process's RSS
		// once per connection; reads go through the page cache instead.
		v.Add("_pragma", "mmap_size(0)")
		for _, e := range extra {
			v.Add("_pragma", e)
		}
		v.Set("_txlock", "immediate")
		return "file:" + path + "?" + v.Encode()
	}
	// The writer's page cache holds the B-tree pages every commit touches; readers mostly
	// fetch single rows, so they get less (each connection has its own cache, outside the
	// Go heap).
	writer, err := sql.Open("sqlite", dsn("cache_size(-32000)"))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	if err := writer.PingContext(ctx); err != nil {
		writer.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	reader, err := sql.Open("sqlite", dsn("query_only(1)", "cache_size(-8000)"))
	if err != nil {
		writer.Close()
		return nil, fmt.Errorf("sqlite: open %s for reading: %w", path, err)
	}
	n := max(4, runtime.GOMAXPROCS(0)*2)
	reader.SetMaxOpenConns(n)
	reader.SetMaxIdleConns(n)
	reader.SetConnMaxLifetime(0)
	d := sqlstore.Dialect{
		Name:          "sqlite",
		Schema:        schema,
		NowMillis:     `CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)`,
		ForcedJoin:    "CROSS JOIN",
		ReadIsolation: sql.LevelDefault,
	}
	db, err := sqlstore.Open(ctx, d, writer, reader)
	if err != nil {
		writer.Close()
		reader.Close()
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		return nil, fmt.Errorf("sqlite: restrict permissions of %s: %w", path, err)
	}
	return &Store{DB: db, writer: writer, reader: reader}, nil
}

// Close stops the writer and closes the database.
func (s *Store) Close() error {
	_ = s.DB.Close()
	_, _ = s.writer.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
	err := s.writer.Close()
	if rerr := s.reader.Close(); err == nil {
		err = rerr
	}
	return err
}
