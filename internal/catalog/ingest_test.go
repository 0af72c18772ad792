package catalog

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paved-dev/paved/api"
	"github.com/paved-dev/paved/internal/catalog/entity"
)

const group = `apiVersion: backstage.io/v1alpha1
kind: Group
metadata:
  name: %s
spec:
  type: team
  children: []
`

const component = `apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: %s
  description: %s
spec:
  type: service
  lifecycle: production
  owner: %s
`

func doc(format string, args ...any) string { return fmt.Sprintf(format, args...) }

func docs(ds ...string) string { return strings.Join(ds, "---\n") }

func register(t testing.TB, c *Catalog, path string) Location {
	t.Helper()
	loc, _, _, err := c.AddLocation(context.Background(), LocationSpec{Type: "file", Target: path}, false)
	if err != nil {
		t.Fatalf("register %s: %v", path, err)
	}
	return loc
}

func refresh(t testing.TB, c *Catalog, ref string) {
	t.Helper()
	if err := c.Refresh(context.Background(), ref); err != nil {
		t.Fatalf("refresh %s: %v", ref, err)
	}
}

func TestNestedLocations(t *testing.T) {
	dir := writeFiles(t, t.TempDir(), map[string]string{
		"root.yaml": `apiVersion: backstage.io/v1alpha1
kind: Location
metadata:
  name: root
spec:
  targets: [./teams/teams.yaml]
`,
		"teams/teams.yaml": docs(doc(group, "team-a"), `apiVersion: backstage.io/v1alpha1
kind: Location
metadata:
  name: services
spec:
  target: ../services/all.yaml
`),
		"services/all.yaml": `apiVersion: backstage.io/v1alpha1
kind: Location
metadata:
  name: all-services
spec:
  type: file
  targets:
    - ./a.yaml
    - b.yaml
`,
		"services/a.yaml": doc(component, "a", "service a", "team-a"),
		"services/b.yaml": docs(doc(component, "b", "service b", "group:team-a"), `apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: c
spec:
  type: library
  lifecycle: experimental
  owner: team-a
  dependsOn: [component:a]
`),
	})
	c := newCatalog(t, Options{FileRoots: []string{dir}})
	runControllers(t, c)
	loc := register(t, c, filepath.Join(dir, "root.yaml"))
	if st := statusOf(t, c, loc.ID); len(st.Errors) > 0 || st.Entities != 8 {
		t.Fatalf("status: %d entities, errors:%s", st.Entities, errorsText(st.Errors))
	}
	a := mustGet(t, c, "component:default/a")
	if got, want := a.Metadata.Annotations[entity.AnnotationManagedByLocation], "file:"+filepath.Join(dir, "services", "a.yaml"); got != want {
		t.Errorf("managed-by-location = %q, want %q", got, want)
	}
	if got, want := a.Metadata.Annotations[entity.AnnotationManagedByOriginLocation], "file:"+filepath.Join(dir, "root.yaml"); got != want {
		t.Errorf("managed-by-origin-location = %q, want %q", got, want)
	}
	if _, ok := a.Metadata.Annotations[entity.AnnotationSourceLocation]; ok {
		t.Errorf("a file location has no source-location in Backstage: %v", a.Metadata.Annotations)
	}
	waitRelation(t, c, "group:default/team-a", "ownerOf", "component:default/a")
	waitRelation(t, c, "group:default/team-a", "ownerOf", "component:default/c")
	waitRelation(t, c, "component:default/a", "dependencyOf", "component:default/c")
	waitRelation(t, c, "component:default/c", "dependsOn", "component:default/a")
	got, err := c.LocationByEntity(context.Background(), entity.CompoundRef{Kind: "Component", Namespace: "default", Name: "C"})
	if err != nil || got != loc {
		t.Errorf("LocationByEntity = %+v, %v; want %+v", got, err, loc)
	}
}

func TestPlaceholders(t *testing.T) {
	root := t.TempDir()
	outside := writeFiles(t, filepath.Join(root, "outside"), map[string]string{"secret.txt": "top secret"})
	dir := writeFiles(t, filepath.Join(root, "catalog"), map[string]string{
		"defs/openapi.yaml": "openapi: 3.0.0\ninfo:\n  title: a\n",
		"defs/data.json":    `{"n": 1.50, "list": [1, "two", null]}`,
		"defs/data.yaml":    "a: 1\nb: [x, y]\nwhen: 2024-01-01\n",
		"defs/two.yaml":     "a: 1\n---\nb: 2\n",
		"apis.yaml": docs(`apiVersion: backstage.io/v1alpha1
kind: API
metadata:
  name: good
spec:
  type: openapi
  lifecycle: production
  owner: team-a
  definition:
    $text: ./defs/openapi.yaml
  extra:
    json: {$json: defs/data.json}
    yaml: {$yaml: ./defs/data.yaml}
    schema: {$ref: "#/definitions/x"}
    both: {$text: ./defs/openapi.yaml, other: 1}
`, `apiVersion: backstage.io/v1alpha1
kind: API
metadata:
  name: escapes
spec:
  type: openapi
  lifecycle: production
  owner: team-a
  definition:
    $text: ../outside/secret.txt
`, `apiVersion: backstage.io/v1alpha1
kind: API
metadata:
  name: absolute
spec:
  type: openapi
  lifecycle: production
  owner: team-a
  definition:
    $text: `+filepath.Join(outside, "secret.txt")+`
`, `apiVersion: backstage.io/v1alpha1
kind: API
metadata:
  name: two-docs
spec:
  type: openapi
  lifecycle: production
  owner: team-a
  definition: {$yaml: ./defs/two.yaml}
`, `apiVersion: backstage.io/v1alpha1
kind: API
metadata:
  name: missing
spec:
  type: openapi
  lifecycle: production
  owner: team-a
  definition: {$text: ./defs/nope.yaml}
`),
	})
	c := newCatalog(t, Options{FileRoots: []string{dir}})
	loc := register(t, c, filepath.Join(dir, "apis.yaml"))
	good := mustGet(t, c, "api:default/good")
	for _, want := range []string{`"definition":"openapi: 3.0.0\ninfo:\n  title: a\n"`, `"json":{"list":[1,"two",null],"n":1.50}`,
		`"yaml":{"a":1,"b":["x","y"],"when":"2024-01-01"}`, `"schema":{"$ref":"#/definitions/x"}`, `"both":{"$text":"./defs/openapi.yaml","other":1}`} {
		if !strings.Contains(string(good.Spec), want) {
			t.Errorf("spec of good lacks %s:\n%s", want, good.Spec)
		}
	}
	st := statusOf(t, c, loc.ID)
	want := map[string]string{
		"api:default/escapes":  "outside the directories the catalog may read",
		"api:default/absolute": "outside the directories the catalog may read",
		"api:default/two-docs": "expected exactly one YAML document, found 2",
		"api:default/missing":  "does not exist",
	}
	for _, pe := range st.Errors {
		if pe.Reason != ReasonPlaceholder {
			t.Errorf("unexpected error %s", pe.String())
			continue
		}
		if w, ok := want[pe.Entity]; !ok || !strings.Contains(pe.Message, w) || !strings.Contains(pe.Message, "spec.definition") {
			t.Errorf("error for %s: %s; want one naming spec.definition and %q", pe.Entity, pe.Message, w)
		}
		if strings.Contains(pe.Message, "top secret") {
			t.Errorf("an error leaks the content of a file outside the roots: %s", pe.Message)
		}
		delete(want, pe.Entity)
	}
	if len(want) > 0 {
		t.Errorf("no error for %v; errors:%s", want, errorsText(st.Errors))
	}
	for _, ref := range []string{"api:default/escapes", "api:default/absolute", "api:default/two-docs", "api:default/missing"} {
		if get(t, c, ref) != nil {
			t.Errorf("%s was stored although its placeholder failed", ref)
		}
	}
}

// catalogServer serves files over HTTP, counting requests per path.
func catalogServer(t *testing.T, files map[string]string) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		switch body, ok := files[r.URL.Path]; {
		case r.URL.Path == "/broken.yaml":
			http.Error(w, "boom", http.StatusInternalServerError)
		case ok:
			_, _ = w.Write([]byte(body))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func TestURLLocations(t *testing.T) {
	files := map[string]string{
		"/catalog/all.yaml": `apiVersion: backstage.io/v1alpha1
kind: Location
metadata:
  name: all
spec:
  targets: [./svc.yaml, /broken.yaml, ./missing.yaml]
---
apiVersion: backstage.io/v1alpha1
kind: Location
metadata:
  name: sneaky
spec:
  type: file
  target: /etc/passwd
`,
		"/catalog/svc.yaml": docs(doc(group, "team-a"), `apiVersion: backstage.io/v1alpha1
kind: API
metadata:
  name: svc-api
spec:
  type: openapi
  lifecycle: production
  owner: team-a
  definition:
    $text: ./defs/svc.yaml
`, `apiVersion: backstage.io/v1alpha1
kind: API
metadata:
  name: sneaky-api
spec:
  type: openapi
  lifecycle: production
  owner: team-a
  definition:
    $text: file:///etc/passwd
`),
		"/catalog/defs/svc.yaml": "openapi: 3.0.0\n",
	}
	srv, _ := catalogServer(t, files)
	c := newCatalog(t, Options{})
	runControllers(t, c)
	ctx := context.Background()
	target := srv.URL + "/catalog/all.yaml"
	loc, ents, _, err := c.AddLocation(ctx, LocationSpec{Type: "url", Target: target}, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 5 {
		t.Errorf("AddLocation returned %d entities, want 5 (generated, all, sneaky, team-a, svc-api)", len(ents))
	}
	svc := mustGet(t, c, "api:default/svc-api")
	ann := svc.Metadata.Annotations
	if ann[entity.AnnotationManagedByLocation] != "url:"+srv.URL+"/catalog/svc.yaml" ||
		ann[entity.AnnotationManagedByOriginLocation] != "url:"+target ||
		ann[entity.AnnotationViewURL] != srv.URL+"/catalog/svc.yaml" ||
		ann[entity.AnnotationSourceLocation] != "url:"+srv.URL+"/catalog/" {
		t.Errorf("annotations: %v", ann)
	}
	if !strings.Contains(string(svc.Spec), `"definition":"openapi: 3.0.0\n"`) {
		t.Errorf("definition not read over HTTP: %s", svc.Spec)
	}
	st := statusOf(t, c, loc.ID)
	for _, want := range []struct{ reason, text string }{
		{ReasonReadFailed, "/broken.yaml: 500"},
		{ReasonReadFailed, "missing.yaml: 404"},
		{ReasonInvalidTarget, "may not point at a local file"},
		{ReasonPlaceholder, `$text "file:///etc/passwd": URL "file:///etc/passwd" must use http or https`},
	} {
		found := false
		for _, pe := range st.Errors {
			found = found || pe.Reason == want.reason && strings.Contains(pe.String(), want.text)
		}
		if !found {
			t.Errorf("no %s error with %q; errors:%s", want.reason, want.text, errorsText(st.Errors))
		}
	}
	waitRelation(t, c, "group:default/team-a", "ownerOf", "api:default/svc-api")

	// Refused outright: not http(s), no host.
	for _, bad := range []string{"ftp://example.com/x.yaml", "http:///x.yaml", "file:///etc/passwd"} {
		if _, _, _, err := c.AddLocation(ctx, LocationSpec{Type: "url", Target: bad}, false); !isBadRequest(err) {
			t.Errorf("AddLocation(url %s) = %v, want a bad request", bad, err)
		}
	}
	// A URL that answers 404 is not registered.
	if _, _, _, err := c.AddLocation(ctx, LocationSpec{Type: "url", Target: srv.URL + "/nope.yaml"}, false); !api.IsNotFound(err) {
		t.Errorf("AddLocation(404) = %v, want not found", err)
	}
}

func TestRefreshAfterFileChange(t *testing.T) { forEachBackend(t, testRefreshAfterFileChange) }

func testRefreshAfterFileChange(t *testing.T, backend string) {
	dir := writeFiles(t, t.TempDir(), map[string]string{
		"all.yaml": `apiVersion: backstage.io/v1alpha1
kind: Location
metadata:
  name: all
spec:
  targets: [./groups.yaml, ./services.yaml]
`,
		"groups.yaml":   docs(doc(group, "team-a"), doc(group, "team-b")),
		"services.yaml": docs(doc(component, "a", "first", "team-a"), doc(component, "b", "first", "team-a")),
	})
	c := newCatalogOn(t, backend, Options{FileRoots: []string{dir}})
	runControllers(t, c)
	loc := register(t, c, filepath.Join(dir, "all.yaml"))
	waitRelation(t, c, "group:default/team-a", "ownerOf", "component:default/a")
	uid := mustGet(t, c, "component:default/a").Metadata.UID

	// a changes owner and description, b goes, d comes.
	writeFiles(t, dir, map[string]string{"services.yaml": docs(doc(component, "a", "second", "team-b"), doc(component, "d", "new", "team-b"))})
	start := time.Now()
	refresh(t, c, "component:default/a")
	t.Logf("refresh of one file took %v", time.Since(start))
	a := mustGet(t, c, "component:default/a")
	if a.Metadata.Description != "second" || a.Metadata.UID != uid || !hasRelation(a, "ownedBy", "group:default/team-b") || hasRelation(a, "ownedBy", "group:default/team-a") {
		t.Errorf("after refresh: %+v %v", a.Metadata, a.Relations)
	}
	if get(t, c, "component:default/b") != nil {
		t.Error("b is still there after it was removed from its file")
	}
	mustGet(t, c, "component:default/d")
	waitRelation(t, c, "group:default/team-b", "ownerOf", "component:default/a")
	eventually(t, "team-a no longer owns a", func() (bool, string) {
		g := mustGet(t, c, "group:default/team-a")
		return !hasRelation(g, "ownerOf", "component:default/a") && !hasRelation(g, "ownerOf", "component:default/b"), fmt.Sprint(g.Relations)
	})
	// The location's entity count follows.
	if st := statusOf(t, c, loc.ID); st.Entities != 6 {
		t.Errorf("status.entities = %d, want 6", st.Entities)
	}
	// Refreshing an unchanged file writes nothing.
	rv := mustGet(t, c, "component:default/a").Metadata.ResourceVersion
	refresh(t, c, "component:default/a")
	refresh(t, c, "location:default/all")
	if got := mustGet(t, c, "component:default/a").Metadata.ResourceVersion; got != rv {
		t.Errorf("an unchanged entity was written again (resourceVersion %s -> %s)", rv, got)
	}
	if err := c.Refresh(context.Background(), "component:default/nope"); !api.IsNotFound(err) {
		t.Errorf("Refresh of a missing entity = %v, want not found", err)
	}
	if err := c.Refresh(context.Background(), "not a ref:"); !isBadRequest(err) {
		t.Errorf("Refresh of a bad ref = %v, want bad request", err)
	}
}

func TestPeriodicRefresh(t *testing.T) {
	dir := writeFiles(t, t.TempDir(), map[string]string{"c.yaml": doc(component, "a", "first", "team-a")})
	c := newCatalog(t, Options{FileRoots: []string{dir}, RefreshInterval: 300 * time.Millisecond})
	runControllers(t, c)
	register(t, c, filepath.Join(dir, "c.yaml"))
	writeFiles(t, dir, map[string]string{"c.yaml": doc(component, "a", "second", "team-a")})
	eventually(t, "the change is read without a refresh call", func() (bool, string) {
		d := mustGet(t, c, "component:default/a").Metadata.Description
		return d == "second", d
	})
}

func TestOrphans(t *testing.T) { forEachBackend(t, testOrphans) }

func testOrphans(t *testing.T, backend string) {
	for _, mode := range []string{"delete", "keep"} {
		t.Run(mode, func(t *testing.T) {
			dir := writeFiles(t, t.TempDir(), map[string]string{
				"c.yaml": docs(doc(group, "team-a"), doc(component, "a", "x", "team-a"), doc(component, "b", "x", "team-a")),
			})
			c := newCatalogOn(t, backend, Options{FileRoots: []string{dir}, Orphans: mode})
			runControllers(t, c)
			loc := register(t, c, filepath.Join(dir, "c.yaml"))
			waitRelation(t, c, "group:default/team-a", "ownerOf", "component:default/b")
			writeFiles(t, dir, map[string]string{"c.yaml": docs(doc(group, "team-a"), doc(component, "a", "x", "team-a"))})
			refresh(t, c, "component:default/a")
			b := get(t, c, "component:default/b")
			switch mode {
			case "delete":
				if b != nil {
					t.Fatal("b was not deleted")
				}
				eventually(t, "team-a no longer owns b", func() (bool, string) {
					g := mustGet(t, c, "group:default/team-a")
					return !hasRelation(g, "ownerOf", "component:default/b"), fmt.Sprint(g.Relations)
				})
			case "keep":
				if b == nil || b.Metadata.Annotations[entity.AnnotationOrphan] != "true" {
					t.Fatalf("b: %+v", b)
				}
				// It comes back: the mark goes.
				writeFiles(t, dir, map[string]string{"c.yaml": docs(doc(group, "team-a"), doc(component, "a", "x", "team-a"), doc(component, "b", "x", "team-a"))})
				refresh(t, c, "component:default/a")
				if _, marked := mustGet(t, c, "component:default/b").Metadata.Annotations[entity.AnnotationOrphan]; marked {
					t.Error("b is still marked orphan after it came back")
				}
			}
			// Unregistering removes (or releases) what the location yielded.
			if err := c.DeleteLocation(context.Background(), loc.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := c.GetLocation(context.Background(), loc.ID); !api.IsNotFound(err) {
				t.Errorf("GetLocation after delete = %v", err)
			}
			a := get(t, c, "component:default/a")
			switch mode {
			case "delete":
				if a != nil || len(allEntities(t, c)) != 0 {
					t.Errorf("entities left after DeleteLocation: %v", sortedKeys(allEntities(t, c)))
				}
			case "keep":
				if a == nil || a.Metadata.Annotations[entity.AnnotationOrphan] != "true" || len(a.Metadata.OwnerReferences) != 0 {
					t.Errorf("a after DeleteLocation: %+v", a)
				}
			}
		})
	}
}

func TestConflictingLocations(t *testing.T) { forEachBackend(t, testConflictingLocations) }

func testConflictingLocations(t *testing.T, backend string) {
	dir := writeFiles(t, t.TempDir(), map[string]string{
		"first.yaml":  docs(doc(component, "shared", "from first", "team-a"), doc(component, "only-first", "x", "team-a")),
		"second.yaml": docs(doc(component, "shared", "from second", "team-b"), doc(component, "only-second", "x", "team-b")),
	})
	c := newCatalogOn(t, backend, Options{FileRoots: []string{dir}})
	runControllers(t, c)
	first := register(t, c, filepath.Join(dir, "first.yaml"))
	second := register(t, c, filepath.Join(dir, "second.yaml"))
	shared := mustGet(t, c, "component:default/shared")
	if shared.Metadata.Description != "from first" {
		t.Errorf("the second location took the entity: %q", shared.Metadata.Description)
	}
	mustGet(t, c, "component:default/only-second")
	st := statusOf(t, c, second.ID)
	pe := findError(st.Errors, ReasonConflict)
	if pe == nil || pe.Entity != "component:default/shared" || !strings.Contains(pe.Message, first.ID) || !strings.Contains(pe.Message, "first.yaml") {
		t.Fatalf("second location errors:%s", errorsText(st.Errors))
	}
	// Shown on the second location's own Location entity too.
	gen := mustGet(t, c, "location:default/"+generatedName(target{Type: "file", Target: filepath.Join(dir, "second.yaml")}))
	if items := statusItemsOf(gen); len(items) != 1 || items[0].Error["name"] != "ConflictError" {
		t.Errorf("status items of the second location's entity: %+v", items)
	}
	if got, _ := c.LocationByEntity(context.Background(), entity.CompoundRef{Kind: "component", Namespace: "default", Name: "shared"}); got.ID != first.ID {
		t.Errorf("LocationByEntity(shared) = %+v, want the first", got)
	}
	// The first lets it go: the second takes it over.
	writeFiles(t, dir, map[string]string{"first.yaml": doc(component, "only-first", "x", "team-a")})
	refresh(t, c, "component:default/only-first")
	eventually(t, "the second location provides shared", func() (bool, string) {
		o := get(t, c, "component:default/shared")
		if o == nil {
			return false, "absent"
		}
		return o.Metadata.Description == "from second", o.Metadata.Description
	})
	eventually(t, "the conflict is gone from the second location", func() (bool, string) {
		st := statusOf(t, c, second.ID)
		return len(st.Errors) == 0, errorsText(st.Errors)
	})
}

func TestLocationCycle(t *testing.T) {
	dir := writeFiles(t, t.TempDir(), map[string]string{
		"a.yaml": docs(`apiVersion: backstage.io/v1alpha1
kind: Location
metadata:
  name: a
spec:
  targets: [./b.yaml, ./a.yaml]
`, doc(component, "in-a", "x", "team-a")),
		"b.yaml": docs(`apiVersion: backstage.io/v1alpha1
kind: Location
metadata:
  name: b
spec:
  targets: [./a.yaml]
`, doc(component, "in-b", "x", "team-a")),
	})
	c := newCatalog(t, Options{FileRoots: []string{dir}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	loc, _, _, err := c.AddLocation(ctx, LocationSpec{Type: "file", Target: filepath.Join(dir, "a.yaml")}, false)
	if err != nil {
		t.Fatal(err)
	}
	mustGet(t, c, "component:default/in-a")
	mustGet(t, c, "component:default/in-b")
	st := statusOf(t, c, loc.ID)
	var cycles []string
	for _, pe := range st.Errors {
		if pe.Reason != ReasonCycle {
			t.Errorf("unexpected error %s", pe.String())
		}
		cycles = append(cycles, pe.Message)
	}
	a, b := "file:"+filepath.Join(dir, "a.yaml"), "file:"+filepath.Join(dir, "b.yaml")
	want := []string{
		fmt.Sprintf("location cycle: %s -> %s -> %s; %s is not read again", a, b, a, a),
		fmt.Sprintf("location cycle: %s -> %s; %s is not read again", a, a, a),
	}
	if strings.Join(cycles, "\n") != strings.Join(want, "\n") && strings.Join(cycles, "\n") != strings.Join([]string{want[1], want[0]}, "\n") {
		t.Errorf("cycle errors:\n%s\nwant:\n%s", strings.Join(cycles, "\n"), strings.Join(want, "\n"))
	}
}

func TestDryRun(t *testing.T) {
	dir := writeFiles(t, t.TempDir(), map[string]string{
		"ok.yaml":  docs(doc(group, "team-a"), doc(component, "a", "x", "team-a")),
		"bad.yaml": docs(doc(component, "a", "x", "team-a"), "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: b\nspec:\n  type: service\n"),
	})
	c := newCatalog(t, Options{FileRoots: []string{dir}})
	loc, ents, exists, err := c.AddLocation(context.Background(), LocationSpec{Type: "file", Target: filepath.Join(dir, "ok.yaml")}, true)
	if err != nil || exists || loc.ID == "" || len(ents) != 3 {
		t.Fatalf("dry run: %+v, %d entities, %v, %v", loc, len(ents), exists, err)
	}
	var a *entity.Entity
	for _, e := range ents {
		if e.Ref().String() == "component:default/a" {
			a = e
		}
	}
	if a == nil || len(a.Relations) != 1 || a.Relations[0].TargetRef != "group:default/team-a" {
		t.Errorf("dry-run entity a: %+v", a)
	}
	if n := len(allEntities(t, c)); n != 0 {
		t.Errorf("a dry run wrote %d entities", n)
	}
	if l, _ := c.ListLocations(context.Background()); len(l) != 0 {
		t.Errorf("a dry run registered %v", l)
	}
	_, _, _, err = c.AddLocation(context.Background(), LocationSpec{Type: "file", Target: filepath.Join(dir, "bad.yaml")}, true)
	if !isBadRequest(err) || !strings.Contains(err.Error(), "spec.lifecycle") || !strings.Contains(err.Error(), "spec.owner") {
		t.Errorf("dry run of an invalid file: %v", err)
	}
	// Registering twice gives the same location.
	first := register(t, c, filepath.Join(dir, "ok.yaml"))
	again, _, exists, err := c.AddLocation(context.Background(), LocationSpec{Type: "file", Target: filepath.Join(dir, ".", "ok.yaml")}, false)
	if err != nil || !exists || again.ID != first.ID {
		t.Errorf("second registration: %+v exists=%v err=%v; want %+v", again, exists, err, first)
	}
	_, _, exists, err = c.AddLocation(context.Background(), LocationSpec{Type: "file", Target: filepath.Join(dir, "ok.yaml")}, true)
	if err != nil || !exists {
		t.Errorf("dry run of a registered location: exists=%v err=%v", exists, err)
	}
}

func TestInvalidNewVersionKeepsTheOld(t *testing.T) {
	dir := writeFiles(t, t.TempDir(), map[string]string{"c.yaml": docs(doc(component, "a", "good", "team-a"), doc(component, "b", "x", "team-a"))})
	c := newCatalog(t, Options{FileRoots: []string{dir}})
	runControllers(t, c)
	loc := register(t, c, filepath.Join(dir, "c.yaml"))
	writeFiles(t, dir, map[string]string{"c.yaml": docs(
		"apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: a\n  description: broken\nspec:\n  type: service\n  lifecycle: production\n",
		doc(component, "b", "y", "team-a"))})
	refresh(t, c, "component:default/a")
	a := mustGet(t, c, "component:default/a")
	if a.Metadata.Description != "good" {
		t.Errorf("the invalid version replaced the stored one: %q", a.Metadata.Description)
	}
	items := statusItemsOf(a)
	if len(items) != 1 || items[0].Level != "error" || items[0].Type != "backstage.io/catalog-processing" ||
		!strings.Contains(items[0].Message, "spec.owner") || items[0].Error["name"] != "InputError" {
		t.Errorf("status items of a: %+v", items)
	}
	if e, _ := ToEntity(a); e.Status == nil || len(e.Status.Items) != 1 {
		t.Errorf("the Backstage view of a has no status items: %+v", e.Status)
	}
	if mustGet(t, c, "component:default/b").Metadata.Description != "y" {
		t.Error("the valid entity next to it was not updated")
	}
	if st := statusOf(t, c, loc.ID); len(st.Errors) != 1 || st.Errors[0].Line != 1 && st.Errors[0].Line == 0 {
		t.Errorf("location errors:%s", errorsText(st.Errors))
	}
	// Fixed: the items go.
	writeFiles(t, dir, map[string]string{"c.yaml": docs(doc(component, "a", "fixed", "team-a"), doc(component, "b", "y", "team-a"))})
	refresh(t, c, "component:default/a")
	a = mustGet(t, c, "component:default/a")
	if a.Metadata.Description != "fixed" || len(statusItemsOf(a)) != 0 {
		t.Errorf("after the fix: %q, items %+v", a.Metadata.Description, statusItemsOf(a))
	}
	if st := statusOf(t, c, loc.ID); len(st.Errors) != 0 {
		t.Errorf("location errors after the fix:%s", errorsText(st.Errors))
	}
}

func TestStartRegistersConfiguredLocations(t *testing.T) {
	dir := writeFiles(t, t.TempDir(), map[string]string{
		"one.yaml": doc(component, "one", "x", "team-a"),
		"two.yaml": doc(component, "two", "x", "team-a"),
	})
	c := newCatalog(t, Options{Locations: []LocationSpec{{Type: "file", Target: filepath.Join(dir, "one.yaml")}, {Type: "file", Target: filepath.Join(dir, "two.yaml")}}})
	ctx := context.Background()
	for range 2 {
		if err := c.Start(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if l, _ := c.ListLocations(ctx); len(l) != 2 {
		t.Fatalf("locations after two starts: %+v", l)
	}
	runControllers(t, c)
	eventually(t, "the configured locations are read", func() (bool, string) {
		return get(t, c, "component:default/one") != nil && get(t, c, "component:default/two") != nil, ""
	})
	// A file location the configuration names makes its directory readable through the API.
	if _, _, _, err := c.AddLocation(ctx, LocationSpec{Type: "file", Target: filepath.Join(dir, "three.yaml"), Presence: "optional"}, false); err != nil {
		t.Errorf("registering a file beside a configured location: %v", err)
	}

	// The next configuration drops two.yaml: its location and entities go.
	c.opts.Locations = c.opts.Locations[:1]
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if get(t, c, "component:default/two") != nil {
		t.Error("two is still there after its location left the configuration")
	}
	if l, _ := c.ListLocations(ctx); len(l) != 2 {
		t.Errorf("locations: %+v (want one.yaml and three.yaml)", l)
	}
}

func TestFileRoots(t *testing.T) {
	root := t.TempDir()
	outside := writeFiles(t, filepath.Join(root, "outside"), map[string]string{"x.yaml": doc(component, "outside", "x", "team-a"),
		"y.yaml": doc(component, "outside-y", "x", "team-a"), "z.yaml": doc(component, "outside-z", "x", "team-a")})
	dir := writeFiles(t, filepath.Join(root, "catalog"), map[string]string{
		"all.yaml": `apiVersion: backstage.io/v1alpha1
kind: Location
metadata:
  name: all
spec:
  targets: [./ok.yaml, ../outside/x.yaml, ./link.yaml, ` + filepath.Join(outside, "z.yaml") + `]
`,
		"ok.yaml": doc(component, "ok", "x", "team-a"),
	})
	if err := os.Symlink(filepath.Join(outside, "y.yaml"), filepath.Join(dir, "link.yaml")); err != nil {
		t.Fatal(err)
	}
	c := newCatalog(t, Options{FileRoots: []string{dir}})
	loc := register(t, c, filepath.Join(dir, "all.yaml"))
	mustGet(t, c, "component:default/ok")
	for _, ref := range []string{"component:default/outside", "component:default/outside-y", "component:default/outside-z"} {
		if get(t, c, ref) != nil {
			t.Fatalf("%s, from outside the roots, was read", ref)
		}
	}
	st := statusOf(t, c, loc.ID)
	n := 0
	for _, pe := range st.Errors {
		if pe.Reason == ReasonReadFailed && strings.Contains(pe.Message, "outside the directories the catalog may read") {
			n++
		}
	}
	if n != 3 {
		t.Errorf("want 3 errors about files outside the roots (../, a link, an absolute path):%s", errorsText(st.Errors))
	}
	for _, p := range []string{filepath.Join(outside, "x.yaml"), filepath.Join(dir, "link.yaml"), filepath.Join(dir, "..", "outside", "x.yaml"), "/etc/passwd"} {
		if _, _, _, err := c.AddLocation(context.Background(), LocationSpec{Type: "file", Target: p}, false); !isBadRequest(err) {
			t.Errorf("AddLocation(%s) = %v, want a bad request", p, err)
		}
	}
	// No roots at all: no file location can be registered through the API.
	c2 := newCatalog(t, Options{})
	if _, _, _, err := c2.AddLocation(context.Background(), LocationSpec{Type: "file", Target: filepath.Join(dir, "ok.yaml")}, false); !isBadRequest(err) {
		t.Errorf("AddLocation without roots = %v, want a bad request", err)
	}
}
