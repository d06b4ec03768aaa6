package agent_test

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/internal/testkit"
	"github.com/vpndiag/vpndiag/probes"
	"github.com/vpndiag/vpndiag/relay"
	"github.com/vpndiag/vpndiag/relay/agent"
	"github.com/vpndiag/vpndiag/relay/policy"
	"github.com/vpndiag/vpndiag/storage/postgres"
)

// replica is one bot replica of a test: a hub on its own HTTPS listener and
// a backplane, on the shared PostgreSQL database.
type replica struct {
	hub    *relay.Hub
	bp     *postgres.Backplane
	prober *relay.Replicated
	srv    *http.Server
	addr   string
	cancel context.CancelFunc
	done   chan struct{}
}

func startReplica(tb testing.TB, db *postgres.DB, cert tls.Certificate) *replica {
	tb.Helper()
	hub := &relay.Hub{Tokens: postgres.NewRelayTokenService(db), Results: postgres.NewProbeService(db),
		Sites: postgres.NewSiteService(db), Cases: postgres.NewCaseService(db), Heartbeat: 200 * time.Millisecond}
	bp := postgres.NewBackplane(db)
	bp.Held, bp.Probe, bp.Lease = hub.Held, hub.Probe, 2*time.Second
	hub.Monitors = bp
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(relay.Path, hub)
	srv := &http.Server{Handler: mux, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}
	go srv.ServeTLS(l, "", "")
	ctx, cancel := context.WithCancel(context.Background())
	r := &replica{hub: hub, bp: bp, prober: &relay.Replicated{Hub: hub, Backplane: bp}, srv: srv, addr: l.Addr().String(),
		cancel: cancel, done: make(chan struct{})}
	go func() { bp.Run(ctx); close(r.done) }()
	tb.Cleanup(r.stop)
	return r
}

// stop stops the replica: its listener, its relay links and its backplane.
func (r *replica) stop() {
	r.srv.Close()
	r.hub.Close()
	r.cancel()
	<-r.done
}

// TestReplicas_ProbeThroughPostgres: a relay holds its link to replica A; a
// probe asked on replica B reaches it through PostgreSQL (jobs table,
// LISTEN/NOTIFY) and the result comes back to B and is stored once. When
// A goes away the relay reconnects through the load balancer to B within
// 5 s and B runs probes itself.
func TestReplicas_ProbeThroughPostgres(t *testing.T) {
	pg := testkit.StartPostgres(t)
	ctx := context.Background()
	db := postgres.NewDB(pg.NewDatabase(t))
	if err := db.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	site := &vpndiag.Site{Name: "hq", CloudDNSServers: []netip.Addr{netip.MustParseAddr("10.20.0.2")}}
	if err := postgres.NewSiteService(db).UpsertSite(ctx, site); err != nil {
		t.Fatal(err)
	}
	c := &vpndiag.Case{Marker: "VPN-20261125-REP1", SiteID: site.ID, Title: "replicas", Status: vpndiag.CaseOpen, Origin: "slack", CreatedBy: "U1"}
	if err := postgres.NewCaseService(db).CreateCase(ctx, c); err != nil {
		t.Fatal(err)
	}
	token, hash, prefix := relay.NewToken()
	if err := postgres.NewRelayTokenService(db).CreateRelayToken(ctx, &vpndiag.RelayToken{Name: "hq-1", SiteID: site.ID, Hash: hash, Prefix: prefix}); err != nil {
		t.Fatal(err)
	}
	cert, pool := MustCert(t)
	a := startReplica(t, db, cert)
	b := startReplica(t, db, cert)
	lb := testkit.StartBalancer(t, a.addr)

	p, err := policy.Parse([]byte(testPolicy))
	if err != nil {
		t.Fatal(err)
	}
	connected := make(chan string, 8)
	ag := &agent.Agent{Hub: "https://" + lb.Addr, Token: token, Guard: policy.NewGuard(p, &probes.Local{}),
		HTTPClient: agent.NewHTTPClient(pool), Heartbeat: 200 * time.Millisecond, MinBackoff: 50 * time.Millisecond,
		MaxBackoff: 500 * time.Millisecond, OnConnect: func(name, site string) { connected <- name }}
	actx, acancel := context.WithCancel(ctx)
	defer acancel()
	go ag.Run(actx)
	select {
	case <-connected:
	case <-time.After(10 * time.Second):
		t.Fatal("the relay did not connect")
	}
	if _, ok := a.hub.Held()["hq-1"]; !ok {
		t.Fatal("replica A does not hold the relay's link")
	}

	target := tcpListener(t)
	probe := func(r *replica, req vpndiag.ProbeRequest) (*vpndiag.ProbeResult, error) {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return r.prober.Probe(pctx, &req)
	}
	// Wait for A's first heartbeat to publish the link.
	deadline := time.Now().Add(5 * time.Second)
	var res *vpndiag.ProbeResult
	for {
		res, err = probe(b, vpndiag.ProbeRequest{ID: "job-b-1", CaseID: c.ID, Kind: vpndiag.ProbeTCP, Target: target, Relay: "hq-1", Timeout: 3 * time.Second})
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil || res.Outcome != vpndiag.OutcomeOK || res.Relay != "hq-1" || res.ID != "job-b-1" || res.CaseID != c.ID {
		t.Fatalf("probe asked on B for the relay held by A = %+v, %v", res, err)
	}
	// By site, and refused by the relay's policy: the verdict comes back too.
	res, err = probe(b, vpndiag.ProbeRequest{ID: "job-b-2", CaseID: c.ID, Kind: vpndiag.ProbeTCP, Target: "169.254.169.254:80", SiteID: site.ID})
	if err != nil || res.Outcome != vpndiag.OutcomeDenied {
		t.Fatalf("probe by site through B = %+v, %v", res, err)
	}
	stored, err := postgres.NewProbeService(db).FindProbeResults(ctx, c.ID)
	if err != nil || len(stored) != 2 {
		t.Fatalf("stored results = %d, %v; want 2 (each once)", len(stored), err)
	}
	// A relay no replica holds fails at once, saying so.
	start := time.Now()
	_, err = probe(b, vpndiag.ProbeRequest{Kind: vpndiag.ProbeTCP, Target: target, Relay: "nowhere"})
	if vpndiag.ErrorCode(err) != vpndiag.EUNAVAILABLE || time.Since(start) > 2*time.Second {
		t.Fatalf("probe of an unknown relay: %v after %v", err, time.Since(start))
	}

	// A keep-alive monitor started from B runs on the relay, its samples
	// flowing in through A.
	res, err = probe(b, vpndiag.ProbeRequest{CaseID: c.ID, Kind: vpndiag.ProbeKeepalive, Target: "127.0.0.1", Relay: "hq-1",
		Params: map[string]string{agent.ParamMonitor: "start", agent.ParamMonitorName: "ka-hq", agent.ParamMonitorInterval: "1s"}})
	if err != nil || res.Outcome != vpndiag.OutcomeOK {
		t.Fatalf("monitor start through B = %+v, %v", res, err)
	}
	samples := func(n int) int {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			ss, err := postgres.NewProbeService(db).FindKeepaliveSamples(ctx, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(ss) >= n {
				return len(ss)
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d keep-alive samples stored, want %d", len(ss), n)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	before := samples(2)

	// Replica A goes away: the relay comes back through the balancer to B.
	lb.SetBackends(b.addr)
	gone := time.Now()
	a.stop()
	select {
	case <-connected:
	case <-time.After(5 * time.Second):
		t.Fatal("the relay did not reconnect to B within 5 s")
	}
	t.Logf("relay reconnected to B %v after A stopped", time.Since(gone))
	// B took the monitor over: it keeps running and its samples are stored.
	samples(before + 3)
	var owner string
	if err := db.Pool().QueryRow(ctx, `SELECT owner FROM relay_monitors WHERE relay = 'hq-1' AND name = 'ka-hq'`).Scan(&owner); err != nil || owner != b.bp.ID {
		t.Fatalf("monitor owner = %q, %v; want replica B %s", owner, err, b.bp.ID)
	}
	res, err = probe(b, vpndiag.ProbeRequest{ID: "job-b-3", CaseID: c.ID, Kind: vpndiag.ProbeTCP, Target: target, Relay: "hq-1", Timeout: 3 * time.Second})
	if err != nil || res.Outcome != vpndiag.OutcomeOK {
		t.Fatalf("probe on B after the move = %+v, %v", res, err)
	}
	// A third replica, started now, reaches the relay through B.
	c3 := startReplica(t, db, cert)
	deadline = time.Now().Add(5 * time.Second)
	for {
		res, err = probe(c3, vpndiag.ProbeRequest{ID: "job-c-1", CaseID: c.ID, Kind: vpndiag.ProbeTCP, Target: target, Relay: "hq-1", Timeout: 3 * time.Second})
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil || res.Outcome != vpndiag.OutcomeOK {
		t.Fatalf("probe on a new replica C for the relay held by B = %+v, %v", res, err)
	}
	live, err := c3.bp.Replicas(ctx)
	if err != nil || len(live) != 2 || live[b.bp.ID] != 1 {
		t.Fatalf("live replicas = %v, %v; want B (holding 1 link) and C", live, err)
	}
}
