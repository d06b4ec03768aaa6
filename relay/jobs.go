package relay

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sort"
	"time"

	"github.com/vpndiag/vpndiag"
)

// NewJobID returns a random, unpredictable job ID (96 bits from
// crypto/rand).
func NewJobID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return "job-" + hex.EncodeToString(b)
}

// Probe runs req on a relay and waits for its result until ctx's deadline:
// on the relay named in req.Relay, or, with req.Relay empty, on the least
// busy connected relay of site req.SiteID. A relay that is offline, or that
// disconnects while the probe runs, is an EUNAVAILABLE error at once. A
// result is stored (once) when it arrives, even after the caller stopped
// waiting.
//
// Every call is a new job with a wire job ID of the hub's (NewJobID): a
// caller's ID is never sent to the relay, so it cannot be predicted and a
// probe run again ("Run the probes") is a new job. The result is stored and
// returned under the caller's ID when it gave one, marked Stored when the
// hub has a store (Results).
func (h *Hub) Probe(ctx context.Context, req *vpndiag.ProbeRequest) (*vpndiag.ProbeResult, error) {
	if req.Relay == "" && req.SiteID == 0 {
		return nil, vpndiag.Errorf(vpndiag.EINVALID, "No relay named for the %s probe.", req.Kind)
	}
	r := *req
	r.ID = NewJobID()
	ref := req.ID
	if ref == "" {
		ref = r.ID
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
	c, err := h.pick(r.Relay, r.SiteID)
	if err != nil {
		h.mu.Unlock()
		return nil, err
	}
	r.Relay = c.name
	j := &job{req: r, ref: ref, relay: c.name, conn: c, result: make(chan *vpndiag.ProbeResult, 1)}
	h.jobs[r.ID] = j
	h.startedMonitor(c, &r)
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
			vpndiag.Errorf(vpndiag.EUNAVAILABLE, "Relay %s is offline since %s (its connection failed as the %s probe was sent).", c.name, h.now().UTC().Format("15:04:05 UTC, Jan 2"), r.Kind)))
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

// pick returns the live link that runs a request: relay name, or with name
// empty the least busy connected relay of siteID (by name on a tie, so the
// choice is predictable). A named relay must serve siteID when it is set.
// h.mu is held.
func (h *Hub) pick(name string, siteID int64) (*conn, error) {
	if name != "" {
		rs := h.relays[name]
		switch {
		case rs != nil && siteID != 0 && rs.siteID != siteID:
			return nil, vpndiag.Errorf(vpndiag.EFORBIDDEN, "Relay %s does not serve this case's site.", name)
		case rs != nil && rs.conn != nil:
			return rs.conn, nil
		case rs != nil:
			return nil, vpndiag.Errorf(vpndiag.EUNAVAILABLE, "Relay %s is offline since %s (%s).", name, rs.since.UTC().Format("15:04 UTC, Jan 2"), rs.reason)
		}
		return nil, vpndiag.Errorf(vpndiag.EUNAVAILABLE, "Relay %s has not connected since the bot started.", name)
	}
	var names []string
	for n, rs := range h.relays {
		if rs.conn != nil && rs.siteID == siteID {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		// Name the relay of the site that went away last, and when.
		var last string
		for n, rs := range h.relays {
			if rs.siteID == siteID && (last == "" || rs.since.After(h.relays[last].since)) {
				last = n
			}
		}
		if last != "" {
			rs := h.relays[last]
			return nil, vpndiag.Errorf(vpndiag.EUNAVAILABLE, "Relay %s of site %s is offline since %s (%s).", last, siteLabel(rs), rs.since.UTC().Format("15:04:05 UTC, Jan 2"), rs.reason)
		}
		return nil, vpndiag.Errorf(vpndiag.EUNAVAILABLE, "No relay of this case's site is connected.")
	}
	sort.Slice(names, func(i, j int) bool {
		a, b := h.relays[names[i]].conn, h.relays[names[j]].conn
		if ra, rb := a.load(), b.load(); ra != rb {
			return ra < rb
		}
		return names[i] < names[j]
	})
	return h.relays[names[0]].conn, nil
}

// siteLabel names a relay's site for people: its name, else its ID.
func siteLabel(rs *relayState) string {
	if rs.site != "" {
		return rs.site
	}
	return fmt.Sprintf("#%d", rs.siteID)
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

// handleResult stores a result once, hands it to the waiting Probe call
// (marked Stored, so that it is not stored again) and acknowledges it.
func (h *Hub) handleResult(ctx context.Context, c *conn, res *vpndiag.ProbeResult) {
	h.mu.Lock()
	j := h.jobs[res.ID]
	if j == nil || j.relay != c.name {
		h.mu.Unlock()
		// Not a job this hub sent this relay (or one forgotten after a
		// restart): drop it, but acknowledge so the relay stops resending.
		h.dropped("relay: result for an unknown job dropped", "relay", c.name, "job", truncate(res.ID))
		_ = c.send(ctx, &Message{Type: TypeAck, Ack: &Ack{Job: res.ID}})
		return
	}
	wire := res.ID
	// The job, not the relay, says which case and probe this is.
	res.ID, res.CaseID, res.Kind, res.Relay = j.ref, j.req.CaseID, j.req.Kind, c.name
	if res.Target == "" {
		res.Target = j.req.Target
	}
	stored := j.stored
	h.mu.Unlock()
	if !stored && h.Results != nil {
		if err := h.Results.CreateProbeResult(ctx, res); err != nil {
			// Not acknowledged: the relay sends it again.
			h.log().Error("relay: store result", "relay", c.name, "job", wire, "err", err)
			return
		}
	}
	h.mu.Lock()
	first := j.done.IsZero()
	j.stored = true
	if first {
		j.done = h.now()
		res.Stored = h.Results != nil
		j.result <- res
	}
	h.monitorResult(c, &j.req, res)
	h.mu.Unlock()
	if !first {
		h.log().Info("relay: duplicate result ignored", "relay", c.name, "job", wire)
	}
	_ = c.send(ctx, &Message{Type: TypeAck, Ack: &Ack{Job: wire}})
}

// forget drops finished jobs and stored batches older than jobMemory, and
// expires keep-alive monitors.
func (h *Hub) forget(now time.Time) {
	h.mu.Lock()
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
	expired := h.expireMonitors(now)
	h.mu.Unlock()
	for _, m := range expired {
		go h.stopMonitor(m.key.relay, m.key.name, m.caseID, "it ran for its lifetime")
	}
}
