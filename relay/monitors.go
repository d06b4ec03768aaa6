package relay

import (
	"context"
)

func (h *Hub) handleSamples(ctx context.Context, c *conn, s *Samples) {
	key := c.name + "/" + s.Batch
	h.mu.Lock()
	_, dup := h.batches[key]
	h.mu.Unlock()
	if !dup && h.Results != nil {
		if h.Cases != nil && c.siteID != 0 {
			cs, err := h.Cases.FindCaseByID(ctx, s.CaseID)
			if err != nil || (cs.SiteID != 0 && cs.SiteID != c.siteID) {
				h.log().Warn("relay: samples for a case not of the relay's site dropped", "relay", c.name, "case", s.CaseID, "err", err)
				_ = c.send(ctx, &Message{Type: TypeAck, Ack: &Ack{Batch: s.Batch}})
				return
			}
		}
		if err := h.Results.AddKeepaliveSamples(ctx, s.CaseID, s.Samples); err != nil {
			h.log().Error("relay: store samples", "relay", c.name, "batch", s.Batch, "err", err)
			return
		}
	}
	h.mu.Lock()
	h.batches[key] = h.now()
	h.mu.Unlock()
	_ = c.send(ctx, &Message{Type: TypeAck, Ack: &Ack{Batch: s.Batch}})
}
