package relay_test

import (
	"encoding/json"
	"strings"
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

// The volume limit is a hub setting too: a relay sending more bytes than
// RelayByteRate allows (after the 4 MiB burst) is slowed down to it, and a
// raised rate is the one applied (the default, 256 KiB/s, would take 8 s).
func TestRelayByteRateLimited(t *testing.T) {
	e := newHubEnv(t, func(h *relay.Hub) { h.RelayRate, h.RelayBurst, h.RelayByteRate = 1000, 1000, 1<<20 })
	ws := e.dial(e.enrol("hq-1", 0))
	// 12 results of about 500 KiB: 4 MiB at once, then about 2 MiB at 1 MiB/s.
	detail := json.RawMessage(`"` + strings.Repeat("x", 500<<10) + `"`)
	const n = 12
	start := time.Now()
	for i := range n {
		send(t, ws, &relay.Message{Type: relay.TypeResult, Result: &vpndiag.ProbeResult{ID: "big-" + string(rune('a'+i)), Outcome: vpndiag.OutcomeOK, Detail: detail}})
	}
	for acked := 0; acked < n; {
		if m := recv(t, ws); m.Type == relay.TypeAck {
			acked++
		}
	}
	took := time.Since(start)
	t.Logf("%d results of 500 KiB at a limit of 1 MiB/s (burst 4 MiB) took %s", n, took.Round(time.Millisecond))
	if took < 1500*time.Millisecond {
		t.Fatalf("%d results took %s; the byte limit did not hold", n, took)
	}
	if took > 6*time.Second {
		t.Fatalf("%d results took %s; the hub did not apply RelayByteRate", n, took)
	}
}
