package evidence_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/evidence"
	"github.com/vpndiag/vpndiag/internal/fixtures"
	"github.com/vpndiag/vpndiag/kb"
)

// realWorldLogVerdicts is the verdict of SOURCES.md for each real-world log,
// as finding codes: what a network engineer says is wrong, no more.
var realWorldLogVerdicts = map[string][]string{
	"r15_libreswan-authfail-missing-psk-west.console.txt":            {kb.CodeAuthFailed},
	"r16_libreswan-ts-unacceptable-west.console.txt":                 {kb.CodeTSUnacceptable},
	"r17_libreswan-ikev1-quickmode-noproposal-west.console.txt":      {kb.CodePhase2NoProposal},
	"r18_libreswan-dpd-hold-west.console.txt":                        {kb.CodeDPDPeerDead},
	"r19_libreswan-mainmode-retransmit-timeout-west.console.txt":     {kb.CodeIKENoResponse},
	"r42_pfsense-docs-charon-ikev1-psk-mismatch.log":                 {kb.CodeAuthFailed},
	"r43_pfsense-docs-charon-phase1-enc-mismatch.log":                {kb.CodePhase1NoProposal},
	"r44_pfsense-docs-charon-phase2-network-mismatch.log":            {kb.CodeTSUnacceptable},
	"r45_pfsense-docs-charon-phase2-pfs-mismatch.log":                {kb.CodePhase2NoProposal},
	"r46_pfsense-docs-ipsec-troubleshooting-full.rst":                {kb.CodeAuthFailed, kb.CodePhase1NoProposal, kb.CodePhase2NoProposal, kb.CodeTSUnacceptable},
	"r47_asa-syslog-aws-crypto-map-policy-not-found.log":             {kb.CodeTSUnacceptable},
	"r48_libreswan-issue1794-authfail-whack.log":                     {kb.CodeAuthFailed},
	"r49_libreswan-issue913-parent-i1-retransmits.log":               {kb.CodeIKENoResponse},
	"r50_libreswan-issue294-v2n-no-proposal-chosen.log":              {kb.CodePhase1NoProposal},
	"r52_flutter_vpn-issue59-android-charon-peer-not-responding.log": {kb.CodeIKENoResponse},
	"r53_algo-issue721-charon-no-proposal-child.log":                 {kb.CodePhase2NoProposal},
	"r54_openswan-issue191-quick-i1-retransmit.log":                  {kb.CodePhase2NoProposal},
	"r55_libreswan-issue2184-ike-sa-init-timeout.log":                {kb.CodeIKENoResponse},
	"r56_setup-ipsec-vpn-issue1574-established-ike-timeout.log":      {kb.CodeDPDPeerDead},
	"r57_opnsense-issue3821-charon-newest-first.log":                 {kb.CodeDPDPeerDead, kb.CodeIKENoResponse},
}

// realWorldVendors reads the vendor column of SOURCES.md by file name.
func realWorldVendors(t *testing.T, dir string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "SOURCES.md"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		cols := strings.Split(line, "|")
		if len(cols) < 7 {
			continue
		}
		file := strings.TrimSpace(cols[1])
		if !strings.HasPrefix(file, "logs/") {
			continue
		}
		out[strings.TrimPrefix(file, "logs/")] = strings.TrimSpace(cols[5])
	}
	return out
}

// TestRealWorldLogs analyses every real-world log (read from the shared
// fixtures, never copied here): each is recognised as a log of a known
// format, its findings are the SOURCES.md verdict (no more, no less), and
// no listed secret appears in the report (as stored, JSON) or the redacted
// text. With -v it
// prints the per-vendor score.
func TestRealWorldLogs(t *testing.T) {
	dir, secrets := fixtures.RealWorld(t)
	vendors := realWorldVendors(t, dir)
	files, err := filepath.Glob(filepath.Join(dir, "logs", "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no real-world logs in %s: %v", dir, err)
	}
	if len(files) != len(realWorldLogVerdicts) {
		t.Errorf("%d real-world logs, %d verdicts: a file was added or removed", len(files), len(realWorldLogVerdicts))
	}
	type score struct{ files, right, wrong, missed int }
	byVendor := map[string]*score{}
	for _, path := range files {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			want, ok := realWorldLogVerdicts[name]
			if !ok {
				t.Fatal("no verdict for this file")
			}
			vendor := vendors[name]
			if vendor == "" {
				t.Errorf("%s is not in SOURCES.md", name)
			}
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var red bytes.Buffer
			r, err := evidence.AnalyzeWith(context.Background(), name, bytes.NewReader(raw), nil, evidence.Options{Redacted: &red})
			if err != nil {
				t.Fatal(err)
			}
			if r.Kind != vpndiag.EvidenceLog || r.Format == "" {
				t.Errorf("not recognised as a log: kind %q format %q, not understood %q", r.Kind, r.Format, r.NotUnderstood)
			}
			got := map[string]bool{}
			for _, f := range r.Findings {
				if f.Code == kb.CodeUnknownFormat {
					t.Errorf("format not recognised: %s", f.Summary)
				}
				got[f.Code] = true
				if len(f.Evidence) == 0 || f.KBArticle == "" || f.Fix == "" {
					t.Errorf("finding %s lacks evidence, article or fix", f.Code)
				}
			}
			s := byVendor[vendor]
			if s == nil {
				s = &score{}
				byVendor[vendor] = s
			}
			s.files++
			for _, c := range want {
				if got[c] {
					s.right++
				} else {
					s.missed++
					t.Errorf("missed %s", c)
				}
			}
			var extra []string
			for c := range got {
				if !slices.Contains(want, c) {
					extra = append(extra, c)
				}
			}
			sort.Strings(extra)
			for _, c := range extra {
				s.wrong++
				for _, f := range r.Findings {
					if f.Code == c {
						t.Errorf("wrong finding %s: %s", c, f.Summary)
					}
				}
			}
			out, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			// This file's secrets, and any long one of another file (a
			// short one such as "1234" is also an ordinary number).
			var check []string
			for file, ss := range secrets {
				for _, sec := range ss {
					if file == name || len(sec) >= 8 {
						check = append(check, sec)
					}
				}
			}
			for _, sec := range check {
				if bytes.Contains(out, []byte(sec)) || bytes.Contains(red.Bytes(), []byte(sec)) {
					t.Errorf("secret %q of secrets.txt in the output", sec)
				}
			}
		})
	}
	var names []string
	for v := range byVendor {
		names = append(names, v)
	}
	sort.Strings(names)
	var b strings.Builder
	fmt.Fprintf(&b, "%-50s %5s %5s %5s %6s\n", "vendor (SOURCES.md)", "files", "right", "wrong", "missed")
	for _, v := range names {
		s := byVendor[v]
		fmt.Fprintf(&b, "%-50s %5d %5d %5d %6d\n", v, s.files, s.right, s.wrong, s.missed)
	}
	t.Log("real-world logs:\n" + b.String())
}

// TestRelayedLogsRecognised: logs that went through a syslog relay (RFC
// 3164 or 5424 prefixes with relay host names or addresses and sequence
// numbers) are recognised as the device's log, not "format not recognised".
func TestRelayedLogsRecognised(t *testing.T) {
	tests := []struct {
		name, format string
		lines        []string
	}{
		{"charon via RFC 5424", "strongswan-charon", []string{
			"<134>1 2024-03-04T10:11:12.345Z relay01.example.net charon 1234 - - 09[IKE] <cloud|1> initiating IKE_SA cloud[1] to 203.0.113.10",
			"<134>1 2024-03-04T10:11:16.345Z relay01.example.net charon 1234 - - 10[IKE] <cloud|1> retransmit 1 of request with message ID 0",
		}},
		{"ASA via RFC 3164 with a sequence number", "cisco-asa", []string{
			"<166>Mar  4 10:11:12 10.20.30.40 1523: Mar 04 2024 10:11:12: %ASA-5-713119: Group = 203.0.113.10, IP = 203.0.113.10, PHASE 1 COMPLETED",
			"<166>Mar  4 10:11:12 10.20.30.40 1524: Mar 04 2024 10:11:12: %ASA-3-713061: Group = 203.0.113.10, IP = 203.0.113.10, Rejecting IPSec tunnel: no matching crypto map entry for remote proxy 10.0.0.0/255.255.0.0/0/0 local proxy 192.168.10.0/255.255.255.0/0/0 on interface outside",
		}},
		{"IOS via a relay with sequence numbers", "cisco-ios", []string{
			"Mar  4 10:11:12 rtr01.example.net 812: 000812: *Mar  4 10:11:12.345: %CRYPTO-5-SESSION_STATUS: Crypto tunnel is DOWN. Peer 203.0.113.10:500  Id: 203.0.113.10",
			"Mar  4 10:11:42 rtr01.example.net 813: 000813: *Mar  4 10:11:42.345: %CRYPTO-5-SESSION_STATUS: Crypto tunnel is UP  .  Peer 203.0.113.10:500  Id: 203.0.113.10",
		}},
		{"Junos kmd via a relay", "juniper-kmd", []string{
			"Mar  4 10:11:12 relay01 Mar  4 10:11:12 srx01 kmd[1790]: KMD_VPN_DOWN_ALARM_USER: VPN to-cloud from 203.0.113.10 is down. Local-ip: 198.51.100.2, gateway name: gw-cloud, vpn name: to-cloud, tunnel-id: 131073",
		}},
		{"PAN-OS syslog CSV via a relay", "paloalto", []string{
			`Mar  4 10:11:12 10.20.30.41 1,2024/03/04 10:11:12,007200001234,SYSTEM,vpn,0,2024/03/04 10:11:12,,ike-nego-p1-fail,gw-cloud,0,0,general,informational,"IKE phase-1 negotiation is failed as initiator, main mode. Failed SA: 198.51.100.2[500]-203.0.113.10[500] cookie:1a2b3c4d5e6f7a8b:0000000000000000. Due to timeout.",1234,0x0,0,0,0,0,,PA-VM`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := strings.Join(tt.lines, "\n") + "\n"
			r, err := evidence.Analyze(context.Background(), "relayed.log", strings.NewReader(in), nil)
			if err != nil {
				t.Fatal(err)
			}
			if r.Kind != vpndiag.EvidenceLog || r.Format != tt.format {
				t.Errorf("kind %q format %q, want log %q (not understood %q)", r.Kind, r.Format, tt.format, r.NotUnderstood)
			}
			if r.Log == nil || r.Log.First.IsZero() {
				t.Error("no time read behind the relay's prefix")
			}
		})
	}
}
