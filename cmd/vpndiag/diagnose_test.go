package main_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/storage/sqlite"
)

// diagnoseResult is the JSON of `vpndiag diagnose --format json`.
type diagnoseResult struct {
	Case       string   `json:"case"`
	Status     string   `json:"status"`
	Finished   bool     `json:"finished"`
	Flow       string   `json:"flow"`
	State      string   `json:"state"`
	Resolution string   `json:"resolution"`
	KBArticle  string   `json:"kb_article"`
	Path       []string `json:"path"`
	Answers    []struct {
		Step, Answer string
	} `json:"answers"`
	Export string `json:"export"`
}

// MustDiagnose runs diagnose with an answers file on db and decodes the
// JSON result.
func MustDiagnose(t *testing.T, db string, answers []string, args ...string) (diagnoseResult, result) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "answers.txt")
	if err := os.WriteFile(file, []byte(strings.Join(answers, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := MustRun(t, "", nil, append([]string{"diagnose", "--db", db, "--answers", file, "--format", "json", "--manual-probes"}, args...)...)
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	var res diagnoseResult
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, r.stdout)
	}
	return res, r
}

// TestDiagnoseGuideSections walks one row per section of the guide from
// triage, non-interactively, to the resolution that section leads to.
func TestDiagnoseGuideSections(t *testing.T) {
	tests := []struct {
		section string
		answers []string
		want    string
		kb      string
	}{
		{"DNS conditional forwarder for the cloud domain", []string{"names", "env_names", "myenv.example.com", "10.0.0.2", "private", "192.168.1.53", "public"}, "dns.revise_forwarder", "dns-conditional-forwarder"},
		{"cloud DNS service down (refused)", []string{"names", "env_names", "myenv.example.com", "10.0.0.2", "refused"}, "dns.dns_down", "further-assistance"},
		{"cloud resolving the customer's internal domain", []string{"names", "internal_names", "no", "company.local", "192.168.1.53", "53"}, "dns.request_forwarder", "cloud-resolves-internal-domain"},
		{"database private IP through the cloud DNS", []string{"names", "database", "db.example.com", "10.0.0.2", "private"}, "dns.use_cloud_dns", "database-private-ip"},
		{"constant inbound traffic (responder-only)", []string{"unstable", "idle", "no"}, "stability.keepalive_fix", "responder-only-keepalive"},
		{"single SA pair, policy-based", []string{"unstable", "some_subnets", "policy"}, "stability.sa_policy", "single-sa-pair"},
		{"single SA pair, route-based", []string{"tunnel_down", "skip", "10.0.0.2", "no_reply", "no_child", "yes", "route"}, "tunnel.sa_route", "single-sa-pair"},
		{"two tunnels, static active/passive with DPD", []string{"unstable", "both", "static"}, "stability.active_passive", "two-tunnels-asymmetric-routing"},
		{"two tunnels, BGP prepending / local preference", []string{"unstable", "both", "bgp"}, "stability.bgp_preference", "two-tunnels-asymmetric-routing"},
		{"DPD and idle timeouts", []string{"unstable", "random", "skip", "no"}, "stability.dpd_fix", "dpd-idle-timeouts"},
		{"IKEv2 drop every 60 minutes", []string{"unstable", "hourly", "IKEv2"}, "stability.ikev2_lifetime", "ikev2-hourly-drop"},
		{"ICMP only to the DNS servers", []string{"no_access", "skip", "ping_server"}, "connectivity.icmp_only", "icmp-only-dns"},
		{"connectivity test 1 (ping, traceroute stops, SA counters do not move)", []string{"no_access", "skip", "end_to_end", "10.0.0.2", "no_reply", "192.168.10.5", "yes", "stopped", "no_traffic"}, "connectivity.internal_routing", "connectivity-test-ping-traceroute"},
		{"connectivity test 1 (traceroute stops, SA passes both ways)", []string{"no_access", "skip", "end_to_end", "10.0.0.2", "no_reply", "192.168.10.5", "yes", "stopped", "both_ways"}, "connectivity.vpn_device", "connectivity-test-ping-traceroute"},
		{"ESP blocked (SA out, none in; a restart does not help)", []string{"no_access", "skip", "end_to_end", "10.0.0.2", "no_reply", "192.168.10.5", "yes", "stopped", "no_inbound", "skip", "still_none"}, "connectivity.esp_blocked", "phase2-ipsec-failure"},
		{"half-open tunnel (a restart helps)", []string{"no_access", "skip", "end_to_end", "10.0.0.2", "no_reply", "192.168.10.5", "yes", "stopped", "no_inbound", "skip", "passes"}, "connectivity.dead_peer", "dpd-idle-timeouts"},
		{"connectivity test 2 (TCP fails, name private)", []string{"no_access", "skip", "end_to_end", "10.0.0.2", "replies", "myenv.example.com", "private", "192.168.1.53", "forwarded", "fails"}, "connectivity.tcp_blocked", "connectivity-test-tcp-dns"},
		{"pinging the cloud DNS servers", []string{"no_access", "skip", "ping_dns", "10.0.0.2", "no_reply", "172.16.5.5", "no"}, "connectivity.source_outside", "ping-cloud-dns"},
		{"reaching an external database from the cloud", []string{"cloud_to_us", "external_server", "no"}, "access.allow_full_range", "external-database-firewall"},
		{"connecting from the internal network (DNS port blocked on the way)", []string{"names", "env_names", "myenv.example.com", "10.0.0.2", "no_answer", "replies"}, "dns.allow_dns_port", "connect-from-internal-network"},
		{"why the full internal range", []string{"cloud_to_us", "why_range"}, "access.why_full_range", "full-internal-range"},
		{"front-end private IPs", []string{"cloud_to_us", "frontend_ips"}, "access.frontend_ips", "front-end-private-ips"},
		{"phase 1 IKE failure (NAT)", []string{"tunnel_down", "skip", "10.0.0.2", "no_reply", "no_ike", "203.0.113.10", "replies", "yes"}, "tunnel.nat_fix", "phase1-ike-failure"},
		{"phase 1 IKE failure (UDP 500/4500 blocked)", []string{"tunnel_down", "skip", "10.0.0.2", "no_reply", "no_ike", "203.0.113.10", "replies", "no", "silent"}, "tunnel.udp_blocked", "phase1-ike-failure"},
		{"phase 2 IPsec failure", []string{"tunnel_down", "skip", "10.0.0.2", "no_reply", "no_child", "no"}, "tunnel.phase2_settings", "phase2-ipsec-failure"},
		{"can you reset the tunnels", []string{"8"}, "triage.reset_tunnels", "reset-tunnels"},
		{"configuration file problems", []string{"config_file", "unclear"}, "configfile.device_examples", "configuration-file"},
		{"internal IP range changed, static, console ≥ 11.7.0", []string{"range_changed", "192.168.20.0/24", "static", "yes"}, "rangechange.self_service", "internal-range-changed"},
		{"internal IP range changed, BGP: support case", []string{"range_changed", "192.168.20.0/24", "bgp"}, "rangechange.support_case", "internal-range-changed"},
		{"further assistance", []string{"other"}, "triage.further_assistance", "further-assistance"},
	}
	for _, tt := range tests {
		t.Run(tt.section, func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "vpndiag.db")
			res, r := MustDiagnose(t, db, tt.answers)
			if !res.Finished || res.Resolution != tt.want || res.KBArticle != tt.kb {
				t.Fatalf("ended at %q (%s, finished %v), want %s citing %s\n%s", res.Resolution, res.KBArticle, res.Finished, tt.want, tt.kb, r.stderr)
			}
			if !strings.Contains(r.stderr, "Export the support bundle with: vpndiag export "+res.Case+" --db "+db) {
				t.Fatalf("no export command:\n%s", r.stderr)
			}
			if res.Path[0] != "triage:symptom" || res.Path[len(res.Path)-1] != strings.Replace(tt.want, ".", ":", 1) {
				t.Fatalf("path = %v", res.Path)
			}
		})
	}
}

// TestDiagnoseRestart stops the process mid-flow (end of piped stdin) and
// runs it again on the same database: it continues at the same question.
func TestDiagnoseRestart(t *testing.T) {
	db := filepath.Join(t.TempDir(), "vpndiag.db")
	r := MustRun(t, "no_access\nskip\nend_to_end\n10.0.0.2\n", nil, "diagnose", "--db", db, "--manual-probes")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	m := regexp.MustCompile(`case (VPN-\d{8}-[0-9A-Z]{4}) saved; resume with vpndiag diagnose --case VPN-\d{8}-[0-9A-Z]{4} --db (\S+)`).FindStringSubmatch(r.stdout)
	if m == nil || m[2] != db {
		t.Fatalf("no resume line:\n%s", r.stdout)
	}
	if !strings.HasSuffix(strings.TrimSpace(strings.Split(r.stdout, "\ncase ")[0]), "2. No reply") {
		t.Fatalf("did not stop at the ping question:\n%s", r.stdout)
	}
	// The same question comes first on the second run.
	r = MustRun(t, "", nil, "diagnose", "--db", db, "--case", m[1], "--manual-probes")
	if !strings.Contains(r.stdout, "Resuming case "+m[1]) || !strings.Contains(r.stdout, "[connectivity] Test 1: ping the cloud DNS servers") {
		t.Fatalf("resume:\n%s", r.stdout)
	}
	res, _ := MustDiagnose(t, db, []string{"replies", "myenv.example.com", "private", "192.168.1.53", "forwarded", "connects", "yes"}, "--case", m[1])
	if res.Resolution != "connectivity.tests_pass" || res.Status != "resolved" || len(res.Answers) != 11 {
		t.Fatalf("result = %+v", res)
	}
}

// TestDiagnoseBadInput: each bad input is a clear message, the question is
// asked again or the command exits cleanly, and nothing is stored half.
func TestDiagnoseBadInput(t *testing.T) {
	db := filepath.Join(t.TempDir(), "vpndiag.db")
	res, r := MustDiagnose(t, db, []string{"0", "no_access", "skip", "end_to_end", "10.0.0.256", "10.0.0.2", "maybe", "replies", "my env!", "myenv.example.com", "private", "192.168.1.53", "forwarded", "connects"})
	for _, want := range []string{
		"0 is not one of the choices: type a number from 1 to 9.",
		`"10.0.0.256" is not an IP address`,
		`"maybe" is not one of the choices`,
		`"my env!" is not a DNS name`,
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("conversation lacks %q", want)
		}
	}
	if res.Resolution != "connectivity.tests_pass" || len(res.Answers) != 10 {
		t.Fatalf("result = %+v", res)
	}

	cases := []struct {
		name  string
		stdin string
		args  []string
		code  int
		want  string
	}{
		{"unknown flow", "", []string{"--flow", "nosuch"}, 1, `There is no flow "nosuch"; flows are: triage, access`},
		{"unknown case", "", []string{"--case", "VPN-20260101-ZZZZ"}, 1, "VPN-20260101-ZZZZ"},
		{"bad format", "", []string{"--format", "yaml"}, 2, `--format "yaml" must be text or json`},
		{"migrate without case", "", []string{"--migrate"}, 2, "--migrate needs --case"},
		{"missing answers file", "", []string{"--answers", "/nonexistent/answers.txt"}, 1, "Cannot read the answers file /nonexistent/answers.txt"},
		{"unknown site", "", []string{"--site", "atlantis"}, 1, `There is no saved site profile "atlantis"`},
		{"EOF at the first question", "", nil, 0, "saved; resume with vpndiag diagnose --case"},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			r := MustRun(t, tt.stdin, nil, append([]string{"diagnose", "--manual-probes", "--db", filepath.Join(t.TempDir(), "db")}, tt.args...)...)
			if r.code != tt.code || !strings.Contains(r.stdout+r.stderr, tt.want) {
				t.Fatalf("exit %d, want %d with %q\nstdout: %s\nstderr: %s", r.code, tt.code, tt.want, r.stdout, r.stderr)
			}
		})
	}
}

// TestDiagnoseCorruptedSession: a session whose stored state the flow does
// not have is refused with the --migrate hint; --migrate restarts the flow.
func TestDiagnoseCorruptedSession(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "vpndiag.db")
	res, _ := MustDiagnose(t, dbPath, []string{"unstable"})
	if res.Finished || res.State != "pattern" {
		t.Fatalf("result = %+v", res)
	}
	ctx := context.Background()
	db := sqlite.NewDB(dbPath)
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	cases, sessions := sqlite.NewCaseService(db), sqlite.NewSessionService(db)
	c, err := cases.FindCaseByMarker(ctx, res.Case)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := sessions.FindSession(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	bad := *sess
	bad.State = "vanished_state"
	if err := sessions.ApplyTransition(ctx, &vpndiag.Transition{CaseID: c.ID, FromSeq: sess.Seq, Session: &bad}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	r := MustRun(t, "", nil, "diagnose", "--db", dbPath, "--case", res.Case)
	if r.code != 1 || !strings.Contains(r.stderr, `its stored state "vanished_state" is not a state of flow "stability"`) || !strings.Contains(r.stderr, "--migrate") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	res, _ = MustDiagnose(t, dbPath, []string{"hourly", "v1"}, "--case", res.Case, "--migrate")
	if res.Resolution != "stability.hourly_lifetimes" {
		t.Fatalf("after migrate: %+v", res)
	}
}

// TestDiagnoseSiteFromConfig: a site profile in the config file answers the
// questions it knows.
func TestDiagnoseSiteFromConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "vpndiag.yaml")
	os.WriteFile(cfg, []byte("sites:\n  - name: hq\n    cloud_dns_servers: [10.0.0.2]\n    routing: bgp\n    ike_version: 2\n"), 0o644)
	res, r := MustDiagnose(t, filepath.Join(dir, "db"), []string{"unstable", "hourly"}, "--config", cfg, "--site", "hq")
	if res.Resolution != "stability.ikev2_lifetime" || !strings.Contains(r.stderr, "by site profile (ike_version: 2)") {
		t.Fatalf("result %+v\n%s", res, r.stderr)
	}
}
