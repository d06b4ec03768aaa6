package config_test

import (
	"testing"
	"time"

	"github.com/vpndiag/vpndiag/evidence/config"
)

// TestIOSIKEv2ProfileByPeer: a crypto map that names no IKEv2 profile on a
// router with several takes its phase 1 from the profile that matches its
// peer's address, the same on every run (it used to take whichever the map
// iteration gave first).
func TestIOSIKEv2ProfileByPeer(t *testing.T) {
	text := `crypto ikev2 proposal PROP
 encryption aes-cbc-256
 integrity sha256
 group 14
crypto ikev2 profile A-OTHER
 match identity remote address 198.51.100.7 255.255.255.255
 authentication remote pre-share
 lifetime 3600
crypto ikev2 profile B-CLOUD
 match identity remote address 203.0.113.10 255.255.255.255
 authentication remote pre-share
 dpd 10 3 periodic
 lifetime 28800
crypto ipsec transform-set TS esp-aes 256 esp-sha256-hmac
crypto map CMAP 10 ipsec-isakmp
 set peer 203.0.113.10
 set transform-set TS
 match address CLOUD
ip access-list extended CLOUD
 permit ip 10.1.0.0 0.0.255.255 10.2.0.0 0.0.255.255
`
	for i := 0; i < 20; i++ {
		c, err := config.Parse(config.FormatCiscoIOS, text)
		if err != nil {
			t.Fatal(err)
		}
		checkTunnel(t, c, tunnelWant{peer: "203.0.113.10", ike: 2, p1: 28800 * time.Second, dpd: "on", dpdInterval: 10 * time.Second, pairs: 1})
		if t.Failed() {
			return
		}
	}
}
