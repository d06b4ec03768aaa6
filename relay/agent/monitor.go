package agent

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/internal/atomicfile"
	"github.com/vpndiag/vpndiag/kb"
	"github.com/vpndiag/vpndiag/probes"
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

// A monitor runs for DefaultMonitorDuration unless its start job asks for
// another duration (ParamMonitorDuration), at most MaxMonitorDuration; then
// it stops by itself and leaves the state file, restarts included. A
// forgotten monitor must not ping the customer's network for ever.
const (
	DefaultMonitorDuration = relay.DefaultMonitorLifetime
	MaxMonitorDuration     = relay.MaxMonitorLifetime
)

// ParamMonitorDuration is how long a started monitor runs, e.g. 8h;
// default DefaultMonitorDuration.
const ParamMonitorDuration = relay.MonitorDurationParam

// maxPendingSamples bounds the samples a monitor keeps for the hub while
// the link is down (the oldest are dropped).
const maxPendingSamples = 10000

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
	// ExpiresAt is when it stops by itself; zero (a state file written
	// before monitors expired) means StartedAt + DefaultMonitorDuration.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// MonitorStatus is a monitor's state, the detail of a status job: the
// relay's spec with the state of the probes monitor that pings (the same
// one `vpndiag probe keepalive` and the terminal run): its counts since it
// started (kept across relay restarts in a file beside the relay's state
// file), its up/down verdict after debouncing, transitions, any periodic
// drop, and why pings could not be sent (the policy's rate limit, a
// missing capability).
type MonitorStatus struct {
	MonitorSpec
	// Monitor is the pinging monitor's state; its Config.Target is the
	// checked address pinged.
	Monitor probes.KeepaliveState `json:"monitor"`
}

// monitor is one keep-alive monitor: the probes package's Monitor (the
// same one `vpndiag probe keepalive` and the terminal run), pinging
// through the policy's rate limit, its samples kept here until the hub has
// them.
type monitor struct {
	spec MonitorSpec
	km   *probes.Monitor
	stop context.CancelFunc // stops it without removing it (relay shutdown)
	done chan struct{}      // closed once km has stopped
	// removed is set (under Agent.mu) once it is stopped for good (a stop
	// job, its expiry): it is left out of the state file, then out of the
	// relay's list.
	removed bool

	mu      sync.Mutex
	pending []vpndiag.KeepaliveSample
}

// AddKeepaliveSamples implements probes.KeepaliveSink: samples wait in the
// relay until flushSamples sends them to the hub.
func (m *monitor) AddKeepaliveSamples(_ context.Context, _ int64, samples []vpndiag.KeepaliveSample) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pending = append(m.pending, samples...)
	if len(m.pending) > maxPendingSamples {
		m.pending = m.pending[len(m.pending)-maxPendingSamples:]
	}
	return nil
}

// status reports the monitor's state.
func (m *monitor) status() MonitorStatus {
	return MonitorStatus{MonitorSpec: m.spec, Monitor: m.km.Status()}
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
	st := state{Version: 1, Monitors: []MonitorSpec{}}
	a.mu.Lock()
	for _, k := range sortedKeys(a.monitors) {
		if m := a.monitors[k]; !m.removed {
			st.Monitors = append(st.Monitors, m.spec)
		}
	}
	a.mu.Unlock()
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(a.StatePath), 0o700); err != nil {
		return fmt.Errorf("relay state: %w", err)
	}
	if err := atomicfile.WriteFile(a.StatePath, append(b, '\n'), 0o600); err != nil {
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
	if spec.ExpiresAt.IsZero() {
		spec.ExpiresAt = spec.StartedAt.Add(DefaultMonitorDuration)
	}
	if !vpndiag.Now().Before(spec.ExpiresAt) {
		return false, vpndiag.Errorf(vpndiag.EINVALID, "The keep-alive monitor %s expired at %s.", spec.Name, spec.ExpiresAt.UTC().Format(time.RFC3339))
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if old := a.monitors[spec.Name]; old != nil && !old.removed {
		return false, nil
	}
	if len(a.monitors) >= MaxMonitors {
		return false, vpndiag.Errorf(vpndiag.ETOOLARGE, "This relay already runs %d keep-alive monitors, its maximum; stop one first.", MaxMonitors)
	}
	if err := a.monitorBudgetLocked(spec.Interval); err != nil {
		return false, err
	}
	m := &monitor{spec: spec, done: make(chan struct{})}
	mctx, cancel := context.WithDeadline(context.Background(), spec.ExpiresAt)
	km, err := a.startKeepalive(mctx, spec, checked.Target, m)
	if err != nil {
		cancel()
		return false, err
	}
	m.km, m.stop = km, cancel
	a.monitors[spec.Name] = m
	go a.watchMonitor(mctx, m)
	return true, nil
}

// monitorStatePath is the file of a monitor's probes state (its counts,
// up/down timeline and periodic drop) beside the relay's state file, so
// that the timeline survives a relay restart; "" without a state file.
func (a *Agent) monitorStatePath(name string) string {
	if a.StatePath == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(name))
	return fmt.Sprintf("%s.monitor-%x", a.StatePath, sum[:8])
}

// startKeepalive starts the probes monitor of spec, pinging addr and
// saving its state to monitorStatePath: the one a previous run of this
// relay saved, when that file holds this very monitor, else a new one. A
// state that cannot be saved does not stop the monitor: it then runs
// without its file (and restarts its timeline after a relay restart).
func (a *Agent) startKeepalive(ctx context.Context, spec MonitorSpec, addr string, sink probes.KeepaliveSink) (*probes.Monitor, error) {
	cfg := probes.KeepaliveConfig{Name: spec.Name, CaseID: spec.CaseID, Target: addr, Interval: spec.Interval, StatePath: a.monitorStatePath(spec.Name)}
	var km *probes.Monitor
	if cfg.StatePath != "" {
		saved, err := probes.LoadMonitor(cfg.StatePath, sink)
		switch {
		case err == nil:
			st := saved.Status()
			if ip, _ := netip.ParseAddr(addr); st.Config.Target == ip.Unmap().String() && st.Config.Interval == spec.Interval &&
				st.Config.CaseID == spec.CaseID && !st.StartedAt.Before(spec.StartedAt) {
				km = saved
			}
		case vpndiag.ErrorCode(err) != vpndiag.ENOTFOUND:
			a.log().Warn("relay: keep-alive monitor state not resumed", "monitor", spec.Name, "err", err)
		}
	}
	for {
		if km == nil {
			var err error
			if km, err = probes.NewMonitor(cfg, sink); err != nil {
				return nil, err
			}
		}
		km.Ping = a.monitorPing
		err := km.Start(ctx)
		if err == nil || cfg.StatePath == "" {
			return km, err
		}
		a.log().Warn("relay: keep-alive monitor state not saved", "monitor", spec.Name, "err", err)
		cfg.StatePath, km = "", nil
	}
}

// monitorBudgetLocked refuses a monitor that would bring the monitors'
// pings over half of the policy's rate limit: the rest is kept for the
// probes a case asks for. a.mu is held.
func (a *Agent) monitorBudgetLocked(interval time.Duration) error {
	pol := a.Guard.Policy()
	perPeriod := func(iv time.Duration) float64 { return float64(pol.RatePer) / float64(iv) }
	used := perPeriod(interval)
	for _, m := range a.monitors {
		used += perPeriod(m.spec.Interval)
	}
	if budget := float64(pol.Rate) / 2; used > budget {
		return vpndiag.Errorf(vpndiag.ETOOLARGE, "Keep-alive monitors may use at most half of this relay's rate limit (%d probes per %s); with this one they would ping %.0f times per %s. Choose a longer interval or stop a monitor.",
			pol.Rate, pol.RatePer, used, pol.RatePer)
	}
	return nil
}

// monitorPing is the monitors' pinger: each ping takes its place in the
// policy's rate limit (a refusal is a ping that could not be sent, not a
// drop), then goes out as the ping probe would.
func (a *Agent) monitorPing(ctx context.Context, addr netip.Addr) (time.Duration, bool, error) {
	if err := a.Guard.Allow(); err != nil {
		return 0, false, err
	}
	return probes.ICMPPinger(ctx, addr)
}

// watchMonitor waits for the monitor's context: at its expiry the monitor
// is removed from the relay and its state file; on a relay shutdown it is
// only stopped (the state file keeps it).
func (a *Agent) watchMonitor(ctx context.Context, m *monitor) {
	defer close(m.done)
	<-ctx.Done()
	_ = m.km.Stop()
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return
	}
	a.mu.Lock()
	mine := a.monitors[m.spec.Name] == m && !m.removed
	m.removed = m.removed || mine
	a.mu.Unlock()
	if !mine {
		return
	}
	a.log().Info("relay: keep-alive monitor expired", "monitor", m.spec.Name, "started", m.spec.StartedAt, "expired", m.spec.ExpiresAt)
	a.removeMonitor(m)
}

// removeMonitor sends a stopped monitor's last samples and takes it out of
// the state file, then out of the relay's list: a status that no longer
// shows it finds it gone from the file too. m.removed is set.
func (a *Agent) removeMonitor(m *monitor) {
	a.flushMonitor(m)
	if err := a.saveState(); err != nil {
		a.log().Error("relay: save state", "err", err)
	}
	if path := a.monitorStatePath(m.spec.Name); path != "" {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			a.log().Warn("relay: remove keep-alive monitor state", "monitor", m.spec.Name, "err", err)
		}
	}
	a.mu.Lock()
	if a.monitors[m.spec.Name] == m {
		delete(a.monitors, m.spec.Name)
	}
	a.mu.Unlock()
}

// flushSamples turns every monitor's pending samples into a batch for the
// hub.
func (a *Agent) flushSamples() {
	for _, m := range a.monitorList() {
		a.flushMonitor(m)
	}
}

// monitorList returns the running monitors by name.
func (a *Agent) monitorList() []*monitor {
	a.mu.Lock()
	defer a.mu.Unlock()
	ms := make([]*monitor, 0, len(a.monitors))
	for _, k := range sortedKeys(a.monitors) {
		ms = append(ms, a.monitors[k])
	}
	return ms
}

// stopMonitors stops every monitor goroutine (the state file keeps them).
func (a *Agent) stopMonitors() {
	a.mu.Lock()
	ms := a.monitors
	a.mu.Unlock()
	for _, m := range ms {
		m.stop()
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
		if k != ParamMonitor && k != ParamMonitorName && k != ParamMonitorInterval && k != ParamMonitorDuration {
			return fail(vpndiag.Errorf(vpndiag.EINVALID, "A keep-alive monitor job has no parameter %q; its parameters are monitor, name, interval, duration.", k))
		}
	}
	name := relay.MonitorName(req)
	switch action := req.Params[ParamMonitor]; action {
	case "start":
		// The interval is read as the keepalive probe reads it: the same
		// syntax, default and limits.
		timing, err := probes.ParseKeepaliveRequest(&vpndiag.ProbeRequest{Kind: vpndiag.ProbeKeepalive, Target: req.Target,
			Params: map[string]string{"interval": req.Params[ParamMonitorInterval]}})
		if err != nil {
			return fail(err)
		}
		interval := timing.Monitor.Interval
		lifetime, err := relay.MonitorLifetime(req)
		if err != nil {
			return fail(err)
		}
		now := vpndiag.Now()
		spec := MonitorSpec{Name: name, CaseID: req.CaseID, Target: req.Target, Interval: interval, StartedAt: now, ExpiresAt: now.Add(lifetime)}
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
		res.Outcome, res.Summary = vpndiag.OutcomeOK, fmt.Sprintf("keep-alive monitor %s started: pinging %s every %s until %s (kept across relay restarts)", name, req.Target, interval, spec.ExpiresAt.UTC().Format(time.RFC3339))
	case "stop":
		a.mu.Lock()
		m := a.monitors[name]
		if m != nil && m.removed {
			m = nil
		}
		if m != nil {
			m.removed = true
		}
		a.mu.Unlock()
		if m == nil {
			return fail(vpndiag.Errorf(vpndiag.ENOTFOUND, "No keep-alive monitor named %s runs on this relay.", name))
		}
		m.stop()
		<-m.done
		a.removeMonitor(m)
		res.Outcome, res.Summary = vpndiag.OutcomeOK, fmt.Sprintf("keep-alive monitor %s stopped", name)
	case "status":
		var sts []MonitorStatus
		for _, m := range a.monitorList() {
			sts = append(sts, m.status())
		}
		b, _ := json.Marshal(sts)
		res.Detail = b
		res.Outcome = vpndiag.OutcomeOK
		parts := make([]string, 0, len(sts))
		for _, s := range sts {
			km := s.Monitor
			part := fmt.Sprintf("%s (%s every %s, %s, %d/%d lost", s.Name, km.Config.Target, s.Interval, km.State, km.Sent-km.Received, km.Sent)
			if km.Periodic != nil {
				part += fmt.Sprintf(", drops every %s", km.Periodic.Period.Round(time.Second))
			}
			if km.PingError != "" {
				part += ", pings not sent: " + km.PingError
			}
			parts = append(parts, part+")")
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

// flushMonitor sends a monitor's pending samples to the hub as one batch.
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
