package entity

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Limits of the search index, as Backstage's buildEntitySearch sets them: database engines
// do not index huge values well. A longer key is not indexed; a longer value is indexed as
// null (the key still exists).
const (
	MaxSearchKeyLength   = 200
	MaxSearchValueLength = 200
)

// Row is one searchable key/value pair of an entity. Key and Value are lower-cased;
// Original is the value as written (for facets). Null rows (Null true, Value and Original
// empty) say the key exists with a null value, or with a value too long to index.
type Row struct {
	Key      string
	Value    string
	Original string
	Null     bool
}

// searchSkip are paths not flattened: not worth indexing, or added separately below.
var searchSkip = []string{
	"attachments", "relations", "status",
	"metadata.name", "metadata.namespace", "metadata.uid", "metadata.etag",
}

// SearchRows flattens e into the rows that catalog filters match against, exactly as
// Backstage's buildEntitySearch (plugins/catalog-backend/src/database/operations/
// stitcher/buildEntitySearch.ts) does:
//
//   - every leaf is a row keyed by its dotted path ("spec.type" = "service"); objects in
//     arrays are flattened under the array's own path (no index);
//   - each string in an array also yields "<path>.<item>" = "true", so that
//     metadata.tags.java=true can require several tags at once;
//   - numbers and booleans are indexed as JavaScript prints them ("1", "1e+21", "true");
//     null leaves yield null rows;
//   - metadata.name, metadata.namespace and metadata.uid always have a row (null if
//     unset), and an entity without a namespace also gets metadata.namespace = "default";
//     metadata.etag, status, attachments and relations are not flattened;
//   - each relation yields "relations.<type>" = its targetRef;
//   - keys and values are lower-cased; keys over MaxSearchKeyLength are dropped and values
//     over MaxSearchValueLength become null rows; duplicate (key, value) pairs are dropped.
//
// Like Backstage, it fails for an entity with keys that differ only in case ("spec.foo"
// and "spec.Foo"), which no case-insensitive filter could tell apart.
func SearchRows(e *Entity) ([]Row, error) {
	type kv struct {
		key   string
		value any
	}
	var raw []kv
	seenItemKeys := map[string]bool{}
	var visit func(path string, v any)
	visit = func(path string, v any) {
		if slices.Contains(searchSkip, path) {
			return
		}
		switch t := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(t))
			for k := range t {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				p := k
				if path != "" {
					p = path + "." + k
				}
				visit(p, t[k])
			}
		case []any:
			for _, item := range t {
				visit(path, item)
				if s, ok := item.(string); ok {
					k := path + "." + s
					if lk := lower(k); !seenItemKeys[lk] {
						seenItemKeys[lk] = true
						raw = append(raw, kv{k, true})
					}
				}
			}
		default:
			if _, ok := jsString(v); ok || v == nil {
				raw = append(raw, kv{path, v})
			}
		}
	}
	visit("", e.Object())

	raw = append(raw, kv{"metadata.name", nilIfEmpty(e.Metadata.Name)},
		kv{"metadata.namespace", nilIfEmpty(e.Metadata.Namespace)},
		kv{"metadata.uid", nilIfEmpty(e.Metadata.UID)})
	if e.Metadata.Namespace == "" {
		raw = append(raw, kv{"metadata.namespace", DefaultNamespace})
	}
	for _, r := range e.Relations {
		raw = append(raw, kv{"relations." + r.Type, r.TargetRef})
	}

	// Keys that differ only in case would make filters ambiguous.
	byLower := map[string]string{}
	var clashes []string
	for _, r := range raw {
		lk := lower(r.key)
		if prev, ok := byLower[lk]; ok && prev != r.key {
			if !slices.Contains(clashes, lk) {
				clashes = append(clashes, lk)
			}
			continue
		}
		byLower[lk] = r.key
	}
	if len(clashes) > 0 {
		return nil, fmt.Errorf("entity has duplicate keys that vary only in casing, '%s'", strings.Join(clashes, "', '"))
	}

	rows := make([]Row, 0, len(raw))
	seen := map[Row]bool{}
	for _, r := range raw {
		key := lower(r.key)
		if jsLen(key) > MaxSearchKeyLength {
			continue
		}
		row := Row{Key: key, Null: true}
		if s, ok := jsString(r.value); ok && r.value != nil {
			if v := lower(s); jsLen(v) <= MaxSearchValueLength {
				row = Row{Key: key, Value: v, Original: s}
			}
		}
		if seen[Row{Key: row.Key, Value: row.Value, Null: row.Null}] {
			continue
		}
		seen[Row{Key: row.Key, Value: row.Value, Null: row.Null}] = true
		rows = append(rows, row)
	}
	return rows, nil
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// jsString renders a scalar as JavaScript's String() does; ok is false for non-scalars.
func jsString(v any) (string, bool) {
	switch t := v.(type) {
	case nil:
		return "null", true
	case string:
		return t, true
	case bool:
		return strconv.FormatBool(t), true
	}
	if f, ok := toFloat(v); ok {
		return jsNumber(f), true
	}
	return "", false
}

// toFloat converts any Go number (and json.Number) to float64, as JavaScript holds numbers.
func toFloat(v any) (float64, bool) {
	switch t := v.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(string(t), 64)
		if err != nil {
			// Out of range: JavaScript reads it as ±Infinity.
			if strings.HasPrefix(string(t), "-") {
				return math.Inf(-1), true
			}
			return math.Inf(1), true
		}
		return f, true
	case float64:
		return t, true
	case float32:
		return float64(t), true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return float64(rv.Int()), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return float64(rv.Uint()), true
	}
	return 0, false
}

// jsNumber formats f as JavaScript's Number.prototype.toString does (ECMA-262
// Number::toString): the shortest digits that round-trip, in plain notation for exponents
// from -7 to 20 and in exponent notation ("1e+21", "1.5e-7") beyond.
func jsNumber(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case f == 0:
		return "0"
	}
	sign := ""
	if f < 0 {
		sign, f = "-", -f
	}
	e := strconv.FormatFloat(f, 'e', -1, 64) // d.ddde±XX
	mant, exp, _ := strings.Cut(e, "e")
	digits := strings.Replace(mant, ".", "", 1)
	x, _ := strconv.Atoi(exp)
	k, n := len(digits), x+1
	switch {
	case k <= n && n <= 21:
		return sign + digits + strings.Repeat("0", n-k)
	case 0 < n && n <= 21:
		return sign + digits[:n] + "." + digits[n:]
	case -6 < n && n <= 0:
		return sign + "0." + strings.Repeat("0", -n) + digits
	}
	es := "+"
	if n-1 < 0 {
		es = "-"
	}
	ax := n - 1
	if ax < 0 {
		ax = -ax
	}
	if k == 1 {
		return sign + digits + "e" + es + strconv.Itoa(ax)
	}
	return sign + digits[:1] + "." + digits[1:] + "e" + es + strconv.Itoa(ax)
}
