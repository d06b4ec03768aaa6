package vpndiag_test

import (
	"net/netip"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/vpndiag/vpndiag"
)

// TestSiteProposals: the optional accepted-proposal lists of a site
// profile are read from YAML and validated.
func TestSiteProposals(t *testing.T) {
	base := func() *vpndiag.Site {
		return &vpndiag.Site{Name: "hq", CloudDNSServers: []netip.Addr{netip.MustParseAddr("10.0.0.2")}}
	}
	tests := []struct {
		name    string
		phase1  *vpndiag.Proposals
		phase2  *vpndiag.Proposals
		wantErr string
	}{
		{"no lists: the cloud's published set", nil, nil, ""},
		{"valid lists", &vpndiag.Proposals{Encryption: []string{"aes256"}, Integrity: []string{"sha256"}, DHGroups: []int{14, 19}}, &vpndiag.Proposals{DHGroups: []int{14}}, ""},
		{"group 0", &vpndiag.Proposals{DHGroups: []int{0}}, nil, "phase1.dh_groups[0]"},
		{"group 99", nil, &vpndiag.Proposals{DHGroups: []int{14, 99}}, "phase2.dh_groups[1]"},
		{"empty cipher", nil, &vpndiag.Proposals{Encryption: []string{" "}}, "phase2.encryption[0]"},
		{"empty integrity", &vpndiag.Proposals{Integrity: []string{""}}, nil, "phase1.integrity[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := base()
			s.Phase1, s.Phase2 = tt.phase1, tt.phase2
			err := s.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("error %v, want one naming %s", err, tt.wantErr)
			}
		})
	}
	var s vpndiag.Site
	in := "name: hq\ncloud_dns_servers: [10.0.0.2]\nphase1:\n  encryption: [aes256]\n  dh_groups: [14]\nphase2:\n  dh_groups: [14, 19]\n"
	if err := yaml.Unmarshal([]byte(in), &s); err != nil {
		t.Fatal(err)
	}
	if s.Phase1 == nil || s.Phase1.Encryption[0] != "aes256" || s.Phase2 == nil || len(s.Phase2.DHGroups) != 2 {
		t.Errorf("read %+v %+v", s.Phase1, s.Phase2)
	}
}
