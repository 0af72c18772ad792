package entity

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// KindSpec is what the catalog knows about one kind: the apiVersions it accepts, the rules
// of its spec, and the spec fields that name other entities. It plays the part of a
// Backstage kind validator plus the relation-emitting half of the processor behind it.
type KindSpec struct {
	Kind        string
	APIVersions []string
	// SpecType, if set, makes this the variant of the kind for entities whose spec.type
	// equals it (as Backstage's mcp-server API and skill/rule AiResource variants are);
	// entities of the kind with any other type use the variant without a SpecType.
	SpecType string
	// Check validates the spec object; error paths start with "spec".
	Check func(spec map[string]any) []FieldError
	// Relations are the spec fields that name other entities.
	Relations []RelationField
}

// RelationField is a spec field holding one entity reference or a list of them; each
// reference yields Relation from the entity to the target, and Inverse(Relation) back.
type RelationField struct {
	Field       string // key in spec, such as "owner"
	Relation    string
	DefaultKind string // the kind of a reference that names none; "" means it must name one
}

// Model is a set of kinds: it validates entities and derives their relations. It is
// immutable and safe for concurrent use.
type Model struct {
	kinds []KindSpec
	// allowStored admits the root fields relations and status, which the catalog writes
	// itself and an entity read from a location may not carry.
	allowStored bool
}

// NewModel returns a model of the given kinds.
func NewModel(kinds ...[]KindSpec) *Model {
	m := &Model{}
	for _, ks := range kinds {
		m.kinds = append(m.kinds, ks...)
	}
	return m
}

// WithStoredFields returns a copy of m that also accepts the root fields relations and
// status, for validating entities as the catalog stores and serves them.
func (m *Model) WithStoredFields() *Model {
	c := *m
	c.allowStored = true
	return &c
}

// Kinds returns the kinds of m.
func (m *Model) Kinds() []KindSpec { return slices.Clone(m.kinds) }

var defaultModel = sync.OnceValue(func() *Model { return NewModel(BuiltinKinds(), ScaffolderKinds()) })

// Default returns the model of a standard Backstage catalog with the scaffolder installed:
// BuiltinKinds and ScaffolderKinds.
func Default() *Model { return defaultModel() }

// Validate validates e with the Default model.
func Validate(e *Entity) []FieldError { return Default().Validate(e) }

// Validate checks e as Backstage's catalog checks an entity read from a location, in the
// same order: the envelope schema (SchemaValidEntityPolicy), the allowed root fields
// (NoForeignRootFieldsEntityPolicy), the field formats (FieldFormatEntityPolicy), then the
// kind's own schema (the processors' validateEntityKind), including "no processor
// recognized the entity" for a kind the model does not know. Backstage stops at the first
// problem; Validate reports them all, in that order, so its first error is normally the
// one Backstage reports.
// A missing metadata.namespace is fine: it means DefaultNamespace.
func (m *Model) Validate(e *Entity) []FieldError {
	obj := e.Object()
	v := &validator{}
	v.envelope(obj, m.allowStored)
	v.formats(obj)
	// The kind check needs a kind and an apiVersion; Backstage would have stopped earlier,
	// but the spec's problems are worth reporting together with the metadata's.
	if s, _ := obj["apiVersion"].(string); s != "" {
		if k, _ := obj["kind"].(string); k != "" {
			m.kind(v, obj)
		}
	}
	return v.errs
}

// lookup finds the kind spec for an entity, and whether its kind is known at all.
func (m *Model) lookup(apiVersion, kind string, spec map[string]any) (ks *KindSpec, kindKnown bool) {
	specType, _ := spec["type"].(string)
	var generic *KindSpec
	for i := range m.kinds {
		k := &m.kinds[i]
		if k.Kind != kind {
			continue
		}
		kindKnown = true
		if !slices.Contains(k.APIVersions, apiVersion) {
			continue
		}
		if k.SpecType != "" {
			if k.SpecType == specType {
				return k, true
			}
			continue
		}
		if generic == nil {
			generic = k
		}
	}
	return generic, kindKnown
}

func (m *Model) kind(v *validator, obj map[string]any) {
	apiVersion, _ := obj["apiVersion"].(string)
	kind, _ := obj["kind"].(string)
	spec, _ := obj["spec"].(map[string]any)
	ks, kindKnown := m.lookup(apiVersion, kind, spec)
	if ks == nil {
		v.errs = append(v.errs, m.unsupported(apiVersion, kind, kindKnown))
		return
	}
	if _, has := obj["spec"]; !has {
		v.add("spec", CodeRequired, "is required for kind %s", kind)
		return
	}
	if spec == nil {
		return // not an object: the envelope check reported it
	}
	if ks.Check != nil {
		v.errs = append(v.errs, ks.Check(spec)...)
	}
}

func (m *Model) unsupported(apiVersion, kind string, kindKnown bool) FieldError {
	if kindKnown {
		var versions []string
		for _, k := range m.kinds {
			if k.Kind == kind {
				versions = append(versions, k.APIVersions...)
			}
		}
		slices.Sort(versions)
		versions = slices.Compact(versions)
		return FieldError{Field: "apiVersion", Code: CodeUnsupportedKind, Message: fmt.Sprintf(
			"kind %s does not exist in apiVersion %q; no processor recognized the entity as valid, possibly caused by a foreign kind or apiVersion (%s has apiVersion %s)",
			kind, apiVersion, kind, strings.Join(quoteAll(versions), " or "))}
	}
	msg := fmt.Sprintf("unsupported kind %q: no processor recognized the entity as valid, possibly caused by a foreign kind or apiVersion", kind)
	for _, k := range m.kinds {
		if strings.EqualFold(k.Kind, kind) {
			msg += fmt.Sprintf(" (kinds are case-sensitive: did you mean %q?)", k.Kind)
			break
		}
	}
	var names []string
	for _, k := range m.kinds {
		names = append(names, k.Kind)
	}
	slices.Sort(names)
	names = slices.Compact(names)
	msg += "; the catalog knows " + strings.Join(names, ", ")
	return FieldError{Field: "kind", Code: CodeUnsupportedKind, Message: msg}
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strconv.Quote(s)
	}
	return out
}

// validator collects errors.
type validator struct{ errs []FieldError }

func (v *validator) add(field string, code ErrorCode, format string, args ...any) {
	v.errs = append(v.errs, FieldError{Field: field, Code: code, Message: fmt.Sprintf(format, args...)})
}

func isString(v any) bool { _, ok := v.(string); return ok }

// typeError reports value at path as not of the wanted JSON type.
func (v *validator) typeError(path, want string, value any) {
	v.add(path, CodeType, "must be %s, got %s", want, typeName(value))
}

// str checks an optional string with at least min characters.
func (v *validator) str(obj map[string]any, base, key string, required bool, min int) (string, bool) {
	path := childPath(base, key)
	val, has := obj[key]
	if !has {
		if required {
			v.add(path, CodeRequired, "is required")
		}
		return "", false
	}
	s, ok := val.(string)
	if !ok {
		v.typeError(path, "a string", val)
		return "", false
	}
	if utf8.RuneCountInString(s) < min {
		v.add(path, CodeType, "must not be empty")
		return s, false
	}
	return s, true
}

// strList checks an optional array of non-empty strings.
func (v *validator) strList(obj map[string]any, base, key string, required bool) {
	path := childPath(base, key)
	val, has := obj[key]
	if !has {
		if required {
			v.add(path, CodeRequired, "is required")
		}
		return
	}
	list, ok := val.([]any)
	if !ok {
		v.typeError(path, "an array of strings", val)
		return
	}
	for i, item := range list {
		s, ok := item.(string)
		switch {
		case !ok:
			v.typeError(indexPath(path, i), "a string", item)
		case s == "":
			v.add(indexPath(path, i), CodeType, "must not be empty")
		}
	}
}

// object checks an optional object and returns it.
func (v *validator) object(obj map[string]any, base, key string, required bool) map[string]any {
	path := childPath(base, key)
	val, has := obj[key]
	if !has {
		if required {
			v.add(path, CodeRequired, "is required")
		}
		return nil
	}
	m, ok := val.(map[string]any)
	if !ok {
		v.typeError(path, "an object", val)
		return nil
	}
	return m
}

// array checks an optional array and returns it.
func (v *validator) array(obj map[string]any, base, key string, required bool) []any {
	path := childPath(base, key)
	val, has := obj[key]
	if !has {
		if required {
			v.add(path, CodeRequired, "is required")
		}
		return nil
	}
	a, ok := val.([]any)
	if !ok {
		v.typeError(path, "an array", val)
		return nil
	}
	return a
}

func (v *validator) enum(obj map[string]any, base, key string, values ...string) {
	path := childPath(base, key)
	val, has := obj[key]
	if !has {
		return
	}
	if s, ok := val.(string); ok && slices.Contains(values, s) {
		return
	}
	v.add(path, CodeType, "must be one of %s, got %s", strings.Join(quoteAll(values), ", "), describe(val))
}

// stringOrBool checks a templated condition: a string or a boolean.
func (v *validator) stringOrBool(obj map[string]any, base, key string) {
	val, has := obj[key]
	if !has {
		return
	}
	switch val.(type) {
	case string, bool:
	default:
		v.typeError(childPath(base, key), "a string or a boolean", val)
	}
}

func describe(v any) string {
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	b, err := json.Marshal(v)
	if err != nil || len(b) > 80 {
		return typeName(v)
	}
	return string(b)
}

var relationTypeRE = regexp.MustCompile(`^\w+$`)

// envelope applies Entity.schema.json, EntityMeta.schema.json and common.schema.json
// (SchemaValidEntityPolicy), and the root-field rule (NoForeignRootFieldsEntityPolicy).
func (v *validator) envelope(obj map[string]any, allowStored bool) {
	v.str(obj, "", "apiVersion", true, 1)
	v.str(obj, "", "kind", true, 1)
	meta := v.object(obj, "", "metadata", true)
	if meta != nil {
		v.metadata(meta)
	}
	v.object(obj, "", "spec", false)
	if rel := v.array(obj, "", "relations", false); rel != nil {
		for i, item := range rel {
			path := indexPath("relations", i)
			r, ok := item.(map[string]any)
			if !ok {
				v.typeError(path, "an object", item)
				continue
			}
			if t, ok := v.str(r, path, "type", true, 1); ok && !relationTypeRE.MatchString(t) {
				v.add(childPath(path, "type"), CodeFormat, "%q is not valid; expected a word of [a-zA-Z0-9_]", t)
			}
			v.str(r, path, "targetRef", true, 1)
			if t := v.object(r, path, "target", false); t != nil {
				tp := childPath(path, "target")
				for _, k := range []string{"kind", "namespace", "name"} {
					v.str(t, tp, k, true, 1)
				}
				v.unknownKeys(t, tp, "kind", "namespace", "name")
			}
			v.unknownKeys(r, path, "type", "targetRef", "target")
		}
	}
	if st := v.object(obj, "", "status", false); st != nil {
		for i, item := range v.array(st, "status", "items", false) {
			path := indexPath("status.items", i)
			it, ok := item.(map[string]any)
			if !ok {
				v.typeError(path, "an object", item)
				continue
			}
			v.str(it, path, "type", true, 1)
			if _, has := it["level"]; !has {
				v.add(childPath(path, "level"), CodeRequired, "is required")
			} else {
				v.enum(it, path, "level", "info", "warning", "error")
			}
			v.str(it, path, "message", true, 0)
			if e := v.object(it, path, "error", false); e != nil {
				ep := childPath(path, "error")
				v.str(e, ep, "name", true, 1)
				v.str(e, ep, "message", true, 0)
				v.str(e, ep, "code", false, 0)
				v.str(e, ep, "stack", false, 0)
			}
		}
	}
	// Backstage's envelope schema allows relations and status, but the policy after it
	// admits only apiVersion, kind, metadata and spec: the catalog writes the other two.
	var unknown []string
	for k := range obj {
		switch k {
		case "apiVersion", "kind", "metadata", "spec":
		case "relations", "status":
			if !allowStored {
				unknown = append(unknown, k)
			}
		default:
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		msg := "unknown field; an entity has only apiVersion, kind, metadata and spec at its root"
		if k == "relations" || k == "status" {
			msg = "is set by the catalog and may not be written in an entity; an entity has only apiVersion, kind, metadata and spec at its root"
		}
		v.add(childPath("", k), CodeUnknownField, "%s", msg)
	}
}

// unknownKeys reports keys of an object whose schema allows no others.
func (v *validator) unknownKeys(obj map[string]any, base string, known ...string) {
	var extra []string
	for k := range obj {
		if !slices.Contains(known, k) {
			extra = append(extra, k)
		}
	}
	sort.Strings(extra)
	for _, k := range extra {
		v.add(childPath(base, k), CodeUnknownField, "unknown field; expected only %s", strings.Join(known, ", "))
	}
}

func (v *validator) metadata(meta map[string]any) {
	const base = "metadata"
	v.str(meta, base, "name", true, 1)
	v.str(meta, base, "namespace", false, 1)
	v.str(meta, base, "uid", false, 1)
	v.str(meta, base, "etag", false, 1)
	v.str(meta, base, "title", false, 1)
	v.str(meta, base, "description", false, 0)
	for _, key := range []string{"labels", "annotations"} {
		m := v.object(meta, base, key, false)
		for _, k := range sortedKeys(m) {
			if !isString(m[k]) {
				v.typeError(childPath(childPath(base, key), k), "a string", m[k])
			}
		}
	}
	v.strList(meta, base, "tags", false)
	for i, item := range v.array(meta, base, "links", false) {
		path := indexPath("metadata.links", i)
		l, ok := item.(map[string]any)
		if !ok {
			v.typeError(path, "an object", item)
			continue
		}
		v.str(l, path, "url", true, 1)
		v.str(l, path, "title", false, 1)
		v.str(l, path, "icon", false, 1)
		v.str(l, path, "type", false, 1)
	}
}

// formats applies FieldFormatEntityPolicy to the fields whose type is right (the envelope
// check has reported the others).
func (v *validator) formats(obj map[string]any) {
	format := func(path, value, expect string) {
		v.add(path, CodeFormat, "%s is not valid; expected %s", strconv.Quote(value), expect)
	}
	if s, ok := obj["apiVersion"].(string); ok && s != "" && !IsValidAPIVersion(s) {
		format("apiVersion", s, expectAPIVersion)
	}
	if s, ok := obj["kind"].(string); ok && s != "" && !IsValidKind(s) {
		format("kind", s, expectKind)
	}
	meta, _ := obj["metadata"].(map[string]any)
	if s, ok := meta["name"].(string); ok && s != "" && !IsValidName(s) {
		format("metadata.name", s, expectName)
	}
	if s, ok := meta["namespace"].(string); ok && s != "" && !IsValidNamespace(s) {
		format("metadata.namespace", s, expectNamespace)
	}
	for _, key := range []string{"labels", "annotations"} {
		m, _ := meta[key].(map[string]any)
		for _, k := range sortedKeys(m) {
			path := childPath(childPath("metadata", key), k)
			if !IsValidLabelKey(k) {
				v.add(path, CodeFormat, "key %s is not valid; expected %s", strconv.Quote(k), expectPrefixed)
			}
			if s, ok := m[k].(string); ok && key == "labels" && !IsValidLabelValue(s) {
				format(path, s, "an empty string or "+expectName)
			}
		}
	}
	tags, _ := meta["tags"].([]any)
	for i, t := range tags {
		if s, ok := t.(string); ok && s != "" && !IsValidTag(s) {
			format(indexPath("metadata.tags", i), s, expectTag)
		}
	}
	links, _ := meta["links"].([]any)
	for i, item := range links {
		l, _ := item.(map[string]any)
		path := indexPath("metadata.links", i)
		if s, ok := l["url"].(string); ok && s != "" && !IsValidURL(s) {
			format(childPath(path, "url"), s, expectURL)
		}
		if s, ok := l["title"].(string); ok && s != "" && !isNonBlank(s) {
			format(childPath(path, "title"), s, expectNonBlank)
		}
		if s, ok := l["icon"].(string); ok && s != "" && !IsValidName(s) {
			format(childPath(path, "icon"), s, expectName)
		}
	}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
