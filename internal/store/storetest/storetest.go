// Package storetest is the conformance suite every store backend must pass. Each backend's
// test calls Run with a function that opens a fresh, empty backend.
package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paved-dev/paved/api"
	"github.com/paved-dev/paved/internal/kinds"
	"github.com/paved-dev/paved/internal/store"
)

// Opener opens a fresh, empty backend; the suite closes it.
type Opener func(t *testing.T) store.Backend

// Widget is a namespaced test kind with a schema; Gadget a cluster-scoped one.
var (
	Widget = kinds.Kind{Group: "test.paved.dev", Version: "v1", Kind: "Widget", Plural: "widgets", Namespaced: true,
		Schema: json.RawMessage(`{"type":"object","properties":{"size":{"type":"integer","minimum":1},"color":{"type":"string"},
			"parts":{"type":"array","items":{"type":"object","properties":{"name":{"type":"string"}},"required":["name"]}}}}`)}
	Gadget = kinds.Kind{Group: "test.paved.dev", Version: "v1", Kind: "Gadget", Plural: "gadgets"}
)

// NewStore opens a backend and wraps it in a Store with the test kinds registered.
func NewStore(t *testing.T, open Opener) *store.Store {
	t.Helper()
	be := open(t)
	reg := kinds.NewRegistry()
	for _, k := range []kinds.Kind{Widget, Gadget} {
		if err := reg.Register(k); err != nil {
			t.Fatal(err)
		}
	}
	s := store.New(be, reg, store.Options{})
	t.Cleanup(func() {
		s.Close()
		_ = be.Close()
	})
	return s
}

// Run runs the whole suite; subtests are named after the backend, so a failure says which
// store it ran on.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s *store.Store)
	}{
		{"CreateGet", testCreateGet},
		{"CreateRejectsBadInput", testCreateRejects},
		{"GenerateName", testGenerateName},
		{"UpdateGenerationAndConflicts", testUpdate},
		{"UpdateStatus", testUpdateStatus},
		{"DeleteAndFinalizers", testDeleteFinalizers},
		{"ListSelectorsAndPaging", testList},
		{"ListBadInput", testListBadInput},
		{"ListOwnedBy", testListOwnedBy},
		{"WatchFromList", testWatchFromList},
		{"WatchFilters", testWatchFilters},
		{"WatchCompacted", testWatchCompacted},
		{"WatchConcurrentWritersNoGaps", testWatchConcurrent},
		{"SlowWatcherLosesNothing", testSlowWatcher},
		{"Leases", testLeases},
		{"CreateMany", testCreateMany},
		{"WatchFromEmptyList", testWatchFromEmptyList},
		{"PagedListThenWatch", testPagedListThenWatch},
		{"QueryIndexFacetsOrder", testQuery},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := NewStore(t, open)
			tc.fn(t, s)
		})
	}
}

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func widget(ns, name string, size int, lbls map[string]string) *api.Object {
	return &api.Object{APIVersion: "test.paved.dev/v1", Kind: "Widget",
		Metadata: api.ObjectMeta{Namespace: ns, Name: name, Labels: lbls},
		Spec:     json.RawMessage(fmt.Sprintf(`{"size":%d}`, size))}
}

func kindOf(t *testing.T, s *store.Store, name string) *kinds.Kind {
	t.Helper()
	k, err := kinds.Resolve(s.Kinds().All(), name)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustCreate(t *testing.T, s *store.Store, o *api.Object) *api.Object {
	t.Helper()
	out, err := s.Create(ctxT(t), o)
	if err != nil {
		t.Fatalf("create %s: %v", o.Metadata.Name, err)
	}
	return out
}

func rev(t *testing.T, s *store.Store) int64 {
	t.Helper()
	r, err := s.Revision(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func testCreateGet(t *testing.T, s *store.Store) {
	ctx := ctxT(t)
	in := widget("", "a", 3, map[string]string{"app": "web"})
	in.Spec = json.RawMessage(`{ "size": 3,  "color": "red" }`)
	out := mustCreate(t, s, in)
	if out.Metadata.Namespace != "default" {
		t.Errorf("namespace = %q, want default", out.Metadata.Namespace)
	}
	if out.Metadata.UID == "" || out.Metadata.Generation != 1 || out.Metadata.CreationTimestamp == nil || out.Metadata.ResourceVersion == "" {
		t.Errorf("metadata not filled in: %+v", out.Metadata)
	}
	if string(out.Spec) != `{"color":"red","size":3}` {
		t.Errorf("spec = %s, want canonical JSON", out.Spec)
	}
	got, err := s.Get(ctx, kindOf(t, s, "widget"), "default", "a")
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(out)
	b, _ := json.Marshal(got)
	if string(a) != string(b) {
		t.Errorf("get differs from create:\n%s\n%s", a, b)
	}
	if _, err := s.Create(ctx, widget("default", "a", 1, nil)); !api.IsAlreadyExists(err) {
		t.Errorf("duplicate create: err = %v, want AlreadyExists", err)
	}
	if _, err := s.Get(ctx, kindOf(t, s, "widget"), "default", "nope"); !api.IsNotFound(err) {
		t.Errorf("get missing: err = %v, want NotFound", err)
	}
	if _, err := s.Get(ctx, kindOf(t, s, "widget"), "other", "a"); !api.IsNotFound(err) {
		t.Errorf("get in other namespace: err = %v, want NotFound", err)
	}
	g := mustCreate(t, s, &api.Object{APIVersion: "test.paved.dev/v1", Kind: "Gadget", Metadata: api.ObjectMeta{Name: "g"}})
	if g.Metadata.Namespace != "" {
		t.Errorf("cluster-scoped object got namespace %q", g.Metadata.Namespace)
	}
}

func testCreateRejects(t *testing.T, s *store.Store) {
	ctx := ctxT(t)
	mustCreate(t, s, widget("default", "seed", 1, nil))
	before := rev(t, s)
	big := widget("default", "big", 1, nil)
	big.Spec = json.RawMessage(`{"size":1,"color":"` + strings.Repeat("x", store.MaxObjectBytes) + `"}`)
	tests := []struct {
		name   string
		obj    *api.Object
		reason string
		field  string
	}{
		{"schema violation", widget("default", "w", 0, nil), api.ReasonInvalid, "spec.size"},
		{"nested schema violation", &api.Object{APIVersion: "test.paved.dev/v1", Kind: "Widget", Metadata: api.ObjectMeta{Name: "w"},
			Spec: json.RawMessage(`{"parts":[{"name":"a"},{"nome":"b"}]}`)}, api.ReasonInvalid, "spec.parts[1]"},
		{"wrong type", &api.Object{APIVersion: "test.paved.dev/v1", Kind: "Widget", Metadata: api.ObjectMeta{Name: "w"},
			Spec: json.RawMessage(`{"size":"big"}`)}, api.ReasonInvalid, "spec.size"},
		{"spec not an object", &api.Object{APIVersion: "test.paved.dev/v1", Kind: "Widget", Metadata: api.ObjectMeta{Name: "w"},
			Spec: json.RawMessage(`[1]`)}, api.ReasonInvalid, "spec"},
		{"upper-case name", widget("default", "Bad", 1, nil), api.ReasonInvalid, "metadata.name"},
		{"no name", widget("default", "", 1, nil), api.ReasonInvalid, "metadata.name"},
		{"bad namespace", widget("Not_A_Label", "w", 1, nil), api.ReasonInvalid, "metadata.namespace"},
		{"bad label key", widget("default", "w", 1, map[string]string{"-x": "y"}), api.ReasonInvalid, "metadata.labels[-x]"},
		{"bad label value", widget("default", "w", 1, map[string]string{"x": strings.Repeat("v", 64)}), api.ReasonInvalid, "metadata.labels[x]"},
		{"namespace on cluster-scoped", &api.Object{APIVersion: "test.paved.dev/v1", Kind: "Gadget", Metadata: api.ObjectMeta{Name: "g", Namespace: "default"}}, api.ReasonInvalid, "metadata.namespace"},
		{"unknown kind", &api.Object{APIVersion: "test.paved.dev/v1", Kind: "Nope", Metadata: api.ObjectMeta{Name: "n"}}, api.ReasonBadRequest, ""},
		{"missing apiVersion", &api.Object{Kind: "Widget", Metadata: api.ObjectMeta{Name: "n"}}, api.ReasonInvalid, "apiVersion"},
		{"resourceVersion on create", &api.Object{APIVersion: "test.paved.dev/v1", Kind: "Widget", Metadata: api.ObjectMeta{Name: "n", ResourceVersion: "5"}}, api.ReasonBadRequest, ""},
		{"too large", big, api.ReasonTooLarge, ""},
		{"namespace name with a dot", &api.Object{APIVersion: "paved.dev/v1", Kind: "Namespace", Metadata: api.ObjectMeta{Name: "a.b"}}, api.ReasonInvalid, "metadata.name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Create(ctx, tc.obj)
			if got := api.ReasonOf(err); got != tc.reason {
				t.Fatalf("reason = %q (%v), want %q", got, err, tc.reason)
			}
			if tc.field != "" {
				st := err.(*api.Status)
				found := false
				for _, c := range st.Details.Causes {
					if c.Field == tc.field {
						found = true
					}
				}
				if !found {
					t.Errorf("causes %+v do not name field %q", st.Details.Causes, tc.field)
				}
			}
		})
	}
	if after := rev(t, s); after != before {
		t.Errorf("revision moved from %d to %d: a refused write was stored", before, after)
	}
}

func testGenerateName(t *testing.T, s *store.Store) {
	seen := map[string]bool{}
	for i := 0; i < 20; i++ {
		o := widget("default", "", 1, nil)
		o.Metadata.GenerateName = "job-"
		out := mustCreate(t, s, o)
		if !strings.HasPrefix(out.Metadata.Name, "job-") || len(out.Metadata.Name) != len("job-")+5 {
			t.Fatalf("generated name %q", out.Metadata.Name)
		}
		if seen[out.Metadata.Name] {
			t.Fatalf("name %q generated twice", out.Metadata.Name)
		}
		seen[out.Metadata.Name] = true
	}
}

func testUpdate(t *testing.T, s *store.Store) {
	ctx := ctxT(t)
	v1 := mustCreate(t, s, widget("default", "u", 1, nil))

	// Labels only: no generation bump.
	in := v1.DeepCopy()
	in.Metadata.Labels = map[string]string{"tier": "gold"}
	v2, err := s.Update(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if v2.Metadata.Generation != 1 || v2.Metadata.ResourceVersion == v1.Metadata.ResourceVersion {
		t.Errorf("label change: generation %d rv %s (was %s)", v2.Metadata.Generation, v2.Metadata.ResourceVersion, v1.Metadata.ResourceVersion)
	}
	// Same spec with other spacing: unchanged, same revision.
	in = v2.DeepCopy()
	in.Spec = json.RawMessage(`{ "size" : 1 }`)
	same, err := s.Update(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if same.Metadata.ResourceVersion != v2.Metadata.ResourceVersion {
		t.Errorf("no-op update wrote a new revision %s (was %s)", same.Metadata.ResourceVersion, v2.Metadata.ResourceVersion)
	}
	// Spec change: generation bump; status in an update is ignored.
	in = v2.DeepCopy()
	in.Spec = json.RawMessage(`{"size":2}`)
	in.Status = json.RawMessage(`{"phase":"sneaky"}`)
	v3, err := s.Update(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if v3.Metadata.Generation != 2 || len(v3.Status) != 0 {
		t.Errorf("spec change: generation %d status %s", v3.Metadata.Generation, v3.Status)
	}
	if v3.Metadata.UID != v1.Metadata.UID || !v3.Metadata.CreationTimestamp.Equal(*v1.Metadata.CreationTimestamp) {
		t.Errorf("uid or creationTimestamp changed")
	}
	// Stale resourceVersion: conflict, nothing written.
	stale := v2.DeepCopy()
	stale.Spec = json.RawMessage(`{"size":9}`)
	before := rev(t, s)
	if _, err := s.Update(ctx, stale); !api.IsConflict(err) {
		t.Errorf("stale update: err = %v, want Conflict", err)
	}
	if rev(t, s) != before {
		t.Errorf("conflicting update was written")
	}
	// Unconditional update (no resourceVersion) applies.
	stale.Metadata.ResourceVersion = ""
	v4, err := s.Update(ctx, stale)
	if err != nil {
		t.Fatal(err)
	}
	if string(v4.Spec) != `{"size":9}` || v4.Metadata.Generation != 3 {
		t.Errorf("unconditional update: spec %s generation %d", v4.Spec, v4.Metadata.Generation)
	}
	// Invalid update refused.
	bad := v4.DeepCopy()
	bad.Spec = json.RawMessage(`{"size":-1}`)
	if _, err := s.Update(ctx, bad); !api.IsInvalid(err) {
		t.Errorf("invalid update: err = %v, want Invalid", err)
	}
	// Updating a missing object.
	missing := widget("default", "missing", 1, nil)
	if _, err := s.Update(ctx, missing); !api.IsNotFound(err) {
		t.Errorf("update missing: err = %v, want NotFound", err)
	}
	// A bad resourceVersion string.
	junk := v4.DeepCopy()
	junk.Metadata.ResourceVersion = "abc"
	if _, err := s.Update(ctx, junk); !api.IsInvalid(err) {
		t.Errorf("junk resourceVersion: err = %v, want Invalid", err)
	}
}

func testUpdateStatus(t *testing.T, s *store.Store) {
	ctx := ctxT(t)
	v1 := mustCreate(t, s, widget("default", "st", 1, nil))
	in := v1.DeepCopy()
	in.Spec = json.RawMessage(`{"size":5}`) // ignored by UpdateStatus
	in.Status = json.RawMessage(`{"phase":"Ready"}`)
	v2, err := s.UpdateStatus(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if string(v2.Status) != `{"phase":"Ready"}` || string(v2.Spec) != `{"size":1}` || v2.Metadata.Generation != 1 {
		t.Errorf("status update: status %s spec %s generation %d", v2.Status, v2.Spec, v2.Metadata.Generation)
	}
	if _, err := s.UpdateStatus(ctx, in); !api.IsConflict(err) {
		t.Errorf("stale status update: err = %v, want Conflict", err)
	}
	bad := v2.DeepCopy()
	bad.Status = json.RawMessage(`[1,2]`)
	if _, err := s.UpdateStatus(ctx, bad); !api.IsInvalid(err) {
		t.Errorf("status that is not an object: err = %v, want Invalid", err)
	}
	// Create ignores a status sent by the client: only controllers set status.
	faked := widget("default", "faked", 1, nil)
	faked.Status = json.RawMessage(`{"conditions":[{"type":"Ready","status":"True"}]}`)
	if out := mustCreate(t, s, faked); len(out.Status) != 0 {
		t.Errorf("create kept a client's status: %s", out.Status)
	}
}

func testDeleteFinalizers(t *testing.T, s *store.Store) {
	ctx := ctxT(t)
	wk := kindOf(t, s, "widgets")
	mustCreate(t, s, widget("default", "plain", 1, nil))
	if _, err := s.Delete(ctx, wk, "default", "plain", store.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, wk, "default", "plain"); !api.IsNotFound(err) {
		t.Errorf("deleted object still there: %v", err)
	}
	if _, err := s.Delete(ctx, wk, "default", "plain", store.DeleteOptions{}); !api.IsNotFound(err) {
		t.Errorf("second delete: %v, want NotFound", err)
	}

	f := widget("default", "held", 1, nil)
	f.Metadata.Finalizers = []string{"test.paved.dev/a", "test.paved.dev/b"}
	created := mustCreate(t, s, f)
	if _, err := s.Delete(ctx, wk, "default", "held", store.DeleteOptions{UID: "wrong"}); !api.IsConflict(err) {
		t.Errorf("delete with wrong uid precondition: %v, want Conflict", err)
	}
	marked, err := s.Delete(ctx, wk, "default", "held", store.DeleteOptions{UID: created.Metadata.UID})
	if err != nil {
		t.Fatal(err)
	}
	if marked.Metadata.DeletionTimestamp == nil {
		t.Fatal("delete with finalizers did not set deletionTimestamp")
	}
	got, err := s.Get(ctx, wk, "default", "held")
	if err != nil || got.Metadata.DeletionTimestamp == nil {
		t.Fatalf("object with finalizers: %v %+v", err, got)
	}
	add := got.DeepCopy()
	add.AddFinalizer("test.paved.dev/c")
	if _, err := s.Update(ctx, add); !api.IsInvalid(err) {
		t.Errorf("adding a finalizer while deleting: %v, want Invalid", err)
	}
	spec := got.DeepCopy()
	spec.Spec = json.RawMessage(`{"size":7}`)
	if _, err := s.Update(ctx, spec); !api.IsInvalid(err) {
		t.Errorf("changing spec while deleting: %v, want Invalid", err)
	}
	got.RemoveFinalizer("test.paved.dev/a")
	got, err = s.Update(ctx, got)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, wk, "default", "held"); err != nil {
		t.Fatalf("object went with a finalizer left: %v", err)
	}
	got.RemoveFinalizer("test.paved.dev/b")
	if _, err := s.Update(ctx, got); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, wk, "default", "held"); !api.IsNotFound(err) {
		t.Errorf("object stayed after its last finalizer: %v", err)
	}
}

func names(l *api.List) []string {
	var out []string
	for _, o := range l.Items {
		out = append(out, o.Metadata.Namespace+"/"+o.Metadata.Name)
	}
	return out
}

func testList(t *testing.T, s *store.Store) {
	ctx := ctxT(t)
	wk := kindOf(t, s, "Widget")
	for i := 0; i < 30; i++ {
		ns := "ns" + strconv.Itoa(i%3)
		lbl := map[string]string{"app": []string{"web", "api", "db"}[i%3], "idx": strconv.Itoa(i)}
		if i%5 == 0 {
			lbl["canary"] = "true"
		}
		mustCreate(t, s, widget(ns, fmt.Sprintf("w%02d", i), 1, lbl))
	}
	tests := []struct {
		opts store.ListOptions
		want int
	}{
		{store.ListOptions{}, 30},
		{store.ListOptions{Namespace: "ns1"}, 10},
		{store.ListOptions{LabelSelector: "app=web"}, 10},
		{store.ListOptions{LabelSelector: "app==web,canary"}, 2},
		{store.ListOptions{LabelSelector: "app!=web"}, 20},
		{store.ListOptions{LabelSelector: "app in (web,api)"}, 20},
		{store.ListOptions{LabelSelector: "app notin (web,api)"}, 10},
		{store.ListOptions{LabelSelector: "!canary"}, 24},
		{store.ListOptions{LabelSelector: "canary,app=db"}, 2},
		{store.ListOptions{LabelSelector: "missing=x"}, 0},
		{store.ListOptions{Namespace: "ns0", LabelSelector: "app=web"}, 10},
		{store.ListOptions{FieldSelector: "metadata.name=w07"}, 1},
		{store.ListOptions{FieldSelector: "metadata.namespace=ns2"}, 10},
		{store.ListOptions{Namespace: "ns1", FieldSelector: "metadata.namespace=ns2"}, 0},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%+v", tc.opts), func(t *testing.T) {
			l, err := s.List(ctx, wk, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if len(l.Items) != tc.want {
				t.Errorf("got %d items %v, want %d", len(l.Items), names(l), tc.want)
			}
			if !sort.SliceIsSorted(l.Items, func(i, j int) bool {
				a, b := l.Items[i].Metadata, l.Items[j].Metadata
				return a.Namespace < b.Namespace || (a.Namespace == b.Namespace && a.Name < b.Name)
			}) {
				t.Errorf("items not in (namespace, name) order: %v", names(l))
			}
		})
	}
	// Paging returns every object exactly once, also while objects are added behind the cursor.
	for _, limit := range []int{1, 7, 10, 29, 30, 31} {
		seen := map[string]int{}
		opts := store.ListOptions{Limit: limit}
		pages := 0
		for {
			l, err := s.List(ctx, wk, opts)
			if err != nil {
				t.Fatal(err)
			}
			if len(l.Items) > limit {
				t.Fatalf("page of %d items with limit %d", len(l.Items), limit)
			}
			for _, n := range names(l) {
				seen[n]++
			}
			pages++
			if l.Metadata.Continue == "" {
				break
			}
			opts.Continue = l.Metadata.Continue
		}
		if len(seen) != 30 {
			t.Errorf("limit %d: saw %d distinct objects, want 30", limit, len(seen))
		}
		for n, c := range seen {
			if c != 1 {
				t.Errorf("limit %d: %s seen %d times", limit, n, c)
			}
		}
	}
}

func testListBadInput(t *testing.T, s *store.Store) {
	ctx := ctxT(t)
	wk := kindOf(t, s, "Widget")
	for _, opts := range []store.ListOptions{
		{LabelSelector: "app=(web"},
		{LabelSelector: "a b c"},
		{FieldSelector: "spec.size=1"},
		{FieldSelector: "metadata.name!=x"},
		{Continue: "not-a-token"},
		{Continue: "eyJydiI6MH0"}, // {"rv":0}
		{Limit: -1},
	} {
		if _, err := s.List(ctx, wk, opts); api.ReasonOf(err) != api.ReasonBadRequest {
			t.Errorf("%+v: err = %v, want BadRequest", opts, err)
		}
	}
}

func testListOwnedBy(t *testing.T, s *store.Store) {
	ctx := ctxT(t)
	owner := mustCreate(t, s, &api.Object{APIVersion: "test.paved.dev/v1", Kind: "Gadget", Metadata: api.ObjectMeta{Name: "owner"}})
	ref := api.OwnerReference{APIVersion: owner.APIVersion, Kind: owner.Kind, Name: owner.Metadata.Name, UID: owner.Metadata.UID}
	for i := 0; i < 3; i++ {
		w := widget("ns"+strconv.Itoa(i), "child", 1, nil)
		w.Metadata.OwnerReferences = []api.OwnerReference{ref}
		mustCreate(t, s, w)
	}
	mustCreate(t, s, widget("default", "orphan", 1, nil))
	deps, err := s.ListOwnedBy(ctx, owner.Metadata.UID)
	if err != nil {
		t.Fatal(err)
	}
	if len(deps) != 3 {
		t.Errorf("ListOwnedBy: %d dependents, want 3", len(deps))
	}
}

// collect reads n events from ch or fails after a generous deadline.
func collect(t *testing.T, ch <-chan store.Event, n int) []store.Event {
	t.Helper()
	var out []store.Event
	deadline := time.After(30 * time.Second)
	for len(out) < n {
		select {
		case e, ok := <-ch:
			if !ok {
				t.Fatalf("watch closed after %d of %d events", len(out), n)
			}
			if e.Type == api.EventError {
				t.Fatalf("watch error after %d events: %v", len(out), e.Err)
			}
			out = append(out, e)
		case <-deadline:
			t.Fatalf("timed out after %d of %d events", len(out), n)
		}
	}
	return out
}

func expectQuiet(t *testing.T, ch <-chan store.Event) {
	t.Helper()
	select {
	case e := <-ch:
		t.Fatalf("unexpected event %s %s/%s", e.Type, e.Object.Metadata.Namespace, e.Object.Metadata.Name)
	case <-time.After(300 * time.Millisecond):
	}
}

func testWatchFromList(t *testing.T, s *store.Store) {
	ctx := ctxT(t)
	wk := kindOf(t, s, "Widget")
	mustCreate(t, s, widget("default", "before", 1, nil))
	l, err := s.List(ctx, wk, store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Writes between the list and the watch must still be seen.
	a := mustCreate(t, s, widget("default", "a", 1, nil))
	ch, err := s.Watch(ctx, store.WatchOptions{Kind: wk, ResourceVersion: l.Metadata.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	a.Spec = json.RawMessage(`{"size":2}`)
	if _, err := s.Update(ctx, a); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete(ctx, wk, "default", "a", store.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	evs := collect(t, ch, 3)
	want := []string{api.EventAdded, api.EventModified, api.EventDeleted}
	for i, e := range evs {
		if e.Type != want[i] || e.Object.Metadata.Name != "a" {
			t.Errorf("event %d: %s %s, want %s a", i, e.Type, e.Object.Metadata.Name, want[i])
		}
		if e.Object.Metadata.ResourceVersion != strconv.FormatInt(e.Revision, 10) {
			t.Errorf("event %d: object rv %s, event revision %d", i, e.Object.Metadata.ResourceVersion, e.Revision)
		}
		if i > 0 && e.Revision <= evs[i-1].Revision {
			t.Errorf("revisions out of order: %d after %d", e.Revision, evs[i-1].Revision)
		}
	}
	if evs[2].Object.Metadata.DeletionTimestamp == nil {
		t.Errorf("DELETED event object has no deletionTimestamp")
	}
	expectQuiet(t, ch)
}

func testWatchFilters(t *testing.T, s *store.Store) {
	ctx := ctxT(t)
	wk := kindOf(t, s, "Widget")
	byNS, err := s.Watch(ctx, store.WatchOptions{Kind: wk, Namespace: "team-a"})
	if err != nil {
		t.Fatal(err)
	}
	byLabel, err := s.Watch(ctx, store.WatchOptions{Kind: wk, LabelSelector: "app=web"})
	if err != nil {
		t.Fatal(err)
	}
	all, err := s.Watch(ctx, store.WatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, widget("team-b", "x", 1, map[string]string{"app": "db"}))
	mustCreate(t, s, &api.Object{APIVersion: "test.paved.dev/v1", Kind: "Gadget", Metadata: api.ObjectMeta{Name: "g"}})
	mustCreate(t, s, widget("team-a", "y", 1, map[string]string{"app": "web"}))
	if e := collect(t, byNS, 1); e[0].Object.Metadata.Name != "y" {
		t.Errorf("namespace watch got %s", e[0].Object.Metadata.Name)
	}
	if e := collect(t, byLabel, 1); e[0].Object.Metadata.Name != "y" {
		t.Errorf("label watch got %s", e[0].Object.Metadata.Name)
	}
	if e := collect(t, all, 3); e[1].Object.Kind != "Gadget" {
		t.Errorf("all-kinds watch: second event is %s", e[1].Object.Kind)
	}
	if _, err := s.Watch(ctx, store.WatchOptions{LabelSelector: "(("}); api.ReasonOf(err) != api.ReasonBadRequest {
		t.Errorf("bad selector: %v", err)
	}
	if _, err := s.Watch(ctx, store.WatchOptions{ResourceVersion: "x"}); api.ReasonOf(err) != api.ReasonBadRequest {
		t.Errorf("bad resourceVersion: %v", err)
	}
}

func testWatchCompacted(t *testing.T, s *store.Store) {
	ctx := ctxT(t)
	wk := kindOf(t, s, "Widget")
	first := mustCreate(t, s, widget("default", "c0", 1, nil))
	for i := 1; i < 10; i++ {
		mustCreate(t, s, widget("default", "c"+strconv.Itoa(i), 1, nil))
	}
	if err := s.Compact(ctx, 3); err != nil {
		t.Fatal(err)
	}
	_, err := s.Watch(ctx, store.WatchOptions{Kind: wk, ResourceVersion: first.Metadata.ResourceVersion})
	if !api.IsGone(err) {
		t.Fatalf("watch from compacted revision: %v, want Gone", err)
	}
	// The newest revisions are still watchable.
	ch, err := s.Watch(ctx, store.WatchOptions{Kind: wk, ResourceVersion: strconv.FormatInt(rev(t, s)-2, 10)})
	if err != nil {
		t.Fatal(err)
	}
	evs := collect(t, ch, 2)
	if evs[1].Object.Metadata.Name != "c9" {
		t.Errorf("after compaction: last event %s", evs[1].Object.Metadata.Name)
	}
	// List still sees everything.
	l, err := s.List(ctx, wk, store.ListOptions{})
	if err != nil || len(l.Items) != 10 {
		t.Errorf("list after compaction: %d items, %v", len(l.Items), err)
	}
}

// testWatchConcurrent is the watch guarantee: many concurrent writers, one watcher started
// from a list's revision, every acknowledged write seen exactly once, in revision order.
func testWatchConcurrent(t *testing.T, s *store.Store) {
	ctx := ctxT(t)
	wk := kindOf(t, s, "Widget")
	mustCreate(t, s, widget("default", "seed", 1, nil))
	l, err := s.List(ctx, wk, store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ch, err := s.Watch(ctx, store.WatchOptions{Kind: wk, ResourceVersion: l.Metadata.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	const writers, perWriter = 8, 40
	var mu sync.Mutex
	acked := map[int64]string{}
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < perWriter; i++ {
				name := fmt.Sprintf("w%d-%d", w, i)
				o, err := s.Create(ctx, widget("default", name, 1, nil))
				if err != nil {
					errs <- err
					return
				}
				o.Spec = json.RawMessage(`{"size":2}`)
				o2, err := s.Update(ctx, o)
				if err != nil {
					errs <- err
					return
				}
				r1, _ := strconv.ParseInt(o.Metadata.ResourceVersion, 10, 64)
				r2, _ := strconv.ParseInt(o2.Metadata.ResourceVersion, 10, 64)
				mu.Lock()
				acked[r1] = "ADDED " + name
				acked[r2] = "MODIFIED " + name
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	evs := collect(t, ch, writers*perWriter*2)
	var last int64
	for _, e := range evs {
		if e.Revision <= last {
			t.Fatalf("revision %d after %d: out of order or repeated", e.Revision, last)
		}
		last = e.Revision
		want, ok := acked[e.Revision]
		if !ok {
			t.Fatalf("event at revision %d was never acknowledged to a writer", e.Revision)
		}
		if got := e.Type + " " + e.Object.Metadata.Name; got != want {
			t.Fatalf("revision %d: got %q, want %q", e.Revision, got, want)
		}
		delete(acked, e.Revision)
	}
	if len(acked) != 0 {
		t.Fatalf("%d acknowledged writes never seen by the watcher", len(acked))
	}
	expectQuiet(t, ch)
}

// testSlowWatcher: a watcher that does not read while many writes happen still gets them all.
func testSlowWatcher(t *testing.T, s *store.Store) {
	ctx := ctxT(t)
	wk := kindOf(t, s, "Widget")
	ch, err := s.Watch(ctx, store.WatchOptions{Kind: wk})
	if err != nil {
		t.Fatal(err)
	}
	const n = 600
	for i := 0; i < n; i++ {
		mustCreate(t, s, widget("default", fmt.Sprintf("s%04d", i), 1, nil))
	}
	evs := collect(t, ch, n)
	for i, e := range evs {
		if want := fmt.Sprintf("s%04d", i); e.Object.Metadata.Name != want {
			t.Fatalf("event %d is %s, want %s", i, e.Object.Metadata.Name, want)
		}
	}
}

func testLeases(t *testing.T, s *store.Store) {
	ctx := ctxT(t)
	be := s.Backend()
	ok, err := be.TryLease(ctx, "controllers", "a", 500*time.Millisecond)
	if err != nil || !ok {
		t.Fatalf("a takes a free lease: %v %v", ok, err)
	}
	if ok, _ := be.TryLease(ctx, "controllers", "b", time.Second); ok {
		t.Fatal("b took a lease a holds")
	}
	if ok, _ := be.TryLease(ctx, "controllers", "a", 500*time.Millisecond); !ok {
		t.Fatal("a could not renew its lease")
	}
	if ok, _ := be.TryLease(ctx, "other", "b", time.Second); !ok {
		t.Fatal("b could not take another lease")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if ok, _ := be.TryLease(ctx, "controllers", "b", time.Second); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("b never took the expired lease")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := be.ReleaseLease(ctx, "controllers", "b"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := be.TryLease(ctx, "controllers", "a", time.Second); !ok {
		t.Fatal("a could not take a released lease")
	}
}

func testCreateMany(t *testing.T, s *store.Store) {
	ctx := ctxT(t)
	mustCreate(t, s, widget("default", "exists", 1, nil))
	var objs []*api.Object
	for i := 0; i < 1200; i++ {
		objs = append(objs, widget("default", fmt.Sprintf("m%04d", i), 1, map[string]string{"batch": "yes"}))
	}
	objs = append(objs, widget("default", "exists", 1, nil), widget("default", "bad", 0, nil))
	gen := widget("default", "", 1, nil)
	gen.Metadata.GenerateName = "gen-"
	objs = append(objs, gen)
	out, errs := s.CreateMany(ctx, objs)
	for i := 0; i < 1200; i++ {
		if errs[i] != nil || out[i].Metadata.UID == "" || out[i].Metadata.ResourceVersion == "" {
			t.Fatalf("object %d: %v", i, errs[i])
		}
	}
	if !api.IsAlreadyExists(errs[1200]) || out[1200] != nil {
		t.Errorf("duplicate in batch: %v", errs[1200])
	}
	if !api.IsInvalid(errs[1201]) {
		t.Errorf("invalid in batch: %v", errs[1201])
	}
	if errs[1202] != nil || !strings.HasPrefix(out[1202].Metadata.Name, "gen-") {
		t.Errorf("generateName in batch: %v", errs[1202])
	}
	l, err := s.List(ctx, kindOf(t, s, "widget"), store.ListOptions{LabelSelector: "batch=yes"})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Items) != 1200 {
		t.Fatalf("list after batch: %d items, want 1200", len(l.Items))
	}
}

// testWatchFromEmptyList: a list of an empty store says revision 0; a watch from it must
// deliver a write made between the list and the watch.
func testWatchFromEmptyList(t *testing.T, s *store.Store) {
	ctx := ctxT(t)
	wk := kindOf(t, s, "Widget")
	l, err := s.List(ctx, wk, store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, widget("default", "between", 1, nil))
	ch, err := s.Watch(ctx, store.WatchOptions{Kind: wk, ResourceVersion: l.Metadata.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	if e := collect(t, ch, 1); e[0].Object.Metadata.Name != "between" {
		t.Errorf("got %s", e[0].Object.Metadata.Name)
	}
}

// testPagedListThenWatch: every page reports the first page's revision, so a watch from the
// last page's revision sees a change made to an earlier page while paging.
func testPagedListThenWatch(t *testing.T, s *store.Store) {
	ctx := ctxT(t)
	wk := kindOf(t, s, "Widget")
	a := mustCreate(t, s, widget("default", "a", 1, nil))
	mustCreate(t, s, widget("default", "b", 1, nil))
	p1, err := s.List(ctx, wk, store.ListOptions{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	a.Spec = json.RawMessage(`{"size":5}`)
	if _, err := s.Update(ctx, a); err != nil {
		t.Fatal(err)
	}
	p2, err := s.List(ctx, wk, store.ListOptions{Limit: 1, Continue: p1.Metadata.Continue})
	if err != nil {
		t.Fatal(err)
	}
	if p2.Metadata.ResourceVersion != p1.Metadata.ResourceVersion {
		t.Errorf("page 2 revision %s, page 1 revision %s", p2.Metadata.ResourceVersion, p1.Metadata.ResourceVersion)
	}
	ch, err := s.Watch(ctx, store.WatchOptions{Kind: wk, ResourceVersion: p2.Metadata.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	if e := collect(t, ch, 1); e[0].Object.Metadata.Name != "a" || e[0].Type != api.EventModified {
		t.Errorf("got %s %s", e[0].Type, e[0].Object.Metadata.Name)
	}
}
