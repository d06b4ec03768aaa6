package policy_test

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/relay/policy"
)

// MustParse parses a policy document or fails the test.
func MustParse(tb testing.TB, doc string) *policy.Policy {
	tb.Helper()
	p, err := policy.Parse([]byte(doc))
	if err != nil {
		tb.Fatalf("parse policy: %v", err)
	}
	return p
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"unknown field", "kinds: [tcp]\nallow_all: true\n", "line 2: field allow_all not found"},
		{"bad kind", "kinds:\n  - tcp\n  - nmap\n", `line 3: kinds: "nmap" is not a probe kind`},
		{"bad cidr", "cidrs:\n  - 10.0.0.0/33\n", `line 2: cidrs: "10.0.0.0/33" is not a CIDR`},
		{"host bits", "cidrs: [10.0.0.1/8]\n", "line 1: cidrs: 10.0.0.1/8 has host bits set (did you mean 10.0.0.0/8?)"},
		{"mapped cidr", "cidrs: ['::ffff:10.0.0.0/104']\n", "IPv4-mapped"},
		{"bad name", "names:\n  - 'db example'\n", `line 2: names: "db example" is not a DNS name`},
		{"address as name", "names: [10.0.0.1]\n", "is an address; list it under cidrs"},
		{"zero concurrency", "max_concurrent: 0\n", `line 1: "0" must be a whole number of at least 1`},
		{"huge concurrency", "max_concurrent: 1000\n", "max_concurrent: 1000 is over 64"},
		{"text concurrency", "max_concurrent: lots\n", `line 1: "lots" must be a whole number`},
		{"rate without per", "rate_limit:\n  probes: 10\n", "rate_limit: set both probes and per"},
		{"bad per", "rate_limit:\n  probes: 10\n  per: soon\n", `line 3: rate_limit.per: "soon" must be a duration`},
		{"resolver name", "resolver: dns.example\n", `line 1: resolver: "dns.example" must be an IP address`},
		{"version", "version: 2\n", "version: 2 is not supported"},
		{"not yaml", "kinds: [tcp\n", "line 1"},
		{"list for map", "- tcp\n", "cannot unmarshal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := policy.Parse([]byte(tt.doc))
			if err == nil {
				t.Fatalf("Parse(%q) = nil error, want %q", tt.doc, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse error = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestParseDefaultsAndExample(t *testing.T) {
	p := MustParse(t, "")
	if len(p.Kinds) != 0 || len(p.CIDRs) != 0 || p.MaxConcurrent != policy.DefaultMaxConcurrent || p.Rate != policy.DefaultRate {
		t.Fatalf("empty policy = %+v, want default deny with default limits", p)
	}
	ex, err := policy.Load("../../deploy/relay-policy.example.yaml")
	if err != nil {
		t.Fatalf("the example policy does not load: %v", err)
	}
	if len(ex.Kinds) == 0 || len(ex.CIDRs) == 0 {
		t.Fatalf("example policy allows nothing: %s", ex.Summary())
	}
	if _, err := policy.Load("testdata/missing.yaml"); err == nil || !strings.Contains(err.Error(), "cannot read testdata/missing.yaml") {
		t.Fatalf("Load(missing) = %v", err)
	}
}

func TestParseAddr(t *testing.T) {
	tests := []struct{ in, want string }{
		{"169.254.169.254", "169.254.169.254"},
		{"2852039166", "169.254.169.254"},
		{"0251.0376.0251.0376", "169.254.169.254"},
		{"0xa9.0xfe.0xa9.0xfe", "169.254.169.254"},
		{"0xA9FEA9FE", "169.254.169.254"},
		{"169.254.43518", "169.254.169.254"},
		{"169.16689662", "169.254.169.254"},
		{"127.1", "127.0.0.1"},
		{"0", "0.0.0.0"},
		{"::ffff:169.254.169.254", "169.254.169.254"},
		{"::ffff:a9fe:a9fe", "169.254.169.254"},
		{"[::1]", "::1"},
		{"fe80::1%eth0", "fe80::1"},
		{"10.0.0.1.", "10.0.0.1"},
		{"::", "::"},
	}
	for _, tt := range tests {
		a, ok := policy.ParseAddr(tt.in)
		if !ok || a.String() != tt.want {
			t.Errorf("ParseAddr(%q) = %v, %v; want %s", tt.in, a, ok, tt.want)
		}
	}
	for _, bad := range []string{"256.1.1.1", "1.2.3.4.5", "0x", "09.1.1.1", "db.example", "", "4294967296", "1..2"} {
		if a, ok := policy.ParseAddr(bad); ok && bad != "0x" {
			t.Errorf("ParseAddr(%q) = %v, want not an address", bad, a)
		}
	}
}

// dnsServer runs a miekg/dns server on 127.0.0.1:0 (UDP and TCP on the same
// port) answering A queries from answer, which is called per query.
func dnsServer(tb testing.TB, answer func(name string) []string) string {
	return dnsServerType(tb, func(name string, qtype uint16) []string {
		if qtype != dns.TypeA && qtype != dns.TypeAAAA {
			return nil
		}
		return answer(name)
	})
}

// dnsServerType is dnsServer with answers chosen per query type; answer is
// called once per query.
func dnsServerType(tb testing.TB, answer func(name string, qtype uint16) []string) string {
	tb.Helper()
	// UDP and TCP on one port: retry when the TCP port is taken.
	var pc net.PacketConn
	var l net.Listener
	var err error
	for range 20 {
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			tb.Fatal(err)
		}
		if l, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
	}
	if err != nil {
		tb.Fatal(err)
	}
	h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		q := r.Question[0]
		addrs := answer(strings.TrimSuffix(q.Name, "."), q.Qtype)
		if addrs == nil {
			m.Rcode = dns.RcodeNameError
		}
		for _, a := range addrs {
			ip := netip.MustParseAddr(a)
			if ip.Is4() && q.Qtype == dns.TypeA {
				m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 0}, A: ip.AsSlice()})
			} else if ip.Is6() && q.Qtype == dns.TypeAAAA {
				m.Answer = append(m.Answer, &dns.AAAA{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeAAAA, Class: dns.ClassINET, Ttl: 0}, AAAA: ip.AsSlice()})
			}
		}
		_ = w.WriteMsg(m)
	})
	us := &dns.Server{PacketConn: pc, Handler: h}
	ts := &dns.Server{Listener: l, Handler: h}
	go us.ActivateAndServe()
	go ts.ActivateAndServe()
	tb.Cleanup(func() { _ = us.Shutdown(); _ = ts.Shutdown() })
	return pc.LocalAddr().String()
}

const testPolicy = `
kinds: [tcp, dns, ping]
cidrs:
  - 10.20.0.0/16
  - 127.0.0.0/8
  - 0.0.0.0/0     # broad: still does not open loopback, link-local or 0.0.0.0
names:
  - db.example.cloud
  - meta.example.cloud
  - "*.corp.example"
`

const narrowPolicy = `
kinds: [tcp, dns]
cidrs: [10.20.0.0/16]
names: [db.example.cloud, loop.example.cloud]
`

func TestCheckRefusals(t *testing.T) {
	server := dnsServer(t, func(name string) []string {
		switch name {
		case "db.example.cloud":
			return []string{"10.20.0.5"}
		case "meta.example.cloud":
			return []string{"169.254.169.254"}
		case "loop.example.cloud":
			return []string{"127.0.0.1", "::1"}
		case "app.corp.example":
			return []string{"10.20.1.1"}
		}
		return nil
	})
	broad := MustParse(t, testPolicy)
	narrow := MustParse(t, narrowPolicy)
	r := policy.NewResolver(server)
	tests := []struct {
		name   string
		p      *policy.Policy
		req    vpndiag.ProbeRequest
		denied string // "" when allowed
		target string // rewritten target when allowed
	}{
		{"metadata", broad, tcp("169.254.169.254:80"), "refused by relay policy: 169.254.169.254 is not in the allowlist", ""},
		{"metadata decimal", broad, tcp("2852039166:80"), "refused by relay policy: 2852039166 (169.254.169.254) is not in the allowlist", ""},
		{"metadata octal", broad, tcp("0251.0376.0251.0376"), "0251.0376.0251.0376 (169.254.169.254) is not in the allowlist", ""},
		{"metadata hex", broad, tcp("0xa9fea9fe:443"), "0xa9fea9fe (169.254.169.254) is not in the allowlist", ""},
		{"metadata mapped", broad, tcp("[::ffff:169.254.169.254]:80"), "::ffff:169.254.169.254 (169.254.169.254) is not in the allowlist", ""},
		{"metadata mapped hex", broad, tcp("::ffff:a9fe:a9fe"), "(169.254.169.254) is not in the allowlist", ""},
		{"loopback not allowed", narrow, tcp("127.0.0.1:22"), "refused by relay policy: 127.0.0.1 is not in the allowlist", ""},
		{"loopback short", narrow, tcp("127.1:22"), "127.1 (127.0.0.1) is not in the allowlist", ""},
		{"ipv6 loopback", broad, tcp("[::1]:22"), "refused by relay policy: ::1 is not in the allowlist", ""},
		{"ipv6 link-local zone", broad, tcp("[fe80::1%eth0]:22"), "fe80::1%eth0 (fe80::1) is not in the allowlist", ""},
		{"unspecified v4", broad, tcp("0.0.0.0:22"), "0.0.0.0 is in 0.0.0.0/8", ""},
		{"unspecified v4 short", broad, tcp("0:22"), "0 (0.0.0.0) is in 0.0.0.0/8", ""},
		{"unspecified v6", broad, tcp("[::]:22"), ":: is the unspecified address", ""},
		{"multicast", broad, tcp("224.0.0.1:22"), "is a multicast address", ""},
		{"private not listed", narrow, tcp("192.168.1.1:443"), "192.168.1.1 is not in the allowlist", ""},
		{"private 172", narrow, tcp("172.16.0.1:443"), "172.16.0.1 is not in the allowlist", ""},
		{"name not listed", narrow, tcp("evil.example.com:443"), "the name evil.example.com is not in the allowlist", ""},
		{"name to metadata", broad, tcp("meta.example.cloud:80"), "meta.example.cloud resolves to 169.254.169.254, which is not in the allowlist", ""},
		{"name to loopback", narrow, tcp("loop.example.cloud:22"), "loop.example.cloud resolves to 127.0.0.1 and ::1, none of which is in the allowlist", ""},
		{"kind not allowed", narrow, vpndiag.ProbeRequest{Kind: vpndiag.ProbeTraceroute, Target: "10.20.0.5"}, `probe kind "traceroute" is not allowed (allowed: tcp, dns)`, ""},
		{"garbage", broad, tcp("10.20.0.5/24"), "is neither an IP address nor a DNS name", ""},
		{"dns server forbidden", broad, dnsReq("db.example.cloud", "169.254.169.254:53", ""), "169.254.169.254 is not in the allowlist", ""},
		{"dns compare forbidden", broad, dnsReq("db.example.cloud", "10.20.0.2", "[::1]:53"), "::1 is not in the allowlist", ""},
		{"dns without server", broad, dnsReq("db.example.cloud", "", ""), "the dns probe must name its server", ""},
		{"dns queried name is not a target", narrow, dnsReq("anything.example.org", "10.20.0.2", ""), "", ""},
		{"allowed address", narrow, tcp("10.20.0.5:443"), "", "10.20.0.5:443"},
		{"allowed decimal", narrow, tcp("169082885:443"), "", "10.20.0.5:443"},
		{"allowed name rewritten", narrow, tcp("DB.example.cloud.:5432"), "", "10.20.0.5:5432"},
		{"allowed suffix", broad, tcp("app.corp.example:443"), "", "10.20.1.1:443"},
		{"loopback allowed explicitly", broad, tcp("127.0.0.1:8080"), "", "127.0.0.1:8080"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := tt.p.Check(context.Background(), r, &tt.req)
			if tt.denied != "" {
				d, ok := err.(*policy.Denied)
				if !ok {
					t.Fatalf("Check(%s %q) = %v, %v; want a refusal %q", tt.req.Kind, tt.req.Target, out, err, tt.denied)
				}
				if !strings.Contains(d.Error(), tt.denied) || !strings.HasPrefix(d.Error(), "refused by relay policy: ") {
					t.Fatalf("refusal = %q, want it to contain %q", d.Error(), tt.denied)
				}
				return
			}
			if err != nil {
				t.Fatalf("Check(%s %q) = %v, want allowed", tt.req.Kind, tt.req.Target, err)
			}
			if tt.target != "" && out.Target != tt.target {
				t.Fatalf("rewritten target = %q, want %q", out.Target, tt.target)
			}
			if h, _ := policy.ParseTarget(tt.req.Target); h.Name != "" && tt.req.Kind == vpndiag.ProbeTCP && out.Params["sni"] != h.Name {
				t.Fatalf("sni = %q, want the name %q kept for TLS", out.Params["sni"], h.Name)
			}
		})
	}
}

func TestCheckUnresolvable(t *testing.T) {
	server := dnsServer(t, func(string) []string { return nil })
	p := MustParse(t, narrowPolicy)
	_, err := p.Check(context.Background(), policy.NewResolver(server), ptr(tcp("db.example.cloud:443")))
	if vpndiag.ErrorCode(err) != vpndiag.EINVALID || !strings.Contains(vpndiag.ErrorMessage(err), "could not resolve db.example.cloud: no such name") {
		t.Fatalf("Check(unresolvable) = %v", err)
	}
}

func tcp(target string) vpndiag.ProbeRequest {
	return vpndiag.ProbeRequest{ID: "j1", Kind: vpndiag.ProbeTCP, Target: target}
}

func dnsReq(name, server, compare string) vpndiag.ProbeRequest {
	p := map[string]string{}
	if server != "" {
		p["server"] = server
	}
	if compare != "" {
		p["compare"] = compare
	}
	return vpndiag.ProbeRequest{ID: "j1", Kind: vpndiag.ProbeDNS, Target: name, Params: p}
}

func ptr[T any](v T) *T { return &v }

// dialProber connects over TCP to the (checked) target, for real; it
// records the targets it was given and can be held open to fill slots.
type dialProber struct {
	mu      sync.Mutex
	targets []string
	hold    chan struct{}
	running atomic.Int32
}

func (d *dialProber) Probe(ctx context.Context, req *vpndiag.ProbeRequest) (*vpndiag.ProbeResult, error) {
	d.mu.Lock()
	d.targets = append(d.targets, req.Target)
	d.mu.Unlock()
	d.running.Add(1)
	defer d.running.Add(-1)
	start := time.Now()
	var dl net.Dialer
	c, err := dl.DialContext(ctx, "tcp", req.Target)
	res := &vpndiag.ProbeResult{ID: req.ID, Kind: req.Kind, Target: req.Target, StartedAt: start}
	if err != nil {
		res.Outcome, res.Error = vpndiag.OutcomeRefused, err.Error()
		return res, nil
	}
	defer c.Close()
	if d.hold != nil {
		select {
		case <-d.hold:
		case <-ctx.Done():
		}
	}
	res.Outcome, res.Summary, res.Duration = vpndiag.OutcomeOK, "connected to "+req.Target, time.Since(start)
	return res, nil
}

func listener(tb testing.TB) string {
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
			go func() { _, _ = c.Read(make([]byte, 1)); c.Close() }()
		}
	}()
	return l.Addr().String()
}

// A name whose answer changes between check and use cannot smuggle a
// forbidden address: the probe is sent to the address that was checked.
func TestGuardNameChangesAnswer(t *testing.T) {
	addr := listener(t)
	_, port, _ := net.SplitHostPort(addr)
	var queries atomic.Int32
	server := dnsServerType(t, func(name string, qtype uint16) []string {
		if name != "flip.example.cloud" || qtype != dns.TypeA {
			return []string{}
		}
		// The first lookup's answer is allowed, later ones are forbidden.
		if queries.Add(1) <= 1 {
			return []string{"127.0.0.1"}
		}
		return []string{"169.254.169.254"}
	})
	p := MustParse(t, "kinds: [tcp]\ncidrs: [127.0.0.0/8]\nnames: [flip.example.cloud]\nresolver: "+server+"\n")
	dp := &dialProber{}
	g := policy.NewGuard(p, dp)
	res, err := g.Probe(context.Background(), ptr(tcp("flip.example.cloud:"+port)))
	if err != nil || res.Outcome != vpndiag.OutcomeOK {
		t.Fatalf("first probe = %+v, %v; want ok", res, err)
	}
	if dp.targets[0] != "127.0.0.1:"+port {
		t.Fatalf("the probe was given %q, want the checked address 127.0.0.1:%s", dp.targets[0], port)
	}
	if res.Target != "flip.example.cloud:"+port {
		t.Fatalf("result target = %q, want the name as asked", res.Target)
	}
	// The name now answers a forbidden address: refused, and the probe never runs.
	res, err = g.Probe(context.Background(), ptr(tcp("flip.example.cloud:"+port)))
	if err != nil || res.Outcome != vpndiag.OutcomeDenied || !strings.Contains(res.Error, "flip.example.cloud resolves to 169.254.169.254, which is not in the allowlist") {
		t.Fatalf("second probe = %+v, %v; want denied", res, err)
	}
	if len(dp.targets) != 1 {
		t.Fatalf("the probe ran %d times, want 1", len(dp.targets))
	}
}

func TestGuardRefusalIsResult(t *testing.T) {
	g := policy.NewGuard(MustParse(t, narrowPolicy), &dialProber{})
	res, err := g.Probe(context.Background(), &vpndiag.ProbeRequest{ID: "j9", CaseID: 7, Kind: vpndiag.ProbeTCP, Target: "169.254.169.254:80"})
	if err != nil {
		t.Fatal(err)
	}
	if res.ID != "j9" || res.CaseID != 7 || res.Outcome != vpndiag.OutcomeDenied || res.Error != "refused by relay policy: 169.254.169.254 is not in the allowlist" {
		t.Fatalf("refusal result = %+v", res)
	}
}

func TestGuardConcurrencyLimit(t *testing.T) {
	addr := listener(t)
	dp := &dialProber{hold: make(chan struct{})}
	g := policy.NewGuard(MustParse(t, "kinds: [tcp]\ncidrs: [127.0.0.0/8]\nmax_concurrent: 2\n"), dp)
	var wg sync.WaitGroup
	results := make(chan *vpndiag.ProbeResult, 2)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, _ := g.Probe(context.Background(), ptr(tcp(addr)))
			results <- res
		}()
	}
	for dp.running.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	// A third probe waits for a slot until its deadline, then is refused.
	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	res, err := g.Probe(short, ptr(tcp(addr)))
	if err != nil || res.Outcome != vpndiag.OutcomeDenied || !strings.Contains(res.Error, "2 probes were running (max_concurrent: 2) until this one's deadline") {
		t.Fatalf("third concurrent probe past its deadline = %+v, %v; want denied", res, err)
	}
	// Waiting probes are bounded: with 8 waiting (4×max_concurrent), the
	// next is refused at once.
	waiting := make(chan *vpndiag.ProbeResult, 8)
	for range 8 {
		go func() {
			res, _ := g.Probe(context.Background(), ptr(tcp(addr)))
			waiting <- res
		}()
	}
	for deadline := time.Now().Add(5 * time.Second); g.Waiting() < 8 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	over, _ := g.Probe(context.Background(), ptr(tcp(addr)))
	if over.Outcome != vpndiag.OutcomeDenied || !strings.Contains(over.Error, "2 probes are already running and 8 waiting") {
		t.Fatalf("probe over the queue = %+v; want denied", over)
	}
	close(dp.hold)
	for range 8 {
		if r := <-waiting; r.Outcome != vpndiag.OutcomeOK {
			t.Fatalf("a waiting probe = %+v, want ok once a slot freed", r)
		}
	}
	wg.Wait()
	close(results)
	for r := range results {
		if r.Outcome != vpndiag.OutcomeOK {
			t.Fatalf("held probe = %+v, want ok", r)
		}
	}
	// A slot is free again.
	if res, _ := g.Probe(context.Background(), ptr(tcp(addr))); res.Outcome != vpndiag.OutcomeOK {
		t.Fatalf("probe after the others finished = %+v", res)
	}
}

func TestGuardRateLimit(t *testing.T) {
	addr := listener(t)
	g := policy.NewGuard(MustParse(t, "kinds: [tcp]\ncidrs: [127.0.0.0/8]\nrate_limit: {probes: 3, per: 1s}\n"), &dialProber{})
	for i := range 3 {
		if res, _ := g.Probe(context.Background(), ptr(tcp(addr))); res.Outcome != vpndiag.OutcomeOK {
			t.Fatalf("probe %d = %+v, want ok", i, res)
		}
	}
	res, _ := g.Probe(context.Background(), ptr(tcp(addr)))
	if res.Outcome != vpndiag.OutcomeDenied || !strings.Contains(res.Error, "rate limit reached (3 probes per 1s)") {
		t.Fatalf("fourth probe = %+v, want rate-limited", res)
	}
	time.Sleep(400 * time.Millisecond) // refills one token (3 per second)
	if res, _ := g.Probe(context.Background(), ptr(tcp(addr))); res.Outcome != vpndiag.OutcomeOK {
		t.Fatalf("probe after refill = %+v, want ok", res)
	}
}
