package catalog

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/paved-dev/paved/api"
	"github.com/paved-dev/paved/internal/catalog/entity"
	"github.com/paved-dev/paved/internal/testsvc"
)

// Replicas: `paved serve` runs as several processes on one PostgreSQL database; every
// one serves the API, only the elected leader runs the controllers. These tests build
// the same thing in one test process: catalogs each on a store of its own over one
// database, the first with the controllers running.

// newReplicas returns n catalogs on one fresh PostgreSQL database, each with its own
// store (its own watch, query index and relation index), as n processes would have. No
// controllers run: start them on the one that leads.
func newReplicas(t *testing.T, n int, opts Options) []*Catalog {
	t.Helper()
	url := testsvc.Postgres(t)
	opts.Replicas = true
	var out []*Catalog
	for range n {
		out = append(out, newCatalogWith(t, newStoreOn(t, openPostgres(t, url)), opts))
	}
	return out
}

// lead runs c's controllers, as the elected leader does, and waits until its stitcher
// has read the store. stop ends them, as a lost lease does.
func lead(t *testing.T, c *Catalog) (stop func()) {
	t.Helper()
	stop = startControllers(t, c)
	eventually(t, "the leader's stitcher has read the store", func() (bool, string) {
		leads := c.leads()
		c.stitch.mu.Lock()
		defer c.stitch.mu.Unlock()
		return leads && c.stitch.progress >= 0, fmt.Sprintf("leads %v, progress %d", leads, c.stitch.progress)
	})
	return stop
}

// indexSize is the number of refs in c's relation index.
func indexSize(c *Catalog) int {
	x := c.stitch.index()
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.ids)
}

// serveAPI serves c's Backstage API (without authentication, the paths without the prefix).
func serveAPI(t *testing.T, c *Catalog) *apiServer {
	t.Helper()
	hs := httptest.NewServer(c.Handler())
	t.Cleanup(hs.Close)
	return &apiServer{URL: hs.URL, Cat: c, Store: c.store}
}

// entityFacts is what a test compares of a stored entity: everything but uids,
// revisions and timestamps.
type entityFacts struct {
	Kind, Description, Spec string
	File, Origin, Orphan    string
	Location                string // the CatalogLocation that owns it
	Relations               []string
	Items                   int // processing errors in status.items
}

// factsOf reads every entity of c's store (of the location with id loc, if not "").
func factsOf(t *testing.T, c *Catalog, loc string) map[string]entityFacts {
	t.Helper()
	out := map[string]entityFacts{}
	for ref, o := range allEntities(t, c) {
		own, _ := locationOwner(o)
		if loc != "" && own.Name != loc {
			continue
		}
		f := entityFacts{Kind: o.Kind, Description: o.Metadata.Description, Spec: string(o.Spec), Location: own.Name,
			File:   o.Metadata.Annotations[entity.AnnotationManagedByLocation],
			Origin: o.Metadata.Annotations[entity.AnnotationManagedByOriginLocation],
			Orphan: o.Metadata.Annotations[entity.AnnotationOrphan], Items: len(statusItemsOf(o))}
		for _, r := range o.Relations {
			f.Relations = append(f.Relations, r.Type+" "+r.TargetRef)
		}
		sort.Strings(f.Relations)
		out[ref] = f
	}
	return out
}

// sameNow checks that c holds what the single-process catalog want holds (for the
// entities of location loc, or all if "").
func sameNow(t *testing.T, what string, want, c *Catalog, loc string) {
	t.Helper()
	if diff := cmp.Diff(factsOf(t, want, loc), factsOf(t, c, loc)); diff != "" {
		t.Fatalf("%s: the replica's entities differ from one process's (-one process +replica):\n%s", what, diff)
	}
}

// sameSettled waits until the stitchers of both have nothing left to do, then checks
// that c holds what want holds.
func sameSettled(t *testing.T, what string, want, leader, c *Catalog) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var diff string
	for ctx.Err() == nil {
		for _, s := range []*Catalog{want, leader} {
			if _, err := s.stitch.waitIdle(ctx, 700*time.Millisecond); err != nil {
				t.Fatal(err)
			}
		}
		if diff = cmp.Diff(factsOf(t, want, ""), factsOf(t, c, "")); diff == "" {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: the replicas' entities differ from one process's (-one process +replica):\n%s", what, diff)
}

// versions returns the resourceVersion of every entity of a location.
func versions(t *testing.T, c *Catalog, loc string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for ref, o := range allEntities(t, c) {
		if own, _ := locationOwner(o); own.Name == loc {
			out[ref] = o.Metadata.ResourceVersion
		}
	}
	return out
}

// sameAnswers checks that two catalog APIs give the same answers to the reads the
// Backstage UI makes (the uids and etags aside).
func sameAnswers(t *testing.T, what string, want, got *apiServer) {
	t.Helper()
	for _, path := range []string{
		"/entities/by-query?filter=kind=component&fields=kind,metadata.name,metadata.description,relations&orderField=metadata.name,asc&limit=100",
		"/entities/by-query?filter=relations.ownedBy=group:default/team-a&fields=metadata.name&orderField=metadata.name,asc",
		"/entities/by-query?fullTextFilterTerm=svc&fields=kind,metadata.name&orderField=metadata.name,asc",
		"/entity-facets?facet=kind&facet=spec.type&facet=relations.ownedBy",
		"/entities/by-name/group/default/team-a",
		"/entities/by-name/group/default/team-b",
		"/entities/by-name/component/default/svc-a",
		"/entities/by-name/api/default/wayback-archive",
		"/locations",
	} {
		w, g := want.get(t, path), got.get(t, path)
		if w.Code != g.Code || normalizeAnswer(w.Body) != normalizeAnswer(g.Body) {
			t.Errorf("%s: GET %s:\none process: %d %s\nreplica:     %d %s", what, path, w.Code, w.Body, g.Code, g.Body)
		}
	}
}

// normalizeAnswer drops what differs between two stores holding the same entities.
func normalizeAnswer(b []byte) string {
	s := string(b)
	for _, key := range []string{`"uid":"`, `"etag":"`} {
		for i := strings.Index(s, key); i >= 0; i = strings.Index(s, key) {
			j := strings.IndexByte(s[i+len(key):], '"')
			s = s[:i] + `"-":"` + s[i+len(key)+j:]
		}
	}
	return s
}

const svcComponent = `apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: %s
  description: %s
spec:
  type: service
  lifecycle: production
  owner: %s
  dependsOn: [%s]
  consumesApis: [api:wayback-archive]
`

const svcAPI = `apiVersion: backstage.io/v1alpha1
kind: API
metadata:
  name: svc-api
spec:
  type: openapi
  lifecycle: production
  owner: team-a
  definition: "openapi: 3.0.0"
`

// TestReplicasWriteThroughFollowers registers, refreshes and removes locations and
// entities through followers (over HTTP and through the Go API), and checks after each
// step that the replicas hold exactly what one process doing the same on SQLite holds:
// right when the call returns for what the call wrote, every relation in both
// directions once the stitchers are done, and the same answers from the API of either
// follower. Nothing a follower's call wrote is corrected afterwards.
func TestReplicasWriteThroughFollowers(t *testing.T) {
	corpus, err := filepath.Abs(corpusDir(t))
	if err != nil {
		t.Fatal(err)
	}
	work := writeFiles(t, t.TempDir(), map[string]string{
		"services.yaml": docs(doc(svcComponent, "svc-a", "first", "team-a", "component:artist-lookup"),
			doc(svcComponent, "svc-b", "first", "team-b", "component:svc-a"), svcAPI),
		"second.yaml": docs(doc(svcComponent, "svc-a", "from second", "team-c", "component:svc-d"),
			doc(svcComponent, "svc-d", "second", "team-c", "component:svc-a")),
	})
	opts := Options{FileRoots: []string{corpus, work}, HTTPClient: &http.Client{Transport: stubGitHub{t}}}
	one := newCatalog(t, opts) // one process, SQLite: what the replicas must match
	runControllers(t, one)
	oneAPI := serveAPI(t, one)
	reps := newReplicas(t, 3, opts)
	leader, f1, f2 := reps[0], reps[1], reps[2]
	lead(t, leader)
	api1, api2 := serveAPI(t, f1), serveAPI(t, f2)
	ctx := context.Background()
	all, org := filepath.Join(corpus, "all.yaml"), filepath.Join(corpus, "acme", "org.yaml")

	// 1. The leader registers all.yaml (its components name groups that do not exist
	// yet); a follower registers acme/org.yaml, the groups, over HTTP. The groups must be
	// written with their ownerOf relations at once, computed on the leader.
	register(t, one, all)
	register(t, leader, all)
	orgLoc, oneEnts, _, err := one.AddLocation(ctx, LocationSpec{Type: "file", Target: org}, false)
	if err != nil {
		t.Fatal(err)
	}
	r := api1.do(t, http.MethodPost, "/locations", map[string]string{"type": "file", "target": org})
	var created struct {
		Location struct{ ID string }
		Entities []json.RawMessage
	}
	r.json(t, &created)
	if r.Code != http.StatusCreated || created.Location.ID != orgLoc.ID || len(created.Entities) == 0 {
		t.Fatalf("POST /locations on a follower: %d %s", r.Code, r.Body)
	}
	// The same entities as one process answers, each rendered the same (the order aside).
	want, got := map[string]string{}, map[string]string{}
	for _, e := range oneEnts {
		b, err := marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		want[e.Ref().String()] = string(b)
	}
	for i, b := range created.Entities {
		var e testEntity
		if err := json.Unmarshal(b, &e); err != nil {
			t.Fatal(err)
		}
		got[e.ref()] = string(b)
		if i == 0 && e.Kind != "Location" {
			t.Errorf("the first entity of the answer is not the location's own Location: %s", b)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("POST /locations on a follower answered other entities than one process (-one process +follower):\n%s", diff)
	}
	sameNow(t, "registering org.yaml through a follower", one, f2, orgLoc.ID)
	waitRelation(t, f2, "group:default/team-a", "ownerOf", "component:default/artist-lookup")
	written := versions(t, f2, orgLoc.ID)
	sameSettled(t, "registering org.yaml through a follower", one, leader, f2)
	if got := versions(t, f1, orgLoc.ID); !maps.Equal(written, got) {
		t.Errorf("entities a follower's registration wrote were written again afterwards:\n%s", cmp.Diff(written, got))
	}
	sameAnswers(t, "after registering org.yaml", oneAPI, api2)

	// 2. A follower registers a location through the Go API; its entities point at
	// entities of the other two locations.
	svcLoc := register(t, one, filepath.Join(work, "services.yaml"))
	if got := register(t, f1, filepath.Join(work, "services.yaml")); got.ID != svcLoc.ID {
		t.Fatalf("AddLocation on a follower: %+v, want id %s", got, svcLoc.ID)
	}
	sameNow(t, "registering services.yaml through a follower", one, leader, svcLoc.ID)
	sameSettled(t, "registering services.yaml through a follower", one, leader, f1)

	// 3. A file changes: svc-a changes owner, svc-b goes, svc-c comes. A refresh through
	// the other follower's API shows it, right away, on every replica.
	writeFiles(t, work, map[string]string{"services.yaml": docs(
		doc(svcComponent, "svc-a", "second", "team-b", "component:artist-lookup"),
		doc(svcComponent, "svc-c", "new", "team-b", "component:svc-a"), svcAPI)})
	refresh(t, one, "component:default/svc-a")
	if r := api2.do(t, http.MethodPost, "/refresh", map[string]string{"entityRef": "component:default/svc-a"}); r.Code != http.StatusOK {
		t.Fatalf("POST /refresh on a follower: %d %s", r.Code, r.Body)
	}
	for _, c := range reps {
		if get(t, c, "component:default/svc-b") != nil {
			t.Fatal("svc-b is still there after the refresh returned")
		}
		if d := mustGet(t, c, "component:default/svc-a").Metadata.Description; d != "second" {
			t.Fatalf("svc-a's description is %q after the refresh returned", d)
		}
	}
	sameNow(t, "refreshing services.yaml through a follower", one, f1, svcLoc.ID)
	sameSettled(t, "refreshing services.yaml through a follower", one, leader, f2)
	sameAnswers(t, "after the refresh", oneAPI, api1)

	// 4. A second location yields svc-a too: a conflict; the first keeps it.
	secLoc := register(t, one, filepath.Join(work, "second.yaml"))
	r = api2.do(t, http.MethodPost, "/locations", map[string]string{"type": "file", "target": filepath.Join(work, "second.yaml")})
	if r.Code != http.StatusCreated {
		t.Fatalf("POST /locations on a follower: %d %s", r.Code, r.Body)
	}
	if st := statusOf(t, f1, secLoc.ID); findError(st.Errors, ReasonConflict) == nil || st.Entities != statusOf(t, one, secLoc.ID).Entities {
		t.Errorf("second location's status on the replicas: %+v", st)
	}
	sameSettled(t, "a conflicting location through a follower", one, leader, f1)

	// 5. The first lets svc-a go (a refresh through a follower): the second takes it.
	writeFiles(t, work, map[string]string{"services.yaml": docs(
		doc(svcComponent, "svc-c", "new", "team-b", "component:svc-a"), svcAPI)})
	refresh(t, one, "component:default/svc-c")
	refresh(t, f2, "component:default/svc-c")
	for _, c := range []*Catalog{one, f1} {
		eventually(t, "the second location takes svc-a over", func() (bool, string) {
			o := get(t, c, "component:default/svc-a")
			return o != nil && o.Metadata.Description == "from second", fmt.Sprint(o)
		})
	}
	sameSettled(t, "a location letting an entity go", one, leader, f2)

	// 6. DELETE by-uid through a follower.
	for _, s := range []*apiServer{oneAPI, api1} {
		uid := mustGet(t, s.Cat, "component:default/svc-d").Metadata.UID
		if r := s.do(t, http.MethodDelete, "/entities/by-uid/"+uid, nil); r.Code != http.StatusNoContent {
			t.Fatalf("DELETE by-uid: %d %s", r.Code, r.Body)
		}
		if r := s.get(t, "/entities/by-uid/"+uid); r.Code != http.StatusNotFound {
			t.Fatalf("by-uid right after the delete: %d", r.Code)
		}
	}
	if get(t, f2, "component:default/svc-d") != nil {
		t.Fatal("the other follower still reads svc-d")
	}
	sameSettled(t, "deleting an entity through a follower", one, leader, f2)
	sameAnswers(t, "after deleting an entity", oneAPI, api2)

	// 7. Unregistering through a follower.
	for _, s := range []*apiServer{oneAPI, api2} {
		if r := s.do(t, http.MethodDelete, "/locations/"+secLoc.ID, nil); r.Code != http.StatusNoContent {
			t.Fatalf("DELETE /locations: %d %s", r.Code, r.Body)
		}
	}
	sameSettled(t, "unregistering a location through a follower", one, leader, f1)
	sameAnswers(t, "at the end", oneAPI, api1)
	sameAnswers(t, "at the end", oneAPI, serveAPI(t, leader))
	if n := len(factsOf(t, f1, "")); n < 60 {
		t.Errorf("only %d entities at the end", n)
	}
	// Every run happened on the leader: the followers' relation indexes were never used.
	for _, c := range []*Catalog{f1, f2} {
		if n := indexSize(c); n != 0 {
			t.Errorf("a follower's relation index holds %d refs", n)
		}
	}
}

// TestReplicasRegisterConfiguredLocationsOnce starts three replicas at once with the
// same configured location: one CatalogLocation results, read once, by the leader.
func TestReplicasRegisterConfiguredLocationsOnce(t *testing.T) {
	dir := writeFiles(t, t.TempDir(), map[string]string{"c.yaml": docs(doc(group, "team-a"), doc(component, "a", "x", "team-a"))})
	reps := newReplicas(t, 3, Options{Locations: []LocationSpec{{Type: "file", Target: filepath.Join(dir, "c.yaml")}}})
	errs := make(chan error, len(reps))
	for _, c := range reps {
		go func() { errs <- c.Start(context.Background()) }()
	}
	for range reps {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	locs, err := reps[2].ListLocations(context.Background())
	if err != nil || len(locs) != 1 {
		t.Fatalf("%d locations (%v), want 1: %+v", len(locs), err, locs)
	}
	lead(t, reps[1])
	waitRelation(t, reps[0], "group:default/team-a", "ownerOf", "component:default/a")
	eventually(t, "the location's status shows its run", func() (bool, string) {
		st := statusOf(t, reps[2], locs[0].ID)
		return st.Entities == 3 && len(st.Errors) == 0, fmt.Sprintf("%+v", st)
	})
}

// TestReplicasHandOffWaitsForALeader: a follower's registration waits while no replica
// leads, and completes once one does; when another replica takes over, runs go there.
func TestReplicasHandOffWaitsForALeader(t *testing.T) {
	dir := writeFiles(t, t.TempDir(), map[string]string{"c.yaml": docs(doc(group, "team-a"), doc(component, "a", "x", "team-a"))})
	reps := newReplicas(t, 2, Options{FileRoots: []string{dir}})
	type result struct {
		ents []*entity.Entity
		err  error
	}
	done := make(chan result, 1)
	go func() {
		_, ents, _, err := reps[1].AddLocation(context.Background(), LocationSpec{Type: "file", Target: filepath.Join(dir, "c.yaml")}, false)
		done <- result{ents, err}
	}()
	select {
	case r := <-done:
		t.Fatalf("AddLocation returned with no leader: %v", r.err)
	case <-time.After(300 * time.Millisecond):
	}
	stop := lead(t, reps[0])
	select {
	case r := <-done:
		if r.err != nil || len(r.ents) != 3 {
			t.Fatalf("AddLocation: %d entities, %v", len(r.ents), r.err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("AddLocation did not return once a replica led")
	}
	a := mustGet(t, reps[1], "component:default/a")
	if !hasRelation(a, "ownedBy", "group:default/team-a") {
		t.Errorf("relations of a: %v", a.Relations)
	}
	waitRelation(t, reps[1], "group:default/team-a", "ownerOf", "component:default/a")
	// A refresh of an entity no location manages, and of a missing one, as on the leader.
	if err := reps[1].Refresh(context.Background(), "component:default/nope"); !api.IsNotFound(err) {
		t.Errorf("Refresh of a missing entity on a follower = %v", err)
	}

	// The leader goes; the other replica takes over. The old one drops its relation
	// index and hands its runs to the new one.
	stop()
	if reps[0].leads() {
		t.Fatal("a replica that stopped leading still leads")
	}
	eventually(t, "the old leader drops its relation index", func() (bool, string) {
		n := indexSize(reps[0])
		return n == 0, fmt.Sprintf("%d refs", n)
	})
	lead(t, reps[1])
	writeFiles(t, dir, map[string]string{"c.yaml": docs(doc(group, "team-a"), doc(group, "team-b"), doc(component, "a", "y", "team-b"))})
	refresh(t, reps[0], "component:default/a")
	a = mustGet(t, reps[0], "component:default/a")
	if a.Metadata.Description != "y" || !hasRelation(a, "ownedBy", "group:default/team-b") {
		t.Errorf("a after a refresh through the old leader: %q %v", a.Metadata.Description, a.Relations)
	}
	waitRelation(t, reps[0], "group:default/team-b", "ownerOf", "component:default/a")
	if n := indexSize(reps[1]); n == 0 {
		t.Error("the new leader's relation index is empty")
	}
	if n := indexSize(reps[0]); n != 0 {
		t.Errorf("the old leader's relation index holds %d refs", n)
	}
}
