package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/paved-dev/paved/api"
)

// statusOf turns any error into the api.Status the client sees. Errors that are not
// already a Status are internal: their text may name files or SQL, so the client gets a
// generic message and the log gets the detail.
func (s *Server) statusOf(r *http.Request, err error) *api.Status {
	var st *api.Status
	if errors.As(err, &st) {
		c := *st
		if c.Code == 0 {
			c.Code = api.CodeFor(c.Reason)
		}
		if c.APIVersion == "" {
			c.APIVersion, c.Kind, c.Status = "v1", "Status", "Failure"
		}
		return &c
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return api.NewError(api.ReasonTooLarge, "request body is larger than %d bytes", mbe.Limit)
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		if r.Context().Err() != nil {
			// The client went away; nobody will read this, but keep the log quiet.
			return api.NewError(api.ReasonServiceUnavailable, "request cancelled")
		}
		return api.NewError(api.ReasonServiceUnavailable, "the store did not answer in time; retry")
	}
	s.log.ErrorContext(r.Context(), "api: internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	return api.NewError(api.ReasonInternalError, "internal error; the server log has the details")
}

// writeError writes err as an api.Status body with the matching HTTP code.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	st := s.statusOf(r, err)
	if st.Code == http.StatusUnauthorized && w.Header().Get("WWW-Authenticate") == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="paved"`)
	}
	writeJSON(w, st.Code, st)
}

// writeJSON writes v with code. Encoding cannot fail for the types the server writes, and
// a failed write means the client is gone, so errors are dropped.
func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code = http.StatusInternalServerError
		b, _ = json.Marshal(api.NewError(api.ReasonInternalError, "encode response: %v", err))
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}

func methodNotAllowed(w http.ResponseWriter, allowed []string, what string) error {
	w.Header().Set("Allow", strings.Join(allowed, ", "))
	return api.NewError(api.ReasonMethodNotAllowed, "%s supports only %s", what, strings.Join(allowed, ", "))
}

func unknownResource(group, version, resource string) error {
	return api.NewError(api.ReasonNotFound, "the server has no resource %q in %s: GET /apis/%s/%s lists the resources there",
		resource, api.JoinAPIVersion(group, version), group, version)
}

func badRequest(format string, args ...any) error {
	return api.NewBadRequest(format, args...)
}

func unauthorized(msg string) error {
	return api.NewError(api.ReasonUnauthorized, "%s", msg)
}

// errorf is for internal errors that should reach the log, not the client.
func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }
