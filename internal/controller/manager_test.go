package controller_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/paved-dev/paved/internal/controller"
	"github.com/paved-dev/paved/internal/leader"
	"github.com/paved-dev/paved/internal/store"
)

func startManager(t *testing.T, m *controller.Manager) context.CancelFunc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Start: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("manager did not stop")
		}
	})
	return cancel
}

func TestManagerRunsControllersWithMetrics(t *testing.T) {
	e := newEnv(t, store.Options{})
	reg := prometheus.NewRegistry()
	m, err := controller.NewManager(controller.ManagerOptions{Registerer: reg, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	widgets := &recorder{st: e.st, kind: e.widget}
	gadgets := &recorder{st: e.st, kind: e.gadget}
	if err := m.Add(newController(t, e, widgets, controller.Options{Name: "widgets", For: e.widget})); err != nil {
		t.Fatal(err)
	}
	if err := m.Add(newController(t, e, gadgets, controller.Options{Name: "gadgets", For: e.gadget})); err != nil {
		t.Fatal(err)
	}
	if err := m.Add(newController(t, e, gadgets, controller.Options{Name: "gadgets", For: e.gadget})); err == nil {
		t.Error("a second controller named gadgets was accepted")
	}
	if _, err := controller.NewManager(controller.ManagerOptions{Registerer: reg}); err == nil {
		t.Error("a second manager registered the same metrics on one registry")
	}
	startManager(t, m)

	e.create(t, e.widget, "default", "w1", nil)
	e.create(t, e.gadget, "default", "g1", nil)
	eventually(t, "both controllers reconcile", func() bool { return widgets.count("w1") > 0 && gadgets.count("g1") > 0 })
	for _, name := range []string{"widgets", "gadgets"} {
		eventually(t, name+" metrics", func() bool {
			return metricValue(t, reg, "paved_controller_reconcile_total", map[string]string{"controller": name, "result": "success"}) >= 1 &&
				metricValue(t, reg, "paved_controller_reconcile_duration_seconds", map[string]string{"controller": name}) >= 1 &&
				metricValue(t, reg, "paved_workqueue_adds_total", map[string]string{"name": name}) >= 1
		})
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, mf := range mfs {
		found = found || mf.GetName() == "paved_workqueue_depth"
	}
	if !found {
		t.Error("no paved_workqueue_depth metric")
	}
	if err := m.Add(newController(t, e, widgets, controller.Options{Name: "late", For: e.widget})); err == nil {
		t.Error("Add after Start succeeded")
	}
}

// The database-backed elector is what production passes to the Manager.
var _ controller.Elector = (*leader.Elector)(nil)

// terms is an Elector that grants two leader terms, ending the first itself, so the test can
// see controllers stop and start again.
type terms struct {
	started chan int
	endTerm chan struct{}
}

func (e *terms) Run(ctx context.Context, onStarted func(context.Context), onStopped func()) error {
	for term := 1; ctx.Err() == nil; term++ {
		lctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			onStarted(lctx)
		}()
		e.started <- term
		if term == 1 {
			select {
			case <-e.endTerm:
			case <-ctx.Done():
			}
		} else {
			<-ctx.Done()
		}
		cancel()
		<-done
		onStopped()
	}
	return nil
}

func TestManagerRestartsControllersInANewLeaderTerm(t *testing.T) {
	e := newEnv(t, store.Options{})
	el := &terms{started: make(chan int, 2), endTerm: make(chan struct{})}
	m, err := controller.NewManager(controller.ManagerOptions{Elector: el, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{st: e.st, kind: e.widget}
	if err := m.Add(newController(t, e, r, controller.Options{For: e.widget})); err != nil {
		t.Fatal(err)
	}
	e.create(t, e.widget, "default", "w1", nil)
	startManager(t, m)
	if term := <-el.started; term != 1 {
		t.Fatalf("term %d", term)
	}
	eventually(t, "a reconcile in the first term", func() bool { return r.count("w1") == 1 })
	close(el.endTerm)
	if term := <-el.started; term != 2 {
		t.Fatalf("term %d", term)
	}
	// The new term lists again, so the widget is reconciled again without any change.
	eventually(t, "a reconcile in the second term", func() bool { return r.count("w1") == 2 })
}
