package controller_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paved-dev/paved/api"
	"github.com/paved-dev/paved/internal/controller"
	"github.com/paved-dev/paved/internal/kinds"
	"github.com/paved-dev/paved/internal/store"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func listEvents(t *testing.T, e *testEnv, ns string) []controller.EventSpec {
	t.Helper()
	ek, _ := e.st.Kinds().ByGVK("paved.dev/v1", "Event")
	l, err := e.st.List(context.Background(), ek, store.ListOptions{Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	var out []controller.EventSpec
	for _, it := range l.Items {
		var s controller.EventSpec
		if err := json.Unmarshal(it.Spec, &s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

func TestRecorderAggregatesRepeats(t *testing.T) {
	e := newEnv(t, store.Options{})
	ctx := context.Background()
	clock := &fakeClock{t: time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC)}
	rec := controller.NewRecorder(e.st, "widget-controller", controller.RecorderOptions{Now: clock.Now, Logger: testLogger()})
	w := e.create(t, e.widget, "team-a", "w1", nil)

	rec.Warning(ctx, w, "ApplyFailed", "connection refused")
	clock.Advance(time.Minute)
	rec.Warning(ctx, w, "ApplyFailed", "connection refused")
	clock.Advance(time.Minute)
	rec.Eventf(ctx, w, controller.EventWarning, "ApplyFailed", "connection %s", "refused")

	evs := listEvents(t, e, "team-a")
	if len(evs) != 1 {
		t.Fatalf("%d events; want the 3 repeats folded into 1: %+v", len(evs), evs)
	}
	ev := evs[0]
	if ev.Count != 3 || ev.FirstTimestamp != "2025-05-01T12:00:00Z" || ev.LastTimestamp != "2025-05-01T12:02:00Z" {
		t.Errorf("count %d first %s last %s; want 3, 12:00, 12:02", ev.Count, ev.FirstTimestamp, ev.LastTimestamp)
	}
	want := controller.ObjectReference{APIVersion: "test.paved.dev/v1", Kind: "Widget", Namespace: "team-a", Name: "w1", UID: w.Metadata.UID}
	if ev.InvolvedObject != want || ev.Source != "widget-controller" || ev.Type != "Warning" {
		t.Errorf("event = %+v", ev)
	}

	// A different message is a different event; so is a repeat after the window.
	rec.Normal(ctx, w, "Applied", "ok")
	clock.Advance(11 * time.Minute)
	rec.Warning(ctx, w, "ApplyFailed", "connection refused")
	if evs := listEvents(t, e, "team-a"); len(evs) != 3 {
		t.Errorf("%d events; want 3 (aggregated, different message, after the window)", len(evs))
	}
}

func TestRecorderEventObjects(t *testing.T) {
	e := newEnv(t, store.Options{})
	ctx := context.Background()
	rec := controller.NewRecorder(e.st, "realm-controller", controller.RecorderOptions{Logger: testLogger()})
	realm := e.create(t, e.realm, "", "eu", nil)
	rec.Normal(ctx, realm, "Created", strings.Repeat("x", 5000))

	ek, _ := e.st.Kinds().ByGVK("paved.dev/v1", "Event")
	l, err := e.st.List(ctx, ek, store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Items) != 1 {
		t.Fatalf("%d events, want 1", len(l.Items))
	}
	ev := l.Items[0]
	if ev.Metadata.Namespace != "default" {
		t.Errorf("event about a cluster-scoped object is in namespace %q, want default", ev.Metadata.Namespace)
	}
	if !strings.HasPrefix(ev.Metadata.Name, "eu.") || len(ev.Metadata.Name) != len("eu.")+16 {
		t.Errorf("event name %q; want eu.<16 hex digits>", ev.Metadata.Name)
	}
	if refs := ev.Metadata.OwnerReferences; len(refs) != 1 || refs[0].UID != realm.Metadata.UID {
		t.Errorf("ownerReferences = %+v; want the involved object, so events go with it", refs)
	}
	var spec controller.EventSpec
	_ = json.Unmarshal(ev.Spec, &spec)
	if len(spec.Message) != 4096 {
		t.Errorf("message length %d; want it cut to the schema's 4096", len(spec.Message))
	}
}

func TestRecorderFailuresAreNotFatal(t *testing.T) {
	e := newEnv(t, store.Options{})
	ctx := context.Background()
	rec := controller.NewRecorder(e.st, "x", controller.RecorderOptions{Logger: testLogger()})
	w := e.create(t, e.widget, "default", "w1", nil)
	rec.Event(ctx, w, "Bogus", "Reason", "bad type") // logged, not written, no panic
	// Events about events are dropped rather than recursing.
	ek, _ := e.st.Kinds().ByGVK(api.JoinAPIVersion(kinds.CoreGroup, "v1"), "Event")
	rec.Normal(ctx, &api.Object{APIVersion: ek.APIVersion(), Kind: "Event", Metadata: api.ObjectMeta{Name: "e", Namespace: "default"}}, "R", "m")
	if evs := listEvents(t, e, ""); len(evs) != 0 {
		t.Errorf("%d events written; want none", len(evs))
	}
}
