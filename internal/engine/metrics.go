package engine

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/journal"
)

// Metrics, in Prometheus's text format (MetricsHandler). Counters are fed
// by the records of every journal append once they are durable (the same
// hand-off as the events feed, Deps.Published), so they count what the
// journal holds, and only since this supervisor opened; gauges are read
// when scraped.

// metrics are the supervisor's collectors, in a registry of its own (an
// embedding program's default registry is left alone).
type metrics struct {
	reg *prometheus.Registry

	starts, oomKills  prometheus.Counter
	restarts          *prometheus.CounterVec // by cause
	exits             *prometheus.CounterVec // by code
	healthChanges     *prometheus.CounterVec // by status
	appendSeconds     prometheus.Histogram
	reconcileSeconds  prometheus.Histogram
	eventLagSeconds   prometheus.Histogram
	containers        *prometheus.Desc
	health            *prometheus.Desc
	journalBytes      *prometheus.Desc
	containerdUp      *prometheus.Desc
	s                 *Supervisor
	scrapeListTimeout time.Duration
}

func newMetrics(s *Supervisor) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		s:   s,
		starts: prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_container_starts_total",
			Help: "Tasks started (by a user or by a restart policy)."}),
		oomKills: prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_container_oom_kills_total",
			Help: "Runs in which the kernel's out-of-memory killer killed a process."}),
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_container_restarts_total",
			Help: "Restarts the restart policy scheduled, by what ended the run (exit, start_failed, vanished, unhealthy)."}, []string{"cause"}),
		exits: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_container_exits_total",
			Help: "Task exits, by exit code."}, []string{"code"}),
		healthChanges: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_container_health_changes_total",
			Help: "Changes of a container's health status, by the new status."}, []string{"status"}),
		appendSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "vigil_journal_append_duration_seconds",
			Help: "Time a journal append takes until its records are durable.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
		reconcileSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "vigil_reconcile_duration_seconds",
			Help: "Time a reconcile of every container with containerd takes.", Buckets: prometheus.ExponentialBuckets(0.01, 2, 12)}),
		eventLagSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "vigil_event_lag_seconds",
			Help: "Time from a task's exit, as containerd reports it, to its record in the journal.", Buckets: prometheus.ExponentialBuckets(0.001, 4, 10)}),
		containers: prometheus.NewDesc("vigil_containers", "Containers, by status (restarting: exited with a restart pending).",
			[]string{"status"}, nil),
		health: prometheus.NewDesc("vigil_containers_health", "Running containers with a health check, by health status.",
			[]string{"status"}, nil),
		journalBytes: prometheus.NewDesc("vigil_journal_size_bytes", "Size of the journal file.", nil, nil),
		containerdUp: prometheus.NewDesc("vigil_containerd_up", "1 when the event subscription to containerd is up, else 0.", nil, nil),

		scrapeListTimeout: 5 * time.Second,
	}
	m.reg.MustRegister(m.starts, m.oomKills, m.restarts, m.exits, m.healthChanges,
		m.appendSeconds, m.reconcileSeconds, m.eventLagSeconds, m)
	for _, c := range []string{lifecycle.CauseExit, lifecycle.CauseStartFailed, lifecycle.CauseVanished, lifecycle.CauseUnhealthy} {
		m.restarts.WithLabelValues(c) // present at 0 from the start
	}
	return m
}

// observe counts what the durable records of one append say.
func (m *metrics) observe(recs []journal.Record) {
	for _, r := range recs {
		switch e := r.Event.(type) {
		case lifecycle.TaskStarted:
			m.starts.Inc()
		case lifecycle.TaskExited:
			m.exits.WithLabelValues(strconv.Itoa(e.Code)).Inc()
			if e.Reason == "" && !e.ExitedAt.IsZero() {
				m.eventLagSeconds.Observe(max(r.Time.Sub(e.ExitedAt), 0).Seconds())
			}
		case lifecycle.TaskOOMKilled:
			m.oomKills.Inc()
		case lifecycle.RestartScheduled:
			cause := e.Cause
			if cause == "" {
				cause = lifecycle.CauseExit
			}
			m.restarts.WithLabelValues(cause).Inc()
		case lifecycle.HealthChanged:
			m.healthChanges.WithLabelValues(string(e.Status)).Inc()
		}
	}
}

// Describe and Collect make the gauges read at scrape time a collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.containers
	ch <- m.health
	ch <- m.journalBytes
	ch <- m.containerdUp
}

func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	up := 0.0
	if m.s.router != nil && m.s.router.Up() {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(m.containerdUp, prometheus.GaugeValue, up)
	if fi, err := os.Stat(filepath.Join(m.s.cfg.StateDir, JournalFile)); err == nil {
		ch <- prometheus.MustNewConstMetric(m.journalBytes, prometheus.GaugeValue, float64(fi.Size()))
	}
	ctx, cancel := context.WithTimeout(context.Background(), m.scrapeListTimeout)
	defer cancel()
	sts, err := m.s.List(ctx)
	if err != nil {
		return // the counters are still served
	}
	byStatus := map[string]float64{}
	for _, st := range []lifecycle.Status{lifecycle.StatusCreating, lifecycle.StatusCreated, lifecycle.StatusStarting,
		lifecycle.StatusRunning, lifecycle.StatusExited, lifecycle.StatusRemoving} {
		byStatus[st.String()] = 0
	}
	byStatus["restarting"] = 0
	byHealth := map[string]float64{string(lifecycle.HealthStarting): 0, string(lifecycle.HealthHealthy): 0, string(lifecycle.HealthUnhealthy): 0}
	for _, st := range sts {
		name := st.Status.String()
		if st.Status == lifecycle.StatusExited && st.NextRestart != nil {
			name = "restarting"
		}
		byStatus[name]++
		if st.Status == lifecycle.StatusRunning && st.Health != nil && st.Config.Healthcheck.Enabled() {
			byHealth[string(st.Health.Status)]++
		}
	}
	for k, v := range byStatus {
		ch <- prometheus.MustNewConstMetric(m.containers, prometheus.GaugeValue, v, k)
	}
	for k, v := range byHealth {
		ch <- prometheus.MustNewConstMetric(m.health, prometheus.GaugeValue, v, k)
	}
}

// timedStore is the journal as the actors see it: every Append is timed.
type timedStore struct {
	journal.Store
	h prometheus.Histogram
}

func (t timedStore) Append(container string, events ...any) ([]journal.Record, error) {
	start := time.Now()
	recs, err := t.Store.Append(container, events...)
	if err == nil && len(events) > 0 {
		t.h.Observe(time.Since(start).Seconds())
	}
	return recs, err
}

// timedReconcile times one reconcile of every container.
func (m *metrics) timedReconcile(reconcile func(context.Context)) func(context.Context) {
	return func(ctx context.Context) {
		start := time.Now()
		reconcile(ctx)
		m.reconcileSeconds.Observe(time.Since(start).Seconds())
	}
}

// MetricsHandler serves the supervisor's metrics in Prometheus's text
// format (docs/API.md, "GET /metrics").
func (s *Supervisor) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{ErrorLog: nil})
}

// MetricsGatherer is the supervisor's registry, for tests (lint) and for
// an embedding program that serves metrics its own way.
func (s *Supervisor) MetricsGatherer() prometheus.Gatherer { return s.metrics.reg }

// published hands the durable records of an append to the metrics and to
// the events feed.
func (s *Supervisor) published(recs []journal.Record) {
	s.metrics.observe(recs)
	s.feed.publish(recs)
}
