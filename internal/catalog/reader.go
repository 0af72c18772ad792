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
	"regexp"
	"sort"
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
	// A host's page of a file (a GitHub "blob" URL) is HTML: fetch the raw file, as
	// Backstage's URL readers do. The location keeps the URL as written.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL(u).String(), nil)
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

// Placeholders. Backstage's PlaceholderProcessor walks the whole entity document (metadata
// as well as spec) and replaces an object that has exactly one key, "$text", "$json" or
// "$yaml", by the content of the file its value names (relative to the entity's own
// file); a value that is not a string is an error. Objects with other $-keys (a JSON
// schema's "$ref"), or with a $-key among others, are left alone and not looked into, and
// so are the values a placeholder returns.

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
			nv, changed, err := p.resolveAll(ctx, item, entity.IndexPath(path, i))
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
				if k != "$text" && k != "$json" && k != "$yaml" {
					continue
				}
				s, isString := val.(string)
				if !isString {
					// As Backstage's resolvers: the value must name what to read.
					return nil, false, fmt.Errorf("%s: placeholder %s expects a string (a relative path or an absolute URL), got %s", pathOrRoot(path), k, valueKind(val))
				}
				nv, err := p.resolve(ctx, k[1:], s)
				if err != nil {
					return nil, false, fmt.Errorf("%s: placeholder %s %q: %w", pathOrRoot(path), k, s, err)
				}
				return nv, true, nil
			}
		}
		for k := range t {
			if strings.HasPrefix(k, "$") {
				return t, false, nil // not a placeholder paved knows (a JSON schema's $ref): leave it
			}
		}
		var out map[string]any
		for k, val := range t {
			nv, changed, err := p.resolveAll(ctx, val, entity.FieldPath(path, k))
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

func pathOrRoot(p string) string {
	if p == "" {
		return "the entity"
	}
	return p
}

// valueKind names the JSON type of a decoded value, for messages.
func valueKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number, float64, int, int64:
		return "a number"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
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

// Globs in file targets. Backstage's FileReaderProcessor expands a file target with the
// glob package of Node: "*", "?" and "[...]" match within one path segment, "**" matches
// any number of directories, "{a,b}" is either, names starting with a dot are matched
// only by a pattern segment that starts with a dot, and "**" does not descend into linked
// directories. paved does the same, with its root rules: the pattern's fixed leading
// directory must lie below an allowed root, a linked directory is followed (by "*" or a
// fixed segment) only if it resolves below one, and every matched file is read like any
// file target, through checkFile.

const (
	// maxGlobMatches bounds the files one pattern may match.
	maxGlobMatches = 10000
	// maxGlobEntries bounds the directory entries one expansion may look at, so that a
	// pattern such as /srv/**/x.yaml over a huge tree fails rather than hangs.
	maxGlobEntries = 200000
	// maxGlobAlternatives bounds what {a,b} alternatives expand to.
	maxGlobAlternatives = 64
)

// isGlob reports whether a file target is a pattern: it has an unescaped "*" or "?", a
// "[...]" class or a "{a,b}" alternative.
func isGlob(p string) bool {
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '\\':
			i++
		case '*', '?':
			return true
		case '[':
			if j := strings.IndexByte(p[i+1:], ']'); j > 0 && !strings.ContainsRune(p[i+1:i+1+j], filepath.Separator) {
				return true
			}
		case '{':
			if end, commas := braceGroup(p, i); end > 0 && len(commas) > 0 {
				return true
			}
		}
	}
	return false
}

// segMagic reports whether one path segment needs matching (not a fixed name).
func segMagic(seg string) bool { return isGlob(seg) }

// braceGroup finds the "}" closing the "{" at p[open] and the top-level commas between;
// end is -1 if there is none.
func braceGroup(p string, open int) (end int, commas []int) {
	depth := 0
	for i := open; i < len(p); i++ {
		switch p[i] {
		case '\\':
			i++
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return i, commas
			}
		case ',':
			if depth == 1 {
				commas = append(commas, i)
			}
		}
	}
	return -1, nil
}

// expandBraces expands every "{a,b}" of p (nested ones too) into the patterns it stands
// for, in order; a group without a comma is literal, as in Node's brace expansion.
func expandBraces(p string, limit int) ([]string, error) {
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '\\':
			i++
		case '{':
			end, commas := braceGroup(p, i)
			if end < 0 || len(commas) == 0 {
				continue
			}
			prefix, suffix := p[:i], p[end+1:]
			starts := append([]int{i}, commas...)
			var out []string
			for k, s := range starts {
				stop := end
				if k+1 < len(starts) {
					stop = starts[k+1]
				}
				more, err := expandBraces(prefix+p[s+1:stop]+suffix, limit)
				if err != nil {
					return nil, err
				}
				out = append(out, more...)
				if len(out) > limit {
					return nil, fmt.Errorf("the {a,b} alternatives of the pattern expand to more than %d patterns", limit)
				}
			}
			return out, nil
		}
	}
	return []string{p}, nil
}

// unescape drops the backslashes that escape pattern characters in a fixed segment.
func unescape(seg string) string {
	if !strings.Contains(seg, `\`) {
		return seg
	}
	var b strings.Builder
	for i := 0; i < len(seg); i++ {
		if seg[i] == '\\' && i+1 < len(seg) {
			i++
		}
		b.WriteByte(seg[i])
	}
	return b.String()
}

// splitGlob splits an absolute, clean pattern (without braces) into its fixed leading
// directory and the segments to match below it; the last segment is always among them.
func splitGlob(p string) (base string, rest []string, err error) {
	segs := strings.Split(strings.TrimPrefix(p, string(filepath.Separator)), string(filepath.Separator))
	first := len(segs) - 1
	for i, s := range segs {
		if segMagic(s) {
			first = i
			break
		}
	}
	fixed := make([]string, first)
	for i, s := range segs[:first] {
		fixed[i] = unescape(s)
	}
	base = string(filepath.Separator) + filepath.Join(fixed...)
	for _, s := range segs[first:] {
		if s == "**" && len(rest) > 0 && rest[len(rest)-1] == "**" {
			continue // a/**/**/b is a/**/b
		}
		if segMagic(s) && s != "**" {
			if _, err := filepath.Match(s, ""); err != nil {
				return "", nil, fmt.Errorf("pattern segment %q is malformed: %v", s, err)
			}
		}
		rest = append(rest, s)
	}
	return base, rest, nil
}

// globAlternatives expands the braces of an absolute pattern and cleans each alternative
// (an alternative may hold "..").
func globAlternatives(pattern string) ([]string, error) {
	alts, err := expandBraces(pattern, maxGlobAlternatives)
	if err != nil {
		return nil, err
	}
	for i, a := range alts {
		if !filepath.IsAbs(a) {
			return nil, fmt.Errorf("file pattern %q must be an absolute path", pattern)
		}
		alts[i] = filepath.Clean(a)
	}
	return alts, nil
}

// checkGlob checks, as registration does for a plain file target, that every directory a
// pattern starts from is below an allowed root (it may not exist yet).
func (r *reader) checkGlob(pattern string) error {
	alts, err := globAlternatives(pattern)
	if err != nil {
		return &readError{msg: fmt.Sprintf("file pattern %s: %v", pattern, err)}
	}
	for _, a := range alts {
		base, _, err := splitGlob(a)
		if err != nil {
			return &readError{msg: fmt.Sprintf("file pattern %s: %v", pattern, err)}
		}
		if _, err := r.checkFile(base); err != nil && !isNotFoundRead(err) {
			return err
		}
	}
	return nil
}

// glob returns the files a pattern matches, sorted. A pattern whose leading directories
// all exist but that matches nothing gives no files and no error, as in Backstage; one
// none of whose leading directories exists is "not found".
func (r *reader) glob(ctx context.Context, pattern string) ([]string, error) {
	alts, err := globAlternatives(pattern)
	if err != nil {
		return nil, &readError{msg: fmt.Sprintf("file pattern %s: %v", pattern, err)}
	}
	g := &globber{r: r, ctx: ctx, pattern: pattern, seen: map[string]bool{}}
	found := false
	for _, a := range alts {
		base, rest, err := splitGlob(a)
		if err != nil {
			return nil, &readError{msg: fmt.Sprintf("file pattern %s: %v", pattern, err)}
		}
		real, err := r.checkFile(base)
		if isNotFoundRead(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if st, err := os.Stat(real); err != nil || !st.IsDir() {
			continue
		}
		found = true
		if err := g.walk(base, rest); err != nil {
			return nil, err
		}
	}
	if !found {
		return nil, &readError{msg: fmt.Sprintf("file %s does not exist (the directory the pattern starts from does not)", pattern), notFound: true}
	}
	sort.Strings(g.out)
	return g.out, nil
}

type globber struct {
	r       *reader
	ctx     context.Context
	pattern string
	seen    map[string]bool
	out     []string
	entries int
}

func (g *globber) walk(dir string, rest []string) error {
	if err := g.ctx.Err(); err != nil {
		return err
	}
	if g.entries++; g.entries > maxGlobEntries {
		return &readError{msg: fmt.Sprintf("file pattern %s looks at more than %d directory entries; narrow it", g.pattern, maxGlobEntries)}
	}
	seg, last := rest[0], len(rest) == 1
	if seg == "**" {
		if !last {
			if err := g.walk(dir, rest[1:]); err != nil { // no directory at all
				return err
			}
		}
		entries, err := g.readDir(dir)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".") {
				continue
			}
			p := filepath.Join(dir, e.Name())
			switch {
			case e.IsDir(): // a real directory: "**" does not follow links
				if err := g.walk(p, rest); err != nil {
					return err
				}
			case last:
				if err := g.add(p); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if !segMagic(seg) {
		p := filepath.Join(dir, unescape(seg))
		if last {
			return g.add(p)
		}
		if g.isDir(p) {
			return g.walk(p, rest[1:])
		}
		return nil
	}
	entries, err := g.readDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") && !strings.HasPrefix(seg, ".") {
			continue
		}
		if ok, _ := filepath.Match(seg, name); !ok {
			continue
		}
		p := filepath.Join(dir, name)
		if last {
			if err := g.add(p); err != nil {
				return err
			}
		} else if g.isDir(p) {
			if err := g.walk(p, rest[1:]); err != nil {
				return err
			}
		}
	}
	return nil
}

func (g *globber) readDir(dir string) ([]os.DirEntry, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, &readError{msg: fmt.Sprintf("file pattern %s: directory %s cannot be read: %v", g.pattern, dir, err)}
	}
	if g.entries += len(entries); g.entries > maxGlobEntries {
		return nil, &readError{msg: fmt.Sprintf("file pattern %s looks at more than %d directory entries; narrow it", g.pattern, maxGlobEntries)}
	}
	return entries, nil
}

// isDir reports whether p is a directory to descend into: a real one, or a link to one
// that resolves below an allowed root.
func (g *globber) isDir(p string) bool {
	st, err := os.Lstat(p)
	if err != nil {
		return false
	}
	if st.IsDir() {
		return true
	}
	if st.Mode()&os.ModeSymlink == 0 {
		return false
	}
	real, err := g.r.checkFile(p)
	if err != nil {
		return false
	}
	st, err = os.Stat(real)
	return err == nil && st.IsDir()
}

// add records a match if it is a regular file or a link to one (whether the link may be
// followed is checked when the file is read). Directories, other special files and links
// that lead nowhere are skipped.
func (g *globber) add(p string) error {
	if g.seen[p] {
		return nil
	}
	if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() {
		return nil
	}
	g.seen[p] = true
	g.out = append(g.out, p)
	if len(g.out) > maxGlobMatches {
		return &readError{msg: fmt.Sprintf("file pattern %s matches more than %d files, the limit; narrow it or split the location", g.pattern, maxGlobMatches)}
	}
	return nil
}

// globMatch reports whether path (absolute, clean) is one the pattern matches, by the
// rules the expansion follows; used to keep the entities of files a pattern matched when
// the pattern cannot be expanded this time.
func globMatch(pattern, path string) bool {
	alts, err := globAlternatives(pattern)
	if err != nil {
		return false
	}
	name := strings.Split(strings.TrimPrefix(path, string(filepath.Separator)), string(filepath.Separator))
	for _, a := range alts {
		pat := strings.Split(strings.TrimPrefix(a, string(filepath.Separator)), string(filepath.Separator))
		if matchSegments(pat, name) {
			return true
		}
	}
	return false
}

func matchSegments(pat, name []string) bool {
	memo := map[[2]int]bool{}
	var match func(i, j int) bool
	match = func(i, j int) bool {
		key := [2]int{i, j}
		if v, ok := memo[key]; ok {
			return v
		}
		var ok bool
		switch {
		case i == len(pat):
			ok = j == len(name)
		case pat[i] == "**":
			ok = match(i+1, j) || (j < len(name) && !strings.HasPrefix(name[j], ".") && match(i, j+1))
		case j == len(name):
			ok = false
		case !segMagic(pat[i]):
			ok = unescape(pat[i]) == name[j] && match(i+1, j+1)
		default:
			m, _ := filepath.Match(pat[i], name[j])
			ok = m && !(strings.HasPrefix(name[j], ".") && !strings.HasPrefix(pat[i], ".")) && match(i+1, j+1)
		}
		memo[key] = ok
		return ok
	}
	return match(0, 0)
}

// probe checks that a location target can be read: a file or URL is read, a pattern
// expanded (matching nothing is fine).
func (r *reader) probe(ctx context.Context, t target) error {
	if t.Type == "file" && isGlob(t.Target) {
		_, err := r.glob(ctx, t.Target)
		return err
	}
	_, err := r.read(ctx, t)
	return err
}

// Code hosts. Backstage's AnnotateLocationEntityProcessor asks the SCM integration that
// knows a url location's host for the file's edit URL (backstage.io/edit-url) and its
// directory (backstage.io/source-location); its URL readers fetch a host's "blob" pages
// as the raw file. paved has no integrations configured, so it knows the public hosts'
// conventions: GitHub (github.com, and its raw.githubusercontent.com files), GitLab
// (gitlab.com, or any host with GitLab's "/-/blob/" paths) and Bitbucket Cloud
// (bitbucket.org).

// commitHash is what Backstage takes for a URL pinned to a commit, which has no edit URL.
var commitHash = regexp.MustCompile(`\b[0-9a-f]{40,}\b`)

// pathParts splits a URL path into its segments ("/o/r/blob/main/x" -> o, r, blob, main, x).
func pathParts(u *url.URL) []string {
	return strings.Split(strings.TrimPrefix(u.Path, "/"), "/")
}

// gitHubRaw turns a raw.githubusercontent.com/<owner>/<repo>/<rest> URL into the
// github.com page of the same file with mode ("blob", "edit" or "tree").
func gitHubRaw(u *url.URL, mode string) (*url.URL, bool) {
	p := pathParts(u)
	if len(p) < 4 || p[0] == "" || p[1] == "" {
		return nil, false
	}
	return &url.URL{Scheme: "https", Host: "github.com", Path: "/" + strings.Join(append([]string{p[0], p[1], mode}, p[2:]...), "/")}, true
}

// scmURLs returns the edit URL of the file at raw ("" when its host's convention is
// unknown, or the URL is pinned to a commit) and the URL of its directory.
func scmURLs(raw string) (edit, dir string) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", ""
	}
	parent := func(v *url.URL, keepQuery bool) string {
		d := v.ResolveReference(&url.URL{Path: "./"})
		if keepQuery {
			d.RawQuery = v.RawQuery // as Backstage's integrations resolve relative URLs
		}
		return d.String()
	}
	pinned := commitHash.MatchString(raw)
	p := pathParts(u)
	host := strings.ToLower(u.Hostname())
	switch {
	case host == "github.com" && len(p) > 3 && p[2] == "blob":
		if !pinned {
			edit = strings.Replace(raw, "/blob/", "/edit/", 1)
		}
		return edit, strings.Replace(parent(u, true), "/blob/", "/tree/", 1)
	case host == "raw.githubusercontent.com":
		page, ok := gitHubRaw(u, "edit")
		if !ok {
			break
		}
		if !pinned {
			edit = page.String()
		}
		tree, _ := gitHubRaw(u, "tree")
		return edit, parent(tree, false)
	case strings.Contains(u.Path, "/-/blob/"):
		if !pinned {
			e := *u
			e.Path = strings.Replace(u.Path, "/-/blob/", "/-/edit/", 1)
			e.RawPath = ""
			edit = e.String()
		}
		return edit, parent(u, true)
	case host == "bitbucket.org" && len(p) > 4 && p[2] == "src":
		if !pinned {
			e := *u
			q := e.Query()
			q.Set("mode", "edit")
			q.Set("at", p[3])
			e.RawQuery = q.Encode()
			edit = e.String()
		}
		return edit, parent(u, true)
	}
	return "", parent(u, false)
}

// rawURL returns the URL that serves the content of a file page of a known host (a
// GitHub, GitLab or Bitbucket "blob"/"src" page, which serves HTML); other URLs are read
// as they are.
func rawURL(u *url.URL) *url.URL {
	p := pathParts(u)
	host := strings.ToLower(u.Hostname())
	switch {
	case host == "github.com" && len(p) > 4 && p[2] == "blob":
		return &url.URL{Scheme: "https", Host: "raw.githubusercontent.com", Path: "/" + strings.Join(append(p[:2:2], p[3:]...), "/")}
	case strings.Contains(u.Path, "/-/blob/"):
		r := *u
		r.Path = strings.Replace(u.Path, "/-/blob/", "/-/raw/", 1)
		r.RawPath = ""
		return &r
	case host == "bitbucket.org" && len(p) > 4 && p[2] == "src":
		r := *u
		r.Path = "/" + strings.Join(append(append(p[:2:2], "raw"), p[3:]...), "/")
		r.RawPath = ""
		return &r
	}
	return u
}
