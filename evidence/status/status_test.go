package status_test

import (
	"encoding/json"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/evidence/status"
	"github.com/vpndiag/vpndiag/kb"
	"github.com/vpndiag/vpndiag/lab"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func testSite() *vpndiag.Site {
	return &vpndiag.Site{
		Name:            "acme",
		CloudDNSServers: []netip.Addr{netip.MustParseAddr("10.10.0.2")},
		VPNEndpoints:    []netip.Addr{netip.MustParseAddr("203.0.113.5"), netip.MustParseAddr("203.0.113.6")},
		CloudCIDR:       netip.MustParsePrefix("10.10.0.0/16"),
		CustomerCIDRs:   []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")},
	}
}

// vendorSite is the site of the samples written for the vendor checks:
// 192.168.10.0/24 to the cloud's 10.100.0.0/16 through 203.0.113.10.
func vendorSite() *vpndiag.Site {
	return &vpndiag.Site{
		Name:          "vendors",
		VPNEndpoints:  []netip.Addr{netip.MustParseAddr("203.0.113.10")},
		CloudCIDR:     netip.MustParsePrefix("10.100.0.0/16"),
		CustomerCIDRs: []netip.Prefix{netip.MustParsePrefix("192.168.10.0/24")},
	}
}

// TestCheck says, per sample, which format it is and which findings (code
// at line) it must give; the golden file keeps the full texts.
func TestCheck(t *testing.T) {
	tests := []struct {
		file   string
		format string
		want   []string // code@line
		site   *vpndiag.Site
	}{
		// Real strongSwan 5.9 output from the lab (see TestLab), with the
		// lab's site profile.
		{"lab-healthy-twice.txt", status.FormatSwanctl, []string{"sa-healthy@21"}, lab.Site("x")},
		{"lab-esp-blocked-twice.txt", status.FormatSwanctl, []string{"sa-no-inbound@21"}, lab.Site("x")},
		{"lab-range-changed.txt", status.FormatSwanctl, []string{"sa-no-child@2"}, lab.Site("x")},
		{"lab-half-open-once.txt", status.FormatSwanctl, []string{"sa-no-inbound@9"}, lab.Site("x")},
		{"swanctl-healthy.txt", status.FormatSwanctl, []string{"sa-healthy@9"}, nil},
		{"swanctl-no-child.txt", status.FormatSwanctl, []string{"sa-no-child@1"}, nil},
		{"swanctl-connecting.txt", status.FormatSwanctl, []string{"sa-half-open@1"}, nil},
		{"statusall-no-inbound.txt", status.FormatStroke, []string{"sa-no-inbound@18"}, nil},
		// A child named apart from its connection (swanctl.conf through
		// stroke) belongs to the IKE SA above it: no "no child" finding.
		{"statusall-child-named-apart.txt", status.FormatStroke, []string{"sa-healthy@15"}, vendorSite()},
		{"libreswan-no-inbound.txt", status.FormatLibreswan, []string{"sa-no-inbound@26"}, nil},
		{"libreswan-half-open.txt", status.FormatLibreswan, []string{"sa-half-open@4"}, nil},
		{"asa-multiple-pairs.txt", status.FormatASA, []string{"sa-no-inbound@56", "sa-multiple-pairs@18"}, nil},
		{"asa-sessiondb-no-inbound.txt", status.FormatASA, []string{"sa-no-inbound@34"}, nil},
		{"ios-selectors.txt", status.FormatIOS, []string{"sa-half-open@5", "sa-selectors-mismatch@15"}, nil},
		{"ios-twice-no-inbound.txt", status.FormatIOS, []string{"sa-no-inbound@68"}, nil},
		{"ios-ikev2-no-child.txt", status.FormatIOS, []string{"sa-no-child@5"}, nil},
		{"fortigate-no-child.txt", status.FormatFortiGate, []string{"sa-no-child@17"}, nil},
		{"fortigate-no-inbound.txt", status.FormatFortiGate, []string{"sa-no-inbound@21"}, nil},
		{"junos-no-inbound.txt", status.FormatJunos, []string{"sa-no-inbound@36"}, nil},
		{"junos-half-open.txt", status.FormatJunos, []string{"sa-half-open@3"}, nil},
		// Each Junos command's output alone is recognised.
		{"junos-ike-only.txt", status.FormatJunos, nil, vendorSite()},
		{"junos-ipsec-summary.txt", status.FormatJunos, nil, vendorSite()},
		{"libreswan-trafficstatus.txt", status.FormatLibreswan, nil, vendorSite()},
		{"panos-ike-only.txt", status.FormatPANOS, nil, vendorSite()},
		// Healthy single listings give no fault.
		{"fortigate-healthy.txt", status.FormatFortiGate, []string{"sa-healthy@22"}, vendorSite()},
		{"ios-healthy-once.txt", status.FormatIOS, nil, vendorSite()},
		{"panos-healthy.txt", status.FormatPANOS, []string{"sa-healthy@100"}, nil},
		{"panos-no-child.txt", status.FormatPANOS, []string{"sa-no-child@6"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			format, score := status.Detect(string(data))
			if format != tt.format || score < 4 {
				t.Fatalf("Detect = %q (score %d), want %q with score >= 4", format, score, tt.format)
			}
			st, err := status.Parse(format, string(data))
			if err != nil {
				t.Fatal(err)
			}
			site := tt.site
			if site == nil {
				site = testSite()
			}
			fs, notes := status.Check(tt.file, st, site)
			var got []string
			for _, f := range fs {
				got = append(got, f.Code+"@"+itoa(f.Evidence[0].Line))
				if !slices.Contains(kb.Codes, f.Code) || f.Fix == "" || f.Detail == "" || f.KBArticle == "" {
					t.Errorf("finding %s is incomplete: %+v", f.Code, f)
				}
				if !strings.Contains(f.Summary, "line ") {
					t.Errorf("summary does not name the line: %s", f.Summary)
				}
			}
			if !sameSet(got, tt.want) {
				t.Errorf("findings = %v, want %v", got, tt.want)
			}
			golden(t, strings.TrimSuffix(tt.file, ".txt")+".golden", map[string]any{"status": st, "findings": fs, "notes": notes})
		})
	}
}

// TestCheckWithoutSite: no site, no selector comparison; the rest holds.
func TestCheckWithoutSite(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "asa-multiple-pairs.txt"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := status.Parse(status.FormatASA, string(data))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	fs, _ := status.Check("asa.txt", st, nil)
	for _, f := range fs {
		got = append(got, f.Code)
	}
	want := []string{kb.CodeSANoInbound, kb.CodeSAMultiplePairs}
	if !sameSet(got, want) {
		t.Errorf("findings = %v, want %v", got, want)
	}
}

// TestOtherPeers: SAs with peers that are not the site's cloud endpoints
// are someone else's tunnels, unless no SA at all is with the cloud (then
// the profile or the device's peer is wrong, and every SA is checked).
func TestOtherPeers(t *testing.T) {
	other := strings.ReplaceAll(mustRead(t, "swanctl-no-child.txt"), "203.0.113.5", "192.0.2.77")
	for _, tt := range []struct {
		name, text string
		want       []string
	}{
		{"beside the cloud's", mustRead(t, "swanctl-healthy.txt") + other, []string{kb.CodeSAHealthy}},
		{"alone", other, []string{kb.CodeSANoChild}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st, err := status.Parse(status.FormatSwanctl, tt.text)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			fs, _ := status.Check("x.txt", st, testSite())
			for _, f := range fs {
				got = append(got, f.Code)
			}
			if !sameSet(got, tt.want) {
				t.Errorf("findings %v, want %v", got, tt.want)
			}
		})
	}
}

// TestRekeyOverlap: two SAs with the same selectors during a rekey are not
// two pairs.
func TestRekeyOverlap(t *testing.T) {
	text := mustRead(t, "swanctl-healthy.txt")
	i := strings.Index(text, "  cloud-net:")
	text += strings.Replace(text[i:], "#7, reqid 1, INSTALLED", "#8, reqid 1, REKEYED", 1)
	st, err := status.Parse(status.FormatSwanctl, text)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Child) != 2 {
		t.Fatalf("children = %d, want 2", len(st.Child))
	}
	fs, _ := status.Check("x.txt", st, testSite())
	for _, f := range fs {
		if f.Code == kb.CodeSAMultiplePairs {
			t.Errorf("rekey overlap reported as multiple pairs: %s", f.Summary)
		}
	}
}

// TestIKEOnly: an IKE listing alone says nothing about IPsec SAs.
func TestIKEOnly(t *testing.T) {
	text := mustRead(t, "ios-selectors.txt")
	text = text[:strings.Index(text, "rtr-branch#show crypto ipsec sa")]
	format, _ := status.Detect(text)
	st, err := status.Parse(format, text)
	if err != nil {
		t.Fatal(err)
	}
	if st.ChildListed {
		t.Fatal("ChildListed for an IKE-only output")
	}
	fs, _ := status.Check("x.txt", st, testSite())
	for _, f := range fs {
		if f.Code == kb.CodeSANoChild {
			t.Errorf("sa-no-child without an IPsec SA listing: %s", f.Summary)
		}
	}
}

func TestDetectNotStatus(t *testing.T) {
	for _, text := range []string{
		"",
		"crypto map CLOUD 10 match address CLOUD-ACL\ncrypto map CLOUD 10 set peer 203.0.113.5\n",
		"Dec  3 09:00:01 gw charon: 09[IKE] IKE_SA cloud[1] established between 198.51.100.2[198.51.100.2]...203.0.113.5[203.0.113.5]\n",
		"connections {\n  cloud {\n    remote_addrs = 203.0.113.5\n  }\n}\n",
	} {
		if f, s := status.Detect(text); s >= 4 {
			t.Errorf("Detect(%.40q) = %s %d, want no status format", text, f, s)
		}
	}
}

func TestParseUnknownFormat(t *testing.T) {
	if _, err := status.Parse("nope", "x"); err == nil {
		t.Error("no error for an unknown format")
	}
}

func mustRead(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func golden(t *testing.T, name string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from the golden file; run go test -update and review the diff:\n%s", name, got)
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestStrokeCounters: packets are shown only with traffic (and not at all
// by old strongSwan); bytes decide then.
func TestStrokeCounters(t *testing.T) {
	tests := []struct {
		line    string
		in, out int64
	}{
		{"0 bytes_i, 25200 bytes_o (300 pkts, 0s ago), rekeying in 34 minutes", 0, 300},
		{"8400 bytes_i (100 pkts, 1s ago), 25200 bytes_o (300 pkts, 0s ago)", 100, 300},
		{"0 bytes_i, 25200 bytes_o (0s ago), rekeying in 34 minutes", 0, 25200},
		{"84 bytes_i (1s ago), 84 bytes_o (1s ago)", 84, 84},
	}
	for _, tt := range tests {
		text := "Security Associations (1 up, 0 connecting):\n" +
			"       cloud[2]: ESTABLISHED 21 minutes ago, 198.51.100.2[198.51.100.2]...203.0.113.5[203.0.113.5]\n" +
			"       cloud{3}:  INSTALLED, TUNNEL, reqid 1, ESP SPIs: cf01a2b3_i 7d8e9fa0_o\n" +
			"       cloud{3}:  AES_CBC_256/HMAC_SHA2_256_128, " + tt.line + "\n"
		st, err := status.Parse(status.FormatStroke, text)
		if err != nil {
			t.Fatal(err)
		}
		in, _ := st.Child[0].In()
		out, _ := st.Child[0].Out()
		if in != tt.in || out != tt.out {
			t.Errorf("%s: in %d out %d, want %d %d", tt.line, in, out, tt.in, tt.out)
		}
	}
}

// FuzzStatus: any text detected as a status format parses and checks
// without panicking, and every finding names a line of the input.
func FuzzStatus(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.txt"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Fuzz(func(t *testing.T, text string) {
		for _, format := range status.Formats {
			st, err := status.Parse(format, text)
			if err != nil {
				t.Fatal(err)
			}
			fs, _ := status.Check("f.txt", st, testSite())
			for _, fd := range fs {
				if l := fd.Evidence[0].Line; l < 1 || l > st.Lines {
					t.Fatalf("%s: finding %s at line %d of %d", format, fd.Code, l, st.Lines)
				}
			}
		}
	})
}

// TestSelectorForms: every vendor's way of writing a traffic selector.
func TestSelectorForms(t *testing.T) {
	tests := []struct{ format, text, want string }{
		{status.FormatJunos, "  ID: 1 Virtual-system: root, VPN Name: v\n  Local Identity: ipv4_subnet(any:0,[0..7]=10.1.0.0/16)\n  Remote Identity: ipv4_range(any:0,[0..7]=10.10.0.0-10.10.255.255)\n", "10.1.0.0/16 <-> 10.10.0.0/16"},
		{status.FormatJunos, "  ID: 1 Virtual-system: root, VPN Name: v\n  Local Identity: ipv4(10.1.0.0-10.1.255.255)\n  Remote Identity: ipv4(any:0,[0..3]=10.10.0.2)\n", "10.1.0.0/16 <-> 10.10.0.2/32"},
		{status.FormatFortiGate, "name=t ver=2 serial=1 198.51.100.2:0->203.0.113.5:0 tun_id=1\nproxyid=t proto=0 sa=1 ref=2 serial=1\n  src: 0:10.1.0.0/255.255.0.0:0\n  dst: 0:10.10.0.0-10.10.0.255:0\n", "10.1.0.0/16 <-> 10.10.0.0/24"},
		{status.FormatIOS, "   local  ident (addr/mask/prot/port): (10.1.0.0/255.255.0.0/0/0)\n   remote ident (addr/mask/prot/port): (10.10.0.2/255.255.255.255/47/0)\n", "10.1.0.0/16 <-> 10.10.0.2/32"},
		{status.FormatSwanctl, "c: #1, ESTABLISHED, IKEv2, 0123456789abcdef_i* 0123456789abcdef_r\n  n: #1, reqid 1, INSTALLED, TUNNEL, ESP:AES_GCM_16-128\n    local  10.1.0.0/16[tcp/443] 10.2.0.0/16\n    remote dynamic 10.10.0.0/16\n", "10.1.0.0/16,10.2.0.0/16 <-> 10.10.0.0/16"},
	}
	for _, tt := range tests {
		st, err := status.Parse(tt.format, tt.text)
		if err != nil || len(st.Child) != 1 {
			t.Fatalf("%s: %v, %d children", tt.format, err, len(st.Child))
		}
		c := st.Child[0]
		var l, r []string
		for _, p := range c.Local {
			l = append(l, p.String())
		}
		for _, p := range c.Remote {
			r = append(r, p.String())
		}
		if got := strings.Join(l, ",") + " <-> " + strings.Join(r, ","); got != tt.want {
			t.Errorf("%s: selectors %s, want %s", tt.format, got, tt.want)
		}
	}
}

// TestSessionDB: the ASA's session list, brief and without an IPsec SA.
func TestSessionDB(t *testing.T) {
	brief := "Session Type: LAN-to-LAN\n\nConnection   : 203.0.113.5\nIndex        : 27                     IP Addr      : 203.0.113.5\nProtocol     : IKEv2 IPsec\nBytes Tx     : 48960                  Bytes Rx     : 0\n"
	noChild := "Session Type: LAN-to-LAN Detailed\n\nConnection   : 203.0.113.5\nIndex        : 27                     IP Addr      : 203.0.113.5\nProtocol     : IKEv2\nBytes Tx     : 0                      Bytes Rx     : 0\nIKEv2 Tunnels: 1\nIPsec Tunnels: 0\n\nIKEv2:\n  Tunnel ID    : 27.1\n"
	for _, tt := range []struct{ name, text, want string }{
		{"brief", brief, kb.CodeSANoInbound},
		{"no IPsec tunnel", noChild, kb.CodeSANoChild},
	} {
		format, _ := status.Detect(tt.text)
		st, err := status.Parse(format, tt.text)
		if err != nil {
			t.Fatal(err)
		}
		fs, _ := status.Check("x.txt", st, testSite())
		if len(fs) != 1 || fs[0].Code != tt.want {
			var got []string
			for _, f := range fs {
				got = append(got, f.Summary)
			}
			t.Errorf("%s (%s): findings %v, want one %s", tt.name, format, got, tt.want)
		}
	}
}

// TestJunosReleases: the SA list's columns as different Junos releases
// print them.
func TestJunosReleases(t *testing.T) {
	for _, text := range []string{
		"  Total active tunnels: 1     Total IPsec sas: 1\n  ID      Algorithm       SPI      Life:sec/kb  Mon lsys Port  Gateway\n  <500011 ESP:aes-gcm-256/aes256-gcm 0x6d0c6331 1222/ unlim - root 500 203.0.113.5\n  >500011 ESP:aes-gcm-256/aes256-gcm 0xe1ed7345 1222/ unlim - root 500 203.0.113.5\n",
		"  Total active tunnels: 1\n  ID      Gateway          Port  Algorithm       SPI      Life:sec/kb  Mon vsys\n  <131073 203.0.113.5      500   ESP:aes-256/sha 8b4a7d1e 3542/ unlim   -   root\n  >131073 203.0.113.5      500   ESP:aes-256/sha 1c2d3e4f 3542/ unlim   -   root\n",
		"  Total active tunnels: 1\n  ID    Algorithm       SPI      Life:sec/kb  Mon lsys Port  Gateway\n  <131073 ESP:3des/sha1 68e14219 1298/ unlim   U   root 500   203.0.113.5\n  >131073 ESP:3des/sha1 cb3ccd42 1298/ unlim   U   root 500   203.0.113.5\n",
	} {
		st, err := status.Parse(status.FormatJunos, text)
		if err != nil || len(st.Child) != 1 {
			t.Fatalf("%v, %d SAs from:\n%s", err, len(st.Child), text)
		}
		if c := st.Child[0]; !c.Up || c.Peer != "203.0.113.5" || len(c.SPIIn) != 8 || len(c.SPIOut) != 8 {
			t.Errorf("SA %+v from:\n%s", c, text)
		}
	}
}

// TestPANOSIKEv1: PAN-OS lists IKEv1 SAs as phase-1 and phase-2 SAs.
func TestPANOSIKEv1(t *testing.T) {
	text := `IKEv1 phase-1 SAs
GwID/client IP  Peer-Address           Gateway Name           Role Mode Algorithm             Established     Expiration      V  ST Xt Phase2
--------------  ------------           ------------           ---- ---- ---------             -----------     ----------      -  -- -- ------
1               203.0.113.5            gw-cloud               Init Main PSK/DH14/A256/SHA256  Dec.03 08:58:10 Dec.03 16:58:10 v1 13 1  0

Show IKEv1 IKE SA: Total 1 gateways found. 1 ike sa found.

IKEv1 phase-2 SAs
Gateway Name           TnID     Tunnel                    GwID/IP     Role Algorithm          SPI(in)  SPI(out) MsgID    ST Xt
------------           ----     ------                    -------     ---- ---------          -------  -------- -----    -- --

Show IPSec SA: Total 1 tunnels found. 0 ipsec sa found.
`
	format, _ := status.Detect(text)
	st, err := status.Parse(format, text)
	if err != nil {
		t.Fatal(err)
	}
	fs, _ := status.Check("x.txt", st, testSite())
	if format != status.FormatPANOS || len(st.IKE) != 1 || len(fs) != 1 || fs[0].Code != kb.CodeSANoChild {
		t.Errorf("format %s, %d IKE SAs, findings %v", format, len(st.IKE), fs)
	}
	withChild := strings.Replace(text, "------------           ----     ------                    -------     ---- ---------          -------  -------- -----    -- --\n",
		"------------           ----     ------                    -------     ---- ---------          -------  -------- -----    -- --\ngw-cloud               5        tun-cloud                 1           Init ESP/DH14/tunl/SHA2 A1C3E5F7 0B2D4F61 9a3f11d2 9  1\n", 1)
	st, _ = status.Parse(format, withChild)
	if fs, _ := status.Check("x.txt", st, testSite()); len(st.Child) != 1 || !st.Child[0].Up || len(fs) != 0 {
		t.Errorf("children %+v, findings %v", st.Child, fs)
	}
}

// TestNone: a listing with no SA at all says the tunnel is down, at the
// listing's line.
func TestNone(t *testing.T) {
	for _, tt := range []struct{ text, want string }{
		{"Status of IKE charon daemon (strongSwan 5.9.13, Linux 6.8.0, x86_64):\n  uptime: 3 minutes\nSecurity Associations (0 up, 0 connecting):\n  none\n", "sa-none@3"},
		{"admin@srx> show security ike security-associations\nIndex   State  Initiator cookie  Responder cookie  Mode           Remote Address\n\nadmin@srx> show security ipsec security-associations\n  Total active tunnels: 0\n", "sa-none@2"},
		{"fw# show crypto isakmp sa\n\nThere are no IKEv1 SAs\n", "sa-none@3"},
		{mustRead(t, "swanctl-connecting.txt"), "sa-half-open@1"},
		{"$ sudo swanctl --list-sas\n", "sa-none@1"},
	} {
		format, score := status.Detect(tt.text)
		if score < 4 {
			t.Errorf("%.40q detected as %q (%d)", tt.text, format, score)
		}
		st, err := status.Parse(format, tt.text)
		if err != nil {
			t.Fatal(err)
		}
		fs, _ := status.Check("x.txt", st, testSite())
		var got []string
		for _, f := range fs {
			got = append(got, f.Code+"@"+strconv.Itoa(f.Evidence[0].Line))
		}
		if !slices.Equal(got, []string{tt.want}) {
			t.Errorf("%s: findings %v, want %s", format, got, tt.want)
		}
	}
}
