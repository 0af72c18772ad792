package githost

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paved-dev/paved/api"
	"github.com/paved-dev/paved/internal/controller"
	"github.com/paved-dev/paved/internal/store"
)

// TestRepositoryLifecycle: creating a Repository makes a bare repository with hooks
// disabled and HEAD on the default branch; changing the branch moves HEAD; deleting the
// Repository removes the directory before the object goes.
func TestRepositoryLifecycle(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	obj := e.createRepo(t, "acme", "payments", `{"description":"Payments"}`)
	if !obj.HasFinalizer(Finalizer) {
		t.Errorf("finalizers %v, want %s", obj.Metadata.Finalizers, Finalizer)
	}
	cond := controller.GetCondition(obj, api.ConditionReady)
	if cond.Reason != ReasonAvailable || !strings.Contains(cond.Message, "/git/acme/payments.git") {
		t.Errorf("Ready condition %+v", cond)
	}
	var st struct{ URL, DefaultBranch string }
	_ = json.Unmarshal(obj.Status, &st)
	if st.URL != "/git/acme/payments.git" || st.DefaultBranch != "main" {
		t.Errorf("status %s", obj.Status)
	}
	dir := filepath.Join(e.root, "acme", "payments.git")
	if got := mustGit(t, dir, "rev-parse", "--is-bare-repository"); got != "true" {
		t.Fatalf("%s is not a bare repository: %s", dir, got)
	}
	if got := mustGit(t, dir, "symbolic-ref", "HEAD"); got != "refs/heads/main" {
		t.Errorf("HEAD %s, want refs/heads/main", got)
	}
	if got := mustGit(t, dir, "config", "core.hooksPath"); got != filepath.Join(e.root, ".empty") {
		t.Errorf("core.hooksPath %s", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "hooks")); !os.IsNotExist(err) {
		t.Errorf("the repository has a hooks directory (sample hooks copied?): %v", err)
	}

	// A new default branch moves HEAD.
	obj.Spec = json.RawMessage(`{"defaultBranch":"trunk"}`)
	if _, err := e.st.Update(ctx, obj); err != nil {
		t.Fatal(err)
	}
	e.waitRepo(t, "acme", "payments", func(o *api.Object) bool { return controller.IsReady(o) && o.Metadata.Generation == 2 })
	if got := mustGit(t, dir, "symbolic-ref", "HEAD"); got != "refs/heads/trunk" {
		t.Errorf("HEAD %s, want refs/heads/trunk", got)
	}

	// Deleting removes the directory, then the object.
	if _, err := e.st.Delete(ctx, e.host.Kind(), "acme", "payments", store.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitGone(t, "acme", "payments")
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s still exists after the Repository was deleted: %v", dir, err)
	}
	if _, err := os.Stat(filepath.Join(e.root, "acme")); !os.IsNotExist(err) {
		t.Errorf("the empty namespace directory is left: %v", err)
	}
	// The same name can be created again, empty.
	e.createRepo(t, "acme", "payments", "")
	if out := mustGit(t, dir, "for-each-ref"); out != "" {
		t.Errorf("a recreated repository has refs: %s", out)
	}
}

// TestRepositoryDefaultBranch: the branch given in the spec is HEAD from the start; one
// git refuses stalls the Repository with a reason, and one the schema refuses is never
// stored.
func TestRepositoryDefaultBranch(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	e.createRepo(t, "acme", "trunky", `{"defaultBranch":"release/v1"}`)
	if got := mustGit(t, filepath.Join(e.root, "acme", "trunky.git"), "symbolic-ref", "HEAD"); got != "refs/heads/release/v1" {
		t.Errorf("HEAD %s", got)
	}
	_, err := e.st.Create(ctx, &api.Object{APIVersion: Group + "/v1", Kind: "Repository",
		Metadata: api.ObjectMeta{Namespace: "acme", Name: "dots"}, Spec: json.RawMessage(`{"defaultBranch":"a..b"}`)})
	if err != nil {
		t.Fatal(err)
	}
	o := e.waitRepo(t, "acme", "dots", func(o *api.Object) bool { return controller.GetCondition(o, api.ConditionStalled) != nil })
	if c := controller.GetCondition(o, api.ConditionReady); c == nil || c.Status != api.ConditionFalse || c.Reason != ReasonInvalidBranch {
		t.Errorf("Ready %+v, want False/%s", c, ReasonInvalidBranch)
	}
	if _, err := os.Stat(filepath.Join(e.root, "acme", "dots.git")); !os.IsNotExist(err) {
		t.Errorf("a repository was made for an invalid branch: %v", err)
	}
	if code, _, body := e.get(t, "/git/acme/dots.git/info/refs?service=git-upload-pack", testToken); code != 503 || !strings.Contains(body, "not a valid branch name") {
		t.Errorf("a stalled repository: %d %s, want 503 saying why", code, body)
	}
	for _, b := range []string{"-x", "a//b", "/a", "a b", "a~1"} {
		_, err := e.st.Create(ctx, &api.Object{APIVersion: Group + "/v1", Kind: "Repository",
			Metadata: api.ObjectMeta{Namespace: "acme", Name: "b"}, Spec: json.RawMessage(`{"defaultBranch":` + strconvQuote(b) + `}`)})
		if !api.IsInvalid(err) {
			t.Errorf("defaultBranch %q: %v, want Invalid", b, err)
		}
	}
}

// TestRepositoryHostileNames: names and namespaces that are not DNS labels are refused
// by the store, so no path can ever be built from them; over HTTP they are 404 and the
// disk is not touched.
func TestRepositoryHostileNames(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	long := strings.Repeat("a", 300)
	for _, tc := range []struct{ ns, name string }{
		{"acme", ".."}, {"acme", "a/b"}, {"acme", "Payments"}, {"acme", long}, {"acme", "a.b"}, {"acme", "-a"},
		{"..", "x"}, {"Acme", "x"}, {"a/b", "x"}, {long, "x"}, {"a.b", "x"},
	} {
		_, err := e.st.Create(ctx, &api.Object{APIVersion: Group + "/v1", Kind: "Repository",
			Metadata: api.ObjectMeta{Namespace: tc.ns, Name: tc.name}})
		if !api.IsInvalid(err) {
			t.Errorf("namespace %.20q name %.20q: %v, want Invalid", tc.ns, tc.name, err)
		}
	}
	for _, p := range []string{
		"/git/acme/..%2f..%2fetc.git/info/refs?service=git-upload-pack",
		"/git/ACME/payments.git/info/refs?service=git-upload-pack",
		"/git/acme/Payments.git/info/refs?service=git-upload-pack",
		"/git/acme/" + long + ".git/info/refs?service=git-upload-pack",
		"/git/acme/a.b.git/info/refs?service=git-upload-pack",
		"/git/acme/%2e%2e/raw/main/x",
	} {
		code, _, body := e.get(t, p, testToken)
		if code != 404 && code != 301 {
			t.Errorf("GET %.60s: %d %s, want 404", p, code, body)
		}
	}
	ents, err := os.ReadDir(e.root)
	if err != nil {
		t.Fatal(err)
	}
	for _, en := range ents {
		if en.Name() != ".empty" {
			t.Errorf("%s appeared under the repository root", en.Name())
		}
	}
}
