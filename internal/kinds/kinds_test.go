package kinds

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestRegisterRejects(t *testing.T) {
	tests := []struct {
		name string
		k    Kind
		want string
	}{
		{"lower-case kind", Kind{Group: "a.dev", Version: "v1", Kind: "widget"}, "upper-case"},
		{"no group", Kind{Version: "v1", Kind: "Widget"}, "group"},
		{"bad group", Kind{Group: "A_B", Version: "v1", Kind: "Widget"}, "group"},
		{"bad version", Kind{Group: "a.dev", Version: "1", Kind: "Widget"}, "version"},
		{"bad plural", Kind{Group: "a.dev", Version: "v1", Kind: "Widget", Plural: "Widgets"}, "plural"},
		{"broken schema", Kind{Group: "a.dev", Version: "v1", Kind: "Widget", Schema: json.RawMessage(`{"type":`)}, "schema"},
		{"schema with unknown type", Kind{Group: "a.dev", Version: "v1", Kind: "Widget", Schema: json.RawMessage(`{"type":"wat"}`)}, "schema"},
		{"external ref", Kind{Group: "a.dev", Version: "v1", Kind: "Widget", Schema: json.RawMessage(`{"$ref":"file:///etc/passwd"}`)}, "not allowed"},
		{"remote ref", Kind{Group: "a.dev", Version: "v1", Kind: "Widget", Schema: json.RawMessage(`{"$ref":"http://127.0.0.1:1/x.json"}`)}, "not allowed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := NewRegistry().Register(tc.k)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestRegisterAtRunTimeAndUnregister(t *testing.T) {
	r := NewRegistry()
	changed := make(chan struct{}, 4)
	r.OnChange(func() { changed <- struct{}{} })
	if err := r.Register(Kind{Group: "db.example.org", Version: "v1alpha1", Kind: "PostgreSQLInstance", Namespaced: true}); err != nil {
		t.Fatal(err)
	}
	<-changed
	k, ok := r.ByGVR("db.example.org", "v1alpha1", "postgresqlinstances")
	if !ok || k.Kind != "PostgreSQLInstance" || k.Singular != "postgresqlinstance" {
		t.Fatalf("ByGVR: %+v %v", k, ok)
	}
	if _, ok := r.ByGVK("db.example.org/v1alpha1", "PostgreSQLInstance"); !ok {
		t.Fatal("ByGVK missed")
	}
	if err := r.Register(Kind{Group: "db.example.org", Version: "v1alpha1", Kind: "Other", Plural: "postgresqlinstances"}); err == nil {
		t.Error("a second kind took the same plural")
	}
	r.Unregister("db.example.org", "v1alpha1", "PostgreSQLInstance")
	<-changed
	if _, ok := r.ByGVK("db.example.org/v1alpha1", "PostgreSQLInstance"); ok {
		t.Error("still registered")
	}
}

func TestResolve(t *testing.T) {
	r := NewRegistry()
	_ = r.Register(Kind{Group: "other.dev", Version: "v1", Kind: "Environment", Plural: "environments"})
	all := r.All()
	for _, name := range []string{"ns", "Namespace", "NAMESPACES", "namespace", "namespaces.paved.dev", "events"} {
		if _, err := Resolve(all, name); err != nil {
			t.Errorf("Resolve(%q): %v", name, err)
		}
	}
	if _, err := Resolve(all, "environment"); !errors.Is(err, ErrAmbiguous) || !strings.Contains(err.Error(), "environments.other.dev") {
		t.Errorf("ambiguous: %v", err)
	}
	if k, err := Resolve(all, "environments.other.dev"); err != nil || k.Group != "other.dev" {
		t.Errorf("qualified: %v %v", k, err)
	}
	if _, err := Resolve(all, "nope"); err == nil || !strings.Contains(err.Error(), "api-resources") {
		t.Errorf("unknown: %v", err)
	}
}

func TestValidateNamesFieldPaths(t *testing.T) {
	r := NewRegistry()
	env, _ := r.ByGVK("paved.dev/v1", "Environment")
	tests := []struct {
		spec  string
		field string
	}{
		{`{"tier":"prod"}`, "spec.tier"},
		{`{"namespace":"Not OK"}`, "spec.namespace"},
		{`{"unknown":1}`, "spec"},
		{`{"ttl":5}`, "spec.ttl"},
	}
	for _, tc := range tests {
		cs := env.Validate(json.RawMessage(tc.spec))
		if len(cs) == 0 {
			t.Errorf("%s accepted", tc.spec)
			continue
		}
		found := false
		for _, c := range cs {
			if c.Field == tc.field && c.Message != "" {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: causes %+v do not name %s", tc.spec, cs, tc.field)
		}
	}
	if cs := env.Validate(json.RawMessage(`{"tier":"production","cluster":"aks-prod"}`)); len(cs) != 0 {
		t.Errorf("valid spec refused: %+v", cs)
	}
	if cs := env.Validate(nil); len(cs) != 0 {
		t.Errorf("empty spec refused: %+v", cs)
	}
}
