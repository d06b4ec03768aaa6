package probes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/internal/atomicfile"
	"github.com/vpndiag/vpndiag/kb"
)

// Keep-alive outcomes (one-shot keepalive probe), besides ok (never down)
// and timeout (never up).
const (
	// OutcomeDrops: the target went down at least once during the run.
	OutcomeDrops vpndiag.Outcome = "drops"
	// OutcomePeriodicDrop: it went down at a regular interval (see
	// PeriodicDrop), e.g. the IKEv2 hourly drop.
	OutcomePeriodicDrop vpndiag.Outcome = "periodic-drop"
)

// Keep-alive limits.
const (
	// MaxKeepaliveDuration bounds a one-shot keepalive probe; the
	// long-running Monitor has no limit.
	MaxKeepaliveDuration = time.Hour
	// MinKeepaliveInterval keeps a monitor from flooding;
	// MaxKeepaliveInterval is the longest interval between pings.
	MinKeepaliveInterval = 100 * time.Millisecond
	MaxKeepaliveInterval = time.Hour
	// minPingTimeout is the shortest wait for one reply.
	minPingTimeout = 10 * time.Millisecond
	// maxDebounce bounds DownAfter and UpAfter.
	maxDebounce = 100
	// maxPendingSamples bounds the samples kept while the sink fails.
	maxPendingSamples = 100000
	// maxTransitions bounds the transitions kept in the state.
	maxTransitions = 10000
)

// KeepaliveSink receives a monitor's samples as they are taken.
// vpndiag.ProbeService implements it; a sink that fails keeps the samples
// pending in the monitor (and its state file) until a later call succeeds.
type KeepaliveSink interface {
	AddKeepaliveSamples(ctx context.Context, caseID int64, samples []vpndiag.KeepaliveSample) error
}

// KeepaliveConfig configures a Monitor.
type KeepaliveConfig struct {
	// Name names the monitor; it is each sample's Monitor.
	Name string `json:"name"`
	// CaseID is the case the samples are stored for.
	CaseID int64 `json:"case_id,omitempty"`
	// Target is the IP address pinged (the guide: a cloud DNS server).
	Target string `json:"target"`
	// Interval is the time between pings; default kb.KeepaliveInterval.
	Interval time.Duration `json:"interval_ns"`
	// Timeout is how long one ping waits; default min(Interval, 2 s).
	Timeout time.Duration `json:"timeout_ns"`
	// DownAfter is how many failed pings in a row mark the target down;
	// default 2. UpAfter is how many replies in a row mark it up; default 1.
	DownAfter int `json:"down_after"`
	UpAfter   int `json:"up_after"`
	// StatePath, when set, is the file the state is saved to after every
	// sample and loaded from by LoadMonitor, so that a monitor survives a
	// relay restart.
	StatePath string `json:"state_path,omitempty"`
}

func (c *KeepaliveConfig) validate() error {
	if c.Name == "" {
		return vpndiag.Errorf(vpndiag.EINVALID, "A keep-alive monitor needs a name.")
	}
	a, err := netip.ParseAddr(c.Target)
	if err != nil {
		return vpndiag.Errorf(vpndiag.EINVALID, "The keep-alive target %q is not a valid IP address.", c.Target)
	}
	c.Target = a.Unmap().String()
	return c.checkTiming()
}

// checkTiming fills in the defaults of Interval, Timeout, DownAfter and
// UpAfter and checks their limits: the one rule for a monitor's timing,
// whether it comes from a monitor's configuration or a keepalive probe's
// parameters.
func (c *KeepaliveConfig) checkTiming() error {
	if c.Interval == 0 {
		c.Interval = kb.KeepaliveInterval
	}
	if c.Interval < MinKeepaliveInterval || c.Interval > MaxKeepaliveInterval {
		return vpndiag.Errorf(vpndiag.EINVALID, "The keep-alive interval must be between %s and %s (got %s).", MinKeepaliveInterval, MaxKeepaliveInterval, c.Interval)
	}
	if c.Timeout == 0 {
		c.Timeout = min(c.Interval, 2*time.Second)
	}
	if c.Timeout < minPingTimeout || c.Timeout > c.Interval {
		return vpndiag.Errorf(vpndiag.EINVALID, "The keep-alive ping timeout must be between %s and the interval (got %s; it must not exceed its interval %s).", minPingTimeout, c.Timeout, c.Interval)
	}
	if c.DownAfter == 0 {
		c.DownAfter = 2
	}
	if c.UpAfter == 0 {
		c.UpAfter = 1
	}
	for _, n := range []struct {
		key string
		v   int
	}{{"down_after", c.DownAfter}, {"up_after", c.UpAfter}} {
		if n.v < 1 || n.v > maxDebounce {
			return vpndiag.Errorf(vpndiag.EINVALID, "The keep-alive %s must be between 1 and %d (got %d).", n.key, maxDebounce, n.v)
		}
	}
	return nil
}

// Transition is a change of the target between up and down.
type Transition struct {
	// Time is the time of the sample that caused the change.
	Time time.Time `json:"time"`
	// Up is the new state.
	Up bool `json:"up"`
}

// KeepaliveState is a monitor's state: what Status returns and what the
// state file holds.
type KeepaliveState struct {
	// Config is the monitor's configuration.
	Config KeepaliveConfig `json:"config"`
	// Running is true while the monitor pings.
	Running bool `json:"running"`
	// State is "unknown" (no verdict yet), "up" or "down"; Since is when it
	// became so.
	State string    `json:"state"`
	Since time.Time `json:"since,omitzero"`
	// StartedAt is when the monitor first started (kept across restarts).
	StartedAt time.Time `json:"started_at"`
	// Sent and Received count pings and replies since StartedAt.
	Sent     int `json:"sent"`
	Received int `json:"received"`
	// Fails and OKs count the current run of failed and answered pings.
	Fails int `json:"fails"`
	OKs   int `json:"oks"`
	// Last is the latest sample.
	Last *vpndiag.KeepaliveSample `json:"last,omitempty"`
	// Transitions are the up/down changes, oldest first.
	Transitions []Transition `json:"transitions,omitempty"`
	// Pending are samples the sink has not accepted yet.
	Pending []vpndiag.KeepaliveSample `json:"pending,omitempty"`
	// SinkError is the sink's last error, empty after a success.
	SinkError string `json:"sink_error,omitempty"`
	// PingError says why the last ping could not be sent (permissions);
	// such a ping is not a sample.
	PingError string `json:"ping_error,omitempty"`
	// Periodic is the detected periodic drop, if any.
	Periodic *PeriodicDrop `json:"periodic,omitempty"`
}

// step applies one sample to the state and reports a transition.
func (s *KeepaliveState) step(sample vpndiag.KeepaliveSample) *Transition {
	s.Sent++
	s.Last = &sample
	if sample.OK {
		s.Received++
		s.OKs++
		s.Fails = 0
	} else {
		s.Fails++
		s.OKs = 0
	}
	var t *Transition
	switch {
	case sample.OK && s.State != "up" && s.OKs >= s.Config.UpAfter:
		t = &Transition{Time: sample.Time, Up: true}
		s.State = "up"
	case !sample.OK && s.State != "down" && s.Fails >= s.Config.DownAfter:
		t = &Transition{Time: sample.Time, Up: false}
		s.State = "down"
	}
	if t != nil {
		s.Since = t.Time
		s.Transitions = append(s.Transitions, *t)
		if len(s.Transitions) > maxTransitions {
			s.Transitions = slices.Clone(s.Transitions[len(s.Transitions)-maxTransitions:])
		}
	}
	return t
}

// Transitions replays samples through the up/down rule of a monitor
// (downAfter failures in a row mark down, upAfter replies mark up). It is a
// pure function, used by tests and to analyse stored samples.
func Transitions(samples []vpndiag.KeepaliveSample, downAfter, upAfter int) []Transition {
	s := KeepaliveState{State: "unknown", Config: KeepaliveConfig{DownAfter: max(downAfter, 1), UpAfter: max(upAfter, 1)}}
	for _, sm := range samples {
		s.step(sm)
	}
	return s.Transitions
}

// PeriodicDrop is a regular pattern of the target going down.
type PeriodicDrop struct {
	// Period is the median time between drops.
	Period time.Duration `json:"period_ns"`
	// Drops is the number of drops seen; Regular how many of the intervals
	// between them are within Tolerance of Period.
	Drops   int `json:"drops"`
	Regular int `json:"regular"`
	// Tolerance is the allowed deviation from Period.
	Tolerance time.Duration `json:"tolerance_ns"`
	// Hourly is true when Period is within 5 minutes of 60 minutes: the
	// IKEv2 hourly drop (kb.CodeIKEv2HourlyDrop).
	Hourly bool `json:"hourly"`
	// Code is the finding code, kb.CodePeriodicDrop or
	// kb.CodeIKEv2HourlyDrop.
	Code string `json:"code"`
}

// DetectPeriodicDrops looks for drops (transitions to down) at a regular
// interval: at least three drops, and at least three quarters of the
// intervals between them within tolerance of their median. tolerance is
// the larger of minTolerance (e.g. two sample intervals) and 10% of the
// median. It is a pure function of its arguments.
func DetectPeriodicDrops(ts []Transition, minTolerance time.Duration) (PeriodicDrop, bool) {
	var downs []time.Time
	for _, t := range ts {
		if !t.Up {
			downs = append(downs, t.Time)
		}
	}
	if len(downs) < 3 {
		return PeriodicDrop{Drops: len(downs)}, false
	}
	gaps := make([]time.Duration, 0, len(downs)-1)
	for i := 1; i < len(downs); i++ {
		gaps = append(gaps, downs[i].Sub(downs[i-1]))
	}
	sorted := slices.Clone(gaps)
	slices.Sort(sorted)
	median := sorted[len(sorted)/2]
	if len(sorted)%2 == 0 {
		median = (sorted[len(sorted)/2-1] + sorted[len(sorted)/2]) / 2
	}
	tol := max(minTolerance, median/10)
	regular := 0
	for _, g := range gaps {
		if d := g - median; d <= tol && d >= -tol {
			regular++
		}
	}
	p := PeriodicDrop{Period: median, Drops: len(downs), Regular: regular, Tolerance: tol, Code: kb.CodePeriodicDrop}
	if d := median - time.Hour; d <= 5*time.Minute && d >= -5*time.Minute {
		p.Hourly = true
		p.Code = kb.CodeIKEv2HourlyDrop
	}
	return p, median > 0 && regular*4 >= len(gaps)*3
}

// Pinger sends one echo request to addr and reports the round trip, or
// ok=false when no reply came before ctx's deadline. An error means the
// ping could not be sent at all (permissions).
type Pinger func(ctx context.Context, addr netip.Addr) (rtt time.Duration, ok bool, err error)

// ICMPPinger pings with the ping probe's machinery (unprivileged ICMP
// first, raw socket fallback).
func ICMPPinger(ctx context.Context, addr netip.Addr) (time.Duration, bool, error) {
	wait := time.Second
	if dl, ok := ctx.Deadline(); ok {
		wait = max(time.Until(dl), time.Millisecond)
	}
	d, err := ping(ctx, addr, &PingRequest{Count: 1, Interval: time.Second, Size: 56, Wait: wait, TTL: 64})
	if err != nil {
		return 0, false, err
	}
	if d.Received > 0 {
		return d.AvgRTT, true, nil
	}
	return 0, false, nil
}

// Monitor pings a target every Interval, delivers each sample to its sink,
// records up/down transitions and detects periodic drops. Start, Stop and
// Status are safe to call from any goroutine.
type Monitor struct {
	// Ping sends the pings; nil means ICMPPinger.
	Ping Pinger
	// Now is the clock; nil means vpndiag.Now.
	Now vpndiag.Clock

	sink KeepaliveSink
	mu   sync.Mutex
	st   KeepaliveState
	stop context.CancelFunc
	done chan struct{}
}

// NewMonitor returns a stopped monitor. sink may be nil (samples are then
// only counted, and the last kept).
func NewMonitor(cfg KeepaliveConfig, sink KeepaliveSink) (*Monitor, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Monitor{sink: sink, st: KeepaliveState{Config: cfg, State: "unknown"}}, nil
}

// LoadMonitor restores a monitor from its state file, as saved by a
// previous process; Start resumes it, keeping its counts, transitions and
// the samples its sink had not accepted yet.
func LoadMonitor(path string, sink KeepaliveSink) (*Monitor, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("keepalive: %w: %w", err, vpndiag.Errorf(vpndiag.ENOTFOUND, "No keep-alive state at %s.", path))
		}
		return nil, fmt.Errorf("keepalive: load state: %w", err)
	}
	var st KeepaliveState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("keepalive: %s: %v: %w", path, err, vpndiag.Errorf(vpndiag.EINVALID, "The keep-alive state file %s is damaged.", path))
	}
	st.Config.StatePath = path
	if err := st.Config.validate(); err != nil {
		return nil, err
	}
	st.Running = false
	return &Monitor{sink: sink, st: st}, nil
}

// Start starts pinging in the background until Stop or ctx ends. Starting
// a running monitor is an ECONFLICT error.
func (m *Monitor) Start(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.done != nil {
		return vpndiag.Errorf(vpndiag.ECONFLICT, "The keep-alive monitor %s is already running.", m.st.Config.Name)
	}
	ctx, m.stop = context.WithCancel(ctx)
	m.done = make(chan struct{})
	if m.st.StartedAt.IsZero() {
		m.st.StartedAt = m.now()
	}
	m.st.Running = true
	if err := m.saveLocked(); err != nil {
		m.stop()
		m.done = nil
		m.st.Running = false
		return err
	}
	go m.run(ctx, m.done)
	return nil
}

// Stop stops the monitor, waits for its last sample, hands pending samples
// to the sink once more and saves the state. Stopping a stopped monitor
// does nothing.
func (m *Monitor) Stop() error {
	m.mu.Lock()
	stop, done := m.stop, m.done
	m.mu.Unlock()
	if done == nil {
		return nil
	}
	stop()
	<-done
	m.mu.Lock()
	defer m.mu.Unlock()
	m.done, m.stop = nil, nil
	m.st.Running = false
	m.flushLocked(context.Background())
	return m.saveLocked()
}

// Wait blocks until the monitor stops (by Stop or its context).
func (m *Monitor) Wait() {
	m.mu.Lock()
	done := m.done
	m.mu.Unlock()
	if done != nil {
		<-done
	}
}

// Status returns a copy of the state, with the periodic-drop detection
// over the transitions so far.
func (m *Monitor) Status() KeepaliveState {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.st
	st.Transitions = slices.Clone(m.st.Transitions)
	st.Pending = slices.Clone(m.st.Pending)
	if p, ok := DetectPeriodicDrops(st.Transitions, 2*st.Config.Interval); ok {
		st.Periodic = &p
	}
	return st
}

func (m *Monitor) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return vpndiag.Now()
}

func (m *Monitor) run(ctx context.Context, done chan struct{}) {
	defer close(done)
	defer func() {
		m.mu.Lock()
		m.st.Running = false
		m.mu.Unlock()
	}()
	pinger := m.Ping
	if pinger == nil {
		pinger = ICMPPinger
	}
	addr := netip.MustParseAddr(m.st.Config.Target)
	tick := time.NewTicker(m.st.Config.Interval)
	defer tick.Stop()
	for {
		sample := vpndiag.KeepaliveSample{Monitor: m.st.Config.Name, Time: m.now()}
		pctx, cancel := context.WithTimeout(ctx, m.st.Config.Timeout)
		rtt, ok, err := pinger(pctx, addr)
		cancel()
		if ctx.Err() != nil {
			return // stopped mid-ping: the sample is not a real failure
		}
		m.mu.Lock()
		if err != nil {
			// A ping that cannot be sent is not a drop: record it as the
			// monitor's error and keep trying (a capability may be fixed).
			m.st.PingError = vpndiag.ErrorMessage(err)
		} else {
			m.st.PingError = ""
			sample.OK, sample.RTT = ok, rtt
			m.st.step(sample)
			m.st.Pending = append(m.st.Pending, sample)
			if len(m.st.Pending) > maxPendingSamples {
				m.st.Pending = m.st.Pending[len(m.st.Pending)-maxPendingSamples:]
			}
			m.flushLocked(ctx)
		}
		m.saveLocked()
		m.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// flushLocked hands pending samples to the sink.
func (m *Monitor) flushLocked(ctx context.Context) {
	if m.sink == nil {
		m.st.Pending = nil
		return
	}
	if len(m.st.Pending) == 0 {
		return
	}
	if err := m.sink.AddKeepaliveSamples(ctx, m.st.Config.CaseID, m.st.Pending); err != nil {
		m.st.SinkError = vpndiag.ErrorMessage(err)
		return
	}
	m.st.Pending = nil
	m.st.SinkError = ""
}

// saveLocked writes the state file atomically (temporary file, rename).
func (m *Monitor) saveLocked() error {
	path := m.st.Config.StatePath
	if path == "" {
		return nil
	}
	b, err := json.Marshal(m.st)
	if err != nil {
		return fmt.Errorf("keepalive: encode state: %w", err)
	}
	if err := atomicfile.WriteFile(path, b, 0o600); err != nil {
		return fmt.Errorf("keepalive: save state: %w", err)
	}
	return nil
}

// KeepaliveRequest is the typed request of the one-shot keepalive probe.
type KeepaliveRequest struct {
	// Monitor is the monitor the probe runs: its Target is the host to
	// ping (an IP address or a name, resolved when the probe runs), and its
	// Interval, Timeout, DownAfter and UpAfter are checked as a monitor's.
	Monitor KeepaliveConfig
	// Duration is how long the probe runs.
	Duration time.Duration
}

// ParseKeepaliveRequest validates req as a keepalive probe request.
func ParseKeepaliveRequest(req *vpndiag.ProbeRequest) (*KeepaliveRequest, error) {
	p := newParams(req)
	r := &KeepaliveRequest{
		Monitor: KeepaliveConfig{
			// Absent: zero, the monitor's default (checkTiming).
			Interval:  p.duration("interval", 0, MinKeepaliveInterval, MaxKeepaliveInterval),
			Timeout:   p.duration("ping_timeout", 0, minPingTimeout, MaxKeepaliveInterval),
			DownAfter: p.integer("down_after", 0, 1, maxDebounce),
			UpAfter:   p.integer("up_after", 0, 1, maxDebounce),
		},
		Duration: p.duration("duration", time.Minute, MinKeepaliveInterval, MaxKeepaliveDuration),
	}
	if err := p.done(); err != nil {
		return nil, err
	}
	if err := r.Monitor.checkTiming(); err != nil {
		return nil, err
	}
	host, err := checkHost(req.Kind, "a target to ping", req.Target)
	if err != nil {
		return nil, err
	}
	r.Monitor.Target = host
	return r, nil
}

// KeepaliveResult is the detail of a one-shot keepalive probe.
type KeepaliveResult struct {
	// Address is the IP address pinged.
	Address string `json:"address"`
	// Interval is the time between pings.
	Interval time.Duration `json:"interval_ns"`
	// Sent and Received count pings and replies.
	Sent     int `json:"sent"`
	Received int `json:"received"`
	// Samples are every ping, in order.
	Samples []vpndiag.KeepaliveSample `json:"samples"`
	// Transitions are the up/down changes.
	Transitions []Transition `json:"transitions,omitempty"`
	// Periodic is the detected periodic drop, if any.
	Periodic *PeriodicDrop `json:"periodic,omitempty"`
}

// collectSink keeps every sample in memory, for the one-shot probe.
type collectSink struct{ samples []vpndiag.KeepaliveSample }

func (c *collectSink) AddKeepaliveSamples(_ context.Context, _ int64, s []vpndiag.KeepaliveSample) error {
	c.samples = append(c.samples, s...)
	return nil
}

// ProbeKeepalive is the one-shot keepalive probe: it runs a Monitor for the
// duration Param (bounded by the context) and returns its samples,
// transitions and any periodic drop. See the package documentation.
func ProbeKeepalive(ctx context.Context, req *vpndiag.ProbeRequest) *vpndiag.ProbeResult {
	return keepaliveDescriptor.probe(ctx, req)
}

// runKeepalive runs the keepalive probe whose parameters r were parsed from req.
func runKeepalive(ctx context.Context, req *vpndiag.ProbeRequest, r *KeepaliveRequest) *vpndiag.ProbeResult {
	started := time.Now()
	res := newResult(req)
	addr, err := resolve(ctx, r.Monitor.Target)
	if err != nil {
		return failed(res, started, err)
	}
	sink := &collectSink{}
	cfg := r.Monitor
	cfg.Name, cfg.CaseID, cfg.Target = "probe-"+req.ID, req.CaseID, addr.String()
	m, err := NewMonitor(cfg, sink)
	if err != nil {
		return failed(res, started, err)
	}
	// Stop before the deadline so the last ping has its full wait and the
	// result is delivered in time.
	runFor := r.Duration
	if dl, ok := ctx.Deadline(); ok {
		runFor = min(runFor, time.Until(dl)-cfg.Timeout-50*time.Millisecond)
	}
	rctx, cancel := context.WithTimeout(ctx, max(runFor, time.Millisecond))
	defer cancel()
	if err := m.Start(rctx); err != nil {
		return failed(res, started, err)
	}
	m.Wait()
	m.Stop()
	st := m.Status()
	if st.Sent == 0 && st.PingError != "" {
		return failed(res, started, vpndiag.Errorf(vpndiag.EFORBIDDEN, "%s", st.PingError))
	}
	d := &KeepaliveResult{Address: addr.String(), Interval: cfg.Interval, Sent: st.Sent, Received: st.Received,
		Samples: sink.samples, Transitions: st.Transitions, Periodic: st.Periodic}
	downs := 0
	for _, t := range st.Transitions {
		if !t.Up {
			downs++
		}
	}
	head := fmt.Sprintf("keep-alive %s every %s: %d/%d replies", d.Address, cfg.Interval, d.Received, d.Sent)
	switch {
	case d.Periodic != nil:
		return finish(res, started, OutcomePeriodicDrop, fmt.Sprintf("%s, %d drops every %s", head, d.Periodic.Drops, d.Periodic.Period.Round(time.Millisecond)), d)
	case d.Sent > 0 && d.Received == 0:
		return finish(res, started, vpndiag.OutcomeTimeout, head+", never up", d)
	case downs > 0:
		return finish(res, started, OutcomeDrops, fmt.Sprintf("%s, down %d times", head, downs), d)
	case d.Sent == 0:
		return finish(res, started, ctxOutcome(ctx), head+", stopped before the first ping", d)
	}
	return finish(res, started, vpndiag.OutcomeOK, head+", never down", d)
}

// keepaliveDescriptor describes the keepalive probe.
var keepaliveDescriptor = describe(Descriptor{
	Kind:    vpndiag.ProbeKeepalive,
	Summary: "pings a host at an interval for a while and reports drops and their period",
	Target:  "HOST",
	Params: []Param{
		{Key: "interval", Usage: "time between pings (default 5s)"},
		{Key: "duration", Usage: "how long to run, up to 1h (default 1m)"},
		{Key: "ping_timeout", Usage: "one ping's wait (default min(interval, 2s))"},
		{Key: "down_after", Usage: "failed pings in a row that mark the target down (default 2)"},
		{Key: "up_after", Usage: "replies in a row that mark it up (default 1)"},
	},
	Targets: Targets{Target: true},
}, ParseKeepaliveRequest, func(r *KeepaliveRequest) time.Duration {
	return r.Duration + r.Monitor.Timeout + time.Second
}, runKeepalive)
