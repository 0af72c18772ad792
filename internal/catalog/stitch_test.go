package catalog

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/paved-dev/paved/api"
	"github.com/paved-dev/paved/internal/catalog/entity"
	"github.com/paved-dev/paved/internal/store"
)

// TestRelIndexHashes applies random changes to the index and checks, after each, that the
// incrementally kept set-hash of every node's desired relations equals the hash of the
// relations computed from scratch.
func TestRelIndexHashes(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 9))
	refs := []string{"component:default/a", "component:default/b", "group:default/g", "api:default/x", "system:default/s"}
	types := []string{entity.RelationOwnedBy, entity.RelationDependsOn, entity.RelationDependencyOf, entity.RelationProvidesAPI,
		entity.RelationPartOf, entity.RelationHasPart, "customType"}
	own := map[string][]api.Relation{}
	x := newRelIndex()
	for step := 0; step < 3000; step++ {
		src := refs[rng.IntN(len(refs))]
		var rels []api.Relation
		for range rng.IntN(4) {
			rels = append(rels, api.Relation{Type: types[rng.IntN(len(types))], TargetRef: refs[rng.IntN(len(refs))]})
		}
		rels = sortRelations(rels)
		deleted := rng.IntN(5) == 0
		if deleted {
			delete(own, src)
		} else {
			own[src] = rels
		}
		x.apply(src, rels, &api.Object{Relations: rels}, deleted)
		for _, ref := range refs {
			want := slices.Clone(own[ref])
			for s, rs := range own {
				for _, r := range rs {
					if inv := entity.Inverse(r.Type); inv != "" && r.TargetRef == ref {
						want = append(want, api.Relation{Type: inv, TargetRef: s})
					}
				}
			}
			want = sortRelations(want)
			x.mu.Lock()
			_, n := x.lookup(ref)
			var sum uint64
			if n != nil {
				sum = n.sum
			}
			x.mu.Unlock()
			if sum != setHash(want) {
				t.Fatalf("step %d: %s: index hash differs from %v", step, ref, want)
			}
			if _, stored := own[ref]; stored {
				if got := x.desired(ref, own[ref]); !slices.Equal(got, want) {
					t.Fatalf("step %d: desired(%s) = %v, want %v", step, ref, got, want)
				}
			}
		}
	}
	// Everything deleted: nothing is left in the index.
	for _, ref := range refs {
		x.apply(ref, nil, nil, true)
	}
	if len(x.ids) != 0 {
		t.Errorf("the index still holds %d refs", len(x.ids))
	}
}

func createEntity(t *testing.T, c *Catalog, yaml string, rels ...api.Relation) *api.Object {
	t.Helper()
	e, err := entity.Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	o, err := ToObject(e)
	if err != nil {
		t.Fatal(err)
	}
	o.Relations = rels
	out, err := c.store.Create(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestStitcher writes entities straight to the store, as `paved apply` would, and checks
// that the stitcher keeps the relations of both sides right, on SQLite and PostgreSQL.
func TestStitcher(t *testing.T) { forEachBackend(t, testStitcher) }

func testStitcher(t *testing.T, backend string) {
	c := newCatalogOn(t, backend, Options{})
	runControllers(t, c)
	ctx := context.Background()
	createEntity(t, c, fmt.Sprintf(group, "team-a"))
	createEntity(t, c, fmt.Sprintf(group, "team-b"),
		api.Relation{Type: "ownerOf", TargetRef: "component:default/ghost"}) // nothing points at it
	a := createEntity(t, c, fmt.Sprintf(component, "a", "x", "team-a")) // no relations written at all
	waitRelation(t, c, "group:default/team-a", "ownerOf", "component:default/a")
	waitRelation(t, c, "component:default/a", "ownedBy", "group:default/team-a")
	eventually(t, "team-b loses the relation nothing implies", func() (bool, string) {
		g := mustGet(t, c, "group:default/team-b")
		return len(g.Relations) == 0, fmt.Sprint(g.Relations)
	})

	// A new owner: the relation moves.
	a = mustGet(t, c, "component:default/a")
	a.Spec = []byte(`{"type":"service","lifecycle":"production","owner":"team-b"}`)
	if _, err := c.store.Update(ctx, a); err != nil {
		t.Fatal(err)
	}
	waitRelation(t, c, "group:default/team-b", "ownerOf", "component:default/a")
	waitRelation(t, c, "component:default/a", "ownedBy", "group:default/team-b")
	eventually(t, "team-a no longer owns a", func() (bool, string) {
		g := mustGet(t, c, "group:default/team-a")
		return len(g.Relations) == 0, fmt.Sprint(g.Relations)
	})

	// A target created after its source gets the inverse at once.
	createEntity(t, c, `apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: b
spec:
  type: service
  lifecycle: production
  owner: team-b
  dependsOn: [component:c]
`)
	createEntity(t, c, fmt.Sprintf(component, "c", "x", "team-b"))
	waitRelation(t, c, "component:default/c", "dependencyOf", "component:default/b")

	// The source goes: so does the inverse.
	if _, err := c.store.Delete(ctx, c.byLowerKind["component"], "default", "a", store.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "team-b no longer owns a", func() (bool, string) {
		g := mustGet(t, c, "group:default/team-b")
		return !hasRelation(g, "ownerOf", "component:default/a"), fmt.Sprint(g.Relations)
	})
}

// TestStitcherCatchesUpAfterRestart deletes an entity while no stitcher runs: the next
// one, starting from a fresh index, removes the inverse relation left behind.
func TestStitcherCatchesUpAfterRestart(t *testing.T) {
	c := newCatalog(t, Options{})
	stop := startControllers(t, c)
	createEntity(t, c, fmt.Sprintf(group, "team-a"))
	createEntity(t, c, fmt.Sprintf(component, "a", "x", "team-a"))
	waitRelation(t, c, "group:default/team-a", "ownerOf", "component:default/a")
	stop()
	if _, err := c.store.Delete(context.Background(), c.byLowerKind["component"], "default", "a", store.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	startControllers(t, c)
	eventually(t, "team-a no longer owns a", func() (bool, string) {
		g := mustGet(t, c, "group:default/team-a")
		return !hasRelation(g, "ownerOf", "component:default/a"), fmt.Sprint(g.Relations)
	})
}
