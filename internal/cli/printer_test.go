package cli

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/paved-dev/paved/api"
)

var testNow = time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC)

func ago(d time.Duration) *time.Time {
	t := testNow.Add(-d)
	return &t
}

func TestAge(t *testing.T) {
	tests := []struct {
		in   *time.Time
		want string
	}{
		{nil, "<unknown>"},
		{ago(5 * time.Second), "5s"},
		{ago(3 * time.Minute), "3m"},
		{ago(3*time.Minute + 20*time.Second), "3m20s"},
		{ago(2 * time.Hour), "120m"},
		{ago(5 * time.Hour), "5h"},
		{ago(4 * 24 * time.Hour), "4d"},
		{ago(400 * 24 * time.Hour), "400d"},
		{ago(-time.Minute), "0s"}, // a server clock ahead of ours
	}
	for _, tt := range tests {
		if got := age(tt.in, testNow); got != tt.want {
			t.Errorf("age(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestFieldPath(t *testing.T) {
	obj := map[string]any{
		"spec": map[string]any{"type": "web", "replicas": json.Number("3"), "on": true,
			"ports": []any{map[string]any{"port": json.Number("80")}}},
		"metadata": map[string]any{"labels": map[string]any{"app.kubernetes.io/name": "shop"}},
	}
	tests := []struct {
		path string
		want string
	}{
		{".spec.type", "web"},
		{"spec.type", "web"},
		{"{.spec.type}", "web"},
		{".spec.replicas", "3"},
		{".spec.on", "true"},
		{".spec.ports[0].port", "80"},
		{".spec.ports", `[{"port":80}]`},
		{".spec.ports[1].port", "<none>"},
		{".spec.missing", "<none>"},
		{".spec.type.deeper", "<none>"},
		{".metadata.labels['app.kubernetes.io/name']", "shop"},
		{`.metadata.labels["app.kubernetes.io/name"]`, "shop"},
	}
	for _, tt := range tests {
		p, err := parsePath(tt.path)
		if err != nil {
			t.Errorf("parsePath(%q): %v", tt.path, err)
			continue
		}
		if got := formatCell(p.eval(obj)); got != tt.want {
			t.Errorf("%s = %q, want %q", tt.path, got, tt.want)
		}
	}
	for _, bad := range []string{".spec..type", ".spec[", ".spec[x]", ".spec]"} {
		if _, err := parsePath(bad); err == nil {
			t.Errorf("parsePath(%q) succeeded, want an error", bad)
		}
	}
}

func TestRefName(t *testing.T) {
	if got := refName(api.APIResource{Group: "paved.dev", Kind: "Environment"}, "dev"); got != "environment.paved.dev/dev" {
		t.Errorf("refName = %q", got)
	}
	if got := refName(api.APIResource{Kind: "Thing"}, "x"); got != "thing/x" {
		t.Errorf("refName without group = %q", got)
	}
}

func testObject(ns, name string, created time.Duration, spec string, conds ...api.Condition) api.Object {
	o := api.Object{APIVersion: "paved.dev/v1", Kind: "Environment",
		Metadata: api.ObjectMeta{Name: name, Namespace: ns, CreationTimestamp: ago(created)}}
	if spec != "" {
		o.Spec = json.RawMessage(spec)
	}
	if len(conds) > 0 {
		o.Status, _ = json.Marshal(api.CommonStatus{Conditions: conds})
	}
	return o
}

func TestPrintTable(t *testing.T) {
	env := api.APIResource{Group: "paved.dev", Version: "v1", Kind: "Environment", Plural: "environments",
		Namespaced: true, Columns: []api.Column{
			{Name: "TIER", JSONPath: ".spec.tier"},
			{Name: "cluster", JSONPath: ".spec.cluster", Wide: true},
		}}
	items := []api.Object{
		testObject("default", "dev", 5*time.Second, `{"tier":"development","cluster":"local"}`,
			api.Condition{Type: "Ready", Status: "True"}),
		testObject("team-a", "production", 4*24*time.Hour, `{"tier":"production"}`),
	}
	tests := []struct {
		name          string
		allNamespaces bool
		wide          bool
		items         []api.Object
		want          string
	}{
		{
			name:  "default columns, READY because one object has it",
			items: items,
			want: `NAME         TIER          READY   AGE
dev          development   True    5s
production   production    -       4d
`,
		},
		{
			name: "wide and across namespaces", allNamespaces: true, wide: true, items: items,
			want: `NAMESPACE   NAME         TIER          CLUSTER   READY   AGE
default     dev          development   local     True    5s
team-a      production   production    <none>    -       4d
`,
		},
		{
			name:  "no READY column when no object reports it",
			items: items[1:],
			want: `NAME         TIER         AGE
production   production   4d
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			cols := tableColumns(env, tt.allNamespaces, tt.wide, tt.items, testNow)
			if err := printTable(&b, cols, tt.items, true); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, b.String()); diff != "" {
				t.Errorf("table (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPrintObjects(t *testing.T) {
	o := testObject("default", "dev", time.Minute, `{"tier":"development"}`)
	o.Metadata.CreationTimestamp = nil
	var b strings.Builder
	if err := printObjects(&b, "yaml", []api.Object{o}, true); err != nil {
		t.Fatal(err)
	}
	want := `apiVersion: paved.dev/v1
kind: Environment
metadata:
  name: dev
  namespace: default
spec:
  tier: development
`
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("yaml (-want +got):\n%s", diff)
	}

	b.Reset()
	if err := printObjects(&b, "json", nil, false); err != nil {
		t.Fatal(err)
	}
	var l api.List
	if err := json.Unmarshal([]byte(b.String()), &l); err != nil || l.Kind != "List" || l.Items == nil {
		t.Errorf("empty json list = %s (%v), want a List with an empty items array", b.String(), err)
	}
}

func TestDescribeObject(t *testing.T) {
	yes := true
	o := testObject("default", "dev", time.Hour, `{"tier":"development"}`,
		api.Condition{Type: "Ready", Status: "False", Reason: "ClusterMissing", Message: "cluster \"x\"\nnot found",
			LastTransitionTime: testNow.Add(-2 * time.Minute)})
	o.Metadata.Labels = map[string]string{"b": "2", "a": "1"}
	o.Metadata.Generation = 2
	o.Metadata.Finalizers = []string{"paved.dev/cleanup"}
	o.Metadata.OwnerReferences = []api.OwnerReference{{Kind: "Team", Name: "a", Controller: &yes}}
	res := api.APIResource{Group: "paved.dev", Version: "v1", Kind: "Environment", Namespaced: true}
	events := []event{{spec: eventSpec{Type: "Warning", Reason: "Failed", Message: "no cluster", Count: 3, Source: "env-controller",
		FirstTimestamp: ago(10 * time.Minute), LastTimestamp: ago(time.Minute)}}}
	var b strings.Builder
	if err := describeObject(&b, res, &o, events, testNow); err != nil {
		t.Fatal(err)
	}
	want := `Name:               dev
Namespace:          default
Kind:               Environment
API Version:        paved.dev/v1
Labels:             a=1
                    b=2
Annotations:        <none>
Created:            2026-01-10T11:00:00Z (60m ago)
Generation:         2
Resource Version:   
UID:                
Finalizers:         paved.dev/cleanup
Owners:             Team/a (controller)
Spec:
  tier: development
Conditions:
  TYPE    STATUS   REASON           MESSAGE                 AGE
  Ready   False    ClusterMissing   cluster "x" not found   2m
Events:
  TYPE      REASON   AGE                 FROM             MESSAGE
  Warning   Failed   60s (x3 over 10m)   env-controller   no cluster
`
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("describe (-want +got):\n%s", diff)
	}
}

func TestInvolves(t *testing.T) {
	obj := &api.Object{APIVersion: "paved.dev/v1", Kind: "Environment", Metadata: api.ObjectMeta{Name: "dev", Namespace: "default", UID: "u1"}}
	ev := func(apiVersion, kind, ns, name, uid string) eventSpec {
		var s eventSpec
		s.InvolvedObject.APIVersion, s.InvolvedObject.Kind, s.InvolvedObject.Namespace = apiVersion, kind, ns
		s.InvolvedObject.Name, s.InvolvedObject.UID = name, uid
		return s
	}
	tests := []struct {
		s    eventSpec
		want bool
	}{
		{ev("", "Environment", "", "dev", ""), true},
		{ev("paved.dev/v1", "Environment", "default", "dev", "u1"), true},
		{ev("", "Environment", "", "prod", ""), false},
		{ev("", "Namespace", "", "dev", ""), false},
		{ev("", "Environment", "other", "dev", ""), false},
		{ev("", "Environment", "", "dev", "u0"), false}, // an earlier object of the same name
		{ev("other.io/v1", "Environment", "", "dev", ""), false},
	}
	for i, tt := range tests {
		if got := involves(tt.s, obj); got != tt.want {
			t.Errorf("case %d: involves = %v, want %v", i, got, tt.want)
		}
	}
}

func TestSameDesired(t *testing.T) {
	base := func() *api.Object {
		o := testObject("default", "dev", 0, `{"tier":"development","n":1}`)
		o.Metadata.Labels = map[string]string{"a": "1"}
		return &o
	}
	tests := []struct {
		name   string
		change func(o *api.Object)
		want   bool
	}{
		{"identical", func(o *api.Object) {}, true},
		{"spec reordered and respaced", func(o *api.Object) { o.Spec = json.RawMessage(`{ "n": 1.0, "tier": "development" }`) }, true},
		{"spec changed", func(o *api.Object) { o.Spec = json.RawMessage(`{"tier":"production","n":1}`) }, false},
		{"label added", func(o *api.Object) { o.Metadata.Labels["b"] = "2" }, false},
		{"labels removed", func(o *api.Object) { o.Metadata.Labels = nil }, false},
		{"empty annotations equal none", func(o *api.Object) { o.Metadata.Annotations = map[string]string{} }, true},
		{"status differs", func(o *api.Object) { o.Status = json.RawMessage(`{"x":1}`) }, true},
		{"finalizers named", func(o *api.Object) { o.Metadata.Finalizers = []string{"f"} }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := base()
			tt.change(want)
			if got := sameDesired(base(), want); got != tt.want {
				t.Errorf("sameDesired = %v, want %v", got, tt.want)
			}
		})
	}
	if !sameJSON(nil, json.RawMessage("null")) || !sameJSON(nil, json.RawMessage("{}")) {
		t.Error("absent, null and {} spec should compare equal")
	}
}
