package storetest

import (
	"context"
	"net/netip"
	"reflect"
	"testing"

	"github.com/vpndiag/vpndiag"
)

// A site's channels are stored and read back; a site without channels
// reads back without (nil), and an upsert replaces them.
func testSiteService_Channels(t *testing.T, open Opener) {
	svc := open(t).Sites
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

// testSiteService_Proposals: the proposals a site accepts are stored and
// read back; a site without them reads back without.
func testSiteService_Proposals(t *testing.T, open Opener) {
	svc := open(t).Sites
	ctx := context.Background()
	dns := []netip.Addr{netip.MustParseAddr("10.0.0.2")}
	site := &vpndiag.Site{Name: "acme", CloudDNSServers: dns,
		Phase1: &vpndiag.Proposals{Encryption: []string{"aes256"}, Integrity: []string{"sha256"}, DHGroups: []int{14, 19}},
		Phase2: &vpndiag.Proposals{Encryption: []string{"aes128gcm16"}, DHGroups: []int{14}}}
	plain := &vpndiag.Site{Name: "hq", CloudDNSServers: dns}
	for _, s := range []*vpndiag.Site{site, plain} {
		if err := svc.UpsertSite(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	got, err := svc.FindSiteByName(ctx, "acme")
	if err != nil || !reflect.DeepEqual(got.Phase1, site.Phase1) || !reflect.DeepEqual(got.Phase2, site.Phase2) {
		t.Fatalf("acme = %+v %+v, %v", got.Phase1, got.Phase2, err)
	}
	if got, err := svc.FindSiteByName(ctx, "hq"); err != nil || got.Phase1 != nil || got.Phase2 != nil {
		t.Fatalf("hq = %+v, %v", got, err)
	}
	site.Phase2 = nil
	if err := svc.UpsertSite(ctx, site); err != nil {
		t.Fatal(err)
	}
	if got, _ := svc.FindSiteByName(ctx, "acme"); got.Phase2 != nil || got.Phase1 == nil {
		t.Fatalf("after upsert without phase 2: %+v %+v", got.Phase1, got.Phase2)
	}
}
