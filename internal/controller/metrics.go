package controller

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/util/workqueue"
)

// Metrics are the controller runtime's Prometheus metrics, labelled by controller name.
// A nil *Metrics records nothing.
type Metrics struct {
	reconciles *prometheus.CounterVec
	errors     *prometheus.CounterVec
	duration   *prometheus.HistogramVec

	depth          *prometheus.GaugeVec
	adds           *prometheus.CounterVec
	latency        *prometheus.HistogramVec
	workDuration   *prometheus.HistogramVec
	unfinished     *prometheus.GaugeVec
	longestRunning *prometheus.GaugeVec
	retries        *prometheus.CounterVec
}

// NewMetrics creates the metrics and registers them on reg (never the global registry, so
// that tests and several managers in one process do not collide).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	buckets := []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}
	m := &Metrics{
		reconciles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paved_controller_reconcile_total", Help: "Reconciles by controller and result (success, error, requeue).",
		}, []string{"controller", "result"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paved_controller_reconcile_errors_total", Help: "Reconciles that returned an error, by controller.",
		}, []string{"controller"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "paved_controller_reconcile_duration_seconds", Help: "Time one reconcile took, by controller.", Buckets: buckets,
		}, []string{"controller"}),
		depth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "paved_workqueue_depth", Help: "Keys waiting in a controller's work queue.",
		}, []string{"name"}),
		adds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paved_workqueue_adds_total", Help: "Keys added to a controller's work queue.",
		}, []string{"name"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "paved_workqueue_queue_duration_seconds", Help: "Time a key waits in the queue before a worker takes it.", Buckets: buckets,
		}, []string{"name"}),
		workDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "paved_workqueue_work_duration_seconds", Help: "Time a worker spends on a key.", Buckets: buckets,
		}, []string{"name"}),
		unfinished: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "paved_workqueue_unfinished_work_seconds", Help: "Seconds of work in progress not yet observed by work_duration.",
		}, []string{"name"}),
		longestRunning: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "paved_workqueue_longest_running_processor_seconds", Help: "How long the longest-running worker has been on its key.",
		}, []string{"name"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paved_workqueue_retries_total", Help: "Keys requeued with backoff.",
		}, []string{"name"}),
	}
	for _, c := range []prometheus.Collector{m.reconciles, m.errors, m.duration, m.depth, m.adds, m.latency,
		m.workDuration, m.unfinished, m.longestRunning, m.retries} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register controller metrics: %w", err)
		}
	}
	return m, nil
}

// observe records one reconcile.
func (m *Metrics) observe(controller string, d time.Duration, err error, requeue bool) {
	if m == nil {
		return
	}
	result := "success"
	switch {
	case err != nil:
		result = "error"
		m.errors.WithLabelValues(controller).Inc()
	case requeue:
		result = "requeue"
	}
	m.reconciles.WithLabelValues(controller, result).Inc()
	m.duration.WithLabelValues(controller).Observe(d.Seconds())
}

// resetQueue zeroes a stopped queue's gauges; the keys left in it are dropped with it.
func (m *Metrics) resetQueue(name string) {
	if m == nil {
		return
	}
	m.depth.WithLabelValues(name).Set(0)
	m.unfinished.WithLabelValues(name).Set(0)
	m.longestRunning.WithLabelValues(name).Set(0)
}

func (m *Metrics) queueProvider() workqueue.MetricsProvider { return queueProvider{m} }

// queueProvider feeds client-go's work queue metrics into our vectors.
type queueProvider struct{ m *Metrics }

func (p queueProvider) NewDepthMetric(name string) workqueue.GaugeMetric {
	return p.m.depth.WithLabelValues(name)
}
func (p queueProvider) NewAddsMetric(name string) workqueue.CounterMetric {
	return p.m.adds.WithLabelValues(name)
}
func (p queueProvider) NewLatencyMetric(name string) workqueue.HistogramMetric {
	return p.m.latency.WithLabelValues(name)
}
func (p queueProvider) NewWorkDurationMetric(name string) workqueue.HistogramMetric {
	return p.m.workDuration.WithLabelValues(name)
}
func (p queueProvider) NewUnfinishedWorkSecondsMetric(name string) workqueue.SettableGaugeMetric {
	return p.m.unfinished.WithLabelValues(name)
}
func (p queueProvider) NewLongestRunningProcessorSecondsMetric(name string) workqueue.SettableGaugeMetric {
	return p.m.longestRunning.WithLabelValues(name)
}
func (p queueProvider) NewRetriesMetric(name string) workqueue.CounterMetric {
	return p.m.retries.WithLabelValues(name)
}

// noQueueMetrics keeps an unmeasured queue away from client-go's process-wide provider.
type noQueueMetrics struct{}

type nopMetric struct{}

func (nopMetric) Inc()            {}
func (nopMetric) Dec()            {}
func (nopMetric) Set(float64)     {}
func (nopMetric) Observe(float64) {}

func (noQueueMetrics) NewDepthMetric(string) workqueue.GaugeMetric            { return nopMetric{} }
func (noQueueMetrics) NewAddsMetric(string) workqueue.CounterMetric           { return nopMetric{} }
func (noQueueMetrics) NewLatencyMetric(string) workqueue.HistogramMetric      { return nopMetric{} }
func (noQueueMetrics) NewWorkDurationMetric(string) workqueue.HistogramMetric { return nopMetric{} }
func (noQueueMetrics) NewRetriesMetric(string) workqueue.CounterMetric        { return nopMetric{} }
func (noQueueMetrics) NewUnfinishedWorkSecondsMetric(string) workqueue.SettableGaugeMetric {
	return nopMetric{}
}
func (noQueueMetrics) NewLongestRunningProcessorSecondsMetric(string) workqueue.SettableGaugeMetric {
	return nopMetric{}
}
