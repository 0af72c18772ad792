package catalog

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/paved-dev/paved/api"
	"github.com/paved-dev/paved/internal/apiserver"
	"github.com/paved-dev/paved/internal/auth"
	"github.com/paved-dev/paved/internal/catalog/entity"
	"github.com/paved-dev/paved/internal/kinds"
	"github.com/paved-dev/paved/internal/store"
)

const apiTestToken = "catalog-api-test-token"

// apiServer is a real paved API (apiserver with the catalog handler mounted, over a
// SQLite store) for tests of the catalog API.
type apiServer struct {
	URL   string
	Cat   *Catalog
	Store *store.Store
}

type apiServerOptions struct {
	backend       string // "" (SQLite) or "postgres"
	anonymousRead bool
	noCorpus      bool
	fileRoots     []string
}

func newAPIServer(t testing.TB, o apiServerOptions) *apiServer {
	t.Helper()
	be := openBackend(t, o.backend)
	quiet := slog.New(slog.DiscardHandler)
	st := store.New(be, kinds.NewRegistry(), store.Options{Logger: quiet})
	cat, err := New(st, Options{Logger: quiet, FileRoots: o.fileRoots})
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := auth.NewAdmin(apiTestToken)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := apiserver.New(apiserver.Options{Store: st, Auth: tokens, Logger: quiet, AnonymousRead: o.anonymousRead})
	if err != nil {
		t.Fatal(err)
	}
	srv.Handle(APIPrefix+"/", cat.Handler())
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		srv.Close()
		hs.Close()
		st.Close()
	})
	s := &apiServer{URL: hs.URL, Cat: cat, Store: st}
	if !o.noCorpus {
		s.loadCorpus(t)
	}
	return s
}

// apiCorpusDir is the Backstage example corpus beside the repository.
func apiCorpusDir(t testing.TB) string {
	t.Helper()
	dir := filepath.Join("..", "..", "..", "shared", "conformance", "backstage-catalog")
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("the conformance corpus is missing (expected beside the repository, as ../shared): %v", err)
	}
	return dir
}

// loadCorpus writes every valid entity of the corpus through the store, with the
// relations its fields imply in both directions (what the stitcher would add) and a
// managed-by-location annotation naming its file.
func (s *apiServer) loadCorpus(t testing.TB) {
	t.Helper()
	dir := apiCorpusDir(t)
	abs, _ := filepath.Abs(dir)
	var ents []*entity.Entity
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".oas.yaml") {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		for _, doc := range entity.ParseDocuments(data) {
			if doc.Err != nil {
				t.Fatalf("%s: %v", p, doc.Err)
			}
			e := doc.Entity
			for k, v := range e.Spec {
				if m, ok := v.(map[string]any); ok && len(m) == 1 {
					for pk := range m {
						if strings.HasPrefix(pk, "$") {
							e.Spec[k] = "resolved " + pk // as the location reader would
						}
					}
				}
			}
			if e.Metadata.Annotations == nil {
				e.Metadata.Annotations = map[string]string{}
			}
			e.Metadata.Annotations[entity.AnnotationManagedByLocation] = "file:" + filepath.Join(abs, rel)
			e.Metadata.Annotations[entity.AnnotationManagedByOriginLocation] = "file:" + filepath.Join(abs, "all.yaml")
			ents = append(ents, e)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	byRef := map[string]*entity.Entity{}
	for _, e := range ents {
		byRef[e.Ref().String()] = e
	}
	model := Model()
	for _, e := range ents {
		rels, _ := model.Relations(e)
		for _, r := range rels {
			e.Relations = append(e.Relations, entity.Relation{Type: r.Type, TargetRef: r.TargetRef})
			if tgt, ok := byRef[r.TargetRef]; ok && entity.Inverse(r.Type) != "" {
				tgt.Relations = append(tgt.Relations, entity.Relation{Type: entity.Inverse(r.Type), TargetRef: e.Ref().String()})
			}
		}
	}
	var objs []*api.Object
	for _, e := range ents {
		e.Relations = entity.SortRelations(e.Relations)
		o, err := ToObject(e)
		if err != nil {
			t.Fatal(err)
		}
		objs = append(objs, o)
	}
	_, errs := s.Store.CreateMany(context.Background(), objs)
	for i, err := range errs {
		if err != nil && objs[i].Metadata.Name != "invalid component" {
			t.Fatalf("create %s %s: %v", objs[i].Kind, objs[i].Metadata.Name, err)
		}
	}
}

// corpusCounts are the facts of EXPECTED.md for the 67 valid corpus entities.
var corpusCounts = map[string]int{"user": 17, "component": 13, "api": 10, "group": 9, "location": 9,
	"domain": 3, "system": 3, "airesource": 2, "resource": 1}

const corpusTotal = 67

type apiResponse struct {
	Code   int
	Header http.Header
	Body   []byte
}

func (r apiResponse) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

// backstageError decodes and checks an error answer's shape.
func (r apiResponse) backstageError(t testing.TB) (name, message string) {
	t.Helper()
	var b struct {
		Error    *struct{ Name, Message string } `json:"error"`
		Request  *struct{ Method, URL string }   `json:"request"`
		Response *struct {
			StatusCode int `json:"statusCode"`
		} `json:"response"`
	}
	r.json(t, &b)
	if b.Error == nil || b.Request == nil || b.Response == nil || b.Error.Name == "" || b.Error.Message == "" ||
		b.Request.Method == "" || b.Request.URL == "" || b.Response.StatusCode != r.Code {
		t.Fatalf("error body %s is not Backstage's {error:{name,message},request:{method,url},response:{statusCode}}", r.Body)
	}
	return b.Error.Name, b.Error.Message
}

func (s *apiServer) do(t testing.TB, method, path string, body any, hdr ...string) apiResponse {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+apiTestToken)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return apiResponse{Code: resp.StatusCode, Header: resp.Header, Body: data}
}

func (s *apiServer) get(t testing.TB, path string) apiResponse {
	t.Helper()
	return s.do(t, http.MethodGet, path, nil)
}

type testEntity struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name        string            `json:"name"`
		Namespace   string            `json:"namespace"`
		UID         string            `json:"uid"`
		Etag        string            `json:"etag"`
		Tags        []string          `json:"tags"`
		Annotations map[string]string `json:"annotations"`
	} `json:"metadata"`
	Spec      map[string]any `json:"spec"`
	Relations []struct {
		Type      string          `json:"type"`
		TargetRef string          `json:"targetRef"`
		Target    *map[string]any `json:"target"`
	} `json:"relations"`
}

func (e testEntity) ref() string {
	return entity.CompoundRef{Kind: e.Kind, Namespace: e.Metadata.Namespace, Name: e.Metadata.Name}.String()
}

type testQueryResponse struct {
	Items      []testEntity `json:"items"`
	TotalItems int          `json:"totalItems"`
	PageInfo   struct {
		NextCursor string `json:"nextCursor"`
		PrevCursor string `json:"prevCursor"`
	} `json:"pageInfo"`
}

func refs(items []testEntity) []string {
	out := make([]string, len(items))
	for i, e := range items {
		out[i] = e.ref()
	}
	return out
}

func TestAPIQueryEntities(t *testing.T) { forEachBackend(t, testAPIQueryEntities) }

func testAPIQueryEntities(t *testing.T, backend string) {
	s := newAPIServer(t, apiServerOptions{backend: backend})
	cases := []struct {
		name  string
		query string
		total int
		check func(t *testing.T, r testQueryResponse)
	}{
		{name: "everything", query: "", total: corpusTotal},
		{name: "one kind", query: "filter=kind=component", total: 13},
		{name: "case-insensitive keys and values", query: "filter=KIND=Component", total: 13},
		{name: "two fields", query: "filter=kind=component,spec.type=service", total: 10},
		{name: "repeated filters are OR", query: "filter=kind=user&filter=kind=group", total: 26},
		{name: "repeated key is any of its values", query: "filter=kind=user,kind=group", total: 26},
		{name: "existence", query: "filter=kind=group,spec.profile.email", total: 8},
		{name: "array item", query: "filter=metadata.tags.java", total: 3},
		{name: "array item with value true", query: "filter=metadata.tags.java=true", total: 3},
		{name: "array value", query: "filter=metadata.tags=java", total: 3},
		{name: "relation", query: "filter=relations.ownedby=group:default/team-c", total: 8},
		{name: "inverse relation", query: "filter=relations.hasmember=user:default/breanna.davison", total: 1},
		{name: "no match", query: "filter=kind=nothing", total: 0},
		{name: "spaces are trimmed", query: "filter=" + url.QueryEscape(" kind = component , spec.type = website "), total: 2},
		{name: "empty filter is ignored", query: "filter=&filter=kind=domain", total: 3},
		{name: "limit", query: "filter=kind=user&limit=5", total: 17, check: func(t *testing.T, r testQueryResponse) {
			if len(r.Items) != 5 || r.PageInfo.NextCursor == "" || r.PageInfo.PrevCursor != "" {
				t.Errorf("items %d, pageInfo %+v", len(r.Items), r.PageInfo)
			}
		}},
		{name: "limit zero counts", query: "filter=kind=user&limit=0", total: 17, check: func(t *testing.T, r testQueryResponse) {
			if len(r.Items) != 0 || r.PageInfo.NextCursor != "" {
				t.Errorf("items %d, pageInfo %+v", len(r.Items), r.PageInfo)
			}
		}},
		{name: "offset", query: "filter=kind=system&offset=2", total: 3, check: func(t *testing.T, r testQueryResponse) {
			if got := refs(r.Items); !slices.Equal(got, []string{"system:default/podcast"}) {
				t.Errorf("got %v", got)
			}
		}},
		{name: "default order is the entity ref", query: "filter=kind=domain&filter=kind=system", total: 6, check: func(t *testing.T, r testQueryResponse) {
			want := []string{"domain:default/artists", "domain:default/audio", "domain:default/playback",
				"system:default/artist-engagement-portal", "system:default/audio-playback", "system:default/podcast"}
			if got := refs(r.Items); !slices.Equal(got, want) {
				t.Errorf("got %v", got)
			}
		}},
		{name: "order descending", query: "filter=kind=system&orderField=metadata.name,desc", total: 3, check: func(t *testing.T, r testQueryResponse) {
			want := []string{"system:default/podcast", "system:default/audio-playback", "system:default/artist-engagement-portal"}
			if got := refs(r.Items); !slices.Equal(got, want) {
				t.Errorf("got %v", got)
			}
		}},
		{name: "order without direction is ascending", query: "filter=kind=system&orderField=metadata.name", total: 3, check: func(t *testing.T, r testQueryResponse) {
			if r.Items[0].Metadata.Name != "artist-engagement-portal" {
				t.Errorf("got %v", refs(r.Items))
			}
		}},
		{name: "order puts missing values last", query: "filter=kind=component&orderField=spec.subcomponentof,asc&limit=1", total: 13, check: func(t *testing.T, r testQueryResponse) {
			if r.Items[0].Spec["subcomponentOf"] == nil {
				t.Errorf("first item %s has no spec.subcomponentOf", r.Items[0].ref())
			}
		}},
		{name: "full text on given fields", query: "fullTextFilterTerm=WAYBACK&fullTextFilterFields=metadata.name", total: 6},
		{name: "full text on the order field", query: "filter=kind=component&fullTextFilterTerm=archive&orderField=metadata.name,asc", total: 3},
		{name: "full text defaults to metadata.uid", query: "fullTextFilterTerm=wayback", total: 0},
		{name: "blank full text is no filter", query: "fullTextFilterTerm=%20%20&filter=kind=domain", total: 3},
		{name: "totalItems excluded", query: "filter=kind=user&totalItems=exclude&limit=2", total: 0, check: func(t *testing.T, r testQueryResponse) {
			if len(r.Items) != 2 || r.PageInfo.NextCursor == "" {
				t.Errorf("items %d, pageInfo %+v", len(r.Items), r.PageInfo)
			}
		}},
		{name: "huge limit is served in pages", query: "limit=1000000", total: corpusTotal, check: func(t *testing.T, r testQueryResponse) {
			if len(r.Items) != corpusTotal {
				t.Errorf("items %d", len(r.Items))
			}
		}},
		{name: "fields", query: "filter=kind=system&fields=kind,metadata.name&limit=1", total: 3, check: func(t *testing.T, r testQueryResponse) {
			if r.Items[0].Metadata.UID != "" || r.Items[0].Spec != nil || r.Items[0].Metadata.Name == "" || r.Items[0].Kind != "System" {
				t.Errorf("projection kept %+v", r.Items[0])
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := s.get(t, "/api/catalog/entities/by-query?"+tc.query)
			if r.Code != http.StatusOK {
				t.Fatalf("%d %s", r.Code, r.Body)
			}
			var qr testQueryResponse
			r.json(t, &qr)
			if qr.TotalItems != tc.total {
				t.Errorf("totalItems %d, want %d", qr.TotalItems, tc.total)
			}
			if tc.check != nil {
				tc.check(t, qr)
			} else if len(qr.Items) != tc.total {
				t.Errorf("%d items, want %d: %v", len(qr.Items), tc.total, refs(qr.Items))
			}
		})
	}
}

func TestAPIQueryEntitiesCursorPaging(t *testing.T) {
	s := newAPIServer(t, apiServerOptions{})
	for _, q := range []string{
		"limit=7",
		"limit=7&orderField=metadata.name,asc",
		"limit=4&orderField=spec.type,desc",
		"limit=3&filter=kind=user&filter=kind=group&orderField=metadata.namespace",
		"limit=5&fullTextFilterTerm=a&fullTextFilterFields=metadata.name,spec.type",
	} {
		t.Run(q, func(t *testing.T) {
			r := s.get(t, "/api/catalog/entities/by-query?"+q)
			var first testQueryResponse
			r.json(t, &first)
			seen := map[string]bool{}
			pages := []testQueryResponse{first}
			cur := first
			for cur.PageInfo.NextCursor != "" {
				if len(pages) > 100 {
					t.Fatal("too many pages")
				}
				r := s.get(t, "/api/catalog/entities/by-query?cursor="+url.QueryEscape(cur.PageInfo.NextCursor))
				if r.Code != http.StatusOK {
					t.Fatalf("%d %s", r.Code, r.Body)
				}
				cur = testQueryResponse{}
				r.json(t, &cur)
				if cur.TotalItems != first.TotalItems {
					t.Errorf("page %d: totalItems %d, first page said %d", len(pages), cur.TotalItems, first.TotalItems)
				}
				if cur.PageInfo.PrevCursor == "" {
					t.Errorf("page %d has no prevCursor", len(pages))
				}
				pages = append(pages, cur)
			}
			n := 0
			for _, p := range pages {
				for _, e := range p.Items {
					if seen[e.ref()] {
						t.Errorf("%s returned twice", e.ref())
					}
					seen[e.ref()] = true
					n++
				}
			}
			if n != first.TotalItems || n == 0 {
				t.Errorf("paged through %d entities, totalItems %d", n, first.TotalItems)
			}
			// prevCursor of the last page leads back to the page before it.
			if len(pages) > 2 {
				last := pages[len(pages)-1]
				r := s.get(t, "/api/catalog/entities/by-query?cursor="+url.QueryEscape(last.PageInfo.PrevCursor))
				var prev testQueryResponse
				r.json(t, &prev)
				if !slices.Equal(refs(prev.Items), refs(pages[len(pages)-2].Items)) {
					t.Errorf("prevCursor gave %v, want %v", refs(prev.Items), refs(pages[len(pages)-2].Items))
				}
			}
		})
	}
}

func TestAPIQueryEntitiesBadInput(t *testing.T) {
	s := newAPIServer(t, apiServerOptions{noCorpus: true})
	enc := func(v string) string { return url.QueryEscape(base64.StdEncoding.EncodeToString([]byte(v))) }
	cases := []struct{ name, query, msg string }{
		{"filter without key", "filter=%3Dvalue", "Invalid filter"},
		{"filter statement without key", "filter=kind=a,%3Db", "Invalid filter"},
		{"limit not a number", "limit=ten", "Invalid limit"},
		{"limit with leading zero", "limit=05", "Invalid limit"},
		{"limit with a plus", "limit=%2B5", "Invalid limit"},
		{"limit negative", "limit=-1", "Invalid limit"},
		{"limit overflowing", "limit=99999999999999999999", "Invalid limit"},
		{"limit repeated", "limit=1&limit=2", "Invalid limit"},
		{"offset negative", "offset=-5", "Invalid offset"},
		{"cursor not base64", "cursor=%25%25%25", "Malformed cursor"},
		{"cursor not JSON", "cursor=" + enc("nope"), "Malformed cursor"},
		{"cursor with unknown keys", "cursor=" + enc(`{"orderFields":[],"offset":0,"isPrevious":false,"evil":1}`), "Malformed cursor"},
		{"cursor with negative offset", "cursor=" + enc(`{"orderFields":[],"offset":-3,"isPrevious":false}`), "Malformed cursor"},
		{"cursor with bad order", "cursor=" + enc(`{"orderFields":[{"field":"x","order":"sideways"}],"offset":0,"isPrevious":false}`), "Malformed cursor"},
		{"cursor with bad filter", "cursor=" + enc(`{"filter":[[{"key":""}]],"orderFields":[],"offset":0,"isPrevious":false}`), "Malformed cursor"},
		{"order direction", "orderField=metadata.name,up", "Invalid order field order"},
		{"order empty direction", "orderField=metadata.name,", "Invalid order field order"},
		{"array fields", "fields=metadata.links[0]", "array type fields"},
		{"totalItems", "totalItems=maybe", "Invalid totalItems"},
		{"full text repeated", "fullTextFilterTerm=a&fullTextFilterTerm=b", "Invalid fullTextFilterTerm"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := s.get(t, "/api/catalog/entities/by-query?"+tc.query)
			if r.Code != http.StatusBadRequest {
				t.Fatalf("%d %s", r.Code, r.Body)
			}
			name, msg := r.backstageError(t)
			if name != "InputError" || !strings.Contains(msg, tc.msg) {
				t.Errorf("%s: %s, want InputError containing %q", name, msg, tc.msg)
			}
		})
	}
}

func TestAPIGetEntities(t *testing.T) {
	s := newAPIServer(t, apiServerOptions{})
	t.Run("all, in entity-ref order", func(t *testing.T) {
		r := s.get(t, "/api/catalog/entities")
		var items []testEntity
		r.json(t, &items)
		got := refs(items)
		if len(got) != corpusTotal || !sort.StringsAreSorted(got) {
			t.Errorf("%d entities, sorted %v", len(got), sort.StringsAreSorted(got))
		}
		if r.Header.Get("Link") != "" {
			t.Errorf("Link %q without a limit", r.Header.Get("Link"))
		}
		// /entities keeps the deprecated compound relation target.
		for _, e := range items {
			for _, rel := range e.Relations {
				if rel.Target == nil {
					t.Fatalf("%s: relation %s has no target", e.ref(), rel.TargetRef)
				}
			}
		}
	})
	t.Run("filter, fields and order", func(t *testing.T) {
		r := s.get(t, "/api/catalog/entities?filter=kind=system&fields=metadata.name&order=desc:metadata.name")
		var items []map[string]any
		r.json(t, &items)
		if len(items) != 3 || items[0]["metadata"].(map[string]any)["name"] != "podcast" || len(items[0]) != 1 {
			t.Errorf("got %v", items)
		}
	})
	t.Run("offset, limit, after and Link", func(t *testing.T) {
		var all []string
		path := "/api/catalog/entities?filter=kind=user&limit=6&offset=1"
		for i := 0; path != ""; i++ {
			if i > 10 {
				t.Fatal("too many pages")
			}
			r := s.get(t, path)
			if r.Code != http.StatusOK {
				t.Fatalf("%d %s", r.Code, r.Body)
			}
			var items []testEntity
			r.json(t, &items)
			all = append(all, refs(items)...)
			path = ""
			if l := r.Header.Get("Link"); l != "" {
				if !strings.HasSuffix(l, `>; rel="next"`) || !strings.HasPrefix(l, "</api/catalog/entities?") {
					t.Fatalf("Link %q", l)
				}
				path = strings.TrimSuffix(strings.TrimPrefix(l, "<"), `>; rel="next"`)
			}
		}
		if len(all) != 16 || !sort.StringsAreSorted(all) || slices.Contains(all, "user:default/amelia.park") {
			t.Errorf("paged %d users: %v", len(all), all)
		}
	})
	for _, tc := range []struct{ name, query, msg string }{
		{"limit zero", "limit=0", "Invalid limit"},
		{"offset negative", "offset=-1", "Invalid offset"},
		{"after empty", "after=", "Invalid after"},
		{"after garbage", "after=%25%25", "Malformed after cursor"},
		{"after with a bad limit", "after=" + url.QueryEscape(base64.StdEncoding.EncodeToString([]byte(`{"limit":"x"}`))), "Malformed after cursor"},
		{"order without direction", "order=metadata.name", "Invalid order parameter"},
		{"bad filter", "filter=,%3D,", "Invalid filter"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.get(t, "/api/catalog/entities?"+tc.query)
			if r.Code != http.StatusBadRequest {
				t.Fatalf("%d %s", r.Code, r.Body)
			}
			if name, msg := r.backstageError(t); name != "InputError" || !strings.Contains(msg, tc.msg) {
				t.Errorf("%s: %s", name, msg)
			}
		})
	}
}

func TestAPIEntityByNameAndUID(t *testing.T) { forEachBackend(t, testAPIEntityByNameAndUID) }

func testAPIEntityByNameAndUID(t *testing.T, backend string) {
	s := newAPIServer(t, apiServerOptions{backend: backend})
	r := s.get(t, "/api/catalog/entities/by-name/Component/Default/ARTIST-LOOKUP")
	if r.Code != http.StatusOK {
		t.Fatalf("%d %s", r.Code, r.Body)
	}
	var e testEntity
	r.json(t, &e)
	if e.ref() != "component:default/artist-lookup" || e.Metadata.UID == "" || e.Metadata.Etag == "" {
		t.Fatalf("got %+v", e.Metadata)
	}
	var owned bool
	for _, rel := range e.Relations {
		owned = owned || rel.Type == "ownedBy" && rel.TargetRef == "group:default/team-a"
		if rel.Target != nil {
			t.Errorf("by-name relation %s carries the legacy target", rel.TargetRef)
		}
	}
	if !owned {
		t.Errorf("relations %+v lack ownedBy group:default/team-a", e.Relations)
	}

	for _, tc := range []struct{ name, path string }{
		{"unknown kind", "/api/catalog/entities/by-name/spaceship/default/artist-lookup"},
		{"unknown name", "/api/catalog/entities/by-name/component/default/nope"},
		{"wrong namespace", "/api/catalog/entities/by-name/component/other/artist-lookup"},
		{"unknown uid", "/api/catalog/entities/by-uid/00000000-0000-0000-0000-000000000000"},
		{"ancestry of nothing", "/api/catalog/entities/by-name/component/default/nope/ancestry"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.get(t, tc.path)
			if r.Code != http.StatusNotFound {
				t.Fatalf("%d %s", r.Code, r.Body)
			}
			if name, _ := r.backstageError(t); name != "NotFoundError" {
				t.Errorf("name %s", name)
			}
		})
	}

	r = s.get(t, "/api/catalog/entities/by-uid/"+e.Metadata.UID)
	var byUID testEntity
	r.json(t, &byUID)
	if r.Code != http.StatusOK || byUID.ref() != e.ref() || byUID.Metadata.Etag != e.Metadata.Etag {
		t.Fatalf("by-uid: %d %s", r.Code, r.Body)
	}
	if r := s.do(t, http.MethodDelete, "/api/catalog/entities/by-uid/"+e.Metadata.UID, nil); r.Code != http.StatusNoContent || len(r.Body) != 0 {
		t.Fatalf("delete: %d %s", r.Code, r.Body)
	}
	if r := s.get(t, "/api/catalog/entities/by-uid/"+e.Metadata.UID); r.Code != http.StatusNotFound {
		t.Errorf("after delete: %d", r.Code)
	}
	if r := s.get(t, "/api/catalog/entities/by-name/component/default/artist-lookup"); r.Code != http.StatusNotFound {
		t.Errorf("after delete, by name: %d", r.Code)
	}
	// Deleting what is not there is no error, as in Backstage.
	if r := s.do(t, http.MethodDelete, "/api/catalog/entities/by-uid/"+e.Metadata.UID, nil); r.Code != http.StatusNoContent {
		t.Errorf("second delete: %d %s", r.Code, r.Body)
	}
}

func TestAPIEntitiesByRefs(t *testing.T) {
	s := newAPIServer(t, apiServerOptions{})
	type byRefs struct {
		Items []*testEntity `json:"items"`
	}
	t.Run("in order, null for missing", func(t *testing.T) {
		r := s.do(t, http.MethodPost, "/api/catalog/entities/by-refs", map[string]any{
			"entityRefs": []string{"component:default/petstore", "component:default/nope", "API:default/Petstore", "not a ref", "group:team-a"},
		})
		var b byRefs
		r.json(t, &b)
		if r.Code != http.StatusOK || len(b.Items) != 5 {
			t.Fatalf("%d %s", r.Code, r.Body)
		}
		if b.Items[0] == nil || b.Items[0].ref() != "component:default/petstore" || b.Items[1] != nil ||
			b.Items[2] == nil || b.Items[2].ref() != "api:default/petstore" || b.Items[3] != nil ||
			b.Items[4] == nil || b.Items[4].ref() != "group:default/team-a" {
			t.Errorf("got %s", r.Body)
		}
	})
	t.Run("fields from the body and the query", func(t *testing.T) {
		r := s.do(t, http.MethodPost, "/api/catalog/entities/by-refs?fields=kind", map[string]any{
			"entityRefs": []string{"system:default/podcast"}, "fields": []string{"metadata.name"},
		})
		var b struct{ Items []map[string]any }
		r.json(t, &b)
		if len(b.Items) != 1 || len(b.Items[0]) != 2 || b.Items[0]["kind"] != "System" {
			t.Errorf("got %s", r.Body)
		}
	})
	t.Run("filter", func(t *testing.T) {
		r := s.do(t, http.MethodPost, "/api/catalog/entities/by-refs?filter=spec.type=service", map[string]any{
			"entityRefs": []string{"component:default/artist-lookup", "component:default/www-artist"},
		})
		var b byRefs
		r.json(t, &b)
		if len(b.Items) != 2 || b.Items[0] == nil || b.Items[1] != nil {
			t.Errorf("got %s", r.Body)
		}
	})
	t.Run("empty list", func(t *testing.T) {
		r := s.do(t, http.MethodPost, "/api/catalog/entities/by-refs", map[string]any{"entityRefs": []string{}})
		if r.Code != http.StatusOK || strings.TrimSpace(string(r.Body)) != `{"items":[]}` {
			t.Errorf("%d %s", r.Code, r.Body)
		}
	})
	big := `{"entityRefs":["` + strings.Repeat("x", 5<<20) + `"]}`
	for _, tc := range []struct {
		name string
		body any
		hdr  []string
		code int
		msg  string
	}{
		{"invalid JSON", `{"entityRefs": [`, nil, 400, "Malformed request body"},
		{"not an object", `["component:default/a"]`, nil, 400, "Malformed request body"},
		{"missing entityRefs", `{}`, nil, 400, "entityRefs is required"},
		{"entityRefs not strings", `{"entityRefs":[1,2]}`, nil, 400, "Malformed request body"},
		{"fields not strings", `{"entityRefs":[],"fields":"kind"}`, nil, 400, "Malformed request body"},
		{"trailing data", `{"entityRefs":[]} {}`, nil, 400, "Malformed request body"},
		{"empty body", ``, []string{"Content-Type", "application/json"}, 400, "Missing request body"},
		{"form content type", `{"entityRefs":[]}`, []string{"Content-Type", "application/x-www-form-urlencoded"}, 400, "Content-Type"},
		{"no content type", `{"entityRefs":[]}`, []string{"Content-Type", ""}, 400, "Content-Type"},
		{"oversized", big, nil, 413, "too large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.do(t, http.MethodPost, "/api/catalog/entities/by-refs", tc.body, tc.hdr...)
			if r.Code != tc.code {
				t.Fatalf("%d %s", r.Code, r.Body)
			}
			if _, msg := r.backstageError(t); !strings.Contains(msg, tc.msg) {
				t.Errorf("message %q, want %q", msg, tc.msg)
			}
		})
	}
}

func TestAPIFacets(t *testing.T) { forEachBackend(t, testAPIFacets) }

func testAPIFacets(t *testing.T, backend string) {
	s := newAPIServer(t, apiServerOptions{backend: backend})
	type facets struct {
		Facets map[string][]struct {
			Value string
			Count int
		}
	}
	r := s.get(t, "/api/catalog/entity-facets?facet=kind&facet=spec.type&facet=Metadata.Tags")
	if r.Code != http.StatusOK {
		t.Fatalf("%d %s", r.Code, r.Body)
	}
	var f facets
	r.json(t, &f)
	kinds := map[string]int{}
	for _, v := range f.Facets["kind"] {
		kinds[strings.ToLower(v.Value)] = v.Count
	}
	for k, n := range corpusCounts {
		if kinds[k] != n {
			t.Errorf("kind facet %s: %d, want %d (%v)", k, kinds[k], n, f.Facets["kind"])
		}
	}
	if len(f.Facets["spec.type"]) == 0 || len(f.Facets["Metadata.Tags"]) == 0 {
		t.Errorf("facets %s", r.Body)
	}
	r = s.get(t, "/api/catalog/entity-facets?facet=spec.type&filter=kind=component")
	f = facets{}
	r.json(t, &f)
	got := map[string]int{}
	for _, v := range f.Facets["spec.type"] {
		got[v.Value] = v.Count
	}
	if got["service"] != 10 || got["website"] != 2 || got["library"] != 1 || len(got) != 3 {
		t.Errorf("component types %v", got)
	}
	for _, q := range []string{"", "facet=", "filter=kind=user"} {
		r := s.get(t, "/api/catalog/entity-facets?"+q)
		if r.Code != http.StatusBadRequest {
			t.Errorf("%q: %d %s", q, r.Code, r.Body)
			continue
		}
		if _, msg := r.backstageError(t); msg != "Missing facet parameter" {
			t.Errorf("%q: %s", q, msg)
		}
	}
	if r := s.get(t, "/api/catalog/entity-facets?facet=kind&filter=%3D"); r.Code != http.StatusBadRequest {
		t.Errorf("bad filter: %d", r.Code)
	}
}

func TestAPIAncestry(t *testing.T) {
	s := newAPIServer(t, apiServerOptions{noCorpus: true})
	ctx := context.Background()
	mk := func(kind, name, managedBy string, spec map[string]any) {
		e := &entity.Entity{APIVersion: "backstage.io/v1alpha1", Kind: kind, Spec: spec,
			Metadata: entity.Metadata{Name: name, Namespace: "default",
				Annotations: map[string]string{entity.AnnotationManagedByLocation: managedBy,
					entity.AnnotationManagedByOriginLocation: "url:https://git.example.com/repo/all.yaml"}}}
		o, err := ToObject(e)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Store.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	root := "url:https://git.example.com/repo/all.yaml"
	mk("Location", "generated-abc", root, map[string]any{"type": "url", "target": "https://git.example.com/repo/all.yaml"})
	mk("Location", "all", root, map[string]any{"type": "url", "targets": []any{"./teams/a.yaml", "components/svc.yaml"}})
	mk("Component", "svc", "url:https://git.example.com/repo/components/svc.yaml",
		map[string]any{"type": "service", "lifecycle": "production", "owner": "team-a"})
	mk("Component", "stray", "url:https://elsewhere.example.com/x.yaml",
		map[string]any{"type": "service", "lifecycle": "production", "owner": "team-a"})

	r := s.get(t, "/api/catalog/entities/by-name/component/default/svc/ancestry")
	if r.Code != http.StatusOK {
		t.Fatalf("%d %s", r.Code, r.Body)
	}
	var a struct {
		RootEntityRef string
		Items         []struct {
			Entity           testEntity
			ParentEntityRefs []string
		}
	}
	r.json(t, &a)
	got := map[string][]string{}
	var order []string
	for _, it := range a.Items {
		got[it.Entity.ref()] = it.ParentEntityRefs
		order = append(order, it.Entity.ref())
	}
	want := map[string][]string{
		"component:default/svc":          {"location:default/all"},
		"location:default/all":           {"location:default/generated-abc"},
		"location:default/generated-abc": {},
	}
	if a.RootEntityRef != "component:default/svc" || len(got) != 3 || order[0] != "component:default/svc" {
		t.Fatalf("ancestry %s", r.Body)
	}
	for ref, parents := range want {
		if !slices.Equal(got[ref], parents) {
			t.Errorf("%s: parents %v, want %v", ref, got[ref], parents)
		}
	}
	r = s.get(t, "/api/catalog/entities/by-name/component/default/stray/ancestry")
	a.Items = nil
	r.json(t, &a)
	if len(a.Items) != 1 || len(a.Items[0].ParentEntityRefs) != 0 {
		t.Errorf("stray ancestry %s", r.Body)
	}
}

func TestAPIValidateEntity(t *testing.T) {
	s := newAPIServer(t, apiServerOptions{noCorpus: true})
	valid := map[string]any{"apiVersion": "backstage.io/v1alpha1", "kind": "Component",
		"metadata": map[string]any{"name": "svc"},
		"spec":     map[string]any{"type": "service", "lifecycle": "production", "owner": "team-a"}}
	invalid := map[string]any{"apiVersion": "backstage.io/v1alpha1", "kind": "Component",
		"metadata": map[string]any{"name": "not valid!"},
		"spec":     map[string]any{"type": "service", "lifecycle": "production"}}
	badRef := map[string]any{"apiVersion": "backstage.io/v1alpha1", "kind": "Component",
		"metadata": map[string]any{"name": "svc"},
		"spec":     map[string]any{"type": "service", "lifecycle": "production", "owner": "team-a", "dependsOn": []any{"no-kind"}}}
	reserved := map[string]any{"apiVersion": "backstage.io/v1alpha1", "kind": "Component",
		"metadata": map[string]any{"name": "svc", "annotations": map[string]any{AnnotationExtraMetadata: "{}"}},
		"spec":     map[string]any{"type": "service", "lifecycle": "production", "owner": "team-a"}}
	withExtra := map[string]any{"apiVersion": "backstage.io/v1alpha1", "kind": "Component",
		"metadata": map[string]any{"name": "svc", "owner-email": "a@example.com"},
		"spec":     map[string]any{"type": "service", "lifecycle": "production", "owner": "team-a"}}
	for _, tc := range []struct {
		name string
		body any
		code int
		msgs []string
	}{
		{"valid", map[string]any{"entity": valid, "location": "url:https://example.com/catalog-info.yaml"}, 200, nil},
		{"invalid fields", map[string]any{"entity": invalid, "location": "url:https://example.com/x.yaml"}, 400, []string{"metadata.name", "spec.owner"}},
		{"bad relation ref", map[string]any{"entity": badRef, "location": "url:https://example.com/x.yaml"}, 400, []string{"spec.dependsOn[0]"}},
		{"unknown kind", map[string]any{"entity": map[string]any{"apiVersion": "x.io/v1", "kind": "Spaceship", "metadata": map[string]any{"name": "a"}}, "location": "url:https://e.com/x"}, 400, []string{"Spaceship"}},
		{"entity not an object", map[string]any{"entity": "nope", "location": "url:https://e.com/x"}, 400, []string{"Malformed envelope"}},
		{"missing entity", map[string]any{"location": "url:https://e.com/x"}, 400, []string{"Malformed envelope"}},
		{"location not url", map[string]any{"entity": valid, "location": "file:/etc/x.yaml"}, 400, []string{"only 'url:<target>' is supported"}},
		{"location malformed", map[string]any{"entity": valid, "location": "nocolon"}, 400, []string{"Unable to parse location ref"}},
		{"location missing", map[string]any{"entity": valid}, 400, []string{"location must be a string"}},
		{"invalid JSON", `{"entity":`, 400, []string{"Malformed request body"}},
		{"reserved annotation", map[string]any{"entity": reserved, "location": "url:https://e.com/x"}, 400, []string{AnnotationExtraMetadata}},
		{"extra metadata kept", map[string]any{"entity": withExtra, "location": "url:https://e.com/x"}, 200, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.do(t, http.MethodPost, "/api/catalog/validate-entity", tc.body)
			if r.Code != tc.code {
				t.Fatalf("%d %s", r.Code, r.Body)
			}
			if tc.code == 200 {
				if len(r.Body) != 0 {
					t.Errorf("body %s", r.Body)
				}
				return
			}
			var b struct {
				Errors []struct{ Name, Message string }
			}
			r.json(t, &b)
			all := ""
			for _, e := range b.Errors {
				if e.Name == "" || e.Message == "" {
					t.Errorf("error without name or message: %s", r.Body)
				}
				all += e.Message + "\n"
			}
			for _, m := range tc.msgs {
				if !strings.Contains(all, m) {
					t.Errorf("errors %s lack %q", r.Body, m)
				}
			}
		})
	}
}

// TestAPILocationRequests checks what the API itself decides about location requests
// (body shape, parameters); what a location yields is the location code's business.
func TestAPILocationRequests(t *testing.T) {
	s := newAPIServer(t, apiServerOptions{noCorpus: true})
	for _, tc := range []struct {
		name, method, path string
		body               any
		code               int
		msg                string
	}{
		{"unknown key", "POST", "/api/catalog/locations", `{"type":"url","target":"https://e.com/x.yaml","extra":1}`, 400, `unrecognized key "extra"`},
		{"target not a string", "POST", "/api/catalog/locations", `{"type":"url","target":5}`, 400, "target must be a string"},
		{"type missing", "POST", "/api/catalog/locations", `{"target":"x"}`, 400, "type must be a string"},
		{"bad presence", "POST", "/api/catalog/locations", `{"type":"url","target":"x","presence":"maybe"}`, 400, "presence"},
		{"empty object", "POST", "/api/catalog/locations", `{}`, 400, "Empty request body"},
		{"invalid JSON", "POST", "/api/catalog/locations", `{"type":`, 400, "Malformed request body"},
		{"refresh without ref", "POST", "/api/catalog/refresh", `{}`, 400, "entityRef"},
		{"refresh with a bad ref", "POST", "/api/catalog/refresh", `{"entityRef":"no-kind"}`, 400, "Invalid entityRef"},
		{"refresh with a number", "POST", "/api/catalog/refresh", `{"entityRef":5}`, 400, "entityRef"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.do(t, tc.method, tc.path, tc.body)
			if r.Code != tc.code {
				t.Fatalf("%d %s", r.Code, r.Body)
			}
			if _, msg := r.backstageError(t); !strings.Contains(msg, tc.msg) {
				t.Errorf("message %q, want %q", msg, tc.msg)
			}
		})
	}
}

func TestAPIRoutingAndAuth(t *testing.T) {
	s := newAPIServer(t, apiServerOptions{noCorpus: true})
	r := s.get(t, "/api/catalog/nothing/here")
	if r.Code != http.StatusNotFound {
		t.Fatalf("%d %s", r.Code, r.Body)
	}
	if name, _ := r.backstageError(t); name != "NotFoundError" {
		t.Errorf("name %s", name)
	}
	r = s.do(t, http.MethodPut, "/api/catalog/entities", `{}`)
	if r.Code != http.StatusMethodNotAllowed || r.Header.Get("Allow") != "GET" {
		t.Errorf("PUT /entities: %d Allow %q", r.Code, r.Header.Get("Allow"))
	}
	r.backstageError(t)
	if r := s.get(t, "/api/catalog/entities/"); r.Code != http.StatusOK {
		t.Errorf("trailing slash: %d", r.Code)
	}
	if r := s.do(t, http.MethodHead, "/api/catalog/entities", nil); r.Code != http.StatusOK {
		t.Errorf("HEAD: %d", r.Code)
	}
	// Without a token: refused, unless anonymous reads are on, and then only reads.
	if r := s.do(t, http.MethodGet, "/api/catalog/entities", nil, "Authorization", ""); r.Code != http.StatusUnauthorized {
		t.Errorf("anonymous read: %d", r.Code)
	}
	anon := newAPIServer(t, apiServerOptions{noCorpus: true, anonymousRead: true})
	if r := anon.do(t, http.MethodGet, "/api/catalog/entities/by-query", nil, "Authorization", ""); r.Code != http.StatusOK {
		t.Errorf("anonymous read allowed: %d %s", r.Code, r.Body)
	}
	if r := anon.do(t, http.MethodPost, "/api/catalog/refresh", `{"entityRef":"component:default/x"}`, "Authorization", ""); r.Code != http.StatusUnauthorized {
		t.Errorf("anonymous write: %d", r.Code)
	}
	if r := anon.do(t, http.MethodGet, "/api/catalog/entities", nil, "Authorization", "Bearer wrong-token-wrong-token"); r.Code != http.StatusUnauthorized {
		t.Errorf("wrong token: %d", r.Code)
	}
}

func TestAPIProjection(t *testing.T) {
	in := map[string]any{
		"kind": "Component",
		"metadata": map[string]any{"name": "a", "annotations": map[string]any{"backstage.io/orphan": "true", "x": "y"},
			"links": []any{map[string]any{"url": "u0"}, map[string]any{"url": "u1", "title": "t1"}}},
		"spec": map[string]any{"type": "service", "nested": map[string]any{"deep": 1}},
	}
	for _, tc := range []struct {
		fields string
		want   string
	}{
		{"kind", `{"kind":"Component"}`},
		{"metadata.name,spec.type", `{"metadata":{"name":"a"},"spec":{"type":"service"}}`},
		{"metadata.annotations.backstage.io/orphan", `{"metadata":{"annotations":{"backstage.io/orphan":"true"}}}`},
		{"spec", `{"spec":{"nested":{"deep":1},"type":"service"}}`},
		{"metadata.links.1.title", `{"metadata":{"links":[null,{"title":"t1"}]}}`},
		{"metadata.nothing,nothing", `{}`},
	} {
		var q url.Values = map[string][]string{"fields": {tc.fields}}
		p, err := fieldsParam(q, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(p.apply(in))
		if string(b) != tc.want {
			t.Errorf("%s: %s, want %s", tc.fields, b, tc.want)
		}
	}
}

func TestAPILocations(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "catalog-info.yaml")
	err := os.WriteFile(file, []byte(`apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: located
spec:
  type: service
  lifecycle: production
  owner: team-a
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	s := newAPIServer(t, apiServerOptions{noCorpus: true, fileRoots: []string{dir}})
	type created struct {
		Location Location
		Entities []testEntity
		Exists   *bool
	}
	loc := map[string]string{"type": "file", "target": file}

	r := s.do(t, http.MethodPost, "/api/catalog/locations?dryRun=true", loc)
	var dry created
	r.json(t, &dry)
	if r.Code != http.StatusCreated || len(dry.Entities) == 0 || dry.Exists == nil || *dry.Exists {
		t.Fatalf("dry run: %d %s", r.Code, r.Body)
	}
	if r := s.get(t, "/api/catalog/entities/by-name/component/default/located"); r.Code != http.StatusNotFound {
		t.Errorf("a dry run wrote the entity: %d", r.Code)
	}

	r = s.do(t, http.MethodPost, "/api/catalog/locations", loc)
	var c created
	r.json(t, &c)
	if r.Code != http.StatusCreated || c.Location.ID == "" || c.Location.Type != "file" || c.Location.Target != file || c.Exists != nil {
		t.Fatalf("create: %d %s", r.Code, r.Body)
	}
	id := c.Location.ID
	r = s.do(t, http.MethodPost, "/api/catalog/locations", loc)
	if r.Code != http.StatusConflict {
		t.Fatalf("second create: %d %s", r.Code, r.Body)
	}
	if name, msg := r.backstageError(t); name != "ConflictError" || !strings.Contains(msg, "already exists") {
		t.Errorf("%s: %s", name, msg)
	}
	r = s.do(t, http.MethodPost, "/api/catalog/locations?dryRun=yes", loc)
	dry = created{}
	r.json(t, &dry)
	if r.Code != http.StatusCreated || dry.Exists == nil || !*dry.Exists || dry.Location.ID != id {
		t.Errorf("dry run of a registered location: %d %s", r.Code, r.Body)
	}

	r = s.get(t, "/api/catalog/locations")
	var list []struct{ Data Location }
	r.json(t, &list)
	if len(list) != 1 || list[0].Data.ID != id {
		t.Errorf("list: %s", r.Body)
	}
	r = s.get(t, "/api/catalog/locations/"+id)
	var got Location
	r.json(t, &got)
	if got != c.Location {
		t.Errorf("get: %s", r.Body)
	}
	r = s.get(t, "/api/catalog/locations/by-entity/Component/default/LOCATED")
	got = Location{}
	r.json(t, &got)
	if r.Code != http.StatusOK || got.ID != id {
		t.Errorf("by entity: %d %s", r.Code, r.Body)
	}
	// The entity's ancestry runs through the Location entity generated for the location.
	r = s.get(t, "/api/catalog/entities/by-name/component/default/located/ancestry")
	var a struct {
		Items []struct {
			Entity           testEntity
			ParentEntityRefs []string
		}
	}
	r.json(t, &a)
	if len(a.Items) != 2 || a.Items[1].Entity.Kind != "Location" || !slices.Equal(a.Items[0].ParentEntityRefs, []string{a.Items[1].Entity.ref()}) {
		t.Errorf("ancestry: %s", r.Body)
	}
	if r := s.do(t, http.MethodPost, "/api/catalog/refresh", map[string]string{"entityRef": "component:default/located"}); r.Code != http.StatusOK || len(r.Body) != 0 {
		t.Errorf("refresh: %d %s", r.Code, r.Body)
	}

	for _, tc := range []struct {
		name, method, path string
		body               any
		code               int
		errName            string
	}{
		{"unknown id", "GET", "/api/catalog/locations/no-such-id", nil, 404, "NotFoundError"},
		{"unknown entity", "GET", "/api/catalog/locations/by-entity/component/default/nope", nil, 404, "NotFoundError"},
		{"refresh of an unknown entity", "POST", "/api/catalog/refresh", map[string]string{"entityRef": "component:default/nope"}, 404, "NotFoundError"},
		{"file outside the roots", "POST", "/api/catalog/locations", map[string]string{"type": "file", "target": "/etc/passwd"}, 400, "InputError"},
		{"unknown type", "POST", "/api/catalog/locations", map[string]string{"type": "ftp", "target": "ftp://x/y"}, 400, "InputError"},
		{"delete an unknown id", "DELETE", "/api/catalog/locations/no-such-id", nil, 404, "NotFoundError"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.do(t, tc.method, tc.path, tc.body)
			if r.Code != tc.code {
				t.Fatalf("%d %s", r.Code, r.Body)
			}
			if name, _ := r.backstageError(t); name != tc.errName {
				t.Errorf("name %s, want %s", name, tc.errName)
			}
		})
	}

	if r := s.do(t, http.MethodDelete, "/api/catalog/locations/"+id, nil); r.Code != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.Code, r.Body)
	}
	if r := s.get(t, "/api/catalog/locations/"+id); r.Code != http.StatusNotFound {
		t.Errorf("after delete: %d", r.Code)
	}
	if r := s.get(t, "/api/catalog/entities/by-name/component/default/located"); r.Code != http.StatusNotFound {
		t.Errorf("the location's entity outlived it: %d", r.Code)
	}
}
