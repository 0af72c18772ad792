package apiserver

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the API server's request metrics.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	watches  prometheus.Gauge
}

func newMetrics(reg *prometheus.Registry) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paved_apiserver_requests_total",
			Help: "API requests by method, HTTP status code and resource (group/plural, or the route).",
		}, []string{"method", "code", "resource"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "paved_apiserver_request_duration_seconds",
			Help:    "API request latency by method and resource; watch streams are not included.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"method", "resource"}),
		watches: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "paved_apiserver_watches",
			Help: "Open watch streams.",
		}),
	}
	var err error
	if m.requests, err = register(reg, m.requests); err != nil {
		return nil, err
	}
	if m.duration, err = register(reg, m.duration); err != nil {
		return nil, err
	}
	if m.watches, err = register(reg, m.watches); err != nil {
		return nil, err
	}
	return m, nil
}

// register adds c to reg, or returns the collector registered before under the same name,
// so that two servers (in tests, or after a restart in one process) can share a registry.
func register[C prometheus.Collector](reg *prometheus.Registry, c C) (C, error) {
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	if err != nil {
		var zero C
		return zero, err
	}
	return c, nil
}

// methodLabel keeps the method label to known methods; anything else would let clients
// create label values at will.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return m
	}
	return "OTHER"
}

func (m *metrics) observe(method string, code int, resource string, d time.Duration, watch bool) {
	method = methodLabel(method)
	if resource == "" {
		resource = "other"
	}
	if watch {
		method = "WATCH"
	}
	m.requests.WithLabelValues(method, strconv.Itoa(code), resource).Inc()
	if !watch {
		m.duration.WithLabelValues(method, resource).Observe(d.Seconds())
	}
}
