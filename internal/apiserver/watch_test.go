package apiserver

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/paved-dev/paved/api"
)

// guard bounds every wait for a stream, so a missing event fails the test instead of
// hanging it. It is not a latency assertion: events normally arrive in milliseconds.
const guard = 15 * time.Second

// streamEvent is a decoded watch line.
type streamEvent struct {
	Type   string          `json:"type"`
	Object json.RawMessage `json:"object"`
}

func (e streamEvent) object(t *testing.T) *api.Object {
	t.Helper()
	var o api.Object
	if err := json.Unmarshal(e.Object, &o); err != nil {
		t.Fatalf("event object: %v: %s", err, e.Object)
	}
	return &o
}

type stream struct {
	t      *testing.T
	events chan streamEvent
	header http.Header
	cancel context.CancelFunc
}

// watch opens a watch stream on path (which carries its own query) and decodes its lines
// in the background.
func (f *fixture) watch(path string, token bool) *stream {
	f.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	hr, err := http.NewRequestWithContext(ctx, http.MethodGet, f.hs.URL+path, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	if token {
		hr.Header.Set("Authorization", "Bearer "+f.token)
	}
	res, err := f.hs.Client().Do(hr)
	if err != nil {
		cancel()
		f.t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		res.Body.Close()
		cancel()
		f.t.Fatalf("watch %s: status %d", path, res.StatusCode)
	}
	s := &stream{t: f.t, events: make(chan streamEvent, 100), header: res.Header, cancel: cancel}
	go func() {
		defer close(s.events)
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
		for sc.Scan() {
			var ev streamEvent
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				ev = streamEvent{Type: "UNDECODABLE", Object: json.RawMessage(strconv.Quote(sc.Text()))}
			}
			s.events <- ev
		}
	}()
	f.t.Cleanup(cancel)
	return s
}

// next returns the next event, failing if none comes or the stream ends.
func (s *stream) next() streamEvent {
	s.t.Helper()
	select {
	case ev, ok := <-s.events:
		if !ok {
			s.t.Fatal("watch stream ended; an event was expected")
		}
		return ev
	case <-time.After(guard):
		s.t.Fatal("no watch event arrived")
	}
	return streamEvent{}
}

// expect reads the next event and checks its type and object name.
func (s *stream) expect(typ, name string) *api.Object {
	s.t.Helper()
	ev := s.next()
	if ev.Type != typ {
		s.t.Fatalf("event %s %s, want %s %s", ev.Type, ev.Object, typ, name)
	}
	o := ev.object(s.t)
	if o.Metadata.Name != name {
		s.t.Fatalf("event %s for %q, want %q", ev.Type, o.Metadata.Name, name)
	}
	return o
}

// ended waits for the server to end the stream, failing on any further event.
func (s *stream) ended() {
	s.t.Helper()
	select {
	case ev, ok := <-s.events:
		if ok {
			s.t.Fatalf("unexpected event %s %s; the stream should have ended", ev.Type, ev.Object)
		}
	case <-time.After(guard):
		s.t.Fatal("the watch stream did not end")
	}
}

func TestWatchFromListRevision(t *testing.T) {
	f := newFixture(t)
	f.createWidget("default", "a", `{"size":1}`)
	f.createWidget("default", "b", `{"size":1}`)
	l := f.mustDo(req{path: widgetsPath}, http.StatusOK).list(t)
	listRV, _ := strconv.ParseInt(l.Metadata.ResourceVersion, 10, 64)

	// Written after the list but before the watch starts: the watch must still deliver it.
	f.createWidget("default", "c", `{"size":1}`)

	s := f.watch(widgetsPath+"?watch=true&resourceVersion="+l.Metadata.ResourceVersion, true)
	if ct := s.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	last := listRV
	check := func(o *api.Object) {
		t.Helper()
		rv, _ := strconv.ParseInt(o.Metadata.ResourceVersion, 10, 64)
		if rv <= last {
			t.Errorf("resourceVersion %d does not follow %d", rv, last)
		}
		last = rv
	}
	check(s.expect(api.EventAdded, "c"))

	// Each write is followed by reading its event before the next write: an event that
	// was not flushed would never arrive.
	f.mustDo(req{method: "PUT", path: widgetsPath + "/a", body: widget("default", "a", `{"size":2}`)}, http.StatusOK)
	o := s.expect(api.EventModified, "a")
	check(o)
	if string(o.Spec) != `{"size":2}` || o.Metadata.Generation != 2 {
		t.Errorf("MODIFIED carries spec %s generation %d", o.Spec, o.Metadata.Generation)
	}
	f.mustDo(req{method: "PATCH", path: widgetsPath + "/b/status", contentType: "application/merge-patch+json", body: `{"status":{"phase":"Up"}}`}, http.StatusOK)
	check(s.expect(api.EventModified, "b"))
	f.mustDo(req{method: "DELETE", path: widgetsPath + "/c"}, http.StatusOK)
	check(s.expect(api.EventDeleted, "c"))
	// Writes elsewhere are not delivered; the next event is the next write here.
	f.createWidget("other", "elsewhere", `{"size":1}`)
	f.mustDo(req{method: "POST", path: "/apis/paved.dev/v1/environments", body: `{"apiVersion":"paved.dev/v1","kind":"Environment","metadata":{"name":"dev"}}`}, http.StatusCreated)
	f.createWidget("default", "d", `{"size":1}`)
	check(s.expect(api.EventAdded, "d"))
}

func TestWatchFilters(t *testing.T) {
	f := newFixture(t)
	start := strconv.FormatInt(f.revision(), 10)
	all := f.watch("/apis/test.paved.dev/v1/widgets?watch=1&resourceVersion="+start, true)
	labelled := f.watch("/apis/test.paved.dev/v1/widgets?watch=true&labelSelector=tier%3Dfront&resourceVersion="+start, true)
	named := f.watch("/apis/test.paved.dev/v1/namespaces/other/widgets?watch=true&fieldSelector=metadata.name%3Dy&resourceVersion="+start, true)
	one := f.watch(widgetsPath+"/x?watch=true&resourceVersion="+start, true)

	f.createWidget("default", "x", `{"size":1}`)
	f.mustDo(req{method: "POST", path: "/apis/test.paved.dev/v1/namespaces/other/widgets",
		body: `{"apiVersion":"test.paved.dev/v1","kind":"Widget","metadata":{"name":"y","labels":{"tier":"front"}},"spec":{"size":1}}`}, http.StatusCreated)
	f.createWidget("other", "x", `{"size":1}`)
	f.mustDo(req{method: "DELETE", path: widgetsPath + "/x"}, http.StatusOK)

	all.expect(api.EventAdded, "x")
	all.expect(api.EventAdded, "y")
	all.expect(api.EventAdded, "x")
	all.expect(api.EventDeleted, "x")
	labelled.expect(api.EventAdded, "y")
	named.expect(api.EventAdded, "y")
	// The object path's watch sees default/x only, not other/x.
	if o := one.expect(api.EventAdded, "x"); o.Metadata.Namespace != "default" {
		t.Errorf("object watch delivered %s/x", o.Metadata.Namespace)
	}
	one.expect(api.EventDeleted, "x")
}

func TestWatchTimeoutEndsStream(t *testing.T) {
	f := newFixture(t)
	s := f.watch(widgetsPath+"?watch=true&timeoutSeconds=1", true)
	s.ended()
}

func TestWatchFromCompactedRevisionIsGone(t *testing.T) {
	f := newFixture(t)
	for _, n := range []string{"a", "b", "c", "d"} {
		f.createWidget("default", n, `{"size":1}`)
	}
	if err := f.store.Compact(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	s := f.watch(widgetsPath+"?watch=true&resourceVersion=1", true)
	ev := s.next()
	if ev.Type != api.EventError {
		t.Fatalf("first event %s, want ERROR", ev.Type)
	}
	var st api.Status
	if err := json.Unmarshal(ev.Object, &st); err != nil {
		t.Fatal(err)
	}
	if st.Kind != "Status" || st.Reason != api.ReasonGone || st.Code != http.StatusGone {
		t.Errorf("ERROR object = %+v", st)
	}
	s.ended()
}

func TestCloseEndsWatches(t *testing.T) {
	f := newFixture(t)
	s := f.watch(widgetsPath+"?watch=true", true)
	all := f.watch("/apis/test.paved.dev/v1/widgets?watch=true", true)
	f.createWidget("default", "a", `{"size":1}`)
	s.expect(api.EventAdded, "a")
	all.expect(api.EventAdded, "a")
	f.srv.Close()
	s.ended()
	all.ended()
	r := f.do(req{path: "/readyz", noToken: true})
	if r.code != http.StatusServiceUnavailable {
		t.Errorf("readyz after Close = %d", r.code)
	}
}

// TestShutdownDoesNotWaitForWatches checks the wiring callers use: http.Server.Shutdown
// runs Server.Close through RegisterOnShutdown, and open watches end, so Shutdown returns.
func TestShutdownDoesNotWaitForWatches(t *testing.T) {
	f := newFixture(t)
	s := f.watch(widgetsPath+"?watch=true", true)
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	if err := f.hs.Config.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	s.ended()
}

// TestWatchOutlivesServerTimeouts checks that an http.Server's ReadTimeout and WriteTimeout,
// meant for ordinary requests, do not cut a watch short.
func TestWatchOutlivesServerTimeouts(t *testing.T) {
	f := newFixture(t)
	hs := httptest.NewUnstartedServer(f.srv.Handler())
	hs.Config.ReadTimeout = 300 * time.Millisecond
	hs.Config.WriteTimeout = 300 * time.Millisecond
	hs.Start()
	t.Cleanup(hs.Close)
	t.Cleanup(f.srv.Close)
	g := *f
	g.hs = hs
	s := g.watch(widgetsPath+"?watch=true", true)
	time.Sleep(time.Second) // past both timeouts
	f.createWidget("default", "late", `{"size":1}`)
	s.expect(api.EventAdded, "late")
}
