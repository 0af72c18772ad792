package server

import (
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"

	"github.com/paved-dev/paved/internal/config"
)

// NewCommand returns `paved serve`.
func NewCommand(version string) *cobra.Command {
	var (
		configPath string
		addr       string
		database   string
		anonRead   bool
		logLevel   string
		logFormat  string
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the paved server (API, controllers) with embedded defaults",
		Long: `Run the paved server.

With no configuration it keeps everything in the data directory: an SQLite database and
an admin token (admin-token, mode 0600) that the other paved commands read. With
--database postgres://... several replicas share one PostgreSQL database: all serve the
API, one (elected through the database) runs the controllers.

Precedence: flags, then PAVED_* environment variables, then the --config file, then
defaults. docs/configuration.md lists every key.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			start := time.Now()
			if configPath == "" {
				configPath = os.Getenv("PAVED_CONFIG")
			}
			cfg, err := config.Load(configPath, os.Environ())
			if err != nil {
				return err
			}
			f := cmd.Flags()
			if fl := cmd.Flag("data"); fl != nil && fl.Changed {
				cfg.Data = fl.Value.String()
			}
			if f.Changed("addr") {
				cfg.Server.Addr = addr
			}
			if f.Changed("database") {
				cfg.Store.Database = database
			}
			if f.Changed("anonymous-read") {
				cfg.Server.AnonymousRead = anonRead
			}
			if f.Changed("log-level") {
				cfg.Log.Level = logLevel
			}
			if f.Changed("log-format") {
				cfg.Log.Format = logFormat
			}
			if err := cfg.Validate(); err != nil {
				return err
			}
			log := NewLogger(cfg.Log, cmd.ErrOrStderr())
			setMemoryLimit(cfg.Server.MemoryLimitMB, log)
			ctx := cmd.Context()
			srv, err := New(ctx, cfg, version, log)
			if err != nil {
				return err
			}
			w := cmd.ErrOrStderr()
			fmt.Fprintf(w, "\npaved %s is serving on http://%s (started in %d ms)\n", version, srv.Addr(), time.Since(start).Milliseconds())
			if srv.TokenPath != "" {
				fmt.Fprintf(w, "  admin token: %s\n  use it:      export PAVED_TOKEN=$(cat %s)\n", srv.TokenPath, srv.TokenPath)
			} else {
				fmt.Fprintln(w, "  admin token: from configuration (auth.adminToken or PAVED_ADMIN_TOKEN)")
			}
			fmt.Fprintf(w, "  data:        %s\n  try:         paved --server http://%s get environments\n\n", cfg.Data, srv.Addr())
			return srv.Run(ctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&configPath, "config", "", "configuration file (YAML; env PAVED_CONFIG)")
	f.StringVar(&addr, "addr", "", "listen address (env PAVED_ADDR, default 127.0.0.1:7007)")
	f.StringVar(&database, "database", "", "postgres:// URL; empty uses the embedded SQLite file (env PAVED_DATABASE)")
	f.BoolVar(&anonRead, "anonymous-read", false, "allow reads without a token (env PAVED_ANONYMOUS_READ)")
	f.StringVar(&logLevel, "log-level", "", "debug, info, warn or error (env PAVED_LOG_LEVEL)")
	f.StringVar(&logFormat, "log-format", "", "text or json (env PAVED_LOG_FORMAT)")
	return cmd
}

// setMemoryLimit applies server.memoryLimitMB as the Go runtime's soft memory limit, unless
// GOMEMLIMIT is set (the operator's own choice wins).
func setMemoryLimit(mb int64, log *slog.Logger) {
	if os.Getenv("GOMEMLIMIT") != "" || mb <= 0 {
		return
	}
	debug.SetMemoryLimit(mb << 20)
	log.Debug("soft memory limit set", "MiB", mb)
}
