package storetest

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/paved-dev/paved/api"
	"github.com/paved-dev/paved/internal/kinds"
	"github.com/paved-dev/paved/internal/store"
)

// RunReplicas checks the watch guarantee across replicas: several backends on one database
// (as several `paved serve` processes would be) write concurrently, and a watcher on each
// replica sees every acknowledged write exactly once, in revision order.
func RunReplicas(t *testing.T, backends []store.Backend) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stores []*store.Store
	for _, be := range backends {
		reg := kinds.NewRegistry()
		if err := reg.Register(Widget); err != nil {
			t.Fatal(err)
		}
		s := store.New(be, reg, store.Options{})
		t.Cleanup(s.Close)
		stores = append(stores, s)
	}
	wk, _ := stores[0].Kinds().ByGVK("test.paved.dev/v1", "Widget")
	l, err := stores[0].List(ctx, wk, store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var watches []<-chan store.Event
	for _, s := range stores {
		ch, err := s.Watch(ctx, store.WatchOptions{Kind: wk, ResourceVersion: l.Metadata.ResourceVersion})
		if err != nil {
			t.Fatal(err)
		}
		watches = append(watches, ch)
	}
	const writersPerReplica, perWriter = 4, 30
	var mu sync.Mutex
	acked := map[int64]string{}
	var wg sync.WaitGroup
	errs := make(chan error, len(stores)*writersPerReplica)
	for ri, s := range stores {
		for w := 0; w < writersPerReplica; w++ {
			wg.Add(1)
			go func(s *store.Store, ri, w int) {
				defer wg.Done()
				for i := 0; i < perWriter; i++ {
					name := fmt.Sprintf("r%d-w%d-%d", ri, w, i)
					o, err := s.Create(ctx, widget("default", name, 1, nil))
					if err != nil {
						errs <- err
						return
					}
					r, _ := strconv.ParseInt(o.Metadata.ResourceVersion, 10, 64)
					mu.Lock()
					acked[r] = name
					mu.Unlock()
				}
			}(s, ri, w)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	total := len(stores) * writersPerReplica * perWriter
	if len(acked) != total {
		t.Fatalf("%d distinct revisions acknowledged for %d writes", len(acked), total)
	}
	for i, ch := range watches {
		evs := collect(t, ch, total)
		var last int64
		for _, e := range evs {
			if e.Revision <= last {
				t.Fatalf("replica %d: revision %d after %d", i, e.Revision, last)
			}
			last = e.Revision
			if acked[e.Revision] != e.Object.Metadata.Name || e.Type != api.EventAdded {
				t.Fatalf("replica %d: revision %d is %s %s, want ADDED %s", i, e.Revision, e.Type, e.Object.Metadata.Name, acked[e.Revision])
			}
		}
		expectQuiet(t, ch)
	}
}
