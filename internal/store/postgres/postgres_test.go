package postgres_test

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/paved-dev/paved/internal/store"
	"github.com/paved-dev/paved/internal/store/postgres"
	"github.com/paved-dev/paved/internal/store/storetest"
	"github.com/paved-dev/paved/internal/testsvc"
)

func TestMain(m *testing.M) { testsvc.RunMain(m) }

func open(t *testing.T) store.Backend {
	t.Helper()
	be, err := postgres.Open(context.Background(), testsvc.Postgres(t), slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	return be
}

func TestConformancePostgres(t *testing.T) {
	storetest.Run(t, open)
}

func TestReplicasWatchWithoutGapsPostgres(t *testing.T) {
	url := testsvc.Postgres(t)
	var bes []store.Backend
	for i := 0; i < 3; i++ {
		// A random pause before each commit makes concurrent transactions commit out of
		// revision order unless the store prevents it.
		be, err := postgres.Open(context.Background(), url, slog.Default(), postgres.WithBeforeCommit(func() {
			time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
		}))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = be.Close() })
		bes = append(bes, be)
	}
	storetest.RunReplicas(t, bes)
}
