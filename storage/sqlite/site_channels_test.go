package sqlite_test

import (
	"context"
	"net/netip"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/storage/sqlite"
)

// A site's channels are stored and read back; a site without channels
// reads back without (nil), and an upsert replaces them.
func TestSiteChannels(t *testing.T) {
	db := sqlite.NewDB(filepath.Join(t.TempDir(), "sites.db"))
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	svc := sqlite.NewSiteService(db)
	ctx := context.Background()
	dns := []netip.Addr{netip.MustParseAddr("10.0.0.2")}
	owned := &vpndiag.Site{Name: "acme", CloudDNSServers: dns, Channels: []string{"C1", "C2"}}
	shared := &vpndiag.Site{Name: "hq", CloudDNSServers: dns}
	for _, s := range []*vpndiag.Site{owned, shared} {
		if err := svc.UpsertSite(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	got, err := svc.FindSiteByName(ctx, "acme")
	if err != nil || !reflect.DeepEqual(got.Channels, []string{"C1", "C2"}) || !got.UsableIn("C2") || got.UsableIn("C3") || !got.OwnedBy("C1") {
		t.Fatalf("acme = %+v, %v", got, err)
	}
	got, err = svc.FindSiteByID(ctx, shared.ID)
	if err != nil || got.Channels != nil || !got.UsableIn("C9") || got.OwnedBy("C9") {
		t.Fatalf("hq = %+v, %v", got, err)
	}
	owned.Channels = []string{"C3"}
	if err := svc.UpsertSite(ctx, owned); err != nil {
		t.Fatal(err)
	}
	if got, _ := svc.FindSiteByName(ctx, "acme"); !reflect.DeepEqual(got.Channels, []string{"C3"}) {
		t.Fatalf("after upsert: %q", got.Channels)
	}
	bad := &vpndiag.Site{Name: "bad", CloudDNSServers: dns, Channels: []string{"C1 C2"}}
	if err := svc.UpsertSite(ctx, bad); vpndiag.ErrorCode(err) != vpndiag.EINVALID {
		t.Fatalf("channel with a space: %v, want EINVALID", err)
	}
}

// A site's accepted proposals are stored and read back; none reads back nil.
func TestSiteProposals(t *testing.T) {
	db := sqlite.NewDB(filepath.Join(t.TempDir(), "sites.db"))
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	svc := sqlite.NewSiteService(db)
	ctx := context.Background()
	s := &vpndiag.Site{Name: "acme", CloudDNSServers: []netip.Addr{netip.MustParseAddr("10.0.0.2")},
		Phase1: &vpndiag.Proposals{Encryption: []string{"aes256"}, Integrity: []string{"sha256"}, DHGroups: []int{14}}}
	if err := svc.UpsertSite(ctx, s); err != nil {
		t.Fatal(err)
	}
	got, err := svc.FindSiteByName(ctx, "acme")
	if err != nil || !reflect.DeepEqual(got.Phase1, s.Phase1) || got.Phase2 != nil {
		t.Fatalf("read back %+v %+v, %v", got.Phase1, got.Phase2, err)
	}
}
