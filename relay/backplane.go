package relay

import (
	"context"

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
// the Backplane.
func (r *Replicated) Probe(ctx context.Context, req *vpndiag.ProbeRequest) (*vpndiag.ProbeResult, error) {
	if r.Backplane == nil || (req.Relay == "" && req.SiteID == 0) || r.Hub.holds(req) {
		return r.Hub.Probe(ctx, req)
	}
	return r.Backplane.Forward(ctx, req)
}
