package controller_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/paved-dev/paved/api"
	"github.com/paved-dev/paved/internal/controller"
	"github.com/paved-dev/paved/internal/store"
)

func TestStatusPatcherWritesOnlyChanges(t *testing.T) {
	e := newEnv(t, store.Options{})
	ctx := context.Background()
	obj := e.create(t, e.widget, "default", "w1", map[string]any{"v": 1})
	p := controller.NewStatusPatcher(e.st, obj)
	out, err := p.Patch(ctx, obj)
	if err != nil {
		t.Fatal(err)
	}
	if out.Metadata.ResourceVersion != obj.Metadata.ResourceVersion {
		t.Errorf("an unchanged status was written (resourceVersion %s -> %s)", obj.Metadata.ResourceVersion, out.Metadata.ResourceVersion)
	}
	if err := controller.MarkReady(obj, "", "done"); err != nil {
		t.Fatal(err)
	}
	out, err = p.Patch(ctx, obj)
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.st.Get(ctx, e.widget, "default", "w1")
	if err != nil {
		t.Fatal(err)
	}
	if !controller.IsReady(got) || got.Metadata.ResourceVersion != out.Metadata.ResourceVersion {
		t.Errorf("stored object not ready or not the one returned: %s", got.Status)
	}
}

func TestStatusPatcherMergesOnConflict(t *testing.T) {
	e := newEnv(t, store.Options{})
	ctx := context.Background()
	e.create(t, e.widget, "default", "w1", map[string]any{"v": 1})
	obj, err := e.st.Get(ctx, e.widget, "default", "w1")
	if err != nil {
		t.Fatal(err)
	}
	obj.Status = json.RawMessage(`{"keep":"mine","conditions":[{"type":"Synced","status":"True","reason":"Old","lastTransitionTime":"2024-01-01T00:00:00Z"}]}`)
	if obj, err = e.st.UpdateStatus(ctx, obj); err != nil {
		t.Fatal(err)
	}

	// The reconcile reads the object...
	p := controller.NewStatusPatcher(e.st, obj)
	work := obj.DeepCopy()

	// ...meanwhile someone else changes the spec and a status field and adds a condition.
	other := obj.DeepCopy()
	other.Metadata.ResourceVersion = ""
	other.Status = json.RawMessage(`{"keep":"mine","theirs":42,"conditions":[{"type":"Synced","status":"True","reason":"Old","lastTransitionTime":"2024-01-01T00:00:00Z"},{"type":"Healthy","status":"True","lastTransitionTime":"2024-01-01T00:00:00Z"}]}`)
	if _, err := e.st.UpdateStatus(ctx, other); err != nil {
		t.Fatal(err)
	}
	e.setSpec(t, e.widget, "default", "w1", map[string]any{"v": 2})

	// The reconcile finishes: Ready, Synced removed, a new field.
	if err := controller.MarkReady(work, "", ""); err != nil {
		t.Fatal(err)
	}
	if err := controller.RemoveCondition(work, "Synced"); err != nil {
		t.Fatal(err)
	}
	var st map[string]any
	_ = json.Unmarshal(work.Status, &st)
	st["url"] = "https://w1"
	work.Status, _ = json.Marshal(st)

	if _, err := p.Patch(ctx, work); err != nil {
		t.Fatal(err)
	}
	got, err := e.st.Get(ctx, e.widget, "default", "w1")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(got.Status, &m); err != nil {
		t.Fatal(err)
	}
	if m["theirs"] != float64(42) || m["keep"] != "mine" || m["url"] != "https://w1" {
		t.Errorf("fields not merged: %s", got.Status)
	}
	if m["observedGeneration"] != float64(1) {
		t.Errorf("observedGeneration = %v; the reconcile saw generation 1", m["observedGeneration"])
	}
	conds := controller.Conditions(got)
	if api.FindCondition(conds, "Healthy") == nil {
		t.Errorf("the other writer's condition was lost: %s", got.Status)
	}
	if api.FindCondition(conds, "Synced") != nil {
		t.Errorf("the condition this reconcile removed came back: %s", got.Status)
	}
	if c := api.FindCondition(conds, "Ready"); c == nil || c.Status != "True" || c.ObservedGeneration != 1 {
		t.Errorf("Ready = %+v; want True for generation 1", c)
	}
}

func TestStatusPatcherReportsDeletedObject(t *testing.T) {
	e := newEnv(t, store.Options{})
	ctx := context.Background()
	obj := e.create(t, e.widget, "default", "w1", nil)
	p := controller.NewStatusPatcher(e.st, obj)
	if _, err := e.st.Delete(ctx, e.widget, "default", "w1", store.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := controller.MarkReady(obj, "", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Patch(ctx, obj); !api.IsNotFound(err) {
		t.Errorf("Patch of a deleted object: err = %v; want NotFound", err)
	}
}
