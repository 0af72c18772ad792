package catalog

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/paved-dev/paved/internal/catalog/entity"
)

// stubGitHub stands in for GitHub, which tests cannot reach: three APIs of the corpus
// take their definitions from github.com "blob" pages through $text, which the reader
// fetches from raw.githubusercontent.com.
type stubGitHub struct{ t testing.TB }

func (s stubGitHub) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host != "raw.githubusercontent.com" {
		s.t.Errorf("unexpected request to %s", req.URL)
		return &http.Response{StatusCode: http.StatusBadGateway, Body: io.NopCloser(strings.NewReader("")), Request: req}, nil
	}
	body := "openapi: 3.0.0\ninfo:\n  title: stub of " + req.URL.Path + "\n  version: 1.0.0\npaths: {}\n"
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"text/plain"}},
		Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)), Request: req}, nil
}

// TestIngestCorpusWithGitHubStub registers the Backstage example corpus as two file
// locations (all.yaml and acme/org.yaml) and checks the counts of EXPECTED.md, the
// annotations, and relations in both directions, on SQLite and on PostgreSQL.
func TestIngestCorpusWithGitHubStub(t *testing.T) { forEachBackend(t, testIngestCorpus) }

func testIngestCorpus(t *testing.T, backend string) {
	dir, err := filepath.Abs(corpusDir(t))
	if err != nil {
		t.Fatal(err)
	}
	c := newCatalogOn(t, backend, Options{FileRoots: []string{dir}, HTTPClient: &http.Client{Transport: stubGitHub{t}}})
	runControllers(t, c)
	ctx := context.Background()

	all, ents, exists, err := c.AddLocation(ctx, LocationSpec{Type: "file", Target: filepath.Join(dir, "all.yaml")}, false)
	if err != nil {
		t.Fatal(err)
	}
	if exists || len(ents) != 40 {
		t.Fatalf("AddLocation(all.yaml): exists %v, %d entities; want a new location with 40 (39 and its generated Location)", exists, len(ents))
	}
	org, _, _, err := c.AddLocation(ctx, LocationSpec{Type: "file", Target: filepath.Join(dir, "acme", "org.yaml")}, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{all.ID, org.ID} {
		if st := statusOf(t, c, id); len(st.Errors) > 0 {
			t.Errorf("location %s has errors:%s", id, errorsText(st.Errors))
		}
	}

	got := countByKind(allEntities(t, c))
	want := map[string]int{"API": 10, "AiResource": 2, "Component": 13, "Domain": 3, "Location": 8, "Resource": 1, "System": 3, "Group": 9, "User": 17}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("entities per kind (-want +got):\n%s", diff)
	}
	if n := len(allEntities(t, c)); n != 66+2 {
		t.Errorf("%d entities in the catalog, want 66 plus the 2 generated Locations", n)
	}

	// Annotations as Backstage sets them.
	lookup := mustGet(t, c, "component:default/artist-lookup")
	file := "file:" + filepath.Join(dir, "components", "artist-lookup-component.yaml")
	if got := lookup.Metadata.Annotations[entity.AnnotationManagedByLocation]; got != file {
		t.Errorf("managed-by-location = %q, want %q", got, file)
	}
	if got := lookup.Metadata.Annotations[entity.AnnotationManagedByOriginLocation]; got != "file:"+filepath.Join(dir, "all.yaml") {
		t.Errorf("managed-by-origin-location = %q", got)
	}
	gen := mustGet(t, c, "location:default/"+generatedName(target{Type: "file", Target: filepath.Join(dir, "all.yaml")}))
	if gen.Metadata.Annotations[entity.AnnotationManagedByLocation] != "file:"+filepath.Join(dir, "all.yaml") {
		t.Errorf("generated location annotations: %v", gen.Metadata.Annotations)
	}

	// Placeholders: $text of a local file and of a (stubbed) URL.
	webhook := mustGet(t, c, "api:default/petstore-webhook")
	if !strings.Contains(string(webhook.Spec), "webhooks") || strings.Contains(string(webhook.Spec), "$text") {
		t.Errorf("petstore-webhook definition was not read from petstore-webhook.oas.yaml: %.200s", webhook.Spec)
	}
	spotify := mustGet(t, c, "api:default/spotify")
	if !strings.Contains(string(spotify.Spec), "stub of") {
		t.Errorf("spotify definition: %.200s", spotify.Spec)
	}

	// Relations in both directions, across the two locations.
	for _, rel := range []struct{ from, typ, to string }{
		{"component:default/artist-lookup", "ownedBy", "group:default/team-a"},
		{"group:default/team-a", "ownerOf", "component:default/artist-lookup"},
		{"component:default/artist-lookup", "partOf", "system:default/artist-engagement-portal"},
		{"system:default/artist-engagement-portal", "hasPart", "component:default/artist-lookup"},
		{"component:default/petstore", "providesApi", "api:default/petstore"},
		{"api:default/petstore", "apiProvidedBy", "component:default/petstore"},
		{"component:default/wayback-search", "consumesApi", "api:default/wayback-archive"},
		{"api:default/wayback-archive", "apiConsumedBy", "component:default/wayback-search"},
		{"component:default/wayback-archive-ingestion", "partOf", "component:default/wayback-archive"},
		{"component:default/wayback-archive", "hasPart", "component:default/wayback-archive-ingestion"},
		{"domain:default/artists", "partOf", "domain:default/audio"},
		{"domain:default/audio", "hasPart", "domain:default/artists"},
		{"group:default/team-a", "childOf", "group:default/backstage"},
		{"group:default/backstage", "parentOf", "group:default/team-a"},
		{"user:default/breanna.davison", "memberOf", "group:default/team-a"},
		{"group:default/team-a", "hasMember", "user:default/breanna.davison"},
		{"user:development/guest", "memberOf", "group:default/team-a"},
		{"group:default/team-a", "hasMember", "user:development/guest"},
		{"group:default/acme-corp", "ownerOf", "domain:default/audio"},
		{"user:default/frank.tiernan", "ownerOf", "domain:default/playback"},
		// A reference to an entity that does not exist is kept, as in Backstage.
		{"component:default/playback-order", "ownedBy", "group:default/guest"},
	} {
		waitRelation(t, c, rel.from, rel.typ, rel.to)
	}
	// team-e names boxoffice as its parent but boxoffice does not list it: the relation
	// still appears on both sides.
	waitRelation(t, c, "group:default/boxoffice", "parentOf", "group:default/team-e")

	// The corpus' invalid component, registered on its own, is refused with a message
	// that names the field.
	_, _, _, err = c.AddLocation(ctx, LocationSpec{Type: "file", Target: filepath.Join(dir, "components", "invalid-component.yaml")}, true)
	if err == nil || !strings.Contains(err.Error(), "metadata.name") {
		t.Fatalf("dry run of invalid-component.yaml: err = %v, want one naming metadata.name", err)
	}
	bad, _, _, err := c.AddLocation(ctx, LocationSpec{Type: "file", Target: filepath.Join(dir, "components", "invalid-component.yaml")}, false)
	if err != nil {
		t.Fatal(err)
	}
	st := statusOf(t, c, bad.ID)
	pe := findError(st.Errors, ReasonInvalidEntity)
	if pe == nil || !strings.Contains(pe.Message, "metadata.name") || pe.Entity != "component:default/invalid component" {
		t.Fatalf("invalid component: errors %s", errorsText(st.Errors))
	}
	if get(t, c, "component:default/invalid component") != nil {
		t.Error("the invalid component was stored")
	}
	// The error is also on the location's own Location entity, as Backstage shows it.
	genBad := mustGet(t, c, "location:default/"+generatedName(target{Type: "file", Target: filepath.Join(dir, "components", "invalid-component.yaml")}))
	if items := statusItemsOf(genBad); len(items) != 1 || !strings.Contains(items[0].Message, "metadata.name") {
		t.Errorf("status items of the generated location: %+v", items)
	}
}
