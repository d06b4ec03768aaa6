package config_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag/evidence/config"
	"github.com/vpndiag/vpndiag/evidence/internal/fixtures"
)

// MustParse detects and parses text or fails the test.
func MustParse(tb testing.TB, text string) *config.Config {
	tb.Helper()
	cs := config.Detect(text)
	if len(cs) == 0 {
		tb.Fatalf("format not detected:\n%s", text)
	}
	c, err := config.Parse(cs[0].Format, text)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// TestUnits checks that each vendor's lifetime units are converted.
func TestUnits(t *testing.T) {
	tests := []struct {
		name   string
		text   string
		format string
		p1, p2 time.Duration
	}{
		{"swanctl hours and minutes", "connections {\n c {\n  remote_addrs = 203.0.113.1\n  rekey_time = 7h\n  over_time = 1h\n  children {\n   n {\n    local_ts = 10.0.0.0/8\n    remote_ts = 10.1.0.0/16\n    rekey_time = 51m\n    life_time = 60m\n    esp_proposals = aes256-sha256-modp2048\n   }\n  }\n }\n}\n",
			"strongswan-swanctl", 8 * time.Hour, time.Hour},
		{"ipsec.conf days and seconds", "# strongSwan\nconn c\n\tkeyexchange=ikev2\n\tikelifetime=1d\n\tlifetime=3600s\n\tleftsubnet=10.0.0.0/8\n\trightsubnet=10.1.0.0/16\n",
			"strongswan-ipsec.conf", 24 * time.Hour, time.Hour},
		{"libreswan hours", "# Libreswan\nconn c\n\tikev2=insist\n\tikelifetime=8h\n\tsalifetime=1h\n\tleftsubnet=10.0.0.0/8\n",
			"libreswan-ipsec.conf", 8 * time.Hour, time.Hour},
		{"ASA seconds and kilobytes", "ASA Version 9.8\ncrypto ikev1 policy 10\n authentication pre-share\n lifetime 28800\ncrypto map m 1 match address a\ncrypto map m 1 set peer 203.0.113.1\ncrypto map m 1 set ikev1 transform-set t\ncrypto map m 1 set security-association lifetime seconds 3000\ncrypto map m 1 set security-association lifetime kilobytes 4608000\ntunnel-group 203.0.113.1 type ipsec-l2l\n",
			"cisco-asa-cli", 28800 * time.Second, 3000 * time.Second},
		{"FortiGate keylife", "config vpn ipsec phase1-interface\n    edit \"c\"\n        set keylife 28800\n        set remote-gw 203.0.113.1\n    next\nend\nconfig vpn ipsec phase2-interface\n    edit \"c\"\n        set phase1name \"c\"\n        set keylifeseconds 3060\n    next\nend\n",
			"fortigate-cli", 28800 * time.Second, 3060 * time.Second},
		{"Juniper lifetime-seconds", "set security ike proposal p lifetime-seconds 28800\nset security ike policy pol proposals p\nset security ike gateway g ike-policy pol\nset security ike gateway g address 203.0.113.1\nset security ipsec proposal ip lifetime-seconds 3600\nset security ipsec policy ipol proposals ip\nset security ipsec vpn v ike gateway g\nset security ipsec vpn v ike ipsec-policy ipol\nset security ipsec vpn v bind-interface st0.0\n",
			"juniper-set", 28800 * time.Second, 3600 * time.Second},
		{"Palo Alto hours and minutes", "set network ike crypto-profiles ike-crypto-profiles i lifetime hours 8\nset network ike crypto-profiles ipsec-crypto-profiles s lifetime minutes 51\nset network ike gateway g protocol ikev2 ike-crypto-profile i\nset network ike gateway g protocol version ikev2\nset network ike gateway g peer-address ip 203.0.113.1\nset network tunnel ipsec t auto-key ike-gateway g\nset network tunnel ipsec t auto-key ipsec-crypto-profile s\n",
			"paloalto-set", 8 * time.Hour, 51 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := MustParse(t, tt.text)
			if c.Format() != tt.format {
				t.Fatalf("format %s, want %s", c.Format(), tt.format)
			}
			if len(c.Tunnels) != 1 {
				t.Fatalf("%d tunnels\n%s", len(c.Tunnels), c.Summary())
			}
			tun := c.Tunnels[0]
			if tun.Phase1.Lifetime.V != tt.p1 || tun.Phase1.Lifetime.From != config.FromFile || tun.Phase1.Lifetime.Line == 0 {
				t.Errorf("phase 1 %s, want %s from the file", tun.Phase1.Lifetime, tt.p1)
			}
			if tun.Phase2.Lifetime.V != tt.p2 || tun.Phase2.Lifetime.From != config.FromFile || tun.Phase2.Lifetime.Line == 0 {
				t.Errorf("phase 2 %s, want %s from the file", tun.Phase2.Lifetime, tt.p2)
			}
		})
	}
}

func TestPaloAltoXML(t *testing.T) {
	b, err := os.ReadFile("testdata/paloalto-running-config.xml")
	if err != nil {
		t.Fatal(err)
	}
	c := MustParse(t, string(b))
	if c.Format() != config.FormatPaloAltoXML || len(c.Tunnels) != 1 {
		t.Fatalf("%s, %d tunnels", c.Format(), len(c.Tunnels))
	}
	tun := c.Tunnels[0]
	checks := []struct {
		what string
		ok   bool
	}{
		{"peer", len(tun.Peers) == 1 && tun.Peers[0].V == "203.0.113.10" && tun.Peers[0].Line == 44},
		{"ike version", tun.IKEVersion.V == 2},
		{"phase 1 8h", tun.Phase1.Lifetime.V == 8*time.Hour && tun.Phase1.Lifetime.Line == 14},
		{"phase 2 51m", tun.Phase2.Lifetime.V == 51*time.Minute},
		{"pfs group 14", tun.PFS.V && len(tun.Phase2.DHGroups) == 1 && tun.Phase2.DHGroups[0].V == 14},
		{"psk", tun.PSK.V},
		{"nat-t", tun.NATT.V == "enabled"},
		{"proxy id", len(tun.Selectors) == 1 && tun.Selectors[0].Local == "10.20.0.0/16" && tun.Selectors[0].Remote == "10.0.0.0/8"},
		{"dpd", tun.DPD.Enabled.V},
	}
	for _, ch := range checks {
		if !ch.ok {
			t.Errorf("%s wrong:\n%s", ch.what, c.Summary())
		}
	}
}

func TestDetectUnknownAndMixed(t *testing.T) {
	if cs := config.Detect("hello world\nthis is not a config\n"); len(cs) != 0 {
		t.Errorf("plain text detected as %v", cs)
	}
	mixed := "config vpn ipsec phase1-interface\n edit \"a\"\n  set remote-gw 1.2.3.4\n  set psksecret ENC x\n next\nend\n" +
		"connections {\n c {\n  remote_addrs = 1.2.3.4\n  children {\n   n {\n    local_ts = 10.0.0.0/8\n    esp_proposals = aes128\n   }\n  }\n }\n}\n"
	cs := config.Detect(mixed)
	if len(config.Mixed(cs)) == 0 {
		t.Errorf("mixed FortiGate and swanctl not reported as mixed: %v", cs)
	}
}

func TestValueJSON(t *testing.T) {
	b, err := config.At(28800*time.Second, 12).MarshalJSON()
	if err != nil || !strings.Contains(string(b), `"seconds":28800`) || !strings.Contains(string(b), `"line":12`) {
		t.Errorf("%s %v", b, err)
	}
	if b, _ := (config.Value[int]{}).MarshalJSON(); string(b) != "null" {
		t.Errorf("unknown value: %s", b)
	}
}

// fuzzParse feeds the fixtures of a format (and the text of the fuzzer)
// to its parser: it must never panic, whatever the input.
func fuzzParse(f *testing.F, format string) {
	for _, p := range fixtures.Files(f, "configs") {
		b := fixtures.MustRead(f, p)
		if cs := config.Detect(string(b)); len(cs) > 0 && cs[0].Format == format {
			f.Add(string(b))
		}
	}
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := config.Parse(format, s)
		if err == nil && c == nil {
			t.Fatal("nil config without error")
		}
		if c != nil {
			_ = c.Summary()
		}
	})
}

func FuzzDetect(f *testing.F) {
	for _, p := range append(fixtures.Files(f, "configs"), fixtures.Files(f, "logs")...) {
		f.Add(string(fixtures.MustRead(f, p)))
	}
	f.Fuzz(func(t *testing.T, s string) {
		cs := config.Detect(s)
		for i := 1; i < len(cs); i++ {
			if cs[i].Score > cs[i-1].Score {
				t.Fatalf("not sorted: %v", cs)
			}
		}
		for _, c := range cs {
			if _, err := config.Parse(c.Format, s); err != nil && !strings.Contains(err.Error(), "not supported") {
				t.Fatalf("%s: %v", c.Format, err)
			}
		}
	})
}

func FuzzParseSwanctl(f *testing.F)   { fuzzParse(f, config.FormatSwanctl) }
func FuzzParseIPsecConf(f *testing.F) { fuzzParse(f, config.FormatStrongSwanIPC) }
func FuzzParseLibreswan(f *testing.F) { fuzzParse(f, config.FormatLibreswan) }
func FuzzParseCiscoASA(f *testing.F)  { fuzzParse(f, config.FormatCiscoASA) }
func FuzzParseCiscoIOS(f *testing.F)  { fuzzParse(f, config.FormatCiscoIOS) }
func FuzzParseFortiGate(f *testing.F) { fuzzParse(f, config.FormatFortiGate) }
func FuzzParseJunosSet(f *testing.F)  { fuzzParse(f, config.FormatJunosSet) }
func FuzzParseJunosHier(f *testing.F) { fuzzParse(f, config.FormatJunosHier) }
func FuzzParsePaloAlto(f *testing.F)  { fuzzParse(f, config.FormatPaloAltoSet) }
func FuzzParsePaloAltoXML(f *testing.F) {
	b, err := os.ReadFile("testdata/paloalto-running-config.xml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(b))
	fuzzParse(f, config.FormatPaloAltoXML)
}
func FuzzParsePfSense(f *testing.F) { fuzzParse(f, config.FormatPfSenseXML) }
func FuzzParseGeneric(f *testing.F) { fuzzParse(f, config.FormatGeneric) }
func FuzzParseMikroTik(f *testing.F) {
	f.Add("/ip ipsec peer\nadd address=203.0.113.10/32 exchange-mode=ike2 name=c profile=p\n/ip ipsec profile\nadd name=p lifetime=8h dh-group=modp2048\n/ip ipsec identity add peer=c secret=x\n/ip ipsec policy add peer=c src-address=10.0.0.0/8 dst-address=10.1.0.0/16 tunnel=yes proposal=q\n/ip ipsec proposal set [ find default=yes ] lifetime=1h \\\n    pfs-group=none name \"q\"\n")
	fuzzParse(f, config.FormatMikroTik)
}
func FuzzParseSecrets(f *testing.F) {
	f.Add("@a @b : PSK \"x\"\n: RSA key.pem\n")
	fuzzParse(f, config.FormatIPsecSecrets)
}
