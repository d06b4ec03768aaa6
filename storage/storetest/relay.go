package storetest

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag"
)

func testRelayTokenService(t *testing.T, open Opener) {
	ctx := context.Background()
	db := open(t)
	rs := db.RelayTokens
	site := &vpndiag.Site{Name: "hq", CloudDNSServers: mustAddrs(t, "10.0.0.2")}
	if err := db.Sites.UpsertSite(ctx, site); err != nil {
		t.Fatal(err)
	}

	tok := &vpndiag.RelayToken{Name: "hq-relay-1", SiteID: site.ID, Hash: "aa11", Prefix: "vpr_aa"}
	if err := rs.CreateRelayToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	got, err := rs.FindRelayTokenByHash(ctx, "aa11")
	if err != nil {
		t.Fatal(err)
	} else if !reflect.DeepEqual(got, tok) {
		t.Fatalf("by hash:\n got %+v\nwant %+v", got, tok)
	}

	seen := time.Date(2026, 11, 25, 12, 0, 0, 42000, time.UTC)
	if err := rs.TouchRelayToken(ctx, tok.ID, seen); err != nil {
		t.Fatal(err)
	}
	got, err = rs.FindRelayTokenByHash(ctx, "aa11")
	if err != nil {
		t.Fatal(err)
	} else if got.LastSeenAt == nil || !got.LastSeenAt.Equal(seen) || got.RevokedAt != nil {
		t.Fatalf("after touch: %+v", got)
	}

	for _, tt := range []struct {
		name string
		err  error
		code string
	}{
		{"SameNameInForce", rs.CreateRelayToken(ctx, &vpndiag.RelayToken{Name: "hq-relay-1", SiteID: site.ID, Hash: "bb22"}), vpndiag.ECONFLICT},
		{"SameHash", rs.CreateRelayToken(ctx, &vpndiag.RelayToken{Name: "hq-relay-2", SiteID: site.ID, Hash: "aa11"}), vpndiag.ECONFLICT},
		{"UnknownSite", rs.CreateRelayToken(ctx, &vpndiag.RelayToken{Name: "x", SiteID: 99, Hash: "cc33"}), vpndiag.ENOTFOUND},
		{"NoHash", rs.CreateRelayToken(ctx, &vpndiag.RelayToken{Name: "x", SiteID: site.ID}), vpndiag.EINVALID},
		{"HashNotFound", func() error { _, err := rs.FindRelayTokenByHash(ctx, "zz"); return err }(), vpndiag.ENOTFOUND},
		{"RevokeUnknown", rs.RevokeRelayToken(ctx, "nobody"), vpndiag.ENOTFOUND},
		{"TouchUnknown", rs.TouchRelayToken(ctx, 999, seen), vpndiag.ENOTFOUND},
	} {
		t.Run(tt.name, func(t *testing.T) { wantCode(t, tt.err, tt.code) })
	}

	if err := rs.RevokeRelayToken(ctx, "hq-relay-1"); err != nil {
		t.Fatal(err)
	}
	if err := rs.RevokeRelayToken(ctx, "hq-relay-1"); err != nil {
		t.Fatalf("second revoke: %v", err)
	}
	got, err = rs.FindRelayTokenByHash(ctx, "aa11")
	if err != nil {
		t.Fatal(err)
	} else if got.RevokedAt == nil {
		t.Fatal("RevokedAt not set")
	}

	// After revocation the name may be enrolled again.
	tok2 := &vpndiag.RelayToken{Name: "hq-relay-1", SiteID: site.ID, Hash: "bb22", Prefix: "vpr_bb"}
	if err := rs.CreateRelayToken(ctx, tok2); err != nil {
		t.Fatal(err)
	}
	all, err := rs.FindRelayTokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].ID != tok.ID || all[0].RevokedAt == nil || !reflect.DeepEqual(all[1], tok2) {
		t.Fatalf("FindRelayTokens = %+v", all)
	}
}
