package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag/evidence/config"
)

// tunnelWant is what a test expects of the first tunnel; zero fields are
// not checked.
type tunnelWant struct {
	name         string
	peer         string
	ike          int
	p1, p2       time.Duration // hard lifetimes
	r1, r2       time.Duration // renewal times
	pfs          string        // "on", "off"
	pfsGroup     int
	dpd          string // "on", "off"
	dpdInterval  time.Duration
	dpdRetries   int
	psk          string // "yes", "no"
	auth         string
	routeBased   bool
	pairs        int
	idle         time.Duration
	keepAlive    bool
	p1Proposal   string // substring of the phase 1 proposals
	fromDefaults bool   // p1 and p2 are the vendor's defaults
}

func checkTunnel(t *testing.T, c *config.Config, w tunnelWant) {
	t.Helper()
	if len(c.Tunnels) == 0 {
		t.Fatalf("no tunnel:\n%s", c.Summary())
	}
	tun := c.Tunnels[0]
	errf := func(format string, args ...any) {
		t.Helper()
		t.Errorf(format+"\n%s", append(args, c.Summary())...)
	}
	if w.name != "" && tun.Name != w.name {
		errf("name %q, want %q", tun.Name, w.name)
	}
	if w.peer != "" && (len(tun.Peers) == 0 || tun.Peers[0].V != w.peer) {
		errf("peers %v, want %s", tun.Peers, w.peer)
	}
	if w.ike != 0 && tun.IKEVersion.V != w.ike {
		errf("IKE version %s, want %d", tun.IKEVersion, w.ike)
	}
	for _, d := range []struct {
		what      string
		got       config.Value[time.Duration]
		want      time.Duration
		isDefault bool
	}{{"phase 1 lifetime", tun.Phase1.Lifetime, w.p1, w.fromDefaults}, {"phase 2 lifetime", tun.Phase2.Lifetime, w.p2, w.fromDefaults},
		{"phase 1 rekey", tun.Phase1.Rekey, w.r1, false}, {"phase 2 rekey", tun.Phase2.Rekey, w.r2, false}} {
		if d.want == 0 {
			continue
		}
		if !d.got.Known() || d.got.V != d.want {
			errf("%s %s, want %s", d.what, d.got, d.want)
		}
		if d.isDefault && d.got.From != config.FromDefault {
			errf("%s %s, want the default", d.what, d.got)
		}
	}
	if w.pfs != "" && (!tun.PFS.Known() || tun.PFS.V != (w.pfs == "on")) {
		errf("PFS %s, want %s", tun.PFS, w.pfs)
	}
	if w.pfsGroup != 0 && (len(tun.Phase2.DHGroups) == 0 || tun.Phase2.DHGroups[0].V != w.pfsGroup) {
		errf("PFS groups %v, want %d", tun.Phase2.DHGroups, w.pfsGroup)
	}
	if w.dpd != "" && (!tun.DPD.Enabled.Known() || tun.DPD.Enabled.V != (w.dpd == "on")) {
		errf("DPD %s, want %s", tun.DPD.Enabled, w.dpd)
	}
	if w.dpdInterval != 0 && tun.DPD.Interval.V != w.dpdInterval {
		errf("DPD interval %s, want %s", tun.DPD.Interval, w.dpdInterval)
	}
	if w.dpdRetries != 0 && tun.DPD.Retries.V != w.dpdRetries {
		errf("DPD retries %s, want %d", tun.DPD.Retries, w.dpdRetries)
	}
	if w.psk != "" && (!tun.PSK.Known() || tun.PSK.V != (w.psk == "yes")) {
		errf("PSK %s, want %s", tun.PSK, w.psk)
	}
	if w.auth != "" && tun.Auth.V != w.auth {
		errf("auth %s, want %s", tun.Auth, w.auth)
	}
	if w.routeBased && !tun.RouteBased.V {
		errf("not route-based")
	}
	if w.pairs != 0 && len(tun.Selectors) != w.pairs {
		errf("%d selector pairs, want %d", len(tun.Selectors), w.pairs)
	}
	if w.idle != 0 && tun.IdleTimeout.V != w.idle {
		errf("idle timeout %s, want %s", tun.IdleTimeout, w.idle)
	}
	if w.keepAlive && !tun.KeepAlive.V {
		errf("keep-alive %s, want on", tun.KeepAlive)
	}
	if w.p1Proposal != "" {
		var ps []string
		for _, p := range tun.Phase1.Proposals {
			ps = append(ps, p.V)
		}
		if !strings.Contains(strings.Join(ps, " | "), w.p1Proposal) {
			errf("phase 1 proposals %v lack %q", ps, w.p1Proposal)
		}
	}
}

// TestMikroTik reads RouterOS /ip ipsec exports: plain, terse and verbose
// (with continuation lines and changed default entries), RouterOS 6 peers,
// and RouterOS's defaults where the export leaves them out.
func TestMikroTik(t *testing.T) {
	tests := []struct {
		name string
		text string
		want tunnelWant
	}{
		{"export of RouterOS 7", `# jan/02/2024 10:00:00 by RouterOS 7.12
/ip ipsec profile
add dh-group=modp2048 enc-algorithm=aes-256 hash-algorithm=sha256 lifetime=8h name=cloud-p1
/ip ipsec peer
add address=203.0.113.10/32 exchange-mode=ike2 name=cloud profile=cloud-p1
/ip ipsec proposal
add enc-algorithms=aes-256-cbc lifetime=1h name=cloud-p2 pfs-group=modp2048
/ip ipsec identity
add peer=cloud secret=s3cret-for-tests
/ip ipsec policy
add dst-address=10.0.0.0/8 peer=cloud proposal=cloud-p2 src-address=192.168.88.0/24 tunnel=yes
`, tunnelWant{name: "peer cloud", peer: "203.0.113.10", ike: 2, p1: 8 * time.Hour, p2: time.Hour, pfs: "on", pfsGroup: 14,
			dpd: "on", dpdInterval: 2 * time.Minute, dpdRetries: 5, psk: "yes", auth: "psk", pairs: 1, p1Proposal: "aes-256"}},
		{"terse export with defaults", `/ip ipsec peer add address=203.0.113.10/32 name=cloud
/ip ipsec identity add peer=cloud secret="s3cret"
/ip ipsec policy add dst-address=10.0.0.0/8 peer=cloud src-address=192.168.88.0/24 tunnel=yes
/ip ipsec policy add dst-address=172.16.0.0/12 peer=cloud src-address=192.168.88.0/24 tunnel=yes
`, tunnelWant{peer: "203.0.113.10", ike: 1, p1: 24 * time.Hour, p2: 30 * time.Minute, pfs: "on", pfsGroup: 2, dpd: "on", psk: "yes", pairs: 2, fromDefaults: true}},
		{"verbose export with continuation lines and a changed default proposal", `/ip ipsec proposal
set [ find default=yes ] auth-algorithms=sha256 disabled=no enc-algorithms=\
    aes-256-cbc lifetime=1h name=default pfs-group=modp2048
/ip ipsec profile
set [ find default=yes ] dh-group=modp2048 dpd-interval=disable-dpd \
    dpd-maximum-failures=5 enc-algorithm=aes-256 hash-algorithm=sha256 \
    lifetime=8h name=default nat-traversal=yes proposal-check=obey
/ip ipsec peer
add address=203.0.113.10/32 comment="" disabled=no exchange-mode=ike2 \
    local-address=198.51.100.2 name=cloud passive=no port=500 profile=default \
    send-initial-contact=yes
/ip ipsec identity
add auth-method=digital-signature certificate=gw.crt disabled=no peer=cloud
/ip ipsec policy
set 0 disabled=no dst-address=::/0 group=default proto=all protocol=all \
    src-address=::/0 template=yes
add action=encrypt disabled=no dst-address=10.0.0.0/8 ipsec-protocols=esp \
    level=require peer=cloud src-address=192.168.88.0/24 tunnel=yes
`, tunnelWant{peer: "203.0.113.10", ike: 2, p1: 8 * time.Hour, p2: time.Hour, pfs: "on", pfsGroup: 14, dpd: "off", psk: "no", auth: "pubkey", pairs: 1}},
		{"RouterOS 6 peer with its own secret and phase 1", `/ip ipsec peer
add address=203.0.113.10/32 dh-group=modp2048 enc-algorithm=aes-256 exchange-mode=main lifetime=8h secret=abc123
/ip ipsec proposal
set [ find default=yes ] enc-algorithms=aes-256-cbc lifetime=1h pfs-group=none
/ip ipsec policy
add dst-address=10.0.0.0/8 sa-dst-address=203.0.113.10 sa-src-address=198.51.100.2 src-address=192.168.88.0/24 tunnel=yes
`, tunnelWant{peer: "203.0.113.10", ike: 1, p1: 8 * time.Hour, p2: time.Hour, pfs: "off", psk: "yes", pairs: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := MustParse(t, tt.text)
			if c.Format() != config.FormatMikroTik {
				t.Fatalf("format %s", c.Format())
			}
			checkTunnel(t, c, tt.want)
		})
	}
}

// TestParsers covers the set-ups of the real-world files that were misread:
// VTIs on an ASA, DPD in IOS ISAKMP profiles, PAN-OS lines with several
// keywords, swanctl templates, idle timeouts, and lifetimes as hard
// lifetimes with their renewal times.
func TestParsers(t *testing.T) {
	tests := []struct {
		name, format, text string
		want               tunnelWant
	}{
		{"ASA route-based VTI", config.FormatCiscoASA, `ASA Version 9.16
crypto ikev2 policy 10
 encryption aes-256
 integrity sha256
 group 14
 lifetime seconds 28800
crypto ipsec ikev2 ipsec-proposal P2
 protocol esp encryption aes-256
 protocol esp integrity sha-256
crypto ipsec profile VTI-PROFILE
 set ikev2 ipsec-proposal P2
 set pfs group14
 set security-association lifetime seconds 3600
tunnel-group 203.0.113.10 type ipsec-l2l
tunnel-group 203.0.113.10 ipsec-attributes
 ikev2 remote-authentication pre-shared-key *****
 ikev2 local-authentication pre-shared-key *****
interface Tunnel1
 nameif cloud
 tunnel source interface outside
 tunnel destination 203.0.113.10
 tunnel mode ipsec ipv4
 tunnel protection ipsec profile VTI-PROFILE
`, tunnelWant{name: "interface Tunnel1", peer: "203.0.113.10", ike: 2, p1: 28800 * time.Second, p2: time.Hour, pfs: "on", pfsGroup: 14, dpd: "on", psk: "yes", routeBased: true, pairs: 1}},
		{"ASA vpn-idle-timeout of the tunnel group's policy", config.FormatCiscoASA, `ASA Version 9.8
crypto ikev1 policy 10
 authentication pre-share
 group 14
 lifetime 28800
access-list VPN extended permit ip 192.168.1.0 255.255.255.0 10.0.0.0 255.0.0.0
crypto map M 1 match address VPN
crypto map M 1 set peer 203.0.113.10
crypto map M 1 set ikev1 transform-set T
crypto map M 1 set pfs group14
group-policy L2L internal
group-policy L2L attributes
 vpn-idle-timeout 30
 vpn-tunnel-protocol ikev1
tunnel-group 203.0.113.10 type ipsec-l2l
tunnel-group 203.0.113.10 general-attributes
 default-group-policy L2L
tunnel-group 203.0.113.10 ipsec-attributes
 ikev1 pre-shared-key *****
`, tunnelWant{peer: "203.0.113.10", ike: 1, psk: "yes", idle: 30 * time.Minute}},
		{"IOS DPD in the ISAKMP profile", config.FormatCiscoIOS, `hostname r1
crypto isakmp policy 10
 encr aes 256
 authentication pre-share
 group 14
 lifetime 28800
crypto keyring KR
  pre-shared-key address 203.0.113.10 key s3cret
crypto isakmp profile CLOUD
   keyring KR
   match identity address 203.0.113.10 255.255.255.255
   keepalive 10 retry 3
crypto ipsec transform-set TS esp-aes 256 esp-sha256-hmac
crypto map M 10 ipsec-isakmp
 set peer 203.0.113.10
 set transform-set TS
 set pfs group14
 set isakmp-profile CLOUD
 match address 101
access-list 101 permit ip 192.168.1.0 0.0.0.255 10.0.0.0 0.255.255.255
`, tunnelWant{peer: "203.0.113.10", dpd: "on", dpdInterval: 10 * time.Second, dpdRetries: 3, psk: "yes", pfs: "on", p1Proposal: "encryption aes 256"}},
		{"IOS DPD of the ISAKMP profile matching the peer", config.FormatCiscoIOS, `hostname r1
crypto isakmp policy 10
 authentication pre-share
crypto keyring KR
  pre-shared-key address 203.0.113.10 key s3cret
crypto isakmp profile CLOUD
   keyring KR
   match identity address 203.0.113.10 255.255.255.255
   keepalive 10 retry 3
crypto map M 10 ipsec-isakmp
 set peer 203.0.113.10
 match address 101
access-list 101 permit ip 192.168.1.0 0.0.0.255 10.0.0.0 0.255.255.255
`, tunnelWant{dpd: "on", dpdInterval: 10 * time.Second, dpdRetries: 3}},
		{"PAN-OS set lines with several keywords", config.FormatPaloAltoSet, `set network ike gateway GW interface ethernet1/1 local-address 198.51.100.2 peer-address 203.0.113.10
set network ike gateway GW authentication pre-shared-key key s3cret
set network ike gateway GW protocol ikev2 ike-crypto-profile P1 dpd enable yes
set network ike gateway GW protocol version ikev2
set network ike crypto-profiles ike-crypto-profiles P1 lifetime hours 8
set network ike crypto-profiles ipsec-crypto-profiles P2 lifetime hours 1 dh-group group14
set network tunnel ipsec T tunnel-interface tunnel.1 auto-key ike-gateway GW auto-key ipsec-crypto-profile P2
`, tunnelWant{name: "T", peer: "203.0.113.10", ike: 2, p1: 8 * time.Hour, p2: time.Hour, pfs: "on", pfsGroup: 14, psk: "yes", dpd: "on"}},
		{"swanctl template names", config.FormatSwanctl, `connections {
  ${POLICY_NAME} {
    remote_addrs = ${REMOTE_SGW_IP}
    local {
      auth = psk
    }
    version = 2
    proposals = ${IKE_PROPOSAL}
    dpd_delay = 10s
    children {
      ${POLICY_NAME} {
        local_ts = 0.0.0.0/0
        remote_ts = 0.0.0.0/0
        esp_proposals = ${ESP_PROPOSAL}
        rekey_time = 51m
        life_time = 60m
      }
    }
  }
}
secrets {
  ike-${POLICY_NAME} {
    secret = ${PSK}
  }
}
`, tunnelWant{name: "${POLICY_NAME}", peer: "${REMOTE_SGW_IP}", ike: 2, p2: time.Hour, r2: 51 * time.Minute, dpd: "on", psk: "yes", pairs: 1}},
		{"swanctl conn : base inheritance", config.FormatSwanctl, `base-conn {
   local_addrs  = 198.51.100.2
   remote_addrs = 203.0.113.10
   rekey_time = 7h
   over_time = 1h
   local {
      auth = psk
   }
}
connections {
   cloud : base-conn {
      local {
         id = gw
      }
      children {
         net {
            local_ts = 192.168.1.0/24
            remote_ts = 10.0.0.0/8
            esp_proposals = aes256-sha256-modp2048
         }
      }
   }
}
secrets {
   ike-cloud {
      secret = s3cret
   }
}
`, tunnelWant{name: "cloud", peer: "203.0.113.10", p1: 8 * time.Hour, r1: 7 * time.Hour, psk: "yes", auth: "psk", pfs: "on", pfsGroup: 14}},
		{"swanctl rekey_time 3240s with life_time 3600s", config.FormatSwanctl, "connections {\n c {\n  remote_addrs = 203.0.113.10\n  children {\n   n {\n    rekey_time = 3240s\n    life_time = 3600s\n   }\n  }\n }\n}\n",
			tunnelWant{p2: time.Hour, r2: 3240 * time.Second}},
		{"swanctl rekey_time 3600s alone expires at 3960 s", config.FormatSwanctl, "connections {\n c {\n  remote_addrs = 203.0.113.10\n  rekey_time = 28800s\n  children {\n   n {\n    rekey_time = 3600s\n   }\n  }\n }\n}\n",
			tunnelWant{p1: 31680 * time.Second, r1: 28800 * time.Second, p2: 3960 * time.Second, r2: time.Hour}},
		{"swanctl inactivity", config.FormatSwanctl, "connections {\n c {\n  remote_addrs = 203.0.113.10\n  children {\n   n {\n    inactivity = 300s\n   }\n  }\n }\n}\n",
			tunnelWant{idle: 5 * time.Minute}},
		{"ipsec.conf margintime", config.FormatStrongSwanIPC, "# strongSwan ipsec.conf\nconn c\n\tkeyexchange=ikev2\n\tikelifetime=8h\n\tlifetime=1h\n\tmargintime=5m\n\tright=203.0.113.10\n\tauthby=secret\n",
			tunnelWant{p1: 8 * time.Hour, r1: 8*time.Hour - 5*time.Minute, p2: time.Hour, r2: 55 * time.Minute}},
		{"FortiGate idle timeout and keep-alive", config.FormatFortiGate, `config vpn ipsec phase1-interface
    edit "cloud"
        set remote-gw 203.0.113.10
        set idle-timeout enable
        set idle-timeoutinterval 10
        set psksecret ENC xyz
    next
end
config vpn ipsec phase2-interface
    edit "cloud-p2"
        set phase1name "cloud"
        set keepalive enable
    next
end
`, tunnelWant{idle: 10 * time.Minute, keepAlive: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Parse(tt.format, tt.text)
			if err != nil {
				t.Fatal(err)
			}
			if cs := config.Detect(tt.text); len(cs) == 0 || cs[0].Format != tt.format {
				t.Errorf("detected %v, want %s", cs, tt.format)
			}
			checkTunnel(t, c, tt.want)
		})
	}
}

// TestNoTunnel: files in which there is no tunnel say why instead of
// inventing one or not being recognised.
func TestNoTunnel(t *testing.T) {
	tests := []struct {
		name, format, text string
		secrets            bool
		reason             string
	}{
		{"strongSwan ipsec.secrets", config.FormatIPsecSecrets, "# /etc/ipsec.secrets - strongSwan IPsec secrets file\n\n@moon @sun : PSK \"s3cret\"\n: RSA moonKey.pem\n", true, ""},
		{"libreswan secrets", config.FormatIPsecSecrets, "@west @east : PSK \"ABCDEF\"\n", true, ""},
		{"stock ipsec.conf", config.FormatStrongSwanIPC, "# ipsec.conf - strongSwan IPsec configuration file\n\nconfig setup\n\t# uniqueids = no\n\n#conn sample\n#      right=192.168.0.2\n", false, "commented-out example"},
		{"stock swanctl.conf", config.FormatSwanctl, "connections {\n\n#\t# an IKE configuration named conn1\n#\tconn1 {\n#\t\tversion = 2\n#\t\tremote_addrs = 192.168.5.1\n#\t}\n\n}\n\nsecrets {\n#\tike-moon {\n#\t\tsecret = 0x12345678901234\n#\t}\n}\n", false, "commented-out example"},
		{"ASA with AnyConnect only", config.FormatCiscoASA, "ASA Version 9.1\ninterface GigabitEthernet0/0\n nameif outside\naccess-list SPLIT_VPN standard permit 10.0.0.0 255.0.0.0\naccess-list NO_SSLVPN_NAT extended permit ip 10.0.0.0 255.0.0.0 10.1.0.0 255.255.0.0\nwebvpn\n enable outside\n anyconnect enable\ngroup-policy SSL attributes\n vpn-idle-timeout none\n vpn-tunnel-protocol ssl-client\n", false, "remote-access"},
		{"IOS router without VPN", config.FormatCiscoIOS, "!\nversion 15.4\nservice timestamps debug datetime msec\nhostname r1\nboot-start-marker\nboot-end-marker\nip cef\ninterface GigabitEthernet0/0\n ip address 192.0.2.1 255.255.255.0\n", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := MustParse(t, tt.text)
			if c.Format() != tt.format {
				t.Fatalf("format %s, want %s", c.Format(), tt.format)
			}
			if len(c.Tunnels) != 0 {
				t.Errorf("%d tunnels invented:\n%s", len(c.Tunnels), c.Summary())
			}
			if c.SecretsOnly != tt.secrets {
				t.Errorf("secrets only %v", c.SecretsOnly)
			}
			if !strings.Contains(c.NoTunnelReason, tt.reason) {
				t.Errorf("reason %q, want %q", c.NoTunnelReason, tt.reason)
			}
		})
	}
}
