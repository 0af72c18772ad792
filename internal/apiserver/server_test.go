package apiserver

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/paved-dev/paved/api"
	"github.com/paved-dev/paved/internal/auth"
	"github.com/paved-dev/paved/internal/kinds"
	"github.com/paved-dev/paved/internal/store"
	"github.com/paved-dev/paved/internal/store/sqlite"
)

// widgetSchema gives the test kind required and typed fields, so schema violations have
// field paths to report.
const widgetSchema = `{
  "type": "object",
  "required": ["size"],
  "properties": {
    "size": {"type": "integer", "minimum": 1},
    "color": {"type": "string"},
    "tags": {"type": "object"},
    "marker": {"type": "string"}
  },
  "additionalProperties": false
}`

const widgetsPath = "/apis/test.paved.dev/v1/namespaces/default/widgets"

// fixture is one API server over a real SQLite store, served by httptest.
type fixture struct {
	t     *testing.T
	store *store.Store
	srv   *Server
	hs    *httptest.Server
	token string
	reg   *prometheus.Registry
	logs  *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func newFixture(t *testing.T, tune ...func(*Options)) *fixture {
	t.Helper()
	ctx := context.Background()
	be, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "paved.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg := kinds.NewRegistry()
	if err := reg.Register(kinds.Kind{Group: "test.paved.dev", Version: "v1", Kind: "Widget", Plural: "widgets",
		ShortNames: []string{"wg"}, Namespaced: true, Schema: json.RawMessage(widgetSchema)}); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	st := store.New(be, reg, store.Options{Logger: log})
	t.Cleanup(func() {
		st.Close()
		if err := be.Close(); err != nil {
			t.Error(err)
		}
	})
	token, err := auth.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	authn, err := auth.NewAdmin(token)
	if err != nil {
		t.Fatal(err)
	}
	promReg := prometheus.NewRegistry()
	opts := Options{Store: st, Auth: authn, Logger: log, Registry: promReg}
	for _, f := range tune {
		f(&opts)
	}
	srv, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	hs.Config.RegisterOnShutdown(srv.Close)
	// Cleanups run last-in first-out: end the watches, then close the server that
	// would otherwise wait for them.
	t.Cleanup(hs.Close)
	t.Cleanup(srv.Close)
	return &fixture{t: t, store: st, srv: srv, hs: hs, token: token, reg: promReg, logs: logs}
}

// response is a finished HTTP exchange.
type response struct {
	code   int
	header http.Header
	body   []byte
}

func (r *response) status(t *testing.T) *api.Status {
	t.Helper()
	var st api.Status
	if err := json.Unmarshal(r.body, &st); err != nil || st.Kind != "Status" {
		t.Fatalf("body is not an api.Status (%v): %s", err, r.body)
	}
	return &st
}

func (r *response) object(t *testing.T) *api.Object {
	t.Helper()
	var o api.Object
	if err := json.Unmarshal(r.body, &o); err != nil {
		t.Fatalf("body is not an object: %v: %s", err, r.body)
	}
	return &o
}

func (r *response) list(t *testing.T) *api.List {
	t.Helper()
	var l api.List
	if err := json.Unmarshal(r.body, &l); err != nil {
		t.Fatalf("body is not a list: %v: %s", err, r.body)
	}
	return &l
}

// req describes one request; the zero value is an authenticated GET.
type req struct {
	method      string
	path        string
	body        string
	contentType string
	noToken     bool
	token       string // overrides the fixture's token
}

func (f *fixture) do(q req) *response {
	f.t.Helper()
	if q.method == "" {
		q.method = http.MethodGet
	}
	var body io.Reader
	if q.body != "" {
		body = strings.NewReader(q.body)
	}
	hr, err := http.NewRequest(q.method, f.hs.URL+q.path, body)
	if err != nil {
		f.t.Fatal(err)
	}
	if q.contentType != "" {
		hr.Header.Set("Content-Type", q.contentType)
	} else if q.body != "" {
		hr.Header.Set("Content-Type", "application/json")
	}
	switch {
	case q.token != "":
		hr.Header.Set("Authorization", "Bearer "+q.token)
	case !q.noToken:
		hr.Header.Set("Authorization", "Bearer "+f.token)
	}
	return f.send(hr)
}

func (f *fixture) send(hr *http.Request) *response {
	f.t.Helper()
	// A bound on every exchange turns a hung handler into a failure that names the request.
	ctx, cancel := context.WithTimeout(hr.Context(), 30*time.Second)
	defer cancel()
	res, err := f.hs.Client().Do(hr.WithContext(ctx))
	if err != nil {
		f.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return &response{code: res.StatusCode, header: res.Header, body: b}
}

// mustDo sends q and fails the test unless the answer has code want.
func (f *fixture) mustDo(q req, want int) *response {
	f.t.Helper()
	r := f.do(q)
	if r.code != want {
		f.t.Fatalf("%s %s: got %d, want %d: %s", q.method, q.path, r.code, want, r.body)
	}
	return r
}

func (f *fixture) revision() int64 {
	f.t.Helper()
	rev, err := f.store.Revision(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	return rev
}

// widget returns a Widget's JSON.
func widget(ns, name string, spec string) string {
	meta := `"name":"` + name + `"`
	if ns != "" {
		meta += `,"namespace":"` + ns + `"`
	}
	return `{"apiVersion":"test.paved.dev/v1","kind":"Widget","metadata":{` + meta + `},"spec":` + spec + `}`
}

func (f *fixture) createWidget(ns, name, spec string) *api.Object {
	f.t.Helper()
	return f.mustDo(req{method: http.MethodPost, path: "/apis/test.paved.dev/v1/namespaces/" + ns + "/widgets",
		body: widget(ns, name, spec)}, http.StatusCreated).object(f.t)
}
