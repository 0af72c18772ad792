package catalog

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/paved-dev/paved/internal/catalog/entity"
)

// codeHosts serves files for github.com, raw.githubusercontent.com, gitlab.com and
// bitbucket.org from an httptest server, which tests reach instead of the real hosts.
type codeHosts struct {
	srv   *httptest.Server
	mu    sync.Mutex
	files map[string]string // "host/path" -> content
}

func newCodeHosts(t *testing.T) *codeHosts {
	t.Helper()
	h := &codeHosts{files: map[string]string{}}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		body, ok := h.files[r.Host+r.URL.Path]
		h.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *codeHosts) add(hostPath, content string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.files[hostPath] = content
}

// client sends every request to the test server, keeping the requested host in Host.
func (h *codeHosts) client() *http.Client {
	addr, _ := url.Parse(h.srv.URL)
	return &http.Client{Transport: roundTripFunc(func(req *http.Request) (*http.Response, error) {
		out := req.Clone(req.Context())
		out.Host = req.URL.Host
		out.URL.Scheme, out.URL.Host = "http", addr.Host
		return http.DefaultTransport.RoundTrip(out)
	})}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestLocationAnnotations: view-url, edit-url and source-location of entities read over
// url, as Backstage's AnnotateLocationEntityProcessor sets them with its integrations.
func TestLocationAnnotations(t *testing.T) {
	hosts := newCodeHosts(t)
	const commit = "0123456789abcdef0123456789abcdef01234567"
	entityDoc := func(name, extra string) string {
		return "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: " + name + "\n" + extra +
			"spec:\n  type: service\n  lifecycle: production\n  owner: team-a\n  api:\n    $text: ./openapi.yaml\n"
	}
	for _, tc := range []struct {
		name     string
		target   string // the location
		fetched  string // what the reader fetches for it, host/path
		openapi  string // where the relative $text ./openapi.yaml is fetched
		extra    string // metadata lines of the entity
		view     string
		edit     string // "" means none
		source   string
		insecure bool // the target is the test server itself
	}{
		{name: "github", target: "https://github.com/acme/billing/blob/main/catalog-info.yaml",
			fetched: "raw.githubusercontent.com/acme/billing/main/catalog-info.yaml", openapi: "raw.githubusercontent.com/acme/billing/main/openapi.yaml",
			view: "https://github.com/acme/billing/blob/main/catalog-info.yaml", edit: "https://github.com/acme/billing/edit/main/catalog-info.yaml",
			source: "url:https://github.com/acme/billing/tree/main/"},
		{name: "github-pinned", target: "https://github.com/acme/billing/blob/" + commit + "/svc/catalog-info.yaml",
			fetched: "raw.githubusercontent.com/acme/billing/" + commit + "/svc/catalog-info.yaml", openapi: "raw.githubusercontent.com/acme/billing/" + commit + "/svc/openapi.yaml",
			view: "https://github.com/acme/billing/blob/" + commit + "/svc/catalog-info.yaml", edit: "",
			source: "url:https://github.com/acme/billing/tree/" + commit + "/svc/"},
		{name: "github-raw", target: "https://raw.githubusercontent.com/acme/ledger/main/catalog-info.yaml",
			fetched: "raw.githubusercontent.com/acme/ledger/main/catalog-info.yaml", openapi: "raw.githubusercontent.com/acme/ledger/main/openapi.yaml",
			view: "https://raw.githubusercontent.com/acme/ledger/main/catalog-info.yaml", edit: "https://github.com/acme/ledger/edit/main/catalog-info.yaml",
			source: "url:https://github.com/acme/ledger/tree/main/"},
		{name: "gitlab", target: "https://gitlab.com/acme/group/billing/-/blob/main/catalog-info.yaml",
			fetched: "gitlab.com/acme/group/billing/-/raw/main/catalog-info.yaml", openapi: "gitlab.com/acme/group/billing/-/raw/main/openapi.yaml",
			view: "https://gitlab.com/acme/group/billing/-/blob/main/catalog-info.yaml", edit: "https://gitlab.com/acme/group/billing/-/edit/main/catalog-info.yaml",
			source: "url:https://gitlab.com/acme/group/billing/-/blob/main/"},
		{name: "bitbucket", target: "https://bitbucket.org/acme/billing/src/main/catalog-info.yaml",
			fetched: "bitbucket.org/acme/billing/raw/main/catalog-info.yaml", openapi: "bitbucket.org/acme/billing/raw/main/openapi.yaml",
			view: "https://bitbucket.org/acme/billing/src/main/catalog-info.yaml", edit: "https://bitbucket.org/acme/billing/src/main/catalog-info.yaml?at=main&mode=edit",
			source: "url:https://bitbucket.org/acme/billing/src/main/"},
		{name: "entity-values-win", target: "https://github.com/acme/own/blob/main/catalog-info.yaml",
			fetched: "raw.githubusercontent.com/acme/own/main/catalog-info.yaml", openapi: "raw.githubusercontent.com/acme/own/main/openapi.yaml",
			extra: "  annotations:\n    backstage.io/view-url: https://docs.example.com/own\n    backstage.io/edit-url: https://edit.example.com/own\n",
			view:  "https://docs.example.com/own", edit: "https://edit.example.com/own", source: "url:https://github.com/acme/own/tree/main/"},
		{name: "unknown-host", insecure: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := "svc-" + tc.name
			if tc.insecure {
				// The test server itself: no convention known, so no edit-url.
				srv, _ := catalogServer(t, map[string]string{"/cat/catalog-info.yaml": entityDoc(name, ""), "/cat/openapi.yaml": "openapi: 3.0.0\n"})
				tc.target = srv.URL + "/cat/catalog-info.yaml"
				tc.view, tc.source = tc.target, "url:"+srv.URL+"/cat/"
			} else {
				hosts.add(tc.fetched, entityDoc(name, tc.extra))
				hosts.add(tc.openapi, "openapi: 3.0.0\n")
			}
			opts := Options{HTTPClient: hosts.client()}
			if tc.insecure {
				opts.HTTPClient = nil
			}
			c := newCatalog(t, opts)
			loc, _, _, err := c.AddLocation(context.Background(), LocationSpec{Type: "url", Target: tc.target}, false)
			if err != nil {
				t.Fatal(err)
			}
			if st := statusOf(t, c, loc.ID); len(st.Errors) > 0 {
				t.Fatalf("errors:%s", errorsText(st.Errors))
			}
			o := mustGet(t, c, "component:default/"+name)
			ann := o.Metadata.Annotations
			edit, hasEdit := ann[entity.AnnotationEditURL]
			if ann[entity.AnnotationViewURL] != tc.view || edit != tc.edit || hasEdit != (tc.edit != "") || ann[entity.AnnotationSourceLocation] != tc.source {
				t.Errorf("annotations:\n view-url        %q, want %q\n edit-url        %q, want %q\n source-location %q, want %q",
					ann[entity.AnnotationViewURL], tc.view, edit, tc.edit, ann[entity.AnnotationSourceLocation], tc.source)
			}
			if got := ann[entity.AnnotationManagedByLocation]; got != "url:"+tc.target {
				t.Errorf("managed-by-location %q: the location keeps the URL as written", got)
			}
			if !strings.Contains(string(o.Spec), `"api":"openapi: 3.0.0\n"`) {
				t.Errorf("the relative $text was not read: %s", o.Spec)
			}
		})
	}
	// File locations get no view, edit or source URL, as in Backstage.
	dir := writeFiles(t, t.TempDir(), map[string]string{"c.yaml": doc(component, "local", "x", "team-a")})
	c := newCatalog(t, Options{FileRoots: []string{dir}})
	register(t, c, dir+"/c.yaml")
	ann := mustGet(t, c, "component:default/local").Metadata.Annotations
	for _, key := range []string{entity.AnnotationViewURL, entity.AnnotationEditURL, entity.AnnotationSourceLocation} {
		if v, ok := ann[key]; ok {
			t.Errorf("a file location has %s %q", key, v)
		}
	}
}

func TestSCMURLs(t *testing.T) {
	for _, tc := range []struct {
		in, edit, dir, raw string
	}{
		{"https://github.com/o/r/blob/main/a/b.yaml", "https://github.com/o/r/edit/main/a/b.yaml", "https://github.com/o/r/tree/main/a/", "https://raw.githubusercontent.com/o/r/main/a/b.yaml"},
		{"https://github.com/o/r/blob/main/b.yaml?ref=x", "https://github.com/o/r/edit/main/b.yaml?ref=x", "https://github.com/o/r/tree/main/?ref=x", "https://raw.githubusercontent.com/o/r/main/b.yaml"},
		{"https://github.com/o/r/raw/main/b.yaml", "", "https://github.com/o/r/raw/main/", "https://github.com/o/r/raw/main/b.yaml"},
		{"https://git.example.com/o/r/-/blob/v1/b.yaml", "https://git.example.com/o/r/-/edit/v1/b.yaml", "https://git.example.com/o/r/-/blob/v1/", "https://git.example.com/o/r/-/raw/v1/b.yaml"},
		{"https://example.com/catalog/b.yaml", "", "https://example.com/catalog/", "https://example.com/catalog/b.yaml"},
		{"https://example.com/blob/main/x/b.yaml", "", "https://example.com/blob/main/x/", "https://example.com/blob/main/x/b.yaml"},
	} {
		edit, dir := scmURLs(tc.in)
		u, _ := url.Parse(tc.in)
		if raw := rawURL(u).String(); edit != tc.edit || dir != tc.dir || raw != tc.raw {
			t.Errorf("%s: edit %q dir %q raw %q; want %q %q %q", tc.in, edit, dir, raw, tc.edit, tc.dir, tc.raw)
		}
	}
}
