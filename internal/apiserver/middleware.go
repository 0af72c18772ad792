package apiserver

import (
	"context"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/paved-dev/paved/api"
	"github.com/paved-dev/paved/internal/auth"
)

// requestInfo is what handlers tell the instrumentation about a request. It lives in the
// request's context and is written and read only on the request's goroutine.
type requestInfo struct {
	resource string
	user     string
	watch    bool
}

type infoKey struct{}

func infoOf(r *http.Request) *requestInfo {
	if i, ok := r.Context().Value(infoKey{}).(*requestInfo); ok {
		return i
	}
	return &requestInfo{} // a handler used without instrument; nothing reads it
}

func setInfoResource(r *http.Request, resource string) { infoOf(r).resource = resource }
func setInfoWatch(r *http.Request)                     { infoOf(r).watch = true }

func isRead(method string) bool { return method == http.MethodGet || method == http.MethodHead }

// authenticate lets a request through when its bearer token is valid, or when it reads
// and anonymous reads are allowed. A wrong token is refused even then: a client that sends
// one expects to be someone and should learn that it is not.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, ok := s.opts.Auth.Authenticate(r)
		if !ok {
			switch {
			case auth.Presented(r):
				w.Header().Set("WWW-Authenticate", `Bearer realm="paved", error="invalid_token"`)
				s.writeError(w, r, unauthorized("the bearer token is not valid"))
				return
			case !(s.opts.AnonymousRead && isRead(r.Method)):
				s.writeError(w, r, unauthorized("this request needs a token: send Authorization: Bearer <token> (the admin token is in the data directory's admin-token file)"))
				return
			}
		}
		infoOf(r).user = user
		if user != "" {
			r = r.WithContext(auth.WithUser(r.Context(), user))
		}
		next.ServeHTTP(w, r)
	})
}

// instrument records request metrics and writes one audit line per write request.
func (s *Server) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		info := &requestInfo{}
		sw := &statusWriter{ResponseWriter: w}
		ctx, reported := auth.WithReportSlot(context.WithValue(r.Context(), infoKey{}, info))
		r = r.WithContext(ctx)
		next.ServeHTTP(sw, r)

		code := sw.code
		if code == 0 {
			code = http.StatusOK
		}
		resource := info.resource
		if resource == "" {
			// The mux set the matched pattern on r: a bounded label, unlike the raw path.
			resource = r.Pattern
		}
		elapsed := time.Since(start)
		s.metrics.observe(r.Method, code, resource, elapsed, info.watch)
		if !isRead(r.Method) {
			user := info.user
			if user == "" {
				user = *reported // a handler that authenticates by itself (HandlePublic)
			}
			if user == "" {
				user = "anonymous"
			}
			// Never the query, headers or body: they may hold tokens or secrets.
			s.log.LogAttrs(r.Context(), slog.LevelInfo, "audit",
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path),
				slog.String("user", user),
				slog.Int("status", code),
				slog.Duration("duration", elapsed),
				slog.String("remote", r.RemoteAddr))
		}
	})
}

// recoverPanics turns a handler's panic into a 500 and a log line with the stack, instead
// of a dropped connection.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			p := recover()
			if p == nil {
				return
			}
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.ErrorContext(r.Context(), "api: handler panicked", "method", r.Method, "path", r.URL.Path,
				"panic", p, "stack", string(debug.Stack()))
			writeJSON(w, http.StatusInternalServerError, api.NewError(api.ReasonInternalError, "internal error; the server log has the details"))
		}()
		next.ServeHTTP(w, r)
	})
}

// statusWriter remembers the status code. It forwards Flush and exposes the underlying
// writer through Unwrap, so watch streams and http.ResponseController keep working.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
