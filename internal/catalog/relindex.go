package catalog

import (
	"cmp"
	"slices"
	"strings"
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
// It is compact because a catalog of 100,000 entities has about 450,000 relations (24 MB
// at that size with the ref strings, against 31 MB for a node per allocation with maps of
// edges): refs are numbered (each string kept once), relation types are small codes, nodes
// are values in fixed-size chunks (no pointer and no allocation of their own), and a node
// keeps its own relations and its incoming edges in one slice. Only the few entities with
// many incoming edges (a group owning hundreds of components) have a sorted set of their
// own, and only those the stitcher wrote have a write time.
type relIndex struct {
	mu     sync.Mutex
	ids    map[string]refID
	refs   []string // by id; "" when free
	chunks []*[chunkSize]node
	free   []refID
	big    map[refID]*inSet // incoming edges of the nodes with more than smallSet
	paced  map[refID]int64  // unix nanoseconds of the stitcher's last write
	types  *relTypes
}

type refID uint32

// link is a relation as its source holds it (the target and the type), or an incoming
// edge as its target holds it (the source and the source's type): 8 bytes.
type link struct {
	id  refID
	typ uint8
}

const (
	// smallSet is the size up to which a node keeps its incoming edges in its slice.
	smallSet = 16
	// Nodes are allocated chunkSize at a time; a node's address never changes.
	chunkBits = 10
	chunkSize = 1 << chunkBits
)

// node is one entity ref: 48 bytes.
type node struct {
	// links holds the own relations (the first own of them), then the incoming edges
	// (unless big: then they are in relIndex.big).
	links  []link
	sum    uint64 // set-hash of the desired relations
	stored uint64 // set-hash of the stored relations, as last seen
	own    uint32
	seen   bool // stored, as far as the watch has said
	big    bool
}

func (n *node) ownLinks() []link { return n.links[:n.own] }

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
	return &relIndex{ids: map[string]refID{}, big: map[refID]*inSet{}, paced: map[refID]int64{}, types: newRelTypes()}
}

func (x *relIndex) id(ref string) refID {
	if id, ok := x.ids[ref]; ok {
		return id
	}
	ref = strings.Clone(ref) // not a part of a larger string the caller holds
	var id refID
	if n := len(x.free); n > 0 {
		id = x.free[n-1]
		x.free = x.free[:n-1]
		x.refs[id] = ref
	} else {
		id = refID(len(x.refs))
		x.refs = append(x.refs, ref)
		if int(id>>chunkBits) == len(x.chunks) {
			x.chunks = append(x.chunks, new([chunkSize]node))
		}
	}
	x.ids[ref] = id
	return id
}

// node returns the node of an id (in use or not); its address never changes.
func (x *relIndex) node(id refID) *node { return &x.chunks[id>>chunkBits][id&(chunkSize-1)] }

func (x *relIndex) lookup(ref string) (refID, *node) {
	id, ok := x.ids[ref]
	if !ok {
		return 0, nil
	}
	return id, x.node(id)
}

// relHash is FNV-1a of type, a zero byte and target.
func relHash(typ, target string) uint64 {
	const prime = 1099511628211
	h := uint64(14695981039346656037)
	for i := 0; i < len(typ); i++ {
		h = (h ^ uint64(typ[i])) * prime
	}
	h *= prime // the zero byte
	for i := 0; i < len(target); i++ {
		h = (h ^ uint64(target[i])) * prime
	}
	return h
}

// setHash is the hash of a set of relations: the sum of its members' hashes, so that it
// can be kept up to date one member at a time.
func setHash(rs []api.Relation) uint64 {
	var sum uint64
	var seen map[api.Relation]struct{}
	if len(rs) > smallSet {
		seen = make(map[api.Relation]struct{}, len(rs))
	}
	for i, r := range rs {
		if seen != nil {
			if _, dup := seen[r]; dup {
				continue
			}
			seen[r] = struct{}{}
		} else if slices.Contains(rs[:i], r) {
			continue
		}
		sum += relHash(r.Type, r.TargetRef)
	}
	return sum
}

func (x *relIndex) hashOf(typ uint8, to refID) uint64 {
	return relHash(x.types.names[typ], x.refs[to])
}

// inSet holds the incoming edges of a node that has more than smallSet of them: sorted
// (8 bytes an edge, a binary search to find one) up to sortedMax, beyond that in a map, so
// that an entity everything points at does not cost a quadratic number of moves.
type inSet struct {
	sorted []link
	set    map[link]struct{}
}

const sortedMax = 4096

func cmpLink(a, b link) int {
	return cmp.Compare(uint64(a.id)<<8|uint64(a.typ), uint64(b.id)<<8|uint64(b.typ))
}

func (s *inSet) has(e link) bool {
	if s.set != nil {
		_, ok := s.set[e]
		return ok
	}
	_, ok := slices.BinarySearchFunc(s.sorted, e, cmpLink)
	return ok
}

func (s *inSet) add(e link) {
	if s.set != nil {
		s.set[e] = struct{}{}
		return
	}
	i, ok := slices.BinarySearchFunc(s.sorted, e, cmpLink)
	if ok {
		return
	}
	s.sorted = slices.Insert(s.sorted, i, e)
	if len(s.sorted) > sortedMax {
		s.set = make(map[link]struct{}, len(s.sorted))
		for _, l := range s.sorted {
			s.set[l] = struct{}{}
		}
		s.sorted = nil
	}
}

func (s *inSet) remove(e link) {
	if s.set != nil {
		delete(s.set, e)
	} else if i, ok := slices.BinarySearchFunc(s.sorted, e, cmpLink); ok {
		s.sorted = slices.Delete(s.sorted, i, i+1)
	}
}

func (s *inSet) len() int { return len(s.sorted) + len(s.set) }

func (x *relIndex) hasIn(id refID, n *node, e link) bool {
	if n.big {
		return x.big[id].has(e)
	}
	return slices.Contains(n.links[n.own:], e)
}

func (x *relIndex) addIn(id refID, n *node, e link) {
	if n.big {
		x.big[id].add(e)
		return
	}
	n.links = append(n.links, e)
	if in := n.links[n.own:]; len(in) > smallSet {
		s := &inSet{sorted: slices.Clone(in)}
		slices.SortFunc(s.sorted, cmpLink)
		x.big[id] = s
		n.big = true
		n.links = slices.Clone(n.ownLinks())
	}
}

func (x *relIndex) removeIn(id refID, n *node, e link) {
	if n.big {
		x.big[id].remove(e)
		return
	}
	if i := slices.Index(n.links[n.own:], e); i >= 0 {
		i += int(n.own)
		n.links = slices.Delete(n.links, i, i+1)
	}
}

func (x *relIndex) lenIn(id refID, n *node) int {
	if n.big {
		return x.big[id].len()
	}
	return len(n.links) - int(n.own)
}

func (x *relIndex) eachIn(id refID, n *node, fn func(link)) {
	in := n.links[n.own:]
	if n.big {
		s := x.big[id]
		for e := range s.set {
			fn(e)
		}
		in = s.sorted
	}
	for _, e := range in {
		fn(e)
	}
}

// has reports whether the desired relations of n (whose id is id) contain (typ, to).
func (x *relIndex) has(id refID, n *node, typ uint8, to refID) bool {
	if slices.Contains(n.ownLinks(), link{id: to, typ: typ}) {
		return true
	}
	inv := x.types.inv[typ]
	return inv != noInverse && x.hasIn(id, n, link{id: to, typ: inv})
}

// toLinks converts relations to the index's form.
func (x *relIndex) toLinks(rs []api.Relation) []link {
	out := make([]link, 0, len(rs))
	for _, r := range rs {
		c, ok := x.types.code(r.Type)
		if !ok {
			continue
		}
		v := link{id: x.id(r.TargetRef), typ: c}
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
	want := x.toLinks(own)
	n := x.node(sid)
	// One relation at a time, each checked just before and after its own change: with
	// self-relations (dependsOn itself, whose inverse is its own dependencyOf) the order
	// matters.
	var changed, prune []refID
	for i := 0; i < int(n.own); {
		r := n.links[i]
		if slices.Contains(want, r) {
			i++
			continue
		}
		n.links = slices.Delete(n.links, i, i+1)
		n.own--
		if !x.has(sid, n, r.typ, r.id) {
			n.sum -= x.hashOf(r.typ, r.id)
		}
		if x.removeIncoming(r.id, link{id: sid, typ: r.typ}) {
			changed = append(changed, r.id)
		}
		prune = append(prune, r.id)
	}
	for _, r := range want {
		if slices.Contains(n.ownLinks(), r) {
			continue
		}
		if !x.has(sid, n, r.typ, r.id) {
			n.sum += x.hashOf(r.typ, r.id)
		}
		n.links = slices.Insert(n.links, int(n.own), r)
		n.own++
		if x.addIncoming(r.id, link{id: sid, typ: r.typ}) {
			changed = append(changed, r.id)
		}
	}
	if len(n.links) == 0 {
		n.links = nil
	}
	for _, id := range prune {
		x.prune(id)
	}
	x.prune(sid)
	return changed
}

func (x *relIndex) addIncoming(target refID, e link) bool {
	n := x.node(target)
	if x.hasIn(target, n, e) {
		return false
	}
	inv := x.types.inv[e.typ]
	if inv == noInverse {
		x.addIn(target, n, e)
		return false
	}
	was := x.has(target, n, inv, e.id)
	x.addIn(target, n, e)
	if !was {
		n.sum += x.hashOf(inv, e.id)
		return true
	}
	return false
}

func (x *relIndex) removeIncoming(target refID, e link) bool {
	n := x.node(target)
	if !x.hasIn(target, n, e) {
		return false
	}
	x.removeIn(target, n, e)
	if inv := x.types.inv[e.typ]; inv != noInverse && !x.has(target, n, inv, e.id) {
		n.sum -= x.hashOf(inv, e.id)
		return true
	}
	return false
}

// prune frees a node nothing is known about any more. Nothing can point at it then: a
// relation to it would be an incoming edge, one from it an own relation.
func (x *relIndex) prune(id refID) {
	n := x.node(id)
	if x.refs[id] == "" || n.seen || n.own > 0 || x.lenIn(id, n) > 0 {
		return
	}
	delete(x.ids, x.refs[id])
	delete(x.big, id)
	delete(x.paced, id)
	x.refs[id] = ""
	*n = node{}
	x.free = append(x.free, id)
}

func (x *relIndex) staleID(id refID) bool {
	n := x.node(id)
	return x.refs[id] != "" && n.seen && n.sum != n.stored
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
		n := x.node(id)
		n.seen = true
		n.stored = setHash(obj.Relations)
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
	for id := range x.refs {
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
	id, n := x.lookup(target)
	if n == nil {
		return nil
	}
	return x.inversesLocked(id, n, make([]api.Relation, 0, x.lenIn(id, n)))
}

func (x *relIndex) inversesLocked(id refID, n *node, out []api.Relation) []api.Relation {
	x.eachIn(id, n, func(e link) {
		if inv := x.types.inv[e.typ]; inv != noInverse {
			out = append(out, api.Relation{Type: x.types.names[inv], TargetRef: x.refs[e.id]})
		}
	})
	return out
}

// desiredOf returns the relations ref should be stored with, as the index knows them:
// its own (as seen or announced) plus the inverse of every relation pointing at it.
func (x *relIndex) desiredOf(ref string) []api.Relation {
	x.mu.Lock()
	var out []api.Relation
	if id, n := x.lookup(ref); n != nil {
		out = make([]api.Relation, 0, int(n.own)+x.lenIn(id, n))
		for _, r := range n.ownLinks() {
			out = append(out, api.Relation{Type: x.types.names[r.typ], TargetRef: x.refs[r.id]})
		}
		out = x.inversesLocked(id, n, out)
	}
	x.mu.Unlock()
	return sortRelations(out)
}

// desired returns own plus the inverse of every relation pointing at ref, sorted.
func (x *relIndex) desired(ref string, own []api.Relation) []api.Relation {
	return sortRelations(append(slices.Clone(own), x.inverses(ref)...))
}

func (x *relIndex) lastPut(ref string) time.Time {
	x.mu.Lock()
	defer x.mu.Unlock()
	if id, n := x.lookup(ref); n != nil && x.paced[id] != 0 {
		return time.Unix(0, x.paced[id])
	}
	return time.Time{}
}

func (x *relIndex) setLastPut(ref string, t time.Time) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if id, n := x.lookup(ref); n != nil {
		x.paced[id] = t.UnixNano()
	}
}

// keepPaceOf copies the write times of old into x.
func (x *relIndex) keepPaceOf(old *relIndex) {
	old.mu.Lock()
	defer old.mu.Unlock()
	x.mu.Lock()
	defer x.mu.Unlock()
	for id, t := range old.paced {
		if nid, m := x.lookup(old.refs[id]); m != nil {
			x.paced[nid] = t
		}
	}
}
