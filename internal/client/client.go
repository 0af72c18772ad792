// Package client is the typed Go client of paved's REST API: discovery, get, list, create,
// update, status update, merge patch, delete and watch, with errors decoded into *api.Status.
// It speaks HTTP only and knows nothing of the server's internals; the CLI and any external
// tool build on it.
package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/paved-dev/paved/api"
	"github.com/paved-dev/paved/internal/kinds"
)

// DefaultTimeout bounds every request except watches, so a hung server cannot hang the CLI.
const DefaultTimeout = 30 * time.Second

// maxErrorBody caps how much of an error body is read; a Status is small.
const maxErrorBody = 1 << 20

// Client talks to one paved API server. It is safe for concurrent use.
type Client struct {
	base      *url.URL
	baseErr   error
	token     string
	http      *http.Client
	userAgent string
	timeout   time.Duration

	mu    sync.Mutex
	kinds []api.APIResource // discovery cache, filled on first use
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client, for example one with custom TLS settings. Its Timeout
// should be zero: a timeout on the client would also cut watches.
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.http = h } }

// WithVersion sets the User-Agent to "paved/<version>".
func WithVersion(version string) Option {
	return func(c *Client) { c.userAgent = "paved/" + version }
}

// WithTimeout bounds each non-watch request; zero or less disables the bound.
func WithTimeout(d time.Duration) Option { return func(c *Client) { c.timeout = d } }

// New returns a client for the server at baseURL (for example "http://127.0.0.1:7007";
// a bare "host:port" means http).
// token, if not empty, is sent as a bearer token. A malformed baseURL is reported by the
// first request.
func New(baseURL, token string, opts ...Option) *Client {
	c := &Client{token: token, userAgent: "paved/dev", timeout: DefaultTimeout}
	addr := baseURL
	if addr != "" && !strings.Contains(addr, "://") {
		addr = "http://" + addr // "host:port", as kubectl's --server accepts
	}
	u, err := url.Parse(addr)
	switch {
	case err != nil:
		c.baseErr = fmt.Errorf("server address %q: %w", baseURL, err)
	case u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
		c.baseErr = fmt.Errorf("server address %q: want http://host:port or https://host:port", baseURL)
	default:
		u.Path = strings.TrimRight(u.Path, "/")
		u.RawPath = ""
		c.base = u
	}
	for _, o := range opts {
		o(c)
	}
	if c.http == nil {
		c.http = &http.Client{Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: DefaultTimeout,
			IdleConnTimeout:       90 * time.Second,
			MaxIdleConnsPerHost:   8,
		}}
	}
	return c
}

// Server returns the base URL the client talks to.
func (c *Client) Server() string {
	if c.base == nil {
		return ""
	}
	return c.base.String()
}

// Kinds returns every kind the server serves (GET /apis). The answer is cached for the
// client's life; RefreshKinds reads it again.
func (c *Client) Kinds(ctx context.Context) ([]api.APIResource, error) {
	c.mu.Lock()
	cached := c.kinds
	c.mu.Unlock()
	if cached != nil {
		return cached, nil
	}
	return c.RefreshKinds(ctx)
}

// RefreshKinds reads the kinds from the server again, for kinds registered at run time.
func (c *Client) RefreshKinds(ctx context.Context) ([]api.APIResource, error) {
	var l api.APIResourceList
	if err := c.do(ctx, http.MethodGet, "/apis", nil, "", nil, &l); err != nil {
		return nil, fmt.Errorf("discover kinds: %w", err)
	}
	if l.Resources == nil {
		l.Resources = []api.APIResource{}
	}
	c.mu.Lock()
	c.kinds = l.Resources
	c.mu.Unlock()
	return l.Resources, nil
}

// ResolveKind finds a kind by what a user types: kind name, plural, singular or short
// name, case-insensitively, optionally qualified as "plural.group". Matching is
// kinds.Resolve's, so the CLI and the server agree on names.
func (c *Client) ResolveKind(ctx context.Context, name string) (api.APIResource, error) {
	rs, err := c.Kinds(ctx)
	if err != nil {
		return api.APIResource{}, err
	}
	res, err := resolve(rs, name)
	if err != nil && !errors.Is(err, kinds.ErrAmbiguous) {
		// The kind may have been registered since the cache was filled.
		if rs, rerr := c.RefreshKinds(ctx); rerr == nil {
			return resolve(rs, name)
		}
	}
	return res, err
}

func resolve(rs []api.APIResource, name string) (api.APIResource, error) {
	ks := make([]*kinds.Kind, len(rs))
	for i, r := range rs {
		ks[i] = &kinds.Kind{Group: r.Group, Version: r.Version, Kind: r.Kind, Plural: r.Plural,
			Singular: r.Singular, ShortNames: r.ShortNames, Namespaced: r.Namespaced}
	}
	k, err := kinds.Resolve(ks, name)
	if err != nil {
		return api.APIResource{}, err
	}
	for i := range ks {
		if ks[i] == k {
			return rs[i], nil
		}
	}
	return api.APIResource{}, fmt.Errorf("unknown kind %q", name) // unreachable
}

// ResourceFor finds the kind of an object by its apiVersion and kind.
func (c *Client) ResourceFor(ctx context.Context, apiVersion, kind string) (api.APIResource, error) {
	find := func(rs []api.APIResource) (api.APIResource, bool) {
		g, v := api.SplitAPIVersion(apiVersion)
		for _, r := range rs {
			if r.Group == g && r.Version == v && r.Kind == kind {
				return r, true
			}
		}
		return api.APIResource{}, false
	}
	rs, err := c.Kinds(ctx)
	if err != nil {
		return api.APIResource{}, err
	}
	if r, ok := find(rs); ok {
		return r, nil
	}
	if rs, err = c.RefreshKinds(ctx); err != nil {
		return api.APIResource{}, err
	}
	if r, ok := find(rs); ok {
		return r, nil
	}
	return api.APIResource{}, fmt.Errorf("no kind %q is served in %q: `paved api-resources` lists the kinds", kind, apiVersion)
}

// ListOptions select and page a list.
type ListOptions struct {
	// Namespace limits a namespaced kind to one namespace; empty lists all namespaces.
	Namespace     string
	LabelSelector string
	FieldSelector string
	// Limit is the page size; 0 lets the server decide.
	Limit    int
	Continue string
}

func (o ListOptions) query() url.Values {
	q := url.Values{}
	if o.LabelSelector != "" {
		q.Set("labelSelector", o.LabelSelector)
	}
	if o.FieldSelector != "" {
		q.Set("fieldSelector", o.FieldSelector)
	}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.Continue != "" {
		q.Set("continue", o.Continue)
	}
	return q
}

// Path returns the URL path of a kind's collection (name empty) or of one object. For a
// namespaced kind an empty namespace addresses the collection across all namespaces.
func Path(r api.APIResource, namespace, name string) string {
	p := "/apis/" + url.PathEscape(r.Group) + "/" + url.PathEscape(r.Version)
	if r.Group == "" {
		// Group-less kinds (none are built in) are addressed like Kubernetes' legacy
		// group: without the group segment.
		p = "/apis/" + url.PathEscape(r.Version)
	}
	if r.Namespaced && namespace != "" {
		p += "/namespaces/" + url.PathEscape(namespace)
	}
	p += "/" + r.Plural
	if name != "" {
		p += "/" + url.PathEscape(name)
	}
	return p
}

// Get reads one object.
func (c *Client) Get(ctx context.Context, r api.APIResource, namespace, name string) (*api.Object, error) {
	if name == "" {
		return nil, errors.New("get: a name is required")
	}
	var o api.Object
	if err := c.do(ctx, http.MethodGet, Path(r, namespace, name), nil, "", nil, &o); err != nil {
		return nil, err
	}
	return &o, nil
}

// List reads one page of a kind's objects.
func (c *Client) List(ctx context.Context, r api.APIResource, opts ListOptions) (*api.List, error) {
	var l api.List
	if err := c.do(ctx, http.MethodGet, Path(r, opts.Namespace, ""), opts.query(), "", nil, &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// ListAll reads every page, following continue tokens from opts.Continue on. The result
// carries the resourceVersion of the last page.
func (c *Client) ListAll(ctx context.Context, r api.APIResource, opts ListOptions) (*api.List, error) {
	var all *api.List
	for {
		l, err := c.List(ctx, r, opts)
		if err != nil {
			return nil, err
		}
		if all == nil {
			all = l
		} else {
			all.Items = append(all.Items, l.Items...)
			all.Metadata.ResourceVersion = l.Metadata.ResourceVersion
		}
		if l.Metadata.Continue == "" || l.Metadata.Continue == opts.Continue {
			all.Metadata.Continue = ""
			if all.Items == nil {
				all.Items = []api.Object{}
			}
			return all, nil
		}
		opts.Continue = l.Metadata.Continue
	}
}

// Create creates obj; its kind is found from apiVersion and kind.
func (c *Client) Create(ctx context.Context, obj *api.Object) (*api.Object, error) {
	r, err := c.ResourceFor(ctx, obj.APIVersion, obj.Kind)
	if err != nil {
		return nil, err
	}
	var out api.Object
	if err := c.do(ctx, http.MethodPost, Path(r, obj.Metadata.Namespace, ""), nil, "application/json", obj, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Update replaces obj's metadata and spec. A non-empty metadata.resourceVersion must match
// the stored one, else the error is a conflict (api.IsConflict).
func (c *Client) Update(ctx context.Context, obj *api.Object) (*api.Object, error) {
	return c.put(ctx, obj, "")
}

// UpdateStatus replaces obj's status.
func (c *Client) UpdateStatus(ctx context.Context, obj *api.Object) (*api.Object, error) {
	return c.put(ctx, obj, "/status")
}

func (c *Client) put(ctx context.Context, obj *api.Object, sub string) (*api.Object, error) {
	r, err := c.ResourceFor(ctx, obj.APIVersion, obj.Kind)
	if err != nil {
		return nil, err
	}
	if obj.Metadata.Name == "" {
		return nil, errors.New("update: metadata.name is required")
	}
	var out api.Object
	p := Path(r, obj.Metadata.Namespace, obj.Metadata.Name) + sub
	if err := c.do(ctx, http.MethodPut, p, nil, "application/json", obj, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Patch applies a JSON merge patch (RFC 7396) to one object.
func (c *Client) Patch(ctx context.Context, r api.APIResource, namespace, name string, patch []byte) (*api.Object, error) {
	if name == "" {
		return nil, errors.New("patch: a name is required")
	}
	var out api.Object
	if err := c.do(ctx, http.MethodPatch, Path(r, namespace, name), nil, "application/merge-patch+json", json.RawMessage(patch), &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteOptions are preconditions on a delete: when set, the stored object must still have
// this uid or resourceVersion, else the error is a conflict.
type DeleteOptions struct {
	UID             string
	ResourceVersion string
}

// Delete deletes one object. An object with finalizers is only marked for deletion; the
// returned object, when the server sends one, shows its deletionTimestamp.
func (c *Client) Delete(ctx context.Context, r api.APIResource, namespace, name string, opts DeleteOptions) (*api.Object, error) {
	if name == "" {
		return nil, errors.New("delete: a name is required")
	}
	q := url.Values{}
	if opts.UID != "" {
		q.Set("uid", opts.UID)
	}
	if opts.ResourceVersion != "" {
		q.Set("resourceVersion", opts.ResourceVersion)
	}
	var raw json.RawMessage
	if err := c.do(ctx, http.MethodDelete, Path(r, namespace, name), q, "", nil, &raw); err != nil {
		return nil, err
	}
	var o api.Object
	if len(bytes.TrimSpace(raw)) == 0 || json.Unmarshal(raw, &o) != nil || o.Kind == "Status" {
		return nil, nil
	}
	return &o, nil
}

// WatchOptions select what a watch reports.
type WatchOptions struct {
	// Namespace limits a namespaced kind to one namespace; empty watches all namespaces.
	Namespace     string
	LabelSelector string
	FieldSelector string
	// ResourceVersion is the revision to watch from, usually a list's; empty means now.
	ResourceVersion string
}

// Watch streams changes to a kind's objects. The channel closes when ctx ends or the
// server closes the stream; an error the server reports mid-stream arrives as an event of
// type api.EventError whose object is the Status. Errors before the stream starts (such
// as api.IsGone for a compacted revision) are returned directly.
func (c *Client) Watch(ctx context.Context, r api.APIResource, opts WatchOptions) (<-chan api.WatchEvent, error) {
	q := ListOptions{LabelSelector: opts.LabelSelector, FieldSelector: opts.FieldSelector}.query()
	q.Set("watch", "true")
	if opts.ResourceVersion != "" {
		q.Set("resourceVersion", opts.ResourceVersion)
	}
	resp, err := c.send(ctx, http.MethodGet, Path(r, opts.Namespace, ""), q, "", nil)
	if err != nil {
		return nil, err
	}
	out := make(chan api.WatchEvent)
	go func() {
		defer close(out)
		defer resp.Body.Close()
		// Closing the body unblocks the reader when ctx ends.
		stop := context.AfterFunc(ctx, func() { resp.Body.Close() })
		defer stop()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			line := bytes.TrimSpace(sc.Bytes())
			if len(line) == 0 {
				continue
			}
			ev := decodeEvent(line)
			select {
			case out <- ev:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

// decodeEvent decodes one line of a watch stream. The object of an ERROR event is a
// Status, which does not fit api.Object's fields; it is carried whole in Object.Status.
func decodeEvent(line []byte) api.WatchEvent {
	var raw struct {
		Type   string          `json:"type"`
		Object json.RawMessage `json:"object"`
	}
	if err := json.Unmarshal(line, &raw); err != nil {
		return api.WatchEvent{Type: api.EventError, Object: statusObject(
			api.NewError(api.ReasonInternalError, "watch: undecodable event: %v", err))}
	}
	if raw.Type == api.EventError {
		return api.WatchEvent{Type: raw.Type, Object: api.Object{APIVersion: "v1", Kind: "Status", Status: raw.Object}}
	}
	ev := api.WatchEvent{Type: raw.Type}
	if err := json.Unmarshal(raw.Object, &ev.Object); err != nil {
		return api.WatchEvent{Type: api.EventError, Object: statusObject(
			api.NewError(api.ReasonInternalError, "watch: undecodable %s event: %v", raw.Type, err))}
	}
	return ev
}

func statusObject(s *api.Status) api.Object {
	b, _ := json.Marshal(s)
	return api.Object{APIVersion: "v1", Kind: "Status", Status: b}
}

// StatusOf returns the Status carried by a watch event of type api.EventError.
func StatusOf(ev api.WatchEvent) *api.Status {
	var s api.Status
	if len(ev.Object.Status) > 0 && json.Unmarshal(ev.Object.Status, &s) == nil && (s.Message != "" || s.Reason != "") {
		return &s
	}
	return api.NewError(api.ReasonInternalError, "the watch stream reported an error without details")
}

// ServerVersion returns the version the server reports at GET /version. A server without
// that endpoint gives an error for which api.IsNotFound is true.
func (c *Client) ServerVersion(ctx context.Context) (string, error) {
	var v struct {
		Version string `json:"version"`
	}
	if err := c.do(ctx, http.MethodGet, "/version", nil, "", nil, &v); err != nil {
		return "", err
	}
	return v.Version, nil
}

// do sends one request with the client's timeout and decodes the answer into out.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, contentType string, body, out any) error {
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	resp, err := c.send(ctx, method, path, q, contentType, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if raw, ok := out.(*json.RawMessage); ok {
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return fmt.Errorf("%s %s: read answer: %w", method, path, err)
		}
		*raw = b
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// send sends one request and returns a response with a 2xx status; any other status
// becomes an *api.Status error.
func (c *Client) send(ctx context.Context, method, path string, q url.Values, contentType string, body any) (*http.Response, error) {
	if c.baseErr != nil {
		return nil, c.baseErr
	}
	u := c.base.String() + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encode request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the paved server at %s: %w", c.base.Redacted(), unwrapURLError(err))
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	return nil, decodeError(resp)
}

// unwrapURLError drops url.Error's "Get "http://...":" prefix, which repeats what the
// caller's message says already.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// decodeError turns a non-2xx answer into an *api.Status, synthesising one when the body
// is not a Status (a proxy's HTML page, say).
func decodeError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var s api.Status
	if json.Unmarshal(b, &s) == nil && (s.Message != "" || s.Reason != "") {
		if s.Code == 0 {
			s.Code = resp.StatusCode
		}
		if s.Reason == "" {
			s.Reason = reasonFor(resp.StatusCode)
		}
		return &s
	}
	msg := strings.TrimSpace(string(b))
	if len(msg) > 200 {
		msg = msg[:200] + "..."
	}
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	st := api.NewError(reasonFor(resp.StatusCode), "server answered %s: %s", resp.Status, msg)
	st.Code = resp.StatusCode
	return st
}

// reasonFor is the inverse of api.CodeFor, for answers that carry no Status.
func reasonFor(code int) string {
	for _, r := range []string{api.ReasonBadRequest, api.ReasonNotFound, api.ReasonConflict, api.ReasonInvalid,
		api.ReasonGone, api.ReasonUnauthorized, api.ReasonForbidden, api.ReasonTooLarge, api.ReasonMethodNotAllowed,
		api.ReasonUnsupportedMedia, api.ReasonServiceUnavailable} {
		if api.CodeFor(r) == code {
			return r
		}
	}
	return api.ReasonInternalError
}
