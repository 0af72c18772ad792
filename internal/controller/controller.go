// Package controller owns paved's controller runtime: level-triggered controllers fed by the
// store's watch through client-go work queues, retries with per-key exponential backoff,
// periodic resync, condition helpers that edit an object's status JSON, a status patcher,
// an event recorder that writes Event objects, and a Manager that runs controllers with
// metrics (and, optionally, only while this replica holds the leader lease).
//
// It knows the store and the kind registry; it must not know any feature's kinds. Feature
// packages bring a Reconciler and say which kinds to watch.
package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"golang.org/x/time/rate"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/workqueue"

	"github.com/paved-dev/paved/api"
	"github.com/paved-dev/paved/internal/kinds"
	"github.com/paved-dev/paved/internal/store"
)

// Request names the object a reconcile is about. It is the work queue's key: two events for
// the same object before a worker picks it up become one reconcile.
type Request struct {
	APIVersion string
	Kind       string
	Namespace  string
	Name       string
}

// String formats the request for logs: "Kind namespace/name" or "Kind name".
func (r Request) String() string {
	if r.Namespace == "" {
		return r.Kind + " " + r.Name
	}
	return r.Kind + " " + r.Namespace + "/" + r.Name
}

// RequestFor returns the request that names obj.
func RequestFor(obj *api.Object) Request {
	return Request{APIVersion: obj.APIVersion, Kind: obj.Kind, Namespace: obj.Metadata.Namespace, Name: obj.Metadata.Name}
}

// Result tells the controller what to do after a successful reconcile.
type Result struct {
	// RequeueAfter, if positive, reconciles the object again after this long (for example to
	// poll an external system); the backoff for the key is reset.
	RequeueAfter time.Duration
}

// Reconciler converges one object toward its spec. It must be idempotent: it reads the
// current state and acts on it, and it must not assume anything about the event that queued
// it. An error retries the request with backoff; a Terminal error does not.
type Reconciler interface {
	Reconcile(ctx context.Context, req Request) (Result, error)
}

// ReconcilerFunc adapts a function to Reconciler.
type ReconcilerFunc func(ctx context.Context, req Request) (Result, error)

// Reconcile calls f.
func (f ReconcilerFunc) Reconcile(ctx context.Context, req Request) (Result, error) {
	return f(ctx, req)
}

type terminalError struct{ err error }

func (e *terminalError) Error() string { return e.err.Error() }
func (e *terminalError) Unwrap() error { return e.err }

// Terminal marks err as one that retrying cannot fix (an invalid spec, say): the controller
// logs it and does not requeue the request. A later change to the object queues it again.
func Terminal(err error) error {
	if err == nil {
		return nil
	}
	return &terminalError{err: err}
}

// IsTerminal reports whether err was marked with Terminal.
func IsTerminal(err error) bool {
	var t *terminalError
	return errors.As(err, &t)
}

// Options configure a Controller. Name and at least one of For, Watches or Sweep are required.
type Options struct {
	// Name identifies the controller in logs and metrics; unique within a Manager.
	Name string
	// For is the primary kind: every change to one of its objects queues that object.
	For *kinds.Kind
	// Watches are secondary sources, for example Owns(kind).
	Watches []Watch
	// Sweep, if set, is called once at start and then every ResyncPeriod to enqueue work
	// that watches alone cannot find (the garbage collector's full scan). When For is set
	// the periodic resync also re-enqueues every object of For.
	Sweep func(ctx context.Context, enqueue func(Request)) error
	// SweepDelay postpones the first Sweep after start (0: at once), for a sweep that can
	// wait while a starting server does more urgent work.
	SweepDelay time.Duration
	// Workers is how many requests are reconciled at once (default 1). One key is never
	// reconciled by two workers at the same time.
	Workers int
	// ResyncPeriod re-enqueues every object of For this often, jittered by up to 10%
	// (default 10 minutes; negative disables).
	ResyncPeriod time.Duration
	// BaseDelay and MaxDelay bound the per-key exponential backoff after errors
	// (defaults 100ms and 5 minutes).
	BaseDelay, MaxDelay time.Duration
	// QPS and Burst bound retries over all keys together (defaults 10 and 100).
	QPS   float64
	Burst int
	// ShutdownTimeout is how long Run waits for reconciles in flight after ctx ends
	// (default 30s).
	ShutdownTimeout time.Duration
	Logger          *slog.Logger
	// Metrics records reconciles and queue depth; nil records nothing. A Manager fills it in.
	Metrics *Metrics
}

// Watch is a secondary source of requests: changes to objects of Kind (nil: every kind) are
// mapped to the requests to reconcile.
type Watch struct {
	// Kind is the kind to watch; nil watches every kind, starting from now (there is no
	// initial list, since there is no single kind to list).
	Kind *kinds.Kind
	// Map turns an event into requests. Nil enqueues the object itself. Initial list items
	// arrive as ADDED events.
	Map MapFunc

	owns bool
}

// MapFunc maps a change to the requests it should cause. It runs on the feed goroutine, so
// it must be quick; it may read the store.
type MapFunc func(ctx context.Context, ev store.Event) []Request

// Watches returns a secondary watch on kind mapped by fn.
func Watches(kind *kinds.Kind, fn MapFunc) Watch { return Watch{Kind: kind, Map: fn} }

// Owns watches objects of kind owned and enqueues their controlling owner if it is of the
// controller's For kind.
func Owns(owned *kinds.Kind) Watch { return Watch{Kind: owned, owns: true} }

// EnqueueControllerOwner maps an object to its controlling owner (the ownerReference with
// controller: true) if that owner is of kind owner. A namespaced owner lives in the
// dependent's namespace, as in Kubernetes.
func EnqueueControllerOwner(owner *kinds.Kind) MapFunc {
	return func(_ context.Context, ev store.Event) []Request {
		obj := ev.Object
		for _, ref := range obj.Metadata.OwnerReferences {
			if ref.Controller == nil || !*ref.Controller {
				continue
			}
			g, _ := api.SplitAPIVersion(ref.APIVersion)
			if g != owner.Group || ref.Kind != owner.Kind {
				return nil
			}
			ns := ""
			if owner.Namespaced {
				ns = obj.Metadata.Namespace
			}
			return []Request{{APIVersion: owner.APIVersion(), Kind: owner.Kind, Namespace: ns, Name: ref.Name}}
		}
		return nil
	}
}

// Controller runs one Reconciler over a work queue fed by the store's watch.
type Controller struct {
	st   *store.Store
	rec  Reconciler
	opts Options
	log  *slog.Logger

	mu      sync.Mutex
	running bool
}

// New checks opts, fills in defaults and returns a controller; Run starts it.
func New(st *store.Store, r Reconciler, opts Options) (*Controller, error) {
	if opts.Name == "" {
		return nil, errors.New("controller: Options.Name is required")
	}
	if opts.For == nil && len(opts.Watches) == 0 && opts.Sweep == nil {
		return nil, fmt.Errorf("controller %s: nothing to watch: set For, Watches or Sweep", opts.Name)
	}
	opts.Watches = append([]Watch(nil), opts.Watches...) // filled in below; not the caller's copy
	for i, w := range opts.Watches {
		if w.owns {
			if w.Kind == nil {
				return nil, fmt.Errorf("controller %s: Owns needs the owned kind", opts.Name)
			}
			if opts.For == nil {
				return nil, fmt.Errorf("controller %s: Owns(%s) needs For to name the owner kind", opts.Name, w.Kind.Kind)
			}
			opts.Watches[i].Map = EnqueueControllerOwner(opts.For)
		}
	}
	if opts.Workers <= 0 {
		opts.Workers = 1
	}
	if opts.ResyncPeriod == 0 {
		opts.ResyncPeriod = 10 * time.Minute
	}
	if opts.BaseDelay <= 0 {
		opts.BaseDelay = 100 * time.Millisecond
	}
	if opts.MaxDelay <= 0 {
		opts.MaxDelay = 5 * time.Minute
	}
	if opts.QPS <= 0 {
		opts.QPS = 10
	}
	if opts.Burst <= 0 {
		opts.Burst = 100
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Controller{st: st, rec: r, opts: opts, log: opts.Logger.With("controller", opts.Name)}, nil
}

// Name returns the controller's name.
func (c *Controller) Name() string { return c.opts.Name }

// setMetrics lets a Manager supply its metrics before Run.
func (c *Controller) setMetrics(m *Metrics) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.opts.Metrics == nil {
		c.opts.Metrics = m
	}
}

// Run feeds the queue and reconciles until ctx ends, then stops the feed, lets reconciles in
// flight finish (their ctx is ctx, so they see it cancelled) for up to ShutdownTimeout, and
// returns. A controller may be run again after Run returns (a new leader term); every run
// has its own queue.
func (c *Controller) Run(ctx context.Context) error {
	c.mu.Lock()
	if c.running {
		c.mu.Unlock()
		return fmt.Errorf("controller %s is already running", c.opts.Name)
	}
	c.running = true
	metrics := c.opts.Metrics
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.running = false
		c.mu.Unlock()
	}()

	limiter := workqueue.NewTypedMaxOfRateLimiter(
		workqueue.NewTypedItemExponentialFailureRateLimiter[Request](c.opts.BaseDelay, c.opts.MaxDelay),
		&workqueue.TypedBucketRateLimiter[Request]{Limiter: rate.NewLimiter(rate.Limit(c.opts.QPS), c.opts.Burst)},
	)
	cfg := workqueue.TypedRateLimitingQueueConfig[Request]{Name: c.opts.Name}
	if metrics != nil {
		cfg.MetricsProvider = metrics.queueProvider()
	} else {
		cfg.MetricsProvider = noQueueMetrics{}
	}
	q := workqueue.NewTypedRateLimitingQueueWithConfig[Request](limiter, cfg)
	defer metrics.resetQueue(c.opts.Name)

	c.log.Info("controller starting", "workers", c.opts.Workers)
	feedCtx, stopFeed := context.WithCancel(ctx)
	var feeds sync.WaitGroup
	enqueue := func(r Request) { q.Add(r) }
	if c.opts.For != nil {
		feeds.Add(1)
		go func() {
			defer feeds.Done()
			c.feed(feedCtx, Watch{Kind: c.opts.For}, enqueue, func() {})
		}()
	}
	// A watch of every kind starts at the revision current when it opens, without a list:
	// the first Sweep waits until those watches are open, so that every write is seen by
	// one or the other.
	var opened sync.WaitGroup
	for _, w := range c.opts.Watches {
		feeds.Add(1)
		var once sync.Once
		open := func() {}
		if w.Kind == nil {
			opened.Add(1)
			open = func() { once.Do(opened.Done) }
		}
		go func() {
			defer feeds.Done()
			defer open() // also when it never opened, so that nothing waits forever
			c.feed(feedCtx, w, enqueue, open)
		}()
	}
	if c.opts.Sweep != nil || (c.opts.For != nil && c.opts.ResyncPeriod > 0) {
		feeds.Add(1)
		go func() {
			defer feeds.Done()
			c.resyncLoop(feedCtx, enqueue, &opened)
		}()
	}

	var workers sync.WaitGroup
	for range c.opts.Workers {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for c.processNext(ctx, q, metrics) {
			}
		}()
	}

	<-ctx.Done()
	stopFeed()
	feeds.Wait()
	// Drain: reconciles in flight finish (they see ctx cancelled); queued keys are skipped.
	drained := make(chan struct{})
	go func() {
		q.ShutDownWithDrain()
		workers.Wait()
		close(drained)
	}()
	select {
	case <-drained:
	case <-time.After(c.opts.ShutdownTimeout):
		c.log.Warn("controller stopped with reconciles still running", "timeout", c.opts.ShutdownTimeout)
		q.ShutDown()
	}
	c.log.Info("controller stopped")
	return nil
}

// processNext reconciles one key; it returns false when the queue has shut down.
func (c *Controller) processNext(ctx context.Context, q workqueue.TypedRateLimitingInterface[Request], m *Metrics) bool {
	req, shutdown := q.Get()
	if shutdown {
		return false
	}
	defer q.Done(req)
	if ctx.Err() != nil {
		// Stopping: the next run (or the next leader) lists everything again.
		return true
	}
	start := time.Now()
	res, err := c.reconcile(ctx, req)
	m.observe(c.opts.Name, time.Since(start), err, res.RequeueAfter > 0)
	switch {
	case err != nil && ctx.Err() != nil:
		// Cancelled mid-reconcile; nothing to retry in this run.
	case err != nil && IsTerminal(err):
		q.Forget(req)
		c.log.Error("reconcile failed; not retrying until the object changes", "request", req.String(), "err", err)
	case err != nil:
		q.AddRateLimited(req)
		c.log.Warn("reconcile failed; retrying with backoff", "request", req.String(), "retries", q.NumRequeues(req), "err", err)
	case res.RequeueAfter > 0:
		q.Forget(req)
		q.AddAfter(req, res.RequeueAfter)
	default:
		q.Forget(req)
	}
	return true
}

// reconcile calls the reconciler, turning a panic into an error so one bad object cannot
// take the process down.
func (c *Controller) reconcile(ctx context.Context, req Request) (res Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			c.log.Error("reconcile panicked", "request", req.String(), "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("reconcile %s panicked: %v", req, p)
		}
	}()
	return c.rec.Reconcile(ctx, req)
}

// resyncLoop runs Sweep once the watches of every kind are open (after SweepDelay), then
// every ResyncPeriod re-enqueues every object of For
// and runs Sweep again.
func (c *Controller) resyncLoop(ctx context.Context, enqueue func(Request), opened *sync.WaitGroup) {
	open := make(chan struct{})
	go func() {
		opened.Wait()
		close(open)
	}()
	select {
	case <-open:
	case <-ctx.Done():
		return
	}
	if c.opts.Sweep != nil && c.opts.SweepDelay > 0 {
		t := time.NewTimer(c.opts.SweepDelay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
	if c.opts.Sweep != nil {
		if err := c.opts.Sweep(ctx, enqueue); err != nil && ctx.Err() == nil {
			c.log.Warn("sweep failed; trying again at the next resync", "err", err)
		}
	}
	period := c.opts.ResyncPeriod
	if period <= 0 {
		return
	}
	for {
		t := time.NewTimer(wait.Jitter(period, 0.1))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if c.opts.For != nil {
			if _, err := listAll(ctx, c.st, c.opts.For, func(o *api.Object) { enqueue(RequestFor(o)) }); err != nil && ctx.Err() == nil {
				c.log.Warn("resync list failed", "kind", c.opts.For.Kind, "err", err)
			}
		}
		if c.opts.Sweep != nil {
			if err := c.opts.Sweep(ctx, enqueue); err != nil && ctx.Err() == nil {
				c.log.Warn("sweep failed; trying again at the next resync", "err", err)
			}
		}
	}
}
