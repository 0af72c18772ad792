package testsvc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// privateRedisDatabases is how many logical databases a private server has: enough for every
// test of a binary to hold one at once.
const privateRedisDatabases = 1024

// Redis returns the host:port of a Redis endpoint whose DB 0 is empty and belongs to t until t
// ends. The server is the one PAVED_TEST_REDIS_URL names, else a private one; see the package
// documentation for how the test's database is kept apart.
func Redis(t testing.TB) string {
	t.Helper()
	srv := redisServerFor(t)
	db := claimRedisDB(t, srv)
	return startRedisProxy(t, srv, db)
}

// redisServer is a Redis server that tests claim logical databases on.
type redisServer struct {
	addr      string
	username  string
	password  string
	databases int    // how many logical databases it has
	lockDir   string // holds one lock file per claimable database
}

func redisServerFor(t testing.TB) redisServer {
	t.Helper()
	env := os.Getenv(EnvRedisURL)
	if env == "" {
		p := serverFor(t, "redis", startRedis)
		return redisServer{addr: p.addr, databases: privateRedisDatabases, lockDir: filepath.Join(p.dir, "locks")}
	}

	srv, err := parseRedisURL(env)
	if err != nil {
		t.Fatalf("testsvc: %s: %v", EnvRedisURL, err)
	}
	// Claims live under the system temporary directory so that every test binary on this
	// machine, whoever runs it, sees the others' claims.
	srv.lockDir = filepath.Join(os.TempDir(), "paved-testsvc-redis")
	if err := os.MkdirAll(srv.lockDir, 0o755); err != nil {
		t.Fatalf("testsvc: %v", err)
	}
	_ = os.Chmod(srv.lockDir, os.ModeSticky|0o777) // like /tmp; best effort: only the owner may change it
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv.databases, err = redisDatabases(ctx, srv)
	if err != nil {
		t.Fatalf("testsvc: %s=%q: %v", EnvRedisURL, env, err)
	}
	return srv
}

// parseRedisURL reads redis://[user:password@]host[:port][/db] or a bare host:port. The DB index
// is ignored: tests get databases of their own.
func parseRedisURL(s string) (redisServer, error) {
	if !strings.Contains(s, "://") {
		if _, _, err := net.SplitHostPort(s); err != nil {
			return redisServer{}, fmt.Errorf("%q is neither host:port nor a redis:// URL", s)
		}
		return redisServer{addr: s}, nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return redisServer{}, err
	}
	if u.Scheme != "redis" || u.Hostname() == "" {
		return redisServer{}, fmt.Errorf("%q: want redis://[user:password@]host:port (TLS is not supported)", s)
	}
	port := u.Port()
	if port == "" {
		port = "6379"
	}
	srv := redisServer{addr: net.JoinHostPort(u.Hostname(), port)}
	if u.User != nil {
		srv.username = u.User.Username()
		srv.password, _ = u.User.Password()
	}
	return srv, nil
}

// redisDatabases asks the server how many logical databases it has, falling back to Redis's
// default when CONFIG is not allowed.
func redisDatabases(ctx context.Context, srv redisServer) (int, error) {
	c, err := dialRedis(ctx, srv, 0)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	reply, err := c.do(ctx, "CONFIG", "GET", "databases")
	if err != nil {
		var re redisError
		if errors.As(err, &re) {
			return 16, nil
		}
		return 0, err
	}
	if pair, ok := reply.([]any); ok && len(pair) == 2 {
		if s, ok := pair[1].(string); ok {
			if n, err := strconv.Atoi(s); err == nil && n > 1 {
				return n, nil
			}
		}
	}
	return 16, nil
}

// claimRedisDB claims a logical database other than 0 for t, empties it, and gives it back,
// emptied again, when t ends. A claim is an flock on a file per database: the kernel drops it
// when the process dies, so a crashed test binary never leaves a database claimed.
func claimRedisDB(t testing.TB, srv redisServer) int {
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	for {
		for db := 1; db < srv.databases; db++ {
			lock, err := tryLock(filepath.Join(srv.lockDir, redisLockName(srv.addr, db)))
			if err != nil {
				t.Fatalf("testsvc: claim Redis database %d: %v", db, err)
			}
			if lock == nil {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err = flushRedisDB(ctx, srv, db)
			cancel()
			if err != nil {
				_ = lock.Close()
				t.Fatalf("testsvc: empty Redis database %d on %s: %v", db, srv.addr, err)
			}
			t.Cleanup(func() {
				defer lock.Close()
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				if err := flushRedisDB(ctx, srv, db); err != nil {
					t.Errorf("testsvc: empty Redis database %d on %s: %v", db, srv.addr, err)
				}
			})
			return db
		}
		if time.Now().After(deadline) {
			t.Fatalf("testsvc: all %d Redis databases on %s stayed claimed by other tests for %s", srv.databases-1, srv.addr, startTimeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func flushRedisDB(ctx context.Context, srv redisServer, db int) error {
	c, err := dialRedis(ctx, srv, db)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.do(ctx, "FLUSHDB")
	return err
}

// redisLockName names the lock file of one database of the server at addr.
func redisLockName(addr string, db int) string {
	safe := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' {
			return r
		}
		return '_'
	}, addr)
	return fmt.Sprintf("%s-db%d.lock", safe, db)
}

// tryLock takes an exclusive flock on path without waiting. It returns nil when another holder
// has it; closing the file releases it. The file is opened read-only, which is enough for flock,
// so that lock files another user created can be used too.
func tryLock(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o666)
	if err != nil {
		return nil, err
	}
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		_ = f.Close()
		return nil, nil
	}
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("flock %s: %w", path, err)
	}
	return f, nil
}

// startRedis starts a private redis-server that keeps nothing on disk.
func startRedis() (*process, error) {
	bin, err := findBinary("redis-server", "redis-server", EnvRedisURL)
	if err != nil {
		return nil, err
	}
	dir, err := makeServerDir("redis", nil)
	if err != nil {
		return nil, err
	}
	if err := os.Mkdir(filepath.Join(dir, "locks"), 0o755); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	p, err := startOnFreePort(func(addr string) (*process, error) {
		_, port, _ := strings.Cut(addr, ":")
		spec := processSpec{
			name: "redis",
			dir:  dir,
			bin:  bin,
			args: []string{
				"--port", port, "--bind", "127.0.0.1", "--dir", dir,
				"--save", "", "--appendonly", "no",
				"--databases", strconv.Itoa(privateRedisDatabases),
			},
			stopSig:  syscall.SIGTERM,
			deathSig: syscall.SIGTERM,
		}
		return startProcess(spec, addr, func(ctx context.Context) error {
			c, err := dialRedis(ctx, redisServer{addr: addr}, 0)
			if err != nil {
				return err
			}
			defer c.Close()
			reply, err := c.do(ctx, "PING")
			if err != nil {
				return err
			}
			if reply != "PONG" {
				return fmt.Errorf("PING answered %v", reply)
			}
			return nil
		})
	})
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return p, nil
}

// redisProxy forwards connections to a Redis server after authenticating and selecting the
// test's database on each, so that a client using DB 0 works in the test's database.
type redisProxy struct {
	srv redisServer
	db  int
	ln  net.Listener
	wg  sync.WaitGroup

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

// startRedisProxy starts a proxy on a loopback port for t's database and stops it when t ends.
func startRedisProxy(t testing.TB, srv redisServer, db int) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testsvc: listen for the Redis proxy: %v", err)
	}
	p := &redisProxy{srv: srv, db: db, ln: ln, conns: make(map[net.Conn]struct{})}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(p.close)
	return ln.Addr().String()
}

func (p *redisProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			time.Sleep(10 * time.Millisecond) // e.g. out of file descriptors: try again
			continue
		}
		p.wg.Add(1)
		go p.handle(c)
	}
}

func (p *redisProxy) handle(client net.Conn) {
	defer p.wg.Done()
	if !p.track(client) {
		return
	}
	defer p.untrack(client)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	up, err := dialRedis(ctx, p.srv, p.db)
	cancel()
	if err != nil {
		// Clients read this as the answer to their first command, which shows the cause.
		msg := strings.NewReplacer("\r", " ", "\n", " ").Replace(err.Error())
		_, _ = fmt.Fprintf(client, "-ERR testsvc proxy: %s\r\n", msg)
		return
	}
	if !p.track(up) {
		return
	}
	defer p.untrack(up)
	_ = up.SetDeadline(time.Time{})

	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, client); done <- struct{}{} }()
	go func() { _, _ = io.Copy(client, up.r); done <- struct{}{} }()
	<-done
	// One side hung up: end the other so that the second copy returns too.
	_ = client.Close()
	_ = up.Close()
	<-done
}

// track records an open connection so that close can end it; it closes c and returns false when
// the proxy is already closed.
func (p *redisProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		_ = c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *redisProxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	_ = c.Close()
}

// close stops accepting, ends every open connection and waits for the proxy's goroutines.
func (p *redisProxy) close() {
	_ = p.ln.Close()
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// respConn is a minimal Redis client: enough to authenticate, select, ping and flush. Tests
// use a real client library against the address Redis returns.
type respConn struct {
	net.Conn
	r *bufio.Reader
}

// dialRedis connects to srv, authenticates when srv has a password, and selects db.
func dialRedis(ctx context.Context, srv redisServer, db int) (*respConn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", srv.addr)
	if err != nil {
		return nil, err
	}
	c := &respConn{Conn: nc, r: bufio.NewReader(nc)}
	if srv.password != "" {
		args := []string{"AUTH"}
		if srv.username != "" {
			args = append(args, srv.username)
		}
		if _, err := c.do(ctx, append(args, srv.password)...); err != nil {
			_ = c.Close()
			return nil, fmt.Errorf("AUTH: %w", err)
		}
	}
	if db != 0 {
		if _, err := c.do(ctx, "SELECT", strconv.Itoa(db)); err != nil {
			_ = c.Close()
			return nil, fmt.Errorf("SELECT %d: %w", db, err)
		}
	}
	return c, nil
}

// do sends one command and reads its reply, within ctx's deadline.
func (c *respConn) do(ctx context.Context, args ...string) (any, error) {
	deadline, _ := ctx.Deadline() // zero: no deadline
	if err := c.SetDeadline(deadline); err != nil {
		return nil, err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(c.Conn, b.String()); err != nil {
		return nil, err
	}
	return readRESP(c.r)
}

// redisError is an error reply from the server.
type redisError string

func (e redisError) Error() string { return string(e) }

// readRESP reads one RESP2 reply: a string, an int64, nil, a []any, or a redisError.
func readRESP(r *bufio.Reader) (any, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	if len(line) < 3 || !strings.HasSuffix(line, "\r\n") {
		return nil, fmt.Errorf("malformed Redis reply %q", line)
	}
	kind, body := line[0], line[1:len(line)-2]
	switch kind {
	case '+':
		return body, nil
	case '-':
		return nil, redisError(body)
	case ':':
		return strconv.ParseInt(body, 10, 64)
	case '$', '*':
		n, err := strconv.Atoi(body)
		if err != nil {
			return nil, fmt.Errorf("malformed Redis reply %q", line)
		}
		if n < 0 {
			return nil, nil
		}
		if kind == '$' {
			buf := make([]byte, n+2)
			if _, err := io.ReadFull(r, buf); err != nil {
				return nil, err
			}
			return string(buf[:n]), nil
		}
		items := make([]any, n)
		for i := range items {
			if items[i], err = readRESP(r); err != nil {
				return nil, err
			}
		}
		return items, nil
	default:
		return nil, fmt.Errorf("unexpected Redis reply %q", line)
	}
}
