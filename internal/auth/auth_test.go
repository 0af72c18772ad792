package auth

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestEnsureAdminTokenCreatesPrivateFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	tok, path, err := EnsureAdminToken(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok, TokenPrefix) || len(tok) != len(TokenPrefix)+43 {
		t.Errorf("token %q: want prefix %q and 32 base64url bytes", tok, TokenPrefix)
	}
	if path != filepath.Join(dir, AdminTokenFile) {
		t.Errorf("path = %s", path)
	}
	assertMode(t, path, 0o600)
	assertMode(t, dir, 0o700)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(b)) != tok {
		t.Errorf("file holds a different token than returned")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("data dir holds %d entries, want only the token (temporary file left behind?)", len(entries))
	}

	again, _, err := EnsureAdminToken(dir)
	if err != nil {
		t.Fatal(err)
	}
	if again != tok {
		t.Errorf("second start returned a new token")
	}
}

func TestEnsureAdminTokenFixesLooseMode(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, AdminTokenFile)
	const mine = "my-hand-written-token-0123456789"
	if err := os.WriteFile(path, []byte(mine+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	tok, _, err := EnsureAdminToken(dir)
	if err != nil {
		t.Fatal(err)
	}
	if tok != mine {
		t.Errorf("got %q, want the existing token", tok)
	}
	assertMode(t, path, 0o600)
}

func TestEnsureAdminTokenRefusesBadFile(t *testing.T) {
	tests := []struct {
		name    string
		content string
		dir     bool
		want    string
	}{
		{name: "empty", content: "", want: "shorter than"},
		{name: "short", content: "abc", want: "shorter than"},
		{name: "spaces", content: "abc def ghi jkl mno pqr", want: "printable ASCII"},
		{name: "directory", dir: true, want: "not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, AdminTokenFile)
			var err error
			if tt.dir {
				err = os.Mkdir(path, 0o700)
			} else {
				err = os.WriteFile(path, []byte(tt.content), 0o600)
			}
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = EnsureAdminToken(dir)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
			if tt.content != "" && strings.Contains(err.Error(), tt.content) {
				t.Errorf("error message repeats the file's content: %v", err)
			}
		})
	}
}

func TestEnsureAdminTokenConcurrentStartsAgree(t *testing.T) {
	dir := t.TempDir()
	const n = 8
	toks := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			toks[i], _, errs[i] = EnsureAdminToken(dir)
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("start %d: %v", i, errs[i])
		}
		if toks[i] != toks[0] {
			t.Fatalf("start %d got a different token than start 0", i)
		}
	}
}

func TestTokensAuthenticate(t *testing.T) {
	admin, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewToken()
	a, err := NewTokens(map[string]string{admin: AdminUser, other: "ci"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		header   string
		wantUser string
		wantOK   bool
	}{
		{name: "no header"},
		{name: "admin", header: "Bearer " + admin, wantUser: AdminUser, wantOK: true},
		{name: "second token", header: "Bearer " + other, wantUser: "ci", wantOK: true},
		{name: "scheme case-insensitive", header: "bearer " + admin, wantUser: AdminUser, wantOK: true},
		{name: "wrong token", header: "Bearer " + admin + "x"},
		{name: "prefix of token", header: "Bearer " + admin[:20]},
		{name: "basic scheme", header: "Basic " + admin},
		{name: "no scheme", header: admin},
		{name: "empty bearer", header: "Bearer "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			if tt.header != "" {
				r.Header.Set("Authorization", tt.header)
			}
			user, ok := a.Authenticate(r)
			if user != tt.wantUser || ok != tt.wantOK {
				t.Errorf("Authenticate = %q, %v; want %q, %v", user, ok, tt.wantUser, tt.wantOK)
			}
		})
	}
}

func TestNewTokensRefusesWeakTokens(t *testing.T) {
	for _, tok := range []string{"", "short", "has a space in it ok"} {
		if _, err := NewTokens(map[string]string{tok: "u"}); err == nil {
			t.Errorf("NewTokens accepted %q", tok)
		}
	}
	if _, err := NewTokens(map[string]string{"pvd_abcdefghijklmnopqrstuvwxyz": ""}); err == nil {
		t.Errorf("NewTokens accepted a token without a user")
	}
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s has mode %v, want %v", path, got, want)
	}
}
