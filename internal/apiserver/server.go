// Package apiserver owns paved's REST API: Kubernetes-style paths over the object store
// (get, list, watch, create, update, merge patch, delete, status subresource), discovery,
// health and metrics endpoints, authentication of every request and an audit line per
// write. It translates HTTP to store calls and store errors to api.Status bodies; object
// semantics (validation, generation, finalizers) stay in the store.
package apiserver

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/paved-dev/paved/internal/store"
)

// DefaultMaxBodyBytes caps a request body unless Options.MaxBodyBytes says otherwise.
const DefaultMaxBodyBytes = 4 << 20

// Authenticator tells who sent a request. ok is false when the request carries no valid
// credentials. *auth.Tokens implements it.
type Authenticator interface {
	Authenticate(r *http.Request) (user string, ok bool)
}

// Options configure a Server.
type Options struct {
	Store *store.Store
	// Auth checks credentials. It is required: a server without it would accept anyone.
	Auth Authenticator
	// AnonymousRead lets requests without credentials read (GET) objects and discovery.
	AnonymousRead bool
	Logger        *slog.Logger
	// Registry receives the request metrics and is served on /metrics; nil makes a private one.
	Registry *prometheus.Registry
	// MaxBodyBytes caps request bodies (default DefaultMaxBodyBytes).
	MaxBodyBytes int64
	// Ready, if set, decides /readyz; the default asks the store for its revision.
	Ready func(ctx context.Context) error
}

// Server serves the API. Create it with New, serve Handler, and call Close when the
// http.Server shuts down (for example from http.Server.RegisterOnShutdown) so that open
// watch streams end and Shutdown does not wait for them.
type Server struct {
	opts    Options
	store   *store.Store
	log     *slog.Logger
	mux     *http.ServeMux
	handler http.Handler
	metrics *metrics

	// ctx ends when Close is called; every watch stream ends with it.
	ctx    context.Context
	cancel context.CancelFunc
}

// New builds a Server from opts.
func New(opts Options) (*Server, error) {
	if opts.Store == nil {
		return nil, errors.New("apiserver: Options.Store is required")
	}
	if opts.Auth == nil {
		return nil, errors.New("apiserver: Options.Auth is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	m, err := newMetrics(opts.Registry)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{opts: opts, store: opts.Store, log: opts.Logger, mux: http.NewServeMux(),
		metrics: m, ctx: ctx, cancel: cancel}
	s.routes()
	s.handler = s.recoverPanics(s.instrument(s.mux))
	return s, nil
}

// Handler returns the http.Handler that serves every route.
func (s *Server) Handler() http.Handler { return s.handler }

// ServeHTTP makes the Server itself a handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Handle mounts h on pattern (http.ServeMux syntax, for example "/api/catalog/") behind the
// same authentication, metrics and audit logging as the object API.
func (s *Server) Handle(pattern string, h http.Handler) {
	s.mux.Handle(pattern, s.authenticate(h))
}

// HandlePublic mounts h on pattern without authentication (metrics and audit still apply);
// use it only for endpoints meant for anyone, such as a login page.
func (s *Server) HandlePublic(pattern string, h http.Handler) {
	s.mux.Handle(pattern, h)
}

// Close ends every open watch stream and makes /readyz fail, so load balancers stop sending
// traffic while the http.Server drains. It is safe to call more than once.
func (s *Server) Close() { s.cancel() }
