package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/paved-dev/paved/internal/apiserver"
	"github.com/paved-dev/paved/internal/catalog"
	"github.com/paved-dev/paved/internal/kinds"
	"github.com/paved-dev/paved/internal/store"
	"github.com/paved-dev/paved/internal/store/sqlite"
)

// TestCatalogScripts runs testdata/catalog/*.txtar against an API server with the catalog
// mounted, whose file locations may be read below the script's work directory. The
// `catalog` command runs `paved catalog ...` in the test process (with PAVED_SERVER and
// PAVED_TOKEN of the script), so that the scripts do not depend on how the root command
// is assembled.
func TestCatalogScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/catalog",
		RequireExplicitExec: true,
		UpdateScripts:       *update,
		Setup: func(e *testscript.Env) error {
			url, stop, err := startCatalogScriptServer(filepath.Join(e.WorkDir, ".paved-db"), e.WorkDir)
			if err != nil {
				return err
			}
			e.Defer(stop)
			e.Setenv("PAVED_SERVER", url)
			e.Setenv("PAVED_TOKEN", scriptToken)
			e.Setenv("PAVED_DATA", filepath.Join(e.WorkDir, ".paved-data"))
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"catalog": runCatalogInProcess,
		},
	})
}

func runCatalogInProcess(ts *testscript.TestScript, neg bool, args []string) {
	g := &globals{version: "test", now: time.Now, server: ts.Getenv("PAVED_SERVER"), token: ts.Getenv("PAVED_TOKEN")}
	for i := 0; i+1 < len(args); i++ {
		if args[i] == "-n" || args[i] == "--namespace" {
			g.namespace = args[i+1]
		}
	}
	root := NewRootCommand("test")
	if c, _, err := root.Find([]string{"catalog"}); err != nil || c == root {
		root.AddCommand(newCatalogCommand(g))
	}
	root.SetArgs(append([]string{"catalog", "--server", g.server, "--token", g.token}, args...))
	root.SetOut(ts.Stdout())
	root.SetErr(ts.Stderr())
	code := Run(context.Background(), root, ts.Stderr())
	switch {
	case code != 0 && !neg:
		ts.Fatalf("paved catalog %v: exit status %d", args, code)
	case code == 0 && neg:
		ts.Fatalf("paved catalog %v: unexpected success", args)
	}
}

func startCatalogScriptServer(dbPath, fileRoot string) (url string, stop func(), err error) {
	ctx := context.Background()
	be, err := sqlite.Open(ctx, dbPath, sqlite.Options{})
	if err != nil {
		return "", nil, err
	}
	quiet := slog.New(slog.DiscardHandler)
	st := store.New(be, kinds.NewRegistry(), store.Options{Logger: quiet})
	cat, err := catalog.New(st, catalog.Options{Logger: quiet, FileRoots: []string{fileRoot}})
	if err != nil {
		st.Close()
		be.Close()
		return "", nil, fmt.Errorf("catalog: %w", err)
	}
	srv, err := apiserver.New(apiserver.Options{Store: st, Auth: bearerAuth(scriptToken), Logger: quiet})
	if err != nil {
		st.Close()
		be.Close()
		return "", nil, err
	}
	srv.Handle(catalog.APIPrefix+"/", cat.Handler())
	hs := httptest.NewServer(srv)
	return hs.URL, func() {
		srv.Close()
		hs.Close()
		st.Close()
		be.Close()
	}, nil
}
