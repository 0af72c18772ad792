package entity

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/language"
)

// DefaultNamespace is the namespace of an entity that names none.
const DefaultNamespace = "default"

// CompoundRef names one entity by kind, namespace and name. Refs compare
// case-insensitively; String gives the canonical, lower-cased form.
type CompoundRef struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

// RefDefaults fills the parts a reference leaves out. An empty Namespace means
// DefaultNamespace; an empty Kind means the reference must name its kind.
type RefDefaults struct {
	Kind      string
	Namespace string
}

// ParseRef parses an entity reference of the form [kind:][namespace/]name, as Backstage's
// parseEntityRef does: the first ":" ends the kind unless a "/" comes before it, the first
// "/" ends the namespace, and the rest is the name (which may itself contain ":" or "/").
// No part may be empty; a missing kind or namespace is taken from defaults. The parts keep
// the case they were written in.
func ParseRef(ref string, defaults RefDefaults) (CompoundRef, error) {
	if ref == "" {
		return CompoundRef{}, errors.New("entity reference must not be empty")
	}
	colon := strings.IndexByte(ref, ':')
	slash := strings.IndexByte(ref, '/')
	if slash >= 0 && slash < colon {
		colon = -1 // "ns/name:with-colon": the colon belongs to the name
	}
	var kind, namespace string
	hasKind, hasNamespace := colon >= 0, slash >= 0
	if hasKind {
		kind = ref[:colon]
	}
	if hasNamespace {
		namespace = ref[colon+1 : slash]
	}
	name := ref[max(colon+1, slash+1):]
	if (hasKind && kind == "") || (hasNamespace && namespace == "") || name == "" {
		return CompoundRef{}, fmt.Errorf("entity reference %s was not on the form [<kind>:][<namespace>/]<name>", strconv.Quote(ref))
	}
	if !hasKind {
		kind = defaults.Kind
	}
	if !hasNamespace {
		namespace = defaults.Namespace
		if namespace == "" {
			namespace = DefaultNamespace
		}
	}
	if kind == "" {
		return CompoundRef{}, fmt.Errorf("entity reference %s had missing or empty kind (e.g. did not start with \"component:\" or similar)", strconv.Quote(ref))
	}
	return CompoundRef{Kind: kind, Namespace: namespace, Name: name}, nil
}

// String returns the canonical reference "kind:namespace/name", every part lower-cased, as
// Backstage's stringifyEntityRef does: "component:default/artist-lookup".
func (r CompoundRef) String() string {
	ns := r.Namespace
	if ns == "" {
		ns = DefaultNamespace
	}
	return lower(r.Kind) + ":" + lower(ns) + "/" + lower(r.Name)
}

// Equal reports whether r and o name the same entity, ignoring case.
func (r CompoundRef) Equal(o CompoundRef) bool { return r.String() == o.String() }

// Ref returns the reference of the entity itself.
func (e *Entity) Ref() CompoundRef {
	ns := e.Metadata.Namespace
	if ns == "" {
		ns = DefaultNamespace
	}
	return CompoundRef{Kind: e.Kind, Namespace: ns, Name: e.Metadata.Name}
}

// lower lower-cases s as JavaScript's toLocaleLowerCase("en-US") does (full Unicode case
// mapping), which is how Backstage normalises refs and search values.
func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return cases.Lower(language.AmericanEnglish).String(s)
		}
	}
	return strings.ToLower(s)
}
