// Package cli owns the `paved` command line: the root command with its connection flags and
// every client command (apply, get, describe, delete, api-resources, version, completion).
// It talks to the server only through internal/client, so everything it shows is what the
// REST API serves. The `serve` command lives elsewhere and is added through NewRootCommand.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/paved-dev/paved/api"
	"github.com/paved-dev/paved/internal/client"
	"github.com/paved-dev/paved/internal/config"
)

// Defaults and the environment variables that override them.
const (
	DefaultServer   = "http://127.0.0.1:7007"
	EnvServer       = "PAVED_SERVER"
	EnvToken        = "PAVED_TOKEN"
	EnvData         = "PAVED_DATA"
	AdminTokenFile  = "admin-token"
	defaultNSString = "default"
)

// DefaultDataDir is where paved keeps its data when neither --data nor PAVED_DATA says:
// $XDG_DATA_HOME/paved, else ~/.local/share/paved.
func DefaultDataDir() string { return config.DefaultDataDir() }

// ResolveDataDir returns the data directory from the --data flag's value, else PAVED_DATA,
// else DefaultDataDir. `serve` and the client commands share it, so a client finds the
// admin token the server wrote.
func ResolveDataDir(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	if v := os.Getenv(EnvData); v != "" {
		return v
	}
	return DefaultDataDir()
}

// globals are the persistent flags and what is derived from them, shared by all commands.
type globals struct {
	version   string
	server    string
	token     string
	dataDir   string
	namespace string
	now       func() time.Time

	client *client.Client
}

// serverURL is --server, else PAVED_SERVER, else the default.
func (g *globals) serverURL() string {
	if g.server != "" {
		return g.server
	}
	if v := os.Getenv(EnvServer); v != "" {
		return v
	}
	return DefaultServer
}

// bearer is --token, else PAVED_TOKEN, else the admin token `serve` wrote to the data dir.
func (g *globals) bearer() (string, error) {
	if g.token != "" {
		return g.token, nil
	}
	if v := os.Getenv(EnvToken); v != "" {
		return v, nil
	}
	p := filepath.Join(ResolveDataDir(g.dataDir), AdminTokenFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil // the server may not require one; if it does, its 401 says so
	}
	if err != nil {
		return "", fmt.Errorf("read the admin token: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// Client returns the API client for the flags given, made once per command run.
func (g *globals) Client() (*client.Client, error) {
	if g.client != nil {
		return g.client, nil
	}
	tok, err := g.bearer()
	if err != nil {
		return nil, err
	}
	g.client = client.New(g.serverURL(), tok, client.WithVersion(g.version))
	return g.client, nil
}

// ns returns the namespace for a namespaced kind: -n, else "default".
func (g *globals) ns() string {
	if g.namespace != "" {
		return g.namespace
	}
	return defaultNSString
}

// NewRootCommand returns the `paved` command with every client command, plus extra
// commands (the lead adds `serve` this way).
func NewRootCommand(version string, extra ...*cobra.Command) *cobra.Command {
	g := &globals{version: version, now: time.Now}
	root := &cobra.Command{
		Use:   "paved",
		Short: "paved is an internal developer platform in one binary",
		Long: `paved is an internal developer platform in one binary.

Everything it knows is a declarative object; these commands read and change them through
the paved API server (see --server).`,
		SilenceErrors: true,
		SilenceUsage:  true,
		Version:       version,
	}
	root.SetVersionTemplate("paved version {{.Version}}\n")
	pf := root.PersistentFlags()
	pf.StringVar(&g.server, "server", "", "address of the paved API server (env "+EnvServer+", default "+DefaultServer+")")
	pf.StringVar(&g.token, "token", "", "bearer token (env "+EnvToken+", default: the admin-token file in the data directory)")
	pf.StringVar(&g.dataDir, "data", "", "data directory (env "+EnvData+", default "+DefaultDataDir()+")")
	pf.StringVarP(&g.namespace, "namespace", "n", "", "namespace of namespaced kinds (default \"default\")")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return fmt.Errorf("%w\nSee '%s --help'.", err, c.CommandPath())
	})

	root.AddCommand(
		newApplyCommand(g),
		newGetCommand(g),
		newDescribeCommand(g),
		newDeleteCommand(g),
		newAPIResourcesCommand(g),
		newVersionCommand(g),
		newCatalogCommand(g),
	)
	for _, c := range extra {
		if c != nil {
			root.AddCommand(c)
		}
	}
	return root
}

// exitError is returned by a command that has already told the user what went wrong and
// only needs the process to exit with code.
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// Run executes root with args taken from os.Args and returns the process exit code,
// printing a failure as "error: <message>" on stderr.
func Run(ctx context.Context, root *cobra.Command, stderr io.Writer) int {
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	// Each of several failures (from errors.Join) gets its own line.
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			fmt.Fprintf(stderr, "error: %s\n", errorMessage(e))
		}
		return 1
	}
	fmt.Fprintf(stderr, "error: %s\n", errorMessage(err))
	return 1
}

// errorMessage adds what to do to the errors a user can act on.
func errorMessage(err error) string {
	msg := err.Error()
	switch api.ReasonOf(err) {
	case api.ReasonUnauthorized:
		msg += " (pass --token or set " + EnvToken + "; `paved serve` writes an admin token to the admin-token file in its data directory)"
	case api.ReasonForbidden:
		msg += " (the token is valid but not allowed to do this)"
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		msg += " (is the server running? start it with `paved serve`, or point --server or " + EnvServer + " at it)"
	}
	return msg
}
