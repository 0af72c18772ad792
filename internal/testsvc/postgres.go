package testsvc

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Postgres returns a postgres:// URL of a fresh, empty database that belongs to t and is dropped
// when t ends. The server is the one PAVED_TEST_POSTGRES_URL names, else a private one.
func Postgres(t testing.TB) string {
	t.Helper()
	admin := os.Getenv(EnvPostgresURL)
	if admin == "" {
		p := serverFor(t, "postgres", startPostgres)
		admin = postgresAdminURL(p.addr)
	}
	u, err := url.Parse(admin)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		t.Fatalf("testsvc: %s=%q is not a postgres://user@host:port/database URL", EnvPostgresURL, admin)
	}

	name := "paved_test_" + Name(t)
	ident := pgx.Identifier{name}.Sanitize()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// template0 is never modified, so the database is empty even on a shared server whose
	// template1 someone has changed.
	if err := postgresExec(ctx, admin, "CREATE DATABASE "+ident+" TEMPLATE template0"); err != nil {
		t.Fatalf("testsvc: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		// t's own context is already cancelled while cleanups run.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// FORCE ends connections a test leaked, which would otherwise block the drop.
		if err := postgresExec(ctx, admin, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
			t.Errorf("testsvc: drop database %s: %v", name, err)
		}
	})

	u.Path = "/" + name
	return u.String()
}

// postgresAdminURL is the URL of the maintenance database of a private server.
func postgresAdminURL(addr string) string {
	return "postgres://postgres@" + addr + "/postgres?sslmode=disable"
}

// postgresExec runs one statement on its own connection.
func postgresExec(ctx context.Context, connURL, sql string) error {
	conn, err := pgx.Connect(ctx, connURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// startPostgres initialises a cluster in a new directory and starts postgres on it.
func startPostgres() (*process, error) {
	bin, err := postgresBinDir()
	if err != nil {
		return nil, err
	}
	cred, err := postgresCredential()
	if err != nil {
		return nil, err
	}
	dir, err := makeServerDir("postgres", cred)
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")

	// Trust authentication on loopback only; no locale, so the cluster behaves the same on every
	// machine; no fsync, because the data is thrown away.
	initdb := exec.Command(filepath.Join(bin, "initdb"),
		"--pgdata", data, "--username", "postgres", "--auth", "trust",
		"--no-locale", "--encoding", "UTF8", "--no-sync")
	initdb.Dir = dir // root's working directory may be closed to the postgres user
	initdb.SysProcAttr = sysProcAttr(cred, syscall.SIGKILL)
	if out, err := initdb.CombinedOutput(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %w: %s", err, out)
	}

	p, err := startOnFreePort(func(addr string) (*process, error) {
		_, port, _ := strings.Cut(addr, ":")
		spec := processSpec{
			name: "postgres",
			dir:  dir,
			bin:  filepath.Join(bin, "postgres"),
			args: []string{
				"-D", data, "-p", port,
				"-c", "listen_addresses=127.0.0.1",
				"-c", "unix_socket_directories=", // TCP only; a socket path may exceed the length limit
				"-c", "max_connections=300", // parallel tests each hold a pool
				"-c", "fsync=off",
				"-c", "synchronous_commit=off",
				"-c", "full_page_writes=off",
			},
			cred:     cred,
			stopSig:  syscall.SIGINT,  // fast shutdown: ends open connections
			deathSig: syscall.SIGQUIT, // immediate shutdown
		}
		return startProcess(spec, addr, func(ctx context.Context) error {
			conn, err := pgx.Connect(ctx, postgresAdminURL(addr))
			if err != nil {
				return err
			}
			defer conn.Close(context.Background())
			return conn.Ping(ctx)
		})
	})
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return p, nil
}

// postgresCredential returns the user to run PostgreSQL as: nil (the current user) unless the
// test runs as root, which PostgreSQL refuses, and then the postgres OS user.
func postgresCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, PostgreSQL must run as the postgres OS user, which was not found (the Debian package postgresql creates it): %w", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("postgres user's uid %q: %w", u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("postgres user's gid %q: %w", u.Gid, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
}

// postgresBinDir finds the directory holding initdb and postgres: the newest version under
// Debian's /usr/lib/postgresql, else the one on PATH.
func postgresBinDir() (string, error) {
	candidates, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	if dir := newestPostgresDir(candidates); dir != "" {
		if _, err := os.Stat(filepath.Join(dir, "initdb")); err == nil {
			return dir, nil
		}
	}
	if path, err := exec.LookPath("initdb"); err == nil {
		dir := filepath.Dir(path)
		if resolved, err := filepath.EvalSymlinks(path); err == nil {
			dir = filepath.Dir(resolved) // initdb finds postgres beside itself
		}
		if _, err := os.Stat(filepath.Join(dir, "postgres")); err == nil {
			return dir, nil
		}
	}
	return "", &missingError{binary: "PostgreSQL (initdb, postgres)", pkg: "postgresql", envVar: EnvPostgresURL}
}

// newestPostgresDir returns the bin directory of the newest version among paths of the form
// /usr/lib/postgresql/<version>/bin/postgres, or "" when there are none. Versions compare
// numerically ("9.6" < "15" < "16").
func newestPostgresDir(paths []string) string {
	best, bestVersion := "", []int(nil)
	for _, path := range paths {
		bin := filepath.Dir(path)
		version, ok := parseVersion(filepath.Base(filepath.Dir(bin)))
		if !ok {
			continue
		}
		if best == "" || versionLess(bestVersion, version) {
			best, bestVersion = bin, version
		}
	}
	return best
}

func parseVersion(s string) ([]int, bool) {
	var v []int
	for _, part := range strings.Split(s, ".") {
		n, err := strconv.Atoi(part)
		if err != nil {
			return nil, false
		}
		v = append(v, n)
	}
	return v, true
}

func versionLess(a, b []int) bool {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return len(a) < len(b)
}
