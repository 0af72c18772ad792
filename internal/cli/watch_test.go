package cli

import (
	"bufio"
	"context"
	"io"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestGetWatch runs `paved get env -w` in process and checks that it prints the listed
// objects, then a row for each change, and ends cleanly when its context is cancelled.
func TestGetWatch(t *testing.T) {
	url, stop, err := startScriptServer(filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	t.Setenv(EnvServer, url)
	t.Setenv(EnvToken, scriptToken)

	run := func(ctx context.Context, stdout io.Writer, args ...string) error {
		root := NewRootCommand("test")
		root.SetArgs(args)
		root.SetOut(stdout)
		root.SetErr(io.Discard)
		return root.ExecuteContext(ctx)
	}
	apply := func(name string) {
		t.Helper()
		root := NewRootCommand("test")
		root.SetArgs([]string{"apply", "-f", "-"})
		root.SetIn(strings.NewReader("apiVersion: paved.dev/v1\nkind: Environment\nmetadata: {name: " + name + "}\nspec: {tier: development}\n"))
		root.SetOut(io.Discard)
		if err := root.ExecuteContext(t.Context()); err != nil {
			t.Fatal(err)
		}
	}

	apply("before")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, pw, "get", "env", "-w")
		pw.Close()
	}()

	lines := bufio.NewScanner(pr)
	expect := func(re string) {
		t.Helper()
		if !lines.Scan() {
			t.Fatalf("output ended, want a line matching %q", re)
		}
		if !regexp.MustCompile(re).MatchString(lines.Text()) {
			t.Fatalf("line %q does not match %q", lines.Text(), re)
		}
	}
	expect(`^NAME\s+CLUSTER\s+NAMESPACE\s+TIER\s+AGE$`)
	expect(`^before\s+<none>\s+<none>\s+development\s+\d+s$`)
	apply("after") // the table row above was printed, so the watch has the list's revision
	expect(`^after\s+<none>\s+<none>\s+development\s+\d+s$`)
	cancel()
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	if err := <-done; err != nil {
		t.Errorf("get -w ended with %v, want nil after cancellation", err)
	}
}
