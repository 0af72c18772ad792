package catalog

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/paved-dev/paved/api"
	"github.com/paved-dev/paved/internal/catalog/entity"
	"github.com/paved-dev/paved/internal/controller"
	"github.com/paved-dev/paved/internal/store"
)

// Stitching. Every entity stores the relations its own fields imply (ownedBy, partOf,
// dependsOn, ...) and, as Backstage's stitcher makes them, the inverse of every relation
// another entity points at it (ownerOf, hasPart, dependencyOf, ...). The stitcher keeps an
// in-memory index of who points at whom, fed by the store's watch; when an entity's
// desired relations (own plus inverses) differ from those it is stored with, its key is
// queued and a worker writes them. Deciding needs no store read: each entity's stored and
// desired relation sets are kept as order-independent hashes, updated in O(1) per edge,
// so an ingestion whose writer already got the relations right costs the stitcher no
// write at all.

// stitcher is the controller that writes the relations the index says are missing. Its
// index is fed by one watch of every kind, so it sees the changes of all kinds in the
// store's revision order and its decisions are those of one consistent moment; a
// reconcile waits until the index has caught up with the entity it reads.
type stitcher struct {
	c *Catalog
	// window is the least time between two writes of one entity: a burst of changes (an
	// ingestion adding components to a group) becomes one write per window, not one each.
	window time.Duration

	mu        sync.Mutex
	idx       *relIndex
	feedCtx   context.Context
	enq       func(controller.Request) // the running controller's queue
	progress  int64                    // the index reflects every write up to this revision; -1: not listed yet
	advanced  chan struct{}            // closed (and replaced) whenever progress moves
	pending   map[string]struct{}
	inflight  int
	lastEvent time.Time
	lastWrite time.Time
	writes    int
}

func newStitcher(c *Catalog) *stitcher {
	return &stitcher{c: c, idx: newRelIndex(), window: 500 * time.Millisecond, progress: -1,
		pending: map[string]struct{}{}, advanced: make(chan struct{})}
}

func (s *stitcher) controller() (*controller.Controller, error) {
	return controller.New(s.c.store, controller.ReconcilerFunc(s.reconcile), controller.Options{
		Name: "catalog-stitcher",
		// The runtime calls Sweep when the controller starts (and at every resync); the
		// first call of a run starts the stitcher's own feed, bound to that run.
		Sweep:   s.start,
		Workers: 4,
		Logger:  s.c.log,
	})
}

func (s *stitcher) start(ctx context.Context, enqueue func(controller.Request)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.feedCtx != nil && s.feedCtx.Err() == nil {
		return nil
	}
	s.feedCtx = ctx
	s.enq = enqueue
	// Whatever an earlier run (an earlier leadership) knew is stale: wait for the new
	// feed's listing, even of an empty store.
	s.progress = -1
	go s.feed(ctx, enqueue)
	return nil
}

// running reports whether the stitcher runs in this process (it is the leader's).
func (s *stitcher) running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.feedCtx != nil && s.feedCtx.Err() == nil
}

// catchUp waits, if the stitcher runs here, until its index reflects every write
// committed before the call, so that what a run computes from it (the inverse relations
// of the rest of the catalog) is complete. It gives up after a minute, or if the store
// cannot be read: the stitcher corrects what a run then gets wrong.
func (s *stitcher) catchUp(ctx context.Context) {
	if !s.running() {
		return
	}
	rev, err := s.c.store.Revision(ctx)
	if err != nil {
		return
	}
	if !s.waitProgress(ctx, rev, time.Minute) && ctx.Err() == nil {
		s.c.log.Warn("catalog stitcher: the relation index is behind the store; relations written now may be corrected later", "revision", rev)
	}
}

// feed lists every entity, then watches every kind from the revision the listing started
// at; when the watch fails it starts over with a fresh index. When the stitcher stops (the
// replica no longer leads) the index goes: it would only go stale, and a replica that does
// not lead does not use it.
func (s *stitcher) feed(ctx context.Context, enqueue func(controller.Request)) {
	defer func() {
		s.mu.Lock()
		if s.feedCtx == ctx { // no later run has started meanwhile
			s.idx, s.progress = newRelIndex(), -1
		}
		s.mu.Unlock()
	}()
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := s.listAndWatch(ctx, enqueue)
		if ctx.Err() != nil {
			return
		}
		if api.IsGone(err) {
			s.c.log.Info("catalog stitcher: watch expired; reading every entity again")
			backoff = 100 * time.Millisecond
			continue
		}
		s.c.log.Warn("catalog stitcher: watch failed; reading every entity again", "err", err, "retry", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

func (s *stitcher) listAndWatch(ctx context.Context, enqueue func(controller.Request)) error {
	rev, err := s.c.store.Revision(ctx)
	if err != nil {
		return err
	}
	// A fresh index: entities deleted while no watch ran simply are not in it, and their
	// targets come out stale below.
	fresh := newRelIndex()
	for _, k := range s.c.resourceKinds {
		opts := store.ListOptions{Limit: 500}
		for {
			l, err := s.c.store.List(ctx, k, opts)
			if err != nil {
				return err
			}
			for i := range l.Items {
				o := &l.Items[i]
				fresh.apply(canonicalRef(o), s.c.outgoingOf(o), o, false)
			}
			if l.Metadata.Continue == "" {
				break
			}
			opts.Continue = l.Metadata.Continue
		}
	}
	ch, err := s.c.store.Watch(ctx, store.WatchOptions{ResourceVersion: strconv.FormatInt(rev, 10)})
	if err != nil {
		return err
	}
	stale := fresh.staleAll()
	// Keep the write times: they pace the writes of busy entities.
	fresh.keepPaceOf(s.index())
	s.mu.Lock()
	s.idx = fresh
	s.setProgressLocked(rev)
	s.mu.Unlock()
	s.enqueue(stale, enqueue)
	for ev := range ch {
		if ev.Type == api.EventError {
			return ev.Err
		}
		if ev.Object != nil {
			if k, err := s.c.store.KindOf(ev.Object); err == nil && k.Index != nil {
				s.enqueue(s.mapEvent(ev), enqueue)
			}
		}
		s.mu.Lock()
		s.setProgressLocked(ev.Revision)
		s.mu.Unlock()
	}
	return ctx.Err()
}

func (s *stitcher) setProgressLocked(rev int64) {
	if rev > s.progress {
		s.progress = rev
		close(s.advanced)
		s.advanced = make(chan struct{})
	}
}

// waitProgress waits, at most for timeout, until the index reflects every write up to rev.
func (s *stitcher) waitProgress(ctx context.Context, rev int64, timeout time.Duration) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		done, ch := s.progress >= rev, s.advanced
		s.mu.Unlock()
		if done {
			return true
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		case <-deadline.C:
			return false
		}
	}
}

func (s *stitcher) enqueue(refs []string, enqueue func(controller.Request)) {
	if len(refs) == 0 {
		return
	}
	s.mu.Lock()
	var reqs []controller.Request
	for _, t := range refs {
		if req, ok := s.request(t); ok {
			s.pending[t] = struct{}{}
			reqs = append(reqs, req)
		}
	}
	s.mu.Unlock()
	for _, r := range reqs {
		enqueue(r)
	}
}

// request turns a canonical ref into the stitcher's queue key.
func (s *stitcher) request(ref string) (controller.Request, bool) {
	kind, rest, ok := strings.Cut(ref, ":")
	if !ok {
		return controller.Request{}, false
	}
	ns, name, ok := strings.Cut(rest, "/")
	if !ok {
		return controller.Request{}, false
	}
	k, ok := s.c.byLowerKind[kind]
	if !ok {
		return controller.Request{}, false
	}
	return controller.Request{APIVersion: k.APIVersion(), Kind: k.Kind, Namespace: ns, Name: name}, true
}

func revOf(o *api.Object) int64 {
	rv, _ := strconv.ParseInt(o.Metadata.ResourceVersion, 10, 64)
	return rv
}

// mapEvent updates the index from a change to an entity and returns every entity whose
// stored relations no longer match.
func (s *stitcher) mapEvent(ev store.Event) []string {
	obj := ev.Object
	var own []api.Relation
	deleted := ev.Type == api.EventDeleted
	if !deleted {
		own = s.c.outgoingOf(obj)
	}
	s.mu.Lock()
	s.lastEvent = time.Now()
	x := s.idx
	s.mu.Unlock()
	return x.apply(canonicalRef(obj), own, obj, deleted)
}

func (s *stitcher) index() *relIndex {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.idx
}

// reconcile writes an entity's desired relations if they differ from the stored ones.
func (s *stitcher) reconcile(ctx context.Context, req controller.Request) (controller.Result, error) {
	key := strings.ToLower(req.Kind) + ":" + req.Namespace + "/" + req.Name
	s.mu.Lock()
	delete(s.pending, key)
	s.inflight++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inflight--
		s.mu.Unlock()
	}()
	requeue := func(d time.Duration) (controller.Result, error) {
		s.mu.Lock()
		s.pending[key] = struct{}{}
		s.mu.Unlock()
		return controller.Result{RequeueAfter: d}, nil
	}
	k, ok := s.c.store.Kinds().ByGVK(req.APIVersion, req.Kind)
	if !ok {
		return controller.Result{}, nil
	}
	for attempt := 0; ; attempt++ {
		obj, err := s.c.store.Get(ctx, k, req.Namespace, req.Name)
		if api.IsNotFound(err) {
			return controller.Result{}, nil
		}
		if err != nil {
			return controller.Result{}, err
		}
		// Decide only once the index has seen everything up to the entity as read: an
		// index behind the store would undo relations it does not know of yet.
		if !s.waitProgress(ctx, revOf(obj), 5*time.Second) {
			if ctx.Err() != nil {
				return controller.Result{}, ctx.Err()
			}
			return requeue(time.Second)
		}
		ref := canonicalRef(obj)
		x := s.index()
		if ctx.Err() != nil {
			// Stopping: the index may already be the empty one that replaces it.
			return controller.Result{}, ctx.Err()
		}
		if wait := s.window - time.Since(x.lastPut(ref)); wait > 0 {
			return requeue(wait)
		}
		want := x.desired(ref, s.c.outgoingOf(obj))
		if slices.Equal(want, sortRelations(slices.Clone(obj.Relations))) {
			return controller.Result{}, nil
		}
		obj.Relations = want
		_, err = s.c.store.Update(ctx, obj)
		if api.IsConflict(err) && attempt < 5 {
			continue // written meanwhile: decide again on what is stored now
		}
		if api.IsNotFound(err) {
			return controller.Result{}, nil
		}
		if err != nil {
			return controller.Result{}, err
		}
		now := time.Now()
		x.setLastPut(ref, now)
		s.mu.Lock()
		s.lastWrite = now
		s.writes++
		s.mu.Unlock()
		return controller.Result{}, nil
	}
}

// waitIdle blocks until the stitcher has nothing queued or running and no event came for
// quiet; it returns the time of its last write. For tests and benchmarks.
func (s *stitcher) waitIdle(ctx context.Context, quiet time.Duration) (time.Time, error) {
	for {
		s.mu.Lock()
		idle := len(s.pending) == 0 && s.inflight == 0 && time.Since(s.lastEvent) >= quiet
		last := s.lastWrite
		s.mu.Unlock()
		if idle {
			return last, nil
		}
		select {
		case <-ctx.Done():
			return time.Time{}, errors.Join(ctx.Err(), errors.New("the stitcher did not become idle"))
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// announce tells the index, before a run writes them, the own relations of the entities
// it is about to write, as if they were stored already: the inverses the run writes on
// their targets are then expected, not undone while the writes are on their way. It
// queues the entities outside the run whose relations this changes. It first lets the
// index catch up with the store, so that the run's entities get the inverse relations
// of everything stored before it.
//
// Only the process that runs the stitcher (the leader) writes what runs compute from
// its index: on another replica the index is not fed, and AddLocation and Refresh hand
// their runs to the leader (see Catalog.handOff).
func (s *stitcher) announce(ctx context.Context, own map[string][]api.Relation) {
	s.catchUp(ctx)
	s.enqueueNow(s.index().announce(own))
}

// retract corrects the index for entities a run announced but could not write: it
// records them as they are stored now (or as absent).
func (s *stitcher) retract(ctx context.Context, refs []string) {
	var stale []string
	x := s.index()
	for _, ref := range refs {
		var obj *api.Object
		if r, err := entity.ParseRef(ref, entity.RefDefaults{}); err == nil {
			obj, _ = s.c.getEntity(ctx, r)
		}
		if obj != nil {
			stale = append(stale, x.apply(ref, s.c.outgoingOf(obj), obj, false)...)
		} else {
			stale = append(stale, x.unannounce(ref)...)
		}
	}
	s.enqueueNow(stale)
}

// enqueueNow queues refs on the running stitcher, if any.
func (s *stitcher) enqueueNow(refs []string) {
	s.mu.Lock()
	enq := s.enq
	running := s.feedCtx != nil && s.feedCtx.Err() == nil
	s.mu.Unlock()
	if running {
		s.enqueue(refs, enq)
	}
}
