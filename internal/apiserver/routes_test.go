package apiserver

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/paved-dev/paved/api"
)

// TestRoutes walks every route with every method it serves and a few it does not. The
// steps run in order on one server: later steps read what earlier ones wrote.
func TestRoutes(t *testing.T) {
	f := newFixture(t)
	const (
		item   = widgetsPath + "/w1"
		status = item + "/status"
		envs   = "/apis/paved.dev/v1/environments"
		nss    = "/apis/paved.dev/v1/namespaces"
	)
	type check func(t *testing.T, r *response)
	hasName := func(name string) check {
		return func(t *testing.T, r *response) {
			t.Helper()
			if got := r.object(t).Metadata.Name; got != name {
				t.Errorf("name = %q, want %q", got, name)
			}
		}
	}
	listed := func(names ...string) check {
		return func(t *testing.T, r *response) {
			t.Helper()
			var got []string
			for _, o := range r.list(t).Items {
				got = append(got, o.Metadata.Name)
			}
			if !slices.Equal(got, names) {
				t.Errorf("listed %v, want %v", got, names)
			}
		}
	}
	kindsListed := func(want ...string) check {
		return func(t *testing.T, r *response) {
			t.Helper()
			var l api.APIResourceList
			if err := json.Unmarshal(r.body, &l); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, res := range l.Resources {
				got = append(got, res.Kind)
			}
			if !slices.Equal(got, want) {
				t.Errorf("discovery lists %v, want %v", got, want)
			}
		}
	}
	allow := func(want string) check {
		return func(t *testing.T, r *response) {
			t.Helper()
			if got := r.header.Get("Allow"); got != want {
				t.Errorf("Allow = %q, want %q", got, want)
			}
			if st := r.status(t); st.Reason != api.ReasonMethodNotAllowed {
				t.Errorf("reason = %s", st.Reason)
			}
		}
	}
	reason := func(want string) check {
		return func(t *testing.T, r *response) {
			t.Helper()
			if st := r.status(t); st.Reason != want || st.Code != r.code {
				t.Errorf("status = %s/%d, want %s/%d", st.Reason, st.Code, want, r.code)
			}
		}
	}

	steps := []struct {
		name  string
		req   req
		want  int
		check check
	}{
		{"discovery", req{path: "/apis"}, 200, kindsListed("Environment", "Event", "Namespace", "Widget")},
		{"discovery trailing slash", req{path: "/apis/"}, 200, kindsListed("Environment", "Event", "Namespace", "Widget")},
		{"discovery of group version", req{path: "/apis/test.paved.dev/v1"}, 200, kindsListed("Widget")},
		{"discovery of unknown group", req{path: "/apis/nope.dev/v1"}, 404, reason(api.ReasonNotFound)},
		{"discovery refuses POST", req{method: "POST", path: "/apis", body: "{}"}, 405, allow("GET")},

		{"create", req{method: "POST", path: widgetsPath, body: widget("", "w1", `{"size":1}`)}, 201, hasName("w1")},
		{"create second", req{method: "POST", path: widgetsPath, body: widget("default", "w2", `{"size":2}`)}, 201, hasName("w2")},
		{"create in other namespace", req{method: "POST", path: "/apis/test.paved.dev/v1/namespaces/other/widgets",
			body: widget("", "w3", `{"size":3}`)}, 201, hasName("w3")},
		{"create with generateName", req{method: "POST", path: widgetsPath, body: `{"apiVersion":"test.paved.dev/v1","kind":"Widget","metadata":{"generateName":"gen-","labels":{"generated":"yes"}},"spec":{"size":1}}`}, 201,
			func(t *testing.T, r *response) {
				if n := r.object(t).Metadata.Name; !strings.HasPrefix(n, "gen-") || len(n) <= len("gen-") {
					t.Errorf("generated name %q", n)
				}
			}},
		{"get", req{path: item}, 200, hasName("w1")},
		{"head", req{method: "HEAD", path: item}, 200, nil},
		{"list refuses field selector !=", req{path: widgetsPath + "?fieldSelector=metadata.name!%3Dx"}, 400, reason(api.ReasonBadRequest)},
		{"list namespace by name", req{path: widgetsPath + "?fieldSelector=metadata.name%3Dw2"}, 200, listed("w2")},
		{"list trailing slash", req{path: widgetsPath + "/?labelSelector=!generated"}, 200, listed("w1", "w2")},
		{"list all namespaces", req{path: "/apis/test.paved.dev/v1/widgets?labelSelector=!generated"}, 200, listed("w1", "w2", "w3")},
		{"list by label and field", req{path: "/apis/test.paved.dev/v1/widgets?fieldSelector=metadata.namespace%3Dother"}, 200, listed("w3")},
		{"update", req{method: "PUT", path: item, body: widget("default", "w1", `{"size":5}`)}, 200, hasName("w1")},
		{"patch", req{method: "PATCH", path: item, body: `{"spec":{"color":"red"}}`, contentType: "application/merge-patch+json"}, 200, hasName("w1")},
		{"get status", req{path: status}, 200, hasName("w1")},
		{"update status", req{method: "PUT", path: status, body: `{"apiVersion":"test.paved.dev/v1","kind":"Widget","metadata":{"name":"w1"},"status":{"observedGeneration":1}}`}, 200, hasName("w1")},
		{"patch status", req{method: "PATCH", path: status, body: `{"status":{"phase":"Ready"}}`, contentType: "application/merge-patch+json"}, 200, hasName("w1")},
		{"delete", req{method: "DELETE", path: widgetsPath + "/w2"}, 200, hasName("w2")},
		{"deleted is gone", req{path: widgetsPath + "/w2"}, 404, reason(api.ReasonNotFound)},

		{"collection refuses PUT", req{method: "PUT", path: widgetsPath, body: "{}"}, 405, allow("GET, POST")},
		{"collection refuses DELETE", req{method: "DELETE", path: widgetsPath}, 405, allow("GET, POST")},
		{"all-namespaces list refuses POST", req{method: "POST", path: "/apis/test.paved.dev/v1/widgets", body: widget("default", "x", `{"size":1}`)}, 405, allow("GET")},
		{"object refuses POST", req{method: "POST", path: item, body: "{}"}, 405, allow("GET, PUT, PATCH, DELETE")},
		{"status refuses DELETE", req{method: "DELETE", path: status}, 405, allow("GET, PUT, PATCH")},

		{"cluster-scoped create", req{method: "POST", path: envs, body: `{"apiVersion":"paved.dev/v1","kind":"Environment","metadata":{"name":"dev"},"spec":{"tier":"development"}}`}, 201, hasName("dev")},
		{"cluster-scoped get", req{path: envs + "/dev"}, 200, hasName("dev")},
		{"cluster-scoped list", req{path: envs}, 200, listed("dev")},
		{"cluster-scoped status", req{path: envs + "/dev/status"}, 200, hasName("dev")},
		{"cluster-scoped patch", req{method: "PATCH", path: envs + "/dev", body: `{"spec":{"tier":"staging"}}`, contentType: "application/json"}, 200, hasName("dev")},
		{"cluster-scoped delete", req{method: "DELETE", path: envs + "/dev"}, 200, hasName("dev")},
		{"cluster-scoped under a namespace", req{path: "/apis/paved.dev/v1/namespaces/default/environments"}, 404, reason(api.ReasonNotFound)},
		{"namespaced object without namespace", req{path: "/apis/test.paved.dev/v1/widgets/w1"}, 404, reason(api.ReasonNotFound)},

		// The Namespace kind's plural is "namespaces": its paths overlap the namespaced form.
		{"namespace create", req{method: "POST", path: nss, body: `{"apiVersion":"paved.dev/v1","kind":"Namespace","metadata":{"name":"team-a"}}`}, 201, hasName("team-a")},
		{"namespace get", req{path: nss + "/team-a"}, 200, hasName("team-a")},
		{"namespace status", req{path: nss + "/team-a/status"}, 200, hasName("team-a")},
		{"namespace list", req{path: nss}, 200, listed("team-a")},
		{"namespace delete", req{method: "DELETE", path: nss + "/team-a"}, 200, hasName("team-a")},

		{"unknown plural", req{path: "/apis/test.paved.dev/v1/gadgets"}, 404, reason(api.ReasonNotFound)},
		{"unknown plural in namespace", req{path: "/apis/test.paved.dev/v1/namespaces/default/gadgets/x"}, 404, reason(api.ReasonNotFound)},
		{"too deep", req{path: item + "/status/more"}, 404, reason(api.ReasonNotFound)},
		{"unknown subresource", req{path: item + "/scale"}, 404, reason(api.ReasonNotFound)},
		{"empty segment", req{path: "/apis/test.paved.dev/v1/namespaces//widgets"}, 404, reason(api.ReasonNotFound)},
		{"no route", req{path: "/nothing/here"}, 404, reason(api.ReasonNotFound)},

		{"healthz", req{path: "/healthz", noToken: true}, 200, nil},
		{"readyz", req{path: "/readyz", noToken: true}, 200, nil},
		{"metrics", req{path: "/metrics", noToken: true}, 200, func(t *testing.T, r *response) {
			if !strings.Contains(string(r.body), "paved_apiserver_requests_total") {
				t.Errorf("metrics lack the request counter")
			}
		}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			r := f.do(s.req)
			if r.code != s.want {
				t.Fatalf("%s %s: got %d, want %d: %s", s.req.method, s.req.path, r.code, s.want, r.body)
			}
			if ct := r.header.Get("Content-Type"); r.code >= 400 && ct != "application/json" {
				t.Errorf("error Content-Type = %q", ct)
			}
			if s.check != nil {
				s.check(t, r)
			}
		})
	}
}
