package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/paved-dev/paved/api"
	"github.com/paved-dev/paved/internal/catalog/entity"
	"github.com/paved-dev/paved/internal/controller"
	"github.com/paved-dev/paved/internal/store"
)

// Location is a registered location as the Backstage catalog API shows it.
type Location struct {
	ID     string `json:"id"`
	Type   string `json:"type"`
	Target string `json:"target"`
}

const (
	// labelSource says who registered a CatalogLocation: "config" (the configuration file,
	// reconciled by Start) or "api".
	labelSource  = Group + "/source"
	sourceConfig = "config"
	sourceAPI    = "api"
	// annotationRefreshRequested asks the location controller to process a location now
	// (an RFC 3339 time later than its status.lastRefreshTime).
	annotationRefreshRequested = Group + "/refresh-requested-at"
	// maxStatusErrors bounds status.errors; status.errorCount has the total.
	maxStatusErrors = 100
	// maxRootItems bounds the status items of a location's own Location entity.
	maxRootItems = 50
)

type locationSpecFields struct {
	Type     string `json:"type"`
	Target   string `json:"target"`
	Presence string `json:"presence,omitempty"`
}

func specOfLocation(o *api.Object) locationSpecFields {
	var s locationSpecFields
	_ = json.Unmarshal(o.Spec, &s) // the kind's schema has validated it
	return s
}

// locationOf returns the target of a CatalogLocation.
func locationOf(o *api.Object) target {
	s := specOfLocation(o)
	return target{Type: s.Type, Target: s.Target}
}

func toLocation(o *api.Object) Location {
	t := locationOf(o)
	return Location{ID: o.Metadata.Name, Type: t.Type, Target: t.Target}
}

func ownerRefOf(loc *api.Object) api.OwnerReference {
	return api.OwnerReference{APIVersion: Group + "/v1", Kind: "CatalogLocation", Name: loc.Metadata.Name, UID: loc.Metadata.UID}
}

// normalize checks a location spec and returns its canonical target: an absolute, clean
// path for file (below the allowed roots when checkRoots), a parsed http(s) URL for url.
func (c *Catalog) normalize(spec LocationSpec, checkRoots bool) (target, error) {
	tgt := strings.TrimSpace(spec.Target)
	if tgt == "" {
		return target{}, api.NewBadRequest("a location needs a target")
	}
	switch spec.Presence {
	case "", "required", "optional":
	default:
		return target{}, api.NewBadRequest("presence must be required or optional, not %q", spec.Presence)
	}
	switch spec.Type {
	case "file":
		tgt = strings.TrimPrefix(tgt, "file://")
		abs, err := filepath.Abs(tgt)
		if err != nil {
			return target{}, api.NewBadRequest("file target %q: %v", tgt, err)
		}
		t := target{Type: "file", Target: filepath.Clean(abs)}
		if checkRoots && isGlob(t.Target) {
			// A pattern: the directories it starts from must be below a root.
			if err := c.reader.checkGlob(t.Target); err != nil {
				return target{}, api.NewBadRequest("%v", err)
			}
		} else if checkRoots {
			if _, err := c.reader.checkFile(t.Target); err != nil && !isNotFoundRead(err) {
				return target{}, api.NewBadRequest("%v", err)
			}
		}
		return t, nil
	case "url":
		u, err := checkURL(tgt)
		if err != nil {
			return target{}, api.NewBadRequest("%v", err)
		}
		return target{Type: "url", Target: u.String()}, nil
	}
	return target{}, api.NewBadRequest("location type must be url or file, not %q", spec.Type)
}

// findLocation returns the registered location with target t, or nil.
func (c *Catalog) findLocation(ctx context.Context, t target) (*api.Object, error) {
	l, err := c.store.List(ctx, c.locKind, store.ListOptions{})
	if err != nil {
		return nil, err
	}
	for i := range l.Items {
		if locationOf(&l.Items[i]).key() == t.key() {
			return &l.Items[i], nil
		}
	}
	return nil, nil
}

// register stores a CatalogLocation for t unless one exists; it reports whether one did.
func (c *Catalog) register(ctx context.Context, t target, presence string, fromConfig bool) (*api.Object, bool, error) {
	unlock := c.lock("register")
	defer unlock()
	if o, err := c.findLocation(ctx, t); err != nil || o != nil {
		return o, o != nil, err
	}
	spec, _ := json.Marshal(locationSpecFields{Type: t.Type, Target: t.Target, Presence: presence})
	source := sourceAPI
	if fromConfig {
		source = sourceConfig
	}
	return c.createLocation(ctx, t, &api.Object{APIVersion: Group + "/v1", Kind: "CatalogLocation",
		Metadata: api.ObjectMeta{Labels: map[string]string{labelSource: source}}, Spec: spec})
}

// lock serialises work on one location (or on registration) within this process.
func (c *Catalog) lock(id string) func() {
	c.locksMu.Lock()
	m, ok := c.locks[id]
	if !ok {
		m = &sync.Mutex{}
		c.locks[id] = m
	}
	c.locksMu.Unlock()
	m.Lock()
	return m.Unlock
}

// AddLocation registers a location and processes it now, returning the location, the
// entities it yields (at most 10,000), and whether it already existed (then nothing is
// processed). With dryRun nothing is written: the location is read and checked, and an
// error lists every problem found.
func (c *Catalog) AddLocation(ctx context.Context, spec LocationSpec, dryRun bool) (Location, []*entity.Entity, bool, error) {
	t, err := c.normalize(spec, true)
	if err != nil {
		return Location{}, nil, false, err
	}
	existing, err := c.findLocation(ctx, t)
	if err != nil {
		return Location{}, nil, false, err
	}
	optional := spec.Presence == "optional"
	if dryRun {
		loc := Location{ID: uuid.NewString(), Type: t.Type, Target: t.Target}
		var owner api.OwnerReference
		if existing != nil {
			loc.ID = existing.Metadata.Name
			owner = ownerRefOf(existing)
		}
		r := newRun(ctx, c, t, owner, runOptions{root: t, full: true, dryRun: true, collect: true, optional: optional})
		if err := r.execute(); err != nil {
			return Location{}, nil, false, readFailure(t, err)
		}
		if len(r.errs) > 0 {
			msgs := make([]string, len(r.errs))
			for i, pe := range r.errs {
				msgs[i] = pe.String()
			}
			return Location{}, nil, false, api.NewBadRequest("location %s has errors: %s", t.key(), strings.Join(msgs, "; "))
		}
		return loc, r.collected, existing != nil, nil
	}
	if existing != nil {
		return toLocation(existing), nil, true, nil
	}
	// Read the target once before registering it: a location that cannot be read is
	// refused rather than registered broken (a pattern is expanded; matching nothing is fine).
	if err := c.reader.probe(ctx, t); err != nil && !(optional && isNotFoundRead(err)) {
		return Location{}, nil, false, readFailure(t, err)
	}
	o, existed, err := c.register(ctx, t, spec.Presence, false)
	if err != nil {
		return Location{}, nil, false, err
	}
	if existed {
		return toLocation(o), nil, true, nil
	}
	r, err := c.processLocation(ctx, o, runOptions{full: true, collect: true})
	if err != nil {
		return toLocation(o), nil, false, err
	}
	return toLocation(o), r.collected, false, nil
}

// readFailure maps a failure to read a location's own target to an API error.
func readFailure(t target, err error) error {
	var se *api.Status
	if errors.As(err, &se) {
		return err
	}
	if isNotFoundRead(err) {
		return api.NewError(api.ReasonNotFound, "location %s: %v", t.key(), err)
	}
	var re *readError
	if errors.As(err, &re) {
		return api.NewBadRequest("location %s cannot be read: %v", t.key(), err)
	}
	return err
}

// GetLocation returns a registered location by id.
func (c *Catalog) GetLocation(ctx context.Context, id string) (Location, error) {
	o, err := c.store.Get(ctx, c.locKind, "", id)
	if err != nil {
		if api.IsNotFound(err) {
			return Location{}, api.NewNotFound("Location", id)
		}
		return Location{}, err
	}
	return toLocation(o), nil
}

// ListLocations returns every registered location.
func (c *Catalog) ListLocations(ctx context.Context) ([]Location, error) {
	l, err := c.store.List(ctx, c.locKind, store.ListOptions{})
	if err != nil {
		return nil, err
	}
	out := make([]Location, 0, len(l.Items))
	for i := range l.Items {
		out = append(out, toLocation(&l.Items[i]))
	}
	return out, nil
}

// DeleteLocation unregisters a location. The entities it yielded are deleted, or, with
// Options.Orphans "keep", marked backstage.io/orphan and released for another location to
// claim.
func (c *Catalog) DeleteLocation(ctx context.Context, id string) error {
	unlock := c.lock(id)
	defer unlock()
	loc, err := c.store.Get(ctx, c.locKind, "", id)
	if err != nil {
		if api.IsNotFound(err) {
			return api.NewNotFound("Location", id)
		}
		return err
	}
	var owned []*existingEntity
	err = c.eachOwned(ctx, loc.Metadata.UID, func(o *api.Object) error {
		if ex, err := c.toExisting(o); err == nil {
			owned = append(owned, ex)
		}
		return nil
	})
	if err != nil {
		return err
	}
	var mu sync.Mutex
	var errs []error
	parallel(ctx, owned, 4, func(ex *existingEntity) {
		var err error
		if c.opts.Orphans == "keep" {
			err = c.markOrphan(ctx, ex, true)
		} else {
			_, err = c.store.Delete(ctx, ex.kind, ex.ns, ex.name, store.DeleteOptions{UID: ex.uid})
			if api.IsNotFound(err) || api.IsConflict(err) {
				err = nil
			}
		}
		if err != nil {
			mu.Lock()
			errs = append(errs, fmt.Errorf("%s %s/%s: %w", ex.kind.Kind, ex.ns, ex.name, err))
			mu.Unlock()
		}
	})
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("delete the entities of location %s: %w", id, err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, err := c.store.Delete(ctx, c.locKind, "", id, store.DeleteOptions{UID: loc.Metadata.UID}); err != nil && !api.IsNotFound(err) {
		return err
	}
	c.requeueConflicted(ctx, id)
	return nil
}

// LocationByEntity returns the registered location an entity came from.
func (c *Catalog) LocationByEntity(ctx context.Context, ref entity.CompoundRef) (Location, error) {
	obj, err := c.getEntity(ctx, ref)
	if err != nil {
		return Location{}, err
	}
	own, ok := locationOwner(obj)
	if !ok {
		return Location{}, api.NewNotFound("Location", "of entity "+ref.String())
	}
	loc, err := c.store.Get(ctx, c.locKind, "", own.Name)
	if err != nil {
		if api.IsNotFound(err) {
			return Location{}, api.NewNotFound("Location", "of entity "+ref.String())
		}
		return Location{}, err
	}
	return toLocation(loc), nil
}

func (c *Catalog) getEntity(ctx context.Context, ref entity.CompoundRef) (*api.Object, error) {
	k, ok := c.byLowerKind[strings.ToLower(ref.Kind)]
	if !ok {
		return nil, api.NewNotFound("Entity", ref.String())
	}
	obj, err := c.store.Get(ctx, k, strings.ToLower(ref.Namespace), ref.Name)
	if api.IsNotFound(err) {
		return nil, api.NewNotFound(k.Kind, ref.String())
	}
	return obj, err
}

// Refresh reads again, now, the file that yielded the entity (a ref such as
// "component:default/artist-lookup") and the locations below it, so a changed file is
// visible at once. The location's own Location entity, or an entity of its top file,
// refreshes the whole location. An entity no location manages has nothing to refresh.
func (c *Catalog) Refresh(ctx context.Context, entityRef string) error {
	ref, err := entity.ParseRef(entityRef, entity.RefDefaults{})
	if err != nil {
		return api.NewBadRequest("%v", err)
	}
	obj, err := c.getEntity(ctx, ref)
	if err != nil {
		return err
	}
	own, ok := locationOwner(obj)
	if !ok {
		return nil
	}
	loc, err := c.store.Get(ctx, c.locKind, "", own.Name)
	if api.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	origin := locationOf(loc)
	file, ok := parseLocationRef(obj.Metadata.Annotations[entity.AnnotationManagedByLocation])
	opts := runOptions{root: file}
	rootRef := entity.CompoundRef{Kind: "Location", Namespace: entity.DefaultNamespace, Name: generatedName(origin)}.String()
	if !ok || file.key() == origin.key() || canonicalRef(obj) == rootRef {
		opts = runOptions{full: true}
	}
	_, err = c.processLocation(ctx, loc, opts)
	return err
}

// processLocation runs the location (or, for a refresh, one file below it) and records
// the outcome in its status.
func (c *Catalog) processLocation(ctx context.Context, loc *api.Object, opts runOptions) (*run, error) {
	if !c.leads() {
		return c.handOff(ctx, loc, opts) // another replica leads: it does the run
	}
	unlock := c.lock(loc.Metadata.Name)
	defer unlock()
	return c.processLocked(ctx, loc, opts)
}

// processLocked is processLocation for a caller that holds the location's lock.
func (c *Catalog) processLocked(ctx context.Context, loc *api.Object, opts runOptions) (*run, error) {
	origin := locationOf(loc)
	if opts.full {
		opts.root = origin
		opts.optional = specOfLocation(loc).Presence == "optional"
	}
	started := time.Now()
	r := newRun(ctx, c, origin, ownerRefOf(loc), opts)
	err := r.execute()
	if ctx.Err() != nil {
		return r, ctx.Err()
	}
	if serr := c.writeLocationStatus(ctx, loc.Metadata.Name, r, err, started); serr != nil && !api.IsNotFound(serr) {
		err = errors.Join(err, serr)
	}
	if r.stats.Deleted > 0 || r.stats.Orphaned > 0 {
		c.requeueConflicted(ctx, loc.Metadata.Name)
	}
	c.log.Debug("catalog: processed location", "location", origin.key(), "full", opts.full, "root", opts.root.key(),
		"created", r.stats.Created, "updated", r.stats.Updated, "unchanged", r.stats.Unchanged,
		"deleted", r.stats.Deleted, "orphaned", r.stats.Orphaned, "errors", len(r.errs), "took", time.Since(started))
	var re *rootError
	if errors.As(err, &re) {
		return r, readFailure(origin, re.err)
	}
	return r, err
}

// locationStatus is the catalog's part of a CatalogLocation's status (conditions and
// observedGeneration are the controller runtime's).
type locationStatus struct {
	Entities        int               `json:"entities"`
	Errors          []ProcessingError `json:"errors,omitempty"`
	ErrorCount      int               `json:"errorCount,omitempty"`
	Conflicts       int               `json:"conflicts,omitempty"`
	LastRefreshTime string            `json:"lastRefreshTime,omitempty"`
	NextRefreshTime string            `json:"nextRefreshTime,omitempty"`
	LastRun         *lastRun          `json:"lastRun,omitempty"`
}

type lastRun struct {
	Root      string `json:"root"`
	Created   int    `json:"created"`
	Updated   int    `json:"updated"`
	Unchanged int    `json:"unchanged"`
	Deleted   int    `json:"deleted"`
	Orphaned  int    `json:"orphaned,omitempty"`
	Duration  string `json:"duration"`
}

func readLocationStatus(o *api.Object) (locationStatus, map[string]any) {
	var st locationStatus
	var raw map[string]any
	if len(o.Status) > 0 {
		_ = json.Unmarshal(o.Status, &st)
		_ = json.Unmarshal(o.Status, &raw)
	}
	if raw == nil {
		raw = map[string]any{}
	}
	return st, raw
}

// writeLocationStatus records a run in the CatalogLocation's status and conditions, and
// its errors in the status items of the location's own Location entity.
func (c *Catalog) writeLocationStatus(ctx context.Context, id string, r *run, runErr error, started time.Time) error {
	loc, err := c.store.Get(ctx, c.locKind, "", id)
	if err != nil {
		return err
	}
	patcher := controller.NewStatusPatcher(c.store, loc)
	old, raw := readLocationStatus(loc)
	now := time.Now().UTC()
	var errs []ProcessingError
	var re *rootError
	switch {
	case errors.As(runErr, &re):
		errs = []ProcessingError{{Reason: ReasonReadFailed, File: r.opts.root.key(), Entity: r.rootRef, Message: re.err.Error()}}
	case r.opts.full:
		errs = r.errs
	default:
		// A refresh of one file replaces only the errors of the files it read.
		for _, pe := range old.Errors {
			if !r.visited[pe.File] {
				errs = append(errs, pe)
			}
		}
		errs = append(errs, r.errs...)
	}
	conflicts := 0
	for _, pe := range errs {
		if pe.Reason == ReasonConflict {
			conflicts++
		}
	}
	total := len(errs)
	if !r.opts.full && old.ErrorCount > len(old.Errors) {
		total += old.ErrorCount - len(old.Errors)
	}
	shown := errs
	if len(shown) > maxStatusErrors {
		shown = shown[:maxStatusErrors]
	}
	set := func(k string, v any, keep bool) {
		if keep {
			raw[k] = v
		} else {
			delete(raw, k)
		}
	}
	set("errors", shown, len(shown) > 0)
	set("errorCount", total, total > 0)
	set("conflicts", conflicts, conflicts > 0)
	entities := old.Entities
	if r.opts.full && runErr == nil {
		entities = len(r.yielded)
	} else if runErr == nil {
		entities += r.stats.Created - r.stats.Deleted
	}
	raw["entities"] = entities
	if r.opts.full {
		raw["lastRefreshTime"] = now.Format(time.RFC3339Nano)
		if runErr == nil {
			raw["nextRefreshTime"] = now.Add(c.jitter()).Format(time.RFC3339Nano)
		} else {
			delete(raw, "nextRefreshTime") // retried with backoff
		}
	}
	raw["lastRun"] = lastRun{Root: r.opts.root.key(), Created: r.stats.Created, Updated: r.stats.Updated,
		Unchanged: r.stats.Unchanged, Deleted: r.stats.Deleted, Orphaned: r.stats.Orphaned,
		Duration: time.Since(started).Round(time.Millisecond).String()}
	b, err := json.Marshal(raw)
	if err != nil {
		return err
	}
	loc.Status = b
	switch {
	case runErr != nil:
		err = controller.MarkFailed(loc, "ReadFailed", fmt.Sprintf("%s cannot be read: %v", r.opts.root.key(), runErr))
	case total > 0:
		err = controller.MarkStalled(loc, "ProcessingErrors", fmt.Sprintf("%d problem(s) in the location's files; see status.errors (first: %s)", total, errs[0].String()))
	default:
		err = controller.MarkReady(loc, "Processed", fmt.Sprintf("%d entities", entities))
	}
	if err != nil {
		return err
	}
	if _, err := patcher.Patch(ctx, loc); err != nil {
		return err
	}
	if total > 0 && total != old.ErrorCount {
		c.events.Warning(ctx, loc, "ProcessingErrors", fmt.Sprintf("%d problem(s) in the location's files; first: %s", total, errs[0].String()))
	}
	items := errs
	if len(items) > maxRootItems {
		items = items[:maxRootItems]
	}
	if k, ok := c.kindFor("backstage.io/v1alpha1", "Location"); ok && !r.opts.dryRun {
		if err := c.setStatusItems(ctx, k, entity.DefaultNamespace, generatedName(locationOf(loc)), statusItems(items)); err != nil && !api.IsNotFound(err) {
			return err
		}
	}
	return nil
}

// jitter returns the refresh interval give or take 10%, so that locations registered
// together are not all read at the same moment.
func (c *Catalog) jitter() time.Duration {
	d := c.opts.RefreshInterval
	return d - d/10 + time.Duration(rand.Int64N(int64(d/5)+1))
}

// due reports whether a location should be processed now, or how long until it should.
func (c *Catalog) due(loc *api.Object, now time.Time) (bool, time.Duration) {
	st, raw := readLocationStatus(loc)
	if og, _ := raw["observedGeneration"].(float64); int64(og) != loc.Metadata.Generation {
		return true, 0
	}
	last, err := time.Parse(time.RFC3339Nano, st.LastRefreshTime)
	if err != nil {
		return true, 0
	}
	if req, err := time.Parse(time.RFC3339Nano, loc.Metadata.Annotations[annotationRefreshRequested]); err == nil && req.After(last) {
		return true, 0
	}
	next, err := time.Parse(time.RFC3339Nano, st.NextRefreshTime)
	if err != nil || !now.Before(next) {
		return true, 0
	}
	return false, next.Sub(now)
}

// requeueConflicted asks the locations that lost an entity to another to try again: the
// other may just have let it go.
func (c *Catalog) requeueConflicted(ctx context.Context, except string) {
	l, err := c.store.List(ctx, c.locKind, store.ListOptions{})
	if err != nil {
		return
	}
	now := time.Now().UTC().Format(time.RFC3339Nano)
	for i := range l.Items {
		o := &l.Items[i]
		if st, _ := readLocationStatus(o); st.Conflicts == 0 || o.Metadata.Name == except {
			continue
		}
		if o.Metadata.Annotations == nil {
			o.Metadata.Annotations = map[string]string{}
		}
		o.Metadata.Annotations[annotationRefreshRequested] = now
		o.Metadata.ResourceVersion = ""
		if _, err := c.store.Update(ctx, o); err != nil && !api.IsNotFound(err) {
			c.log.Warn("catalog: cannot ask a location to refresh", "location", o.Metadata.Name, "err", err)
		}
	}
}

// locationExists reports whether the CatalogLocation an owner reference names still exists.
func (c *Catalog) locationExists(ctx context.Context, own api.OwnerReference) bool {
	o, err := c.store.Get(ctx, c.locKind, "", own.Name)
	return err == nil && o.Metadata.UID == own.UID
}

// locationController processes CatalogLocations: when they are registered or changed,
// when a refresh is requested, and every RefreshInterval (jittered).
func (c *Catalog) locationController() (*controller.Controller, error) {
	return controller.New(c.store, controller.ReconcilerFunc(c.reconcileLocation), controller.Options{
		Name:         "catalog-locations",
		For:          c.locKind,
		Workers:      2,
		ResyncPeriod: c.opts.RefreshInterval,
		Logger:       c.log,
	})
}

func (c *Catalog) reconcileLocation(ctx context.Context, req controller.Request) (controller.Result, error) {
	// Read the location under its lock: a synchronous AddLocation or Refresh may have
	// just processed it.
	unlock := c.lock(req.Name)
	defer unlock()
	loc, err := c.store.Get(ctx, c.locKind, "", req.Name)
	if api.IsNotFound(err) {
		return controller.Result{}, nil
	}
	if err != nil {
		return controller.Result{}, err
	}
	if loc.Metadata.DeletionTimestamp != nil {
		return controller.Result{}, nil
	}
	if full, err := c.serveRunRequests(ctx, loc); err != nil || full {
		return controller.Result{RequeueAfter: c.jitter()}, err // runs other replicas asked for
	}
	if due, wait := c.due(loc, time.Now()); !due {
		return controller.Result{RequeueAfter: wait}, nil
	}
	if _, err := c.processLocked(ctx, loc, runOptions{full: true}); err != nil {
		return controller.Result{}, err
	}
	return controller.Result{RequeueAfter: c.jitter()}, nil
}
