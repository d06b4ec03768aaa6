package probes_test

import (
	"context"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/probes"
)

// DNSServer is a miekg/dns server on 127.0.0.1, UDP and TCP on one port,
// answering from a small zone.
type DNSServer struct {
	// Addr is ip:port of both listeners.
	Addr string
	// UDP and TCP count the queries received per transport.
	UDP, TCP atomic.Int64

	mu   sync.Mutex
	zone map[string][]dns.RR // by lower-case FQDN
}

// zone names with special behaviour.
const (
	nameTruncated = "big.example."      // TC over UDP, full answer over TCP
	nameServFail  = "broken.example."   // SERVFAIL
	nameRefused   = "refused.example."  // REFUSED
	nameSilent    = "silent.example."   // never answered
	nameSlow      = "slow.example."     // answered after 300 ms
	nameExists    = "db.corp.example."  // has an A record only
	nameOnlyCloud = "app.cloud.example" // only some servers know it
)

// MustDNSServer starts a server answering from records (zone-file lines).
func MustDNSServer(tb testing.TB, records ...string) *DNSServer {
	tb.Helper()
	s := &DNSServer{zone: map[string][]dns.RR{}}
	for _, line := range records {
		rr, err := dns.NewRR(line)
		if err != nil {
			tb.Fatalf("bad record %q: %v", line, err)
		}
		name := strings.ToLower(rr.Header().Name)
		s.zone[name] = append(s.zone[name], rr)
	}
	var pc net.PacketConn
	var ln net.Listener
	for try := 0; ; try++ {
		var err error
		pc, err = net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		ln, err = net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			break
		}
		pc.Close()
		if try == 10 {
			tb.Fatalf("no port free for UDP and TCP: %v", err)
		}
	}
	s.Addr = pc.LocalAddr().String()
	h := dns.HandlerFunc(s.serve)
	udp := &dns.Server{PacketConn: pc, Handler: h}
	tcp := &dns.Server{Listener: ln, Handler: h}
	for _, srv := range []*dns.Server{udp, tcp} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go srv.ActivateAndServe()
		<-started
		tb.Cleanup(func() { srv.Shutdown() })
	}
	return s
}

func (s *DNSServer) serve(w dns.ResponseWriter, req *dns.Msg) {
	overUDP := w.RemoteAddr().Network() == "udp"
	if overUDP {
		s.UDP.Add(1)
	} else {
		s.TCP.Add(1)
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	m.RecursionAvailable = true
	switch name {
	case nameSilent:
		return
	case nameSlow:
		time.Sleep(300 * time.Millisecond)
	case nameServFail:
		m.Rcode = dns.RcodeServerFailure
		w.WriteMsg(m)
		return
	case nameRefused:
		m.Rcode = dns.RcodeRefused
		w.WriteMsg(m)
		return
	}
	s.mu.Lock()
	rrs, ok := s.zone[name]
	s.mu.Unlock()
	if !ok {
		m.Rcode = dns.RcodeNameError
		w.WriteMsg(m)
		return
	}
	for _, rr := range rrs {
		if rr.Header().Rrtype == q.Qtype {
			m.Answer = append(m.Answer, rr)
		}
	}
	if name == nameTruncated && overUDP {
		m.Truncated = true
		m.Answer = nil
	}
	w.WriteMsg(m)
}

func dnsReq(name string, params map[string]string) *vpndiag.ProbeRequest {
	return &vpndiag.ProbeRequest{ID: "t1", Kind: vpndiag.ProbeDNS, Target: name, Params: params, Timeout: 3 * time.Second}
}

// MustProbe runs req through probes.Local and fails on an error.
func MustProbe(tb testing.TB, req *vpndiag.ProbeRequest) *vpndiag.ProbeResult {
	tb.Helper()
	res, err := (&probes.Local{}).Probe(context.Background(), req)
	if err != nil {
		tb.Fatalf("Probe(%s %s): %v", req.Kind, req.Target, err)
	}
	return res
}

// MustDetail decodes a result's detail.
func MustDetail[T any](tb testing.TB, res *vpndiag.ProbeResult) *T {
	tb.Helper()
	var v T
	if err := probes.DecodeDetail(res, &v); err != nil {
		tb.Fatalf("%v (summary %q, error %q)", err, res.Summary, res.Error)
	}
	return &v
}

func TestDNSProbe(t *testing.T) {
	srv := MustDNSServer(t,
		nameExists+" 300 IN A 10.20.30.40",
		"big.example. 60 IN A 192.0.2.1",
		"big.example. 60 IN A 192.0.2.2",
		"mail.example. 60 IN MX 10 mx.example.",
		"slow.example. 60 IN A 192.0.2.9",
		"40.30.20.10.in-addr.arpa. 60 IN PTR db.corp.example.",
	)
	tests := []struct {
		name      string
		target    string
		params    map[string]string
		outcome   vpndiag.Outcome
		transport string
		truncated bool
		rcode     string
		addrs     string
		summary   string
	}{
		{"A over UDP", nameExists, nil, vpndiag.OutcomeOK, "udp", false, "NOERROR", "10.20.30.40", "A db.corp.example. @" + srv.Addr + " (udp): 10.20.30.40"},
		{"A over TCP", nameExists, map[string]string{"tcp": "true"}, vpndiag.OutcomeOK, "tcp", false, "NOERROR", "10.20.30.40", "(tcp): 10.20.30.40"},
		{"truncated retried over TCP", nameTruncated, nil, vpndiag.OutcomeOK, "tcp", true, "NOERROR", "192.0.2.1,192.0.2.2", "(tcp): 192.0.2.1, 192.0.2.2"},
		{"NXDOMAIN", "nope.example", nil, probes.OutcomeNXDomain, "udp", false, "NXDOMAIN", "", ": NXDOMAIN"},
		{"SERVFAIL", nameServFail, nil, probes.OutcomeServFail, "udp", false, "SERVFAIL", "", ": SERVFAIL"},
		{"REFUSED", nameRefused, nil, vpndiag.OutcomeRefused, "udp", false, "REFUSED", "", ": REFUSED"},
		{"no data", nameExists, map[string]string{"type": "aaaa"}, probes.OutcomeNoData, "udp", false, "NOERROR", "", "AAAA db.corp.example."},
		{"MX", "mail.example", map[string]string{"type": "MX"}, vpndiag.OutcomeOK, "udp", false, "NOERROR", "", "10 mx.example."},
		{"PTR of an IP", "10.20.30.40", map[string]string{"type": "PTR"}, vpndiag.OutcomeOK, "udp", false, "NOERROR", "", "db.corp.example."},
		{"expected address present", nameExists, map[string]string{"expect": "10.9.9.9, 10.20.30.40"}, vpndiag.OutcomeOK, "udp", false, "NOERROR", "10.20.30.40", "10.20.30.40"},
		{"expected address missing", nameExists, map[string]string{"expect": "10.9.9.9"}, vpndiag.OutcomeFail, "udp", false, "NOERROR", "10.20.30.40", "expected 10.9.9.9"},
		{"slow but in time", nameSlow, nil, vpndiag.OutcomeOK, "udp", false, "NOERROR", "192.0.2.9", "192.0.2.9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			params := map[string]string{"server": srv.Addr}
			for k, v := range tt.params {
				params[k] = v
			}
			res := MustProbe(t, dnsReq(tt.target, params))
			if res.Outcome != tt.outcome {
				t.Fatalf("outcome %s, want %s (%s)", res.Outcome, tt.outcome, res.Summary)
			}
			if !strings.Contains(res.Summary, tt.summary) {
				t.Errorf("summary %q does not contain %q", res.Summary, tt.summary)
			}
			d := MustDetail[probes.DNSResult](t, res)
			q := d.Query
			if q.Transport != tt.transport || q.Truncated != tt.truncated || q.Rcode != tt.rcode {
				t.Errorf("transport %s truncated %v rcode %s, want %s %v %s", q.Transport, q.Truncated, q.Rcode, tt.transport, tt.truncated, tt.rcode)
			}
			if got := strings.Join(q.Addresses, ","); got != tt.addrs {
				t.Errorf("addresses %q, want %q", got, tt.addrs)
			}
			if q.QueryTime <= 0 || res.Duration < q.QueryTime {
				t.Errorf("query time %s, duration %s", q.QueryTime, res.Duration)
			}
			if res.ID != "t1" || res.Kind != vpndiag.ProbeDNS || res.StartedAt.IsZero() {
				t.Errorf("result header not filled: %+v", res)
			}
		})
	}
	if srv.TCP.Load() < 2 {
		t.Errorf("server saw %d TCP queries, want the explicit one and the truncation retry", srv.TCP.Load())
	}
}

func TestDNSProbeNoAnswer(t *testing.T) {
	srv := MustDNSServer(t)
	t.Run("server silent: timeout at the deadline", func(t *testing.T) {
		req := dnsReq(nameSilent, map[string]string{"server": srv.Addr})
		req.Timeout = 400 * time.Millisecond
		res := MustProbe(t, req)
		if res.Outcome != vpndiag.OutcomeTimeout {
			t.Fatalf("outcome %s (%s), want timeout", res.Outcome, res.Summary)
		}
		if res.Duration < 350*time.Millisecond || res.Duration > 2*time.Second {
			t.Errorf("took %s, want about the 400 ms timeout", res.Duration)
		}
	})
	t.Run("closed UDP port: refused", func(t *testing.T) {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := pc.LocalAddr().String()
		pc.Close()
		res := MustProbe(t, dnsReq(nameExists, map[string]string{"server": addr}))
		if res.Outcome != vpndiag.OutcomeRefused {
			t.Fatalf("outcome %s (%s), want refused", res.Outcome, res.Summary)
		}
	})
	t.Run("slow answer past the deadline", func(t *testing.T) {
		req := dnsReq(nameSlow, map[string]string{"server": srv.Addr})
		req.Timeout = 100 * time.Millisecond
		if res := MustProbe(t, req); res.Outcome != vpndiag.OutcomeTimeout {
			t.Fatalf("outcome %s, want timeout", res.Outcome)
		}
	})
}

func TestDNSProbeCompare(t *testing.T) {
	cloud := MustDNSServer(t, nameOnlyCloud+". 60 IN A 10.1.2.3", "pub.example. 60 IN A 10.7.7.7")
	forwarding := MustDNSServer(t, nameOnlyCloud+". 60 IN A 10.1.2.3")
	public := MustDNSServer(t, nameOnlyCloud+". 60 IN A 203.0.113.10")
	stale := MustDNSServer(t, nameOnlyCloud+". 60 IN A 10.1.2.99")
	unaware := MustDNSServer(t)
	silent := MustDNSServer(t) // asked for nameSilent below

	tests := []struct {
		name     string
		target   string
		internal string
		cloud    string
		timeout  time.Duration
		outcome  vpndiag.Outcome
		summary  string
	}{
		{"forwarded", nameOnlyCloud, forwarding.Addr, cloud.Addr, 0, probes.OutcomeForwarded, "as the cloud DNS server does: forwarded"},
		{"public answer", nameOnlyCloud, public.Addr, cloud.Addr, 0, probes.OutcomePublicAnswer, "returns the public 203.0.113.10"},
		{"stale private answer", nameOnlyCloud, stale.Addr, cloud.Addr, 0, probes.OutcomeMismatch, "different private addresses"},
		{"internal NXDOMAIN", nameOnlyCloud, unaware.Addr, cloud.Addr, 0, probes.OutcomeNotForwarded, "answers NXDOMAIN"},
		{"cloud does not know it", "other.example", forwarding.Addr, cloud.Addr, 0, probes.OutcomeCloudNoAnswer, "gave no address"},
		{"both silent", nameSilent, silent.Addr, silent.Addr, 300 * time.Millisecond, probes.OutcomeCloudNoAnswer, "no answer before the deadline"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := dnsReq(tt.target, map[string]string{"server": tt.internal, "compare": tt.cloud})
			if tt.timeout > 0 {
				req.Timeout = tt.timeout
			}
			res := MustProbe(t, req)
			if res.Outcome != tt.outcome || !strings.Contains(res.Summary, tt.summary) {
				t.Fatalf("got %s %q, want %s containing %q", res.Outcome, res.Summary, tt.outcome, tt.summary)
			}
			d := MustDetail[probes.DNSResult](t, res)
			if d.Cloud == nil || d.Cloud.Server != tt.cloud || d.Query.Server != tt.internal {
				t.Errorf("detail servers: %+v / %+v", d.Query, d.Cloud)
			}
		})
	}
}

func TestDNSProbeBadInput(t *testing.T) {
	tests := []struct {
		name   string
		target string
		params map[string]string
		want   string
	}{
		{"empty name", "", map[string]string{"server": "127.0.0.1"}, "needs a name"},
		{"bad name", "bad name..example", map[string]string{"server": "127.0.0.1"}, "not a valid DNS name"},
		{"IP with type A", "10.1.2.3", map[string]string{"server": "127.0.0.1"}, "look it up with type PTR"},
		{"bad type", "a.example", map[string]string{"server": "127.0.0.1", "type": "BOGUS"}, `"BOGUS" is not a DNS record type`},
		{"server is a name", "a.example", map[string]string{"server": "dns.example"}, "must be an IP address or ip:port"},
		{"server invalid IP", "a.example", map[string]string{"server": "300.1.1.1"}, "must be an IP address or ip:port"},
		{"server port out of range", "a.example", map[string]string{"server": "127.0.0.1:70000"}, "out of range"},
		{"server port zero", "a.example", map[string]string{"server": "127.0.0.1:0"}, "out of range"},
		{"compare invalid", "a.example", map[string]string{"server": "127.0.0.1", "compare": "x"}, "compare must be an IP address"},
		{"tcp not a bool", "a.example", map[string]string{"server": "127.0.0.1", "tcp": "maybe"}, "must be true or false"},
		{"expect not an IP", "a.example", map[string]string{"server": "127.0.0.1", "expect": "10.0.0.1,db"}, `"db" is not one`},
		{"unknown param", "a.example", map[string]string{"server": "127.0.0.1", "sever": "1.1.1.1"}, `no parameter "sever"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := dnsReq(tt.target, tt.params)
			_, err := (&probes.Local{}).Probe(context.Background(), req)
			if vpndiag.ErrorCode(err) != vpndiag.EINVALID || !strings.Contains(vpndiag.ErrorMessage(err), tt.want) {
				t.Fatalf("error %v, want EINVALID containing %q", err, tt.want)
			}
			// The probe function itself reports the same as an error result.
			res := probes.ProbeDNS(context.Background(), req)
			if res.Outcome != vpndiag.OutcomeError || !strings.Contains(res.Error, tt.want) {
				t.Fatalf("ProbeDNS: %s %q", res.Outcome, res.Error)
			}
		})
	}
}

func TestLocal(t *testing.T) {
	t.Run("unknown kind", func(t *testing.T) {
		_, err := (&probes.Local{}).Probe(context.Background(), &vpndiag.ProbeRequest{Kind: "smtp", Target: "x"})
		if vpndiag.ErrorCode(err) != vpndiag.EINVALID || !strings.Contains(vpndiag.ErrorMessage(err), `Unknown probe kind "smtp"`) {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("nil request", func(t *testing.T) {
		if _, err := (&probes.Local{}).Probe(context.Background(), nil); vpndiag.ErrorCode(err) != vpndiag.EINVALID {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("negative and huge timeouts", func(t *testing.T) {
		for _, d := range []time.Duration{-time.Second, 24 * time.Hour} {
			req := dnsReq("a.example", map[string]string{"server": "127.0.0.1"})
			req.Timeout = d
			if _, err := (&probes.Local{}).Probe(context.Background(), req); vpndiag.ErrorCode(err) != vpndiag.EINVALID {
				t.Errorf("timeout %s: error %v", d, err)
			}
		}
	})
	t.Run("panic becomes an error result", func(t *testing.T) {
		l := &probes.Local{Funcs: map[vpndiag.ProbeKind]probes.ProbeFunc{
			vpndiag.ProbeDNS: func(ctx context.Context, req *vpndiag.ProbeRequest) *vpndiag.ProbeResult { panic("boom") },
		}}
		res, err := l.Probe(context.Background(), dnsReq("a.example", map[string]string{"server": "127.0.0.1"}))
		if err != nil {
			t.Fatal(err)
		}
		if res.Outcome != vpndiag.OutcomeError || strings.Contains(res.Error, "boom") || res.ID != "t1" {
			t.Fatalf("result %+v", res)
		}
	})
	t.Run("timeout becomes the context deadline", func(t *testing.T) {
		var deadline time.Duration
		l := &probes.Local{Funcs: map[vpndiag.ProbeKind]probes.ProbeFunc{
			vpndiag.ProbeDNS: func(ctx context.Context, req *vpndiag.ProbeRequest) *vpndiag.ProbeResult {
				dl, _ := ctx.Deadline()
				deadline = time.Until(dl)
				<-ctx.Done()
				return &vpndiag.ProbeResult{Outcome: vpndiag.OutcomeTimeout}
			},
		}}
		req := dnsReq("a.example", map[string]string{"server": "127.0.0.1"})
		req.Timeout = 200 * time.Millisecond
		res, err := l.Probe(context.Background(), req)
		if err != nil || res.Outcome != vpndiag.OutcomeTimeout || deadline > 200*time.Millisecond || deadline < 150*time.Millisecond {
			t.Fatalf("res %+v err %v deadline %s", res, err, deadline)
		}
	})
	t.Run("every kind is registered and validated", func(t *testing.T) {
		if len(probes.Registry) != len(vpndiag.ProbeKinds) {
			t.Errorf("Registry has %d kinds, vpndiag.ProbeKinds %d", len(probes.Registry), len(vpndiag.ProbeKinds))
		}
		for _, k := range vpndiag.ProbeKinds {
			if _, ok := probes.Registry[k]; !ok {
				t.Errorf("kind %s not in Registry", k)
				continue
			}
			err := probes.Validate(&vpndiag.ProbeRequest{Kind: k, Target: "127.0.0.1", Params: map[string]string{"nope": "1"}})
			if vpndiag.ErrorCode(err) != vpndiag.EINVALID || !strings.Contains(vpndiag.ErrorMessage(err), `no parameter "nope"`) {
				t.Errorf("kind %s: Validate of an unknown parameter: %v", k, err)
			}
		}
	})
}

func BenchmarkDNSProbe(b *testing.B) {
	srv := MustDNSServer(b, nameExists+" 300 IN A 10.20.30.40")
	for _, transport := range []string{"udp", "tcp"} {
		b.Run(transport, func(b *testing.B) {
			req := dnsReq(nameExists, map[string]string{"server": srv.Addr, "tcp": map[string]string{"udp": "false", "tcp": "true"}[transport]})
			l := &probes.Local{}
			var total time.Duration
			for b.Loop() {
				res, err := l.Probe(context.Background(), req)
				if err != nil || res.Outcome != vpndiag.OutcomeOK {
					b.Fatalf("%v %+v", err, res)
				}
				total += MustDetail[probes.DNSResult](b, res).Query.QueryTime
			}
			b.ReportMetric(float64(total.Microseconds())/float64(b.N), "µs-query/op")
		})
	}
}
