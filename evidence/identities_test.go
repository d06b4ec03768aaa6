package evidence_test

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/evidence"
	"github.com/vpndiag/vpndiag/kb"
)

// TestIdentityMismatchPerVendor reads one small configuration per vendor
// (testdata/ids, our own files in each vendor's syntax) whose IKE
// identities are not the addresses the cloud expects, against a site
// profile: each identity the file states gives an id-mismatch finding at
// its line whose fix names the vendor's own setting. Without a site
// profile nothing is compared and no such finding is raised.
func TestIdentityMismatchPerVendor(t *testing.T) {
	tests := []struct {
		file, format string
		// local and remote are the expected identities as read; "" when
		// the file states none.
		local, remote string
		// localFix and remoteFix are the device settings the fixes name.
		localFix, remoteFix string
		// localWord and remoteWord are on the line each finding points at.
		localWord, remoteWord string
	}{
		{"ios-ikev2.conf", "cisco-ios-cli", "branch-rtr.example.org", "cloud-gw.example.net",
			"crypto ikev2 profile: identity local address", "crypto ikev2 profile: match identity remote address",
			"identity local fqdn", "match identity remote fqdn"},
		{"ios-ikev1.conf", "cisco-ios-cli", "branch-rtr.example.org", "",
			"IKEv1: crypto isakmp identity address", "", "crypto isakmp identity hostname", ""},
		{"asa.conf", "cisco-asa-cli", "BRANCH-01", "", "crypto isakmp identity address", "", "identity key-id", ""},
		{"junos.conf", "juniper-hierarchical", "branch-srx.example.org", "198.18.0.9",
			"security ike gateway NAME local-identity inet", "security ike gateway NAME remote-identity inet",
			"local-identity hostname", "remote-identity inet"},
		{"paloalto.set", "paloalto-set", "192.0.2.77", "cloud-gw.example.net",
			"IKE Gateway: Local Identification (IP address)", "IKE Gateway: Peer Identification (IP address)",
			"local-id id", "peer-id id"},
		{"fortigate.conf", "fortigate-cli", "branch-fgt", "cloud-gw",
			"config vpn ipsec phase1-interface: set localid", "config vpn ipsec phase1-interface: set peerid",
			"set localid", "set peerid"},
		{"mikrotik.rsc", "mikrotik-routeros", "fqdn:branch.example.org", "address:198.18.0.9",
			"/ip ipsec identity my-id=address:", "/ip ipsec identity remote-id=ignore or address",
			"my-id=", "remote-id="},
		{"libreswan.conf", "libreswan-ipsec.conf", "@branch.example.org", "@cloud-gw.example.net",
			"ipsec.conf: leftid=", "ipsec.conf: rightid=", "leftid=", "rightid="},
	}
	site := testSite()
	site.CustomerPeer = netip.MustParseAddr("198.51.100.2")
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			text, err := os.ReadFile(filepath.Join("testdata", "ids", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(string(text), "\n")
			r := MustAnalyze(t, tt.file, text, site)
			if r.Format != tt.format {
				t.Fatalf("format %q, want %q", r.Format, tt.format)
			}
			for _, side := range []struct{ name, id, fix, word string }{
				{"local", tt.local, tt.localFix, tt.localWord},
				{"remote", tt.remote, tt.remoteFix, tt.remoteWord},
			} {
				f := idFinding(r, "Set the "+side.name+" identity")
				if side.id == "" {
					if f != nil {
						t.Errorf("%s identity: unexpected finding %q", side.name, f.Summary)
					}
					continue
				}
				if f == nil {
					t.Errorf("%s identity %q: no %s finding in %v", side.name, side.id, kb.CodeIDMismatch, codes(r))
					continue
				}
				if !strings.Contains(f.Summary, `"`+side.id+`"`) {
					t.Errorf("%s finding %q does not quote the identity %q", side.name, f.Summary, side.id)
				}
				if !strings.Contains(f.Fix, side.fix) {
					t.Errorf("%s fix %q does not name %q", side.name, f.Fix, side.fix)
				}
				if f.Severity != vpndiag.SeverityCritical {
					t.Errorf("%s finding severity %v", side.name, f.Severity)
				}
				if len(f.Evidence) == 0 || f.Evidence[0].Line < 1 || f.Evidence[0].Line > len(lines) {
					t.Fatalf("%s finding does not point at a line: %+v", side.name, f.Evidence)
				}
				if l := lines[f.Evidence[0].Line-1]; !strings.Contains(l, side.word) {
					t.Errorf("%s finding points at line %d %q, want the line with %q", side.name, f.Evidence[0].Line, l, side.word)
				}
			}
			if got := codes(MustAnalyze(t, tt.file, text, nil)); slices.Contains(got, kb.CodeIDMismatch) {
				t.Errorf("without a site profile: codes %v have %s", got, kb.CodeIDMismatch)
			}
		})
	}
}

// idFinding returns the id-mismatch finding whose fix starts with prefix.
func idFinding(r *evidence.Report, prefix string) *vpndiag.Finding {
	for _, f := range r.Findings {
		if f.Code == kb.CodeIDMismatch && strings.HasPrefix(f.Fix, prefix) {
			return f
		}
	}
	return nil
}
