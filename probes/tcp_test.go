package probes_test

import (
	"context"
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/internal/testkit"
	"github.com/vpndiag/vpndiag/probes"
)

// MustListener accepts TCP connections on 127.0.0.1 and hands each to serve
// (nil: close at once).
func MustListener(tb testing.TB, serve func(net.Conn)) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if serve != nil {
					serve(c)
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// closedPort returns a loopback address nothing listens on.
func closedPort(tb testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func tlsServer(cert tls.Certificate) func(net.Conn) {
	return func(c net.Conn) {
		tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}})
		tc.SetDeadline(time.Now().Add(5 * time.Second))
		tc.Handshake()
		buf := make([]byte, 1)
		tc.Read(buf)
	}
}

func TestTCPProbe(t *testing.T) {
	expires := time.Now().Add(90 * 24 * time.Hour).UTC().Truncate(time.Second)
	open := MustListener(t, nil)
	tlsOK := MustListener(t, tlsServer(testkit.MustCert(t, "vpndiag.test", expires, "vpndiag.test").TLS))
	tlsExpired := MustListener(t, tlsServer(testkit.MustCert(t, "old.test", time.Now().Add(-48*time.Hour), "old.test").TLS))
	silent := MustListener(t, func(c net.Conn) { time.Sleep(3 * time.Second) })
	closed := closedPort(t)
	_, openPort, _ := net.SplitHostPort(open)

	tests := []struct {
		name    string
		target  string
		params  map[string]string
		timeout time.Duration
		outcome vpndiag.Outcome
		summary string
		check   func(t *testing.T, d *probes.TCPResult)
	}{
		{"open port", open, nil, 0, vpndiag.OutcomeOK, "connected in", func(t *testing.T, d *probes.TCPResult) {
			if !d.Connected || d.ConnectTime <= 0 || d.LocalAddress == "" || d.TLS != nil {
				t.Errorf("detail %+v", d)
			}
		}},
		{"port as a parameter", "127.0.0.1", map[string]string{"port": openPort}, 0, vpndiag.OutcomeOK, "TCP " + open + ": connected", nil},
		{"localhost resolves", "localhost:" + openPort, nil, 0, vpndiag.OutcomeOK, "connected", nil},
		{"closed port is refused", closed, nil, 0, vpndiag.OutcomeRefused, "connection refused", func(t *testing.T, d *probes.TCPResult) {
			if d.Connected || d.Error != "connection refused" {
				t.Errorf("detail %+v", d)
			}
		}},
		{"TLS with SNI", tlsOK, map[string]string{"tls": "true", "sni": "vpndiag.test"}, 0, vpndiag.OutcomeOK, "certificate CN=vpndiag.test,O=vpndiag test, expires " + expires.Format(time.DateOnly), func(t *testing.T, d *probes.TCPResult) {
			if d.TLS == nil || d.TLS.ServerName != "vpndiag.test" || !d.TLS.NotAfter.Equal(expires) || d.TLS.Verified || !strings.Contains(d.TLS.VerifyError, "unknown authority") || d.TLS.Version != "TLS 1.3" || d.TLS.HandshakeTime <= 0 {
				t.Errorf("TLS %+v", d.TLS)
			}
		}},
		{"TLS expired certificate", tlsExpired, map[string]string{"tls": "yes", "sni": "old.test"}, 0, vpndiag.OutcomeOK, ", expired ", nil},
		{"TLS to a plain TCP server", open, map[string]string{"tls": "true"}, 0, probes.OutcomeTLSFailed, "TLS handshake failed", nil},
		{"TLS server that never answers", silent, map[string]string{"tls": "true"}, 300 * time.Millisecond, vpndiag.OutcomeTimeout, "TLS handshake: no answer before the deadline", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := &vpndiag.ProbeRequest{Kind: vpndiag.ProbeTCP, Target: tt.target, Params: tt.params, Timeout: tt.timeout}
			res := MustProbe(t, req)
			if res.Outcome != tt.outcome || !strings.Contains(res.Summary, tt.summary) {
				t.Fatalf("got %s %q, want %s containing %q", res.Outcome, res.Summary, tt.outcome, tt.summary)
			}
			if tt.check != nil {
				tt.check(t, MustDetail[probes.TCPResult](t, res))
			}
		})
	}
}

func TestTCPProbeBadInput(t *testing.T) {
	tests := []struct {
		target string
		params map[string]string
		want   string
	}{
		{"", nil, "needs a host"},
		{"127.0.0.1", nil, "needs a port"},
		{"127.0.0.1:0", nil, "out of range"},
		{"127.0.0.1:65536", nil, "out of range"},
		{"127.0.0.1:http", nil, "out of range"},
		{"127.0.0.1", map[string]string{"port": "70000"}, "between 1 and 65535"},
		{"127.0.0.1", map[string]string{"port": "-1"}, "between 1 and 65535"},
		{"127.0.0.1:80", map[string]string{"port": "443"}, "says port 80 but its port parameter says 443"},
		{"999.1.2.3:80", nil, "not a valid IP address"},
		{"bad_host!:80", nil, "not a valid IP address or host name"},
		{"127.0.0.1:80", map[string]string{"sni": "not a name"}, "not a valid host name"},
		{"127.0.0.1:80", map[string]string{"tls": "sometimes"}, "must be true or false"},
		{"127.0.0.1:80", map[string]string{"timeout": "5s"}, `no parameter "timeout"`},
	}
	for _, tt := range tests {
		t.Run(tt.target+"/"+tt.want, func(t *testing.T) {
			_, err := (&probes.Local{}).Probe(context.Background(), &vpndiag.ProbeRequest{Kind: vpndiag.ProbeTCP, Target: tt.target, Params: tt.params})
			if vpndiag.ErrorCode(err) != vpndiag.EINVALID || !strings.Contains(vpndiag.ErrorMessage(err), tt.want) {
				t.Fatalf("error %v, want EINVALID containing %q", err, tt.want)
			}
		})
	}
}

func BenchmarkTCPProbe(b *testing.B) {
	addr := MustListener(b, nil)
	req := &vpndiag.ProbeRequest{Kind: vpndiag.ProbeTCP, Target: addr}
	l := &probes.Local{}
	var total time.Duration
	for b.Loop() {
		res, err := l.Probe(context.Background(), req)
		if err != nil || res.Outcome != vpndiag.OutcomeOK {
			b.Fatalf("%v %+v", err, res)
		}
		total += MustDetail[probes.TCPResult](b, res).ConnectTime
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N), "µs-connect/op")
}
