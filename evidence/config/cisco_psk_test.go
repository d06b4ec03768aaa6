package config_test

import (
	"testing"

	"github.com/vpndiag/vpndiag/evidence/config"
)

// TestIOSKeyByAddress: an IOS pre-shared key applies to a peer by its own
// address, by a subnet given with a mask, or as the wildcard key (address
// 0.0.0.0); a key for another address or a subnet that does not hold the
// peer is no key for it.
func TestIOSKeyByAddress(t *testing.T) {
	tunnel := `crypto isakmp policy 10
 encryption aes-256
 group 14
 lifetime 28800
crypto ipsec transform-set TS esp-aes 256 esp-sha-hmac
crypto ipsec profile VTI
 set transform-set TS
 set pfs group14
interface Tunnel1
 tunnel source GigabitEthernet0/0
 tunnel destination 203.0.113.10
 tunnel protection ipsec profile VTI
`
	tests := []struct {
		name, key string
		psk       string
	}{
		{"own address", "crypto isakmp key s3cret address 203.0.113.10\n", "yes"},
		{"wildcard with mask", "crypto isakmp key s3cret address 0.0.0.0 0.0.0.0\n", "yes"},
		{"wildcard without mask", "crypto isakmp key s3cret address 0.0.0.0\n", "yes"},
		{"subnet holding the peer", "crypto isakmp key s3cret address 203.0.113.0 255.255.255.0\n", "yes"},
		{"keyring wildcard", "crypto keyring KR\n pre-shared-key address 0.0.0.0 0.0.0.0 key s3cret\n", "yes"},
		{"another address", "crypto isakmp key s3cret address 198.51.100.7\n", "no"},
		{"subnet without the peer", "crypto isakmp key s3cret address 198.51.100.0 255.255.255.0\n", "no"},
		{"keyring for another peer", "crypto keyring KR\n pre-shared-key address 198.51.100.7 key s3cret\n", "no"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Parse(config.FormatCiscoIOS, tt.key+tunnel)
			if err != nil {
				t.Fatal(err)
			}
			checkTunnel(t, c, tunnelWant{name: "interface Tunnel1", peer: "203.0.113.10", psk: tt.psk})
		})
	}
}
