package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/paved-dev/paved/api"
	"github.com/paved-dev/paved/internal/kinds"
)

// Selector is a query over the search index of one or more kinds (kinds.Kind.Index), as the
// catalog's by-query, facets and search need.
type Selector struct {
	Kinds     []*kinds.Kind
	Namespace string
	// Filter: any clause may match; every requirement of a clause must. Values are
	// lower-cased here.
	Filter   [][]FieldRequirement
	FullText *FullText
	OrderBy  []Order
	Offset   int
	Limit    int
}

func (s *Store) query(sel Selector) (Query, error) {
	if len(sel.Kinds) == 0 {
		return Query{}, api.NewBadRequest("a query needs at least one kind")
	}
	if sel.Offset < 0 || sel.Limit < 0 {
		return Query{}, api.NewBadRequest("offset and limit must not be negative")
	}
	q := Query{Namespace: sel.Namespace, FullText: sel.FullText, OrderBy: sel.OrderBy, Offset: sel.Offset, Limit: min(sel.Limit, MaxListLimit)}
	for _, k := range sel.Kinds {
		q.Resources = append(q.Resources, k.Resource())
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

// Query returns the objects matching sel in its order, and whether more follow.
func (s *Store) Query(ctx context.Context, sel Selector) ([]*api.Object, bool, error) {
	q, err := s.query(sel)
	if err != nil {
		return nil, false, err
	}
	recs, _, more, err := s.be.List(ctx, q)
	if err != nil {
		return nil, false, fmt.Errorf("query: %w", err)
	}
	out := make([]*api.Object, 0, len(recs))
	for _, r := range recs {
		obj, err := Decode(r)
		if err != nil {
			return nil, false, err
		}
		out = append(out, obj)
	}
	return out, more, nil
}

// QueryCount returns how many objects match sel, ignoring its offset and limit.
func (s *Store) QueryCount(ctx context.Context, sel Selector) (int64, error) {
	q, err := s.query(sel)
	if err != nil {
		return 0, err
	}
	return s.be.CountQuery(ctx, q)
}

// QueryFacets counts the values of an index key among the objects matching sel.
func (s *Store) QueryFacets(ctx context.Context, sel Selector, key string) ([]FacetCount, error) {
	q, err := s.query(sel)
	if err != nil {
		return nil, err
	}
	q.Offset, q.Limit, q.OrderBy = 0, 0, nil
	return s.be.Facets(ctx, q, strings.ToLower(key))
}
