package catalog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/paved-dev/paved/api"
	"github.com/paved-dev/paved/internal/catalog/entity"
	"github.com/paved-dev/paved/internal/controller"
	"github.com/paved-dev/paved/internal/kinds"
	"github.com/paved-dev/paved/internal/store"
)

// Refresh on push. paved's Git host (internal/githost) records every push that changes
// refs in the Repository's status (status.pushes counts them, status.lastPush lists the
// refs). The controller below follows Repository objects through the store's watch, so
// it sees a push made through any replica, and refreshes what the push may have changed:
// every registered location whose url target is a raw file of that repository on this
// server (/git/<ns>/<name>/raw/<ref>/..., for a pushed ref), read whole, and every file
// below any other location that is one, read as Refresh reads an entity's file. It then
// writes status.catalogRefresh.pushes, so that a new leader knows which pushes were
// handled: if it finds more than one push not handled, it refreshes every such URL
// whatever its ref.
//
// URLs of this server's Git host are read in process (LocalGitClient): no network round
// trip, and no token, which the Git host would otherwise ask for.

// LocalGit is what the catalog needs from this server's own Git host; *githost.Host
// implements it.
type LocalGit interface {
	// Local reports whether u names something this server's Git host serves.
	Local(u *url.URL) bool
	// ServeLocal serves a GET of such a URL in process, without credentials.
	ServeLocal(w http.ResponseWriter, r *http.Request)
}

// LocalGitClient returns the HTTP client to give Options.HTTPClient: the default one
// (with its timeouts), except that URLs git.Local accepts are served by git in process.
func LocalGitClient(git LocalGit) *http.Client {
	c := defaultHTTPClient()
	c.Transport = &localGitTransport{git: git, next: c.Transport}
	return c
}

type localGitTransport struct {
	git  LocalGit
	next http.RoundTripper
}

func (t *localGitTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if (req.Method != http.MethodGet && req.Method != http.MethodHead) || !t.git.Local(req.URL) {
		return t.next.RoundTrip(req)
	}
	in := req.Clone(req.Context())
	in.RequestURI = req.URL.RequestURI()
	if in.Body == nil {
		in.Body = http.NoBody
	}
	w := &memResponse{header: http.Header{}}
	t.git.ServeLocal(w, in)
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return &http.Response{Status: fmt.Sprintf("%d %s", w.code, http.StatusText(w.code)), StatusCode: w.code,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: w.header, ContentLength: int64(w.body.Len()),
		Body: io.NopCloser(bytes.NewReader(w.body.Bytes())), Request: req}, nil
}

// memResponse is a ResponseWriter that keeps the answer in memory (the Git host bounds
// a file's size).
type memResponse struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (m *memResponse) Header() http.Header { return m.header }

func (m *memResponse) WriteHeader(code int) {
	if m.code == 0 {
		m.code = code
	}
}

func (m *memResponse) Write(b []byte) (int, error) {
	m.WriteHeader(http.StatusOK)
	return m.body.Write(b)
}

// repositoryStatus is the part of a Repository's status the catalog reads and writes.
type repositoryStatus struct {
	Pushes   int64 `json:"pushes"`
	LastPush struct {
		Refs []pushedRef `json:"refs"`
	} `json:"lastPush"`
	CatalogRefresh *gitRefreshStatus `json:"catalogRefresh,omitempty"`
}

type pushedRef struct {
	Name   string `json:"name"`
	NewSHA string `json:"newSHA"`
}

// gitRefreshStatus is status.catalogRefresh of a Repository: the last push the catalog
// handled, and what it read again for it.
type gitRefreshStatus struct {
	Pushes    int64  `json:"pushes"`
	Time      string `json:"time"`
	Locations int    `json:"locations"`
	Files     int    `json:"files"`
	Errors    int    `json:"errors,omitempty"`
}

// GitPushController returns the controller that refreshes the catalog when a hosted
// repository is pushed to: repos is the Repository kind of the Git host, git recognises
// this server's URLs. Add it to the controller manager with the catalog's others.
func (c *Catalog) GitPushController(repos *kinds.Kind, git LocalGit) (*controller.Controller, error) {
	if repos == nil || git == nil {
		return nil, errors.New("catalog: GitPushController needs the Repository kind and the Git host")
	}
	return controller.New(c.store, controller.ReconcilerFunc(func(ctx context.Context, req controller.Request) (controller.Result, error) {
		return c.reconcilePush(ctx, req, repos, git)
	}), controller.Options{Name: "catalog-git-pushes", For: repos, Workers: 2, Logger: c.log})
}

func (c *Catalog) reconcilePush(ctx context.Context, req controller.Request, repos *kinds.Kind, git LocalGit) (controller.Result, error) {
	obj, err := c.store.Get(ctx, repos, req.Namespace, req.Name)
	if api.IsNotFound(err) {
		return controller.Result{}, nil
	}
	if err != nil {
		return controller.Result{}, err
	}
	if obj.Metadata.DeletionTimestamp != nil {
		return controller.Result{}, nil
	}
	var st repositoryStatus
	if len(obj.Status) > 0 {
		if err := json.Unmarshal(obj.Status, &st); err != nil {
			return controller.Result{}, controller.Terminal(fmt.Errorf("repository %s/%s: status: %w", req.Namespace, req.Name, err))
		}
	}
	var done int64
	if st.CatalogRefresh != nil {
		done = st.CatalogRefresh.Pushes
	}
	if st.Pushes <= done {
		return controller.Result{}, nil
	}
	refs := st.LastPush.Refs
	if st.Pushes != done+1 || len(refs) == 0 {
		refs = nil // pushes this controller did not see: any ref may have changed
	}
	start := time.Now()
	rec, err := c.refreshGitRepository(ctx, git, obj.Metadata.Namespace, obj.Metadata.Name, refs)
	if err != nil {
		return controller.Result{}, err
	}
	rec.Pushes = st.Pushes
	rec.Time = time.Now().UTC().Format(time.RFC3339Nano)
	c.log.Debug("catalog: refreshed after a push", "repository", req.Namespace+"/"+req.Name, "push", st.Pushes,
		"locations", rec.Locations, "files", rec.Files, "errors", rec.Errors, "took", time.Since(start))
	return controller.Result{}, c.writeGitRefreshStatus(ctx, repos, obj, rec)
}

// refreshGitRepository reads again every location and file that is a raw file of the
// repository ns/name at one of refs (any ref when refs is nil). A location or file that
// cannot be read has that in its status and is not retried here; anything else (the
// store failing) is returned, and the push is handled again.
func (c *Catalog) refreshGitRepository(ctx context.Context, git LocalGit, ns, name string, refs []pushedRef) (gitRefreshStatus, error) {
	var rec gitRefreshStatus
	matches := rawURLMatcher(git, ns, name, refs)
	var errs []error
	failed := func(err error) {
		if r := api.ReasonOf(err); r == api.ReasonNotFound || r == api.ReasonBadRequest {
			rec.Errors++ // the location's status says what
			return
		}
		errs = append(errs, err)
	}
	locs, err := c.store.List(ctx, c.locKind, store.ListOptions{})
	if err != nil {
		return rec, err
	}
	whole := map[string]bool{} // uids of the locations read whole
	for i := range locs.Items {
		loc := &locs.Items[i]
		if t := locationOf(loc); t.Type != "url" || !matches(t.Target) || loc.Metadata.DeletionTimestamp != nil {
			continue
		}
		whole[loc.Metadata.UID] = true
		rec.Locations++
		if _, err := c.processLocation(ctx, loc, runOptions{full: true}); err != nil {
			failed(err)
		}
	}
	// Files below other locations: the distinct values of managed-by-location, from the
	// query index, then the location that holds each file's entities.
	key := "metadata.annotations." + entity.AnnotationManagedByLocation
	files, err := c.store.QueryFacets(ctx, store.Selector{Kinds: c.resourceKinds}, key)
	if err != nil {
		return rec, errors.Join(append(errs, err)...)
	}
	for _, f := range files {
		t, ok := parseLocationRef(f.Value)
		if !ok || t.Type != "url" || !matches(t.Target) {
			continue
		}
		objs, _, err := c.store.Query(ctx, store.Selector{Kinds: c.resourceKinds, Limit: 1000,
			Filter: [][]store.FieldRequirement{{{Key: key, Values: []string{f.Value}}}}})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		owners := map[string]api.OwnerReference{}
		for _, o := range objs {
			if own, ok := locationOwner(o); ok && !whole[own.UID] && o.Metadata.Annotations[entity.AnnotationManagedByLocation] == f.Value {
				owners[own.UID] = own
			}
		}
		for _, own := range owners {
			loc, err := c.store.Get(ctx, c.locKind, "", own.Name)
			if api.IsNotFound(err) || (err == nil && (loc.Metadata.UID != own.UID || loc.Metadata.DeletionTimestamp != nil)) {
				continue
			}
			if err != nil {
				errs = append(errs, err)
				continue
			}
			rec.Files++
			if _, err := c.processLocation(ctx, loc, runOptions{root: t}); err != nil {
				failed(err)
			}
		}
	}
	return rec, errors.Join(errs...)
}

// rawURLMatcher returns whether a url target is a raw file of ns/name on this server at
// one of refs: a pushed branch or tag by its short name, or a commit id it now points at
// (in full or abbreviated to at least 7 characters). HEAD always matches; nil refs match
// every ref.
func rawURLMatcher(git LocalGit, ns, name string, refs []pushedRef) func(target string) bool {
	prefix := "/git/" + ns + "/" + name + "/raw/"
	return func(target string) bool {
		u, err := url.Parse(target)
		if err != nil || !git.Local(u) {
			return false
		}
		rest, ok := strings.CutPrefix(u.Path, prefix)
		if !ok {
			return false
		}
		if refs == nil || strings.HasPrefix(rest, "HEAD/") {
			return true
		}
		first, _, _ := strings.Cut(rest, "/")
		for _, r := range refs {
			short := strings.TrimPrefix(strings.TrimPrefix(r.Name, "refs/heads/"), "refs/tags/")
			if short != r.Name && strings.HasPrefix(rest, short+"/") {
				return true
			}
			if len(first) >= 7 && strings.HasPrefix(r.NewSHA, first) {
				return true
			}
		}
		return false
	}
}

// writeGitRefreshStatus records in the Repository's status which push the catalog has
// handled, keeping every other status field; it writes at the resourceVersion it read
// (the Git host records pushes concurrently) and reads again on a conflict.
func (c *Catalog) writeGitRefreshStatus(ctx context.Context, repos *kinds.Kind, obj *api.Object, rec gitRefreshStatus) error {
	cur := obj
	for attempt := 0; ; attempt++ {
		status := map[string]any{}
		if t := bytes.TrimSpace(cur.Status); len(t) > 0 && !bytes.Equal(t, []byte("null")) {
			dec := json.NewDecoder(bytes.NewReader(t))
			dec.UseNumber()
			if err := dec.Decode(&status); err != nil {
				return err
			}
		}
		if n, ok := status["pushes"].(json.Number); ok {
			if v, err := strconv.ParseInt(string(n), 10, 64); err == nil && v < rec.Pushes {
				return nil // recreated meanwhile: not this push's object
			}
		}
		status["catalogRefresh"] = rec
		b, err := json.Marshal(status)
		if err != nil {
			return err
		}
		next := cur.DeepCopy()
		next.Status = b
		_, err = c.store.UpdateStatus(ctx, next)
		if err == nil || api.IsNotFound(err) {
			return nil
		}
		if !api.IsConflict(err) || attempt >= 20 {
			return err
		}
		fresh, gerr := c.store.Get(ctx, repos, obj.Metadata.Namespace, obj.Metadata.Name)
		if api.IsNotFound(gerr) || (gerr == nil && fresh.Metadata.UID != obj.Metadata.UID) {
			return nil
		}
		if gerr != nil {
			return gerr
		}
		cur = fresh
	}
}
