package vpndiag_test

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/storage/sqlite"
)

// A marker already taken that day is drawn again, against a real store.
func TestNewUniqueMarker(t *testing.T) {
	db := sqlite.NewDB(filepath.Join(t.TempDir(), "m.db"))
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cases := sqlite.NewCaseService(db)
	ctx := context.Background()
	day := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	taken := &vpndiag.Case{Marker: "VPN-20261125-0000", Status: vpndiag.CaseOpen, Origin: "terminal", CreatedBy: "t"}
	if err := cases.CreateCase(ctx, taken); err != nil {
		t.Fatal(err)
	}
	rnd := bytes.NewReader([]byte{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1})
	m, err := vpndiag.NewUniqueMarker(ctx, cases, day, rnd)
	if err != nil || m != "VPN-20261125-1111" {
		t.Fatalf("NewUniqueMarker = %q, %v; want the third draw VPN-20261125-1111", m, err)
	}
	// A source that only repeats a taken marker gives up with a clear error.
	_, err = vpndiag.NewUniqueMarker(ctx, cases, day, bytes.NewReader(make([]byte, 80)))
	if vpndiag.ErrorCode(err) != vpndiag.EUNAVAILABLE {
		t.Fatalf("endless repeats: %v", err)
	}
}
