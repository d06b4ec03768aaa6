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
		{"asa-multiple-pairs.txt", status.FormatASA, []string{"sa-no-inbound@56", "sa-multiple-pairs@18"}, nil},
		{"ios-selectors.txt", status.FormatIOS, []string{"sa-half-open@5", "sa-selectors-mismatch@15"}, nil},
		{"ios-twice-no-inbound.txt", status.FormatIOS, []string{"sa-no-inbound@68"}, nil},
		{"ios-ikev2-no-child.txt", status.FormatIOS, []string{"sa-no-child@5"}, nil},
		{"fortigate-no-child.txt", status.FormatFortiGate, []string{"sa-no-child@17"}, nil},
		{"fortigate-no-inbound.txt", status.FormatFortiGate, []string{"sa-no-inbound@21"}, nil},
		{"junos-no-inbound.txt", status.FormatJunos, []string{"sa-no-inbound@36"}, nil},
		{"junos-half-open.txt", status.FormatJunos, []string{"sa-half-open@3"}, nil},
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
