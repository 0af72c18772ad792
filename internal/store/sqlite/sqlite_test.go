package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/paved-dev/paved/internal/store"
	"github.com/paved-dev/paved/internal/store/sqlite"
	"github.com/paved-dev/paved/internal/store/storetest"
)

func open(t *testing.T) store.Backend {
	t.Helper()
	be, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "paved.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return be
}

func TestConformanceSQLite(t *testing.T) {
	storetest.Run(t, open)
}
