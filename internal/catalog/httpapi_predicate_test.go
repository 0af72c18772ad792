package catalog

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"
)

// refSet is a set of entity refs, for comparing what a predicate selects with what the
// equivalent GET filters select.
type refSet map[string]bool

func (s refSet) sorted() []string {
	out := make([]string, 0, len(s))
	for r := range s {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}

func (s refSet) minus(o refSet) refSet {
	out := refSet{}
	for r := range s {
		if !o[r] {
			out[r] = true
		}
	}
	return out
}

func (s refSet) and(o refSet) refSet {
	out := refSet{}
	for r := range s {
		if o[r] {
			out[r] = true
		}
	}
	return out
}

func (s refSet) or(o refSet) refSet {
	out := refSet{}
	for r := range s {
		out[r] = true
	}
	for r := range o {
		out[r] = true
	}
	return out
}

// getSet answers GET /entities/by-query with these filter parameters, all in one page.
func getSet(t *testing.T, s *apiServer, filters ...string) refSet {
	t.Helper()
	q := url.Values{"limit": {"10000"}, "fields": {"kind,metadata.namespace,metadata.name"}}
	for _, f := range filters {
		q.Add("filter", f)
	}
	r := s.get(t, "/api/catalog/entities/by-query?"+q.Encode())
	if r.Code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", q.Encode(), r.Code, r.Body)
	}
	var resp testQueryResponse
	r.json(t, &resp)
	out := refSet{}
	for _, e := range resp.Items {
		out[e.ref()] = true
	}
	return out
}

// postQuery answers POST /entities/by-query.
func postQuery(t *testing.T, s *apiServer, body any) (testQueryResponse, apiResponse) {
	t.Helper()
	r := s.do(t, http.MethodPost, "/api/catalog/entities/by-query", body)
	var resp testQueryResponse
	if r.Code == http.StatusOK {
		r.json(t, &resp)
	}
	return resp, r
}

func postSet(t *testing.T, s *apiServer, query string) (refSet, int) {
	t.Helper()
	body := `{"limit": 10000, "fields": ["kind", "metadata.namespace", "metadata.name"], "query": ` + query + `}`
	resp, r := postQuery(t, s, body)
	if r.Code != http.StatusOK {
		t.Fatalf("POST query %s: %d %s", query, r.Code, r.Body)
	}
	out := refSet{}
	for _, e := range resp.Items {
		if out[e.ref()] {
			t.Fatalf("%s twice", e.ref())
		}
		out[e.ref()] = true
	}
	return out, resp.TotalItems
}

func TestAPIPredicateQuery(t *testing.T) {
	s := newAPIServer(t, apiServerOptions{})
	all := getSet(t, s)
	if len(all) != corpusTotal {
		t.Fatalf("corpus: %d entities", len(all))
	}
	// Names, for $hasPrefix.
	names := map[string]string{}
	{
		r := s.get(t, "/api/catalog/entities/by-query?limit=10000&fields=kind,metadata.namespace,metadata.name")
		var resp testQueryResponse
		r.json(t, &resp)
		for _, e := range resp.Items {
			names[e.ref()] = e.Metadata.Name
		}
	}
	withPrefix := func(p string) refSet {
		out := refSet{}
		for ref, n := range names {
			if strings.HasPrefix(strings.ToLower(n), strings.ToLower(p)) {
				out[ref] = true
			}
		}
		return out
	}
	g := func(filters ...string) refSet { return getSet(t, s, filters...) }
	none := refSet{}
	deepNot := func(depth int, inner string) string { // depth $not levels: even is the inner itself
		return strings.Repeat(`{"$not":`, depth) + inner + strings.Repeat("}", depth)
	}

	cases := []struct {
		name  string
		query string
		want  refSet
		count int // when not 0, the number of matches too (guards against empty sets comparing equal)
	}{
		{"field equality", `{"kind": "component"}`, g("kind=component"), 13},
		{"case-insensitive keys and values", `{"KIND": "Component", "Spec.Type": "SERVICE"}`, g("kind=component,spec.type=service"), 10},
		{"every field of an expression must match", `{"kind": "component", "spec.lifecycle": "production"}`, g("kind=component,spec.lifecycle=production"), 0},
		{"$all", `{"$all": [{"kind": "component"}, {"spec.lifecycle": "production"}]}`, g("kind=component,spec.lifecycle=production"), 0},
		{"$any", `{"$any": [{"kind": "user"}, {"kind": "GROUP"}]}`, g("kind=user", "kind=group"), 26},
		{"$not", `{"$not": {"kind": "user"}}`, all.minus(g("kind=user")), corpusTotal - 17},
		{"$not $not", `{"$not": {"$not": {"kind": "user"}}}`, g("kind=user"), 17},
		{"$exists true", `{"spec.profile.email": {"$exists": true}}`, g("spec.profile.email"), 0},
		{"$exists false", `{"kind": "group", "spec.profile.email": {"$exists": false}}`, g("kind=group").minus(g("spec.profile.email")), 0},
		{"$in", `{"spec.type": {"$in": ["service", "WEBSITE"]}}`, g("spec.type=service,spec.type=website"), 0},
		{"$in of one", `{"kind": {"$in": ["api"]}}`, g("kind=api"), 10},
		{"$in of nothing matches nothing", `{"kind": {"$in": []}}`, none, 0},
		{"numbers and booleans compare as text", `{"metadata.name": {"$in": [7, true, 1.5e300]}}`, none, 0},
		{"$hasPrefix", `{"metadata.name": {"$hasPrefix": "WayBack"}}`, withPrefix("wayback"), 0},
		{"$hasPrefix with kind", `{"kind": "component", "metadata.name": {"$hasPrefix": "wayback-"}}`, withPrefix("wayback-").and(g("kind=component")), 0},
		{"$hasPrefix without a match", `{"metadata.name": {"$hasPrefix": "zzz-none"}}`, none, 0},
		{"a % in $hasPrefix is no wildcard", `{"metadata.name": {"$hasPrefix": "%"}}`, none, 0},
		{"tags: equality with an array item", `{"metadata.tags": "JAVA"}`, g("metadata.tags=java"), 3},
		{"tags: $contains", `{"metadata.tags": {"$contains": "go"}}`, g("metadata.tags=go"), 3},
		{"tags: $in", `{"metadata.tags": {"$in": ["java", "go"]}}`, g("metadata.tags=java,metadata.tags=go"), 6},
		{"tags: the item as a key", `{"metadata.tags.java": {"$exists": true}}`, g("metadata.tags=java"), 3},
		{"relations by key", `{"relations.ownedBy": "group:default/team-a"}`, g("relations.ownedby=group:default/team-a"), 0},
		{"relations $contains", `{"relations": {"$contains": {"type": "ownedBy", "targetRef": "Group:Default/Team-A"}}}`, g("relations.ownedby=group:default/team-a"), 0},
		{"relations $contains $in", `{"relations": {"$contains": {"type": "OWNEDBY", "targetRef": {"$in": ["group:default/team-a", "group:default/team-b"]}}}}`,
			g("relations.ownedby=group:default/team-a,relations.ownedby=group:default/team-b"), 0},
		{"relations $contains type only", `{"relations": {"$contains": {"type": "memberOf"}}}`, g("relations.memberof"), 0},
		{"nesting", `{"$all": [{"kind": "component"}, {"$any": [{"spec.type": "website"}, {"$not": {"spec.lifecycle": "production"}}]}]}`,
			g("kind=component").and(g("spec.type=website").or(all.minus(g("spec.lifecycle=production")))), 0},
		{"$not of $any", `{"$not": {"$any": [{"kind": "user"}, {"kind": "group"}]}}`, all.minus(g("kind=user", "kind=group")), corpusTotal - 26},
		{"the empty predicate matches everything", `{}`, all, corpusTotal},
		{"$all of nothing matches everything", `{"$all": []}`, all, corpusTotal},
		{"$any of nothing matches nothing", `{"$any": []}`, none, 0},
		{"$not of the empty predicate matches nothing", `{"$not": {}}`, none, 0},
		{"an unknown field matches nothing", `{"spec.nothing.here": "x"}`, none, 0},
		{"an unknown field does not exist", `{"$not": {"spec.nothing.here": {"$exists": true}}}`, all, corpusTotal},
		{"32 levels deep is allowed", deepNot(30, `{"kind": "user"}`), g("kind=user"), 17},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, total := postSet(t, s, tc.query)
			if !slices.Equal(got.sorted(), tc.want.sorted()) {
				t.Errorf("got %d %v\nwant %d %v", len(got), got.sorted(), len(tc.want), tc.want.sorted())
			}
			if total != len(tc.want) {
				t.Errorf("totalItems %d, want %d", total, len(tc.want))
			}
			if tc.count != 0 && len(got) != tc.count {
				t.Errorf("%d matches, want %d", len(got), tc.count)
			}
		})
	}
	// Sanity: the cases with count 0 and a non-empty want still select something.
	for _, f := range []string{"kind=component,spec.lifecycle=production", "spec.profile.email", "relations.ownedby=group:default/team-a", "relations.memberof"} {
		if len(g(f)) == 0 {
			t.Errorf("filter %s selects nothing in the corpus", f)
		}
	}
}

// TestAPIPredicatePaging pages through a predicate query with its cursors: the cursor
// keeps the predicate, order and total, through POST and through GET.
func TestAPIPredicatePaging(t *testing.T) {
	s := newAPIServer(t, apiServerOptions{})
	want, _ := postSet(t, s, `{"$any": [{"kind": "user"}, {"kind": "group"}]}`)
	if len(want) != 26 {
		t.Fatalf("users and groups: %d", len(want))
	}
	first, r := postQuery(t, s, map[string]any{
		"query":   map[string]any{"$any": []any{map[string]any{"kind": "user"}, map[string]any{"kind": "group"}}},
		"orderBy": []any{map[string]any{"field": "metadata.name", "order": "desc"}},
		"limit":   5,
		"fields":  []string{"kind", "metadata.name", "metadata.namespace"},
	})
	if r.Code != http.StatusOK {
		t.Fatalf("%d %s", r.Code, r.Body)
	}
	if first.TotalItems != 26 || len(first.Items) != 5 || first.PageInfo.NextCursor == "" || first.PageInfo.PrevCursor != "" {
		t.Fatalf("first page: %s", r.Body)
	}
	// The cursor carries the predicate under "query", which is how CatalogClient knows
	// to continue with POST.
	raw, err := base64.StdEncoding.DecodeString(first.PageInfo.NextCursor)
	if err != nil {
		t.Fatal(err)
	}
	var decoded map[string]json.RawMessage
	if err := json.Unmarshal(raw, &decoded); err != nil || decoded["query"] == nil {
		t.Fatalf("cursor %s has no query", raw)
	}
	seen := refSet{}
	var order []string
	add := func(items []testEntity) {
		for _, e := range items {
			if seen[e.ref()] {
				t.Fatalf("%s on two pages", e.ref())
			}
			seen[e.ref()] = true
			order = append(order, e.Metadata.Name)
		}
	}
	add(first.Items)
	page := first
	var cursors []string
	for pages := 1; page.PageInfo.NextCursor != ""; pages++ {
		if pages > 10 {
			t.Fatal("too many pages")
		}
		cursors = append(cursors, page.PageInfo.NextCursor)
		var r apiResponse
		page, r = postQuery(t, s, map[string]any{"cursor": page.PageInfo.NextCursor, "limit": 5,
			"fields": []string{"kind", "metadata.name", "metadata.namespace"},
			// Ignored with a cursor, as in Backstage.
			"query": map[string]any{"kind": "api"}})
		if r.Code != http.StatusOK {
			t.Fatalf("page %d: %d %s", pages+1, r.Code, r.Body)
		}
		if page.TotalItems != 26 || page.PageInfo.PrevCursor == "" {
			t.Fatalf("page %d: %s", pages+1, r.Body)
		}
		add(page.Items)
	}
	if len(cursors) != 5 || !slices.Equal(seen.sorted(), want.sorted()) {
		t.Fatalf("%d pages, %d entities", len(cursors)+1, len(seen))
	}
	if !slices.IsSortedFunc(order, func(a, b string) int { return strings.Compare(b, a) }) {
		t.Errorf("not in descending name order: %v", order)
	}
	// Back one page from the last.
	prev, r := postQuery(t, s, map[string]any{"cursor": page.PageInfo.PrevCursor, "limit": 5})
	if r.Code != http.StatusOK || len(prev.Items) != 5 {
		t.Fatalf("prev: %d %s", r.Code, r.Body)
	}
	if prev.Items[0].Metadata.Name != order[20] {
		t.Errorf("prev page starts with %s, want %s", prev.Items[0].Metadata.Name, order[20])
	}
	// The same cursor works with GET, which continues the predicate query too.
	r = s.get(t, "/api/catalog/entities/by-query?limit=5&cursor="+url.QueryEscape(cursors[0]))
	var viaGet testQueryResponse
	r.json(t, &viaGet)
	if r.Code != http.StatusOK || viaGet.TotalItems != 26 || len(viaGet.Items) != 5 || viaGet.Items[0].Metadata.Name != order[5] {
		t.Errorf("GET with a predicate cursor: %d %s", r.Code, r.Body)
	}

	// totalItems: exclude, offset, fullTextFilter, no body at all.
	resp, r := postQuery(t, s, `{"query": {"kind": "user"}, "totalItems": "exclude", "limit": 3}`)
	if r.Code != http.StatusOK || resp.TotalItems != 0 || len(resp.Items) != 3 || resp.PageInfo.NextCursor == "" {
		t.Errorf("totalItems exclude: %d %s", r.Code, r.Body)
	}
	all, _ := postQuery(t, s, `{"query": {"kind": "user"}, "orderBy": [{"field": "metadata.name", "order": "asc"}]}`)
	resp, r = postQuery(t, s, `{"query": {"kind": "user"}, "orderBy": [{"field": "metadata.name", "order": "asc"}], "offset": 15}`)
	if r.Code != http.StatusOK || resp.TotalItems != 17 || len(resp.Items) != 2 || resp.Items[0].ref() != all.Items[15].ref() {
		t.Errorf("offset: %d %s", r.Code, r.Body)
	}
	resp, r = postQuery(t, s, `{"query": {"kind": "component"}, "fullTextFilter": {"term": " WAYBACK ", "fields": ["metadata.name"]}}`)
	var ftGet testQueryResponse
	s.get(t, "/api/catalog/entities/by-query?filter=kind=component&fullTextFilterTerm=wayback&fullTextFilterFields=metadata.name").json(t, &ftGet)
	if r.Code != http.StatusOK || resp.TotalItems == 0 || resp.TotalItems != ftGet.TotalItems {
		t.Errorf("full text: %d %s", r.Code, r.Body)
	}
	for _, e := range resp.Items {
		if e.Kind != "Component" || !strings.Contains(e.Metadata.Name, "wayback") {
			t.Errorf("full text matched %s", e.ref())
		}
	}
	r = s.do(t, http.MethodPost, "/api/catalog/entities/by-query", nil, "Content-Type", "")
	resp = testQueryResponse{}
	r.json(t, &resp)
	if r.Code != http.StatusOK || resp.TotalItems != corpusTotal || len(resp.Items) != corpusTotal {
		t.Errorf("no body: %d, %d items", r.Code, len(resp.Items))
	}
	resp, r = postQuery(t, s, `{"limit": 0, "query": {"kind": "api"}}`)
	if r.Code != http.StatusOK || resp.TotalItems != 10 || len(resp.Items) != 0 || resp.PageInfo.NextCursor != "" {
		t.Errorf("limit 0: %d %s", r.Code, r.Body)
	}
	// A GET cursor has no query; POST continues it as well.
	r = s.get(t, "/api/catalog/entities/by-query?filter=kind=user&limit=10")
	var g testQueryResponse
	r.json(t, &g)
	resp, r = postQuery(t, s, map[string]any{"cursor": g.PageInfo.NextCursor})
	if r.Code != http.StatusOK || resp.TotalItems != 17 || len(resp.Items) != 7 {
		t.Errorf("POST with a GET cursor: %d %s", r.Code, r.Body)
	}
}

func TestAPIPredicateFacetsAndByRefs(t *testing.T) {
	s := newAPIServer(t, apiServerOptions{})
	r := s.do(t, http.MethodPost, "/api/catalog/entity-facets", `{"facets": ["spec.type", ""], "query": {"KIND": "Component"}}`)
	get := s.get(t, "/api/catalog/entity-facets?facet=spec.type&filter=kind=component")
	if r.Code != http.StatusOK || string(r.Body) != string(get.Body) {
		t.Errorf("POST facets %d %s\nGET %s", r.Code, r.Body, get.Body)
	}
	r = s.do(t, http.MethodPost, "/api/catalog/entity-facets", `{"facets": ["kind"]}`)
	get = s.get(t, "/api/catalog/entity-facets?facet=kind")
	if r.Code != http.StatusOK || string(r.Body) != string(get.Body) {
		t.Errorf("POST facets without a query %d %s\nGET %s", r.Code, r.Body, get.Body)
	}
	r = s.do(t, http.MethodPost, "/api/catalog/entity-facets", `{"facets": ["metadata.tags"], "query": {"$not": {"kind": "component"}}}`)
	var f struct {
		Facets map[string][]facetValue
	}
	r.json(t, &f)
	for _, v := range f.Facets["metadata.tags"] {
		if v.Value == "java" || v.Value == "go" {
			t.Errorf("tag %s counted for non-components", v.Value)
		}
	}
	if len(f.Facets["metadata.tags"]) == 0 {
		t.Errorf("no tags outside components: %s", r.Body)
	}

	// by-refs: the predicate and the filter parameters both apply.
	refsBody := func(q string) string {
		return `{"entityRefs": ["api:default/petstore", "component:default/petstore", "component:default/nope", "user:default/guest"], "fields": ["kind"], "query": ` + q + `}`
	}
	for _, tc := range []struct {
		name, path, query, want string
	}{
		{"query", "/api/catalog/entities/by-refs", `{"kind": "API"}`, `{"items":[{"kind":"API"},null,null,null]}`},
		{"query and filter", "/api/catalog/entities/by-refs?filter=kind=component", `{"$not": {"kind": "user"}}`, `{"items":[null,{"kind":"Component"},null,null]}`},
		{"query matching nothing", "/api/catalog/entities/by-refs", `{"$any": []}`, `{"items":[null,null,null,null]}`},
		{"empty query", "/api/catalog/entities/by-refs", `{}`, `{"items":[{"kind":"API"},{"kind":"Component"},null,{"kind":"User"}]}`},
	} {
		r := s.do(t, http.MethodPost, tc.path, refsBody(tc.query))
		if r.Code != http.StatusOK || string(r.Body) != tc.want {
			t.Errorf("%s: %d %s, want %s", tc.name, r.Code, r.Body, tc.want)
		}
	}
}

// TestAPIPredicateBadInput: every malformed request is a 400 (413 for a body over the
// limit) in Backstage's error shape, with a message that says what is wrong.
func TestAPIPredicateBadInput(t *testing.T) {
	s := newAPIServer(t, apiServerOptions{noCorpus: true})
	deep := strings.Repeat(`{"$not":`, 40) + `{"kind": "user"}` + strings.Repeat("}", 40)
	var many []string
	for i := range 1001 {
		many = append(many, fmt.Sprintf(`{"metadata.name": "n%d"}`, i))
	}
	tooMany := `{"$any": [` + strings.Join(many, ",") + `]}`
	huge := `{"query": {"metadata.name": {"$in": ["` + strings.Repeat("x", 5<<20) + `"]}}}`
	q := func(p string) string { return `{"query": ` + p + `}` }
	// A cursor that is base64 JSON of the right shape but whose query is junk.
	badQueryCursor := base64.StdEncoding.EncodeToString([]byte(`{"orderFields":[],"offset":0,"isPrevious":false,"query":{"$nope":1}}`))
	notObjectCursor := base64.StdEncoding.EncodeToString([]byte(`{"orderFields":[],"offset":0,"isPrevious":false,"query":[1]}`))
	const byQuery, facets, byRefs = "/api/catalog/entities/by-query", "/api/catalog/entity-facets", "/api/catalog/entities/by-refs"
	for _, tc := range []struct {
		name, path string
		body       string
		hdr        []string
		code       int
		msg        string
	}{
		{"malformed JSON", byQuery, `{"query": {"kind": }`, nil, 400, "Malformed request body"},
		{"trailing data", byQuery, `{"query": {}} {}`, nil, 400, "unexpected data after the JSON object"},
		{"body not an object", byQuery, `[{"kind": "user"}]`, nil, 400, "Expected body to be a JSON object"},
		{"wrong content type", byQuery, `{"query": {}}`, []string{"Content-Type", "text/plain"}, 400, "Illegal Content-Type"},
		{"query a string", byQuery, q(`"kind=component"`), nil, 400, "query: expected an object, got a string"},
		{"query an array", byQuery, q(`[{"kind": "user"}]`), nil, 400, "expected an object, got an array"},
		{"query null", byQuery, q(`null`), nil, 400, "expected an object, got null"},
		{"unknown operator", byQuery, q(`{"$and": [{"kind": "user"}]}`), nil, 400, `unknown operator "$and"`},
		{"unknown operator deep inside", byQuery, q(`{"$all": [{"kind": "user"}, {"$any": [{"$or": []}]}]}`), nil, 400, `query.$all[1].$any[0]: unknown operator "$or"`},
		{"operator beside a field", byQuery, q(`{"$all": [], "kind": "user"}`), nil, 400, "$all must be the only key of its object"},
		{"two operators", byQuery, q(`{"$all": [], "$any": []}`), nil, 400, "must be the only key"},
		{"$all not an array", byQuery, q(`{"$all": {"kind": "user"}}`), nil, 400, "query.$all: expected an array of predicates, got an object"},
		{"$any null", byQuery, q(`{"$any": null}`), nil, 400, "query.$any: expected an array of predicates, got null"},
		{"$not of a string", byQuery, q(`{"$not": "user"}`), nil, 400, "query.$not: expected an object"},
		{"a primitive in $all", byQuery, q(`{"$all": ["user"]}`), nil, 400, "query.$all[0]: expected an object"},
		{"unknown value operator", byQuery, q(`{"kind": {"$eq": "user"}}`), nil, 400, `unknown value operator "$eq"`},
		{"$in not an array", byQuery, q(`{"kind": {"$in": "user"}}`), nil, 400, `query."kind".$in: expected an array of strings, numbers or booleans, got a string`},
		{"$in with an object", byQuery, q(`{"kind": {"$in": ["user", {"x": 1}]}}`), nil, 400, `query."kind".$in[1]: expected a string, number or boolean, got an object`},
		{"$in with null", byQuery, q(`{"kind": {"$in": [null]}}`), nil, 400, "got null"},
		{"$exists not a boolean", byQuery, q(`{"kind": {"$exists": "yes"}}`), nil, 400, `query."kind".$exists: expected true or false, got a string`},
		{"$hasPrefix not a string", byQuery, q(`{"kind": {"$hasPrefix": 5}}`), nil, 400, "expected a string, got a number"},
		{"$contains of an array", byQuery, q(`{"metadata.tags": {"$contains": ["java"]}}`), nil, 400, "$contains"},
		{"$contains object on another field", byQuery, q(`{"metadata.tags": {"$contains": {"x": "y"}}}`), nil, 400, `supported for the field "relations" only`},
		{"relations $contains without a type", byQuery, q(`{"relations": {"$contains": {"targetRef": "group:default/a"}}}`), nil, 400, `"type" is required`},
		{"relations $contains with another key", byQuery, q(`{"relations": {"$contains": {"type": "ownedBy", "target": "x"}}}`), nil, 400, `unsupported key "target"`},
		{"relations $contains with an empty $in", byQuery, q(`{"relations": {"$contains": {"type": "ownedBy", "targetRef": {"$in": []}}}}`), nil, 400, "must not be empty"},
		{"relations $contains with a numeric type", byQuery, q(`{"relations": {"$contains": {"type": 5}}}`), nil, 400, `"type" must be given once`},
		{"value null", byQuery, q(`{"kind": null}`), nil, 400, `query."kind": null is not a value`},
		{"value an array", byQuery, q(`{"kind": ["user", "group"]}`), nil, 400, "use {\"$in\": [...]}"},
		{"value an empty object", byQuery, q(`{"kind": {}}`), nil, 400, "not an empty object"},
		{"value with two operators", byQuery, q(`{"kind": {"$in": ["user"], "$exists": true}}`), nil, 400, "not 2 keys ($exists, $in)"},
		{"nested object instead of a dotted path", byQuery, q(`{"spec": {"type": "service"}}`), nil, 400, `{"spec.type": ...}`},
		{"empty field path", byQuery, q(`{"": "x"}`), nil, 400, "a field path must not be empty"},
		{"field path with a line break", byQuery, q(`{"kind\n": "x"}`), nil, 400, "line breaks"},
		{"too deep", byQuery, q(deep), nil, 400, "nested more than 32 deep"},
		{"too many parts", byQuery, q(tooMany), nil, 400, "more than 1000 parts"},
		{"JSON nested beyond the decoder's limit", byQuery, strings.Repeat(`{"a":`, 20000) + "1" + strings.Repeat("}", 20000), nil, 400, "Malformed request body"},
		{"oversized body", byQuery, huge, nil, 413, "request entity too large"},
		{"negative limit", byQuery, `{"limit": -1}`, nil, 400, "Invalid limit, must be 0 or greater"},
		{"fractional limit", byQuery, `{"limit": 2.5}`, nil, 400, "Invalid limit, not an integer"},
		{"limit as a string", byQuery, `{"limit": "5"}`, nil, 400, "Invalid limit, not an integer"},
		{"negative offset", byQuery, `{"offset": -3}`, nil, 400, "Invalid offset"},
		{"orderBy not an array", byQuery, `{"orderBy": "metadata.name"}`, nil, 400, "Invalid orderBy"},
		{"orderBy without a field", byQuery, `{"orderBy": [{"order": "asc"}]}`, nil, 400, "non-empty field"},
		{"orderBy with a bad order", byQuery, `{"orderBy": [{"field": "metadata.name", "order": "up"}]}`, nil, 400, "Invalid order field order, must be asc or desc"},
		{"fullTextFilter a string", byQuery, `{"fullTextFilter": "wayback"}`, nil, 400, "Invalid fullTextFilter"},
		{"fullTextFilter term a number", byQuery, `{"fullTextFilter": {"term": 5}}`, nil, 400, "term must be a string"},
		{"totalItems unknown", byQuery, `{"totalItems": "sometimes"}`, nil, 400, `Invalid totalItems value "sometimes", expected one of: include, exclude`},
		{"fields not an array", byQuery, `{"fields": "kind"}`, nil, 400, "Invalid fields, expected an array of strings"},
		{"fields with an array path", byQuery, `{"fields": ["metadata.links[0]"]}`, nil, 400, "array type fields are not supported"},
		{"empty cursor", byQuery, `{"cursor": ""}`, nil, 400, "Cursor cannot be empty"},
		{"cursor a number", byQuery, `{"cursor": 5}`, nil, 400, "Invalid cursor, not a string"},
		{"cursor not base64", byQuery, `{"cursor": "!!!"}`, nil, 400, "Malformed cursor"},
		{"cursor with a bad query", byQuery, `{"cursor": "` + badQueryCursor + `"}`, nil, 400, `Malformed cursor: Invalid query: query: unknown operator "$nope"`},
		{"cursor whose query is no object", byQuery, `{"cursor": "` + notObjectCursor + `"}`, nil, 400, "Malformed cursor: the query is not a JSON object"},
		{"GET with a bad predicate cursor", byQuery + "?cursor=" + url.QueryEscape(badQueryCursor), "", nil, 400, "Malformed cursor"},
		{"facets missing", facets, `{"query": {}}`, nil, 400, "Missing or empty facets parameter"},
		{"facets empty", facets, `{"facets": [""]}`, nil, 400, "Missing or empty facets parameter"},
		{"facets not strings", facets, `{"facets": [1]}`, nil, 400, "Invalid facets"},
		{"facets with a bad query", facets, `{"facets": ["kind"], "query": {"kind": {"$in": 1}}}`, nil, 400, "$in: expected an array"},
		{"facets without a body", facets, ``, []string{"Content-Type", ""}, 400, "Content-Type missing"},
		{"by-refs with a bad query", byRefs, `{"entityRefs": ["user:default/guest"], "query": {"$not": []}}`, nil, 400, "query.$not: expected an object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			method := http.MethodPost
			var body any = tc.body
			if strings.HasPrefix(tc.name, "GET") {
				method, body = http.MethodGet, nil
			}
			r := s.do(t, method, tc.path, body, tc.hdr...)
			if r.Code != tc.code {
				t.Fatalf("%d %.300s", r.Code, r.Body)
			}
			name, msg := r.backstageError(t)
			wantName := map[int]string{400: "InputError", 413: "PayloadTooLargeError"}[tc.code]
			if name != wantName || !strings.Contains(msg, tc.msg) {
				t.Errorf("%s %q, want %s containing %q", name, msg, wantName, tc.msg)
			}
		})
	}
}

func TestAPIPredicateParse(t *testing.T) {
	// The store sees the same shape, with every value as text.
	for _, tc := range []struct {
		in   string
		want string
	}{
		{`{"kind": "User"}`, `field(kind=[User])`},
		{`{"b": 1, "a": true}`, `all(field(a=[true]), field(b=[1]))`},
		{`{"n": {"$in": [1.0, 1e21, 1.5e-7, 0.000001, -0, 123456789012345678]}}`, `field(n=[1 1e+21 1.5e-7 0.000001 0 123456789012345680])`},
		{`{"x": {"$exists": false}}`, `not(field(x))`},
		{`{"x": {"$in": []}}`, `any()`},
		{`{"relations": {"$contains": {"type": "ownedBy"}}}`, `rel(ownedBy)`},
		{`{"$not": {"$all": [{}]}}`, `not(all(all()))`},
	} {
		n, err := parsePredicate(json.RawMessage(tc.in))
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if got := predString(n); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.in, got, tc.want)
		}
	}
}

func predString(n *predNode) string {
	kids := func() string {
		var s []string
		for _, k := range n.kids {
			s = append(s, predString(k))
		}
		return strings.Join(s, ", ")
	}
	switch n.op {
	case predAll:
		return "all(" + kids() + ")"
	case predAny:
		return "any(" + kids() + ")"
	case predNot:
		return "not(" + kids() + ")"
	}
	switch n.test.match {
	case matchExists:
		return "field(" + n.test.key + ")"
	case matchRelation:
		return "rel(" + n.test.relType + ")"
	case matchPrefix:
		return "prefix(" + n.test.key + "=" + n.test.prefix + ")"
	}
	return fmt.Sprintf("field(%s=%v)", n.test.key, n.test.values)
}
