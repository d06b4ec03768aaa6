package config_test

import (
	"testing"
	"time"

	"github.com/vpndiag/vpndiag/evidence/config"
)

// TestPanSetAsPasted: PAN-OS set commands as customers paste them from
// documents: a command continued over several lines with backslashes,
// "network ipsec tunnel" for "network tunnel ipsec", "version ikev2"
// without "protocol". An IPsec crypto profile named but not in the file
// says nothing about PFS or lifetimes (not PAN-OS's defaults).
func TestPanSetAsPasted(t *testing.T) {
	profiles := `set network ike crypto-profiles ike-crypto-profiles P1 hash sha256 dh-group group14 encryption aes-256-cbc lifetime hours 8
set network ike crypto-profiles ipsec-crypto-profiles P2 esp encryption aes-256-cbc authentication sha256 dh-group group14 lifetime hours 1
`
	tests := []struct {
		name, text string
		want       tunnelWant
		unknownP2  bool
	}{
		{"backslash continuation", profiles + `set network ike gateway GW \
    peer-address ip 203.0.113.10 \
    authentication pre-shared-key key s3cret \
    protocol version ikev2 \
    protocol ikev2 ike-crypto-profile P1
set network tunnel ipsec T1 \
    auto-key ike-gateway GW \
    auto-key ipsec-crypto-profile P2 \
    tunnel-interface tunnel.1
`, tunnelWant{name: "T1", peer: "203.0.113.10", ike: 2, psk: "yes", p1: 8 * time.Hour, p2: time.Hour, pfs: "on", pfsGroup: 14}, false},
		{"network ipsec tunnel and a bare version", profiles + `set network ike gateway GW version ikev2 peer-address ip 203.0.113.10 authentication pre-shared-key key s3cret
set network ike gateway GW protocol ikev2 ike-crypto-profile P1
set network ipsec tunnel T1 tunnel-interface tunnel.1 ike-gateway GW ipsec-crypto-profile P2
`, tunnelWant{name: "T1", peer: "203.0.113.10", ike: 2, psk: "yes", p1: 8 * time.Hour, p2: time.Hour, pfs: "on"}, false},
		{"profile not in the file", `set network ike gateway GW peer-address ip 203.0.113.10
set network ike gateway GW authentication pre-shared-key key s3cret
set network tunnel ipsec T1 auto-key ike-gateway GW
set network tunnel ipsec T1 auto-key ipsec-crypto-profile ELSEWHERE
`, tunnelWant{name: "T1", peer: "203.0.113.10", psk: "yes"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Parse(config.FormatPaloAltoSet, tt.text)
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Tunnels) != 1 {
				t.Fatalf("%d tunnels, want 1:\n%s", len(c.Tunnels), c.Summary())
			}
			checkTunnel(t, c, tt.want)
			tun := c.Tunnels[0]
			if tt.unknownP2 && (tun.PFS.Known() || tun.Phase2.Lifetime.Known() || len(tun.Phase2.DHGroups) > 0) {
				t.Errorf("phase 2 of a profile not in the file taken as known: PFS %s, lifetime %s, groups %v", tun.PFS, tun.Phase2.Lifetime, tun.Phase2.DHGroups)
			}
		})
	}
}

// TestPanSetNoContinuation: a line that does not end in a backslash is not
// joined with the next one, and a backslash inside a value stays.
func TestPanSetNoContinuation(t *testing.T) {
	text := `set network ike gateway GW peer-address ip 203.0.113.10
set network ike gateway GW authentication pre-shared-key key ab\cd
set network tunnel ipsec T1 auto-key ike-gateway GW
set network tunnel ipsec T2 auto-key ike-gateway GW
`
	c, err := config.Parse(config.FormatPaloAltoSet, text)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Tunnels) != 2 {
		t.Fatalf("%d tunnels, want 2:\n%s", len(c.Tunnels), c.Summary())
	}
	checkTunnel(t, c, tunnelWant{name: "T1", peer: "203.0.113.10", psk: "yes"})
}
