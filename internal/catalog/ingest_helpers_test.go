package catalog

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paved-dev/paved/api"
	"github.com/paved-dev/paved/internal/catalog/entity"
	"github.com/paved-dev/paved/internal/controller"
	"github.com/paved-dev/paved/internal/kinds"
	"github.com/paved-dev/paved/internal/store"
	"github.com/paved-dev/paved/internal/store/sqlite"
)

// newCatalog opens a SQLite store in a temporary directory and a catalog on it.
func newCatalog(t testing.TB, opts Options) *Catalog {
	t.Helper()
	be, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "paved.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st := store.New(be, kinds.NewRegistry(), store.Options{})
	t.Cleanup(func() {
		st.Close()
		_ = be.Close()
	})
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	c, err := New(st, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// runControllers runs the catalog's controllers until the test ends.
func runControllers(t testing.TB, c *Catalog) {
	t.Helper()
	startControllers(t, c)
}

// startControllers runs the catalog's controllers until stop is called or the test ends.
func startControllers(t testing.TB, c *Catalog) (stop func()) {
	t.Helper()
	ctls, err := c.Controllers()
	if err != nil {
		t.Fatal(err)
	}
	m, err := controller.NewManager(controller.ManagerOptions{Logger: c.log})
	if err != nil {
		t.Fatal(err)
	}
	for _, ctl := range ctls {
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
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}
	t.Cleanup(stop)
	return stop
}

// writeFiles writes name -> content below dir and returns dir.
func writeFiles(t testing.TB, dir string, files map[string]string) string {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// eventually polls cond until it holds, failing the test after a while.
func eventually(t testing.TB, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		ok, msg := cond()
		if ok {
			return
		}
		last = msg
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting until %s: %s", what, last)
}

// get returns a stored entity by ref, or nil.
func get(t testing.TB, c *Catalog, ref string) *api.Object {
	t.Helper()
	r, err := entity.ParseRef(ref, entity.RefDefaults{})
	if err != nil {
		t.Fatal(err)
	}
	o, err := c.getEntity(context.Background(), r)
	if api.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func mustGet(t testing.TB, c *Catalog, ref string) *api.Object {
	t.Helper()
	o := get(t, c, ref)
	if o == nil {
		t.Fatalf("entity %s is not in the catalog", ref)
	}
	return o
}

// allEntities returns every stored entity, by canonical ref.
func allEntities(t testing.TB, c *Catalog) map[string]*api.Object {
	t.Helper()
	out := map[string]*api.Object{}
	for _, k := range c.resourceKinds {
		l, err := c.store.List(context.Background(), k, store.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for i := range l.Items {
			out[canonicalRef(&l.Items[i])] = &l.Items[i]
		}
	}
	return out
}

// countByKind counts entities per kind, leaving out the generated Location entities of
// registered locations.
func countByKind(objs map[string]*api.Object) map[string]int {
	out := map[string]int{}
	for ref, o := range objs {
		if strings.HasPrefix(ref, "location:default/generated-") {
			continue
		}
		out[o.Kind]++
	}
	return out
}

func hasRelation(o *api.Object, typ, target string) bool {
	return o != nil && slices.Contains(o.Relations, api.Relation{Type: typ, TargetRef: target})
}

// waitRelation waits until the entity ref has the relation.
func waitRelation(t testing.TB, c *Catalog, ref, typ, target string) {
	t.Helper()
	eventually(t, fmt.Sprintf("%s has %s %s", ref, typ, target), func() (bool, string) {
		o := get(t, c, ref)
		if o == nil {
			return false, ref + " does not exist"
		}
		return hasRelation(o, typ, target), fmt.Sprintf("relations: %v", o.Relations)
	})
}

// locationStatus reads the catalog status of a registered location.
func statusOf(t testing.TB, c *Catalog, id string) locationStatus {
	t.Helper()
	o, err := c.store.Get(context.Background(), c.locKind, "", id)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := readLocationStatus(o)
	return st
}

func errorsText(errs []ProcessingError) string {
	var b strings.Builder
	for _, e := range errs {
		b.WriteString("\n  " + e.Reason + ": " + e.String())
	}
	return b.String()
}

func findError(errs []ProcessingError, reason string) *ProcessingError {
	for i := range errs {
		if errs[i].Reason == reason {
			return &errs[i]
		}
	}
	return nil
}

func statusItemsOf(o *api.Object) []storedItem {
	var st storedStatus
	if len(o.Status) > 0 {
		_ = json.Unmarshal(o.Status, &st)
	}
	return st.Items
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func isBadRequest(err error) bool { return api.ReasonOf(err) == api.ReasonBadRequest }

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
