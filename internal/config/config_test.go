package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestDefaultsAreValid(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Server.Addr != "127.0.0.1:7007" {
		t.Errorf("default bind %q is not loopback", c.Server.Addr)
	}
}

func TestLoadFullFile(t *testing.T) {
	c, err := Load("testdata/full.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Data: "/var/lib/paved",
		Server: Server{Addr: "0.0.0.0:8080", AnonymousRead: true, MaxBodyBytes: 1 << 20,
			ShutdownTimeout: Duration(10 * time.Second), ReadTimeout: Duration(30 * time.Second), MemoryLimitMB: 256},
		Store: Store{Database: "postgres://paved@db:5432/paved", SQLiteSynchronous: "FULL",
			CompactInterval: Duration(time.Minute), KeepRevisions: 5000},
		Auth:        Auth{AdminToken: "pvd_from_config_file_0123456789abcdef"},
		Controllers: Controllers{LeaseDuration: Duration(15 * time.Second), RenewPeriod: Duration(3 * time.Second)},
		Log:         Log{Level: "debug", Format: "json"},
		Catalog: Catalog{Locations: []CatalogLocation{{Type: "file", Target: "./examples/catalog/all.yaml"},
			{Type: "url", Target: "https://git.example.com/org/catalog/raw/main/all.yaml"}},
			RefreshInterval: Duration(2 * time.Minute), Orphans: "keep", FileRoots: []string{"/srv/catalog"}},
		GitHost: GitHost{MaxPushBytes: 1 << 20, MaxRawBytes: 64 << 10, RequestTimeout: Duration(2 * time.Minute),
			Hosts: []string{"paved.example.com", "paved.internal:7007"}},
	}
	if d := cmp.Diff(want, c); d != "" {
		t.Errorf("config (-want +got):\n%s", d)
	}
}

func TestEnvironmentOverridesFile(t *testing.T) {
	c, err := Load("testdata/full.yaml", []string{"PAVED_ADDR=127.0.0.1:9", "PAVED_ANONYMOUS_READ=false",
		"PAVED_DATABASE=", "PAVED_LOG_LEVEL=warn", "UNRELATED=x", "PAVED_DATA=/tmp/d"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.Addr != "127.0.0.1:9" || c.Server.AnonymousRead || c.Store.Database != "" || c.Log.Level != "warn" || c.Data != "/tmp/d" {
		t.Errorf("env not applied: %+v", c)
	}
}

func TestLoadRejects(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		content string
		env     []string
		want    string
	}{
		{"unknown top-level key", "sever:\n  addr: x\n", nil, `unknown field "sever"`},
		{"unknown nested key", "server:\n  adress: x\n", nil, `unknown field "adress"`},
		{"bad duration", "server:\n  shutdownTimeout: soon\n", nil, `invalid duration "soon"`},
		{"number for duration", "server:\n  shutdownTimeout: 30\n", nil, "must be a string"},
		{"malformed yaml", "server: [\n", nil, "not valid YAML"},
		{"wrong type", "server:\n  maxBodyBytes: lots\n", nil, "maxBodyBytes"},
		{"tiny memory limit", "server:\n  memoryLimitMB: 10\n", nil, "server.memoryLimitMB"},
		{"negative memory limit", "server:\n  memoryLimitMB: -1\n", nil, "server.memoryLimitMB"},
		{"mysql url", "store:\n  database: mysql://x\n", nil, "store.database"},
		{"bad synchronous", "store:\n  sqliteSynchronous: sometimes\n", nil, "store.sqliteSynchronous"},
		{"lease shorter than renew", "controllers:\n  leaseDuration: 1s\n  renewPeriod: 2s\n", nil, "leaseDuration"},
		{"bad log level", "log:\n  level: loud\n", nil, "log.level"},
		{"bad catalog location", "catalog:\n  locations:\n    - type: git\n      target: x\n", nil, "catalog.locations[0]"},
		{"bad orphans", "catalog:\n  orphans: maybe\n", nil, "catalog.orphans"},
		{"zero max push", "githost:\n  maxPushBytes: 0\n", nil, "githost.maxPushBytes"},
		{"negative max raw", "githost:\n  maxRawBytes: -1\n", nil, "githost.maxRawBytes"},
		{"tiny git timeout", "githost:\n  requestTimeout: 10ms\n", nil, "githost.requestTimeout"},
		{"git host with a scheme", "githost:\n  hosts: [\"https://paved.example.com\"]\n", nil, "githost.hosts[0]"},
		{"unknown githost key", "githost:\n  maxPush: 1\n", nil, `unknown field "maxPush"`},
		{"bad bool in env", "", []string{"PAVED_ANONYMOUS_READ=maybe"}, "PAVED_ANONYMOUS_READ"},
		{"alias bomb", "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\nh: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]\ni: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]\n", nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".yaml")
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Load(path, tc.env)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

func TestGitHostDefaults(t *testing.T) {
	g := Default().GitHost
	want := GitHost{MaxPushBytes: 512 << 20, MaxRawBytes: 16 << 20, RequestTimeout: Duration(10 * time.Minute)}
	if d := cmp.Diff(want, g); d != "" {
		t.Errorf("githost defaults (-want +got):\n%s", d)
	}
}

func TestLoadRejectsOversizedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(path, []byte("# "+strings.Repeat("x", MaxFileBytes)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path, nil); err == nil || !strings.Contains(err.Error(), "at most") {
		t.Errorf("oversized file: %v", err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "nope.yaml"), nil); err == nil || !strings.Contains(err.Error(), "nope.yaml") {
		t.Errorf("missing file: %v", err)
	}
}

func TestEmptyFileKeepsDefaults(t *testing.T) {
	path := filepath.Join(t.TempDir(), "empty.yaml")
	if err := os.WriteFile(path, []byte("# nothing\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(Default(), c); d != "" {
		t.Errorf("(-default +got):\n%s", d)
	}
}
