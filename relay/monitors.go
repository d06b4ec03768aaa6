package relay

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/vpndiag/vpndiag"
)

// Keep-alive monitor jobs are keepalive jobs with the MonitorParam
// parameter (start, stop or status); the relay runs them itself and streams
// their samples to the hub (package relay/agent).
const (
	// MonitorParam is the action: start, stop or status.
	MonitorParam = "monitor"
	// MonitorNameParam names the monitor; default MonitorName's.
	MonitorNameParam = "name"
	// MonitorIntervalParam is the ping interval.
	MonitorIntervalParam = "interval"
	// MonitorDurationParam is how long the monitor runs (e.g. 8h); the
	// relay stops it then, and so does the hub.
	MonitorDurationParam = "duration"
)

// Monitor lifetimes: a monitor runs for its duration parameter, by default
// DefaultMonitorLifetime, at most MaxMonitorLifetime; then the relay stops
// it by itself and the hub, a minute later, stops it too and refuses its
// samples. A forgotten monitor never pings for ever.
const (
	DefaultMonitorLifetime = 24 * time.Hour
	MinMonitorLifetime     = time.Minute
	MaxMonitorLifetime     = 7 * 24 * time.Hour
)

// MonitorLifetime is how long the monitor req starts runs: its duration
// parameter, or DefaultMonitorLifetime without one. A value that is not a
// duration from MinMonitorLifetime to MaxMonitorLifetime is an EINVALID
// error. The relay refuses such a start; the hub, which records the start
// before the relay answers, counts DefaultMonitorLifetime meanwhile.
func MonitorLifetime(req *vpndiag.ProbeRequest) (time.Duration, error) {
	v := req.Params[MonitorDurationParam]
	if v == "" {
		return DefaultMonitorLifetime, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < MinMonitorLifetime || d > MaxMonitorLifetime {
		return DefaultMonitorLifetime, vpndiag.Errorf(vpndiag.EINVALID, "The monitor duration must be a duration from %s to %s (got %q).", MinMonitorLifetime, MaxMonitorLifetime, v)
	}
	return d, nil
}

// monitorGrace is how long samples of a stopped or expired monitor are
// still accepted (its last batch is sent as it stops).
const monitorGrace = time.Minute

// MonitorName is the name of the monitor req starts or stops: its name
// parameter, or "case-ID-TARGET".
func MonitorName(req *vpndiag.ProbeRequest) string {
	if name := strings.TrimSpace(req.Params[MonitorNameParam]); name != "" {
		return name
	}
	return fmt.Sprintf("case-%d-%s", req.CaseID, req.Target)
}

// monitorKey names a monitor on a relay.
type monitorKey struct{ relay, name string }

// monitor is a keep-alive monitor this hub started on a relay; samples are
// accepted only for these, and only into their case.
type monitor struct {
	key     monitorKey
	caseID  int64
	expires time.Time // when the hub stops it
	// stopped is set once it was stopped (or expired); samples are
	// accepted until expires.
	stopped bool
}

// monitorLifetime is how long the monitor r starts runs, as the hub sees
// it: MonitorLifetime plus a minute for the relay's own stop and last
// batch; Hub.MonitorLifetime overrides it (tests).
func (h *Hub) monitorLifetime(r *vpndiag.ProbeRequest) time.Duration {
	if h.MonitorLifetime > 0 {
		return h.MonitorLifetime
	}
	d, _ := MonitorLifetime(r) // a bad duration: the relay refuses the start
	return d + monitorGrace
}

// startedMonitor records a monitor start sent to c (before the result, as
// the first samples may come first). h.mu is held.
func (h *Hub) startedMonitor(c *conn, r *vpndiag.ProbeRequest) {
	if r.Kind != vpndiag.ProbeKeepalive || r.Params[MonitorParam] != "start" {
		return
	}
	k := monitorKey{c.name, MonitorName(r)}
	if m := h.monitors[k]; m != nil && !m.stopped && m.caseID != r.CaseID {
		// Another case's monitor of that name: the relay answers "already
		// running"; the samples stay the first case's.
		return
	}
	h.monitors[k] = &monitor{key: k, caseID: r.CaseID, expires: h.now().Add(h.monitorLifetime(r))}
	h.shareMonitor(h.monitors[k], false)
}

// monitorResult updates the monitors with the result of a monitor job.
// h.mu is held.
func (h *Hub) monitorResult(c *conn, req *vpndiag.ProbeRequest, res *vpndiag.ProbeResult) {
	if req.Kind != vpndiag.ProbeKeepalive {
		return
	}
	m := h.monitors[monitorKey{c.name, MonitorName(req)}]
	if m == nil || m.caseID != req.CaseID {
		return
	}
	switch req.Params[MonitorParam] {
	case "start":
		if res.Outcome != vpndiag.OutcomeOK {
			delete(h.monitors, m.key)
			h.shareMonitor(m, true)
		}
	case "stop":
		m.stopped, m.expires = true, h.now().Add(monitorGrace)
		h.shareMonitor(m, false)
	}
}

// expireMonitors returns the running monitors whose lifetime is over
// (marking them stopped) and forgets stopped ones after their grace.
// h.mu is held.
func (h *Hub) expireMonitors(now time.Time) []*monitor {
	var out []*monitor
	for k, m := range h.monitors {
		if now.Before(m.expires) {
			continue
		}
		if m.stopped {
			delete(h.monitors, k)
			h.shareMonitor(m, true)
			continue
		}
		m.stopped, m.expires = true, now.Add(monitorGrace)
		h.shareMonitor(m, false)
		out = append(out, m)
	}
	return out
}

// stopMonitor sends a stop job for a monitor, logging the outcome.
func (h *Hub) stopMonitor(relayName, name string, caseID int64, why string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := h.Probe(ctx, &vpndiag.ProbeRequest{CaseID: caseID, Kind: vpndiag.ProbeKeepalive, Relay: relayName,
		Params: map[string]string{MonitorParam: "stop", MonitorNameParam: name}, Timeout: 20 * time.Second,
		Purpose: "stop a keep-alive monitor: " + why})
	if err != nil {
		h.log().Warn("relay: keep-alive monitor not stopped", "relay", relayName, "monitor", name, "why", why, "err", err)
		return
	}
	h.log().Info("relay: keep-alive monitor stopped", "relay", relayName, "monitor", name, "why", why, "outcome", res.Outcome)
}

// stopUnknownMonitors stops the monitors a relay runs that this hub did
// not start (or that expired): their samples would be refused, and they
// would otherwise ping for ever.
func (h *Hub) stopUnknownMonitors(relayName string, names []string) {
	h.mu.Lock()
	var stop []string
	for _, n := range names {
		if m := h.monitors[monitorKey{relayName, n}]; m == nil || m.stopped {
			stop = append(stop, n)
		}
	}
	h.mu.Unlock()
	for _, n := range stop {
		h.stopMonitor(relayName, n, 0, "the hub did not start it, or its lifetime is over")
	}
}

// acceptSamples reports whether every sample of s is of a monitor this hub
// started on c's relay for case s.CaseID. h.mu is held.
func (h *Hub) acceptSamples(c *conn, s *Samples) bool {
	now := h.now()
	for i := range s.Samples {
		m := h.monitors[monitorKey{c.name, s.Samples[i].Monitor}]
		if m == nil || m.caseID != s.CaseID || !now.Before(m.expires) {
			return false
		}
	}
	return true
}

// handleSamples stores a batch of keep-alive samples once, if every sample
// is of a monitor this hub started on the relay for the batch's case, and
// acknowledges it (a refused batch too, so the relay stops resending it).
func (h *Hub) handleSamples(ctx context.Context, c *conn, s *Samples) {
	key := c.name + "/" + s.Batch
	h.mu.Lock()
	_, dup := h.batches[key]
	ok := h.acceptSamples(c, s)
	h.mu.Unlock()
	ack := func() { _ = c.send(ctx, &Message{Type: TypeAck, Ack: &Ack{Batch: s.Batch}}) }
	if !ok {
		h.dropped("relay: samples of a monitor the hub did not start for that case dropped", "relay", c.name, "case", s.CaseID, "batch", s.Batch)
		ack()
		return
	}
	if !dup && h.Results != nil {
		if h.Cases != nil && c.siteID != 0 {
			cs, err := h.Cases.FindCaseByID(ctx, s.CaseID)
			if err != nil || (cs.SiteID != 0 && cs.SiteID != c.siteID) {
				h.dropped("relay: samples for a case not of the relay's site dropped", "relay", c.name, "case", s.CaseID, "err", err)
				ack()
				return
			}
		}
		if err := h.Results.AddKeepaliveSamples(ctx, s.CaseID, s.Samples); err != nil {
			if vpndiag.ErrorCode(err) == vpndiag.ETOOLARGE {
				// The case holds its cap of samples: refused for good.
				h.dropped("relay: samples over the case's cap dropped", "relay", c.name, "case", s.CaseID, "err", err)
				ack()
				return
			}
			h.log().Error("relay: store samples", "relay", c.name, "batch", s.Batch, "err", err)
			return
		}
	}
	h.mu.Lock()
	h.batches[key] = h.now()
	h.mu.Unlock()
	ack()
}
