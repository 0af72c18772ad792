package store

import (
	"hash/maphash"
	"unsafe"

	"github.com/RoaringBitmap/roaring/v2"
)

// The query index holds about a million (key, value) pairs at 100,000 catalog entities, most
// of them unique to one object (uids, names, descriptions, links). This file keeps them
// compact: value bytes in an arena of large chunks (no string header or allocation per
// value, and nothing for the garbage collector to scan), and a hand-made open-addressing
// hash table of 4-byte slots from (key, value) to pair id instead of a map per key.

const (
	arenaChunkBits = 20 // 1 MiB chunks
	arenaChunk     = 1 << arenaChunkBits
	// maxIndexedValue bounds one indexed value; a longer one is indexed as an empty value
	// (the object still has the key), as Backstage indexes over-long values as null.
	maxIndexedValue = 64 << 10
)

// arena stores strings back to back in 1 MiB chunks; a string is its offset and length.
// Strings are never changed once written; dropping a value leaves garbage that compaction
// (queryIndex.compact) reclaims by copying the live values into a new arena.
type arena struct {
	chunks [][]byte
	size   int // bytes written
}

func (a *arena) add(s string) uint32 {
	if len(s) == 0 {
		return 0
	}
	n := len(a.chunks)
	if n == 0 || len(a.chunks[n-1])+len(s) > arenaChunk {
		a.chunks = append(a.chunks, make([]byte, 0, arenaChunk))
		n++
	}
	c := a.chunks[n-1]
	off := uint32(n-1)<<arenaChunkBits | uint32(len(c))
	a.chunks[n-1] = append(c, s...)
	a.size += len(s)
	return off
}

// get returns a view of a stored string; it stays valid (and unchanged) while the caller
// holds the index's lock. Copy it before handing it out.
func (a *arena) get(off, n uint32) string {
	if n == 0 {
		return ""
	}
	c := a.chunks[off>>arenaChunkBits]
	return unsafe.String(&c[off&(arenaChunk-1)], int(n))
}

// What pair.one holds besides an object id (object ids stay below setBit).
const (
	noObject = ^uint32(0)      // the pair has no objects: it is dead (not in the table)
	setBit   = uint32(1) << 31 // the pair's objects are queryIndex.sets[one &^ setBit]
	sameCase = ^uint32(0)      // pair.orig: the original value equals the value
	// smallSet is the most objects kept as a sorted slice; a bigger set is a bitmap. Most
	// shared values (an owner, a system, a dependency) have a few objects, where a slice
	// costs a fraction of a roaring bitmap.
	smallSet = 32
)

// objSet is the set of objects of a pair that has more than one: a small sorted slice or a
// bitmap.
type objSet struct {
	small []uint32
	bm    *roaring.Bitmap
}

// pair is one (key, value) of the index and the objects having it: 24 bytes, no pointers.
type pair struct {
	key         uint32 // key id
	off, n      uint32 // value (lower-cased) in the arena
	orig, origN uint32 // value as written, or orig == sameCase
	one         uint32 // the only object having it, noObject, or setBit | set index
}

// pairTable maps (key id, value) to a pair id by open addressing with linear probing.
// Slots hold pair id + 1; 0 is empty and tomb a deleted slot.
type pairTable struct {
	slots []uint32
	used  int // live and tombstone slots
	live  int
	seed  maphash.Seed
}

const tomb = ^uint32(0)

func newPairTable() pairTable { return pairTable{seed: maphash.MakeSeed()} }

func (t *pairTable) hash(key uint32, value string) uint64 {
	return maphash.String(t.seed, value) ^ (uint64(key)+1)*0x9E3779B97F4A7C15
}

// find returns the pair id of (key, value).
func (t *pairTable) find(pairs []pair, a *arena, key uint32, value string) (uint32, bool) {
	if len(t.slots) == 0 {
		return 0, false
	}
	mask := uint64(len(t.slots) - 1)
	for i := t.hash(key, value) & mask; ; i = (i + 1) & mask {
		s := t.slots[i]
		if s == 0 {
			return 0, false
		}
		if s != tomb {
			p := &pairs[s-1]
			if p.key == key && a.get(p.off, p.n) == value {
				return s - 1, true
			}
		}
	}
}

// insert adds pair id pid (not yet in the table), growing the table as needed.
func (t *pairTable) insert(pairs []pair, a *arena, pid uint32) {
	if (t.used+1)*4 > len(t.slots)*3 {
		t.rehash(pairs, a, t.live+1)
	}
	p := &pairs[pid]
	mask := uint64(len(t.slots) - 1)
	for i := t.hash(p.key, a.get(p.off, p.n)) & mask; ; i = (i + 1) & mask {
		s := t.slots[i]
		if s == 0 || s == tomb {
			if s == 0 {
				t.used++
			}
			t.slots[i] = pid + 1
			t.live++
			return
		}
	}
}

// remove takes pair id pid out of the table.
func (t *pairTable) remove(pairs []pair, a *arena, pid uint32) {
	if len(t.slots) == 0 {
		return
	}
	p := &pairs[pid]
	mask := uint64(len(t.slots) - 1)
	for i := t.hash(p.key, a.get(p.off, p.n)) & mask; ; i = (i + 1) & mask {
		switch t.slots[i] {
		case 0:
			return
		case pid + 1:
			t.slots[i] = tomb
			t.live--
			return
		}
	}
}

// rehash rebuilds the table for at least n live pairs (load at most one half after it),
// dropping tombstones.
func (t *pairTable) rehash(pairs []pair, a *arena, n int) {
	size := 1024
	for size < n*2 {
		size *= 2
	}
	old := t.slots
	t.slots = make([]uint32, size)
	t.used, t.live = 0, 0
	mask := uint64(size - 1)
	for _, s := range old {
		if s == 0 || s == tomb {
			continue
		}
		p := &pairs[s-1]
		i := t.hash(p.key, a.get(p.off, p.n)) & mask
		for t.slots[i] != 0 {
			i = (i + 1) & mask
		}
		t.slots[i] = s
		t.used++
		t.live++
	}
}
