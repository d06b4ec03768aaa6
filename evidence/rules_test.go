package evidence_test

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/kb"
)

// swanctl builds a swanctl.conf with the given connection and child lines;
// the defaults are compliant with the guide.
func swanctl(conn, child map[string]string) string {
	c := map[string]string{"version": "2", "remote_addrs": "203.0.113.10", "local_addrs": "198.51.100.2", "rekey_time": "7h", "over_time": "1h", "dpd_delay": "10s", "proposals": "aes256-sha256-modp2048"}
	ch := map[string]string{"local_ts": "10.20.0.0/16", "remote_ts": "10.0.0.0/8", "rekey_time": "51m", "life_time": "60m", "esp_proposals": "aes256-sha256-modp2048", "dpd_action": "restart"}
	for k, v := range conn {
		c[k] = v
	}
	for k, v := range child {
		ch[k] = v
	}
	var b strings.Builder
	b.WriteString("connections {\n   cloud {\n")
	for _, k := range sortedKeys(c) {
		if c[k] != "" {
			fmt.Fprintf(&b, "      %s = %s\n", k, c[k])
		}
	}
	auth := "psk"
	if a, ok := conn["auth"]; ok {
		auth = a
	}
	fmt.Fprintf(&b, "      local {\n         auth = %s\n      }\n      remote {\n         auth = %s\n      }\n      children {\n         net {\n", auth, auth)
	for _, k := range sortedKeys(ch) {
		if ch[k] != "" {
			fmt.Fprintf(&b, "            %s = %s\n", k, ch[k])
		}
	}
	b.WriteString("         }\n      }\n   }\n}\n")
	if auth == "psk" {
		b.WriteString("secrets {\n   ike-cloud {\n      id = 203.0.113.10\n      secret = \"s3cret-for-tests\"\n   }\n}\n")
	}
	return b.String()
}

func sortedKeys(m map[string]string) []string {
	var ks []string
	for k := range m {
		if k != "auth" {
			ks = append(ks, k)
		}
	}
	slices.Sort(ks)
	return ks
}

func testSite() *vpndiag.Site {
	return &vpndiag.Site{
		Name:            "hq",
		CloudDNSServers: []netip.Addr{netip.MustParseAddr("10.0.0.2")},
		VPNEndpoints:    []netip.Addr{netip.MustParseAddr("203.0.113.10"), netip.MustParseAddr("203.0.113.11")},
		CloudCIDR:       netip.MustParsePrefix("10.0.0.0/8"),
		CustomerCIDRs:   []netip.Prefix{netip.MustParsePrefix("10.20.0.0/16")},
		Routing:         vpndiag.RoutingStatic,
		IKEVersion:      2,
	}
}

// TestRules has a positive and a negative case for each rule.
func TestRules(t *testing.T) {
	tests := []struct {
		name        string
		conn, child map[string]string
		site        bool
		code        string // expected; "" = none of the rule codes
		notCode     string // must not appear
	}{
		{"compliant", nil, nil, true, "", ""},
		// The IKE SA expires at rekey_time + over_time (default 10 %).
		{"phase1 lifetime 3h", map[string]string{"rekey_time": "3h", "over_time": ""}, nil, false, kb.CodePhase1Lifetime, ""},
		{"phase1 renewed by 7h, expires at 8h", nil, nil, false, "", kb.CodePhase1Lifetime},
		{"phase1 rekey_time 28800s alone, as the guide asks", map[string]string{"rekey_time": "28800s", "over_time": ""}, nil, false, "", kb.CodePhase1Lifetime},
		{"phase1 rekey_time 28800s with over_time 2h expires at 36000s", map[string]string{"rekey_time": "28800s", "over_time": "2h"}, nil, false, kb.CodePhase1Lifetime, ""},
		{"phase1 rekey_time 10h expires after the cloud", map[string]string{"rekey_time": "10h", "over_time": ""}, nil, false, kb.CodePhase1Lifetime, ""},
		{"phase1 rekey_time 26000s alone expires at 28600s", map[string]string{"rekey_time": "26000s", "over_time": ""}, nil, false, "", kb.CodePhase1Lifetime},
		{"phase1 lifetime default 4h", map[string]string{"rekey_time": "", "over_time": ""}, nil, false, kb.CodePhase1Lifetime, ""},
		{"phase1 reauth_time 3h", map[string]string{"reauth_time": "3h"}, nil, false, kb.CodePhase1Lifetime, ""},
		// The CHILD_SA expires at life_time (default rekey_time + 10 %).
		{"phase2 lifetime 90m", nil, map[string]string{"rekey_time": "90m", "life_time": ""}, false, kb.CodePhase2Lifetime, ""},
		{"phase2 rekey 3240s life 3600s", nil, map[string]string{"rekey_time": "3240s", "life_time": "3600s"}, false, "", kb.CodePhase2Lifetime},
		{"phase2 rekey 3240s life 3600s no hourly drop", nil, map[string]string{"rekey_time": "3240s", "life_time": "3600s"}, false, "", kb.CodeIKEv2HourlyDrop},
		{"phase2 rekey 51m alone with IKEv2", nil, map[string]string{"rekey_time": "51m", "life_time": ""}, false, "", kb.CodePhase2Lifetime},
		{"phase2 rekey 3600s alone with IKEv2 is the hourly drop", nil, map[string]string{"rekey_time": "3600s", "life_time": ""}, false, kb.CodeIKEv2HourlyDrop, kb.CodePhase2Lifetime},
		{"phase2 rekey 3600s alone with either version (IKEv2 first) is the hourly drop", map[string]string{"version": ""}, map[string]string{"rekey_time": "3600s", "life_time": ""}, false, kb.CodeIKEv2HourlyDrop, kb.CodePhase2Lifetime},
		{"phase2 rekey 3600s alone with IKEv1 races the expiry", map[string]string{"version": "1"}, map[string]string{"rekey_time": "3600s", "life_time": ""}, false, kb.CodePhase2Lifetime, kb.CodeIKEv2HourlyDrop},
		{"phase2 strongSwan defaults only hint at the hourly drop", nil, map[string]string{"rekey_time": "", "life_time": ""}, false, kb.CodeIKEv2HourlyDrop, kb.CodePhase2Lifetime},
		{"phase2 expiring at 51m with IKEv1", map[string]string{"version": "1"}, map[string]string{"rekey_time": "45m", "life_time": "51m"}, false, kb.CodePhase2Lifetime, ""},
		{"phase2 expiring at 51m with IKEv2", nil, map[string]string{"rekey_time": "45m", "life_time": "51m"}, false, "", kb.CodePhase2Lifetime},
		// Proposals against the cloud's published set.
		{"ike aes128-sha1-modp1024", map[string]string{"proposals": "aes128-sha1-modp1024"}, nil, false, kb.CodePhase1Proposal, ""},
		{"ike 3des-md5-modp2048", map[string]string{"proposals": "3des-md5-modp2048"}, nil, false, kb.CodePhase1Proposal, ""},
		{"ike aes128-sha256-x25519", map[string]string{"proposals": "aes128-sha256-x25519"}, nil, false, kb.CodePhase1Proposal, ""},
		{"ike with strongSwan's default proposal too", map[string]string{"proposals": "aes128-sha1-modp1024, default"}, nil, false, "", kb.CodePhase1Proposal},
		{"ike one accepted proposal of two", map[string]string{"proposals": "3des-md5-modp1024,aes256-sha256-modp2048"}, nil, false, "", kb.CodePhase1Proposal},
		{"ike aes256-sha256-modp2048", nil, nil, false, "", kb.CodePhase1Proposal},
		{"esp pfs x25519", nil, map[string]string{"esp_proposals": "aes128gcm16-x25519"}, false, kb.CodePhase2Proposal, ""},
		{"esp pfs ecp256", nil, map[string]string{"esp_proposals": "aes256-sha256-ecp256"}, false, kb.CodePhase2Proposal, ""},
		{"esp aes256gcm16-modp2048", nil, map[string]string{"esp_proposals": "aes256gcm16-modp2048"}, false, "", kb.CodePhase2Proposal},
		{"esp without pfs has no pfs group to check", nil, map[string]string{"esp_proposals": "aes256-sha256"}, false, "", kb.CodePhase2Proposal},
		// Idle close on a responder-only cloud.
		{"inactivity closes the idle tunnel", nil, map[string]string{"inactivity": "30m"}, false, kb.CodeIdleClose, ""},
		{"no inactivity", nil, nil, false, "", kb.CodeIdleClose},
		{"pfs off", nil, map[string]string{"esp_proposals": "aes256-sha256"}, false, kb.CodePFSDisabled, ""},
		{"pfs on", nil, map[string]string{"esp_proposals": "aes256-sha256-ecp256"}, false, "", kb.CodePFSDisabled},
		{"two remote selectors", nil, map[string]string{"remote_ts": "10.0.0.0/8,172.16.0.0/12"}, false, kb.CodeMultipleSAPairs, ""},
		{"one selector pair", nil, nil, false, "", kb.CodeMultipleSAPairs},
		{"dpd off", map[string]string{"dpd_delay": ""}, nil, false, kb.CodeDPDDisabled, ""},
		{"dpd on", nil, nil, false, "", kb.CodeDPDDisabled},
		{"nat-t forced", map[string]string{"encap": "yes"}, nil, false, kb.CodeNATTraversal, ""},
		{"nat-t automatic", nil, nil, false, "", kb.CodeNATTraversal},
		{"peer not an endpoint", map[string]string{"remote_addrs": "203.0.113.99"}, nil, true, kb.CodePeerMismatch, ""},
		{"peer is an endpoint", map[string]string{"remote_addrs": "203.0.113.11"}, nil, true, "", kb.CodePeerMismatch},
		{"certificates instead of psk", map[string]string{"auth": "pubkey"}, nil, false, kb.CodeNoPSK, ""},
		{"psk configured", nil, nil, false, "", kb.CodeNoPSK},
		{"ikev1 on an ikev2 site", map[string]string{"version": "1"}, nil, true, kb.CodeIKEVersionMismatch, ""},
		{"ikev2 on an ikev2 site", nil, nil, true, "", kb.CodeIKEVersionMismatch},
		{"remote selector narrower than the cloud range", nil, map[string]string{"remote_ts": "10.1.0.0/16"}, true, kb.CodeTSUnacceptable, ""},
		{"local selector outside the customer ranges", nil, map[string]string{"local_ts": "192.168.9.0/24"}, true, kb.CodeTSUnacceptable, ""},
	}
	ruleCodes := []string{kb.CodePhase1Lifetime, kb.CodePhase2Lifetime, kb.CodeIKEv2HourlyDrop, kb.CodePFSDisabled, kb.CodeMultipleSAPairs,
		kb.CodeDPDDisabled, kb.CodeNATTraversal, kb.CodePeerMismatch, kb.CodeNoPSK, kb.CodeIKEVersionMismatch, kb.CodeTSUnacceptable,
		kb.CodePhase1Proposal, kb.CodePhase2Proposal, kb.CodeIdleClose}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var site *vpndiag.Site
			if tt.site {
				site = testSite()
			}
			text := swanctl(tt.conn, tt.child)
			r := MustAnalyze(t, "swanctl.conf", []byte(text), site)
			got := codes(r)
			if tt.code == "" && tt.notCode == "" {
				for _, c := range got {
					if slices.Contains(ruleCodes, c) {
						t.Errorf("compliant config got %s", c)
					}
				}
			}
			if tt.code != "" && !slices.Contains(got, tt.code) {
				t.Errorf("codes %v lack %s\n%s", got, tt.code, text)
			}
			if tt.notCode != "" && slices.Contains(got, tt.notCode) {
				t.Errorf("codes %v have %s", got, tt.notCode)
			}
			for _, f := range r.Findings {
				if f.Code == tt.code && (len(f.Evidence) == 0 || f.Evidence[0].Line == 0 || !strings.HasPrefix(f.Summary, "swanctl.conf:")) {
					t.Errorf("finding %s does not point at a line: %+v", f.Code, f.Evidence)
				}
			}
		})
	}
}

// TestProposalsAgainstSite: a site profile narrows the accepted set; the
// finding names the line and what is accepted.
func TestProposalsAgainstSite(t *testing.T) {
	narrow := testSite()
	narrow.Phase1 = &vpndiag.Proposals{Encryption: []string{"AES256"}, Integrity: []string{"SHA-256"}}
	wide := testSite()
	wide.Phase1 = &vpndiag.Proposals{DHGroups: []int{2, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24}}
	wide.Phase2 = &vpndiag.Proposals{DHGroups: []int{2, 5, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24}}
	tests := []struct {
		name        string
		site        *vpndiag.Site
		conn, child map[string]string
		code        string
		line        string // text of the line the finding points at
		notCode     string
	}{
		{"aes128-sha1-modp1024 refused by the published set", nil, map[string]string{"proposals": "aes128-sha1-modp1024"}, nil, kb.CodePhase1Proposal, "proposals = aes128-sha1-modp1024", ""},
		{"aes128-sha1-modp1024 accepted by a site with group 2", wide, map[string]string{"proposals": "aes128-sha1-modp1024"}, nil, "", "", kb.CodePhase1Proposal},
		{"aes128-sha256-modp2048 refused by an AES-256 site", narrow, map[string]string{"proposals": "aes128-sha256-modp2048"}, nil, kb.CodePhase1Proposal, "proposals = aes128-sha256-modp2048", ""},
		{"aes256-sha256-modp2048 accepted by an AES-256 site", narrow, nil, nil, "", "", kb.CodePhase1Proposal},
		{"PFS ecp256 refused by the published set", nil, nil, map[string]string{"esp_proposals": "aes256-sha256-ecp256"}, kb.CodePhase2Proposal, "esp_proposals = aes256-sha256-ecp256", ""},
		{"PFS ecp256 accepted by a site with group 19", wide, nil, map[string]string{"esp_proposals": "aes256-sha256-ecp256"}, "", "", kb.CodePhase2Proposal},
		{"PFS modp3072 refused by the published set", nil, nil, map[string]string{"esp_proposals": "aes256-sha256-modp3072"}, kb.CodePhase2Proposal, "esp_proposals = aes256-sha256-modp3072", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := MustAnalyze(t, "swanctl.conf", []byte(swanctl(tt.conn, tt.child)), tt.site)
			got := codes(r)
			if tt.notCode != "" && slices.Contains(got, tt.notCode) {
				t.Errorf("codes %v have %s", got, tt.notCode)
			}
			if tt.code == "" {
				return
			}
			for _, f := range r.Findings {
				if f.Code != tt.code {
					continue
				}
				if f.Evidence[0].Text != tt.line {
					t.Errorf("points at %q, want %q", f.Evidence[0].Text, tt.line)
				}
				if !strings.Contains(f.Summary, "accepted: ") {
					t.Errorf("summary does not say what is accepted: %s", f.Summary)
				}
				return
			}
			t.Errorf("codes %v lack %s", got, tt.code)
		})
	}
}

// TestNATBehindPrivateAddress: NAT-T off on a device with a private local
// address is an error, not just a note.
func TestNATBehindPrivateAddress(t *testing.T) {
	text := "config vpn ipsec phase1-interface\n    edit \"c\"\n        set local-gw 192.168.1.10\n        set remote-gw 203.0.113.10\n        set nattraversal disable\n        set keylife 28800\n        set psksecret ENC abc\n    next\nend\n"
	r := MustAnalyze(t, "fgt.conf", []byte(text), nil)
	for _, f := range r.Findings {
		if f.Code == kb.CodeNATTraversal {
			if f.Severity != vpndiag.SeverityError {
				t.Errorf("severity %s", f.Severity)
			}
			return
		}
	}
	t.Errorf("no nat-traversal finding: %v", codes(r))
}
