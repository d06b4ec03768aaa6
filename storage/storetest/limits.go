package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag"
)

// testProbeService_KeepaliveCap: a case holds at most
// vpndiag.MaxKeepaliveSamplesPerCase samples; a batch that would pass the
// cap is refused whole with ETOOLARGE, and other cases are not affected.
func testProbeService_KeepaliveCap(t *testing.T, open Opener) {
	if testing.Short() {
		t.Skip("100 000 samples in -short mode")
	}
	ctx := context.Background()
	db := open(t)
	c := MustCreateCase(t, db, 1)
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	batch := func(n, from int) []vpndiag.KeepaliveSample {
		ss := make([]vpndiag.KeepaliveSample, n)
		for i := range ss {
			ss[i] = vpndiag.KeepaliveSample{Monitor: "ka", Time: t0.Add(time.Duration(from+i) * time.Second), OK: true}
		}
		return ss
	}
	const max = vpndiag.MaxKeepaliveSamplesPerCase
	if err := db.Probes.AddKeepaliveSamples(ctx, c.ID, batch(max-1, 0)); err != nil {
		t.Fatal(err)
	}
	wantCode(t, db.Probes.AddKeepaliveSamples(ctx, c.ID, batch(2, max)), vpndiag.ETOOLARGE)
	if err := db.Probes.AddKeepaliveSamples(ctx, c.ID, batch(1, max)); err != nil {
		t.Fatalf("the last sample under the cap: %v", err)
	}
	ss, err := db.Probes.FindKeepaliveSamples(ctx, c.ID)
	if err != nil || len(ss) != max {
		t.Fatalf("stored %d samples (%v), want %d", len(ss), err, max)
	}
	wantCode(t, db.Probes.AddKeepaliveSamples(ctx, c.ID, batch(1, max+1)), vpndiag.ETOOLARGE)
	// Another case is not affected.
	other := MustCreateCase(t, db, 2)
	if err := db.Probes.AddKeepaliveSamples(ctx, other.ID, batch(3, 0)); err != nil {
		t.Fatalf("samples of another case: %v", err)
	}
}
