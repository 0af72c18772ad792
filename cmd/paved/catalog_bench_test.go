package main_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/paved-dev/paved/internal/catalog/orggen"
)

// BenchmarkServeCatalog100k measures the catalog as users run it: the real `paved serve`
// binary (SQLite, embedded defaults) with a config whose catalog location yields 100,000
// generated entities (100 files of 1,000). It reports the time until every entity is
// visible through the Backstage API with its relations, the API's latencies at 100,000
// entities, a changed file visible after POST /refresh, and the server process's resident
// memory: sampled every 20 ms throughout and its peak (VmHWM) at the end. Run it as
//
//	go test -run '^$' -bench BenchmarkServeCatalog100k -benchtime 1x ./cmd/paved/
//
// The targets: ingest <= 60 s, two-field filter p99 <= 50 ms, facets and full text
// <= 100 ms, a changed file visible <= 1 s after the refresh call, RSS <= 500 MB throughout.
func BenchmarkServeCatalog100k(b *testing.B) {
	const want = 100_002 // 100,000 generated entities plus the two Location entities
	bin := buildBinary(b)
	dir := b.TempDir()
	all, owns, err := orggen.Write(dir, 100, 1000)
	if err != nil {
		b.Fatal(err)
	}
	cfg := filepath.Join(dir, "paved.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("catalog:\n  locations:\n    - type: file\n      target: %s\n  fileRoots:\n    - %s\n", all, dir)), 0o644); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	p := startServe(b, bin, "", nil, "--config", cfg)
	token := p.token(b)
	pid := p.cmd.Process.Pid

	// Sample the server's RSS for the whole run.
	var mu sync.Mutex
	var samples []float64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if v := procStatusMB(pid, "VmRSS:"); v > 0 {
					mu.Lock()
					samples = append(samples, v)
					mu.Unlock()
				}
			}
		}
	}()
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}()

	get := func(path string) []byte {
		req, _ := http.NewRequest(http.MethodGet, "http://"+p.addr+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			b.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
		}
		return body
	}
	post := func(path string, body any) {
		data, _ := json.Marshal(body)
		req, _ := http.NewRequest(http.MethodPost, "http://"+p.addr+path, bytes.NewReader(data))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		if resp.StatusCode/100 != 2 {
			b.Fatalf("POST %s: %d %s", path, resp.StatusCode, out)
		}
	}
	type entity struct {
		Metadata struct {
			Description string `json:"description"`
		} `json:"metadata"`
		Relations []struct {
			Type string `json:"type"`
		} `json:"relations"`
	}
	getEntity := func(ref string) entity {
		kind, rest, _ := strings.Cut(ref, ":")
		ns, name, _ := strings.Cut(rest, "/")
		var e entity
		if err := json.Unmarshal(get("/api/catalog/entities/by-name/"+kind+"/"+ns+"/"+name), &e); err != nil {
			b.Fatal(err)
		}
		return e
	}
	// Ingested: every entity visible, and the sampled groups list every entity they own
	// (the inverse relations are written last).
	groups := make([]string, 0, len(owns))
	for g := range owns {
		groups = append(groups, g)
	}
	slices.Sort(groups)
	sample := []string{groups[0], groups[len(groups)/2], groups[len(groups)-1]}
	deadline := time.Now().Add(5 * time.Minute)
	for {
		var page struct {
			TotalItems int `json:"totalItems"`
		}
		if err := json.Unmarshal(get("/api/catalog/entities/by-query?limit=1"), &page); err != nil {
			b.Fatal(err)
		}
		done := page.TotalItems == want
		for _, g := range sample {
			if !done {
				break
			}
			n := 0
			for _, r := range getEntity(g).Relations {
				if r.Type == "ownerOf" {
					n++
				}
			}
			done = n == owns[g]
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("after 5 minutes %d of %d entities", page.TotalItems, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
	ingest := time.Since(start)
	b.ReportMetric(ingest.Seconds(), "ingest-s")

	measure := func(name string, n int, path func(i int) string) {
		lat := make([]time.Duration, 0, n)
		for i := 0; i < n; i++ {
			t0 := time.Now()
			get(path(i))
			lat = append(lat, time.Since(t0))
		}
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, name+"-p99-ms")
	}
	measure("two-field", 200, func(int) string {
		return "/api/catalog/entities/by-query?filter=kind=component,spec.type=service&limit=20"
	})
	measure("facets", 200, func(int) string { return "/api/catalog/entity-facets?facet=kind&facet=spec.type" })
	terms := []string{"payments", "component-012", "team 4", "api-042-1", "resource-9"}
	measure("full-text", 200, func(i int) string {
		return "/api/catalog/entities/by-query?limit=20&fullTextFilterFields=metadata.name,metadata.title&fullTextFilterTerm=" + url.QueryEscape(terms[i%len(terms)])
	})

	// A changed file, visible after POST /refresh for an entity of that file.
	var worst time.Duration
	for i := 0; i < 20; i++ {
		f := i * 5
		file := filepath.Join(dir, "files", fmt.Sprintf("file-%03d.yaml", f))
		data, err := os.ReadFile(file)
		if err != nil {
			b.Fatal(err)
		}
		old := fmt.Sprintf("description: Microservice 7 of file %d, running on AKS", f)
		desc := fmt.Sprintf("changed %d", i)
		if !bytes.Contains(data, []byte(old)) {
			b.Fatalf("%s does not contain %q", file, old)
		}
		if err := os.WriteFile(file, bytes.Replace(data, []byte(old), []byte("description: "+desc), 1), 0o644); err != nil {
			b.Fatal(err)
		}
		ref := fmt.Sprintf("component:default/component-%03d-007", f)
		t0 := time.Now()
		post("/api/catalog/refresh", map[string]string{"entityRef": ref})
		for getEntity(ref).Metadata.Description != desc {
			if time.Since(t0) > 10*time.Second {
				b.Fatalf("%s not changed after 10 s", ref)
			}
			time.Sleep(5 * time.Millisecond)
		}
		worst = max(worst, time.Since(t0))
	}
	b.ReportMetric(float64(worst.Microseconds())/1000, "refresh-max-ms")

	close(stop)
	wg.Wait()
	mu.Lock()
	maxSample := slices.Max(samples)
	mu.Unlock()
	b.ReportMetric(maxSample, "rss-max-sampled-MB")
	b.ReportMetric(procStatusMB(pid, "VmHWM:"), "peak-RSS-MB")
	b.ReportMetric(procStatusMB(pid, "VmRSS:"), "end-RSS-MB")

	// A restart on the same data: the store is there; the query index, the relation index
	// and the garbage collector's sweep each read every entity from it. (The location is
	// read again only when its refresh is due.)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		b.Fatal(err)
	}
	err = <-p.done
	p.done <- err // for startServe's cleanup
	start = time.Now()
	p2 := startServe(b, bin, p.data, nil, "--config", cfg)
	p = p2
	var page struct {
		TotalItems int `json:"totalItems"`
	}
	if err := json.Unmarshal(get("/api/catalog/entities/by-query?limit=1&filter=kind=component,spec.type=service"), &page); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(time.Since(start).Milliseconds()), "restart-first-query-ms")
	time.Sleep(10 * time.Second) // whatever the start does after the first query
	b.ReportMetric(procStatusMB(p2.cmd.Process.Pid, "VmHWM:"), "restart-peak-RSS-MB")
	b.ReportMetric(0, "ns/op")
}

// procStatusMB reads one memory field of a process's /proc status, in MB (0 if unreadable).
func procStatusMB(pid int, field string) float64 {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, field) {
			f := strings.Fields(line)
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}
