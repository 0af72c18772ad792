package catalog

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/paved-dev/paved/api"
	"github.com/paved-dev/paved/internal/controller"
	"github.com/paved-dev/paved/internal/githost"
	"github.com/paved-dev/paved/internal/kinds"
)

// fakeGit stands in for the Git host: files by URL path, served for the host
// paved.test. (The real Git host with the git CLI is tested end to end in cmd/paved.)
type fakeGit struct {
	mu    sync.Mutex
	files map[string]string
	reads atomic.Int64
}

func (f *fakeGit) Local(u *url.URL) bool {
	return u.Scheme == "http" && u.Host == "paved.test" && strings.HasPrefix(u.Path, "/git/")
}

func (f *fakeGit) ServeLocal(w http.ResponseWriter, r *http.Request) {
	f.reads.Add(1)
	f.mu.Lock()
	content, ok := f.files[r.URL.Path]
	f.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	_, _ = w.Write([]byte(content))
}

func (f *fakeGit) set(path, content string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.files[path] = content
}

func gitComponent(name, description string) string {
	return fmt.Sprintf("apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: %s\n  description: %s\nspec:\n  type: service\n  lifecycle: production\n  owner: team-a\n", name, description)
}

// gitPushEnv is a catalog whose url locations read the fake Git host, with its
// controllers and the push controller running, and a Repository acme/payments.
type gitPushEnv struct {
	c     *Catalog
	git   *fakeGit
	repos *kinds.Kind
}

func newGitPushEnv(t *testing.T, fileRoot string) *gitPushEnv {
	t.Helper()
	fg := &fakeGit{files: map[string]string{}}
	opts := Options{HTTPClient: LocalGitClient(fg)}
	if fileRoot != "" {
		opts.FileRoots = []string{fileRoot}
	}
	c := newCatalog(t, opts)
	if err := c.store.Kinds().Register(githost.Kind()); err != nil {
		t.Fatal(err)
	}
	repos, _ := c.store.Kinds().ByGVK(githost.Group+"/v1", "Repository")
	if _, err := c.store.Create(context.Background(), &api.Object{APIVersion: githost.Group + "/v1", Kind: "Repository",
		Metadata: api.ObjectMeta{Namespace: "acme", Name: "payments"}}); err != nil {
		t.Fatal(err)
	}
	ctls, err := c.Controllers()
	if err != nil {
		t.Fatal(err)
	}
	push, err := c.GitPushController(repos, fg)
	if err != nil {
		t.Fatal(err)
	}
	m, err := controller.NewManager(controller.ManagerOptions{Logger: c.log})
	if err != nil {
		t.Fatal(err)
	}
	for _, ctl := range append(ctls, push) {
		if err := m.Add(ctl); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = m.Start(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return &gitPushEnv{c: c, git: fg, repos: repos}
}

// push records a push of refs in the Repository's status, as the Git host does, and
// waits until the catalog has handled it; it returns status.catalogRefresh.
func (e *gitPushEnv) push(t *testing.T, pushes int64, refs ...string) gitRefreshStatus {
	t.Helper()
	ctx := context.Background()
	o, err := e.c.store.Get(ctx, e.repos, "acme", "payments")
	if err != nil {
		t.Fatal(err)
	}
	p := githost.Push{Time: "2026-11-26T10:00:00Z", User: "admin"}
	for i, r := range refs {
		p.Refs = append(p.Refs, githost.RefUpdate{Name: r, OldSHA: strings.Repeat("0", 40), NewSHA: fmt.Sprintf("%040d", pushes*10+int64(i))})
	}
	status := map[string]any{}
	if len(o.Status) > 0 {
		_ = json.Unmarshal(o.Status, &status)
	}
	status["pushes"], status["lastPush"] = pushes, p
	o.Status, _ = json.Marshal(status)
	if _, err := e.c.store.UpdateStatus(ctx, o); err != nil {
		t.Fatal(err)
	}
	var rec gitRefreshStatus
	eventually(t, fmt.Sprintf("the catalog handled push %d", pushes), func() (bool, string) {
		o, err := e.c.store.Get(ctx, e.repos, "acme", "payments")
		if err != nil {
			return false, err.Error()
		}
		var st repositoryStatus
		_ = json.Unmarshal(o.Status, &st)
		if st.CatalogRefresh == nil || st.CatalogRefresh.Pushes != pushes {
			return false, string(o.Status)
		}
		rec = *st.CatalogRefresh
		return true, ""
	})
	return rec
}

func description(t *testing.T, c *Catalog, ref string) string {
	t.Helper()
	return mustGet(t, c, ref).Metadata.Description
}

// TestGitPushRefreshesLocations: a push refreshes a location whose target is a raw file
// of the repository at a pushed ref, and a file below another location that is one; a
// push of another ref refreshes neither; pushes the catalog missed refresh every ref.
// URLs of other hosts are never read for a push.
func TestGitPushRefreshesLocations(t *testing.T) {
	dir := t.TempDir()
	e := newGitPushEnv(t, dir)
	ctx := context.Background()
	const raw = "/git/acme/payments/raw/"
	e.git.set(raw+"main/catalog-info.yaml", gitComponent("payments", "first"))
	e.git.set(raw+"main/team.yaml", gitComponent("ledger", "first"))
	e.git.set(raw+"dev/catalog-info.yaml", gitComponent("payments-dev", "first"))

	// Another server with the same path is not this Git host.
	var otherReads atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		otherReads.Add(1)
		_, _ = w.Write([]byte(gitComponent("elsewhere", "x")))
	}))
	defer other.Close()

	writeFiles(t, dir, map[string]string{"all.yaml": "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata:\n  name: all\nspec:\n  type: url\n  targets:\n" +
		"    - http://paved.test" + raw + "main/team.yaml\n"})
	for _, l := range []LocationSpec{
		{Type: "url", Target: "http://paved.test" + raw + "main/catalog-info.yaml"},
		{Type: "file", Target: filepath.Join(dir, "all.yaml")},
		{Type: "url", Target: "http://paved.test" + raw + "dev/catalog-info.yaml"},
		{Type: "url", Target: other.URL + raw + "main/catalog-info.yaml"},
	} {
		if _, _, _, err := e.c.AddLocation(ctx, l, false); err != nil {
			t.Fatalf("register %s: %v", l.Target, err)
		}
	}
	if got := description(t, e.c, "component:default/ledger"); got != "first" {
		t.Fatalf("ledger: %q", got)
	}
	readsBefore := otherReads.Load()

	// A push of main: the url location on main and the file below the file location.
	e.git.set(raw+"main/catalog-info.yaml", gitComponent("payments", "second"))
	e.git.set(raw+"main/team.yaml", gitComponent("ledger", "second"))
	e.git.set(raw+"dev/catalog-info.yaml", gitComponent("payments-dev", "second"))
	rec := e.push(t, 1, "refs/heads/main")
	if rec.Locations != 1 || rec.Files != 1 || rec.Errors != 0 {
		t.Errorf("catalogRefresh %+v, want 1 location and 1 file", rec)
	}
	for ref, want := range map[string]string{"component:default/payments": "second", "component:default/ledger": "second",
		"component:default/payments-dev": "first"} {
		if got := description(t, e.c, ref); got != want {
			t.Errorf("after a push of main: %s description %q, want %q", ref, got, want)
		}
	}

	// A push of dev reads only the dev location.
	e.git.set(raw+"main/catalog-info.yaml", gitComponent("payments", "third"))
	rec = e.push(t, 2, "refs/heads/dev")
	if rec.Locations != 1 || rec.Files != 0 {
		t.Errorf("catalogRefresh %+v, want 1 location", rec)
	}
	if got := description(t, e.c, "component:default/payments-dev"); got != "second" {
		t.Errorf("payments-dev after a push of dev: %q", got)
	}
	if got := description(t, e.c, "component:default/payments"); got != "second" {
		t.Errorf("payments was read again for a push of dev: %q", got)
	}

	// Pushes the catalog did not see (it was not running, say): every ref.
	rec = e.push(t, 5, "refs/tags/v9")
	if rec.Locations != 2 || rec.Files != 1 {
		t.Errorf("catalogRefresh after missed pushes %+v, want 2 locations and 1 file", rec)
	}
	if got := description(t, e.c, "component:default/payments"); got != "third" {
		t.Errorf("payments after missed pushes: %q", got)
	}
	if n := otherReads.Load(); n != readsBefore {
		t.Errorf("another host was read %d times for pushes", n-readsBefore)
	}

	// A file deleted by a push is an error of its location, not a retry loop.
	e.git.mu.Lock()
	delete(e.git.files, raw+"dev/catalog-info.yaml")
	e.git.mu.Unlock()
	if rec := e.push(t, 6, "refs/heads/dev"); rec.Errors != 1 {
		t.Errorf("catalogRefresh %+v, want 1 error", rec)
	}
}

func TestRawURLMatcher(t *testing.T) {
	fg := &fakeGit{}
	refs := []pushedRef{{Name: "refs/heads/feature/x", NewSHA: "0123456789abcdef0123456789abcdef01234567"}, {Name: "refs/tags/v1", NewSHA: "fedcba"}}
	for _, tc := range []struct {
		target string
		refs   []pushedRef
		want   bool
	}{
		{"http://paved.test/git/acme/payments/raw/feature/x/catalog-info.yaml", refs, true},
		{"http://paved.test/git/acme/payments/raw/v1/a/b.yaml", refs, true},
		{"http://paved.test/git/acme/payments/raw/HEAD/a.yaml", refs, true},
		{"http://paved.test/git/acme/payments/raw/0123456789abcdef0123456789abcdef01234567/a.yaml", refs, true},
		{"http://paved.test/git/acme/payments/raw/0123456/a.yaml", refs, true},
		{"http://paved.test/git/acme/payments/raw/012345/a.yaml", refs, false}, // too short to be an id
		{"http://paved.test/git/acme/payments/raw/feature/a.yaml", refs, false},
		{"http://paved.test/git/acme/payments/raw/main/a.yaml", refs, false},
		{"http://paved.test/git/acme/payments/raw/main/a.yaml", nil, true},
		{"http://paved.test/git/acme/payments-x/raw/main/a.yaml", nil, false},
		{"http://paved.test/git/acme/payments.git/info/refs", nil, false},
		{"http://elsewhere.test/git/acme/payments/raw/main/a.yaml", nil, false},
	} {
		if got := rawURLMatcher(fg, "acme", "payments", tc.refs)(tc.target); got != tc.want {
			t.Errorf("%s (refs %v): %v, want %v", tc.target, tc.refs != nil, got, tc.want)
		}
	}
}
