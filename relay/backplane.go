package relay

import (
	"context"
	"time"

	"github.com/vpndiag/vpndiag"
)

// Several replicas of the bot.
//
// A relay holds one link, to whichever replica of the bot its connection
// reached; a probe may be asked on any replica. Replicated is the Prober of
// a replica: it runs a probe on its own hub when that hub holds a link that
// can run it, and otherwise hands it to the Backplane, which carries it to
// the replica that holds the link and brings the result back (package
// storage/postgres implements it on the shared database). The hub itself
// knows nothing of replicas: Held tells the backplane which links it holds.

// Backplane carries a probe to the replica that holds the relay's link.
type Backplane interface {
	// Forward runs req on the replica that holds the link of req.Relay
	// (or, with Relay empty, of a relay of req.SiteID) and returns its
	// result, waiting until ctx's deadline; EUNAVAILABLE when no replica
	// holds such a link.
	Forward(ctx context.Context, req *vpndiag.ProbeRequest) (*vpndiag.ProbeResult, error)
}

// Held returns the relays whose links this hub holds now, by name, with
// their site IDs.
func (h *Hub) Held() map[string]int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string]int64{}
	for name, rs := range h.relays {
		if rs.conn != nil {
			out[name] = rs.siteID
		}
	}
	return out
}

// holds reports whether this hub holds a link that can run req.
func (h *Hub) holds(req *vpndiag.ProbeRequest) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if req.Relay != "" {
		rs := h.relays[req.Relay]
		return rs != nil && rs.conn != nil
	}
	for _, rs := range h.relays {
		if rs.conn != nil && rs.siteID == req.SiteID {
			return true
		}
	}
	return false
}

// Replicated is the Prober of one replica of several; see above.
type Replicated struct {
	// Hub is this replica's hub. Required.
	Hub *Hub
	// Backplane reaches the other replicas; nil runs everything on Hub.
	Backplane Backplane
}

var _ vpndiag.Prober = (*Replicated)(nil)

// Probe runs req on Hub when it holds a link that can run it, else through
// the Backplane. A forwarded result was stored by the hub of the replica
// holding the link, in the store the replicas share, so it is marked Stored
// as this hub's own would be.
func (r *Replicated) Probe(ctx context.Context, req *vpndiag.ProbeRequest) (*vpndiag.ProbeResult, error) {
	if r.Backplane == nil || (req.Relay == "" && req.SiteID == 0) || r.Hub.holds(req) {
		return r.Hub.Probe(ctx, req)
	}
	res, err := r.Backplane.Forward(ctx, req)
	if res != nil {
		res.Stored = r.Hub.Results != nil
	}
	return res, err
}

// MonitorRecord is a keep-alive monitor a hub started on a relay, as the
// replicas share it.
type MonitorRecord struct {
	// Relay and Name identify the monitor.
	Relay, Name string
	// CaseID is the case its samples belong to.
	CaseID int64
	// Expires is when it is stopped (or, once Stopped, when its samples
	// stop being accepted).
	Expires time.Time
	// Stopped is set once a stop was sent.
	Stopped bool
}

// MonitorStore shares the keep-alive monitors between replicas. A relay's
// monitors run on the relay and stream their samples over its link, so the
// replica holding the link owns them: it accepts their samples, and stops
// them when they expire. When the link moves to another replica (the first
// one died), that replica adopts them from the store and carries on, instead
// of stopping them as monitors it never started.
type MonitorStore interface {
	// SaveMonitor records m, owned by this replica.
	SaveMonitor(ctx context.Context, m MonitorRecord) error
	// DeleteMonitor forgets a monitor.
	DeleteMonitor(ctx context.Context, relay, name string) error
	// FindMonitors returns the monitors recorded for relay, and makes
	// this replica their owner.
	FindMonitors(ctx context.Context, relay string) ([]MonitorRecord, error)
}

// shareMonitor saves (or, with gone, deletes) m in the MonitorStore, in the
// background: h.mu is held, and the store is a database. The writes of one
// hub go out in order.
func (h *Hub) shareMonitor(m *monitor, gone bool) {
	if h.Monitors == nil {
		return
	}
	rec := MonitorRecord{Relay: m.key.relay, Name: m.key.name, CaseID: m.caseID, Expires: m.expires, Stopped: m.stopped}
	h.monitorQueue = append(h.monitorQueue, monitorWrite{rec: rec, gone: gone})
	if !h.monitorWriting {
		h.monitorWriting = true
		go h.writeMonitors()
	}
}

// monitorWrite is one pending MonitorStore write.
type monitorWrite struct {
	rec  MonitorRecord
	gone bool
}

// writeMonitors drains the queue of MonitorStore writes.
func (h *Hub) writeMonitors() {
	for {
		h.mu.Lock()
		q := h.monitorQueue
		h.monitorQueue = nil
		if len(q) == 0 {
			h.monitorWriting = false
			h.mu.Unlock()
			return
		}
		h.mu.Unlock()
		for _, w := range q {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			var err error
			if w.gone {
				err = h.Monitors.DeleteMonitor(ctx, w.rec.Relay, w.rec.Name)
			} else {
				err = h.Monitors.SaveMonitor(ctx, w.rec)
			}
			cancel()
			if err != nil {
				h.log().Warn("relay: share keep-alive monitor", "relay", w.rec.Relay, "monitor", w.rec.Name, "err", err)
			}
		}
	}
}

// adoptMonitors takes over the shared monitors of a relay whose link this
// hub now holds: they are this hub's from now on.
func (h *Hub) adoptMonitors(relayName string) {
	if h.Monitors == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	recs, err := h.Monitors.FindMonitors(ctx, relayName)
	cancel()
	if err != nil {
		h.log().Warn("relay: adopt keep-alive monitors", "relay", relayName, "err", err)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.init()
	for _, r := range recs {
		k := monitorKey{r.Relay, r.Name}
		if h.monitors[k] == nil {
			h.monitors[k] = &monitor{key: k, caseID: r.CaseID, expires: r.Expires, stopped: r.Stopped}
		}
	}
	if len(recs) > 0 {
		h.log().Info("relay: keep-alive monitors taken over", "relay", relayName, "monitors", len(recs))
	}
}
