package githost

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paved-dev/paved/api"
	"github.com/paved-dev/paved/internal/apiserver"
	"github.com/paved-dev/paved/internal/auth"
	"github.com/paved-dev/paved/internal/controller"
	"github.com/paved-dev/paved/internal/kinds"
	"github.com/paved-dev/paved/internal/store"
	"github.com/paved-dev/paved/internal/store/sqlite"
)

const testToken = "pvd_githost_test_token_0123456789abcdef"

// requireGit skips the test when git is not installed, unless the environment asks for
// every real service (CI), where it fails.
func requireGit(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		if os.Getenv("PAVED_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatalf("git is not installed (Debian package git): %v", err)
		}
		t.Skip("git is not installed (Debian package git)")
	}
}

// env is a Git host behind the real API server (mounted with HandlePublic, as paved serve
// does), on a SQLite store, with its controller running.
type env struct {
	st   *store.Store
	host *Host
	srv  *httptest.Server
	root string
	logs *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newEnv(t testing.TB, configure func(*Options)) *env {
	t.Helper()
	requireGit(t)
	be, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "paved.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st := store.New(be, kinds.NewRegistry(), store.Options{})
	t.Cleanup(func() {
		st.Close()
		_ = be.Close()
	})
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	authn, err := auth.NewAdmin(testToken)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{st: st, root: filepath.Join(t.TempDir(), "git"), logs: logs}
	opts := Options{Store: st, Root: e.root, Auth: authn, Logger: log,
		Addr: func() string { return e.srv.Listener.Addr().String() }}
	if configure != nil {
		configure(&opts)
	}
	e.host, err = New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := apiserver.New(apiserver.Options{Store: st, Auth: authn, AnonymousRead: opts.AnonymousRead, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	srv.HandlePublic("/git/", e.host.Handler())
	e.srv = httptest.NewServer(srv.Handler())
	t.Cleanup(e.srv.Close)

	ctl, err := e.host.Controller()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = ctl.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	return e
}

// createRepo creates a Repository and waits until it is Ready.
func (e *env) createRepo(t testing.TB, ns, name, spec string) *api.Object {
	t.Helper()
	if spec == "" {
		spec = "{}"
	}
	_, err := e.st.Create(context.Background(), &api.Object{APIVersion: Group + "/v1", Kind: "Repository",
		Metadata: api.ObjectMeta{Namespace: ns, Name: name}, Spec: json.RawMessage(spec)})
	if err != nil {
		t.Fatal(err)
	}
	return e.waitRepo(t, ns, name, func(o *api.Object) bool { return controller.IsReady(o) })
}

// waitRepo waits until cond holds for the Repository ns/name, and returns it.
func (e *env) waitRepo(t testing.TB, ns, name string, cond func(*api.Object) bool) *api.Object {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		o, err := e.st.Get(context.Background(), e.host.Kind(), ns, name)
		if err == nil && cond(o) {
			return o
		}
		if time.Now().After(deadline) {
			t.Fatalf("repository %s/%s: condition not reached (last: %v, %s)", ns, name, err, statusOf(o))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func statusOf(o *api.Object) string {
	if o == nil {
		return "<none>"
	}
	return string(o.Status)
}

// url returns the clone URL of ns/name, with the token as basic-auth password if withToken.
func (e *env) url(ns, name string, withToken bool) string {
	host := strings.TrimPrefix(e.srv.URL, "http://")
	if withToken {
		return "http://git:" + testToken + "@" + host + "/git/" + ns + "/" + name + ".git"
	}
	return "http://" + host + "/git/" + ns + "/" + name + ".git"
}

// git runs the git CLI in dir as a user would, never prompting, with no configuration of
// the machine's.
func git(t testing.TB, dir string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_AUTHOR_NAME=Test", "GIT_AUTHOR_EMAIL=test@example.com", "GIT_COMMITTER_NAME=Test",
		"GIT_COMMITTER_EMAIL=test@example.com", "GIT_ASKPASS=", "SSH_ASKPASS=")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func mustGit(t testing.TB, dir string, args ...string) string {
	t.Helper()
	out, err := git(t, dir, args...)
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(out)
}

// clone clones ns/name with the token into a new directory and returns it.
func (e *env) clone(t testing.TB, ns, name string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	mustGit(t, filepath.Dir(dir), "clone", "-q", e.url(ns, name, true), dir)
	return dir
}

// commitFile writes a file in the work tree and commits it.
func commitFile(t testing.TB, dir, name, content string) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	mustGit(t, dir, "add", "--", name)
	mustGit(t, dir, "commit", "-q", "-m", "write "+name)
}

// get sends a GET with the token (unless token is "") and returns code and body.
func (e *env) get(t testing.TB, path, token string, hdr ...string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// repoStatus decodes a Repository's status.
type repoStatusView struct {
	Pushes   int64 `json:"pushes"`
	LastPush Push  `json:"lastPush"`
}

func repoStatus(t testing.TB, o *api.Object) repoStatusView {
	t.Helper()
	var v repoStatusView
	if len(o.Status) > 0 {
		if err := json.Unmarshal(o.Status, &v); err != nil {
			t.Fatal(err)
		}
	}
	return v
}

// waitGone waits until the Repository ns/name no longer exists.
func (e *env) waitGone(t testing.TB, ns, name string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		o, err := e.st.Get(context.Background(), e.host.Kind(), ns, name)
		if api.IsNotFound(err) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("repository %s/%s was not deleted (last: %v, %s)", ns, name, err, statusOf(o))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func strconvQuote(s string) string { return strconv.Quote(s) }

func execLookPath(name string) (string, error) { return exec.LookPath(name) }
