// Package auth owns API credentials: the admin token kept in the data directory and the
// bearer-token check the API server runs on every request. It knows nothing of routes or
// objects, and it never logs or prints a token.
package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// AdminUser is the name the admin token authenticates as, for audit logs.
const AdminUser = "admin"

// Tokens checks bearer tokens against a fixed set. It is safe for concurrent use.
type Tokens struct {
	entries []tokenEntry
}

// tokenEntry keeps only a digest of the token, so that comparisons take the same time
// whatever the length of the presented token, and a heap dump shows no usable secret.
type tokenEntry struct {
	user   string
	digest [sha256.Size]byte
}

// NewTokens returns an authenticator that accepts each token in byToken as its user.
// Empty tokens are refused: they would let an empty Authorization header in.
func NewTokens(byToken map[string]string) (*Tokens, error) {
	t := &Tokens{}
	for tok, user := range byToken {
		if err := checkToken(tok); err != nil {
			return nil, fmt.Errorf("token for user %q: %w", user, err)
		}
		if user == "" {
			return nil, errors.New("every token needs a user name")
		}
		t.entries = append(t.entries, tokenEntry{user: user, digest: sha256.Sum256([]byte(tok))})
	}
	return t, nil
}

// NewAdmin returns an authenticator that accepts only the admin token.
func NewAdmin(token string) (*Tokens, error) {
	return NewTokens(map[string]string{token: AdminUser})
}

// Authenticate reports the user of the request's bearer token. It returns ok=false when
// the request carries no token or an unknown one; Presented tells the two apart.
func (t *Tokens) Authenticate(r *http.Request) (user string, ok bool) {
	tok, found := BearerToken(r)
	if !found {
		return "", false
	}
	d := sha256.Sum256([]byte(tok))
	// Compare against every entry without stopping early, so the time taken does not
	// say which entry (if any) matched.
	for _, e := range t.entries {
		if subtle.ConstantTimeCompare(d[:], e.digest[:]) == 1 {
			user = e.user
		}
	}
	return user, user != ""
}

// BearerToken extracts the token of an "Authorization: Bearer <token>" header. The scheme
// is matched case-insensitively, as RFC 7235 asks.
func BearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, found := strings.Cut(h, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	if tok == "" {
		return "", false
	}
	return tok, true
}

// Presented reports whether the request carries any credentials, so that a server can
// refuse a wrong token even where anonymous access is allowed.
func Presented(r *http.Request) bool {
	return r.Header.Get("Authorization") != ""
}

type userKey struct{}

// WithUser returns a context that carries the authenticated user's name.
func WithUser(ctx context.Context, user string) context.Context {
	return context.WithValue(ctx, userKey{}, user)
}

// UserFrom returns the user WithUser stored, or "" for an anonymous request.
func UserFrom(ctx context.Context) string {
	u, _ := ctx.Value(userKey{}).(string)
	return u
}

type reportKey struct{}

// WithReportSlot returns a context in which a handler that authenticates by itself (one
// mounted without the server's authentication, such as git's basic auth) can Report whom
// it authenticated, and the slot the server's audit line reads afterwards.
func WithReportSlot(ctx context.Context) (context.Context, *string) {
	slot := new(string)
	return context.WithValue(ctx, reportKey{}, slot), slot
}

// Report records the user a handler authenticated by itself, for the audit line; it does
// nothing outside a context from WithReportSlot.
func Report(ctx context.Context, user string) {
	if slot, ok := ctx.Value(reportKey{}).(*string); ok {
		*slot = user
	}
}
