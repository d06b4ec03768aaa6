package sqlite_test

import (
	"context"
	"testing"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/storage/sqlite"
)

func TestDedupService_Claim(t *testing.T) {
	ctx := context.Background()
	ds := sqlite.NewDedupService(MustOpenDB(t))
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
