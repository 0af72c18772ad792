// Package api holds the wire types every paved component shares: the object envelope
// (apiVersion, kind, metadata, spec, status), lists, watch events, conditions and the
// error status the API server returns. It must not import anything from internal/.
package api

import (
	"encoding/json"
	"strings"
	"time"
)

// Object is the envelope of everything paved stores. Spec and Status are kept as raw JSON
// so that every kind, including kinds registered at run time, travels without a Go type.
type Object struct {
	APIVersion string          `json:"apiVersion"`
	Kind       string          `json:"kind"`
	Metadata   ObjectMeta      `json:"metadata"`
	Spec       json.RawMessage `json:"spec,omitempty"`
	// Relations are typed links to other objects, by reference ("kind:namespace/name"), as
	// Backstage entities carry them (ownedBy, partOf, dependsOn, ...). The catalog keeps
	// both directions; the portal draws them for any kind.
	Relations []Relation      `json:"relations,omitempty"`
	Status    json.RawMessage `json:"status,omitempty"`
}

// Relation is one typed link from an object to another.
type Relation struct {
	Type      string `json:"type"`
	TargetRef string `json:"targetRef"`
}

// ObjectMeta is the metadata every object carries, with Kubernetes semantics.
type ObjectMeta struct {
	Name              string            `json:"name,omitempty"`
	GenerateName      string            `json:"generateName,omitempty"`
	Namespace         string            `json:"namespace,omitempty"`
	UID               string            `json:"uid,omitempty"`
	ResourceVersion   string            `json:"resourceVersion,omitempty"`
	Generation        int64             `json:"generation,omitempty"`
	CreationTimestamp *time.Time        `json:"creationTimestamp,omitempty"`
	DeletionTimestamp *time.Time        `json:"deletionTimestamp,omitempty"`
	Labels            map[string]string `json:"labels,omitempty"`
	Annotations       map[string]string `json:"annotations,omitempty"`
	// Title, Description, Tags and Links are the human-facing metadata Backstage entities
	// carry; any kind may use them and the portal shows them.
	Title           string           `json:"title,omitempty"`
	Description     string           `json:"description,omitempty"`
	Tags            []string         `json:"tags,omitempty"`
	Links           []Link           `json:"links,omitempty"`
	Finalizers      []string         `json:"finalizers,omitempty"`
	OwnerReferences []OwnerReference `json:"ownerReferences,omitempty"`
}

// Link is an external link shown with an object.
type Link struct {
	URL   string `json:"url"`
	Title string `json:"title,omitempty"`
	Icon  string `json:"icon,omitempty"`
	Type  string `json:"type,omitempty"`
}

// OwnerReference points at the object that owns this one; when every owner is gone the
// garbage collector deletes the dependent.
type OwnerReference struct {
	APIVersion         string `json:"apiVersion"`
	Kind               string `json:"kind"`
	Name               string `json:"name"`
	UID                string `json:"uid"`
	Controller         *bool  `json:"controller,omitempty"`
	BlockOwnerDeletion *bool  `json:"blockOwnerDeletion,omitempty"`
}

// Group returns the API group of apiVersion ("" for a bare version such as "v1").
func (o *Object) Group() string {
	g, _ := SplitAPIVersion(o.APIVersion)
	return g
}

// Version returns the version part of apiVersion.
func (o *Object) Version() string {
	_, v := SplitAPIVersion(o.APIVersion)
	return v
}

// DeepCopy returns a copy that shares no mutable state with o.
func (o *Object) DeepCopy() *Object {
	if o == nil {
		return nil
	}
	c := *o
	c.Spec = cloneBytes(o.Spec)
	c.Status = cloneBytes(o.Status)
	m := &c.Metadata
	if o.Metadata.CreationTimestamp != nil {
		t := *o.Metadata.CreationTimestamp
		m.CreationTimestamp = &t
	}
	if o.Metadata.DeletionTimestamp != nil {
		t := *o.Metadata.DeletionTimestamp
		m.DeletionTimestamp = &t
	}
	if o.Relations != nil {
		c.Relations = append([]Relation(nil), o.Relations...)
	}
	if o.Metadata.Tags != nil {
		m.Tags = append([]string(nil), o.Metadata.Tags...)
	}
	if o.Metadata.Links != nil {
		m.Links = append([]Link(nil), o.Metadata.Links...)
	}
	m.Labels = cloneMap(o.Metadata.Labels)
	m.Annotations = cloneMap(o.Metadata.Annotations)
	if o.Metadata.Finalizers != nil {
		m.Finalizers = append([]string(nil), o.Metadata.Finalizers...)
	}
	if o.Metadata.OwnerReferences != nil {
		m.OwnerReferences = make([]OwnerReference, len(o.Metadata.OwnerReferences))
		for i, r := range o.Metadata.OwnerReferences {
			if r.Controller != nil {
				b := *r.Controller
				r.Controller = &b
			}
			if r.BlockOwnerDeletion != nil {
				b := *r.BlockOwnerDeletion
				r.BlockOwnerDeletion = &b
			}
			m.OwnerReferences[i] = r
		}
	}
	return &c
}

// HasFinalizer reports whether f is among the object's finalizers.
func (o *Object) HasFinalizer(f string) bool {
	for _, x := range o.Metadata.Finalizers {
		if x == f {
			return true
		}
	}
	return false
}

// AddFinalizer adds f once; it reports whether the object changed.
func (o *Object) AddFinalizer(f string) bool {
	if o.HasFinalizer(f) {
		return false
	}
	o.Metadata.Finalizers = append(o.Metadata.Finalizers, f)
	return true
}

// RemoveFinalizer removes f; it reports whether the object changed.
func (o *Object) RemoveFinalizer(f string) bool {
	out := o.Metadata.Finalizers[:0:0]
	for _, x := range o.Metadata.Finalizers {
		if x != f {
			out = append(out, x)
		}
	}
	changed := len(out) != len(o.Metadata.Finalizers)
	o.Metadata.Finalizers = out
	if len(out) == 0 {
		o.Metadata.Finalizers = nil
	}
	return changed
}

// SplitAPIVersion splits "group/version" into its parts; "v1" has an empty group.
func SplitAPIVersion(apiVersion string) (group, version string) {
	if i := strings.LastIndexByte(apiVersion, '/'); i >= 0 {
		return apiVersion[:i], apiVersion[i+1:]
	}
	return "", apiVersion
}

// JoinAPIVersion is the inverse of SplitAPIVersion.
func JoinAPIVersion(group, version string) string {
	if group == "" {
		return version
	}
	return group + "/" + version
}

func cloneBytes(b json.RawMessage) json.RawMessage {
	if b == nil {
		return nil
	}
	return append(json.RawMessage(nil), b...)
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// List is the answer to a list request.
type List struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Metadata   ListMeta `json:"metadata"`
	Items      []Object `json:"items"`
}

// ListMeta carries the revision a list was read at, for a watch that follows it, and the
// token for the next page.
type ListMeta struct {
	ResourceVersion string `json:"resourceVersion,omitempty"`
	Continue        string `json:"continue,omitempty"`
}

// Watch event types, as Kubernetes names them.
const (
	EventAdded    = "ADDED"
	EventModified = "MODIFIED"
	EventDeleted  = "DELETED"
	EventBookmark = "BOOKMARK"
	EventError    = "ERROR"
)

// WatchEvent is one line of a watch stream.
type WatchEvent struct {
	Type   string `json:"type"`
	Object Object `json:"object"`
}
