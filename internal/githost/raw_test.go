package githost

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestRawFile reads files at branches (with slashes), tags, commit ids and HEAD, and
// refuses what is missing, a directory, traversal, revision syntax and oversized files.
func TestRawFile(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.MaxRawBytes = 1024 })
	e.createRepo(t, "acme", "payments", "")
	work := e.clone(t, "acme", "payments")
	commitFile(t, work, "catalog-info.yaml", "name: on-main\n")
	commitFile(t, work, "docs/api/openapi.yaml", "openapi: 3.0.0\n")
	commitFile(t, work, "big.txt", strings.Repeat("x", 2048))
	first := mustGit(t, work, "rev-parse", "HEAD")
	mustGit(t, work, "tag", "v1")
	mustGit(t, work, "checkout", "-q", "-b", "feature/x")
	commitFile(t, work, "catalog-info.yaml", "name: on-feature\n")
	mustGit(t, work, "push", "-q", "origin", "main", "feature/x", "v1")

	for _, tc := range []struct {
		path string
		code int
		body string
	}{
		{"main/catalog-info.yaml", 200, "name: on-main\n"},
		{"feature/x/catalog-info.yaml", 200, "name: on-feature\n"},
		{"v1/catalog-info.yaml", 200, "name: on-main\n"},
		{first + "/catalog-info.yaml", 200, "name: on-main\n"},
		{first[:10] + "/catalog-info.yaml", 200, "name: on-main\n"},
		{"HEAD/catalog-info.yaml", 200, "name: on-main\n"},
		{"main/docs/api/openapi.yaml", 200, "openapi: 3.0.0\n"},
		{"main/nope.yaml", 404, "nope.yaml not found at main"},
		{"nope/catalog-info.yaml", 404, "not found"},
		{"main/docs", 404, "not found"},
		{"main/docs/", 404, "name a ref and a file"},
		{"main", 404, "name a ref and a file"},
		{"main/big.txt", 413, "githost.maxRawBytes"},
		{"main~1/catalog-info.yaml", 404, "not found"},
		{"main%5E/catalog-info.yaml", 404, "not found"},
		{"HEAD@%7B0%7D/catalog-info.yaml", 404, "not found"},
		{"--output=x/catalog-info.yaml", 404, "not found"},
		{"main..v1/catalog-info.yaml", 404, "not found"},
		{"main/%2e%2e/%2e%2e/catalog-info.yaml", 400, "'..'"},
		{"main/docs/%2e/api/openapi.yaml", 400, "'.'"},
		{"main/a%0Ab", 400, "control characters"},
	} {
		code, _, body := e.get(t, "/git/acme/payments/raw/"+tc.path, testToken)
		if code != tc.code || !strings.Contains(body, tc.body) {
			t.Errorf("raw/%s: %d %q, want %d with %q", tc.path, code, body, tc.code, tc.body)
		}
	}

	code, hdr, _ := e.get(t, "/git/acme/payments/raw/main/catalog-info.yaml", testToken)
	want := http.Header{"Content-Type": {"text/plain; charset=utf-8"}, "X-Content-Type-Options": {"nosniff"},
		"Content-Security-Policy": {"default-src 'none'; sandbox"}, "Cache-Control": {"no-cache"}}
	for k := range want {
		if d := cmp.Diff(want[k], hdr.Values(k)); d != "" || code != 200 {
			t.Errorf("%s (-want +got):\n%s", k, d)
		}
	}
	if code, _, _ := e.get(t, "/git/acme/payments/raw/main/catalog-info.yaml", testToken, "If-None-Match", hdr.Get("ETag")); code != 304 {
		t.Errorf("If-None-Match with the ETag: %d, want 304", code)
	}
	// Without a token: 401, unless anonymous reads are allowed.
	if code, _, _ := e.get(t, "/git/acme/payments/raw/main/catalog-info.yaml", ""); code != 401 {
		t.Errorf("raw without a token: %d, want 401", code)
	}
	// Unknown repositories and names that cannot be one.
	for _, p := range []string{"/git/acme/nope/raw/main/x", "/git/Acme/payments/raw/main/x", "/git/acme/pay.ments/raw/main/x"} {
		if code, _, _ := e.get(t, p, testToken); code != 404 {
			t.Errorf("GET %s: %d, want 404", p, code)
		}
	}
	// Traversal reaching the handler unclean (no ServeMux in front) is refused too.
	for _, p := range []string{"/git/acme/payments/raw/main/../../../etc/passwd", "/git/acme/payments/raw/main/./catalog-info.yaml",
		"/git/acme/payments/raw/main//catalog-info.yaml"} {
		w := httptest.NewRecorder()
		e.host.ServeLocal(w, httptest.NewRequest(http.MethodGet, p, nil))
		if w.Code != 400 {
			t.Errorf("ServeLocal %s: %d %s, want 400", p, w.Code, w.Body)
		}
	}
	// ServeLocal serves raw reads only, without credentials.
	w := httptest.NewRecorder()
	e.host.ServeLocal(w, httptest.NewRequest(http.MethodGet, "/git/acme/payments/raw/main/catalog-info.yaml", nil))
	if w.Code != 200 || w.Body.String() != "name: on-main\n" {
		t.Errorf("ServeLocal raw: %d %q", w.Code, w.Body)
	}
	w = httptest.NewRecorder()
	e.host.ServeLocal(w, httptest.NewRequest(http.MethodGet, "/git/acme/payments.git/info/refs?service=git-upload-pack", nil))
	if w.Code != 404 {
		t.Errorf("ServeLocal of a Git path: %d, want 404", w.Code)
	}
}

func TestPickRef(t *testing.T) {
	refs := []string{"refs/heads/main", "refs/heads/feature/x", "refs/tags/v1", "refs/tags/feature", "refs/heads/v1", "refs/tags/release/2024/q1"}
	for _, tc := range []struct{ in, rev, path string }{
		{"main/a.yaml", "refs/heads/main", "a.yaml"},
		{"feature/x/a/b.yaml", "refs/heads/feature/x", "a/b.yaml"},
		{"feature/y.yaml", "refs/tags/feature", "y.yaml"},
		{"v1/a.yaml", "refs/heads/v1", "a.yaml"}, // a branch wins over a tag
		{"release/2024/q1/a.yaml", "refs/tags/release/2024/q1", "a.yaml"},
		{"0123abc/a.yaml", "0123abc", "a.yaml"},
		{"HEAD/a.yaml", "HEAD", "a.yaml"},
		{"-x/a", "", ""},
		{"a..b/c", "", ""},
		{"a@b/c", "", ""},
	} {
		rev, path := pickRef(refs, strings.Split(tc.in, "/"))
		if rev != tc.rev || path != tc.path {
			t.Errorf("pickRef(%q) = %q, %q; want %q, %q", tc.in, rev, path, tc.rev, tc.path)
		}
	}
}
