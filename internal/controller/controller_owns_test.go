package controller_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/paved-dev/paved/api"
	"github.com/paved-dev/paved/internal/controller"
	"github.com/paved-dev/paved/internal/kinds"
	"github.com/paved-dev/paved/internal/store"
)

func ptr[T any](v T) *T { return &v }

func TestOwnedObjectChangesReconcileTheOwner(t *testing.T) {
	e := newEnv(t, store.Options{})
	r := &recorder{st: e.st, kind: e.widget}
	start(t, newController(t, e, r, controller.Options{For: e.widget, Watches: []controller.Watch{controller.Owns(e.gadget)}}))

	w := e.create(t, e.widget, "team-a", "owner", nil)
	eventually(t, "the owner's first reconcile", func() bool { return r.count("owner") >= 1 })
	before := r.count("owner")
	e.create(t, e.gadget, "team-a", "part", map[string]any{"v": 1}, api.OwnerReference{
		APIVersion: w.APIVersion, Kind: w.Kind, Name: w.Metadata.Name, UID: w.Metadata.UID, Controller: ptr(true)})
	eventually(t, "a reconcile of the owner after its gadget was created", func() bool { return r.count("owner") > before })
	before = r.count("owner")
	e.setSpec(t, e.gadget, "team-a", "part", map[string]any{"v": 2})
	eventually(t, "a reconcile of the owner after its gadget changed", func() bool { return r.count("owner") > before })
	for _, c := range r.snapshot() {
		if c.req.Kind != "Widget" || c.req.Namespace != "team-a" {
			t.Errorf("unexpected request %+v", c.req)
		}
	}
}

func TestEnqueueControllerOwner(t *testing.T) {
	widget := &kinds.Kind{Group: "test.paved.dev", Version: "v1", Kind: "Widget", Namespaced: true}
	realm := &kinds.Kind{Group: "test.paved.dev", Version: "v1", Kind: "Realm"}
	ref := func(kind, name string, ctrl *bool) api.OwnerReference {
		return api.OwnerReference{APIVersion: "test.paved.dev/v1", Kind: kind, Name: name, UID: "u-" + name, Controller: ctrl}
	}
	tests := []struct {
		name  string
		owner *kinds.Kind
		refs  []api.OwnerReference
		want  []controller.Request
	}{
		{"controller owner of the kind", widget, []api.OwnerReference{ref("Widget", "w", ptr(true))},
			[]controller.Request{{APIVersion: "test.paved.dev/v1", Kind: "Widget", Namespace: "ns1", Name: "w"}}},
		{"plain owner is not the controller", widget, []api.OwnerReference{ref("Widget", "w", nil)}, nil},
		{"controller: false", widget, []api.OwnerReference{ref("Widget", "w", ptr(false))}, nil},
		{"controller of another kind", widget, []api.OwnerReference{ref("Realm", "r", ptr(true))}, nil},
		{"controller among several owners", widget, []api.OwnerReference{ref("Widget", "a", nil), ref("Widget", "b", ptr(true))},
			[]controller.Request{{APIVersion: "test.paved.dev/v1", Kind: "Widget", Namespace: "ns1", Name: "b"}}},
		{"cluster-scoped owner has no namespace", realm, []api.OwnerReference{ref("Realm", "r", ptr(true))},
			[]controller.Request{{APIVersion: "test.paved.dev/v1", Kind: "Realm", Name: "r"}}},
		{"no owners", widget, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := &api.Object{APIVersion: "test.paved.dev/v1", Kind: "Gadget",
				Metadata: api.ObjectMeta{Name: "g", Namespace: "ns1", OwnerReferences: tt.refs}}
			got := controller.EnqueueControllerOwner(tt.owner)(context.Background(), store.Event{Type: api.EventAdded, Object: obj})
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
		})
	}
}
