package githost

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log"
	"log/slog"
	"net/http"
	"net/http/cgi"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/paved-dev/paved/api"
	"github.com/paved-dev/paved/internal/auth"
	"github.com/paved-dev/paved/internal/controller"
)

// The paths served below /git/:
//
//	/git/<ns>/<name>.git/info/refs?service=git-upload-pack    clone, fetch (advertisement)
//	/git/<ns>/<name>.git/git-upload-pack                      clone, fetch
//	/git/<ns>/<name>.git/info/refs?service=git-receive-pack   push (advertisement)
//	/git/<ns>/<name>.git/git-receive-pack                     push
//	/git/<ns>/<name>/raw/<ref>/<path>                         one file at a ref
//
// The ".git" suffix may be left out of the Git paths (`git clone .../git/acme/payments`).
// Only git's smart protocol is served; the dumb one (plain files) is not.

// op is what a request does.
type op int

const (
	opNone op = iota
	opFetch
	opPush
	opRaw
)

// route is a parsed request path.
type route struct {
	ns, name string
	tail     string // after <name>.git/ (Git) or after <name>/raw/ (raw)
	op       op
}

// parseRoute splits a /git/ path. It looks at the path only: names are checked later.
func parseRoute(r *http.Request) (route, error) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/git/")
	if !ok {
		return route{}, errNotFound
	}
	parts := strings.SplitN(rest, "/", 3)
	if len(parts) < 3 {
		return route{}, errNotFound
	}
	rt := route{ns: parts[0], tail: parts[2]}
	repo := parts[1]
	name, dotGit := strings.CutSuffix(repo, ".git")
	rt.name = name
	read := r.Method == http.MethodGet || r.Method == http.MethodHead
	switch {
	case rt.tail == "info/refs" && read:
		switch r.URL.Query().Get("service") {
		case "git-upload-pack":
			rt.op = opFetch
		case "git-receive-pack":
			rt.op = opPush
		default:
			return rt, api.NewError(api.ReasonForbidden, "only git's smart HTTP protocol is served: use git 1.6.6 or later")
		}
	case rt.tail == "git-upload-pack" && r.Method == http.MethodPost:
		rt.op = opFetch
	case rt.tail == "git-receive-pack" && r.Method == http.MethodPost:
		rt.op = opPush
	case !dotGit && strings.HasPrefix(rt.tail, "raw/") && read:
		rt.op, rt.tail = opRaw, strings.TrimPrefix(rt.tail, "raw/")
	case rt.tail == "info/refs" || rt.tail == "git-upload-pack" || rt.tail == "git-receive-pack" ||
		(!dotGit && strings.HasPrefix(rt.tail, "raw/")):
		return rt, api.NewError(api.ReasonMethodNotAllowed, "%s is not allowed on %s", r.Method, r.URL.Path)
	default:
		return rt, errNotFound
	}
	return rt, nil
}

var errNotFound = api.NewError(api.ReasonNotFound,
	"no such Git path: repositories are at /git/<namespace>/<name>.git, files at /git/<namespace>/<name>/raw/<ref>/<path>")

// Handler serves /git/. Mount it with the API server's HandlePublic (metrics and audit
// still apply): it checks credentials itself, with the same authenticator as the API,
// because git sends HTTP basic auth only after a Basic challenge, which the API's
// bearer-token check does not give.
func (h *Host) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.serve(w, r, false) })
}

// ServeLocal serves a raw file to a trusted caller in this process (the catalog reading
// a url location that points at this server, see Local), without credentials. Only raw
// reads are served this way.
func (h *Host) ServeLocal(w http.ResponseWriter, r *http.Request) { h.serve(w, r, true) }

func (h *Host) serve(w http.ResponseWriter, r *http.Request, local bool) {
	rt, err := parseRoute(r)
	if local && err == nil && rt.op != opRaw {
		err = errNotFound
	}
	user := ""
	if !local {
		// Credentials first, so that a client without them learns nothing else.
		var presented, ok bool
		user, presented, ok = h.authenticate(r)
		switch {
		case presented && !ok:
			h.challenge(w, "the token is not valid")
			return
		case !ok && (rt.op == opPush || !h.opts.AnonymousRead):
			h.challenge(w, "this request needs the admin token: git sends it as the password of HTTP basic auth (any user name), curl as Authorization: Bearer <token>")
			return
		}
		auth.Report(r.Context(), user) // for the API server's audit line
	}
	if err != nil {
		writeError(w, err)
		return
	}
	// Names are DNS labels; anything else cannot be a repository, and is refused before
	// anything is looked up.
	if !validName(rt.ns) || !validName(rt.name) {
		writeError(w, api.NewError(api.ReasonNotFound, "repository %q not found: namespaces and names are DNS labels", trimForMessage(rt.ns+"/"+rt.name)))
		return
	}
	obj, err := h.st.Get(r.Context(), h.kind, rt.ns, rt.name)
	if api.IsNotFound(err) || (err == nil && obj.Metadata.DeletionTimestamp != nil) {
		writeError(w, api.NewError(api.ReasonNotFound, "repository %s/%s not found", rt.ns, rt.name))
		return
	}
	if err != nil {
		h.log.Error("git: read the repository", "repository", rt.ns+"/"+rt.name, "err", err)
		writeError(w, api.NewError(api.ReasonInternalError, "internal error; the server log has the details"))
		return
	}
	if h.git == "" {
		writeError(w, api.NewError(api.ReasonServiceUnavailable, "%v", errNoGit))
		return
	}
	dir := h.repoDir(rt.ns, rt.name)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if c := controller.GetCondition(obj, api.ConditionStalled); c != nil && c.Status == api.ConditionTrue {
			writeError(w, api.NewError(api.ReasonServiceUnavailable, "repository %s/%s is not ready: %s", rt.ns, rt.name, c.Message))
			return
		}
		w.Header().Set("Retry-After", "1")
		writeError(w, api.NewError(api.ReasonServiceUnavailable, "repository %s/%s is being created; try again in a moment", rt.ns, rt.name))
		return
	}

	ctx, cancel := context.WithTimeout(r.Context(), h.opts.RequestTimeout)
	defer cancel()
	// The server's read timeout is meant for API calls; a push of hundreds of megabytes
	// gets the Git timeout instead (and so does a slow clone's response).
	deadline := time.Now().Add(h.opts.RequestTimeout)
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(deadline)
	_ = rc.SetWriteDeadline(deadline)
	r = r.WithContext(ctx)
	switch rt.op {
	case opRaw:
		h.serveRaw(w, r, dir, rt)
	case opPush:
		h.servePush(w, r, dir, rt, obj.Metadata.UID, user)
	default:
		h.serveBackend(w, r, dir, rt, user)
	}
}

// authenticate checks the request's credentials: HTTP basic auth, whose password (or,
// when that is empty, user name) is the token, or a bearer token. presented reports
// whether there were any.
func (h *Host) authenticate(r *http.Request) (user string, presented, ok bool) {
	hdr := r.Header.Get("Authorization")
	if hdr == "" {
		return "", false, false
	}
	tok := ""
	if u, p, basic := r.BasicAuth(); basic {
		tok = p
		if tok == "" {
			tok = u
		}
	} else if scheme, t, found := strings.Cut(hdr, " "); found && strings.EqualFold(scheme, "Bearer") {
		tok = strings.TrimSpace(t)
	}
	if tok == "" {
		return "", true, false
	}
	br := r.WithContext(r.Context()) // a shallow copy whose header only says the token
	br.Header = http.Header{"Authorization": {"Bearer " + tok}}
	user, ok = h.opts.Auth.Authenticate(br)
	return user, true, ok
}

// challenge answers 401 so that git asks for credentials (it needs a Basic challenge)
// and other clients learn that a bearer token works too.
func (h *Host) challenge(w http.ResponseWriter, msg string) {
	w.Header().Add("WWW-Authenticate", `Basic realm="paved", charset="UTF-8"`)
	writeError(w, api.NewError(api.ReasonUnauthorized, "%s", msg))
}

// serveBackend runs `git http-backend` for one request of the smart protocol. The CGI
// gets a minimal environment (baseEnv plus what the protocol needs): no paved variable,
// and no Authorization or Cookie header (net/http/cgi would pass every header on as
// HTTP_*). REMOTE_USER is set only for an authenticated request, and git refuses
// receive-pack without it.
func (h *Host) serveBackend(w http.ResponseWriter, r *http.Request, dir string, rt route, user string) {
	if r.ContentLength > h.opts.MaxPushBytes {
		writeError(w, api.NewError(api.ReasonTooLarge, "the request body is %d bytes; this server accepts at most %d (githost.maxPushBytes)", r.ContentLength, h.opts.MaxPushBytes))
		return
	}
	req := r.Clone(r.Context())
	for _, k := range []string{"Authorization", "Proxy-Authorization", "Cookie"} {
		req.Header.Del(k)
	}
	req.URL.Path = "/git/" + rt.ns + "/" + rt.name + ".git/" + rt.tail
	req.URL.RawPath = ""
	if len(req.TransferEncoding) > 0 {
		// net/http/cgi refuses chunked bodies, and git sends a push larger than its
		// http.postBuffer chunked; without CONTENT_LENGTH git reads the body to its end.
		req.TransferEncoding = nil
		req.ContentLength = -1
	}
	var body *limitedBody
	if r.Body != nil && r.Body != http.NoBody {
		body = &limitedBody{ReadCloser: http.MaxBytesReader(w, r.Body, h.opts.MaxPushBytes)}
		req.Body = body
	}
	env := append(h.baseEnv(), "GIT_PROJECT_ROOT="+h.root, "GIT_HTTP_EXPORT_ALL=1")
	if user != "" {
		env = append(env, "REMOTE_USER="+user)
	}
	logw := &lineLogger{log: h.log, msg: "git http-backend", attrs: []any{"repository", rt.ns + "/" + rt.name}}
	path, args := h.git, []string{"http-backend"}
	if h.timeout != "" {
		// TERM first (git then stops the upload-pack or receive-pack it started), KILL
		// 5 s later.
		secs := int64((h.opts.RequestTimeout + time.Second - 1) / time.Second)
		path, args = h.timeout, []string{"--kill-after=5s", strconv.FormatInt(secs, 10) + "s", h.git, "http-backend"}
	}
	cg := &cgi.Handler{
		Path:   path,
		Args:   args,
		Root:   "/git",
		Dir:    h.root,
		Env:    env,
		Logger: log.New(logw, "", 0),
		Stderr: logw,
	}
	cg.ServeHTTP(w, req)
	if body != nil && body.exceeded.Load() {
		// git reports a failed unpack to the client; the log says why.
		h.log.Warn("git: request body over githost.maxPushBytes refused", "repository", rt.ns+"/"+rt.name,
			"limit", h.opts.MaxPushBytes, "request", rt.tail)
	}
}

// limitedBody notes when the request body went over its limit.
type limitedBody struct {
	io.ReadCloser
	exceeded atomic.Bool
}

func (b *limitedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		b.exceeded.Store(true)
	}
	return n, err
}

// servePush runs a receive-pack request and records the refs it changed in the
// Repository's status (pushes to one repository are serialised, so the refs before and
// after are this push's). The status is written before the response ends, so when `git
// push` returns, every watcher of the Repository can already see the push.
func (h *Host) servePush(w http.ResponseWriter, r *http.Request, dir string, rt route, uid, user string) {
	if rt.tail != "git-receive-pack" { // the advertisement changes nothing
		h.serveBackend(w, r, dir, rt, user)
		return
	}
	lock := h.pushLock(rt.ns, rt.name)
	lock.Lock()
	defer lock.Unlock()
	// Whatever happens to the client, the refs are compared and the push recorded.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 30*time.Second)
	defer cancel()
	before, err := h.refs(ctx, dir)
	if err != nil {
		h.log.Error("git: read refs before a push", "repository", rt.ns+"/"+rt.name, "err", err)
		writeError(w, api.NewError(api.ReasonInternalError, "internal error; the server log has the details"))
		return
	}
	h.serveBackend(w, r, dir, rt, user)
	after, err := h.refs(ctx, dir)
	if err != nil {
		h.log.Error("git: read refs after a push", "repository", rt.ns+"/"+rt.name, "err", err)
		return
	}
	changed := diffRefs(before, after)
	if len(changed) == 0 {
		return
	}
	if err := h.recordPush(ctx, rt.ns, rt.name, uid, newPush(user, changed)); err != nil && !api.IsNotFound(err) {
		h.log.Error("git: record a push in the Repository's status", "repository", rt.ns+"/"+rt.name, "err", err)
	}
	names := make([]string, len(changed))
	for i, c := range changed {
		names[i] = c.Name
	}
	h.log.Info("git push", "repository", rt.ns+"/"+rt.name, "user", user, "refs", strings.Join(names, ","))
}

// writeError writes an api.Status body with its code.
func writeError(w http.ResponseWriter, err error) {
	var st *api.Status
	if !errors.As(err, &st) {
		st = api.NewError(api.ReasonInternalError, "internal error; the server log has the details")
	}
	b, _ := json.Marshal(st)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(st.Code)
	_, _ = w.Write(append(b, '\n'))
}

func trimForMessage(s string) string {
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}

// lineLogger logs what a CGI writes to standard error (and net/http/cgi's own
// messages), a line at a time, at most 8 KiB per request.
type lineLogger struct {
	log   *slog.Logger
	msg   string
	attrs []any

	mu      sync.Mutex
	pending bytes.Buffer
	written int
}

func (l *lineLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(p)
	if room := 8<<10 - l.written; room > 0 {
		p = p[:min(len(p), room)]
		l.written += len(p)
		l.pending.Write(p)
	}
	for {
		line, err := l.pending.ReadString('\n')
		if err != nil {
			l.pending.WriteString(line) // incomplete: keep it for the next write
			break
		}
		if line = strings.TrimSpace(line); line != "" {
			l.log.Warn(l.msg, slices.Concat(l.attrs, []any{"output", line})...)
		}
	}
	return n, nil
}
