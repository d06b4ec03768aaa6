package agent_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/internal/testkit"
	"github.com/vpndiag/vpndiag/probes"
	"github.com/vpndiag/vpndiag/relay"
	"github.com/vpndiag/vpndiag/relay/agent"
	"github.com/vpndiag/vpndiag/relay/policy"
	"github.com/vpndiag/vpndiag/storage/sqlite"
)

// MustCert returns a self-signed certificate for 127.0.0.1 and ::1,
// generated in memory, and a pool that trusts it.
func MustCert(tb testing.TB) (tls.Certificate, *x509.CertPool) {
	tb.Helper()
	c := testkit.MustCert(tb, "vpndiag test hub", time.Time{}, "127.0.0.1", "::1")
	return c.TLS, c.Pool
}

// env is a bot (SQLite in a temp dir, a hub over HTTPS on loopback) with
// one site and one case.
type env struct {
	tb     testing.TB
	db     *sqlite.DB
	tokens *sqlite.RelayTokenService
	probes *sqlite.ProbeService
	sites  *sqlite.SiteService
	cases  *sqlite.CaseService
	site   *vpndiag.Site
	caseID int64
	cert   tls.Certificate
	pool   *x509.CertPool

	mu   sync.Mutex
	hub  *relay.Hub
	srv  *http.Server
	addr string
}

// MustEnv opens the database and starts the hub.
func MustEnv(tb testing.TB) *env {
	tb.Helper()
	db := sqlite.NewDB(filepath.Join(tb.TempDir(), "bot.db"))
	if err := db.Open(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	e := &env{tb: tb, db: db, tokens: sqlite.NewRelayTokenService(db), probes: sqlite.NewProbeService(db),
		sites: sqlite.NewSiteService(db), cases: sqlite.NewCaseService(db)}
	e.cert, e.pool = MustCert(tb)
	ctx := context.Background()
	e.site = &vpndiag.Site{Name: "hq", CloudDNSServers: []netip.Addr{netip.MustParseAddr("10.20.0.2")}}
	if err := e.sites.UpsertSite(ctx, e.site); err != nil {
		tb.Fatal(err)
	}
	marker, _ := vpndiag.NewMarker(time.Now(), nil)
	c := &vpndiag.Case{Marker: marker, SiteID: e.site.ID, Title: "relay test", Status: vpndiag.CaseOpen, Origin: "terminal", CreatedBy: "test"}
	if err := e.cases.CreateCase(ctx, c); err != nil {
		tb.Fatal(err)
	}
	e.caseID = c.ID
	e.start("127.0.0.1:0")
	tb.Cleanup(e.stop)
	return e
}

// start starts a new hub (same database) listening on addr.
func (e *env) start(addr string) {
	e.tb.Helper()
	var l net.Listener
	var err error
	for i := 0; i < 50; i++ { // the old listener's port may take a moment to free
		if l, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		e.tb.Fatal(err)
	}
	hub := &relay.Hub{Tokens: e.tokens, Results: e.probes, Sites: e.sites, Cases: e.cases, Heartbeat: 200 * time.Millisecond}
	mux := http.NewServeMux()
	mux.Handle(relay.Path, hub)
	srv := &http.Server{Handler: mux, TLSConfig: &tls.Config{Certificates: []tls.Certificate{e.cert}}}
	go srv.ServeTLS(l, "", "")
	e.mu.Lock()
	e.hub, e.srv, e.addr = hub, srv, l.Addr().String()
	e.mu.Unlock()
}

// stop stops the hub: the listener and every relay link.
func (e *env) stop() {
	e.mu.Lock()
	hub, srv := e.hub, e.srv
	e.mu.Unlock()
	_ = srv.Close()
	_ = hub.Close()
}

func (e *env) Hub() *relay.Hub {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.hub
}

func (e *env) URL() string { return "https://" + e.addr }

// Enrol issues a token for a relay of the site.
func (e *env) Enrol(name string) string {
	e.tb.Helper()
	token, hash, prefix := relay.NewToken()
	if err := e.tokens.CreateRelayToken(context.Background(), &vpndiag.RelayToken{Name: name, SiteID: e.site.ID, Hash: hash, Prefix: prefix}); err != nil {
		e.tb.Fatal(err)
	}
	return token
}

// runningAgent is an agent running in a goroutine.
type runningAgent struct {
	*agent.Agent
	connected chan string
	cancel    context.CancelFunc
	exited    chan struct{} // closed when Run returned, with err set
	err       error
	dialer    *trackingDialer
}

const testPolicy = `
kinds: [tcp, dns, ping, keepalive]
cidrs: [127.0.0.0/8]
max_concurrent: 8
rate_limit: {probes: 100000, per: 1s}
`

// StartAgent runs a relay with token against the env's hub.
func (e *env) StartAgent(token string, mod func(*agent.Agent)) *runningAgent {
	e.tb.Helper()
	p, err := policy.Parse([]byte(testPolicy))
	if err != nil {
		e.tb.Fatal(err)
	}
	td := &trackingDialer{}
	client := agent.NewHTTPClient(e.pool)
	client.Transport.(*http.Transport).DialContext = td.DialContext
	ra := &runningAgent{connected: make(chan string, 16), exited: make(chan struct{}), dialer: td}
	ra.Agent = &agent.Agent{
		Hub: e.URL(), Token: token, Guard: policy.NewGuard(p, &probes.Local{}), HTTPClient: client,
		Heartbeat: 200 * time.Millisecond, MinBackoff: 50 * time.Millisecond, MaxBackoff: time.Second,
		OnConnect: func(name, site string) { ra.connected <- name },
	}
	if mod != nil {
		mod(ra.Agent)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ra.cancel = cancel
	go func() {
		ra.err = ra.Run(ctx)
		close(ra.exited)
	}()
	e.tb.Cleanup(ra.Stop)
	return ra
}

// Stop stops the agent and waits for it.
func (ra *runningAgent) Stop() {
	ra.cancel()
	select {
	case <-ra.exited:
	case <-time.After(10 * time.Second):
	}
}

// WaitConnected waits for the agent's next connection.
func (ra *runningAgent) WaitConnected(tb testing.TB) {
	tb.Helper()
	select {
	case <-ra.connected:
	case <-ra.exited:
		tb.Fatalf("the relay stopped instead of connecting: %v", ra.err)
	case <-time.After(10 * time.Second):
		tb.Fatal("the relay did not connect within 10 s")
	}
}

// trackingDialer dials TCP and remembers the connections, so a test can
// cut them as a network failure would.
type trackingDialer struct {
	mu    sync.Mutex
	conns []net.Conn
}

func (d *trackingDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var nd net.Dialer
	c, err := nd.DialContext(ctx, network, addr)
	if err == nil {
		d.mu.Lock()
		d.conns = append(d.conns, c)
		d.mu.Unlock()
	}
	return c, err
}

// Cut closes every connection dialled so far.
func (d *trackingDialer) Cut() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.conns {
		c.Close()
	}
	d.conns = nil
}

func isCode(err error, code string) bool {
	var e *vpndiag.Error
	return errors.As(err, &e) && e.Code == code
}
