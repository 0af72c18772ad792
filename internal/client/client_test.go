package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/paved-dev/paved/api"
	"github.com/paved-dev/paved/internal/apiserver"
	"github.com/paved-dev/paved/internal/client"
	"github.com/paved-dev/paved/internal/kinds"
	"github.com/paved-dev/paved/internal/store"
	"github.com/paved-dev/paved/internal/store/sqlite"
)

const testToken = "test-token"

// bearerAuth accepts one token, as the server's admin token would be.
type bearerAuth string

func (a bearerAuth) Authenticate(r *http.Request) (string, bool) {
	return "admin", r.Header.Get("Authorization") == "Bearer "+string(a)
}

// startServer serves a real API server over a fresh SQLite store and returns its URL.
func startServer(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	be, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	st := store.New(be, kinds.NewRegistry(), store.Options{Logger: quiet})
	srv, err := apiserver.New(apiserver.Options{Store: st, Auth: bearerAuth(testToken), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		srv.Close()
		hs.Close()
		st.Close()
		be.Close()
	})
	return hs.URL
}

func newClient(t *testing.T) *client.Client {
	t.Helper()
	return client.New(startServer(t), testToken, client.WithVersion("test"))
}

func mustResolve(t *testing.T, c *client.Client, name string) api.APIResource {
	t.Helper()
	r, err := c.ResolveKind(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func environment(name, tier string, labels map[string]string) *api.Object {
	return &api.Object{APIVersion: "paved.dev/v1", Kind: "Environment",
		Metadata: api.ObjectMeta{Name: name, Labels: labels},
		Spec:     json.RawMessage(`{"tier":"` + tier + `"}`)}
}

func TestKindsAndResolve(t *testing.T) {
	c := newClient(t)
	rs, err := c.Kinds(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range rs {
		names = append(names, r.Kind)
	}
	for _, want := range []string{"Environment", "Event", "Namespace"} {
		if !strings.Contains(strings.Join(names, ","), want) {
			t.Errorf("Kinds() = %v, missing %s", names, want)
		}
	}
	r := mustResolve(t, c, "env")
	if r.Kind != "Environment" || r.Plural != "environments" || r.Namespaced {
		t.Errorf("ResolveKind(env) = %+v", r)
	}
	if _, err := c.ResolveKind(t.Context(), "widgets"); err == nil {
		t.Error("ResolveKind(widgets) succeeded")
	}
}

func TestCRUD(t *testing.T) {
	ctx := t.Context()
	c := newClient(t)
	env := mustResolve(t, c, "environments")

	created, err := c.Create(ctx, environment("dev", "development", map[string]string{"team": "a"}))
	if err != nil {
		t.Fatal(err)
	}
	if created.Metadata.UID == "" || created.Metadata.ResourceVersion == "" || created.Metadata.Generation != 1 {
		t.Errorf("created metadata = %+v", created.Metadata)
	}
	if _, err := c.Create(ctx, environment("dev", "development", nil)); !api.IsAlreadyExists(err) {
		t.Errorf("second Create error = %v, want AlreadyExists", err)
	}

	got, err := c.Get(ctx, env, "", "dev")
	if err != nil {
		t.Fatal(err)
	}
	got.Spec = json.RawMessage(`{"tier":"staging"}`)
	updated, err := c.Update(ctx, got)
	if err != nil {
		t.Fatal(err)
	}
	if updated.Metadata.Generation != 2 {
		t.Errorf("generation after spec change = %d, want 2", updated.Metadata.Generation)
	}
	// got still carries the old resourceVersion.
	if _, err := c.Update(ctx, got); !api.IsConflict(err) {
		t.Errorf("Update with a stale resourceVersion: error = %v, want Conflict", err)
	}

	patched, err := c.Patch(ctx, env, "", "dev", []byte(`{"metadata":{"labels":{"tier":"staging"}},"spec":{"cluster":"local"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if patched.Metadata.Labels["tier"] != "staging" || patched.Metadata.Labels["team"] != "a" ||
		!strings.Contains(string(patched.Spec), `"cluster":"local"`) || !strings.Contains(string(patched.Spec), `"tier":"staging"`) {
		t.Errorf("patched = labels %v spec %s", patched.Metadata.Labels, patched.Spec)
	}

	st := api.CommonStatus{ObservedGeneration: patched.Metadata.Generation,
		Conditions: []api.Condition{{Type: api.ConditionReady, Status: api.ConditionTrue, Reason: "Ok", LastTransitionTime: time.Now().UTC().Truncate(time.Second)}}}
	patched.Status, _ = json.Marshal(st)
	withStatus, err := c.UpdateStatus(ctx, patched)
	if err != nil {
		t.Fatal(err)
	}
	if cond := api.FindCondition(api.ReadCommonStatus(withStatus).Conditions, api.ConditionReady); cond == nil || cond.Status != api.ConditionTrue {
		t.Errorf("status after UpdateStatus = %s", withStatus.Status)
	}

	if _, err := c.Delete(ctx, env, "", "dev", client.DeleteOptions{ResourceVersion: created.Metadata.ResourceVersion}); !api.IsConflict(err) {
		t.Errorf("Delete with a stale resourceVersion: error = %v, want Conflict", err)
	}
	if _, err := c.Delete(ctx, env, "", "dev", client.DeleteOptions{UID: created.Metadata.UID}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, env, "", "dev"); !api.IsNotFound(err) {
		t.Errorf("Get after Delete: error = %v, want NotFound", err)
	}
	if _, err := c.Delete(ctx, env, "", "dev", client.DeleteOptions{}); !api.IsNotFound(err) {
		t.Errorf("second Delete: error = %v, want NotFound", err)
	}
}

func TestErrorsAreStatuses(t *testing.T) {
	ctx := t.Context()
	url := startServer(t)
	c := client.New(url, testToken)

	_, err := c.Create(ctx, environment("bad", "galactic", nil))
	if !api.IsInvalid(err) {
		t.Fatalf("Create with a bad tier: error = %v, want Invalid", err)
	}
	var s *api.Status
	if !errors.As(err, &s) || s.Details == nil || len(s.Details.Causes) == 0 || s.Details.Causes[0].Field != "spec.tier" {
		t.Errorf("Invalid status = %+v, want a cause naming spec.tier", s)
	}

	anon := client.New(url, "wrong-token")
	if _, err := anon.Create(ctx, environment("x", "development", nil)); api.ReasonOf(err) != api.ReasonUnauthorized {
		t.Errorf("Create with a wrong token: error = %v, want Unauthorized", err)
	}

	if _, err := c.Create(ctx, &api.Object{APIVersion: "paved.dev/v1", Kind: "Widget", Metadata: api.ObjectMeta{Name: "w"}}); err == nil ||
		!strings.Contains(err.Error(), "api-resources") {
		t.Errorf("Create of an unknown kind: error = %v, want one pointing at api-resources", err)
	}
}

func TestListPagesAndSelectors(t *testing.T) {
	ctx := t.Context()
	c := newClient(t)
	env := mustResolve(t, c, "env")
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		tier := "development"
		if n == "c" {
			tier = "production"
		}
		if _, err := c.Create(ctx, environment(n, tier, map[string]string{"tier": tier})); err != nil {
			t.Fatal(err)
		}
	}
	page, err := c.List(ctx, env, client.ListOptions{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 2 || page.Metadata.Continue == "" {
		t.Errorf("first page: %d items, continue %q; want 2 and a token", len(page.Items), page.Metadata.Continue)
	}
	all, err := c.ListAll(ctx, env, client.ListOptions{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range all.Items {
		names = append(names, o.Metadata.Name)
	}
	if strings.Join(names, ",") != "a,b,c,d,e" || all.Metadata.ResourceVersion == "" {
		t.Errorf("ListAll = %v (rv %q), want a..e with a resourceVersion", names, all.Metadata.ResourceVersion)
	}
	prod, err := c.ListAll(ctx, env, client.ListOptions{LabelSelector: "tier=production"})
	if err != nil {
		t.Fatal(err)
	}
	if len(prod.Items) != 1 || prod.Items[0].Metadata.Name != "c" {
		t.Errorf("label selector tier=production gave %d items", len(prod.Items))
	}
}

func TestWatch(t *testing.T) {
	c := newClient(t)
	env := mustResolve(t, c, "env")
	if _, err := c.Create(t.Context(), environment("before", "development", nil)); err != nil {
		t.Fatal(err)
	}
	l, err := c.List(t.Context(), env, client.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ch, err := c.Watch(ctx, env, client.WatchOptions{ResourceVersion: l.Metadata.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(t.Context(), environment("after", "development", nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Delete(t.Context(), env, "", "before", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	var seen []string
	for ev := range ch {
		if ev.Type == api.EventBookmark {
			continue
		}
		seen = append(seen, ev.Type+" "+ev.Object.Metadata.Name)
		if len(seen) == 2 {
			break
		}
	}
	if got, want := strings.Join(seen, ", "), "ADDED after, DELETED before"; got != want {
		t.Errorf("watch saw %q, want %q", got, want)
	}
	cancel()
	for range ch { // the channel must close once ctx ends
	}
}
