package entity

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func str(s string) Row { return Row{Value: strings.ToLower(s), Original: s} }

func keyed(key string, r Row) Row { r.Key = key; return r }

func null(key string) Row { return Row{Key: key, Null: true} }

// The first cases follow Backstage's buildEntitySearch tests.
func TestSearchRowsSpecialKeys(t *testing.T) {
	e := &Entity{APIVersion: "a", Kind: "b", Metadata: Metadata{Name: "n"}}
	got, err := SearchRows(e)
	if err != nil {
		t.Fatal(err)
	}
	want := []Row{
		keyed("apiversion", str("a")), keyed("kind", str("b")),
		keyed("metadata.name", str("n")), null("metadata.namespace"), null("metadata.uid"),
		keyed("metadata.namespace", str("default")),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}

	e.Relations = []Relation{{Type: "t1", TargetRef: "k:ns/a"}, {Type: "t2", TargetRef: "k:ns/b"}}
	e.Metadata.Namespace, e.Metadata.UID, e.Metadata.Etag = "ns", "the-uid", "etag"
	got, err = SearchRows(e)
	if err != nil {
		t.Fatal(err)
	}
	want = []Row{
		keyed("apiversion", str("a")), keyed("kind", str("b")),
		keyed("metadata.name", str("n")), keyed("metadata.namespace", str("ns")), keyed("metadata.uid", str("the-uid")),
		keyed("relations.t1", str("k:ns/a")), keyed("relations.t2", str("k:ns/b")),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("with relations (-want +got):\n%s", diff)
	}
}

func TestSearchRowsFlattening(t *testing.T) {
	e := mustParse(t, `apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: Artist-Lookup
  tags: [java, Data, java]
  links: [{url: "https://x", title: X}]
  annotations: {backstage.io/source-location: "url:https://Example.com/"}
spec:
  type: Service
  replicas: 3
  ratio: 0.5
  big: 1e21
  tiny: 1e-7
  enabled: true
  nothing: null
  empty: []
  nested: {a: {b: c}}
  list: [{i: 1, j: k}, {i: 2, j: l}]
`)
	e.Relations = []Relation{{Type: "ownedBy", TargetRef: "group:default/team-a"}}
	got, err := SearchRows(e)
	if err != nil {
		t.Fatal(err)
	}
	want := []Row{
		keyed("apiversion", str("backstage.io/v1alpha1")),
		keyed("kind", str("Component")),
		keyed("metadata.annotations.backstage.io/source-location", str("url:https://Example.com/")),
		keyed("metadata.links.title", str("X")),
		keyed("metadata.links.url", str("https://x")),
		keyed("metadata.tags", str("java")),
		keyed("metadata.tags.java", str("true")),
		keyed("metadata.tags", str("Data")),
		keyed("metadata.tags.data", str("true")),
		keyed("spec.big", str("1e+21")),
		keyed("spec.enabled", str("true")),
		keyed("spec.list.i", str("1")),
		keyed("spec.list.j", str("k")),
		keyed("spec.list.i", str("2")),
		keyed("spec.list.j", str("l")),
		keyed("spec.nested.a.b", str("c")),
		null("spec.nothing"),
		keyed("spec.ratio", str("0.5")),
		keyed("spec.replicas", str("3")),
		keyed("spec.tiny", str("1e-7")),
		keyed("spec.type", str("Service")),
		keyed("metadata.name", str("Artist-Lookup")),
		null("metadata.namespace"),
		null("metadata.uid"),
		keyed("metadata.namespace", str("default")),
		keyed("relations.ownedby", str("group:default/team-a")),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestSearchRowsLimits(t *testing.T) {
	long := strings.Repeat("a", 10000)
	e := &Entity{APIVersion: "a", Kind: "b", Metadata: Metadata{Name: "n", Namespace: "ns", UID: "u"},
		Spec: map[string]any{long: "x", "value": long, "fits": strings.Repeat("b", 200), "over": strings.Repeat("😀", 101)}}
	got, err := SearchRows(e)
	if err != nil {
		t.Fatal(err)
	}
	byKey := map[string]Row{}
	for _, r := range got {
		if len(r.Key) > MaxSearchKeyLength {
			t.Errorf("a key over %d characters was indexed", MaxSearchKeyLength)
		}
		byKey[r.Key] = r
	}
	if r := byKey["spec.value"]; !r.Null {
		t.Errorf("a value over the limit should be a null row, got %+v", r)
	}
	if r := byKey["spec.fits"]; r.Null || r.Value != strings.Repeat("b", 200) {
		t.Errorf("a value of exactly the limit should be indexed, got %+v", r)
	}
	if r := byKey["spec.over"]; !r.Null { // 101 emoji are 202 UTF-16 code units
		t.Errorf("length is counted in UTF-16 code units, got %+v", r)
	}
}

func TestSearchRowsRejectsKeysDifferingInCase(t *testing.T) {
	cases := []struct {
		e    *Entity
		want string
	}{
		{&Entity{APIVersion: "a", Kind: "b", Metadata: Metadata{Name: "n", Extra: map[string]any{"Namespace": "ns"}}},
			"entity has duplicate keys that vary only in casing, 'metadata.namespace'"},
		{&Entity{APIVersion: "a", Kind: "b", Metadata: Metadata{Name: "n"},
			Relations: []Relation{{Type: "dup", TargetRef: "k:ns/a"}, {Type: "DUP", TargetRef: "k:ns/b"}}},
			"entity has duplicate keys that vary only in casing, 'relations.dup'"},
		{&Entity{APIVersion: "a", Kind: "b", Metadata: Metadata{Name: "n"},
			Spec: map[string]any{"owner": "o", "OWNER": "o", "lifecycle": "production", "lifeCycle": "production"}},
			"entity has duplicate keys that vary only in casing, 'spec.lifecycle', 'spec.owner'"},
	}
	for _, tc := range cases {
		_, err := SearchRows(tc.e)
		if err == nil || err.Error() != tc.want {
			t.Errorf("error = %v, want %s", err, tc.want)
		}
	}
	// Tags that differ only in case are one tag, not a clash.
	if _, err := SearchRows(&Entity{APIVersion: "a", Kind: "b", Metadata: Metadata{Name: "n", Tags: []string{"Java", "java"}}}); err != nil {
		t.Errorf("tags differing in case: %v", err)
	}
}

func TestJSNumber(t *testing.T) {
	cases := map[float64]string{
		0: "0", math.Copysign(0, -1): "0", 1: "1", -1: "-1", 7: "7", 0.5: "0.5", 1.5: "1.5", 100: "100",
		123456789012: "123456789012", 1e20: "100000000000000000000", 1e21: "1e+21", 1.5e21: "1.5e+21",
		0.000001: "0.000001", 1e-7: "1e-7", 1.5e-7: "1.5e-7", 0.30000000000000004: "0.30000000000000004",
		9007199254740993: "9007199254740992", -2.5e-10: "-2.5e-10", math.MaxFloat64: "1.7976931348623157e+308",
		math.Inf(1): "Infinity", math.Inf(-1): "-Infinity",
	}
	for in, want := range cases {
		if got := jsNumber(in); got != want {
			t.Errorf("jsNumber(%v) = %q, want %q", in, got, want)
		}
	}
	if got, _ := jsString(json.Number("1e400")); got != "Infinity" {
		t.Errorf("a number beyond float64 reads as Infinity in JavaScript, got %q", got)
	}
	if got, _ := jsString(int64(42)); got != "42" {
		t.Errorf("int64: %q", got)
	}
}
