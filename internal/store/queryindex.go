package store

import (
	"container/heap"
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
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
	rev     int64
	caught  chan struct{} // closed and replaced whenever rev moves
	err     error

	ids  map[objKey]uint32
	objs []objEntry // by id; deleted entries have live == false

	byResource  map[string]*roaring.Bitmap
	byNamespace map[string]*roaring.Bitmap
	byKey       map[string]*roaring.Bitmap // objects having any row for the key

	keyIDs    map[string]uint32   // index key -> key id
	keyList   []string            // by key id
	valueIDs  []map[string]uint32 // by key id: value -> pair id (the string is the pair's own)
	originals map[uint32]string   // pair id -> value as written, where it differs in case
	pairs     []pair
	postings  []posting
	keyValues map[string][]uint32 // pair ids of a key, for facets and full text
	// sorted caches keyValues[key] ordered by value, for ordered queries; an entry is
	// dropped when the key gets a new value. Guarded by sortMu (readers fill it).
	sortMu sync.Mutex
	sorted map[string][]uint32
}

type objKey struct{ resource, namespace, name string }

type objEntry struct {
	key   objKey
	pairs []uint32
	live  bool
}

// pair is one (key, value) of the index; 24 bytes, as there are millions of them.
type pair struct {
	value string
	keyID uint32
}

// posting is the set of objects having one (key, value) pair. Most pairs (uids, names,
// titles) belong to one object, so that case costs no bitmap: a bitmap is made only when a
// second object joins, which keeps 100,000 entities' index in tens of megabytes.
type posting struct {
	bm  *roaring.Bitmap
	one uint32
	has bool // one is set (only while bm is nil)
}

func (p *posting) add(id uint32) {
	switch {
	case p.bm != nil:
		p.bm.Add(id)
	case !p.has:
		p.one, p.has = id, true
	case p.one != id:
		p.bm = roaring.BitmapOf(p.one, id)
		p.has = false
	}
}

func (p *posting) remove(id uint32) {
	if p.bm != nil {
		p.bm.Remove(id)
	} else if p.has && p.one == id {
		p.has = false
	}
}

func (p *posting) contains(id uint32) bool {
	if p.bm != nil {
		return p.bm.Contains(id)
	}
	return p.has && p.one == id
}

func (p *posting) andCardinality(m *roaring.Bitmap) uint64 {
	if p.bm != nil {
		return p.bm.AndCardinality(m)
	}
	if p.has && m.Contains(p.one) {
		return 1
	}
	return 0
}

// bitmap returns the set as a bitmap (a fresh one for the single-object case; do not
// modify the result).
func (p *posting) bitmap() *roaring.Bitmap {
	if p.bm != nil {
		return p.bm
	}
	if p.has {
		return roaring.BitmapOf(p.one)
	}
	return roaring.New()
}

func newQueryIndex(s *Store) *queryIndex {
	return &queryIndex{s: s, caught: make(chan struct{}), ids: map[objKey]uint32{},
		byResource: map[string]*roaring.Bitmap{}, byNamespace: map[string]*roaring.Bitmap{}, byKey: map[string]*roaring.Bitmap{},
		keyIDs: map[string]uint32{}, originals: map[uint32]string{}, keyValues: map[string][]uint32{}, sorted: map[string][]uint32{}}
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
			qi.mu.Lock()
			for _, r := range recs {
				obj, err := Decode(r)
				if err != nil {
					continue
				}
				qi.put(objKey{res, r.Namespace, r.Name}, k.Index(obj))
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
	qi.started, qi.rev, qi.err = false, 0, nil
	qi.ids, qi.objs = fresh.ids, nil
	qi.byResource, qi.byNamespace, qi.byKey = fresh.byResource, fresh.byNamespace, fresh.byKey
	qi.keyIDs, qi.keyList, qi.valueIDs, qi.originals = fresh.keyIDs, nil, nil, fresh.originals
	qi.pairs, qi.postings, qi.keyValues = nil, nil, fresh.keyValues
	qi.sortMu.Lock()
	qi.sorted = map[string][]uint32{}
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

// put sets an object's rows (replacing earlier ones). Callers hold mu.
func (qi *queryIndex) put(key objKey, rows []kinds.IndexRow) {
	id, ok := qi.ids[key]
	if ok {
		qi.unlink(id)
	} else {
		id = uint32(len(qi.objs))
		qi.objs = append(qi.objs, objEntry{key: key})
		qi.ids[key] = id
	}
	e := &qi.objs[id]
	e.live = true
	e.pairs = e.pairs[:0]
	bitmapOf(qi.byResource, key.resource).Add(id)
	bitmapOf(qi.byNamespace, key.namespace).Add(id)
	for _, r := range rows {
		kid, ok := qi.keyIDs[r.Key]
		if !ok {
			kid = uint32(len(qi.keyList))
			k := strings.Clone(r.Key)
			qi.keyIDs[k] = kid
			qi.keyList = append(qi.keyList, k)
			qi.valueIDs = append(qi.valueIDs, map[string]uint32{})
		}
		k := qi.keyList[kid]
		pid, ok := qi.valueIDs[kid][r.Value]
		if !ok {
			pid = uint32(len(qi.pairs))
			v := strings.Clone(r.Value) // do not keep the caller's row buffers alive
			qi.valueIDs[kid][v] = pid
			if r.Original != r.Value {
				qi.originals[pid] = strings.Clone(r.Original)
			}
			qi.pairs = append(qi.pairs, pair{value: v, keyID: kid})
			qi.postings = append(qi.postings, posting{})
			qi.keyValues[k] = append(qi.keyValues[k], pid)
			qi.sortMu.Lock()
			delete(qi.sorted, k)
			qi.sortMu.Unlock()
		}
		if qi.postings[pid].contains(id) {
			continue
		}
		qi.postings[pid].add(id)
		bitmapOf(qi.byKey, k).Add(id)
		e.pairs = append(e.pairs, pid)
	}
}

func (qi *queryIndex) remove(key objKey) {
	id, ok := qi.ids[key]
	if !ok {
		return
	}
	qi.unlink(id)
	qi.objs[id].live = false
	qi.objs[id].pairs = nil
	delete(qi.ids, key)
}

// unlink takes an object out of every bitmap (its id stays reserved).
func (qi *queryIndex) unlink(id uint32) {
	e := &qi.objs[id]
	if b := qi.byResource[e.key.resource]; b != nil {
		b.Remove(id)
	}
	if b := qi.byNamespace[e.key.namespace]; b != nil {
		b.Remove(id)
	}
	for _, pid := range e.pairs {
		qi.postings[pid].remove(id)
		if b := qi.byKey[qi.keyList[qi.pairs[pid].keyID]]; b != nil {
			b.Remove(id)
		}
	}
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
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		qi.mu.RLock()
		rev, caught, started := qi.rev, qi.caught, qi.started
		qi.mu.RUnlock()
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
		case <-deadline.C:
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
		term := strings.ToLower(q.FullText.Term)
		keys := q.FullText.Keys
		if len(keys) == 0 {
			for k := range qi.keyValues {
				keys = append(keys, k)
			}
		}
		// Most matching values belong to one object: add those ids directly instead of
		// merging thousands of one-element bitmaps.
		hits := roaring.New()
		var ids []uint32
		for _, k := range keys {
			for _, pid := range qi.keyValues[strings.ToLower(k)] {
				if !strings.Contains(qi.pairs[pid].value, term) {
					continue
				}
				if p := &qi.postings[pid]; p.bm == nil {
					if p.has {
						ids = append(ids, p.one)
					}
				} else {
					hits.Or(p.bm)
				}
			}
		}
		hits.AddMany(ids)
		out.And(hits)
	}
	return out
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
	if len(values) == 0 {
		return orEmpty(qi.byKey[key])
	}
	var vs []*roaring.Bitmap
	for _, v := range values {
		if pid, ok := qi.pairID(key, v); ok {
			vs = append(vs, qi.postings[pid].bitmap())
		}
	}
	return roaring.FastOr(vs...)
}

func orEmpty(b *roaring.Bitmap) *roaring.Bitmap {
	if b == nil {
		return roaring.New()
	}
	return b
}

// pairID finds the pair of (key, value).
func (qi *queryIndex) pairID(key, value string) (uint32, bool) {
	kid, ok := qi.keyIDs[key]
	if !ok {
		return 0, false
	}
	pid, ok := qi.valueIDs[kid][value]
	return pid, ok
}

// fieldValue is the smallest value of key among an object's rows, or "" if it has none.
func (qi *queryIndex) fieldValue(id uint32, key string) (string, bool) {
	best, found := "", false
	kid, ok := qi.keyIDs[key]
	if !ok {
		return "", false
	}
	for _, pid := range qi.objs[id].pairs {
		p := qi.pairs[pid]
		if p.keyID == kid && (!found || p.value < best) {
			best, found = p.value, true
		}
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

func (qi *queryIndex) sortKeyOf(q Query, id uint32) sortKey {
	k := sortKey{id: id, ns: qi.objs[id].key.namespace, nm: qi.objs[id].key.name, res: qi.objs[id].key.resource}
	if len(q.OrderBy) > 0 {
		k.vals = make([]string, len(q.OrderBy))
		k.has = make([]bool, len(q.OrderBy))
		for i, o := range q.OrderBy {
			k.vals[i], k.has[i] = qi.fieldValue(id, o.Key)
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

// sortedPairs returns the pair ids of key in value order. Callers hold mu (read).
func (qi *queryIndex) sortedPairs(key string) []uint32 {
	qi.sortMu.Lock()
	defer qi.sortMu.Unlock()
	if s, ok := qi.sorted[key]; ok {
		return s
	}
	s := append([]uint32(nil), qi.keyValues[key]...)
	sort.Slice(s, func(i, j int) bool { return qi.pairs[s[i]].value < qi.pairs[s[j]].value })
	qi.sorted[key] = s
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
	if len(q.OrderBy) > 0 && top < n/4 {
		return qi.pageByWalk(q, m, top, want, n)
	}
	var keys []sortKey
	if top < n/4 {
		// A bounded max-heap keeps the first top objects without sorting every match.
		h := &keyHeap{q: q}
		it := m.Iterator()
		for it.HasNext() {
			k := qi.sortKeyOf(q, it.Next())
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
			keys = append(keys, qi.sortKeyOf(q, it.Next()))
		}
	}
	sort.Slice(keys, func(i, j int) bool { return lessKey(q, &keys[i], &keys[j]) })
	return qi.window(keys, q.Offset, want, n)
}

// pageByWalk answers an ordered page by walking the first order key's values in order and
// taking the matches of each value, sorting only within the value groups it needs, instead
// of computing a sort key for every match.
func (qi *queryIndex) pageByWalk(q Query, m *roaring.Bitmap, top, want, n int) ([]objKey, bool) {
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
			gk = append(gk, qi.sortKeyOf(q, it.Next()))
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
		if qi.postings[pid].andCardinality(m) == 0 {
			continue
		}
		take(roaring.And(qi.postings[pid].bitmap(), m))
	}
	if len(keys) < top {
		// Objects without the field come last.
		rest := m.Clone()
		rest.AndNot(orEmpty(qi.byKey[o.Key]))
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
	for _, pid := range qi.keyValues[key] {
		if c := qi.postings[pid].andCardinality(m); c > 0 {
			orig, ok := qi.originals[pid]
			if !ok {
				orig = qi.pairs[pid].value
			}
			counts[orig] += int64(c)
		}
	}
	out := make([]FacetCount, 0, len(counts))
	for v, c := range counts {
		out = append(out, FacetCount{Value: v, Count: c})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Value < out[j].Value })
	return out
}
