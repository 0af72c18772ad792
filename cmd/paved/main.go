// Command paved is the paved platform in one binary: the server (`paved serve`) and the
// client commands that talk to it.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/paved-dev/paved/internal/cli"
	"github.com/paved-dev/paved/internal/server"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run())
}

func run() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := cli.NewRootCommand(version, server.NewCommand(version))
	return cli.Run(ctx, root, os.Stderr)
}
