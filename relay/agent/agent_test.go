package agent_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/miekg/dns"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/probes"
	"github.com/vpndiag/vpndiag/relay"
	"github.com/vpndiag/vpndiag/relay/agent"
	"github.com/vpndiag/vpndiag/relay/policy"
)

// tcpListener accepts and closes connections on 127.0.0.1:0.
func tcpListener(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return l.Addr().String()
}

// dnsServer answers every A query with 10.20.0.9 after delay, over UDP on
// 127.0.0.1:0.
func dnsServer(tb testing.TB, delay time.Duration) string {
	tb.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		time.Sleep(delay)
		m := new(dns.Msg)
		m.SetReply(r)
		m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET}, A: net.ParseIP("10.20.0.9")})
		_ = w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	tb.Cleanup(func() { _ = srv.Shutdown() })
	return pc.LocalAddr().String()
}

func TestEndToEnd(t *testing.T) {
	e := MustEnv(t)
	ra := e.StartAgent(e.Enrol("hq-1"), nil)
	ra.WaitConnected(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	addr := tcpListener(t)
	res, err := e.Hub().Probe(ctx, &vpndiag.ProbeRequest{CaseID: e.caseID, Kind: vpndiag.ProbeTCP, Target: addr, Relay: "hq-1", Timeout: 3 * time.Second})
	if err != nil {
		t.Fatalf("tcp through the relay: %v", err)
	}
	if res.Outcome != vpndiag.OutcomeOK || res.Relay != "hq-1" || res.CaseID != e.caseID || res.Target != addr {
		t.Fatalf("tcp result = %+v", res)
	}
	server := dnsServer(t, 0)
	res, err = e.Hub().Probe(ctx, &vpndiag.ProbeRequest{CaseID: e.caseID, Kind: vpndiag.ProbeDNS, Target: "db.example.cloud", Params: map[string]string{"server": server}, SiteID: e.site.ID})
	if err != nil || res.Outcome != vpndiag.OutcomeOK || !strings.Contains(res.Summary, "10.20.0.9") {
		t.Fatalf("dns through the relay of site hq = %+v, %v", res, err)
	}
	stored, err := e.probes.FindProbeResults(ctx, e.caseID)
	if err != nil || len(stored) != 2 {
		t.Fatalf("stored results = %d, %v; want 2", len(stored), err)
	}
	st, err := e.Hub().Relays(ctx)
	if err != nil || len(st) != 1 || !st[0].Connected || st[0].Site != "hq" || st[0].LastHeartbeat.IsZero() || st[0].Since.IsZero() {
		t.Fatalf("relay status = %+v, %v", st, err)
	}
	toks, _ := e.tokens.FindRelayTokens(ctx)
	if toks[0].LastSeenAt == nil {
		t.Fatal("the token's LastSeenAt was not updated")
	}
}

// Every policy refusal of the relay comes back as a denied result.
func TestPolicyRefusalsThroughRelay(t *testing.T) {
	e := MustEnv(t)
	ra := e.StartAgent(e.Enrol("hq-1"), nil)
	ra.WaitConnected(t)
	tests := []struct {
		kind   vpndiag.ProbeKind
		target string
		want   string
	}{
		{vpndiag.ProbeTCP, "169.254.169.254:80", "refused by relay policy: 169.254.169.254 is not in the allowlist"},
		{vpndiag.ProbeTCP, "2852039166:80", "refused by relay policy: 2852039166 (169.254.169.254) is not in the allowlist"},
		{vpndiag.ProbeTCP, "[::ffff:169.254.169.254]:80", "(169.254.169.254) is not in the allowlist"},
		{vpndiag.ProbeTCP, "[::1]:22", "refused by relay policy: ::1 is not in the allowlist"},
		{vpndiag.ProbeTCP, "0.0.0.0:22", "refused by relay policy: 0.0.0.0 is in 0.0.0.0/8"},
		{vpndiag.ProbeTCP, "10.1.2.3:22", "refused by relay policy: 10.1.2.3 is not in the allowlist"},
		{vpndiag.ProbeTraceroute, "127.0.0.1", `probe kind "traceroute" is not allowed`},
	}
	for _, tt := range tests {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		res, err := e.Hub().Probe(ctx, &vpndiag.ProbeRequest{CaseID: e.caseID, Kind: tt.kind, Target: tt.target, Relay: "hq-1"})
		cancel()
		if err != nil {
			t.Fatalf("%s %s: %v", tt.kind, tt.target, err)
		}
		if res.Outcome != vpndiag.OutcomeDenied || !strings.Contains(res.Error, tt.want) {
			t.Errorf("%s %s = %s %q, want denied %q", tt.kind, tt.target, res.Outcome, res.Error, tt.want)
		}
	}
}

func TestWrongToken(t *testing.T) {
	e := MustEnv(t)
	e.Enrol("hq-1")
	ra := e.StartAgent("vpdr_not-a-real-token", nil)
	select {
	case <-ra.exited:
		err := ra.err
		var ae *agent.AuthError
		if !errors.As(err, &ae) || ae.Status != 401 || !strings.Contains(ae.Message, "not recognised") {
			t.Fatalf("Run = %v, want a 401 AuthError", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a relay with a wrong token kept running")
	}
}

func TestTokenOfAnotherRelay(t *testing.T) {
	e := MustEnv(t)
	ra := e.StartAgent(e.Enrol("hq-1"), func(a *agent.Agent) { a.Name = "hq-2" })
	select {
	case <-ra.exited:
		err := ra.err
		var ae *agent.AuthError
		if !errors.As(err, &ae) || ae.Status != 403 || !strings.Contains(ae.Message, "belongs to relay hq-1, not hq-2") {
			t.Fatalf("Run = %v, want a 403 AuthError", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a relay with another relay's token kept running")
	}
}

// Revoking the token in the database (as `vpndiag relay token revoke` does
// from another process) cuts the live relay within a heartbeat, and the
// relay stops.
func TestRevokeCutsLiveRelay(t *testing.T) {
	e := MustEnv(t)
	ra := e.StartAgent(e.Enrol("hq-1"), nil)
	ra.WaitConnected(t)
	start := time.Now()
	if err := e.tokens.RevokeRelayToken(context.Background(), "hq-1"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ra.exited:
		err := ra.err
		var ae *agent.AuthError
		if !errors.As(err, &ae) || !strings.Contains(ae.Message, "was revoked") {
			t.Fatalf("Run = %v, want the revocation", err)
		}
		t.Logf("revoked relay cut off and stopped after %s", time.Since(start).Round(time.Millisecond))
	case <-time.After(5 * time.Second):
		t.Fatal("the revoked relay is still running")
	}
	_, err := e.Hub().Probe(context.Background(), &vpndiag.ProbeRequest{Kind: vpndiag.ProbeTCP, Target: "127.0.0.1:1", Relay: "hq-1"})
	if !isCode(err, vpndiag.EUNAVAILABLE) || !strings.Contains(vpndiag.ErrorMessage(err), "Relay hq-1 is offline since") {
		t.Fatalf("probe on the revoked relay = %v", err)
	}
}

func TestHubRevokeRelayIsImmediate(t *testing.T) {
	e := MustEnv(t)
	ra := e.StartAgent(e.Enrol("hq-1"), nil)
	ra.WaitConnected(t)
	start := time.Now()
	if err := e.Hub().RevokeRelay(context.Background(), "hq-1"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ra.exited:
		err := ra.err
		if time.Since(start) > time.Second {
			t.Errorf("cut off after %s, want at once", time.Since(start))
		}
		var ae *agent.AuthError
		if !errors.As(err, &ae) {
			t.Fatalf("Run = %v, want an AuthError", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the revoked relay is still running")
	}
}

func TestOfflineRelay(t *testing.T) {
	e := MustEnv(t)
	e.Enrol("hq-1")
	ctx := context.Background()
	_, err := e.Hub().Probe(ctx, &vpndiag.ProbeRequest{Kind: vpndiag.ProbeTCP, Target: "127.0.0.1:1", Relay: "hq-1"})
	if !isCode(err, vpndiag.EUNAVAILABLE) || vpndiag.ErrorMessage(err) != "Relay hq-1 has not connected since the bot started." {
		t.Fatalf("never connected: %v", err)
	}
	_, err = e.Hub().Probe(ctx, &vpndiag.ProbeRequest{Kind: vpndiag.ProbeTCP, Target: "127.0.0.1:1", SiteID: e.site.ID})
	if !isCode(err, vpndiag.EUNAVAILABLE) || vpndiag.ErrorMessage(err) != "No relay of this case's site is connected." {
		t.Fatalf("site without relays: %v", err)
	}
	ra := e.StartAgent(e.Enrol("hq-2"), nil)
	ra.WaitConnected(t)
	ra.Stop()
	time.Sleep(100 * time.Millisecond)
	_, err = e.Hub().Probe(ctx, &vpndiag.ProbeRequest{Kind: vpndiag.ProbeTCP, Target: "127.0.0.1:1", Relay: "hq-2"})
	if !isCode(err, vpndiag.EUNAVAILABLE) || !strings.HasPrefix(vpndiag.ErrorMessage(err), "Relay hq-2 is offline since ") {
		t.Fatalf("after it left: %v", err)
	}
	st, _ := e.Hub().Relays(ctx)
	if len(st) != 2 || st[1].Connected || st[1].Since.IsZero() || !strings.Contains(st[1].Reason, "bye") {
		t.Fatalf("status = %+v", st)
	}
	_, err = e.Hub().Probe(ctx, &vpndiag.ProbeRequest{Kind: vpndiag.ProbeTCP, Target: "127.0.0.1:1"})
	if !isCode(err, vpndiag.EINVALID) {
		t.Fatalf("no relay named: %v", err)
	}
}

// A relay whose connection dies while it runs a job: the waiting call
// fails at once and clearly; the relay finishes the job, reconnects and
// delivers the result, which is stored once.
func TestDisconnectMidJob(t *testing.T) {
	e := MustEnv(t)
	ra := e.StartAgent(e.Enrol("hq-1"), nil)
	ra.WaitConnected(t)
	server := dnsServer(t, 1500*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() {
		time.Sleep(300 * time.Millisecond)
		ra.dialer.Cut()
	}()
	start := time.Now()
	res, err := e.Hub().Probe(ctx, &vpndiag.ProbeRequest{ID: "job-mid", CaseID: e.caseID, Kind: vpndiag.ProbeDNS, Target: "db.example.cloud", Params: map[string]string{"server": server}, Relay: "hq-1", Timeout: 5 * time.Second})
	took := time.Since(start)
	if err == nil {
		t.Fatalf("probe = %+v, want a disconnect error", res)
	}
	if !isCode(err, vpndiag.EUNAVAILABLE) || !strings.Contains(vpndiag.ErrorMessage(err), "Relay hq-1 disconnected while running the dns probe of db.example.cloud") {
		t.Fatalf("error = %v", err)
	}
	if took > time.Second {
		t.Fatalf("the call failed after %s, want at once (the job was still running)", took)
	}
	t.Logf("mid-job disconnect reported after %s", took.Round(time.Millisecond))
	// The relay reconnects and delivers the late result; it is stored once.
	ra.WaitConnected(t)
	deadline := time.Now().Add(5 * time.Second)
	for {
		rs, _ := e.probes.FindProbeResults(ctx, e.caseID)
		if len(rs) == 1 && rs[0].ID == "job-mid" && rs[0].Outcome == vpndiag.OutcomeOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("late result not stored once: %+v", rs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for len(ra.Pending()) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if p := ra.Pending(); len(p) > 0 {
		t.Fatalf("the relay still holds %v unacknowledged", p)
	}
}

// After the hub restarts, the relay is back within 5 s of the hub listening.
func TestReconnectAfterHubRestart(t *testing.T) {
	e := MustEnv(t)
	ra := e.StartAgent(e.Enrol("hq-1"), func(a *agent.Agent) { a.MaxBackoff = 0; a.MinBackoff = 0 })
	ra.WaitConnected(t)
	addr := e.addr
	e.stop()
	time.Sleep(3 * time.Second) // an outage long enough to reach the backoff cap
	up := time.Now()
	e.start(addr)
	ra.WaitConnected(t)
	took := time.Since(up)
	t.Logf("reconnected %s after the hub came back (backoff cap %s)", took.Round(time.Millisecond), agent.DefaultMaxBackoff)
	if took > 5*time.Second {
		t.Fatalf("reconnected after %s, want within 5 s", took)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := e.Hub().Probe(ctx, &vpndiag.ProbeRequest{Kind: vpndiag.ProbeTCP, Target: tcpListener(t), Relay: "hq-1"})
	if err != nil || res.Outcome != vpndiag.OutcomeOK {
		t.Fatalf("probe after reconnect = %+v, %v", res, err)
	}
}

// A dead link (packets stop, nothing closes) is detected from heartbeats
// on both sides within DeadAfter(heartbeat), and the relay reconnects.
func TestDeadLinkDetected(t *testing.T) {
	e := MustEnv(t)
	px := newFreezeProxy(t, e.addr)
	ra := e.StartAgent(e.Enrol("hq-1"), func(a *agent.Agent) { a.Hub = "https://" + px.addr })
	ra.WaitConnected(t)
	start := time.Now()
	px.freeze.Store(true)
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, _ := e.Hub().Relays(context.Background())
		if !st[0].Connected {
			t.Logf("hub declared the frozen link dead after %s (heartbeat 200ms)", time.Since(start).Round(time.Millisecond))
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the hub still thinks the frozen link is up")
		}
		time.Sleep(20 * time.Millisecond)
	}
	px.freeze.Store(false)
	ra.WaitConnected(t)
	t.Logf("relay reconnected %s after the freeze began", time.Since(start).Round(time.Millisecond))
}

// freezeProxy forwards TCP to a backend until freeze is set; then it stops
// forwarding without closing anything, like a dead network path.
type freezeProxy struct {
	addr   string
	freeze atomic.Bool
}

func newFreezeProxy(tb testing.TB, backend string) *freezeProxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	px := &freezeProxy{addr: l.Addr().String()}
	pipe := func(dst, src net.Conn) {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if err != nil {
				dst.Close()
				return
			}
			for px.freeze.Load() {
				time.Sleep(10 * time.Millisecond) // hold the bytes: the path is dead
				if n > 0 {
					n = 0 // and lose them
				}
			}
			if _, err := dst.Write(buf[:n]); err != nil {
				src.Close()
				return
			}
		}
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			b, err := net.Dial("tcp", backend)
			if err != nil {
				c.Close()
				continue
			}
			tb.Cleanup(func() { c.Close(); b.Close() })
			go pipe(b, c)
			go pipe(c, b)
		}
	}()
	return px
}

// rawRelay speaks the protocol by hand, to send what a well-behaved agent
// would not (the same result twice, an unknown message type).
func rawRelay(t *testing.T, e *env, token string) *websocket.Conn {
	t.Helper()
	client := agent.NewHTTPClient(e.pool)
	url, _ := agent.EndpointURL(e.URL())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: client, HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.CloseNow() })
	rawSend(t, ws, &relay.Message{Type: relay.TypeHello, Hello: &relay.Hello{Name: "raw", Version: "test", HeartbeatInterval: time.Second}})
	if m := rawRead(t, ws); m.Type != relay.TypeHello {
		t.Fatalf("hub answered %s, want hello", m.Type)
	}
	return ws
}

func rawSend(t *testing.T, ws *websocket.Conn, m *relay.Message) {
	t.Helper()
	b, err := relay.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := ws.Write(context.Background(), websocket.MessageText, b); err != nil {
		t.Fatal(err)
	}
}

// rawRead returns the next message that is not a heartbeat.
func rawRead(t *testing.T, ws *websocket.Conn) *relay.Message {
	t.Helper()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, b, err := ws.Read(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		m, err := relay.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if m.Type != relay.TypeHeartbeat {
			return m
		}
	}
}

func TestDuplicateResultStoredOnce(t *testing.T) {
	e := MustEnv(t)
	ws := rawRelay(t, e, e.Enrol("hq-1"))
	type out struct {
		res *vpndiag.ProbeResult
		err error
	}
	done := make(chan out, 2)
	go func() {
		res, err := e.Hub().Probe(context.Background(), &vpndiag.ProbeRequest{CaseID: e.caseID, Kind: vpndiag.ProbeTCP, Target: "10.20.0.5:443", Relay: "hq-1", Timeout: 5 * time.Second})
		done <- out{res, err}
	}()
	m := rawRead(t, ws)
	if m.Type != relay.TypeJob || m.Job.Target != "10.20.0.5:443" || m.Job.Timeout != 5*time.Second {
		t.Fatalf("relay got %+v, want the job", m)
	}
	// The relay tries to claim another case; the hub keeps the job's.
	res := &vpndiag.ProbeResult{ID: m.Job.ID, CaseID: 999, Kind: vpndiag.ProbeTCP, Target: m.Job.Target, Outcome: vpndiag.OutcomeOK, Summary: "connected"}
	for range 2 {
		rawSend(t, ws, &relay.Message{Type: relay.TypeResult, Result: res})
		if a := rawRead(t, ws); a.Type != relay.TypeAck || a.Ack.Job != m.Job.ID {
			t.Fatalf("hub answered %+v, want an ack", a)
		}
	}
	got := <-done
	if got.err != nil || got.res.Outcome != vpndiag.OutcomeOK || got.res.Relay != "hq-1" || got.res.CaseID != e.caseID {
		t.Fatalf("Probe = %+v, %v", got.res, got.err)
	}
	select {
	case o := <-done:
		t.Fatalf("Probe returned twice: %+v", o)
	default:
	}
	rs, err := e.probes.FindProbeResults(context.Background(), e.caseID)
	if err != nil || len(rs) != 1 {
		t.Fatalf("stored %d results, %v; want 1", len(rs), err)
	}
	if other, _ := e.probes.FindProbeResults(context.Background(), 999); len(other) != 0 {
		t.Fatal("the relay wrote into another case")
	}
	// A result for a job never sent is acknowledged and dropped.
	rawSend(t, ws, &relay.Message{Type: relay.TypeResult, Result: &vpndiag.ProbeResult{ID: "forged", CaseID: e.caseID, Outcome: vpndiag.OutcomeOK}})
	if a := rawRead(t, ws); a.Type != relay.TypeAck || a.Ack.Job != "forged" {
		t.Fatalf("hub answered %+v", a)
	}
	if rs, _ := e.probes.FindProbeResults(context.Background(), e.caseID); len(rs) != 1 {
		t.Fatalf("a forged result was stored: %d results", len(rs))
	}
}

func TestProtocolViolationClosesLink(t *testing.T) {
	e := MustEnv(t)
	ws := rawRelay(t, e, e.Enrol("hq-1"))
	if err := ws.Write(context.Background(), websocket.MessageText, []byte(`{"v":1,"type":"shell","bye":{"reason":"x"}}`)); err != nil {
		t.Fatal(err)
	}
	m := rawRead(t, ws)
	if m.Type != relay.TypeBye || !strings.Contains(m.Bye.Reason, `protocol error: decode: unknown message type "shell"`) {
		t.Fatalf("hub answered %+v, want bye with the protocol error", m)
	}
	// The bye comes just before the hub marks the relay offline.
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		st, _ := e.Hub().Relays(context.Background())
		if !st[0].Connected {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the hub kept a relay that broke the protocol")
		}
	}
}

// A keep-alive monitor started on a relay keeps running after the relay
// restarts (from its state file) and its samples reach the case.
func TestMonitorSurvivesRelayRestart(t *testing.T) {
	e := MustEnv(t)
	token := e.Enrol("hq-1")
	statePath := filepath.Join(t.TempDir(), "relay.token.state")
	withState := func(a *agent.Agent) { a.StatePath = statePath }
	ra := e.StartAgent(token, withState)
	ra.WaitConnected(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	job := func(action string) *vpndiag.ProbeResult {
		t.Helper()
		res, err := e.Hub().Probe(ctx, &vpndiag.ProbeRequest{CaseID: e.caseID, Kind: vpndiag.ProbeKeepalive, Target: "127.0.0.1", Relay: "hq-1",
			Params: map[string]string{agent.ParamMonitor: action, agent.ParamMonitorName: "ka-hq", agent.ParamMonitorInterval: "1s"}})
		if err != nil {
			t.Fatalf("monitor %s: %v", action, err)
		}
		return res
	}
	if res := job("start"); res.Outcome != vpndiag.OutcomeOK || !strings.Contains(res.Summary, "keep-alive monitor ka-hq started") {
		t.Fatalf("start = %+v", res)
	}
	waitSamples := func(n int) []vpndiag.KeepaliveSample {
		t.Helper()
		for {
			ss, err := e.probes.FindKeepaliveSamples(ctx, e.caseID)
			if err != nil {
				t.Fatal(err)
			}
			if len(ss) >= n {
				return ss
			}
			if ctx.Err() != nil {
				t.Fatalf("%d samples stored, want %d", len(ss), n)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	ss := waitSamples(2)
	if !ss[0].OK || ss[0].Monitor != "ka-hq" || ss[0].RTT <= 0 {
		t.Fatalf("first sample = %+v, want a reply from 127.0.0.1", ss[0])
	}
	ra.Stop()
	before := len(waitSamples(2))
	state, err := os.ReadFile(statePath)
	if err != nil || !strings.Contains(string(state), `"name": "ka-hq"`) {
		t.Fatalf("state file = %s, %v", state, err)
	}

	ra2 := e.StartAgent(token, withState)
	ra2.WaitConnected(t)
	st, _ := e.Hub().Relays(ctx)
	if len(st[0].Monitors) != 1 || st[0].Monitors[0] != "ka-hq" {
		t.Fatalf("relay status after restart = %+v, want monitor ka-hq", st[0])
	}
	waitSamples(before + 2)
	if res := job("status"); !strings.Contains(res.Summary, "ka-hq (127.0.0.1 every 1s, up") {
		t.Fatalf("status = %+v", res)
	}
	if res := job("stop"); res.Outcome != vpndiag.OutcomeOK {
		t.Fatalf("stop = %+v", res)
	}
	if state, _ := os.ReadFile(statePath); strings.Contains(string(state), "ka-hq") {
		t.Fatalf("stopped monitor still in the state file: %s", state)
	}
	if res := job("stop"); res.Outcome != vpndiag.OutcomeError || !strings.Contains(res.Error, "No keep-alive monitor named ka-hq") {
		t.Fatalf("second stop = %+v", res)
	}
}

func TestMonitorRefusedByPolicy(t *testing.T) {
	e := MustEnv(t)
	ra := e.StartAgent(e.Enrol("hq-1"), nil)
	ra.WaitConnected(t)
	res, err := e.Hub().Probe(context.Background(), &vpndiag.ProbeRequest{Kind: vpndiag.ProbeKeepalive, Target: "169.254.169.254", Relay: "hq-1",
		Params: map[string]string{agent.ParamMonitor: "start"}})
	if err != nil || res.Outcome != vpndiag.OutcomeDenied || res.Error != "refused by relay policy: 169.254.169.254 is not in the allowlist" {
		t.Fatalf("monitor of the metadata address = %+v, %v", res, err)
	}
}

// Monitors expire: one past its expiry in the state file is not resumed,
// one that expires while the relay runs stops and leaves the state file.
func TestMonitorExpires(t *testing.T) {
	e := MustEnv(t)
	token := e.Enrol("hq-1")
	statePath := filepath.Join(t.TempDir(), "relay.state")
	now := time.Now().UTC()
	doc, err := json.Marshal(map[string]any{"version": 1, "monitors": []agent.MonitorSpec{
		{Name: "old", CaseID: e.caseID, Target: "127.0.0.1", Interval: time.Second, StartedAt: now.Add(-25 * time.Hour), ExpiresAt: now.Add(-time.Hour)},
		{Name: "legacy", CaseID: e.caseID, Target: "127.0.0.1", Interval: time.Second, StartedAt: now.Add(-25 * time.Hour)},
		{Name: "soon", CaseID: e.caseID, Target: "127.0.0.1", Interval: time.Second, StartedAt: now, ExpiresAt: now.Add(2 * time.Second)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(statePath, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	ra := e.StartAgent(token, func(a *agent.Agent) { a.StatePath = statePath })
	ra.WaitConnected(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	st, _ := e.Hub().Relays(ctx)
	if len(st[0].Monitors) != 1 || st[0].Monitors[0] != "soon" {
		t.Fatalf("monitors after the restart = %v, want only soon (old and legacy are past their expiry)", st[0].Monitors)
	}
	status := func() string {
		res, err := e.Hub().Probe(ctx, &vpndiag.ProbeRequest{CaseID: e.caseID, Kind: vpndiag.ProbeKeepalive, Target: "127.0.0.1", Relay: "hq-1",
			Params: map[string]string{agent.ParamMonitor: "status"}})
		if err != nil {
			t.Fatal(err)
		}
		return res.Summary
	}
	for !strings.Contains(status(), "no keep-alive monitors") {
		if ctx.Err() != nil {
			t.Fatalf("the monitor did not expire: %s", status())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if b, _ := os.ReadFile(statePath); strings.Contains(string(b), `"name"`) {
		t.Fatalf("expired monitors still in the state file: %s", b)
	}
}

// Monitors ping within the policy's rate limit, and together may take at
// most half of it.
func TestMonitorRateBudget(t *testing.T) {
	e := MustEnv(t)
	p, err := policy.Parse([]byte("kinds: [keepalive, ping]\ncidrs: [127.0.0.0/8]\nrate_limit: {probes: 10, per: 1m}\n"))
	if err != nil {
		t.Fatal(err)
	}
	ra := e.StartAgent(e.Enrol("hq-1"), func(a *agent.Agent) { a.Guard = policy.NewGuard(p, &probes.Local{}) })
	ra.WaitConnected(t)
	start := func(name, interval string) *vpndiag.ProbeResult {
		res, err := e.Hub().Probe(context.Background(), &vpndiag.ProbeRequest{CaseID: e.caseID, Kind: vpndiag.ProbeKeepalive, Target: "127.0.0.1", Relay: "hq-1",
			Params: map[string]string{agent.ParamMonitor: "start", agent.ParamMonitorName: name, agent.ParamMonitorInterval: interval}})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := start("fast", "5s"); res.Outcome == vpndiag.OutcomeOK || !strings.Contains(res.Error, "at most half of this relay's rate limit (10 probes per 1m0s)") {
		t.Fatalf("a monitor pinging 12 times a minute under a limit of 10 = %+v, want a refusal", res)
	}
	if res := start("slow", "15s"); res.Outcome != vpndiag.OutcomeOK {
		t.Fatalf("a monitor pinging 4 times a minute = %+v, want it started", res)
	}
	if res := start("second", "30s"); res.Outcome == vpndiag.OutcomeOK {
		t.Fatalf("two monitors pinging 6 times a minute under a limit of 10 = %+v, want a refusal", res)
	}
}

// A monitor's interval is read as the keepalive probe reads it: the same
// syntax (a duration or seconds), default and limits.
func TestMonitorInterval(t *testing.T) {
	e := MustEnv(t)
	ra := e.StartAgent(e.Enrol("hq-1"), nil)
	ra.WaitConnected(t)
	for _, tt := range []struct {
		interval string
		ok       bool
		want     string // in the summary, or in the error of a refusal
	}{
		{"", true, "every 5s"},
		{"2s", true, "every 2s"},
		{"3", true, "every 3s"},
		{"10ms", false, "The keepalive probe's interval must be between 100ms and 1h0m0s"},
		{"2h", false, "The keepalive probe's interval must be between 100ms and 1h0m0s"},
		{"often", false, "must be a duration such as 5s or 500ms"},
	} {
		t.Run(tt.interval, func(t *testing.T) {
			name := "iv-" + tt.interval
			params := map[string]string{agent.ParamMonitor: "start", agent.ParamMonitorName: name}
			if tt.interval != "" {
				params[agent.ParamMonitorInterval] = tt.interval
			}
			res, err := e.Hub().Probe(context.Background(), &vpndiag.ProbeRequest{CaseID: e.caseID, Kind: vpndiag.ProbeKeepalive, Target: "127.0.0.1", Relay: "hq-1", Params: params})
			if err != nil {
				t.Fatal(err)
			}
			if tt.ok != (res.Outcome == vpndiag.OutcomeOK) || !strings.Contains(res.Summary+res.Error, tt.want) {
				t.Fatalf("start with interval %q = %+v, want ok=%v and %q", tt.interval, res, tt.ok, tt.want)
			}
			if tt.ok {
				e.Hub().Probe(context.Background(), &vpndiag.ProbeRequest{CaseID: e.caseID, Kind: vpndiag.ProbeKeepalive, Relay: "hq-1",
					Params: map[string]string{agent.ParamMonitor: "stop", agent.ParamMonitorName: name}})
			}
		})
	}
}

// A monitor's counts and up/down timeline survive a relay restart (the
// probes monitor's own state file, beside the relay's), and its file goes
// when it is stopped.
func TestMonitorTimelineSurvivesRestart(t *testing.T) {
	e := MustEnv(t)
	token := e.Enrol("hq-1")
	statePath := filepath.Join(t.TempDir(), "relay.state")
	withState := func(a *agent.Agent) { a.StatePath = statePath }
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	job := func(action string) *vpndiag.ProbeResult {
		t.Helper()
		res, err := e.Hub().Probe(ctx, &vpndiag.ProbeRequest{CaseID: e.caseID, Kind: vpndiag.ProbeKeepalive, Target: "127.0.0.1", Relay: "hq-1",
			Params: map[string]string{agent.ParamMonitor: action, agent.ParamMonitorName: "ka-timeline", agent.ParamMonitorInterval: "1s"}})
		if err != nil || res.Outcome != vpndiag.OutcomeOK {
			t.Fatalf("monitor %s: %+v, %v", action, res, err)
		}
		return res
	}
	status := func() probes.KeepaliveState {
		t.Helper()
		var sts []agent.MonitorStatus
		if err := json.Unmarshal(job("status").Detail, &sts); err != nil || len(sts) != 1 {
			t.Fatalf("status detail: %d monitors, %v", len(sts), err)
		}
		return sts[0].Monitor
	}
	files := func() []string {
		m, _ := filepath.Glob(statePath + ".monitor-*")
		return m
	}

	ra := e.StartAgent(token, withState)
	ra.WaitConnected(t)
	job("start")
	before := status()
	for before.Sent < 2 || before.State != "up" {
		if ctx.Err() != nil {
			t.Fatalf("monitor state %+v, want 2 pings and up", before)
		}
		time.Sleep(200 * time.Millisecond)
		before = status()
	}
	ra.Stop()
	if len(files()) != 1 {
		t.Fatalf("monitor state files %v, want one", files())
	}

	ra2 := e.StartAgent(token, withState)
	ra2.WaitConnected(t)
	after := status()
	if !after.StartedAt.Equal(before.StartedAt) || after.Sent < before.Sent || len(after.Transitions) < 1 || !after.Transitions[0].Time.Equal(before.Transitions[0].Time) {
		t.Fatalf("after the restart: started %s, %d pings, transitions %v; before: started %s, %d pings, transitions %v",
			after.StartedAt, after.Sent, after.Transitions, before.StartedAt, before.Sent, before.Transitions)
	}
	job("stop")
	if len(files()) != 0 {
		t.Fatalf("monitor state files %v after the stop, want none", files())
	}
}
