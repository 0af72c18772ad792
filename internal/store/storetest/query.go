package storetest

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/paved-dev/paved/api"
	"github.com/paved-dev/paved/internal/kinds"
	"github.com/paved-dev/paved/internal/store"
)

// Indexed kinds for the query tests: Service is namespaced with case-insensitive names and
// a search index over spec and tags; Team is cluster-scoped.
func indexKind(kind, plural string, namespaced bool) kinds.Kind {
	return kinds.Kind{Group: "query.paved.dev", Version: "v1", Kind: kind, Plural: plural, Namespaced: namespaced,
		CaseInsensitiveNames: true,
		ValidateMeta: func(o *api.Object) []api.StatusCause {
			if strings.ContainsAny(o.Metadata.Name, " /") || o.Metadata.Name == "" {
				return []api.StatusCause{{Field: "metadata.name", Message: "invalid"}}
			}
			return nil
		},
		Index: func(o *api.Object) []kinds.IndexRow {
			rows := []kinds.IndexRow{{Key: "kind", Value: strings.ToLower(o.Kind), Original: o.Kind},
				{Key: "metadata.name", Value: strings.ToLower(o.Metadata.Name), Original: o.Metadata.Name}}
			for _, t := range o.Metadata.Tags {
				rows = append(rows, kinds.IndexRow{Key: "metadata.tags", Value: strings.ToLower(t), Original: t})
			}
			var spec map[string]any
			_ = json.Unmarshal(o.Spec, &spec)
			for k, v := range spec {
				if s, ok := v.(string); ok {
					rows = append(rows, kinds.IndexRow{Key: "spec." + strings.ToLower(k), Value: strings.ToLower(s), Original: s})
				}
			}
			return rows
		}}
}

func field(key string, values ...string) *store.Expr { return &store.Expr{Key: key, Values: values} }

func testQuery(t *testing.T, s *store.Store) {
	ctx := ctxT(t)
	svcK, teamK := indexKind("Service", "services", true), indexKind("Team", "teams", false)
	for _, k := range []kinds.Kind{svcK, teamK} {
		if err := s.Kinds().Register(k); err != nil {
			t.Fatal(err)
		}
	}
	svc, _ := s.Kinds().ByGVK("query.paved.dev/v1", "Service")
	team, _ := s.Kinds().ByGVK("query.paved.dev/v1", "Team")
	langs := []string{"Go", "Java", "Python"}
	for i := 0; i < 30; i++ {
		o := &api.Object{APIVersion: "query.paved.dev/v1", Kind: "Service",
			Metadata: api.ObjectMeta{Name: fmt.Sprintf("Svc_%02d", i), Tags: []string{strings.ToLower(langs[i%3]), "t" + fmt.Sprint(i%2)}},
			Spec:     json.RawMessage(fmt.Sprintf(`{"type":%q,"lifecycle":%q,"owner":"team-%d"}`, []string{"service", "website"}[i%2], []string{"production", "experimental"}[i%5/4], i%4))}
		mustCreate(t, s, o)
	}
	for i := 0; i < 4; i++ {
		mustCreate(t, s, &api.Object{APIVersion: "query.paved.dev/v1", Kind: "Team",
			Metadata: api.ObjectMeta{Name: fmt.Sprintf("team-%d", i)}, Spec: json.RawMessage(`{"type":"team"}`)})
	}
	// Case-insensitive names: the same object whatever the case, and its case kept.
	got, err := s.Get(ctx, svc, "default", "SVC_07")
	if err != nil || got.Metadata.Name != "Svc_07" {
		t.Fatalf("case-insensitive get: %v %v", err, got)
	}
	if _, err := s.Create(ctx, &api.Object{APIVersion: "query.paved.dev/v1", Kind: "Service", Metadata: api.ObjectMeta{Name: "svc_07"}}); !api.IsAlreadyExists(err) {
		t.Errorf("create differing only in case: %v, want AlreadyExists", err)
	}
	if _, err := s.Create(ctx, &api.Object{APIVersion: "query.paved.dev/v1", Kind: "Service", Metadata: api.ObjectMeta{Name: "bad name"}}); !api.IsInvalid(err) {
		t.Errorf("kind's own metadata validation: %v, want Invalid", err)
	}
	both := []*kinds.Kind{svc, team}
	req := func(k string, v ...string) store.FieldRequirement { return store.FieldRequirement{Key: k, Values: v} }
	tests := []struct {
		name string
		sel  store.Selector
		want int
	}{
		{"all", store.Selector{Kinds: both}, 34},
		{"one kind", store.Selector{Kinds: both, Filter: [][]store.FieldRequirement{{req("kind", "team")}}}, 4},
		{"two fields, case-insensitive", store.Selector{Kinds: both, Filter: [][]store.FieldRequirement{{req("Kind", "SERVICE"), req("spec.type", "Website")}}}, 15},
		{"any of values", store.Selector{Kinds: both, Filter: [][]store.FieldRequirement{{req("metadata.tags", "go", "java")}}}, 20},
		{"or of clauses", store.Selector{Kinds: both, Filter: [][]store.FieldRequirement{{req("kind", "team")}, {req("metadata.tags", "python")}}}, 14},
		{"exists", store.Selector{Kinds: both, Filter: [][]store.FieldRequirement{{req("spec.owner")}}}, 30},
		{"no match", store.Selector{Kinds: both, Filter: [][]store.FieldRequirement{{req("spec.type", "nope")}}}, 0},
		{"full text", store.Selector{Kinds: both, FullText: &store.FullText{Term: "VC_1"}}, 10},
		{"full text on keys", store.Selector{Kinds: both, FullText: &store.FullText{Term: "team-3", Keys: []string{"spec.owner"}}}, 7},
		{"full text with LIKE characters", store.Selector{Kinds: both, FullText: &store.FullText{Term: "%_"}}, 0},
		{"predicate not", store.Selector{Kinds: both, Where: &store.Expr{Not: field("kind", "service")}}, 4},
		{"predicate any of all", store.Selector{Kinds: both, Where: &store.Expr{Any: []*store.Expr{
			{All: []*store.Expr{field("metadata.tags", "GO"), field("spec.type", "service")}}, field("kind", "team")}}}, 9},
		{"predicate not exists", store.Selector{Kinds: both, Where: &store.Expr{Not: field("spec.owner")}}, 4},
		{"predicate and filter", store.Selector{Kinds: both, Filter: [][]store.FieldRequirement{{req("metadata.tags", "t1")}},
			Where: &store.Expr{Not: field("metadata.tags", "java", "python")}}, 5},
		{"predicate empty all is everything", store.Selector{Kinds: both, Where: &store.Expr{All: []*store.Expr{}}}, 34},
		{"predicate empty any is nothing", store.Selector{Kinds: both, Where: &store.Expr{Any: []*store.Expr{}}}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			items, more, err := s.Query(ctx, tc.sel)
			if err != nil {
				t.Fatal(err)
			}
			if len(items) != tc.want || more {
				t.Errorf("got %d items (more %v), want %d", len(items), more, tc.want)
			}
			n, err := s.QueryCount(ctx, tc.sel)
			if err != nil || n != int64(tc.want) {
				t.Errorf("count %d, %v; want %d", n, err, tc.want)
			}
		})
	}
	// Order by an indexed field, descending, with offset paging; objects without it last.
	sel := store.Selector{Kinds: both, OrderBy: []store.Order{{Key: "spec.owner", Desc: true}}, Limit: 10}
	var seen []string
	for off := 0; ; off += 10 {
		sel.Offset = off
		items, more, err := s.Query(ctx, sel)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range items {
			seen = append(seen, o.Metadata.Name)
		}
		if !more {
			break
		}
	}
	if len(seen) != 34 || !strings.HasPrefix(seen[0], "Svc_") || !strings.HasPrefix(seen[33], "team-") {
		t.Errorf("ordered paging: %v", seen)
	}
	// Small pages are answered by walking the order key's values; they must agree with the
	// full sort, in both directions and with objects lacking the field.
	for _, desc := range []bool{false, true} {
		order := []store.Order{{Key: "spec.owner", Desc: desc}}
		full, _, err := s.Query(ctx, store.Selector{Kinds: both, OrderBy: order})
		if err != nil {
			t.Fatal(err)
		}
		for _, off := range []int{0, 3, 30, 33} {
			small, _, err := s.Query(ctx, store.Selector{Kinds: both, OrderBy: order, Offset: off, Limit: 2})
			if err != nil {
				t.Fatal(err)
			}
			for i, o := range small {
				if want := full[off+i].Metadata.Name; o.Metadata.Name != want {
					t.Errorf("desc=%v offset %d item %d: %s, full sort has %s", desc, off, i, o.Metadata.Name, want)
				}
			}
		}
	}
	first, _, _ := s.Query(ctx, store.Selector{Kinds: []*kinds.Kind{svc}, OrderBy: []store.Order{{Key: "spec.owner", Desc: true}}, Limit: 1})
	if !strings.Contains(string(first[0].Spec), "team-3") {
		t.Errorf("descending order starts with %s", first[0].Spec)
	}
	// Facets count objects per original value, within the filter.
	facets, err := s.QueryFacets(ctx, store.Selector{Kinds: both, Filter: [][]store.FieldRequirement{{req("kind", "service")}}}, "spec.type")
	if err != nil {
		t.Fatal(err)
	}
	if len(facets) != 2 || facets[0] != (store.FacetCount{Value: "service", Count: 15}) || facets[1] != (store.FacetCount{Value: "website", Count: 15}) {
		t.Errorf("facets: %+v", facets)
	}
	kindsFacet, err := s.QueryFacets(ctx, store.Selector{Kinds: both}, "kind")
	if err != nil || len(kindsFacet) != 2 || kindsFacet[0].Value != "Service" || kindsFacet[1].Count != 4 {
		t.Errorf("kind facets: %+v %v", kindsFacet, err)
	}
	// The index follows updates and deletes.
	o, _ := s.Get(ctx, svc, "default", "svc_00")
	o.Spec = json.RawMessage(`{"type":"library"}`)
	if _, err := s.Update(ctx, o); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete(ctx, svc, "default", "SVC_01", store.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.QueryCount(ctx, store.Selector{Kinds: both, Filter: [][]store.FieldRequirement{{req("spec.type", "library")}}}); n != 1 {
		t.Errorf("after update: %d libraries", n)
	}
	if n, _ := s.QueryCount(ctx, store.Selector{Kinds: both, Filter: [][]store.FieldRequirement{{req("metadata.name", "svc_01")}}}); n != 0 {
		t.Errorf("after delete: %d", n)
	}
	if _, _, err := s.Query(ctx, store.Selector{}); api.ReasonOf(err) != api.ReasonBadRequest {
		t.Errorf("query without kinds: %v", err)
	}
	deep := field("kind", "team")
	for range store.MaxExprDepth + 1 {
		deep = &store.Expr{Not: deep}
	}
	wide := &store.Expr{}
	for range store.MaxExprNodes {
		wide.Any = append(wide.Any, field("kind", "team"))
	}
	for name, e := range map[string]*store.Expr{"too deep": deep, "too many parts": wide, "two forms": {Key: "kind", Not: field("kind")},
		"no form": {}, "nil child": {All: []*store.Expr{nil}}, "values without key": {Values: []string{"x"}}} {
		if _, _, err := s.Query(ctx, store.Selector{Kinds: both, Where: e}); api.ReasonOf(err) != api.ReasonBadRequest {
			t.Errorf("predicate %s: %v, want BadRequest", name, err)
		}
	}
}
