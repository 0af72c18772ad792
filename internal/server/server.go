// Package server owns `paved serve`: it opens the store named by the configuration, starts
// the API server, the controllers (on the elected leader only) and the store's compaction,
// and shuts them down in order on a signal. It wires components together and holds no
// feature logic of its own.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/paved-dev/paved/internal/apiserver"
	"github.com/paved-dev/paved/internal/auth"
	"github.com/paved-dev/paved/internal/catalog"
	"github.com/paved-dev/paved/internal/config"
	"github.com/paved-dev/paved/internal/controller"
	"github.com/paved-dev/paved/internal/gc"
	"github.com/paved-dev/paved/internal/githost"
	"github.com/paved-dev/paved/internal/kinds"
	"github.com/paved-dev/paved/internal/leader"
	"github.com/paved-dev/paved/internal/store"
	"github.com/paved-dev/paved/internal/store/postgres"
	"github.com/paved-dev/paved/internal/store/sqlite"
)

// Server is a running paved.
type Server struct {
	cfg      config.Config
	log      *slog.Logger
	version  string
	backend  store.Backend
	store    *store.Store
	api      *apiserver.Server
	http     *http.Server
	listener net.Listener
	elector  *leader.Elector
	catalog  *catalog.Catalog
	git      *githost.Host
	manager  *controller.Manager
	// TokenPath is where the admin token was written ("" when it came from configuration).
	TokenPath string
}

// NewLogger builds the process logger from the log section.
func NewLogger(c config.Log, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: lvl}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// New opens the store and builds every component, and binds the listen address, but
// starts nothing; Run starts it.
func New(ctx context.Context, cfg config.Config, version string, log *slog.Logger) (*Server, error) {
	s := &Server{cfg: cfg, log: log, version: version}
	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory %s: %w", cfg.Data, err)
	}
	var err error
	if cfg.Store.Database == "" {
		path := filepath.Join(cfg.Data, "paved.db")
		s.backend, err = sqlite.Open(ctx, path, sqlite.Options{Synchronous: cfg.Store.SQLiteSynchronous})
		log.Info("store: embedded SQLite", "path", path)
	} else {
		s.backend, err = postgres.Open(ctx, cfg.Store.Database, log)
		log.Info("store: PostgreSQL", "database", redactURL(cfg.Store.Database))
	}
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			s.close()
		}
	}()
	s.store = store.New(s.backend, kinds.NewRegistry(), store.Options{Logger: log})

	token := cfg.Auth.AdminToken
	if token == "" {
		token, s.TokenPath, err = auth.EnsureAdminToken(cfg.Data)
		if err != nil {
			return nil, err
		}
	}
	authn, err := auth.NewAdmin(token)
	if err != nil {
		return nil, fmt.Errorf("admin token: %w", err)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.api, err = apiserver.New(apiserver.Options{Store: s.store, Auth: authn, AnonymousRead: cfg.Server.AnonymousRead,
		Logger: log, Registry: reg, MaxBodyBytes: cfg.Server.MaxBodyBytes, Ready: s.ready})
	if err != nil {
		return nil, err
	}
	s.api.HandlePublic("GET /version", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, "{\"version\":%q,\"store\":%q}\n", version, s.backend.Name())
	}))

	s.elector = &leader.Elector{Backend: s.backend, Name: "paved-controllers", LeaseDuration: cfg.Controllers.LeaseDuration.D(),
		RenewPeriod: cfg.Controllers.RenewPeriod.D(), Logger: log}
	s.manager, err = controller.NewManager(controller.ManagerOptions{Logger: log, Registerer: reg, Elector: s.elector})
	if err != nil {
		return nil, err
	}
	if err := s.startGitHost(authn); err != nil {
		return nil, err
	}
	if err := s.startCatalog(); err != nil {
		return nil, err
	}
	// The first sweep reads every owned object: let the query and relation indexes be
	// built first (a restart with 100,000 catalog entities is seconds faster).
	collector, err := gc.New(s.store, gc.Options{Logger: log, FirstSweepDelay: 30 * time.Second})
	if err != nil {
		return nil, err
	}
	if err := s.manager.Add(collector); err != nil {
		return nil, err
	}

	s.listener, err = net.Listen("tcp", cfg.Server.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.Server.Addr, err)
	}
	s.http = &http.Server{Handler: s.api.Handler(), ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: cfg.Server.ReadTimeout.D(), IdleTimeout: 2 * time.Minute, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	s.http.RegisterOnShutdown(s.api.Close)
	ok = true
	return s, nil
}

// startCatalog registers the catalog's kinds, mounts its Backstage API and adds its
// controllers; configured locations are registered when the server runs.
func (s *Server) startCatalog() error {
	cc := s.cfg.Catalog
	// On PostgreSQL several replicas may share the store and only the leader runs the
	// controllers: the others hand their location runs to it.
	opts := catalog.Options{Logger: s.log, RefreshInterval: cc.RefreshInterval.D(), Orphans: cc.Orphans,
		Replicas: s.cfg.Store.Database != ""}
	for _, root := range cc.FileRoots {
		abs, err := filepath.Abs(root)
		if err != nil {
			return fmt.Errorf("catalog file root %s: %w", root, err)
		}
		opts.FileRoots = append(opts.FileRoots, abs)
	}
	for _, l := range cc.Locations {
		target := l.Target
		if l.Type == "file" && !filepath.IsAbs(target) {
			abs, err := filepath.Abs(target)
			if err != nil {
				return fmt.Errorf("catalog location %s: %w", target, err)
			}
			target = abs
		}
		opts.Locations = append(opts.Locations, catalog.LocationSpec{Type: l.Type, Target: target})
	}
	opts.HTTPClient = catalog.LocalGitClient(s.git) // url locations on this server's Git host are read in process
	cat, err := catalog.New(s.store, opts)
	if err != nil {
		return err
	}
	s.catalog = cat
	s.api.Handle("/api/catalog/", cat.Handler())
	ctrls, err := cat.Controllers()
	if err != nil {
		return err
	}
	for _, c := range ctrls {
		if err := s.manager.Add(c); err != nil {
			return err
		}
	}
	push, err := cat.GitPushController(s.git.Kind(), s.git) // a push refreshes the locations it touches
	if err != nil {
		return err
	}
	return s.manager.Add(push)
}

// startGitHost registers the Repository kind, mounts Git smart HTTP and the raw file API
// under /git/ and adds the repository controller. The handler checks the admin token
// itself (git sends it as HTTP basic auth, after a Basic challenge), with the API's own
// authenticator and anonymous-read setting.
func (s *Server) startGitHost(authn *auth.Tokens) error {
	gcfg := s.cfg.GitHost
	h, err := githost.New(githost.Options{Store: s.store, Root: filepath.Join(s.cfg.Data, "git"), Auth: authn,
		AnonymousRead: s.cfg.Server.AnonymousRead, MaxPushBytes: gcfg.MaxPushBytes, MaxRawBytes: gcfg.MaxRawBytes,
		RequestTimeout: gcfg.RequestTimeout.D(), Hosts: gcfg.Hosts, Logger: s.log,
		Addr: func() string {
			if s.listener == nil {
				return ""
			}
			return s.listener.Addr().String()
		}})
	if err != nil {
		return err
	}
	s.git = h
	s.api.HandlePublic("/git/", h.Handler())
	ctl, err := h.Controller()
	if err != nil {
		return err
	}
	return s.manager.Add(ctl)
}

// ready decides /readyz: the store answers, and the catalog's query index (built from the
// store at start, which takes seconds at 100,000 entities) is there, so that no catalog
// query has to wait for it.
func (s *Server) ready(ctx context.Context) error {
	if _, err := s.store.Revision(ctx); err != nil {
		return err
	}
	if s.catalog != nil && !s.store.QueryIndexBuilt() {
		return errors.New("the catalog's query index is being built")
	}
	return nil
}

// Store returns the object store, for components mounted by later features and tests.
func (s *Server) Store() *store.Store { return s.store }

// Controllers returns the controller manager, so features can add their controllers before Run.
func (s *Server) Controllers() *controller.Manager { return s.manager }

// API returns the API server, so features can mount their HTTP handlers.
func (s *Server) API() *apiserver.Server { return s.api }

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.listener.Addr().String() }

// Run serves until ctx ends, then shuts down gracefully: in-flight requests finish (up to
// server.shutdownTimeout), watches end, controllers drain, the store closes.
func (s *Server) Run(ctx context.Context) error {
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 3)
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := s.http.Serve(s.listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("http server: %w", err)
		}
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := s.manager.Start(runCtx); err != nil && runCtx.Err() == nil {
			errc <- fmt.Errorf("controllers: %w", err)
		}
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.compactLoop(runCtx)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		// Build the query index now, so the first catalog query does not wait for it.
		if err := s.store.WarmQueryIndex(runCtx); err != nil && runCtx.Err() == nil {
			s.log.Warn("query index: warm-up failed; the first query will build it", "err", err)
		}
		if err := s.catalog.Start(runCtx); err != nil && runCtx.Err() == nil {
			s.log.Error("catalog: registering configured locations failed", "err", err)
		}
	}()

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
		s.log.Error("paved is stopping after a failure", "err", runErr)
	}
	s.log.Info("shutting down: finishing in-flight requests")
	sctx, scancel := context.WithTimeout(context.Background(), s.cfg.Server.ShutdownTimeout.D())
	defer scancel()
	if err := s.http.Shutdown(sctx); err != nil {
		s.log.Warn("http shutdown did not finish in time", "err", err)
	}
	cancel()
	wg.Wait()
	s.close()
	s.log.Info("stopped")
	return runErr
}

// compactLoop drops watch history older than keepRevisions. Every replica may run it: a
// compaction is idempotent.
func (s *Server) compactLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.Store.CompactInterval.D())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.store.Compact(ctx, s.cfg.Store.KeepRevisions); err != nil && ctx.Err() == nil {
				s.log.Warn("store compaction failed; will retry", "err", err)
			}
		}
	}
}

func (s *Server) close() {
	if s.listener != nil {
		_ = s.listener.Close()
	}
	if s.store != nil {
		s.store.Close()
	}
	if s.backend != nil {
		if err := s.backend.Close(); err != nil {
			s.log.Warn("closing the store", "err", err)
		}
	}
}

// redactURL hides the password in a database URL for logs.
func redactURL(u string) string {
	at := strings.LastIndex(u, "@")
	scheme := strings.Index(u, "://")
	if at < 0 || scheme < 0 || at < scheme {
		return u
	}
	cred := u[scheme+3 : at]
	if user, _, ok := strings.Cut(cred, ":"); ok {
		return u[:scheme+3] + user + ":***" + u[at:]
	}
	return u
}
