package web

import (
	"context"
	"log/slog"
	"time"

	"github.com/labstack/echo/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pacer-dev/pacer/auth"
	"github.com/pacer-dev/pacer/metrics"
	"github.com/pacer-dev/pacer/store"
)

// prometheusEndpoint is /metrics in Prometheus's text format: the process's and Go's
// metrics, each project's last sync as the store records it, and this ISO week's DORA figures
// per service. The sync and DORA series are computed at scrape time over what the request may
// see (its scoped engine and scope), so each scrape gets a registry of its own.
type prometheusEndpoint struct {
	store *store.Store
	log   *slog.Logger
	// process are the collectors of the whole process, registered in every scrape's registry.
	// Counters the server keeps while it runs (webhook deliveries, queue depth) belong here.
	process []prometheus.Collector
}

func newPrometheusEndpoint(st *store.Store, log *slog.Logger, more ...prometheus.Collector) *prometheusEndpoint {
	return &prometheusEndpoint{store: st, log: log, process: append([]prometheus.Collector{
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewGoCollector(),
		collectors.NewDBStatsCollector(st.DB, "pacer"),
	}, more...)}
}

func (h *prometheusEndpoint) serve(c *echo.Context) error {
	v := viewOf(c)
	ctx := c.Request().Context()
	reg := prometheus.NewRegistry()
	for _, col := range h.process {
		if err := reg.Register(col); err != nil {
			return err
		}
	}
	if err := reg.Register(&syncCollector{ctx: ctx, store: h.store, scope: v.scope}); err != nil {
		return err
	}
	if err := reg.Register(&doraCollector{ctx: ctx, engine: engineOf(c)}); err != nil {
		return err
	}
	if err := reg.Register(&webhookQueueCollector{ctx: ctx, store: h.store}); err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	// Echo's middleware compresses; promhttp must not do it a second time.
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:           promErrorLog{h.log},
		ErrorHandling:      promhttp.HTTPErrorOnError,
		DisableCompression: true,
	}).ServeHTTP(c.Response(), c.Request())
	return nil
}

// promErrorLog hands promhttp's errors to the server's log.
type promErrorLog struct{ log *slog.Logger }

func (l promErrorLog) Println(v ...any) { l.log.Error("web: /metrics", "error", v) }

// The per-project sync series, from the project_syncs table (the last sync of each project).
var (
	syncStartDesc = prometheus.NewDesc("pacer_sync_last_start_timestamp_seconds",
		"When the project's last sync started (Unix seconds).", []string{"project"}, nil)
	syncFinishDesc = prometheus.NewDesc("pacer_sync_last_finish_timestamp_seconds",
		"When the project's last sync finished (Unix seconds); absent while it runs.", []string{"project"}, nil)
	syncSuccessDesc = prometheus.NewDesc("pacer_sync_last_success_timestamp_seconds",
		"When the project's last sync that finished without error finished (Unix seconds).", []string{"project"}, nil)
	syncRequestsDesc = prometheus.NewDesc("pacer_sync_last_requests",
		"GitLab API requests the project's last sync made.", []string{"project"}, nil)
	syncFailedDesc = prometheus.NewDesc("pacer_sync_last_failed",
		"1 when the project's last finished sync failed, else 0.", []string{"project"}, nil)
	syncRunningDesc = prometheus.NewDesc("pacer_sync_running",
		"1 while a sync of the project runs (or one was killed before it finished), else 0.", []string{"project"}, nil)
)

// syncCollector reads each visible project's last sync from the store at scrape time.
type syncCollector struct {
	ctx   context.Context
	store *store.Store
	scope auth.Scope
}

func (s *syncCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{syncStartDesc, syncFinishDesc, syncSuccessDesc, syncRequestsDesc, syncFailedDesc, syncRunningDesc} {
		ch <- d
	}
}

func (s *syncCollector) Collect(ch chan<- prometheus.Metric) {
	syncs, err := s.store.ProjectSyncs(s.ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(syncStartDesc, err)
		return
	}
	gauge := func(d *prometheus.Desc, v float64, project string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, project)
	}
	for _, ps := range syncs {
		if !s.scope.Sees(ps.Project.ID) {
			continue
		}
		p := ps.Project.Path
		gauge(syncRunningDesc, bool01(ps.Running()), p)
		if ps.StartedAt == nil {
			continue // never synced
		}
		gauge(syncStartDesc, float64(ps.StartedAt.Unix()), p)
		gauge(syncRequestsDesc, float64(ps.Requests), p)
		if ps.FinishedAt != nil {
			gauge(syncFinishDesc, float64(ps.FinishedAt.Unix()), p)
			gauge(syncFailedDesc, bool01(ps.Error != ""), p)
		}
		if ps.OKAt != nil {
			gauge(syncSuccessDesc, float64(ps.OKAt.Unix()), p)
		}
	}
}

func bool01(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// doraGauges are the figures /metrics carries, each as pacer_<metric>{service}: this ISO
// week's value per service and for all, as the dashboard computes it.
var doraGauges = []struct{ metric, help string }{
	{metrics.Deployments, "Successful production deployments this ISO week."},
	{metrics.DeploysPerDay, "Production deployments per day this ISO week (over its days so far)."},
	{metrics.CycleTimeP50, "Median cycle time (first commit to delivery) of the MRs delivered this ISO week, in seconds."},
	{metrics.ChangeFailureRate, "Share of this ISO week's production deployments that are change failures (0 to 1)."},
	{metrics.ReworkRate, "Share of this ISO week's production deployments that are rework (0 to 1)."},
	{metrics.RecoveryTimeP50, "Median time to recover from this ISO week's change failures, in seconds."},
	{metrics.CoveragePercent, "Default-branch test coverage this ISO week, in percent."},
}

var (
	doraDescs = func() map[string]*prometheus.Desc {
		out := map[string]*prometheus.Desc{}
		for _, g := range doraGauges {
			out[g.metric] = prometheus.NewDesc("pacer_"+g.metric, g.help, []string{"service"}, nil)
		}
		return out
	}()
	weekStartDesc = prometheus.NewDesc("pacer_week_start_timestamp_seconds",
		"Start of the ISO week the pacer_ figures cover (Monday 00:00 UTC, Unix seconds).", nil, nil)
)

// doraCollector computes this week's figures with the request's scoped engine at scrape time.
type doraCollector struct {
	ctx    context.Context
	engine *metrics.Engine
}

func (d *doraCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, g := range doraGauges {
		ch <- doraDescs[g.metric]
	}
	ch <- weekStartDesc
}

// currentWeek is the filter of the ISO week now is in, through today.
func currentWeek(now time.Time) metrics.Filter {
	today := dateOf(now)
	monday := today.AddDate(0, 0, -((int(today.Weekday()) + 6) % 7))
	return metrics.Filter{From: monday, To: today, By: metrics.Week}
}

func (d *doraCollector) Collect(ch chan<- prometheus.Metric) {
	f := currentWeek(d.engine.Now())
	ch <- prometheus.MustNewConstMetric(weekStartDesc, prometheus.GaugeValue, float64(f.From.Unix()))
	figs, err := d.engine.Figures(d.ctx, f)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(doraDescs[metrics.Deployments], err)
		return
	}
	for _, fig := range figs {
		if desc := doraDescs[fig.Metric]; desc != nil {
			ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, fig.Value, fig.Service)
		}
	}
}

// The webhook queue, from the webhook_deliveries table: the same for every process sharing the
// database, so the series carry no label of the process.
var (
	hookQueueDesc = prometheus.NewDesc("pacer_webhook_queue_depth",
		"GitLab webhook deliveries waiting for the worker, retries included.", nil, nil)
	hookRetryingDesc = prometheus.NewDesc("pacer_webhook_queue_retrying",
		"Queued webhook deliveries whose fetch failed and waits to be tried again.", nil, nil)
	hookFailedDesc = prometheus.NewDesc("pacer_webhook_queue_failed",
		"Webhook deliveries given up on after every retry failed (kept for 7 days; polling brings their changes).", nil, nil)
	hookOldestDesc = prometheus.NewDesc("pacer_webhook_queue_oldest_timestamp_seconds",
		"When the oldest queued webhook delivery was received (Unix seconds); absent when none waits.", nil, nil)
	hookLastDesc = prometheus.NewDesc("pacer_webhook_last_received_timestamp_seconds",
		"When the last webhook delivery was received (Unix seconds); absent before the first.", nil, nil)
)

// webhookQueueCollector reads the webhook queue at scrape time. The counts are the queue's
// whole: they say how busy the worker is and name no project.
type webhookQueueCollector struct {
	ctx   context.Context
	store *store.Store
}

func (w *webhookQueueCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{hookQueueDesc, hookRetryingDesc, hookFailedDesc, hookOldestDesc, hookLastDesc} {
		ch <- d
	}
}

func (w *webhookQueueCollector) Collect(ch chan<- prometheus.Metric) {
	st, err := w.store.WebhookQueueStatus(w.ctx, 0, nil)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(hookQueueDesc, err)
		return
	}
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	gauge(hookQueueDesc, float64(st.Queued))
	gauge(hookRetryingDesc, float64(st.Retrying))
	gauge(hookFailedDesc, float64(st.Failed))
	if st.OldestQueued != nil {
		gauge(hookOldestDesc, float64(st.OldestQueued.Unix()))
	}
	if st.Last != nil {
		gauge(hookLastDesc, float64(st.Last.ReceivedAt.Unix()))
	}
}
