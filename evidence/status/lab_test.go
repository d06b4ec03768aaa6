package status_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag/evidence/status"
	"github.com/vpndiag/vpndiag/kb"
	"github.com/vpndiag/vpndiag/lab"
)

// TestLab reads what the customer's own gateway says — swanctl --list-sas
// on a real strongSwan — in the lab's faults where "the tunnel is up but
// nothing passes", after the customer has tried to reach the cloud DNS
// server. Root and the lab's packages are needed; it skips otherwise.
func TestLab(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the IPsec lab in -short mode")
	}
	ctx := context.Background()
	l := lab.Up(ctx, t, lab.Options{Name: fmt.Sprintf("vs%d", os.Getpid()%100000), DPDDelay: 4 * time.Second})
	site := lab.Site(l.Name)
	// look does what the findings' fixes ask a customer to do: list the
	// gateway's SAs, ping the cloud DNS server from the internal network,
	// list them again, and paste both listings.
	look := func(t *testing.T) []string {
		t.Helper()
		var out string
		for i := 0; i < 2; i++ {
			if i > 0 {
				_, _ = l.Exec(ctx, l.NS.LAN, "ping", "-n", "-c", "3", "-i", "0.2", "-W", "1", lab.CloudDNSAddr.String())
			}
			o, err := l.Swanctl(ctx, lab.CustomerGateway, "--list-sas")
			if err != nil {
				t.Fatal(err)
			}
			out += "$ swanctl --list-sas\n" + o
		}
		format, score := status.Detect(out)
		if format != status.FormatSwanctl || score < 4 {
			t.Fatalf("swanctl --list-sas detected as %q (%d):\n%s", format, score, out)
		}
		st, err := status.Parse(format, out)
		if err != nil {
			t.Fatal(err)
		}
		var codes []string
		fs, _ := status.Check("list-sas.txt", st, site)
		for _, f := range fs {
			codes = append(codes, f.Code)
		}
		t.Logf("findings %v from:\n%s", codes, out)
		return codes
	}
	tests := []struct {
		fault string
		want  []string // any of
	}{
		{"", []string{kb.CodeSAHealthy}},
		{lab.FaultESPBlocked, []string{kb.CodeSANoInbound}},
		{lab.FaultRangeChanged, []string{kb.CodeSANoChild}},
		{lab.FaultHalfOpen, []string{kb.CodeSANoInbound}},
		// The tunnel does not come up: charon is still trying, or has
		// given up and holds no SA.
		{lab.FaultUDPBlocked, []string{kb.CodeSAHalfOpen, kb.CodeSANone}},
		{lab.FaultPSKMismatch, []string{kb.CodeSAHalfOpen, kb.CodeSANone}},
	}
	for _, tt := range tests {
		name := tt.fault
		if name == "" {
			name = "healthy"
		}
		t.Run(name, func(t *testing.T) {
			if err := l.WaitTunnel(ctx, 30*time.Second); err != nil {
				t.Fatalf("tunnel not up before the fault: %v", err)
			}
			if tt.fault != "" {
				if err := l.Fault(ctx, tt.fault); err != nil {
					t.Fatal(err)
				}
				defer func() {
					if err := l.Clear(ctx, tt.fault); err != nil {
						t.Fatal(err)
					}
				}()
			}
			codes := look(t)
			if !slices.ContainsFunc(tt.want, func(w string) bool { return slices.Contains(codes, w) }) {
				t.Errorf("findings %v, want one of %v", codes, tt.want)
			}
			if tt.want[0] != kb.CodeSAHealthy && slices.Contains(codes, kb.CodeSAHealthy) {
				t.Errorf("findings %v call the broken tunnel healthy", codes)
			}
		})
	}
}
