package githost

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/paved-dev/paved/api"
)

// revName is what a ref segment that names no branch or tag may be: a commit id (full or
// abbreviated), HEAD, or another plain name. No '~', '^', ':', '@' or '{': git would read
// those as revision syntax.
var revName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]*$`)

// errBlobNotFound says the ref or the file does not exist (or the path is a directory).
var errBlobNotFound = errors.New("not found")

// blobTooLarge says a file is over the raw API's limit.
type blobTooLarge struct{ size int64 }

func (e *blobTooLarge) Error() string { return fmt.Sprintf("the file is %d bytes", e.size) }

// serveRaw answers GET /git/<ns>/<name>/raw/<ref>/<path>: the bytes of the file at the
// ref (a branch, a tag or a commit id). A branch or tag name may contain slashes; the
// longest branch or tag that the path starts with is the ref.
func (h *Host) serveRaw(w http.ResponseWriter, r *http.Request, dir string, rt route) {
	segs := strings.Split(rt.tail, "/")
	if len(segs) < 2 || segs[len(segs)-1] == "" {
		writeError(w, api.NewError(api.ReasonNotFound, "name a ref and a file: /git/%s/%s/raw/<ref>/<path>", rt.ns, rt.name))
		return
	}
	for _, s := range segs {
		if s == "" || s == "." || s == ".." || strings.ContainsFunc(s, isControl) {
			writeError(w, api.NewError(api.ReasonBadRequest, "the path must not contain empty, '.' or '..' segments or control characters"))
			return
		}
	}
	refs, err := h.branchesAndTags(r.Context(), dir)
	if err != nil {
		h.log.Error("git: list refs", "repository", rt.ns+"/"+rt.name, "err", err)
		writeError(w, api.NewError(api.ReasonInternalError, "internal error; the server log has the details"))
		return
	}
	rev, path := pickRef(refs, segs)
	if rev == "" {
		writeError(w, api.NewError(api.ReasonNotFound, "ref %q not found in %s/%s", trimForMessage(segs[0]), rt.ns, rt.name))
		return
	}
	oid, data, err := h.readBlob(r.Context(), dir, rev+":"+path)
	var tl *blobTooLarge
	switch {
	case errors.Is(err, errBlobNotFound):
		writeError(w, api.NewError(api.ReasonNotFound, "%s not found at %s in %s/%s", trimForMessage(path), trimForMessage(strings.TrimPrefix(strings.TrimPrefix(rev, "refs/heads/"), "refs/tags/")), rt.ns, rt.name))
		return
	case errors.As(err, &tl):
		writeError(w, api.NewError(api.ReasonTooLarge, "%s is %d bytes; the raw API serves at most %d (githost.maxRawBytes)", trimForMessage(path), tl.size, h.opts.MaxRawBytes))
		return
	case err != nil:
		if r.Context().Err() == nil {
			h.log.Error("git: read a file", "repository", rt.ns+"/"+rt.name, "err", err)
		}
		writeError(w, api.NewError(api.ReasonInternalError, "internal error; the server log has the details"))
		return
	}
	hdr := w.Header()
	etag := `"` + oid + `"`
	hdr.Set("ETag", etag)
	hdr.Set("Cache-Control", "no-cache")
	// The file is whatever was pushed: never let a browser run it on paved's origin.
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if utf8.Valid(data) {
		hdr.Set("Content-Type", "text/plain; charset=utf-8")
	} else {
		hdr.Set("Content-Type", "application/octet-stream")
	}
	hdr.Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(data)
	}
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// branchesAndTags lists the full names of the repository's branches and tags.
func (h *Host) branchesAndTags(ctx context.Context, dir string) ([]string, error) {
	out, err := h.run(ctx, dir, "for-each-ref", "--format=%(refname)", "refs/heads/", "refs/tags/")
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(out)), nil
}

// pickRef splits the segments after raw/ into a revision git can resolve and a path:
// the longest branch or tag the segments start with (a branch wins over a tag of the
// same name), else the first segment as a commit id or HEAD. It returns "" when the
// first segment cannot be a revision.
func pickRef(refs []string, segs []string) (rev, path string) {
	best, n := "", 0
	for _, full := range refs {
		short, branch := strings.CutPrefix(full, "refs/heads/")
		if !branch {
			short = strings.TrimPrefix(full, "refs/tags/")
		}
		k := strings.Count(short, "/") + 1
		if k >= len(segs) || k < n || strings.Join(segs[:k], "/") != short {
			continue
		}
		if k > n || branch {
			best, n = full, k
		}
	}
	if best == "" {
		if !revName.MatchString(segs[0]) || strings.Contains(segs[0], "..") {
			return "", ""
		}
		best, n = segs[0], 1
	}
	return best, strings.Join(segs[n:], "/")
}

// readBlob returns the id and content of the blob spec names ("<rev>:<path>"), through
// one `git cat-file --batch`, which reads the name from its input, so nothing the client
// sent is ever a command-line argument. A tree (a directory) is not found; a blob over
// MaxRawBytes is refused without reading it.
func (h *Host) readBlob(ctx context.Context, dir, spec string) (string, []byte, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // kills git if it is still running
	cmd, err := h.command(ctx, dir, "cat-file", "--batch")
	if err != nil {
		return "", nil, err
	}
	cmd.Stdin = strings.NewReader(spec + "\n")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	stderr := &limitedBuffer{buf: new(bytes.Buffer), max: 4096}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	defer func() { _ = cmd.Wait() }()
	br := bufio.NewReader(stdout)
	line, err := br.ReadString('\n')
	if err != nil {
		return "", nil, fmt.Errorf("git cat-file: %v %s", err, strings.TrimSpace(stderr.buf.String()))
	}
	f := strings.Fields(line)
	if len(f) == 2 && (f[1] == "missing" || f[1] == "ambiguous") {
		return "", nil, errBlobNotFound
	}
	if len(f) != 3 {
		return "", nil, fmt.Errorf("git cat-file: unexpected answer %q", trimForMessage(line))
	}
	size, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil {
		return "", nil, fmt.Errorf("git cat-file: unexpected size in %q", trimForMessage(line))
	}
	if f[1] != "blob" {
		return "", nil, errBlobNotFound
	}
	if size > h.opts.MaxRawBytes {
		return "", nil, &blobTooLarge{size: size}
	}
	data := make([]byte, size)
	if _, err := io.ReadFull(br, data); err != nil {
		return "", nil, fmt.Errorf("git cat-file: %w", err)
	}
	return f[0], data, nil
}

// Local reports whether u names something of this server's Git host: an http(s) URL
// under /git/ whose host is this server. That is the listen address (Options.Addr); when
// it is a loopback or unspecified address, also localhost, 127.0.0.1 and [::1] on its
// port; and the names in Options.Hosts (without a port, a name matches the scheme's
// default port).
func (h *Host) Local(u *url.URL) bool {
	if u == nil || (u.Scheme != "http" && u.Scheme != "https") || !strings.HasPrefix(u.Path, "/git/") {
		return false
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	for _, e := range h.opts.Hosts {
		eh, ep, err := net.SplitHostPort(e)
		if err != nil {
			eh, ep = strings.Trim(e, "[]"), map[string]string{"http": "80", "https": "443"}[u.Scheme]
		}
		if strings.EqualFold(eh, host) && ep == port {
			return true
		}
	}
	if h.opts.Addr == nil {
		return false
	}
	lh, lp, err := net.SplitHostPort(h.opts.Addr())
	if err != nil || lp != port {
		return false
	}
	if strings.EqualFold(lh, host) {
		return true
	}
	if ip := net.ParseIP(lh); lh == "" || lh == "localhost" || (ip != nil && (ip.IsLoopback() || ip.IsUnspecified())) {
		if host == "localhost" {
			return true
		}
		if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
			return true
		}
	}
	return false
}
