// Package catalog owns paved's service catalog: Backstage entities stored as objects of
// their own kinds (Component, API, Resource, System, Domain, Group, User, Location,
// Template), their validation and search index, locations that feed them, relation
// stitching, and the Backstage catalog REST API. The entity model itself (rules, refs,
// relations, search rows) is in the entity subpackage.
package catalog

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/paved-dev/paved/api"
	"github.com/paved-dev/paved/internal/catalog/entity"
	"github.com/paved-dev/paved/internal/kinds"
)

// plurals of the Backstage kinds, as their API paths and `paved get` name them.
var plurals = map[string]string{
	"Component": "components", "API": "apis", "Resource": "resources", "System": "systems",
	"Domain": "domains", "Group": "groups", "User": "users", "Location": "locations",
	"Template": "templates", "AiResource": "airesources",
}

var shortNames = map[string][]string{
	"Component": {"comp"}, "Template": {"tmpl"},
}

var columns = []api.Column{
	{Name: "TYPE", JSONPath: ".spec.type"},
	{Name: "OWNER", JSONPath: ".spec.owner"},
	{Name: "LIFECYCLE", JSONPath: ".spec.lifecycle"},
	{Name: "SYSTEM", JSONPath: ".spec.system", Wide: true},
}

// RegisterKinds registers a store kind for every apiVersion of every kind in model, with the
// model's validation, Backstage's case-insensitive names and the search index. It returns
// the registered kinds (several versions of one kind share its storage).
func RegisterKinds(reg *kinds.Registry, model *entity.Model) ([]*kinds.Kind, error) {
	stored := model.WithStoredFields()
	seen := map[string]bool{}
	var out []*kinds.Kind
	specs := model.Kinds()
	sort.SliceStable(specs, func(i, j int) bool { return specs[i].Kind < specs[j].Kind })
	for _, ks := range specs {
		plural, ok := plurals[ks.Kind]
		if !ok {
			plural = strings.ToLower(ks.Kind) + "s"
		}
		for _, av := range ks.APIVersions {
			group, version := api.SplitAPIVersion(av)
			key := av + "/" + ks.Kind
			if seen[key] {
				continue // kind variants (by spec.type) share one store kind
			}
			seen[key] = true
			k := kinds.Kind{
				Group: group, Version: version, Kind: ks.Kind, Plural: plural, Namespaced: true,
				ShortNames: shortNames[ks.Kind], Columns: columns, CaseInsensitiveNames: true,
				ValidateMeta: func(obj *api.Object) []api.StatusCause { return validate(stored, obj) },
				Index:        index,
			}
			if err := reg.Register(k); err != nil {
				return nil, fmt.Errorf("catalog kind %s: %w", key, err)
			}
			rk, _ := reg.ByGVK(av, ks.Kind)
			out = append(out, rk)
		}
	}
	return out, nil
}

func validate(model *entity.Model, obj *api.Object) []api.StatusCause {
	if raw, ok := obj.Metadata.Annotations[AnnotationExtraMetadata]; ok {
		if _, err := decodeExtraMetadata(raw); err != nil {
			return []api.StatusCause{{Type: "FieldValueInvalid", Field: extraMetadataField, Message: err.Error()}}
		}
	}
	e, err := ToEntity(obj)
	if err != nil {
		return []api.StatusCause{{Type: "FieldValueInvalid", Field: "spec", Message: err.Error()}}
	}
	errs := append(model.Validate(e), checkExtraMetadata(e)...)
	causes := make([]api.StatusCause, 0, len(errs))
	for _, fe := range errs {
		causes = append(causes, api.StatusCause{Type: "FieldValue" + string(fe.Code), Field: fe.Field, Message: fe.Message})
	}
	return causes
}

// index returns the search rows of an entity object: the filters of the catalog API match
// against them. Like Backstage's search table, they flatten the whole entity, extra
// metadata fields included (ToEntity puts them back into metadata).
func index(obj *api.Object) []kinds.IndexRow {
	e, err := ToEntity(obj)
	if err != nil {
		return nil
	}
	rows, err := entity.SearchRows(e)
	if err != nil {
		return nil
	}
	out := make([]kinds.IndexRow, 0, len(rows))
	for _, r := range rows {
		out = append(out, kinds.IndexRow{Key: r.Key, Value: r.Value, Original: r.Original})
	}
	return out
}

// ToObject converts an entity into the object the store keeps. Relations and status are
// the catalog's own and travel separately (the store takes status only through
// UpdateStatus).
//
// Metadata fields the object has no place for (Backstage allows any) go, as one JSON
// object, into the annotation AnnotationExtraMetadata, which ToEntity turns back into
// metadata fields; an entity may not carry that annotation itself.
func ToObject(e *entity.Entity) (*api.Object, error) {
	o := &api.Object{APIVersion: e.APIVersion, Kind: e.Kind, Metadata: api.ObjectMeta{
		Name: e.Metadata.Name, Namespace: e.Metadata.Namespace, Labels: e.Metadata.Labels,
		Annotations: e.Metadata.Annotations, Title: e.Metadata.Title, Description: e.Metadata.Description,
		Tags: e.Metadata.Tags,
	}}
	if _, ok := e.Metadata.Annotations[AnnotationExtraMetadata]; ok {
		return nil, fmt.Errorf("entity %s: %s: %s", e.Ref(), extraMetadataField, reservedMessage)
	}
	if extra := extraMetadataOf(e); len(extra) > 0 {
		raw, err := encodeExtraMetadata(extra)
		if err != nil {
			return nil, fmt.Errorf("entity %s: encode its extra metadata fields: %w", e.Ref(), err)
		}
		ann := maps.Clone(e.Metadata.Annotations)
		if ann == nil {
			ann = map[string]string{}
		}
		ann[AnnotationExtraMetadata] = raw
		o.Metadata.Annotations = ann
	}
	if o.Metadata.Namespace == "" {
		o.Metadata.Namespace = "default"
	}
	for _, l := range e.Metadata.Links {
		o.Metadata.Links = append(o.Metadata.Links, api.Link{URL: l.URL, Title: l.Title, Icon: l.Icon, Type: l.Type})
	}
	for _, r := range e.Relations {
		o.Relations = append(o.Relations, api.Relation{Type: r.Type, TargetRef: r.TargetRef})
	}
	if e.Spec != nil {
		b, err := json.Marshal(e.Spec)
		if err != nil {
			return nil, fmt.Errorf("entity %s: encode spec: %w", e.Ref(), err)
		}
		o.Spec = b
	}
	return o, nil
}

// storedStatus is the status the catalog keeps on an entity object.
type storedStatus struct {
	Items []storedItem `json:"items,omitempty"`
}

type storedItem struct {
	Type    string         `json:"type"`
	Level   string         `json:"level"`
	Message string         `json:"message"`
	Error   map[string]any `json:"error,omitempty"`
}

// ToEntity converts a stored object back into the entity the Backstage API serves: uid from
// the object, an etag that changes with every write, relations and status items.
func ToEntity(o *api.Object) (*entity.Entity, error) {
	m := map[string]any{"apiVersion": o.APIVersion, "kind": o.Kind}
	annotations := o.Metadata.Annotations
	var extra map[string]any
	if raw, ok := annotations[AnnotationExtraMetadata]; ok {
		var err error
		if extra, err = decodeExtraMetadata(raw); err != nil {
			return nil, fmt.Errorf("%s %s: %s: %w", o.Kind, o.Metadata.Name, extraMetadataField, err)
		}
		annotations = maps.Clone(annotations)
		delete(annotations, AnnotationExtraMetadata)
	}
	md := map[string]any{"name": o.Metadata.Name}
	set := func(k string, v any, ok bool) {
		if ok {
			md[k] = v
		}
	}
	set("namespace", o.Metadata.Namespace, o.Metadata.Namespace != "")
	set("uid", o.Metadata.UID, o.Metadata.UID != "")
	if o.Metadata.ResourceVersion != "" {
		sum := sha256.Sum256([]byte(o.Metadata.UID + "/" + o.Metadata.ResourceVersion))
		md["etag"] = hex.EncodeToString(sum[:10])
	}
	set("title", o.Metadata.Title, o.Metadata.Title != "")
	set("description", o.Metadata.Description, o.Metadata.Description != "")
	set("labels", toAnyMap(o.Metadata.Labels), len(o.Metadata.Labels) > 0)
	set("annotations", toAnyMap(annotations), len(annotations) > 0)
	if len(o.Metadata.Tags) > 0 {
		tags := make([]any, len(o.Metadata.Tags))
		for i, t := range o.Metadata.Tags {
			tags[i] = t
		}
		md["tags"] = tags
	}
	if len(o.Metadata.Links) > 0 {
		links := make([]any, 0, len(o.Metadata.Links))
		for _, l := range o.Metadata.Links {
			lm := map[string]any{"url": l.URL}
			for k, v := range map[string]string{"title": l.Title, "icon": l.Icon, "type": l.Type} {
				if v != "" {
					lm[k] = v
				}
			}
			links = append(links, lm)
		}
		md["links"] = links
	}
	for k, v := range extra {
		md[k] = v // decodeExtraMetadata refuses the keys set above
	}
	m["metadata"] = md
	if len(o.Spec) > 0 {
		var spec any
		dec := json.NewDecoder(strings.NewReader(string(o.Spec)))
		dec.UseNumber()
		if err := dec.Decode(&spec); err != nil {
			return nil, fmt.Errorf("decode spec of %s %s: %w", o.Kind, o.Metadata.Name, err)
		}
		m["spec"] = spec
	}
	e, err := entity.FromObject(m)
	if err != nil {
		return nil, err
	}
	for _, r := range o.Relations {
		e.Relations = append(e.Relations, entity.Relation{Type: r.Type, TargetRef: r.TargetRef})
	}
	if len(o.Status) > 0 {
		var st storedStatus
		if err := json.Unmarshal(o.Status, &st); err == nil && len(st.Items) > 0 {
			e.Status = &entity.Status{}
			for _, it := range st.Items {
				e.Status.Items = append(e.Status.Items, entity.StatusItem{Type: it.Type, Level: it.Level, Message: it.Message, Error: it.Error})
			}
		}
	}
	return e, nil
}

func toAnyMap(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Extra metadata fields. Backstage's EntityMeta allows any field besides the known ones
// (additionalProperties: true); api.ObjectMeta has fixed fields, so ToObject keeps the
// others in one annotation, as a JSON object with its keys sorted, and ToEntity moves them
// back. The annotation is paved's storage, never part of an entity as Backstage serves it.

// AnnotationExtraMetadata holds an entity's extra metadata fields in the store.
const AnnotationExtraMetadata = "paved.dev/extra-metadata"

// maxExtraMetadataBytes bounds the JSON of one entity's extra metadata fields: the
// store's limit on the annotations of one object (256 KiB), which the catalog's kinds
// otherwise do not apply. The whole entity is bounded by the store's 1 MiB.
const maxExtraMetadataBytes = 256 << 10

const reservedMessage = "is reserved: paved keeps the entity's extra metadata fields in it; remove it (write the fields into metadata instead)"

var extraMetadataField = entity.FieldPath("metadata.annotations", AnnotationExtraMetadata)

// knownMetadata are the metadata fields the stored object keeps in fields of its own, or
// that the catalog sets when it serves an entity (uid, etag).
var knownMetadata = []string{"name", "namespace", "uid", "etag", "title", "description", "labels", "annotations", "tags", "links"}

// extraMetadataOf returns the metadata fields of e that are not known ones. A known field
// found in Metadata.Extra has a value of the wrong type (which validation reports) or is
// an empty description (the same as none): neither is kept.
func extraMetadataOf(e *entity.Entity) map[string]any {
	var out map[string]any
	for k, v := range e.Metadata.Extra {
		if slices.Contains(knownMetadata, k) {
			continue
		}
		if out == nil {
			out = make(map[string]any, len(e.Metadata.Extra))
		}
		out[k] = v
	}
	return out
}

// encodeExtraMetadata writes the fields as a JSON object with sorted keys, without HTML
// escaping, numbers as written.
func encodeExtraMetadata(m map[string]any) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return "", err
	}
	return strings.TrimSuffix(buf.String(), "\n"), nil
}

// decodeExtraMetadata reads the annotation: a JSON object, within the size and nesting
// limits, none of whose keys is a known metadata field.
func decodeExtraMetadata(raw string) (map[string]any, error) {
	if len(raw) > maxExtraMetadataBytes {
		return nil, fmt.Errorf("is %d bytes, over the limit of %d", len(raw), maxExtraMetadataBytes)
	}
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("is not valid JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("has data after its JSON object")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("must be a JSON object of metadata fields")
	}
	if depthOf(m, 1) > entity.MaxDepth {
		return nil, fmt.Errorf("nests deeper than %d levels", entity.MaxDepth)
	}
	for k := range m {
		if known := knownField(k); known != "" {
			return nil, fmt.Errorf("holds %q, which is the known metadata field %s", k, known)
		}
	}
	return m, nil
}

// knownField returns the known metadata field that key is, or differs from only in case.
func knownField(key string) string {
	for _, k := range knownMetadata {
		if strings.EqualFold(k, key) {
			return k
		}
	}
	return ""
}

// checkExtraMetadata checks what ToObject will keep of e's metadata: the reserved
// annotation is not the entity's to set, an extra field may not differ from a known one
// only in case (Backstage's search index refuses such an entity, and paved could not tell
// the two apart), and the extra fields are bounded in size. Errors name the field.
func checkExtraMetadata(e *entity.Entity) []entity.FieldError {
	var errs []entity.FieldError
	if _, ok := e.Metadata.Annotations[AnnotationExtraMetadata]; ok {
		errs = append(errs, entity.FieldError{Field: extraMetadataField, Code: entity.CodeFormat, Message: reservedMessage})
	}
	extra := extraMetadataOf(e)
	keys := slices.Sorted(maps.Keys(extra))
	for _, k := range keys {
		if known := knownField(k); known != "" {
			errs = append(errs, entity.FieldError{Field: entity.FieldPath("metadata", k), Code: entity.CodeFormat,
				Message: fmt.Sprintf("differs from the metadata field %s only in case; metadata keys must differ in more than case", known)})
		}
	}
	if len(extra) == 0 {
		return errs
	}
	raw, err := encodeExtraMetadata(extra)
	if err != nil {
		return append(errs, entity.FieldError{Field: "metadata", Code: entity.CodeType, Message: err.Error()})
	}
	if len(raw) > maxExtraMetadataBytes {
		largest, size := "", -1
		for _, k := range keys {
			b, _ := json.Marshal(extra[k])
			if len(b) > size {
				largest, size = k, len(b)
			}
		}
		errs = append(errs, entity.FieldError{Field: entity.FieldPath("metadata", largest), Code: entity.CodeFormat,
			Message: fmt.Sprintf("the metadata fields beyond Backstage's known ones take %d bytes as JSON, over the limit of %d; this one takes %d", len(raw), maxExtraMetadataBytes, size)})
	}
	return errs
}
