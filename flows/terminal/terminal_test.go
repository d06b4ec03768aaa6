package terminal_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/flows"
	"github.com/vpndiag/vpndiag/flows/terminal"
	"github.com/vpndiag/vpndiag/probes"
	"github.com/vpndiag/vpndiag/storage/sqlite"
)

// MustOpenServices opens a SQLite file at path, closed when the test ends.
func MustOpenServices(tb testing.TB, path string) flows.Services {
	tb.Helper()
	db := sqlite.NewDB(path)
	if err := db.Open(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return flows.Services{
		Cases: sqlite.NewCaseService(db), Sessions: sqlite.NewSessionService(db),
		Events: sqlite.NewEventService(db), Sites: sqlite.NewSiteService(db),
		Findings: sqlite.NewFindingService(db), Probes: sqlite.NewProbeService(db),
		Evidence: sqlite.NewEvidenceService(db),
	}
}

// MustRun runs a Runner with answers as stdin on the database at path and
// returns its result and conversation.
func MustRun(tb testing.TB, path, answers string, opts terminal.Options, prober vpndiag.Prober) (*terminal.Result, string) {
	tb.Helper()
	res, out, err := run(tb, path, answers, opts, prober)
	if err != nil {
		tb.Fatalf("run: %v\n%s", err, out)
	}
	return res, out
}

func run(tb testing.TB, path, answers string, opts terminal.Options, prober vpndiag.Prober) (*terminal.Result, string, error) {
	svc := MustOpenServices(tb, path)
	var out bytes.Buffer
	r := &terminal.Runner{
		Engine: flows.NewEngine(nil, svc), Services: svc, Prober: prober,
		In: strings.NewReader(answers), Out: &out, Actor: "tester",
	}
	res, err := r.Run(context.Background(), opts)
	return res, out.String(), err
}

var (
	answersBlock = regexp.MustCompile("(?s)```answers\n(.*?)```")
	endsAt       = regexp.MustCompile("Ends at: `([a-z0-9_.]+)`")
)

// TestReadmeExamples runs the example of every flow's README through the
// runner and checks it ends where the README says.
func TestReadmeExamples(t *testing.T) {
	for _, name := range flows.Default().Names() {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("..", name, "README.md"))
			if err != nil {
				t.Fatal(err)
			}
			a, e := answersBlock.FindSubmatch(data), endsAt.FindSubmatch(data)
			if a == nil || e == nil {
				t.Fatal("README.md has no ```answers block or no \"Ends at:\" line")
			}
			res, out := MustRun(t, filepath.Join(t.TempDir(), "db"), string(a[1]), terminal.Options{Flow: name}, nil)
			if !res.Finished || res.Resolution != string(e[1]) {
				t.Fatalf("ended at %q (finished %v), want %s\n%s", res.Resolution, res.Finished, e[1], out)
			}
		})
	}
}

// TestEOFThenResume stops at EOF mid-flow, then continues on the same
// database at the same question.
func TestEOFThenResume(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vpndiag.db")
	res, out := MustRun(t, path, "unstable\nboth tunnels\n", terminal.Options{ResumeHint: " --db " + path}, nil)
	if res.Finished || res.Flow != "stability" || res.State != "routing" {
		t.Fatalf("result = %+v", res)
	}
	want := fmt.Sprintf("case %s saved; resume with vpndiag diagnose --case %s --db %s", res.Case, res.Case, path)
	if !strings.Contains(out, want) {
		t.Fatalf("output lacks %q:\n%s", want, out)
	}
	// Resuming shows the same question first.
	res2, out2 := MustRun(t, path, "", terminal.Options{Case: res.Case}, nil)
	if res2.State != "routing" || !strings.Contains(out2, "How are routes exchanged over the VPN?") {
		t.Fatalf("resume: %+v\n%s", res2, out2)
	}
	res3, _ := MustRun(t, path, "bgp\nyes\n", terminal.Options{Case: strings.ToLower(res.Case)}, nil)
	if !res3.Finished || res3.Resolution != "stability.bgp_preference" || res3.Status != vpndiag.CaseResolved {
		t.Fatalf("result = %+v", res3)
	}
	if got := res3.Path.Join(" "); got != "triage:symptom stability:pattern stability:routing stability:bgp_preference" {
		t.Fatalf("path = %s", got)
	}
	if len(res3.Answers) != 4 || res3.Answers[2].Answer != "BGP (dynamic)" || res3.Answers[3].Question != vpndiag.ConfirmFixQuestion {
		t.Fatalf("answers = %+v", res3.Answers)
	}
}

// TestBadAnswers: each bad line is reported and the same question asked
// again with the next line; nothing is stored for it.
func TestBadAnswers(t *testing.T) {
	answers := strings.Join([]string{
		"42",           // out of range
		"perhaps",      // no such choice
		"the tunnel",   // ambiguous label prefix
		"our internal", // label prefix
		"192.168.20.1/24",
		"not-a-cidr",
		"192.168.20.0/24",
		"static",
		"no",
	}, "\n")
	res, out := MustRun(t, filepath.Join(t.TempDir(), "db"), answers, terminal.Options{}, nil)
	for _, want := range []string{
		"42 is not one of the choices: type a number from 1 to 9.",
		`"perhaps" is not one of the choices`,
		`"the tunnel" matches several choices (tunnel_down, unstable, no_access)`,
		"192.168.20.1/24 has host bits set; did you mean 192.168.20.0/24?",
		`"not-a-cidr" is not a CIDR range`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if res.Resolution != "rangechange.support_case" || res.Status != vpndiag.CaseEscalated || len(res.Answers) != 4 {
		t.Fatalf("result = %+v\n%s", res, out)
	}
	if !strings.Contains(out, "192.168.20.0/24") || !strings.Contains(out, "Export the support bundle with: vpndiag export "+res.Case) {
		t.Fatalf("output:\n%s", out)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	badSite := filepath.Join(dir, "bad.yaml")
	os.WriteFile(badSite, []byte("name: hq\ncloud_dns_servers: [10.0.0.2]\ncolor: red\n"), 0o644)
	invalidSite := filepath.Join(dir, "invalid.yaml")
	os.WriteFile(invalidSite, []byte("name: hq\ncloud_dns_servers: []\nrouting: ospf\n"), 0o644)
	tests := []struct {
		name string
		opts terminal.Options
		want string
	}{
		{"unknown flow", terminal.Options{Flow: "nosuch"}, `There is no flow "nosuch"`},
		{"unknown case", terminal.Options{Case: "VPN-20261125-ZZZZ"}, "VPN-20261125-ZZZZ"},
		{"unknown site", terminal.Options{Site: "nowhere"}, `There is no saved site profile "nowhere" (saved: none)`},
		{"site with unknown field", terminal.Options{Site: badSite}, "field color not found"},
		{"invalid site", terminal.Options{Site: invalidSite}, `cloud_dns_servers: at least one address is required; routing: "ospf" must be static or bgp`},
		{"missing site file", terminal.Options{Site: filepath.Join(dir, "none.yaml")}, "Cannot read the site profile"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "db")
			_, _, err := run(t, path, "names\n", tt.opts, nil)
			if err == nil || !strings.Contains(vpndiag.ErrorMessage(err), tt.want) {
				t.Fatalf("err = %v (%s), want %q", err, vpndiag.ErrorMessage(err), tt.want)
			}
			svc := MustOpenServices(t, path)
			if cs, n, _ := svc.Cases.FindCases(context.Background(), vpndiag.CaseFilter{}); n != 0 {
				t.Fatalf("%d cases stored: %+v", n, cs[0])
			}
		})
	}
}

// TestInteractiveSiteAskedOnce: at a terminal a new case asks for the site
// once, saves a new profile, and its answers skip questions.
func TestInteractiveSiteAskedOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	svc := MustOpenServices(t, path)
	var out bytes.Buffer
	in := strings.Join([]string{
		"lab", "10.0.0.2, 10.0.0.3", "", "", "not a cidr", "192.168.10.0/24", "", "", "bgp", "2", "", "",
		"unstable", "hourly",
	}, "\n")
	r := &terminal.Runner{Engine: flows.NewEngine(nil, svc), Services: svc, In: strings.NewReader(in), Out: &out, Interactive: true, Actor: "tester"}
	res, err := r.Run(context.Background(), terminal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Resolution != "stability.ikev2_lifetime" || !strings.Contains(out.String(), "by site profile (ike_version: 2)") {
		t.Fatalf("result %+v\n%s", res, out.String())
	}
	if !strings.Contains(out.String(), `"not a cidr" is not a CIDR range`) {
		t.Fatalf("bad CIDR not reported:\n%s", out.String())
	}
	site, err := svc.Sites.FindSiteByName(context.Background(), "lab")
	if err != nil || len(site.CloudDNSServers) != 2 || site.Routing != vpndiag.RoutingBGP {
		t.Fatalf("site = %+v, %v", site, err)
	}
	// The next case picks the saved site by number.
	out.Reset()
	r.In = strings.NewReader("1\nunstable\nboth\n")
	res, err = r.Run(context.Background(), terminal.Options{})
	if err != nil || res.Resolution != "stability.bgp_preference" {
		t.Fatalf("second case: %+v %v\n%s", res, err, out.String())
	}
}

// TestSiteFileAndSkips: --site FILE saves the profile and its facts answer
// the inputs and questions they know.
func TestSiteFileAndSkips(t *testing.T) {
	dir := t.TempDir()
	site := filepath.Join(dir, "hq.yaml")
	os.WriteFile(site, []byte(`name: hq
cloud_dns_servers: [10.0.0.2]
cloud_cidr: 10.0.0.0/16
customer_cidrs: [192.168.10.0/24]
routing: static
console_version: 11.7.0
`), 0o644)
	res, out := MustRun(t, filepath.Join(dir, "db"), "192.168.30.0/24\n", terminal.Options{Flow: "rangechange", Site: site}, nil)
	if res.Resolution != "rangechange.self_service" {
		t.Fatalf("result %+v\n%s", res, out)
	}
	for _, want := range []string{"by site profile (routing: static)", "by site profile (self_service_routing: yes)"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q\n%s", want, out)
		}
	}
	// Reused by name.
	_, out = MustRun(t, filepath.Join(dir, "db"), "1\nno\n", terminal.Options{Flow: "access", Site: "hq"}, nil)
	if !strings.Contains(out, "Do your internal firewall's inbound rules allow the cloud's whole internal range 10.0.0.0/16?") {
		t.Fatalf("profile fact not in the question:\n%s", out)
	}
}

// TestLifecycleAtTheTerminal: every automatic answer is shown with what
// answered it and "that's not right" (xN) reopens it; "back" undoes the
// last answer; "restart" starts over; a resolution asks "Did this fix it?",
// and no hands the case to support.
func TestLifecycleAtTheTerminal(t *testing.T) {
	dir := t.TempDir()
	site := filepath.Join(dir, "hq.yaml")
	os.WriteFile(site, []byte("name: hq\ncloud_dns_servers: [10.0.0.2]\nike_version: 2\n"), 0o644)
	answers := strings.Join([]string{
		"unstable", "hourly", // → the 51-minute fix, the IKE version taken from the profile
		"x1",      // that's not right: the IKE version is asked
		"v1",      // → hourly_lifetimes
		"back",    // the IKE version is asked again
		"v2",      // → ikev2_lifetime
		"restart", // triage again
		"unstable", "hourly",
		"no", // Did this fix it? → support
	}, "\n")
	res, out := MustRun(t, filepath.Join(dir, "db"), answers, terminal.Options{Site: site}, nil)
	if res.Resolution != "support.handover" || res.Status != vpndiag.CaseEscalated {
		t.Fatalf("result %+v\n%s", res, out)
	}
	for _, want := range []string{
		"✓ Which IKE version does the tunnel use? — IKEv2 (by site profile (ike_version: 2))",
		"x1. That's not right: Which IKE version does the tunnel use? — IKEv2",
		"Reopened: site profile (ike_version: 2) said \"IKEv2\"; you answer it now.",
		"== Resolution: Match the lifetimes",
		"Did this fix it?\n  1. Yes, it works now\n  2. No, it still does not work",
		"== Escalation: Open a support case with the case bundle",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q\n%s", want, out)
		}
	}
	var steps []string
	for _, a := range res.Answers {
		steps = append(steps, a.Step+"="+a.Answer)
	}
	got := strings.Join(steps, " ")
	for _, want := range []string{"stability:ike_version=IKEv1", "stability:ike_version=IKEv2", "stability:ikev2_lifetime=No, it still does not work"} {
		if !strings.Contains(got, want) {
			t.Errorf("answers %s lack %s", got, want)
		}
	}
}

// TestProbesRunLocally runs the dns flow's probes in-process through the
// probes package against two real DNS servers on a loopback address of
// this test's own: the "cloud" one answers the environment's private
// address, the "internal" one a public address, so the forwarder is not
// effective.
func TestProbesRunLocally(t *testing.T) {
	cloud := startDNS(t, "10.20.0.15")
	internal := startDNS(t, "198.51.100.7")
	site := filepath.Join(t.TempDir(), "hq.yaml")
	os.WriteFile(site, []byte(fmt.Sprintf("name: hq\ncloud_dns_servers: [%s]\nenvironment_fqdns: [myenv.example.com]\ninternal_resolvers: [%s]\n", cloud, internal)), 0o644)
	res, out := MustRun(t, filepath.Join(t.TempDir(), "db"), "env_names\n", terminal.Options{Flow: "dns", Site: site}, &probes.Local{})
	if res.Resolution != "dns.revise_forwarder" {
		t.Fatalf("result %+v\n%s", res, out)
	}
	for _, want := range []string{
		"running nslookup myenv.example.com " + cloud + " … ok",
		"… public-answer",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q\n%s", want, out)
		}
	}
}

// startDNS serves A myenv.example.com → addr on UDP port 53 of a random
// 127.x.y.z address (unique per test run, so parallel runs do not clash)
// and returns that address.
func startDNS(t *testing.T, addr string) string {
	t.Helper()
	var b [3]byte
	for i := 0; i < 20; i++ {
		rand.Read(b[:])
		ip := fmt.Sprintf("127.%d.%d.%d", 1+b[0]%250, b[1], 1+b[2]%250)
		pc, err := net.ListenPacket("udp", ip+":53")
		if err != nil {
			continue
		}
		srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
			m := new(dns.Msg)
			m.SetReply(q)
			if len(q.Question) == 1 && q.Question[0].Name == "myenv.example.com." && q.Question[0].Qtype == dns.TypeA {
				rr, _ := dns.NewRR("myenv.example.com. 60 IN A " + addr)
				m.Answer = append(m.Answer, rr)
			} else {
				m.Rcode = dns.RcodeNameError
			}
			w.WriteMsg(m)
		})}
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go srv.ActivateAndServe()
		select {
		case <-started:
		case <-time.After(5 * time.Second):
			t.Fatal("DNS server did not start")
		}
		t.Cleanup(func() { srv.Shutdown() })
		return ip
	}
	t.Skip("no free loopback address for port 53 (needs root or CAP_NET_BIND_SERVICE)")
	return ""
}
