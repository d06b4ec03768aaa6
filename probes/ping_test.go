package probes_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/probes"
	"github.com/vpndiag/vpndiag/probes/internal/nstest"
)

func pingReq(target string, timeout time.Duration, params map[string]string) *vpndiag.ProbeRequest {
	return &vpndiag.ProbeRequest{ID: "p1", Kind: vpndiag.ProbePing, Target: target, Params: params, Timeout: timeout}
}

// TestPingNamespaces pings across a 3-namespace chain: client — router —
// target.
func TestPingNamespaces(t *testing.T) {
	c := nstest.MustChain(t, 3)
	fast := map[string]string{"count": "3", "interval": "100ms", "wait": "500ms"}

	t.Run("replies (privileged fallback)", func(t *testing.T) {
		res := MustProbeIn(t, c, 0, pingReq(c.Target(), 5*time.Second, fast), nil)
		d := MustDetail[probes.PingResult](t, res)
		if res.Outcome != vpndiag.OutcomeOK || d.Sent != 3 || d.Received != 3 || len(d.RTTs) != 3 || d.AvgRTT <= 0 {
			t.Fatalf("%s %q %+v", res.Outcome, res.Summary, d)
		}
		// The namespace's ping_group_range is "1 0": no unprivileged ICMP.
		if !d.Privileged {
			t.Errorf("privileged false, want the raw-socket fallback")
		}
		t.Logf("ping RTT across the chain: min %s avg %s max %s", d.MinRTT, d.AvgRTT, d.MaxRTT)
	})
	t.Run("unprivileged ICMP when ping_group_range allows", func(t *testing.T) {
		c.Exec(t, 0, "sysctl", "-qw", "net.ipv4.ping_group_range=0 2147483647")
		t.Cleanup(func() { c.Exec(t, 0, "sysctl", "-qw", "net.ipv4.ping_group_range=1 0") })
		for _, uid := range []int{0, 65534} {
			res := MustProbeIn(t, c, 0, pingReq(c.Target(), 5*time.Second, fast), &nstest.HelperOptions{UID: uid})
			d := MustDetail[probes.PingResult](t, res)
			if res.Outcome != vpndiag.OutcomeOK || d.Privileged {
				t.Fatalf("uid %d: %s %q privileged %v", uid, res.Outcome, res.Summary, d.Privileged)
			}
		}
	})
	t.Run("neither permitted names the remedy", func(t *testing.T) {
		res := MustProbeIn(t, c, 0, pingReq(c.Target(), 5*time.Second, fast), &nstest.HelperOptions{UID: 65534})
		if res.Outcome != vpndiag.OutcomeError || !strings.Contains(res.Error, "net.ipv4.ping_group_range") || !strings.Contains(res.Error, "CAP_NET_RAW") {
			t.Fatalf("%s %q", res.Outcome, res.Error)
		}
	})
	t.Run("echo requests dropped: timeout within the deadline", func(t *testing.T) {
		c.Nft(t, 1, "table inet vdtest { chain filt { type filter hook forward priority 0; policy accept; icmp type echo-request drop; }; }")
		t.Cleanup(func() { c.Exec(t, 1, "nft", "delete", "table", "inet", "vdtest") })
		res := MustProbeIn(t, c, 0, pingReq(c.Target(), 5*time.Second, fast), nil)
		d := MustDetail[probes.PingResult](t, res)
		if res.Outcome != vpndiag.OutcomeTimeout || d.Sent != 3 || d.Received != 0 || !strings.Contains(res.Summary, "100% loss") {
			t.Fatalf("%s %q %+v", res.Outcome, res.Summary, d)
		}
		// 2 intervals plus the wait, not the 5 s deadline.
		if res.Duration > 2*time.Second {
			t.Errorf("took %s", res.Duration)
		}
		// An endless ping is cut by the request's timeout.
		res = MustProbeIn(t, c, 0, pingReq(c.Target(), 700*time.Millisecond, map[string]string{"count": "100", "interval": "100ms"}), nil)
		if res.Outcome != vpndiag.OutcomeTimeout || res.Duration < 600*time.Millisecond || res.Duration > 1500*time.Millisecond {
			t.Fatalf("%s %q after %s", res.Outcome, res.Summary, res.Duration)
		}
	})
	t.Run("every other request dropped: loss", func(t *testing.T) {
		c.Nft(t, 1, "table inet vdtest { chain filt { type filter hook forward priority 0; policy accept; icmp type echo-request numgen inc mod 2 == 0 drop; }; }")
		t.Cleanup(func() { c.Exec(t, 1, "nft", "delete", "table", "inet", "vdtest") })
		res := MustProbeIn(t, c, 0, pingReq(c.Target(), 5*time.Second, map[string]string{"count": "4", "interval": "100ms", "wait": "500ms"}), nil)
		d := MustDetail[probes.PingResult](t, res)
		if res.Outcome != probes.OutcomeLoss || d.Sent != 4 || d.Received != 2 || d.Loss != 50 {
			t.Fatalf("%s %q %+v", res.Outcome, res.Summary, d)
		}
	})
	t.Run("don't-fragment larger than the MTU", func(t *testing.T) {
		res := MustProbeIn(t, c, 0, pingReq(c.Target(), 5*time.Second, map[string]string{"count": "1", "size": "2000", "df": "true"}), nil)
		if res.Outcome != probes.OutcomeTooBig {
			t.Fatalf("%s %q", res.Outcome, res.Summary)
		}
		res = MustProbeIn(t, c, 0, pingReq(c.Target(), 5*time.Second, map[string]string{"count": "1", "size": "1472", "df": "true"}), nil)
		if res.Outcome != vpndiag.OutcomeOK {
			t.Fatalf("1472 bytes with DF on a 1500 MTU path: %s %q", res.Outcome, res.Summary)
		}
	})
	t.Run("no route: unreachable", func(t *testing.T) {
		res := MustProbeIn(t, c, 0, pingReq("10.251.0.1", 5*time.Second, fast), nil)
		if res.Outcome != vpndiag.OutcomeUnreachable {
			t.Fatalf("%s %q", res.Outcome, res.Summary)
		}
	})
}

func TestPingBadInput(t *testing.T) {
	tests := []struct {
		target string
		params map[string]string
		want   string
	}{
		{"", nil, "needs a host to ping"},
		{"10.0.0.256", nil, "not a valid IP address"},
		{"host name", nil, "not a valid IP address or host name"},
		{"127.0.0.1", map[string]string{"count": "0"}, "count must be between 1 and 100"},
		{"127.0.0.1", map[string]string{"count": "1000000"}, "count must be between 1 and 100"},
		{"127.0.0.1", map[string]string{"count": "three"}, "must be a whole number"},
		{"127.0.0.1", map[string]string{"interval": "1ms"}, "interval must be between 100ms and 1m0s"},
		{"127.0.0.1", map[string]string{"interval": "soon"}, "must be a duration"},
		{"127.0.0.1", map[string]string{"size": "10"}, "size must be between 24 and 65000"},
		{"127.0.0.1", map[string]string{"size": "70000"}, "size must be between 24 and 65000"},
		{"127.0.0.1", map[string]string{"ttl": "0"}, "ttl must be between 1 and 255"},
		{"127.0.0.1", map[string]string{"df": "2"}, "must be true or false"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			_, err := (&probes.Local{}).Probe(context.Background(), pingReq(tt.target, 0, tt.params))
			if vpndiag.ErrorCode(err) != vpndiag.EINVALID || !strings.Contains(vpndiag.ErrorMessage(err), tt.want) {
				t.Fatalf("error %v, want EINVALID containing %q", err, tt.want)
			}
		})
	}
}

func TestPingLoopback(t *testing.T) {
	res := MustProbe(t, pingReq("127.0.0.1", 3*time.Second, map[string]string{"count": "2", "interval": "100ms"}))
	if res.Outcome != vpndiag.OutcomeOK {
		t.Fatalf("%s %q %s", res.Outcome, res.Summary, res.Error)
	}
}
