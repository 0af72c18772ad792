// Package kinds owns the registry of object kinds: their group, version, plural, scope,
// short names and the JSON Schema of their spec. Kinds can be added and removed at run time
// (XRDs register claim kinds). It validates objects against their kind; it knows nothing of
// storage or HTTP.
package kinds

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/paved-dev/paved/api"
)

// Kind describes one kind of object.
type Kind struct {
	Group      string   `json:"group"`
	Version    string   `json:"version"`
	Kind       string   `json:"kind"`
	Plural     string   `json:"plural"`
	Singular   string   `json:"singular,omitempty"`
	ShortNames []string `json:"shortNames,omitempty"`
	Namespaced bool     `json:"namespaced"`
	// Schema is a JSON Schema (draft 2020-12 unless it says otherwise) for spec.
	// Empty means any spec is accepted.
	Schema json.RawMessage `json:"schema,omitempty"`
	// Columns are extra table columns for `paved get`, as JSONPath-like dotted paths.
	Columns []api.Column `json:"columns,omitempty"`

	// ValidateMeta, if set, replaces the Kubernetes rules for metadata (name, namespace,
	// labels, annotations): Backstage entities follow their own.
	ValidateMeta func(obj *api.Object) []api.StatusCause `json:"-"`
	// Index, if set, returns the rows a query can filter, facet, order and search on
	// (flattened fields). The store keeps them in a search index next to the object.
	Index func(obj *api.Object) []IndexRow `json:"-"`
	// LabelNames restricts names to DNS labels (no dots, at most 63 characters), for kinds
	// whose names are used as namespaces.
	LabelNames bool `json:"-"`
	// CaseInsensitiveNames makes "Foo" and "foo" the same object, as Backstage refs are.
	// metadata.name keeps the case it was written with.
	CaseInsensitiveNames bool `json:"-"`

	compiled *jsonschema.Schema
}

// IndexRow is one searchable (key, value) pair of an object. Key and Value are matched
// case-insensitively (store them lower-cased); Original keeps the value as written, for
// facets.
type IndexRow struct {
	Key      string
	Value    string
	Original string
}

// Describe returns the kind as discovery (GET /apis) presents it.
func (k *Kind) Describe() api.APIResource {
	return api.APIResource{Group: k.Group, Version: k.Version, Kind: k.Kind, Plural: k.Plural,
		Singular: k.Singular, ShortNames: k.ShortNames, Namespaced: k.Namespaced, Columns: k.Columns, Schema: k.Schema}
}

// APIVersion returns group/version.
func (k *Kind) APIVersion() string { return api.JoinAPIVersion(k.Group, k.Version) }

// Resource returns the storage key prefix of the kind: "group/plural".
func (k *Kind) Resource() string { return k.Group + "/" + k.Plural }

// Registry holds the kinds the platform knows. It is safe for concurrent use.
type Registry struct {
	mu       sync.RWMutex
	byGVK    map[string]*Kind // group/version/Kind
	byGVR    map[string]*Kind // group/version/plural
	watchers []func()
}

// NewRegistry returns a registry holding the built-in kinds.
func NewRegistry() *Registry {
	r := &Registry{byGVK: map[string]*Kind{}, byGVR: map[string]*Kind{}}
	for _, k := range Builtin() {
		if err := r.Register(k); err != nil {
			panic(fmt.Sprintf("built-in kind %s: %v", k.Kind, err))
		}
	}
	return r
}

var (
	dnsLabel     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	kindName     = regexp.MustCompile(`^[A-Z][A-Za-z0-9]*$`)
	versionName  = regexp.MustCompile(`^v[0-9]+((alpha|beta)[0-9]+)?$`)
	groupPattern = regexp.MustCompile(`^([a-z0-9]([-a-z0-9]*[a-z0-9])?)(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
)

// Register adds or replaces a kind. The schema is compiled now, so a broken schema is
// refused here rather than at the first object.
func (r *Registry) Register(k Kind) error {
	if !kindName.MatchString(k.Kind) {
		return fmt.Errorf("kind %q: must start with an upper-case letter and contain only letters and digits", k.Kind)
	}
	if k.Group == "" || !groupPattern.MatchString(k.Group) || len(k.Group) > 253 {
		return fmt.Errorf("kind %s: group %q is not a DNS subdomain", k.Kind, k.Group)
	}
	if !versionName.MatchString(k.Version) {
		return fmt.Errorf("kind %s: version %q must look like v1, v1beta1 or v1alpha1", k.Kind, k.Version)
	}
	if k.Plural == "" {
		k.Plural = strings.ToLower(k.Kind) + "s"
	}
	if !dnsLabel.MatchString(k.Plural) {
		return fmt.Errorf("kind %s: plural %q must be a lower-case DNS label", k.Kind, k.Plural)
	}
	if k.Singular == "" {
		k.Singular = strings.ToLower(k.Kind)
	}
	if len(k.Schema) > 0 {
		s, err := compileSchema(k.Schema)
		if err != nil {
			return fmt.Errorf("kind %s: spec schema: %w", k.Kind, err)
		}
		k.compiled = s
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	gvr := k.Group + "/" + k.Version + "/" + k.Plural
	if old, ok := r.byGVR[gvr]; ok && old.Kind != k.Kind {
		return fmt.Errorf("kind %s: plural %q is already used by kind %s", k.Kind, k.Plural, old.Kind)
	}
	kk := k
	r.byGVK[k.Group+"/"+k.Version+"/"+k.Kind] = &kk
	r.byGVR[gvr] = &kk
	r.notify()
	return nil
}

// Unregister removes a kind; objects of that kind stay in the store but are no longer served.
func (r *Registry) Unregister(group, version, kind string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k, ok := r.byGVK[group+"/"+version+"/"+kind]
	if !ok {
		return
	}
	delete(r.byGVK, group+"/"+version+"/"+kind)
	delete(r.byGVR, group+"/"+version+"/"+k.Plural)
	r.notify()
}

// OnChange registers f to be called (with the lock released) whenever the set of kinds changes.
func (r *Registry) OnChange(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.watchers = append(r.watchers, f)
}

func (r *Registry) notify() {
	ws := append([]func(){}, r.watchers...)
	go func() {
		for _, f := range ws {
			f()
		}
	}()
}

// ByGVK finds a kind by apiVersion and kind.
func (r *Registry) ByGVK(apiVersion, kind string) (*Kind, bool) {
	g, v := api.SplitAPIVersion(apiVersion)
	r.mu.RLock()
	defer r.mu.RUnlock()
	k, ok := r.byGVK[g+"/"+v+"/"+kind]
	return k, ok
}

// ByGVR finds a kind by group, version and plural, as URL paths name it.
func (r *Registry) ByGVR(group, version, plural string) (*Kind, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	k, ok := r.byGVR[group+"/"+version+"/"+plural]
	return k, ok
}

// All returns every kind, sorted by group then kind.
func (r *Registry) All() []*Kind {
	r.mu.RLock()
	out := make([]*Kind, 0, len(r.byGVK))
	for _, k := range r.byGVK {
		out = append(out, k)
	}
	r.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Group != out[j].Group {
			return out[i].Group < out[j].Group
		}
		if out[i].Kind != out[j].Kind {
			return out[i].Kind < out[j].Kind
		}
		return out[i].Version < out[j].Version
	})
	return out
}

// ErrAmbiguous is returned by Resolve when a name matches kinds in several groups.
var ErrAmbiguous = errors.New("ambiguous kind")

// Resolve finds a kind by what a user types: its kind name, plural, singular or a short name,
// case-insensitively, optionally qualified as "plural.group" ("components.backstage.io").
func Resolve(kinds []*Kind, name string) (*Kind, error) {
	n := strings.ToLower(name)
	var found []*Kind
	for _, k := range kinds {
		names := []string{strings.ToLower(k.Kind), k.Plural, k.Singular}
		names = append(names, k.ShortNames...)
		for _, cand := range names {
			if n == cand || (k.Group != "" && n == cand+"."+k.Group) {
				found = append(found, k)
				break
			}
		}
	}
	// Versions of one kind are one resource: take the first (All sorts versions).
	var distinct []*Kind
	for _, k := range found {
		dup := false
		for _, d := range distinct {
			if d.Group == k.Group && d.Kind == k.Kind {
				dup = true
			}
		}
		if !dup {
			distinct = append(distinct, k)
		}
	}
	found = distinct
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("unknown kind %q: `paved api-resources` lists the kinds", name)
	case 1:
		return found[0], nil
	}
	var names []string
	for _, k := range found {
		names = append(names, k.Plural+"."+k.Group)
	}
	return nil, fmt.Errorf("%w %q: it matches %s; qualify it with the group", ErrAmbiguous, name, strings.Join(names, ", "))
}

// Validate checks spec against the kind's schema; the causes name each field at fault
// with a path such as "spec.replicas".
func (k *Kind) Validate(spec json.RawMessage) []api.StatusCause {
	if k.compiled == nil {
		return nil
	}
	if len(bytes.TrimSpace(spec)) == 0 {
		spec = json.RawMessage("{}")
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(spec))
	if err != nil {
		return []api.StatusCause{{Type: "FieldValueInvalid", Field: "spec", Message: "not valid JSON: " + err.Error()}}
	}
	err = k.compiled.Validate(v)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return []api.StatusCause{{Type: "FieldValueInvalid", Field: "spec", Message: err.Error()}}
	}
	return causesOf(ve)
}

func causesOf(ve *jsonschema.ValidationError) []api.StatusCause {
	printer := message.NewPrinter(language.English)
	var out []api.StatusCause
	seen := map[string]bool{}
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			field := "spec"
			for _, p := range e.InstanceLocation {
				field += fieldPathSegment(p)
			}
			msg := "invalid value"
			if e.ErrorKind != nil {
				msg = e.ErrorKind.LocalizedString(printer)
			}
			key := field + "\x00" + msg
			if !seen[key] && len(out) < 20 {
				seen[key] = true
				out = append(out, api.StatusCause{Type: "FieldValueInvalid", Field: field, Message: msg})
			}
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	return out
}

func fieldPathSegment(p string) string {
	if p != "" && strings.Trim(p, "0123456789") == "" {
		return "[" + p + "]"
	}
	return "." + p
}

// noLoader refuses every $ref outside the schema itself, so a kind's schema can never make
// the server read a file or open a connection.
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("schema references %q: external references are not allowed", url)
}

func compileSchema(raw json.RawMessage) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("not valid JSON: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.UseLoader(noLoader{})
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	const loc = "mem://paved/spec.json"
	if err := c.AddResource(loc, doc); err != nil {
		return nil, err
	}
	return c.Compile(loc)
}
