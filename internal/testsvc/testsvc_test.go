package testsvc

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"
)

func TestMain(m *testing.M) { RunMain(m) }

// serviceMode is one way of getting a server: started privately, or named by the environment.
type serviceMode struct {
	name string
	env  func(t testing.TB) string // the value the URL variable has in this mode
}

// serviceModes returns both modes for a service. The environment mode uses the server the
// variable names when the test run sets it, else this binary's private server, so that both code
// paths run on any machine.
func serviceModes(envVar string, privateURL func(t testing.TB) string) []serviceMode {
	external := os.Getenv(envVar)
	return []serviceMode{
		{name: "private", env: func(testing.TB) string { return "" }},
		{name: "from env", env: func(t testing.TB) string {
			if external != "" {
				return external
			}
			return privateURL(t)
		}},
	}
}

func TestPostgres(t *testing.T) {
	modes := serviceModes(EnvPostgresURL, func(t testing.TB) string {
		return postgresAdminURL(serverFor(t, "postgres", startPostgres).addr)
	})
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			t.Setenv(EnvPostgresURL, mode.env(t))

			var dbURL string
			var leaked *pgx.Conn
			t.Run("round trip", func(t *testing.T) {
				dbURL = Postgres(t)
				other := Postgres(t)
				if other == dbURL {
					t.Fatalf("two calls returned the same database %s", dbURL)
				}
				conn := connectPostgres(t, dbURL)
				var current string
				if err := conn.QueryRow(t.Context(), "SELECT current_database()").Scan(&current); err != nil {
					t.Fatal(err)
				}
				if want := databaseName(t, dbURL); current != want {
					t.Errorf("connected to database %q, want %q", current, want)
				}
				if _, err := conn.Exec(t.Context(), "CREATE TABLE things (name text)"); err != nil {
					t.Fatal(err)
				}
				if _, err := conn.Exec(t.Context(), "INSERT INTO things VALUES ('one')"); err != nil {
					t.Fatal(err)
				}
				var name string
				if err := conn.QueryRow(t.Context(), "SELECT name FROM things").Scan(&name); err != nil {
					t.Fatal(err)
				}
				if name != "one" {
					t.Errorf("read %q back, want %q", name, "one")
				}

				// A test's database starts empty and is its own.
				var tables int
				err := connectPostgres(t, other).QueryRow(t.Context(),
					"SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").Scan(&tables)
				if err != nil {
					t.Fatal(err)
				}
				if tables != 0 {
					t.Errorf("second database has %d tables, want 0", tables)
				}
				// Left open past the test on purpose: dropping the database must end it.
				leaked, err = pgx.Connect(t.Context(), other)
				if err != nil {
					t.Fatal(err)
				}
			})
			if leaked != nil {
				_ = leaked.Close(context.Background())
			}
			if dbURL == "" {
				return
			}

			// The database is dropped when its test ends.
			admin, err := url.Parse(dbURL)
			if err != nil {
				t.Fatal(err)
			}
			admin.Path = "/postgres"
			var n int
			err = connectPostgres(t, admin.String()).QueryRow(t.Context(),
				"SELECT count(*) FROM pg_database WHERE datname = $1", databaseName(t, dbURL)).Scan(&n)
			if err != nil {
				t.Fatal(err)
			}
			if n != 0 {
				t.Errorf("database %s still exists after its test ended", databaseName(t, dbURL))
			}
		})
	}
}

func connectPostgres(t testing.TB, connURL string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), connURL)
	if err != nil {
		t.Fatalf("connect to %s: %v", connURL, err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

func databaseName(t testing.TB, connURL string) string {
	t.Helper()
	u, err := url.Parse(connURL)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(u.Path, "/")
}

func TestRedis(t *testing.T) {
	external := os.Getenv(EnvRedisURL)
	modes := serviceModes(EnvRedisURL, func(t testing.TB) string {
		return "redis://" + serverFor(t, "redis", startRedis).addr
	})
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			t.Setenv(EnvRedisURL, mode.env(t))
			if mode.name == "from env" && external == "" {
				// The "environment" is this binary's private server: keep its claims' lock
				// files, named after a random port, out of the machine's temporary directory.
				t.Setenv("TMPDIR", t.TempDir())
			}

			a := redisClient(t, Redis(t))
			b := redisClient(t, Redis(t))
			ctx := t.Context()

			if n, err := a.DBSize(ctx).Result(); err != nil || n != 0 {
				t.Fatalf("DBSIZE = %d, %v; want an empty keyspace", n, err)
			}
			if err := a.Set(ctx, "greeting", "hello", 0).Err(); err != nil {
				t.Fatal(err)
			}
			got, err := a.Get(ctx, "greeting").Result()
			if err != nil || got != "hello" {
				t.Errorf("GET greeting = %q, %v; want %q", got, err, "hello")
			}
			// Every call has a keyspace of its own.
			if n, err := b.Exists(ctx, "greeting").Result(); err != nil || n != 0 {
				t.Errorf("second keyspace: EXISTS greeting = %d, %v; want 0", n, err)
			}
		})
	}
}

func redisClient(t testing.TB, addr string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestRedisDatabaseIsEmptiedAndReleased(t *testing.T) {
	t.Setenv(EnvRedisURL, "")
	srv := redisServerFor(t)

	var db int
	t.Run("claim", func(t *testing.T) {
		db = claimRedisDB(t, srv)
		ctx := t.Context()
		c, err := dialRedis(ctx, srv, db)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.do(ctx, "SET", "left", "behind"); err != nil {
			t.Fatal(err)
		}
		if again := claimRedisDB(t, srv); again == db {
			t.Errorf("database %d claimed twice", db)
		}
	})

	ctx := t.Context()
	c, err := dialRedis(ctx, srv, db)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if n, err := c.do(ctx, "DBSIZE"); err != nil || n != int64(0) {
		t.Errorf("database %d after its test: DBSIZE = %v, %v; want 0", db, n, err)
	}
	lock, err := tryLock(filepath.Join(srv.lockDir, redisLockName(srv.addr, db)))
	if err != nil || lock == nil {
		t.Fatalf("database %d still claimed after its test: %v", db, err)
	}
	_ = lock.Close()
}

func TestNATS(t *testing.T) {
	modes := serviceModes(EnvNATSURL, func(t testing.TB) string {
		return serverFor(t, "nats", startNATS).addr // host:port, as a user may write it
	})
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			t.Setenv(EnvNATSURL, mode.env(t))

			nc, err := nats.Connect(NATS(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(nc.Close)
			js, err := jetstream.New(nc)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()

			name := Name(t)
			stream, err := js.CreateStream(ctx, jetstream.StreamConfig{
				Name:     name,
				Subjects: []string{name + ".>"},
				Storage:  jetstream.MemoryStorage,
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				// The server may be shared: leave nothing behind.
				if err := js.DeleteStream(context.Background(), name); err != nil {
					t.Errorf("delete stream %s: %v", name, err)
				}
			})
			if _, err := js.Publish(ctx, name+".hello", []byte("world")); err != nil {
				t.Fatal(err)
			}
			msg, err := stream.GetLastMsgForSubject(ctx, name+".hello")
			if err != nil {
				t.Fatal(err)
			}
			if string(msg.Data) != "world" {
				t.Errorf("stored message %q, want %q", msg.Data, "world")
			}
		})
	}
}

func TestPrivateServerPerTestWithoutRunMain(t *testing.T) {
	procServers.mu.Lock()
	procServers.shared = false
	procServers.mu.Unlock()
	t.Cleanup(func() {
		procServers.mu.Lock()
		procServers.shared = true
		procServers.mu.Unlock()
	})

	var p *process
	t.Run("start", func(t *testing.T) {
		p = serverFor(t, "redis", startRedis)
		procServers.mu.Lock()
		shared := procServers.servers["redis"]
		procServers.mu.Unlock()
		if shared != nil && shared.proc == p {
			t.Fatal("got the binary's shared server, want one for this test")
		}
	})
	if p == nil {
		return
	}
	select {
	case <-p.exited:
	default:
		t.Error("server still running after its test ended")
	}
	if _, err := os.Stat(p.dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("server directory %s: %v; want it removed", p.dir, err)
	}
}

func TestName(t *testing.T) {
	valid := regexp.MustCompile(`^[a-z][a-z0-9_]{0,24}_[0-9a-f]{8}$`)
	for _, name := range []string{
		"simple",
		"With Spaces and CAPS",
		"42 starts with a digit",
		"ünïcödé/and/slashes",
		"a very long test name that goes on and on well past any limit",
		"___",
	} {
		t.Run(name, func(t *testing.T) {
			a, b := Name(t), Name(t)
			if !valid.MatchString(a) {
				t.Errorf("Name = %q, want a match for %s", a, valid)
			}
			if a == b {
				t.Errorf("two calls both returned %q", a)
			}
		})
	}
}

func TestParseRedisURL(t *testing.T) {
	tests := []struct {
		in      string
		want    redisServer
		wantErr bool
	}{
		{in: "127.0.0.1:6379", want: redisServer{addr: "127.0.0.1:6379"}},
		{in: "redis://127.0.0.1:6380/3", want: redisServer{addr: "127.0.0.1:6380"}},
		{in: "redis://localhost", want: redisServer{addr: "localhost:6379"}},
		{in: "redis://:secret@127.0.0.1:6379", want: redisServer{addr: "127.0.0.1:6379", password: "secret"}},
		{in: "redis://app:secret@[::1]:6379", want: redisServer{addr: "[::1]:6379", username: "app", password: "secret"}},
		{in: "rediss://127.0.0.1:6379", wantErr: true},
		{in: "localhost", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseRedisURL(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseRedisURL(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("parseRedisURL(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestNewestPostgresDir(t *testing.T) {
	tests := []struct {
		name  string
		paths []string
		want  string
	}{
		{name: "none", want: ""},
		{name: "one", paths: []string{"/usr/lib/postgresql/15/bin/postgres"}, want: "/usr/lib/postgresql/15/bin"},
		{
			name: "numeric order",
			paths: []string{
				"/usr/lib/postgresql/9.6/bin/postgres",
				"/usr/lib/postgresql/16/bin/postgres",
				"/usr/lib/postgresql/15/bin/postgres",
			},
			want: "/usr/lib/postgresql/16/bin",
		},
		{
			name:  "not a version",
			paths: []string{"/usr/lib/postgresql/devel/bin/postgres", "/usr/lib/postgresql/13/bin/postgres"},
			want:  "/usr/lib/postgresql/13/bin",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := newestPostgresDir(tt.paths); got != tt.want {
				t.Errorf("newestPostgresDir(%q) = %q, want %q", tt.paths, got, tt.want)
			}
		})
	}
}

// recordingTB records how reportUnavailable ended a test instead of ending it.
type recordingTB struct {
	testing.TB
	skipped, failed string
}

func (r *recordingTB) Helper()                           {}
func (r *recordingTB) Skipf(format string, args ...any)  { r.skipped = fmt.Sprintf(format, args...) }
func (r *recordingTB) Fatalf(format string, args ...any) { r.failed = fmt.Sprintf(format, args...) }

func TestReportUnavailable(t *testing.T) {
	missing := &missingError{binary: "redis-server", pkg: "redis-server", envVar: EnvRedisURL}
	tests := []struct {
		name        string
		require     string
		err         error
		wantSkip    bool
		wantMention string
	}{
		{name: "missing binary skips", err: missing, wantSkip: true, wantMention: "apt-get install redis-server"},
		{name: "missing binary fails when required", require: "1", err: missing, wantMention: "apt-get install redis-server"},
		{name: "other errors fail", err: errors.New("initdb: boom"), wantMention: "boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(EnvRequireServices, tt.require)
			rec := &recordingTB{TB: t}
			reportUnavailable(rec, fmt.Errorf("start: %w", tt.err))
			got := rec.failed
			if tt.wantSkip {
				got = rec.skipped
			}
			if (rec.skipped != "") != tt.wantSkip || (rec.failed != "") == tt.wantSkip {
				t.Fatalf("skipped %q, failed %q; want skip %v", rec.skipped, rec.failed, tt.wantSkip)
			}
			if !strings.Contains(got, tt.wantMention) {
				t.Errorf("message %q does not mention %q", got, tt.wantMention)
			}
		})
	}
}

func TestOrphanedServerDirsAreRemoved(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)

	exited := exec.Command("true")
	if err := exited.Run(); err != nil {
		t.Fatal(err)
	}
	dirs := map[string]struct {
		owner    string // owner.pid contents; "" for none
		wantKept bool
	}{
		serverDirPrefix + "postgres-orphan": {owner: strconv.Itoa(exited.Process.Pid), wantKept: false},
		serverDirPrefix + "postgres-live":   {owner: strconv.Itoa(os.Getpid()), wantKept: true},
		serverDirPrefix + "redis-starting":  {wantKept: true},
		serverDirPrefix + "redis":           {wantKept: true}, // the environment mode's lock directory
		"someone-elses":                     {owner: strconv.Itoa(exited.Process.Pid), wantKept: true},
	}
	for name, d := range dirs {
		if err := os.Mkdir(filepath.Join(tmp, name), 0o755); err != nil {
			t.Fatal(err)
		}
		if d.owner != "" {
			if err := os.WriteFile(filepath.Join(tmp, name, ownerFile), []byte(d.owner), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}

	removeOrphanedDirs()

	for name, d := range dirs {
		_, err := os.Stat(filepath.Join(tmp, name))
		if kept := err == nil; kept != d.wantKept {
			t.Errorf("%s: kept %v, want %v", name, kept, d.wantKept)
		}
	}
}
