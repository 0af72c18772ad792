package catalog

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// genCatalog writes a generated organisation of files x perFile entities below dir
// (files/file-NNN.yaml, referenced by one Location file, all.yaml) and returns the path of
// all.yaml and, per group, how many entities it owns. The mix per 1,000 entities: 10
// groups, 100 users, 1 domain, 20 systems, 169 resources, 200 APIs and 500 components,
// with owners, systems, domains, group parents, memberships, provided and consumed APIs
// and dependencies pointing across files.
func genCatalog(t testing.TB, dir string, files, perFile int) (string, map[string]int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	scale := func(n int) int { return max(1, n*perFile/1000) }
	nGroups, nUsers, nSystems, nResources, nAPIs := scale(10), scale(100), scale(20), scale(169), scale(200)
	nComponents := perFile - nGroups - nUsers - 1 - nSystems - nResources - nAPIs
	owns := map[string]int{}
	group := func(f, j int) string { return fmt.Sprintf("group-%03d-%02d", f, j) }
	randGroup := func() string { return group(rng.IntN(files), rng.IntN(nGroups)) }
	own := func(g string) string { owns["group:default/"+g]++; return g }
	if err := os.MkdirAll(filepath.Join(dir, "files"), 0o755); err != nil {
		t.Fatal(err)
	}
	var targets []string
	for f := 0; f < files; f++ {
		name := fmt.Sprintf("files/file-%03d.yaml", f)
		targets = append(targets, "./"+name)
		fh, err := os.Create(filepath.Join(dir, filepath.FromSlash(name)))
		if err != nil {
			t.Fatal(err)
		}
		w := bufio.NewWriter(fh)
		doc := func(format string, args ...any) { fmt.Fprintf(w, "---\n"+format, args...) }
		for j := 0; j < nGroups; j++ {
			parent := ""
			if f > 0 || j > 0 {
				parent = "  parent: " + group(f/2, 0) + "\n"
				if f == 0 {
					parent = "  parent: " + group(0, 0) + "\n"
				}
			}
			doc("apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata:\n  name: %s\n  description: Team %d of division %d\nspec:\n  type: team\n  profile:\n    displayName: Team %d-%d\n    email: team-%d-%d@example.com\n%s  children: []\n",
				group(f, j), j, f, f, j, f, j, parent)
		}
		for j := 0; j < nUsers; j++ {
			doc("apiVersion: backstage.io/v1alpha1\nkind: User\nmetadata:\n  name: user-%03d-%03d\nspec:\n  profile:\n    displayName: User %d %d\n    email: user-%d-%d@example.com\n  memberOf: [%s, %s]\n",
				f, j, f, j, f, j, group(f, j%nGroups), randGroup())
		}
		doc("apiVersion: backstage.io/v1alpha1\nkind: Domain\nmetadata:\n  name: domain-%03d\n  description: Business domain %d\nspec:\n  owner: %s\n", f, f, own(group(f, 0)))
		for j := 0; j < nSystems; j++ {
			doc("apiVersion: backstage.io/v1alpha1\nkind: System\nmetadata:\n  name: system-%03d-%02d\n  description: System %d of file %d\n  tags: [saas, aks]\nspec:\n  owner: %s\n  domain: domain-%03d\n",
				f, j, j, f, own(group(f, j%nGroups)), rng.IntN(files))
		}
		types := []string{"database", "cache", "queue", "bucket"}
		for j := 0; j < nResources; j++ {
			doc("apiVersion: backstage.io/v1alpha1\nkind: Resource\nmetadata:\n  name: resource-%03d-%03d\n  description: A %s\n  annotations:\n    paved.dev/region: westeurope\nspec:\n  type: %s\n  owner: %s\n  system: system-%03d-%02d\n",
				f, j, types[j%4], types[j%4], own(randGroup()), f, j%nSystems)
		}
		for j := 0; j < nAPIs; j++ {
			doc("apiVersion: backstage.io/v1alpha1\nkind: API\nmetadata:\n  name: api-%03d-%03d\n  description: REST API %d of file %d\n  tags: [rest, openapi]\nspec:\n  type: openapi\n  lifecycle: production\n  owner: %s\n  system: system-%03d-%02d\n  definition: |\n    openapi: 3.0.0\n    info:\n      title: api %d %d\n      version: 1.0.0\n    paths:\n      /items:\n        get:\n          responses:\n            '200':\n              description: ok\n",
				f, j, j, f, own(group(f, j%nGroups)), f, j%nSystems, f, j)
		}
		for j := 0; j < nComponents; j++ {
			doc("apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: component-%03d-%03d\n  description: Microservice %d of file %d, running on AKS\n  tags: [go, aks, service]\n  annotations:\n    github.com/project-slug: saas/component-%03d-%03d\n    backstage.io/techdocs-ref: dir:.\n  links:\n    - url: https://grafana.example.com/d/component-%03d-%03d\n      title: Dashboard\nspec:\n  type: service\n  lifecycle: production\n  owner: %s\n  system: system-%03d-%02d\n  providesApis: [api-%03d-%03d]\n  consumesApis: [api-%03d-%03d, api-%03d-%03d]\n  dependsOn: [resource:resource-%03d-%03d, component:component-%03d-%03d]\n",
				f, j, j, f, f, j, f, j, own(group(f, j%nGroups)), f, j%nSystems, f, j%nAPIs,
				rng.IntN(files), rng.IntN(nAPIs), rng.IntN(files), rng.IntN(nAPIs),
				rng.IntN(files), rng.IntN(nResources), rng.IntN(files), rng.IntN(nComponents))
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if err := fh.Close(); err != nil {
			t.Fatal(err)
		}
	}
	all := filepath.Join(dir, "all.yaml")
	loc := "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata:\n  name: generated-org\nspec:\n  targets:\n    - " + strings.Join(targets, "\n    - ") + "\n"
	if err := os.WriteFile(all, []byte(loc), 0o644); err != nil {
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
	if err := c.store.WarmQueryIndex(ctx); err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.Logf("RSS before building the store's query index %.0f MB (peak %.0f MB), after %.0f MB; live heap %.0f MB",
		before, peakBefore, rss(), float64(ms.HeapInuse)/(1<<20))
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
