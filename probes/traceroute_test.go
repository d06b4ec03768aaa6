package probes_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/probes"
	"github.com/vpndiag/vpndiag/probes/internal/nstest"
)

// TestTracerouteNamespaces traces across client — edge — cloud router —
// target (3 hops). The customer network is the client–edge link; the edge
// answers from its inside address.
func TestTracerouteNamespaces(t *testing.T) {
	c := nstest.MustChain(t, 4)
	customer, edge := nstest.Subnet(0), c.Left(1)
	want := []string{c.Left(1), c.Left(2), c.Left(3)}
	// The kernel's own per-peer ICMP error limit (6 at once, then one a
	// second) would make the subtests depend on each other's traffic; the
	// subtests set the limits they test with nftables instead.
	for ns := 1; ns < 4; ns++ {
		c.Exec(t, ns, "sysctl", "-qw", "net.ipv4.icmp_ratelimit=0")
	}
	params := func(method string) map[string]string {
		return map[string]string{"method": method, "max_hops": "6", "queries": "2", "wait": "300ms", "customer_cidrs": customer, "edge": edge}
	}
	dropTo := func(t *testing.T, ns int, dst string) {
		c.Nft(t, ns, fmt.Sprintf("table inet vdtest { chain filt { type filter hook forward priority 0; policy accept; ip daddr %s drop; }; }", dst))
		t.Cleanup(func() { c.Exec(t, ns, "nft", "delete", "table", "inet", "vdtest") })
	}

	for _, method := range []string{"icmp", "udp"} {
		t.Run(method+" reaches the target", func(t *testing.T) {
			res := MustProbeIn(t, c, 0, &vpndiag.ProbeRequest{Kind: vpndiag.ProbeTraceroute, Target: c.Target(), Params: params(method), Timeout: 10 * time.Second}, nil)
			d := MustDetail[probes.TracerouteResult](t, res)
			if res.Outcome != vpndiag.OutcomeOK || !d.Reached || len(d.Hops) != 3 {
				t.Fatalf("%s %q %+v", res.Outcome, res.Summary, d.Hops)
			}
			for i, h := range d.Hops {
				if h.TTL != i+1 || h.Address != want[i] || len(h.Probes) != 2 || h.Probes[0].RTT <= 0 {
					t.Errorf("hop %d: %+v, want address %s", i+1, h, want[i])
				}
			}
			if d.Path == nil || d.Path.Verdict != probes.PathReachedTarget {
				t.Errorf("path %+v", d.Path)
			}
			t.Logf("traceroute (%s) across 3 hops took %s: %s", method, res.Duration, res.Summary)
		})
	}
	// A router that rate-limits its ICMP errors answers one probe of the
	// hop and drops the others: the hop must not cost the whole wait.
	t.Run("rate-limited router", func(t *testing.T) {
		// The router lets one time-exceeded out per second and drops the rest.
		c.Nft(t, 1, "table inet vdrl { chain out { type filter hook output priority 0; policy accept; "+
			"icmp type time-exceeded limit rate 1/second burst 1 packets accept; icmp type time-exceeded drop; }; }")
		t.Cleanup(func() { c.Exec(t, 1, "nft", "delete", "table", "inet", "vdrl") })
		p := params("icmp")
		p["queries"], p["wait"] = "3", "2s"
		res := MustProbeIn(t, c, 0, &vpndiag.ProbeRequest{Kind: vpndiag.ProbeTraceroute, Target: c.Target(), Params: p, Timeout: 20 * time.Second}, nil)
		d := MustDetail[probes.TracerouteResult](t, res)
		if res.Outcome != vpndiag.OutcomeOK || !d.Reached {
			t.Fatalf("%s %q", res.Outcome, res.Summary)
		}
		answered := 0
		for _, hp := range d.Hops[0].Probes {
			if hp.Address != "" {
				answered++
			}
		}
		if answered != 1 {
			t.Fatalf("hop 1 answered %d of 3 probes; the rate limit should let one through: %+v", answered, d.Hops[0])
		}
		if res.Duration > time.Second {
			t.Errorf("hop 1 answered %d of 3 probes and the trace took %s; want well under the 2 s wait", answered, res.Duration)
		}
		t.Logf("rate-limited hop (%d of 3 answered): trace took %s", answered, res.Duration)
	})
	t.Run("dropped past the tunnel", func(t *testing.T) {
		dropTo(t, 2, c.Target())
		res := MustProbeIn(t, c, 0, &vpndiag.ProbeRequest{Kind: vpndiag.ProbeTraceroute, Target: c.Target(), Params: params("icmp"), Timeout: 10 * time.Second}, nil)
		d := MustDetail[probes.TracerouteResult](t, res)
		if res.Outcome != probes.OutcomePathPastTunnel || d.Reached || d.LastAnswered != c.Left(2) || d.Path.Verdict != probes.PathPastTunnel {
			t.Fatalf("%s %q %+v", res.Outcome, res.Summary, d.Path)
		}
		// Hops 3..6 were silent: 4 hops × the 300 ms wait, bounded.
		if len(d.Hops) != 6 || res.Duration > 3*time.Second {
			t.Errorf("%d hops in %s", len(d.Hops), res.Duration)
		}
	})
	t.Run("dropped at the VPN edge", func(t *testing.T) {
		dropTo(t, 1, c.Target())
		res := MustProbeIn(t, c, 0, &vpndiag.ProbeRequest{Kind: vpndiag.ProbeTraceroute, Target: c.Target(), Params: params("udp"), Timeout: 10 * time.Second}, nil)
		d := MustDetail[probes.TracerouteResult](t, res)
		if res.Outcome != probes.OutcomePathVPNEdge || d.Path.Verdict != probes.PathVPNEdge || !strings.Contains(res.Summary, "from the VPN edge "+edge) {
			t.Fatalf("%s %q %+v", res.Outcome, res.Summary, d.Path)
		}
	})
	t.Run("router says unreachable", func(t *testing.T) {
		c.IP(t, 0, "route", "add", "10.250.99.0/24", "via", c.Left(1))
		c.IP(t, 1, "route", "add", "10.250.99.0/24", "via", c.Left(2))
		c.IP(t, 2, "route", "add", "unreachable", "10.250.99.0/24")
		res := MustProbeIn(t, c, 0, &vpndiag.ProbeRequest{Kind: vpndiag.ProbeTraceroute, Target: "10.250.99.1", Params: params("icmp"), Timeout: 10 * time.Second}, nil)
		d := MustDetail[probes.TracerouteResult](t, res)
		if res.Outcome != vpndiag.OutcomeUnreachable || len(d.Hops) != 2 || d.Hops[1].Probes[0].Note != "!H" {
			t.Fatalf("%s %q %+v", res.Outcome, res.Summary, d.Hops)
		}
	})
	t.Run("without CAP_NET_RAW", func(t *testing.T) {
		res := MustProbeIn(t, c, 0, &vpndiag.ProbeRequest{Kind: vpndiag.ProbeTraceroute, Target: c.Target(), Params: params("icmp"), Timeout: 5 * time.Second}, &nstest.HelperOptions{UID: 65534})
		if res.Outcome != vpndiag.OutcomeError || !strings.Contains(res.Error, "needs CAP_NET_RAW") {
			t.Fatalf("%s %q", res.Outcome, res.Error)
		}
	})
}

func TestInterpretPath(t *testing.T) {
	pc := probes.PathContext{
		CustomerCIDRs: []netip.Prefix{netip.MustParsePrefix("192.168.0.0/16")},
		Edge:          netip.MustParseAddr("192.168.255.1"),
		Target:        netip.MustParseAddr("10.8.0.5"),
	}
	trace := func(reached bool, addrs ...string) *probes.TracerouteResult {
		d := &probes.TracerouteResult{Reached: reached}
		for i, a := range addrs {
			d.Hops = append(d.Hops, probes.Hop{TTL: i + 1, Address: a})
		}
		return d
	}
	tests := []struct {
		name    string
		trace   *probes.TracerouteResult
		verdict probes.PathVerdict
		lastTTL int
	}{
		{"reached", trace(true, "192.168.1.1", "192.168.255.1", "10.8.0.1", "10.8.0.5"), probes.PathReachedTarget, 4},
		{"nothing answered", trace(false, "", "", ""), probes.PathNoReply, 0},
		{"stops inside", trace(false, "192.168.1.1", "192.168.2.1", "", ""), probes.PathInsideCustomer, 2},
		{"stops at the edge", trace(false, "192.168.1.1", "192.168.255.1", "", ""), probes.PathVPNEdge, 2},
		{"stops past the tunnel", trace(false, "192.168.1.1", "192.168.255.1", "10.8.0.1", "", ""), probes.PathPastTunnel, 3},
		{"silent hop in the middle", trace(false, "192.168.1.1", "", "10.8.0.1", ""), probes.PathPastTunnel, 3},
		{"target answered without the flag", trace(false, "192.168.1.1", "10.8.0.5"), probes.PathReachedTarget, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := probes.InterpretPath(tt.trace, pc)
			if got.Verdict != tt.verdict || got.LastTTL != tt.lastTTL || got.Explanation == "" {
				t.Fatalf("%+v, want %s at hop %d", got, tt.verdict, tt.lastTTL)
			}
		})
	}
}

func TestTracerouteBadInput(t *testing.T) {
	tests := []struct {
		target string
		params map[string]string
		want   string
	}{
		{"", nil, "needs a host to trace to"},
		{"1.2.3", nil, "not a valid IP address"},
		{"::1", nil, "IPv4 addresses only"},
		{"127.0.0.1", map[string]string{"method": "tcp"}, "method must be icmp or udp"},
		{"127.0.0.1", map[string]string{"max_hops": "0"}, "max_hops must be between 1 and 64"},
		{"127.0.0.1", map[string]string{"max_hops": "300"}, "max_hops must be between 1 and 64"},
		{"127.0.0.1", map[string]string{"queries": "0"}, "queries must be between 1 and 10"},
		{"127.0.0.1", map[string]string{"first_hop": "5", "max_hops": "3"}, "past its max_hops"},
		{"127.0.0.1", map[string]string{"wait": "1h"}, "wait must be between"},
		{"127.0.0.1", map[string]string{"customer_cidrs": "10.0.0.0/8, 10.1"}, `"10.1" is not one`},
		{"127.0.0.1", map[string]string{"edge": "edge.example"}, "edge must be an IP address"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			_, err := (&probes.Local{}).Probe(context.Background(), &vpndiag.ProbeRequest{Kind: vpndiag.ProbeTraceroute, Target: tt.target, Params: tt.params})
			if vpndiag.ErrorCode(err) != vpndiag.EINVALID || !strings.Contains(vpndiag.ErrorMessage(err), tt.want) {
				t.Fatalf("error %v, want EINVALID containing %q", err, tt.want)
			}
		})
	}
}
