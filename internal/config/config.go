// Package config owns paved's server configuration: the YAML file (one section per
// component), PAVED_* environment variables and command-line flags, in that order of
// precedence (flags win). Every key and its default is documented in docs/configuration.md.
// It must not start anything.
package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// Config is the whole server configuration.
type Config struct {
	// Data is the data directory: SQLite database, admin token, hosted Git repositories.
	Data        string      `json:"data"`
	Server      Server      `json:"server"`
	Store       Store       `json:"store"`
	Auth        Auth        `json:"auth"`
	Controllers Controllers `json:"controllers"`
	Log         Log         `json:"log"`
	Catalog     Catalog     `json:"catalog"`
	GitHost     GitHost     `json:"githost"`
}

// Server configures the HTTP server.
type Server struct {
	Addr            string   `json:"addr"`
	AnonymousRead   bool     `json:"anonymousRead"`
	MaxBodyBytes    int64    `json:"maxBodyBytes"`
	ShutdownTimeout Duration `json:"shutdownTimeout"`
	ReadTimeout     Duration `json:"readTimeout"`
	// MemoryLimitMB is a soft limit on the Go runtime's memory, in MiB: near it the
	// garbage collector works harder instead of letting the heap grow to twice the live
	// data. 0 turns it off; GOMEMLIMIT in the environment wins.
	MemoryLimitMB int64 `json:"memoryLimitMB"`
}

// Store configures the object store.
type Store struct {
	// Database is empty for the embedded SQLite file, or a postgres:// URL.
	Database string `json:"database"`
	// SQLiteSynchronous is SQLite's synchronous pragma (NORMAL or FULL).
	SQLiteSynchronous string `json:"sqliteSynchronous"`
	// CompactInterval is how often old watch history is dropped.
	CompactInterval Duration `json:"compactInterval"`
	// KeepRevisions is how many recent writes a watch can resume from.
	KeepRevisions int64 `json:"keepRevisions"`
}

// Catalog configures the service catalog.
type Catalog struct {
	// Locations are registered at start: {type: file|url, target: ...}.
	Locations []CatalogLocation `json:"locations"`
	// RefreshInterval is how often every location is read again (jittered).
	RefreshInterval Duration `json:"refreshInterval"`
	// Orphans: "delete" removes entities a location no longer yields; "keep" marks them
	// with the annotation backstage.io/orphan: "true".
	Orphans string `json:"orphans"`
	// FileRoots are directories below which `file` locations registered through the API
	// may read (configured locations may always read their own directory).
	FileRoots []string `json:"fileRoots"`
}

// GitHost configures the built-in Git hosting (repositories under <data>/git).
type GitHost struct {
	// MaxPushBytes bounds one Git request body (a push's pack); larger ones are refused.
	MaxPushBytes int64 `json:"maxPushBytes"`
	// MaxRawBytes bounds a file served by the raw API (/git/<ns>/<name>/raw/<ref>/<path>).
	MaxRawBytes int64 `json:"maxRawBytes"`
	// RequestTimeout bounds one Git or raw request, body included.
	RequestTimeout Duration `json:"requestTimeout"`
	// Hosts are more host[:port] names that reach this server (behind a proxy): catalog
	// url locations naming them are read from the built-in Git host in process.
	Hosts []string `json:"hosts"`
}

// CatalogLocation is one configured location.
type CatalogLocation struct {
	Type   string `json:"type"`
	Target string `json:"target"`
}

// Auth configures authentication.
type Auth struct {
	// AdminToken, if set, is the admin bearer token (give every replica the same one);
	// otherwise a token is generated into <data>/admin-token.
	AdminToken string `json:"adminToken"`
}

// Controllers configures the controller runtime and leader election.
type Controllers struct {
	LeaseDuration Duration `json:"leaseDuration"`
	RenewPeriod   Duration `json:"renewPeriod"`
}

// Log configures logging.
type Log struct {
	Level  string `json:"level"`
	Format string `json:"format"`
}

// Duration is a time.Duration written as "30s" or "5m" in YAML.
type Duration time.Duration

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads "30s"-style strings.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration must be a string such as \"30s\" or \"5m\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return fmt.Errorf("invalid duration %q: use a value such as \"30s\" or \"5m\"", s)
	}
	*d = Duration(v)
	return nil
}

// Default returns the configuration used when nothing is set.
func Default() Config {
	return Config{
		Data: DefaultDataDir(),
		Server: Server{Addr: "127.0.0.1:7007", MaxBodyBytes: 4 << 20,
			ShutdownTimeout: Duration(30 * time.Second), ReadTimeout: Duration(60 * time.Second), MemoryLimitMB: 340},
		Store:       Store{SQLiteSynchronous: "NORMAL", CompactInterval: Duration(5 * time.Minute), KeepRevisions: 100_000},
		Controllers: Controllers{LeaseDuration: Duration(10 * time.Second), RenewPeriod: Duration(2 * time.Second)},
		Catalog:     Catalog{RefreshInterval: Duration(5 * time.Minute), Orphans: "delete"},
		GitHost:     GitHost{MaxPushBytes: 512 << 20, MaxRawBytes: 16 << 20, RequestTimeout: Duration(10 * time.Minute)},
		Log:         Log{Level: "info", Format: "text"},
	}
}

// DefaultDataDir is where paved keeps its data when neither --data nor PAVED_DATA says:
// $XDG_DATA_HOME/paved, else ~/.local/share/paved. The server and the CLI share it, so the
// CLI finds the admin token the server wrote.
func DefaultDataDir() string {
	if x := os.Getenv("XDG_DATA_HOME"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "paved")
	}
	if home, err := os.UserHomeDir(); err == nil && home != "" {
		return filepath.Join(home, ".local", "share", "paved")
	}
	return filepath.Join(os.TempDir(), "paved")
}

// MaxFileBytes bounds a configuration file.
const MaxFileBytes = 1 << 20

// Load reads the file at path (if path is not empty) over the defaults, then applies the
// PAVED_* environment variables from env (os.Environ form). Unknown keys are errors.
func Load(path string, env []string) (Config, error) {
	c := Default()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return c, fmt.Errorf("read config: %w", err)
		}
		if len(b) > MaxFileBytes {
			return c, fmt.Errorf("config %s is %d bytes; at most %d are allowed", path, len(b), MaxFileBytes)
		}
		if err := Parse(b, &c); err != nil {
			return c, fmt.Errorf("config %s: %w", path, err)
		}
	}
	if err := applyEnv(&c, env); err != nil {
		return c, err
	}
	return c, c.Validate()
}

// Parse decodes YAML strictly into c (keeping c's values for absent keys).
func Parse(b []byte, c *Config) error {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	js, err := yaml.YAMLToJSON(b)
	if err != nil {
		return fmt.Errorf("not valid YAML: %w", err)
	}
	if bytes.Equal(bytes.TrimSpace(js), []byte("null")) {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		return fmt.Errorf("%w (docs/configuration.md lists every key)", err)
	}
	return nil
}

// envVars maps each PAVED_* variable to the setter of its key.
var envVars = map[string]func(c *Config, v string) error{
	"PAVED_DATA":           func(c *Config, v string) error { c.Data = v; return nil },
	"PAVED_ADDR":           func(c *Config, v string) error { c.Server.Addr = v; return nil },
	"PAVED_ANONYMOUS_READ": func(c *Config, v string) error { return setBool(&c.Server.AnonymousRead, v) },
	"PAVED_DATABASE":       func(c *Config, v string) error { c.Store.Database = v; return nil },
	"PAVED_ADMIN_TOKEN":    func(c *Config, v string) error { c.Auth.AdminToken = v; return nil },
	"PAVED_LOG_LEVEL":      func(c *Config, v string) error { c.Log.Level = v; return nil },
	"PAVED_LOG_FORMAT":     func(c *Config, v string) error { c.Log.Format = v; return nil },
}

func setBool(dst *bool, v string) error {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return fmt.Errorf("%q is not true or false", v)
	}
	*dst = b
	return nil
}

func applyEnv(c *Config, env []string) error {
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		if set, ok := envVars[k]; ok {
			if err := set(c, v); err != nil {
				return fmt.Errorf("environment variable %s: %w", k, err)
			}
		}
	}
	return nil
}

// Validate checks values that would otherwise fail later and less clearly.
func (c *Config) Validate() error {
	var errs []string
	if c.Data == "" {
		errs = append(errs, "data: the data directory must not be empty")
	}
	if c.Server.Addr == "" {
		errs = append(errs, "server.addr: must not be empty")
	}
	if c.Server.MaxBodyBytes <= 0 {
		errs = append(errs, "server.maxBodyBytes: must be positive")
	}
	if c.Server.MemoryLimitMB < 0 || (c.Server.MemoryLimitMB > 0 && c.Server.MemoryLimitMB < 64) {
		errs = append(errs, "server.memoryLimitMB: must be 0 (off) or at least 64")
	}
	if d := c.Store.Database; d != "" && !strings.HasPrefix(d, "postgres://") && !strings.HasPrefix(d, "postgresql://") {
		errs = append(errs, "store.database: must be empty (embedded SQLite) or a postgres:// URL")
	}
	switch strings.ToUpper(c.Store.SQLiteSynchronous) {
	case "NORMAL", "FULL", "EXTRA":
		c.Store.SQLiteSynchronous = strings.ToUpper(c.Store.SQLiteSynchronous)
	default:
		errs = append(errs, "store.sqliteSynchronous: must be NORMAL, FULL or EXTRA")
	}
	if c.Store.CompactInterval <= 0 {
		errs = append(errs, "store.compactInterval: must be positive")
	}
	if c.Server.ShutdownTimeout <= 0 || c.Server.ReadTimeout <= 0 {
		errs = append(errs, "server.shutdownTimeout and server.readTimeout: must be positive")
	}
	if c.Store.KeepRevisions < 1000 {
		errs = append(errs, "store.keepRevisions: must be at least 1000")
	}
	if c.Controllers.RenewPeriod <= 0 || c.Controllers.LeaseDuration < 2*c.Controllers.RenewPeriod {
		errs = append(errs, "controllers: leaseDuration must be at least twice renewPeriod")
	}
	if c.Catalog.RefreshInterval <= 0 {
		errs = append(errs, "catalog.refreshInterval: must be positive")
	}
	if c.Catalog.Orphans != "delete" && c.Catalog.Orphans != "keep" {
		errs = append(errs, "catalog.orphans: must be delete or keep")
	}
	for i, l := range c.Catalog.Locations {
		if (l.Type != "file" && l.Type != "url") || l.Target == "" {
			errs = append(errs, fmt.Sprintf("catalog.locations[%d]: type must be file or url and target must be set", i))
		}
	}
	if c.GitHost.MaxPushBytes <= 0 {
		errs = append(errs, "githost.maxPushBytes: must be positive")
	}
	if c.GitHost.MaxRawBytes <= 0 {
		errs = append(errs, "githost.maxRawBytes: must be positive")
	}
	if c.GitHost.RequestTimeout < Duration(time.Second) {
		errs = append(errs, "githost.requestTimeout: must be at least 1s")
	}
	for i, h := range c.GitHost.Hosts {
		if h == "" || strings.ContainsAny(h, "/?#@ ") {
			errs = append(errs, fmt.Sprintf("githost.hosts[%d]: must be a host or host:port, without scheme or path", i))
		}
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, "log.level: must be debug, info, warn or error")
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		errs = append(errs, "log.format: must be text or json")
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid configuration:\n  %s", strings.Join(errs, "\n  "))
	}
	return nil
}
