package slackfake

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// DefaultHello is the hello frame sent on every Socket Mode connection.
const DefaultHello = `{"type":"hello","num_connections":1,"debug_info":{"host":"slackfake","build_number":1,"approximate_connection_time":18060},"connection_info":{"app_id":"A111"}}`

// Ack is an acknowledgement the bot sent over Socket Mode.
type Ack struct {
	EnvelopeID string          `json:"envelope_id"`
	Payload    json.RawMessage `json:"payload,omitempty"`
	// Conn is the number of the connection it came on (1 for the first).
	Conn int `json:"-"`
}

type socket struct {
	s *Server

	mu       sync.Mutex
	conns    []*websocket.Conn
	connects int
	acks     []Ack
	hello    string
	ping     time.Duration
}

func newSocket(s *Server) *socket {
	return &socket{s: s, hello: DefaultHello, ping: 100 * time.Millisecond}
}

// SetHello replaces the hello frame of the next connections.
func (s *Server) SetHello(frame string) {
	s.socket.mu.Lock()
	defer s.socket.mu.Unlock()
	s.socket.hello = frame
}

// SocketConnects counts Socket Mode connections so far.
func (s *Server) SocketConnects() int {
	s.socket.mu.Lock()
	defer s.socket.mu.Unlock()
	return s.socket.connects
}

// WaitSocket waits until at least n connections were made.
func (s *Server) WaitSocket(tb testing.TB, n int, timeout time.Duration) {
	tb.Helper()
	s.WaitFor(tb, timeout, "socket mode connection", func() bool { return s.SocketConnects() >= n })
}

// SendFrame sends a frame on the newest Socket Mode connection.
func (s *Server) SendFrame(tb testing.TB, frame []byte) {
	tb.Helper()
	s.socket.mu.Lock()
	var c *websocket.Conn
	if n := len(s.socket.conns); n > 0 {
		c = s.socket.conns[n-1]
	}
	s.socket.mu.Unlock()
	if c == nil {
		tb.Fatalf("slackfake: no socket mode connection to send on")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageText, frame); err != nil {
		tb.Fatalf("slackfake: send frame: %v", err)
	}
}

// DropSocket closes every Socket Mode connection without a word, as a
// broken link would.
func (s *Server) DropSocket() { s.socket.closeAll() }

// Acks returns the acknowledgements received so far.
func (s *Server) Acks() []Ack {
	s.socket.mu.Lock()
	defer s.socket.mu.Unlock()
	return append([]Ack(nil), s.socket.acks...)
}

// WaitAck waits for the acknowledgement of envelopeID and returns it.
func (s *Server) WaitAck(tb testing.TB, envelopeID string, timeout time.Duration) Ack {
	tb.Helper()
	var got Ack
	s.WaitFor(tb, timeout, "ack of envelope "+envelopeID, func() bool {
		for _, a := range s.Acks() {
			if a.EnvelopeID == envelopeID {
				got = a
				return true
			}
		}
		return false
	})
	return got
}

func (k *socket) serve(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: []string{"api.slack.com"}})
	if err != nil {
		return
	}
	c.SetReadLimit(1 << 20)
	k.mu.Lock()
	k.connects++
	n := k.connects
	k.conns = append(k.conns, c)
	hello, ping := k.hello, k.ping
	k.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	defer c.CloseNow()
	if err := c.Write(ctx, websocket.MessageText, []byte(hello)); err != nil {
		return
	}
	go func() {
		t := time.NewTicker(ping)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				pctx, pcancel := context.WithTimeout(ctx, time.Second)
				err := c.Ping(pctx)
				pcancel()
				if err != nil && ctx.Err() == nil {
					return
				}
			}
		}
	}()
	for {
		_, data, err := c.Read(ctx)
		if err != nil {
			return
		}
		var a Ack
		if json.Unmarshal(data, &a) == nil && a.EnvelopeID != "" {
			a.Conn = n
			var m struct {
				Text   *string         `json:"text"`
				Blocks json.RawMessage `json:"blocks"`
			}
			if json.Unmarshal(a.Payload, &m) == nil && (m.Text != nil || len(m.Blocks) > 0) {
				text := ""
				if m.Text != nil {
					text = *m.Text
				}
				k.s.check("socket ack", CheckMessage(text, m.Blocks))
			}
			k.mu.Lock()
			k.acks = append(k.acks, a)
			k.mu.Unlock()
		}
	}
}

func (k *socket) closeAll() {
	k.mu.Lock()
	conns := k.conns
	k.conns = nil
	k.mu.Unlock()
	for _, c := range conns {
		_ = c.CloseNow()
	}
}
