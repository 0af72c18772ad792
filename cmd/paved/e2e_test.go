package main_test

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver for reading the lease table

	"github.com/paved-dev/paved/internal/testsvc"
)

// These tests run the real binary as users do: `paved serve` as a subprocess, the CLI
// against it, signals, and replicas sharing a PostgreSQL database.

func TestMain(m *testing.M) { testsvc.RunMain(m) }

func buildBinary(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "paved")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("build paved: %v", err)
	}
	return bin
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

type serveProc struct {
	cmd  *exec.Cmd
	addr string
	data string
	logs *bytes.Buffer
	done chan error
}

func startServe(t testing.TB, bin, data string, env []string, args ...string) *serveProc {
	t.Helper()
	if data == "" {
		data = t.TempDir()
	}
	p := &serveProc{addr: freeAddr(t), data: data, logs: &bytes.Buffer{}, done: make(chan error, 1)}
	p.cmd = exec.Command(bin, append([]string{"serve", "--data", p.data, "--addr", p.addr}, args...)...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout = p.logs
	p.cmd.Stderr = p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("serve %s output:\n%s", p.addr, p.logs.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + p.addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("paved serve never became ready:\n%s", p.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *serveProc) token(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(p.data, "admin-token"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func runCLI(t *testing.T, bin string, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestServeApplyGetExamples(t *testing.T) {
	bin := buildBinary(t)
	p := startServe(t, bin, "", nil)
	info, err := os.Stat(filepath.Join(p.data, "admin-token"))
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("admin-token mode %v, want 0600", info.Mode().Perm())
	}
	env := []string{"PAVED_SERVER=http://" + p.addr, "PAVED_DATA=" + p.data}
	out, err := runCLI(t, bin, env, "apply", "-f", "../../examples/platform/")
	if err != nil {
		t.Fatalf("apply examples: %v\n%s", err, out)
	}
	if !strings.Contains(out, "environment.paved.dev/production created") {
		t.Errorf("apply output:\n%s", out)
	}
	out, err = runCLI(t, bin, env, "get", "environments")
	if err != nil || !strings.Contains(out, "production") || !strings.Contains(out, "aks-prod") {
		t.Errorf("get environments: %v\n%s", err, out)
	}
	// Without a token, writes are refused.
	out, err = runCLI(t, bin, []string{"PAVED_SERVER=http://" + p.addr, "PAVED_DATA=" + t.TempDir()}, "delete", "environment", "production")
	if err == nil || !strings.Contains(out, "needs a token") {
		t.Errorf("delete without token: %v\n%s", err, out)
	}
}

// TestSIGTERMFinishesInFlightRequests sends SIGTERM while a request body is still arriving;
// the request must complete and its write must be durable.
func TestSIGTERMFinishesInFlightRequests(t *testing.T) {
	bin := buildBinary(t)
	p := startServe(t, bin, "", nil)
	tok := p.token(t)
	body := `{"apiVersion":"paved.dev/v1","kind":"Environment","metadata":{"name":"inflight"},"spec":{"tier":"staging"}}`
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", "http://"+p.addr+"/apis/paved.dev/v1/environments", pr)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	type result struct {
		code int
		err  error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			res <- result{err: err}
			return
		}
		resp.Body.Close()
		res <- result{code: resp.StatusCode}
	}()
	if _, err := pw.Write([]byte(body[:40])); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // the request is now being read by the server (generous: CI machines are busy)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if _, err := pw.Write([]byte(body[40:])); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	r := <-res
	if r.err != nil || r.code != http.StatusCreated {
		t.Fatalf("in-flight request: code %d err %v", r.code, r.err)
	}
	select {
	case err := <-p.done:
		p.done <- err
		if err != nil {
			t.Fatalf("paved serve exited with %v after SIGTERM", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("paved serve did not exit after SIGTERM")
	}
	// New connections are refused after shutdown; the write survives a restart.
	p2 := startServe(t, bin, p.data, nil)
	req2, _ := http.NewRequest("GET", "http://"+p2.addr+"/apis/paved.dev/v1/environments/inflight", nil)
	req2.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req2)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("object written during shutdown: GET %d after restart", resp.StatusCode)
	}
}

// TestReplicasElectOneLeaderAndFailOver runs three replicas on one PostgreSQL database,
// kills the leader with SIGKILL and checks another one takes over within 15 s and runs the
// controllers (garbage collection works through a surviving replica).
func TestReplicasElectOneLeaderAndFailOver(t *testing.T) {
	bin := buildBinary(t)
	dbURL := testsvc.Postgres(t)
	token := "pvd_e2e_shared_token_0123456789abcdef0123456789abcdef"
	env := []string{"PAVED_DATABASE=" + dbURL, "PAVED_ADMIN_TOKEN=" + token}
	var reps []*serveProc
	for i := 0; i < 3; i++ {
		reps = append(reps, startServe(t, bin, "", env))
	}
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	leaderOf := func() string {
		var holder string
		err := db.QueryRow(`SELECT holder FROM leases WHERE name = 'paved-controllers' AND expires > (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT`).Scan(&holder)
		if err != nil {
			return ""
		}
		return holder
	}
	waitLeader := func(not string, within time.Duration) (string, time.Duration) {
		start := time.Now()
		for time.Since(start) < within {
			if h := leaderOf(); h != "" && h != not {
				return h, time.Since(start)
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("no leader other than %q within %v", not, within)
		return "", 0
	}
	first, _ := waitLeader("", 20*time.Second)
	// Which replica leads? Its log says so.
	var leaderIdx = -1
	deadline := time.Now().Add(10 * time.Second)
	for leaderIdx < 0 && time.Now().Before(deadline) {
		for i, r := range reps {
			if strings.Contains(r.logs.String(), "identity="+first) && strings.Contains(r.logs.String(), "became leader") {
				leaderIdx = i
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if leaderIdx < 0 {
		t.Fatalf("no replica logged leadership of %s", first)
	}
	leaders := 0
	for _, r := range reps {
		if strings.Contains(r.logs.String(), "became leader") {
			leaders++
		}
	}
	if leaders != 1 {
		t.Fatalf("%d replicas became leader, want 1", leaders)
	}
	if err := reps[leaderIdx].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	second, took := waitLeader(first, 15*time.Second)
	t.Logf("leader %s killed; %s took over in %v", first, second, took.Round(100*time.Millisecond))

	// The new leader runs the controllers: garbage collection of an owned object.
	survivor := reps[(leaderIdx+1)%3]
	do := func(method, path, body string) (int, map[string]any) {
		req, _ := http.NewRequest(method, "http://"+survivor.addr+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(bufio.NewReader(resp.Body)).Decode(&m)
		return resp.StatusCode, m
	}
	code, owner := do("POST", "/apis/paved.dev/v1/namespaces", `{"apiVersion":"paved.dev/v1","kind":"Namespace","metadata":{"name":"owner"}}`)
	if code != 201 {
		t.Fatalf("create owner: %d %v", code, owner)
	}
	uid := owner["metadata"].(map[string]any)["uid"].(string)
	child := fmt.Sprintf(`{"apiVersion":"paved.dev/v1","kind":"Environment","metadata":{"name":"child","ownerReferences":[{"apiVersion":"paved.dev/v1","kind":"Namespace","name":"owner","uid":%q}]}}`, uid)
	if code, m := do("POST", "/apis/paved.dev/v1/environments", child); code != 201 {
		t.Fatalf("create child: %d %v", code, m)
	}
	if code, m := do("DELETE", "/apis/paved.dev/v1/namespaces/owner", ""); code != 200 {
		t.Fatalf("delete owner: %d %v", code, m)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		if code, _ := do("GET", "/apis/paved.dev/v1/environments/child", ""); code == 404 {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the new leader's garbage collector never deleted the orphaned child")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
