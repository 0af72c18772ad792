package sqlite_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/paved-dev/paved/api"
	"github.com/paved-dev/paved/internal/kinds"
	"github.com/paved-dev/paved/internal/store"
	"github.com/paved-dev/paved/internal/store/sqlite"
)

// When PAVED_CRASH_WRITER names a database, this test binary is the writer child of
// TestCrashLosesNoAcknowledgedWrite: it writes until killed and prints each acknowledged name.
func TestMain(m *testing.M) {
	if path := os.Getenv("PAVED_CRASH_WRITER"); path != "" {
		crashWriter(path)
		return
	}
	os.Exit(m.Run())
}

func crashWriter(path string) {
	ctx := context.Background()
	be, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	s := store.New(be, kinds.NewRegistry(), store.Options{})
	out := bufio.NewWriter(os.Stdout)
	var mu sync.Mutex
	var wg sync.WaitGroup
	// Several concurrent writers, so group commits are in flight when the kill lands.
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				name := fmt.Sprintf("env-%s-%d-%d", os.Getenv("PAVED_CRASH_ROUND"), w, i)
				o := &api.Object{APIVersion: "paved.dev/v1", Kind: "Environment", Metadata: api.ObjectMeta{Name: name,
					Labels: map[string]string{"writer": strconv.Itoa(w)}}, Spec: json.RawMessage(`{"tier":"development"}`)}
				if _, err := s.Create(ctx, o); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(2)
				}
				mu.Lock()
				fmt.Fprintln(out, name)
				out.Flush()
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
}

func TestCrashLosesNoAcknowledgedWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "paved.db")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	acked := map[string]bool{}
	for round := 0; round < 3; round++ {
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), "PAVED_CRASH_WRITER="+path, "PAVED_CRASH_ROUND="+strconv.Itoa(round))
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		target := 300 + 200*round
		n := 0
		for sc.Scan() {
			acked[sc.Text()] = true
			n++
			if n == target {
				_ = cmd.Process.Signal(syscall.SIGKILL)
			}
		}
		_ = cmd.Wait()
		if n < target {
			t.Fatalf("round %d: writer stopped after %d writes before it was killed", round, n)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	be, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	s := store.New(be, kinds.NewRegistry(), store.Options{})
	defer s.Close()
	k, _ := s.Kinds().ByGVK("paved.dev/v1", "Environment")
	l, err := s.List(ctx, k, store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]bool{}
	for _, o := range l.Items {
		stored[o.Metadata.Name] = true
	}
	for name := range acked {
		if !stored[name] {
			t.Errorf("acknowledged write %s lost in the crash", name)
		}
	}
	// Consistency: the label index agrees with the objects, and the event log replays to
	// exactly the stored set.
	total := 0
	for w := 0; w < 4; w++ {
		lw, err := s.List(ctx, k, store.ListOptions{LabelSelector: "writer=" + strconv.Itoa(w)})
		if err != nil {
			t.Fatal(err)
		}
		total += len(lw.Items)
	}
	if total != len(l.Items) {
		t.Errorf("label index lists %d objects, table has %d", total, len(l.Items))
	}
	ch, err := s.Watch(ctx, store.WatchOptions{Kind: k, ResourceVersion: "1"})
	if err != nil {
		t.Fatal(err)
	}
	replayed := map[string]bool{}
	// The first event (revision 1) is not replayed; count it from the list.
	want := len(l.Items) - 1
	for len(replayed) < want {
		select {
		case e := <-ch:
			if e.Type == api.EventError {
				t.Fatal(e.Err)
			}
			replayed[e.Object.Metadata.Name] = true
		case <-ctx.Done():
			t.Fatalf("log replayed %d of %d objects", len(replayed), want)
		}
	}
	t.Logf("%d writes acknowledged across 3 crashes, %d stored", len(acked), len(stored))
	// Writing after recovery works.
	if _, err := s.Create(ctx, &api.Object{APIVersion: "paved.dev/v1", Kind: "Environment", Metadata: api.ObjectMeta{Name: "after"}}); err != nil {
		t.Fatal(err)
	}
}
