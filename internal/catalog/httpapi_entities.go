package catalog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/paved-dev/paved/api"
	"github.com/paved-dev/paved/internal/catalog/entity"
	"github.com/paved-dev/paved/internal/kinds"
	"github.com/paved-dev/paved/internal/store"
)

// defaultQueryLimit is by-query's page size when the request names none, as in Backstage.
const defaultQueryLimit = 200

// streamChunk is how many entities an unbounded /entities answer reads from the store at a
// time, so that listing 100,000 entities never holds them all in memory.
const streamChunk = 5000

// entityResources returns one store kind per stored resource (several apiVersions of a
// kind share one), ordered by lower-cased kind name: iterating them in this order, each
// in the store's (namespace, name) order, is Backstage's entity-ref order.
func (c *Catalog) entityResources() []*kinds.Kind {
	seen := map[string]bool{}
	var out []*kinds.Kind
	for _, k := range c.kinds {
		if !seen[k.Resource()] {
			seen[k.Resource()] = true
			out = append(out, k)
		}
	}
	slices.SortFunc(out, func(a, b *kinds.Kind) int {
		if c := strings.Compare(strings.ToLower(a.Kind), strings.ToLower(b.Kind)); c != 0 {
			return c
		}
		return strings.Compare(a.Resource(), b.Resource())
	})
	return out
}

// kindNamed finds the store kind of a Backstage kind name, ignoring case.
func (c *Catalog) kindNamed(name string) *kinds.Kind {
	for _, k := range c.kinds {
		if strings.EqualFold(k.Kind, name) {
			return k
		}
	}
	return nil
}

// getByRef reads one entity object; a kind the catalog does not know is a NotFound.
func (c *Catalog) getByRef(ctx context.Context, ref entity.CompoundRef) (*api.Object, error) {
	k := c.kindNamed(ref.Kind)
	if k == nil {
		return nil, api.NewNotFound(ref.Kind, ref.Name)
	}
	// Namespaces are DNS labels, so lower-casing loses nothing; names are
	// case-insensitive in the store.
	return c.store.Get(ctx, k, strings.ToLower(ref.Namespace), ref.Name)
}

// entitySearch is what a list of entities is selected and ordered by.
type entitySearch struct {
	filter   [][]store.FieldRequirement
	where    *store.Expr // a predicate (POST by-query), ANDed with filter
	order    []orderField
	fullText *fullTextFilter
}

func (s entitySearch) selector(ks []*kinds.Kind) store.Selector {
	sel := store.Selector{Kinds: ks, Filter: s.filter, Where: s.where}
	for _, o := range s.order {
		sel.OrderBy = append(sel.OrderBy, store.Order{Key: o.Field, Desc: o.Order == "desc"})
	}
	if len(sel.OrderBy) > 0 || s.fullText != nil {
		// Entities whose order fields are equal would otherwise tie across kinds (the
		// store breaks ties by namespace and name only), and offset pages could repeat or
		// skip one of them at a page boundary. Without an order this gives entity-ref
		// order, as page's kind-by-kind reading does.
		sel.OrderBy = append(sel.OrderBy, store.Order{Key: "kind"})
	}
	if s.fullText != nil {
		sel.FullText = &store.FullText{Term: s.fullText.Term, Keys: s.fullText.Fields}
	}
	return sel
}

// page returns the entities at [offset, offset+limit) of a search, whether more follow,
// and, if needTotal (or when it costs nothing extra), the number of matches; otherwise
// the total is -1. Without an order or a full-text term, entities come in entity-ref
// order (kind, namespace, name), read kind by kind; otherwise one query over every kind
// orders them.
func (c *Catalog) page(ctx context.Context, s entitySearch, offset, limit int, needTotal bool) ([]*api.Object, int64, bool, error) {
	if len(s.order) > 0 || s.fullText != nil {
		sel := s.selector(c.entityResources())
		if limit <= 0 {
			if !needTotal {
				return nil, -1, false, nil
			}
			n, err := c.store.QueryCount(ctx, sel)
			return nil, n, false, err
		}
		sel.Offset, sel.Limit = offset, limit
		return c.store.QueryPage(ctx, sel)
	}
	var out []*api.Object
	var total int64
	skip, need := int64(offset), int64(max(limit, 0))
	for _, k := range c.entityResources() {
		sel := s.selector([]*kinds.Kind{k})
		n, err := c.store.QueryCount(ctx, sel)
		if err != nil {
			return nil, 0, false, err
		}
		total += n
		if need == 0 || n == 0 {
			continue
		}
		if skip >= n {
			skip -= n
			continue
		}
		sel.Offset, sel.Limit = int(skip), int(min(need, n-skip))
		objs, _, err := c.store.Query(ctx, sel)
		if err != nil {
			return nil, 0, false, err
		}
		out = append(out, objs...)
		need -= int64(sel.Limit)
		skip = 0
	}
	return out, total, int64(offset)+int64(max(limit, 0)) < total, nil
}

// count returns how many entities a search matches.
func (c *Catalog) count(ctx context.Context, s entitySearch) (int64, error) {
	_, n, _, err := c.page(ctx, s, 0, 0, true)
	return n, err
}

// renderEntity turns a stored object into the entity JSON the API serves: uid, etag,
// relations (sorted, always present) and status; with fields, only those paths. legacy
// adds each relation's deprecated compound target, as Backstage's /entities still does.
func renderEntity(obj *api.Object, fields projection, legacy bool) (json.RawMessage, error) {
	e, err := ToEntity(obj)
	if err != nil {
		return nil, err
	}
	if e.Relations == nil {
		e.Relations = []entity.Relation{}
	}
	e.Relations = entity.SortRelations(e.Relations)
	if legacy {
		for i, r := range e.Relations {
			if ref, err := entity.ParseRef(r.TargetRef, entity.RefDefaults{}); err == nil {
				ref.Kind, ref.Namespace, ref.Name = strings.ToLower(ref.Kind), strings.ToLower(ref.Namespace), strings.ToLower(ref.Name)
				e.Relations[i].Target = &ref
			}
		}
	}
	m := e.Object()
	if fields != nil {
		m = fields.apply(m)
	}
	return marshal(m)
}

func renderAll(objs []*api.Object, fields projection, legacy bool) ([]json.RawMessage, error) {
	out := make([]json.RawMessage, 0, len(objs))
	for _, o := range objs {
		b, err := renderEntity(o, fields, legacy)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// GET /entities: every matching entity as a JSON array, in entity-ref order unless an
// order is given; offset, limit and after page it, and a Link header names the next page.
func (h *httpAPI) getEntities(w http.ResponseWriter, r *http.Request, _ params) error {
	ctx := r.Context()
	q := r.URL.Query()
	filter, err := parseFilters(q["filter"])
	if err != nil {
		return err
	}
	fields, err := fieldsParam(q, nil)
	if err != nil {
		return err
	}
	order, err := orderParams(q)
	if err != nil {
		return err
	}
	offset, _, err := intParam(q, "offset")
	if err != nil {
		return err
	}
	limit, hasLimit, err := intParam(q, "limit")
	if err != nil {
		return err
	}
	after, hasAfter, err := stringParam(q, "after")
	if err != nil {
		return err
	}
	if offset < 0 {
		return inputErrorf("Invalid offset, must be zero or greater")
	}
	if hasLimit && limit <= 0 {
		return inputErrorf("Invalid limit, must be greater than zero")
	}
	if hasAfter {
		if after == "" {
			return inputErrorf("Invalid after, must not be empty")
		}
		if err := decodeAfter(after, &limit, &offset); err != nil {
			return err
		}
		hasLimit = hasLimit || limit > 0
	}
	s := entitySearch{filter: filter, order: order}
	total, err := h.c.count(ctx, s)
	if err != nil {
		return err
	}
	end := total
	if hasLimit && int64(offset)+int64(limit) < total {
		end = int64(offset) + int64(limit)
		next := *r.URL
		nq := next.Query()
		nq.Del("offset")
		nq.Set("after", encodeAfter(limit, offset+limit))
		next.RawQuery = nq.Encode()
		w.Header().Set("Link", fmt.Sprintf("<%s?%s>; rel=\"next\"", next.Path, next.RawQuery))
	}
	// Read and write in chunks: the answer may hold the whole catalog.
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	var buf bytes.Buffer
	buf.WriteByte('[')
	first := true
	for pos := int64(offset); pos < end; {
		n := min(end-pos, streamChunk)
		objs, _, more, err := h.c.page(ctx, s, int(pos), int(n), false)
		if err != nil {
			if first && buf.Len() == 1 {
				return err
			}
			h.abort(r, err)
		}
		for _, o := range objs {
			b, err := renderEntity(o, fields, true)
			if err != nil {
				h.abort(r, err)
			}
			if !first {
				buf.WriteByte(',')
			}
			first = false
			buf.Write(b)
		}
		if buf.Len() > 64<<10 {
			if _, err := w.Write(buf.Bytes()); err != nil {
				return nil // the client left
			}
			buf.Reset()
		}
		pos += n
		if !more {
			break
		}
	}
	buf.WriteByte(']')
	_, _ = w.Write(buf.Bytes())
	return nil
}

// abort ends a streamed answer that failed after its status was sent: the client sees a
// cut connection instead of a truncated array that parses.
func (h *httpAPI) abort(r *http.Request, err error) {
	h.log.ErrorContext(r.Context(), "catalog api: streaming answer failed", "path", r.URL.Path, "err", err)
	panic(http.ErrAbortHandler)
}

type queryResponse struct {
	Items      []json.RawMessage `json:"items"`
	TotalItems int64             `json:"totalItems"`
	PageInfo   pageInfo          `json:"pageInfo"`
}

type pageInfo struct {
	NextCursor string `json:"nextCursor,omitempty"`
	PrevCursor string `json:"prevCursor,omitempty"`
}

// GET /entities/by-query: one page of entities, the total, and cursors for the pages
// around it. A cursor carries the whole query.
func (h *httpAPI) queryEntities(w http.ResponseWriter, r *http.Request, _ params) error {
	q := r.URL.Query()
	fields, err := fieldsParam(q, nil)
	if err != nil {
		return err
	}
	limit, hasLimit, err := intParam(q, "limit")
	if err != nil {
		return err
	}
	if !hasLimit {
		limit = defaultQueryLimit
	}
	if limit < 0 {
		return inputErrorf("Invalid limit, must be zero or greater")
	}
	// A larger page is served in several: the cursor leads to the rest.
	limit = min(limit, store.MaxListLimit)
	rawCursor, _, err := stringParam(q, "cursor")
	if err != nil {
		return err
	}
	var cur queryCursor
	fromCursor := rawCursor != ""
	if fromCursor {
		if cur, err = decodeCursor(rawCursor); err != nil {
			return err
		}
	} else {
		if cur, err = initialCursor(q); err != nil {
			return err
		}
	}
	return h.answerQuery(w, r, cur, fromCursor, limit, fields)
}

// answerQuery answers a by-query request (GET or POST) for the query a cursor holds: one
// page of limit entities from cur.Offset, the total, and cursors for the pages around it.
func (h *httpAPI) answerQuery(w http.ResponseWriter, r *http.Request, cur queryCursor, fromCursor bool, limit int, fields projection) error {
	ctx := r.Context()
	s := entitySearch{filter: fromCursorFilter(cur.Filter), order: cur.OrderFields, fullText: cur.FullTextFilter}
	if cur.Query != nil {
		where, err := h.c.predicateWhere(ctx, cur.Query)
		if err != nil {
			var ae *apiError
			if fromCursor && errors.As(err, &ae) {
				return inputErrorf("Malformed cursor: %s", ae.message)
			}
			return err
		}
		s.where = where
	}
	objs, total, more, err := h.c.page(ctx, s, cur.Offset, limit, cur.TotalItems == nil)
	if err != nil {
		return err
	}
	if cur.TotalItems != nil {
		total = *cur.TotalItems
	}
	items, err := renderAll(objs, fields, false)
	if err != nil {
		return err
	}
	resp := queryResponse{Items: items, TotalItems: total}
	if more && limit > 0 {
		next := cur
		next.Offset = cur.Offset + limit
		next.TotalItems = &total
		next.IsPrevious = false
		resp.PageInfo.NextCursor = encodeCursor(next)
	}
	if fromCursor && cur.Offset > 0 && len(objs) > 0 {
		prev := cur
		prev.Offset = max(0, cur.Offset-max(limit, 1))
		prev.TotalItems = &total
		prev.IsPrevious = true
		resp.PageInfo.PrevCursor = encodeCursor(prev)
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// initialCursor reads the query of a first by-query request.
func initialCursor(q url.Values) (queryCursor, error) {
	var cur queryCursor
	filter, err := parseFilters(q["filter"])
	if err != nil {
		return cur, err
	}
	order, err := orderFieldParams(q)
	if err != nil {
		return cur, err
	}
	ft, err := fullTextParams(q)
	if err != nil {
		return cur, err
	}
	offset, _, err := intParam(q, "offset")
	if err != nil {
		return cur, err
	}
	if offset < 0 {
		return cur, inputErrorf("Invalid offset, must be zero or greater")
	}
	totalItems, _, err := stringParam(q, "totalItems")
	if err != nil {
		return cur, err
	}
	switch totalItems {
	case "", "include":
	case "exclude":
		// Backstage then reports 0, on this page and every later one.
		zero := int64(0)
		cur.TotalItems = &zero
	default:
		return cur, inputErrorf("Invalid totalItems, must be include or exclude")
	}
	if ft != nil && len(ft.Fields) == 0 {
		// Backstage searches the sort field, or else metadata.uid.
		ft.Fields = []string{"metadata.uid"}
		if len(order) > 0 {
			ft.Fields = []string{order[0].Field}
		}
	}
	cur.Filter = toCursorFilter(filter)
	cur.OrderFields = order
	if cur.OrderFields == nil {
		cur.OrderFields = []orderField{}
	}
	cur.FullTextFilter = ft
	cur.Offset = offset
	return cur, nil
}

// findByUID finds an entity by uid through the search index (metadata.uid is indexed).
func (c *Catalog) findByUID(ctx context.Context, uid string) (*api.Object, error) {
	sel := store.Selector{Kinds: c.entityResources(), Limit: 1,
		Filter: [][]store.FieldRequirement{{{Key: "metadata.uid", Values: []string{uid}}}}}
	objs, _, err := c.store.Query(ctx, sel)
	if err != nil {
		return nil, err
	}
	if len(objs) == 0 {
		return nil, nil
	}
	return objs[0], nil
}

// GET /entities/by-uid/:uid
func (h *httpAPI) getEntityByUID(w http.ResponseWriter, r *http.Request, p params) error {
	obj, err := h.c.findByUID(r.Context(), p["uid"])
	if err != nil {
		return err
	}
	if obj == nil {
		return notFoundf("No entity with uid %s", p["uid"])
	}
	b, err := renderEntity(obj, nil, false)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, b)
	return nil
}

// DELETE /entities/by-uid/:uid removes the entity (a location that still yields it brings
// it back on its next refresh). Like Backstage, an unknown uid is not an error.
func (h *httpAPI) deleteEntityByUID(w http.ResponseWriter, r *http.Request, p params) error {
	ctx := r.Context()
	obj, err := h.c.findByUID(ctx, p["uid"])
	if err != nil {
		return err
	}
	if obj != nil {
		k, err := h.c.store.KindOf(obj)
		if err != nil {
			return err
		}
		_, err = h.c.store.Delete(ctx, k, obj.Metadata.Namespace, obj.Metadata.Name, store.DeleteOptions{UID: obj.Metadata.UID})
		if err != nil && !api.IsNotFound(err) {
			return err
		}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// GET /entities/by-name/:kind/:namespace/:name, case-insensitively.
func (h *httpAPI) getEntityByName(w http.ResponseWriter, r *http.Request, p params) error {
	ref := entity.CompoundRef{Kind: p["kind"], Namespace: p["namespace"], Name: p["name"]}
	obj, err := h.c.getByRef(r.Context(), ref)
	if api.IsNotFound(err) {
		return notFoundf("No entity named '%s' found, with kind '%s' in namespace '%s'", ref.Name, ref.Kind, ref.Namespace)
	}
	if err != nil {
		return err
	}
	b, err := renderEntity(obj, nil, false)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, b)
	return nil
}

type ancestryResponse struct {
	RootEntityRef string         `json:"rootEntityRef"`
	Items         []ancestryItem `json:"items"`
}

type ancestryItem struct {
	Entity           json.RawMessage `json:"entity"`
	ParentEntityRefs []string        `json:"parentEntityRefs"`
}

// GET /entities/by-name/:kind/:namespace/:name/ancestry: the entity and the chain of
// Location entities whose processing brought it into the catalog.
func (h *httpAPI) getAncestry(w http.ResponseWriter, r *http.Request, p params) error {
	ctx := r.Context()
	ref := entity.CompoundRef{Kind: p["kind"], Namespace: p["namespace"], Name: p["name"]}
	root, err := h.c.getByRef(ctx, ref)
	if api.IsNotFound(err) {
		return notFoundf("No such entity %s", ref.String())
	}
	if err != nil {
		return err
	}
	resp, err := h.c.ancestry(ctx, root)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// ancestry walks from an entity to the Location entities that emitted it. An entity's
// parent is a Location entity one of whose targets, resolved against the Location's own
// managed-by-location, is the entity's managed-by-location: the file the entity was read
// from.
func (c *Catalog) ancestry(ctx context.Context, root *api.Object) (ancestryResponse, error) {
	parents := map[string][]*api.Object{} // "type:target" -> Location entities targeting it
	if lk := c.kindNamed("Location"); lk != nil {
		sel := store.Selector{Kinds: []*kinds.Kind{lk}}
		// The Location entities of one registered location share its origin annotation,
		// which narrows thousands of them to a few. (The index keeps values up to
		// entity.MaxSearchValueLength; a longer origin cannot be filtered on.)
		if origin := root.Metadata.Annotations[entity.AnnotationManagedByOriginLocation]; origin != "" && len(origin) <= entity.MaxSearchValueLength {
			sel.Filter = [][]store.FieldRequirement{{{Key: "metadata.annotations." + entity.AnnotationManagedByOriginLocation, Values: []string{origin}}}}
		}
		locs, _, err := c.store.Query(ctx, sel)
		if err != nil {
			return ancestryResponse{}, err
		}
		for _, l := range locs {
			for _, t := range locationTargets(l) {
				parents[t] = append(parents[t], l)
			}
		}
	}
	refOf := func(o *api.Object) string {
		return entity.CompoundRef{Kind: o.Kind, Namespace: o.Metadata.Namespace, Name: o.Metadata.Name}.String()
	}
	resp := ancestryResponse{RootEntityRef: refOf(root), Items: []ancestryItem{}}
	seen := map[string]bool{resp.RootEntityRef: true}
	todo := []*api.Object{root}
	for len(todo) > 0 {
		cur := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		self := refOf(cur)
		item := ancestryItem{ParentEntityRefs: []string{}}
		for _, l := range parents[normalizeLocation(cur.Metadata.Annotations[entity.AnnotationManagedByLocation])] {
			pr := refOf(l)
			if pr == self {
				continue
			}
			item.ParentEntityRefs = append(item.ParentEntityRefs, pr)
			if !seen[pr] {
				seen[pr] = true
				todo = append(todo, l)
			}
		}
		b, err := renderEntity(cur, nil, false)
		if err != nil {
			return ancestryResponse{}, err
		}
		item.Entity = b
		resp.Items = append(resp.Items, item)
	}
	return resp, nil
}

// locationTargets returns the "type:target" locations a Location entity points at, with
// relative targets resolved against the file the Location entity came from.
func locationTargets(o *api.Object) []string {
	var spec struct {
		Type    string   `json:"type"`
		Target  string   `json:"target"`
		Targets []string `json:"targets"`
	}
	_ = json.Unmarshal(o.Spec, &spec) // a malformed spec just has no targets
	baseType, base, _ := strings.Cut(o.Metadata.Annotations[entity.AnnotationManagedByLocation], ":")
	typ := spec.Type
	if typ == "" {
		typ = baseType
	}
	var out []string
	for _, t := range append([]string{spec.Target}, spec.Targets...) {
		if t == "" {
			continue
		}
		resolved := t
		switch typ {
		case "url":
			t = strings.TrimSpace(t)
			resolved = t
			if baseType == "url" {
				if bu, err := url.Parse(base); err == nil {
					if tu, err := url.Parse(t); err == nil {
						resolved = bu.ResolveReference(tu).String()
					}
				}
			}
		case "file":
			resolved = strings.TrimPrefix(t, "file://")
			if !filepath.IsAbs(resolved) && baseType == "file" {
				resolved = filepath.Join(filepath.Dir(base), resolved)
			}
		}
		out = append(out, normalizeLocation(typ+":"+resolved))
	}
	return out
}

// normalizeLocation cleans the path of a "type:target" location so that equal files
// compare equal.
func normalizeLocation(loc string) string {
	typ, target, ok := strings.Cut(loc, ":")
	if !ok {
		return loc
	}
	switch typ {
	case "file":
		target = filepath.Clean(target)
	case "url":
		if u, err := url.Parse(target); err == nil && u.Path != "" {
			u.Path = path.Clean(u.Path)
			target = u.String()
		}
	}
	return typ + ":" + target
}

// POST /entities/by-refs: the entities named in the body, in order, null for those that
// do not exist (or do not match the filter).
func (h *httpAPI) getEntitiesByRefs(w http.ResponseWriter, r *http.Request, _ params) error {
	ctx := r.Context()
	var body struct {
		EntityRefs *[]string `json:"entityRefs"`
		Fields     []string  `json:"fields"`
		// Query is a predicate the entities must match too (ANDed with filter).
		Query json.RawMessage `json:"query"`
	}
	if err := h.readJSONBody(w, r, &body); err != nil {
		var ae *apiError
		if errors.As(err, &ae) && ae.status == http.StatusBadRequest {
			return inputErrorf("Malformed request body (did you remember to specify an application/json content type?), %s", ae.message)
		}
		return err
	}
	if body.EntityRefs == nil {
		return inputErrorf("Malformed request body (did you remember to specify an application/json content type?), entityRefs is required")
	}
	q := r.URL.Query()
	fields, err := fieldsParam(q, body.Fields)
	if err != nil {
		return err
	}
	filter, err := parseFilters(q["filter"])
	if err != nil {
		return err
	}
	var where *store.Expr
	if body.Query != nil {
		if where, err = h.c.predicateWhere(ctx, body.Query); err != nil {
			return err
		}
	}
	objs := make([]*api.Object, len(*body.EntityRefs))
	var uids []string
	for i, s := range *body.EntityRefs {
		ref, err := entity.ParseRef(s, entity.RefDefaults{})
		if err != nil {
			continue // Backstage matches refs as strings: a malformed one finds nothing
		}
		obj, err := h.c.getByRef(ctx, ref)
		if api.IsNotFound(err) {
			continue
		}
		if err != nil {
			return err
		}
		objs[i] = obj
		uids = append(uids, obj.Metadata.UID)
	}
	if (len(filter) > 0 || where != nil) && len(uids) > 0 {
		// Keep the entities that match: each clause (and the predicate), and also one of
		// these uids.
		sel := store.Selector{Kinds: h.c.entityResources(), Where: where}
		for _, clause := range filter {
			c := append(slices.Clone(clause), store.FieldRequirement{Key: "metadata.uid", Values: uids})
			sel.Filter = append(sel.Filter, c)
		}
		if len(filter) == 0 {
			sel.Filter = [][]store.FieldRequirement{{{Key: "metadata.uid", Values: uids}}}
		}
		matched, _, err := h.c.store.Query(ctx, sel)
		if err != nil {
			return err
		}
		ok := map[string]bool{}
		for _, m := range matched {
			ok[m.Metadata.UID] = true
		}
		for i, o := range objs {
			if o != nil && !ok[o.Metadata.UID] {
				objs[i] = nil
			}
		}
	}
	items := make([]json.RawMessage, len(objs))
	for i, o := range objs {
		if o == nil {
			items[i] = json.RawMessage("null")
			continue
		}
		b, err := renderEntity(o, fields, false)
		if err != nil {
			return err
		}
		items[i] = b
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
	return nil
}

type facetValue struct {
	Value string `json:"value"`
	Count int64  `json:"count"`
}

// GET /entity-facets: for each facet (a search key such as kind or spec.type), how many
// matching entities have each of its values.
func (h *httpAPI) getFacets(w http.ResponseWriter, r *http.Request, _ params) error {
	q := r.URL.Query()
	var facets []string
	for _, f := range q["facet"] {
		if f != "" {
			facets = append(facets, f)
		}
	}
	if len(facets) == 0 {
		return inputErrorf("Missing facet parameter")
	}
	filter, err := parseFilters(q["filter"])
	if err != nil {
		return err
	}
	return h.writeFacets(w, r, entitySearch{filter: filter}, facets)
}

// writeFacets answers an entity-facets request: for each facet, the values the matching
// entities have and how many have each.
func (h *httpAPI) writeFacets(w http.ResponseWriter, r *http.Request, s entitySearch, facets []string) error {
	ctx := r.Context()
	sel := s.selector(h.c.entityResources())
	out := make(map[string][]facetValue, len(facets))
	for _, f := range facets {
		counts, err := h.c.store.QueryFacets(ctx, sel, f)
		if err != nil {
			return err
		}
		vs := make([]facetValue, 0, len(counts))
		for _, fc := range counts {
			if fc.Value == "" {
				// Null rows (a null value, or one too long to index) are no facet value
				// in Backstage; the index keeps them as empty strings.
				continue
			}
			vs = append(vs, facetValue{Value: fc.Value, Count: fc.Count})
		}
		out[f] = vs
	}
	writeJSON(w, http.StatusOK, map[string]any{"facets": out})
	return nil
}

// POST /entities/by-query: by-query with the request in a JSON body and a predicate
// ("query") in place of filter parameters. A body with a cursor continues a query (only
// fields and limit apply then), whichever endpoint started it.
func (h *httpAPI) queryEntitiesByPredicate(w http.ResponseWriter, r *http.Request, _ params) error {
	var body map[string]json.RawMessage
	if err := h.readOptionalJSONBody(w, r, &body); err != nil {
		return err
	}
	rawFields, _, err := bodyStrings(body, "fields")
	if err != nil {
		return err
	}
	fields, err := fieldsParam(url.Values{}, rawFields)
	if err != nil {
		return err
	}
	limit, hasLimit, err := bodyInt(body, "limit", 0)
	if err != nil {
		return err
	}
	if !hasLimit {
		limit = defaultQueryLimit
	}
	limit = min(limit, store.MaxListLimit)
	if c, ok, err := bodyString(body, "cursor"); err != nil {
		return err
	} else if ok {
		if c == "" {
			return inputErrorf("Cursor cannot be empty")
		}
		cur, err := decodeCursor(c)
		if err != nil {
			return err
		}
		return h.answerQuery(w, r, cur, true, limit, fields)
	}
	cur, err := predicateQueryCursor(body)
	if err != nil {
		return err
	}
	return h.answerQuery(w, r, cur, false, limit, fields)
}

// POST /entity-facets: facets of the entities matching a predicate ("query"; all
// entities without one).
func (h *httpAPI) getFacetsByPredicate(w http.ResponseWriter, r *http.Request, _ params) error {
	var body map[string]json.RawMessage
	if err := h.readJSONBody(w, r, &body); err != nil {
		return err
	}
	raw, _, err := bodyStrings(body, "facets")
	if err != nil {
		return err
	}
	var facets []string
	for _, f := range raw {
		if f != "" {
			facets = append(facets, f)
		}
	}
	if len(facets) == 0 {
		return inputErrorf("Missing or empty facets parameter")
	}
	var s entitySearch
	if q, ok := body["query"]; ok {
		if s.where, err = h.c.predicateWhere(r.Context(), q); err != nil {
			return err
		}
	}
	return h.writeFacets(w, r, s, facets)
}
