package catalog

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBackstageCatalogClient drives the catalog API with the real npm package
// @backstage/catalog-client (clienttest/check.mjs) against a real paved API holding the
// Backstage example corpus. It needs node and npm (and the npm registry, the first time);
// without them it is skipped, unless PAVED_TEST_REQUIRE_SERVICES=1 makes that a failure.
func TestBackstageCatalogClient(t *testing.T) {
	if testing.Short() {
		t.Skip("starts node and may run npm install")
	}
	require := os.Getenv("PAVED_TEST_REQUIRE_SERVICES") == "1"
	unavailable := func(format string, args ...any) {
		t.Helper()
		if require {
			t.Fatalf(format, args...)
		}
		t.Skipf(format, args...)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		unavailable("node is not installed: %v", err)
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		unavailable("npm is not installed: %v", err)
	}
	dir, err := clientTestDir(t, npm)
	if err != nil {
		unavailable("install @backstage/catalog-client: %v", err)
	}

	// A catalog file the server may read, for the location checks.
	files := t.TempDir()
	locFile := filepath.Join(files, "catalog-info.yaml")
	err = os.WriteFile(locFile, []byte(`apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: clienttest-svc
spec:
  type: service
  lifecycle: experimental
  owner: team-a
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	s := newAPIServer(t, apiServerOptions{fileRoots: []string{files}})
	env := append(os.Environ(), "PAVED_URL="+s.URL, "PAVED_TOKEN="+apiTestToken)
	if r := s.get(t, "/api/catalog/locations"); r.Code == http.StatusOK {
		env = append(env, "PAVED_LOCATION_FILE="+locFile)
	} else {
		t.Logf("locations are not served yet (GET /locations: %d); the script skips its location checks", r.Code)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "check.mjs")
	cmd.Dir = dir
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		t.Log(sc.Text())
	}
	if err != nil {
		t.Fatalf("node check.mjs: %v", err)
	}
	if !bytes.Contains(out, []byte(" passed, 0 failed")) {
		t.Fatal("the script did not report its summary")
	}
}

// clientTestDir returns a directory holding clienttest's package.json with its
// dependencies installed, and the current check.mjs. node_modules lives in the user's
// cache, keyed by package.json, so that it is installed once and never lands in the
// source tree (where `go ./...` patterns would walk it).
func clientTestDir(t *testing.T, npm string) (string, error) {
	t.Helper()
	pkg, err := os.ReadFile(filepath.Join("clienttest", "package.json"))
	if err != nil {
		return "", err
	}
	script, err := os.ReadFile(filepath.Join("clienttest", "check.mjs"))
	if err != nil {
		return "", err
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	sum := sha256.Sum256(pkg)
	dir := filepath.Join(cache, "paved", "catalog-clienttest-"+hex.EncodeToString(sum[:8]))
	marker := filepath.Join(dir, "node_modules", "@backstage", "catalog-client", "package.json")
	if _, err := os.Stat(marker); err != nil {
		// Install into a fresh directory and move it into place, so that a concurrent or
		// interrupted run never sees half an installation.
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			return "", err
		}
		tmp, err := os.MkdirTemp(filepath.Dir(dir), "install-")
		if err != nil {
			return "", err
		}
		defer os.RemoveAll(tmp)
		if err := os.WriteFile(filepath.Join(tmp, "package.json"), pkg, 0o644); err != nil {
			return "", err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, npm, "install", "--no-audit", "--no-fund", "--no-package-lock", "--loglevel=error")
		cmd.Dir = tmp
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", errors.New(strings.TrimSpace(string(out)) + ": " + err.Error())
		}
		if err := os.Rename(tmp, dir); err != nil && !errors.Is(err, os.ErrExist) {
			if _, serr := os.Stat(marker); serr != nil { // not installed by another run meanwhile
				return "", err
			}
		}
		t.Logf("installed @backstage/catalog-client into %s", dir)
	}
	// Write the script beside node_modules (ESM resolves packages from the script's
	// directory), atomically, under a name of its own.
	f, err := os.CreateTemp(dir, "check-*.mjs")
	if err != nil {
		return "", err
	}
	if _, err := f.Write(script); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	t.Cleanup(func() { os.Remove(f.Name()) })
	if err := os.Rename(f.Name(), filepath.Join(dir, "check.mjs")); err != nil {
		return "", err
	}
	return dir, nil
}
