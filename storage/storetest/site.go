package storetest

import (
	"context"
	"net/netip"
	"reflect"
	"testing"

	"github.com/vpndiag/vpndiag"
)

// mustAddrs parses IP addresses.
func mustAddrs(tb testing.TB, ss ...string) []netip.Addr {
	tb.Helper()
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

func testSiteService(t *testing.T, open Opener) {
	ctx := context.Background()
	db := open(t)
	ss := db.Sites

	full := &vpndiag.Site{
		Name:              "hq",
		CloudDNSServers:   mustAddrs(t, "10.10.0.2", "10.10.0.3"),
		VPNEndpoints:      mustAddrs(t, "203.0.113.10", "203.0.113.11"),
		CloudCIDR:         netip.MustParsePrefix("10.10.0.0/16"),
		EnvironmentFQDNs:  []string{"acme.example.cloud", "acme-test.example.cloud"},
		CloudDomain:       "example.cloud",
		CustomerCIDRs:     []netip.Prefix{netip.MustParsePrefix("192.168.0.0/24"), netip.MustParsePrefix("172.16.0.0/12")},
		InternalResolvers: mustAddrs(t, "192.168.0.53"),
		CustomerPeer:      netip.MustParseAddr("198.51.100.7"),
		Routing:           vpndiag.RoutingBGP,
		IKEVersion:        2,
		Only443:           true,
		ConsoleVersion:    "11.7.0",
	}
	minimal := &vpndiag.Site{Name: "branch", CloudDNSServers: mustAddrs(t, "10.20.0.2")}
	for _, site := range []*vpndiag.Site{full, minimal} {
		if err := ss.UpsertSite(ctx, site); err != nil {
			t.Fatal(err)
		}
		if site.ID == 0 || site.CreatedAt.IsZero() {
			t.Fatalf("ID/CreatedAt not set: %+v", site)
		}
		byID, err := ss.FindSiteByID(ctx, site.ID)
		if err != nil {
			t.Fatal(err)
		} else if !reflect.DeepEqual(byID, site) {
			t.Fatalf("by id:\n got %+v\nwant %+v", byID, site)
		}
		byName, err := ss.FindSiteByName(ctx, site.Name)
		if err != nil {
			t.Fatal(err)
		} else if !reflect.DeepEqual(byName, site) {
			t.Fatalf("by name:\n got %+v\nwant %+v", byName, site)
		}
	}

	// Upsert by name replaces the profile and keeps ID and CreatedAt.
	again := &vpndiag.Site{Name: "hq", CloudDNSServers: mustAddrs(t, "10.10.0.9"), Routing: vpndiag.RoutingStatic}
	if err := ss.UpsertSite(ctx, again); err != nil {
		t.Fatal(err)
	}
	if again.ID != full.ID || !again.CreatedAt.Equal(full.CreatedAt) || !again.UpdatedAt.After(full.UpdatedAt) {
		t.Fatalf("upsert: %+v, want ID %d CreatedAt %v", again, full.ID, full.CreatedAt)
	}
	got, err := ss.FindSiteByName(ctx, "hq")
	if err != nil {
		t.Fatal(err)
	} else if !reflect.DeepEqual(got, again) {
		t.Fatalf("after upsert:\n got %+v\nwant %+v", got, again)
	}

	sites, err := ss.FindSites(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(sites) != 2 || sites[0].Name != "branch" || sites[1].Name != "hq" {
		t.Fatalf("FindSites = %+v, want branch, hq", sites)
	}

	_, err = ss.FindSiteByID(ctx, 999)
	wantCode(t, err, vpndiag.ENOTFOUND)
	_, err = ss.FindSiteByName(ctx, "nowhere")
	wantCode(t, err, vpndiag.ENOTFOUND)
	if msg := vpndiag.ErrorMessage(err); msg != `Site "nowhere" not found.` {
		t.Fatalf("message = %q", msg)
	}
	wantCode(t, ss.UpsertSite(ctx, &vpndiag.Site{Name: "bad name"}), vpndiag.EINVALID)
}
