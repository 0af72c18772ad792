package store

import (
	"container/heap"
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/paved-dev/paved/api"
	"github.com/paved-dev/paved/internal/kinds"
)

// queryIndex is an in-memory inverted index over the index rows (kinds.Kind.Index) of
// every object of an indexed kind: for each (key, value) pair the set of objects that have
// it, as a compressed bitmap. Filters, counts and facets are bitmap operations, so a query
// over 100,000 entities costs microseconds to milliseconds instead of scanning rows. Each
// process builds it from the store (list, then the watch), so replicas need nothing shared;
// queries wait until it has caught up with the store's current revision, so a write is
// visible to the next query.
type queryIndex struct {
	s *Store

	mu      sync.RWMutex
	started bool
	built   bool // the first build is done (until a reset)
	rev     int64
	caught  chan struct{} // closed and replaced whenever rev moves
	err     error

	ids  map[objKey]uint32
	objs []objEntry // by id; deleted entries have live == false

	byResource  map[string]*roaring.Bitmap
	byNamespace map[string]*roaring.Bitmap

	keyIDs map[string]uint32 // index key -> key id
	keys   []keyEntry        // by key id
	vals   arena             // values of the pairs
	pairs  []pair            // by pair id
	table  pairTable         // (key id, value) -> pair id
	sets   []objSet          // objects of the pairs that have several
	free   []uint32          // unused entries of sets
	dead   int               // pairs without objects, reclaimed by compact
	// compactAt is the fewest dead pairs worth a compaction (tests lower it).
	compactAt int
	// sorted caches a key's live pairs ordered by value, for ordered queries; an entry is
	// dropped when the key gets a new pair. Guarded by sortMu (readers fill it).
	sortMu sync.Mutex
	sorted map[uint32][]uint32

	scratch []uint32 // put's pair list, reused
}

type objKey struct{ resource, namespace, name string }

type objEntry struct {
	key   objKey
	pairs []uint32 // sorted pair ids
	live  bool
}

// keyEntry is one index key: its pairs (possibly dead ones, until compaction) and the
// objects having any row for it.
type keyEntry struct {
	name  string
	pairs []uint32
	objs  *roaring.Bitmap
}

// itemSep ends the key under which the items of an array are kept: Backstage indexes each
// string item s of the array at path p twice, as (p, s) and as ("p.s", "true") so that
// metadata.tags.java=true can require several tags at once. The second form would make a
// key per distinct item (tens of thousands of keys at 100,000 entities), so the index keeps
// it as the pair ("p"+itemSep, s) and answers "p.s" from there.
const itemSep = "\x00"

func newQueryIndex(s *Store) *queryIndex {
	return &queryIndex{s: s, caught: make(chan struct{}), ids: map[objKey]uint32{},
		byResource: map[string]*roaring.Bitmap{}, byNamespace: map[string]*roaring.Bitmap{},
		keyIDs: map[string]uint32{}, table: newPairTable(),
		sorted: map[uint32][]uint32{}, compactAt: 50_000}
}

// indexedKind finds the indexed kind that owns a resource.
func (s *Store) indexedKind(resource string) *kinds.Kind {
	for _, k := range s.kinds.All() {
		if k.Index != nil && k.Resource() == resource {
			return k
		}
	}
	return nil
}

// start lists every object of the indexed kinds and then follows the watch.
func (qi *queryIndex) start(ctx context.Context) error {
	qi.mu.Lock()
	if qi.started {
		qi.mu.Unlock()
		return qi.err
	}
	qi.started = true
	qi.mu.Unlock()
	began := time.Now()

	resources := map[string]*kinds.Kind{}
	for _, k := range qi.s.kinds.All() {
		if k.Index != nil {
			resources[k.Resource()] = k
		}
	}
	var startRev int64
	built, lastGC := 0, 0
	for res, k := range resources {
		q := Query{Resource: res, Limit: 5000}
		first := true
		for {
			recs, rev, more, err := qi.s.be.List(ctx, q)
			if err != nil {
				return qi.fail(fmt.Errorf("query index: list %s: %w", res, err))
			}
			if first {
				if startRev == 0 || rev < startRev {
					startRev = rev
				}
				first = false
			}
			// Decoding is most of the work: spread it over the cores, then index in order.
			rows := make([][]kinds.IndexRow, len(recs))
			var wg sync.WaitGroup
			workers := max(1, runtime.GOMAXPROCS(0))
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := w; i < len(recs); i += workers {
						if obj, err := Decode(recs[i]); err == nil {
							rows[i] = k.Index(obj)
						}
					}
				}()
			}
			wg.Wait()
			qi.mu.Lock()
			for i, r := range recs {
				if rows[i] != nil {
					qi.put(objKey{res, r.Namespace, r.Name}, rows[i])
				}
			}
			built += len(recs)
			qi.mu.Unlock()
			if built-lastGC >= 25_000 {
				// Decoding every object makes garbage many times the index's size; collect
				// it as we go so that building the index does not double the process's RSS.
				runtime.GC()
				lastGC = built
			}
			if !more || len(recs) == 0 {
				break
			}
			last := recs[len(recs)-1]
			q.AfterNamespace, q.AfterName = last.Namespace, last.Name
		}
	}
	if len(resources) == 0 {
		cur, err := qi.s.Revision(ctx)
		if err != nil {
			return qi.fail(err)
		}
		startRev = cur
	}
	// Writes after the first list are replayed from the watch; replaying a write the list
	// already saw is harmless (put replaces an object's rows).
	ch, err := qi.s.Watch(context.Background(), WatchOptions{ResourceVersion: fmt.Sprint(startRev)})
	if err != nil {
		return qi.fail(fmt.Errorf("query index: watch: %w", err))
	}
	qi.mu.Lock()
	qi.advance(startRev)
	qi.built = true
	n := len(qi.ids)
	qi.mu.Unlock()
	if built >= 25_000 {
		debug.FreeOSMemory() // give the build's garbage back to the OS
	}
	qi.s.log.Info("query index built", "objects", n, "took", time.Since(began).Round(time.Millisecond))
	go qi.follow(ch)
	return nil
}

func (qi *queryIndex) fail(err error) error {
	qi.mu.Lock()
	qi.err = err
	qi.started = false // a later query tries again
	qi.mu.Unlock()
	return err
}

func (qi *queryIndex) follow(ch <-chan Event) {
	for ev := range ch {
		if ev.Type == api.EventError {
			if api.ReasonOf(ev.Err) != api.ReasonServiceUnavailable { // not the store closing
				qi.s.log.Error("query index: watch ended; queries will rebuild the index", "err", ev.Err)
			}
			qi.reset()
			return
		}
		k := qi.s.indexedKind(ev.Resource)
		qi.mu.Lock()
		if k != nil {
			key := objKey{k.Resource(), ev.Object.Metadata.Namespace, keyName(k, ev.Object.Metadata.Name)}
			if ev.Type == api.EventDeleted {
				qi.remove(key)
			} else {
				qi.put(key, k.Index(ev.Object))
			}
		}
		qi.advance(ev.Revision)
		qi.mu.Unlock()
	}
}

// reset drops the index so that the next query builds it again (after a Gone watch).
func (qi *queryIndex) reset() {
	fresh := newQueryIndex(qi.s)
	qi.mu.Lock()
	old := qi.caught
	qi.started, qi.built, qi.rev, qi.err = false, false, 0, nil
	qi.ids, qi.objs = fresh.ids, nil
	qi.byResource, qi.byNamespace = fresh.byResource, fresh.byNamespace
	qi.keyIDs, qi.keys, qi.vals, qi.pairs, qi.table, qi.dead = fresh.keyIDs, nil, arena{}, nil, fresh.table, 0
	qi.sets, qi.free = nil, nil
	qi.objs, qi.scratch = nil, nil
	qi.sortMu.Lock()
	qi.sorted = map[uint32][]uint32{}
	qi.sortMu.Unlock()
	qi.caught = make(chan struct{})
	qi.mu.Unlock()
	close(old)
}

func (qi *queryIndex) advance(rev int64) {
	if rev > qi.rev {
		qi.rev = rev
		close(qi.caught)
		qi.caught = make(chan struct{})
	}
}

func bitmapOf(m map[string]*roaring.Bitmap, k string) *roaring.Bitmap {
	b, ok := m[k]
	if !ok {
		b = roaring.New()
		m[k] = b
	}
	return b
}

// keyID returns the id of an index key, adding the key if it is new.
func (qi *queryIndex) keyID(key string) uint32 {
	if kid, ok := qi.keyIDs[key]; ok {
		return kid
	}
	kid := uint32(len(qi.keys))
	k := strings.Clone(key) // do not keep the caller's row buffers alive
	qi.keyIDs[k] = kid
	qi.keys = append(qi.keys, keyEntry{name: k, objs: roaring.New()})
	return kid
}

// pairOf returns the pair of (key id, value), adding it (without objects) if it is new.
func (qi *queryIndex) pairOf(kid uint32, value, original string) uint32 {
	if pid, ok := qi.table.find(qi.pairs, &qi.vals, kid, value); ok {
		return pid
	}
	pid := uint32(len(qi.pairs))
	p := pair{key: kid, off: qi.vals.add(value), n: uint32(len(value)), orig: sameCase, one: noObject}
	if original != value {
		p.orig, p.origN = qi.vals.add(original), uint32(len(original))
	}
	qi.pairs = append(qi.pairs, p)
	qi.table.insert(qi.pairs, &qi.vals, pid)
	qi.keys[kid].pairs = append(qi.keys[kid].pairs, pid)
	qi.sortMu.Lock()
	delete(qi.sorted, kid)
	qi.sortMu.Unlock()
	return pid
}

// value returns a pair's value (a view into the arena: copy it to keep it).
func (qi *queryIndex) value(pid uint32) string {
	p := &qi.pairs[pid]
	return qi.vals.get(p.off, p.n)
}

// original returns a pair's value as written (a view into the arena).
func (qi *queryIndex) original(pid uint32) string {
	p := &qi.pairs[pid]
	if p.orig == sameCase {
		return qi.vals.get(p.off, p.n)
	}
	return qi.vals.get(p.orig, p.origN)
}

// newSet stores a set of objects and returns its index.
func (qi *queryIndex) newSet(small []uint32) uint32 {
	if n := len(qi.free); n > 0 {
		i := qi.free[n-1]
		qi.free = qi.free[:n-1]
		qi.sets[i] = objSet{small: small}
		return i
	}
	qi.sets = append(qi.sets, objSet{small: small})
	return uint32(len(qi.sets) - 1)
}

// addObject adds an object to a pair's set; false if it was there.
func (qi *queryIndex) addObject(pid, id uint32) bool {
	p := &qi.pairs[pid]
	switch {
	case p.one == noObject:
		p.one = id
		return true
	case p.one&setBit == 0:
		if p.one == id {
			return false
		}
		a, b := p.one, id
		if b < a {
			a, b = b, a
		}
		p.one = setBit | qi.newSet([]uint32{a, b})
		return true
	}
	set := &qi.sets[p.one&^setBit]
	if set.bm != nil {
		return set.bm.CheckedAdd(id)
	}
	i, found := slices.BinarySearch(set.small, id)
	if found {
		return false
	}
	if len(set.small) < smallSet {
		set.small = slices.Insert(set.small, i, id)
		return true
	}
	set.bm = roaring.BitmapOf(set.small...)
	set.bm.Add(id)
	set.small = nil
	return true
}

// removeObject takes an object out of a pair's set; a pair left without objects is dead:
// out of the table, its values garbage until compaction.
func (qi *queryIndex) removeObject(pid, id uint32) {
	p := &qi.pairs[pid]
	switch {
	case p.one == noObject:
		return
	case p.one&setBit == 0:
		if p.one != id {
			return
		}
	default:
		si := p.one &^ setBit
		set := &qi.sets[si]
		var left []uint32 // the objects left, when they are few
		if set.bm != nil {
			set.bm.Remove(id)
			if set.bm.GetCardinality() > 1 {
				return
			}
			left = set.bm.ToArray()
		} else {
			i, found := slices.BinarySearch(set.small, id)
			if !found {
				return
			}
			set.small = slices.Delete(set.small, i, i+1)
			if len(set.small) > 1 {
				return
			}
			left = set.small
		}
		qi.sets[si] = objSet{}
		qi.free = append(qi.free, si)
		if len(left) == 1 {
			p.one = left[0]
			return
		}
	}
	qi.table.remove(qi.pairs, &qi.vals, pid)
	p.one = noObject
	qi.dead++
}

// objects returns the set of objects having a pair (a fresh bitmap for a few objects; do
// not modify the result).
func (qi *queryIndex) objects(pid uint32) *roaring.Bitmap {
	switch p := &qi.pairs[pid]; {
	case p.one == noObject:
		return roaring.New()
	case p.one&setBit == 0:
		return roaring.BitmapOf(p.one)
	}
	set := &qi.sets[qi.pairs[pid].one&^setBit]
	if set.bm != nil {
		return set.bm
	}
	return roaring.BitmapOf(set.small...)
}

// andCardinality counts the objects having a pair within m.
func (qi *queryIndex) andCardinality(pid uint32, m *roaring.Bitmap) uint64 {
	switch p := &qi.pairs[pid]; {
	case p.one == noObject:
		return 0
	case p.one&setBit == 0:
		if m.Contains(p.one) {
			return 1
		}
		return 0
	}
	set := &qi.sets[qi.pairs[pid].one&^setBit]
	if set.bm != nil {
		return set.bm.AndCardinality(m)
	}
	n := uint64(0)
	for _, id := range set.small {
		if m.Contains(id) {
			n++
		}
	}
	return n
}

// appendObjects adds a pair's objects to ids, or (for a big set) to hits.
func (qi *queryIndex) appendObjects(pid uint32, ids []uint32, hits *roaring.Bitmap) []uint32 {
	switch p := &qi.pairs[pid]; {
	case p.one == noObject:
		return ids
	case p.one&setBit == 0:
		return append(ids, p.one)
	}
	set := &qi.sets[qi.pairs[pid].one&^setBit]
	if set.bm != nil {
		hits.Or(set.bm)
		return ids
	}
	return append(ids, set.small...)
}

// put sets an object's rows, replacing earlier ones: only the pairs that changed are
// touched, so an update does not churn the pairs it keeps. Callers hold mu.
func (qi *queryIndex) put(key objKey, rows []kinds.IndexRow) {
	id, ok := qi.ids[key]
	if !ok {
		id = uint32(len(qi.objs))
		qi.objs = append(qi.objs, objEntry{key: key})
		qi.ids[key] = id
	}
	e := &qi.objs[id]
	if !e.live {
		e.live = true
		bitmapOf(qi.byResource, key.resource).Add(id)
		bitmapOf(qi.byNamespace, key.namespace).Add(id)
	}
	// Rows saying that an array holds an item ("p.s" = "true" next to ("p", "s")) are kept
	// as items of p (see itemSep).
	var plain map[[2]string]bool
	for _, r := range rows {
		if r.Value == "true" && (r.Original == "true" || r.Original == "") && strings.Contains(r.Key, ".") {
			plain = make(map[[2]string]bool, len(rows))
			for _, r := range rows {
				plain[[2]string{r.Key, r.Value}] = true
			}
			break
		}
	}
	next := qi.scratch[:0]
	for _, r := range rows {
		k, v, orig := r.Key, r.Value, r.Original
		if plain != nil && v == "true" && (orig == "true" || orig == "") {
			for i := strings.LastIndexByte(k, '.'); i > 0; i = strings.LastIndexByte(k[:i], '.') {
				if plain[[2]string{k[:i], k[i+1:]}] {
					k, v, orig = k[:i]+itemSep, k[i+1:], k[i+1:]
					break
				}
			}
		}
		if len(v) > maxIndexedValue || len(orig) > maxIndexedValue {
			v, orig = "", ""
		}
		next = append(next, qi.pairOf(qi.keyID(k), v, orig))
	}
	slices.Sort(next)
	next = slices.Compact(next)
	// Merge the old and the new sorted pair lists.
	old := e.pairs
	var dropped []uint32
	i, j := 0, 0
	for i < len(old) || j < len(next) {
		switch {
		case j == len(next) || (i < len(old) && old[i] < next[j]):
			qi.removeObject(old[i], id)
			dropped = append(dropped, qi.pairs[old[i]].key)
			i++
		case i == len(old) || next[j] < old[i]:
			qi.addObject(next[j], id)
			qi.keys[qi.pairs[next[j]].key].objs.Add(id)
			j++
		default:
			i++
			j++
		}
	}
	for _, kid := range dropped {
		still := false
		for _, pid := range next {
			if qi.pairs[pid].key == kid {
				still = true
				break
			}
		}
		if !still {
			qi.keys[kid].objs.Remove(id)
		}
	}
	if cap(old) >= len(next) && cap(old) <= 2*len(next) {
		e.pairs = append(old[:0], next...)
	} else {
		e.pairs = slices.Clone(next)
	}
	qi.scratch = next[:0]
	qi.maybeCompact()
}

func (qi *queryIndex) remove(key objKey) {
	id, ok := qi.ids[key]
	if !ok {
		return
	}
	e := &qi.objs[id]
	if b := qi.byResource[key.resource]; b != nil {
		b.Remove(id)
	}
	if b := qi.byNamespace[key.namespace]; b != nil {
		b.Remove(id)
	}
	for _, pid := range e.pairs {
		qi.removeObject(pid, id)
		qi.keys[qi.pairs[pid].key].objs.Remove(id)
	}
	e.live, e.pairs = false, nil
	delete(qi.ids, key)
	qi.maybeCompact()
}

// maybeCompact compacts once dead pairs are a quarter of all (and many).
func (qi *queryIndex) maybeCompact() {
	if qi.dead >= qi.compactAt && qi.dead*4 >= len(qi.pairs) {
		qi.compact()
	}
}

// compact drops dead pairs and the arena's garbage: live pairs get new ids and their values
// a new arena; object ids are kept. Callers hold mu.
func (qi *queryIndex) compact() {
	began := time.Now()
	remap := make([]uint32, len(qi.pairs))
	live := len(qi.pairs) - qi.dead
	pairs := make([]pair, 0, live)
	var vals arena
	for pid := range qi.pairs {
		p := qi.pairs[pid]
		if p.one == noObject {
			remap[pid] = noObject
			continue
		}
		np := uint32(len(pairs))
		remap[pid] = np
		p.off = vals.add(qi.vals.get(p.off, p.n))
		if p.orig != sameCase {
			p.orig = vals.add(qi.vals.get(p.orig, p.origN))
		}
		pairs = append(pairs, p)
	}
	for i := range qi.objs {
		ps := qi.objs[i].pairs
		for j, pid := range ps {
			ps[j] = remap[pid]
		}
	}
	for k := range qi.keys {
		ps := qi.keys[k].pairs[:0]
		for _, pid := range qi.keys[k].pairs {
			if remap[pid] != noObject {
				ps = append(ps, remap[pid])
			}
		}
		qi.keys[k].pairs = slices.Clip(ps)
	}
	qi.pairs, qi.vals, qi.dead = pairs, vals, 0
	qi.table = newPairTable()
	qi.table.rehash(nil, &qi.vals, live)
	for pid := range qi.pairs {
		qi.table.insert(qi.pairs, &qi.vals, uint32(pid))
	}
	qi.sortMu.Lock()
	qi.sorted = map[uint32][]uint32{}
	qi.sortMu.Unlock()
	qi.s.log.Debug("query index compacted", "pairs", live, "took", time.Since(began).Round(time.Millisecond))
}

// ready builds the index if needed and waits until it reflects every write committed
// before the call.
func (qi *queryIndex) ready(ctx context.Context) error {
	if err := qi.start(ctx); err != nil {
		return err
	}
	cur, err := qi.s.Revision(ctx)
	if err != nil {
		return err
	}
	// Catching up with the watch takes milliseconds, so a query that waits long is failed
	// rather than left hanging; the first build (rev 0) may take seconds and is waited for.
	var deadline *time.Timer
	defer func() {
		if deadline != nil {
			deadline.Stop()
		}
	}()
	for {
		qi.mu.RLock()
		rev, caught, started := qi.rev, qi.caught, qi.started
		qi.mu.RUnlock()
		var expired <-chan time.Time
		if rev > 0 {
			if deadline == nil {
				deadline = time.NewTimer(10 * time.Second)
			}
			expired = deadline.C
		}
		if !started {
			if err := qi.start(ctx); err != nil {
				return err
			}
			continue
		}
		if rev >= cur {
			return nil
		}
		select {
		case <-caught:
		case <-ctx.Done():
			return ctx.Err()
		case <-expired:
			return api.NewError(api.ReasonServiceUnavailable, "the query index is behind the store (at revision %d of %d); try again", rev, cur)
		}
	}
}

// match evaluates q's selection (not its paging) into a bitmap. Callers hold mu.
func (qi *queryIndex) match(q Query) *roaring.Bitmap {
	var bms []*roaring.Bitmap
	for _, r := range q.Resources {
		if b := qi.byResource[r]; b != nil {
			bms = append(bms, b)
		}
	}
	out := roaring.FastOr(bms...)
	if q.Namespace != "" {
		out.And(orEmpty(qi.byNamespace[q.Namespace]))
	}
	if q.Where != nil {
		out.And(qi.eval(q.Where, out))
	}
	if len(q.Filter) > 0 {
		var clauses []*roaring.Bitmap
		for _, clause := range q.Filter {
			var c *roaring.Bitmap
			for _, r := range clause {
				req := qi.fieldBitmap(r.Key, r.Values)
				if c == nil {
					c = req.Clone()
				} else {
					c.And(req)
				}
			}
			if c == nil { // an empty clause matches everything
				c = out.Clone()
			}
			clauses = append(clauses, c)
		}
		out.And(roaring.FastOr(clauses...))
	}
	if q.FullText != nil && q.FullText.Term != "" {
		out.And(qi.fullText(q.FullText))
	}
	return out
}

// fullText is the set of objects with a value containing the term under one of the keys
// (any key if none is given).
func (qi *queryIndex) fullText(ft *FullText) *roaring.Bitmap {
	term := strings.ToLower(ft.Term)
	inTrue := strings.Contains("true", term) // the value of array item rows
	// Most matching values belong to one object: add those ids directly instead of merging
	// thousands of one-element bitmaps.
	hits := roaring.New()
	var ids []uint32
	scan := func(kid uint32) {
		for _, pid := range qi.keys[kid].pairs {
			p := &qi.pairs[pid]
			if p.one == noObject || !strings.Contains(qi.vals.get(p.off, p.n), term) {
				continue
			}
			ids = qi.appendObjects(pid, ids, hits)
		}
	}
	if len(ft.Keys) == 0 {
		for kid := range qi.keys {
			if strings.HasSuffix(qi.keys[kid].name, itemSep) {
				if inTrue {
					hits.Or(qi.keys[kid].objs)
				}
				continue
			}
			scan(uint32(kid))
		}
	}
	for _, k := range ft.Keys {
		k = strings.ToLower(k)
		if kid, ok := qi.keyIDs[k]; ok {
			scan(kid)
		}
		if inTrue {
			hits.Or(qi.itemBitmap(k))
		}
	}
	hits.AddMany(ids)
	return hits
}

// eval evaluates a predicate within the candidate set all (which it does not modify).
func (qi *queryIndex) eval(e *Expr, all *roaring.Bitmap) *roaring.Bitmap {
	switch {
	case e.All != nil:
		r := all.Clone()
		for _, c := range e.All {
			if r.IsEmpty() {
				break
			}
			r.And(qi.eval(c, r))
		}
		return r
	case e.Any != nil:
		r := roaring.New()
		for _, c := range e.Any {
			r.Or(qi.eval(c, all))
		}
		return r
	case e.Not != nil:
		r := all.Clone()
		r.AndNot(qi.eval(e.Not, all))
		return r
	}
	return roaring.And(qi.fieldBitmap(e.Key, e.Values), all)
}

// fieldBitmap is the set of objects with a row for key whose value is one of values (any
// value if none is given). The result may be shared: do not modify it.
func (qi *queryIndex) fieldBitmap(key string, values []string) *roaring.Bitmap {
	var bms []*roaring.Bitmap
	if kid, ok := qi.keyIDs[key]; ok {
		if len(values) == 0 {
			bms = append(bms, qi.keys[kid].objs)
		}
		for _, v := range values {
			if pid, ok := qi.table.find(qi.pairs, &qi.vals, kid, v); ok {
				bms = append(bms, qi.objects(pid))
			}
		}
	}
	if len(values) == 0 || slices.Contains(values, "true") {
		if items := qi.itemBitmap(key); !items.IsEmpty() {
			bms = append(bms, items)
		}
	}
	return union(bms)
}

// itemBitmap is the set of objects whose rows say key = "true" as an array item: key is
// "p.s" and the array at p holds s (see itemSep).
func (qi *queryIndex) itemBitmap(key string) *roaring.Bitmap {
	var bms []*roaring.Bitmap
	for i := strings.IndexByte(key, '.'); i > 0; i = nextDot(key, i) {
		kid, ok := qi.keyIDs[key[:i]+itemSep]
		if !ok {
			continue
		}
		if pid, ok := qi.table.find(qi.pairs, &qi.vals, kid, key[i+1:]); ok {
			bms = append(bms, qi.objects(pid))
		}
	}
	return union(bms)
}

// union is the union of bms; with one bitmap, that bitmap itself (do not modify the result).
func union(bms []*roaring.Bitmap) *roaring.Bitmap {
	switch len(bms) {
	case 0:
		return roaring.New()
	case 1:
		return bms[0]
	}
	return roaring.FastOr(bms...)
}

// nextDot is the index of the next '.' in s after i, or -1.
func nextDot(s string, i int) int {
	j := strings.IndexByte(s[i+1:], '.')
	if j < 0 {
		return -1
	}
	return i + 1 + j
}

func orEmpty(b *roaring.Bitmap) *roaring.Bitmap {
	if b == nil {
		return roaring.New()
	}
	return b
}

// orderField is an order key resolved once per query: its key id, and the objects whose
// array item rows give it the value "true" (see itemSep).
type orderField struct {
	kid   uint32
	known bool
	items *roaring.Bitmap
}

func (qi *queryIndex) orderFields(q Query) []orderField {
	out := make([]orderField, len(q.OrderBy))
	for i, o := range q.OrderBy {
		out[i].kid, out[i].known = qi.keyIDs[o.Key]
		out[i].items = qi.itemBitmap(o.Key)
	}
	return out
}

// fieldValue is the smallest value of a field among an object's rows; found is false if it
// has none.
func (qi *queryIndex) fieldValue(id uint32, f orderField) (best string, found bool) {
	if f.known {
		for _, pid := range qi.objs[id].pairs {
			p := &qi.pairs[pid]
			if v := qi.vals.get(p.off, p.n); p.key == f.kid && (!found || v < best) {
				best, found = v, true
			}
		}
	}
	if f.items.Contains(id) && (!found || "true" < best) {
		return "true", true
	}
	return best, found
}

// sortKey is what an object is ordered by: its q.OrderBy field values, then namespace and
// name. It is computed once per candidate, not once per comparison.
type sortKey struct {
	id          uint32
	vals        []string
	has         []bool
	ns, nm, res string
}

func (qi *queryIndex) sortKeyOf(fields []orderField, id uint32) sortKey {
	k := sortKey{id: id, ns: qi.objs[id].key.namespace, nm: qi.objs[id].key.name, res: qi.objs[id].key.resource}
	if len(fields) > 0 {
		k.vals = make([]string, len(fields))
		k.has = make([]bool, len(fields))
		for i, f := range fields {
			k.vals[i], k.has[i] = qi.fieldValue(id, f)
		}
	}
	return k
}

// lessKey orders by q.OrderBy (objects without the field last), then namespace and name.
func lessKey(q Query, a, b *sortKey) bool {
	for i, o := range q.OrderBy {
		if a.has[i] != b.has[i] {
			return a.has[i]
		}
		if a.vals[i] != b.vals[i] {
			if o.Desc {
				return a.vals[i] > b.vals[i]
			}
			return a.vals[i] < b.vals[i]
		}
	}
	if a.ns != b.ns {
		return a.ns < b.ns
	}
	if a.nm != b.nm {
		return a.nm < b.nm
	}
	return a.res < b.res // objects of several kinds may share a name
}

// sortedPairs returns the live pair ids of key in value order. Callers hold mu (read).
func (qi *queryIndex) sortedPairs(key string) []uint32 {
	kid, ok := qi.keyIDs[key]
	if !ok {
		return nil
	}
	qi.sortMu.Lock()
	defer qi.sortMu.Unlock()
	if s, ok := qi.sorted[kid]; ok {
		return s
	}
	s := make([]uint32, 0, len(qi.keys[kid].pairs))
	for _, pid := range qi.keys[kid].pairs {
		if qi.pairs[pid].one != noObject {
			s = append(s, pid)
		}
	}
	sort.Slice(s, func(i, j int) bool { return qi.value(s[i]) < qi.value(s[j]) })
	qi.sorted[kid] = s
	return s
}

// page returns the keys of the matching objects in order, after Offset, at most Limit
// (all if Limit is 0), and whether more follow. Callers hold mu.
func (qi *queryIndex) page(q Query, m *roaring.Bitmap) ([]objKey, bool) {
	n := int(m.GetCardinality())
	want := n - q.Offset
	if q.Limit > 0 && q.Limit < want {
		want = q.Limit
	}
	if want <= 0 {
		return nil, false
	}
	top := q.Offset + want
	fields := qi.orderFields(q)
	// Walking the values of the first order key misses array-item values ("true"), so it is
	// taken only when the key has none.
	if len(q.OrderBy) > 0 && top < n/4 && fields[0].items.IsEmpty() {
		return qi.pageByWalk(q, fields, m, top, want, n)
	}
	var keys []sortKey
	if top < n/4 {
		// A bounded max-heap keeps the first top objects without sorting every match.
		h := &keyHeap{q: q}
		it := m.Iterator()
		for it.HasNext() {
			k := qi.sortKeyOf(fields, it.Next())
			if h.Len() < top {
				heap.Push(h, k)
			} else if lessKey(q, &k, &h.keys[0]) {
				h.keys[0] = k
				heap.Fix(h, 0)
			}
		}
		keys = h.keys
	} else {
		keys = make([]sortKey, 0, n)
		it := m.Iterator()
		for it.HasNext() {
			keys = append(keys, qi.sortKeyOf(fields, it.Next()))
		}
	}
	sort.Slice(keys, func(i, j int) bool { return lessKey(q, &keys[i], &keys[j]) })
	return qi.window(keys, q.Offset, want, n)
}

// pageByWalk answers an ordered page by walking the first order key's values in order and
// taking the matches of each value, sorting only within the value groups it needs, instead
// of computing a sort key for every match.
func (qi *queryIndex) pageByWalk(q Query, fields []orderField, m *roaring.Bitmap, top, want, n int) ([]objKey, bool) {
	o := q.OrderBy[0]
	pids := qi.sortedPairs(o.Key)
	var keys []sortKey
	seen := roaring.New()
	take := func(group *roaring.Bitmap) {
		group.AndNot(seen)
		if group.IsEmpty() {
			return
		}
		seen.Or(group)
		gk := make([]sortKey, 0, group.GetCardinality())
		it := group.Iterator()
		for it.HasNext() {
			gk = append(gk, qi.sortKeyOf(fields, it.Next()))
		}
		sort.Slice(gk, func(i, j int) bool { return lessKey(q, &gk[i], &gk[j]) })
		keys = append(keys, gk...)
	}
	for i := range pids {
		if len(keys) >= top {
			break
		}
		pid := pids[i]
		if o.Desc {
			pid = pids[len(pids)-1-i]
		}
		if qi.pairs[pid].one == noObject || qi.andCardinality(pid, m) == 0 {
			continue
		}
		take(roaring.And(qi.objects(pid), m))
	}
	if len(keys) < top {
		// Objects without the field come last.
		rest := m.Clone()
		rest.AndNot(qi.fieldBitmap(o.Key, nil))
		take(rest)
	}
	return qi.window(keys, q.Offset, want, n)
}

// window cuts [offset, offset+want) out of ordered keys; more says whether matches follow.
func (qi *queryIndex) window(keys []sortKey, offset, want, n int) ([]objKey, bool) {
	if offset < len(keys) {
		keys = keys[offset:]
	} else {
		keys = nil
	}
	if len(keys) > want {
		keys = keys[:want]
	}
	out := make([]objKey, len(keys))
	for i, k := range keys {
		out[i] = qi.objs[k.id].key
	}
	return out, offset+len(out) < n
}

// keyHeap is a max-heap of sort keys (the root is the last of the kept ones).
type keyHeap struct {
	keys []sortKey
	q    Query
}

func (h *keyHeap) Len() int           { return len(h.keys) }
func (h *keyHeap) Less(i, j int) bool { return lessKey(h.q, &h.keys[j], &h.keys[i]) }
func (h *keyHeap) Swap(i, j int)      { h.keys[i], h.keys[j] = h.keys[j], h.keys[i] }
func (h *keyHeap) Push(x any)         { h.keys = append(h.keys, x.(sortKey)) }
func (h *keyHeap) Pop() any {
	x := h.keys[len(h.keys)-1]
	h.keys = h.keys[:len(h.keys)-1]
	return x
}

// facets counts the matches per original value of key. Callers hold mu.
func (qi *queryIndex) facets(m *roaring.Bitmap, key string) []FacetCount {
	counts := map[string]int64{}
	if kid, ok := qi.keyIDs[key]; ok {
		for _, pid := range qi.keys[kid].pairs {
			if c := qi.andCardinality(pid, m); c > 0 {
				orig := qi.original(pid)
				if _, seen := counts[orig]; !seen {
					orig = strings.Clone(orig) // out of the arena
				}
				counts[orig] += int64(c)
			}
		}
	}
	if c := qi.itemBitmap(key).AndCardinality(m); c > 0 {
		counts["true"] += int64(c)
	}
	out := make([]FacetCount, 0, len(counts))
	for v, c := range counts {
		out = append(out, FacetCount{Value: v, Count: c})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Value < out[j].Value })
	return out
}
