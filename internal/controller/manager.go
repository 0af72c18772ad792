package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Elector runs a function only while this replica is the leader; *leader.Elector is one.
type Elector interface {
	Run(ctx context.Context, onStartedLeading func(ctx context.Context), onStoppedLeading func()) error
}

// ManagerOptions configure a Manager.
type ManagerOptions struct {
	Logger *slog.Logger
	// Registerer receives the controller metrics; nil records none.
	Registerer prometheus.Registerer
	// Elector, if set, runs the controllers only while this replica holds the lease; when
	// the lease is lost they stop, and they start again (with fresh queues, listing
	// everything) when it is won back.
	Elector Elector
}

// Manager runs a set of controllers with one context.
type Manager struct {
	log     *slog.Logger
	metrics *Metrics
	elector Elector

	mu          sync.Mutex
	controllers []*Controller
	started     bool
}

// NewManager returns a manager; it registers the metrics on opts.Registerer now.
func NewManager(opts ManagerOptions) (*Manager, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	m := &Manager{log: opts.Logger, elector: opts.Elector}
	if opts.Registerer != nil {
		var err error
		if m.metrics, err = NewMetrics(opts.Registerer); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Add adds a controller; it must be called before Start. Names must be unique.
func (m *Manager) Add(c *Controller) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.started {
		return fmt.Errorf("add controller %s: the manager has started", c.Name())
	}
	for _, o := range m.controllers {
		if o.Name() == c.Name() {
			return fmt.Errorf("add controller %s: a controller with that name was added already", c.Name())
		}
	}
	c.setMetrics(m.metrics)
	m.controllers = append(m.controllers, c)
	return nil
}

// Start runs every controller until ctx ends (with an Elector: while leading) and returns
// once they have all stopped.
func (m *Manager) Start(ctx context.Context) error {
	m.mu.Lock()
	if m.started {
		m.mu.Unlock()
		return errors.New("manager already started")
	}
	m.started = true
	cs := append([]*Controller(nil), m.controllers...)
	m.mu.Unlock()

	if m.elector == nil {
		return m.runAll(ctx, cs)
	}
	var runErr error
	err := m.elector.Run(ctx,
		func(lctx context.Context) {
			m.log.Info("leading: starting controllers", "controllers", len(cs))
			if err := m.runAll(lctx, cs); err != nil {
				runErr = err
			}
		},
		func() { m.log.Info("not leading: controllers stopped") })
	return errors.Join(err, runErr)
}

func (m *Manager) runAll(ctx context.Context, cs []*Controller) error {
	var wg sync.WaitGroup
	errs := make([]error, len(cs))
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.Run(ctx)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
