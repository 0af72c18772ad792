package catalog

import (
	"hash/fnv"
	"slices"
	"sync"
	"time"

	"github.com/paved-dev/paved/api"
	"github.com/paved-dev/paved/internal/catalog/entity"
)

// relIndex is the stitcher's index of relations: for every entity ref, the relations its
// own fields imply and the relations of other entities that point at it. It decides, with
// no store read, whether an entity is stored with the relations it should have: each
// node keeps the set-hash of its desired relations (own plus the inverse of every
// incoming one), updated in O(1) per relation, next to the set-hash of the relations it
// was last seen stored with.
//
// It is compact because a catalog of 100,000 entities has about 400,000 relations: refs
// are numbered (each string kept once), relation types are small codes.
type relIndex struct {
	mu    sync.Mutex
	ids   map[string]refID
	refs  []string // by id; "" when free
	nodes []*node  // by id
	free  []refID
	types *relTypes
}

type refID uint32

// rel is a relation as its source holds it; edge is one as its target sees it (the
// source's type and the source).
type (
	rel struct {
		to  refID
		typ uint8
	}
	edge struct {
		from refID
		typ  uint8
	}
)

// smallSet is the size up to which a node keeps its incoming edges in a slice.
const smallSet = 16

type node struct {
	own     []rel
	in      []edge
	inBig   map[edge]struct{}
	sum     uint64 // set-hash of the desired relations
	stored  uint64 // set-hash of the stored relations, as last seen
	rev     int64
	lastPut int64 // unix nanoseconds of the stitcher's last write
	seen    bool  // stored, as far as the watch has said
}

// relTypes numbers relation types; the built-in ones and their inverses come first.
type relTypes struct {
	names []string
	codes map[string]uint8
	inv   []uint8 // code of the inverse type, or noInverse
}

const noInverse = 255

func newRelTypes() *relTypes {
	t := &relTypes{codes: map[string]uint8{}}
	for _, n := range []string{entity.RelationOwnedBy, entity.RelationOwnerOf, entity.RelationConsumesAPI,
		entity.RelationAPIConsumedBy, entity.RelationProvidesAPI, entity.RelationAPIProvidedBy,
		entity.RelationDependsOn, entity.RelationDependencyOf, entity.RelationParentOf, entity.RelationChildOf,
		entity.RelationMemberOf, entity.RelationHasMember, entity.RelationPartOf, entity.RelationHasPart} {
		t.code(n)
	}
	return t
}

// code returns the code of a type, adding it if new (false when the table is full).
func (t *relTypes) code(name string) (uint8, bool) {
	if c, ok := t.codes[name]; ok {
		return c, true
	}
	if len(t.names) >= noInverse {
		return 0, false
	}
	c := uint8(len(t.names))
	t.names = append(t.names, name)
	t.codes[name] = c
	t.inv = append(t.inv, noInverse)
	if inv := entity.Inverse(name); inv != "" {
		if ic, ok := t.codes[inv]; ok {
			t.inv[c], t.inv[ic] = ic, c
		}
	}
	return c, true
}

func newRelIndex() *relIndex {
	return &relIndex{ids: map[string]refID{}, types: newRelTypes()}
}

func (x *relIndex) id(ref string) refID {
	if id, ok := x.ids[ref]; ok {
		return id
	}
	var id refID
	if n := len(x.free); n > 0 {
		id = x.free[n-1]
		x.free = x.free[:n-1]
		x.refs[id] = ref
		x.nodes[id] = &node{}
	} else {
		id = refID(len(x.refs))
		x.refs = append(x.refs, ref)
		x.nodes = append(x.nodes, &node{})
	}
	x.ids[ref] = id
	return id
}

func (x *relIndex) lookup(ref string) (refID, *node) {
	id, ok := x.ids[ref]
	if !ok {
		return 0, nil
	}
	return id, x.nodes[id]
}

func relHash(typ, target string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(typ))
	h.Write([]byte{0})
	h.Write([]byte(target))
	return h.Sum64()
}

// setHash is the hash of a set of relations: the sum of its members' hashes, so that it
// can be kept up to date one member at a time.
func setHash(rs []api.Relation) uint64 {
	var sum uint64
	seen := make(map[api.Relation]struct{}, len(rs))
	for _, r := range rs {
		if _, dup := seen[r]; dup {
			continue
		}
		seen[r] = struct{}{}
		sum += relHash(r.Type, r.TargetRef)
	}
	return sum
}

func (x *relIndex) hashOf(typ uint8, to refID) uint64 {
	return relHash(x.types.names[typ], x.refs[to])
}

func (n *node) hasIn(e edge) bool {
	if n.inBig != nil {
		_, ok := n.inBig[e]
		return ok
	}
	return slices.Contains(n.in, e)
}

func (n *node) addIn(e edge) {
	if n.inBig != nil {
		n.inBig[e] = struct{}{}
		return
	}
	n.in = append(n.in, e)
	if len(n.in) > smallSet {
		n.inBig = make(map[edge]struct{}, 2*len(n.in))
		for _, x := range n.in {
			n.inBig[x] = struct{}{}
		}
		n.in = nil
	}
}

func (n *node) removeIn(e edge) {
	if n.inBig != nil {
		delete(n.inBig, e)
		return
	}
	if i := slices.Index(n.in, e); i >= 0 {
		n.in = slices.Delete(n.in, i, i+1)
	}
}

func (n *node) lenIn() int {
	if n.inBig != nil {
		return len(n.inBig)
	}
	return len(n.in)
}

func (n *node) eachIn(fn func(edge)) {
	if n.inBig != nil {
		for e := range n.inBig {
			fn(e)
		}
		return
	}
	for _, e := range n.in {
		fn(e)
	}
}

// has reports whether n's desired relations contain (typ, to).
func (x *relIndex) has(n *node, typ uint8, to refID) bool {
	if slices.Contains(n.own, rel{to: to, typ: typ}) {
		return true
	}
	inv := x.types.inv[typ]
	return inv != noInverse && n.hasIn(edge{from: to, typ: inv})
}

// toRels converts relations to the index's form.
func (x *relIndex) toRels(rs []api.Relation) []rel {
	out := make([]rel, 0, len(rs))
	for _, r := range rs {
		c, ok := x.types.code(r.Type)
		if !ok {
			continue
		}
		v := rel{to: x.id(r.TargetRef), typ: c}
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// setOwnLocked replaces the own relations of src and returns the ids of the targets whose
// desired relations changed.
func (x *relIndex) setOwnLocked(src string, own []api.Relation) []refID {
	sid := x.id(src)
	want := x.toRels(own)
	n := x.nodes[sid]
	// One relation at a time, each checked just before and after its own change: with
	// self-relations (dependsOn itself, whose inverse is its own dependencyOf) the order
	// matters.
	var changed []refID
	for _, r := range slices.Clone(n.own) {
		if slices.Contains(want, r) {
			continue
		}
		n.own = slices.DeleteFunc(n.own, func(o rel) bool { return o == r })
		if !x.has(n, r.typ, r.to) {
			n.sum -= x.hashOf(r.typ, r.to)
		}
		if x.removeIncoming(r.to, edge{from: sid, typ: r.typ}) {
			changed = append(changed, r.to)
		}
		defer x.prune(r.to)
	}
	for _, r := range want {
		if slices.Contains(n.own, r) {
			continue
		}
		if !x.has(n, r.typ, r.to) {
			n.sum += x.hashOf(r.typ, r.to)
		}
		n.own = append(n.own, r)
		if x.addIncoming(r.to, edge{from: sid, typ: r.typ}) {
			changed = append(changed, r.to)
		}
	}
	if len(n.own) == 0 {
		n.own = nil
	}
	defer x.prune(sid)
	return changed
}

func (x *relIndex) addIncoming(target refID, e edge) bool {
	n := x.nodes[target]
	if n.hasIn(e) {
		return false
	}
	inv := x.types.inv[e.typ]
	if inv == noInverse {
		n.addIn(e)
		return false
	}
	was := x.has(n, inv, e.from)
	n.addIn(e)
	if !was {
		n.sum += x.hashOf(inv, e.from)
		return true
	}
	return false
}

func (x *relIndex) removeIncoming(target refID, e edge) bool {
	n := x.nodes[target]
	if !n.hasIn(e) {
		return false
	}
	n.removeIn(e)
	if inv := x.types.inv[e.typ]; inv != noInverse && !x.has(n, inv, e.from) {
		n.sum -= x.hashOf(inv, e.from)
		return true
	}
	return false
}

// prune frees a node nothing is known about any more. Nothing can point at it then: a
// relation to it would be an incoming edge, one from it an own relation.
func (x *relIndex) prune(id refID) {
	n := x.nodes[id]
	if n == nil || n.seen || len(n.own) > 0 || n.lenIn() > 0 {
		return
	}
	delete(x.ids, x.refs[id])
	x.refs[id] = ""
	x.nodes[id] = nil
	x.free = append(x.free, id)
}

func (x *relIndex) staleID(id refID) bool {
	n := x.nodes[id]
	return n != nil && n.seen && n.sum != n.stored
}

// apply records an entity as stored, with the relations its fields imply (or, deleted,
// as gone) and returns the refs whose stored relations now differ from their desired ones.
func (x *relIndex) apply(ref string, own []api.Relation, obj *api.Object, deleted bool) []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	var check []refID
	if deleted {
		if _, n := x.lookup(ref); n == nil {
			return nil
		}
		check = x.setOwnLocked(ref, nil)
		if id, n := x.lookup(ref); n != nil {
			n.seen, n.stored = false, 0
			x.prune(id)
		}
	} else {
		id := x.id(ref)
		n := x.nodes[id]
		n.seen = true
		n.stored = setHash(obj.Relations)
		n.rev = revOf(obj)
		check = append(x.setOwnLocked(ref, own), id)
	}
	return x.staleRefs(check, nil)
}

// staleRefs returns the refs of the ids that are stale, leaving out skip's.
func (x *relIndex) staleRefs(ids []refID, skip map[string][]api.Relation) []string {
	var out []string
	for _, id := range ids {
		if !x.staleID(id) {
			continue
		}
		ref := x.refs[id]
		if _, ok := skip[ref]; ok || slices.Contains(out, ref) {
			continue
		}
		out = append(out, ref)
	}
	return out
}

// announce sets the own relations of entities about to be written, as if they were
// stored; it returns the stale refs outside own.
func (x *relIndex) announce(own map[string][]api.Relation) []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	var changed []refID
	for src, rels := range own {
		changed = append(changed, x.setOwnLocked(src, rels)...)
	}
	return x.staleRefs(changed, own)
}

// unannounce forgets the own relations of an entity that was announced but is not stored.
func (x *relIndex) unannounce(ref string) []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	_, n := x.lookup(ref)
	if n == nil || n.seen {
		return nil
	}
	return x.staleRefs(x.setOwnLocked(ref, nil), nil)
}

// stale reports whether ref is stored with relations other than its desired ones.
func (x *relIndex) stale(ref string) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	id, n := x.lookup(ref)
	return n != nil && x.staleID(id)
}

// staleAll returns every stale ref.
func (x *relIndex) staleAll() []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	var out []string
	for id := range x.nodes {
		if x.staleID(refID(id)) {
			out = append(out, x.refs[id])
		}
	}
	return out
}

// inverses returns the inverse of every relation pointing at target.
func (x *relIndex) inverses(target string) []api.Relation {
	x.mu.Lock()
	defer x.mu.Unlock()
	_, n := x.lookup(target)
	if n == nil {
		return nil
	}
	out := make([]api.Relation, 0, n.lenIn())
	n.eachIn(func(e edge) {
		if inv := x.types.inv[e.typ]; inv != noInverse {
			out = append(out, api.Relation{Type: x.types.names[inv], TargetRef: x.refs[e.from]})
		}
	})
	return out
}

// desiredOf returns the relations ref should be stored with, as the index knows them:
// its own (as seen or announced) plus the inverse of every relation pointing at it.
func (x *relIndex) desiredOf(ref string) []api.Relation {
	x.mu.Lock()
	var out []api.Relation
	if _, n := x.lookup(ref); n != nil {
		for _, r := range n.own {
			out = append(out, api.Relation{Type: x.types.names[r.typ], TargetRef: x.refs[r.to]})
		}
	}
	x.mu.Unlock()
	return sortRelations(append(out, x.inverses(ref)...))
}

// desired returns own plus the inverse of every relation pointing at ref, sorted.
func (x *relIndex) desired(ref string, own []api.Relation) []api.Relation {
	return sortRelations(append(slices.Clone(own), x.inverses(ref)...))
}

func (x *relIndex) lastPut(ref string) time.Time {
	x.mu.Lock()
	defer x.mu.Unlock()
	if _, n := x.lookup(ref); n != nil && n.lastPut != 0 {
		return time.Unix(0, n.lastPut)
	}
	return time.Time{}
}

func (x *relIndex) setLastPut(ref string, t time.Time) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if _, n := x.lookup(ref); n != nil {
		n.lastPut = t.UnixNano()
	}
}

// keepPaceOf copies the write times of old into x.
func (x *relIndex) keepPaceOf(old *relIndex) {
	old.mu.Lock()
	defer old.mu.Unlock()
	x.mu.Lock()
	defer x.mu.Unlock()
	for id, n := range old.nodes {
		if n == nil || n.lastPut == 0 {
			continue
		}
		if _, m := x.lookup(old.refs[id]); m != nil {
			m.lastPut = n.lastPut
		}
	}
}
