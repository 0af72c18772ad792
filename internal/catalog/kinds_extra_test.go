package catalog

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/paved-dev/paved/api"
	"github.com/paved-dev/paved/internal/catalog/entity"
	"github.com/paved-dev/paved/internal/store"
)

// TestExtraMetadataRoundTrip: metadata fields Backstage allows beyond the known ones go
// into the reserved annotation as sorted JSON, and come back as they were.
func TestExtraMetadataRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name       string
		metadata   string // YAML, indented by two
		annotation string // the stored annotation; "" means none
	}{
		{name: "none", metadata: "  name: plain\n  description: x\n"},
		{name: "scalars and objects",
			metadata:   "  name: rich\n  owner-email: a@example.com\n  x-cost:\n    center: 4711\n    share: 0.25\n    tags: [a, b]\n  <b>&: \"<i>\"\n  generation: 3\n  nothing: null\n  ok: true\n",
			annotation: `{"<b>&":"<i>","generation":3,"nothing":null,"ok":true,"owner-email":"a@example.com","x-cost":{"center":4711,"share":0.25,"tags":["a","b"]}}`},
		{name: "empty description is not extra", metadata: "  name: empty\n  description: \"\"\n  team-chat: \"#billing\"\n",
			annotation: `{"team-chat":"#billing"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := entity.Parse([]byte("apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n" + tc.metadata +
				"spec:\n  type: service\n  lifecycle: production\n  owner: team-a\n"))
			if err != nil {
				t.Fatal(err)
			}
			e.ApplyDefaults()
			if errs := append(Model().Validate(e), checkExtraMetadata(e)...); len(errs) > 0 {
				t.Fatalf("invalid: %v", errs)
			}
			o, err := ToObject(e)
			if err != nil {
				t.Fatal(err)
			}
			got, has := o.Metadata.Annotations[AnnotationExtraMetadata]
			if got != tc.annotation || has != (tc.annotation != "") {
				t.Errorf("annotation %q, want %q", got, tc.annotation)
			}
			if _, ok := e.Metadata.Annotations[AnnotationExtraMetadata]; ok {
				t.Error("ToObject changed the entity's annotations")
			}
			back, err := ToEntity(o)
			if err != nil {
				t.Fatal(err)
			}
			want := e.Object()
			if md := want["metadata"].(map[string]any); md["description"] == "" {
				delete(md, "description") // the same as none
			}
			if diff := cmp.Diff(want, back.Object()); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
			if o2, err := ToObject(back); err != nil || hashObject(o2) != hashObject(o) {
				t.Errorf("a served entity written back differs: %v", err)
			}
		})
	}
}

// TestExtraMetadataThroughAPI ingests an entity with extra metadata fields and reads it
// back through the Backstage API: whole, projected with fields=, and found by a filter.
func TestExtraMetadataThroughAPI(t *testing.T) {
	dir := writeFiles(t, t.TempDir(), map[string]string{"c.yaml": `apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: billing
  owner-email: Billing@Example.com
  x-cost:
    center: 4711
    tags: [finance]
spec:
  type: service
  lifecycle: production
  owner: team-a
`})
	s := newAPIServer(t, apiServerOptions{noCorpus: true, fileRoots: []string{dir}})
	ctx := context.Background()
	if _, _, _, err := s.Cat.AddLocation(ctx, LocationSpec{Type: "file", Target: filepath.Join(dir, "c.yaml")}, false); err != nil {
		t.Fatal(err)
	}
	k, _ := s.Store.Kinds().ByGVK("backstage.io/v1alpha1", "Component")
	stored, err := s.Store.Get(ctx, k, "default", "billing")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := stored.Metadata.Annotations[AnnotationExtraMetadata], `{"owner-email":"Billing@Example.com","x-cost":{"center":4711,"tags":["finance"]}}`; got != want {
		t.Errorf("stored annotation %q, want %q", got, want)
	}

	for _, tc := range []struct {
		name, path string
		check      func(t *testing.T, body []byte)
	}{
		{"whole entity", "/api/catalog/entities/by-name/component/default/billing", func(t *testing.T, body []byte) {
			var e struct {
				Metadata map[string]any `json:"metadata"`
			}
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatal(err)
			}
			if e.Metadata["owner-email"] != "Billing@Example.com" || fmt.Sprint(e.Metadata["x-cost"]) != "map[center:4711 tags:[finance]]" {
				t.Errorf("metadata %v", e.Metadata)
			}
			if ann, _ := e.Metadata["annotations"].(map[string]any); ann[AnnotationExtraMetadata] != nil || len(ann) == 0 {
				t.Errorf("annotations %v: the reserved one is shown, or the others are missing", ann)
			}
		}},
		{"fields", "/api/catalog/entities?filter=kind=component&fields=kind,metadata.owner-email,metadata.x-cost.center", func(t *testing.T, body []byte) {
			if want := `[{"kind":"Component","metadata":{"owner-email":"Billing@Example.com","x-cost":{"center":4711}}}]`; string(body) != want {
				t.Errorf("body %s, want %s", body, want)
			}
		}},
		{"filter", "/api/catalog/entities?filter=" + url.QueryEscape("metadata.owner-email=billing@example.com") + "&fields=metadata.name", func(t *testing.T, body []byte) {
			if want := `[{"metadata":{"name":"billing"}}]`; string(body) != want {
				t.Errorf("body %s, want %s", body, want)
			}
		}},
		{"filter on a nested field", "/api/catalog/entities?filter=" + url.QueryEscape("metadata.x-cost.tags=finance") + "&fields=metadata.name", func(t *testing.T, body []byte) {
			if want := `[{"metadata":{"name":"billing"}}]`; string(body) != want {
				t.Errorf("body %s, want %s", body, want)
			}
		}},
		{"the annotation is not indexed", "/api/catalog/entities?filter=" + url.QueryEscape("metadata.annotations."+AnnotationExtraMetadata) + "&fields=metadata.name", func(t *testing.T, body []byte) {
			if string(body) != `[]` {
				t.Errorf("body %s, want []", body)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.get(t, tc.path)
			if r.Code != http.StatusOK {
				t.Fatalf("%d %s", r.Code, r.Body)
			}
			tc.check(t, r.Body)
		})
	}
}

// TestExtraMetadataHostile: what a catalog file may not do with metadata.
func TestExtraMetadataHostile(t *testing.T) {
	entityWith := func(name, metadata string) string {
		return "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: " + name + "\n" + metadata +
			"spec:\n  type: service\n  lifecycle: production\n  owner: team-a\n"
	}
	cases := []struct {
		name, metadata string
		want           []string
	}{
		{"huge", "  blob: " + strings.Repeat("x", maxExtraMetadataBytes) + "\n  small: y\n",
			[]string{"metadata.blob:", fmt.Sprintf("over the limit of %d", maxExtraMetadataBytes)}},
		{"collides-with-name", "  Name: other\n", []string{"metadata.Name:", "differs from the metadata field name only in case"}},
		{"collides-with-description", "  DESCRIPTION: shouting\n", []string{"metadata.DESCRIPTION:", "metadata field description"}},
		{"reserved-annotation", "  annotations:\n    paved.dev/extra-metadata: '{\"owner-email\":\"x\"}'\n",
			[]string{`metadata.annotations["paved.dev/extra-metadata"]:`, "is reserved"}},
	}
	var files []string
	for _, tc := range cases {
		files = append(files, entityWith(tc.name, tc.metadata))
	}
	files = append(files, entityWith("fine", "  owner-email: a@example.com\n"))
	dir := writeFiles(t, t.TempDir(), map[string]string{"c.yaml": docs(files...)})
	c := newCatalog(t, Options{FileRoots: []string{dir}})
	loc := register(t, c, filepath.Join(dir, "c.yaml"))
	st := statusOf(t, c, loc.ID)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ref := "component:default/" + tc.name
			var pe *ProcessingError
			for i := range st.Errors {
				if st.Errors[i].Entity == ref {
					pe = &st.Errors[i]
				}
			}
			if pe == nil || pe.Reason != ReasonInvalidEntity || !containsAll(pe.Message, tc.want...) {
				t.Fatalf("no InvalidEntity error with %q for %s; errors:%s", tc.want, ref, errorsText(st.Errors))
			}
			if len(pe.Message) > 2000 {
				t.Errorf("the message repeats the huge value (%d bytes)", len(pe.Message))
			}
			if get(t, c, ref) != nil {
				t.Errorf("%s was stored", ref)
			}
		})
	}
	if len(st.Errors) != len(cases) {
		t.Errorf("%d errors, want %d:%s", len(st.Errors), len(cases), errorsText(st.Errors))
	}
	mustGet(t, c, "component:default/fine")
}

// TestExtraMetadataStoreValidation: an object written to the store directly (paved
// apply) with the annotation is checked as ingestion checks it.
func TestExtraMetadataStoreValidation(t *testing.T) {
	s, ks := newStore(t)
	ctx := context.Background()
	k, _ := s.Kinds().ByGVK("backstage.io/v1alpha1", "Component")
	obj := func(name, extra string) *api.Object {
		return &api.Object{APIVersion: "backstage.io/v1alpha1", Kind: "Component",
			Metadata: api.ObjectMeta{Name: name, Namespace: "default", Annotations: map[string]string{AnnotationExtraMetadata: extra}},
			Spec:     json.RawMessage(`{"type":"service","lifecycle":"production","owner":"team-a"}`)}
	}
	for _, tc := range []struct {
		name, extra, want string // want "" means valid
	}{
		{"valid", `{"owner-email":"a@example.com"}`, ""},
		{"not json", `{"owner-email":`, "is not valid JSON"},
		{"not an object", `["a"]`, "must be a JSON object"},
		{"trailing data", `{"a":1} {"b":2}`, "has data after its JSON object"},
		{"known key", `{"name":"other"}`, "is the known metadata field name"},
		{"known key in another case", `{"Labels":{}}`, "is the known metadata field labels"},
		{"too large", `{"a":"` + strings.Repeat("x", maxExtraMetadataBytes) + `"}`, "over the limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Create(ctx, obj(strings.ReplaceAll(tc.name, " ", "-"), tc.extra))
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !api.IsInvalid(err) || !containsAll(err.Error(), `paved.dev/extra-metadata`, tc.want) {
				t.Errorf("Create = %v, want Invalid naming the annotation and %q", err, tc.want)
			}
		})
	}
	n, err := s.QueryCount(ctx, store.Selector{Kinds: ks, Filter: [][]store.FieldRequirement{{{Key: "metadata.owner-email", Values: []string{"a@example.com"}}}}})
	if err != nil || n != 1 {
		t.Errorf("entities with metadata.owner-email: %d, %v; want 1", n, err)
	}
	got, err := s.Get(ctx, k, "default", "valid")
	if err != nil {
		t.Fatal(err)
	}
	if e, err := ToEntity(got); err != nil || e.Metadata.Extra["owner-email"] != "a@example.com" {
		t.Errorf("ToEntity: %v, %v", e, err)
	}
}
