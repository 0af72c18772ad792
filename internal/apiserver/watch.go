package apiserver

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/selection"

	"github.com/paved-dev/paved/api"
	"github.com/paved-dev/paved/internal/store"
)

// watchWriteTimeout bounds one event's write, so a client that stopped reading frees its
// handler instead of holding it forever.
const watchWriteTimeout = 30 * time.Second

// wireEvent is one line of a watch stream. Object is an api.Object, or an api.Status for
// an ERROR event, which api.WatchEvent cannot hold.
type wireEvent struct {
	Type   string `json:"type"`
	Object any    `json:"object"`
}

func watchRequested(r *http.Request) (bool, error) {
	v := r.URL.Query().Get("watch")
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, badRequest("watch=%q: use watch=true", v)
	}
	return b, nil
}

// serveWatch streams the changes after ?resourceVersion as JSON lines, one event each,
// flushed as it happens. It ends when the client goes, timeoutSeconds pass, the store
// stops, or the server is closed.
func (s *Server) serveWatch(w http.ResponseWriter, r *http.Request, t target) {
	setInfoWatch(r)
	q := r.URL.Query()
	match, err := fieldFilter(q.Get("fieldSelector"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if t.name != "" {
		// A watch on an object's path is a watch on that one object.
		byName := match
		match = func(o *api.Object) bool { return o.Metadata.Name == t.name && byName(o) }
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	stop := context.AfterFunc(s.ctx, cancel)
	defer stop()
	if ts := q.Get("timeoutSeconds"); ts != "" {
		n, err := strconv.ParseInt(ts, 10, 64)
		if err != nil || n < 0 {
			s.writeError(w, r, badRequest("timeoutSeconds %q must be a non-negative integer", ts))
			return
		}
		// A timeout too large for a time.Duration is no timeout at all.
		if n > 0 && n <= int64(math.MaxInt64/time.Second) {
			var c context.CancelFunc
			ctx, c = context.WithTimeout(ctx, time.Duration(n)*time.Second)
			defer c()
		}
	}

	events, err := s.store.Watch(ctx, store.WatchOptions{
		Kind:            t.kind,
		Namespace:       t.namespace,
		LabelSelector:   q.Get("labelSelector"),
		ResourceVersion: q.Get("resourceVersion"),
	})
	if err != nil && !api.IsGone(err) {
		s.writeError(w, r, err)
		return
	}

	s.metrics.watches.Inc()
	defer s.metrics.watches.Dec()
	rc := http.NewResponseController(w)
	// An http.Server WriteTimeout would end the stream that long after it began; deadlines
	// are set per event below instead, and none is left behind for the connection's next
	// request.
	defer func() { _ = rc.SetWriteDeadline(time.Time{}) }()
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-cache, no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Accel-Buffering", "no") // ask reverse proxies not to buffer the stream
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return
	}
	enc := json.NewEncoder(w)
	send := func(ev wireEvent) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(watchWriteTimeout))
		if enc.Encode(ev) != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if err != nil {
		// A watch from a compacted revision is answered the way Kubernetes clients expect:
		// an established stream whose first event is an ERROR with code 410.
		send(wireEvent{Type: api.EventError, Object: s.statusOf(r, err)})
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			if ev.Type == api.EventError {
				if ctx.Err() == nil {
					send(wireEvent{Type: api.EventError, Object: s.statusOf(r, ev.Err)})
				}
				return
			}
			if !match(ev.Object) {
				continue
			}
			if !send(wireEvent{Type: ev.Type, Object: ev.Object}) {
				return
			}
		}
	}
}

// fieldFilter turns a field selector into a predicate; like list, it supports = and == on
// metadata.name and metadata.namespace.
func fieldFilter(sel string) (func(*api.Object) bool, error) {
	all := func(*api.Object) bool { return true }
	if sel == "" {
		return all, nil
	}
	fs, err := fields.ParseSelector(sel)
	if err != nil {
		return nil, badRequest("invalid field selector %q: %v", sel, err)
	}
	var name, namespace *string
	for _, req := range fs.Requirements() {
		if req.Operator != selection.Equals && req.Operator != selection.DoubleEquals {
			return nil, badRequest("invalid field selector %q: only = and == are supported", sel)
		}
		v := req.Value
		switch req.Field {
		case "metadata.name":
			name = &v
		case "metadata.namespace":
			namespace = &v
		default:
			return nil, badRequest("invalid field selector %q: field %q is not supported (use metadata.name or metadata.namespace)", sel, req.Field)
		}
	}
	return func(o *api.Object) bool {
		return (name == nil || o.Metadata.Name == *name) && (namespace == nil || o.Metadata.Namespace == *namespace)
	}, nil
}
