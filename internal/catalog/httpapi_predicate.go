package catalog

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/paved-dev/paved/internal/store"
)

// Backstage's filter predicates (@backstage/filter-predicates), the query language of
// POST /entities/by-query, POST /entity-facets, POST /entities/by-refs and
// POST /locations/by-query:
//
//	{"kind": "component", "spec.type": {"$in": ["service", "website"]}}   every field must match
//	{"$all": [p, ...]}  {"$any": [p, ...]}  {"$not": p}                    logic
//	{"f": "v"}  {"f": 7}  {"f": true}                                      equality (as a string)
//	{"f": {"$exists": true|false}}                                         the field is there, or not
//	{"f": {"$in": ["a", "b"]}}                                             one of these values
//	{"f": {"$hasPrefix": "ab"}}                                            a value starting with this
//	{"f": {"$contains": "v"}}                                              an array item equal to v
//	{"relations": {"$contains": {"type": "ownedBy", "targetRef": "group:default/a"}}}
//
// Everything is compared case-insensitively, as the catalog's search table stores it
// (lower-cased). A predicate is parsed into a predNode tree first, which is checked
// completely (shape, operators, limits) before anything is read; the tree then becomes a
// store.Expr for entities, or is evaluated directly against locations.

// predNode is one node of a parsed predicate. Its shape is the store.Expr it becomes: one
// node per Expr node, so the store's limits (store.MaxExprNodes, store.MaxExprDepth) are
// checked here already, with messages that point into the request.
type predNode struct {
	op   predOp
	kids []*predNode // all, any, not (one)
	test fieldTest   // field
}

type predOp int

const (
	predAll predOp = iota + 1 // every kid (none: everything)
	predAny                   // some kid (none: nothing)
	predNot
	predField
)

// fieldTest is a test of one field (a dotted search key).
type fieldTest struct {
	key    string     // as written
	match  fieldMatch // how
	values []string   // equal, in, contains: the values as strings (as JavaScript's String(v))
	// from says which operator gave matchValues: locations treat them differently.
	from   valueSource
	prefix string // hasPrefix
	// relType is set for {"relations": {"$contains": {"type": ...}}}: the test is then of
	// the key relations.<type>, with values the target refs (any target when none).
	relType string
}

type fieldMatch int

const (
	matchExists   fieldMatch = iota + 1 // the field is there
	matchValues                         // equality, $in, $contains of a value: one of values
	matchPrefix                         // $hasPrefix
	matchRelation                       // $contains on relations
)

type valueSource int

const (
	fromEqual valueSource = iota
	fromIn
	fromContains
)

// predicateError is a 400 answer for a predicate that is not well-formed.
func predicateError(path, format string, args ...any) error {
	return inputErrorf("Invalid query: %s: %s", path, fmt.Sprintf(format, args...))
}

// parsePredicate decodes and checks a predicate (the JSON of a request's "query"). It
// must be a JSON object; an empty object matches everything.
func parsePredicate(raw json.RawMessage) (*predNode, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, inputErrorf("Invalid query: %v", err)
	}
	if dec.More() {
		return nil, inputErrorf("Invalid query: unexpected data after the predicate")
	}
	p := &predParser{}
	return p.predicate(v, "query", 1)
}

type predParser struct {
	nodes int
}

// node counts one node at depth (the root is at depth 1) against the store's limits.
func (p *predParser) node(path string, depth int) error {
	p.nodes++
	if p.nodes > store.MaxExprNodes {
		return inputErrorf("Invalid query: the predicate has more than %d parts (operators and field tests); split the query", store.MaxExprNodes)
	}
	if depth > store.MaxExprDepth {
		return inputErrorf("Invalid query: %s is nested more than %d deep", path, store.MaxExprDepth)
	}
	return nil
}

// predicate parses a predicate object: a logical operator or a field expression.
func (p *predParser) predicate(v any, path string, depth int) (*predNode, error) {
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, predicateError(path, "expected an object (field expressions such as {\"kind\": \"component\"}, or $all, $any or $not), got %s", jsonType(v))
	}
	keys := predKeys(obj)
	var ops []string
	for _, k := range keys {
		if strings.HasPrefix(k, "$") {
			if k != "$all" && k != "$any" && k != "$not" {
				return nil, predicateError(path, "unknown operator %q: the logical operators are $all, $any and $not; value operators ($exists, $in, $hasPrefix, $contains) go inside a field, as in {\"spec.type\": {\"$in\": [...]}}", k)
			}
			ops = append(ops, k)
		}
	}
	if len(ops) > 0 {
		if len(obj) != 1 {
			return nil, predicateError(path, "%s must be the only key of its object; wrap it in $all to combine it with other conditions", ops[0])
		}
		if err := p.node(path, depth); err != nil {
			return nil, err
		}
		op := ops[0]
		sub := path + "." + op
		if op == "$not" {
			kid, err := p.predicate(obj[op], sub, depth+1)
			if err != nil {
				return nil, err
			}
			return &predNode{op: predNot, kids: []*predNode{kid}}, nil
		}
		arr, ok := obj[op].([]any)
		if !ok {
			return nil, predicateError(sub, "expected an array of predicates, got %s", jsonType(obj[op]))
		}
		n := &predNode{op: predAll, kids: make([]*predNode, 0, len(arr))}
		if op == "$any" {
			n.op = predAny
		}
		for i, e := range arr {
			kid, err := p.predicate(e, fmt.Sprintf("%s[%d]", sub, i), depth+1)
			if err != nil {
				return nil, err
			}
			n.kids = append(n.kids, kid)
		}
		return n, nil
	}
	// A field expression: every field must match. {} matches everything, as in Backstage.
	if len(keys) != 1 {
		if err := p.node(path, depth); err != nil {
			return nil, err
		}
		n := &predNode{op: predAll, kids: make([]*predNode, 0, len(keys))}
		for _, k := range keys {
			kid, err := p.field(k, obj[k], path, depth+1)
			if err != nil {
				return nil, err
			}
			n.kids = append(n.kids, kid)
		}
		return n, nil
	}
	return p.field(keys[0], obj[keys[0]], path, depth)
}

// field parses the test of one field, {key: value}.
func (p *predParser) field(key string, v any, parent string, depth int) (*predNode, error) {
	path := parent + "." + strconv.Quote(key)
	if strings.TrimSpace(key) == "" {
		return nil, predicateError(parent, "a field path must not be empty")
	}
	if strings.ContainsAny(key, "\r\n") {
		return nil, predicateError(path, "a field path must not contain line breaks")
	}
	if err := p.node(path, depth); err != nil {
		return nil, err
	}
	n := &predNode{op: predField, test: fieldTest{key: key}}
	switch t := v.(type) {
	case string, json.Number, bool:
		n.test.match = matchValues
		n.test.values = []string{primitiveString(t)}
		return n, nil
	case nil:
		return nil, predicateError(path, "null is not a value to compare with; use {\"$exists\": false} for entities without the field")
	case []any:
		return nil, predicateError(path, "an array is not a value to compare with; use {\"$in\": [...]} to match any of several values")
	}
	obj := v.(map[string]any)
	if len(obj) != 1 {
		what := "an empty object"
		if len(obj) > 1 {
			what = fmt.Sprintf("%d keys (%s)", len(obj), strings.Join(predKeys(obj), ", "))
		}
		return nil, predicateError(path, "a value matcher has exactly one operator ($exists, $in, $hasPrefix or $contains), not %s", what)
	}
	op := predKeys(obj)[0]
	arg := obj[op]
	sub := path + "." + op
	switch op {
	case "$exists":
		b, ok := arg.(bool)
		if !ok {
			return nil, predicateError(sub, "expected true or false, got %s", jsonType(arg))
		}
		n.test.match = matchExists
		if !b {
			// The field is not there: a negation, one level deeper, as the store sees it.
			if err := p.node(path, depth+1); err != nil {
				return nil, err
			}
			return &predNode{op: predNot, kids: []*predNode{n}}, nil
		}
		return n, nil
	case "$in":
		arr, ok := arg.([]any)
		if !ok {
			return nil, predicateError(sub, "expected an array of strings, numbers or booleans, got %s", jsonType(arg))
		}
		if len(arr) == 0 {
			// One of no values: nothing matches.
			return &predNode{op: predAny}, nil
		}
		n.test.match = matchValues
		n.test.from = fromIn
		n.test.values = make([]string, 0, len(arr))
		for i, e := range arr {
			if !isPrimitive(e) {
				return nil, predicateError(fmt.Sprintf("%s[%d]", sub, i), "expected a string, number or boolean, got %s", jsonType(e))
			}
			n.test.values = append(n.test.values, primitiveString(e))
		}
		return n, nil
	case "$hasPrefix":
		s, ok := arg.(string)
		if !ok {
			return nil, predicateError(sub, "expected a string, got %s", jsonType(arg))
		}
		n.test.match = matchPrefix
		n.test.prefix = s
		return n, nil
	case "$contains":
		if isPrimitive(arg) {
			// The search table holds each item of an array as a value of the array's key.
			n.test.match = matchValues
			n.test.from = fromContains
			n.test.values = []string{primitiveString(arg)}
			return n, nil
		}
		target, ok := arg.(map[string]any)
		if !ok {
			return nil, predicateError(sub, "expected a string, number or boolean (an array item), or {\"type\", \"targetRef\"} for relations, got %s", jsonType(arg))
		}
		if !strings.EqualFold(key, "relations") {
			return nil, predicateError(sub, "the object form of $contains is supported for the field \"relations\" only; for other fields give the item itself")
		}
		return p.relation(n, target, sub)
	}
	if strings.HasPrefix(op, "$") {
		return nil, predicateError(path, "unknown value operator %q (expected $exists, $in, $hasPrefix or $contains)", op)
	}
	return nil, predicateError(path, "a nested object is not a value matcher; write the nested field's dotted path as the key, as in {%q: ...}", key+"."+op)
}

// relation parses {"type": "ownedBy", "targetRef": "group:default/a" | {"$in": [...]}}.
func (p *predParser) relation(n *predNode, target map[string]any, path string) (*predNode, error) {
	n.test.match = matchRelation
	var sawType, sawTarget bool
	for _, k := range predKeys(target) {
		v := target[k]
		switch strings.ToLower(k) {
		case "type":
			s, ok := v.(string)
			if sawType || !ok || strings.TrimSpace(s) == "" {
				return nil, predicateError(path, "\"type\" must be given once, as a non-empty string (a relation type such as ownedBy)")
			}
			sawType = true
			n.test.relType = s
		case "targetref":
			if sawTarget {
				return nil, predicateError(path, "\"targetRef\" is given twice")
			}
			sawTarget = true
			switch t := v.(type) {
			case string:
				n.test.values = []string{t}
			case map[string]any:
				in, ok := t["$in"].([]any)
				if len(t) != 1 || !ok {
					return nil, predicateError(path+"."+strconv.Quote(k), "expected an entity ref or {\"$in\": [entity refs]}")
				}
				if len(in) == 0 {
					return nil, predicateError(path+"."+strconv.Quote(k)+".$in", "must not be empty")
				}
				for i, e := range in {
					s, ok := e.(string)
					if !ok {
						return nil, predicateError(fmt.Sprintf("%s.%q.$in[%d]", path, k, i), "expected an entity ref string, got %s", jsonType(e))
					}
					n.test.values = append(n.test.values, s)
				}
			default:
				return nil, predicateError(path+"."+strconv.Quote(k), "expected an entity ref or {\"$in\": [entity refs]}, got %s", jsonType(v))
			}
		default:
			return nil, predicateError(path, "unsupported key %q for relations; only \"type\" and \"targetRef\" are", k)
		}
	}
	if !sawType {
		return nil, predicateError(path, "\"type\" is required (a relation type such as ownedBy)")
	}
	return n, nil
}

func isPrimitive(v any) bool {
	switch v.(type) {
	case string, json.Number, bool:
		return true
	}
	return false
}

// primitiveString is JavaScript's String(v) for a JSON string, number or boolean, which
// is how Backstage compares numbers and booleans with the search table's text values.
func primitiveString(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case bool:
		return strconv.FormatBool(t)
	case json.Number:
		return jsNumberString(t)
	}
	return fmt.Sprint(v)
}

// jsNumberString formats a JSON number as JavaScript's Number.prototype.toString does:
// the shortest text that reads back as the same double, in exponent form below 1e-6 and
// from 1e21 on.
func jsNumberString(n json.Number) string {
	f, err := strconv.ParseFloat(string(n), 64)
	switch {
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case err != nil:
		return string(n)
	case f == 0:
		return "0"
	}
	if a := math.Abs(f); a >= 1e21 || a < 1e-6 {
		s := strconv.FormatFloat(f, 'e', -1, 64)
		mant, exp, _ := strings.Cut(s, "e")
		sign := exp[:1]
		exp = strings.TrimLeft(exp[1:], "0")
		return mant + "e" + sign + exp
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// jsonType names the JSON type of a decoded value, for messages.
func jsonType(v any) string {
	switch t := v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	case map[string]any:
		if len(t) == 0 {
			return "an empty object"
		}
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

func predKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// entityExpr turns a parsed predicate into the store's expression over the entities'
// search keys. $hasPrefix becomes the set of indexed values of its key that have the
// prefix (the index has no prefix search); prefixes of one key are answered from one
// listing of its values.
func (c *Catalog) entityExpr(ctx context.Context, n *predNode) (*store.Expr, error) {
	values := map[string][]string{} // lower-cased key -> its lower-cased values
	var conv func(n *predNode) (*store.Expr, error)
	conv = func(n *predNode) (*store.Expr, error) {
		switch n.op {
		case predAll, predAny:
			kids := make([]*store.Expr, 0, len(n.kids))
			for _, k := range n.kids {
				e, err := conv(k)
				if err != nil {
					return nil, err
				}
				kids = append(kids, e)
			}
			if n.op == predAll {
				return &store.Expr{All: kids}, nil
			}
			return &store.Expr{Any: kids}, nil
		case predNot:
			e, err := conv(n.kids[0])
			if err != nil {
				return nil, err
			}
			return &store.Expr{Not: e}, nil
		}
		key := strings.ToLower(n.test.key)
		switch n.test.match {
		case matchExists:
			return &store.Expr{Key: key}, nil
		case matchValues:
			return &store.Expr{Key: key, Values: n.test.values}, nil
		case matchRelation:
			return &store.Expr{Key: "relations." + strings.ToLower(n.test.relType), Values: n.test.values}, nil
		case matchPrefix:
			vs, ok := values[key]
			if !ok {
				var err error
				if vs, err = c.indexedValues(ctx, key); err != nil {
					return nil, err
				}
				values[key] = vs
			}
			prefix := strings.ToLower(n.test.prefix)
			var hits []string
			for _, v := range vs {
				if strings.HasPrefix(v, prefix) {
					hits = append(hits, v)
				}
			}
			if len(hits) == 0 {
				return &store.Expr{Any: []*store.Expr{}}, nil // no value has it: nothing matches
			}
			return &store.Expr{Key: key, Values: hits}, nil
		}
		return nil, fmt.Errorf("predicate: field test without a match")
	}
	return conv(n)
}

// indexedValues lists the distinct (lower-cased) values of a search key over all entities.
// Values the index keeps as empty strings (null, or too long to index) are left out: they
// are null in Backstage's search table, which LIKE never matches.
func (c *Catalog) indexedValues(ctx context.Context, key string) ([]string, error) {
	counts, err := c.store.QueryFacets(ctx, store.Selector{Kinds: c.entityResources()}, key)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	for _, fc := range counts {
		v := strings.ToLower(fc.Value)
		if v != "" && !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out, nil
}

// predicateWhere parses raw and turns it into the store expression for entities.
func (c *Catalog) predicateWhere(ctx context.Context, raw json.RawMessage) (*store.Expr, error) {
	n, err := parsePredicate(raw)
	if err != nil {
		return nil, err
	}
	return c.entityExpr(ctx, n)
}

// compactPredicate checks that raw is a JSON object and returns it without insignificant
// space, to be carried in a cursor.
func compactPredicate(raw json.RawMessage) (json.RawMessage, error) {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || t[0] != '{' {
		var v any
		_ = json.Unmarshal(t, &v)
		return nil, inputErrorf("Invalid query: query: expected an object, got %s", jsonType(v))
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, t); err != nil {
		return nil, inputErrorf("Invalid query: %v", err)
	}
	return buf.Bytes(), nil
}

// Locations. POST /locations/by-query tests the same predicates against the registered
// locations' fields id, type, target and entityRef (case-insensitively; ids exactly in
// $in), as Backstage's location store does. $contains matches no location.

var locationPredicateKeys = []string{"id", "type", "target", "entityref"}

// checkLocationPredicate refuses field keys a location does not have.
func checkLocationPredicate(n *predNode) error {
	if n.op != predField {
		for _, k := range n.kids {
			if err := checkLocationPredicate(k); err != nil {
				return err
			}
		}
		return nil
	}
	if !slices.Contains(locationPredicateKeys, strings.ToLower(n.test.key)) {
		return inputErrorf("Invalid query: expected the field to be 'id', 'type', 'target', or 'entityRef', got '%s'", n.test.key)
	}
	return nil
}

// matchLocation evaluates a checked predicate against one location's fields (keyed by
// lower-cased name).
func matchLocation(n *predNode, fields map[string]string) bool {
	switch n.op {
	case predAll:
		for _, k := range n.kids {
			if !matchLocation(k, fields) {
				return false
			}
		}
		return true
	case predAny:
		for _, k := range n.kids {
			if matchLocation(k, fields) {
				return true
			}
		}
		return false
	case predNot:
		return !matchLocation(n.kids[0], fields)
	}
	key := strings.ToLower(n.test.key)
	v := fields[key]
	switch n.test.match {
	case matchExists:
		return true // every location has all four
	case matchValues:
		if n.test.from == fromContains {
			return false // a location field is no array
		}
		for _, want := range n.test.values {
			// Backstage's location store compares ids in $in exactly, everything else
			// ignoring case.
			if (key == "id" && n.test.from == fromIn && v == want) || ((key != "id" || n.test.from != fromIn) && strings.EqualFold(v, want)) {
				return true
			}
		}
		return false
	case matchPrefix:
		return strings.HasPrefix(strings.ToUpper(v), strings.ToUpper(n.test.prefix))
	}
	return false // $contains of a relation
}
