package controller_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/paved-dev/paved/api"
	"github.com/paved-dev/paved/internal/controller"
	"github.com/paved-dev/paved/internal/store"
)

// TestFeedListsAgainAfterGone holds the feed still while the store writes past its tiny
// watch cache and compacts the log, so the watch ends with Gone; the feed must list again
// and every object must still be reconciled.
func TestFeedListsAgainAfterGone(t *testing.T) {
	e := newEnv(t, store.Options{WatchCacheSize: 4})
	ctx := context.Background()
	hold := make(chan struct{})
	held := make(chan struct{})
	var once sync.Once
	var listed atomic.Int32 // ADDED events for w-first: one per list, plus the watch's own
	feed := controller.Watches(e.widget, func(_ context.Context, ev store.Event) []controller.Request {
		if ev.Object.Metadata.Name == "w-first" && ev.Type == api.EventAdded {
			listed.Add(1)
			once.Do(func() {
				close(held)
				<-hold
			})
		}
		return []controller.Request{controller.RequestFor(ev.Object)}
	})
	r := &recorder{st: e.st, kind: e.widget}
	start(t, newController(t, e, r, controller.Options{Watches: []controller.Watch{feed}, Workers: 2}))

	e.create(t, e.widget, "default", "w-first", nil)
	<-held
	// More writes than one watch batch (1000) while the feed is held, so the watcher cannot
	// have them all in hand; then compact, then write more.
	createMany(t, e, "before", 1500)
	if err := e.st.Compact(ctx, 1); err != nil {
		t.Fatal(err)
	}
	createMany(t, e, "after", 20)
	close(hold)

	eventually(t, "every widget reconciled", func() bool {
		seen := map[string]bool{}
		for _, c := range r.snapshot() {
			seen[c.req.Name] = true
		}
		return len(seen) == 1+1500+20
	})
	if n := listed.Load(); n < 2 {
		t.Errorf("w-first was delivered %d times; the feed should have listed again after Gone", n)
	}
}

func createMany(t *testing.T, e *testEnv, prefix string, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 32)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			obj := &api.Object{APIVersion: e.widget.APIVersion(), Kind: e.widget.Kind,
				Metadata: api.ObjectMeta{Name: fmt.Sprintf("%s-%04d", prefix, i), Namespace: "default"}}
			if _, err := e.st.Create(context.Background(), obj); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
