package githost

import (
	"crypto/rand"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCloneFetchPush: the real git CLI clones an empty repository, pushes to it, and a
// second clone and a fetch see the commits, with and without the .git suffix.
func TestCloneFetchPush(t *testing.T) {
	e := newEnv(t, nil)
	e.createRepo(t, "acme", "payments", "")
	work := e.clone(t, "acme", "payments")
	commitFile(t, work, "catalog-info.yaml", "kind: Component\n")
	mustGit(t, work, "push", "-q", "origin", "main")
	head := mustGit(t, work, "rev-parse", "HEAD")

	other := filepath.Join(t.TempDir(), "other")
	noSuffix := strings.TrimSuffix(e.url("acme", "payments", true), ".git")
	mustGit(t, filepath.Dir(other), "clone", "-q", noSuffix, other)
	if got := mustGit(t, other, "rev-parse", "HEAD"); got != head {
		t.Fatalf("second clone at %s, want %s", got, head)
	}
	commitFile(t, work, "README.md", "# payments\n")
	mustGit(t, work, "push", "-q", "origin", "main")
	mustGit(t, other, "pull", "-q", "--ff-only")
	if _, err := os.Stat(filepath.Join(other, "README.md")); err != nil {
		t.Errorf("fetch did not bring the new commit: %v", err)
	}
	// A branch and a tag, as git pushes them (a large push goes chunked: over 1 MiB).
	mustGit(t, work, "checkout", "-q", "-b", "feature/x")
	big := make([]byte, 3<<20)
	_, _ = rand.Read(big)
	if err := os.WriteFile(filepath.Join(work, "big.bin"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	mustGit(t, work, "add", "big.bin")
	mustGit(t, work, "commit", "-q", "-m", "big")
	mustGit(t, work, "tag", "v1")
	mustGit(t, work, "push", "-q", "origin", "feature/x", "v1")
	refs := mustGit(t, work, "ls-remote", "origin")
	for _, want := range []string{"refs/heads/main", "refs/heads/feature/x", "refs/tags/v1"} {
		if !strings.Contains(refs, want) {
			t.Errorf("ls-remote lacks %s:\n%s", want, refs)
		}
	}
}

// TestPushNeedsToken: pushes without the token, or with a wrong one, are refused even
// when anonymous reads are allowed; the token works as basic-auth password and as a bearer
// header.
func TestPushNeedsToken(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.AnonymousRead = true })
	e.createRepo(t, "acme", "payments", "")
	work := filepath.Join(t.TempDir(), "w")
	mustGit(t, filepath.Dir(work), "clone", "-q", e.url("acme", "payments", false), work) // anonymous clone
	commitFile(t, work, "a.txt", "a\n")

	out, err := git(t, work, "push", e.url("acme", "payments", false), "main")
	if err == nil || !strings.Contains(out, "could not read Username") {
		t.Errorf("anonymous push: %v\n%s", err, out)
	}
	wrong := strings.Replace(e.url("acme", "payments", true), testToken, "pvd_wrong_token_0123456789abcdef", 1)
	if out, err := git(t, work, "push", wrong, "main"); err == nil || !strings.Contains(out, "Authentication failed") {
		t.Errorf("push with a wrong token: %v\n%s", err, out)
	}
	if out := mustGit(t, work, "ls-remote", e.url("acme", "payments", false)); out != "" {
		t.Fatalf("a refused push changed refs:\n%s", out)
	}
	mustGit(t, work, "-c", "http.extraHeader=Authorization: Bearer "+testToken, "push", "-q", e.url("acme", "payments", false), "main")
	if out := mustGit(t, work, "ls-remote", e.url("acme", "payments", false)); !strings.Contains(out, "refs/heads/main") {
		t.Errorf("push with a bearer header did not land:\n%s", out)
	}
	// The advertisement for a push needs the token too.
	if code, hdr, _ := e.get(t, "/git/acme/payments.git/info/refs?service=git-receive-pack", ""); code != 401 || !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Basic") {
		t.Errorf("receive-pack advertisement without a token: %d %q", code, hdr.Get("WWW-Authenticate"))
	}
}

// TestFetchNeedsTokenUnlessAnonymousRead: without anonymous reads, cloning needs the
// token; an unknown repository is 404 for whoever has it, and nothing on disk decides:
// a bare repository put in place by hand is not served.
func TestFetchNeedsTokenUnlessAnonymousRead(t *testing.T) {
	e := newEnv(t, nil)
	e.createRepo(t, "acme", "payments", "")
	dst := filepath.Join(t.TempDir(), "c")
	if out, err := git(t, filepath.Dir(dst), "clone", e.url("acme", "payments", false), dst); err == nil || !strings.Contains(out, "could not read Username") {
		t.Errorf("clone without a token: %v\n%s", err, out)
	}
	code, hdr, _ := e.get(t, "/git/acme/payments.git/info/refs?service=git-upload-pack", "")
	if code != 401 || hdr.Get("WWW-Authenticate") != `Basic realm="paved", charset="UTF-8"` {
		t.Errorf("no token: %d %q", code, hdr.Get("WWW-Authenticate"))
	}
	if code, _, _ := e.get(t, "/git/acme/payments.git/info/refs?service=git-upload-pack", testToken); code != 200 {
		t.Errorf("with the token: %d", code)
	}
	// Unknown: 404 with the token, 401 without (nothing is said to strangers).
	if code, _, body := e.get(t, "/git/acme/nope.git/info/refs?service=git-upload-pack", testToken); code != 404 || !strings.Contains(body, "acme/nope not found") {
		t.Errorf("unknown repository: %d %s", code, body)
	}
	if code, _, _ := e.get(t, "/git/acme/nope.git/info/refs?service=git-upload-pack", ""); code != 401 {
		t.Errorf("unknown repository without a token: %d, want 401", code)
	}
	out, err := git(t, t.TempDir(), "ls-remote", e.url("acme", "nope", true))
	if err == nil || !strings.Contains(out, "not found") {
		t.Errorf("ls-remote of an unknown repository: %v\n%s", err, out)
	}
	mustGit(t, e.root, "init", "-q", "--bare", filepath.Join(e.root, "acme", "ghost.git"))
	if code, _, _ := e.get(t, "/git/acme/ghost.git/info/refs?service=git-upload-pack", testToken); code != 404 {
		t.Errorf("a directory without a Repository object is served: %d", code)
	}
	// Only the smart protocol: the dumb one's plain files are not served.
	for _, p := range []string{"/git/acme/payments.git/info/refs", "/git/acme/payments.git/HEAD", "/git/acme/payments.git/config",
		"/git/acme/payments.git/objects/info/packs"} {
		if code, _, _ := e.get(t, p, testToken); code != 403 && code != 404 {
			t.Errorf("GET %s: %d, want 403 or 404", p, code)
		}
	}
}

// TestHooksDoNotRun: hooks never run on push, even when someone with access to the disk
// puts them in the repository's hooks directory or points core.hooksPath elsewhere.
func TestHooksDoNotRun(t *testing.T) {
	e := newEnv(t, nil)
	e.createRepo(t, "acme", "payments", "")
	dir := filepath.Join(e.root, "acme", "payments.git")
	marker := filepath.Join(t.TempDir(), "hook-ran")
	script := "#!/bin/sh\ntouch " + marker + "\n"
	evil := filepath.Join(t.TempDir(), "evil-hooks")
	for _, d := range []string{filepath.Join(dir, "hooks"), evil} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, h := range []string{"pre-receive", "update", "post-receive", "post-update", "reference-transaction", "push-to-checkout"} {
			if err := os.WriteFile(filepath.Join(d, h), []byte(script), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	mustGit(t, dir, "config", "core.hooksPath", evil) // tampered with on disk; the environment wins
	work := e.clone(t, "acme", "payments")
	commitFile(t, work, "a.txt", "a\n")
	mustGit(t, work, "push", "-q", "origin", "main")
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("a hook ran on push")
	}
}

// TestOversizedPushRefused: a push over githost.maxPushBytes fails and changes no ref;
// a body announced too large is refused before it is read.
func TestOversizedPushRefused(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.MaxPushBytes = 256 << 10 })
	e.createRepo(t, "acme", "payments", "")
	work := e.clone(t, "acme", "payments")
	commitFile(t, work, "small.txt", "small\n")
	mustGit(t, work, "push", "-q", "origin", "main")
	before := mustGit(t, work, "ls-remote", "origin")

	big := make([]byte, 1<<20) // random: does not compress
	_, _ = rand.Read(big)
	if err := os.WriteFile(filepath.Join(work, "big.bin"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	mustGit(t, work, "add", "big.bin")
	mustGit(t, work, "commit", "-q", "-m", "big")
	out, err := git(t, work, "push", "origin", "main")
	if err == nil {
		t.Fatalf("an oversized push succeeded:\n%s", out)
	}
	if after := mustGit(t, work, "ls-remote", "origin"); after != before {
		t.Errorf("refs changed by a refused push:\n%s\nwas\n%s", after, before)
	}
	if !strings.Contains(e.logs.String(), "githost.maxPushBytes") {
		t.Errorf("the server log does not say why the push failed")
	}
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/git/acme/payments.git/git-receive-pack", strings.NewReader(strings.Repeat("x", 300<<10)))
	req.SetBasicAuth("git", testToken)
	req.Header.Set("Content-Type", "application/x-git-receive-pack-request")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("announced oversized body: %d, want 413", resp.StatusCode)
	}
}

// TestCGIEnvironmentIsMinimal runs a stand-in for git that prints its environment as
// the CGI answer: none of paved's variables, no Authorization or Cookie header, hooks
// forced off, REMOTE_USER only for an authenticated request.
func TestCGIEnvironmentIsMinimal(t *testing.T) {
	requireGit(t)
	real, _ := execLookPath("git")
	fake := filepath.Join(t.TempDir(), "git")
	script := "#!/bin/sh\nif [ \"$1\" = http-backend ]; then printf 'Content-Type: text/plain\\r\\n\\r\\n'; env; exit 0; fi\nexec " + real + " \"$@\"\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PAVED_ADMIN_TOKEN", testToken)
	t.Setenv("PAVED_DATABASE", "postgres://paved:secret@db/paved")
	e := newEnv(t, func(o *Options) { o.Git = fake; o.AnonymousRead = true })
	e.createRepo(t, "acme", "payments", "")
	code, _, body := e.get(t, "/git/acme/payments.git/info/refs?service=git-upload-pack", testToken, "Cookie", "session=s3cret")
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	for _, bad := range []string{testToken, "PAVED_", "HTTP_AUTHORIZATION", "HTTP_COOKIE", "s3cret", "secret@db"} {
		if strings.Contains(body, bad) {
			t.Errorf("the CGI environment contains %q:\n%s", bad, body)
		}
	}
	for _, want := range []string{"GIT_PROJECT_ROOT=" + e.root, "GIT_HTTP_EXPORT_ALL=1", "GIT_CONFIG_KEY_0=core.hooksPath",
		"GIT_CONFIG_VALUE_0=" + filepath.Join(e.root, ".empty"), "GIT_CONFIG_NOSYSTEM=1", "HOME=" + filepath.Join(e.root, ".empty"),
		"REMOTE_USER=admin", "PATH_INFO=/acme/payments.git/info/refs"} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("the CGI environment lacks %s:\n%s", want, body)
		}
	}
	_, _, anon := e.get(t, "/git/acme/payments.git/info/refs?service=git-upload-pack", "")
	if strings.Contains(anon, "REMOTE_USER=") {
		t.Errorf("an anonymous fetch runs with REMOTE_USER set:\n%s", anon)
	}
}

// TestRequestTimeout: a git that hangs is stopped at githost.requestTimeout.
func TestRequestTimeout(t *testing.T) {
	requireGit(t)
	if _, err := execLookPath("timeout"); err != nil {
		t.Skip("timeout(1) is not installed (Debian package coreutils)")
	}
	real, _ := execLookPath("git")
	fake := filepath.Join(t.TempDir(), "git")
	script := "#!/bin/sh\nif [ \"$1\" = http-backend ]; then exec sleep 60; fi\nexec " + real + " \"$@\"\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(o *Options) { o.Git = fake; o.RequestTimeout = time.Second })
	e.createRepo(t, "acme", "payments", "")
	start := time.Now()
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/git/acme/payments.git/info/refs?service=git-upload-pack", nil)
	req.SetBasicAuth("git", testToken)
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Errorf("a git that never answered gave 200")
		}
	}
	// The handler has returned (the test server's Close waits for it) and git is gone.
	e.srv.Close()
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("a hanging git held the request for %v", took)
	}
}
