package main_test

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkServeStartupAndIdle starts `paved serve` with embedded defaults on a fresh data
// directory, measures the time until /readyz answers 200, then the resident memory after
// five idle seconds.
func BenchmarkServeStartupAndIdle(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "paved")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		b.Fatal(err)
	}
	var ready []time.Duration
	var rss int64
	for i := 0; i < 5; i++ {
		addr := freeAddrB(b)
		cmd := exec.Command(bin, "serve", "--data", b.TempDir(), "--addr", addr)
		start := time.Now()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		for {
			resp, err := http.Get("http://" + addr + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					break
				}
			}
			if time.Since(start) > 20*time.Second {
				_ = cmd.Process.Kill()
				b.Fatal("not ready after 20 s")
			}
			time.Sleep(2 * time.Millisecond)
		}
		ready = append(ready, time.Since(start))
		if i == 0 {
			time.Sleep(5 * time.Second)
			rss = rssKiB(b, cmd.Process.Pid)
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	worst := ready[0]
	for _, d := range ready {
		worst = max(worst, d)
	}
	b.ReportMetric(float64(worst.Milliseconds()), "ready-max-ms")
	b.ReportMetric(float64(rss)/1024, "idle-rss-MB")
	b.ReportMetric(0, "ns/op")
}

func freeAddrB(b *testing.B) string {
	b.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func rssKiB(b *testing.B, pid int) int64 {
	b.Helper()
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n
		}
	}
	b.Fatal("no VmRSS")
	return 0
}
