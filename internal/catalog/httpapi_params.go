package catalog

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"net/url"
	"strconv"
	"strings"

	"github.com/paved-dev/paved/internal/store"
)

// The request parameters of the catalog API, parsed as Backstage's catalog backend
// parses them (plugins/catalog-backend/src/service/request/*): the same syntax, the
// same defaults and an InputError (400) for the same mistakes.

// stringParam returns a parameter that may appear at most once (express turns a repeated
// parameter into an array, which Backstage's parseStringParam refuses).
func stringParam(q url.Values, name string) (string, bool, error) {
	vs, ok := q[name]
	if !ok {
		return "", false, nil
	}
	if len(vs) != 1 {
		return "", false, inputErrorf("Invalid %s, not a string", name)
	}
	return vs[0], true, nil
}

// intParam parses an integer parameter exactly as Backstage's parseIntegerParam: the
// text must be the canonical form of the number ("5", "-3"; not "05", "+5" or "5.0").
func intParam(q url.Values, name string) (int, bool, error) {
	s, ok, err := stringParam(q, name)
	if err != nil {
		return 0, false, inputErrorf("Invalid %s, not an integer on string form", name)
	}
	if !ok {
		return 0, false, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || strconv.Itoa(n) != s {
		return 0, false, inputErrorf("Invalid %s, not an integer", name)
	}
	return n, true, nil
}

// parseFilters parses repeated filter parameters: each is a comma-separated list of
// conditions that must all hold ("kind=component,spec.type=service"), and an entity
// matches if any filter does. A condition is "key=value" or "key" alone (the key exists
// with any value); a key repeated within one filter matches any of its values. Keys and
// values are trimmed; empty conditions are skipped. Matching is case-insensitive (the
// store lower-cases both sides).
func parseFilters(vals []string) ([][]store.FieldRequirement, error) {
	var out [][]store.FieldRequirement
	for _, s := range vals {
		clause, err := parseFilterString(s)
		if err != nil {
			return nil, err
		}
		if len(clause) > 0 {
			out = append(out, clause)
		}
	}
	return out, nil
}

func parseFilterString(s string) ([]store.FieldRequirement, error) {
	var out []store.FieldRequirement
	byKey := map[string]int{}
	for _, stmt := range strings.Split(s, ",") {
		stmt = strings.TrimSpace(stmt)
		if stmt == "" {
			continue
		}
		key, value, hasValue := strings.Cut(stmt, "=")
		key = strings.TrimSpace(key)
		if key == "" {
			return nil, inputErrorf("Invalid filter, '%s' is not a valid statement (expected a string on the form a=b or a= or a)", stmt)
		}
		lk := strings.ToLower(key)
		i, seen := byKey[lk]
		if !seen {
			i = len(out)
			byKey[lk] = i
			out = append(out, store.FieldRequirement{Key: key})
		}
		// "a,a=b" needs one of the values, which implies that the key exists.
		if hasValue {
			out[i].Values = append(out[i].Values, strings.TrimSpace(value))
		}
	}
	return out, nil
}

// fieldsParam parses the fields parameter (repeated or comma-separated dotted paths) as
// Backstage's parseEntityTransformParams does; nil means whole entities.
func fieldsParam(q url.Values, extra []string) (projection, error) {
	var raw []string
	for _, v := range append(append([]string(nil), q["fields"]...), extra...) {
		for _, f := range strings.Split(v, ",") {
			if f = strings.TrimSpace(f); f != "" {
				raw = append(raw, f)
			}
		}
	}
	if len(raw) == 0 {
		return nil, nil
	}
	p := make(projection, 0, len(raw))
	for _, f := range raw {
		if strings.Contains(f, "[") {
			return nil, inputErrorf("invalid fields, array type fields are not supported")
		}
		p = append(p, strings.Split(f, "."))
	}
	return p, nil
}

// projection keeps only some paths of an entity (the fields parameter). Each path is a
// dotted name split at dots; since keys may contain dots themselves (annotation keys such
// as backstage.io/orphan), parts are joined again until they name an existing key, as
// Backstage's getPathArray does.
type projection [][]string

func (p projection) apply(in map[string]any) map[string]any {
	out := map[string]any{}
	for _, parts := range p {
		path, ok := resolvePath(in, parts)
		if !ok {
			continue
		}
		v, _ := getPath(in, path)
		setPath(out, path, v)
	}
	return out
}

// resolvePath turns dotted parts into the keys they name in v.
func resolvePath(v any, parts []string) ([]string, bool) {
	var path []string
	cur := ""
	node := v
	for _, part := range parts {
		if cur == "" {
			cur = part
		} else {
			cur += "." + part
		}
		if next, ok := child(node, cur); ok {
			path = append(path, cur)
			node = next
			cur = ""
		}
	}
	return path, cur == "" && len(path) > 0
}

func child(v any, key string) (any, bool) {
	switch t := v.(type) {
	case map[string]any:
		c, ok := t[key]
		return c, ok
	case []any:
		i, err := strconv.Atoi(key)
		if err != nil || i < 0 || i >= len(t) || strconv.Itoa(i) != key {
			return nil, false
		}
		return t[i], true
	}
	return nil, false
}

func getPath(v any, path []string) (any, bool) {
	for _, k := range path {
		c, ok := child(v, k)
		if !ok {
			return nil, false
		}
		v = c
	}
	return v, true
}

// setPath sets path in out, creating objects (or arrays, for index keys) on the way, as
// lodash.set does.
func setPath(out map[string]any, path []string, v any) {
	var set func(container any, path []string) any
	set = func(container any, path []string) any {
		if len(path) == 0 {
			return v
		}
		k := path[0]
		switch c := container.(type) {
		case map[string]any:
			c[k] = set(c[k], path[1:])
			return c
		case []any:
			if i, err := strconv.Atoi(k); err == nil && i >= 0 {
				for len(c) <= i {
					c = append(c, nil)
				}
				c[i] = set(c[i], path[1:])
				return c
			}
		}
		if i, err := strconv.Atoi(k); err == nil && i >= 0 && i < 1<<16 {
			arr := make([]any, i+1)
			arr[i] = set(nil, path[1:])
			return arr
		}
		return map[string]any{k: set(nil, path[1:])}
	}
	set(out, path)
}

// orderField is one sort directive of by-query (orderField=metadata.name,asc) or of
// /entities (order=asc:metadata.name).
type orderField struct {
	Field string `json:"field"`
	Order string `json:"order"`
}

// orderFieldParams parses by-query's orderField parameters, "field" or "field,asc|desc".
func orderFieldParams(q url.Values) ([]orderField, error) {
	var out []orderField
	for _, s := range q["orderField"] {
		// JavaScript's split(",") destructured into [field, order]: a third part is ignored.
		field, order, hasOrder := strings.Cut(s, ",")
		order, _, _ = strings.Cut(order, ",")
		if !hasOrder {
			order = "asc"
		}
		if order != "asc" && order != "desc" {
			return nil, inputErrorf("Invalid order field order, must be asc or desc")
		}
		if strings.TrimSpace(field) == "" {
			return nil, inputErrorf("Invalid order field, the field name must not be empty")
		}
		out = append(out, orderField{Field: field, Order: order})
	}
	return out, nil
}

// orderParams parses /entities's order parameters, "asc:field" or "desc:field".
func orderParams(q url.Values) ([]orderField, error) {
	var out []orderField
	for _, s := range q["order"] {
		order, field, ok := strings.Cut(s, ":")
		if !ok || (order != "asc" && order != "desc") || field == "" {
			return nil, inputErrorf(`Invalid order parameter "%s", expected "<asc or desc>:<field name>"`, s)
		}
		out = append(out, orderField{Field: field, Order: order})
	}
	return out, nil
}

// fullTextFilter is by-query's substring search.
type fullTextFilter struct {
	Term   string   `json:"term"`
	Fields []string `json:"fields,omitempty"`
}

func fullTextParams(q url.Values) (*fullTextFilter, error) {
	term, _, err := stringParam(q, "fullTextFilterTerm")
	if err != nil {
		return nil, err
	}
	fields, _, err := stringParam(q, "fullTextFilterFields")
	if err != nil {
		return nil, err
	}
	term = strings.TrimSpace(term)
	if term == "" {
		return nil, nil
	}
	ft := &fullTextFilter{Term: term}
	for _, f := range strings.Split(fields, ",") {
		if f = strings.TrimSpace(f); f != "" {
			ft.Fields = append(ft.Fields, f)
		}
	}
	return ft, nil
}

// queryCursor is the state a by-query cursor carries: the query itself (a request with a
// cursor ignores filter, order and full-text parameters, as in Backstage), where the page
// starts and the total counted on the first page. It travels as base64 JSON, like
// Backstage's; clients treat it as opaque. It has a "query" key (the predicate, as JSON)
// exactly when the first request was a POST with a predicate: CatalogClient sends cursors
// with one to POST /entities/by-query and others to GET; both endpoints take both.
type queryCursor struct {
	Filter         [][]cursorRequirement `json:"filter,omitempty"`
	Query          json.RawMessage       `json:"query,omitempty"`
	OrderFields    []orderField          `json:"orderFields"`
	FullTextFilter *fullTextFilter       `json:"fullTextFilter,omitempty"`
	Offset         int                   `json:"offset"`
	TotalItems     *int64                `json:"totalItems,omitempty"`
	IsPrevious     bool                  `json:"isPrevious"`
}

type cursorRequirement struct {
	Key    string   `json:"key"`
	Values []string `json:"values,omitempty"`
	// Exists marks a key-only condition, whose Values are empty.
	Exists bool `json:"exists,omitempty"`
}

func toCursorFilter(f [][]store.FieldRequirement) [][]cursorRequirement {
	out := make([][]cursorRequirement, len(f))
	for i, clause := range f {
		out[i] = make([]cursorRequirement, len(clause))
		for j, r := range clause {
			out[i][j] = cursorRequirement{Key: r.Key, Values: r.Values, Exists: len(r.Values) == 0}
		}
	}
	return out
}

func fromCursorFilter(f [][]cursorRequirement) [][]store.FieldRequirement {
	out := make([][]store.FieldRequirement, len(f))
	for i, clause := range f {
		out[i] = make([]store.FieldRequirement, len(clause))
		for j, r := range clause {
			out[i][j] = store.FieldRequirement{Key: r.Key, Values: r.Values}
		}
	}
	return out
}

func encodeCursor(c queryCursor) string {
	b, _ := json.Marshal(c) // plain data: cannot fail
	return base64.StdEncoding.EncodeToString(b)
}

func decodeCursor(s string) (queryCursor, error) {
	var c queryCursor
	var data []byte
	var err error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if data, err = enc.DecodeString(s); err == nil {
			break
		}
	}
	if err != nil {
		return c, inputErrorf("Malformed cursor: not base64")
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, inputErrorf("Malformed cursor: %v", err)
	}
	if c.Offset < 0 {
		return c, inputErrorf("Malformed cursor: negative offset")
	}
	if c.TotalItems != nil && *c.TotalItems < 0 {
		return c, inputErrorf("Malformed cursor: negative totalItems")
	}
	for _, o := range c.OrderFields {
		if o.Field == "" || (o.Order != "asc" && o.Order != "desc") {
			return c, inputErrorf("Malformed cursor: bad order field")
		}
	}
	for _, clause := range c.Filter {
		for _, r := range clause {
			if r.Key == "" || (len(r.Values) == 0) != r.Exists {
				return c, inputErrorf("Malformed cursor: bad filter")
			}
		}
	}
	if c.FullTextFilter != nil && strings.TrimSpace(c.FullTextFilter.Term) == "" {
		return c, inputErrorf("Malformed cursor: empty full-text term")
	}
	if c.Query != nil {
		// Checked in full where it is used; here only its shape.
		q, err := compactPredicate(c.Query)
		if err != nil {
			return c, inputErrorf("Malformed cursor: the query is not a JSON object")
		}
		c.Query = q
	}
	return c, nil
}

// afterCursor is /entities's old pagination token: base64 JSON {limit, offset}.
type afterCursor struct {
	Limit  *json.Number `json:"limit,omitempty"`
	Offset *json.Number `json:"offset,omitempty"`
}

func decodeAfter(s string, limit, offset *int) error {
	data, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		if data, err = base64.URLEncoding.DecodeString(s); err != nil {
			return inputErrorf("Malformed after cursor, could not be parsed")
		}
	}
	var a afterCursor
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.UseNumber()
	if err := dec.Decode(&a); err != nil {
		return inputErrorf("Malformed after cursor, could not be parsed")
	}
	if a.Limit != nil {
		n, err := strconv.Atoi(a.Limit.String())
		if err != nil || n <= 0 {
			return inputErrorf("Malformed after cursor, limit was not an number")
		}
		*limit = n
	}
	if a.Offset != nil {
		n, err := strconv.Atoi(a.Offset.String())
		if err != nil || n < 0 {
			return inputErrorf("Malformed after cursor, offset was not a number")
		}
		*offset = n
	}
	return nil
}

func encodeAfter(limit, offset int) string {
	b, _ := json.Marshal(map[string]int{"limit": limit, "offset": offset})
	return base64.StdEncoding.EncodeToString(b)
}

// yes reads a boolean query parameter as the yn package Backstage uses does.
func yes(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "y", "yes", "true", "1", "on":
		return true
	}
	return false
}

// The fields of a JSON request body (POST /entities/by-query and the like), read with
// Backstage's defaults and a 400 that names the field for a value of the wrong type. A
// missing field is not an error; null is a value of the wrong type.

func bodyValue(body map[string]json.RawMessage, name string) (any, bool, error) {
	raw, ok := body[name]
	if !ok {
		return nil, false, nil
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false, inputErrorf("Invalid %s: %v", name, err)
	}
	return v, true, nil
}

// bodyInt reads an integer field that must be at least lo.
func bodyInt(body map[string]json.RawMessage, name string, lo int) (int, bool, error) {
	v, ok, err := bodyValue(body, name)
	if err != nil || !ok {
		return 0, false, err
	}
	n, isNum := v.(json.Number)
	f, ferr := strconv.ParseFloat(string(n), 64)
	if !isNum || ferr != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, false, inputErrorf("Invalid %s, not an integer", name)
	}
	if int(f) < lo {
		return 0, false, inputErrorf("Invalid %s, must be %d or greater", name, lo)
	}
	return int(f), true, nil
}

func bodyString(body map[string]json.RawMessage, name string) (string, bool, error) {
	v, ok, err := bodyValue(body, name)
	if err != nil || !ok {
		return "", false, err
	}
	s, isStr := v.(string)
	if !isStr {
		return "", false, inputErrorf("Invalid %s, not a string", name)
	}
	return s, true, nil
}

func bodyStrings(body map[string]json.RawMessage, name string) ([]string, bool, error) {
	v, ok, err := bodyValue(body, name)
	if err != nil || !ok {
		return nil, false, err
	}
	arr, isArr := v.([]any)
	if !isArr {
		return nil, false, inputErrorf("Invalid %s, expected an array of strings", name)
	}
	out := make([]string, len(arr))
	for i, e := range arr {
		s, isStr := e.(string)
		if !isStr {
			return nil, false, inputErrorf("Invalid %s, expected an array of strings (item %d is not a string)", name, i)
		}
		out[i] = s
	}
	return out, true, nil
}

// predicateQueryCursor reads the query of a first POST /entities/by-query request: query
// (a predicate), orderBy ([{field, order}]), fullTextFilter ({term, fields}), offset and
// totalItems. Other keys are ignored, as Backstage's schema allows them.
func predicateQueryCursor(body map[string]json.RawMessage) (queryCursor, error) {
	cur := queryCursor{OrderFields: []orderField{}}
	if raw, ok := body["query"]; ok {
		q, err := compactPredicate(raw)
		if err != nil {
			return cur, err
		}
		// Check it now, so that a malformed predicate is a 400 before anything is read.
		if _, err := parsePredicate(q); err != nil {
			return cur, err
		}
		cur.Query = q
	}
	if v, ok, err := bodyValue(body, "orderBy"); err != nil {
		return cur, err
	} else if ok {
		arr, isArr := v.([]any)
		if !isArr {
			return cur, inputErrorf("Invalid orderBy, expected an array of {field, order}")
		}
		for i, e := range arr {
			o, isObj := e.(map[string]any)
			field, _ := o["field"].(string)
			order, _ := o["order"].(string)
			if !isObj || strings.TrimSpace(field) == "" {
				return cur, inputErrorf("Invalid orderBy, item %d must be {field, order} with a non-empty field", i)
			}
			if order != "asc" && order != "desc" {
				return cur, inputErrorf("Invalid order field order, must be asc or desc")
			}
			cur.OrderFields = append(cur.OrderFields, orderField{Field: field, Order: order})
		}
	}
	if v, ok, err := bodyValue(body, "fullTextFilter"); err != nil {
		return cur, err
	} else if ok {
		o, isObj := v.(map[string]any)
		if !isObj {
			return cur, inputErrorf("Invalid fullTextFilter, expected an object {term, fields}")
		}
		term, isStr := o["term"].(string)
		if _, has := o["term"]; has && !isStr {
			return cur, inputErrorf("Invalid fullTextFilter, term must be a string")
		}
		ft := &fullTextFilter{Term: strings.TrimSpace(term)}
		if fs, has := o["fields"]; has {
			arr, isArr := fs.([]any)
			if !isArr {
				return cur, inputErrorf("Invalid fullTextFilter, fields must be an array of strings")
			}
			for _, f := range arr {
				s, isStr := f.(string)
				if !isStr {
					return cur, inputErrorf("Invalid fullTextFilter, fields must be an array of strings")
				}
				if s = strings.TrimSpace(s); s != "" {
					ft.Fields = append(ft.Fields, s)
				}
			}
		}
		if ft.Term != "" {
			if len(ft.Fields) == 0 {
				// Backstage searches the sort field, or else metadata.uid.
				ft.Fields = []string{"metadata.uid"}
				if len(cur.OrderFields) > 0 {
					ft.Fields = []string{cur.OrderFields[0].Field}
				}
			}
			cur.FullTextFilter = ft
		}
	}
	offset, _, err := bodyInt(body, "offset", 0)
	if err != nil {
		return cur, err
	}
	cur.Offset = offset
	if mode, ok, err := bodyString(body, "totalItems"); err != nil {
		return cur, inputErrorf(`Invalid totalItems value, expected one of: include, exclude`)
	} else if ok {
		switch mode {
		case "include":
		case "exclude":
			zero := int64(0)
			cur.TotalItems = &zero
		default:
			return cur, inputErrorf(`Invalid totalItems value "%s", expected one of: include, exclude`, mode)
		}
	}
	return cur, nil
}
