package e2e_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/flows"
	"github.com/vpndiag/vpndiag/flows/terminal"
	"github.com/vpndiag/vpndiag/kb"
	"github.com/vpndiag/vpndiag/lab"
	"github.com/vpndiag/vpndiag/probes"
	"github.com/vpndiag/vpndiag/relay/agent"
)

// labOptions shorten the lab's timers so that the suite stays within its
// time budget: DPD every 4 s, idle timeout 8 s, a drop every 10 s (a
// multiple of the guide's 5 s keep-alive interval, so that each drop costs
// the flow's keep-alive test exactly one ping).
var labOptions = lab.Options{DPDDelay: 4 * time.Second, IdleTimeout: 8 * time.Second, DropPeriod: 10 * time.Second}

// faultCase is one row of the end-to-end table: a lab fault, what the
// customer answers, and what the diagnosis must reach.
type faultCase struct {
	fault string
	// settle waits, after the fault is applied, until the customer
	// gateway's log shows it (as a customer would wait to see the failure
	// before asking for help); empty waits for nothing.
	settle []string
	// settleCount is how many times settle's first string must appear.
	settleCount int
	// answers are what the customer types, one per question asked.
	answers []string
	// resolution is the terminal step reached, kbArticle the article it cites.
	resolution string
	kbArticle  string
	// codes are finding codes the case must hold.
	codes []string
	// questions is how many steps the user answered.
	questions int
	// during, when set, runs after the fault is applied and before the
	// log is awaited (e.g. traffic that makes the fault show).
	during func(t *testing.T, ctx context.Context, e *Env)
	// slack drives the case through Slack payloads instead of the
	// terminal runner; answers are then the buttons clicked.
	slack bool
	// check, when set, checks more of the result.
	check func(t *testing.T, ctx context.Context, e *Env, res *terminal.Result)
}

var faultCases = []faultCase{
	{
		fault: lab.FaultPSKMismatch, settle: []string{"AUTHENTICATION_FAILED"},
		answers:    []string{"tunnel_down"},
		resolution: "tunnel.phase1_settings", kbArticle: kb.ArticlePhase1,
		codes: []string{kb.CodeAuthFailed}, questions: 1,
	},
	{
		fault: lab.FaultUDPBlocked, settle: []string{"giving up after"},
		answers:    []string{"tunnel_down", "no"},
		resolution: "tunnel.udp_blocked", kbArticle: kb.ArticlePhase1,
		codes: []string{kb.CodeIKENoResponse}, questions: 2,
	},
	{
		fault: lab.FaultESPBlocked, during: waitTunnel,
		answers:    []string{"no_access", "end_to_end", "192.168.10.10", "vpn_device"},
		resolution: "connectivity.vpn_device", kbArticle: kb.ArticleConnectivityTest1,
		questions: 4,
	},
	{
		fault: lab.FaultPFSMismatch, settle: []string{"NO_PROPOSAL_CHOSEN"},
		answers:    []string{"tunnel_down"},
		resolution: "tunnel.phase2_settings", kbArticle: kb.ArticlePhase2,
		codes: []string{kb.CodePhase2NoProposal}, questions: 1,
	},
	{
		fault: lab.FaultTSMismatch, settle: []string{"TS_UNACCEPTABLE"},
		answers:    []string{"tunnel_down", "policy"},
		resolution: "tunnel.sa_policy", kbArticle: kb.ArticleSingleSAPair,
		codes: []string{kb.CodeTSUnacceptable, kb.CodeMultipleSAPairs}, questions: 2,
	},
	{
		fault: lab.FaultDNSDown, slack: true,
		answers:    []string{"names", "env_names", "yes"},
		resolution: "dns.allow_dns_port", kbArticle: kb.ArticleInternalNetwork,
		questions: 3,
	},
	{
		fault:      lab.FaultCustomerNeverInitiates,
		answers:    []string{"unstable", "idle", "no"},
		resolution: "stability.keepalive_fix", kbArticle: kb.ArticleResponderOnly,
		questions: 3,
	},
	{
		fault: lab.FaultDPDUnanswered, during: waitCloudGaveUp,
		answers:    []string{"unstable", "random"},
		resolution: "stability.dpd_fix", kbArticle: kb.ArticleDPDIdle,
		codes: []string{kb.CodeDPDDisabled}, questions: 2,
	},
	{
		fault:      lab.FaultFrontEndPing,
		answers:    []string{"no_access", "ping_server"},
		resolution: "connectivity.icmp_only", kbArticle: kb.ArticleICMPOnlyDNS,
		questions: 2,
	},
	{
		fault:      lab.FaultNoConditionalForwarder,
		answers:    []string{"names", "env_names", "yes"},
		resolution: "dns.revise_forwarder", kbArticle: kb.ArticleInternalNetwork,
		questions: 3,
	},
	{
		// The customer sees a tunnel that is down until traffic flows (it is
		// on demand), says a keep-alive runs, and the flow's one-minute
		// keep-alive test through the relay finds the drops' period.
		fault:      lab.FaultPeriodicDrop,
		answers:    []string{"unstable", "idle", "yes"},
		resolution: "stability.ikev2_lifetime", kbArticle: kb.ArticleIKEv2HourlyDrop,
		questions: 3, check: periodicChecked,
	},
}

// row is one line of the closing table.
type row struct {
	fault, resolution string
	questions         int
	wall              time.Duration
	ok                bool
}

// TestFaults diagnoses every lab fault end to end, one after the other on
// one lab: the fault is applied, the customer's gateway config and charon
// log are handed in as evidence, the terminal runner walks the real flows
// with the customer's answers and runs every probe through the relay in the
// customer LAN, and the resolution, findings and questions asked are checked.
//
// Run as root with the lab's packages: sudo go test ./e2e/ -run TestFaults -v
func TestFaults(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	opts := labOptions
	opts.Name = labName("f")
	e := MustEnv(t, ctx, opts)

	only := os.Getenv("E2E_FAULT")
	var rows []row
	for _, fc := range faultCases {
		if only != "" && only != fc.fault {
			continue
		}
		t.Run(fc.fault, func(t *testing.T) {
			r := row{fault: fc.fault}
			t0 := time.Now()
			defer func() {
				r.wall = time.Since(t0)
				r.ok = !t.Failed()
				rows = append(rows, r)
			}()
			off := e.LogSize(lab.CustomerGateway)
			if err := e.Lab.Fault(ctx, fc.fault); err != nil {
				t.Fatal(err)
			}
			defer func() {
				if err := e.Lab.Clear(ctx, fc.fault); err != nil {
					t.Errorf("clear %s: %v", fc.fault, err)
				}
			}()
			if fc.during != nil {
				fc.during(t, ctx, e)
			}
			if len(fc.settle) > 0 {
				n := max(fc.settleCount, 1)
				if !eventually(ctx, 30*time.Second, func() bool {
					return strings.Count(e.logSince(off), fc.settle[0]) >= n
				}) {
					t.Fatalf("customer log shows %q %d times within 30 s:\n%s", fc.settle[0], n, e.logSince(off))
				}
			}
			var res *terminal.Result
			var out string
			if fc.slack {
				res = e.SlackCase(t, ctx, "names do not resolve over the VPN", fc.answers)
				r.fault += " (Slack)"
			} else {
				res, out = e.Diagnose(t, ctx, fc.answers, e.EvidenceFiles(t, off))
			}
			r.resolution = res.Resolution
			r.questions = asked(res)
			if t.Failed() || res.Resolution != fc.resolution {
				t.Logf("conversation:\n%s", out)
			}
			if !res.Finished || res.Resolution != fc.resolution || res.KBArticle != fc.kbArticle {
				t.Errorf("reached %q (kb %q, finished %v), want %q (kb %q); path %v", res.Resolution, res.KBArticle, res.Finished, fc.resolution, fc.kbArticle, res.Path)
			}
			if got := r.questions; got != fc.questions {
				t.Errorf("asked %d questions, want %d: %+v", got, fc.questions, res.Answers)
			}
			codes := findingCodes(res.Findings)
			for _, c := range fc.codes {
				if !slices.Contains(codes, c) {
					t.Errorf("findings %v lack %s", codes, c)
				}
			}
			// Every probe of the case ran on the relay in the customer LAN.
			if c, err := e.Svc.Cases.FindCaseByMarker(ctx, res.Case); err == nil {
				prs, _ := e.Svc.Probes.FindProbeResults(ctx, c.ID)
				for _, pr := range prs {
					if pr.Relay != e.Relay {
						t.Errorf("probe %s %s ran on %q, not on relay %s", pr.Kind, pr.Target, pr.Relay, e.Relay)
					}
				}
			}
			if fc.check != nil {
				fc.check(t, ctx, e, res)
			}
			t.Logf("%s → %s (%s), %d questions, findings %v, path %v", fc.fault, res.Resolution, res.KBArticle, r.questions, codes, res.Path)
		})
	}
	if only == "" || only == "keepalive" {
		t.Run("keepalive-monitor", func(t *testing.T) {
			t0 := time.Now()
			keepaliveMonitor(t, ctx, e)
			rows = append(rows, row{fault: "customer-never-initiates + relay keep-alive monitor", resolution: "tunnel kept up",
				wall: time.Since(t0), ok: !t.Failed()})
		})
	}
	t.Log("\n" + table(rows))
}

// keepaliveMonitor shows that the relay's keep-alive monitor keeps the
// customer-never-initiates tunnel up: without traffic the tunnel is down;
// with the monitor pinging the cloud DNS server every 5 s (the guide's
// interval) it comes up and stays up for three idle timeouts; once the
// monitor stops, the cloud closes the idle tunnel.
func keepaliveMonitor(t *testing.T, ctx context.Context, e *Env) {
	if err := e.Lab.Fault(ctx, lab.FaultCustomerNeverInitiates); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := e.Lab.Clear(ctx, lab.FaultCustomerNeverInitiates); err != nil {
			t.Errorf("clear: %v", err)
		}
	}()
	idle := labOptions.IdleTimeout
	if !eventually(ctx, 2*idle, func() bool { return !e.Lab.TunnelUp(ctx) }) {
		t.Fatal("the tunnel is up without traffic")
	}
	marker, err := vpndiag.NewMarker(vpndiag.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &vpndiag.Case{Marker: marker, SiteID: e.Site.ID, Title: "tunnel down until traffic", Status: vpndiag.CaseOpen, Origin: "terminal", CreatedBy: "e2e"}
	if err := e.Svc.Cases.CreateCase(ctx, c); err != nil {
		t.Fatal(err)
	}
	monitor := func(action string) *vpndiag.ProbeResult {
		res, err := e.Prober.Probe(ctx, &vpndiag.ProbeRequest{
			CaseID: c.ID, Kind: vpndiag.ProbeKeepalive, Target: lab.CloudDNSAddr.String(), Timeout: 10 * time.Second,
			Params: map[string]string{agent.ParamMonitor: action, agent.ParamMonitorName: "e2e-keepalive"},
		})
		if err != nil {
			t.Fatalf("monitor %s: %v", action, err)
		}
		if res.Outcome != vpndiag.OutcomeOK {
			t.Fatalf("monitor %s: %s: %s %s", action, res.Outcome, res.Summary, res.Error)
		}
		return res
	}
	monitor("start")
	if !eventually(ctx, 3*kb.KeepaliveInterval, func() bool { return e.Lab.TunnelUp(ctx) }) {
		t.Fatal("the keep-alive did not bring the tunnel up")
	}
	// Three idle timeouts with the monitor running: never down.
	end := time.Now().Add(3 * idle)
	for time.Now().Before(end) {
		if !e.Lab.TunnelUp(ctx) {
			t.Fatalf("the tunnel went down at %v with the keep-alive running", time.Now().Format(time.TimeOnly))
		}
		time.Sleep(500 * time.Millisecond)
	}
	monitor("stop")
	// Without it the cloud closes the idle tunnel.
	t0 := time.Now()
	if !eventually(ctx, idle+3*kb.KeepaliveInterval, func() bool { return !e.Lab.TunnelUp(ctx) }) {
		t.Error("the idle tunnel stayed up after the keep-alive stopped")
	}
	t.Logf("after the monitor stopped, the idle tunnel went down in %v (idle timeout %v)", time.Since(t0).Round(100*time.Millisecond), idle)
	samples, err := e.Svc.Probes.FindKeepaliveSamples(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	// The first pings may be lost while the on-demand tunnel comes up; none
	// after the first reply.
	ok, lostAfterUp, up := 0, 0, false
	for _, s := range samples {
		switch {
		case s.OK:
			ok, up = ok+1, true
		case up:
			lostAfterUp++
		}
	}
	if ok < 4 || lostAfterUp > 0 {
		t.Errorf("keep-alive samples stored for the case: %d, %d answered, %d lost after the tunnel came up; want >= 4 answered and none lost after", len(samples), ok, lostAfterUp)
	}
	t.Logf("keep-alive monitor on relay %s: %d samples, %d answered; tunnel up for %v (3 idle timeouts)", e.Relay, len(samples), ok, 3*idle)
}

// periodicChecked checks the flow's keep-alive test of the periodic-drop
// fault: run through the relay, its samples went through the probes'
// periodic-drop detector, which reported the lab's DropPeriod in the result
// and its summary.
func periodicChecked(t *testing.T, ctx context.Context, e *Env, res *terminal.Result) {
	c, err := e.Svc.Cases.FindCaseByMarker(ctx, res.Case)
	if err != nil {
		t.Fatal(err)
	}
	prs, err := e.Svc.Probes.FindProbeResults(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	var ka *vpndiag.ProbeResult
	for _, pr := range prs {
		if pr.Kind == vpndiag.ProbeKeepalive {
			ka = pr
		}
	}
	if ka == nil {
		t.Fatalf("no keepalive result stored for the case: %+v", prs)
	}
	var d probes.KeepaliveResult
	if err := probes.DecodeDetail(ka, &d); err != nil {
		t.Fatal(err)
	}
	t.Logf("keep-alive test through relay %q: %s: %s", ka.Relay, ka.Outcome, ka.Summary)
	if ka.Relay != e.Relay || ka.Outcome != probes.OutcomePeriodicDrop || d.Periodic == nil {
		t.Fatalf("keepalive via %q: %s (%s), want %s via %s", ka.Relay, ka.Outcome, ka.Summary, probes.OutcomePeriodicDrop, e.Relay)
	}
	want := labOptions.DropPeriod
	if p := d.Periodic.Period; p < want-time.Second || p > want+time.Second || d.Periodic.Code != kb.CodePeriodicDrop {
		t.Errorf("detected period %v (code %s), want %v ± 1 s (%s)", p, d.Periodic.Code, want, kb.CodePeriodicDrop)
	}
	if !strings.Contains(ka.Summary, "drops every "+d.Periodic.Period.Round(time.Millisecond).String()) {
		t.Errorf("summary %q does not report the period", ka.Summary)
	}
}

// waitCloudGaveUp waits until the cloud has declared the customer dead
// (DPD unanswered) and removed its SAs, the moment the customer notices.
func waitCloudGaveUp(t *testing.T, ctx context.Context, e *Env) {
	if !eventually(ctx, 30*time.Second, func() bool {
		s, err := e.Lab.SAs(ctx, lab.CloudGateway)
		return err == nil && s.IKECount == 0
	}) {
		t.Fatal("the cloud did not declare the customer dead within 30 s")
	}
}

// waitTunnel waits for the SAs to be up, as they stay with ESP blocked.
func waitTunnel(t *testing.T, ctx context.Context, e *Env) {
	if !eventually(ctx, 10*time.Second, func() bool { return e.Lab.TunnelUp(ctx) }) {
		t.Fatal("SAs not up with ESP blocked")
	}
}

// Diagnose walks a new case of the lab's site with the terminal runner:
// answers typed in order, evidence attached first, probes through the relay.
func (e *Env) Diagnose(t *testing.T, ctx context.Context, answers, evidence []string) (*terminal.Result, string) {
	t.Helper()
	var out bytes.Buffer
	r := &terminal.Runner{
		Engine: flows.NewEngine(nil, e.Svc), Services: e.Svc, Prober: e.Prober, Attach: e.attachFunc("e2e"),
		In: strings.NewReader(strings.Join(answers, "\n") + "\n"), Out: &out, Actor: "e2e",
	}
	res, err := r.Run(ctx, terminal.Options{Site: e.Site.Name, Evidence: evidence})
	if err != nil {
		t.Fatalf("diagnose: %v\n%s", err, out.String())
	}
	return res, out.String()
}

// asked counts the steps the user answered.
func asked(res *terminal.Result) int {
	n := 0
	for _, a := range res.Answers {
		if a.Source == vpndiag.SourceUser {
			n++
		}
	}
	return n
}

func findingCodes(fs []*vpndiag.Finding) []string {
	var out []string
	for _, f := range fs {
		if !slices.Contains(out, f.Code) {
			out = append(out, f.Code)
		}
	}
	return out
}

// logSince returns the customer gateway's charon log from offset on.
func (e *Env) logSince(off int64) string {
	b, err := os.ReadFile(e.Lab.CharonLog(lab.CustomerGateway))
	if err != nil || off > int64(len(b)) {
		return ""
	}
	return string(b[off:])
}

// table renders the closing note's table.
func table(rows []row) string {
	var b strings.Builder
	b.WriteString("| fault | resolution reached | questions asked | wall time |\n|---|---|---|---|\n")
	for _, r := range rows {
		res := r.resolution
		if !r.ok {
			res += " (FAILED)"
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %.1f s |\n", r.fault, res, r.questions, r.wall.Seconds())
	}
	return b.String()
}

func eventually(ctx context.Context, timeout time.Duration, cond func() bool) bool {
	end := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(end) || ctx.Err() != nil {
			return false
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// labName returns a unique lab name: a letter for the test and the pid.
func labName(test string) string {
	return fmt.Sprintf("e%s%d", test, os.Getpid()%100000000)
}
