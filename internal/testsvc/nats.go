package testsvc

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// NATS returns the nats:// URL of a NATS server with JetStream: the one PAVED_TEST_NATS_URL
// names, used as it is, else a private one. Streams and subjects are shared by every test on the
// server, so a test names its own with Name(t).
func NATS(t testing.TB) string {
	t.Helper()
	if env := os.Getenv(EnvNATSURL); env != "" {
		if !strings.Contains(env, "://") {
			env = "nats://" + env
		}
		return env
	}
	p := serverFor(t, "nats", startNATS)
	return "nats://" + p.addr
}

// startNATS starts a private nats-server with JetStream storing under its own directory.
func startNATS() (*process, error) {
	bin, err := findBinary("nats-server", "nats-server", EnvNATSURL)
	if err != nil {
		return nil, err
	}
	dir, err := makeServerDir("nats", nil)
	if err != nil {
		return nil, err
	}
	p, err := startOnFreePort(func(addr string) (*process, error) {
		_, port, _ := strings.Cut(addr, ":")
		spec := processSpec{
			name:     "nats",
			dir:      dir,
			bin:      bin,
			args:     []string{"-a", "127.0.0.1", "-p", port, "-js", "-sd", filepath.Join(dir, "jetstream")},
			stopSig:  syscall.SIGTERM,
			deathSig: syscall.SIGKILL, // nothing on disk is worth a clean shutdown
		}
		return startProcess(spec, addr, func(ctx context.Context) error {
			// Ready means JetStream answers, not just that the port accepts connections.
			deadline, _ := ctx.Deadline()
			nc, err := nats.Connect("nats://"+addr, nats.Timeout(time.Until(deadline)), nats.NoReconnect())
			if err != nil {
				return err
			}
			defer nc.Close()
			js, err := jetstream.New(nc)
			if err != nil {
				return err
			}
			_, err = js.AccountInfo(ctx)
			return err
		})
	})
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return p, nil
}
