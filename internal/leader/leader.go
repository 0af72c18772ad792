// Package leader owns leader election among paved replicas through a lease row in the
// shared database (store.Backend's TryLease and ReleaseLease). Exactly one replica runs the
// controllers at a time; it stops them before its lease can expire, so a new leader never
// overlaps an old one. It knows nothing of what the leader does.
package leader

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// Lease is the part of store.Backend leader election needs. The database's clock decides
// expiry, so replicas with skewed clocks still agree.
type Lease interface {
	TryLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)
	ReleaseLease(ctx context.Context, name, holder string) error
}

// Elector campaigns for one named lease. Fill in Backend and Name; the rest has defaults.
type Elector struct {
	Backend Lease
	// Name of the lease; every replica that should elect one leader uses the same name.
	Name string
	// Identity of this replica (default hostname plus a random suffix).
	Identity string
	// LeaseDuration is how long a lease lasts without renewal (default 10s). A new leader
	// can take over at most this long after the old one stopped renewing.
	LeaseDuration time.Duration
	// RenewPeriod is how often the leader renews and a follower retries (default 2s).
	RenewPeriod time.Duration
	Logger      *slog.Logger

	log     *slog.Logger
	mu      sync.Mutex
	leading bool
}

// IsLeader reports whether this elector leads right now.
func (e *Elector) IsLeader() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.leading
}

func (e *Elector) setLeading(v bool) {
	e.mu.Lock()
	e.leading = v
	e.mu.Unlock()
}

// defaults fills in the zero fields and checks the timing makes sense.
func (e *Elector) defaults() error {
	if e.Backend == nil {
		return errors.New("leader: Elector.Backend is required")
	}
	if e.Name == "" {
		return errors.New("leader: Elector.Name is required")
	}
	if e.Identity == "" {
		host, _ := os.Hostname()
		if host == "" {
			host = "paved"
		}
		var b [4]byte
		_, _ = rand.Read(b[:])
		e.Identity = host + "-" + hex.EncodeToString(b[:])
	}
	if e.LeaseDuration <= 0 {
		e.LeaseDuration = 10 * time.Second
	}
	if e.RenewPeriod <= 0 {
		e.RenewPeriod = 2 * time.Second
	}
	if e.RenewPeriod >= e.renewDeadline() {
		return fmt.Errorf("leader: RenewPeriod %s must be shorter than 3/4 of LeaseDuration %s", e.RenewPeriod, e.LeaseDuration)
	}
	log := e.Logger
	if log == nil {
		log = slog.Default()
	}
	e.log = log.With("lease", e.Name, "identity", e.Identity)
	return nil
}

// renewDeadline is how long after the last successful renewal the leader gives up. The
// quarter of LeaseDuration left over is the margin in which the old leader's work stops
// before anyone else can take the lease.
func (e *Elector) renewDeadline() time.Duration { return e.LeaseDuration * 3 / 4 }

// Run campaigns until ctx ends. Each time the lease is won it calls onStartedLeading with a
// context that is cancelled when leadership ends: when ctx ends, or when renewals have
// failed for longer than 3/4 of LeaseDuration. onStartedLeading must return soon after its
// context is cancelled; Run then calls onStoppedLeading (if not nil), releases the lease so
// another replica can take over at once, and campaigns again. Run returns nil when ctx
// ends, or an error if the Elector is misconfigured.
func (e *Elector) Run(ctx context.Context, onStartedLeading func(ctx context.Context), onStoppedLeading func()) error {
	if err := e.defaults(); err != nil {
		return err
	}
	for {
		acquired, at := e.acquire(ctx)
		if !acquired {
			return nil
		}
		e.lead(ctx, at, onStartedLeading)
		if onStoppedLeading != nil {
			onStoppedLeading()
		}
		e.release()
		if ctx.Err() != nil {
			return nil
		}
	}
}

// try makes one TryLease call bounded by timeout; it returns the time the call was sent,
// which is no later than the moment the database started the lease's new term.
func (e *Elector) try(ctx context.Context, timeout time.Duration) (bool, time.Time, error) {
	sent := time.Now()
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ok, err := e.Backend.TryLease(cctx, e.Name, e.Identity, e.LeaseDuration)
	return ok, sent, err
}

// acquire retries every RenewPeriod (jittered) until the lease is ours or ctx ends.
func (e *Elector) acquire(ctx context.Context) (bool, time.Time) {
	logged := false
	for {
		ok, at, err := e.try(ctx, e.RenewPeriod)
		switch {
		case ctx.Err() != nil:
			return false, time.Time{}
		case err != nil:
			e.log.Warn("leader election: trying the lease failed", "err", err)
		case ok:
			e.log.Info("leader election: became leader")
			return true, at
		case !logged:
			e.log.Info("leader election: another replica leads; waiting")
			logged = true
		}
		t := time.NewTimer(wait.Jitter(e.RenewPeriod, 0.2))
		select {
		case <-ctx.Done():
			t.Stop()
			return false, time.Time{}
		case <-t.C:
		}
	}
}

// lead runs onStartedLeading and renews the lease until ctx ends or renewal fails past the
// deadline; it returns after onStartedLeading has returned.
func (e *Elector) lead(ctx context.Context, renewed time.Time, onStartedLeading func(context.Context)) {
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	e.setLeading(true)
	defer e.setLeading(false)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer cancel() // if the work ends by itself, leadership ends too
		onStartedLeading(lctx)
	}()

	deadline := time.NewTimer(time.Until(renewed.Add(e.renewDeadline())))
	defer deadline.Stop()
	tick := time.NewTicker(e.RenewPeriod)
	defer tick.Stop()
loop:
	for {
		select {
		case <-lctx.Done():
			break loop
		case <-deadline.C:
			e.log.Error("leader election: could not renew the lease in time; stopping work", "deadline", e.renewDeadline())
			break loop
		case <-tick.C:
		}
		// Never let one call run past the deadline: a hung database must not keep us
		// leading beyond the point where another replica may take over.
		left := time.Until(renewed.Add(e.renewDeadline()))
		if left <= 0 {
			continue // the deadline timer fires next
		}
		ok, at, err := e.try(lctx, min(e.RenewPeriod, left))
		switch {
		case lctx.Err() != nil:
			break loop
		case err != nil:
			e.log.Warn("leader election: renewing the lease failed", "err", err, "left", time.Until(renewed.Add(e.renewDeadline())))
		case !ok:
			e.log.Error("leader election: the lease was taken by another replica; stopping work")
			break loop
		default:
			renewed = at
			if !deadline.Stop() {
				select {
				case <-deadline.C:
				default:
				}
			}
			deadline.Reset(time.Until(renewed.Add(e.renewDeadline())))
		}
	}
	cancel()
	<-done
}

// release gives the lease up so a follower can take over without waiting for expiry.
func (e *Elector) release() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.Backend.ReleaseLease(ctx, e.Name, e.Identity); err != nil {
		e.log.Warn("leader election: releasing the lease failed; it will expire", "err", err)
		return
	}
	e.log.Info("leader election: released the lease")
}
