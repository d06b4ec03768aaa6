package evidence_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/evidence"
	"github.com/vpndiag/vpndiag/evidence/internal/fixtures"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// MustAnalyze analyses text or fails the test.
func MustAnalyze(tb testing.TB, name string, text []byte, site *vpndiag.Site) *evidence.Report {
	tb.Helper()
	r, err := evidence.Analyze(context.Background(), name, bytes.NewReader(text), site)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

func codes(r *evidence.Report) []string {
	var out []string
	for _, f := range r.Findings {
		out = append(out, f.Code)
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// golden renders a report for a golden file.
func golden(r *evidence.Report) string {
	var b strings.Builder
	fmt.Fprintf(&b, "kind: %s\nformat: %s\nencoding: %s\nredactions: %d\n", r.Kind, r.Format, r.Encoding, r.Redactions)
	for _, u := range r.Understood {
		fmt.Fprintf(&b, "understood: %s\n", u)
	}
	for _, u := range r.NotUnderstood {
		fmt.Fprintf(&b, "not understood: %s\n", u)
	}
	if r.Config != nil {
		b.WriteString("--- model\n")
		b.WriteString(r.Config.Summary())
	}
	b.WriteString("--- findings\n")
	for _, f := range r.Findings {
		fmt.Fprintf(&b, "[%s] %s: %s\n", f.Severity, f.Code, f.Summary)
		fmt.Fprintf(&b, "    why: %s\n    fix: %s\n", f.Detail, f.Fix)
		for _, e := range f.Evidence {
			fmt.Fprintf(&b, "    at %s:%d %s\n", e.Name, e.Line, e.Text)
		}
	}
	return b.String()
}

// checkGolden compares got with testdata/golden/name.golden.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name+".golden")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if string(want) != got {
		t.Errorf("report differs from %s (run go test -update and review the diff):\n%s", path, got)
	}
}

// TestFixtureConfigs checks every fixture config: the detected format,
// highlights of the normalised model and the finding codes (from the
// ground truth in the fixtures' SOURCES.md), and the whole report against a
// golden file.
func TestFixtureConfigs(t *testing.T) {
	type want struct {
		format string
		p1, p2 int64 // hard lifetimes in seconds; -1 unknown
		pairs  int   // selector pairs of the first tunnel; -1 not checked
		codes  []string
	}
	W := func(format string, p1, p2 int64, pairs int, codes ...string) want {
		return want{format, p1, p2, pairs, codes}
	}
	// The AWS and Azure samples propose DH group 2 (modp1024), which the
	// cloud's published set (kb.CloudPhase1/2: group 14) refuses: hence
	// their phase1-proposal / phase2-proposal findings.
	tests := map[string]want{
		"cisco-asa-aws-sample-policy-based-ikev1.txt":               W("cisco-asa-cli", 28800, 3600, 1, "phase1-proposal", "phase2-proposal"),
		"cisco-asa-azure-show-running-config.txt":                   W("cisco-asa-cli", 28800, 3600, 1, "pfs-disabled", "phase1-proposal"),
		"cisco-asa-crypto-acl-two-entries-to-aws.txt":               W("cisco-asa-cli", -1, -1, 2, "multiple-sa-pairs"),
		"cisco-ios-aws-sample-vti-static-ikev1.txt":                 W("cisco-ios-cli", 28800, 3600, 1, "phase1-proposal", "phase2-proposal"),
		"cisco-ios-isr-azure-policy-based-ikev1.txt":                W("cisco-ios-cli", 28800, 3600, 1, "dpd-disabled", "pfs-disabled", "phase1-proposal"),
		"cisco-iosxe-asr-azure-route-based-ikev2.txt":               W("cisco-ios-cli", 86400, 3600, 1, "dpd-disabled", "ikev2-hourly-drop", "pfs-disabled", "phase1-lifetime", "phase1-proposal"),
		"fortigate-aws-sample-ikev1-bgp.txt":                        W("fortigate-cli", 28800, 3600, 1, "phase1-proposal", "phase2-proposal"),
		"fortigate-azure-full-configuration.txt":                    W("fortigate-cli", 10800, 3600, 1, "ikev2-hourly-drop", "nat-traversal", "pfs-disabled", "phase1-lifetime", "phase1-proposal"),
		"fortigate-azure-vpn-phase1-phase2-excerpt.txt":             W("fortigate-cli", 10800, 3600, 1, "ikev2-hourly-drop", "nat-traversal", "pfs-disabled", "phase1-lifetime", "phase1-proposal"),
		"fortigate-fortinet-kb-384951-ho-phase1-phase2.txt":         W("fortigate-cli", 600, 300, 1, "phase1-lifetime", "phase2-lifetime"),
		"generic-aws-sample-no-bgp.txt":                             W("generic-text", 28800, 3600, -1, "phase1-proposal", "phase2-proposal"),
		"juniper-srx-aws-sample-set-commands.txt":                   W("juniper-set", 28800, 3600, 1, "nat-traversal", "phase1-proposal", "phase2-proposal"),
		"juniper-srx-azure-show-configuration.txt":                  W("juniper-hierarchical", 28800, 27000, 1, "dpd-disabled", "pfs-disabled", "phase1-proposal", "phase2-lifetime"),
		"libreswan-ipsecconf-ikev2-mismatched-child-east.txt":       W("libreswan-ipsec.conf", 28800, 28800, 1, "dpd-disabled", "phase2-lifetime"),
		"libreswan-ipsecconf-ikev2-mismatched-child-west.txt":       W("libreswan-ipsec.conf", 28800, 28800, 1, "dpd-disabled", "phase2-lifetime"),
		"libreswan-ipsecconf-issue294-ikev2-salifetime-86400.txt":   W("libreswan-ipsec.conf", 28800, 86400, 1, "dpd-disabled", "phase2-lifetime"),
		"paloalto-aws-sample-ikev1-bgp.txt":                         W("paloalto-set", 28800, 3600, 1, "nat-traversal", "phase1-proposal", "phase2-proposal"),
		"paloalto-cloudflare-magicwan-ikev2-set-commands.txt":       W("paloalto-set", 28800, 3600, 1, "ikev2-hourly-drop", "nat-traversal"),
		"pfsense-aws-sample-gui-steps.txt":                          W("pfsense-gui-steps", 28800, 3600, -1, "phase1-proposal", "phase2-proposal"),
		"pfsense-configxml-ipsec-section-four-phase2.txt":           W("pfsense-xml", 28800, 3600, 4, "ikev2-hourly-drop", "multiple-sa-pairs", "no-psk"),
		"sonicwall-aws-sample-static.txt":                           W("sonicwall-cli", -1, -1, -1, "unknown-format"),
		"strongswan-ipsecconf-azure-5.3.5-two-remote-subnets.txt":   W("strongswan-ipsec.conf", 10800, 3600, 2, "dpd-disabled", "ikev2-hourly-drop", "multiple-sa-pairs", "pfs-disabled", "phase1-lifetime"),
		"strongswan-ipsecconf-azure-openswan-folder.txt":            W("strongswan-ipsec.conf", 10800, 3420, 1, "dpd-disabled", "pfs-disabled", "phase1-lifetime", "phase2-lifetime"),
		"strongswan-ipsecconf-ikev1-net2net-psk-moon.txt":           W("strongswan-ipsec.conf", 3600, 1200, 1, "dpd-disabled", "pfs-disabled", "phase1-lifetime", "phase2-lifetime"),
		"strongswan-ipsecconf-ikev2-net2net-psk-moon.txt":           W("strongswan-ipsec.conf", 3600, 1200, 1, "dpd-disabled", "pfs-disabled", "phase1-lifetime", "phase2-lifetime"),
		"strongswan-swanctl-dpd-restart-carol.txt":                  W("strongswan-swanctl", 15840, 3960, 1, "ikev2-hourly-drop", "no-psk", "phase1-lifetime", "phase1-proposal", "phase2-proposal"),
		"strongswan-swanctl-net2net-multicast-moon-two-ts.txt":      W("strongswan-swanctl", 12240, 5940, 4, "dpd-disabled", "multiple-sa-pairs", "no-psk", "phase1-lifetime", "phase1-proposal", "phase2-lifetime", "phase2-proposal"),
		"strongswan-swanctl-net2net-psk-fail-moon-wrong-psk.txt":    W("strongswan-swanctl", 12240, 5940, 1, "dpd-disabled", "phase1-lifetime", "phase1-proposal", "phase2-lifetime", "phase2-proposal"),
		"strongswan-swanctl-net2net-psk-fail-sun.txt":               W("strongswan-swanctl", 12240, 5940, 1, "dpd-disabled", "phase1-lifetime", "phase1-proposal", "phase2-lifetime", "phase2-proposal"),
		"strongswan-swanctl-net2net-psk-moon.txt":                   W("strongswan-swanctl", 12240, 5940, 1, "dpd-disabled", "phase1-lifetime", "phase1-proposal", "phase2-lifetime", "phase2-proposal"),
		"strongswan-swanctl-net2net-rekey-moon-short-lifetimes.txt": W("strongswan-swanctl", 15840, 10, 1, "dpd-disabled", "no-psk", "phase1-lifetime", "phase1-proposal", "phase2-lifetime", "phase2-proposal"),
		"yamaha-aws-sample-rtx.txt":                                 W("yamaha-cli", -1, -1, -1, "unknown-format"),
	}
	files := fixtures.Files(t, "configs")
	if len(files) != len(tests) {
		t.Errorf("%d fixture configs, %d expectations", len(files), len(tests))
	}
	for _, p := range files {
		name := filepath.Base(p)
		t.Run(name, func(t *testing.T) {
			w, ok := tests[name]
			if !ok {
				t.Fatal("no expectation for this fixture")
			}
			r := MustAnalyze(t, name, fixtures.MustRead(t, p), nil)
			if r.Format != w.format {
				t.Errorf("format %q, want %q", r.Format, w.format)
			}
			if got := codes(r); !slices.Equal(got, w.codes) && !(len(got) == 0 && len(w.codes) == 0) {
				t.Errorf("codes %v, want %v", got, w.codes)
			}
			if r.Config != nil && len(r.Config.Tunnels) > 0 {
				tun := r.Config.Tunnels[0]
				if w.p1 >= 0 && (!tun.Phase1.Lifetime.Known() || int64(tun.Phase1.Lifetime.V.Seconds()) != w.p1) {
					t.Errorf("phase 1 lifetime %s, want %d s", tun.Phase1.Lifetime, w.p1)
				}
				if w.p2 >= 0 && (!tun.Phase2.Lifetime.Known() || int64(tun.Phase2.Lifetime.V.Seconds()) != w.p2) {
					t.Errorf("phase 2 lifetime %s, want %d s", tun.Phase2.Lifetime, w.p2)
				}
				if w.pairs >= 0 && len(tun.Selectors) != w.pairs {
					t.Errorf("%d selector pairs, want %d", len(tun.Selectors), w.pairs)
				}
			}
			for _, f := range r.Findings {
				if f.KBArticle == "" || f.Fix == "" || !strings.Contains(f.Detail, f.KBArticle) {
					t.Errorf("finding %s lacks a kb article, fix or why", f.Code)
				}
			}
			checkGolden(t, "configs/"+name, golden(r))
		})
	}
}

func TestFixtureLogs(t *testing.T) {
	for _, p := range fixtures.Files(t, "logs") {
		name := filepath.Base(p)
		t.Run(name, func(t *testing.T) {
			r := MustAnalyze(t, name, fixtures.MustRead(t, p), nil)
			if r.Kind != vpndiag.EvidenceLog || r.Format == "" || len(r.Findings) == 0 {
				t.Errorf("kind %s format %q findings %d", r.Kind, r.Format, len(r.Findings))
			}
			checkGolden(t, "logs/"+name, golden(r))
		})
	}
}
