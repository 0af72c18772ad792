package client_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/paved-dev/paved/api"
	"github.com/paved-dev/paved/internal/apiserver"
	"github.com/paved-dev/paved/internal/catalog"
	"github.com/paved-dev/paved/internal/client"
	"github.com/paved-dev/paved/internal/kinds"
	"github.com/paved-dev/paved/internal/store"
	"github.com/paved-dev/paved/internal/store/sqlite"
)

// startCatalogServer serves a real API server with the catalog mounted; file locations
// may be read below root.
func startCatalogServer(t *testing.T, root string) string {
	t.Helper()
	ctx := context.Background()
	be, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	st := store.New(be, kinds.NewRegistry(), store.Options{Logger: quiet})
	cat, err := catalog.New(st, catalog.Options{Logger: quiet, FileRoots: []string{root}})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := apiserver.New(apiserver.Options{Store: st, Auth: bearerAuth(testToken), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	srv.Handle(catalog.APIPrefix+"/", cat.Handler())
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		srv.Close()
		hs.Close()
		st.Close()
		be.Close()
	})
	return hs.URL
}

func TestCatalogMethods(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	file := filepath.Join(dir, "catalog-info.yaml")
	if err := os.WriteFile(file, []byte(`apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: svc, title: The Service}
spec: {type: service, lifecycle: production, owner: team-a}
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata: {name: svc-api}
spec: {type: openapi, lifecycle: production, owner: team-a, definition: "openapi: 3.0.0"}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	url := startCatalogServer(t, dir)
	c := client.New(url, testToken)

	dry, err := c.CatalogAddLocation(ctx, "file", file, true)
	if err != nil || dry.Exists || len(dry.Entities) != 3 { // two entities and the location's own
		t.Fatalf("dry run: %+v %v", dry, err)
	}
	added, err := c.CatalogAddLocation(ctx, "file", file, false)
	if err != nil || added.Location.ID == "" || added.Location.Target != file {
		t.Fatalf("add: %+v %v", added, err)
	}
	if _, err := c.CatalogAddLocation(ctx, "file", file, false); !api.IsConflict(err) {
		t.Errorf("second add: %v, want a Conflict", err)
	}
	locs, err := c.CatalogLocations(ctx)
	if err != nil || len(locs) != 1 || locs[0] != added.Location {
		t.Errorf("locations: %+v %v", locs, err)
	}

	e, err := c.CatalogEntityByName(ctx, "Component", "default", "SVC")
	if err != nil || e["kind"] != "Component" {
		t.Fatalf("by name: %v %v", e, err)
	}
	_, err = c.CatalogEntityByName(ctx, "component", "default", "nope")
	if !api.IsNotFound(err) || err.Error() != "No entity named 'nope' found, with kind 'component' in namespace 'default'" {
		t.Errorf("missing entity: %v", err)
	}

	page, err := c.CatalogQueryEntities(ctx, client.CatalogQuery{Filter: []string{"kind=component", "kind=api"},
		OrderFields: []string{"metadata.name,desc"}, Fields: []string{"metadata.name"}, Limit: 1})
	if err != nil || page.TotalItems != 2 || len(page.Items) != 1 || page.PageInfo.NextCursor == "" {
		t.Fatalf("query: %+v %v", page, err)
	}
	next, err := c.CatalogQueryEntities(ctx, client.CatalogQuery{Cursor: page.PageInfo.NextCursor, Limit: 1})
	if err != nil || len(next.Items) != 1 || next.Items[0]["metadata"].(map[string]any)["name"] != "svc" {
		t.Errorf("next page: %+v %v", next, err)
	}
	found, err := c.CatalogQueryEntities(ctx, client.CatalogQuery{FullText: "the serv", FullTextFields: []string{"metadata.title"}})
	if err != nil || found.TotalItems != 1 {
		t.Errorf("full text: %+v %v", found, err)
	}
	if _, err := c.CatalogQueryEntities(ctx, client.CatalogQuery{Filter: []string{"=x"}}); api.ReasonOf(err) != api.ReasonBadRequest {
		t.Errorf("bad filter: %v", err)
	}

	all, err := c.CatalogEntities(ctx, []string{"kind=api"}, []string{"kind"})
	if err != nil || len(all) != 1 || len(all[0]) != 1 {
		t.Errorf("entities: %v %v", all, err)
	}
	if err := c.CatalogRefresh(ctx, "component:default/svc"); err != nil {
		t.Errorf("refresh: %v", err)
	}
	if err := c.CatalogRefresh(ctx, "component:default/nope"); !api.IsNotFound(err) {
		t.Errorf("refresh of nothing: %v", err)
	}

	// Refusals from the API server's authentication are Status bodies, decoded as usual.
	_, err = client.New(url, "wrong-token-wrong-token").CatalogLocations(ctx)
	if api.ReasonOf(err) != api.ReasonUnauthorized {
		t.Errorf("wrong token: %v", err)
	}
}
