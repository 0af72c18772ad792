package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/paved-dev/paved/api"
	"github.com/paved-dev/paved/internal/kinds"
)

// Event is one change delivered by Watch. Object is the watcher's own copy.
// An event of Type api.EventError carries Err and is the last one before the channel closes.
type Event struct {
	Type   string
	Object *api.Object
	// Resource is the object's storage resource ("group/plural").
	Resource string
	Revision int64
	Err      error
}

// WatchOptions select what a watch delivers.
type WatchOptions struct {
	// Kind limits the watch to one kind; nil watches every kind.
	Kind *kinds.Kind
	// Namespace limits a namespaced kind to one namespace.
	Namespace     string
	LabelSelector string
	// ResourceVersion starts the watch after this revision (a list's resourceVersion; "0"
	// is what a list of an empty store returns); empty starts from now.
	ResourceVersion string
}

// Watch delivers every write after opts.ResourceVersion that matches opts, exactly once
// and in revision order, until ctx ends. If the revision has been compacted away the
// first event is an error with reason Gone: list again and watch from the new revision.
func (s *Store) Watch(ctx context.Context, opts WatchOptions) (<-chan Event, error) {
	reqs, err := ParseLabelSelector(opts.LabelSelector)
	if err != nil {
		return nil, err
	}
	var start int64
	if opts.ResourceVersion != "" {
		start, err = strconv.ParseInt(opts.ResourceVersion, 10, 64)
		if err != nil || start < 0 {
			return nil, api.NewBadRequest("invalid resourceVersion %q: it must be a revision from a list or an object", trunc(opts.ResourceVersion))
		}
	} else {
		start, _, err = s.be.Revision(ctx)
		if err != nil {
			return nil, fmt.Errorf("watch: read revision: %w", err)
		}
	}
	_, compacted, err := s.be.Revision(ctx)
	if err != nil {
		return nil, fmt.Errorf("watch: read revision: %w", err)
	}
	if start < compacted {
		return nil, api.NewError(api.ReasonGone, "resourceVersion %d is too old (compacted to %d): list again and watch from the list's resourceVersion", start, compacted)
	}
	f := filter{reqs: reqs}
	if opts.Kind != nil {
		f.resource = opts.Kind.Resource()
		if opts.Kind.Namespaced {
			f.namespace = opts.Namespace
		}
	}
	out := make(chan Event, 64)
	go s.hub.serve(ctx, start, f, out)
	return out, nil
}

type filter struct {
	resource  string
	namespace string
	reqs      []LabelRequirement
}

func (f *filter) match(e *entry) bool {
	if f.resource != "" && e.resource != f.resource {
		return false
	}
	if f.namespace != "" && e.namespace != f.namespace {
		return false
	}
	return len(f.reqs) == 0 || MatchLabels(f.reqs, e.obj.Metadata.Labels)
}

// entry is one decoded log entry, shared read-only between watchers.
type entry struct {
	rev       int64
	typ       string
	resource  string
	namespace string
	obj       *api.Object
}

// hub tails the backend's event log into a ring of recent entries and serves watchers from
// it. Watchers that fall behind the ring read the log from the backend directly, so a slow
// watcher never blocks the others and never loses an event.
type hub struct {
	be  Backend
	log *slog.Logger
	cap int

	mu sync.Mutex
	// ring holds every entry with base < rev <= last, in order.
	ring    []*entry
	base    int64
	last    int64
	started bool
	wake    chan struct{} // closed and replaced whenever last moves
	stop    chan struct{}
	done    chan struct{}
	err     error
}

func newHub(be Backend, capacity int, log *slog.Logger) *hub {
	return &hub{be: be, log: log, cap: capacity, wake: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
}

func (h *hub) ensureStarted(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.started {
		return nil
	}
	cur, _, err := h.be.Revision(ctx)
	if err != nil {
		return err
	}
	h.base, h.last, h.started = cur, cur, true
	go h.tail()
	return nil
}

func (h *hub) close() {
	h.mu.Lock()
	started := h.started
	select {
	case <-h.stop:
	default:
		close(h.stop)
	}
	h.mu.Unlock()
	if started {
		<-h.done
	}
}

// tail reads new log entries whenever the backend signals a commit, and at least every
// second (a replica's commit may reach us only through polling).
func (h *hub) tail() {
	defer close(h.done)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	backoff := 10 * time.Millisecond
	for {
		if err := h.pull(); err != nil {
			h.log.Warn("watch: reading the event log failed; retrying", "err", err, "retry", backoff)
			select {
			case <-h.stop:
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 2*time.Second)
			continue
		}
		backoff = 10 * time.Millisecond
		select {
		case <-h.stop:
			return
		case <-h.be.Changed():
		case <-tick.C:
		}
	}
}

func (h *hub) pull() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		h.mu.Lock()
		after := h.last
		h.mu.Unlock()
		logs, err := h.be.Events(ctx, after, 2000)
		if errors.Is(err, ErrCompacted) {
			// We fell so far behind that the log was compacted under us: restart the ring
			// at the current revision; watchers behind it will get Gone from the backend.
			cur, _, rerr := h.be.Revision(ctx)
			if rerr != nil {
				return rerr
			}
			h.mu.Lock()
			h.ring, h.base, h.last = nil, cur, cur
			h.broadcast()
			h.mu.Unlock()
			continue
		}
		if err != nil {
			return err
		}
		if len(logs) == 0 {
			return nil
		}
		entries := make([]*entry, 0, len(logs))
		for _, l := range logs {
			e, err := decodeEntry(l)
			if err != nil {
				h.log.Error("watch: undecodable log entry skipped", "rev", l.Revision, "err", err)
				continue
			}
			entries = append(entries, e)
		}
		h.mu.Lock()
		h.ring = append(h.ring, entries...)
		if over := len(h.ring) - h.cap; over > 0 {
			h.base = h.ring[over-1].rev
			h.ring = append([]*entry(nil), h.ring[over:]...)
		}
		h.last = logs[len(logs)-1].Revision
		h.broadcast()
		h.mu.Unlock()
		if len(logs) < 2000 {
			return nil
		}
	}
}

func (h *hub) broadcast() {
	close(h.wake)
	h.wake = make(chan struct{})
}

func decodeEntry(l *LogEntry) (*entry, error) {
	obj, err := Decode(&Record{Resource: l.Resource, Namespace: l.Namespace, Name: l.Name, Revision: l.Revision, Value: l.Value})
	if err != nil {
		return nil, err
	}
	typ := api.EventModified
	switch l.Type {
	case OpCreate:
		typ = api.EventAdded
	case OpDelete:
		typ = api.EventDeleted
	}
	return &entry{rev: l.Revision, typ: typ, resource: l.Resource, namespace: l.Namespace, obj: obj}, nil
}

// serve feeds one watcher from cursor onwards.
func (h *hub) serve(ctx context.Context, cursor int64, f filter, out chan<- Event) {
	defer close(out)
	fail := func(err error) {
		select {
		case out <- Event{Type: api.EventError, Err: err}:
		case <-ctx.Done():
		}
	}
	if err := h.ensureStarted(ctx); err != nil {
		fail(fmt.Errorf("watch: %w", err))
		return
	}
	for {
		h.mu.Lock()
		if cursor >= h.last {
			wake := h.wake
			h.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-h.stop:
				fail(api.NewError(api.ReasonServiceUnavailable, "the store is shutting down"))
				return
			case <-wake:
			}
			continue
		}
		var batch []*entry
		if cursor >= h.base {
			i := sort.Search(len(h.ring), func(i int) bool { return h.ring[i].rev > cursor })
			j := min(i+1000, len(h.ring))
			batch = h.ring[i:j:j]
			h.mu.Unlock()
		} else {
			h.mu.Unlock()
			logs, err := h.be.Events(ctx, cursor, 1000)
			if errors.Is(err, ErrCompacted) {
				fail(api.NewError(api.ReasonGone, "resourceVersion %d is too old: list again and watch from the list's resourceVersion", cursor))
				return
			}
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				fail(fmt.Errorf("watch: read the event log: %w", err))
				return
			}
			for _, l := range logs {
				e, err := decodeEntry(l)
				if err != nil {
					continue
				}
				batch = append(batch, e)
			}
			if len(logs) > 0 && len(batch) == 0 {
				cursor = logs[len(logs)-1].Revision
				continue
			}
			if len(logs) == 0 {
				// The backend has nothing after cursor yet; the ring will catch up.
				h.mu.Lock()
				if cursor < h.base {
					cursor = h.base
				}
				h.mu.Unlock()
				continue
			}
		}
		for _, e := range batch {
			cursor = e.rev
			if !f.match(e) {
				continue
			}
			select {
			case out <- Event{Type: e.typ, Object: e.obj.DeepCopy(), Resource: e.resource, Revision: e.rev}:
			case <-ctx.Done():
				return
			}
		}
	}
}

// Compact drops log entries older than the newest keep revisions. Watches from a compacted
// revision get Gone.
func (s *Store) Compact(ctx context.Context, keep int64) error {
	cur, compacted, err := s.be.Revision(ctx)
	if err != nil {
		return err
	}
	target := cur - keep
	if target <= compacted {
		return nil
	}
	return s.be.Compact(ctx, target)
}
