package catalog

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/paved-dev/paved/api"
	"github.com/paved-dev/paved/internal/catalog/entity"
	"github.com/paved-dev/paved/internal/kinds"
	"github.com/paved-dev/paved/internal/store"
)

// Reasons of processing errors, in status.errors of a CatalogLocation.
const (
	ReasonReadFailed    = "ReadFailed"
	ReasonParseError    = "ParseError"
	ReasonInvalidEntity = "InvalidEntity"
	ReasonPlaceholder   = "PlaceholderFailed"
	ReasonInvalidTarget = "InvalidTarget"
	ReasonConflict      = "ConflictingEntity"
	ReasonDuplicate     = "DuplicateEntity"
	ReasonCycle         = "LocationCycle"
	ReasonTooDeep       = "LocationTooDeep"
	ReasonWriteFailed   = "WriteFailed"
)

// ProcessingError is one problem found while processing a location: where (the file, the
// 0-based index of the YAML document in it, the line), which entity, and what.
type ProcessingError struct {
	Reason   string `json:"reason"`
	File     string `json:"file,omitempty"`
	Document *int   `json:"documentIndex,omitempty"`
	Line     int    `json:"line,omitempty"`
	Column   int    `json:"column,omitempty"`
	Entity   string `json:"entity,omitempty"`
	Message  string `json:"message"`
}

// String is the error as one line: "file:/x.yaml document 2 (line 14): entity
// component:default/a: message", or for a file that cannot be read "file:/x.yaml: message
// (a target of location:default/all)".
func (e ProcessingError) String() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Document != nil {
			fmt.Fprintf(&b, " document %d", *e.Document+1)
		}
		switch {
		case e.Line <= 0 || strings.Contains(e.Message, "(line "):
		case e.Column > 0:
			fmt.Fprintf(&b, " (line %d, column %d)", e.Line, e.Column)
		default:
			fmt.Fprintf(&b, " (line %d)", e.Line)
		}
		b.WriteString(": ")
	}
	if e.Reason == ReasonReadFailed {
		b.WriteString(e.Message)
		if e.Entity != "" {
			b.WriteString(" (a target of " + e.Entity + ")")
		}
		return b.String()
	}
	if e.Entity != "" && !strings.Contains(e.Message, e.Entity) {
		b.WriteString("entity " + e.Entity + ": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

// errorName is the JavaScript error class Backstage would report for the reason, used in
// an entity's status.items.
func (e ProcessingError) errorName() string {
	switch e.Reason {
	case ReasonConflict, ReasonDuplicate:
		return "ConflictError"
	case ReasonReadFailed:
		if strings.Contains(e.Message, "does not exist") {
			return "NotFoundError"
		}
		return "Error"
	case ReasonWriteFailed:
		return "Error"
	}
	return "InputError"
}

const (
	// maxLocationDepth bounds the nesting of Location entities below a registered location.
	maxLocationDepth = 32
	// maxCollected bounds the entities AddLocation returns; the rest are in the catalog.
	maxCollected = 10000
	// lookahead is how many files are read and parsed ahead of the one being handled.
	lookahead = 2
	// createBatch is how many new entities go to the store in one CreateMany.
	createBatch = 1000
	// statusItemType is the type of the status items that carry processing errors.
	statusItemType = "backstage.io/catalog-processing"
)

// generatedName is the name Backstage gives the Location entity of a registered location.
func generatedName(t target) string {
	sum := sha1.Sum([]byte(t.Type + ":" + t.Target))
	return "generated-" + hex.EncodeToString(sum[:])
}

// existingEntity is what a run needs to know about a stored entity: enough to tell whether
// it changed, to write it, and to orphan it.
type existingEntity struct {
	kind    *kinds.Kind
	ns      string
	name    string
	uid     string
	hash    [32]byte
	file    string
	items   bool // carries catalog-processing status items
	orphan  bool
	yielded bool
}

// hashObject digests what a location decides about an entity: everything but relations,
// status and the store's own metadata. Two equal hashes mean nothing to write.
func hashObject(o *api.Object) [32]byte {
	h := struct {
		APIVersion, Kind, Name, Namespace string
		Labels, Annotations               map[string]string
		Title, Description                string
		Tags                              []string
		Links                             []api.Link
		Spec                              json.RawMessage
	}{o.APIVersion, o.Kind, o.Metadata.Name, o.Metadata.Namespace, nilIfEmptyMap(o.Metadata.Labels),
		nilIfEmptyMap(o.Metadata.Annotations), o.Metadata.Title, o.Metadata.Description,
		nilIfEmptySlice(o.Metadata.Tags), nilIfEmptySlice(o.Metadata.Links), o.Spec}
	b, _ := json.Marshal(h)
	return sha256.Sum256(b)
}

func nilIfEmptyMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}

func nilIfEmptySlice[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}

// canonicalRef is the lower-cased "kind:namespace/name" of a stored entity.
func canonicalRef(o *api.Object) string {
	ns := o.Metadata.Namespace
	if ns == "" {
		ns = entity.DefaultNamespace
	}
	return entity.CompoundRef{Kind: o.Kind, Namespace: ns, Name: o.Metadata.Name}.String()
}

// locationOwner returns the owner reference of o that names a CatalogLocation.
func locationOwner(o *api.Object) (api.OwnerReference, bool) {
	for _, r := range o.Metadata.OwnerReferences {
		if r.Kind == "CatalogLocation" && strings.HasPrefix(r.APIVersion, Group+"/") {
			return r, true
		}
	}
	return api.OwnerReference{}, false
}

func hasProcessingItems(status json.RawMessage) bool {
	if len(status) == 0 {
		return false
	}
	var st storedStatus
	if json.Unmarshal(status, &st) != nil {
		return false
	}
	for _, it := range st.Items {
		if it.Type == statusItemType {
			return true
		}
	}
	return false
}

func (c *Catalog) toExisting(o *api.Object) (*existingEntity, error) {
	k, err := c.store.KindOf(o)
	if err != nil {
		return nil, err
	}
	return &existingEntity{kind: k, ns: o.Metadata.Namespace, name: o.Metadata.Name, uid: o.Metadata.UID,
		hash: hashObject(o), file: o.Metadata.Annotations[entity.AnnotationManagedByLocation],
		items: hasProcessingItems(o.Status), orphan: o.Metadata.Annotations[entity.AnnotationOrphan] == "true"}, nil
}

// runOptions say what a run processes.
type runOptions struct {
	// root is the file to start from: the registered target for a full run, or the file
	// an entity came from for a refresh of that entity.
	root     target
	full     bool
	dryRun   bool
	collect  bool // keep the yielded entities (at most maxCollected) for the caller
	optional bool
}

// run is one processing of a location (or of one file below it).
type run struct {
	c       *Catalog
	ctx     context.Context
	opts    runOptions
	origin  target
	owner   api.OwnerReference
	rootRef string

	// Decisions are made by one goroutine, in the order the files are met; reading,
	// parsing and checking run ahead in parallel.
	yielded   map[string]string // entity ref -> file key that yielded it
	visited   map[string]bool   // file keys
	existing  map[string]*existingEntity
	ownedAll  bool                      // existing holds every entity of the location
	protected map[string]bool           // files whose entities must not be orphaned (read or parse failure)
	incoming  map[string][]api.Relation // dry run: inverse relations, by target
	writes    []*pending
	collected []*entity.Entity

	mu         sync.Mutex
	keys       map[string]string
	failed     []string // refs announced to the stitcher but not written
	errs       []ProcessingError
	entityErrs map[string][]ProcessingError // ref -> errors to show on that stored entity
	stats      runStats
}

type runStats struct {
	Created, Updated, Unchanged, Deleted, Orphaned, Conflicts int
}

// pending is an entity the run yields, checked and ready to write. A run holds every new
// or changed entity until it writes (see link), so the object is kept encoded, and the
// objects of one file compressed together (a tenth of the decoded size).
type pending struct {
	ref    string
	data   []byte // the object as JSON, without relations; or, in block:
	block  *dataBlock
	off, n int
	taken  bool
	// announced: the stitcher's index holds the outgoing relations (dropped from here).
	announced bool
	kind      *kinds.Kind
	hash      [32]byte
	outgoing  []api.Relation
	file      string
	doc       int
	ex        *existingEntity
}

// namespace and name are those of the ref (lower-cased: names are case-insensitive).
func (p *pending) namespace() string {
	_, rest, _ := strings.Cut(p.ref, ":")
	ns, _, _ := strings.Cut(rest, "/")
	return ns
}

func (p *pending) name() string {
	_, rest, _ := strings.Cut(p.ref, ":")
	_, name, _ := strings.Cut(rest, "/")
	return name
}

// object decodes the pending object.
func (p *pending) object() *api.Object {
	data := p.data
	if p.block != nil {
		data = p.block.take(p.off, p.n, !p.taken)
		p.taken = true
	}
	var o api.Object
	_ = json.Unmarshal(data, &o) // encoded by check
	return &o
}

// dataBlock holds the encoded objects of one file compressed together: the JSON of
// similar entities compresses about tenfold, and a run keeps every changed entity until
// it writes.
type dataBlock struct {
	mu    sync.Mutex
	z     []byte
	left  int    // objects still to be taken
	plain []byte // decompressed, while objects are still to be taken
}

func newDataBlock(plain []byte) *dataBlock {
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestSpeed)
	_, _ = w.Write(plain)
	_ = w.Close()
	return &dataBlock{z: bytes.Clone(buf.Bytes())}
}

// take returns one object's bytes; first says it is that object's first take, after
// the last of which the decompressed block is dropped.
func (b *dataBlock) take(off, n int, first bool) []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	plain := b.plain
	if plain == nil {
		plain, _ = io.ReadAll(flate.NewReader(bytes.NewReader(b.z)))
	}
	out := plain[off : off+n]
	if first {
		b.left--
	}
	if b.left > 0 {
		b.plain = plain
	} else {
		b.plain = nil
	}
	return out
}

// fileTask is one file to read, with the chain of files that led to it.
type fileTask struct {
	t        target
	parent   string // ref of the Location entity that names the file
	chain    []string
	optional bool

	once sync.Once
	done chan struct{}
	err  error
	docs []docResult
	// matches are the files a pattern target (a glob) matches, sorted; it has no docs.
	matches []string
	// What the location stored from this file before (refreshes of one file only).
	exDone chan struct{}
	ex     map[string]*existingEntity
	exOK   bool
	exErr  error
}

// perFile reports whether the run finds what the location stored before file by file
// (a refresh of one file) rather than all at once (a full run).
func (r *run) perFile() bool { return !r.opts.full && !r.opts.dryRun }

// docResult is one document of a file after reading, parsing and checking.
type docResult struct {
	index    int
	line     int
	ref      string
	p        *pending
	ent      *entity.Entity
	err      *ProcessingError
	children []childTarget
	childErr []ProcessingError
}

type childTarget struct {
	t        target
	optional bool
}

func newRun(ctx context.Context, c *Catalog, origin target, owner api.OwnerReference, opts runOptions) *run {
	return &run{c: c, ctx: ctx, opts: opts, origin: origin, owner: owner,
		rootRef:    entity.CompoundRef{Kind: "Location", Namespace: entity.DefaultNamespace, Name: generatedName(origin)}.String(),
		yielded:    map[string]string{},
		visited:    map[string]bool{},
		existing:   map[string]*existingEntity{},
		protected:  map[string]bool{},
		incoming:   map[string][]api.Relation{},
		entityErrs: map[string][]ProcessingError{},
	}
}

// fileKey returns the key of a file, one string per file for the whole run.
func (r *run) fileKey(t target) string {
	k := t.key()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.keys == nil {
		r.keys = map[string]string{}
	}
	if v, ok := r.keys[k]; ok {
		return v
	}
	r.keys[k] = k
	return k
}

func (r *run) addError(pe ProcessingError) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, pe)
	if pe.Reason == ReasonConflict {
		r.stats.Conflicts++
	}
}

// addEntityError records an error that concerns a stored entity of this location: it is
// also shown in that entity's status.items.
func (r *run) addEntityError(ref string, pe ProcessingError) {
	r.addError(pe)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.entityErrs[ref] = append(r.entityErrs[ref], pe)
}

// execute walks the location and writes what it yields. It fails only when the root file
// cannot be read (nothing is written or removed then) or the store fails.
func (r *run) execute() error {
	if !r.opts.dryRun {
		if r.opts.full {
			if err := r.loadOwned(); err != nil {
				return err
			}
		}
	}
	root := &fileTask{t: r.opts.root, chain: []string{r.opts.root.key()}, optional: r.opts.optional, parent: r.rootRef}
	if r.opts.full {
		r.yieldRoot()
	}
	r.visited[root.t.key()] = true
	if err := r.walk(root); err != nil {
		return err
	}
	if r.opts.dryRun {
		return nil
	}
	r.link()
	if err := r.write(); err != nil {
		return err
	}
	if err := r.removeOrphans(); err != nil {
		return err
	}
	return r.writeEntityStatus()
}

// yieldRoot yields the Location entity Backstage generates for a registered location:
// generated-<sha1 of type:target>, whose target is the registered one.
func (r *run) yieldRoot() {
	e := &entity.Entity{APIVersion: "backstage.io/v1alpha1", Kind: "Location",
		Metadata: entity.Metadata{Name: generatedName(r.origin), Namespace: entity.DefaultNamespace,
			Annotations: map[string]string{
				entity.AnnotationManagedByLocation:       r.origin.key(),
				entity.AnnotationManagedByOriginLocation: r.origin.key(),
			}},
		Spec: map[string]any{"type": r.origin.Type, "target": r.origin.Target}}
	if r.opts.optional {
		e.Spec["presence"] = "optional"
	}
	d := r.check(e, target{}, 0, 0, nil)
	if d.err != nil {
		r.addError(*d.err)
		return
	}
	r.accept(d, r.origin.key())
}

// walk reads the files of the tree breadth first, ahead of the decisions.
func (r *run) walk(root *fileTask) error {
	queue := []*fileTask{root}
	workers := make(chan struct{}, max(2, runtime.GOMAXPROCS(0)))
	for i := 0; i < len(queue); i++ {
		for j := i; j < len(queue) && j < i+lookahead; j++ {
			t := queue[j]
			t.once.Do(func() {
				t.done = make(chan struct{})
				go func() {
					workers <- struct{}{}
					defer func() { <-workers; close(t.done) }()
					r.load(t)
				}()
				if r.perFile() && !t.isGlob() {
					t.exDone = make(chan struct{})
					go func() {
						defer close(t.exDone)
						t.ex, t.exOK, t.exErr = r.queryFile(t.t.key())
					}()
				}
			})
		}
		t := queue[i]
		select {
		case <-t.done:
		case <-r.ctx.Done():
			return r.ctx.Err()
		}
		children, err := r.handle(t, i == 0)
		if err != nil {
			return err
		}
		queue = append(queue, children...)
		queue[i] = nil // the file's documents are done with
	}
	return nil
}

// load reads and parses a file and checks each document; it runs on a worker.
func (r *run) load(t *fileTask) {
	if t.isGlob() {
		t.matches, t.err = r.c.reader.glob(r.ctx, t.t.Target)
		return
	}
	data, err := r.c.reader.read(r.ctx, t.t)
	if err != nil {
		t.err = err
		return
	}
	docs := entity.ParseDocuments(data)
	data = nil
	t.docs = make([]docResult, 0, len(docs))
	for i := range docs {
		d := &docs[i]
		if d.Err != nil {
			idx := d.Index
			pe := &ProcessingError{Reason: ReasonParseError, File: t.t.key(), Document: &idx, Line: d.Line, Message: d.Err.Error()}
			var se *entity.SyntaxError
			if errors.As(d.Err, &se) && se.Line > 0 {
				pe.Line, pe.Column, pe.Message = se.Line, se.Column, se.Msg
			}
			t.docs = append(t.docs, docResult{index: d.Index, line: pe.Line, err: pe})
			continue
		}
		res := r.check(d.Entity, t.t, d.Index, d.Line, d.Locate)
		t.docs = append(t.docs, res)
		docs[i].Entity = nil
	}
	var plain bytes.Buffer
	for _, d := range t.docs {
		if d.p != nil {
			d.p.off, d.p.n = plain.Len(), len(d.p.data)
			plain.Write(d.p.data)
		}
	}
	if plain.Len() > 4096 {
		blk := newDataBlock(plain.Bytes())
		for _, d := range t.docs {
			if d.p != nil {
				d.p.block, d.p.data = blk, nil
			}
		}
	}
}

// check turns one parsed entity into what the location yields: placeholders resolved,
// annotations set, validated, with its outgoing relations; or an error.
func (r *run) check(e *entity.Entity, file target, index, line int, locate func([]entity.FieldError) []entity.FieldError) docResult {
	d := docResult{index: index, line: line}
	fileKey := r.origin.key()
	if file.Type != "" {
		fileKey = r.fileKey(file)
	}
	idx := index
	fail := func(reason, ref, msg string) docResult {
		pe := &ProcessingError{Reason: reason, Document: &idx, Line: line, Entity: ref, Message: msg}
		if file.Type != "" {
			pe.File = file.key()
		} else {
			pe.Document = nil
		}
		d.err = pe
		return d
	}
	if e.Kind != "" && e.Metadata.Name != "" {
		d.ref = e.Ref().String()
	}
	if file.Type != "" {
		// As Backstage's PlaceholderProcessor, anywhere in the document. Outside spec, a
		// placeholder can only be in a field the typed view did not take (Extra).
		ph := &placeholders{r: r.c.reader, base: file}
		if e.Extra != nil || e.Metadata.Extra != nil || e.Status != nil || slices.ContainsFunc(e.Metadata.Links, func(l entity.Link) bool { return l.Extra != nil }) {
			obj, changed, err := ph.resolveAll(r.ctx, e.Object(), "")
			if err != nil {
				return fail(ReasonPlaceholder, d.ref, err.Error())
			}
			if changed {
				if e, err = entity.FromObject(obj); err != nil {
					return fail(ReasonPlaceholder, d.ref, err.Error())
				}
				if e.Kind != "" && e.Metadata.Name != "" {
					d.ref = e.Ref().String()
				}
			}
		} else if e.Spec != nil {
			spec, changed, err := ph.resolveAll(r.ctx, e.Spec, "spec")
			if err != nil {
				return fail(ReasonPlaceholder, d.ref, err.Error())
			}
			if changed {
				e.Spec = spec.(map[string]any)
			}
		}
	}
	e.ApplyDefaults()
	ann := make(map[string]string, len(e.Metadata.Annotations)+4)
	maps.Copy(ann, e.Metadata.Annotations)
	delete(ann, entity.AnnotationOrphan)
	if file.Type != "" {
		ann[entity.AnnotationManagedByLocation] = file.key()
		ann[entity.AnnotationManagedByOriginLocation] = r.origin.key()
		if file.Type == "url" {
			// As Backstage's AnnotateLocationEntityProcessor: the file is where the entity
			// is viewed (and, on a host whose convention is known, edited), its directory
			// where its source is; the entity's own values win.
			edit, dir := scmURLs(file.Target)
			for k, v := range map[string]string{entity.AnnotationViewURL: file.Target, entity.AnnotationEditURL: edit, entity.AnnotationSourceLocation: "url:" + dir} {
				if _, ok := ann[k]; !ok && v != "" && v != "url:" {
					ann[k] = v
				}
			}
		}
	}
	e.Metadata.Annotations = ann
	invalid := func(errs []entity.FieldError) docResult {
		if locate != nil {
			errs = locate(errs)
			if errs[0].Line > 0 {
				line = errs[0].Line
			}
		}
		return fail(ReasonInvalidEntity, d.ref, entity.AsError(e, errs).Error())
	}
	if errs := append(r.c.model.Validate(e), checkExtraMetadata(e)...); len(errs) > 0 {
		return invalid(errs)
	}
	rels, rerrs := r.c.model.Relations(e)
	if len(rerrs) > 0 {
		return invalid(rerrs)
	}
	if err := keyCaseClash(e); err != nil {
		return fail(ReasonInvalidEntity, d.ref, err.Error())
	}
	d.ref = e.Ref().String()
	k, ok := r.c.kindFor(e.APIVersion, e.Kind)
	if !ok {
		return fail(ReasonInvalidEntity, d.ref, fmt.Sprintf("kind %s of %s is not registered in the store", e.Kind, e.APIVersion))
	}
	out := make([]api.Relation, 0, len(rels))
	for _, rel := range rels {
		out = append(out, api.Relation{Type: rel.Type, TargetRef: rel.TargetRef})
	}
	obj, err := ToObject(e)
	if err != nil {
		return fail(ReasonInvalidEntity, d.ref, err.Error())
	}
	obj.Relations = nil
	if r.owner.UID != "" {
		obj.Metadata.OwnerReferences = []api.OwnerReference{r.owner}
	}
	data, err := json.Marshal(obj)
	if err != nil {
		return fail(ReasonInvalidEntity, d.ref, err.Error())
	}
	d.p = &pending{ref: d.ref, data: data, kind: k,
		hash: hashObject(obj), outgoing: sortRelations(out), file: fileKey, doc: index}
	if r.opts.collect {
		d.ent = e
	}
	if e.Kind == "Location" && file.Type != "" {
		d.children, d.childErr = r.locationTargets(e, file, index, line, d.ref)
	} else if e.Kind == "Location" && file.Type == "" {
		d.children = []childTarget{{t: r.origin, optional: r.opts.optional}}
	}
	return d
}

// locationTargets resolves the targets of a Location entity read from file, as Backstage's
// LocationEntityProcessor does: type defaults to the file's, relative targets are relative
// to the file.
func (r *run) locationTargets(e *entity.Entity, file target, index, line int, ref string) ([]childTarget, []ProcessingError) {
	typ := e.SpecString("type")
	var refs []string
	if t := e.SpecString("target"); t != "" {
		refs = append(refs, t)
	}
	if ts, ok := e.Spec["targets"].([]any); ok {
		for _, t := range ts {
			if s, ok := t.(string); ok && s != "" {
				refs = append(refs, s)
			}
		}
	}
	optional := e.SpecString("presence") == "optional"
	var out []childTarget
	var errs []ProcessingError
	for _, s := range refs {
		t, err := resolve(file, typ, s)
		if err != nil {
			idx := index
			errs = append(errs, ProcessingError{Reason: ReasonInvalidTarget, File: file.key(), Document: &idx, Line: line, Entity: ref,
				Message: fmt.Sprintf("target %q: %v", s, err)})
			continue
		}
		out = append(out, childTarget{t: t, optional: optional})
	}
	return out, errs
}

// handle makes the decisions for one loaded file, in order, and returns the files its
// Location entities point at.
func (r *run) handle(t *fileTask, isRoot bool) ([]*fileTask, error) {
	key := t.t.key()
	if t.err != nil {
		if t.optional && isNotFoundRead(t.err) {
			return nil, nil
		}
		if isRoot && r.opts.full {
			// Nothing can be decided about a location whose file cannot be read: keep
			// everything it yielded before.
			return nil, &rootError{err: t.err}
		}
		r.addError(ProcessingError{Reason: ReasonReadFailed, File: key, Entity: t.parent, Message: t.err.Error()})
		r.protected[key] = true
		return nil, nil
	}
	if t.isGlob() {
		return r.globChildren(t), nil
	}
	if r.perFile() && !r.ownedAll {
		if err := r.loadFile(t); err != nil {
			return nil, err
		}
	}
	var children []*fileTask
	for i := range t.docs {
		d := &t.docs[i]
		if d.err != nil {
			if d.err.Reason == ReasonParseError {
				r.protected[key] = true // the rest of the file is unknown: keep what it had
			}
			if ex := r.existing[d.ref]; d.ref != "" && ex != nil && !r.opts.dryRun {
				// An entity whose new version is invalid keeps its last good one, with the
				// error in its status, as Backstage keeps it.
				ex.yielded = true
				if _, dup := r.yielded[d.ref]; !dup {
					r.yielded[d.ref] = key
				}
				r.addEntityError(d.ref, *d.err)
			} else {
				r.addError(*d.err)
			}
			continue
		}
		if !r.accept(*d, key) {
			continue
		}
		for _, pe := range d.childErr {
			r.addError(pe)
		}
		for _, ch := range d.children {
			ck := ch.t.key()
			chain := append(slices.Clip(t.chain), ck)
			switch {
			case slices.Contains(t.chain, ck):
				r.addError(ProcessingError{Reason: ReasonCycle, File: key, Document: intPtr(d.index), Line: d.line, Entity: d.ref,
					Message: fmt.Sprintf("location cycle: %s; %s is not read again", strings.Join(chain, " -> "), ck)})
			case r.visited[ck]:
				// Reached another way already (two Locations naming one file): read once.
			case len(chain) > maxLocationDepth:
				r.addError(ProcessingError{Reason: ReasonTooDeep, File: key, Document: intPtr(d.index), Line: d.line, Entity: d.ref,
					Message: fmt.Sprintf("locations nest deeper than %d levels; %s is not read", maxLocationDepth, ck)})
				r.protected[ck] = true
			default:
				r.visited[ck] = true
				children = append(children, &fileTask{t: ch.t, parent: d.ref, chain: chain, optional: ch.optional})
			}
		}
	}
	return children, nil
}

func intPtr(i int) *int { return &i }

// isGlob reports whether the task is a file pattern, which is expanded, not read.
func (t *fileTask) isGlob() bool { return t.t.Type == "file" && isGlob(t.t.Target) }

// globChildren returns the files a pattern matched, to be read as if the Location entity
// that named the pattern had named each (Backstage reads each match as its own location,
// file:<path>). A match already read, or being read (the very file of the Location, say),
// is not read again; a pattern sweeps such files up naturally, so it is no cycle error.
func (r *run) globChildren(t *fileTask) []*fileTask {
	var children []*fileTask
	for _, m := range t.matches {
		ct := target{Type: "file", Target: m}
		ck := ct.key()
		chain := append(slices.Clip(t.chain), ck)
		switch {
		case slices.Contains(t.chain, ck) || r.visited[ck]:
		case len(chain) > maxLocationDepth:
			r.addError(ProcessingError{Reason: ReasonTooDeep, File: t.t.key(), Entity: t.parent,
				Message: fmt.Sprintf("locations nest deeper than %d levels; %s is not read", maxLocationDepth, ck)})
			r.protected[ck] = true
		default:
			r.visited[ck] = true
			children = append(children, &fileTask{t: ct, parent: t.parent, chain: chain})
		}
	}
	t.matches = nil
	return children
}

// isProtected reports whether the entities that came from file must be kept: the file,
// or a pattern that matched it, could not be read this time.
func (r *run) isProtected(file string) bool {
	if r.protected[file] {
		return true
	}
	path, ok := strings.CutPrefix(file, "file:")
	if !ok {
		return false
	}
	for k := range r.protected {
		if pat, ok := strings.CutPrefix(k, "file:"); ok && isGlob(pat) && globMatch(pat, path) {
			return true
		}
	}
	return false
}

// rootError is a registered location whose own target cannot be read.
type rootError struct{ err error }

func (e *rootError) Error() string { return e.err.Error() }
func (e *rootError) Unwrap() error { return e.err }

// accept records a valid entity the location yields, unless an earlier file of the same
// location yielded it already.
func (r *run) accept(d docResult, file string) bool {
	p := d.p
	if prev, dup := r.yielded[p.ref]; dup {
		r.addError(ProcessingError{Reason: ReasonDuplicate, File: p.file, Document: intPtr(d.index), Line: d.line, Entity: p.ref,
			Message: fmt.Sprintf("entity %s is also defined in %s, which comes first in this location; this definition is ignored", p.ref, prev)})
		return false
	}
	r.yielded[p.ref] = file
	if r.opts.collect && len(r.collected) < maxCollected && d.ent != nil {
		d.ent.Relations = nil
		for _, rel := range p.outgoing {
			d.ent.Relations = append(d.ent.Relations, entity.Relation{Type: rel.Type, TargetRef: rel.TargetRef})
		}
		r.collected = append(r.collected, d.ent)
	}
	if r.opts.dryRun {
		r.checkConflictDryRun(p)
	}
	if r.opts.dryRun {
		for _, rel := range p.outgoing {
			if inv := entity.Inverse(rel.Type); inv != "" {
				r.incoming[rel.TargetRef] = append(r.incoming[rel.TargetRef], api.Relation{Type: inv, TargetRef: p.ref})
			}
		}
	}
	if ex := r.existing[p.ref]; ex != nil {
		ex.yielded = true
		p.ex = ex
		if ex.hash == p.hash {
			r.stats.Unchanged++
			return true
		}
	}
	r.writes = append(r.writes, p)
	if p.block != nil {
		p.block.left++
	}
	return true
}

// checkConflictDryRun reports, in a dry run, an entity another location provides.
func (r *run) checkConflictDryRun(p *pending) {
	cur, err := r.c.store.Get(r.ctx, p.kind, p.namespace(), p.name())
	if err != nil {
		return
	}
	if own, ok := locationOwner(cur); ok && own.UID != r.owner.UID {
		r.addError(r.conflictError(p, own))
	}
}

func (r *run) conflictError(p *pending, own api.OwnerReference) ProcessingError {
	where := "location " + own.Name
	if loc, err := r.c.store.Get(r.ctx, r.c.locKind, "", own.Name); err == nil {
		where = fmt.Sprintf("location %s (%s)", own.Name, locationOf(loc).key())
	}
	return ProcessingError{Reason: ReasonConflict, File: p.file, Document: intPtr(p.doc), Entity: p.ref,
		Message: fmt.Sprintf("entity %s is already provided by %s, which registered it first and keeps it; remove it from one of the two locations", p.ref, where)}
}

// loadOwned reads a summary of every entity the location owns, page by page.
func (r *run) loadOwned() error {
	if r.owner.UID == "" {
		r.ownedAll = true
		return nil
	}
	err := r.c.eachOwned(r.ctx, r.owner.UID, func(o *api.Object) error {
		ex, err := r.c.toExisting(o)
		if err != nil {
			return nil // a kind no longer registered: leave it alone
		}
		r.existing[canonicalRef(o)] = ex
		return nil
	})
	if err != nil {
		return err
	}
	r.ownedAll = true
	return nil
}

// queryFile finds the entities of this location that came from file, through the search
// index on backstage.io/managed-by-location. ok is false for a key too long to be indexed.
func (r *run) queryFile(file string) (found map[string]*existingEntity, ok bool, err error) {
	found = map[string]*existingEntity{}
	if r.owner.UID == "" {
		return found, true, nil
	}
	if len(file) > entity.MaxSearchValueLength {
		return nil, false, nil
	}
	key := "metadata.annotations." + entity.AnnotationManagedByLocation
	for offset := 0; ; {
		objs, more, err := r.c.store.Query(r.ctx, store.Selector{Kinds: r.c.resourceKinds,
			Filter: [][]store.FieldRequirement{{{Key: key, Values: []string{file}}}}, Offset: offset, Limit: 5000})
		if err != nil {
			return nil, false, fmt.Errorf("find the entities of %s: %w", file, err)
		}
		for _, o := range objs {
			own, ok := locationOwner(o)
			if !ok || own.UID != r.owner.UID || o.Metadata.Annotations[entity.AnnotationManagedByLocation] != file {
				continue
			}
			if ex, err := r.c.toExisting(o); err == nil {
				found[canonicalRef(o)] = ex
			}
		}
		if !more {
			return found, true, nil
		}
		offset += len(objs)
	}
}

// loadFile adds to the summary what queryFile found for a file (started when the file
// was, so that the query runs while the file is read and parsed).
func (r *run) loadFile(t *fileTask) error {
	<-t.exDone
	if t.exErr != nil {
		return t.exErr
	}
	if !t.exOK {
		return r.loadOwned() // a key too long to be indexed: read them all
	}
	for ref, ex := range t.ex {
		if r.existing[ref] == nil {
			r.existing[ref] = ex
		}
	}
	t.ex = nil
	return nil
}

// link tells the stitcher the relations of every entity the run is about to write,
// before any write: an entity written early then gets the inverse relations of one written
// late, and the stitcher does not undo them meanwhile.
func (r *run) link() {
	if len(r.writes) == 0 {
		return
	}
	own := make(map[string][]api.Relation, len(r.writes))
	for _, p := range r.writes {
		own[p.ref] = p.outgoing
	}
	r.c.stitch.announce(r.ctx, own)
	for _, p := range r.writes {
		p.outgoing, p.announced = nil, true // the index has them now
	}
}

// relations returns what to store as p's relations: its own, plus the inverse of every
// relation that other entities (of this run, or of the rest of the catalog as far as the
// stitcher knows) point at it. The stitcher fixes whatever this misses.
func (r *run) relations(p *pending) []api.Relation {
	if p.announced {
		return r.c.stitch.index().desiredOf(p.ref)
	}
	return sortRelations(append(slices.Clone(p.outgoing), r.incoming[p.ref]...))
}

// write stores the run's new and changed entities: new ones in batches, changed ones
// with optimistic updates, a few at a time.
func (r *run) write() error {
	var creates, updates []*pending
	for _, p := range r.writes {
		if p.ex != nil {
			updates = append(updates, p)
		} else {
			creates = append(creates, p)
		}
	}
	r.writes = nil
	var wg sync.WaitGroup
	batches := make(chan []*pending)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range batches {
				r.createBatch(b)
			}
		}()
	}
	for start := 0; start < len(creates); start += createBatch {
		select {
		case batches <- creates[start:min(start+createBatch, len(creates))]:
		case <-r.ctx.Done():
		}
	}
	close(batches)
	wg.Wait()
	parallel(r.ctx, updates, 4, func(p *pending) { r.update(p, nil) })
	if r.c.stitch != nil && len(r.failed) > 0 {
		r.c.stitch.retract(r.ctx, r.failed)
	}
	return r.ctx.Err()
}

// parallel runs fn over items with n goroutines.
func parallel[T any](ctx context.Context, items []T, n int, fn func(T)) {
	ch := make(chan T)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range ch {
				fn(it)
			}
		}()
	}
	for _, it := range items {
		if ctx.Err() != nil {
			break
		}
		ch <- it
	}
	close(ch)
	wg.Wait()
}

func (r *run) createBatch(b []*pending) {
	objs := make([]*api.Object, len(b))
	for i, p := range b {
		objs[i] = p.object()
		objs[i].Relations = r.relations(p)
	}
	_, errs := r.c.store.CreateMany(r.ctx, objs)
	created := 0
	for i, err := range errs {
		p := b[i]
		switch {
		case err == nil:
			created++
		case api.IsAlreadyExists(err):
			// Stored, but not known as this location's: another location's, unowned, or
			// moved here from a file this run did not look at.
			r.update(p, nil)
		default:
			r.writeFailed(p, err)
		}
	}
	r.mu.Lock()
	r.stats.Created += created
	r.mu.Unlock()
}

func (r *run) writeFailed(p *pending, err error) {
	r.mu.Lock()
	r.failed = append(r.failed, p.ref)
	r.mu.Unlock()
	reason := ReasonWriteFailed
	if api.IsInvalid(err) || api.ReasonOf(err) == api.ReasonTooLarge {
		reason = ReasonInvalidEntity
	}
	pe := ProcessingError{Reason: reason, File: p.file, Document: intPtr(p.doc), Entity: p.ref, Message: err.Error()}
	if p.ex != nil {
		r.addEntityError(p.ref, pe)
	} else {
		r.addError(pe)
	}
}

// update writes a changed entity over the stored one, keeping the relations other
// entities point at it; it claims an entity no location owns and refuses one another
// location owns.
func (r *run) update(p *pending, cur *api.Object) {
	for attempt := 0; ; attempt++ {
		if cur == nil {
			var err error
			cur, err = r.c.store.Get(r.ctx, p.kind, p.namespace(), p.name())
			if api.IsNotFound(err) {
				// Deleted meanwhile: create it afresh.
				obj := p.object()
				obj.Relations = r.relations(p)
				if _, err := r.c.store.Create(r.ctx, obj); err != nil && !api.IsAlreadyExists(err) {
					r.writeFailed(p, err)
					return
				} else if err == nil {
					r.mu.Lock()
					r.stats.Created++
					r.mu.Unlock()
					return
				}
				continue
			}
			if err != nil {
				r.writeFailed(p, err)
				return
			}
		}
		if own, ok := locationOwner(cur); ok && own.UID != r.owner.UID {
			if r.c.locationExists(r.ctx, own) {
				r.addError(r.conflictError(p, own))
				r.mu.Lock()
				r.failed = append(r.failed, p.ref)
				r.mu.Unlock()
				return
			}
			// Its location is gone (the garbage collector has not caught up): claim it.
		}
		if p.ex == nil {
			// Met through CreateMany: now it is known as this location's.
			if ex, err := r.c.toExisting(cur); err == nil {
				ex.yielded = true
				p.ex = ex
				if own, ok := locationOwner(cur); ok && own.UID == r.owner.UID && ex.hash == p.hash && !ex.orphan {
					r.mu.Lock()
					r.existing[p.ref] = ex
					r.stats.Unchanged++
					r.mu.Unlock()
					return
				}
				r.mu.Lock()
				r.existing[p.ref] = ex
				r.mu.Unlock()
			}
		}
		next := p.object()
		next.Metadata.UID = cur.Metadata.UID
		next.Metadata.ResourceVersion = cur.Metadata.ResourceVersion
		next.Metadata.Finalizers = cur.Metadata.Finalizers
		next.Metadata.OwnerReferences = nil
		for _, o := range cur.Metadata.OwnerReferences {
			if o.Kind != "CatalogLocation" {
				next.Metadata.OwnerReferences = append(next.Metadata.OwnerReferences, o)
			}
		}
		next.Metadata.OwnerReferences = append(next.Metadata.OwnerReferences, r.owner)
		next.Relations = r.c.keepIncoming(cur, r.relations(p), r.yielded)
		_, err := r.c.store.Update(r.ctx, next)
		if api.IsConflict(err) && attempt < 5 {
			cur = nil
			continue
		}
		if err != nil {
			r.writeFailed(p, err)
			return
		}
		r.mu.Lock()
		r.stats.Updated++
		r.mu.Unlock()
		return
	}
}

// keepIncoming returns want plus the relations cur has that its own spec does not imply
// (the inverses of other entities' relations, which the stitcher wrote), except those
// from sources in fresh, whose relations want already has as they are now.
func (c *Catalog) keepIncoming(cur *api.Object, want []api.Relation, fresh map[string]string) []api.Relation {
	own := map[api.Relation]bool{}
	for _, rel := range c.outgoingOf(cur) {
		own[rel] = true
	}
	out := slices.Clone(want)
	for _, rel := range cur.Relations {
		if _, known := fresh[rel.TargetRef]; !own[rel] && !known {
			out = append(out, rel)
		}
	}
	return sortRelations(out)
}

// removeOrphans deletes, or marks with backstage.io/orphan, the entities the location
// yielded before and no longer does.
func (r *run) removeOrphans() error {
	if err := r.expandProtected(); err != nil {
		return err
	}
	var gone []*existingEntity
	for ref, ex := range r.existing {
		if ex.yielded || r.yielded[ref] != "" || r.isProtected(ex.file) {
			continue
		}
		if !r.opts.full && !r.visited[ex.file] {
			continue
		}
		if r.c.opts.Orphans == "keep" && ex.orphan {
			continue
		}
		gone = append(gone, ex)
	}
	sort.Slice(gone, func(i, j int) bool { return gone[i].name < gone[j].name })
	parallel(r.ctx, gone, 4, func(ex *existingEntity) {
		var err error
		if r.c.opts.Orphans == "keep" {
			err = r.c.markOrphan(r.ctx, ex, false)
		} else {
			_, err = r.c.store.Delete(r.ctx, ex.kind, ex.ns, ex.name, store.DeleteOptions{UID: ex.uid})
			if api.IsNotFound(err) || api.IsConflict(err) {
				err = nil
			}
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		if err != nil {
			r.errs = append(r.errs, ProcessingError{Reason: ReasonWriteFailed, File: ex.file,
				Entity:  entity.CompoundRef{Kind: ex.kind.Kind, Namespace: ex.ns, Name: ex.name}.String(),
				Message: fmt.Sprintf("removing an entity the location no longer yields: %v", err)})
			return
		}
		if r.c.opts.Orphans == "keep" {
			r.stats.Orphaned++
		} else {
			r.stats.Deleted++
		}
	})
	return r.ctx.Err()
}

// expandProtected extends the protected files (which could not be read, or not to the
// end) with every file the Location entities stored from them point at, recursively:
// what those files yielded last time is unknown this time, so it is kept, as Backstage
// keeps the children of an entity whose processing failed.
func (r *run) expandProtected() error {
	if len(r.protected) == 0 {
		return nil
	}
	locKind, ok := r.c.kindFor("backstage.io/v1alpha1", "Location")
	if !ok {
		return nil
	}
	done := map[string]bool{}
	for changed := true; changed; {
		changed = false
		for ref, ex := range r.existing {
			if done[ref] || ex.kind.Resource() != locKind.Resource() || !r.isProtected(ex.file) {
				continue
			}
			done[ref] = true
			if r.yielded[ref] != "" {
				continue // read this time: its targets were followed
			}
			o, err := r.c.store.Get(r.ctx, ex.kind, ex.ns, ex.name)
			if api.IsNotFound(err) {
				continue
			}
			if err != nil {
				return err
			}
			e, err := ToEntity(o)
			if err != nil {
				continue
			}
			base, ok := parseLocationRef(ex.file)
			if !ok {
				continue
			}
			children, _ := r.locationTargets(e, base, 0, 0, ref)
			for _, ch := range children {
				if k := ch.t.key(); !r.protected[k] {
					r.protected[k] = true
					changed = true
				}
			}
		}
	}
	return nil
}

// markOrphan annotates an entity backstage.io/orphan: "true"; with release it also drops
// the location's ownership, so that another location may claim it.
func (c *Catalog) markOrphan(ctx context.Context, ex *existingEntity, release bool) error {
	for attempt := 0; ; attempt++ {
		cur, err := c.store.Get(ctx, ex.kind, ex.ns, ex.name)
		if api.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if cur.Metadata.UID != ex.uid {
			return nil
		}
		next := cur.DeepCopy()
		if next.Metadata.Annotations == nil {
			next.Metadata.Annotations = map[string]string{}
		}
		next.Metadata.Annotations[entity.AnnotationOrphan] = "true"
		if release {
			next.Metadata.OwnerReferences = slices.DeleteFunc(next.Metadata.OwnerReferences, func(o api.OwnerReference) bool {
				return o.Kind == "CatalogLocation"
			})
		}
		_, err = c.store.Update(ctx, next)
		if api.IsConflict(err) && attempt < 5 {
			continue
		}
		return err
	}
}

// writeEntityStatus shows processing errors in status.items: on each stored entity an
// error concerns, and every error of the run on the location's own Location entity;
// items of entities that are fine again are cleared.
func (r *run) writeEntityStatus() error {
	type job struct {
		ref   string
		ex    *existingEntity
		items []storedItem
	}
	var jobs []job
	for ref, errs := range r.entityErrs {
		if ex := r.existing[ref]; ex != nil {
			jobs = append(jobs, job{ref: ref, ex: ex, items: statusItems(errs)})
		}
	}
	for ref, ex := range r.existing {
		if _, bad := r.entityErrs[ref]; !bad && ex.items && ex.yielded && ref != r.rootRef {
			jobs = append(jobs, job{ref: ref, ex: ex})
		}
	}
	parallel(r.ctx, jobs, 4, func(j job) {
		if err := r.c.setStatusItems(r.ctx, j.ex.kind, j.ex.ns, j.ex.name, j.items); err != nil && !api.IsNotFound(err) {
			r.c.log.Warn("catalog: cannot write the processing errors of an entity", "entity", j.ref, "err", err)
		}
	})
	return r.ctx.Err()
}

// statusItems turns processing errors into Backstage's status items.
func statusItems(errs []ProcessingError) []storedItem {
	items := make([]storedItem, 0, len(errs))
	for _, pe := range errs {
		name := pe.errorName()
		msg := pe.String()
		items = append(items, storedItem{Type: statusItemType, Level: "error", Message: name + ": " + msg,
			Error: map[string]any{"name": name, "message": msg}})
	}
	return items
}

// setStatusItems replaces the catalog-processing items of an entity's status, keeping any
// other item.
func (c *Catalog) setStatusItems(ctx context.Context, k *kinds.Kind, ns, name string, items []storedItem) error {
	for attempt := 0; ; attempt++ {
		cur, err := c.store.Get(ctx, k, ns, name)
		if err != nil {
			return err
		}
		var st map[string]any
		if len(cur.Status) > 0 {
			_ = json.Unmarshal(cur.Status, &st)
		}
		if st == nil {
			st = map[string]any{}
		}
		var keep []any
		if old, ok := st["items"].([]any); ok {
			for _, it := range old {
				if m, ok := it.(map[string]any); ok && m["type"] == statusItemType {
					continue
				}
				keep = append(keep, it)
			}
		}
		for _, it := range items {
			keep = append(keep, it)
		}
		if len(keep) == 0 {
			delete(st, "items")
		} else {
			st["items"] = keep
		}
		b, err := json.Marshal(st)
		if err != nil {
			return err
		}
		if len(st) == 0 {
			b = nil
		}
		next := cur.DeepCopy()
		next.Status = b
		_, err = c.store.UpdateStatus(ctx, next)
		if api.IsConflict(err) && attempt < 5 {
			continue
		}
		return err
	}
}

// sortRelations orders relations by type and target and drops duplicates.
func sortRelations(rs []api.Relation) []api.Relation {
	slices.SortFunc(rs, func(a, b api.Relation) int {
		if c := strings.Compare(a.Type, b.Type); c != 0 {
			return c
		}
		return strings.Compare(a.TargetRef, b.TargetRef)
	})
	return slices.Compact(rs)
}

// keyCaseClash refuses an entity whose flattened keys differ only in case ("spec.foo" and
// "spec.Foo"), which no case-insensitive filter could tell apart; Backstage's search
// indexing refuses it the same way (entity.SearchRows), which this checks more cheaply.
func keyCaseClash(e *entity.Entity) error {
	seen := map[string]string{}
	seenItem := map[string]bool{}
	var clashes []string
	add := func(k string) {
		lk := strings.ToLower(k)
		if prev, ok := seen[lk]; ok && prev != k {
			if !slices.Contains(clashes, lk) {
				clashes = append(clashes, lk)
			}
			return
		}
		seen[lk] = k
	}
	var visit func(path string, v any)
	visit = func(path string, v any) {
		switch t := v.(type) {
		case map[string]any:
			for k, c := range t {
				p := k
				if path != "" {
					p = path + "." + k
				}
				visit(p, c)
			}
		case []any:
			for _, item := range t {
				visit(path, item)
				if s, ok := item.(string); ok {
					// Array items differing only in case are one key (as SearchRows has it).
					if k := path + "." + s; !seenItem[strings.ToLower(k)] {
						seenItem[strings.ToLower(k)] = true
						add(k)
					}
				}
			}
		default:
			add(path)
		}
	}
	if e.Spec != nil {
		visit("spec", e.Spec)
	}
	for k := range e.Metadata.Labels {
		add("metadata.labels." + k)
	}
	for k := range e.Metadata.Annotations {
		add("metadata.annotations." + k)
	}
	for k, v := range e.Metadata.Extra {
		visit("metadata."+k, v)
	}
	if len(clashes) > 0 {
		sort.Strings(clashes)
		return fmt.Errorf("entity has duplicate keys that vary only in casing, '%s'", strings.Join(clashes, "', '"))
	}
	return nil
}

// outgoingOf returns the relations a stored entity's own fields imply.
func (c *Catalog) outgoingOf(o *api.Object) []api.Relation {
	if len(o.Spec) == 0 {
		return nil
	}
	// Only the kind, the ref and the spec matter: decode no more than those.
	var spec map[string]any
	dec := json.NewDecoder(bytes.NewReader(o.Spec))
	dec.UseNumber()
	if err := dec.Decode(&spec); err != nil {
		return nil
	}
	e := &entity.Entity{APIVersion: o.APIVersion, Kind: o.Kind, Spec: spec,
		Metadata: entity.Metadata{Name: o.Metadata.Name, Namespace: o.Metadata.Namespace}}
	rels, _ := c.model.Relations(e)
	out := make([]api.Relation, 0, len(rels))
	for _, rel := range rels {
		out = append(out, api.Relation{Type: rel.Type, TargetRef: rel.TargetRef})
	}
	return sortRelations(out)
}

// eachOwned calls fn for every entity owned by the CatalogLocation with uid, reading the
// owner index page by page so that a location of 100,000 entities is never in memory at
// once.
func (c *Catalog) eachOwned(ctx context.Context, uid string, fn func(*api.Object) error) error {
	for _, k := range c.resourceKinds {
		q := store.Query{Resource: k.Resource(), OwnerUID: uid, Limit: 1000}
		for {
			recs, _, more, err := c.store.Backend().List(ctx, q)
			if err != nil {
				return fmt.Errorf("list the entities of location %s: %w", uid, err)
			}
			for _, rec := range recs {
				o, err := store.Decode(rec)
				if err != nil {
					return err
				}
				if err := fn(o); err != nil {
					return err
				}
			}
			if !more || len(recs) == 0 {
				break
			}
			last := recs[len(recs)-1]
			q.AfterNamespace, q.AfterName = last.Namespace, last.Name
		}
	}
	return nil
}
