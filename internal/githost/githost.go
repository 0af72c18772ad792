// Package githost owns paved's built-in Git hosting: the Repository kind (group
// git.paved.dev), the bare repositories under <data>/git/<namespace>/<name>.git that its
// controller creates and deletes, git smart HTTP at /git/<namespace>/<name>.git (git's own
// `git http-backend` run through net/http/cgi), a read API for files
// (/git/<namespace>/<name>/raw/<ref>/<path>), and push events: every push that changes
// refs is recorded in the Repository's status, so every replica and controller sees it
// through the store's watch.
//
// It speaks to git only through the git CLI, with a minimal environment and hooks
// disabled. It must not know any other feature: the catalog learns of pushes from the
// Repository objects, not from this package.
package githost

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"time"

	"github.com/paved-dev/paved/internal/kinds"
	"github.com/paved-dev/paved/internal/store"
)

// Defaults of the configuration keys in the githost section.
const (
	DefaultMaxPushBytes   = 512 << 20
	DefaultMaxRawBytes    = 16 << 20
	DefaultRequestTimeout = 10 * time.Minute
)

// Authenticator tells who sent a request from its bearer token; *auth.Tokens implements
// it, and it is the one the API server uses, so Git and the API accept the same tokens.
type Authenticator interface {
	Authenticate(r *http.Request) (user string, ok bool)
}

// Options configure a Host.
type Options struct {
	Store *store.Store
	// Root is the directory the repositories live in (<data>/git); created if missing.
	Root string
	// Auth checks credentials: HTTP basic auth (the token as the password, as git sends
	// it) or a bearer token. Required.
	Auth Authenticator
	// AnonymousRead lets clones, fetches and raw reads through without credentials.
	// Pushes always need a token.
	AnonymousRead bool
	// MaxPushBytes bounds a request body (a push's pack); default DefaultMaxPushBytes.
	MaxPushBytes int64
	// MaxRawBytes bounds a file served by the raw API; default DefaultMaxRawBytes.
	MaxRawBytes int64
	// RequestTimeout bounds one Git or raw request; default DefaultRequestTimeout.
	RequestTimeout time.Duration
	// Addr returns the address the server listens on (host:port), so that URLs naming
	// this server are recognised (Local); nil recognises only Hosts.
	Addr func() string
	// Hosts are more host[:port] names that reach this server (behind a proxy, say).
	Hosts []string
	// Git is the git executable; empty looks "git" up on PATH.
	Git    string
	Logger *slog.Logger
}

// Host serves hosted Git repositories. Create it with New.
type Host struct {
	opts  Options
	st    *store.Store
	kind  *kinds.Kind
	log   *slog.Logger
	root  string
	empty string // an empty directory: HOME and core.hooksPath of every git process
	git   string // "" when git is not installed
	// timeout is coreutils' timeout(1), if installed: the CGI runs under it, so that a git
	// that neither reads nor writes still ends with the request timeout.
	timeout string

	pushMu sync.Mutex
	pushes map[string]*sync.Mutex // one per repository: pushes to it are serialised
}

// Group is the API group of the Repository kind.
const Group = "git.paved.dev"

// Finalizer is the finalizer the controller puts on every Repository, so that its
// directory is removed before the object goes.
const Finalizer = Group + "/repository"

// New registers the Repository kind in the store's registry and prepares the root
// directory. A missing git executable is not an error: repositories then report
// Ready=False (GitNotFound) and Git requests get 503.
func New(opts Options) (*Host, error) {
	if opts.Store == nil {
		return nil, errors.New("githost: Options.Store is required")
	}
	if opts.Auth == nil {
		return nil, errors.New("githost: Options.Auth is required")
	}
	if opts.Root == "" {
		return nil, errors.New("githost: Options.Root is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxPushBytes <= 0 {
		opts.MaxPushBytes = DefaultMaxPushBytes
	}
	if opts.MaxRawBytes <= 0 {
		opts.MaxRawBytes = DefaultMaxRawBytes
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = DefaultRequestTimeout
	}
	root, err := filepath.Abs(opts.Root)
	if err != nil {
		return nil, fmt.Errorf("githost: root %s: %w", opts.Root, err)
	}
	h := &Host{opts: opts, st: opts.Store, log: opts.Logger.With("component", "githost"), root: root,
		empty: filepath.Join(root, ".empty"), pushes: map[string]*sync.Mutex{}}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("githost: create %s: %w", root, err)
	}
	// The empty directory must stay empty: git runs the hooks it finds there.
	if err := os.MkdirAll(h.empty, 0o500); err != nil {
		return nil, fmt.Errorf("githost: create %s: %w", h.empty, err)
	}
	if ents, err := os.ReadDir(h.empty); err != nil || len(ents) > 0 {
		return nil, fmt.Errorf("githost: %s must be an empty directory (it is git's hooks directory)", h.empty)
	}
	git := opts.Git
	if git == "" {
		git = "git"
	}
	if p, err := exec.LookPath(git); err == nil {
		h.git = p
	} else {
		h.log.Warn("git is not installed: hosted repositories are unavailable until it is", "err", err)
	}
	if p, err := exec.LookPath("timeout"); err == nil {
		h.timeout = p
	} else {
		h.log.Debug("timeout(1) is not installed: a Git request is bounded by its connection deadlines only")
	}
	k := Kind()
	if err := h.st.Kinds().Register(k); err != nil {
		return nil, err
	}
	h.kind, _ = h.st.Kinds().ByGVK(k.APIVersion(), k.Kind)
	h.log.Info("git hosting: repositories under "+root, "git", h.git)
	return h, nil
}

// Kind returns the registered Repository kind.
func (h *Host) Kind() *kinds.Kind { return h.kind }

// dnsLabel is what namespaces and repository names must be: no dots, no slashes, so a
// name can never leave its directory.
var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// validName reports whether s is a DNS label of at most 63 characters.
func validName(s string) bool { return len(s) <= 63 && dnsLabel.MatchString(s) }

// repoDir is where a repository's bare directory lives. ns and name must be valid names.
func (h *Host) repoDir(ns, name string) string {
	return filepath.Join(h.root, ns, name+".git")
}

// pushLock returns the mutex that serialises pushes to one repository.
func (h *Host) pushLock(ns, name string) *sync.Mutex {
	h.pushMu.Lock()
	defer h.pushMu.Unlock()
	m, ok := h.pushes[ns+"/"+name]
	if !ok {
		m = &sync.Mutex{}
		h.pushes[ns+"/"+name] = m
	}
	return m
}
