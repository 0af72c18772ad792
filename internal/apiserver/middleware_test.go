package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/paved-dev/paved/api"
	"github.com/paved-dev/paved/internal/auth"
)

func TestAuthentication(t *testing.T) {
	item := widgetsPath + "/w1"
	tests := []struct {
		name          string
		anonymousRead bool
		req           req
		want          int
	}{
		{"get with token", false, req{path: item}, 200},
		{"get without token", false, req{path: item, noToken: true}, 401},
		{"discovery without token", false, req{path: "/apis", noToken: true}, 401},
		{"unknown path without token", false, req{path: "/nowhere", noToken: true}, 401},
		{"healthz without token", false, req{path: "/healthz", noToken: true}, 200},
		{"readyz without token", false, req{path: "/readyz", noToken: true}, 200},
		{"metrics without token", false, req{path: "/metrics", noToken: true}, 200},

		{"anonymous get", true, req{path: item, noToken: true}, 200},
		{"anonymous list", true, req{path: widgetsPath, noToken: true}, 200},
		{"anonymous discovery", true, req{path: "/apis", noToken: true}, 200},
		{"anonymous get with wrong token", true, req{path: item, token: "pvd_wrongwrongwrongwrong"}, 401},
		{"anonymous create", true, req{method: "POST", path: widgetsPath, body: widget("", "w2", `{"size":1}`), noToken: true}, 401},
		{"anonymous update", true, req{method: "PUT", path: item, body: widget("default", "w1", `{"size":2}`), noToken: true}, 401},
		{"anonymous patch", true, req{method: "PATCH", path: item, contentType: "application/merge-patch+json", body: `{"spec":{"size":2}}`, noToken: true}, 401},
		{"anonymous status update", true, req{method: "PUT", path: item + "/status", body: widget("default", "w1", `{"size":1}`), noToken: true}, 401},
		{"anonymous delete", true, req{method: "DELETE", path: item, noToken: true}, 401},
		{"create with token", true, req{method: "POST", path: widgetsPath, body: widget("", "w2", `{"size":1}`)}, 201},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, func(o *Options) { o.AnonymousRead = tt.anonymousRead })
			f.createWidget("default", "w1", `{"size":1}`)
			before := f.revision()
			r := f.do(tt.req)
			if r.code != tt.want {
				t.Fatalf("got %d, want %d: %s", r.code, tt.want, r.body)
			}
			if r.code == http.StatusUnauthorized {
				if st := r.status(t); st.Reason != api.ReasonUnauthorized {
					t.Errorf("reason = %s", st.Reason)
				}
				if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("WWW-Authenticate = %q", r.header.Get("WWW-Authenticate"))
				}
				if f.revision() != before {
					t.Errorf("a refused request wrote to the store")
				}
			}
		})
	}
}

func TestAnonymousWatch(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.AnonymousRead = true })
	s := f.watch(widgetsPath+"?watch=true", false)
	f.createWidget("default", "seen", `{"size":1}`)
	s.expect(api.EventAdded, "seen")
}

// TestAuditLogAndMetrics checks that every write leaves one audit line without token or
// body, that reads leave none, and that the request metrics count by method, code and
// resource.
func TestAuditLogAndMetrics(t *testing.T) {
	f := newFixture(t)
	// A handler that authenticates by itself reports its user for the audit line.
	f.srv.HandlePublic("/self-auth/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth.Report(r.Context(), "git-pusher")
		w.WriteHeader(http.StatusNoContent)
	}))
	const marker = "secret-marker-in-body"
	f.mustDo(req{method: "POST", path: widgetsPath, body: widget("", "w1", `{"size":1,"marker":"`+marker+`"}`)}, http.StatusCreated)
	f.mustDo(req{method: "POST", path: widgetsPath, body: widget("", "w2", `{"size":1}`), noToken: true}, http.StatusUnauthorized)
	f.mustDo(req{method: "PATCH", path: widgetsPath + "/w1?labelSelector=x", contentType: "application/merge-patch+json", body: `{"spec":{"size":2}}`}, http.StatusOK)
	f.mustDo(req{path: widgetsPath + "/w1"}, http.StatusOK)
	f.mustDo(req{path: widgetsPath + "/nope"}, http.StatusNotFound)
	f.mustDo(req{method: "POST", path: "/self-auth/x", noToken: true}, http.StatusNoContent)

	type line struct {
		Msg, Method, Path, User string
		Status                  int
	}
	var audit []line
	logs := f.logs.String()
	for _, l := range strings.Split(strings.TrimSpace(logs), "\n") {
		var ln line
		if err := json.Unmarshal([]byte(l), &ln); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if ln.Msg == "audit" {
			ln.Msg = ""
			audit = append(audit, ln)
		}
	}
	want := []line{
		{Method: "POST", Path: widgetsPath, User: "admin", Status: 201},
		{Method: "POST", Path: widgetsPath, User: "anonymous", Status: 401},
		{Method: "PATCH", Path: widgetsPath + "/w1", User: "admin", Status: 200},
		{Method: "POST", Path: "/self-auth/x", User: "git-pusher", Status: 204},
	}
	if fmt.Sprint(audit) != fmt.Sprint(want) {
		t.Errorf("audit lines:\n got %v\nwant %v", audit, want)
	}
	for _, secret := range []string{f.token, marker, "labelSelector"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log contains %q", secret)
		}
	}

	metrics := string(f.mustDo(req{path: "/metrics", noToken: true}, http.StatusOK).body)
	for _, want := range []string{
		`paved_apiserver_requests_total{code="201",method="POST",resource="test.paved.dev/widgets"} 1`,
		`paved_apiserver_requests_total{code="200",method="PATCH",resource="test.paved.dev/widgets"} 1`,
		`paved_apiserver_requests_total{code="404",method="GET",resource="test.paved.dev/widgets"} 1`,
		`paved_apiserver_request_duration_seconds_count{method="GET",resource="test.paved.dev/widgets"} 2`,
		`paved_apiserver_watches 0`,
	} {
		if !strings.Contains(metrics, want+"\n") {
			t.Errorf("metrics lack %s", want)
		}
	}
	// Refused before routing resolved a kind: labelled by route pattern, not raw path.
	if !strings.Contains(metrics, `code="401",method="POST",resource="/apis/{group}/{version}/{path...}"`) {
		t.Errorf("metrics lack the refused POST:\n%s", grepLines(metrics, "requests_total"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestMountedHandlers(t *testing.T) {
	f := newFixture(t)
	f.srv.Handle("/api/catalog/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "user=%s", auth.UserFrom(r.Context()))
	}))
	f.srv.HandlePublic("/public/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "hello")
	}))
	f.srv.Handle("/boom", http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }))

	if r := f.do(req{path: "/api/catalog/entities", noToken: true}); r.code != http.StatusUnauthorized {
		t.Errorf("mounted handler without token: %d", r.code)
	}
	if r := f.mustDo(req{path: "/api/catalog/entities"}, http.StatusOK); string(r.body) != "user=admin" {
		t.Errorf("mounted handler saw %q", r.body)
	}
	if r := f.mustDo(req{path: "/public/x", noToken: true}, http.StatusOK); string(r.body) != "hello" {
		t.Errorf("public handler said %q", r.body)
	}
	r := f.mustDo(req{path: "/boom"}, http.StatusInternalServerError)
	if st := r.status(t); st.Reason != api.ReasonInternalError || strings.Contains(st.Message, "boom") {
		t.Errorf("panic answer = %+v", st)
	}
	if !strings.Contains(f.logs.String(), "handler panicked") {
		t.Errorf("the panic was not logged")
	}
	// The object API still works beside them.
	f.createWidget("default", "w1", `{"size":1}`)
}

func TestReadyz(t *testing.T) {
	ready := errors.New("database password=hunter2 rejected")
	f := newFixture(t, func(o *Options) {
		o.Ready = func(ctx context.Context) error { return ready }
	})
	r := f.mustDo(req{path: "/readyz", noToken: true}, http.StatusServiceUnavailable)
	st := r.status(t)
	if st.Reason != api.ReasonServiceUnavailable || strings.Contains(st.Message, "hunter2") {
		t.Errorf("readyz answer = %+v", st)
	}
	ready = nil
	f.mustDo(req{path: "/readyz", noToken: true}, http.StatusOK)
}

func TestNewRefusesIncompleteOptions(t *testing.T) {
	f := newFixture(t)
	authn, err := auth.NewAdmin(f.token)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(Options{Auth: authn}); err == nil {
		t.Error("New accepted options without a store")
	}
	if _, err := New(Options{Store: f.store}); err == nil {
		t.Error("New accepted options without an authenticator")
	}
	// A second server on the same registry shares the metrics instead of failing.
	if _, err := New(Options{Store: f.store, Auth: authn, Registry: f.reg}); err != nil {
		t.Errorf("second server on one registry: %v", err)
	}
}
