// Package agent is the relay that runs inside the customer network: it
// dials out to the bot's hub over HTTPS (a WebSocket, through HTTPS_PROXY
// when set), authenticates with its token, runs the jobs the hub sends
// through the local policy, sends the results back until the hub
// acknowledges them, and keeps keep-alive monitors running across restarts.
package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/relay"
	"github.com/vpndiag/vpndiag/relay/policy"
)

// Backoff defaults: reconnect attempts start after MinBackoff and double up
// to MaxBackoff, each wait jittered to [d/2, d]. MaxBackoff keeps a relay
// within 5 s of reconnecting once the link is back.
const (
	DefaultMinBackoff = 200 * time.Millisecond
	DefaultMaxBackoff = 4 * time.Second
)

// maxOutbox bounds the results and sample batches kept for resending while
// the hub is unreachable; the oldest are dropped beyond it.
const maxOutbox = 1000

// Agent is the relay. Set the fields, then call Run.
type Agent struct {
	// Hub is the bot's hub URL, https://host[:port][/prefix]; the relay
	// endpoint is relay.Path below it.
	Hub string
	// Token is the relay's bearer token.
	Token string
	// Name, when set, must be the token's relay name (a guard against a
	// token copied to the wrong relay).
	Name string
	// Guard runs jobs under the local policy. Required.
	Guard *policy.Guard
	// HTTPClient dials the hub; nil means NewHTTPClient(nil).
	HTTPClient *http.Client
	// StatePath is the file the keep-alive monitors are kept in; empty
	// keeps them in memory only.
	StatePath string
	// Heartbeat is the relay's heartbeat interval; 0 means relay.DefaultHeartbeat.
	Heartbeat time.Duration
	// MinBackoff and MaxBackoff bound the reconnect waits; 0 means the defaults.
	MinBackoff, MaxBackoff time.Duration
	// Logger receives connection events; nil discards.
	Logger *slog.Logger
	// OnConnect, when set, is called each time the link is up (after the
	// hub's hello), with the name and site the hub knows the relay by.
	OnConnect func(name, site string)

	mu       sync.Mutex
	ws       *websocket.Conn
	name     string
	outbox   map[string]*relay.Message // unacknowledged, by job or batch ID
	order    []string                  // outbox keys, oldest first
	monitors map[string]*monitor
	running  atomic.Int32
	jobs     sync.WaitGroup
}

// AuthError is the hub refusing the relay's token: retrying does not help.
type AuthError struct {
	// Status is the HTTP status (401 or 403).
	Status int
	// Message is the hub's explanation.
	Message string
}

// Error implements error.
func (e *AuthError) Error() string {
	return fmt.Sprintf("the hub refused the relay (HTTP %d): %s", e.Status, e.Message)
}

// NewHTTPClient returns the client a relay dials the hub with: TLS 1.2 or
// later verified against the system roots, or only against roots when it
// is not nil (a pinned private CA, LoadCA), through the proxy of
// HTTPS_PROXY/NO_PROXY when set.
func NewHTTPClient(roots *x509.CertPool) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = http.ProxyFromEnvironment
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots}
	return &http.Client{Transport: tr}
}

// LoadCA reads PEM certificates from path into a pool of their own: with
// --ca only that CA is trusted (pinned), not the system's roots as well, so
// a TLS-inspecting proxy with a system-trusted certificate cannot read the
// token.
func LoadCA(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("CA file %s: no PEM certificate in it", path)
	}
	return pool, nil
}

// EndpointURL turns a hub URL into the WebSocket endpoint URL, refusing
// anything but https (http only for loopback, for development).
func EndpointURL(hub string) (string, error) {
	return relay.HubURL(hub, relay.Path)
}

func (a *Agent) log() *slog.Logger {
	if a.Logger != nil {
		return a.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func (a *Agent) heartbeat() time.Duration {
	if a.Heartbeat > 0 {
		return a.Heartbeat
	}
	return relay.DefaultHeartbeat
}

// Run loads the monitors of the state file, then connects to the hub and
// serves it, reconnecting with jittered exponential backoff, until ctx ends
// (nil) or the hub refuses the token (*AuthError).
func (a *Agent) Run(ctx context.Context) error {
	if a.Guard == nil {
		return errors.New("relay: no policy guard")
	}
	endpoint, err := EndpointURL(a.Hub)
	if err != nil {
		return err
	}
	a.mu.Lock()
	if a.outbox == nil {
		a.outbox = map[string]*relay.Message{}
		a.monitors = map[string]*monitor{}
	}
	a.mu.Unlock()
	if err := a.resumeMonitors(ctx); err != nil {
		return err
	}
	defer a.stopMonitors()
	defer a.jobs.Wait()

	minB, maxB := a.MinBackoff, a.MaxBackoff
	if minB <= 0 {
		minB = DefaultMinBackoff
	}
	if maxB <= 0 {
		maxB = DefaultMaxBackoff
	}
	backoff := minB
	for {
		start := time.Now()
		err := a.session(ctx, endpoint)
		if ctx.Err() != nil {
			return nil
		}
		var ae *AuthError
		if errors.As(err, &ae) {
			return ae
		}
		if time.Since(start) > 30*time.Second {
			backoff = minB // it was up for a while: this is a new outage
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		a.log().Warn("relay: link down, reconnecting", "err", err, "in", wait.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		backoff = min(backoff*2, maxB)
	}
}

// session is one connection to the hub, from dial to loss.
func (a *Agent) session(ctx context.Context, endpoint string) error {
	client := a.HTTPClient
	if client == nil {
		client = NewHTTPClient(nil)
	}
	hdr := http.Header{}
	hdr.Set("Authorization", "Bearer "+strings.TrimSpace(a.Token))
	if a.Name != "" {
		hdr.Set("X-Vpndiag-Relay", a.Name)
	}
	dctx, dcancel := context.WithTimeout(ctx, 10*time.Second)
	ws, resp, err := websocket.Dial(dctx, endpoint, &websocket.DialOptions{HTTPClient: client, HTTPHeader: hdr})
	dcancel()
	if err != nil {
		if resp != nil && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden) {
			var msg []byte
			if resp.Body != nil {
				msg, _ = io.ReadAll(io.LimitReader(resp.Body, 1024))
			}
			return &AuthError{Status: resp.StatusCode, Message: strings.TrimSpace(string(msg))}
		}
		return fmt.Errorf("connect to %s: %w", endpoint, err)
	}
	defer ws.CloseNow()
	ws.SetReadLimit(relay.MaxMessageSize)

	hello := &relay.Hello{Name: a.Name, Version: vpndiag.Version, Kinds: a.Guard.Policy().Kinds, Monitors: a.monitorNames(), HeartbeatInterval: a.heartbeat()}
	if err := write(ctx, ws, &relay.Message{Type: relay.TypeHello, Hello: hello}); err != nil {
		return fmt.Errorf("send hello: %w", err)
	}
	hctx, hcancel := context.WithTimeout(ctx, 10*time.Second)
	m, err := read(hctx, ws)
	hcancel()
	if err != nil {
		return fmt.Errorf("hub hello: %w", err)
	}
	if m.Type == relay.TypeBye {
		return fmt.Errorf("the hub closed the link: %s", m.Bye.Reason)
	}
	if m.Type != relay.TypeHello {
		return fmt.Errorf("hub hello: got %s first", m.Type)
	}
	a.log().Info("relay: connected", "hub", endpoint, "name", m.Hello.Name, "site", m.Hello.Site)

	// The link's context is not ctx's child: a read cancelled by ctx would
	// close the link before the relay could say goodbye.
	sctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-ctx.Done():
			bctx, bcancel := context.WithTimeout(context.Background(), time.Second)
			_ = write(bctx, ws, &relay.Message{Type: relay.TypeBye, Bye: &relay.Bye{Reason: "relay stopped"}})
			bcancel()
			_ = ws.CloseNow()
		case <-sctx.Done():
		}
	}()
	a.mu.Lock()
	a.ws, a.name = ws, m.Hello.Name
	pending := make([]*relay.Message, 0, len(a.order))
	for _, k := range a.order {
		pending = append(pending, a.outbox[k])
	}
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		if a.ws == ws {
			a.ws = nil
		}
		a.mu.Unlock()
	}()
	if a.OnConnect != nil {
		a.OnConnect(m.Hello.Name, m.Hello.Site)
	}
	// What the hub has not acknowledged goes again; it stores each once.
	for _, pm := range pending {
		if err := write(sctx, ws, pm); err != nil {
			return fmt.Errorf("resend: %w", err)
		}
	}
	go a.heartbeats(sctx, ws)

	dead := relay.DeadAfter(max(m.Hello.HeartbeatInterval, 100*time.Millisecond))
	dead = min(dead, relay.DeadAfter(30*time.Second))
	for {
		rctx, rcancel := context.WithTimeout(sctx, dead)
		m, err := read(rctx, ws)
		expired := rctx.Err() != nil && sctx.Err() == nil
		rcancel()
		if err != nil {
			if expired {
				return fmt.Errorf("no heartbeat from the hub for %s", dead)
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("link lost: %w", err)
		}
		switch m.Type {
		case relay.TypeJob:
			job := *m.Job
			a.jobs.Add(1)
			go func() {
				defer a.jobs.Done()
				a.runJob(ctx, &job)
			}()
		case relay.TypeAck:
			a.acked(m.Ack)
		case relay.TypeHeartbeat:
		case relay.TypeBye:
			return fmt.Errorf("the hub closed the link: %s", m.Bye.Reason)
		default:
			_ = write(sctx, ws, &relay.Message{Type: relay.TypeBye, Bye: &relay.Bye{Reason: "protocol error: a hub does not send " + string(m.Type)}})
			return fmt.Errorf("protocol error: the hub sent %s", m.Type)
		}
	}
}

func (a *Agent) heartbeats(ctx context.Context, ws *websocket.Conn) {
	t := time.NewTicker(a.heartbeat())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		a.flushSamples()
		if err := write(ctx, ws, &relay.Message{Type: relay.TypeHeartbeat, Heartbeat: &relay.Heartbeat{Time: vpndiag.Now(), Running: int(a.running.Load())}}); err != nil {
			_ = ws.CloseNow()
			return
		}
	}
}

func write(ctx context.Context, ws *websocket.Conn, m *relay.Message) error {
	b, err := relay.Encode(m)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return ws.Write(ctx, websocket.MessageText, b)
}

func read(ctx context.Context, ws *websocket.Conn) (*relay.Message, error) {
	_, b, err := ws.Read(ctx)
	if err != nil {
		return nil, err
	}
	return relay.Decode(b)
}

// deliver keeps m (a result or samples) until the hub acknowledges it and
// sends it now when the link is up.
func (a *Agent) deliver(key string, m *relay.Message) {
	a.mu.Lock()
	if _, ok := a.outbox[key]; !ok {
		a.order = append(a.order, key)
	}
	a.outbox[key] = m
	for len(a.order) > maxOutbox {
		a.log().Warn("relay: outbox full, dropping the oldest undelivered message", "key", a.order[0])
		delete(a.outbox, a.order[0])
		a.order = a.order[1:]
	}
	ws := a.ws
	a.mu.Unlock()
	if ws != nil {
		if err := write(context.Background(), ws, m); err != nil {
			a.log().Warn("relay: send failed; kept for the next link", "key", key, "err", err)
		}
	}
}

func (a *Agent) acked(ack *relay.Ack) {
	key := "job/" + ack.Job
	if ack.Batch != "" {
		key = "batch/" + ack.Batch
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.outbox[key]; !ok {
		return
	}
	delete(a.outbox, key)
	for i, k := range a.order {
		if k == key {
			a.order = append(a.order[:i], a.order[i+1:]...)
			break
		}
	}
}

// Pending returns the keys of results and sample batches not yet
// acknowledged by the hub, oldest first.
func (a *Agent) Pending() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.order...)
}

// jobTimeout bounds a job on the relay: the request's timeout plus a
// margin (the prober applies the timeout itself), or the probes' maximum.
func jobTimeout(req *vpndiag.ProbeRequest) time.Duration {
	if req.Timeout > 0 {
		return req.Timeout + 5*time.Second
	}
	return 15 * time.Minute
}

func (a *Agent) runJob(ctx context.Context, req *vpndiag.ProbeRequest) {
	a.running.Add(1)
	defer a.running.Add(-1)
	start := time.Now()
	var res *vpndiag.ProbeResult
	if req.Kind == vpndiag.ProbeKeepalive && req.Params[ParamMonitor] != "" {
		res = a.monitorJob(ctx, req)
	} else {
		jctx, cancel := context.WithTimeout(ctx, jobTimeout(req))
		var err error
		res, err = a.Guard.Probe(jctx, req)
		cancel()
		if err != nil {
			res = policy.Refusal(req, start, err)
		}
	}
	res.ID, res.Relay = req.ID, a.currentName()
	m := &relay.Message{Type: relay.TypeResult, Result: res}
	if _, err := relay.Encode(m); err != nil {
		// Too large for the wire: keep the verdict, drop the detail.
		res.Detail = nil
		res.Error = strings.TrimSpace(res.Error + " The result's detail was too large to send.")
	}
	a.deliver("job/"+req.ID, m)
}

func (a *Agent) currentName() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.name != "" {
		return a.name
	}
	return a.Name
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
