package config_test

import (
	"testing"

	"github.com/vpndiag/vpndiag/evidence/config"
)

// TestIdentitiesImpliedOrWildcard: an identity the device derives by
// itself (its address, auto, ignore) or a remote match that names no one
// peer (a range, 0.0.0.0, several) is not read as an identity, so that
// the id-mismatch rule only ever compares what the file states.
func TestIdentitiesImpliedOrWildcard(t *testing.T) {
	tests := []struct {
		name, text    string
		local, remote string // "" = unset
	}{
		{"ios isakmp identity address", "hostname r1\ncrypto isakmp policy 10\n authentication pre-share\ncrypto isakmp identity address\ncrypto isakmp key k address 203.0.113.10\ncrypto map M 10 ipsec-isakmp\n set peer 203.0.113.10\n", "", ""},
		{"ios isakmp identity hostname without domain", "hostname r1\ncrypto isakmp policy 10\n authentication pre-share\ncrypto isakmp identity hostname\ncrypto isakmp key k address 203.0.113.10\ncrypto map M 10 ipsec-isakmp\n set peer 203.0.113.10\n", "r1", ""},
		{"ios ikev2 match of a range", "crypto ikev2 profile P\n match identity remote address 0.0.0.0\n identity local address 198.51.100.2\ncrypto ipsec profile IP\n set ikev2-profile P\ninterface Tunnel1\n tunnel destination 203.0.113.10\n tunnel protection ipsec profile IP\n", "198.51.100.2", ""},
		{"ios ikev2 match of a subnet", "crypto ikev2 profile P\n match identity remote address 203.0.113.0 255.255.255.0\ncrypto ipsec profile IP\n set ikev2-profile P\ninterface Tunnel1\n tunnel destination 203.0.113.10\n tunnel protection ipsec profile IP\n", "", ""},
		{"ios ikev2 match of two peers", "crypto ikev2 profile P\n match identity remote address 203.0.113.10\n match identity remote address 203.0.113.11\ncrypto ipsec profile IP\n set ikev2-profile P\ninterface Tunnel1\n tunnel destination 203.0.113.10\n tunnel protection ipsec profile IP\n", "", ""},
		{"asa isakmp identity auto", "ASA Version 9.12(4)\ncrypto isakmp identity auto\ncrypto ikev1 policy 10\n authentication pre-share\naccess-list A extended permit ip 10.20.0.0 255.255.0.0 10.0.0.0 255.0.0.0\ncrypto map M 20 match address A\ncrypto map M 20 set peer 203.0.113.10\ncrypto map M 20 set ikev1 transform-set T\n", "", ""},
		{"fortigate peerid with peertype any", "config vpn ipsec phase1-interface\n    edit \"c\"\n        set peertype any\n        set peerid \"cloud\"\n        set localid \"\"\n        set remote-gw 203.0.113.10\n    next\nend\n", "", ""},
		{"mikrotik auto and ignore", "/ip ipsec peer\nadd address=203.0.113.10/32 name=p\n/ip ipsec identity\nadd peer=p secret=k my-id=auto remote-id=ignore\n/ip ipsec policy\nadd dst-address=10.0.0.0/8 peer=p src-address=10.20.0.0/16 tunnel=yes\n", "", ""},
		{"junos distinguished name keeps its words", "set security ike gateway G address 203.0.113.10\nset security ike gateway G local-identity distinguished-name\nset security ike gateway G remote-identity distinguished-name container O=Cloud\nset security ipsec vpn V ike gateway G\n", "distinguished-name", "distinguished-name container O=Cloud"},
		{"paloalto type alone", "set network ike gateway G peer-address ip 203.0.113.10\nset network ike gateway G local-id type ipaddr\nset network tunnel ipsec T auto-key ike-gateway G\n", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := config.Detect(tt.text)
			if len(cs) == 0 {
				t.Fatal("format not detected")
			}
			c, err := config.Parse(cs[0].Format, tt.text)
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Tunnels) != 1 {
				t.Fatalf("%s: %d tunnels\n%s", cs[0].Format, len(c.Tunnels), c.Summary())
			}
			tu := c.Tunnels[0]
			for _, x := range []struct {
				side string
				got  config.Value[string]
				want string
			}{{"local", tu.LocalID, tt.local}, {"remote", tu.RemoteID, tt.remote}} {
				if x.want == "" && x.got.Known() {
					t.Errorf("%s identity %s, want unset", x.side, x.got)
				}
				if x.want != "" && (x.got.V != x.want || x.got.Line == 0) {
					t.Errorf("%s identity %s, want %q at its line", x.side, x.got, x.want)
				}
			}
		})
	}
}
