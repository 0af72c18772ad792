package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/paved-dev/paved/api"
	"github.com/paved-dev/paved/internal/kinds"
)

// Selector is a query over the index rows of one or more indexed kinds (kinds.Kind.Index),
// as the catalog's by-query, facets and search need. It is answered from an in-memory
// inverted index (queryindex.go) that every process keeps current from the watch.
type Selector struct {
	Kinds     []*kinds.Kind
	Namespace string
	// Filter: any clause may match; every requirement of a clause must. Keys and values
	// are lower-cased here.
	Filter [][]FieldRequirement
	// Where, if set, must match too (ANDed with Filter). Keys and values are lower-cased
	// here; at most MaxExprNodes nodes, MaxExprDepth deep.
	Where    *Expr
	FullText *FullText
	// OrderBy sorts by index rows (objects without the field last), then by namespace and
	// name.
	OrderBy []Order
	Offset  int
	Limit   int
}

func (s *Store) query(sel Selector) (Query, error) {
	if len(sel.Kinds) == 0 {
		return Query{}, api.NewBadRequest("a query needs at least one kind")
	}
	if sel.Offset < 0 || sel.Limit < 0 {
		return Query{}, api.NewBadRequest("offset and limit must not be negative")
	}
	q := Query{Namespace: sel.Namespace, FullText: sel.FullText, Offset: sel.Offset, Limit: min(sel.Limit, MaxListLimit)}
	for _, k := range sel.Kinds {
		if k.Index == nil {
			return Query{}, api.NewBadRequest("kind %s has no search index", k.Kind)
		}
		q.Resources = append(q.Resources, k.Resource())
	}
	for _, o := range sel.OrderBy {
		q.OrderBy = append(q.OrderBy, Order{Key: strings.ToLower(o.Key), Desc: o.Desc})
	}
	if sel.Where != nil {
		nodes := 0
		w, err := lowerExpr(sel.Where, 1, &nodes)
		if err != nil {
			return Query{}, err
		}
		q.Where = w
	}
	for _, clause := range sel.Filter {
		c := make([]FieldRequirement, len(clause))
		for i, r := range clause {
			c[i] = FieldRequirement{Key: strings.ToLower(r.Key)}
			for _, v := range r.Values {
				c[i].Values = append(c[i].Values, strings.ToLower(v))
			}
		}
		q.Filter = append(q.Filter, c)
	}
	return q, nil
}

// Query returns the objects matching sel in its order, and whether more follow. Every write
// acknowledged before the call is reflected.
func (s *Store) Query(ctx context.Context, sel Selector) ([]*api.Object, bool, error) {
	objs, _, more, err := s.QueryPage(ctx, sel)
	return objs, more, err
}

// WarmQueryIndex builds the query index now rather than on the first query (which would
// otherwise wait for it).
func (s *Store) WarmQueryIndex(ctx context.Context) error { return s.qi.ready(ctx) }

// QueryIndexBuilt reports whether the query index has been built (WarmQueryIndex or the
// first query started it), so that queries answer without waiting for the build.
func (s *Store) QueryIndexBuilt() bool {
	s.qi.mu.RLock()
	defer s.qi.mu.RUnlock()
	return s.qi.built
}

// QueryPage is Query plus the number of all matches (ignoring offset and limit), from one
// evaluation of the selection.
func (s *Store) QueryPage(ctx context.Context, sel Selector) ([]*api.Object, int64, bool, error) {
	q, err := s.query(sel)
	if err != nil {
		return nil, 0, false, err
	}
	if err := s.qi.ready(ctx); err != nil {
		return nil, 0, false, err
	}
	s.qi.mu.RLock()
	m := s.qi.match(q)
	total := int64(m.GetCardinality())
	keys, more := s.qi.page(q, m)
	s.qi.mu.RUnlock()
	out := make([]*api.Object, 0, len(keys))
	for _, k := range keys {
		rec, err := s.be.Get(ctx, k.resource, k.namespace, k.name)
		if err == ErrKeyNotFound {
			continue // deleted since the index answered
		}
		if err != nil {
			return nil, 0, false, fmt.Errorf("query: read %s %s/%s: %w", k.resource, k.namespace, k.name, err)
		}
		obj, err := Decode(rec)
		if err != nil {
			return nil, 0, false, err
		}
		out = append(out, obj)
	}
	return out, total, more, nil
}

// QueryCount returns how many objects match sel, ignoring its offset and limit.
func (s *Store) QueryCount(ctx context.Context, sel Selector) (int64, error) {
	q, err := s.query(sel)
	if err != nil {
		return 0, err
	}
	if err := s.qi.ready(ctx); err != nil {
		return 0, err
	}
	s.qi.mu.RLock()
	defer s.qi.mu.RUnlock()
	return int64(s.qi.match(q).GetCardinality()), nil
}

// QueryFacets counts, for each value of an index key, the objects matching sel that have it.
func (s *Store) QueryFacets(ctx context.Context, sel Selector, key string) ([]FacetCount, error) {
	q, err := s.query(sel)
	if err != nil {
		return nil, err
	}
	if err := s.qi.ready(ctx); err != nil {
		return nil, err
	}
	s.qi.mu.RLock()
	defer s.qi.mu.RUnlock()
	return s.qi.facets(s.qi.match(q), strings.ToLower(key)), nil
}

// Limits on a query predicate, so that a hostile query cannot make the index work for long.
const (
	MaxExprNodes = 1000
	MaxExprDepth = 32
)

// lowerExpr checks e's shape and returns a copy with lower-cased keys and values.
func lowerExpr(e *Expr, depth int, nodes *int) (*Expr, error) {
	if e == nil {
		return nil, api.NewBadRequest("a query predicate must not be empty")
	}
	*nodes++
	if *nodes > MaxExprNodes {
		return nil, api.NewBadRequest("a query predicate has more than %d parts", MaxExprNodes)
	}
	if depth > MaxExprDepth {
		return nil, api.NewBadRequest("a query predicate is nested more than %d deep", MaxExprDepth)
	}
	forms := 0
	if e.All != nil {
		forms++
	}
	if e.Any != nil {
		forms++
	}
	if e.Not != nil {
		forms++
	}
	if e.Key != "" {
		forms++
	} else if len(e.Values) > 0 {
		return nil, api.NewBadRequest("a query predicate has values but no field")
	}
	if forms != 1 {
		return nil, api.NewBadRequest("a query predicate part must be exactly one of all, any, not or a field test")
	}
	out := &Expr{}
	var err error
	switch {
	case e.All != nil:
		out.All = make([]*Expr, len(e.All))
		for i, c := range e.All {
			if out.All[i], err = lowerExpr(c, depth+1, nodes); err != nil {
				return nil, err
			}
		}
	case e.Any != nil:
		out.Any = make([]*Expr, len(e.Any))
		for i, c := range e.Any {
			if out.Any[i], err = lowerExpr(c, depth+1, nodes); err != nil {
				return nil, err
			}
		}
	case e.Not != nil:
		if out.Not, err = lowerExpr(e.Not, depth+1, nodes); err != nil {
			return nil, err
		}
	default:
		out.Key = strings.ToLower(e.Key)
		for _, v := range e.Values {
			out.Values = append(out.Values, strings.ToLower(v))
		}
	}
	return out, nil
}
