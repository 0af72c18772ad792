package catalog

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/paved-dev/paved/internal/catalog/orggen"
)

// genCatalog writes a generated organisation (orggen.Write) below dir.
func genCatalog(t testing.TB, dir string, files, perFile int) (string, map[string]int) {
	t.Helper()
	all, owns, err := orggen.Write(dir, files, perFile)
	if err != nil {
		t.Fatal(err)
	}
	return all, owns
}

// peakRSS is the process's peak resident set size in MB (VmHWM).
func peakRSS() float64 { return procStatus("VmHWM:") }

// rss is the process's resident set size now, in MB.
func rss() float64 { return procStatus("VmRSS:") }

func procStatus(field string) float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, field) {
			f := strings.Fields(line)
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// ingest registers all.yaml and waits until every entity is stored and stitched; it
// returns how long that took.
func ingest(b *testing.B, c *Catalog, all string, want int) time.Duration {
	b.Helper()
	ctx := context.Background()
	start := time.Now()
	loc, _, _, err := c.AddLocation(ctx, LocationSpec{Type: "file", Target: all}, false)
	if err != nil {
		b.Fatal(err)
	}
	processed := time.Since(start)
	wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	lastWrite, err := c.stitch.waitIdle(wctx, 500*time.Millisecond)
	if err != nil {
		b.Fatal(err)
	}
	took := processed
	if d := lastWrite.Sub(start); d > took {
		took = d
	}
	st := statusOf(b, c, loc.ID)
	if len(st.Errors) > 0 {
		b.Fatalf("ingestion errors:%s", errorsText(st.Errors[:min(5, len(st.Errors))]))
	}
	if st.Entities != want {
		b.Fatalf("%d entities, want %d", st.Entities, want)
	}
	b.Logf("processed in %v, stitched %v after the start (%d stitch writes)", processed.Round(time.Millisecond), took.Round(time.Millisecond), c.stitch.writes)
	return took
}

// checkOwners checks that every group lists, as ownerOf, every entity that names it owner.
func checkOwners(b *testing.B, c *Catalog, owns map[string]int) {
	b.Helper()
	groups := sortedKeys(owns)
	for _, i := range []int{0, len(groups) / 2, len(groups) - 1} {
		g := mustGet(b, c, groups[i])
		n := 0
		for _, r := range g.Relations {
			if r.Type == "ownerOf" {
				n++
			}
		}
		if n != owns[groups[i]] {
			b.Errorf("%s has %d ownerOf relations, want %d", groups[i], n, owns[groups[i]])
		}
	}
}

// BenchmarkIngest100k ingests 100,000 generated entities (100 files of 1,000 referenced
// by one Location file) into a SQLite store with the stitcher running, until every entity
// is stored and every inverse relation written.
//
//	go test -run '^$' -bench BenchmarkIngest100k -benchtime 1x ./internal/catalog/
func BenchmarkIngest100k(b *testing.B) {
	dir := b.TempDir()
	all, owns := genCatalog(b, dir, 100, 1000)
	for range b.N {
		c := newCatalog(b, Options{FileRoots: []string{dir}})
		runControllers(b, c)
		took := ingest(b, c, all, 100_002)
		checkOwners(b, c, owns)
		b.ReportMetric(took.Seconds(), "s")
		b.ReportMetric(100_000/took.Seconds(), "entities/s")
	}
	b.ReportMetric(peakRSS(), "peak-RSS-MB")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkRefreshOneChangedFile changes one entity in one file of a 100,000-entity
// catalog, calls Refresh for it, and measures until the change can be read from the store,
// 50 times (each in another file). The setup ingests 100,000 entities, so it runs once
// whatever b.N is:
//
//	go test -run '^$' -bench BenchmarkRefreshOneChangedFile -benchtime 1x ./internal/catalog/
func BenchmarkRefreshOneChangedFile(b *testing.B) {
	const refreshes = 50
	dir := b.TempDir()
	all, _ := genCatalog(b, dir, 100, 1000)
	c := newCatalog(b, Options{FileRoots: []string{dir}})
	runControllers(b, c)
	ingest(b, c, all, 100_002)
	ctx := context.Background()
	// A refresh finds what a file yielded before through the store's query index, which a
	// server has built long before (the catalog API uses it); build it outside the timing.
	before, peakBefore := rss(), peakRSS()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	heapBefore := ms.HeapInuse
	if err := c.store.WarmQueryIndex(ctx); err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	b.Logf("RSS before building the store's query index %.0f MB (peak %.0f MB), after %.0f MB; live heap %.0f MB, of which the index %.0f MB",
		before, peakBefore, rss(), float64(ms.HeapInuse)/(1<<20), float64(ms.HeapInuse-heapBefore)/(1<<20))
	b.ReportMetric(float64(ms.HeapInuse-heapBefore)/(1<<20), "index-heap-MB")
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; i < refreshes; i++ {
		f := i % 100
		file := filepath.Join(dir, "files", fmt.Sprintf("file-%03d.yaml", f))
		data, err := os.ReadFile(file)
		if err != nil {
			b.Fatal(err)
		}
		name := fmt.Sprintf("component-%03d-%03d", f, 7)
		old := fmt.Sprintf("description: Microservice 7 of file %d, running on AKS", f)
		if i >= 100 {
			old = fmt.Sprintf("description: changed %d", i-100)
		}
		desc := fmt.Sprintf("changed %d", i)
		if !strings.Contains(string(data), old) {
			b.Fatalf("%s does not contain %q", file, old)
		}
		data = []byte(strings.Replace(string(data), old, "description: "+desc, 1))
		if err := os.WriteFile(file, data, 0o644); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if err := c.Refresh(ctx, "component:default/"+name); err != nil {
			b.Fatal(err)
		}
		for mustGet(b, c, "component:default/"+name).Metadata.Description != desc {
			if time.Since(start) > 10*time.Second {
				b.Fatalf("the change of %s is not visible after 10s", name)
			}
			time.Sleep(time.Millisecond)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
	b.ReportMetric(peakRSS(), "peak-RSS-MB")
	b.ReportMetric(0, "ns/op")
}
