package storetest

import (
	"context"
	"testing"

	"github.com/vpndiag/vpndiag"
)

func testDedupService_Claim(t *testing.T, open Opener) {
	ctx := context.Background()
	ds := open(t).Dedup
	for _, tt := range []struct {
		key   string
		first bool
	}{
		{"slack:Ev01", true},
		{"slack:Ev01", false},
		{"relay:job-1", true},
		{"slack:Ev01", false},
	} {
		first, err := ds.Claim(ctx, tt.key)
		if err != nil {
			t.Fatal(err)
		}
		if first != tt.first {
			t.Fatalf("Claim(%q) = %v, want %v", tt.key, first, tt.first)
		}
	}
	_, err := ds.Claim(ctx, "")
	wantCode(t, err, vpndiag.EINVALID)
}
