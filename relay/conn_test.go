package relay_test

import (
	"testing"
	"time"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/relay"
)

// A relay that sends results faster than its rate limit is slowed down to
// it: the hub reads its next message only when the bucket allows.
func TestRelayRateLimited(t *testing.T) {
	e := newHubEnv(t, func(h *relay.Hub) { h.RelayRate, h.RelayBurst = 50, 10 })
	ws := e.dial(e.enrol("hq-1", 0))
	const n = 60
	start := time.Now()
	for i := range n {
		send(t, ws, &relay.Message{Type: relay.TypeResult, Result: &vpndiag.ProbeResult{ID: "forged-" + string(rune('a'+i%26)), Outcome: vpndiag.OutcomeOK}})
	}
	for acked := 0; acked < n; {
		if m := recv(t, ws); m.Type == relay.TypeAck {
			acked++
		}
	}
	// 10 at once, then 50 at 50 per second: about 1 s.
	took := time.Since(start)
	t.Logf("%d results at a limit of 50/s (burst 10) took %s", n, took.Round(time.Millisecond))
	if took < 900*time.Millisecond {
		t.Fatalf("%d results took %s; the rate limit did not hold", n, took)
	}
}
