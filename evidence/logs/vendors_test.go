package logs_test

import (
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/kb"
)

// TestVendorLogs reads short logs written for these tests in each vendor's
// message format (testdata/vendors): one fault each, or a healthy tunnel
// that must give no finding at all. Each case names what a support
// engineer would conclude from the same lines.
func TestVendorLogs(t *testing.T) {
	tests := []struct {
		file   string
		family string
		want   []string
	}{
		// strongSwan: NAT-T, DPD answered, rekeys and settled collisions are
		// healthy; a collision at every rekey is worth a warning.
		{"sw-natt-healthy.log", "strongswan-charon", nil},
		{"sw-rekey-collision-ok.log", "strongswan-charon", nil},
		{"sw-ike-rekey-collision-ok.log", "strongswan-charon", nil},
		{"sw-rekey-collision-every-rekey.log", "strongswan-charon", []string{kb.CodeRekeyFailed}},
		// IKE_SA_INIT answered, IKE_AUTH on UDP 4500 never: named as such
		// even when charon ends with "peer not responding".
		{"sw-natt-4500-blocked.log", "strongswan-charon", []string{kb.CodeIKENoResponse}},
		// libreswan.
		{"pl-healthy-v2.log", "libreswan-pluto", nil},
		{"pl-v2-psk.log", "libreswan-pluto", []string{kb.CodeAuthFailed}},
		{"pl-psk-v1-timeout.log", "libreswan-pluto", []string{kb.CodeAuthFailed, kb.CodeIKENoResponse}},
		{"pl-dpd-liveness.log", "libreswan-pluto", []string{kb.CodeDPDPeerDead}},
		// Cisco ASA.
		{"asa-healthy.log", "cisco-asa", nil},
		{"asa-psk-v1.log", "cisco-asa", []string{kb.CodeAuthFailed}},
		{"asa-p1-prop.log", "cisco-asa", []string{kb.CodePhase1NoProposal}},
		{"asa-ikev2-psk.log", "cisco-asa", []string{kb.CodeAuthFailed}},
		{"asa-ikev2-ts.log", "cisco-asa", []string{kb.CodeTSUnacceptable}},
		{"asa-retx.log", "cisco-asa", []string{kb.CodeIKENoResponse}},
		// Cisco IOS: DPD R_U_THERE unanswered is a dead peer, not an
		// unreachable one; a Quick Mode refused for its proxy identities
		// is not also a proposal mismatch.
		{"ios-healthy.log", "cisco-ios", nil},
		{"ios-p1-prop.log", "cisco-ios", []string{kb.CodePhase1NoProposal}},
		{"ios-p2-proxy.log", "cisco-ios", []string{kb.CodeTSUnacceptable}},
		{"ios-retx.log", "cisco-ios", []string{kb.CodeIKENoResponse}},
		{"ios-dpd.log", "cisco-ios", []string{kb.CodeDPDPeerDead}},
		// Juniper SRX.
		{"jn-healthy.log", "juniper-kmd", nil},
		{"jn-dpd.log", "juniper-kmd", nil}, // one drop says no cause
		{"jn-p1-psk.log", "juniper-kmd", []string{kb.CodeAuthFailed}},
		{"jn-p2-policy.log", "juniper-kmd", []string{kb.CodeTSUnacceptable}},
		// FortiGate: every event carries xauthuser= and xauthgroup=,
		// which name no authentication failure.
		{"fg-healthy.log", "fortigate-event", nil},
		{"fg-p1-prop.log", "fortigate-event", []string{kb.CodePhase1NoProposal}},
		{"fg-p1-error-timeout.log", "fortigate-event", []string{kb.CodeIKENoResponse}},
		{"fg-p2-selector.log", "fortigate-event", []string{kb.CodeTSUnacceptable}},
		// Palo Alto: ikemgr.log with only its capitalised banners is still
		// a log (healthy), and the system log.
		{"pa-ikemgr-healthy.log", "paloalto", nil},
		{"pa-ikemgr-p1prop.log", "paloalto", []string{kb.CodePhase1NoProposal}},
		{"pa-ikemgr-ts.log", "paloalto", []string{kb.CodeTSUnacceptable}},
		{"pa-sys-healthy.log", "paloalto", nil},
		{"pa-sys-p2prop.log", "paloalto", []string{kb.CodePhase2NoProposal}},
		// MikroTik RouterOS (ipsec topics).
		{"mt-healthy.log", "mikrotik", nil},
		{"mt-ikev2-healthy.log", "mikrotik", nil},
		{"mt-p1-timeout.log", "mikrotik", []string{kb.CodeIKENoResponse}},
		{"mt-p1-proposal.log", "mikrotik", []string{kb.CodePhase1NoProposal}},
		{"mt-p2-proposal.log", "mikrotik", []string{kb.CodePhase2NoProposal}},
		{"mt-p2-sainfo.log", "mikrotik", []string{kb.CodeTSUnacceptable}},
		{"mt-psk.log", "mikrotik", []string{kb.CodeAuthFailed}},
		{"mt-ikev2-psk.log", "mikrotik", []string{kb.CodeAuthFailed}},
		{"mt-ikev2-ts.log", "mikrotik", []string{kb.CodeTSUnacceptable}},
		{"mt-dpd.log", "mikrotik", []string{kb.CodeDPDPeerDead}},
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "vendors", "*.log"))
	if len(files) != len(tests) {
		t.Errorf("%d logs in testdata/vendors, %d cases: every log needs its case", len(files), len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			text, err := os.ReadFile(filepath.Join("testdata", "vendors", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			r := MustAnalyze(t, tt.file, text)
			want := append([]string(nil), tt.want...)
			sort.Strings(want)
			if got := codes(r); !slices.Equal(got, want) {
				for _, f := range r.Findings {
					t.Logf("%s %s", f.Code, f.Summary)
				}
				t.Errorf("codes %v, want %v", got, want)
			}
			if r.Family != tt.family {
				t.Errorf("family %q, want %q", r.Family, tt.family)
			}
			for _, f := range r.Findings {
				if tt.file == "sw-rekey-collision-every-rekey.log" && f.Severity != vpndiag.SeverityWarning {
					t.Errorf("settled collisions give %s, want a warning", f.Severity)
				}
				if tt.file == "sw-natt-4500-blocked.log" && !strings.Contains(f.Summary, "IKE_AUTH never was") {
					t.Errorf("summary %q does not say IKE_AUTH went unanswered", f.Summary)
				}
				if len(f.Evidence) == 0 || f.Fix == "" {
					t.Errorf("finding %s lacks evidence or fix", f.Code)
				}
			}
		})
	}
}
