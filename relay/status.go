package relay

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/vpndiag/vpndiag"
)

// RelayStatus is one relay as the hub sees it.
type RelayStatus struct {
	// Name is the relay's enrolled name.
	Name string `json:"name"`
	// SiteID and Site are the site it serves.
	SiteID int64  `json:"site_id"`
	Site   string `json:"site,omitempty"`
	// Connected is true while its link is up.
	Connected bool `json:"connected"`
	// Since is when it connected, or when it disconnected; zero when it has
	// not connected since the hub started.
	Since time.Time `json:"since,omitzero"`
	// LastHeartbeat is when the hub last heard from it.
	LastHeartbeat time.Time `json:"last_heartbeat,omitzero"`
	// Remote is the address it connected from.
	Remote string `json:"remote,omitempty"`
	// Version is its vpndiag version.
	Version string `json:"version,omitempty"`
	// Kinds are the probe kinds its policy allows.
	Kinds []vpndiag.ProbeKind `json:"kinds,omitempty"`
	// Monitors are its running keep-alive monitors.
	Monitors []string `json:"monitors,omitempty"`
	// Running counts the jobs it is running.
	Running int `json:"running"`
	// Reason is why it last disconnected.
	Reason string `json:"reason,omitempty"`
	// Revoked is true when its token is revoked.
	Revoked bool `json:"revoked"`
}

// Relays lists every enrolled relay (revoked ones included) with its link
// state, by name.
func (h *Hub) Relays(ctx context.Context) ([]RelayStatus, error) {
	tokens, err := h.Tokens.FindRelayTokens(ctx)
	if err != nil {
		return nil, fmt.Errorf("relay status: %w", err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.init()
	var out []RelayStatus
	for _, t := range tokens {
		s := RelayStatus{Name: t.Name, SiteID: t.SiteID, Revoked: t.RevokedAt != nil}
		if rs := h.relays[t.Name]; rs != nil {
			s.Since, s.Site, s.Reason = rs.since, rs.site, rs.reason
			s.Version, s.Kinds, s.Monitors = rs.hello.Version, slices.Clone(rs.hello.Kinds), slices.Clone(rs.hello.Monitors)
			if c := rs.conn; c != nil {
				c.mu.Lock()
				s.Connected, s.LastHeartbeat, s.Remote, s.Running = true, c.lastHeartbeat, c.remote, c.running
				c.mu.Unlock()
			}
		}
		if s.Site == "" {
			s.Site = h.siteName(ctx, t.SiteID)
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// RevokeRelay revokes the relay's token and cuts its live link at once.
func (h *Hub) RevokeRelay(ctx context.Context, name string) error {
	if err := h.Tokens.RevokeRelayToken(ctx, name); err != nil {
		return err
	}
	h.Disconnect(name, "token revoked")
	return nil
}

// Disconnect closes the relay's live link, if any, with reason; its
// pending jobs fail at once. It returns once the hub lists the relay as
// offline (or after two seconds). The relay reconnects unless its token
// is revoked.
func (h *Hub) Disconnect(name, reason string) {
	h.mu.Lock()
	var c *conn
	if rs := h.relays[name]; rs != nil {
		c = rs.conn
	}
	h.mu.Unlock()
	if c != nil {
		c.close(reason)
		select {
		case <-c.gone:
		case <-time.After(2 * time.Second):
		}
	}
}

// Close disconnects every relay ("hub shutting down") and refuses new
// links. http.Server.Shutdown does not close hijacked connections; call
// Close as well.
func (h *Hub) Close() error {
	h.mu.Lock()
	h.closed = true
	var cs []*conn
	for _, rs := range h.relays {
		if rs.conn != nil {
			cs = append(cs, rs.conn)
		}
	}
	h.mu.Unlock()
	for _, c := range cs {
		c.close("hub shutting down")
	}
	return nil
}
