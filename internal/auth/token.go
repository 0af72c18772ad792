package auth

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// TokenPrefix marks paved tokens, so that secret scanners and people recognise one.
const TokenPrefix = "pvd_"

// AdminTokenFile is the admin token's file name inside the data directory.
const AdminTokenFile = "admin-token"

// minTokenLen keeps a hand-written token from being trivially guessable.
const minTokenLen = 16

// NewToken returns a fresh random token: the prefix and 32 random bytes, base64url.
func NewToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate token: %w", err)
	}
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// EnsureAdminToken returns the admin token stored in dataDir, creating it on the first
// start. The file is readable by its owner only; a file that others can read has its mode
// fixed, and is refused if that is not possible (for example on a read-only mount).
func EnsureAdminToken(dataDir string) (token, path string, err error) {
	if dataDir == "" {
		return "", "", errors.New("admin token: no data directory given")
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", "", fmt.Errorf("admin token: create data directory: %w", err)
	}
	path = filepath.Join(dataDir, AdminTokenFile)
	tok, err := readToken(path)
	if err == nil {
		return tok, path, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", path, err
	}
	tok, err = NewToken()
	if err != nil {
		return "", path, err
	}
	created, err := writeNew(path, tok)
	if err != nil {
		return "", path, err
	}
	if !created {
		// Another process started at the same moment and won; use its token.
		tok, err = readToken(path)
		if err != nil {
			return "", path, err
		}
	}
	return tok, path, nil
}

func readToken(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		return "", fmt.Errorf("admin token: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("admin token: %s is not a regular file", path)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(path, 0o600); err != nil {
			return "", fmt.Errorf("admin token: %s is readable by other users (mode %v) and its mode cannot be fixed: %w; make it 0600", path, fi.Mode().Perm(), err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("admin token: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if err := checkToken(tok); err != nil {
		return "", fmt.Errorf("admin token: %s: %w; delete the file to have a new token generated", path, err)
	}
	return tok, nil
}

func checkToken(tok string) error {
	if len(tok) < minTokenLen {
		return fmt.Errorf("token is shorter than %d characters", minTokenLen)
	}
	for _, c := range tok {
		if c <= ' ' || c > '~' {
			return errors.New("token must be printable ASCII without spaces")
		}
	}
	return nil
}

// writeNew writes tok to path unless path exists, atomically: the token is written to a
// private temporary file which is then hard-linked into place, so no reader ever sees a
// partial token and two processes starting together agree on one token.
func writeNew(path, tok string) (created bool, err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".admin-token-*")
	if err != nil {
		return false, fmt.Errorf("admin token: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	// CreateTemp makes the file 0600 already; say so anyway in case that ever changes.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return false, fmt.Errorf("admin token: %w", err)
	}
	if _, err := f.WriteString(tok + "\n"); err != nil {
		f.Close()
		return false, fmt.Errorf("admin token: write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return false, fmt.Errorf("admin token: sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return false, fmt.Errorf("admin token: %w", err)
	}
	err = os.Link(tmp, path)
	if errors.Is(err, fs.ErrExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("admin token: create %s: %w", path, err)
	}
	return true, nil
}
