package catalog

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/paved-dev/paved/api"
	"github.com/paved-dev/paved/internal/catalog/entity"
)

// TestRelIndexLargeSets drives many entities at a few targets, so that incoming edges move
// from a node's own slice to a sorted set and on to a map, and checks the index against
// relations computed from scratch: every node's hash and desired relations, the stale
// refs, and that nothing is left once every entity is gone.
func TestRelIndexLargeSets(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	const sources = 6000
	groups := []string{"group:default/g0", "group:default/g1", "group:default/g2"}
	pickGroup := func() string {
		if rng.IntN(4) > 0 {
			return groups[0] // beyond sortedMax incoming edges
		}
		return groups[1+rng.IntN(2)]
	}
	src := func(i int) string { return fmt.Sprintf("component:default/c%d", i) }
	own := map[string][]api.Relation{}
	x := newRelIndex()
	set := func(ref string, rels []api.Relation) {
		rels = sortRelations(rels)
		own[ref] = rels
		// Stored as the index would have it written: its desired relations.
		x.apply(ref, rels, &api.Object{Relations: rels}, false)
	}
	for i := range sources {
		set(src(i), []api.Relation{{Type: entity.RelationOwnedBy, TargetRef: pickGroup()},
			{Type: entity.RelationDependsOn, TargetRef: src(rng.IntN(sources))}})
	}
	for _, g := range groups {
		set(g, nil)
	}
	check := func(step int) {
		t.Helper()
		want := map[string][]api.Relation{}
		for s, rs := range own {
			want[s] = append(want[s], rs...)
			for _, r := range rs {
				if inv := entity.Inverse(r.Type); inv != "" {
					want[r.TargetRef] = append(want[r.TargetRef], api.Relation{Type: inv, TargetRef: s})
				}
			}
		}
		for ref, rs := range want {
			rs = sortRelations(rs)
			if got := x.desiredOf(ref); !slices.Equal(got, rs) {
				t.Fatalf("step %d: desiredOf(%s) has %d relations, want %d", step, ref, len(got), len(rs))
			}
			x.mu.Lock()
			_, n := x.lookup(ref)
			sum := n.sum
			x.mu.Unlock()
			if sum != setHash(rs) {
				t.Fatalf("step %d: hash of %s differs from its relations'", step, ref)
			}
		}
		x.mu.Lock()
		defer x.mu.Unlock()
		for ref := range x.ids {
			if _, ok := want[ref]; !ok {
				if _, stored := own[ref]; !stored {
					t.Fatalf("step %d: the index holds %s, which nothing names", step, ref)
				}
			}
		}
	}
	check(0)
	if s := x.big[x.ids[groups[0]]]; s == nil || s.set == nil {
		t.Fatal("the group most entities point at does not have its incoming edges in a map")
	}
	if s := x.big[x.ids[groups[1]]]; s == nil || s.sorted == nil {
		t.Fatal("a group some entities point at does not have its incoming edges sorted")
	}
	for step := 1; step <= 4000; step++ {
		ref := src(rng.IntN(sources))
		switch rng.IntN(3) {
		case 0:
			delete(own, ref)
			x.apply(ref, nil, nil, true)
		default:
			rels := []api.Relation{{Type: entity.RelationOwnedBy, TargetRef: pickGroup()}}
			for range rng.IntN(3) {
				rels = append(rels, api.Relation{Type: entity.RelationDependsOn, TargetRef: src(rng.IntN(sources))})
			}
			// Written with stale relations: the index must call it stale.
			stale := append(slices.Clone(rels), api.Relation{Type: entity.RelationPartOf, TargetRef: "system:default/gone"})
			own[ref] = sortRelations(rels)
			x.apply(ref, own[ref], &api.Object{Relations: stale}, false)
			if !x.stale(ref) {
				t.Fatalf("step %d: %s is stored with a relation it should not have, but not stale", step, ref)
			}
			x.apply(ref, own[ref], &api.Object{Relations: x.desiredOf(ref)}, false)
			if x.stale(ref) {
				t.Fatalf("step %d: %s is stored with its desired relations, but stale", step, ref)
			}
		}
		if step%1000 == 0 {
			check(step)
		}
	}
	for ref := range own {
		x.apply(ref, nil, nil, true)
	}
	if len(x.ids) != 0 || len(x.big) != 0 || len(x.paced) != 0 {
		t.Errorf("after every entity went, the index holds %d refs, %d large sets, %d write times", len(x.ids), len(x.big), len(x.paced))
	}
}
