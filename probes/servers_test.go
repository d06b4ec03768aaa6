package probes_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/probes"
	"github.com/vpndiag/vpndiag/probes/internal/nstest"
)

// serversInput configures the servers helper.
type serversInput struct {
	// Records are A records, name → address.
	Records map[string]string `json:"records"`
	// TCPPort is a port to accept TCP connections on.
	TCPPort int `json:"tcp_port"`
}

// helperServers runs, inside a namespace until SIGTERM, a DNS server on
// port 53 (UDP and TCP) answering Records and a TCP listener on TCPPort.
func helperServers(ctx context.Context, in []byte) (any, error) {
	var input serversInput
	if err := json.Unmarshal(in, &input); err != nil {
		return nil, err
	}
	h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		q := r.Question[0]
		a, ok := input.Records[strings.ToLower(q.Name)]
		switch {
		case !ok:
			m.Rcode = dns.RcodeNameError
		case q.Qtype == dns.TypeA:
			rr, _ := dns.NewRR(q.Name + " 60 IN A " + a)
			m.Answer = append(m.Answer, rr)
		}
		w.WriteMsg(m)
	})
	pc, err := net.ListenPacket("udp", ":53")
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", ":53")
	if err != nil {
		return nil, err
	}
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}} {
		go srv.ActivateAndServe()
		defer srv.Shutdown()
	}
	tl, err := net.Listen("tcp", fmt.Sprintf(":%d", input.TCPPort))
	if err != nil {
		return nil, err
	}
	defer tl.Close()
	go func() {
		for {
			c, err := tl.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	<-ctx.Done()
	return "stopped", nil
}

// TestProbesAcrossNamespaces runs the dns and tcp probes from a client
// namespace to servers in a target namespace two hops away.
func TestProbesAcrossNamespaces(t *testing.T) {
	c := nstest.MustChain(t, 3)
	target := c.Target()
	srv := c.StartHelper(t, 2, "servers", serversInput{Records: map[string]string{"db.corp.example.": target}, TCPPort: 5432}, nil)
	t.Cleanup(srv.Stop)
	// The client resolves through the target's DNS server: ip netns exec
	// mounts /etc/netns/NS/resolv.conf over /etc/resolv.conf.
	dir := filepath.Join("/etc/netns", c.NS[0])
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.WriteFile(filepath.Join(dir, "resolv.conf"), []byte("nameserver "+target+"\noptions timeout:1 attempts:1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Wait for the servers to listen.
	for i := 0; ; i++ {
		res := MustProbeIn(t, c, 0, &vpndiag.ProbeRequest{Kind: vpndiag.ProbeTCP, Target: target + ":5432", Timeout: time.Second}, nil)
		if res.Outcome == vpndiag.OutcomeOK {
			break
		}
		if i == 20 {
			t.Fatalf("servers not up: %s", res.Summary)
		}
		time.Sleep(100 * time.Millisecond)
	}

	t.Run("dns query time", func(t *testing.T) {
		for _, tcp := range []string{"false", "true"} {
			res := MustProbeIn(t, c, 0, &vpndiag.ProbeRequest{Kind: vpndiag.ProbeDNS, Target: "db.corp.example", Params: map[string]string{"server": target, "tcp": tcp}}, nil)
			d := MustDetail[probes.DNSResult](t, res)
			if res.Outcome != vpndiag.OutcomeOK || d.Query.Addresses[0] != target {
				t.Fatalf("%s %q", res.Outcome, res.Summary)
			}
			t.Logf("dns across the chain (tcp=%s): query time %s", tcp, d.Query.QueryTime)
		}
	})
	t.Run("tcp connect time, by name", func(t *testing.T) {
		res := MustProbeIn(t, c, 0, &vpndiag.ProbeRequest{Kind: vpndiag.ProbeTCP, Target: "db.corp.example:5432"}, nil)
		d := MustDetail[probes.TCPResult](t, res)
		if res.Outcome != vpndiag.OutcomeOK || d.Address != target+":5432" {
			t.Fatalf("%s %q", res.Outcome, res.Summary)
		}
		t.Logf("tcp connect across the chain: %s", d.ConnectTime)
	})
	t.Run("unresolvable name", func(t *testing.T) {
		for _, kind := range []vpndiag.ProbeKind{vpndiag.ProbeTCP, vpndiag.ProbePing, vpndiag.ProbeIKE} {
			target := "nothing.corp.example"
			if kind == vpndiag.ProbeTCP {
				target += ":443"
			}
			res := MustProbeIn(t, c, 0, &vpndiag.ProbeRequest{Kind: kind, Target: target, Timeout: 3 * time.Second}, nil)
			want := probes.OutcomeNoName // the probe ran: the name does not resolve
			if kind == vpndiag.ProbeIKE {
				want = vpndiag.OutcomeError
			}
			if res.Outcome != want || res.Error != `Cannot resolve "nothing.corp.example": no such host.` {
				t.Errorf("%s: %s %q", kind, res.Outcome, res.Error)
			}
		}
	})
	t.Run("tcp closed port refused, SYN dropped times out, no route unreachable", func(t *testing.T) {
		c.Nft(t, 1, "table inet vdtcp { chain filt { type filter hook forward priority 0; policy accept; tcp dport 5433 drop; }; }")
		t.Cleanup(func() { c.Exec(t, 1, "nft", "delete", "table", "inet", "vdtcp") })
		c.IP(t, 0, "route", "add", "10.250.98.0/24", "via", c.Left(1))
		c.IP(t, 1, "route", "add", "unreachable", "10.250.98.0/24")
		for _, tt := range []struct {
			target  string
			outcome vpndiag.Outcome
			min     time.Duration
		}{
			{target + ":5431", vpndiag.OutcomeRefused, 0},
			{target + ":5433", vpndiag.OutcomeTimeout, 500 * time.Millisecond},
			{"10.250.98.1:5432", vpndiag.OutcomeUnreachable, 0},
		} {
			res := MustProbeIn(t, c, 0, &vpndiag.ProbeRequest{Kind: vpndiag.ProbeTCP, Target: tt.target, Timeout: 500 * time.Millisecond}, nil)
			if res.Outcome != tt.outcome || res.Duration < tt.min || res.Duration > 2*time.Second {
				t.Errorf("%s: %s %q in %s, want %s", tt.target, res.Outcome, res.Summary, res.Duration, tt.outcome)
			}
		}
	})
}
