package catalog

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestPlaceholdersEverywhere reads testdata/placeholders/catalog.yaml: $text, $json and
// $yaml in metadata (a description, an annotation, a link's title, an extra field) as well
// as in spec, and the errors that name the field.
func TestPlaceholdersEverywhere(t *testing.T) {
	dir, err := filepath.Abs(filepath.Join("testdata", "placeholders"))
	if err != nil {
		t.Fatal(err)
	}
	c := newCatalog(t, Options{FileRoots: []string{dir}})
	loc := register(t, c, filepath.Join(dir, "catalog.yaml"))

	o := mustGet(t, c, "component:default/billing")
	e, err := ToEntity(o)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.Metadata.Description; got != "Takes the money." {
		t.Errorf("description %q", got)
	}
	if got := e.Metadata.Annotations["example.com/runbook"]; got != "https://runbooks.example.com/billing" {
		t.Errorf("annotation example.com/runbook %q", got)
	}
	if len(e.Metadata.Links) != 1 || e.Metadata.Links[0].Title != "Billing dashboard" {
		t.Errorf("links %+v", e.Metadata.Links)
	}
	cost, _ := json.Marshal(e.Metadata.Extra["x-cost-center"])
	if string(cost) != `{"id":4711,"name":"payments","shares":[0.25,0.75]}` {
		t.Errorf("metadata.x-cost-center = %s", cost)
	}
	var spec map[string]any
	if err := json.Unmarshal(o.Spec, &spec); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"type": "service", "lifecycle": "production", "owner": "team-a",
		"settings": map[string]any{"retries": 3.0, "regions": []any{"westeurope", "northeurope"}},
		"schema":   map[string]any{"$ref": "#/definitions/x"}}
	if diff := cmp.Diff(want, spec); diff != "" {
		t.Errorf("spec (-want +got):\n%s", diff)
	}

	st := statusOf(t, c, loc.ID)
	wantErrs := map[string][]string{
		"component:default/not-a-string":        {"spec.settings: placeholder $json expects a string", "got a number"},
		"component:default/missing-description": {"metadata.description: placeholder $text", "does not exist"},
		"component:default/escaping-annotation": {`metadata.annotations["example.com/secret"]: placeholder $text`, "outside the directories the catalog may read"},
	}
	for _, pe := range st.Errors {
		subs, ok := wantErrs[pe.Entity]
		if !ok || pe.Reason != ReasonPlaceholder || !containsAll(pe.Message, subs...) {
			t.Errorf("unexpected error %s: %s", pe.Reason, pe.String())
			continue
		}
		if strings.Contains(pe.Message, "glob-catalog") {
			t.Errorf("an error leaks the content of a file outside the roots: %s", pe.Message)
		}
		delete(wantErrs, pe.Entity)
		if get(t, c, pe.Entity) != nil {
			t.Errorf("%s was stored although a placeholder failed", pe.Entity)
		}
	}
	if len(wantErrs) > 0 {
		t.Errorf("no error for %v; errors:%s", wantErrs, errorsText(st.Errors))
	}
}

// TestPlaceholdersOverHTTP: in a file read over url, placeholders are URLs resolved
// against the file's URL: "./x" and "../x" against its directory, "/x" against the host.
func TestPlaceholdersOverHTTP(t *testing.T) {
	srv, _ := catalogServer(t, map[string]string{
		"/repo/svc/catalog-info.yaml": `apiVersion: backstage.io/v1alpha1
kind: API
metadata:
  name: svc-api
  title: {$text: /title.txt}
  description: {$text: ./README.md}
spec:
  type: openapi
  lifecycle: production
  owner: team-a
  definition: {$text: ../shared/openapi.yaml}
`,
		"/repo/svc/README.md":       "The service's API.",
		"/repo/shared/openapi.yaml": "openapi: 3.0.0\n",
		"/title.txt":                "Service API",
	})
	c := newCatalog(t, Options{})
	loc, _, _, err := c.AddLocation(context.Background(), LocationSpec{Type: "url", Target: srv.URL + "/repo/svc/catalog-info.yaml"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if st := statusOf(t, c, loc.ID); len(st.Errors) > 0 {
		t.Fatalf("errors:%s", errorsText(st.Errors))
	}
	o := mustGet(t, c, "api:default/svc-api")
	if o.Metadata.Title != "Service API" || o.Metadata.Description != "The service's API." || !strings.Contains(string(o.Spec), `"definition":"openapi: 3.0.0\n"`) {
		t.Errorf("title %q, description %q, spec %s", o.Metadata.Title, o.Metadata.Description, o.Spec)
	}
}
