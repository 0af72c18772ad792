// Package store owns paved's objects: create, get, list, update, update status, delete and
// watch, with Kubernetes semantics (uid, generation, resourceVersion as a store-wide
// revision, finalizers, generateName, optimistic concurrency) and validation against the
// kind registry. It sits on a Backend (SQLite or PostgreSQL) that only stores bytes in
// revision order. It must not know about HTTP, controllers or any feature's kinds.
package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/paved-dev/paved/api"
	"github.com/paved-dev/paved/internal/kinds"
)

// Store is the object store every component uses. It is safe for concurrent use.
type Store struct {
	be    Backend
	kinds *kinds.Registry
	log   *slog.Logger
	now   func() time.Time
	hub   *hub
	qi    *queryIndex
}

// Options tune a Store.
type Options struct {
	Logger *slog.Logger
	// Now is the clock for timestamps; tests may fix it.
	Now func() time.Time
	// WatchCacheSize is how many recent events are kept in memory for watchers (default 5000);
	// a watcher further behind reads the event log from the database.
	WatchCacheSize int
}

// New returns a Store over be. Close the Store to stop its watch machinery (it does not
// close the backend).
func New(be Backend, reg *kinds.Registry, opts Options) *Store {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.WatchCacheSize <= 0 {
		opts.WatchCacheSize = 5000
	}
	s := &Store{be: be, kinds: reg, log: opts.Logger, now: opts.Now}
	s.hub = newHub(be, opts.WatchCacheSize, opts.Logger)
	s.qi = newQueryIndex(s)
	return s
}

// Kinds returns the registry the store validates against.
func (s *Store) Kinds() *kinds.Registry { return s.kinds }

// Backend returns the storage engine, for leases and diagnostics.
func (s *Store) Backend() Backend { return s.be }

// Close stops the watch machinery; open watches end.
func (s *Store) Close() { s.hub.close() }

// Revision returns the store's newest revision.
func (s *Store) Revision(ctx context.Context) (int64, error) {
	cur, _, err := s.be.Revision(ctx)
	return cur, err
}

// KindOf resolves the kind of an object from its apiVersion and kind.
func (s *Store) KindOf(obj *api.Object) (*kinds.Kind, error) {
	if obj.APIVersion == "" || obj.Kind == "" {
		return nil, api.NewInvalid(orUnknown(obj.Kind), obj.Metadata.Name, []api.StatusCause{
			{Type: "FieldValueRequired", Field: missingTypeField(obj), Message: "required"}})
	}
	k, ok := s.kinds.ByGVK(obj.APIVersion, obj.Kind)
	if !ok {
		return nil, api.NewBadRequest("no kind %q is registered in %q: `paved api-resources` lists the kinds", obj.Kind, obj.APIVersion)
	}
	return k, nil
}

func missingTypeField(obj *api.Object) string {
	if obj.APIVersion == "" {
		return "apiVersion"
	}
	return "kind"
}

func orUnknown(s string) string {
	if s == "" {
		return "object"
	}
	return s
}

var (
	dns1123Subdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	dns1123Label     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	qualifiedName    = regexp.MustCompile(`^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$`)
	labelValue       = regexp.MustCompile(`^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$`)
)

// Limits on object size; a larger object is refused rather than slowing everyone down.
const (
	MaxObjectBytes      = 1 << 20
	maxAnnotationsBytes = 256 << 10
)

// validateMeta checks metadata the way Kubernetes does and returns causes with field paths.
func validateMeta(k *kinds.Kind, obj *api.Object, creating bool) []api.StatusCause {
	var cs []api.StatusCause
	add := func(field, msg string) {
		cs = append(cs, api.StatusCause{Type: "FieldValueInvalid", Field: field, Message: msg})
	}
	m := &obj.Metadata
	switch {
	case m.Name == "" && !(creating && m.GenerateName != ""):
		cs = append(cs, api.StatusCause{Type: "FieldValueRequired", Field: "metadata.name", Message: "name or generateName is required"})
	case m.Name != "" && k.LabelNames && (len(m.Name) > 63 || !dns1123Label.MatchString(m.Name)):
		add("metadata.name", fmt.Sprintf("%q must be a DNS label: lower case letters, digits and '-', start and end with a letter or digit, at most 63 characters", trunc(m.Name)))
	case m.Name != "" && (len(m.Name) > 253 || !dns1123Subdomain.MatchString(m.Name)):
		add("metadata.name", fmt.Sprintf("%q must be lower case letters, digits, '-' and '.', start and end with a letter or digit, at most 253 characters", trunc(m.Name)))
	}
	if m.GenerateName != "" && (len(m.GenerateName) > 200 || !dns1123Subdomain.MatchString(strings.TrimRight(m.GenerateName, "-.")+"x")) {
		add("metadata.generateName", fmt.Sprintf("%q is not a valid name prefix", trunc(m.GenerateName)))
	}
	if k.Namespaced {
		if m.Namespace != "" && (len(m.Namespace) > 63 || !dns1123Label.MatchString(m.Namespace)) {
			add("metadata.namespace", fmt.Sprintf("%q must be a DNS label (lower case letters, digits, '-', at most 63 characters)", trunc(m.Namespace)))
		}
	} else if m.Namespace != "" {
		add("metadata.namespace", fmt.Sprintf("%s is cluster-scoped and takes no namespace", k.Kind))
	}
	for key, v := range m.Labels {
		if msg := checkQualifiedKey(key); msg != "" {
			add("metadata.labels["+key+"]", msg)
		}
		if len(v) > 63 || !labelValue.MatchString(v) {
			add("metadata.labels["+key+"]", fmt.Sprintf("value %q must be at most 63 characters of letters, digits, '-', '_' and '.', starting and ending with a letter or digit", trunc(v)))
		}
	}
	total := 0
	for key, v := range m.Annotations {
		if msg := checkQualifiedKey(key); msg != "" {
			add("metadata.annotations["+key+"]", msg)
		}
		total += len(key) + len(v)
	}
	if total > maxAnnotationsBytes {
		add("metadata.annotations", fmt.Sprintf("annotations total %d bytes; at most %d are allowed", total, maxAnnotationsBytes))
	}
	for i, f := range m.Finalizers {
		if msg := checkQualifiedKey(f); msg != "" {
			add(fmt.Sprintf("metadata.finalizers[%d]", i), msg)
		}
	}
	for i, r := range m.OwnerReferences {
		p := fmt.Sprintf("metadata.ownerReferences[%d]", i)
		if r.APIVersion == "" || r.Kind == "" || r.Name == "" || r.UID == "" {
			add(p, "apiVersion, kind, name and uid are required")
		}
	}
	return cs
}

func checkQualifiedKey(key string) string {
	prefix, name := "", key
	if i := strings.IndexByte(key, '/'); i >= 0 {
		prefix, name = key[:i], key[i+1:]
		if prefix == "" || len(prefix) > 253 || !dns1123Subdomain.MatchString(prefix) {
			return fmt.Sprintf("key %q: prefix must be a DNS subdomain", trunc(key))
		}
	}
	if name == "" || len(name) > 63 || !qualifiedName.MatchString(name) {
		return fmt.Sprintf("key %q: name part must be 1-63 characters of letters, digits, '-', '_' and '.', starting and ending with a letter or digit", trunc(key))
	}
	return ""
}

func trunc(s string) string {
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}

func (s *Store) validate(k *kinds.Kind, obj *api.Object, creating bool) error {
	var cs []api.StatusCause
	if k.ValidateMeta != nil {
		cs = k.ValidateMeta(obj)
		if !k.Namespaced && obj.Metadata.Namespace != "" {
			cs = append(cs, api.StatusCause{Type: "FieldValueInvalid", Field: "metadata.namespace", Message: k.Kind + " is cluster-scoped and takes no namespace"})
		}
	} else {
		cs = validateMeta(k, obj, creating)
	}
	if len(obj.Spec) > 0 && !isJSONObjectOrNull(obj.Spec) {
		cs = append(cs, api.StatusCause{Type: "FieldValueInvalid", Field: "spec", Message: "must be an object"})
	} else {
		cs = append(cs, k.Validate(obj.Spec)...)
	}
	if len(obj.Status) > 0 && !isJSONObjectOrNull(obj.Status) {
		cs = append(cs, api.StatusCause{Type: "FieldValueInvalid", Field: "status", Message: "must be an object"})
	}
	if len(cs) > 0 {
		return api.NewInvalid(k.Kind, displayName(obj), cs)
	}
	return nil
}

func isJSONObjectOrNull(b json.RawMessage) bool {
	t := bytes.TrimSpace(b)
	return len(t) > 0 && (t[0] == '{' || bytes.Equal(t, []byte("null")))
}

func displayName(obj *api.Object) string {
	if obj.Metadata.Name != "" {
		return obj.Metadata.Name
	}
	return obj.Metadata.GenerateName
}

func (s *Store) normalize(k *kinds.Kind, obj *api.Object) {
	if k.Namespaced && obj.Metadata.Namespace == "" {
		obj.Metadata.Namespace = "default"
	}
	obj.APIVersion = k.APIVersion()
	obj.Kind = k.Kind
	obj.Spec = compactJSON(obj.Spec)
	obj.Status = compactJSON(obj.Status)
}

// compactJSON canonicalises JSON (sorted keys, no spaces) so that equal specs compare equal
// byte for byte; invalid JSON is left alone for validation to report.
func compactJSON(b json.RawMessage) json.RawMessage {
	t := bytes.TrimSpace(b)
	if len(t) == 0 || bytes.Equal(t, []byte("null")) {
		return nil
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(t))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return b
	}
	out, err := json.Marshal(v)
	if err != nil {
		return b
	}
	return out
}

func (s *Store) encode(k *kinds.Kind, obj *api.Object) (*Record, error) {
	rv := obj.Metadata.ResourceVersion
	obj.Metadata.ResourceVersion = ""
	b, err := json.Marshal(obj)
	obj.Metadata.ResourceVersion = rv
	if err != nil {
		return nil, fmt.Errorf("encode %s %q: %w", k.Kind, obj.Metadata.Name, err)
	}
	if len(b) > MaxObjectBytes {
		return nil, api.NewError(api.ReasonTooLarge, "%s %q is %d bytes; at most %d are allowed", k.Kind, obj.Metadata.Name, len(b), MaxObjectBytes)
	}
	rec := &Record{Resource: k.Resource(), Namespace: obj.Metadata.Namespace, Name: keyName(k, obj.Metadata.Name),
		UID: obj.Metadata.UID, Labels: obj.Metadata.Labels, Value: b}
	for _, o := range obj.Metadata.OwnerReferences {
		rec.Owners = append(rec.Owners, o.UID)
	}
	return rec, nil
}

// keyName is the name an object is stored under: lower-cased for kinds whose names are
// case-insensitive.
func keyName(k *kinds.Kind, name string) string {
	if k.CaseInsensitiveNames {
		return strings.ToLower(name)
	}
	return name
}

// Decode turns a record into an object with its resourceVersion set.
func Decode(rec *Record) (*api.Object, error) {
	var obj api.Object
	if err := json.Unmarshal(rec.Value, &obj); err != nil {
		return nil, fmt.Errorf("decode %s %s/%s at revision %d: %w", rec.Resource, rec.Namespace, rec.Name, rec.Revision, err)
	}
	obj.Metadata.ResourceVersion = strconv.FormatInt(rec.Revision, 10)
	return &obj, nil
}

func parseRV(k *kinds.Kind, name, rv string) (int64, error) {
	if rv == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(rv, 10, 64)
	if err != nil || n <= 0 {
		return 0, api.NewInvalid(k.Kind, name, []api.StatusCause{{Type: "FieldValueInvalid", Field: "metadata.resourceVersion", Message: fmt.Sprintf("%q is not a revision", trunc(rv))}})
	}
	return n, nil
}

const generateSuffixChars = "bcdfghjklmnpqrstvwxz2456789"

func generateSuffix() string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = generateSuffixChars[int(b[i])%len(generateSuffixChars)]
	}
	return string(b)
}

// Create stores a new object. Name may be left empty when generateName is set. The returned
// object carries uid, generation 1, creationTimestamp and resourceVersion.
func (s *Store) Create(ctx context.Context, in *api.Object) (*api.Object, error) {
	k, err := s.KindOf(in)
	if err != nil {
		return nil, err
	}
	obj := in.DeepCopy()
	obj.Status = nil // status is written by controllers through UpdateStatus, never by create
	s.normalize(k, obj)
	if err := s.validate(k, obj, true); err != nil {
		return nil, err
	}
	if obj.Metadata.ResourceVersion != "" {
		return nil, api.NewBadRequest("resourceVersion must not be set when creating %s %q", k.Kind, displayName(obj))
	}
	now := s.now().UTC().Truncate(time.Second)
	obj.Metadata.UID = uuid.NewString()
	obj.Metadata.CreationTimestamp = &now
	obj.Metadata.DeletionTimestamp = nil
	obj.Metadata.Generation = 1
	generated := obj.Metadata.Name == ""
	for attempt := 0; ; attempt++ {
		if generated {
			obj.Metadata.Name = obj.Metadata.GenerateName + generateSuffix()
		}
		rec, err := s.encode(k, obj)
		if err != nil {
			return nil, err
		}
		res, err := s.write1(ctx, Op{Type: OpCreate, Record: rec})
		if err == ErrKeyExists {
			if generated && attempt < 8 {
				continue
			}
			return nil, api.NewAlreadyExists(k.Kind, obj.Metadata.Name)
		}
		if err != nil {
			return nil, err
		}
		obj.Metadata.ResourceVersion = strconv.FormatInt(res, 10)
		return obj, nil
	}
}

// write1 performs one op and returns its revision or its precondition error (unwrapped, so
// callers can compare it with the Err* values).
func (s *Store) write1(ctx context.Context, op Op) (int64, error) {
	res, err := s.be.Write(ctx, []Op{op})
	if err != nil {
		return 0, fmt.Errorf("store write %s %s/%s: %w", op.Record.Resource, op.Record.Namespace, op.Record.Name, err)
	}
	return res[0].Revision, res[0].Err
}

// Get returns one object.
func (s *Store) Get(ctx context.Context, k *kinds.Kind, namespace, name string) (*api.Object, error) {
	if k.Namespaced && namespace == "" {
		namespace = "default"
	}
	if !k.Namespaced {
		namespace = ""
	}
	rec, err := s.be.Get(ctx, k.Resource(), namespace, keyName(k, name))
	if err == ErrKeyNotFound {
		return nil, api.NewNotFound(k.Kind, name)
	}
	if err != nil {
		return nil, fmt.Errorf("get %s %s/%s: %w", k.Kind, namespace, name, err)
	}
	return Decode(rec)
}

// Update replaces an object's metadata and spec. Status is kept as stored (use UpdateStatus).
// If resourceVersion is set it must match the stored one, else the update is a conflict;
// if it is empty the update applies to whatever is stored. Generation goes up only when spec
// changes. Removing the last finalizer of an object being deleted deletes it; Update then
// returns the object as it was last stored, with its deletionTimestamp.
func (s *Store) Update(ctx context.Context, in *api.Object) (*api.Object, error) {
	return s.update(ctx, in, false)
}

// UpdateStatus replaces an object's status only; metadata and spec are kept as stored.
func (s *Store) UpdateStatus(ctx context.Context, in *api.Object) (*api.Object, error) {
	return s.update(ctx, in, true)
}

func (s *Store) update(ctx context.Context, in *api.Object, status bool) (*api.Object, error) {
	k, err := s.KindOf(in)
	if err != nil {
		return nil, err
	}
	obj := in.DeepCopy()
	s.normalize(k, obj)
	want, err := parseRV(k, obj.Metadata.Name, obj.Metadata.ResourceVersion)
	if err != nil {
		return nil, err
	}
	if obj.Metadata.Name == "" {
		return nil, api.NewInvalid(k.Kind, "", []api.StatusCause{{Type: "FieldValueRequired", Field: "metadata.name", Message: "required"}})
	}
	for attempt := 0; ; attempt++ {
		cur, err := s.Get(ctx, k, obj.Metadata.Namespace, obj.Metadata.Name)
		if err != nil {
			return nil, err
		}
		curRV, _ := strconv.ParseInt(cur.Metadata.ResourceVersion, 10, 64)
		if want != 0 && want != curRV {
			return nil, api.NewConflict(k.Kind, obj.Metadata.Name, fmt.Sprintf("the object has been modified (resourceVersion %d, you sent %d)", curRV, want))
		}
		if obj.Metadata.UID != "" && obj.Metadata.UID != cur.Metadata.UID {
			return nil, api.NewConflict(k.Kind, obj.Metadata.Name, fmt.Sprintf("uid %s does not match the stored object's %s", obj.Metadata.UID, cur.Metadata.UID))
		}
		next, err := s.merge(k, cur, obj, status)
		if err != nil {
			return nil, err
		}
		if next == nil { // nothing changed
			return cur, nil
		}
		var op Op
		finalDelete := next.Metadata.DeletionTimestamp != nil && len(next.Metadata.Finalizers) == 0
		rec, err := s.encode(k, next)
		if err != nil {
			return nil, err
		}
		if finalDelete {
			op = Op{Type: OpDelete, Record: rec, ExpectRevision: curRV}
		} else {
			op = Op{Type: OpUpdate, Record: rec, ExpectRevision: curRV}
		}
		rev, err := s.write1(ctx, op)
		switch {
		case err == ErrRevisionMismatch || err == ErrKeyNotFound:
			if want != 0 || attempt >= 16 {
				return nil, api.NewConflict(k.Kind, obj.Metadata.Name, "the object was modified concurrently")
			}
			continue
		case err != nil:
			return nil, err
		}
		next.Metadata.ResourceVersion = strconv.FormatInt(rev, 10)
		return next, nil
	}
}

// merge computes the object to store from the current one and the caller's, or nil if
// nothing would change.
func (s *Store) merge(k *kinds.Kind, cur, in *api.Object, status bool) (*api.Object, error) {
	next := cur.DeepCopy()
	if status {
		if len(in.Status) > 0 && !isJSONObjectOrNull(in.Status) {
			return nil, api.NewInvalid(k.Kind, in.Metadata.Name, []api.StatusCause{{Type: "FieldValueInvalid", Field: "status", Message: "must be an object"}})
		}
		next.Status = in.Status
	} else {
		if err := s.validate(k, in, false); err != nil {
			return nil, err
		}
		m := in.Metadata
		if cur.Metadata.DeletionTimestamp != nil {
			// While deleting, finalizers may only be removed and spec may not change;
			// metadata such as labels, annotations and owners still may.
			for _, f := range m.Finalizers {
				if !cur.HasFinalizer(f) {
					return nil, api.NewInvalid(k.Kind, m.Name, []api.StatusCause{{Type: "FieldValueForbidden", Field: "metadata.finalizers", Message: fmt.Sprintf("cannot add finalizer %q to an object that is being deleted", f)}})
				}
			}
		}
		next.Metadata.Labels = m.Labels
		next.Metadata.Annotations = m.Annotations
		next.Metadata.Finalizers = m.Finalizers
		next.Metadata.OwnerReferences = m.OwnerReferences
		next.Metadata.Title = m.Title
		next.Metadata.Description = m.Description
		next.Metadata.Tags = m.Tags
		next.Metadata.Links = m.Links
		next.Metadata.Name = m.Name // may differ in case for case-insensitive kinds
		next.Relations = in.Relations
		if !bytes.Equal(cur.Spec, in.Spec) {
			if cur.Metadata.DeletionTimestamp != nil {
				return nil, api.NewInvalid(k.Kind, m.Name, []api.StatusCause{{Type: "FieldValueForbidden", Field: "spec", Message: "cannot change the spec of an object that is being deleted"}})
			}
			next.Spec = in.Spec
			next.Metadata.Generation = cur.Metadata.Generation + 1
		}
	}
	next.Metadata.ResourceVersion = ""
	cmpCur := cur.DeepCopy()
	cmpCur.Metadata.ResourceVersion = ""
	a, _ := json.Marshal(cmpCur)
	b, _ := json.Marshal(next)
	if bytes.Equal(a, b) {
		return nil, nil
	}
	return next, nil
}

// DeleteOptions are preconditions on a delete.
type DeleteOptions struct {
	UID             string
	ResourceVersion string
}

// Delete removes an object, or, if it has finalizers, marks it with a deletionTimestamp and
// leaves it for the finalizers' controllers. It returns the object as last stored.
func (s *Store) Delete(ctx context.Context, k *kinds.Kind, namespace, name string, opts DeleteOptions) (*api.Object, error) {
	want, err := parseRV(k, name, opts.ResourceVersion)
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		cur, err := s.Get(ctx, k, namespace, name)
		if err != nil {
			return nil, err
		}
		curRV, _ := strconv.ParseInt(cur.Metadata.ResourceVersion, 10, 64)
		if want != 0 && want != curRV {
			return nil, api.NewConflict(k.Kind, name, fmt.Sprintf("precondition failed: resourceVersion is %d, you sent %d", curRV, want))
		}
		if opts.UID != "" && opts.UID != cur.Metadata.UID {
			return nil, api.NewConflict(k.Kind, name, fmt.Sprintf("precondition failed: uid is %s, you sent %s", cur.Metadata.UID, opts.UID))
		}
		var op Op
		next := cur.DeepCopy()
		if len(cur.Metadata.Finalizers) > 0 {
			if cur.Metadata.DeletionTimestamp != nil {
				return cur, nil // already being deleted
			}
			now := s.now().UTC().Truncate(time.Second)
			next.Metadata.DeletionTimestamp = &now
			rec, err := s.encode(k, next)
			if err != nil {
				return nil, err
			}
			op = Op{Type: OpUpdate, Record: rec, ExpectRevision: curRV}
		} else {
			if next.Metadata.DeletionTimestamp == nil {
				now := s.now().UTC().Truncate(time.Second)
				next.Metadata.DeletionTimestamp = &now
			}
			rec, err := s.encode(k, next)
			if err != nil {
				return nil, err
			}
			op = Op{Type: OpDelete, Record: rec, ExpectRevision: curRV}
		}
		rev, err := s.write1(ctx, op)
		switch {
		case err == ErrRevisionMismatch:
			if want != 0 || attempt >= 16 {
				return nil, api.NewConflict(k.Kind, name, "the object was modified concurrently")
			}
			continue
		case err == ErrKeyNotFound:
			return nil, api.NewNotFound(k.Kind, name)
		case err != nil:
			return nil, err
		}
		next.Metadata.ResourceVersion = strconv.FormatInt(rev, 10)
		return next, nil
	}
}
