// Package gc owns owner-reference garbage collection: an object whose every
// ownerReference points at an owner that no longer exists is deleted (through the store,
// so finalizers are respected and the delete produces its own event, which cascades to the
// object's own dependents). It runs as a controller under the manager, on the leader only.
// It never deletes an object whose owner's kind is unknown (kinds registered at run time
// may not be back yet after a restart), and never touches objects without owners.
package gc

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/paved-dev/paved/api"
	"github.com/paved-dev/paved/internal/controller"
	"github.com/paved-dev/paved/internal/store"
)

// Name is the controller's name in logs and metrics.
const Name = "garbage-collector"

// Options tune the collector.
type Options struct {
	Logger *slog.Logger
	// Workers deleting in parallel (default 2).
	Workers int
	// SweepPeriod is how often every owned object is checked, to catch owners that vanished
	// while paved was down or while a watch was behind (default 10 minutes; a sweep also
	// runs at start).
	SweepPeriod time.Duration
	// FirstSweepDelay postpones the sweep at start (0: at once): a server starting with
	// 100,000 objects builds its indexes first, and orphans can wait that long.
	FirstSweepDelay time.Duration
	// BaseDelay and MaxDelay bound retry backoff (controller defaults if zero).
	BaseDelay, MaxDelay time.Duration
}

// collector reconciles one possibly orphaned object.
type collector struct {
	st  *store.Store
	log *slog.Logger

	// live holds the uids of objects of owner kinds (kinds some ownerReference has named)
	// that the event stream has shown created or updated and not deleted since. Events come
	// in revision order, so an object whose owners are all in it cannot be an orphan at its
	// event's revision, and a later deletion of an owner queues the dependents anyway: such
	// events need no reconcile. Only mapEvent (one goroutine, in order) touches it.
	live       map[ownerKey]struct{}
	ownerKinds map[string]bool // apiVersion + "/" + kind
}

// ownerKey is what an ownerReference resolves to (what ownerExists looks up).
type ownerKey struct{ resource, namespace, name, uid string }

// refKey is the owner a dependent's reference names; ok is false for an unknown kind.
func (c *collector) refKey(dep *api.Object, ref api.OwnerReference) (ownerKey, bool) {
	k, ok := c.st.Kinds().ByGVK(ref.APIVersion, ref.Kind)
	if !ok {
		return ownerKey{}, false
	}
	ns := ""
	if k.Namespaced {
		ns = dep.Metadata.Namespace
	}
	return ownerKey{k.Resource(), ns, ref.Name, ref.UID}, true
}

// objKey is the key of an object itself.
func (c *collector) objKey(o *api.Object) (ownerKey, bool) {
	k, ok := c.st.Kinds().ByGVK(o.APIVersion, o.Kind)
	if !ok {
		return ownerKey{}, false
	}
	return ownerKey{k.Resource(), o.Metadata.Namespace, o.Metadata.Name, o.Metadata.UID}, true
}

// New returns the garbage collector as a controller to add to a Manager. It watches every
// kind: a deletion queues the deleted object's dependents; a created or updated object
// with ownerReferences queues itself (its owner may be gone already).
func New(st *store.Store, opts Options) (*controller.Controller, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Workers <= 0 {
		opts.Workers = 2
	}
	c := &collector{st: st, log: opts.Logger.With("controller", Name), live: map[ownerKey]struct{}{}, ownerKinds: map[string]bool{}}
	return controller.New(st, c, controller.Options{
		Name:         Name,
		Watches:      []controller.Watch{controller.Watches(nil, c.mapEvent)},
		Sweep:        c.sweep,
		SweepDelay:   opts.FirstSweepDelay,
		Workers:      opts.Workers,
		ResyncPeriod: opts.SweepPeriod,
		BaseDelay:    opts.BaseDelay,
		MaxDelay:     opts.MaxDelay,
		Logger:       opts.Logger,
	})
}

func (c *collector) mapEvent(ctx context.Context, ev store.Event) []controller.Request {
	o := ev.Object
	switch ev.Type {
	case api.EventDeleted:
		if o.Metadata.UID == "" {
			return nil
		}
		if key, ok := c.objKey(o); ok {
			delete(c.live, key)
		}
		deps, err := c.st.ListOwnedBy(ctx, ev.Object.Metadata.UID)
		if err != nil {
			// The next sweep finds them.
			if ctx.Err() == nil {
				c.log.Warn("listing dependents of a deleted object failed", "object", controller.RequestFor(ev.Object).String(), "err", err)
			}
			return nil
		}
		out := make([]controller.Request, 0, len(deps))
		for _, d := range deps {
			out = append(out, controller.RequestFor(d))
		}
		return out
	case api.EventAdded, api.EventModified:
		if key, ok := c.objKey(o); ok && c.ownerKinds[o.APIVersion+"/"+o.Kind] && o.Metadata.UID != "" {
			if o.Metadata.DeletionTimestamp == nil {
				c.live[key] = struct{}{}
			} else {
				delete(c.live, key) // going away; its dependents are checked again on its delete
			}
		}
		if len(o.Metadata.OwnerReferences) == 0 || o.Metadata.DeletionTimestamp != nil {
			return nil
		}
		alive := false
		for _, ref := range o.Metadata.OwnerReferences {
			c.ownerKinds[ref.APIVersion+"/"+ref.Kind] = true
			if key, ok := c.refKey(o, ref); ok {
				if _, ok := c.live[key]; ok {
					alive = true
				}
			}
		}
		if !alive {
			return []controller.Request{controller.RequestFor(o)}
		}
	}
	return nil
}

// sweep queues every object that has ownerReferences and none of whose owners exists,
// kind by kind, page by page. Owners are looked up once per sweep each (most objects share a
// few owners), so a sweep over 100,000 owned objects queues only the orphans.
func (c *collector) sweep(ctx context.Context, enqueue func(controller.Request)) error {
	n, seen := 0, map[string]bool{}
	exists := map[api.OwnerReference]bool{} // per namespace: see below
	for _, k := range c.st.Kinds().All() {
		if seen[k.Resource()] {
			continue // another version of a kind already swept (they share storage)
		}
		seen[k.Resource()] = true
		opts := store.ListOptions{Limit: 500}
		for {
			l, err := c.st.List(ctx, k, opts)
			if err != nil {
				return fmt.Errorf("sweep %s: %w", k.Plural, err)
			}
			for i := range l.Items {
				o := &l.Items[i]
				if len(o.Metadata.OwnerReferences) == 0 || o.Metadata.DeletionTimestamp != nil {
					continue
				}
				alive := false
				for _, ref := range o.Metadata.OwnerReferences {
					// A namespaced owner is looked up in the dependent's namespace.
					cacheKey := ref
					cacheKey.Controller, cacheKey.BlockOwnerDeletion = nil, nil
					cacheKey.Name = o.Metadata.Namespace + "/" + ref.Name
					e, ok := exists[cacheKey]
					if !ok {
						if e, err = c.ownerExists(ctx, o, ref); err != nil {
							return err
						}
						exists[cacheKey] = e
					}
					if e {
						alive = true
						break
					}
				}
				if !alive {
					enqueue(controller.RequestFor(o))
					n++
				}
			}
			if l.Metadata.Continue == "" {
				break
			}
			opts.Continue = l.Metadata.Continue
		}
	}
	c.log.Debug("sweep queued objects whose owners are gone", "count", n)
	return nil
}

// Reconcile deletes req's object if it has owners and none of them exists any more.
func (c *collector) Reconcile(ctx context.Context, req controller.Request) (controller.Result, error) {
	k, ok := c.st.Kinds().ByGVK(req.APIVersion, req.Kind)
	if !ok {
		return controller.Result{}, nil // its kind is gone; nothing can be done through the store
	}
	obj, err := c.st.Get(ctx, k, req.Namespace, req.Name)
	if api.IsNotFound(err) {
		return controller.Result{}, nil
	}
	if err != nil {
		return controller.Result{}, err
	}
	if len(obj.Metadata.OwnerReferences) == 0 || obj.Metadata.DeletionTimestamp != nil {
		return controller.Result{}, nil
	}
	for _, ref := range obj.Metadata.OwnerReferences {
		exists, err := c.ownerExists(ctx, obj, ref)
		if err != nil {
			return controller.Result{}, err
		}
		if exists {
			return controller.Result{}, nil
		}
	}
	// Preconditions: if the object was replaced or changed (say, adopted by a new owner)
	// since we looked, the delete conflicts and the retry looks again.
	_, err = c.st.Delete(ctx, k, obj.Metadata.Namespace, obj.Metadata.Name,
		store.DeleteOptions{UID: obj.Metadata.UID, ResourceVersion: obj.Metadata.ResourceVersion})
	if api.IsNotFound(err) {
		return controller.Result{}, nil
	}
	if err != nil {
		return controller.Result{}, fmt.Errorf("delete %s whose owners are gone: %w", req, err)
	}
	c.log.Info("deleted an object whose owners are all gone", "object", req.String())
	return controller.Result{}, nil
}

// ownerExists reports whether the object ref points at exists with the same uid. An owner
// of an unknown kind counts as existing: it may be a kind not registered yet.
func (c *collector) ownerExists(ctx context.Context, dep *api.Object, ref api.OwnerReference) (bool, error) {
	k, ok := c.st.Kinds().ByGVK(ref.APIVersion, ref.Kind)
	if !ok {
		c.log.Debug("owner kind is not registered; keeping the dependent", "object", controller.RequestFor(dep).String(),
			"owner", ref.APIVersion+"/"+ref.Kind)
		return true, nil
	}
	ns := ""
	if k.Namespaced {
		ns = dep.Metadata.Namespace
	}
	owner, err := c.st.Get(ctx, k, ns, ref.Name)
	if api.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look up owner %s %q of %s: %w", ref.Kind, ref.Name, controller.RequestFor(dep), err)
	}
	return owner.Metadata.UID == ref.UID, nil
}

var _ controller.Reconciler = (*collector)(nil)
