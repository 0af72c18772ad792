package gc_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/paved-dev/paved/api"
	"github.com/paved-dev/paved/internal/gc"
	"github.com/paved-dev/paved/internal/kinds"
	"github.com/paved-dev/paved/internal/store"
	"github.com/paved-dev/paved/internal/store/sqlite"
)

type testEnv struct {
	st      *store.Store
	reg     *kinds.Registry
	app     *kinds.Kind // namespaced owner
	part    *kinds.Kind // namespaced dependent
	cluster *kinds.Kind // cluster-scoped
}

func testLogger() *slog.Logger {
	if os.Getenv("PAVED_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func newEnv(t *testing.T) *testEnv {
	t.Helper()
	be, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "paved.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg := kinds.NewRegistry()
	for _, k := range []kinds.Kind{
		{Group: "test.paved.dev", Version: "v1", Kind: "App", Namespaced: true},
		{Group: "test.paved.dev", Version: "v1", Kind: "Part", Namespaced: true},
		{Group: "test.paved.dev", Version: "v1", Kind: "Cluster"},
	} {
		if err := reg.Register(k); err != nil {
			t.Fatal(err)
		}
	}
	st := store.New(be, reg, store.Options{Logger: testLogger()})
	t.Cleanup(func() {
		st.Close()
		_ = be.Close()
	})
	e := &testEnv{st: st, reg: reg}
	e.app, _ = reg.ByGVK("test.paved.dev/v1", "App")
	e.part, _ = reg.ByGVK("test.paved.dev/v1", "Part")
	e.cluster, _ = reg.ByGVK("test.paved.dev/v1", "Cluster")
	return e
}

// startGC runs the collector until the test ends.
func startGC(t *testing.T, e *testEnv, opts gc.Options) {
	t.Helper()
	opts.Logger = testLogger()
	c, err := gc.New(e.st, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Error(err)
			}
		case <-time.After(30 * time.Second):
			t.Error("garbage collector did not stop")
		}
	})
}

func ownedBy(owners ...*api.Object) []api.OwnerReference {
	var refs []api.OwnerReference
	for _, o := range owners {
		refs = append(refs, api.OwnerReference{APIVersion: o.APIVersion, Kind: o.Kind, Name: o.Metadata.Name, UID: o.Metadata.UID})
	}
	return refs
}

func (e *testEnv) create(t *testing.T, k *kinds.Kind, ns, name string, refs []api.OwnerReference, finalizers ...string) *api.Object {
	t.Helper()
	obj := &api.Object{APIVersion: k.APIVersion(), Kind: k.Kind,
		Metadata: api.ObjectMeta{Name: name, Namespace: ns, OwnerReferences: refs, Finalizers: finalizers}}
	out, err := e.st.Create(context.Background(), obj)
	if err != nil {
		t.Fatalf("create %s %s: %v", k.Kind, name, err)
	}
	return out
}

func (e *testEnv) delete(t *testing.T, o *api.Object) {
	t.Helper()
	k, err := e.st.KindOf(o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.Delete(context.Background(), k, o.Metadata.Namespace, o.Metadata.Name, store.DeleteOptions{}); err != nil {
		t.Fatalf("delete %s %s: %v", o.Kind, o.Metadata.Name, err)
	}
}

// get returns the stored object, or nil if it is gone.
func (e *testEnv) get(t *testing.T, o *api.Object) *api.Object {
	t.Helper()
	k, err := e.st.KindOf(o)
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.st.Get(context.Background(), k, o.Metadata.Namespace, o.Metadata.Name)
	if api.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return got
}

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

func (e *testEnv) eventuallyGone(t *testing.T, objs ...*api.Object) {
	t.Helper()
	for _, o := range objs {
		eventually(t, o.Kind+" "+o.Metadata.Name+" to be deleted", func() bool { return e.get(t, o) == nil })
	}
}

// barrier proves the collector has handled everything queued before it: with one worker the
// queue is FIFO, so once a probe owner's deletion has removed the probe's dependent, every
// earlier deletion's dependents have been looked at too.
func (e *testEnv) barrier(t *testing.T, ns string) {
	t.Helper()
	owner := e.create(t, e.app, ns, "probe-owner", nil)
	child := e.create(t, e.part, ns, "probe-child", ownedBy(owner))
	e.delete(t, owner)
	e.eventuallyGone(t, child)
}

func TestCascadeDeletesDependentsAndTheirDependents(t *testing.T) {
	e := newEnv(t)
	startGC(t, e, gc.Options{})
	app := e.create(t, e.app, "team-a", "shop", nil)
	child := e.create(t, e.part, "team-a", "db", ownedBy(app))
	grandchild := e.create(t, e.part, "team-a", "db-user", ownedBy(child))
	// A cluster-scoped owner of a namespaced dependent, and an unrelated object.
	cl := e.create(t, e.cluster, "", "eu", nil)
	onCluster := e.create(t, e.part, "team-a", "eu-quota", ownedBy(cl))
	bystander := e.create(t, e.part, "team-a", "bystander", nil)

	e.delete(t, app)
	e.eventuallyGone(t, child, grandchild)
	e.delete(t, cl)
	e.eventuallyGone(t, onCluster)
	if e.get(t, bystander) == nil {
		t.Error("an object without owners was deleted")
	}
}

func TestDependentWithTwoOwnersSurvivesUntilBothAreGone(t *testing.T) {
	e := newEnv(t)
	startGC(t, e, gc.Options{Workers: 1})
	a := e.create(t, e.app, "default", "a", nil)
	b := e.create(t, e.app, "default", "b", nil)
	shared := e.create(t, e.part, "default", "shared", ownedBy(a, b))

	e.delete(t, a)
	e.barrier(t, "default")
	if e.get(t, shared) == nil {
		t.Fatal("the dependent was deleted while one of its owners still exists")
	}
	e.delete(t, b)
	e.eventuallyGone(t, shared)
}

func TestDependentWithFinalizerIsMarkedForDeletion(t *testing.T) {
	e := newEnv(t)
	startGC(t, e, gc.Options{Workers: 1})
	ctx := context.Background()
	app := e.create(t, e.app, "default", "app", nil)
	child := e.create(t, e.part, "default", "child", ownedBy(app), "test.paved.dev/cleanup")
	grandchild := e.create(t, e.part, "default", "grandchild", ownedBy(child))

	e.delete(t, app)
	eventually(t, "the child to get a deletionTimestamp", func() bool {
		got := e.get(t, child)
		return got != nil && got.Metadata.DeletionTimestamp != nil
	})
	e.barrier(t, "default")
	if e.get(t, grandchild) == nil {
		t.Fatal("the grandchild was deleted while its owner still exists (held by a finalizer)")
	}

	// The finalizer's controller finishes: the child goes, and the grandchild after it.
	got := e.get(t, child)
	got.RemoveFinalizer("test.paved.dev/cleanup")
	if _, err := e.st.Update(ctx, got); err != nil {
		t.Fatal(err)
	}
	e.eventuallyGone(t, child, grandchild)
}

func TestSweepFindsOrphansFromBeforeTheStart(t *testing.T) {
	e := newEnv(t)
	app := e.create(t, e.app, "default", "app", nil)
	orphan := e.create(t, e.part, "default", "orphan", ownedBy(app))
	kept := e.create(t, e.part, "default", "kept", ownedBy(e.create(t, e.app, "default", "alive", nil)))
	e.delete(t, app) // while no collector runs
	// An owner that was replaced by a new object of the same name does not count.
	old := e.create(t, e.app, "default", "replaced", nil)
	ofOld := e.create(t, e.part, "default", "of-old", ownedBy(old))
	e.delete(t, old)
	e.create(t, e.app, "default", "replaced", nil)

	startGC(t, e, gc.Options{Workers: 1})
	e.eventuallyGone(t, orphan, ofOld)
	if e.get(t, kept) == nil {
		t.Error("a dependent of a live owner was deleted")
	}
}

func TestPeriodicSweepCatchesWhatNoEventShows(t *testing.T) {
	e := newEnv(t)
	startGC(t, e, gc.Options{SweepPeriod: 50 * time.Millisecond, Workers: 1})
	// The owner's kind is unknown when the dependent appears, so it is kept; registering the
	// kind later changes no object, so only the periodic sweep can find that the owner
	// does not exist.
	dep := e.create(t, e.part, "default", "dep", []api.OwnerReference{{
		APIVersion: "late.paved.dev/v1", Kind: "Late", Name: "x", UID: "22222222-2222-2222-2222-222222222222"}})
	e.barrier(t, "default")
	if e.get(t, dep) == nil {
		t.Fatal("a dependent whose owner's kind is unknown was deleted")
	}
	if err := e.reg.Register(kinds.Kind{Group: "late.paved.dev", Version: "v1", Kind: "Late", Namespaced: true}); err != nil {
		t.Fatal(err)
	}
	e.eventuallyGone(t, dep)
}

func TestDanglingOwnerOnCreate(t *testing.T) {
	e := newEnv(t)
	startGC(t, e, gc.Options{})
	// Created with an owner that never existed (or is already gone): deleted on sight.
	dangling := e.create(t, e.part, "default", "dangling", []api.OwnerReference{{
		APIVersion: "test.paved.dev/v1", Kind: "App", Name: "ghost", UID: "00000000-0000-0000-0000-000000000000"}})
	e.eventuallyGone(t, dangling)
}

func TestOwnerOfUnknownKindKeepsTheDependent(t *testing.T) {
	e := newEnv(t)
	startGC(t, e, gc.Options{Workers: 1})
	unknown := e.create(t, e.part, "default", "claimed", []api.OwnerReference{{
		APIVersion: "composition.paved.dev/v1", Kind: "NotRegisteredYet", Name: "c", UID: "11111111-1111-1111-1111-111111111111"}})
	e.barrier(t, "default")
	if e.get(t, unknown) == nil {
		t.Error("a dependent whose owner's kind is not registered was deleted; kinds registered at run time may come back")
	}
}

// TestOwnerSeenLiveThenDeleted covers the collector's shortcut: dependents created after
// their owner's own event need no reconcile, and must still go when the owner goes, also
// when the owner is first marked for deletion (finalizer) and only later removed.
func TestOwnerSeenLiveThenDeleted(t *testing.T) {
	e := newEnv(t)
	startGC(t, e, gc.Options{})
	owner := e.create(t, e.app, "default", "owner", nil, "example.com/hold")
	first := e.create(t, e.part, "default", "first", ownedBy(owner)) // names the owner kind first
	owner.Metadata.Labels = map[string]string{"touched": "yes"}      // the owner's own event, after
	owner, err := e.st.Update(context.Background(), owner)
	if err != nil {
		t.Fatal(err)
	}
	var deps []*api.Object
	for i := range 30 {
		deps = append(deps, e.create(t, e.part, "default", fmt.Sprintf("dep-%d", i), ownedBy(owner)))
	}
	e.barrier(t, "default")
	for _, d := range append(deps, first) {
		if e.get(t, d) == nil {
			t.Fatalf("%s was deleted while its owner lives", d.Metadata.Name)
		}
	}
	// Marked for deletion (the finalizer holds it), then more dependents, then gone.
	if _, err := e.st.Delete(context.Background(), e.app, "default", "owner", store.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	late := e.create(t, e.part, "default", "late", ownedBy(owner))
	cur := e.get(t, owner)
	cur.Metadata.Finalizers = nil
	if _, err := e.st.Update(context.Background(), cur); err != nil {
		t.Fatal(err)
	}
	e.eventuallyGone(t, append(deps, first, late)...)
}
