package hardening_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/internal/testkit"
	"github.com/vpndiag/vpndiag/relay"
	"github.com/vpndiag/vpndiag/relay/agent"
	"github.com/vpndiag/vpndiag/relay/policy"
	"github.com/vpndiag/vpndiag/storage/sqlite"
)

// mustCert returns a self-signed certificate for 127.0.0.1 and a pool that
// trusts it.
func mustCert(tb testing.TB) (tls.Certificate, *x509.CertPool) {
	tb.Helper()
	c := testkit.MustCert(tb, "hardening hub", time.Time{}, "127.0.0.1")
	return c.TLS, c.Pool
}

// recorder is the relay's probe runner in this test: it records every
// request the policy let through and answers OK without sending anything,
// so that a policy bug shows up as a recorded request and never as traffic
// to an address this test does not own.
type recorder struct {
	mu   sync.Mutex
	seen []vpndiag.ProbeRequest
}

func (r *recorder) Probe(ctx context.Context, req *vpndiag.ProbeRequest) (*vpndiag.ProbeResult, error) {
	r.mu.Lock()
	r.seen = append(r.seen, *req)
	r.mu.Unlock()
	now := vpndiag.Now()
	return &vpndiag.ProbeResult{ID: req.ID, Kind: req.Kind, Target: req.Target, Outcome: vpndiag.OutcomeOK, Summary: "recorded, not sent", StartedAt: now}, nil
}

// dnsServer answers A queries on 127.0.0.1 from answer(name, nth query).
func dnsServer(tb testing.TB, answer func(name string, n int) string) string {
	tb.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var mu sync.Mutex
	counts := map[string]int{}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		for _, qq := range q.Question {
			if qq.Qtype != dns.TypeA {
				continue
			}
			name := strings.TrimSuffix(strings.ToLower(qq.Name), ".")
			mu.Lock()
			counts[name]++
			n := counts[name]
			mu.Unlock()
			if ip := answer(name, n); ip != "" {
				m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: qq.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 0}, A: net.ParseIP(ip)})
			} else {
				m.Rcode = dns.RcodeNameError
			}
		}
		_ = w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	tb.Cleanup(func() { _ = srv.Shutdown() })
	return pc.LocalAddr().String()
}

// TestRelayPolicySSRF sends hostile targets through a real relay connected
// to the hub over HTTPS: every one is refused by the relay's policy, the
// allowed control target goes through, and a name whose answer changes
// after the check is probed at the checked address only.
func TestRelayPolicySSRF(t *testing.T) {
	ctx := context.Background()
	resolver := dnsServer(t, func(name string, n int) string {
		switch name {
		case "ok.hardening.test":
			return "127.0.0.2"
		case "metadata.hardening.test":
			return "169.254.169.254"
		case "self.hardening.test":
			return "127.0.0.1"
		case "rebind.hardening.test":
			if n == 1 {
				return "127.0.0.2"
			}
			return "127.0.0.1"
		}
		return ""
	})
	pol, err := policy.Parse([]byte(fmt.Sprintf(`
version: 1
kinds: [tcp, dns, ping, traceroute]
cidrs: [127.0.0.2/32]
names: [ok.hardening.test, metadata.hardening.test, self.hardening.test, rebind.hardening.test]
max_concurrent: 16
rate_limit: {probes: 100000, per: 1s}
resolver: %s
`, resolver)))
	if err != nil {
		t.Fatal(err)
	}

	// The bot's side: a hub over HTTPS on loopback.
	db := sqlite.NewDB(filepath.Join(t.TempDir(), "bot.db"))
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	tokens := sqlite.NewRelayTokenService(db)
	site := &vpndiag.Site{Name: "hq", CloudDNSServers: []netip.Addr{netip.MustParseAddr("127.0.0.2")}}
	if err := sqlite.NewSiteService(db).UpsertSite(ctx, site); err != nil {
		t.Fatal(err)
	}
	hub := &relay.Hub{Tokens: tokens, Results: sqlite.NewProbeService(db), Heartbeat: 200 * time.Millisecond}
	cert, pool := mustCert(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(relay.Path, hub)
	hs := &http.Server{Handler: mux, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}
	go hs.ServeTLS(ln, "", "")
	t.Cleanup(func() { hs.Close(); hub.Close() })
	token, hash, prefix := relay.NewToken()
	if err := tokens.CreateRelayToken(ctx, &vpndiag.RelayToken{Name: "hq-1", SiteID: site.ID, Hash: hash, Prefix: prefix}); err != nil {
		t.Fatal(err)
	}

	// The relay.
	rec := &recorder{}
	var connected atomic.Bool
	a := &agent.Agent{Hub: "https://" + ln.Addr().String(), Token: token, Guard: policy.NewGuard(pol, rec),
		HTTPClient: agent.NewHTTPClient(pool), Heartbeat: 200 * time.Millisecond,
		OnConnect: func(string, string) { connected.Store(true) }}
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	go a.Run(actx)
	deadline := time.Now().Add(10 * time.Second)
	for !connected.Load() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !connected.Load() {
		t.Fatal("the relay did not connect")
	}

	hostile := []string{
		"169.254.169.254", "169.254.169.254.", "[169.254.169.254]", "2852039166", "0xa9fea9fe", "0251.0376.0251.0376", "0xa9.0xfe.0xa9.0xfe", "169.254.43518",
		"127.0.0.1", "127.1", "2130706433", "0x7f000001", "017700000001", "0177.0.0.1", "0x7f.0.0.1", "127.0.0.3", "localhost", "LOCALHOST.",
		"::1", "[::1]", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1", "::ffff:7f00:1", "::ffff:169.254.169.254", "::ffff:a9fe:a9fe", "[::ffff:127.0.0.1]",
		"0.0.0.0", "0", "0x0", "00000", "::", "[::]", "0.0.0.1",
		"10.0.0.1", "172.16.0.1", "192.168.1.1", "100.64.0.1", "198.18.0.1", "fd00::1", "fc00::1", "fe80::1", "fe80::1%eth0", "169.254.0.1",
		"224.0.0.1", "255.255.255.255", "ff02::1", "::ffff:10.0.0.1", "10.1", "167772161",
		"metadata.hardening.test", "self.hardening.test", "unlisted.hardening.test", "metadata.google.internal", "127.0.0.2.nip.io",
		"user@127.0.0.2", "127.0.0.2/32", "127.0.0.2#x", "http://127.0.0.2/", " 127.0.0.1", "127.0.0.1\n",
	}
	type probe struct {
		kind   vpndiag.ProbeKind
		target string
		params map[string]string
	}
	var probes []probe
	for _, h := range hostile {
		host := h
		if strings.Contains(h, ":") && !strings.HasPrefix(h, "[") && !strings.Contains(h, "://") {
			host = "[" + h + "]"
		}
		probes = append(probes,
			probe{vpndiag.ProbeTCP, host + ":443", nil},
			probe{vpndiag.ProbePing, h, nil},
			probe{vpndiag.ProbeDNS, "ok.hardening.test", map[string]string{"server": h}},
		)
	}
	refused, through := 0, 0
	for i, p := range probes {
		res, err := hub.Probe(ctx, &vpndiag.ProbeRequest{ID: fmt.Sprintf("ssrf-%d", i), Kind: p.kind, Target: p.target, Params: p.params, Relay: "hq-1", Timeout: 5 * time.Second})
		switch {
		case err != nil:
			t.Errorf("%s %q %v: %v", p.kind, p.target, p.params, err)
		case res.Outcome == vpndiag.OutcomeDenied || res.Outcome == vpndiag.OutcomeError && res.Error != "":
			refused++
		default:
			through++
			t.Errorf("%s %q %v was not refused: %s %s", p.kind, p.target, p.params, res.Outcome, res.Summary)
		}
	}
	rec.mu.Lock()
	leaked := len(rec.seen)
	rec.mu.Unlock()
	if leaked != 0 {
		t.Errorf("%d hostile requests reached the relay's probe runner: %+v", leaked, rec.seen)
	}

	// Control: the allowed target goes through, at its checked address.
	res, err := hub.Probe(ctx, &vpndiag.ProbeRequest{ID: "ssrf-ok", Kind: vpndiag.ProbeTCP, Target: "ok.hardening.test:443", Relay: "hq-1", Timeout: 5 * time.Second})
	if err != nil || res.Outcome != vpndiag.OutcomeOK {
		t.Fatalf("the allowed control target: %+v %v", res, err)
	}
	// Rebinding: the name answers 127.0.0.2 at the check and 127.0.0.1
	// afterwards; the probe runner is only ever given the checked address.
	res, err = hub.Probe(ctx, &vpndiag.ProbeRequest{ID: "ssrf-rebind", Kind: vpndiag.ProbeTCP, Target: "rebind.hardening.test:443", Relay: "hq-1", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	seen := append([]vpndiag.ProbeRequest(nil), rec.seen...)
	rec.mu.Unlock()
	for _, s := range seen {
		if !strings.HasPrefix(s.Target, "127.0.0.2:") {
			t.Errorf("the probe runner was given %q (from %s); only the checked 127.0.0.2 may be used", s.Target, s.ID)
		}
	}
	// Asked again, the rebound name now resolves to a forbidden address
	// and is refused.
	res2, err := hub.Probe(ctx, &vpndiag.ProbeRequest{ID: "ssrf-rebind-2", Kind: vpndiag.ProbeTCP, Target: "rebind.hardening.test:443", Relay: "hq-1", Timeout: 5 * time.Second})
	if err != nil || res2.Outcome != vpndiag.OutcomeDenied {
		t.Errorf("the rebound name, asked again: %+v %v", res2, err)
	}
	total := len(probes) + 1
	if res2 != nil && res2.Outcome == vpndiag.OutcomeDenied {
		refused++
	}
	t.Logf("SSRF: %d/%d hostile requests (%d spellings × tcp, ping and dns server; plus the rebound name) refused by the relay's policy over HTTPS (%.0f %%); %d reached the probe runner; the allowed control and the rebinding name (answer changed after the check: %s) were probed at the checked 127.0.0.2 only",
		refused, total, len(hostile), 100*float64(refused)/float64(total), leaked, res.Outcome)
	if through != 0 {
		t.Errorf("%d hostile requests went through", through)
	}
}
