package controller_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/paved-dev/paved/api"
	"github.com/paved-dev/paved/internal/controller"
	"github.com/paved-dev/paved/internal/kinds"
	"github.com/paved-dev/paved/internal/store"
	"github.com/paved-dev/paved/internal/store/sqlite"
)

// testEnv is a real store on SQLite with two test kinds: Widget (the primary kind of most
// tests) and Gadget (owned by widgets), both namespaced.
type testEnv struct {
	st             *store.Store
	widget, gadget *kinds.Kind
	realm          *kinds.Kind // cluster-scoped
}

func testLogger() *slog.Logger {
	if os.Getenv("PAVED_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(discard{}, nil))
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func newEnv(t *testing.T, sopts store.Options) *testEnv {
	t.Helper()
	be, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "paved.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg := kinds.NewRegistry()
	for _, k := range []kinds.Kind{
		{Group: "test.paved.dev", Version: "v1", Kind: "Widget", Namespaced: true},
		{Group: "test.paved.dev", Version: "v1", Kind: "Gadget", Namespaced: true},
		{Group: "test.paved.dev", Version: "v1", Kind: "Realm"},
	} {
		if err := reg.Register(k); err != nil {
			t.Fatal(err)
		}
	}
	if sopts.Logger == nil {
		sopts.Logger = testLogger()
	}
	st := store.New(be, reg, sopts)
	t.Cleanup(func() {
		st.Close()
		_ = be.Close()
	})
	e := &testEnv{st: st}
	e.widget, _ = reg.ByGVK("test.paved.dev/v1", "Widget")
	e.gadget, _ = reg.ByGVK("test.paved.dev/v1", "Gadget")
	e.realm, _ = reg.ByGVK("test.paved.dev/v1", "Realm")
	return e
}

func (e *testEnv) create(t *testing.T, k *kinds.Kind, ns, name string, spec any, refs ...api.OwnerReference) *api.Object {
	t.Helper()
	obj := &api.Object{APIVersion: k.APIVersion(), Kind: k.Kind,
		Metadata: api.ObjectMeta{Name: name, Namespace: ns, OwnerReferences: refs}}
	if spec != nil {
		b, err := json.Marshal(spec)
		if err != nil {
			t.Fatal(err)
		}
		obj.Spec = b
	}
	out, err := e.st.Create(context.Background(), obj)
	if err != nil {
		t.Fatalf("create %s %s: %v", k.Kind, name, err)
	}
	return out
}

func (e *testEnv) setSpec(t *testing.T, k *kinds.Kind, ns, name string, spec any) *api.Object {
	t.Helper()
	ctx := context.Background()
	obj, err := e.st.Get(ctx, k, ns, name)
	if err != nil {
		t.Fatal(err)
	}
	obj.Spec, _ = json.Marshal(spec)
	obj.Metadata.ResourceVersion = ""
	out, err := e.st.Update(ctx, obj)
	if err != nil {
		t.Fatalf("update %s %s: %v", k.Kind, name, err)
	}
	return out
}

// start runs c until the test ends and checks that Run returns cleanly.
func start(t *testing.T, c *controller.Controller) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("controller %s: Run: %v", c.Name(), err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("controller %s did not stop", c.Name())
		}
	})
}

func newController(t *testing.T, e *testEnv, r controller.Reconciler, opts controller.Options) *controller.Controller {
	t.Helper()
	if opts.Name == "" {
		opts.Name = "test"
	}
	if opts.Logger == nil {
		opts.Logger = testLogger()
	}
	c, err := controller.New(e.st, r, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// eventually polls cond until it holds or a generous deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// call is one observed reconcile.
type call struct {
	req        controller.Request
	found      bool
	generation int64
}

// recorder is a Reconciler that reads the object and remembers every call; next, if set,
// decides the result.
type recorder struct {
	st   *store.Store
	kind *kinds.Kind
	next func(n int, c call) (controller.Result, error)

	mu    sync.Mutex
	calls []call
}

func (r *recorder) Reconcile(ctx context.Context, req controller.Request) (controller.Result, error) {
	c := call{req: req}
	obj, err := r.st.Get(ctx, r.kind, req.Namespace, req.Name)
	switch {
	case err == nil:
		c.found, c.generation = true, obj.Metadata.Generation
	case !api.IsNotFound(err):
		return controller.Result{}, err
	}
	r.mu.Lock()
	r.calls = append(r.calls, c)
	n := len(r.calls)
	r.mu.Unlock()
	if r.next != nil {
		return r.next(n, c)
	}
	return controller.Result{}, nil
}

func (r *recorder) snapshot() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]call(nil), r.calls...)
}

func (r *recorder) count(name string) int {
	n := 0
	for _, c := range r.snapshot() {
		if c.req.Name == name {
			n++
		}
	}
	return n
}

func (r *recorder) saw(pred func(call) bool) bool {
	for _, c := range r.snapshot() {
		if pred(c) {
			return true
		}
	}
	return false
}

// metricValue reads one sample from reg: a counter, gauge or a histogram's sample count.
func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue metrics
				}
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return 0
}

func TestReconcileOnCreateUpdateDelete(t *testing.T) {
	e := newEnv(t, store.Options{})
	r := &recorder{st: e.st, kind: e.widget}
	start(t, newController(t, e, r, controller.Options{For: e.widget}))

	e.create(t, e.widget, "team-a", "w1", map[string]any{"size": 1})
	eventually(t, "a reconcile of the new widget", func() bool {
		return r.saw(func(c call) bool { return c.req.Name == "w1" && c.found && c.generation == 1 })
	})
	want := controller.Request{APIVersion: "test.paved.dev/v1", Kind: "Widget", Namespace: "team-a", Name: "w1"}
	if got := r.snapshot()[0].req; got != want {
		t.Errorf("request = %+v, want %+v", got, want)
	}

	e.setSpec(t, e.widget, "team-a", "w1", map[string]any{"size": 2})
	eventually(t, "a reconcile of the updated widget", func() bool {
		return r.saw(func(c call) bool { return c.req.Name == "w1" && c.found && c.generation == 2 })
	})

	if _, err := e.st.Delete(context.Background(), e.widget, "team-a", "w1", store.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a reconcile after the delete", func() bool {
		return r.saw(func(c call) bool { return c.req.Name == "w1" && !c.found })
	})
}

func TestExistingObjectsAreReconciledAtStart(t *testing.T) {
	e := newEnv(t, store.Options{})
	// More than one list page.
	const n = 1203
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			obj := &api.Object{APIVersion: e.widget.APIVersion(), Kind: e.widget.Kind,
				Metadata: api.ObjectMeta{Name: fmt.Sprintf("w%04d", i), Namespace: "default"}}
			if _, err := e.st.Create(ctx, obj); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	r := &recorder{st: e.st, kind: e.widget}
	start(t, newController(t, e, r, controller.Options{For: e.widget, Workers: 4}))
	eventually(t, "every existing widget reconciled", func() bool {
		seen := map[string]bool{}
		for _, c := range r.snapshot() {
			seen[c.req.Name] = true
		}
		return len(seen) == n
	})
}

func TestNewRejectsBadOptions(t *testing.T) {
	e := newEnv(t, store.Options{})
	r := &recorder{st: e.st, kind: e.widget}
	tests := []struct {
		name string
		opts controller.Options
	}{
		{"no name", controller.Options{For: e.widget}},
		{"nothing to watch", controller.Options{Name: "x"}},
		{"owns without for", controller.Options{Name: "x", Watches: []controller.Watch{controller.Owns(e.gadget)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := controller.New(e.st, r, tt.opts); err == nil {
				t.Error("New succeeded; want an error")
			}
		})
	}
}

func TestPanicIsRetriedLikeAnError(t *testing.T) {
	e := newEnv(t, store.Options{})
	r := &recorder{st: e.st, kind: e.widget, next: func(n int, c call) (controller.Result, error) {
		if n == 1 {
			panic("boom")
		}
		return controller.Result{}, nil
	}}
	start(t, newController(t, e, r, controller.Options{For: e.widget, BaseDelay: time.Millisecond, MaxDelay: 10 * time.Millisecond}))
	e.create(t, e.widget, "default", "w1", nil)
	eventually(t, "a second reconcile after the panic", func() bool { return r.count("w1") >= 2 })
}

var errTransient = errors.New("transient failure")
