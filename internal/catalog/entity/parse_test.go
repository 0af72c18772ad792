package entity

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseDocumentsStream(t *testing.T) {
	data := []byte(`---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: a}
spec: {type: team, children: []}
---
# an empty document, as a trailing --- leaves, is skipped
---
- not
- an object
---
plain scalar
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: {name: b}
spec: {memberOf: [a]}
---
`)
	docs := ParseDocuments(data)
	type summary struct {
		Index, Line int
		Ref, Err    string
	}
	var got []summary
	for _, d := range docs {
		s := summary{Index: d.Index, Line: d.Line}
		if d.Entity != nil {
			s.Ref = d.Entity.Ref().String()
		}
		if d.Err != nil {
			s.Err = d.Err.Error()
		}
		got = append(got, s)
	}
	want := []summary{
		{0, 2, "group:default/a", ""},
		{2, 9, "", "line 9, column 1: expected an object at the document root, got array"},
		{3, 12, "", "line 12, column 1: expected an object at the document root, got string"},
		{4, 14, "user:default/b", ""},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestParseErrors(t *testing.T) {
	deepYAML := strings.Repeat("{a: ", MaxDepth+5) + "1" + strings.Repeat("}", MaxDepth+5)
	deepJSON := strings.Repeat(`{"a":`, MaxDepth+5) + "1" + strings.Repeat("}", MaxDepth+5)
	deepList := "kind: K\nspec: " + strings.Repeat("[", MaxDepth+5) + strings.Repeat("]", MaxDepth+5)
	bomb := `a: &a ["x","x","x","x","x","x","x","x","x","x"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h,*h]
`
	cases := []struct {
		name string
		data string
		want string // substring of the error
	}{
		{"syntax", "kind: Component\nmetadata:\n  name: a\n   bad: indent\n", "line 4"},
		{"tab indentation", "kind: Component\nmetadata:\n\tname: a\n", "line 3"},
		{"unclosed flow", "kind: [Component\n", "line"},
		{"json syntax", "{\n  \"kind\": \"Component\"\n  \"metadata\": {}\n}", "line 3, column 3"},
		{"json unterminated", `{"kind": "Component"`, "line 1, column 21: unexpected end of JSON input"},
		{"json trailing data", `{"kind": "Component"} {}`, "unexpected data after the JSON value"},
		{"json array", `[{"kind": "Component"}]`, "expected an object at the document root, got array"},
		{"invalid utf-8", "kind: Component\nmetadata:\n  name: a\xffb\n", "line 3, column 10: invalid UTF-8"},
		{"duplicate key", "kind: Component\nmetadata: {name: a}\nkind: API\n", `line 3, column 1: duplicate key "kind"`},
		{"deep yaml", deepYAML, fmt.Sprintf("nests deeper than %d levels", MaxDepth)},
		{"deep json", deepJSON, fmt.Sprintf("nests deeper than %d levels", MaxDepth)},
		{"deep list", deepList, fmt.Sprintf("nests deeper than %d levels", MaxDepth)},
		{"yaml bomb", bomb, "too many values"},
		{"infinity", "kind: K\nspec: {x: .inf}\n", "not a number JSON can hold"},
		{"complex key", "? [a, b]\n: c\n", "a mapping key must be a plain value"},
		{"empty", "", "the document is empty"},
		{"only comments", "# nothing\n---\n", "the document is empty"},
		{"two entities", "kind: A\nmetadata: {name: a}\n---\nkind: B\nmetadata: {name: b}\n", "expected one entity, found another in document 2 (line 4)"},
		{"control character", "kind: \"a\x01b\"\n", "control characters are not allowed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.data))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestParseErrorsAreSyntaxErrors(t *testing.T) {
	_, err := Parse([]byte("kind: [\n"))
	var se *SyntaxError
	if !errors.As(err, &se) || se.Line == 0 {
		t.Fatalf("error %v (%T) should be a *SyntaxError with a line", err, err)
	}
}

func TestParseYAMLAsBackstageReadsIt(t *testing.T) {
	e := mustParse(t, `apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: a
  annotations:
    quoted: 'true'
  base: &base {owner: team-a, lifecycle: production}
spec:
  <<: *base
  type: service
  started: 2021-11-10
  flag: yes
  on: off
  octal: 0755
  hex: 0x1F
  octal12: 0o17
  big: 123456789012345678901234567890
  float: 1.50
  neg: -0
  'null': ~
  1: numeric key
  text: |
    line one
    line two
`)
	want := map[string]any{
		"<<":      map[string]any{"owner": "team-a", "lifecycle": "production"}, // merge keys are off, as in Backstage
		"type":    "service",
		"started": "2021-11-10", // YAML 1.2 core has no timestamps
		"flag":    "yes",        // nor yes/no booleans
		"on":      "off",
		"octal":   json.Number("755"), // nor implicit octal
		"hex":     json.Number("31"),
		"octal12": json.Number("15"),
		"big":     json.Number("1.2345678901234568e+29"),
		"float":   json.Number("1.5"),
		"neg":     json.Number("0"),
		"null":    nil,
		"1":       "numeric key",
		"text":    "line one\nline two\n",
	}
	if diff := cmp.Diff(want, e.Spec); diff != "" {
		t.Errorf("spec (-want +got):\n%s", diff)
	}
	if e.Metadata.Annotations["quoted"] != "true" {
		t.Errorf("annotations = %v", e.Metadata.Annotations)
	}
	if _, ok := e.Metadata.Extra["base"]; !ok {
		t.Error("an unknown metadata field should be kept")
	}
}

func TestParseJSONAndFlowYAML(t *testing.T) {
	for _, doc := range []string{
		"{\n\t\"apiVersion\": \"backstage.io/v1alpha1\",\n\t\"kind\": \"Location\",\n\t\"metadata\": {\"name\": \"x\"},\n\t\"spec\": {\"targets\": [\"./a.yaml\"], \"n\": 1.0}\n}",
		"{apiVersion: backstage.io/v1alpha1, kind: Location, metadata: {name: x}, spec: {targets: [./a.yaml], n: 1}}",
	} {
		e := mustParse(t, doc)
		if e.Kind != "Location" || e.Metadata.Name != "x" {
			t.Errorf("parsed %+v from %s", e, doc)
		}
		if errs := Validate(e); len(errs) > 0 {
			t.Errorf("errors %v for %s", errs, doc)
		}
	}
}

func TestRoundTripKeepsEverything(t *testing.T) {
	doc := `{
  "apiVersion": "backstage.io/v1alpha1",
  "kind": "Component",
  "metadata": {
    "name": "a",
    "namespace": "ns",
    "uid": "u-1",
    "etag": "e-1",
    "title": "A <b>",
    "description": "",
    "labels": {"x": "y"},
    "annotations": {"backstage.io/orphan": "true"},
    "tags": [],
    "links": [{"url": "https://x", "type": "docs", "color": "red"}],
    "generation": 13,
    "customField": {"nested": [1, 2.5, "three", null, true]}
  },
  "spec": {"type": "service", "big": 12345678901234567890, "definition": "<html>&</html>"},
  "relations": [{"type": "ownedBy", "targetRef": "group:ns/t", "target": {"kind": "group", "namespace": "ns", "name": "t"}}],
  "status": {"items": [{"type": "t", "level": "error", "message": "", "error": {"name": "E", "message": "m"}, "extra": 1}], "other": true},
  "attachments": ["x"]
}`
	var e Entity
	if err := json.Unmarshal([]byte(doc), &e); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(&e)
	if err != nil {
		t.Fatal(err)
	}
	var want, got any
	_ = json.Unmarshal([]byte(doc), &want)
	_ = json.Unmarshal(out, &got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	// json.Marshal escapes HTML in any Marshaler's output; the entity's own encoding does not.
	raw, _ := e.MarshalJSON()
	if !strings.Contains(string(raw), `"<html>&</html>"`) {
		t.Errorf("HTML should not be escaped: %s", out)
	}
	if !strings.Contains(string(out), "12345678901234567890") {
		t.Errorf("numbers should be kept exactly: %s", out)
	}
	if e.Metadata.Title != "A <b>" || e.Relations[0].Target.Name != "t" || e.Status.Items[0].Error["name"] != "E" {
		t.Errorf("typed view: %+v", e)
	}
}

func TestWrongTypesAreKeptAndReported(t *testing.T) {
	doc := `{"apiVersion": 1, "kind": "Component", "metadata": {"name": ["a"], "labels": {"a": 1}, "tags": "java", "links": [{"url": 5}]},
"spec": "nope", "relations": {"x": 1}, "status": []}`
	var e Entity
	if err := json.Unmarshal([]byte(doc), &e); err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(&e)
	var want, got any
	_ = json.Unmarshal([]byte(doc), &want)
	_ = json.Unmarshal(out, &got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	errs := Default().WithStoredFields().Validate(&e)
	wantIssues := []issue{{"apiVersion", CodeType}, {"metadata.name", CodeType}, {"metadata.labels.a", CodeType},
		{"metadata.tags", CodeType}, {"metadata.links[0].url", CodeType}, {"spec", CodeType}, {"relations", CodeType}, {"status", CodeType}}
	if diff := cmp.Diff(wantIssues, issues(errs)); diff != "" {
		t.Errorf("errors (-want +got):\n%s\n%v", diff, errs)
	}
}

func TestUnmarshalRefusesNonObjects(t *testing.T) {
	for _, doc := range []string{`[]`, `"x"`, `null`, `7`} {
		var e Entity
		if err := json.Unmarshal([]byte(doc), &e); err == nil || !strings.Contains(err.Error(), "expected an object") {
			t.Errorf("Unmarshal(%s) error = %v", doc, err)
		}
	}
}

func TestLocateGivesPositions(t *testing.T) {
	data := []byte(`apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: invalid component
  tags:
    - go
    - go 1.15.3
spec:
  type: service
  lifecycle: production
`)
	docs := ParseDocuments(data)
	if len(docs) != 1 || docs[0].Err != nil {
		t.Fatalf("docs = %+v", docs)
	}
	errs := docs[0].Locate(Validate(docs[0].Entity))
	got := map[string]Pos{}
	for _, e := range errs {
		got[e.Field] = Pos{e.Line, e.Column}
	}
	want := map[string]Pos{
		"metadata.name":    {4, 9},
		"metadata.tags[1]": {7, 7},
		"spec.owner":       {9, 3}, // missing: located at its parent, spec
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("positions (-want +got):\n%s", diff)
	}
	if p, ok := docs[0].Position("spec.type"); !ok || p != (Pos{9, 9}) {
		t.Errorf("Position(spec.type) = %v, %v", p, ok)
	}
}

func TestHostileInputNeverPanics(t *testing.T) {
	huge := strings.Repeat("x", 8<<20)
	inputs := []string{
		"kind: Component\nmetadata: {name: " + huge + "}\nspec: {type: " + huge + "}\n",
		"kind: " + huge[:300] + "\nmetadata: {name: a}\n",
		"apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: a, labels: {" + huge[:500] + ": v}}\nspec: {owner: " + huge[:300] + "}\n",
		"\x00\x01\x02",
		"\xef\xbb\xbfkind: Component\nmetadata: {name: bom}\n",
		"kind: Component\nmetadata: {name: a}\nspec: {dependsOn: [':', '/', ':/', 'a:b/c:d/e'], owner: ''}\n",
		"a: *unknown\n",
		"a: &x [*x]\n",
		strings.Repeat("- ", 5000) + "x",
	}
	for i, in := range inputs {
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("input %d panicked: %v", i, r)
				}
			}()
			for _, d := range ParseDocuments([]byte(in)) {
				if d.Entity == nil {
					continue
				}
				Validate(d.Entity)
				Relations(d.Entity)
				if _, err := SearchRows(d.Entity); err != nil {
					t.Logf("input %d: %v", i, err)
				}
				if _, err := json.Marshal(d.Entity); err != nil {
					t.Errorf("input %d: marshal: %v", i, err)
				}
			}
		}()
	}
	// A long name is a clear validation error, not a crash.
	e, err := Parse([]byte("apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata: {name: " + huge + "}\nspec: {}\n"))
	if err != nil {
		t.Fatal(err)
	}
	errs := Validate(e)
	if len(errs) != 1 || errs[0].Field != "metadata.name" || errs[0].Code != CodeFormat {
		t.Fatalf("errors = %.200v", errs)
	}
}

// FuzzParseDocuments checks that no input makes parsing, validation, relations or search
// rows panic. `go test` runs the seeds; `go test -fuzz` explores further.
func FuzzParseDocuments(f *testing.F) {
	for _, seed := range []string{
		component,
		"{\"kind\": \"Component\", \"metadata\": {\"name\": \"a\"}, \"spec\": {\"owner\": \"x\"}}",
		"a: &a [1]\nb: [*a, *a]\n",
		"---\n---\nkind: Group\nmetadata: {name: g}\nspec: {children: [a, 'b:c/d']}\n",
		"kind: Template\napiVersion: scaffolder.backstage.io/v1beta3\nmetadata: {name: t}\nspec: {steps: [{action: x}], parameters: [{}], output: {x: 1}}\n",
		"relations: [{type: a, targetRef: b}]\nstatus: {items: [{type: t, level: info, message: m}]}\nmetadata: {name: a}\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, d := range ParseDocuments(data) {
			if d.Entity == nil {
				continue
			}
			d.Locate(Validate(d.Entity))
			Default().WithStoredFields().Validate(d.Entity)
			Relations(d.Entity)
			_, _ = SearchRows(d.Entity)
			out, err := json.Marshal(d.Entity)
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			var back Entity
			if err := json.Unmarshal(out, &back); err != nil {
				t.Fatalf("unmarshal of our own output: %v\n%s", err, out)
			}
		}
	})
}

func TestApplyDefaultsAndClone(t *testing.T) {
	e := mustParse(t, component)
	e.ApplyDefaults()
	if e.Metadata.Namespace != DefaultNamespace {
		t.Errorf("namespace = %q", e.Metadata.Namespace)
	}
	bad := mustParse(t, strings.Replace(component, "  name: artist-web", "  name: artist-web\n  namespace: 7", 1))
	bad.ApplyDefaults()
	if bad.Metadata.Namespace != "" || len(Validate(bad)) != 1 {
		t.Errorf("a namespace of the wrong type must stay for Validate to report: %+v", bad.Metadata)
	}

	e.Spec["nested"] = map[string]any{"list": []any{"a"}}
	c := e.Clone()
	c.Spec["nested"].(map[string]any)["list"].([]any)[0] = "changed"
	c.Metadata.Name = "other"
	if e.Spec["nested"].(map[string]any)["list"].([]any)[0] != "a" || e.Metadata.Name != "artist-web" {
		t.Error("Clone shares data with the original")
	}
	if diff := cmp.Diff(e.Object(), e.Clone().Object()); diff != "" {
		t.Errorf("a clone should equal its original (-orig +clone):\n%s", diff)
	}
}
