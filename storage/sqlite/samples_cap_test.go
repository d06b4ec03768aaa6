package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/storage/sqlite"
)

// A case takes at most MaxKeepaliveSamplesPerCase samples: a batch that
// would pass the cap is refused whole with ETOOLARGE, and other cases are
// not affected.
func TestKeepaliveSamplesCapped(t *testing.T) {
	if testing.Short() {
		t.Skip("stores 100 000 samples")
	}
	db := sqlite.NewDB(filepath.Join(t.TempDir(), "cap.db"))
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	cases, probes := sqlite.NewCaseService(db), sqlite.NewProbeService(db)
	var ids []int64
	for range 2 {
		marker, _ := vpndiag.NewMarker(vpndiag.Now(), nil)
		c := &vpndiag.Case{Marker: marker, Title: "t", Status: vpndiag.CaseOpen, Origin: "terminal", CreatedBy: "t"}
		if err := cases.CreateCase(ctx, c); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	batch := make([]vpndiag.KeepaliveSample, vpndiag.MaxKeepaliveSamplesPerCase/10)
	t0 := time.Now()
	for i := range batch {
		batch[i] = vpndiag.KeepaliveSample{Monitor: "ka", Time: t0.Add(time.Duration(i) * time.Second), OK: true}
	}
	for range 10 {
		if err := probes.AddKeepaliveSamples(ctx, ids[0], batch); err != nil {
			t.Fatal(err)
		}
	}
	err := probes.AddKeepaliveSamples(ctx, ids[0], batch[:1])
	if vpndiag.ErrorCode(err) != vpndiag.ETOOLARGE {
		t.Fatalf("sample over the cap: %v, want ETOOLARGE", err)
	}
	if err := probes.AddKeepaliveSamples(ctx, ids[1], batch[:1]); err != nil {
		t.Fatalf("another case: %v", err)
	}
	t.Logf("%d samples stored in %s, the next refused", vpndiag.MaxKeepaliveSamplesPerCase, time.Since(t0).Round(time.Millisecond))
}
