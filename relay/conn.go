package relay

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/vpndiag/vpndiag"
)

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
	gone      chan struct{} // closed once serve has unregistered the link
	closeOnce sync.Once
	reason    string

	// msgs and bytes rate-limit the relay's results and sample batches;
	// throttled counts the messages that had to wait.
	msgs, bytes *bucket
	throttled   atomic.Int64

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
	defer close(c.gone)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The relay speaks first.
	hctx, hcancel := context.WithTimeout(ctx, 10*time.Second)
	m, _, err := c.read(hctx)
	hcancel()
	if err != nil || m.Type != TypeHello {
		h.log().Warn("relay: no hello", "relay", c.name, "err", err)
		c.close("protocol error: the first message must be hello")
		return
	}
	hello := *m.Hello
	site := h.siteName(ctx, c.siteID)
	c.lastHeartbeat = h.now()
	// Monitors another replica started on this relay are ours from now on.
	h.adoptMonitors(c.name)
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
	go h.stopUnknownMonitors(c.name, hello.Monitors)

	go c.heartbeats(ctx)
	dead := DeadAfter(max(hello.HeartbeatInterval, 100*time.Millisecond))
	dead = min(dead, DeadAfter(30*time.Second))
	for {
		rctx, rcancel := context.WithTimeout(ctx, dead)
		m, size, err := c.read(rctx)
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
			if !c.throttle(ctx, size) {
				return
			}
			h.handleResult(ctx, c, m.Result)
		case TypeSamples:
			if !c.throttle(ctx, size) {
				return
			}
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

// read reads and decodes one message, and returns its size.
func (c *conn) read(ctx context.Context) (*Message, int, error) {
	_, b, err := c.ws.Read(ctx)
	if err != nil {
		return nil, 0, err
	}
	m, err := Decode(b)
	if err != nil {
		return nil, len(b), &protocolError{err}
	}
	return m, len(b), nil
}

// throttle waits until the relay's rate limits allow one more message of
// size bytes; false when the link ended meanwhile.
func (c *conn) throttle(ctx context.Context, size int) bool {
	now := c.hub.now()
	wait := max(c.msgs.take(now, 1), c.bytes.take(now, float64(size)))
	if wait <= 0 {
		return true
	}
	c.throttled.Add(1)
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-c.done:
		return false
	}
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
