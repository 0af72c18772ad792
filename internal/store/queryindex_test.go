package store

import (
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/paved-dev/paved/internal/kinds"
)

func testIndex(t *testing.T) *queryIndex {
	t.Helper()
	return newQueryIndex(&Store{log: slog.New(slog.NewTextHandler(io.Discard, nil))})
}

// model is the reference the index is checked against: every object's rows, searched by
// brute force.
type model map[objKey][]kinds.IndexRow

// rowsFor answers the (key, value) test as the index must: a direct row, or (for value
// "true" or an existence test) an array item row pair ("p", "s") plus ("p.s", "true").
func (m model) matches(k objKey, key string, values []string) bool {
	rows := m[k]
	for _, r := range rows {
		if r.Key != key {
			continue
		}
		if len(values) == 0 {
			return true
		}
		v := r.Value
		if len(v) > maxIndexedValue {
			v = ""
		}
		if slices.Contains(values, v) {
			return true
		}
	}
	return false
}

func (qi *queryIndex) keysOf(b *roaring.Bitmap) []string {
	var out []string
	it := b.Iterator()
	for it.HasNext() {
		k := qi.objs[it.Next()].key
		out = append(out, k.namespace+"/"+k.name)
	}
	sort.Strings(out)
	return out
}

func (m model) want(key string, values []string) []string {
	var out []string
	for k := range m {
		if m.matches(k, key, values) {
			out = append(out, k.namespace+"/"+k.name)
		}
	}
	sort.Strings(out)
	return out
}

// rowsOf makes an object's rows as the catalog does: scalar fields, and for each array item
// both ("p", item) and ("p.item", "true").
func rowsOf(rng *rand.Rand, i, gen int) []kinds.IndexRow {
	rows := []kinds.IndexRow{
		{Key: "kind", Value: "component", Original: "Component"},
		{Key: "metadata.name", Value: fmt.Sprintf("obj-%d", i), Original: fmt.Sprintf("Obj-%d", i)},
		{Key: "metadata.uid", Value: fmt.Sprintf("uid-%d-%d", i, gen)},
		{Key: "spec.type", Value: []string{"service", "website", "library"}[rng.IntN(3)]},
		{Key: "metadata.description", Value: fmt.Sprintf("description %d of generation %d", i, gen), Original: fmt.Sprintf("Description %d of generation %d", i, gen)},
	}
	for _, tag := range []string{"java", "go", "python", "java.lang"} {
		if rng.IntN(3) == 0 {
			rows = append(rows, kinds.IndexRow{Key: "metadata.tags", Value: tag, Original: tag},
				kinds.IndexRow{Key: "metadata.tags." + tag, Value: "true", Original: "true"})
		}
	}
	for d := 0; d < rng.IntN(3); d++ {
		dep := fmt.Sprintf("component:default/obj-%d", rng.IntN(50))
		rows = append(rows, kinds.IndexRow{Key: "spec.dependson", Value: dep, Original: dep},
			kinds.IndexRow{Key: "spec.dependson." + dep, Value: "true", Original: "true"})
	}
	if rng.IntN(10) == 0 { // a real nested field whose value is "true", not an array item
		rows = append(rows, kinds.IndexRow{Key: "spec.flags.beta", Value: "true", Original: "true"})
	}
	if rng.IntN(20) == 0 {
		rows = append(rows, kinds.IndexRow{Key: "spec.huge", Value: strings.Repeat("x", maxIndexedValue+1)})
	}
	for j := range rows {
		if rows[j].Original == "" {
			rows[j].Original = rows[j].Value
		}
	}
	return rows
}

// TestQueryIndexAgainstModel puts, updates and removes objects at random (with compaction
// made frequent) and checks filters, existence tests, item keys, facets, full text and
// field values against a brute-force model after every batch of changes.
func TestQueryIndexAgainstModel(t *testing.T) {
	qi := testIndex(t)
	qi.compactAt = 50
	rng := rand.New(rand.NewPCG(7, 11))
	m := model{}
	compactions := 0
	for step := 0; step < 3000; step++ {
		i := rng.IntN(200)
		k := objKey{"catalog.paved.dev/components", "default", fmt.Sprintf("obj-%d", i)}
		deadBefore := qi.dead
		if rng.IntN(5) == 0 {
			qi.remove(k)
			delete(m, k)
		} else {
			rows := rowsFor(rng, i, step)
			qi.put(k, rows)
			m[k] = rows
		}
		if qi.dead < deadBefore {
			compactions++
		}
		if step%100 != 99 {
			continue
		}
		checks := []struct {
			key    string
			values []string
		}{
			{"kind", []string{"component"}},
			{"spec.type", []string{"service"}},
			{"spec.type", []string{"website", "library"}},
			{"metadata.tags", nil},
			{"metadata.tags", []string{"java.lang"}},
			{"metadata.tags.java", nil},
			{"metadata.tags.java", []string{"true"}},
			{"metadata.tags.java", []string{"false"}},
			{"metadata.tags.java.lang", []string{"true"}},
			{"spec.dependson.component:default/obj-7", nil},
			{"spec.flags.beta", []string{"true"}},
			{"spec.flags", nil},
			{"spec.huge", []string{""}},
			{"metadata.uid", []string{fmt.Sprintf("uid-%d-%d", i, step)}},
			{"metadata.name", []string{"obj-3", "obj-4", "nope"}},
			{"nokey", nil},
		}
		for _, c := range checks {
			got := qi.keysOf(qi.fieldBitmap(c.key, c.values))
			if want := m.want(c.key, c.values); !slices.Equal(got, want) {
				t.Fatalf("step %d: %s=%v: index %v, model %v", step, c.key, c.values, got, want)
			}
		}
		all := roaring.New()
		for _, b := range qi.byResource {
			all.Or(b)
		}
		if int(all.GetCardinality()) != len(m) {
			t.Fatalf("step %d: %d objects in the index, %d in the model", step, all.GetCardinality(), len(m))
		}
		// Facets over spec.type and an item key.
		for _, key := range []string{"spec.type", "metadata.tags.go"} {
			counts := map[string]int64{}
			for k := range m {
				for _, r := range m[k] {
					if r.Key == key {
						counts[r.Value]++
					}
				}
			}
			got := map[string]int64{}
			for _, f := range qi.facets(all, key) {
				got[f.Value] = f.Count
			}
			if fmt.Sprint(got) != fmt.Sprint(counts) {
				t.Fatalf("step %d: facets %s: %v, model %v", step, key, got, counts)
			}
		}
		// Full text over one key, and over all keys (item rows read "true").
		for _, ft := range []FullText{{Term: "ION 1", Keys: []string{"metadata.description"}}, {Term: "rue"}} {
			want := map[string]bool{}
			for k, rows := range m {
				for _, r := range rows {
					if (len(ft.Keys) == 0 || r.Key == ft.Keys[0]) && len(r.Value) <= maxIndexedValue && strings.Contains(r.Value, strings.ToLower(ft.Term)) {
						want[k.namespace+"/"+k.name] = true
					}
				}
			}
			got := qi.keysOf(qi.fullText(&ft))
			if len(got) != len(want) {
				t.Fatalf("step %d: full text %q: %d hits, model %d", step, ft.Term, len(got), len(want))
			}
			for _, g := range got {
				if !want[g] {
					t.Fatalf("step %d: full text %q: %s is not a hit", step, ft.Term, g)
				}
			}
		}
		// Ordered pages (the walk over a key's values for small pages, a full sort
		// otherwise), also by an array item key, against a sort of the model.
		for _, key := range []string{"spec.type", "metadata.tags.go", "metadata.description"} {
			type ent struct {
				name, val string
				has       bool
			}
			var ref []ent
			for k, rows := range m {
				e := ent{name: k.name}
				for _, r := range rows {
					if r.Key == key && (!e.has || r.Value < e.val) {
						e.val, e.has = r.Value, true
					}
				}
				ref = append(ref, e)
			}
			sort.Slice(ref, func(i, j int) bool {
				if ref[i].has != ref[j].has {
					return ref[i].has
				}
				if ref[i].val != ref[j].val {
					return ref[i].val < ref[j].val
				}
				return ref[i].name < ref[j].name
			})
			for _, limit := range []int{3, 0} {
				got, _ := qi.page(Query{OrderBy: []Order{{Key: key}}, Limit: limit}, all)
				n := len(ref)
				if limit > 0 {
					n = min(limit, n)
				}
				if len(got) != n {
					t.Fatalf("step %d: order by %s limit %d: %d keys, want %d", step, key, limit, len(got), n)
				}
				for i := range got {
					if got[i].name != ref[i].name {
						t.Fatalf("step %d: order by %s limit %d: #%d is %s, model %s", step, key, limit, i, got[i].name, ref[i].name)
					}
				}
			}
		}
		// Field values, for ordering.
		for k, rows := range m {
			id := qi.ids[k]
			want := ""
			for _, r := range rows {
				if r.Key == "spec.type" {
					want = r.Value
				}
			}
			if got, _ := qi.fieldValue(id, qi.orderFields(Query{OrderBy: []Order{{Key: "spec.type"}}})[0]); got != want {
				t.Fatalf("step %d: %s spec.type %q, model %q", step, k.name, got, want)
			}
		}
	}
	if compactions == 0 {
		t.Fatal("no compaction happened; the test does not cover it")
	}
	t.Logf("%d compactions, %d pairs, %d dead", compactions, len(qi.pairs), qi.dead)
}

// TestQueryIndexUpdateKeepsPairs checks that updating an object with the same rows does not
// churn its pairs (which would force compactions on every refresh).
func TestQueryIndexUpdateKeepsPairs(t *testing.T) {
	qi := testIndex(t)
	rng := rand.New(rand.NewPCG(1, 1))
	k := objKey{"r", "default", "a"}
	rows := rowsFor(rng, 1, 1)
	qi.put(k, rows)
	n := len(qi.pairs)
	for range 10 {
		qi.put(k, rows)
	}
	if len(qi.pairs) != n || qi.dead != 0 {
		t.Fatalf("re-putting the same rows: %d pairs (was %d), %d dead", len(qi.pairs), n, qi.dead)
	}
	// Item rows take no key of their own.
	for _, ke := range qi.keys {
		if strings.HasPrefix(ke.name, "metadata.tags.") || strings.HasPrefix(ke.name, "spec.dependson.") {
			t.Errorf("item row kept as key %q", ke.name)
		}
	}
}

// rowsFor is rowsOf with a fixed shape per generation.
func rowsFor(rng *rand.Rand, i, gen int) []kinds.IndexRow { return rowsOf(rng, i, gen) }
