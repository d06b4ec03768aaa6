package agent_test

import (
	"context"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/probes"
	"github.com/vpndiag/vpndiag/relay/policy"
)

// BenchmarkProbe times a tcp probe of a loopback listener in-process
// (policy guard around the local prober, as `vpndiag diagnose` runs it) and
// through a relay over HTTPS on loopback; the difference is the relay's
// overhead (goal: at most 2 ms).
func BenchmarkProbe(b *testing.B) {
	addr := tcpListener(b)
	req := func() *vpndiag.ProbeRequest {
		return &vpndiag.ProbeRequest{Kind: vpndiag.ProbeTCP, Target: addr, Timeout: 2 * time.Second}
	}
	p, err := policy.Parse([]byte(testPolicy))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("in-process", func(b *testing.B) {
		g := policy.NewGuard(p, &probes.Local{})
		for b.Loop() {
			res, err := g.Probe(context.Background(), req())
			if err != nil || res.Outcome != vpndiag.OutcomeOK {
				b.Fatalf("%+v, %v", res, err)
			}
		}
	})
	for _, stored := range []bool{false, true} {
		name := "relay-https"
		if stored {
			name = "relay-https-sqlite"
		}
		b.Run(name, func(b *testing.B) {
			e := MustEnv(b)
			if !stored {
				e.Hub().Results = nil // time the transport alone
			}
			// The loop sends thousands of results a second through one
			// relay: raised as an operator raises them for a big site
			// (hub.relay_messages_per_second and relay_bytes_per_second
			// in serve's config), else the defaults (20 a second) would
			// time the rate limit rather than the relay.
			e.Hub().RelayRate, e.Hub().RelayBurst, e.Hub().RelayByteRate = 1_000_000, 1_000_000, 1<<30
			ra := e.StartAgent(e.Enrol("hq-1"), nil)
			ra.WaitConnected(b)
			for b.Loop() {
				r := req()
				r.Relay, r.CaseID = "hq-1", e.caseID
				res, err := e.Hub().Probe(context.Background(), r)
				if err != nil || res.Outcome != vpndiag.OutcomeOK {
					b.Fatalf("%+v, %v", res, err)
				}
			}
		})
	}
}
