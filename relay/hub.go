package relay

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/vpndiag/vpndiag"
)

// DefaultHeartbeat is how often each side sends a heartbeat; a link silent
// for DeadAfter(DefaultHeartbeat) is declared dead.
const DefaultHeartbeat = 2 * time.Second

// jobMemory is how long the hub remembers a finished job, so that a result
// delivered again (after a reconnect) is recognised and stored once.
const jobMemory = time.Hour

// Hub is the bot's side of the relays: an http.Handler for the endpoint
// relays dial into, a registry of which relay is connected for which site,
// and a vpndiag.Prober that runs a probe on the relay named in the
// request and awaits its result.
type Hub struct {
	// Tokens authenticates relays. Required.
	Tokens vpndiag.RelayTokenService
	// Results stores results and keep-alive samples; nil stores nothing.
	Results vpndiag.ProbeService
	// Sites names the site of each relay (status, "site:NAME" requests);
	// nil shows site IDs only.
	Sites vpndiag.SiteService
	// Cases, when set, lets keep-alive samples in only for cases of the
	// relay's site.
	Cases vpndiag.CaseService
	// Logger receives connection events and internal detail; nil discards.
	Logger *slog.Logger
	// Heartbeat is the hub's heartbeat interval; 0 means DefaultHeartbeat.
	Heartbeat time.Duration
	// Now is the clock; nil means vpndiag.Now.
	Now vpndiag.Clock

	mu      sync.Mutex
	relays  map[string]*relayState // by relay name
	jobs    map[string]*job        // by job ID
	batches map[string]time.Time   // stored sample batches, "relay/batch"
	closed  bool
}

// relayState is what the hub knows of one relay, connected or not.
type relayState struct {
	conn *conn // nil when offline
	// since is when it connected (conn != nil) or disconnected.
	since  time.Time
	siteID int64
	site   string
	hello  Hello
	reason string // why it last disconnected
}

// job is a probe sent to a relay.
type job struct {
	req    vpndiag.ProbeRequest
	relay  string
	conn   *conn
	result chan *vpndiag.ProbeResult // buffered 1; receives the first result
	stored bool
	done   time.Time // when the result came; zero while pending
}

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

var _ vpndiag.Prober = (*Hub)(nil)
var _ http.Handler = (*Hub)(nil)

func (h *Hub) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return vpndiag.Now()
}

func (h *Hub) log() *slog.Logger {
	if h.Logger != nil {
		return h.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func (h *Hub) heartbeat() time.Duration {
	if h.Heartbeat > 0 {
		return h.Heartbeat
	}
	return DefaultHeartbeat
}

func (h *Hub) init() {
	if h.relays == nil {
		h.relays = map[string]*relayState{}
		h.jobs = map[string]*job{}
		h.batches = map[string]time.Time{}
	}
}

// httpError writes a plain-text refusal the relay prints as is.
func httpError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	fmt.Fprintln(w, msg)
}

// ServeHTTP accepts a relay's connection: it authenticates the bearer
// token, upgrades to a WebSocket and serves the link until it ends.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		httpError(w, http.StatusMethodNotAllowed, "relay endpoint: use GET with a WebSocket upgrade")
		return
	}
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || strings.TrimSpace(token) == "" {
		httpError(w, http.StatusUnauthorized, "relay endpoint: missing Authorization: Bearer <relay token>")
		return
	}
	hash := HashToken(token)
	t, err := h.Tokens.FindRelayTokenByHash(r.Context(), hash)
	if vpndiag.ErrorCode(err) == vpndiag.ENOTFOUND {
		h.log().Warn("relay: unknown token", "remote", r.RemoteAddr)
		httpError(w, http.StatusUnauthorized, "relay endpoint: the relay token is not recognised (create one with 'vpndiag relay token create')")
		return
	} else if err != nil {
		h.log().Error("relay: token lookup", "err", err)
		httpError(w, http.StatusServiceUnavailable, "relay endpoint: cannot check tokens now; try again")
		return
	}
	if subtle.ConstantTimeCompare([]byte(t.Hash), []byte(hash)) != 1 {
		httpError(w, http.StatusUnauthorized, "relay endpoint: the relay token is not recognised")
		return
	}
	if t.RevokedAt != nil {
		h.log().Warn("relay: revoked token", "relay", t.Name, "remote", r.RemoteAddr)
		httpError(w, http.StatusUnauthorized, fmt.Sprintf("relay endpoint: the token of relay %s was revoked on %s", t.Name, t.RevokedAt.UTC().Format("2006-01-02 15:04 UTC")))
		return
	}
	if name := r.Header.Get("X-Vpndiag-Relay"); name != "" && name != t.Name {
		httpError(w, http.StatusForbidden, fmt.Sprintf("relay endpoint: this token belongs to relay %s, not %s", t.Name, name))
		return
	}
	if err := h.Tokens.TouchRelayToken(r.Context(), t.ID, h.now()); err != nil {
		h.log().Warn("relay: touch token", "relay", t.Name, "err", err)
	}
	ws, err := websocket.Accept(w, r, nil)
	if err != nil {
		h.log().Warn("relay: websocket accept", "relay", t.Name, "err", err)
		return
	}
	ws.SetReadLimit(MaxMessageSize)
	c := &conn{hub: h, ws: ws, name: t.Name, tokenID: t.ID, hash: hash, siteID: t.SiteID, remote: r.RemoteAddr, done: make(chan struct{})}
	c.serve(r.Context())
}

// conn is one live link to a relay.
type conn struct {
	hub     *Hub
	ws      *websocket.Conn
	name    string
	tokenID int64
	hash    string
	siteID  int64
	remote  string

	done      chan struct{} // closed when the link ends
	closeOnce sync.Once
	reason    string

	mu            sync.Mutex
	lastHeartbeat time.Time
	running       int
	lastTouch     time.Time
}

func (c *conn) send(ctx context.Context, m *Message) error {
	b, err := Encode(m)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return c.ws.Write(ctx, websocket.MessageText, b)
}

// close ends the link, telling the relay why, and fails its pending jobs.
func (c *conn) close(reason string) {
	c.closeOnce.Do(func() {
		c.reason = reason
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = c.send(ctx, &Message{Type: TypeBye, Bye: &Bye{Reason: reason}})
		cancel()
		_ = c.ws.CloseNow()
		close(c.done)
	})
}

func (c *conn) serve(ctx context.Context) {
	h := c.hub
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The relay speaks first.
	hctx, hcancel := context.WithTimeout(ctx, 10*time.Second)
	m, err := c.read(hctx)
	hcancel()
	if err != nil || m.Type != TypeHello {
		h.log().Warn("relay: no hello", "relay", c.name, "err", err)
		c.close("protocol error: the first message must be hello")
		return
	}
	hello := *m.Hello
	site := h.siteName(ctx, c.siteID)
	c.lastHeartbeat = h.now()
	// Registered before the hub's hello, so that a relay that has its
	// answer can be sent jobs.
	h.register(c, hello, site)
	defer func() {
		h.unregister(c)
		h.log().Info("relay disconnected", "relay", c.name, "reason", c.reason)
	}()
	if err := c.send(ctx, &Message{Type: TypeHello, Hello: &Hello{Name: c.name, Site: site, Version: vpndiag.Version, HeartbeatInterval: h.heartbeat()}}); err != nil {
		c.close("cannot send hello")
		return
	}
	h.log().Info("relay connected", "relay", c.name, "site", site, "remote", c.remote, "version", hello.Version)

	go c.heartbeats(ctx)
	dead := DeadAfter(max(hello.HeartbeatInterval, 100*time.Millisecond))
	dead = min(dead, DeadAfter(30*time.Second))
	for {
		rctx, rcancel := context.WithTimeout(ctx, dead)
		m, err := c.read(rctx)
		expired := rctx.Err() != nil && ctx.Err() == nil
		rcancel()
		if err != nil {
			switch {
			case expired:
				c.close(fmt.Sprintf("no heartbeat for %s", dead))
			case errors.As(err, new(*protocolError)):
				c.close("protocol error: " + err.Error())
			default:
				c.close("connection lost")
			}
			return
		}
		c.mu.Lock()
		c.lastHeartbeat = h.now()
		c.mu.Unlock()
		switch m.Type {
		case TypeHeartbeat:
			c.mu.Lock()
			c.running = m.Heartbeat.Running
			c.mu.Unlock()
		case TypeResult:
			h.handleResult(ctx, c, m.Result)
		case TypeSamples:
			h.handleSamples(ctx, c, m.Samples)
		case TypeHello:
			h.mu.Lock()
			if rs := h.relays[c.name]; rs != nil && rs.conn == c {
				rs.hello = *m.Hello
			}
			h.mu.Unlock()
		case TypeBye:
			c.close("relay said bye: " + m.Bye.Reason)
			return
		default:
			c.close(fmt.Sprintf("protocol error: a relay does not send %s", m.Type))
			return
		}
	}
}

// protocolError is a message the peer should not have sent.
type protocolError struct{ err error }

func (e *protocolError) Error() string { return e.err.Error() }

func (c *conn) read(ctx context.Context) (*Message, error) {
	_, b, err := c.ws.Read(ctx)
	if err != nil {
		return nil, err
	}
	m, err := Decode(b)
	if err != nil {
		return nil, &protocolError{err}
	}
	return m, nil
}

// heartbeats sends the hub's heartbeats and re-checks the token each time,
// so a token revoked from another process cuts the relay off within one
// interval.
func (c *conn) heartbeats(ctx context.Context) {
	h := c.hub
	t := time.NewTicker(h.heartbeat())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.done:
			return
		case <-t.C:
		}
		tok, err := h.Tokens.FindRelayTokenByHash(ctx, c.hash)
		if vpndiag.ErrorCode(err) == vpndiag.ENOTFOUND || (err == nil && tok.RevokedAt != nil) {
			c.close("token revoked")
			return
		}
		now := h.now()
		c.mu.Lock()
		touch := now.Sub(c.lastTouch) > 30*time.Second
		if touch {
			c.lastTouch = now
		}
		c.mu.Unlock()
		if touch && err == nil {
			_ = h.Tokens.TouchRelayToken(ctx, c.tokenID, now)
		}
		if err := c.send(ctx, &Message{Type: TypeHeartbeat, Heartbeat: &Heartbeat{Time: now}}); err != nil {
			c.close("connection lost")
			return
		}
		h.forget(now)
	}
}

func (h *Hub) siteName(ctx context.Context, id int64) string {
	if h.Sites == nil || id == 0 {
		return ""
	}
	s, err := h.Sites.FindSiteByID(ctx, id)
	if err != nil {
		return ""
	}
	return s.Name
}

// register makes c the relay's live link, replacing (and closing) an older
// one: a relay that reconnects before the hub noticed its old link died.
func (h *Hub) register(c *conn, hello Hello, site string) {
	h.mu.Lock()
	h.init()
	if h.closed {
		h.mu.Unlock()
		c.close("hub shutting down")
		return
	}
	rs := h.relays[c.name]
	if rs == nil {
		rs = &relayState{}
		h.relays[c.name] = rs
	}
	old := rs.conn
	rs.conn, rs.since, rs.siteID, rs.site, rs.hello, rs.reason = c, h.now(), c.siteID, site, hello, ""
	h.mu.Unlock()
	if old != nil {
		old.close("replaced by a new connection of the same relay")
	}
}

// unregister marks the relay offline (unless a newer link replaced c) and
// fails the jobs that were waiting on c.
func (h *Hub) unregister(c *conn) {
	h.mu.Lock()
	if rs := h.relays[c.name]; rs != nil && rs.conn == c {
		rs.conn, rs.since, rs.reason = nil, h.now(), c.reason
	}
	h.mu.Unlock()
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
// pending jobs fail at once. The relay reconnects unless its token is
// revoked.
func (h *Hub) Disconnect(name, reason string) {
	h.mu.Lock()
	var c *conn
	if rs := h.relays[name]; rs != nil {
		c = rs.conn
	}
	h.mu.Unlock()
	if c != nil {
		c.close(reason)
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
