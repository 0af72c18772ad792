package sqlite_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/paved-dev/paved/api"
	"github.com/paved-dev/paved/internal/kinds"
	"github.com/paved-dev/paved/internal/store"
	"github.com/paved-dev/paved/internal/store/sqlite"
)

// BenchmarkStore measures the core's figures on one SQLite store: 100,000 creates from 8
// concurrent writers (as API clients write), 10,000 more from one writer, then at 110,000
// objects get latency, a 1,000-object list by label, and watch delivery latency. Run with
// -benchtime=1x: each step does fixed work.
func BenchmarkStore(b *testing.B) {
	ctx := context.Background()
	be, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "paved.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer be.Close()
	s := store.New(be, kinds.NewRegistry(), store.Options{})
	defer s.Close()
	k, _ := s.Kinds().ByGVK("paved.dev/v1", "Environment")
	env := func(name string, i int) *api.Object {
		return &api.Object{APIVersion: "paved.dev/v1", Kind: "Environment",
			Metadata: api.ObjectMeta{Name: name, Labels: map[string]string{
				"team": "team-" + strconv.Itoa(i%100), "tier": []string{"development", "staging", "production"}[i%3]}},
			Spec: json.RawMessage(`{"tier":"development","cluster":"local","namespace":"apps","description":"generated for the benchmark"}`)}
	}
	const total = 100_000

	b.Run("create-100k-8-writers", func(b *testing.B) {
		start := time.Now()
		var wg sync.WaitGroup
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := w; i < total; i += 8 {
					if _, err := s.Create(ctx, env(fmt.Sprintf("par-%06d", i), i)); err != nil {
						b.Error(err)
						return
					}
				}
			}(w)
		}
		wg.Wait()
		el := time.Since(start)
		b.ReportMetric(float64(total)/el.Seconds(), "objects/s")
		b.ReportMetric(el.Seconds(), "s")
	})
	b.Run("create-10k-one-writer", func(b *testing.B) {
		start := time.Now()
		for i := 0; i < 10_000; i++ {
			o := env(fmt.Sprintf("seq-%06d", i), i)
			o.Metadata.Labels["team"] = "sequential"
			if _, err := s.Create(ctx, o); err != nil {
				b.Fatal(err)
			}
		}
		el := time.Since(start)
		b.ReportMetric(10_000/el.Seconds(), "objects/s")
		b.ReportMetric(el.Seconds(), "s")
	})
	if n, _ := s.Count(ctx, k, ""); n != total+10_000 {
		b.Fatalf("store holds %d objects, want %d", n, total+10_000)
	}
	b.Run("get-at-110k", func(b *testing.B) {
		lat := make([]time.Duration, 0, 20000)
		for i := 0; i < 20000; i++ {
			name := fmt.Sprintf("par-%06d", (i*7919)%total)
			t0 := time.Now()
			if _, err := s.Get(ctx, k, "", name); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
		}
		report(b, lat)
	})
	b.Run("list-1000-by-label-at-110k", func(b *testing.B) {
		lat := make([]time.Duration, 0, 100)
		for i := 0; i < 100; i++ {
			t0 := time.Now()
			l, err := s.List(ctx, k, store.ListOptions{LabelSelector: "team=team-" + strconv.Itoa(i%100)})
			if err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
			if len(l.Items) != 1000 {
				b.Fatalf("list by label: %d items, want 1000", len(l.Items))
			}
		}
		report(b, lat)
	})
	b.Run("watch-delivery", func(b *testing.B) {
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		ch, err := s.Watch(wctx, store.WatchOptions{Kind: k, LabelSelector: "team=watched"})
		if err != nil {
			b.Fatal(err)
		}
		lat := make([]time.Duration, 0, 2000)
		for i := 0; i < 2000; i++ {
			o := env(fmt.Sprintf("watched-%05d", i), i)
			o.Metadata.Labels["team"] = "watched"
			t0 := time.Now()
			if _, err := s.Create(ctx, o); err != nil {
				b.Fatal(err)
			}
			e := <-ch
			lat = append(lat, time.Since(t0))
			if e.Object == nil || e.Object.Metadata.Name != o.Metadata.Name {
				b.Fatalf("watch delivered %+v", e)
			}
		}
		report(b, lat)
	})
}

// report prints p50 and p99 in milliseconds.
func report(b *testing.B, lat []time.Duration) {
	b.Helper()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	p := func(q float64) float64 {
		return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(p(0.50), "p50-ms")
	b.ReportMetric(p(0.99), "p99-ms")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkCreateMany100k creates 100,000 objects through Store.CreateMany in batches of
// 1,000, as bulk ingestion (catalog, apply of a directory) does.
func BenchmarkCreateMany100k(b *testing.B) {
	ctx := context.Background()
	be, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "paved.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer be.Close()
	s := store.New(be, kinds.NewRegistry(), store.Options{})
	defer s.Close()
	start := time.Now()
	batch := make([]*api.Object, 0, 1000)
	for i := 0; i < 100_000; i++ {
		batch = append(batch, &api.Object{APIVersion: "paved.dev/v1", Kind: "Environment",
			Metadata: api.ObjectMeta{Name: fmt.Sprintf("env-%06d", i), Labels: map[string]string{"team": "team-" + strconv.Itoa(i%100)}},
			Spec:     json.RawMessage(`{"tier":"development","cluster":"local","namespace":"apps","description":"generated for the benchmark"}`)})
		if len(batch) == cap(batch) {
			_, errs := s.CreateMany(ctx, batch)
			for _, err := range errs {
				if err != nil {
					b.Fatal(err)
				}
			}
			batch = batch[:0]
		}
	}
	el := time.Since(start)
	b.ReportMetric(100_000/el.Seconds(), "objects/s")
	b.ReportMetric(el.Seconds(), "s")
}
