package leader_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paved-dev/paved/internal/leader"
	"github.com/paved-dev/paved/internal/store/postgres"
	"github.com/paved-dev/paved/internal/testsvc"
)

func testLogger() *slog.Logger {
	if os.Getenv("PAVED_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// replicas opens n PostgreSQL backends on one fresh database, as n paved replicas would.
func replicas(t *testing.T, n int) []*postgres.Store {
	t.Helper()
	url := testsvc.Postgres(t)
	var out []*postgres.Store
	for range n {
		// One at a time: the schema is created on open.
		be, err := postgres.Open(context.Background(), url, testLogger())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = be.Close() })
		out = append(out, be)
	}
	return out
}

// faultyLease wraps a real backend so a test can cut a replica off from the database
// (every call fails) or make it die without releasing its lease.
type faultyLease struct {
	leader.Lease
	cut       atomic.Bool
	noRelease atomic.Bool
}

var errCut = errors.New("connection to the database lost (test)")

func (f *faultyLease) TryLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	if f.cut.Load() {
		return false, errCut
	}
	return f.Lease.TryLease(ctx, name, holder, ttl)
}

func (f *faultyLease) ReleaseLease(ctx context.Context, name, holder string) error {
	if f.cut.Load() || f.noRelease.Load() {
		return errCut
	}
	return f.Lease.ReleaseLease(ctx, name, holder)
}

// timeline records when each replica's work started and stopped, to check that terms never
// overlap.
type timeline struct {
	mu      sync.Mutex
	events  []string
	leading map[string]bool
	overlap []string
}

func (tl *timeline) start(id string) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	if tl.leading == nil {
		tl.leading = map[string]bool{}
	}
	for other, on := range tl.leading {
		if on {
			tl.overlap = append(tl.overlap, fmt.Sprintf("%s started while %s was still leading", id, other))
		}
	}
	tl.leading[id] = true
	tl.events = append(tl.events, id+" start")
}

func (tl *timeline) stop(id string) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	tl.leading[id] = false
	tl.events = append(tl.events, id+" stop")
}

func (tl *timeline) leader() string {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	l := ""
	for id, on := range tl.leading {
		if on {
			l = id
		}
	}
	return l
}

func (tl *timeline) starts(id string) int {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	n := 0
	for _, e := range tl.events {
		if e == id+" start" {
			n++
		}
	}
	return n
}

func (tl *timeline) check(t *testing.T) {
	t.Helper()
	tl.mu.Lock()
	defer tl.mu.Unlock()
	for _, o := range tl.overlap {
		t.Errorf("two leaders at once: %s (events: %v)", o, tl.events)
	}
}

// replica runs one elector until the test ends or its stop function is called; its work
// records itself in tl until its context is cancelled.
type replica struct {
	el     *leader.Elector
	lease  *faultyLease
	cancel context.CancelFunc
	done   chan struct{}
}

func runReplica(t *testing.T, tl *timeline, be leader.Lease, id string, leaseDuration, renew time.Duration) *replica {
	t.Helper()
	r := &replica{lease: &faultyLease{Lease: be}, done: make(chan struct{})}
	r.el = &leader.Elector{Backend: r.lease, Name: "controllers", Identity: id,
		LeaseDuration: leaseDuration, RenewPeriod: renew, Logger: testLogger()}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() {
		defer close(r.done)
		err := r.el.Run(ctx, func(lctx context.Context) {
			tl.start(id)
			<-lctx.Done()
			tl.stop(id)
		}, nil)
		if err != nil {
			t.Errorf("%s: Run: %v", id, err)
		}
	}()
	t.Cleanup(r.stop)
	return r
}

func (r *replica) stop() {
	r.cancel()
	<-r.done
}

func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

const (
	leaseDuration = 2 * time.Second
	renewPeriod   = 200 * time.Millisecond
	// generous is the deadline for things that should happen within about one lease.
	generous = 30 * time.Second
)

func TestOnlyOneReplicaLeads(t *testing.T) {
	bes := replicas(t, 3)
	tl := &timeline{}
	var rs []*replica
	for i, be := range bes {
		rs = append(rs, runReplica(t, tl, be, fmt.Sprintf("r%d", i), leaseDuration, renewPeriod))
	}
	eventually(t, generous, "a leader", func() bool { return tl.leader() != "" })
	// Watch the replicas through several renewals: the leader keeps its lease, nobody joins.
	first := tl.leader()
	for range 10 {
		time.Sleep(renewPeriod)
		n := 0
		for _, r := range rs {
			if r.el.IsLeader() {
				n++
			}
		}
		if n > 1 {
			t.Fatalf("%d replicas lead at once", n)
		}
	}
	if l := tl.leader(); l != first {
		t.Errorf("leadership moved from %s to %s without a failure", first, l)
	}
	tl.check(t)
}

func TestCrashedLeaderIsReplacedAfterItsLeaseExpires(t *testing.T) {
	bes := replicas(t, 2)
	tl := &timeline{}
	a := runReplica(t, tl, bes[0], "a", leaseDuration, renewPeriod)
	eventually(t, generous, "a to lead", func() bool { return tl.leader() == "a" })
	b := runReplica(t, tl, bes[1], "b", leaseDuration, renewPeriod)

	// a dies: it stops without giving the lease back.
	a.lease.noRelease.Store(true)
	a.stop()
	eventually(t, generous, "b to take over once a's lease expired", func() bool { return tl.leader() == "b" })
	_ = b
	tl.check(t)
}

func TestGracefulStopHandsOverAtOnce(t *testing.T) {
	bes := replicas(t, 2)
	tl := &timeline{}
	// A lease far longer than the test's patience: only a release can explain a takeover.
	const long = 10 * time.Minute
	a := runReplica(t, tl, bes[0], "a", long, renewPeriod)
	eventually(t, generous, "a to lead", func() bool { return tl.leader() == "a" })
	runReplica(t, tl, bes[1], "b", long, renewPeriod)
	a.stop()
	eventually(t, generous, "b to take over after a released the lease", func() bool { return tl.leader() == "b" })
	tl.check(t)
}

func TestCutOffLeaderStopsBeforeAnotherStarts(t *testing.T) {
	bes := replicas(t, 2)
	tl := &timeline{}
	a := runReplica(t, tl, bes[0], "a", leaseDuration, renewPeriod)
	eventually(t, generous, "a to lead", func() bool { return tl.leader() == "a" })
	runReplica(t, tl, bes[1], "b", leaseDuration, renewPeriod)

	// a loses the database but keeps running: it must stop its work on its own, before its
	// lease expires and b takes over.
	a.lease.cut.Store(true)
	eventually(t, generous, "b to take over", func() bool { return tl.leader() == "b" })
	tl.check(t)
	if a.el.IsLeader() {
		t.Error("a still believes it leads")
	}

	// a reconnects: it does not take the lease from b, and becomes leader again when b goes.
	a.lease.cut.Store(false)
	for range 5 {
		time.Sleep(renewPeriod)
		if a.el.IsLeader() {
			t.Fatal("a took the lease while b held it")
		}
	}
	tl.check(t)
}

func TestLeaderRegainsAfterShortOutage(t *testing.T) {
	bes := replicas(t, 1)
	tl := &timeline{}
	a := runReplica(t, tl, bes[0], "a", leaseDuration, renewPeriod)
	eventually(t, generous, "a to lead", func() bool { return tl.leader() == "a" })
	a.lease.cut.Store(true)
	eventually(t, generous, "a to stop after failing to renew", func() bool { return tl.leader() == "" })
	a.lease.cut.Store(false)
	eventually(t, generous, "a to lead again", func() bool { return tl.starts("a") == 2 && tl.leader() == "a" })
	tl.check(t)
}

func TestElectorRejectsBadSettings(t *testing.T) {
	tests := []struct {
		name string
		el   *leader.Elector
	}{
		{"no backend", &leader.Elector{Name: "x"}},
		{"no name", &leader.Elector{Backend: &faultyLease{}}},
		{"renew too slow", &leader.Elector{Backend: &faultyLease{}, Name: "x", LeaseDuration: time.Second, RenewPeriod: time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.el.Run(context.Background(), func(context.Context) {}, nil); err == nil {
				t.Error("Run accepted the settings")
			}
		})
	}
}
