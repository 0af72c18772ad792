package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/paved-dev/paved/api"
	"github.com/paved-dev/paved/internal/catalog/entity"
	"github.com/paved-dev/paved/internal/controller"
	"github.com/paved-dev/paved/internal/kinds"
	"github.com/paved-dev/paved/internal/store"
)

// Group is the API group of the catalog's own kinds (CatalogLocation).
const Group = "catalog.paved.dev"

// Options configure the catalog.
type Options struct {
	Logger *slog.Logger
	// Locations are registered at start (from the config file's catalog.locations).
	Locations []LocationSpec
	// RefreshInterval is how often every location is read again (jittered); default 5 min.
	RefreshInterval time.Duration
	// Orphans says what happens to entities a location no longer yields: "delete" (default)
	// or "keep" (they stay, annotated backstage.io/orphan: "true").
	Orphans string
	// FileRoots are the directories `file` locations may read below; empty allows none
	// except those of configured locations.
	FileRoots []string
	// HTTPClient reads `url` locations; nil uses a client with timeouts.
	HTTPClient *http.Client
	// MaxFileBytes bounds one location file (default 4 MiB).
	MaxFileBytes int64
	// Replicas says that other processes share the store and that only one of them, the
	// elected leader, runs the controllers (paved serve on PostgreSQL). Locations are then
	// processed only where the catalog's controllers run: on another replica, AddLocation,
	// Refresh and the other calls that read a location now hand the run to the leader
	// through the store and wait for it (see handOff). Without it this process does every
	// run it is asked for itself.
	Replicas bool
}

// LocationSpec is where entities come from: type "url" or "file" and a target. Presence
// "optional" makes a missing target no error.
type LocationSpec struct {
	Type     string `json:"type"`
	Target   string `json:"target"`
	Presence string `json:"presence,omitempty"`
}

// Catalog is the service catalog: kinds in the store, ingestion from locations, relation
// stitching and the Backstage catalog API.
type Catalog struct {
	store *store.Store
	model *entity.Model
	kinds []*kinds.Kind
	opts  Options
	log   *slog.Logger

	locKind *kinds.Kind
	// resourceKinds has one kind per stored resource (versions of a kind share one).
	resourceKinds []*kinds.Kind
	byLowerKind   map[string]*kinds.Kind
	reader        *reader
	stitch        *stitcher
	events        *controller.Recorder

	locksMu sync.Mutex
	locks   map[string]*sync.Mutex

	ctlOnce sync.Once
	ctls    []*controller.Controller
	ctlErr  error
}

// Model is the entity model paved's catalog uses: Backstage's built-in kinds, the
// scaffolder's Template and the AI module's AiResource.
func Model() *entity.Model {
	return entity.NewModel(entity.BuiltinKinds(), entity.ScaffolderKinds(), entity.AIKinds())
}

// New registers the catalog's kinds in st's registry and returns the catalog; its
// controllers run under the controller manager and its API is served by Handler.
func New(st *store.Store, opts Options) (*Catalog, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.RefreshInterval <= 0 {
		opts.RefreshInterval = 5 * time.Minute
	}
	switch opts.Orphans {
	case "":
		opts.Orphans = "delete"
	case "delete", "keep":
	default:
		return nil, fmt.Errorf("catalog: orphans must be delete or keep, not %q", opts.Orphans)
	}
	if opts.MaxFileBytes <= 0 {
		opts.MaxFileBytes = 4 << 20
	}
	model := Model()
	ks, err := RegisterKinds(st.Kinds(), model)
	if err != nil {
		return nil, err
	}
	if err := st.Kinds().Register(locationKind()); err != nil {
		return nil, err
	}
	c := &Catalog{store: st, model: model, kinds: ks, opts: opts, log: opts.Logger,
		byLowerKind: map[string]*kinds.Kind{}, locks: map[string]*sync.Mutex{}}
	c.locKind, _ = st.Kinds().ByGVK(Group+"/v1", "CatalogLocation")
	seen := map[string]bool{}
	for _, k := range ks {
		if !seen[k.Resource()] {
			seen[k.Resource()] = true
			c.resourceKinds = append(c.resourceKinds, k)
		}
		if _, ok := c.byLowerKind[strings.ToLower(k.Kind)]; !ok {
			c.byLowerKind[strings.ToLower(k.Kind)] = k
		}
	}
	c.opts.Locations = append([]LocationSpec(nil), opts.Locations...)
	for i, l := range c.opts.Locations {
		if l.Type == "file" && l.Target != "" {
			abs, err := filepath.Abs(l.Target)
			if err != nil {
				return nil, fmt.Errorf("catalog: location %s: %w", l.Target, err)
			}
			c.opts.Locations[i].Target = abs
		}
	}
	c.reader = newReader(c.opts)
	c.events = controller.NewRecorder(st, "catalog", controller.RecorderOptions{Logger: c.log})
	c.stitch = newStitcher(c)
	return c, nil
}

// kindFor returns the store kind of an entity's apiVersion and kind.
func (c *Catalog) kindFor(apiVersion, kind string) (*kinds.Kind, bool) {
	return c.store.Kinds().ByGVK(apiVersion, kind)
}

// Kinds returns the store kinds of catalog entities.
func (c *Catalog) Kinds() []*kinds.Kind { return c.kinds }

// Store returns the object store the catalog writes to.
func (c *Catalog) Store() *store.Store { return c.store }

// locationKind is the kind of a registered location (what Backstage keeps in its locations
// table): cluster-scoped, named by its id.
func locationKind() kinds.Kind {
	return kinds.Kind{Group: Group, Version: "v1", Kind: "CatalogLocation", Plural: "cataloglocations", ShortNames: []string{"cl"},
		Schema: json.RawMessage(`{"type":"object","required":["type","target"],"properties":{
			"type":{"enum":["url","file"]},
			"target":{"type":"string","minLength":1,"maxLength":4096},
			"presence":{"enum":["required","optional"]}},"additionalProperties":false}`),
		Columns: []api.Column{{Name: "TYPE", JSONPath: ".spec.type"}, {Name: "TARGET", JSONPath: ".spec.target"}}}
}

// Controllers returns the catalog's controllers: one processes registered locations (at
// registration, when they change, and every RefreshInterval), one stitches relations in
// both directions. Add them to the controller manager; the same ones are returned on
// every call.
func (c *Catalog) Controllers() ([]*controller.Controller, error) {
	c.ctlOnce.Do(func() {
		loc, err := c.locationController()
		if err != nil {
			c.ctlErr = err
			return
		}
		st, err := c.stitch.controller()
		if err != nil {
			c.ctlErr = err
			return
		}
		c.ctls = []*controller.Controller{loc, st}
	})
	return c.ctls, c.ctlErr
}

// Start registers the configured locations (Options.Locations) and unregisters the ones
// an earlier configuration registered that this one no longer lists; call it once the
// store is open. Registering is idempotent: a location is its type and target. The
// location controller reads them.
func (c *Catalog) Start(ctx context.Context) error {
	want := map[string]bool{}
	for _, l := range c.opts.Locations {
		t, err := c.normalize(LocationSpec{Type: l.Type, Target: l.Target}, false)
		if err != nil {
			return fmt.Errorf("catalog: configured location %s:%s: %w", l.Type, l.Target, err)
		}
		want[t.key()] = true
		if _, _, err := c.register(ctx, t, l.Presence, true); err != nil {
			return fmt.Errorf("catalog: register configured location %s: %w", t.key(), err)
		}
	}
	locs, err := c.store.List(ctx, c.locKind, store.ListOptions{LabelSelector: labelSource + "=" + sourceConfig})
	if err != nil {
		return fmt.Errorf("catalog: list configured locations: %w", err)
	}
	for i := range locs.Items {
		l := &locs.Items[i]
		if !want[locationOf(l).key()] {
			c.log.Info("catalog: unregistering a location the configuration no longer lists", "location", locationOf(l).key())
			if err := c.DeleteLocation(ctx, l.Metadata.Name); err != nil && !api.IsNotFound(err) {
				return err
			}
		}
	}
	return nil
}

// Replicas. Every replica serves the API, but only the leader runs the catalog's
// controllers, and only the leader's stitcher index is fed by the watch. A run writes each
// entity with its relations complete, computed from that index (see stitcher.announce),
// and the stitcher trusts what it announced; a run on another replica would compute from
// an index that knows nothing, and the leader's stitcher, not knowing what that run is
// about to write, would undo relations half-way through it and redo them later. So every
// run happens on the leader: a replica that does not lead hands it over through the
// CatalogLocation object and waits until the leader has done it. The result, relations
// included, is the one the leader gives, and the call returns once it is in the store. A
// new location needs no request: the leader's location controller reads it at once.

const (
	// annotationRequests holds the runs other replicas asked the leader for, as a JSON
	// object from request id to the file to start from ("type:target"; the location's own
	// target for a full run). The leader removes each request once its run is done.
	annotationRequests = Group + "/run-requests"
	// handOffTimeout bounds how long a replica waits for the leader to do a run.
	handOffTimeout = 15 * time.Minute
)

// leads reports whether this process does runs itself: it runs the catalog's
// controllers, or it is not one of several replicas.
func (c *Catalog) leads() bool { return !c.opts.Replicas || c.stitch.running() }

// handOff has the leader do the run processLocation was asked for here and waits for it;
// it returns what processLocation would: the run (with the location's entities when
// opts.collect, read back from the store) and the error a failed read of the location's
// own target gives.
func (c *Catalog) handOff(ctx context.Context, loc *api.Object, opts runOptions) (*run, error) {
	errTimeout := errors.New("hand-off timeout")
	ctx, cancel := context.WithTimeoutCause(ctx, handOffTimeout, errTimeout)
	defer cancel()
	origin := locationOf(loc)
	root := opts.root
	if opts.full {
		root = origin
	}
	full := root.key() == origin.key()
	r := newRun(ctx, c, origin, ownerRefOf(loc), opts)
	c.log.Debug("catalog: handing a run to the leader", "location", origin.key(), "root", root.key())
	var done *api.Object
	var err error
	if st, _ := readLocationStatus(loc); full && st.LastRefreshTime == "" && loc.Metadata.Generation == 1 {
		// Registered just now: the leader's location controller reads it anyway.
		done, err = c.waitLocation(ctx, loc, func(o *api.Object) bool {
			st, _ := readLocationStatus(o)
			return st.LastRefreshTime != ""
		})
	} else {
		var id string
		if id, err = c.requestRun(ctx, loc, root.key()); err == nil {
			done, err = c.waitLocation(ctx, loc, func(o *api.Object) bool {
				_, pending := runRequestsOf(o)[id]
				return !pending
			})
		}
	}
	if api.IsNotFound(err) {
		return r, nil // unregistered meanwhile, as a run here would find
	}
	if err != nil {
		if context.Cause(ctx) == errTimeout {
			err = api.NewError(api.ReasonServiceUnavailable, "location %s: no leader has read it within %v (is a replica leading?); the request stays and the next leader will",
				origin.key(), handOffTimeout)
		}
		return r, err
	}
	if cond := controller.GetCondition(done, api.ConditionReady); full && cond != nil && cond.Reason == "ReadFailed" && cond.Status == api.ConditionFalse {
		if strings.Contains(cond.Message, "does not exist") {
			return r, api.NewError(api.ReasonNotFound, "location %s: %s", origin.key(), cond.Message)
		}
		return r, api.NewBadRequest("location %s: %s", origin.key(), cond.Message)
	}
	if opts.collect {
		r.collected, err = c.ownedEntities(ctx, done)
	}
	return r, err
}

// runRequestsOf returns the pending run requests of a CatalogLocation.
func runRequestsOf(o *api.Object) map[string]string {
	reqs := map[string]string{}
	if v := o.Metadata.Annotations[annotationRequests]; v != "" {
		_ = json.Unmarshal([]byte(v), &reqs) // garbage is no request
	}
	return reqs
}

// requestRun asks the leader for a run of loc from the file root and returns the
// request's id.
func (c *Catalog) requestRun(ctx context.Context, loc *api.Object, root string) (string, error) {
	id := uuid.NewString()
	cur := loc
	for attempt := 0; ; attempt++ {
		reqs := runRequestsOf(cur)
		reqs[id] = root
		b, err := json.Marshal(reqs)
		if err != nil {
			return "", err
		}
		next := cur.DeepCopy()
		if next.Metadata.Annotations == nil {
			next.Metadata.Annotations = map[string]string{}
		}
		next.Metadata.Annotations[annotationRequests] = string(b)
		_, err = c.store.Update(ctx, next) // at cur's resourceVersion: requests are never lost
		if err == nil || !api.IsConflict(err) || attempt >= 20 {
			return id, err
		}
		if cur, err = c.store.Get(ctx, c.locKind, "", loc.Metadata.Name); err != nil {
			return "", err
		}
		if cur.Metadata.UID != loc.Metadata.UID {
			return "", api.NewNotFound("Location", loc.Metadata.Name)
		}
	}
}

// serveRunRequests does, on the leader, the runs other replicas asked for and then
// removes their requests; the caller holds the location's lock. It reports whether it
// did a full run. A run that fails for another reason than its own file is kept for
// the controller's retry.
func (c *Catalog) serveRunRequests(ctx context.Context, loc *api.Object) (bool, error) {
	reqs := runRequestsOf(loc)
	if len(reqs) == 0 {
		return false, nil
	}
	origin := locationOf(loc)
	full := false
	var roots []target
	for _, k := range reqs {
		t, ok := parseLocationRef(k)
		if !ok || t.key() == origin.key() {
			full = true
		} else if !slices.Contains(roots, t) {
			roots = append(roots, t)
		}
	}
	var err error
	if full {
		_, err = c.processLocked(ctx, loc, runOptions{full: true})
	} else {
		slices.SortFunc(roots, func(a, b target) int { return strings.Compare(a.key(), b.key()) })
		for _, t := range roots {
			if _, rerr := c.processLocked(ctx, loc, runOptions{root: t}); rerr != nil {
				err = errors.Join(err, rerr)
			}
		}
	}
	if ctx.Err() != nil {
		return full, ctx.Err() // the requests stay for the next leader
	}
	// A location whose own target cannot be read has its status written: that answers.
	if reason := api.ReasonOf(err); err != nil && reason != api.ReasonNotFound && reason != api.ReasonBadRequest {
		return full, err
	}
	for attempt := 0; ; attempt++ {
		cur, gerr := c.store.Get(ctx, c.locKind, "", loc.Metadata.Name)
		if api.IsNotFound(gerr) || (gerr == nil && cur.Metadata.UID != loc.Metadata.UID) {
			return full, err
		}
		if gerr != nil {
			return full, errors.Join(err, gerr)
		}
		left := runRequestsOf(cur)
		for id := range reqs {
			delete(left, id)
		}
		if len(left) == 0 {
			delete(cur.Metadata.Annotations, annotationRequests)
		} else {
			b, _ := json.Marshal(left)
			cur.Metadata.Annotations[annotationRequests] = string(b)
		}
		_, uerr := c.store.Update(ctx, cur)
		if api.IsConflict(uerr) && attempt < 20 {
			continue
		}
		return full, errors.Join(err, uerr)
	}
}

// waitLocation waits until done holds for the CatalogLocation loc (the same object: a
// location unregistered meanwhile is NotFound), following the store's watch.
func (c *Catalog) waitLocation(ctx context.Context, loc *api.Object, done func(*api.Object) bool) (*api.Object, error) {
	name, uid := loc.Metadata.Name, loc.Metadata.UID
	gone := func(o *api.Object) bool { return o.Metadata.UID != uid }
	for {
		rev, err := c.store.Revision(ctx)
		if err != nil {
			return nil, err
		}
		cur, err := c.store.Get(ctx, c.locKind, "", name)
		if err == nil && gone(cur) {
			err = api.NewNotFound("Location", name)
		}
		if err != nil {
			return nil, err
		}
		if done(cur) {
			return cur, nil
		}
		if o, err := c.watchLocation(ctx, rev, name, gone, done); o != nil || err != nil {
			return o, err
		}
		// The watch ended (expired, or the store's watch failed): look again.
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// watchLocation follows the CatalogLocation name from revision rev until done holds; it
// returns nil, nil when the watch ends first.
func (c *Catalog) watchLocation(ctx context.Context, rev int64, name string, gone, done func(*api.Object) bool) (*api.Object, error) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := c.store.Watch(wctx, store.WatchOptions{Kind: c.locKind, ResourceVersion: fmt.Sprint(rev)})
	if err != nil {
		return nil, nil
	}
	for ev := range ch {
		switch {
		case ev.Type == api.EventError:
			return nil, nil
		case ev.Object.Metadata.Name != name:
		case ev.Type == api.EventDeleted || gone(ev.Object):
			return nil, api.NewNotFound("Location", name)
		case done(ev.Object):
			return ev.Object, nil
		}
	}
	return nil, ctx.Err()
}

// ownedEntities returns the entities a location holds (at most maxCollected, its own
// Location entity first) as a run collects them: as read from their files, with their own
// relations only.
func (c *Catalog) ownedEntities(ctx context.Context, loc *api.Object) ([]*entity.Entity, error) {
	rootRef := entity.CompoundRef{Kind: "Location", Namespace: entity.DefaultNamespace, Name: generatedName(locationOf(loc))}.String()
	enough := errors.New("enough")
	var out []*entity.Entity
	err := c.eachOwned(ctx, loc.Metadata.UID, func(o *api.Object) error {
		if len(out) >= maxCollected {
			return enough
		}
		cp := *o
		cp.Metadata.UID, cp.Metadata.ResourceVersion, cp.Status = "", "", nil
		cp.Relations = c.outgoingOf(o)
		e, err := ToEntity(&cp)
		if err != nil {
			return nil
		}
		if canonicalRef(o) == rootRef {
			out = slices.Insert(out, 0, e)
		} else {
			out = append(out, e)
		}
		return nil
	})
	if errors.Is(err, enough) {
		err = nil
	}
	return out, err
}

// locationNamespace makes the names of CatalogLocations registered from now on.
var locationNamespace = uuid.MustParse("5d0e6f2c-6a39-4f4b-9f7e-3c1b2a7d8e41")

// createLocation stores a new CatalogLocation for t, named by a UUID made from t: when
// two replicas register the same location at once (every replica registers the
// configured ones when it starts), the second finds the first's. An older location with
// that name and another target (changed since) leaves the new one a random name.
func (c *Catalog) createLocation(ctx context.Context, t target, obj *api.Object) (*api.Object, bool, error) {
	obj.Metadata.Name = uuid.NewSHA1(locationNamespace, []byte(t.key())).String()
	o, err := c.store.Create(ctx, obj)
	if !api.IsAlreadyExists(err) {
		return o, false, err
	}
	cur, err := c.store.Get(ctx, c.locKind, "", obj.Metadata.Name)
	if err == nil && locationOf(cur).key() == t.key() {
		return cur, true, nil
	}
	obj.Metadata.Name = uuid.NewString()
	o, err = c.store.Create(ctx, obj)
	return o, false, err
}
