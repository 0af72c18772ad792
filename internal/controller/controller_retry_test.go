package controller_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/paved-dev/paved/internal/controller"
	"github.com/paved-dev/paved/internal/store"
)

func TestErrorsAreRetriedWithBackoffUntilSuccess(t *testing.T) {
	e := newEnv(t, store.Options{})
	const failures = 3
	r := &recorder{st: e.st, kind: e.widget, next: func(n int, c call) (controller.Result, error) {
		if n <= failures {
			return controller.Result{}, fmt.Errorf("attempt %d: %w", n, errTransient)
		}
		return controller.Result{}, nil
	}}
	reg := prometheus.NewRegistry()
	m, err := controller.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	// Created before the start, so the initial list queues it exactly once.
	e.create(t, e.widget, "default", "w1", nil)
	start(t, newController(t, e, r, controller.Options{For: e.widget, Metrics: m,
		BaseDelay: 5 * time.Millisecond, MaxDelay: 50 * time.Millisecond}))

	eventually(t, "a successful reconcile after the failures", func() bool {
		return metricValue(t, reg, "paved_controller_reconcile_total", map[string]string{"controller": "test", "result": "success"}) == 1
	})
	if got := r.count("w1"); got != failures+1 {
		t.Errorf("reconciles = %d, want %d (%d failures, then success)", got, failures+1, failures)
	}
	if got := metricValue(t, reg, "paved_controller_reconcile_errors_total", map[string]string{"controller": "test"}); got != failures {
		t.Errorf("errors metric = %v, want %d", got, failures)
	}
	if got := metricValue(t, reg, "paved_workqueue_retries_total", map[string]string{"name": "test"}); got != failures {
		t.Errorf("retries metric = %v, want %d", got, failures)
	}
}

func TestTerminalErrorIsNotRetriedUntilTheObjectChanges(t *testing.T) {
	e := newEnv(t, store.Options{})
	r := &recorder{st: e.st, kind: e.widget, next: func(n int, c call) (controller.Result, error) {
		if c.generation == 1 {
			return controller.Result{}, controller.Terminal(fmt.Errorf("spec is invalid"))
		}
		return controller.Result{}, nil
	}}
	reg := prometheus.NewRegistry()
	m, err := controller.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	start(t, newController(t, e, r, controller.Options{For: e.widget, Metrics: m, BaseDelay: time.Millisecond}))
	e.create(t, e.widget, "default", "w1", map[string]any{"v": 1})
	eventually(t, "the failing reconcile", func() bool { return r.count("w1") >= 1 })
	e.setSpec(t, e.widget, "default", "w1", map[string]any{"v": 2})
	eventually(t, "a reconcile of the fixed spec", func() bool {
		return r.saw(func(c call) bool { return c.generation == 2 })
	})
	if got := metricValue(t, reg, "paved_workqueue_retries_total", map[string]string{"name": "test"}); got != 0 {
		t.Errorf("retries = %v, want 0: a terminal error must not be retried", got)
	}
	if !controller.IsTerminal(fmt.Errorf("wrapped: %w", controller.Terminal(errTransient))) {
		t.Error("IsTerminal does not see through wrapping")
	}
	if controller.Terminal(nil) != nil {
		t.Error("Terminal(nil) != nil")
	}
}

func TestRequeueAfterReconcilesAgainWithoutChanges(t *testing.T) {
	e := newEnv(t, store.Options{})
	r := &recorder{st: e.st, kind: e.widget, next: func(n int, c call) (controller.Result, error) {
		if n < 4 {
			return controller.Result{RequeueAfter: 20 * time.Millisecond}, nil
		}
		return controller.Result{}, nil
	}}
	start(t, newController(t, e, r, controller.Options{For: e.widget, ResyncPeriod: -1}))
	e.create(t, e.widget, "default", "w1", nil)
	eventually(t, "three requeued reconciles", func() bool { return r.count("w1") >= 4 })
	for _, c := range r.snapshot() {
		if c.generation != 1 {
			t.Errorf("reconcile saw generation %d; nothing changed the object", c.generation)
		}
	}
}

func TestBurstOfUpdatesIsDeduplicated(t *testing.T) {
	e := newEnv(t, store.Options{})
	gate := make(chan struct{})
	entered := make(chan struct{}, 1)
	r := &recorder{st: e.st, kind: e.widget, next: func(n int, c call) (controller.Result, error) {
		if n == 1 {
			entered <- struct{}{}
			<-gate // hold the key while the burst arrives
		}
		return controller.Result{}, nil
	}}
	// The watch is a mapped one so the test can tell when the feed has queued the burst.
	var mu sync.Mutex
	var fedGeneration int64
	feed := controller.Watches(e.widget, func(_ context.Context, ev store.Event) []controller.Request {
		mu.Lock()
		fedGeneration = max(fedGeneration, ev.Object.Metadata.Generation)
		mu.Unlock()
		return []controller.Request{controller.RequestFor(ev.Object)}
	})
	start(t, newController(t, e, r, controller.Options{Watches: []controller.Watch{feed}, Workers: 4}))
	e.create(t, e.widget, "default", "w1", map[string]any{"v": 0})
	<-entered
	const updates = 50
	for i := 1; i <= updates; i++ {
		e.setSpec(t, e.widget, "default", "w1", map[string]any{"v": i})
	}
	eventually(t, "the feed to queue the whole burst", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return fedGeneration == updates+1
	})
	close(gate)
	eventually(t, "a reconcile of the last update", func() bool {
		return r.saw(func(c call) bool { return c.generation == updates+1 })
	})
	if got := r.count("w1"); got > 5 {
		t.Errorf("%d updates caused %d reconciles; the queue should fold them into a few", updates, got)
	}
	// One key is never reconciled by two workers at once: with 4 workers and a held key,
	// every reconcile above ran after the first finished, which the count already shows.
}

func TestResyncReenqueuesEveryObject(t *testing.T) {
	e := newEnv(t, store.Options{})
	r := &recorder{st: e.st, kind: e.widget}
	e.create(t, e.widget, "default", "w1", nil)
	e.create(t, e.widget, "other", "w2", nil)
	start(t, newController(t, e, r, controller.Options{For: e.widget, ResyncPeriod: 30 * time.Millisecond}))
	eventually(t, "several resyncs of both widgets", func() bool { return r.count("w1") >= 3 && r.count("w2") >= 3 })
}
