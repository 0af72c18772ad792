package entity

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
)

// Annotations the catalog sets or reads.
const (
	AnnotationManagedByLocation       = "backstage.io/managed-by-location"
	AnnotationManagedByOriginLocation = "backstage.io/managed-by-origin-location"
	AnnotationSourceLocation          = "backstage.io/source-location"
	AnnotationOrphan                  = "backstage.io/orphan"
	AnnotationViewURL                 = "backstage.io/view-url"
	AnnotationEditURL                 = "backstage.io/edit-url"
)

// Entity is a Backstage catalog entity.
//
// The typed fields are a view of the document: a field that is absent, empty, or of the
// wrong type in the source is kept, as written, in the Extra map of its level instead, so
// that decoding never loses data, encoding gives the document back, and Validate reports
// the problem against the field. Extra also keeps every field Backstage does not define
// (Backstage allows extra metadata fields; Validate rejects extra root fields).
type Entity struct {
	APIVersion string
	Kind       string
	Metadata   Metadata
	// Spec is the decoded spec object: values are string, json.Number, bool, nil, []any
	// and map[string]any. Nil means the entity has no spec object.
	Spec      map[string]any
	Relations []Relation
	Status    *Status
	Extra     map[string]any
}

// Metadata is the entity's metadata.
type Metadata struct {
	Name        string
	Namespace   string
	UID         string
	Etag        string
	Title       string
	Description string
	Labels      map[string]string
	Annotations map[string]string
	Tags        []string
	Links       []Link
	Extra       map[string]any
}

// Link is an external hyperlink of an entity.
type Link struct {
	URL   string
	Title string
	Icon  string
	Type  string
	Extra map[string]any
}

// Relation is a directed relation from the entity to another. Target is the deprecated
// compound form of TargetRef: Backstage no longer writes it, so it is encoded only when set.
type Relation struct {
	Type      string       `json:"type"`
	TargetRef string       `json:"targetRef"`
	Target    *CompoundRef `json:"target,omitempty"`
}

// Status is the entity's status, as the catalog reports it (processing errors and the like).
type Status struct {
	Items []StatusItem
	Extra map[string]any
}

// StatusItem is one status entry. Level is "info", "warning" or "error"; Error is a
// serialized error object (name, message, and optionally code and stack).
type StatusItem struct {
	Type    string
	Level   string
	Message string
	Error   map[string]any
	Extra   map[string]any
}

// ApplyDefaults fills what Backstage's DefaultNamespaceEntityPolicy fills: a missing
// metadata.namespace becomes DefaultNamespace, so that stored and served entities always
// name their namespace.
func (e *Entity) ApplyDefaults() {
	if e.Metadata.Namespace == "" {
		if _, raw := e.Metadata.Extra["namespace"]; !raw {
			e.Metadata.Namespace = DefaultNamespace
		}
	}
}

// Clone returns a deep copy of e.
func (e *Entity) Clone() *Entity {
	c, _ := FromObject(deepCopy(e.Object()))
	return c
}

func deepCopy(v any) any {
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, c := range t {
			m[k] = deepCopy(c)
		}
		return m
	case []any:
		a := make([]any, len(t))
		for i, c := range t {
			a[i] = deepCopy(c)
		}
		return a
	}
	return v
}

// SpecString returns spec[key] if it is a string, else "".
func (e *Entity) SpecString(key string) string {
	s, _ := e.Spec[key].(string)
	return s
}

// Object returns the entity as a JSON-shaped value: map[string]any with string,
// json.Number, bool, nil, []any and map[string]any inside. Nested values may be shared
// with e; treat the result as read-only.
func (e *Entity) Object() map[string]any {
	out := map[string]any{}
	maps.Copy(out, e.Extra)
	setString(out, "apiVersion", e.APIVersion)
	setString(out, "kind", e.Kind)
	if _, raw := e.Extra["metadata"]; !raw || !e.Metadata.isZero() {
		out["metadata"] = e.Metadata.object()
	}
	if e.Spec != nil {
		out["spec"] = e.Spec
	}
	if e.Relations != nil {
		rs := make([]any, len(e.Relations))
		for i, r := range e.Relations {
			m := map[string]any{"type": r.Type, "targetRef": r.TargetRef}
			if r.Target != nil {
				m["target"] = map[string]any{"kind": r.Target.Kind, "namespace": r.Target.Namespace, "name": r.Target.Name}
			}
			rs[i] = m
		}
		out["relations"] = rs
	}
	if e.Status != nil {
		out["status"] = e.Status.object()
	}
	return out
}

func (m *Metadata) isZero() bool {
	return m.Name == "" && m.Namespace == "" && m.UID == "" && m.Etag == "" && m.Title == "" &&
		m.Description == "" && m.Labels == nil && m.Annotations == nil && m.Tags == nil &&
		m.Links == nil && m.Extra == nil
}

func (m *Metadata) object() map[string]any {
	out := map[string]any{}
	maps.Copy(out, m.Extra)
	setString(out, "name", m.Name)
	setString(out, "namespace", m.Namespace)
	setString(out, "uid", m.UID)
	setString(out, "etag", m.Etag)
	setString(out, "title", m.Title)
	setString(out, "description", m.Description)
	if m.Labels != nil {
		out["labels"] = stringMap(m.Labels)
	}
	if m.Annotations != nil {
		out["annotations"] = stringMap(m.Annotations)
	}
	if m.Tags != nil {
		tags := make([]any, len(m.Tags))
		for i, t := range m.Tags {
			tags[i] = t
		}
		out["tags"] = tags
	}
	if m.Links != nil {
		links := make([]any, len(m.Links))
		for i, l := range m.Links {
			lm := map[string]any{}
			maps.Copy(lm, l.Extra)
			setString(lm, "url", l.URL)
			setString(lm, "title", l.Title)
			setString(lm, "icon", l.Icon)
			setString(lm, "type", l.Type)
			links[i] = lm
		}
		out["links"] = links
	}
	return out
}

func (s *Status) object() map[string]any {
	out := map[string]any{}
	maps.Copy(out, s.Extra)
	if s.Items != nil {
		items := make([]any, len(s.Items))
		for i, it := range s.Items {
			m := map[string]any{}
			maps.Copy(m, it.Extra)
			setString(m, "type", it.Type)
			setString(m, "level", it.Level)
			m["message"] = it.Message // required, and may be empty
			if it.Error != nil {
				m["error"] = it.Error
			}
			items[i] = m
		}
		out["items"] = items
	}
	return out
}

// setString sets a typed string field; an empty one leaves whatever Extra holds.
func setString(m map[string]any, key, v string) {
	if v != "" {
		m[key] = v
	}
}

func stringMap(in map[string]string) map[string]any {
	out := make(map[string]any, len(in))
	for k, v := range in {
		out[k] = v
	}
	return out
}

// MarshalJSON encodes the entity with its extra fields, without HTML escaping.
func (e *Entity) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e.Object()); err != nil {
		return nil, fmt.Errorf("encode entity %s: %w", e.Ref(), err)
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// UnmarshalJSON decodes an entity, keeping numbers exact (json.Number). A JSON value that
// is not an object is an error; fields of the wrong type land in Extra (see Entity).
func (e *Entity) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("decode entity: %w", err)
	}
	if err := checkDepth(v, "", 0); err != nil {
		return err
	}
	got, err := FromObject(v)
	if err != nil {
		return err
	}
	*e = *got
	return nil
}

// FromObject builds an entity from a JSON-shaped value (as Object returns or a JSON or
// YAML decoder produces). It fails only if v is not an object; every other problem is left
// for Validate. The entity shares nested values with v.
func FromObject(v any) (*Entity, error) {
	root, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("expected an object at the document root, got %s", typeName(v))
	}
	e := &Entity{}
	extra := map[string]any{}
	for k, val := range root {
		switch k {
		case "apiVersion":
			if !takeString(&e.APIVersion, val) {
				extra[k] = val
			}
		case "kind":
			if !takeString(&e.Kind, val) {
				extra[k] = val
			}
		case "metadata":
			m, ok := val.(map[string]any)
			if !ok {
				extra[k] = val
				continue
			}
			e.Metadata = decodeMetadata(m)
		case "spec":
			m, ok := val.(map[string]any)
			if !ok {
				extra[k] = val
				continue
			}
			e.Spec = m
		case "relations":
			rs, ok := decodeRelations(val)
			if !ok {
				extra[k] = val
				continue
			}
			e.Relations = rs
		case "status":
			st, ok := decodeStatus(val)
			if !ok {
				extra[k] = val
				continue
			}
			e.Status = st
		default:
			extra[k] = val
		}
	}
	if len(extra) > 0 {
		e.Extra = extra
	}
	return e, nil
}

// takeString stores v in *dst if it is a non-empty string.
func takeString(dst *string, v any) bool {
	s, ok := v.(string)
	if !ok || s == "" {
		return false
	}
	*dst = s
	return true
}

func decodeMetadata(in map[string]any) Metadata {
	var m Metadata
	extra := map[string]any{}
	for k, v := range in {
		ok := true
		switch k {
		case "name":
			ok = takeString(&m.Name, v)
		case "namespace":
			ok = takeString(&m.Namespace, v)
		case "uid":
			ok = takeString(&m.UID, v)
		case "etag":
			ok = takeString(&m.Etag, v)
		case "title":
			ok = takeString(&m.Title, v)
		case "description":
			ok = takeString(&m.Description, v)
		case "labels":
			m.Labels, ok = decodeStringMap(v)
		case "annotations":
			m.Annotations, ok = decodeStringMap(v)
		case "tags":
			m.Tags, ok = decodeStrings(v)
		case "links":
			m.Links, ok = decodeLinks(v)
		default:
			ok = false
		}
		if !ok {
			extra[k] = v
		}
	}
	if len(extra) > 0 {
		m.Extra = extra
	}
	return m
}

func decodeStringMap(v any) (map[string]string, bool) {
	in, ok := v.(map[string]any)
	if !ok {
		return nil, false
	}
	out := make(map[string]string, len(in))
	for k, val := range in {
		s, ok := val.(string)
		if !ok {
			return nil, false
		}
		out[k] = s
	}
	return out, true
}

func decodeStrings(v any) ([]string, bool) {
	in, ok := v.([]any)
	if !ok {
		return nil, false
	}
	out := make([]string, len(in))
	for i, val := range in {
		s, ok := val.(string)
		if !ok {
			return nil, false
		}
		out[i] = s
	}
	return out, true
}

func decodeLinks(v any) ([]Link, bool) {
	in, ok := v.([]any)
	if !ok {
		return nil, false
	}
	out := make([]Link, len(in))
	for i, item := range in {
		m, ok := item.(map[string]any)
		if !ok {
			return nil, false
		}
		var l Link
		for k, val := range m {
			var dst *string
			switch k {
			case "url":
				dst = &l.URL
			case "title":
				dst = &l.Title
			case "icon":
				dst = &l.Icon
			case "type":
				dst = &l.Type
			default:
				if l.Extra == nil {
					l.Extra = map[string]any{}
				}
				l.Extra[k] = val
				continue
			}
			if !takeString(dst, val) {
				return nil, false
			}
		}
		out[i] = l
	}
	return out, true
}

func decodeRelations(v any) ([]Relation, bool) {
	in, ok := v.([]any)
	if !ok {
		return nil, false
	}
	out := make([]Relation, len(in))
	for i, item := range in {
		m, ok := item.(map[string]any)
		if !ok {
			return nil, false
		}
		var r Relation
		for k, val := range m {
			switch k {
			case "type":
				ok = takeString(&r.Type, val)
			case "targetRef":
				ok = takeString(&r.TargetRef, val)
			case "target":
				t, isMap := val.(map[string]any)
				var ref CompoundRef
				ok = isMap && len(t) == 3 && takeString(&ref.Kind, t["kind"]) &&
					takeString(&ref.Namespace, t["namespace"]) && takeString(&ref.Name, t["name"])
				r.Target = &ref
			default:
				ok = false
			}
			if !ok {
				return nil, false
			}
		}
		if r.Type == "" || r.TargetRef == "" {
			return nil, false
		}
		out[i] = r
	}
	return out, true
}

func decodeStatus(v any) (*Status, bool) {
	in, ok := v.(map[string]any)
	if !ok {
		return nil, false
	}
	st := &Status{}
	for k, val := range in {
		if k != "items" {
			if st.Extra == nil {
				st.Extra = map[string]any{}
			}
			st.Extra[k] = val
			continue
		}
		items, ok := val.([]any)
		if !ok {
			return nil, false
		}
		st.Items = make([]StatusItem, len(items))
		for i, raw := range items {
			m, ok := raw.(map[string]any)
			if !ok {
				return nil, false
			}
			var it StatusItem
			for ik, iv := range m {
				ok := true
				switch ik {
				case "type":
					ok = takeString(&it.Type, iv)
				case "level":
					ok = takeString(&it.Level, iv)
				case "message":
					it.Message, ok = iv.(string)
				case "error":
					it.Error, ok = iv.(map[string]any)
				default:
					if it.Extra == nil {
						it.Extra = map[string]any{}
					}
					it.Extra[ik] = iv
				}
				if !ok {
					return nil, false
				}
			}
			if it.Type == "" || it.Level == "" {
				return nil, false
			}
			if _, has := m["message"]; !has {
				return nil, false
			}
			st.Items[i] = it
		}
	}
	return st, true
}

// typeName names the JSON type of v for messages.
func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case bool:
		return "boolean"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	}
	if _, ok := toFloat(v); ok {
		return "number"
	}
	return fmt.Sprintf("%T", v)
}
