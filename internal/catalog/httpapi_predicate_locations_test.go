package catalog

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

type testLocation struct {
	ID, Type, Target, EntityRef string
}

type testLocationsQuery struct {
	Items      []testLocation
	TotalItems int
	PageInfo   struct{ NextCursor string }
}

// registerFiles registers one file location per name (below dir) and returns their ids.
func registerFiles(t *testing.T, s *apiServer, dir string, names ...string) []string {
	t.Helper()
	var ids []string
	for _, n := range names {
		r := s.do(t, http.MethodPost, "/api/catalog/locations", map[string]string{"type": "file", "target": filepath.Join(dir, n)})
		var c struct{ Location testLocation }
		r.json(t, &c)
		if r.Code != http.StatusCreated || c.Location.ID == "" {
			t.Fatalf("register %s: %d %s", n, r.Code, r.Body)
		}
		ids = append(ids, c.Location.ID)
	}
	return ids
}

func TestAPILocationsByQuery(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"a.yaml":     componentYAML("loc-a"),
		"b.yaml":     componentYAML("loc-b"),
		"sub/c.yaml": componentYAML("loc-c"),
	})
	s := newAPIServer(t, apiServerOptions{noCorpus: true, fileRoots: []string{dir}})
	ids := registerFiles(t, s, dir, "a.yaml", "b.yaml", "sub/c.yaml")
	byTarget := map[string]string{}
	for i, n := range []string{"a.yaml", "b.yaml", "sub/c.yaml"} {
		byTarget[ids[i]] = n
	}
	names := func(items []testLocation) []string {
		var out []string
		for _, l := range items {
			out = append(out, byTarget[l.ID])
		}
		slices.Sort(out)
		return out
	}
	query := func(t *testing.T, body any) (testLocationsQuery, apiResponse) {
		t.Helper()
		r := s.do(t, http.MethodPost, "/api/catalog/locations/by-query", body)
		var q testLocationsQuery
		if r.Code == http.StatusOK {
			r.json(t, &q)
		}
		return q, r
	}
	entityRef := "location:default/" + generatedName(target{Type: "file", Target: filepath.Join(dir, "a.yaml")})
	for _, tc := range []struct {
		name string
		body any
		want []string
	}{
		{"everything", `{}`, []string{"a.yaml", "b.yaml", "sub/c.yaml"}},
		{"no body", nil, []string{"a.yaml", "b.yaml", "sub/c.yaml"}},
		{"type, ignoring case", `{"query": {"TYPE": "FILE"}}`, []string{"a.yaml", "b.yaml", "sub/c.yaml"}},
		{"target prefix, ignoring case", map[string]any{"query": map[string]any{"target": map[string]any{"$hasPrefix": strings.ToUpper(filepath.Join(dir, "sub"))}}}, []string{"sub/c.yaml"}},
		{"id equality ignores case", map[string]any{"query": map[string]any{"id": strings.ToUpper(ids[1])}}, []string{"b.yaml"}},
		{"id $in is exact", map[string]any{"query": map[string]any{"id": map[string]any{"$in": []string{ids[0], strings.ToUpper(ids[1])}}}}, []string{"a.yaml"}},
		{"entityRef", map[string]any{"query": map[string]any{"entityRef": entityRef}}, []string{"a.yaml"}},
		{"$not and $any", map[string]any{"query": map[string]any{"$not": map[string]any{"$any": []any{
			map[string]any{"target": filepath.Join(dir, "a.yaml")}, map[string]any{"target": filepath.Join(dir, "b.yaml")}}}}}, []string{"sub/c.yaml"}},
		{"$exists", `{"query": {"target": {"$exists": true}}}`, []string{"a.yaml", "b.yaml", "sub/c.yaml"}},
		{"$exists false", `{"query": {"target": {"$exists": false}}}`, nil},
		{"$contains matches nothing", `{"query": {"target": {"$contains": "a"}}}`, nil},
		{"$in of nothing", `{"query": {"type": {"$in": []}}}`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, r := query(t, tc.body)
			if r.Code != http.StatusOK {
				t.Fatalf("%d %s", r.Code, r.Body)
			}
			if got := names(q.Items); !slices.Equal(got, tc.want) || q.TotalItems != len(tc.want) || q.PageInfo.NextCursor != "" {
				t.Errorf("got %v (total %d), want %v: %s", got, q.TotalItems, tc.want, r.Body)
			}
			if !slices.IsSortedFunc(q.Items, func(a, b testLocation) int { return strings.Compare(a.ID, b.ID) }) {
				t.Errorf("not in id order: %s", r.Body)
			}
			for _, l := range q.Items {
				if l.EntityRef != "location:default/"+generatedName(target{Type: l.Type, Target: l.Target}) {
					t.Errorf("entityRef %s", l.EntityRef)
				}
			}
		})
	}

	// Paging: the cursor keeps the query and the page size.
	q, r := query(t, `{"limit": 1, "query": {"$not": {"target": {"$hasPrefix": "/nowhere"}}}}`)
	if r.Code != http.StatusOK || len(q.Items) != 1 || q.TotalItems != 3 || q.PageInfo.NextCursor == "" {
		t.Fatalf("first page: %d %s", r.Code, r.Body)
	}
	raw, _ := base64.StdEncoding.DecodeString(q.PageInfo.NextCursor)
	var c map[string]any
	if err := json.Unmarshal(raw, &c); err != nil || c["query"] == nil || c["limit"] != float64(1) || c["afterId"] != q.Items[0].ID {
		t.Errorf("cursor %s", raw)
	}
	seen := []testLocation{q.Items[0]}
	for q.PageInfo.NextCursor != "" {
		if q, r = query(t, map[string]string{"cursor": q.PageInfo.NextCursor}); r.Code != http.StatusOK || len(q.Items) != 1 || q.TotalItems != 3 {
			t.Fatalf("next page: %d %s", r.Code, r.Body)
		}
		seen = append(seen, q.Items...)
	}
	if got := names(seen); !slices.Equal(got, []string{"a.yaml", "b.yaml", "sub/c.yaml"}) {
		t.Errorf("pages: %v", got)
	}

	// GET and DELETE of /locations/by-query are /locations/:id, as in Backstage.
	if r := s.get(t, "/api/catalog/locations/by-query"); r.Code != http.StatusNotFound {
		t.Errorf("GET by-query: %d %s", r.Code, r.Body)
	}
	if r := s.do(t, http.MethodPatch, "/api/catalog/locations/by-query", `{}`); r.Code != http.StatusMethodNotAllowed || r.Header.Get("Allow") != "DELETE, GET, POST, PUT" {
		t.Errorf("PATCH by-query: %d Allow %q", r.Code, r.Header.Get("Allow"))
	}

	for _, tc := range []struct {
		name string
		body string
		msg  string
	}{
		{"an entity field", `{"query": {"kind": "component"}}`, "expected the field to be 'id', 'type', 'target', or 'entityRef', got 'kind'"},
		{"a nested unknown field", `{"query": {"$all": [{"type": "file"}, {"spec.target": "x"}]}}`, "got 'spec.target'"},
		{"a malformed predicate", `{"query": {"type": {"$in": "file"}}}`, "$in: expected an array"},
		{"query not an object", `{"query": []}`, "expected an object"},
		{"limit 0", `{"limit": 0}`, "Limit must be a positive integer >= 1"},
		{"limit fractional", `{"limit": 1.5}`, "Limit must be a positive integer >= 1"},
		{"empty cursor", `{"cursor": ""}`, "Cursor cannot be empty"},
		{"cursor not base64", `{"cursor": "***"}`, "Malformed cursor"},
		{"cursor without a limit", `{"cursor": "` + base64.StdEncoding.EncodeToString([]byte(`{"afterId":"x"}`)) + `"}`, "Malformed cursor: limit"},
		{"cursor with a bad query", `{"cursor": "` + base64.StdEncoding.EncodeToString([]byte(`{"limit":1,"query":{"$x":1}}`)) + `"}`, `unknown operator "$x"`},
		{"malformed JSON", `{"query": `, "Malformed request body"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, r := query(t, tc.body)
			if r.Code != http.StatusBadRequest {
				t.Fatalf("%d %s", r.Code, r.Body)
			}
			if name, msg := r.backstageError(t); name != "InputError" || !strings.Contains(msg, tc.msg) {
				t.Errorf("%s %q, want InputError containing %q", name, msg, tc.msg)
			}
		})
	}
}

func TestAPIUpdateLocation(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"a.yaml": componentYAML("upd-a"),
		"b.yaml": componentYAML("upd-b"),
		"c.yaml": componentYAML("upd-c"),
	})
	s := newAPIServer(t, apiServerOptions{noCorpus: true, fileRoots: []string{dir}})
	ids := registerFiles(t, s, dir, "a.yaml", "c.yaml")
	exists := func(name string) bool {
		return s.get(t, "/api/catalog/entities/by-name/component/default/"+name).Code == http.StatusOK
	}
	if !exists("upd-a") || exists("upd-b") {
		t.Fatal("setup")
	}

	r := s.do(t, http.MethodPut, "/api/catalog/locations/"+ids[0], map[string]string{"type": "file", "target": filepath.Join(dir, "b.yaml")})
	var got testLocation
	r.json(t, &got)
	want := testLocation{ID: ids[0], Type: "file", Target: filepath.Join(dir, "b.yaml"),
		EntityRef: "location:default/" + generatedName(target{Type: "file", Target: filepath.Join(dir, "b.yaml")})}
	if r.Code != http.StatusOK || got != want {
		t.Fatalf("PUT: %d %s", r.Code, r.Body)
	}
	// What the new target yields replaces what the old one did.
	if exists("upd-a") || !exists("upd-b") {
		t.Errorf("after PUT: upd-a %v, upd-b %v", exists("upd-a"), exists("upd-b"))
	}
	r = s.get(t, "/api/catalog/locations/"+ids[0])
	got = testLocation{}
	r.json(t, &got)
	if got != want {
		t.Errorf("GET after PUT: %s", r.Body)
	}
	r = s.get(t, "/api/catalog/locations/by-entity/component/default/upd-b")
	got = testLocation{}
	r.json(t, &got)
	if got.ID != ids[0] {
		t.Errorf("by-entity after PUT: %s", r.Body)
	}
	// The same target again is fine.
	if r := s.do(t, http.MethodPut, "/api/catalog/locations/"+ids[0], map[string]string{"type": "file", "target": filepath.Join(dir, "b.yaml")}); r.Code != http.StatusOK {
		t.Errorf("PUT again: %d %s", r.Code, r.Body)
	}

	for _, tc := range []struct {
		name, id string
		body     any
		code     int
		errName  string
		msg      string
	}{
		{"another location's target", ids[0], map[string]string{"type": "file", "target": filepath.Join(dir, "c.yaml")}, 409, "ConflictError", "already exists"},
		{"unknown id", "no-such-id", map[string]string{"type": "file", "target": filepath.Join(dir, "a.yaml")}, 404, "NotFoundError", "Found no location with ID no-such-id"},
		{"a missing file", ids[0], map[string]string{"type": "file", "target": filepath.Join(dir, "nope.yaml")}, 404, "NotFoundError", "does not exist"},
		{"a file outside the roots", ids[0], map[string]string{"type": "file", "target": "/etc/hostname"}, 400, "InputError", "outside"},
		{"an unknown type", ids[0], map[string]string{"type": "git", "target": "x"}, 400, "InputError", "location type must be url or file"},
		{"another key", ids[0], `{"type": "file", "target": "x", "ref": "main"}`, 400, "InputError", `unrecognized key "ref"`},
		{"empty body", ids[0], `{}`, 400, "InputError", "Empty request body"},
		{"malformed JSON", ids[0], `{"type": "file",`, 400, "InputError", "Malformed request body"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.do(t, http.MethodPut, "/api/catalog/locations/"+tc.id, tc.body)
			if r.Code != tc.code {
				t.Fatalf("%d %s", r.Code, r.Body)
			}
			if name, msg := r.backstageError(t); name != tc.errName || !strings.Contains(msg, tc.msg) {
				t.Errorf("%s %q, want %s containing %q", name, msg, tc.errName, tc.msg)
			}
		})
	}
	if !exists("upd-b") || !exists("upd-c") {
		t.Error("a refused PUT changed the catalog")
	}
}

func TestAPICreateLocationOnConflict(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"a.yaml": componentYAML("conf-a")})
	s := newAPIServer(t, apiServerOptions{noCorpus: true, fileRoots: []string{dir}})
	loc := map[string]string{"type": "file", "target": filepath.Join(dir, "a.yaml")}
	ids := registerFiles(t, s, dir, "a.yaml")
	for _, q := range []string{"", "?onConflict=reject"} {
		if r := s.do(t, http.MethodPost, "/api/catalog/locations"+q, loc); r.Code != http.StatusConflict {
			t.Errorf("%q: %d %s", q, r.Code, r.Body)
		}
	}
	r := s.do(t, http.MethodPost, "/api/catalog/locations?onConflict=maybe", loc)
	if name, msg := r.backstageError(t); r.Code != http.StatusBadRequest || name != "InputError" || !strings.Contains(msg, "onConflict") {
		t.Errorf("bad onConflict: %d %s", r.Code, r.Body)
	}
	// refresh reads the registered location again at once.
	if err := os.WriteFile(filepath.Join(dir, "a.yaml"), []byte(componentYAML("conf-a")+"---\n"+componentYAML("conf-b")), 0o644); err != nil {
		t.Fatal(err)
	}
	r = s.do(t, http.MethodPost, "/api/catalog/locations?onConflict=refresh", loc)
	var c struct {
		Location testLocation
		Entities []testEntity
		Exists   *bool
	}
	r.json(t, &c)
	if r.Code != http.StatusCreated || c.Location.ID != ids[0] || c.Exists != nil {
		t.Fatalf("refresh: %d %s", r.Code, r.Body)
	}
	var names []string
	for _, e := range c.Entities {
		names = append(names, e.ref())
	}
	if !slices.Contains(names, "component:default/conf-b") {
		t.Errorf("refresh yielded %v", names)
	}
	if s.get(t, "/api/catalog/entities/by-name/component/default/conf-b").Code != http.StatusOK {
		t.Error("the refresh did not write conf-b")
	}
}
