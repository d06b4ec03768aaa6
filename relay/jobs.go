package relay

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/vpndiag/vpndiag"
)

// NewJobID returns a random job ID.
func NewJobID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "job-" + hex.EncodeToString(b)
}

// SitePrefix in ProbeRequest.Relay asks for any connected relay of a site:
// "site:hq".
const SitePrefix = "site:"

// Probe runs req on the relay named in req.Relay (or, with "site:NAME",
// on any connected relay of that site) and waits for its result until
// ctx's deadline. A relay that is offline, or that disconnects while the
// probe runs, is an EUNAVAILABLE error at once. A result is stored (once)
// when it arrives, even after the caller stopped waiting.
func (h *Hub) Probe(ctx context.Context, req *vpndiag.ProbeRequest) (*vpndiag.ProbeResult, error) {
	if req.Relay == "" {
		return nil, vpndiag.Errorf(vpndiag.EINVALID, "No relay named for the %s probe.", req.Kind)
	}
	r := *req
	if r.ID == "" {
		r.ID = NewJobID()
	}
	if dl, ok := ctx.Deadline(); ok {
		// Leave the relay time to report a timeout before the caller gives up.
		left := time.Until(dl) - 200*time.Millisecond
		if left <= 0 {
			return nil, fmt.Errorf("relay %s: %w", r.Relay, context.DeadlineExceeded)
		}
		if r.Timeout == 0 || r.Timeout > left {
			r.Timeout = left
		}
	}
	h.mu.Lock()
	h.init()
	c, err := h.pick(ctx, r.Relay)
	if err != nil {
		h.mu.Unlock()
		return nil, err
	}
	if old := h.jobs[r.ID]; old != nil {
		h.mu.Unlock()
		return nil, vpndiag.Errorf(vpndiag.ECONFLICT, "Job %s was already sent to relay %s.", r.ID, old.relay)
	}
	r.Relay = c.name
	j := &job{req: r, relay: c.name, conn: c, result: make(chan *vpndiag.ProbeResult, 1)}
	h.jobs[r.ID] = j
	h.mu.Unlock()

	fail := func(err error) (*vpndiag.ProbeResult, error) {
		h.mu.Lock()
		if j.done.IsZero() {
			j.done = h.now() // remembered for a late result, forgotten later
		}
		h.mu.Unlock()
		return nil, err
	}
	if err := c.send(ctx, &Message{Type: TypeJob, Job: &r}); err != nil {
		return fail(fmt.Errorf("relay %s: send job: %v: %w", c.name, err,
			vpndiag.Errorf(vpndiag.EUNAVAILABLE, "Relay %s could not be sent the %s probe: its connection failed.", c.name, r.Kind)))
	}
	select {
	case res := <-j.result:
		return res, nil
	case <-c.done:
		// A result that raced the disconnect still counts.
		select {
		case res := <-j.result:
			return res, nil
		default:
		}
		return fail(fmt.Errorf("relay %s: job %s: %s: %w", c.name, r.ID, c.reason,
			vpndiag.Errorf(vpndiag.EUNAVAILABLE, "Relay %s disconnected while running the %s probe of %s (%s); run it again when the relay is back.", c.name, r.Kind, r.Target, c.reason)))
	case <-ctx.Done():
		return fail(fmt.Errorf("relay %s: job %s: %w: %w", c.name, r.ID, ctx.Err(),
			vpndiag.Errorf(vpndiag.EUNAVAILABLE, "Relay %s did not return the %s probe's result in time.", c.name, r.Kind)))
	}
}

// pick returns the live link for name (or "site:NAME"); h.mu is held.
func (h *Hub) pick(ctx context.Context, name string) (*conn, error) {
	if site, ok := strings.CutPrefix(name, SitePrefix); ok {
		var names []string
		for n, rs := range h.relays {
			if rs.conn != nil && rs.site == site {
				names = append(names, n)
			}
		}
		if len(names) == 0 {
			// Name the relay of the site that went away last, and when.
			var last string
			for n, rs := range h.relays {
				if rs.site == site && (last == "" || rs.since.After(h.relays[last].since)) {
					last = n
				}
			}
			if last != "" {
				rs := h.relays[last]
				return nil, vpndiag.Errorf(vpndiag.EUNAVAILABLE, "Relay %s of site %s is offline since %s (%s).", last, site, rs.since.UTC().Format("15:04:05 UTC, Jan 2"), rs.reason)
			}
			return nil, vpndiag.Errorf(vpndiag.EUNAVAILABLE, "No relay of site %s is connected.", site)
		}
		// The least busy, then by name, so the choice is predictable.
		sort.Slice(names, func(i, j int) bool {
			a, b := h.relays[names[i]].conn, h.relays[names[j]].conn
			if ra, rb := a.load(), b.load(); ra != rb {
				return ra < rb
			}
			return names[i] < names[j]
		})
		return h.relays[names[0]].conn, nil
	}
	rs := h.relays[name]
	if rs != nil && rs.conn != nil {
		return rs.conn, nil
	}
	if rs != nil {
		return nil, vpndiag.Errorf(vpndiag.EUNAVAILABLE, "Relay %s is offline since %s (%s).", name, rs.since.UTC().Format("15:04 UTC, Jan 2"), rs.reason)
	}
	return nil, vpndiag.Errorf(vpndiag.EUNAVAILABLE, "Relay %s has not connected since the bot started.", name)
}

// load is the number of jobs pending on c.
func (c *conn) load() int {
	n := 0
	for _, j := range c.hub.jobs {
		if j.conn == c && j.done.IsZero() {
			n++
		}
	}
	return n
}

// handleResult stores a result once, hands it to the waiting Probe call and
// acknowledges it.
func (h *Hub) handleResult(ctx context.Context, c *conn, res *vpndiag.ProbeResult) {
	h.mu.Lock()
	j := h.jobs[res.ID]
	if j == nil || j.relay != c.name {
		h.mu.Unlock()
		// Not a job this hub sent this relay (or one forgotten after a
		// restart): drop it, but acknowledge so the relay stops resending.
		h.log().Warn("relay: result for an unknown job", "relay", c.name, "job", res.ID)
		_ = c.send(ctx, &Message{Type: TypeAck, Ack: &Ack{Job: res.ID}})
		return
	}
	// The job, not the relay, says which case and probe this is.
	res.CaseID, res.Kind, res.Relay = j.req.CaseID, j.req.Kind, c.name
	if res.Target == "" {
		res.Target = j.req.Target
	}
	stored := j.stored
	h.mu.Unlock()
	if !stored && h.Results != nil {
		if err := h.Results.CreateProbeResult(ctx, res); err != nil {
			// Not acknowledged: the relay sends it again.
			h.log().Error("relay: store result", "relay", c.name, "job", res.ID, "err", err)
			return
		}
	}
	h.mu.Lock()
	first := j.done.IsZero()
	j.stored = true
	if first {
		j.done = h.now()
		j.result <- res
	}
	h.mu.Unlock()
	if !first {
		h.log().Info("relay: duplicate result ignored", "relay", c.name, "job", res.ID)
	}
	_ = c.send(ctx, &Message{Type: TypeAck, Ack: &Ack{Job: res.ID}})
}

// forget drops finished jobs and stored batches older than jobMemory.
func (h *Hub) forget(now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for id, j := range h.jobs {
		if !j.done.IsZero() && now.Sub(j.done) > jobMemory {
			delete(h.jobs, id)
		}
	}
	for k, at := range h.batches {
		if now.Sub(at) > jobMemory {
			delete(h.batches, k)
		}
	}
}
