package evidence_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/evidence"
	"github.com/vpndiag/vpndiag/internal/fixtures"
	"github.com/vpndiag/vpndiag/kb"
)

// neutral are findings the SOURCES.md verdicts do not score: they judge
// lifetimes, PFS, SA pairs, DPD, PSK and the peer, not the algorithms
// ("md5 transform (not scored)"), and info findings are hints.
func neutral(f *vpndiag.Finding) bool {
	return f.Severity == vpndiag.SeverityInfo && f.Code != kb.CodeNoVPNConfig && f.Code != kb.CodeUnknownFormat ||
		f.Code == kb.CodePhase1Proposal || f.Code == kb.CodePhase2Proposal
}

// TestRealWorldConfigs checks the verdicts of ../shared/fixtures/real-world
// SOURCES.md on every config there: each file is recognised, the findings
// an engineer would expect are present, nothing else is flagged (apart from
// what the verdicts do not score), what is said as a note is said, and no
// secret of secrets.txt appears in the report (JSON or text).
func TestRealWorldConfigs(t *testing.T) {
	dir, secrets := fixtures.RealWorld(t)
	type want struct {
		format string   // detected format
		codes  []string // findings expected, and the only scored ones allowed
		notes  []string // texts expected among NotUnderstood
	}
	const (
		p1, p2, pfs, dpd, pairs, psk = kb.CodePhase1Lifetime, kb.CodePhase2Lifetime, kb.CodePFSDisabled, kb.CodeDPDDisabled, kb.CodeMultipleSAPairs, kb.CodeNoPSK
		none, unknown                = kb.CodeNoVPNConfig, kb.CodeUnknownFormat
	)
	W := func(format string, codes ...string) want { return want{format: format, codes: codes} }
	tests := map[string]want{
		"r01_strongswan-ikev2-net2net-psk-moon.swanctl.conf":         W("strongswan-swanctl", p1, p2, dpd),
		"r02_strongswan-ikev2-net2net-cert-moon.swanctl.conf":        W("strongswan-swanctl", psk, p1, p2, dpd),
		"r03_strongswan-ikev2-dpd-restart-moon.swanctl.conf":         W("strongswan-swanctl", psk, p1),
		"r04_strongswan-ikev2-net2net-rekey-moon.swanctl.conf":       W("strongswan-swanctl", psk, p1, p2, dpd),
		"r05_strongswan-ikev1-net2net-psk-moon.swanctl.conf":         W("strongswan-swanctl", p1, p2, dpd),
		"r06_strongswan-ikev2-stroke-net2net-psk-moon.ipsec.conf":    W("strongswan-ipsec.conf", p1, p2, pfs, dpd),
		"r07_strongswan-ikev2-stroke-net2net-psk-moon.ipsec.secrets": W("ipsec-secrets", none),
		"r08_strongswan-ikev1-stroke-net2net-psk-sun.ipsec.conf":     W("strongswan-ipsec.conf", p1, p2, pfs, dpd),
		"r09_strongswan-route-based-vti-moon.swanctl.conf":           W("strongswan-swanctl", psk, p1, dpd),
		"r10_strongswan-default-ipsec.conf":                          W("strongswan-ipsec.conf", none),
		"r11_libreswan-ikev2-basic-psk-west.conf":                    W("libreswan-ipsec.conf", p2, dpd),
		"r12_libreswan-ikev2-basic-psk-west.secrets":                 W("ipsec-secrets", none),
		"r13_libreswan-dpd-01-ikev1-rsasig-west.conf":                W("libreswan-ipsec.conf", psk, p2),
		"r14_libreswan-multinet-leftsubnets-west.conf":               W("libreswan-ipsec.conf", pairs, psk, p2, dpd),
		"r20_azure-asa-9.2-show-running-config.txt":                  W("cisco-asa-cli", pfs),
		"r21_azure-ios-isr-15.0-policy-based.txt":                    W("cisco-ios-cli", pfs, dpd),
		"r22_azure-ios-asr-15.2-route-based.txt":                     W("cisco-ios-cli", pfs, p1, dpd),
		"r23_azure-fortigate-show-full-configuration.txt":            W("fortigate-cli", p1, pfs),
		"r24_azure-srx-junos12.1-show-configuration.txt":             W("juniper-hierarchical", pfs, p2, dpd),
		"r25_azure-screenos-ssg-6.2-get-config.txt":                  W("juniper-screenos", unknown),
		"r26_azure-openswan-ipsec.conf":                              W("strongswan-ipsec.conf", p1, p2, pfs, dpd),
		"r27_azure-strongswan-5.3.5-ipsec.conf":                      W("strongswan-ipsec.conf", pairs, pfs, p1, dpd),
		"r28_azure-strongswan-5.3.5-ipsec.secrets":                   W("ipsec-secrets", none),
		"r29_azure-srx-junos-10.2-xslt-template-crlf.cfg":            W("juniper-set", pfs, dpd),
		"r30_ciscoconfparse-sample01-asa-no-l2l.asa":                 W("cisco-asa-cli", none),
		"r31_ciscoconfparse-sample08-ios-no-vpn.ios":                 W("cisco-ios-cli", none),
		"r32_paloalto-aws-transit-bootstrap.xml":                     W("paloalto-xml", none),
		"r33_paloalto-set-cli-desafio-meli.sh": {format: "paloalto-set",
			notes: []string{"IKE crypto profile VPN-IKE-PROFILE is not used by any IKE gateway", "lifetime 3600 has no unit"}},
		"r34_fortigate-cli-desafio-meli.sh":                      W("fortigate-cli", p1, p2),
		"r35_pfsense-config-ipsec-4xphase2.xml":                  W("pfsense-xml", pairs, psk),
		"r36_pfsense-config-ipsec-3xphase1.xml":                  W("pfsense-xml", pairs, psk, p1),
		"r37_aws-generated-ios-sample-vpn-03701a53bba3c48b7.txt": W("cisco-ios-cli"),
		"r38_batfish-ios-crypto-ipsec-r1.txt":                    W("cisco-ios-cli"),
		"r39_batfish-junos-set-ipsec-vpn.txt":                    W("juniper-set"),
		"r40_batfish-srx-testbed-junos-srx-1.cfg":                W("juniper-set", dpd),
		"r41_batfish-ios-ipsec-gh-5849.txt":                      {format: "cisco-ios-cli", codes: []string{psk, p1, dpd}, notes: []string{"ipsec profile"}},
		"r51_libreswan-issue294-testconn.conf":                   W("libreswan-ipsec.conf", p2, dpd),
		"r58_libreswan-issue270-asa-peer-rightsubnets.conf":      W("libreswan-ipsec.conf", pairs, p1, p2),
		"r59_yandexcloud-asa-ikev2-vti-template.tpl":             W("cisco-asa-cli", p1, p2, pfs),
		"r60_yandexcloud-mikrotik-chr-template.tpl":              W("mikrotik-routeros", p1, p2, pfs),
		"r61_yandexcloud-strongswan-swanctl-template.tpl":        W("strongswan-swanctl", p1),
		"r62_yamaha-rtx1200-aws-two-tunnels.txt":                 W("yamaha-cli", unknown),
		"r63_strongswan-start-action-templates-sun.swanctl.conf": W("strongswan-swanctl", pfs, pairs, p1, dpd),
	}
	files, err := filepath.Glob(filepath.Join(dir, "configs", "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no configs in %s: %v", dir, err)
	}
	if len(files) != len(tests) {
		t.Errorf("%d real-world configs, %d verdicts", len(files), len(tests))
	}
	for _, p := range files {
		name := filepath.Base(p)
		t.Run(name, func(t *testing.T) {
			w, ok := tests[name]
			if !ok {
				t.Fatal("no verdict for this file")
			}
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			r, err := evidence.AnalyzeWith(context.Background(), name, bytes.NewReader(b), nil, evidence.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if r.Format != w.format {
				t.Errorf("format %q, want %q", r.Format, w.format)
			}
			if r.Kind != vpndiag.EvidenceConfig {
				t.Errorf("kind %s, want config", r.Kind)
			}
			var scored []string
			for _, f := range r.Findings {
				if !neutral(f) {
					scored = append(scored, f.Code)
				}
			}
			for _, c := range w.codes {
				if !slices.Contains(scored, c) {
					t.Errorf("missed %s; findings %v", c, scored)
				}
			}
			for _, f := range r.Findings {
				if !neutral(f) && !slices.Contains(w.codes, f.Code) {
					t.Errorf("false positive: [%s] %s: %s", f.Severity, f.Code, f.Summary)
				}
			}
			notes := strings.Join(r.NotUnderstood, "\n")
			for _, n := range w.notes {
				if !strings.Contains(notes, n) {
					t.Errorf("not said: %q; not understood:\n%s", n, notes)
				}
			}
			js, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range secrets[name] {
				// The redacted copy is evidence/redact's to check (its own
				// real-world test); the report is checked here.
				for what, out := range map[string]string{"JSON report": string(js), "report": golden(r)} {
					if strings.Contains(out, s) {
						t.Errorf("secret %.4s… appears in the %s", s, what)
					}
				}
				if q, _ := json.Marshal(s); bytes.Contains(js, q[1:len(q)-1]) {
					t.Errorf("secret %.4s… appears JSON-escaped in the report", s)
				}
			}
		})
	}
}
