package main_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/paved-dev/paved/internal/testsvc"
)

// TestCatalogReplicas runs two `paved serve` replicas on one PostgreSQL database with a
// catalog location in their configuration, registers another location and refreshes it
// through the replica that does not lead, and reads the entities and their relations
// through both.
func TestCatalogReplicas(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	org := write("org.yaml", `apiVersion: backstage.io/v1alpha1
kind: Group
metadata:
  name: payments
spec:
  type: team
  children: []
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata:
  name: ada
spec:
  memberOf: [payments]
`)
	services := write("services.yaml", `apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: ledger
  description: first
spec:
  type: service
  lifecycle: production
  owner: payments
  providesApis: [ledger-api]
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: checkout
spec:
  type: service
  lifecycle: production
  owner: group:payments
  dependsOn: [component:ledger]
  consumesApis: [ledger-api]
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata:
  name: ledger-api
spec:
  type: openapi
  lifecycle: production
  owner: payments
  definition: "openapi: 3.0.0"
`)
	cfg := write("paved.yaml", fmt.Sprintf("catalog:\n  locations:\n    - type: file\n      target: %s\n  fileRoots:\n    - %s\n", org, dir))

	dbURL := testsvc.Postgres(t)
	token := "pvd_e2e_catalog_token_0123456789abcdef0123456789abcdef"
	env := []string{"PAVED_DATABASE=" + dbURL, "PAVED_ADMIN_TOKEN=" + token, "PAVED_CONFIG=" + cfg}
	reps := []*serveProc{startServe(t, bin, "", env), startServe(t, bin, "", env)}

	// Which one leads? Its log says so.
	leader := -1
	for deadline := time.Now().Add(30 * time.Second); leader < 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no replica became leader")
		}
		for i, r := range reps {
			if strings.Contains(r.logs.String(), "became leader") {
				leader = i
			}
		}
	}
	lead, follow := reps[leader], reps[1-leader]

	do := func(p *serveProc, method, path string, body any) (int, []byte) {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = strings.NewReader(string(b))
		}
		req, _ := http.NewRequest(method, "http://"+p.addr+"/api/catalog"+path, rd)
		req.Header.Set("Authorization", "Bearer "+token)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	type entity struct {
		Kind     string `json:"kind"`
		Metadata struct {
			Name        string `json:"name"`
			Description string `json:"description"`
		} `json:"metadata"`
		Relations []struct {
			Type      string `json:"type"`
			TargetRef string `json:"targetRef"`
		} `json:"relations"`
	}
	relations := func(p *serveProc, kind, name string) ([]string, entity) {
		t.Helper()
		code, b := do(p, "GET", "/entities/by-name/"+kind+"/default/"+name, nil)
		if code != http.StatusOK {
			return nil, entity{}
		}
		var e entity
		if err := json.Unmarshal(b, &e); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		var out []string
		for _, r := range e.Relations {
			out = append(out, r.Type+" "+r.TargetRef)
		}
		return out, e
	}
	waitFor := func(what string, cond func() (bool, string)) {
		t.Helper()
		var last string
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			ok, msg := cond()
			if ok {
				return
			}
			last = msg
		}
		t.Fatalf("timed out waiting until %s: %s", what, last)
	}
	has := func(p *serveProc, kind, name string, want ...string) func() (bool, string) {
		return func() (bool, string) {
			got, _ := relations(p, kind, name)
			for _, w := range want {
				if !slices.Contains(got, w) {
					return false, fmt.Sprintf("%s %s relations %v", kind, name, got)
				}
			}
			return true, ""
		}
	}

	// The configured location, registered by both replicas as they started, is one
	// location, read by the leader.
	waitFor("the configured location is read", has(follow, "group", "payments", "hasMember user:default/ada"))
	for _, p := range reps {
		code, b := do(p, "GET", "/locations", nil)
		if code != http.StatusOK || strings.Count(string(b), `"target"`) != 1 {
			t.Fatalf("GET /locations: %d %s, want the configured location once", code, b)
		}
	}

	// Register a location through the follower: the answer lists its entities, and as
	// soon as it comes, both replicas serve them with their relations in both directions.
	code, b := do(follow, "POST", "/locations", map[string]string{"type": "file", "target": services})
	if code != http.StatusCreated {
		t.Fatalf("POST /locations on the follower: %d %s", code, b)
	}
	var created struct {
		Location struct{ ID, Target string }
		Entities []entity
	}
	if err := json.Unmarshal(b, &created); err != nil || len(created.Entities) != 4 || created.Location.Target != services {
		t.Fatalf("POST /locations on the follower answered %s (%v), want the location and its 4 entities", b, err)
	}
	for _, p := range []*serveProc{lead, follow} {
		for _, c := range []struct {
			kind, name string
			want       []string
		}{
			{"component", "ledger", []string{"ownedBy group:default/payments", "providesApi api:default/ledger-api", "dependencyOf component:default/checkout"}},
			{"component", "checkout", []string{"ownedBy group:default/payments", "dependsOn component:default/ledger", "consumesApi api:default/ledger-api"}},
			{"api", "ledger-api", []string{"ownedBy group:default/payments", "apiProvidedBy component:default/ledger", "apiConsumedBy component:default/checkout"}},
		} {
			if ok, msg := has(p, c.kind, c.name, c.want...)(); !ok {
				t.Errorf("right after POST /locations returned, on the %s: %s", map[bool]string{true: "leader", false: "follower"}[p == lead], msg)
			}
		}
		// The group was stored before: the stitcher adds what now points at it.
		waitFor("the group owns the new entities", has(p, "group", "payments",
			"ownerOf component:default/ledger", "ownerOf component:default/checkout", "ownerOf api:default/ledger-api", "hasMember user:default/ada"))
	}
	for _, p := range reps {
		code, b := do(p, "GET", "/entities/by-query?filter=kind=component&fields=metadata.name", nil)
		if code != http.StatusOK || !strings.Contains(string(b), `"totalItems":2`) {
			t.Errorf("by-query on %s: %d %s", p.addr, code, b)
		}
		code, b = do(p, "GET", "/entity-facets?facet=relations.ownedBy", nil)
		if code != http.StatusOK || !strings.Contains(string(b), `{"value":"group:default/payments","count":3}`) {
			t.Errorf("facets on %s: %d %s", p.addr, code, b)
		}
	}

	// A changed file, refreshed through the follower, reads changed on the leader as soon
	// as the call returns.
	content, _ := os.ReadFile(services)
	write("services.yaml", strings.Replace(strings.Replace(string(content), "description: first", "description: second", 1),
		"  dependsOn: [component:ledger]\n", "", 1))
	if code, b := do(follow, "POST", "/refresh", map[string]string{"entityRef": "component:default/checkout"}); code != http.StatusOK {
		t.Fatalf("POST /refresh on the follower: %d %s", code, b)
	}
	rels, e := relations(lead, "component", "ledger")
	if e.Metadata.Description != "second" || slices.Contains(rels, "dependencyOf component:default/checkout") {
		t.Errorf("ledger on the leader right after the refresh: %q %v", e.Metadata.Description, rels)
	}
	if rels, _ := relations(follow, "component", "checkout"); slices.Contains(rels, "dependsOn component:default/ledger") {
		t.Errorf("checkout on the follower right after the refresh: %v", rels)
	}

	// Unregistering through the follower removes the entities from both.
	if code, b := do(follow, "DELETE", "/locations/"+created.Location.ID, nil); code != http.StatusNoContent {
		t.Fatalf("DELETE /locations on the follower: %d %s", code, b)
	}
	for _, p := range reps {
		if code, _ := do(p, "GET", "/entities/by-name/component/default/ledger", nil); code != http.StatusNotFound {
			t.Errorf("ledger after DELETE /locations: %d on %s", code, p.addr)
		}
	}
	waitFor("the group no longer owns them", func() (bool, string) {
		got, _ := relations(lead, "group", "payments")
		return slices.Equal(got, []string{"hasMember user:default/ada"}), fmt.Sprint(got)
	})
	if strings.Contains(follow.logs.String(), "level=ERROR") {
		t.Errorf("the follower logged errors:\n%s", follow.logs.String())
	}
}
