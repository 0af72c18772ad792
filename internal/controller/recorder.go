package controller

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/paved-dev/paved/api"
	"github.com/paved-dev/paved/internal/kinds"
	"github.com/paved-dev/paved/internal/store"
)

// Event types.
const (
	EventNormal  = "Normal"
	EventWarning = "Warning"
)

// EventSpec is the spec of an Event object (kind Event, paved.dev/v1).
type EventSpec struct {
	Type           string          `json:"type"`
	Reason         string          `json:"reason"`
	Message        string          `json:"message,omitempty"`
	Count          int64           `json:"count,omitempty"`
	Source         string          `json:"source,omitempty"`
	FirstTimestamp string          `json:"firstTimestamp,omitempty"`
	LastTimestamp  string          `json:"lastTimestamp,omitempty"`
	InvolvedObject ObjectReference `json:"involvedObject"`
}

// ObjectReference names the object an event is about.
type ObjectReference struct {
	APIVersion string `json:"apiVersion,omitempty"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name"`
	UID        string `json:"uid,omitempty"`
}

// Limits of the Event kind's schema; longer text is cut rather than refused.
const (
	maxReasonLen  = 128
	maxMessageLen = 4096
)

// Recorder writes Event objects about other objects, so `paved get events` and the portal
// show what controllers did. The same event (object, type, reason, message) repeated within
// AggregateWindow updates one Event (count and lastTimestamp) instead of creating another.
// Aggregation is remembered in memory, so after a restart the first repeat starts a new
// Event. Failures are logged and never returned: an event is a report, not part of the work.
//
// Events carry a (non-controller) ownerReference to the object they describe, so the
// garbage collector removes them with it.
type Recorder struct {
	st     *store.Store
	source string
	log    *slog.Logger
	now    func() time.Time
	window time.Duration

	mu     sync.Mutex
	recent map[aggKey]*recentEvent
}

// RecorderOptions tune a Recorder.
type RecorderOptions struct {
	Logger *slog.Logger
	// AggregateWindow is how long a repeat is folded into the last Event (default 10 minutes).
	AggregateWindow time.Duration
	// Now is the clock; tests may fix it.
	Now func() time.Time
}

type aggKey struct {
	uid, kind, namespace, name, typ, reason, message string
}

type recentEvent struct {
	namespace, name string
	last            time.Time
}

// maxRecent bounds the aggregation memory; when full, expired entries are dropped and, if
// that is not enough, the whole map is (losing only some aggregation).
const maxRecent = 4096

// NewRecorder returns a recorder that signs its events with source (the controller name).
func NewRecorder(st *store.Store, source string, opts RecorderOptions) *Recorder {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.AggregateWindow <= 0 {
		opts.AggregateWindow = 10 * time.Minute
	}
	return &Recorder{st: st, source: source, log: opts.Logger, now: opts.Now, window: opts.AggregateWindow,
		recent: map[aggKey]*recentEvent{}}
}

// Event records an event of type EventNormal or EventWarning about obj.
func (r *Recorder) Event(ctx context.Context, obj *api.Object, eventType, reason, message string) {
	if err := r.record(ctx, obj, eventType, reason, message); err != nil {
		r.log.Warn("recording an event failed", "object", RequestFor(obj).String(), "reason", reason, "err", err)
	}
}

// Eventf is Event with a formatted message.
func (r *Recorder) Eventf(ctx context.Context, obj *api.Object, eventType, reason, format string, args ...any) {
	r.Event(ctx, obj, eventType, reason, fmt.Sprintf(format, args...))
}

// Normal records a Normal event.
func (r *Recorder) Normal(ctx context.Context, obj *api.Object, reason, message string) {
	r.Event(ctx, obj, EventNormal, reason, message)
}

// Warning records a Warning event.
func (r *Recorder) Warning(ctx context.Context, obj *api.Object, reason, message string) {
	r.Event(ctx, obj, EventWarning, reason, message)
}

func (r *Recorder) eventKind() (*kinds.Kind, error) {
	k, ok := r.st.Kinds().ByGVK(api.JoinAPIVersion(kinds.CoreGroup, "v1"), "Event")
	if !ok {
		return nil, fmt.Errorf("kind Event (%s/v1) is not registered", kinds.CoreGroup)
	}
	return k, nil
}

func (r *Recorder) record(ctx context.Context, obj *api.Object, eventType, reason, message string) error {
	if eventType != EventNormal && eventType != EventWarning {
		return fmt.Errorf("event type %q must be %s or %s", eventType, EventNormal, EventWarning)
	}
	if reason == "" {
		return fmt.Errorf("event reason is required")
	}
	if obj.Kind == "Event" && obj.Group() == kinds.CoreGroup {
		return nil // events about events would never end
	}
	reason = truncate(reason, maxReasonLen)
	message = truncate(message, maxMessageLen)
	ek, err := r.eventKind()
	if err != nil {
		return err
	}
	ns := obj.Metadata.Namespace
	if ns == "" {
		ns = "default"
	}
	ts := r.now().UTC().Truncate(time.Second)
	key := aggKey{uid: obj.Metadata.UID, kind: obj.Kind, namespace: obj.Metadata.Namespace, name: obj.Metadata.Name,
		typ: eventType, reason: reason, message: message}

	r.mu.Lock()
	prev := r.recent[key]
	var prevNS, prevName string
	if prev != nil && ts.Sub(prev.last) < r.window {
		prevNS, prevName = prev.namespace, prev.name
	}
	r.mu.Unlock()

	if prevName != "" {
		ok, err := r.bump(ctx, ek, prevNS, prevName, ts)
		if err != nil {
			return err
		}
		if ok {
			r.remember(key, prevNS, prevName, ts)
			return nil
		}
	}

	spec := EventSpec{Type: eventType, Reason: reason, Message: message, Count: 1, Source: r.source,
		FirstTimestamp: ts.Format(time.RFC3339), LastTimestamp: ts.Format(time.RFC3339),
		InvolvedObject: ObjectReference{APIVersion: obj.APIVersion, Kind: obj.Kind, Namespace: obj.Metadata.Namespace,
			Name: obj.Metadata.Name, UID: obj.Metadata.UID}}
	raw, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	ev := &api.Object{APIVersion: ek.APIVersion(), Kind: ek.Kind, Spec: raw,
		Metadata: api.ObjectMeta{Name: eventName(obj.Metadata.Name), Namespace: ns}}
	if obj.Metadata.UID != "" {
		ev.Metadata.OwnerReferences = []api.OwnerReference{{APIVersion: obj.APIVersion, Kind: obj.Kind,
			Name: obj.Metadata.Name, UID: obj.Metadata.UID}}
	}
	created, err := r.st.Create(ctx, ev)
	if err != nil {
		return fmt.Errorf("create event: %w", err)
	}
	r.remember(key, created.Metadata.Namespace, created.Metadata.Name, ts)
	return nil
}

// bump folds a repeat into an existing Event. It reports false if that Event is gone or
// too old, so the caller creates a new one.
func (r *Recorder) bump(ctx context.Context, ek *kinds.Kind, ns, name string, ts time.Time) (bool, error) {
	for attempt := 0; attempt < 3; attempt++ {
		cur, err := r.st.Get(ctx, ek, ns, name)
		if api.IsNotFound(err) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("read event %s/%s: %w", ns, name, err)
		}
		var spec EventSpec
		if err := json.Unmarshal(cur.Spec, &spec); err != nil {
			return false, nil
		}
		if last, err := time.Parse(time.RFC3339, spec.LastTimestamp); err == nil && ts.Sub(last) >= r.window {
			return false, nil
		}
		spec.Count++
		spec.LastTimestamp = ts.Format(time.RFC3339)
		if cur.Spec, err = json.Marshal(spec); err != nil {
			return false, err
		}
		_, err = r.st.Update(ctx, cur) // resourceVersion is set: a concurrent bump conflicts
		if api.IsConflict(err) {
			continue
		}
		if api.IsNotFound(err) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("update event %s/%s: %w", ns, name, err)
		}
		return true, nil
	}
	return false, fmt.Errorf("update event %s/%s: kept conflicting", ns, name)
}

func (r *Recorder) remember(key aggKey, ns, name string, ts time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.recent) >= maxRecent {
		for k, e := range r.recent {
			if ts.Sub(e.last) >= r.window {
				delete(r.recent, k)
			}
		}
		if len(r.recent) >= maxRecent {
			clear(r.recent)
		}
	}
	r.recent[key] = &recentEvent{namespace: ns, name: name, last: ts}
}

// eventName is "<object-name>.<16 hex digits>", cut to stay a valid 253-character name.
func eventName(objName string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	suffix := "." + hex.EncodeToString(b[:])
	base := strings.TrimRight(truncate(objName, 253-len(suffix)), "-.")
	if base == "" {
		base = "event"
	}
	return base + suffix
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Do not split a UTF-8 sequence.
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
