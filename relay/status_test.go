package relay_test

import (
	"context"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/relay"
)

// Relays lists every enrolled relay with its site and link state; revoking
// one cuts its link at once and marks it revoked.
func TestRelaysAndRevoke(t *testing.T) {
	e := newHubEnv(t)
	ws := e.dial(e.enrol("hq-1", 0))
	e.enrol("branch-1", 1)
	ctx := context.Background()
	st, err := e.hub.Relays(ctx)
	if err != nil || len(st) != 2 {
		t.Fatalf("Relays = %+v, %v", st, err)
	}
	if b, h := st[0], st[1]; b.Name != "branch-1" || b.Connected || b.Site != "branch" || h.Name != "hq-1" || !h.Connected || h.Site != "hq" || h.Version != "test" {
		t.Fatalf("status %+v", st)
	}
	if err := e.hub.RevokeRelay(ctx, "hq-1"); err != nil {
		t.Fatal(err)
	}
	m := recv(t, ws)
	if m.Type != relay.TypeBye || m.Bye.Reason != "token revoked" {
		t.Fatalf("relay got %+v, want bye", m)
	}
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, _, err := ws.Read(rctx); websocket.CloseStatus(err) == -1 && err == nil {
		t.Fatal("the link stayed open after the revocation")
	}
	st, _ = e.hub.Relays(ctx)
	if st[1].Connected || !st[1].Revoked {
		t.Fatalf("after revocation: %+v", st[1])
	}
	_, err = e.hub.Probe(ctx, &vpndiag.ProbeRequest{Relay: "hq-1", Kind: vpndiag.ProbeTCP, Target: "10.0.0.1:443"})
	if vpndiag.ErrorCode(err) != vpndiag.EUNAVAILABLE {
		t.Fatalf("probe on a revoked relay: %v", err)
	}
}
