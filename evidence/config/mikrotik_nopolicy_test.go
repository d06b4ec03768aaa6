package config_test

import (
	"testing"
	"time"

	"github.com/vpndiag/vpndiag/evidence/config"
)

// TestMikroTikPeerWithoutPolicy: with no /ip ipsec policy for a peer, which
// proposal phase 2 uses is not known. A phase 2 setting is read only where
// every proposal in the export and the default one agree on it; where they
// differ it stays unknown instead of taking the default proposal's.
func TestMikroTikPeerWithoutPolicy(t *testing.T) {
	peer := `/ip ipsec profile
add dh-group=modp2048 enc-algorithm=aes-256 hash-algorithm=sha256 lifetime=8h name=cloud
/ip ipsec peer
add address=203.0.113.10/32 exchange-mode=ike2 name=cloud profile=cloud
/ip ipsec identity
add peer=cloud auth-method=pre-shared-key secret=s3cret
`
	tests := []struct {
		name, proposals string
		pfsKnown        bool
		p2              time.Duration // 0: unknown
	}{
		{"proposals that differ from the default", "/ip ipsec proposal\nadd enc-algorithms=aes-256-cbc lifetime=1h name=p2 pfs-group=modp2048\n", false, 0},
		{"a proposal that sets what the default has", "/ip ipsec proposal\nadd enc-algorithms=aes-128-cbc name=p2 pfs-group=modp1024\n", true, 30 * time.Minute},
		{"no proposal in the export", "", true, 30 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Parse(config.FormatMikroTik, peer+tt.proposals)
			if err != nil {
				t.Fatal(err)
			}
			checkTunnel(t, c, tunnelWant{peer: "203.0.113.10", ike: 2, psk: "yes", p1: 8 * time.Hour, p2: tt.p2})
			tun := c.Tunnels[0]
			if tun.PFS.Known() != tt.pfsKnown {
				t.Errorf("PFS %s known %v, want %v", tun.PFS, tun.PFS.Known(), tt.pfsKnown)
			}
			if tt.p2 == 0 && tun.Phase2.Lifetime.Known() {
				t.Errorf("phase 2 lifetime %s, want unknown", tun.Phase2.Lifetime)
			}
		})
	}
}
