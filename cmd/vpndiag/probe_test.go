package main_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"math/big"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/probes"
)

// MustProbeDNSServer serves A records on 127.0.0.1 over UDP and TCP (one
// port) until the test ends.
func MustProbeDNSServer(tb testing.TB, records map[string]string) string {
	tb.Helper()
	var pc net.PacketConn
	var ln net.Listener
	for try := 0; ; try++ {
		var err error
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			tb.Fatal(err)
		}
		if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
		if try == 10 {
			tb.Fatal(err)
		}
	}
	h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		m.Authoritative = true
		q := r.Question[0]
		if a, ok := records[strings.ToLower(q.Name)]; ok && q.Qtype == dns.TypeA {
			rr, _ := dns.NewRR(q.Name + " 60 IN A " + a)
			m.Answer = append(m.Answer, rr)
		} else if !ok {
			m.Rcode = dns.RcodeNameError
		}
		w.WriteMsg(m)
	})
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go srv.ActivateAndServe()
		<-started
		tb.Cleanup(func() { srv.Shutdown() })
	}
	return pc.LocalAddr().String()
}

// normalize replaces what changes from run to run (timings, ports, the
// local address) so that text output can be compared whole.
func normalize(s string, addrs map[string]string) string {
	for addr, name := range addrs {
		s = strings.ReplaceAll(s, addr, name)
	}
	s = regexp.MustCompile(`\d+\.\d\d ms`).ReplaceAllString(s, "N ms")
	s = regexp.MustCompile(`from 127\.0\.0\.1:\d+`).ReplaceAllString(s, "from LOCAL")
	return s
}

func TestProbeCommandDNS(t *testing.T) {
	internal := MustProbeDNSServer(t, map[string]string{"db.corp.example.": "10.1.2.3"})
	cloud := MustProbeDNSServer(t, map[string]string{"db.corp.example.": "10.1.2.3"})
	public := MustProbeDNSServer(t, map[string]string{"db.corp.example.": "203.0.113.7"})
	addrs := map[string]string{internal: "INTERNAL", cloud: "CLOUD", public: "PUBLIC"}

	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"lookup", []string{"probe", "dns", "--server", internal, "db.corp.example"}, 0, `
dns ok: A db.corp.example. @INTERNAL (udp): 10.1.2.3, N ms
  server INTERNAL over udp: NOERROR in N ms, authoritative
    db.corp.example.	60	A	10.1.2.3
  took N ms
`},
		{"flags after the name, over TCP", []string{"probe", "dns", "db.corp.example", "--server", internal, "--tcp"}, 0, `
dns ok: A db.corp.example. @INTERNAL (tcp): 10.1.2.3, N ms
  server INTERNAL over tcp: NOERROR in N ms, authoritative
    db.corp.example.	60	A	10.1.2.3
  took N ms
`},
		{"NXDOMAIN exits 1", []string{"probe", "dns", "--server", internal, "nope.corp.example"}, 1, `
dns nxdomain: A nope.corp.example. @INTERNAL (udp): NXDOMAIN, N ms
  server INTERNAL over udp: NXDOMAIN in N ms, authoritative
  took N ms
`},
		{"compare: forwarded", []string{"probe", "dns", "--server", internal, "--compare", cloud, "db.corp.example"}, 0, `
dns forwarded: the internal resolver INTERNAL returns 10.1.2.3 for db.corp.example, as the cloud DNS server does: forwarded
  internal resolver INTERNAL over udp: NOERROR in N ms, authoritative
    db.corp.example.	60	A	10.1.2.3
  cloud DNS server CLOUD over udp: NOERROR in N ms, authoritative
    db.corp.example.	60	A	10.1.2.3
  took N ms
`},
		{"compare: public answer", []string{"probe", "dns", "--server", public, "--compare", cloud, "db.corp.example"}, 1, `
dns public-answer: the internal resolver PUBLIC returns the public 203.0.113.7 for db.corp.example, the cloud DNS server the private 10.1.2.3: not forwarded
  internal resolver PUBLIC over udp: NOERROR in N ms, authoritative
    db.corp.example.	60	A	203.0.113.7
  cloud DNS server CLOUD over udp: NOERROR in N ms, authoritative
    db.corp.example.	60	A	10.1.2.3
  took N ms
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := MustRun(t, "", nil, tt.args...)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, tt.code, r.stdout, r.stderr)
			}
			if got := normalize(r.stdout, addrs); got != strings.TrimPrefix(tt.want, "\n") {
				t.Errorf("stdout:\n%s\nwant:\n%s", got, strings.TrimPrefix(tt.want, "\n"))
			}
			if tt.code == 1 && !strings.Contains(r.stderr, "vpndiag: probe dns: outcome ") {
				t.Errorf("stderr %q", r.stderr)
			}
		})
	}
	t.Run("json", func(t *testing.T) {
		r := MustRun(t, "", nil, "probe", "dns", "--server", internal, "--format", "json", "--timeout", "2s", "db.corp.example")
		var res vpndiag.ProbeResult
		if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || r.code != 0 {
			t.Fatalf("exit %d, %v: %s", r.code, err, r.stdout)
		}
		var d probes.DNSResult
		if err := probes.DecodeDetail(&res, &d); err != nil || res.Outcome != vpndiag.OutcomeOK || d.Query.Addresses[0] != "10.1.2.3" || res.Duration <= 0 {
			t.Fatalf("%v %+v %+v", err, res, d)
		}
	})
}

func TestProbeCommandTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	notAfter := time.Date(2031, 5, 17, 0, 0, 0, 0, time.UTC)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "db.corp.example"},
		NotBefore: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: notAfter, DNSNames: []string{"db.corp.example"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}})
				tc.SetDeadline(time.Now().Add(5 * time.Second))
				tc.Handshake()
				tc.Read(make([]byte, 1))
			}()
		}
	}()
	open := ln.Addr().String()
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedAddr := closed.Addr().String()
	closed.Close()
	addrs := map[string]string{open: "OPEN", closedAddr: "CLOSED"}

	r := MustRun(t, "", nil, "probe", "tcp", "--tls", "--sni", "db.corp.example", open)
	want := `tcp ok: TCP OPEN: connected in N ms; TLS 1.3, certificate CN=db.corp.example, expires 2031-05-17 (DAYS days), not verified: x509: certificate signed by unknown authority
  OPEN connect N ms from LOCAL
  TLS 1.3 SUITE, handshake N ms, server name "db.corp.example"
  subject CN=db.corp.example
  issuer  CN=db.corp.example
  names   db.corp.example
  valid   2025-01-01 to 2031-05-17
  not verified: x509: certificate signed by unknown authority
  took N ms
`
	got := regexp.MustCompile(`\(\d+ days\)`).ReplaceAllString(normalize(r.stdout, addrs), "(DAYS days)")
	got = regexp.MustCompile(`TLS_[A-Z0-9_]+`).ReplaceAllString(got, "SUITE") // AES or ChaCha20, by CPU
	if r.code != 0 || got != want {
		t.Errorf("exit %d\n%s\nwant:\n%s\nstderr %s", r.code, got, want, r.stderr)
	}

	r = MustRun(t, "", nil, "probe", "tcp", closedAddr)
	if r.code != 1 || normalize(r.stdout, addrs) != "tcp refused: TCP CLOSED: connection refused after N ms\n  CLOSED connect N ms\n  took N ms\n" ||
		!strings.Contains(r.stderr, "vpndiag: probe tcp: outcome refused") {
		t.Errorf("closed port: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

func TestProbeCommandPingAndIKE(t *testing.T) {
	r := MustRun(t, "", nil, "probe", "ping", "--count", "2", "--interval", "100ms", "127.0.0.1")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "ping ok: 2/2 replies from 127.0.0.1") || !strings.Contains(r.stdout, "rtt min/avg/max/stddev") {
		t.Errorf("ping: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	port := strings.TrimPrefix(pc.LocalAddr().String(), "127.0.0.1:")
	r = MustRun(t, "", nil, "probe", "ike", "--port", port, "--mode", "ike", "--retransmit", "200ms", "--timeout", "700ms", "127.0.0.1")
	if r.code != 1 || !strings.Contains(r.stdout, "ike timeout: IKE 127.0.0.1: UDP "+port+": no answer to 3 requests") ||
		!strings.Contains(r.stdout, "offered aes256-aes128-sha256-sha1-modp2048-ecp256-modp1024") {
		t.Errorf("ike: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

func TestProbeCommandBadInput(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no kind", []string{"probe"}, 2, "no probe kind given; kinds are dns, ping, tcp, traceroute, ike, keepalive"},
		{"unknown kind", []string{"probe", "smtp", "mail.example"}, 2, `unknown probe kind "smtp"`},
		{"no target", []string{"probe", "ping"}, 2, "give exactly one HOST (got 0 arguments)"},
		{"two targets", []string{"probe", "ping", "127.0.0.1", "127.0.0.2"}, 2, "give exactly one HOST (got 2 arguments)"},
		{"zero count", []string{"probe", "ping", "--count", "0", "127.0.0.1"}, 2, "count must be between 1 and 100"},
		{"huge count", []string{"probe", "ping", "--count", "1000000", "127.0.0.1"}, 2, "count must be between 1 and 100"},
		{"invalid IP", []string{"probe", "ping", "10.0.0.300"}, 2, `"10.0.0.300" is not a valid IP address`},
		{"port out of range", []string{"probe", "tcp", "127.0.0.1:70000"}, 2, "out of range"},
		{"flag of another kind", []string{"probe", "tcp", "--count", "3", "127.0.0.1:80"}, 2, "flag provided but not defined: -count"},
		{"bad format", []string{"probe", "tcp", "--format", "xml", "127.0.0.1:80"}, 2, `--format "xml" must be text or json`},
		{"bad param", []string{"probe", "tcp", "--param", "novalue", "127.0.0.1:80"}, 2, "want key=value"},
		{"unknown param", []string{"probe", "tcp", "--param", "color=red", "127.0.0.1:80"}, 2, `no parameter "color"`},
		{"huge timeout", []string{"probe", "tcp", "--timeout", "2h", "127.0.0.1:80"}, 2, "over the limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := MustRun(t, "", nil, tt.args...)
			if r.code != tt.code || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("exit %d (want %d), stderr %q, want %q", r.code, tt.code, r.stderr, tt.want)
			}
		})
	}
	t.Run("help per kind", func(t *testing.T) {
		for _, k := range vpndiag.ProbeKinds {
			r := MustRun(t, "", nil, "probe", string(k), "--help")
			if r.code != 0 || !strings.Contains(r.stdout, "Usage: vpndiag probe "+string(k)) || !strings.Contains(r.stdout, "-timeout") {
				t.Errorf("%s --help: exit %d %q", k, r.code, r.stdout)
			}
		}
	})
}
