package testsvc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// startTimeout bounds how long a server may take to become ready. It is generous because CI
// machines are small and shared; a healthy server is ready in well under a second.
const startTimeout = 2 * time.Minute

// process is a server this package started.
type process struct {
	name    string // "postgres", for messages
	addr    string // 127.0.0.1:port it listens on
	dir     string // its private directory, removed once it has stopped
	logPath string // where its output goes
	stopSig syscall.Signal
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the process has exited
}

// processSpec says how to start a server.
type processSpec struct {
	name    string
	dir     string // an existing directory; the process runs there and logs to name+".log" in it
	bin     string
	args    []string
	cred    *syscall.Credential // run as this user; nil for the current one
	stopSig syscall.Signal      // asks for a quick, clean shutdown
	// deathSig is sent by the kernel if the test binary dies without stopping the server.
	deathSig syscall.Signal
}

// startProcess starts the server described by spec, listening on addr, and waits until ready says
// it is serving. On failure the process is stopped; its directory is left for the caller.
func startProcess(spec processSpec, addr string, ready func(ctx context.Context) error) (*process, error) {
	logPath := filepath.Join(spec.dir, spec.name+".log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create %s log: %w", spec.name, err)
	}
	defer logFile.Close() // the child holds its own descriptor

	cmd := exec.Command(spec.bin, spec.args...)
	cmd.Dir = spec.dir
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = sysProcAttr(spec.cred, spec.deathSig)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.bin, err)
	}
	p := &process{
		name:    spec.name,
		addr:    addr,
		dir:     spec.dir,
		logPath: logPath,
		stopSig: spec.stopSig,
		cmd:     cmd,
		exited:  make(chan struct{}),
	}
	go func() {
		_ = cmd.Wait() // how it exited shows in its log
		close(p.exited)
	}()

	if err := p.waitReady(ready); err != nil {
		p.kill()
		return nil, err
	}
	return p, nil
}

// errExitedEarly marks a server that exited while starting, typically because another process
// took its port between freePort and bind.
var errExitedEarly = errors.New("exited while starting")

// waitReady polls ready until it succeeds, the process exits or startTimeout passes.
func (p *process) waitReady(ready func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	delay := 20 * time.Millisecond
	for {
		attempt, cancelAttempt := context.WithTimeout(ctx, 2*time.Second)
		err := ready(attempt)
		cancelAttempt()
		if err == nil {
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("%s %w: %s", p.name, errExitedEarly, p.logTail())
		case <-ctx.Done():
			return fmt.Errorf("%s on %s not ready after %s: %w; log: %s", p.name, p.addr, startTimeout, err, p.logTail())
		case <-time.After(delay):
		}
		delay = min(2*delay, 500*time.Millisecond)
	}
}

// stop asks the server to shut down, kills it if it does not within a while, and removes its
// directory.
func (p *process) stop() error {
	_ = p.cmd.Process.Signal(p.stopSig)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		p.kill()
	}
	if err := os.RemoveAll(p.dir); err != nil {
		return fmt.Errorf("remove %s directory: %w", p.name, err)
	}
	return nil
}

// kill stops the server at once and waits for it to exit.
func (p *process) kill() {
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// logTail returns the end of the server's log, for error messages.
func (p *process) logTail() string {
	f, err := os.Open(p.logPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	defer f.Close()
	const tailBytes = 4096
	if info, err := f.Stat(); err == nil && info.Size() > tailBytes {
		_, _ = f.Seek(-tailBytes, io.SeekEnd)
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

// startOnFreePort starts a server on a free loopback port, trying again with another port when the
// server exits while starting: the port is only known to be free until it is closed here, and
// parallel test binaries pick ports too.
func startOnFreePort(start func(addr string) (*process, error)) (*process, error) {
	var err error
	for range 3 {
		var port int
		port, err = freePort()
		if err != nil {
			return nil, err
		}
		var p *process
		p, err = start(net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err == nil {
			return p, nil
		}
		if !errors.Is(err, errExitedEarly) {
			return nil, err
		}
	}
	return nil, err
}

// freePort asks the kernel for a loopback port that is free now.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// findBinary looks for a server program on PATH and then in the directories Debian installs
// servers to, which a non-root PATH often lacks (nats-server is in /usr/sbin).
func findBinary(name, pkg, envVar string) (string, error) {
	if path, err := exec.LookPath(name); err == nil {
		return path, nil
	}
	for _, dir := range []string{"/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"} {
		path := filepath.Join(dir, name)
		if info, err := os.Stat(path); err == nil && !info.IsDir() && info.Mode()&0o111 != 0 {
			return path, nil
		}
	}
	return "", &missingError{binary: name, pkg: pkg, envVar: envVar}
}

// serverDirPrefix starts the name of every server directory under the system temporary directory.
const serverDirPrefix = "paved-testsvc-"

// ownerFile, in a server directory, holds the process id of the test binary that made it.
const ownerFile = "owner.pid"

// makeServerDir creates a private directory for a server; when owner is not nil the directory
// is handed to that user, who will run the server. It first removes the directories of test
// binaries that were killed before they could (a PostgreSQL cluster takes about 40 MB).
func makeServerDir(name string, owner *syscall.Credential) (string, error) {
	removeOrphanedDirs()
	dir, err := os.MkdirTemp("", serverDirPrefix+name+"-")
	if err != nil {
		return "", fmt.Errorf("create %s directory: %w", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		_ = os.RemoveAll(dir)
		return "", fmt.Errorf("create %s directory: %w", name, err)
	}
	if owner != nil {
		if err := os.Chown(dir, int(owner.Uid), int(owner.Gid)); err != nil {
			_ = os.RemoveAll(dir)
			return "", fmt.Errorf("give %s directory to uid %d: %w", name, owner.Uid, err)
		}
	}
	return dir, nil
}

// removeOrphanedDirs removes server directories whose test binary no longer runs. A directory
// without an owner file may be one another binary is making right now, so it stays.
func removeOrphanedDirs() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), serverDirPrefix+"*", ownerFile))
	for _, path := range dirs {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(string(b))
		if err != nil || pid <= 0 {
			continue
		}
		// Signal 0 checks that the process exists; EPERM means it does, as another user.
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			_ = os.RemoveAll(filepath.Dir(path))
		}
	}
}
