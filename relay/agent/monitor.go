package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/kb"
	"github.com/vpndiag/vpndiag/relay"
	"github.com/vpndiag/vpndiag/relay/policy"
)

// Keep-alive monitor jobs are keepalive jobs with the ParamMonitor
// parameter; the relay runs them itself (a keepalive job without it is the
// probes' one-shot keepalive). A monitor pings its target every interval,
// streams the samples to the hub, is kept in the state file and resumed
// when the relay restarts, until it is stopped.
const (
	// ParamMonitor is the action: start, stop or status.
	ParamMonitor = relay.MonitorParam
	// ParamMonitorName names the monitor; default "case-ID-TARGET" (relay.MonitorName).
	ParamMonitorName = relay.MonitorNameParam
	// ParamMonitorInterval is the ping interval; default DefaultMonitorInterval (5 s).
	ParamMonitorInterval = relay.MonitorIntervalParam
)

// DefaultMonitorInterval is the guide's keep-alive interval.
const DefaultMonitorInterval = kb.KeepaliveInterval

// MaxMonitors bounds the monitors one relay runs.
const MaxMonitors = 16

// MonitorSpec is a monitor as kept in the state file.
type MonitorSpec struct {
	// Name identifies the monitor.
	Name string `json:"name"`
	// CaseID is the case its samples belong to.
	CaseID int64 `json:"case_id"`
	// Target is the host to ping, as asked (re-checked against the policy
	// on every resume).
	Target string `json:"target"`
	// Interval is the ping interval.
	Interval time.Duration `json:"interval_ns"`
	// StartedAt is when it was first started.
	StartedAt time.Time `json:"started_at"`
}

// MonitorStatus is a monitor's state, the detail of a status job.
type MonitorStatus struct {
	MonitorSpec
	// Address is the checked address pinged.
	Address string `json:"address"`
	// Samples and Lost count pings since the relay (re)started it.
	Samples int `json:"samples"`
	Lost    int `json:"lost"`
	// Up is the last sample's verdict; LastChange is when it last flipped.
	Up         bool      `json:"up"`
	LastChange time.Time `json:"last_change,omitzero"`
}

type monitor struct {
	spec   MonitorSpec
	addr   string
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	pending []vpndiag.KeepaliveSample
	st      MonitorStatus
}

// state is the state file's content.
type state struct {
	Version  int           `json:"version"`
	Monitors []MonitorSpec `json:"monitors"`
}

func (a *Agent) monitorNames() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return sortedKeys(a.monitors)
}

// resumeMonitors starts the monitors of the state file. A file that does
// not parse is an error (nothing is overwritten); a monitor the policy now
// refuses is dropped with a warning.
func (a *Agent) resumeMonitors(ctx context.Context) error {
	if a.StatePath == "" {
		return nil
	}
	b, err := os.ReadFile(a.StatePath)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("relay state: %w", err)
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("relay state %s does not parse (%v); move it away to start without its monitors", a.StatePath, err)
	}
	for _, spec := range st.Monitors {
		if _, err := a.startMonitor(ctx, spec); err != nil {
			a.log().Warn("relay: monitor not resumed", "monitor", spec.Name, "err", err)
			continue
		}
		a.log().Info("relay: monitor resumed", "monitor", spec.Name, "target", spec.Target, "interval", spec.Interval)
	}
	return a.saveState()
}

// saveState writes the monitors to the state file atomically.
func (a *Agent) saveState() error {
	if a.StatePath == "" {
		return nil
	}
	a.mu.Lock()
	st := state{Version: 1, Monitors: []MonitorSpec{}}
	for _, k := range sortedKeys(a.monitors) {
		st.Monitors = append(st.Monitors, a.monitors[k].spec)
	}
	a.mu.Unlock()
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(a.StatePath), 0o700); err != nil {
		return fmt.Errorf("relay state: %w", err)
	}
	tmp := a.StatePath + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("relay state: %w", err)
	}
	if err := os.Rename(tmp, a.StatePath); err != nil {
		return fmt.Errorf("relay state: %w", err)
	}
	return nil
}

// startMonitor checks spec's target against the policy and starts pinging
// the checked address. It reports false when one of that name already runs.
func (a *Agent) startMonitor(ctx context.Context, spec MonitorSpec) (bool, error) {
	checked, err := a.Guard.Check(ctx, &vpndiag.ProbeRequest{Kind: vpndiag.ProbeKeepalive, Target: spec.Target})
	if err != nil {
		return false, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.monitors[spec.Name]; ok {
		return false, nil
	}
	if len(a.monitors) >= MaxMonitors {
		return false, vpndiag.Errorf(vpndiag.ETOOLARGE, "This relay already runs %d keep-alive monitors, its maximum; stop one first.", MaxMonitors)
	}
	mctx, cancel := context.WithCancel(context.Background())
	m := &monitor{spec: spec, addr: checked.Target, cancel: cancel, done: make(chan struct{})}
	m.st = MonitorStatus{MonitorSpec: spec, Address: checked.Target}
	a.monitors[spec.Name] = m
	go a.runMonitor(mctx, m)
	return true, nil
}

func (a *Agent) runMonitor(ctx context.Context, m *monitor) {
	defer close(m.done)
	t := time.NewTicker(m.spec.Interval)
	defer t.Stop()
	for {
		a.sample(ctx, m)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sample pings the monitor's address once through the policy's prober.
func (a *Agent) sample(ctx context.Context, m *monitor) {
	wait := min(m.spec.Interval, 2*time.Second)
	req := &vpndiag.ProbeRequest{
		ID: "sample", CaseID: m.spec.CaseID, Kind: vpndiag.ProbePing, Target: m.addr,
		Params:  map[string]string{"count": "1", "wait": wait.String()},
		Timeout: wait + time.Second,
	}
	at := vpndiag.Now()
	res, err := a.Guard.Next().Probe(ctx, req)
	if ctx.Err() != nil {
		return
	}
	s := vpndiag.KeepaliveSample{Monitor: m.spec.Name, Time: at}
	if err == nil && res.Outcome == vpndiag.OutcomeOK {
		s.OK = true
		var d struct {
			AvgRTT time.Duration `json:"avg_rtt_ns"`
		}
		if json.Unmarshal(res.Detail, &d) == nil && d.AvgRTT > 0 {
			s.RTT = d.AvgRTT
		} else {
			s.RTT = res.Duration
		}
	} else if err != nil {
		a.log().Warn("relay: monitor ping could not run", "monitor", m.spec.Name, "err", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.st.Samples == 0 || m.st.Up != s.OK {
		if m.st.Samples > 0 {
			a.log().Info("relay: tunnel state changed", "monitor", m.spec.Name, "up", s.OK)
		}
		m.st.LastChange = at
	}
	m.st.Samples++
	if !s.OK {
		m.st.Lost++
	}
	m.st.Up = s.OK
	m.pending = append(m.pending, s)
	if len(m.pending) > 10000 {
		m.pending = m.pending[len(m.pending)-10000:]
	}
}

// flushSamples turns every monitor's pending samples into a batch for the
// hub.
func (a *Agent) flushSamples() {
	a.mu.Lock()
	ms := make([]*monitor, 0, len(a.monitors))
	for _, k := range sortedKeys(a.monitors) {
		ms = append(ms, a.monitors[k])
	}
	a.mu.Unlock()
	for _, m := range ms {
		m.mu.Lock()
		samples := m.pending
		m.pending = nil
		m.mu.Unlock()
		if len(samples) == 0 {
			continue
		}
		batch := relay.NewJobID()
		a.deliver("batch/"+batch, &relay.Message{Type: relay.TypeSamples, Samples: &relay.Samples{Batch: batch, CaseID: m.spec.CaseID, Samples: samples}})
	}
}

// stopMonitors stops every monitor goroutine (the state file keeps them).
func (a *Agent) stopMonitors() {
	a.mu.Lock()
	ms := a.monitors
	a.mu.Unlock()
	for _, m := range ms {
		m.cancel()
		<-m.done
	}
}

// monitorJob runs a start, stop or status job.
func (a *Agent) monitorJob(ctx context.Context, req *vpndiag.ProbeRequest) *vpndiag.ProbeResult {
	start := time.Now()
	res := &vpndiag.ProbeResult{ID: req.ID, CaseID: req.CaseID, Kind: req.Kind, Target: req.Target, StartedAt: vpndiag.Now()}
	fail := func(err error) *vpndiag.ProbeResult {
		return policy.Refusal(req, start, err)
	}
	for k := range req.Params {
		if k != ParamMonitor && k != ParamMonitorName && k != ParamMonitorInterval {
			return fail(vpndiag.Errorf(vpndiag.EINVALID, "A keep-alive monitor job has no parameter %q; its parameters are monitor, name, interval.", k))
		}
	}
	name := relay.MonitorName(req)
	switch action := req.Params[ParamMonitor]; action {
	case "start":
		interval := DefaultMonitorInterval
		if v := req.Params[ParamMonitorInterval]; v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d < time.Second || d > time.Hour {
				return fail(vpndiag.Errorf(vpndiag.EINVALID, "The monitor interval must be a duration from 1s to 1h (got %q).", v))
			}
			interval = d
		}
		spec := MonitorSpec{Name: name, CaseID: req.CaseID, Target: req.Target, Interval: interval, StartedAt: vpndiag.Now()}
		started, err := a.startMonitor(ctx, spec)
		if err != nil {
			return fail(err)
		}
		if !started {
			res.Outcome, res.Summary = vpndiag.OutcomeOK, fmt.Sprintf("keep-alive monitor %s is already running", name)
			break
		}
		if err := a.saveState(); err != nil {
			a.log().Error("relay: save state", "err", err)
			res.Outcome, res.Summary = vpndiag.OutcomeOK, fmt.Sprintf("keep-alive monitor %s started, pinging %s every %s, but it will not survive a restart: the state file could not be written", name, req.Target, interval)
			break
		}
		res.Outcome, res.Summary = vpndiag.OutcomeOK, fmt.Sprintf("keep-alive monitor %s started: pinging %s every %s (kept across relay restarts)", name, req.Target, interval)
	case "stop":
		a.mu.Lock()
		m := a.monitors[name]
		delete(a.monitors, name)
		a.mu.Unlock()
		if m == nil {
			return fail(vpndiag.Errorf(vpndiag.ENOTFOUND, "No keep-alive monitor named %s runs on this relay.", name))
		}
		m.cancel()
		<-m.done
		a.flushMonitor(m)
		if err := a.saveState(); err != nil {
			a.log().Error("relay: save state", "err", err)
		}
		res.Outcome, res.Summary = vpndiag.OutcomeOK, fmt.Sprintf("keep-alive monitor %s stopped", name)
	case "status":
		a.mu.Lock()
		var sts []MonitorStatus
		for _, k := range sortedKeys(a.monitors) {
			m := a.monitors[k]
			m.mu.Lock()
			sts = append(sts, m.st)
			m.mu.Unlock()
		}
		a.mu.Unlock()
		b, _ := json.Marshal(sts)
		res.Detail = b
		res.Outcome = vpndiag.OutcomeOK
		parts := make([]string, 0, len(sts))
		for _, s := range sts {
			state := "down"
			if s.Up {
				state = "up"
			}
			parts = append(parts, fmt.Sprintf("%s (%s every %s, %s, %d/%d lost)", s.Name, s.Address, s.Interval, state, s.Lost, s.Samples))
		}
		res.Summary = fmt.Sprintf("%d keep-alive monitors: %s", len(sts), strings.Join(parts, "; "))
		if len(sts) == 0 {
			res.Summary = "no keep-alive monitors run on this relay"
		}
	default:
		return fail(vpndiag.Errorf(vpndiag.EINVALID, "The monitor action must be start, stop or status (got %q).", action))
	}
	res.Duration = time.Since(start)
	return res
}

// flushMonitor sends a stopped monitor's last samples.
func (a *Agent) flushMonitor(m *monitor) {
	m.mu.Lock()
	samples := m.pending
	m.pending = nil
	m.mu.Unlock()
	if len(samples) > 0 {
		batch := relay.NewJobID()
		a.deliver("batch/"+batch, &relay.Message{Type: relay.TypeSamples, Samples: &relay.Samples{Batch: batch, CaseID: m.spec.CaseID, Samples: samples}})
	}
}
