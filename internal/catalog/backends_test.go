package catalog

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/paved-dev/paved/internal/kinds"
	"github.com/paved-dev/paved/internal/store"
	"github.com/paved-dev/paved/internal/store/postgres"
	"github.com/paved-dev/paved/internal/store/sqlite"
	"github.com/paved-dev/paved/internal/testsvc"
)

// The catalog's integration tests run on both stores: SQLite (the default, one process)
// and PostgreSQL (production, where several replicas share one database). A PostgreSQL
// run gets a fresh database of its own from testsvc (a private server, or the one
// PAVED_TEST_POSTGRES_URL names); without PostgreSQL installed it is skipped, unless
// PAVED_TEST_REQUIRE_SERVICES=1.

func TestMain(m *testing.M) { testsvc.RunMain(m) }

const (
	backendSQLite   = "sqlite"
	backendPostgres = "postgres"
)

// forEachBackend runs fn as a subtest on each store.
func forEachBackend(t *testing.T, fn func(t *testing.T, backend string)) {
	t.Helper()
	for _, b := range []string{backendSQLite, backendPostgres} {
		t.Run(b, func(t *testing.T) { fn(t, b) })
	}
}

// openBackend opens a store backend for t: SQLite in a temporary directory, or a fresh
// PostgreSQL database ("" means SQLite). It is closed when t ends.
func openBackend(t testing.TB, backend string) store.Backend {
	t.Helper()
	switch backend {
	case "", backendSQLite:
		be, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "paved.db"), sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = be.Close() })
		return be
	case backendPostgres:
		return openPostgres(t, testsvc.Postgres(t))
	}
	t.Fatalf("unknown backend %q", backend)
	return nil
}

// openPostgres opens one more backend on the PostgreSQL database url, as another
// replica would; it is closed when t ends.
func openPostgres(t testing.TB, url string) store.Backend {
	t.Helper()
	be, err := postgres.Open(context.Background(), url, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = be.Close() })
	return be
}

// newStoreOn returns a store over be, closed when t ends (before be is).
func newStoreOn(t testing.TB, be store.Backend) *store.Store {
	t.Helper()
	st := store.New(be, kinds.NewRegistry(), store.Options{Logger: quietLogger()})
	t.Cleanup(st.Close)
	return st
}

// newCatalogOn is newCatalog on the given backend.
func newCatalogOn(t testing.TB, backend string, opts Options) *Catalog {
	t.Helper()
	return newCatalogWith(t, newStoreOn(t, openBackend(t, backend)), opts)
}

// newCatalogWith builds a catalog on st.
func newCatalogWith(t testing.TB, st *store.Store, opts Options) *Catalog {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	c, err := New(st, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
