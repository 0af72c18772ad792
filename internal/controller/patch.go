package controller

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/paved-dev/paved/api"
	"github.com/paved-dev/paved/internal/store"
)

// StatusPatcher writes an object's status once, at the end of a reconcile, in the Flux
// style:
//
//	patcher := controller.NewStatusPatcher(st, obj)
//	defer func() { _, err = patcher.Patch(ctx, obj) ... }()
//
// It remembers the status as read. Patch writes only if the status changed, and on a
// conflict (someone else wrote the object since it was read) it reads the object again and
// applies just this reconcile's changes (top-level status fields it changed, conditions it
// set or removed) on top of what is stored, so it never overwrites another writer's fields
// with stale values.
type StatusPatcher struct {
	st       *store.Store
	original *api.Object
}

// maxPatchAttempts bounds the conflict retries of one Patch.
const maxPatchAttempts = 5

// NewStatusPatcher snapshots obj's status; call it right after reading obj.
func NewStatusPatcher(st *store.Store, obj *api.Object) *StatusPatcher {
	return &StatusPatcher{st: st, original: obj.DeepCopy()}
}

// Patch stores obj's status if it differs from the snapshot and returns the stored object
// (obj itself, untouched, if there was nothing to write). A NotFound error means the object
// is gone; callers usually ignore it.
func (p *StatusPatcher) Patch(ctx context.Context, obj *api.Object) (*api.Object, error) {
	if jsonEqual(p.original.Status, obj.Status) {
		return obj, nil
	}
	next := obj.DeepCopy()
	for attempt := 1; ; attempt++ {
		out, err := p.st.UpdateStatus(ctx, next)
		if err == nil {
			p.original = out.DeepCopy()
			return out, nil
		}
		if !api.IsConflict(err) || attempt >= maxPatchAttempts {
			return nil, fmt.Errorf("update status of %s %q: %w", obj.Kind, obj.Metadata.Name, err)
		}
		k, kerr := p.st.KindOf(obj)
		if kerr != nil {
			return nil, kerr
		}
		fresh, gerr := p.st.Get(ctx, k, obj.Metadata.Namespace, obj.Metadata.Name)
		if gerr != nil {
			return nil, fmt.Errorf("update status of %s %q: read it again after a conflict: %w", obj.Kind, obj.Metadata.Name, gerr)
		}
		if fresh.Metadata.UID != obj.Metadata.UID {
			return nil, api.NewNotFound(obj.Kind, obj.Metadata.Name)
		}
		merged, merr := mergeStatus(p.original.Status, obj.Status, fresh.Status)
		if merr != nil {
			return nil, fmt.Errorf("update status of %s %q: %w", obj.Kind, obj.Metadata.Name, merr)
		}
		fresh.Status = merged
		next = fresh
	}
}

// mergeStatus applies the change from base to ours onto theirs: top-level fields ours
// changed (set or removed) win; conditions are merged by type the same way.
func mergeStatus(base, ours, theirs json.RawMessage) (json.RawMessage, error) {
	b, err := decodeMap(base)
	if err != nil {
		return nil, err
	}
	o, err := decodeMap(ours)
	if err != nil {
		return nil, err
	}
	t, err := decodeMap(theirs)
	if err != nil {
		return nil, err
	}
	for k, ov := range o {
		if k == "conditions" {
			continue
		}
		if bv, ok := b[k]; !ok || !reflect.DeepEqual(bv, ov) {
			t[k] = ov
		}
	}
	for k := range b {
		if _, ok := o[k]; !ok && k != "conditions" {
			delete(t, k)
		}
	}
	bc, oc, tc := condsOf(b), condsOf(o), condsOf(t)
	for _, c := range oc {
		if old := api.FindCondition(bc, c.Type); old == nil || !condEqual(*old, c) {
			if i := condIndex(tc, c.Type); i >= 0 {
				tc[i] = c
			} else {
				tc = append(tc, c)
			}
		}
	}
	for _, c := range bc {
		if api.FindCondition(oc, c.Type) == nil {
			if i := condIndex(tc, c.Type); i >= 0 {
				tc = append(tc[:i], tc[i+1:]...)
			}
		}
	}
	if len(tc) > 0 {
		t["conditions"] = tc
	} else {
		delete(t, "conditions")
	}
	if len(t) == 0 {
		return nil, nil
	}
	return json.Marshal(t)
}

func decodeMap(raw json.RawMessage) (map[string]any, error) {
	m := map[string]any{}
	if t := bytes.TrimSpace(raw); len(t) > 0 && !bytes.Equal(t, []byte("null")) {
		dec := json.NewDecoder(bytes.NewReader(t))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			return nil, fmt.Errorf("status is not a JSON object: %w", err)
		}
	}
	return m, nil
}

func condsOf(m map[string]any) []api.Condition {
	var out []api.Condition
	if raw, ok := m["conditions"]; ok {
		if b, err := json.Marshal(raw); err == nil {
			_ = json.Unmarshal(b, &out)
		}
	}
	return out
}

func condEqual(a, b api.Condition) bool {
	return a.Type == b.Type && a.Status == b.Status && a.Reason == b.Reason && a.Message == b.Message &&
		a.ObservedGeneration == b.ObservedGeneration && a.LastTransitionTime.Equal(b.LastTransitionTime)
}

func condIndex(cs []api.Condition, t string) int {
	for i := range cs {
		if cs[i].Type == t {
			return i
		}
	}
	return -1
}

// jsonEqual compares two JSON documents by value, so key order and spacing do not matter.
func jsonEqual(a, b json.RawMessage) bool {
	if bytes.Equal(a, b) {
		return true
	}
	am, aerr := decodeAny(a)
	bm, berr := decodeAny(b)
	return aerr == nil && berr == nil && reflect.DeepEqual(am, bm)
}

func decodeAny(raw json.RawMessage) (any, error) {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 {
		return nil, nil
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(t))
	dec.UseNumber()
	err := dec.Decode(&v)
	return v, err
}
