// Package testsvc gives a test a real PostgreSQL, Redis or NATS server and a namespace on it that
// belongs to that test alone.
//
// It owns the servers it starts for tests (their processes, ports and temporary directories) and the
// per-test namespaces it creates; on a server named by an environment variable it touches nothing else.
//
// What each call returns:
//
//   - Postgres: a postgres:// URL of a fresh, empty database, created with CREATE DATABASE and dropped
//     WITH (FORCE) in t.Cleanup.
//   - Redis: the host:port of a Redis endpoint whose DB 0 is empty and private to the test. The address
//     is a small loopback proxy, owned by the test, that authenticates and selects a logical database
//     claimed for the test before forwarding the client's bytes, so a plain client (DB 0) is isolated
//     without knowing it. The database is flushed when claimed and again in t.Cleanup. A client must not
//     SELECT, RESET, SWAPDB or FLUSHALL: those reach past the test's database. Users, ACLs and CONFIG are
//     server-wide, so a test names them with Name(t).
//   - NATS: the nats:// URL of a server with JetStream. Streams, consumers and subjects are server-wide,
//     so a test names them with Name(t).
//
// Where the server comes from: PAVED_TEST_POSTGRES_URL, PAVED_TEST_REDIS_URL and
// PAVED_TEST_NATS_URL name a running server to use. For PostgreSQL the URL's user must be allowed to
// create databases, and its database is the one connected to for CREATE DATABASE. For Redis the
// URL's user and password are used, its DB index is ignored, and DBs 1 and up may be claimed and
// flushed; claims are file locks under the system temporary directory, so test binaries on one
// machine never share a database.
//
// Otherwise a private server is started from the installed binaries on a free loopback port, in a
// temporary directory: PostgreSQL (the newest under /usr/lib/postgresql/<version>/bin, else initdb
// and postgres on PATH), redis-server or nats-server. A package that calls RunMain from TestMain
// shares one private server of each kind among its tests and stops it when they end:
//
//	func TestMain(m *testing.M) { testsvc.RunMain(m) }
//
// Without RunMain each call starts a server for the calling test alone and stops it in t.Cleanup:
// correct, just slower (PostgreSQL takes about a second to initialise).
//
// When a binary is missing the test is skipped with the name of the Debian package to install;
// with PAVED_TEST_REQUIRE_SERVICES=1 (CI sets it) the test fails instead.
//
// Running as root: PostgreSQL refuses to run as root, so when the test runs as root initdb and
// postgres run as the "postgres" OS user (Debian's postgresql package creates it), in a directory owned
// by that user. Servers are started with a parent-death signal, so they stop even when a test binary is
// killed before RunMain can stop them.
package testsvc

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
)

// Environment variables that change where servers come from.
const (
	EnvPostgresURL     = "PAVED_TEST_POSTGRES_URL"
	EnvRedisURL        = "PAVED_TEST_REDIS_URL"
	EnvNATSURL         = "PAVED_TEST_NATS_URL"
	EnvRequireServices = "PAVED_TEST_REQUIRE_SERVICES"
)

// procServers is the package's only mutable state, and it cannot be avoided: a private server
// shared by a test binary outlives the test that happened to start it, and RunMain, which runs
// after every test, has to find it to stop it.
var procServers = &registry{}

// registry holds the private servers shared by the tests of one test binary.
type registry struct {
	mu      sync.Mutex
	shared  bool // RunMain is running the tests: share one server of each kind
	servers map[string]*sharedServer
}

// sharedServer is one kind's server, started at most once per test binary. A failed start is
// remembered so that every later test fails fast with the same error instead of retrying.
type sharedServer struct {
	once sync.Once
	proc *process
	err  error
}

// RunMain runs the tests of a package and then stops the private servers they started. Call it from
// TestMain:
//
//	func TestMain(m *testing.M) { testsvc.RunMain(m) }
//
// It returns after the servers are stopped; the testing package then exits with m.Run's code.
func RunMain(m *testing.M) {
	procServers.mu.Lock()
	procServers.shared = true
	procServers.mu.Unlock()

	m.Run()

	if err := procServers.stopAll(); err != nil {
		// The tests have passed or failed already; a server that would not stop cleanly was
		// killed, so say so without changing the verdict.
		fmt.Fprintln(os.Stderr, "testsvc:", err)
	}
}

// serverFor returns the private server of the given kind for t: the binary's shared one when
// RunMain is in use, otherwise a new one stopped in t.Cleanup. It skips or fails t when the server
// cannot be had.
func serverFor(t testing.TB, kind string, start func() (*process, error)) *process {
	t.Helper()
	procServers.mu.Lock()
	shared := procServers.shared
	var s *sharedServer
	if shared {
		if procServers.servers == nil {
			procServers.servers = make(map[string]*sharedServer)
		}
		s = procServers.servers[kind]
		if s == nil {
			s = &sharedServer{}
			procServers.servers[kind] = s
		}
	}
	procServers.mu.Unlock()

	if !shared {
		p, err := start()
		if err != nil {
			reportUnavailable(t, err)
			return nil
		}
		t.Logf("testsvc: started a private %s for this test only; call testsvc.RunMain from TestMain to share one per test binary", kind)
		t.Cleanup(func() {
			if err := p.stop(); err != nil {
				t.Errorf("testsvc: %v", err)
			}
		})
		return p
	}

	// start must not call t.Skip or t.Fatal inside once.Do: runtime.Goexit would mark the Once
	// done with no result recorded.
	s.once.Do(func() { s.proc, s.err = start() })
	if s.err != nil {
		reportUnavailable(t, s.err)
		return nil
	}
	return s.proc
}

// stopAll stops every shared server, even when some fail to stop, and reports all failures.
func (r *registry) stopAll() error {
	r.mu.Lock()
	servers := r.servers
	r.servers = nil
	r.mu.Unlock()

	var errs []error
	for _, s := range servers {
		if s.proc != nil {
			errs = append(errs, s.proc.stop())
		}
	}
	return errors.Join(errs...)
}

// missingError says that a server binary is not installed.
type missingError struct {
	binary string // the program looked for, e.g. "redis-server"
	pkg    string // the Debian package that provides it
	envVar string // the variable that names a running server instead
}

func (e *missingError) Error() string {
	return fmt.Sprintf("%s is not installed: install the Debian package %s (apt-get install %s) or set %s to a running server",
		e.binary, e.pkg, e.pkg, e.envVar)
}

// reportUnavailable skips t when a server binary is missing, unless the environment requires the
// services; any other failure fails t.
func reportUnavailable(t testing.TB, err error) {
	t.Helper()
	var missing *missingError
	if !errors.As(err, &missing) {
		t.Fatalf("testsvc: %v", err)
		return
	}
	if os.Getenv(EnvRequireServices) == "1" {
		t.Fatalf("testsvc: %v (%s=1 forbids skipping)", err, EnvRequireServices)
		return
	}
	t.Skipf("testsvc: %v", err)
}

// Name returns a short name unique to this call, made from the test's name: lower-case letters,
// digits and underscores, starting with a letter, at most 34 bytes. It is valid unquoted as a
// PostgreSQL identifier, a JetStream stream or consumer name, a NATS subject token and a Redis key
// or ACL user name, so tests sharing a server can keep out of each other's way.
func Name(t testing.TB) string {
	var b strings.Builder
	underscore := true // no leading underscore, no runs of them
	for _, r := range strings.ToLower(t.Name()) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
			underscore = false
		case !underscore:
			b.WriteByte('_')
			underscore = true
		}
		if b.Len() >= 24 {
			break
		}
	}
	base := strings.TrimRight(b.String(), "_")
	if base == "" || base[0] < 'a' {
		base = "t" + base
	}
	var suffix [4]byte
	_, _ = rand.Read(suffix[:]) // crypto/rand.Read never fails on Linux
	return base + "_" + hex.EncodeToString(suffix[:])
}
