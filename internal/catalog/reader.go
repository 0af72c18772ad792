package catalog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	yaml "go.yaml.in/yaml/v3"

	"github.com/paved-dev/paved/internal/catalog/entity"
)

// target is where a file of entities is read from: a local file (absolute, cleaned path)
// or an http(s) URL. Its key, "file:/abs/path" or "url:https://...", is what Backstage's
// stringifyLocationRef writes into backstage.io/managed-by-location.
type target struct {
	Type   string
	Target string
}

func (t target) key() string { return t.Type + ":" + t.Target }

// parseLocationRef splits "type:target" as Backstage's parseLocationRef does: at the
// first colon.
func parseLocationRef(s string) (target, bool) {
	typ, tgt, ok := strings.Cut(s, ":")
	if !ok || typ == "" || tgt == "" {
		return target{}, false
	}
	return target{Type: typ, Target: tgt}, true
}

// readError is a failure to read a location target. notFound marks a target that does
// not exist (which a location with presence "optional" ignores).
type readError struct {
	msg      string
	notFound bool
}

func (e *readError) Error() string { return e.msg }

func isNotFoundRead(err error) bool {
	var re *readError
	return errors.As(err, &re) && re.notFound
}

// reader reads location targets and placeholder files. File reads are confined to the
// allowed roots (Options.FileRoots and the directories of configured file locations),
// after resolving symbolic links; URL reads are http(s) only. Both are size-limited.
type reader struct {
	roots  []string
	client *http.Client
	max    int64
}

func newReader(opts Options) *reader {
	r := &reader{client: opts.HTTPClient, max: opts.MaxFileBytes}
	if r.client == nil {
		r.client = defaultHTTPClient()
	}
	add := func(dir string) {
		if abs, err := filepath.Abs(dir); err == nil {
			r.roots = append(r.roots, filepath.Clean(abs))
		}
	}
	for _, root := range opts.FileRoots {
		add(root)
	}
	for _, l := range opts.Locations {
		if l.Type == "file" && l.Target != "" {
			add(filepath.Dir(l.Target))
		}
	}
	return r
}

// defaultHTTPClient bounds every phase of a request, so that one slow server cannot hold
// a location's processing for long.
func defaultHTTPClient() *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 20 * time.Second,
			IdleConnTimeout:       90 * time.Second,
			MaxIdleConnsPerHost:   8,
		},
	}
}

// read returns the content of t.
func (r *reader) read(ctx context.Context, t target) ([]byte, error) {
	switch t.Type {
	case "file":
		return r.readFile(t.Target)
	case "url":
		return r.readURL(ctx, t.Target)
	}
	return nil, &readError{msg: fmt.Sprintf("unsupported location type %q (expected url or file)", t.Type)}
}

// within reports whether path p is dir or below it.
func within(p, dir string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// checkFile resolves path (absolute) through symbolic links and returns the real path if
// it lies below an allowed root (the roots' own links resolved too).
func (r *reader) checkFile(path string) (string, error) {
	if !filepath.IsAbs(path) {
		return "", &readError{msg: fmt.Sprintf("file target %q must be an absolute path", path)}
	}
	clean := filepath.Clean(path)
	real, err := filepath.EvalSymlinks(clean)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			// Say "not found" only for paths that would be allowed: otherwise the answer
			// would tell anyone which files exist outside the roots.
			if r.allowedLexically(clean) {
				return "", &readError{msg: fmt.Sprintf("file %s does not exist", clean), notFound: true}
			}
			return "", r.outside(clean, "")
		}
		return "", &readError{msg: fmt.Sprintf("file %s cannot be read: %v", clean, err)}
	}
	for _, root := range r.roots {
		rr, err := filepath.EvalSymlinks(root)
		if err != nil {
			rr = root
		}
		if within(real, rr) {
			return real, nil
		}
	}
	return "", r.outside(clean, real)
}

func (r *reader) allowedLexically(p string) bool {
	for _, root := range r.roots {
		if within(p, root) {
			return true
		}
	}
	return false
}

func (r *reader) outside(clean, real string) error {
	msg := fmt.Sprintf("file %s is outside the directories the catalog may read", clean)
	if real != "" && real != clean {
		msg = fmt.Sprintf("file %s resolves to %s, which is outside the directories the catalog may read", clean, real)
	}
	if len(r.roots) == 0 {
		return &readError{msg: msg + " (no catalog file roots are configured; add the directory to catalog.fileRoots)"}
	}
	return &readError{msg: msg + " (" + strings.Join(r.roots, ", ") + "; add the directory to catalog.fileRoots)"}
}

func (r *reader) tooLarge(what string, size int64) error {
	if size < 0 {
		return &readError{msg: fmt.Sprintf("%s is larger than the limit of %d bytes", what, r.max)}
	}
	return &readError{msg: fmt.Sprintf("%s is %d bytes, over the limit of %d bytes", what, size, r.max)}
}

func (r *reader) readFile(path string) ([]byte, error) {
	real, err := r.checkFile(path)
	if err != nil {
		return nil, err
	}
	before, err := os.Stat(real)
	if err != nil {
		return nil, &readError{msg: fmt.Sprintf("file %s cannot be read: %v", path, err), notFound: errors.Is(err, os.ErrNotExist)}
	}
	f, err := os.Open(real)
	if err != nil {
		return nil, &readError{msg: fmt.Sprintf("file %s cannot be read: %v", path, err), notFound: errors.Is(err, os.ErrNotExist)}
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, &readError{msg: fmt.Sprintf("file %s cannot be read: %v", path, err)}
	}
	// The path was checked before it was opened; a link swapped in between would open a
	// different file, which this catches.
	if !os.SameFile(before, st) {
		return nil, &readError{msg: fmt.Sprintf("file %s changed while it was being opened", path)}
	}
	if !st.Mode().IsRegular() {
		return nil, &readError{msg: fmt.Sprintf("%s is not a regular file", path)}
	}
	if st.Size() > r.max {
		return nil, r.tooLarge("file "+path, st.Size())
	}
	data, err := io.ReadAll(io.LimitReader(f, r.max+1))
	if err != nil {
		return nil, &readError{msg: fmt.Sprintf("file %s cannot be read: %v", path, err)}
	}
	if int64(len(data)) > r.max {
		return nil, r.tooLarge("file "+path, -1)
	}
	return data, nil
}

// checkURL accepts absolute http and https URLs only.
func checkURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, &readError{msg: fmt.Sprintf("%q is not a valid URL: %v", raw, err)}
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, &readError{msg: fmt.Sprintf("URL %q must use http or https", raw)}
	}
	if u.Host == "" {
		return nil, &readError{msg: fmt.Sprintf("URL %q has no host", raw)}
	}
	return u, nil
}

func (r *reader) readURL(ctx context.Context, raw string) ([]byte, error) {
	u, err := checkURL(raw)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, &readError{msg: fmt.Sprintf("GET %s: %v", raw, err)}
	}
	req.Header.Set("Accept", "application/yaml, application/json, text/plain, */*")
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, &readError{msg: fmt.Sprintf("GET %s: %v", raw, err)}
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone {
		return nil, &readError{msg: fmt.Sprintf("GET %s: %s: the URL does not exist", raw, resp.Status), notFound: true}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, &readError{msg: fmt.Sprintf("GET %s: %s", raw, resp.Status)}
	}
	if resp.ContentLength > r.max {
		return nil, r.tooLarge("URL "+raw, resp.ContentLength)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, r.max+1))
	if err != nil {
		return nil, &readError{msg: fmt.Sprintf("GET %s: reading the body: %v", raw, err)}
	}
	if int64(len(data)) > r.max {
		return nil, r.tooLarge("URL "+raw, -1)
	}
	return data, nil
}

// resolve turns a target written in a file read from base (relative or absolute) into an
// absolute target of type typ. A document read from a URL may only point at URLs: letting
// a remote file name local paths would let anyone who can serve a file read this host's.
func resolve(base target, typ, ref string) (target, error) {
	if typ == "" {
		typ = base.Type
	}
	switch typ {
	case "file":
		if base.Type != "file" {
			return target{}, fmt.Errorf("a location read from %s may not point at a local file (%q)", base.key(), ref)
		}
		p := ref
		if strings.HasPrefix(p, "file://") {
			p = strings.TrimPrefix(p, "file://")
		}
		if !filepath.IsAbs(p) {
			p = filepath.Join(filepath.Dir(base.Target), p)
		}
		return target{Type: "file", Target: filepath.Clean(p)}, nil
	case "url":
		ref = strings.TrimSpace(ref)
		if u, err := url.Parse(ref); err == nil && u.IsAbs() {
			if _, err := checkURL(ref); err != nil {
				return target{}, err
			}
			return target{Type: "url", Target: u.String()}, nil
		}
		if base.Type != "url" {
			return target{}, fmt.Errorf("url target %q must be an absolute http(s) URL", ref)
		}
		bu, err := url.Parse(base.Target)
		if err != nil {
			return target{}, fmt.Errorf("base URL %q: %v", base.Target, err)
		}
		ru, err := url.Parse(ref)
		if err != nil {
			return target{}, fmt.Errorf("%q is not a valid URL: %v", ref, err)
		}
		return target{Type: "url", Target: bu.ResolveReference(ru).String()}, nil
	}
	return target{}, fmt.Errorf("unsupported location type %q (expected url or file)", typ)
}

// Placeholders. Backstage's PlaceholderProcessor replaces an object that has exactly one
// key, "$text", "$json" or "$yaml", with a string value, by the content of the file that
// value names (relative to the entity's own file). Objects with other $-keys (a JSON
// schema's "$ref") are left alone, and so are the values a placeholder returns.

// maxPlaceholders bounds the reads one entity may cause.
const maxPlaceholders = 64

type placeholders struct {
	r     *reader
	base  target
	count int
	bytes int64
}

// resolveAll returns v with every placeholder replaced, and whether anything was; v itself
// is never modified. The error names the field.
func (p *placeholders) resolveAll(ctx context.Context, v any, path string) (any, bool, error) {
	switch t := v.(type) {
	case []any:
		var out []any
		for i, item := range t {
			nv, changed, err := p.resolveAll(ctx, item, fmt.Sprintf("%s[%d]", path, i))
			if err != nil {
				return nil, false, err
			}
			if changed && out == nil {
				out = make([]any, len(t))
				copy(out, t)
			}
			if out != nil {
				out[i] = nv
			}
		}
		if out == nil {
			return t, false, nil
		}
		return out, true, nil
	case map[string]any:
		if len(t) == 1 {
			for k, val := range t {
				s, isString := val.(string)
				if isString && (k == "$text" || k == "$json" || k == "$yaml") {
					nv, err := p.resolve(ctx, k[1:], s)
					if err != nil {
						return nil, false, fmt.Errorf("%s: placeholder %s %q: %w", path, k, s, err)
					}
					return nv, true, nil
				}
			}
		}
		for k := range t {
			if strings.HasPrefix(k, "$") {
				return t, false, nil // not a placeholder paved knows (a JSON schema's $ref): leave it
			}
		}
		var out map[string]any
		for k, val := range t {
			nv, changed, err := p.resolveAll(ctx, val, path+"."+k)
			if err != nil {
				return nil, false, err
			}
			if changed && out == nil {
				out = make(map[string]any, len(t))
				for k2, v2 := range t {
					out[k2] = v2
				}
			}
			if out != nil {
				out[k] = nv
			}
		}
		if out == nil {
			return t, false, nil
		}
		return out, true, nil
	}
	return v, false, nil
}

func (p *placeholders) resolve(ctx context.Context, kind, ref string) (any, error) {
	p.count++
	if p.count > maxPlaceholders {
		return nil, fmt.Errorf("an entity may use at most %d placeholders", maxPlaceholders)
	}
	if strings.TrimSpace(ref) == "" {
		return nil, errors.New("the placeholder names no file")
	}
	t, err := p.target(ref)
	if err != nil {
		return nil, err
	}
	data, err := p.r.read(ctx, t)
	if err != nil {
		return nil, err
	}
	p.bytes += int64(len(data))
	if p.bytes > p.r.max {
		return nil, fmt.Errorf("the placeholders of one entity read more than %d bytes together", p.r.max)
	}
	switch kind {
	case "text":
		if !utf8.Valid(data) {
			return nil, fmt.Errorf("%s is not valid UTF-8 text", t.key())
		}
		return string(data), nil
	case "json":
		v, err := parseJSONValue(data)
		if err != nil {
			return nil, fmt.Errorf("%s is not valid JSON: %w", t.key(), err)
		}
		return v, nil
	default:
		v, err := parseYAMLValue(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", t.key(), err)
		}
		return v, nil
	}
}

// target resolves a placeholder's value against the entity's file: an absolute http(s)
// URL is read as such; anything else is a path (or URL) relative to the file.
func (p *placeholders) target(ref string) (target, error) {
	if u, err := url.Parse(ref); err == nil && u.IsAbs() && len(u.Scheme) > 1 {
		if u.Scheme == "http" || u.Scheme == "https" {
			return resolve(p.base, "url", ref)
		}
		if u.Scheme != "file" {
			return target{}, fmt.Errorf("unsupported URL scheme %q (use http, https or a relative path)", u.Scheme)
		}
	}
	return resolve(p.base, p.base.Type, ref)
}

// parseJSONValue decodes any JSON value, keeping numbers exact and refusing deep nesting.
func parseJSONValue(data []byte) (any, error) {
	if !utf8.Valid(data) {
		return nil, errors.New("invalid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("unexpected data after the JSON value")
	}
	if depthOf(v, 0) > entity.MaxDepth {
		return nil, fmt.Errorf("the document nests deeper than %d levels", entity.MaxDepth)
	}
	return v, nil
}

func depthOf(v any, d int) int {
	if d > entity.MaxDepth {
		return d
	}
	max := d
	switch t := v.(type) {
	case map[string]any:
		for _, c := range t {
			max = maxInt(max, depthOf(c, d+1))
		}
	case []any:
		for _, c := range t {
			max = maxInt(max, depthOf(c, d+1))
		}
	}
	return max
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}

// parseYAMLValue reads exactly one YAML document into a JSON-shaped value, with the same
// protections as entity parsing: a bounded expansion of aliases, bounded nesting, and
// YAML 1.2 core scalars.
func parseYAMLValue(data []byte) (any, error) {
	if !utf8.Valid(data) {
		return nil, errors.New("invalid UTF-8")
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []*yaml.Node
	for {
		var n yaml.Node
		err := func() (err error) {
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("cannot parse the YAML document: %v", r)
				}
			}()
			return dec.Decode(&n)
		}()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("invalid YAML: %w", err)
		}
		if len(n.Content) > 0 {
			docs = append(docs, &n)
		}
		if len(docs) > 1 {
			break
		}
	}
	if len(docs) != 1 {
		return nil, fmt.Errorf("expected exactly one YAML document, found %d", len(docs))
	}
	c := &yamlConv{budget: 10000 + 10*countYAMLNodes(docs[0], 0)}
	return c.value(docs[0], 0)
}

func countYAMLNodes(n *yaml.Node, depth int) int {
	if depth > entity.MaxDepth+1 {
		return 1
	}
	total := 1
	for _, c := range n.Content {
		total += countYAMLNodes(c, depth+1)
	}
	return total
}

type yamlConv struct{ budget int }

func (c *yamlConv) value(n *yaml.Node, depth int) (any, error) {
	if depth > entity.MaxDepth {
		return nil, fmt.Errorf("line %d: the document nests deeper than %d levels", n.Line, entity.MaxDepth)
	}
	c.budget--
	if c.budget < 0 {
		return nil, fmt.Errorf("line %d: the document expands to too many values (aliases that repeat each other, a \"YAML bomb\")", n.Line)
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return c.value(n.Content[0], depth)
	case yaml.AliasNode:
		if n.Alias == nil {
			return nil, fmt.Errorf("line %d: unknown alias", n.Line)
		}
		return c.value(n.Alias, depth+1)
	case yaml.MappingNode:
		out := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			kn := n.Content[i]
			for kn.Kind == yaml.AliasNode && kn.Alias != nil {
				kn = kn.Alias
			}
			if kn.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: a mapping key must be a plain value", kn.Line)
			}
			if _, dup := out[kn.Value]; dup {
				return nil, fmt.Errorf("line %d: duplicate key %q", kn.Line, kn.Value)
			}
			v, err := c.value(n.Content[i+1], depth+1)
			if err != nil {
				return nil, err
			}
			out[kn.Value] = v
		}
		return out, nil
	case yaml.SequenceNode:
		out := make([]any, len(n.Content))
		for i, cn := range n.Content {
			v, err := c.value(cn, depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	case yaml.ScalarNode:
		return yamlScalar(n)
	}
	return nil, fmt.Errorf("line %d: unsupported YAML node", n.Line)
}

// yamlScalar resolves a scalar as YAML 1.2's core schema does (timestamps stay strings).
func yamlScalar(n *yaml.Node) (any, error) {
	switch n.ShortTag() {
	case "!!null":
		return nil, nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			return nil, fmt.Errorf("line %d: %v", n.Line, err)
		}
		return b, nil
	case "!!int", "!!float":
		var f float64
		if err := n.Decode(&f); err != nil {
			return n.Value, nil
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("line %d: %s is not a number JSON can hold", n.Line, n.Value)
		}
		if n.ShortTag() == "!!int" {
			if i, err := strconv.ParseInt(strings.TrimPrefix(n.Value, "+"), 10, 64); err == nil {
				return json.Number(strconv.FormatInt(i, 10)), nil
			}
		}
		return json.Number(strconv.FormatFloat(f, 'g', -1, 64)), nil
	}
	return n.Value, nil
}
