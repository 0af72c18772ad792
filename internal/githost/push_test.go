package githost

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/paved-dev/paved/api"
	"github.com/paved-dev/paved/internal/store"
)

// TestPushEventsInStatus: every push that changes refs is in the Repository's status,
// written before `git push` returns, and reaches watchers of the store.
func TestPushEventsInStatus(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	obj := e.createRepo(t, "acme", "payments", "")
	watch, err := e.st.Watch(ctx, store.WatchOptions{Kind: e.host.Kind(), ResourceVersion: obj.Metadata.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	zero := strings.Repeat("0", 40)
	work := e.clone(t, "acme", "payments")
	commitFile(t, work, "a.txt", "a\n")
	mustGit(t, work, "push", "-q", "origin", "main")
	first := mustGit(t, work, "rev-parse", "HEAD")

	// No waiting: the status is written before the push's response ends.
	o, err := e.st.Get(ctx, e.host.Kind(), "acme", "payments")
	if err != nil {
		t.Fatal(err)
	}
	st := repoStatus(t, o)
	if st.Pushes != 1 || st.LastPush.User != "admin" {
		t.Fatalf("after the first push: %s", o.Status)
	}
	if d := cmp.Diff([]RefUpdate{{Name: "refs/heads/main", OldSHA: zero, NewSHA: first}}, st.LastPush.Refs); d != "" {
		t.Errorf("refs of the first push (-want +got):\n%s", d)
	}
	if _, err := time.Parse(time.RFC3339Nano, st.LastPush.Time); err != nil {
		t.Errorf("lastPush.time %q: %v", st.LastPush.Time, err)
	}

	// A push of a new commit, a tag and a deleted branch together.
	mustGit(t, work, "push", "-q", "origin", "main:old")
	commitFile(t, work, "b.txt", "b\n")
	second := mustGit(t, work, "rev-parse", "HEAD")
	mustGit(t, work, "tag", "v1")
	mustGit(t, work, "push", "-q", "origin", "main", "v1", ":old")
	o, _ = e.st.Get(ctx, e.host.Kind(), "acme", "payments")
	st = repoStatus(t, o)
	want := []RefUpdate{
		{Name: "refs/heads/main", OldSHA: first, NewSHA: second},
		{Name: "refs/heads/old", OldSHA: first, NewSHA: zero},
		{Name: "refs/tags/v1", OldSHA: zero, NewSHA: second},
	}
	if st.Pushes != 3 {
		t.Errorf("pushes %d, want 3", st.Pushes)
	}
	if d := cmp.Diff(want, st.LastPush.Refs); d != "" {
		t.Errorf("refs of the third push (-want +got):\n%s", d)
	}
	// A push that changes nothing is no event.
	mustGit(t, work, "push", "-q", "origin", "main")
	if o, _ := e.st.Get(ctx, e.host.Kind(), "acme", "payments"); repoStatus(t, o).Pushes != 3 {
		t.Errorf("a push that changed nothing was counted: %s", o.Status)
	}

	// Watchers saw each push, in order.
	seen := []int64{}
	deadline := time.After(5 * time.Second)
	for len(seen) < 3 {
		select {
		case ev := <-watch:
			if ev.Type == api.EventError {
				t.Fatal(ev.Err)
			}
			if n := repoStatus(t, ev.Object).Pushes; n > 0 && (len(seen) == 0 || seen[len(seen)-1] != n) {
				seen = append(seen, n)
			}
		case <-deadline:
			t.Fatalf("the watch delivered pushes %v, want [1 2 3]", seen)
		}
	}
	if d := cmp.Diff([]int64{1, 2, 3}, seen); d != "" {
		t.Errorf("pushes seen through the watch (-want +got):\n%s", d)
	}
	// The controller's own status fields survive the pushes, and vice versa.
	var full map[string]json.RawMessage
	_ = json.Unmarshal(o.Status, &full)
	for _, k := range []string{"conditions", "url", "defaultBranch", "pushes", "lastPush"} {
		if _, ok := full[k]; !ok {
			t.Errorf("status lacks %s: %s", k, o.Status)
		}
	}
}

func TestLocal(t *testing.T) {
	for _, tc := range []struct {
		addr  string
		hosts []string
		url   string
		want  bool
	}{
		{"127.0.0.1:7007", nil, "http://127.0.0.1:7007/git/a/b/raw/main/x", true},
		{"127.0.0.1:7007", nil, "http://localhost:7007/git/a/b/raw/main/x", true},
		{"127.0.0.1:7007", nil, "http://[::1]:7007/git/a/b/raw/main/x", true},
		{"127.0.0.1:7007", nil, "http://127.0.0.1:7008/git/a/b/raw/main/x", false},
		{"127.0.0.1:7007", nil, "http://127.0.0.1:7007/api/catalog/x", false},
		{"127.0.0.1:7007", nil, "ftp://127.0.0.1:7007/git/a/b/raw/main/x", false},
		{"127.0.0.1:7007", nil, "http://example.com:7007/git/a/b/raw/main/x", false},
		{"0.0.0.0:7007", nil, "http://localhost:7007/git/a/b/raw/main/x", true},
		{"10.0.0.5:7007", nil, "http://localhost:7007/git/a/b/raw/main/x", false},
		{"10.0.0.5:7007", nil, "http://10.0.0.5:7007/git/a/b/raw/main/x", true},
		{"0.0.0.0:7007", []string{"paved.example.com"}, "https://paved.example.com/git/a/b/raw/main/x", true},
		{"0.0.0.0:7007", []string{"paved.example.com"}, "https://paved.example.com:8443/git/a/b/raw/main/x", false},
		{"0.0.0.0:7007", []string{"Paved.Internal:7007"}, "http://paved.internal:7007/git/a/b/raw/main/x", true},
	} {
		h := &Host{opts: Options{Addr: func() string { return tc.addr }, Hosts: tc.hosts}}
		u, _ := url.Parse(tc.url)
		if got := h.Local(u); got != tc.want {
			t.Errorf("listening on %s, hosts %v: Local(%s) = %v", tc.addr, tc.hosts, tc.url, got)
		}
	}
}
