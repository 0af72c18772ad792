package main_test

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The built-in Git host as users meet it: the real `paved serve`, the real git CLI, the
// CLI and the catalog API.

// requireGitCLI skips when git is missing, unless every real service is required (CI).
func requireGitCLI(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		if os.Getenv("PAVED_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatalf("git is not installed (Debian package git): %v", err)
		}
		t.Skip("git is not installed (Debian package git)")
	}
}

// ghGit runs git in dir, never prompting and ignoring the machine's configuration.
func ghGit(t testing.TB, dir string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_AUTHOR_NAME=Dev", "GIT_AUTHOR_EMAIL=dev@example.com", "GIT_COMMITTER_NAME=Dev", "GIT_COMMITTER_EMAIL=dev@example.com")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func ghMustGit(t testing.TB, dir string, args ...string) string {
	t.Helper()
	out, err := ghGit(t, dir, args...)
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(out)
}

// ghDo sends a request with the token (if any) and returns the code and body.
func ghDo(t testing.TB, method, url, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// ghWaitReady waits until the Repository ns/name reports Ready=True.
func ghWaitReady(t testing.TB, p *serveProc, token, ns, name string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		code, body := ghDo(t, "GET", fmt.Sprintf("http://%s/apis/git.paved.dev/v1/namespaces/%s/repositories/%s", p.addr, ns, name), token, "")
		if code == 200 && strings.Contains(body, `"reason":"Available","status":"True","type":"Ready"`) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("repository %s/%s never became ready: %d %s", ns, name, code, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ghDescription returns the description of component:default/name through the catalog API.
func ghDescription(t testing.TB, p *serveProc, token, name string) string {
	t.Helper()
	code, body := ghDo(t, "GET", "http://"+p.addr+"/api/catalog/entities/by-name/component/default/"+name, token, "")
	if code != 200 {
		return fmt.Sprintf("<%d>", code)
	}
	var e struct {
		Metadata struct{ Description string }
	}
	_ = json.Unmarshal([]byte(body), &e)
	return e.Metadata.Description
}

// ghCommit writes catalog-info.yaml with the description and commits it.
func ghCommit(t testing.TB, work, description string) {
	t.Helper()
	content := fmt.Sprintf("apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: payments\n  description: %s\nspec:\n  type: service\n  lifecycle: production\n  owner: team-payments\n", description)
	if err := os.WriteFile(filepath.Join(work, "catalog-info.yaml"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	ghMustGit(t, work, "add", "catalog-info.yaml")
	ghMustGit(t, work, "commit", "-q", "-m", description)
}

// TestGitHostEndToEnd: `paved apply` a Repository (the example's), clone it, push a
// catalog-info.yaml, register its raw URL as a catalog location, change it, push, and see
// the change through /api/catalog within a second of the push returning. Then what must
// be refused is refused, and deleting the Repository removes its directory.
func TestGitHostEndToEnd(t *testing.T) {
	requireGitCLI(t)
	bin := buildBinary(t)
	cfg := filepath.Join(t.TempDir(), "paved.yaml")
	if err := os.WriteFile(cfg, []byte("githost:\n  maxPushBytes: 1048576\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startServe(t, bin, "", nil, "--config", cfg)
	token := p.token(t)
	env := []string{"PAVED_SERVER=http://" + p.addr, "PAVED_DATA=" + p.data}

	out, err := runCLI(t, bin, env, "api-resources")
	if err != nil || !strings.Contains(out, "repositories") || !strings.Contains(out, "git.paved.dev/v1") {
		t.Fatalf("api-resources: %v\n%s", err, out)
	}
	out, err = runCLI(t, bin, env, "apply", "-f", "../../examples/githost/repository.yaml")
	if err != nil || !strings.Contains(out, "repository.git.paved.dev/payments created") {
		t.Fatalf("apply the example repository: %v\n%s", err, out)
	}
	ghWaitReady(t, p, token, "acme", "payments")
	out, err = runCLI(t, bin, env, "get", "repositories", "-n", "acme")
	if err != nil || !strings.Contains(out, "payments") || !strings.Contains(out, "main") || !strings.Contains(out, "True") {
		t.Errorf("get repositories: %v\n%s", err, out)
	}
	dir := filepath.Join(p.data, "git", "acme", "payments.git")
	if _, err := os.Stat(dir); err != nil {
		t.Fatal(err)
	}

	// Clone, commit, push, register.
	authURL := "http://git:" + token + "@" + p.addr + "/git/acme/payments.git"
	work := filepath.Join(t.TempDir(), "payments")
	ghMustGit(t, filepath.Dir(work), "clone", "-q", authURL, work)
	ghCommit(t, work, "first")
	ghMustGit(t, work, "push", "-q", "origin", "main")
	raw := "http://" + p.addr + "/git/acme/payments/raw/main/catalog-info.yaml"
	if code, body := ghDo(t, "POST", "http://"+p.addr+"/api/catalog/locations", token, `{"type":"url","target":"`+raw+`"}`); code != 201 {
		t.Fatalf("register %s: %d %s", raw, code, body)
	}
	if got := ghDescription(t, p, token, "payments"); got != "first" {
		t.Fatalf("after registering: description %q", got)
	}

	// Change, push, and read it back through the catalog API within a second.
	ghCommit(t, work, "second")
	ghMustGit(t, work, "push", "-q", "origin", "main")
	pushed := time.Now()
	for ghDescription(t, p, token, "payments") != "second" {
		if time.Since(pushed) > time.Second {
			t.Fatalf("the catalog did not show the pushed change within a second (it shows %q)", ghDescription(t, p, token, "payments"))
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("push to visible in the catalog: %v", time.Since(pushed).Round(time.Millisecond))
	out, _ = runCLI(t, bin, env, "get", "repository", "payments", "-n", "acme", "-o", "json")
	for _, want := range []string{`"pushes": 2`, `"refs/heads/main"`, `"catalogRefresh"`} {
		if !strings.Contains(out, want) {
			t.Errorf("repository status lacks %s:\n%s", want, out)
		}
	}

	// Refused: a push without the token, a fetch of an unknown repository, hostile
	// names, traversal in the raw API, an oversized push.
	ghCommit(t, work, "third")
	out, err = ghGit(t, work, "push", "http://"+p.addr+"/git/acme/payments.git", "main")
	if err == nil || !strings.Contains(out, "could not read Username") {
		t.Errorf("push without a token: %v\n%s", err, out)
	}
	out, err = ghGit(t, work, "ls-remote", "http://git:"+token+"@"+p.addr+"/git/acme/unknown.git")
	if err == nil || !strings.Contains(out, "not found") {
		t.Errorf("fetch of an unknown repository: %v\n%s", err, out)
	}
	if code, _ := ghDo(t, "GET", "http://"+p.addr+"/git/acme/unknown.git/info/refs?service=git-upload-pack", token, ""); code != 404 {
		t.Errorf("unknown repository: %d, want 404", code)
	}
	for _, name := range []string{"..", "a/b", "Payments", strings.Repeat("x", 300)} {
		body := fmt.Sprintf(`{"apiVersion":"git.paved.dev/v1","kind":"Repository","metadata":{"name":%q}}`, name)
		if code, resp := ghDo(t, "POST", "http://"+p.addr+"/apis/git.paved.dev/v1/namespaces/acme/repositories", token, body); code != 422 {
			t.Errorf("repository named %.20q: %d %s, want 422", name, code, resp)
		}
	}
	if code, body := ghDo(t, "GET", "http://"+p.addr+"/git/acme/payments/raw/main/%2e%2e/%2e%2e/%2e%2e/admin-token", token, ""); code != 400 || strings.Contains(body, token) {
		t.Errorf("raw traversal: %d %s, want 400", code, body)
	}
	big := make([]byte, 3<<20)
	_, _ = rand.Read(big)
	if err := os.WriteFile(filepath.Join(work, "big.bin"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	ghMustGit(t, work, "add", "big.bin")
	ghMustGit(t, work, "commit", "-q", "-m", "big")
	if out, err := ghGit(t, work, "push", "origin", "main"); err == nil {
		t.Errorf("a push over githost.maxPushBytes succeeded:\n%s", out)
	}
	if got := ghDescription(t, p, token, "payments"); got != "second" {
		t.Errorf("refused pushes changed the catalog: %q", got)
	}

	// Deleting the Repository removes its directory.
	out, err = runCLI(t, bin, env, "delete", "repository", "payments", "-n", "acme")
	if err != nil {
		t.Fatalf("delete: %v\n%s", err, out)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, _ := ghDo(t, "GET", "http://"+p.addr+"/apis/git.paved.dev/v1/namespaces/acme/repositories/payments", token, "")
		_, statErr := os.Stat(dir)
		if code == 404 && os.IsNotExist(statErr) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after delete: GET %d, directory: %v", code, statErr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// BenchmarkPushToCatalogVisible measures, on the real `paved serve`, the time from `git
// push` returning to the change being visible through /api/catalog, over 20 pushes of a
// registered catalog-info.yaml; it reports p50 and max (and the push itself).
func BenchmarkPushToCatalogVisible(b *testing.B) {
	requireGitCLI(b)
	bin := buildBinary(b)
	p := startServe(b, bin, "", nil)
	token := p.token(b)
	body := `{"apiVersion":"git.paved.dev/v1","kind":"Repository","metadata":{"namespace":"acme","name":"payments"}}`
	if code, resp := ghDo(b, "POST", "http://"+p.addr+"/apis/git.paved.dev/v1/namespaces/acme/repositories", token, body); code != 201 {
		b.Fatalf("create repository: %d %s", code, resp)
	}
	ghWaitReady(b, p, token, "acme", "payments")
	work := filepath.Join(b.TempDir(), "payments")
	ghMustGit(b, filepath.Dir(work), "clone", "-q", "http://git:"+token+"@"+p.addr+"/git/acme/payments.git", work)
	ghCommit(b, work, "v0")
	ghMustGit(b, work, "push", "-q", "origin", "main")
	raw := "http://" + p.addr + "/git/acme/payments/raw/main/catalog-info.yaml"
	if code, resp := ghDo(b, "POST", "http://"+p.addr+"/api/catalog/locations", token, `{"type":"url","target":"`+raw+`"}`); code != 201 {
		b.Fatalf("register: %d %s", code, resp)
	}
	const pushes = 20
	var visible, push []time.Duration
	b.ResetTimer()
	for range b.N {
		visible, push = visible[:0], push[:0]
		for i := 1; i <= pushes; i++ {
			want := fmt.Sprintf("v%d-%d", i, time.Now().UnixNano())
			ghCommit(b, work, want)
			start := time.Now()
			ghMustGit(b, work, "push", "-q", "origin", "main")
			returned := time.Now()
			for ghDescription(b, p, token, "payments") != want {
				if time.Since(returned) > 10*time.Second {
					b.Fatalf("push %d never became visible", i)
				}
				time.Sleep(time.Millisecond)
			}
			visible = append(visible, time.Since(returned))
			push = append(push, returned.Sub(start))
		}
	}
	b.StopTimer()
	slices.Sort(visible)
	slices.Sort(push)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(visible[len(visible)/2]), "visible-p50-ms")
	b.ReportMetric(ms(visible[len(visible)-1]), "visible-max-ms")
	b.ReportMetric(ms(push[len(push)/2]), "push-p50-ms")
	b.ReportMetric(ms(push[len(push)-1]), "push-max-ms")
}
