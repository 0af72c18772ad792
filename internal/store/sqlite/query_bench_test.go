package sqlite_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/paved-dev/paved/api"
	"github.com/paved-dev/paved/internal/kinds"
	"github.com/paved-dev/paved/internal/store"
	"github.com/paved-dev/paved/internal/store/sqlite"
)

// BenchmarkQuery100k measures index queries over 100,000 objects of an indexed kind with
// about 20 index rows each (the shape of catalog entities): a two-field filter with a page
// of 20 and the total count, facets, and a substring search.
func BenchmarkQuery100k(b *testing.B) {
	ctx := context.Background()
	be, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "q.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer be.Close()
	reg := kinds.NewRegistry()
	k := kinds.Kind{Group: "bench.paved.dev", Version: "v1", Kind: "Entity", Plural: "entities", Namespaced: true,
		Index: func(o *api.Object) []kinds.IndexRow {
			var spec map[string]string
			_ = json.Unmarshal(o.Spec, &spec)
			rows := []kinds.IndexRow{{Key: "metadata.name", Value: strings.ToLower(o.Metadata.Name), Original: o.Metadata.Name},
				{Key: "metadata.namespace", Value: "default", Original: "default"}}
			for key, v := range spec {
				rows = append(rows, kinds.IndexRow{Key: key, Value: strings.ToLower(v), Original: v})
			}
			for _, t := range o.Metadata.Tags {
				rows = append(rows, kinds.IndexRow{Key: "metadata.tags", Value: t, Original: t}, kinds.IndexRow{Key: "metadata.tags." + t, Value: "true", Original: "true"})
			}
			return rows
		}}
	if err := reg.Register(k); err != nil {
		b.Fatal(err)
	}
	ek, _ := reg.ByGVK("bench.paved.dev/v1", "Entity")
	s := store.New(be, reg, store.Options{})
	defer s.Close()
	kindsMix := []string{"component", "component", "component", "component", "component", "component", "user", "group", "api", "resource"}
	types := []string{"service", "website", "library"}
	batch := make([]*api.Object, 0, 1000)
	start := time.Now()
	for i := 0; i < 100_000; i++ {
		spec := map[string]string{"kind": kindsMix[i%10], "spec.type": types[i%3], "spec.lifecycle": []string{"production", "experimental"}[i%2],
			"spec.owner": fmt.Sprintf("group:default/team-%d", i%50), "spec.system": fmt.Sprintf("system-%d", i%200),
			"relations.ownedby": fmt.Sprintf("group:default/team-%d", i%50), "relations.partof": fmt.Sprintf("system:default/system-%d", i%200),
			"metadata.title": fmt.Sprintf("Service number %d", i), "metadata.description": "A generated service used by the query benchmark",
			"metadata.annotations.backstage.io/managed-by-location": fmt.Sprintf("file:/catalog/file-%d.yaml", i/1000),
			"metadata.annotations.backstage.io/source-location":     fmt.Sprintf("url:https://git.example.com/repo-%d", i),
			"spec.dependson": fmt.Sprintf("resource:default/db-%d", i%300), "spec.providesapis": fmt.Sprintf("api-%d", i%400),
			"metadata.uid": fmt.Sprintf("uid-%d", i), "apiversion": "backstage.io/v1alpha1"}
		sb, _ := json.Marshal(spec)
		batch = append(batch, &api.Object{APIVersion: "bench.paved.dev/v1", Kind: "Entity",
			Metadata: api.ObjectMeta{Name: fmt.Sprintf("entity-%06d", i), Tags: []string{[]string{"go", "java", "python", "typescript"}[i%4]}},
			Spec:     sb})
		if len(batch) == cap(batch) {
			if _, errs := s.CreateMany(ctx, batch); errs[0] != nil {
				b.Fatal(errs[0])
			}
			batch = batch[:0]
		}
	}
	b.Logf("loaded 100,000 indexed objects in %v", time.Since(start))
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start = time.Now()
	if err := s.WarmQueryIndex(ctx); err != nil {
		b.Fatal(err)
	}
	built := time.Since(start)
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.Logf("built the query index in %v; it holds %.0f MB of heap", built, float64(after.HeapInuse-before.HeapInuse)/(1<<20))
	sel := store.Selector{Kinds: []*kinds.Kind{ek}, Limit: 20, OrderBy: []store.Order{{Key: "metadata.name"}},
		Filter: [][]store.FieldRequirement{{{Key: "kind", Values: []string{"component"}}, {Key: "spec.type", Values: []string{"service"}}}}}
	b.Run("two-field-filter-page-and-count", func(b *testing.B) {
		var lat []time.Duration
		for i := 0; i < 50; i++ {
			t0 := time.Now()
			items, n, _, err := s.QueryPage(ctx, sel)
			if err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
			if len(items) != 20 || n != 20000 {
				b.Fatalf("%d items, %d total", len(items), n)
			}
		}
		report(b, lat)
	})
	b.Run("facets-kind-and-type", func(b *testing.B) {
		var lat []time.Duration
		for i := 0; i < 20; i++ {
			t0 := time.Now()
			for _, key := range []string{"kind", "spec.type"} {
				if _, err := s.QueryFacets(ctx, store.Selector{Kinds: []*kinds.Kind{ek}}, key); err != nil {
					b.Fatal(err)
				}
			}
			lat = append(lat, time.Since(t0))
		}
		report(b, lat)
	})
	b.Run("full-text", func(b *testing.B) {
		var lat []time.Duration
		for i := 0; i < 20; i++ {
			t0 := time.Now()
			sel := store.Selector{Kinds: []*kinds.Kind{ek}, Limit: 20, FullText: &store.FullText{Term: fmt.Sprintf("number %d", 4242+i), Keys: []string{"metadata.name", "metadata.title"}}}
			items, _, _, err := s.QueryPage(ctx, sel)
			if err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
			if len(items) == 0 {
				b.Fatal("no match")
			}
		}
		report(b, lat)
	})
}
