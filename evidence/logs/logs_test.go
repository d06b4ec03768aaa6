package logs_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag/evidence/internal/fixtures"
	"github.com/vpndiag/vpndiag/evidence/logs"
	"github.com/vpndiag/vpndiag/kb"
)

// MustAnalyze analyses text or fails the test.
func MustAnalyze(tb testing.TB, name string, text []byte) *logs.Result {
	tb.Helper()
	r, err := logs.Analyze(context.Background(), name, bytes.NewReader(text))
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

func codes(r *logs.Result) []string {
	var out []string
	for _, f := range r.Findings {
		out = append(out, f.Code)
	}
	sort.Strings(out)
	return out
}

// TestFixtureLogs checks the findings of every fixture log against the
// ground truth in the fixtures' SOURCES.md.
func TestFixtureLogs(t *testing.T) {
	want := map[string]struct {
		family string
		codes  []string
	}{
		"cisco-asa-debug-mm-wait-msg4-invalid-cookie.txt":                          {"cisco-asa", []string{kb.CodeAuthFailed}},
		"cisco-asa-syslog-no-matching-crypto-map-for-proxy.txt":                    {"cisco-asa", []string{kb.CodeTSUnacceptable}},
		"cisco-ios-debug-crypto-isakmp-phase2-proposal-not-chosen.txt":             {"cisco-ios", []string{kb.CodePhase2NoProposal}},
		"fortigate-eventlog-ipsec-dpd-failure.txt":                                 {"fortigate-event", []string{kb.CodeDPDPeerDead}},
		"fortigate-eventlog-ipsec-phase1-peer-sa-proposal-not-match.txt":           {"fortigate-event", []string{kb.CodePhase1NoProposal}},
		"libreswan-pluto-ikev1-dpd-declaring-peer-dead.txt":                        {"libreswan-pluto", []string{kb.CodeDPDPeerDead}},
		"libreswan-pluto-ikev1-quick-mode-no-proposal-chosen.txt":                  {"libreswan-pluto", []string{kb.CodePhase2NoProposal}},
		"libreswan-pluto-ikev2-authentication-failed-initiator.txt":                {"libreswan-pluto", []string{kb.CodeAuthFailed}},
		"libreswan-pluto-ikev2-create-child-sa-ts-unacceptable.txt":                {"libreswan-pluto", []string{kb.CodeTSUnacceptable}},
		"libreswan-pluto-ikev2-ike-auth-ts-unacceptable-testsuite.txt":             {"libreswan-pluto", []string{kb.CodeTSUnacceptable}},
		"libreswan-pluto-ikev2-sa-init-no-proposal-chosen-retransmit.txt":          {"libreswan-pluto", []string{kb.CodePhase1NoProposal}},
		"libreswan-pluto-ikev2-sa-init-retransmit-timeout.txt":                     {"libreswan-pluto", []string{kb.CodeIKENoResponse}},
		"strongswan-charon-dpd-giving-up-after-retransmits-newest-first.txt":       {"strongswan-charon", []string{kb.CodeDPDPeerDead, kb.CodeIKENoResponse}},
		"strongswan-charon-esp-proposal-mismatch-no-proposal-chosen.txt":           {"strongswan-charon", []string{kb.CodePhase2NoProposal}},
		"strongswan-charon-ike-proposal-mismatch-no-proposal-chosen.txt":           {"strongswan-charon", []string{kb.CodePhase1NoProposal}},
		"strongswan-charon-ikev1-psk-mismatch-pld-mal-cisco-peer.txt":              {"strongswan-charon", []string{kb.CodeAuthFailed}},
		"strongswan-charon-ikev1-retransmits-peer-not-responding.txt":              {"strongswan-charon", []string{kb.CodeIKENoResponse}},
		"strongswan-charon-ikev2-child-rekey-collision-temp-fail.txt":              {"strongswan-charon", []string{kb.CodeRekeyFailed}},
		"strongswan-charon-ikev2-child-rekey-policy-install-failure-cisco-asa.txt": {"strongswan-charon", []string{kb.CodeRekeyFailed}},
		"strongswan-charon-ikev2-sa-init-retransmits-udp500.txt":                   {"strongswan-charon", []string{kb.CodeIKENoResponse}},
		"strongswan-charon-psk-mismatch-authentication-failed.txt":                 {"strongswan-charon", []string{kb.CodeAuthFailed}},
		"strongswan-charon-ts-unacceptable.txt":                                    {"strongswan-charon", []string{kb.CodeTSUnacceptable}},
	}
	files := fixtures.Files(t, "logs")
	if len(files) != len(want) {
		t.Errorf("%d fixture logs, %d expectations: a fixture was added or removed", len(files), len(want))
	}
	for _, p := range files {
		name := filepath.Base(p)
		t.Run(name, func(t *testing.T) {
			w, ok := want[name]
			if !ok {
				t.Fatal("no expectation for this fixture")
			}
			r := MustAnalyze(t, name, fixtures.MustRead(t, p))
			got := codes(r)
			sort.Strings(w.codes)
			if !slices.Equal(got, w.codes) {
				for _, f := range r.Findings {
					t.Logf("%s %s", f.Code, f.Summary)
				}
				t.Errorf("codes %v, want %v", got, w.codes)
			}
			if r.Family != w.family {
				t.Errorf("family %q, want %q", r.Family, w.family)
			}
			for _, f := range r.Findings {
				if f.KBArticle == "" || f.Fix == "" || f.Detail == "" || len(f.Evidence) == 0 {
					t.Errorf("finding %s lacks article, fix, detail or evidence", f.Code)
				}
				if !strings.HasPrefix(f.Summary, name+":") {
					t.Errorf("summary %q does not start with file:line", f.Summary)
				}
			}
		})
	}
}

// TestCloudTunnelLog uses lines built from the AWS tunnel-log message
// catalogue (reference/aws-s2s-vpn-tunnel-log-message-catalogue.md) in the
// JSON shape of the tunnel log.
func TestCloudTunnelLog(t *testing.T) {
	line := func(ts int64, msg string) string {
		return fmt.Sprintf(`{"event_timestamp": %d, "details": %q, "dpd_enabled": true, "nat_t_detected": false, "ike_phase1_state": "established", "ike_phase2_state": "down"}`, ts, msg)
	}
	tests := []struct {
		msg  string
		want []string
	}{
		{"AWS tunnel detected a pre-shared key mismatch with cgw: 203.0.113.7", []string{kb.CodeAuthFailed}},
		{"AWS tunnel payload decryption was unsuccessful due to invalid Pre-shared Key", []string{kb.CodeAuthFailed}},
		{"AWS tunnel is sending AUTHENTICATION_FAILED as the response", []string{kb.CodeAuthFailed}},
		{"No Proposal Match Found by AWS", []string{kb.CodePhase1NoProposal}},
		{`No Proposal Match Found. Notifying with "No proposal chosen"`, []string{kb.CodePhase2NoProposal}},
		{"AWS: Traffic Selector: TS_UNACCEPTABLE: received from responder", []string{kb.CodeTSUnacceptable}},
		{"AWS tunnel DPD timed out after 3 retransmits", []string{kb.CodeDPDPeerDead}},
		{"Peer is not responsive - Declaring peer dead", []string{kb.CodeDPDPeerDead}},
		{"AWS tunnel Timeout: deleting un-established Phase 1 IKE_SA with cgw: 203.0.113.7", []string{kb.CodeIKENoResponse}},
		{"AWS tunnel detected a (CHILD_REKEY) collision as CHILD_DELETE", []string{kb.CodeRekeyFailed}},
		{"AWS tunnel Phase 2 was unable to establish while keeping Phase 1", []string{kb.CodePhase2NoProposal}},
		{"AWS tunnel processed request (id=12) for CREATE_CHILD_SA", nil},
	}
	for _, tt := range tests {
		t.Run(tt.msg, func(t *testing.T) {
			r := MustAnalyze(t, "tunnel.log", []byte(line(1611780218, tt.msg)+"\n"))
			if got := codes(r); !slices.Equal(got, tt.want) {
				t.Errorf("codes %v, want %v", got, tt.want)
			}
			if r.Family != "aws-tunnel-log" {
				t.Errorf("family %q", r.Family)
			}
		})
	}
}

// TestPaloAltoLog uses lines written in the shape of PAN-OS system and
// ikemgr logs (no public excerpt was found for the fixtures).
func TestPaloAltoLog(t *testing.T) {
	tests := []struct {
		line string
		want []string
	}{
		{"2024/03/04 10:11:12 info vpn gw-aws ike-nego-p1-fail 0 IKE phase-1 negotiation is failed as initiator, main mode. Failed SA: 198.51.100.2[500]-203.0.113.9[500] cookie:1a2b:0000. Due to timeout.", []string{kb.CodeIKENoResponse}},
		{"2024/03/04 10:11:12 info vpn gw-aws ike-nego-p2-fail 0 IKE phase-2 negotiation is failed as initiator, quick mode. Failed SA: 198.51.100.2[500]-203.0.113.9[500] message id:0x1234. Due to no suitable proposal found in peer's SA payload.", []string{kb.CodePhase2NoProposal}},
		{"2024-03-04 10:11:12.345 +0000 [PERR]: { 1: }: 198.51.100.2[500] - 203.0.113.9[500]:(nil) no suitable proposal found in peer's SA payload. phase-1 negotiation", []string{kb.CodePhase1NoProposal}},
		{"2024-03-04 10:11:12.345 +0000 [PERR]: { 2: }: Authentication failure: pre-shared key mismatch with peer 203.0.113.9", []string{kb.CodeAuthFailed}},
	}
	for _, tt := range tests {
		r := MustAnalyze(t, "ikemgr.log", []byte(tt.line+"\n[PNTF]: ikemgr started\n"))
		if got := codes(r); !slices.Equal(got, tt.want) {
			t.Errorf("%q: codes %v, want %v", tt.line, got, tt.want)
		}
	}
}

func TestPeriodicDrop(t *testing.T) {
	var b strings.Builder
	start := time.Date(0, 6, 1, 8, 0, 3, 0, time.UTC)
	for i := 0; i < 6; i++ {
		ts := start.Add(time.Duration(i) * 60 * time.Minute).Add(time.Duration(i%2) * 40 * time.Second)
		fmt.Fprintf(&b, "%s gw charon: 09[IKE] <aws|1> sending DPD request\n", ts.Format("Jan _2 15:04:05"))
		fmt.Fprintf(&b, "%s gw charon: 09[IKE] <aws|1> giving up after 5 retransmits\n", ts.Add(20*time.Second).Format("Jan _2 15:04:05"))
		fmt.Fprintf(&b, "%s gw charon: 09[IKE] <aws|1> IKE_SA aws[1] established between 1.2.3.4[1.2.3.4]...5.6.7.8[5.6.7.8]\n", ts.Add(30*time.Second).Format("Jan _2 15:04:05"))
	}
	r := MustAnalyze(t, "hourly.log", []byte(b.String()))
	var f *struct{ article, fix string }
	for _, x := range r.Findings {
		if x.Code == kb.CodePeriodicDrop {
			f = &struct{ article, fix string }{x.KBArticle, x.Fix}
		}
	}
	if f == nil {
		t.Fatalf("no periodic-drop finding: %v", codes(r))
	}
	if f.article != kb.ArticleIKEv2HourlyDrop || !strings.Contains(f.fix, "51 minutes") {
		t.Errorf("hourly drops: article %q fix %q", f.article, f.fix)
	}
	if r.DropPeriod < 59*time.Minute || r.DropPeriod > 61*time.Minute {
		t.Errorf("period %s", r.DropPeriod)
	}
	// Irregular drops are not periodic.
	var irr strings.Builder
	for i, m := range []int{0, 7, 90, 95, 300, 302} {
		ts := start.Add(time.Duration(m) * time.Minute)
		fmt.Fprintf(&irr, "%s gw charon: DPD: No response from peer - declaring peer dead %d\n", ts.Format("Jan _2 15:04:05"), i)
	}
	if r := MustAnalyze(t, "irregular.log", []byte(irr.String())); slices.Contains(codes(r), kb.CodePeriodicDrop) {
		t.Error("irregular drops reported as periodic")
	}
}

func TestTimestamp(t *testing.T) {
	tests := []struct {
		line string
		want string
	}{
		{"Jun 23 08:16:10 charon[3789]: x", "0000-06-23 08:16:10"},
		{"Sep  8 11:18:20 creating rekey job", "0000-09-08 11:18:20"},
		{"Nov 20 15:30:40.865668: \"testconn\"", "0000-11-20 15:30:40"},
		{"Jun 10 2010 17:36:05: %ASA-7-715077: x", "2010-06-10 17:36:05"},
		{"date=2024-12-20 time=14:56:10 eventtime=1", "2024-12-20 14:56:10"},
		{`{"event_timestamp": 1611780218, "details": "x"}`, "2021-01-27 20:43:38"},
		{"2024/03/04 10:11:12 info vpn", "2024-03-04 10:11:12"},
		{"2024-03-04T10:11:12Z x", "2024-03-04 10:11:12"},
		{"ISAKMP:(0): no time here", ""},
	}
	for _, tt := range tests {
		ts, ok := logs.Timestamp([]byte(tt.line))
		got := ""
		if ok {
			got = ts.Format("2006-01-02 15:04:05")
		}
		if got != tt.want {
			t.Errorf("%q: %q, want %q", tt.line, got, tt.want)
		}
	}
}

func TestBadInput(t *testing.T) {
	tests := []struct {
		name  string
		in    []byte
		lines int64
	}{
		{"empty", nil, 0},
		{"no newline at end", []byte("received AUTHENTICATION_FAILED notify error"), 1},
		{"CRLF", []byte("a\r\nreceived AUTHENTICATION_FAILED notify error\r\n"), 2},
		{"binary", []byte{0, 1, 2, 0xff, '\n', 0xfe}, 2},
		{"long line", append(bytes.Repeat([]byte("x"), 3<<20), []byte("\nreceived AUTHENTICATION_FAILED notify error\n")...), 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := MustAnalyze(t, "in.log", tt.in)
			if r.Lines != tt.lines {
				t.Errorf("lines %d, want %d", r.Lines, tt.lines)
			}
			if bytes.Contains(tt.in, []byte("AUTHENTICATION_FAILED")) {
				if got := codes(r); !slices.Equal(got, []string{kb.CodeAuthFailed}) {
					t.Errorf("codes %v", got)
				}
				if f := r.Findings[0]; f.Evidence[0].Line != int(tt.lines) {
					t.Errorf("line %d, want %d", f.Evidence[0].Line, tt.lines)
				}
				if strings.Contains(r.Findings[0].Evidence[0].Text, "\r") {
					t.Error("CR kept in evidence text")
				}
			} else if len(r.Findings) != 0 {
				t.Errorf("findings on %s: %v", tt.name, codes(r))
			}
		})
	}
	if r := MustAnalyze(t, "long.log", append(bytes.Repeat([]byte("y"), 3<<20), '\n')); r.LongLines != 1 {
		t.Errorf("long lines %d", r.LongLines)
	}
}

func TestCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := logs.Analyze(ctx, "x", strings.NewReader("a\n")); err == nil {
		t.Fatal("no error from a cancelled context")
	}
}

func FuzzAnalyzeLog(f *testing.F) {
	for _, p := range fixtures.Files(f, "logs") {
		f.Add(fixtures.MustRead(f, p))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := logs.Analyze(context.Background(), "fuzz.log", bytes.NewReader(in))
		if err != nil {
			t.Fatal(err)
		}
		if want := int64(bytes.Count(in, []byte("\n"))); r.Lines != want && r.Lines != want+1 {
			t.Fatalf("lines %d for %d newlines", r.Lines, want)
		}
		for _, f := range r.Findings {
			if f.Code == "" || f.Severity.Rank() == 0 {
				t.Fatalf("bad finding %+v", f)
			}
		}
	})
}

// Syslog timestamps carry no year: the range still has an end.
func TestYearlessTimeRange(t *testing.T) {
	r := MustAnalyze(t, "charon.log", []byte(
		"Mar  1 01:00:00 gw charon: 09[IKE] <aws-1|8> giving up after 5 retransmits\n"+
			"Mar  1 02:00:00 gw charon: 09[IKE] <aws-1|9> giving up after 5 retransmits\n"))
	if r.First.IsZero() || r.Last.IsZero() || !r.Last.After(r.First) || r.Last.Sub(r.First) != time.Hour {
		t.Fatalf("range = %v .. %v, want one hour", r.First, r.Last)
	}
}

// TestIKEUnansweredNamesPeer: the first IKE message unanswered names the
// address charon sent it to, so that a peer address that is not the cloud's
// endpoint shows in the finding itself; without an "initiating" line the
// finding keeps its general wording.
func TestIKEUnansweredNamesPeer(t *testing.T) {
	retx := `2026-12-03T13:25:34 12[ENC] <customer|11> generating IKE_SA_INIT request 0 [ SA KE No N(NATD_S_IP) N(NATD_D_IP) ]
2026-12-03T13:25:35 16[IKE] <customer|11> retransmit 1 of request with message ID 0
2026-12-03T13:25:36 14[IKE] <customer|11> retransmit 2 of request with message ID 0
2026-12-03T13:25:38 10[IKE] <customer|11> retransmit 3 of request with message ID 0
2026-12-03T13:25:41 12[IKE] <customer|11> giving up after 3 retransmits
`
	tests := []struct {
		name, log, want string
	}{
		{"ikev2", "2026-12-03T13:25:34 12[IKE] <customer|11> initiating IKE_SA customer[11] to 203.0.113.11\n" + retx,
			"first IKE message to 203.0.113.11 was retransmitted"},
		{"ikev1", "2026-12-03T13:25:34 12[IKE] <customer|11> initiating Main Mode IKE_SA customer[11] to 198.51.100.7\n" + retx,
			"or 198.51.100.7 not the cloud's VPN endpoint"},
		{"no initiating line", retx, "first IKE message was retransmitted 3 times"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := MustAnalyze(t, "charon.log", []byte(tt.log))
			var got string
			for _, f := range r.Findings {
				if f.Code == kb.CodeIKENoResponse {
					got = f.Summary
				}
			}
			if !strings.Contains(got, tt.want) {
				t.Errorf("ike-no-response summary %q, want it to contain %q (findings %v)", got, tt.want, codes(r))
			}
		})
	}
}
