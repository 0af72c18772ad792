package cli

import (
	"context"
	"flag"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/paved-dev/paved/internal/apiserver"
	"github.com/paved-dev/paved/internal/kinds"
	"github.com/paved-dev/paved/internal/store"
	"github.com/paved-dev/paved/internal/store/sqlite"
)

// TestMain lets the scripts run `paved` as a command in a child process of the test binary.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"paved": func() {
			os.Exit(Run(context.Background(), NewRootCommand("test"), os.Stderr))
		},
	})
}

const scriptToken = "script-token"

var update = flag.Bool("update", false, "rewrite the scripts' expected output files from what the commands print")

// bearerAuth accepts one token, as the server's admin token would be.
type bearerAuth string

func (a bearerAuth) Authenticate(r *http.Request) (string, bool) {
	return "admin", r.Header.Get("Authorization") == "Bearer "+string(a)
}

// TestScripts runs testdata/script/*.txtar, each against its own API server over its own
// SQLite store, reached through PAVED_SERVER and PAVED_TOKEN.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		UpdateScripts:       *update,
		Setup: func(e *testscript.Env) error {
			url, stop, err := startScriptServer(filepath.Join(e.WorkDir, ".paved-db"))
			if err != nil {
				return err
			}
			e.Defer(stop)
			e.Setenv("SERVER", url)
			e.Setenv("PAVED_SERVER", url)
			e.Setenv("PAVED_TOKEN", scriptToken)
			e.Setenv("PAVED_DATA", filepath.Join(e.WorkDir, ".paved-data"))
			return nil
		},
	})
}

func startScriptServer(dbPath string) (url string, stop func(), err error) {
	ctx := context.Background()
	be, err := sqlite.Open(ctx, dbPath, sqlite.Options{})
	if err != nil {
		return "", nil, err
	}
	// The server runs in the test process; its logs would bury the scripts' output.
	quiet := slog.New(slog.DiscardHandler)
	st := store.New(be, kinds.NewRegistry(), store.Options{Logger: quiet})
	srv, err := apiserver.New(apiserver.Options{Store: st, Auth: bearerAuth(scriptToken), Logger: quiet})
	if err != nil {
		st.Close()
		be.Close()
		return "", nil, err
	}
	hs := httptest.NewServer(srv)
	return hs.URL, func() {
		srv.Close()
		hs.Close()
		st.Close()
		be.Close()
	}, nil
}
