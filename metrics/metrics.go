// Package metrics instruments vpndiag for Prometheus (client_golang). It
// wraps the domain interfaces (Diagnoser, Prober) and HTTP handlers as
// decorators, so flows, probes and the bot stay free of metrics code.
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vpndiag/vpndiag"
)

// Metrics holds every collector vpndiag exports. Create one per process with
// New and pass it to the decorators.
type Metrics struct {
	reg *prometheus.Registry

	// CasesStarted counts cases started, by flow.
	CasesStarted *prometheus.CounterVec
	// CasesEnded counts cases that reached a terminal step, by flow, outcome
	// (resolved or escalated) and resolution.
	CasesEnded *prometheus.CounterVec
	// Questions observes how many steps a user answered per ended case.
	Questions prometheus.Histogram
	// Replies counts answers given, by step kind and result (ok, stale, error).
	Replies *prometheus.CounterVec
	// ProbeDuration observes probe durations, by kind and outcome.
	ProbeDuration *prometheus.HistogramVec
	// AckLatency observes the time to acknowledge a Slack request, by endpoint.
	AckLatency *prometheus.HistogramVec
	// HTTPRequests counts HTTP requests, by endpoint and status code.
	HTTPRequests *prometheus.CounterVec
	// SlackAPIErrors counts failed Slack Web API calls, by method and error.
	SlackAPIErrors *prometheus.CounterVec

	mu       sync.Mutex
	answered map[int64]int // questions answered per open case
}

// New returns Metrics registered on a fresh registry, with the Go runtime
// and process collectors.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		CasesStarted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vpndiag_cases_started_total", Help: "Cases started, by flow.",
		}, []string{"flow"}),
		CasesEnded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vpndiag_cases_ended_total", Help: "Cases that reached a resolution or an escalation, by flow, outcome and resolution.",
		}, []string{"flow", "outcome", "resolution"}),
		Questions: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "vpndiag_questions_per_case", Help: "Steps a user answered in a case that ended.",
			Buckets: []float64{1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30},
		}),
		Replies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vpndiag_replies_total", Help: "Answers given to flow steps, by result (ok, stale, error).",
		}, []string{"result"}),
		ProbeDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "vpndiag_probe_duration_seconds", Help: "Probe durations, by kind and outcome.",
			Buckets: []float64{.001, .005, .01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"kind", "outcome"}),
		AckLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "vpndiag_slack_ack_seconds", Help: "Time to acknowledge a Slack request, by endpoint.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 3},
		}, []string{"endpoint"}),
		HTTPRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vpndiag_http_requests_total", Help: "HTTP requests, by endpoint and status code.",
		}, []string{"endpoint", "code"}),
		SlackAPIErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vpndiag_slack_api_errors_total", Help: "Failed Slack Web API calls, by method and error.",
		}, []string{"method", "error"}),
		answered: map[int64]int{},
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.CasesStarted, m.CasesEnded, m.Questions, m.Replies, m.ProbeDuration,
		m.AckLatency, m.HTTPRequests, m.SlackAPIErrors,
	)
	return m
}

// Registry returns the registry, to register more collectors on.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// GaugeFunc registers a gauge whose value is read from fn at scrape time,
// e.g. the number of connected relays.
func (m *Metrics) GaugeFunc(name, help string, fn func() float64) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, fn))
}

// SlackAPIError records a failed Slack Web API call.
func (m *Metrics) SlackAPIError(method, errCode string) {
	m.SlackAPIErrors.WithLabelValues(method, errCode).Inc()
}

// Diagnoser wraps d so that cases started and ended, questions per case and
// replies are counted.
func (m *Metrics) Diagnoser(d vpndiag.Diagnoser) vpndiag.Diagnoser {
	return &diagnoser{m: m, next: d}
}

type diagnoser struct {
	m    *Metrics
	next vpndiag.Diagnoser
}

func (d *diagnoser) Start(ctx context.Context, caseID int64, flow, actor string) (*vpndiag.Step, error) {
	step, err := d.next.Start(ctx, caseID, flow, actor)
	if err != nil {
		return step, err
	}
	d.m.CasesStarted.WithLabelValues(step.Flow).Inc()
	d.observe(caseID, step, false)
	return step, nil
}

func (d *diagnoser) Current(ctx context.Context, caseID int64) (*vpndiag.Step, error) {
	return d.next.Current(ctx, caseID)
}

func (d *diagnoser) Back(ctx context.Context, caseID int64, seq int, actor string) (*vpndiag.Step, error) {
	return d.next.Back(ctx, caseID, seq, actor)
}

func (d *diagnoser) Restart(ctx context.Context, caseID int64, actor string) (*vpndiag.Step, error) {
	return d.next.Restart(ctx, caseID, actor)
}

func (d *diagnoser) Reply(ctx context.Context, caseID int64, r vpndiag.Reply) (*vpndiag.Step, error) {
	step, err := d.next.Reply(ctx, caseID, r)
	switch vpndiag.ErrorCode(err) {
	case "":
		d.m.Replies.WithLabelValues("ok").Inc()
		d.observe(caseID, step, true)
	case vpndiag.ECONFLICT:
		d.m.Replies.WithLabelValues("stale").Inc()
	default:
		d.m.Replies.WithLabelValues("error").Inc()
	}
	return step, err
}

// observe counts an answer and, when step ends the case, the case's outcome.
func (d *diagnoser) observe(caseID int64, step *vpndiag.Step, answered bool) {
	d.m.mu.Lock()
	if answered {
		d.m.answered[caseID]++
	}
	n := d.m.answered[caseID]
	if step != nil && step.Kind.Terminal() {
		delete(d.m.answered, caseID)
	}
	d.m.mu.Unlock()
	if step == nil || !step.Kind.Terminal() {
		return
	}
	outcome := "resolved"
	if step.Kind == vpndiag.StepEscalation {
		outcome = "escalated"
	}
	d.m.CasesEnded.WithLabelValues(step.Flow, outcome, step.Resolution).Inc()
	d.m.Questions.Observe(float64(n))
}

// Prober wraps p so that each probe's duration is observed by kind and outcome.
func (m *Metrics) Prober(p vpndiag.Prober) vpndiag.Prober { return &prober{m: m, next: p} }

type prober struct {
	m    *Metrics
	next vpndiag.Prober
}

func (p *prober) Probe(ctx context.Context, req *vpndiag.ProbeRequest) (*vpndiag.ProbeResult, error) {
	start := time.Now()
	res, err := p.next.Probe(ctx, req)
	outcome := string(vpndiag.OutcomeError)
	if err == nil && res != nil {
		outcome = string(res.Outcome)
	}
	p.m.ProbeDuration.WithLabelValues(string(req.Kind), outcome).Observe(time.Since(start).Seconds())
	return res, err
}

// HTTP wraps h so that requests are counted by endpoint and status, and (for
// Slack endpoints, ack=true) the time to acknowledge is observed.
func (m *Metrics) HTTP(endpoint string, ack bool, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(sw, r)
		if ack {
			m.AckLatency.WithLabelValues(endpoint).Observe(time.Since(start).Seconds())
		}
		m.HTTPRequests.WithLabelValues(endpoint, strconv.Itoa(sw.code)).Inc()
	})
}

type statusWriter struct {
	http.ResponseWriter
	code        int
	wroteHeader bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wroteHeader {
		w.code, w.wroteHeader = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
