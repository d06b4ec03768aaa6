package e2e_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/flows"
	"github.com/vpndiag/vpndiag/flows/terminal"
	"github.com/vpndiag/vpndiag/kb"
	"github.com/vpndiag/vpndiag/lab"
	"github.com/vpndiag/vpndiag/relay/agent"
)

// labOptions shorten the lab's timers so that the suite stays within its
// time budget: DPD every 4 s, idle timeout 8 s, a drop every 10 s (the
// customer watches three of them in the periodic-drop walk).
var labOptions = lab.Options{DPDDelay: 4 * time.Second, IdleTimeout: 8 * time.Second, DropPeriod: 10 * time.Second}

// faultCase is one lab fault, with what makes it show and how a customer
// would walk it: from the first answer a customer who sees the fault would
// give, and from a plausible other first answer. The first answer is
// chosen from what the customer sees (never from the fault's name); later
// answers only from what the customer's side observes.
type faultCase struct {
	fault string
	// settle waits, after the fault is applied, until the customer
	// gateway's log shows it (as a customer would wait to see the failure
	// before asking for help); empty waits for nothing.
	settle []string
	// settleCount is how many times settle's first string must appear.
	settleCount int
	// during, when set, runs after the fault is applied and before the
	// log is awaited (e.g. traffic that makes the fault show).
	during func(t *testing.T, ctx context.Context, e *Env)
	// walks are the customer's walks, each run on the fault freshly applied.
	walks []walk
	// codes are finding codes the case must hold.
	codes []string
	// slack drives the first walk through Slack payloads instead of the
	// terminal runner; its answers are then the buttons clicked.
	slack bool
}

// walk is one diagnosis of a fault: the answers typed, in order (the first
// is the symptom), and where it must end.
type walk struct {
	answers []answer
	// resolution is the terminal step reached, kbArticle the article it cites.
	resolution string
	kbArticle  string
	// questions is how many steps a person answered.
	questions int
}

// answer is one typed answer; observe, when set, computes it from what the
// customer's side shows when the question is asked (e.g. after doing what
// the question says), instead of text.
type answer struct {
	text    string
	observe func(ctx context.Context, e *Env) string
}

func says(texts ...string) []answer {
	out := make([]answer, len(texts))
	for i, s := range texts {
		out[i] = answer{text: s}
	}
	return out
}

// restartObserved restarts the tunnel on the customer's gateway, as the
// restart question asks, pings the cloud DNS server from the LAN and says
// whether traffic passes.
func restartObserved(ctx context.Context, e *Env) string {
	_, _ = e.Lab.Swanctl(ctx, lab.CustomerGateway, "--terminate", "--ike", lab.CustomerConn, "--timeout", "5")
	_, _ = e.Lab.Swanctl(ctx, lab.CustomerGateway, "--initiate", "--child", lab.CustomerChild, "--timeout", "10")
	if _, err := e.Lab.Exec(ctx, e.Lab.NS.LAN, "ping", "-c", "3", "-W", "2", lab.CloudDNSAddr.String()); err == nil {
		return "passes"
	}
	return "still_none"
}

var restart = answer{observe: restartObserved}

// The customer's first answers.
const (
	tunnelDown = "tunnel_down" // "The tunnel does not come up"
	noAccess   = "no_access"   // "The tunnel is up but I cannot reach the environments"
	unstable   = "unstable"    // "The tunnel comes up but drops or is unstable"
	names      = "names"       // "Names do not resolve"
)

var faultCases = []faultCase{
	{
		fault: lab.FaultPSKMismatch, settle: []string{"AUTHENTICATION_FAILED"}, codes: []string{kb.CodeAuthFailed},
		walks: []walk{
			{says(tunnelDown), "tunnel.phase1_settings", kb.ArticlePhase1, 1},
			{says(noAccess), "tunnel.phase1_settings", kb.ArticlePhase1, 1},
		},
	},
	{
		// "Is your device behind NAT?": no, its outside address is the peer.
		fault: lab.FaultUDPBlocked, settle: []string{"giving up after"}, codes: []string{kb.CodeIKENoResponse},
		walks: []walk{
			{says(tunnelDown, "no"), "tunnel.udp_blocked", kb.ArticlePhase1, 2},
			{says(noAccess, "no"), "tunnel.udp_blocked", kb.ArticlePhase1, 2},
		},
	},
	{
		fault: lab.FaultESPBlocked, during: trafficThatFails, codes: []string{kb.CodeSANoInbound},
		walks: []walk{
			{[]answer{{text: noAccess}, restart}, "connectivity.esp_blocked", kb.ArticlePhase2, 2},
			{[]answer{{text: tunnelDown}, restart}, "connectivity.esp_blocked", kb.ArticlePhase2, 2},
		},
	},
	{
		fault: lab.FaultPFSMismatch, settle: []string{"NO_PROPOSAL_CHOSEN"}, codes: []string{kb.CodePhase2NoProposal},
		walks: []walk{
			{says(tunnelDown), "tunnel.phase2_settings", kb.ArticlePhase2, 1},
			{says(noAccess), "tunnel.phase2_settings", kb.ArticlePhase2, 1},
		},
	},
	{
		// "Policy-based or route-based?": swanctl's local_ts/remote_ts is an
		// encryption domain, policy-based.
		fault: lab.FaultTSMismatch, settle: []string{"TS_UNACCEPTABLE"}, codes: []string{kb.CodeTSUnacceptable, kb.CodeMultipleSAPairs},
		walks: []walk{
			{says(tunnelDown, "policy"), "tunnel.sa_policy", kb.ArticleSingleSAPair, 2},
			{says(noAccess, "policy"), "tunnel.sa_policy", kb.ArticleSingleSAPair, 2},
		},
	},
	{
		fault: lab.FaultDNSDown, slack: true,
		walks: []walk{
			{says(names, "env_names"), "dns.dns_down", kb.ArticleFurtherAssistance, 2},
			{says(noAccess, "end_to_end"), "dns.dns_down", kb.ArticleFurtherAssistance, 2},
		},
	},
	{
		// The tunnel is down whenever nobody sends: "does something send
		// traffic all the time?" no.
		fault: lab.FaultCustomerNeverInitiates,
		walks: []walk{
			{says(unstable, "idle", "no"), "stability.keepalive_fix", kb.ArticleResponderOnly, 3},
			{says(tunnelDown), "tunnel.on_demand", kb.ArticleResponderOnly, 1},
		},
	},
	{
		fault: lab.FaultDPDUnanswered, during: waitCloudGaveUp,
		walks: []walk{
			{says(unstable, "random"), "stability.dpd_fix", kb.ArticleDPDIdle, 2},
			{says(noAccess), "connectivity.dead_peer", kb.ArticleDPDIdle, 1},
		},
	},
	{
		fault: lab.FaultFrontEndPing,
		walks: []walk{
			{says(noAccess, "ping_server"), "connectivity.icmp_only", kb.ArticleICMPOnlyDNS, 2},
			{says(tunnelDown, "ping_server"), "connectivity.icmp_only", kb.ArticleICMPOnlyDNS, 2},
		},
	},
	{
		fault: lab.FaultNoConditionalForwarder,
		walks: []walk{
			{says(names, "env_names"), "dns.revise_forwarder", kb.ArticleDNSForwarder, 2},
			{says(noAccess, "end_to_end"), "dns.revise_forwarder", kb.ArticleDNSForwarder, 2},
		},
	},
	{
		// The customer sees the tunnel drop, and when asked how, watches it
		// while using it: the drops come at a regular interval (the lab's
		// DropPeriod stands for the hour). The config says IKEv2.
		fault: lab.FaultPeriodicDrop,
		walks: []walk{
			{[]answer{{text: unstable}, dropPattern}, "stability.ikev2_lifetime", kb.ArticleIKEv2HourlyDrop, 2},
			// From "up but cannot reach": TestPeriodicDropFromLogs, on a lab
			// whose drops are far enough apart for the logs to show them.
		},
	},
	{
		fault: lab.FaultIKEProposalMismatch, settle: []string{"NO_PROPOSAL_CHOSEN"}, codes: []string{kb.CodePhase1NoProposal},
		walks: []walk{
			{says(tunnelDown), "tunnel.phase1_settings", kb.ArticlePhase1, 1},
			{says(noAccess), "tunnel.phase1_settings", kb.ArticlePhase1, 1},
		},
	},
	{
		fault: lab.FaultPFSDisabled, settle: []string{"NO_PROPOSAL_CHOSEN"}, codes: []string{kb.CodePhase2NoProposal},
		walks: []walk{
			{says(tunnelDown), "tunnel.phase2_settings", kb.ArticlePhase2, 1},
			{says(noAccess), "tunnel.phase2_settings", kb.ArticlePhase2, 1},
		},
	},
	{
		// "Is your management console 11.7.0 or later?": the customer knows
		// its version (the lab's site profile does not carry it).
		fault: lab.FaultRangeChanged, settle: []string{"TS_UNACCEPTABLE"}, codes: []string{kb.CodeTSUnacceptable},
		walks: []walk{
			{says(tunnelDown, "yes"), "rangechange.self_service", kb.ArticleInternalRangeChanged, 2},
			{says(noAccess, "yes"), "rangechange.self_service", kb.ArticleInternalRangeChanged, 2},
		},
	},
	{
		fault: lab.FaultIdleClose, during: idleClosed,
		walks: []walk{
			{says(unstable, "idle", "no"), "stability.keepalive_fix", kb.ArticleResponderOnly, 3},
			{says(tunnelDown), "stability.keepalive_fix", kb.ArticleResponderOnly, 1},
		},
	},
	{
		fault: lab.FaultHalfOpen, during: trafficThatFails, codes: []string{kb.CodeSANoInbound},
		walks: []walk{
			{says(noAccess), "connectivity.dead_peer", kb.ArticleDPDIdle, 1},
			{says(tunnelDown), "connectivity.dead_peer", kb.ArticleDPDIdle, 1},
		},
	},
	{
		// The customer sees no tunnel; its config's peer is not the site's
		// endpoint and its log shows IKE unanswered.
		fault: lab.FaultWrongPeerAddress, settle: []string{"giving up after"}, codes: []string{kb.CodePeerMismatch, kb.CodeIKENoResponse},
		walks: []walk{
			{says(tunnelDown), "tunnel.wrong_peer", kb.ArticlePhase1, 1},
			{says(noAccess), "tunnel.wrong_peer", kb.ArticlePhase1, 1},
		},
	},
	{
		// The customer's log says AUTHENTICATION_FAILED as for a wrong key;
		// its config's local identity is a name, not its address.
		fault: lab.FaultIDMismatch, settle: []string{"AUTHENTICATION_FAILED"}, codes: []string{kb.CodeIDMismatch, kb.CodeAuthFailed},
		walks: []walk{
			{says(tunnelDown), "tunnel.identity", kb.ArticlePhase1, 1},
			{says(noAccess), "tunnel.identity", kb.ArticlePhase1, 1},
		},
	},
	{
		fault: lab.FaultIKEVersionMismatch, settle: []string{"NO_PROPOSAL_CHOSEN"}, codes: []string{kb.CodeIKEVersionMismatch},
		walks: []walk{
			{says(tunnelDown), "tunnel.ike_version", kb.ArticlePhase1, 1},
			{says(noAccess), "tunnel.ike_version", kb.ArticlePhase1, 1},
		},
	},
	{
		// Up, healthy SAs, nothing reaches the cloud: the customer tests
		// reaching the environments, and reads its SA's counters after a
		// ping when asked.
		fault: lab.FaultCustomerRouteMissing,
		walks: []walk{
			{[]answer{{text: noAccess}, {text: "end_to_end"}, counters}, "connectivity.internal_routing", kb.ArticleConnectivityTest1, 3},
			{[]answer{{text: tunnelDown}, {text: "end_to_end"}, counters}, "connectivity.internal_routing", kb.ArticleConnectivityTest1, 3},
		},
	},
}

// packetsRe reads a CHILD_SA's packet counters in `swanctl --list-sas`.
var packetsRe = regexp.MustCompile(`(?m)^\s+(in|out)\s+[0-9a-f]+.*?(\d+) packets`)

// saPackets sums the customer gateway's CHILD_SA packet counters, in and out.
func saPackets(ctx context.Context, e *Env) (in, out int) {
	s, err := e.Lab.SAs(ctx, lab.CustomerGateway)
	if err != nil {
		return -1, -1
	}
	for _, m := range packetsRe.FindAllStringSubmatch(s.Raw, -1) {
		n, _ := strconv.Atoi(m[2])
		if m[1] == "in" {
			in += n
		} else {
			out += n
		}
	}
	return in, out
}

// countersObserved does what the SA-counter question asks: ping a cloud
// DNS server from the LAN and read the customer gateway's IPsec SA
// counters before and after.
func countersObserved(ctx context.Context, e *Env) string {
	in0, out0 := saPackets(ctx, e)
	_, _ = e.Lab.Exec(ctx, e.Lab.NS.LAN, "ping", "-c", "3", "-W", "1", lab.CloudDNSAddr.String())
	in1, out1 := saPackets(ctx, e)
	switch {
	case in0 < 0 || in1 < 0:
		return "no_sa"
	case out1 > out0 && in1 > in0:
		return "both_ways"
	case out1 > out0:
		return "no_inbound"
	case in1 > in0:
		return "no_outbound"
	}
	return "no_traffic"
}

var counters = answer{observe: countersObserved}

// spiRe reads the inbound SPIs of the CHILD_SAs in `swanctl --list-sas`.
var spiRe = regexp.MustCompile(`(?m)^\s+in\s+([0-9a-f]{8})`)

// dropPatternObserved does what "How does the tunnel misbehave?" asks of
// the customer: use the tunnel (a ping to a cloud DNS server every second)
// and watch the gateway's SAs for up to three drop periods, noting each
// time the CHILD_SA is replaced. Two or more replacements at a steady
// interval are "hourly" (a drop at a fixed interval; the lab's DropPeriod
// stands for the hour), any other replacement "random"; none while in use,
// "idle" (it only goes down when nothing is sent).
func dropPatternObserved(ctx context.Context, e *Env) string {
	var drops []time.Time
	last := ""
	deadline := time.Now().Add(3*labOptions.DropPeriod + 2*time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		_, _ = e.Lab.Exec(ctx, e.Lab.NS.LAN, "ping", "-c", "1", "-W", "1", lab.CloudDNSAddr.String())
		if s, err := e.Lab.SAs(ctx, lab.CustomerGateway); err == nil {
			spi := ""
			if m := spiRe.FindStringSubmatch(s.Raw); m != nil {
				spi = m[1]
			}
			if spi != "" && last != "" && spi != last {
				drops = append(drops, time.Now())
			}
			if spi != "" {
				last = spi
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	switch {
	case len(drops) == 0:
		return "idle"
	case len(drops) >= 2 && steady(drops):
		return "hourly"
	}
	return "random"
}

// steady reports whether the gaps between the times differ by at most a
// quarter of the shortest.
func steady(ts []time.Time) bool {
	lo, hi := time.Duration(1<<62), time.Duration(0)
	for i := 1; i < len(ts); i++ {
		d := ts[i].Sub(ts[i-1])
		lo, hi = min(lo, d), max(hi, d)
	}
	return hi-lo <= lo/4
}

var dropPattern = answer{observe: dropPatternObserved}

// row is one line of the closing table.
type row struct {
	fault, first, resolution string
	questions                int
	wall                     time.Duration
	ok                       bool
}

// TestFaults diagnoses every lab fault end to end, one after the other on
// one lab, from each of its first answers: the fault is applied, the
// customer's gateway config, charon log and SA status are handed in as
// evidence, the terminal runner walks the real flows with the customer's
// answers and runs every probe through the relay in the customer LAN, and
// the resolution, findings and questions asked are checked (at most 3).
//
// Run as root with the lab's packages: sudo go test ./e2e/ -run TestFaults -v
// (E2E_FAULT=name for one fault).
func TestFaults(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
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
		for i, w := range fc.walks {
			name := fc.fault + "/" + w.answers[0].text
			t.Run(name, func(t *testing.T) {
				r := row{fault: fc.fault, first: w.answers[0].text}
				t0 := time.Now()
				defer func() {
					r.wall = time.Since(t0)
					r.ok = !t.Failed()
					rows = append(rows, r)
				}()
				if w.questions > 3 {
					t.Fatalf("a walk of %d questions: the goal is 3 at most", w.questions)
				}
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
				if fc.slack && i == 0 {
					var clicks []string
					for _, a := range w.answers {
						clicks = append(clicks, a.text)
					}
					res = e.SlackCase(t, ctx, "names do not resolve over the VPN", clicks)
					r.first += " (Slack)"
				} else {
					res, out = e.Diagnose(t, ctx, w.answers, e.EvidenceFiles(t, ctx, off))
				}
				r.resolution = res.Resolution
				r.questions = asked(res)
				if t.Failed() || res.Resolution != w.resolution {
					t.Logf("conversation:\n%s", out)
				}
				if !res.Finished || res.Resolution != w.resolution || res.KBArticle != w.kbArticle {
					t.Errorf("reached %q (kb %q, finished %v), want %q (kb %q); path %v", res.Resolution, res.KBArticle, res.Finished, w.resolution, w.kbArticle, res.Path)
				}
				if got := r.questions; got != w.questions {
					t.Errorf("asked %d questions, want %d: %+v", got, w.questions, res.Answers)
				}
				codes := findingCodes(res.Findings)
				for _, c := range fc.codes {
					if i == 0 && !slices.Contains(codes, c) {
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
				t.Logf("%s from %q → %s (%s), %d questions, findings %v, path %v", fc.fault, r.first, res.Resolution, res.KBArticle, r.questions, codes, res.Path)
				if i := strings.LastIndex(out, "\n== "); i >= 0 {
					end := strings.Index(out[i:], "\n-- kb:")
					if end < 0 {
						end = len(out) - i
					}
					t.Logf("what the customer reads:%s", out[i:i+end])
				}
			})
		}
	}
	if only == "" || only == "keepalive" {
		t.Run("keepalive-monitor", func(t *testing.T) {
			t0 := time.Now()
			keepaliveMonitor(t, ctx, e)
			rows = append(rows, row{fault: "customer-never-initiates + relay keep-alive monitor", first: "-", resolution: "tunnel kept up",
				wall: time.Since(t0), ok: !t.Failed()})
		})
	}
	t.Log("\n" + table(rows))
}

// TestPeriodicDropFromLogs walks the periodic-drop fault from "the tunnel
// is up but I cannot reach the environments": the customer has used the
// tunnel for a while (traffic every few seconds) and hands in the log of
// that time, in which the drops come every 30 s (the log analyser sees
// periods of 30 s and more; TestFaults' lab drops every 10 s for its
// one-minute keep-alive test). Its own lab, with that drop period.
func TestPeriodicDropFromLogs(t *testing.T) {
	if only := os.Getenv("E2E_FAULT"); only != "" && only != lab.FaultPeriodicDrop {
		t.Skip("E2E_FAULT selects another fault")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	opts := labOptions
	opts.Name, opts.DropPeriod = labName("p"), 30*time.Second
	e := MustEnv(t, ctx, opts)
	t0 := time.Now()
	off := e.LogSize(lab.CustomerGateway)
	if err := e.Lab.Fault(ctx, lab.FaultPeriodicDrop); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := e.Lab.Clear(ctx, lab.FaultPeriodicDrop); err != nil {
			t.Errorf("clear: %v", err)
		}
	}()
	// The customer's applications send now and then, which brings the
	// on-demand tunnel back after each drop.
	if !eventually(ctx, 4*time.Minute, func() bool {
		_, _ = e.Lab.Exec(ctx, e.Lab.NS.LAN, "ping", "-c", "1", "-W", "1", lab.CloudDNSAddr.String())
		time.Sleep(4 * time.Second)
		return strings.Count(e.logSince(off), "received DELETE for ESP CHILD_SA") >= 5
	}) {
		t.Fatalf("five drops not logged within 4 minutes:\n%s", e.logSince(off))
	}
	w := walk{says(noAccess), "stability.ikev2_lifetime", kb.ArticleIKEv2HourlyDrop, 1}
	res, out := e.Diagnose(t, ctx, w.answers, e.EvidenceFiles(t, ctx, off))
	r := row{fault: lab.FaultPeriodicDrop + " (drops every 30 s)", first: noAccess, resolution: res.Resolution, questions: asked(res), wall: time.Since(t0)}
	if !res.Finished || res.Resolution != w.resolution || res.KBArticle != w.kbArticle || r.questions != w.questions {
		t.Errorf("reached %q (kb %q) with %d questions, want %q (kb %q) with %d; path %v\n%s", res.Resolution, res.KBArticle, r.questions, w.resolution, w.kbArticle, w.questions, res.Path, out)
	}
	if codes := findingCodes(res.Findings); !slices.Contains(codes, kb.CodePeriodicDrop) {
		t.Errorf("findings %v lack %s", codes, kb.CodePeriodicDrop)
	}
	r.ok = !t.Failed()
	t.Log("\n" + table([]row{r}))
}

// trafficThatFails waits for the SAs to be up, then, as a customer who
// notices the failure a little later, sends the traffic that fails, so that
// the SA's last-packet times show it (inbound silent for longer than the
// status analyser's threshold, outbound just now).
func trafficThatFails(t *testing.T, ctx context.Context, e *Env) {
	// Up as the customer's gateway shows it (the cloud may have dropped its
	// side: that is the half-open fault).
	if !eventually(ctx, 10*time.Second, func() bool {
		s, err := e.Lab.SAs(ctx, lab.CustomerGateway)
		return err == nil && s.Up(lab.CustomerChild)
	}) {
		t.Fatal("the customer gateway's SAs are not up")
	}
	time.Sleep(6 * time.Second)
	_, _ = e.Lab.Exec(ctx, e.Lab.NS.LAN, "ping", "-c", "3", "-W", "1", lab.CloudDNSAddr.String())
}

// idleClosed lets the tunnel carry traffic, then idle until the customer's
// gateway closes it, as the customer finds it: down.
func idleClosed(t *testing.T, ctx context.Context, e *Env) {
	_, _ = e.Lab.Exec(ctx, e.Lab.NS.LAN, "ping", "-c", "1", "-W", "2", lab.CloudDNSAddr.String())
	if !eventually(ctx, 3*labOptions.IdleTimeout, func() bool { return !e.Lab.TunnelUp(ctx) }) {
		t.Fatal("the idle tunnel was not closed")
	}
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

// Diagnose walks a new case of the lab's site with the terminal runner:
// answers typed in order (an observed answer is computed when the runner
// reads it, that is when its question is asked), evidence attached first,
// probes through the relay.
func (e *Env) Diagnose(t *testing.T, ctx context.Context, answers []answer, evidence []string) (*terminal.Result, string) {
	t.Helper()
	var out bytes.Buffer
	r := &terminal.Runner{
		Engine: flows.NewEngine(nil, e.Svc), Services: e.Svc, Prober: e.Prober, Attach: e.attachFunc("e2e"),
		In: &answerReader{ctx: ctx, e: e, answers: answers}, Out: &out, Actor: "e2e",
	}
	res, err := r.Run(ctx, terminal.Options{Site: e.Site.Name, Evidence: evidence})
	if err != nil {
		t.Fatalf("diagnose: %v\n%s", err, out.String())
	}
	return res, out.String()
}

// answerReader gives the runner one answer per Read, so that an observed
// answer is computed only when the runner needs it.
type answerReader struct {
	ctx     context.Context
	e       *Env
	answers []answer
	pending []byte
}

func (r *answerReader) Read(p []byte) (int, error) {
	if len(r.pending) == 0 {
		if len(r.answers) == 0 {
			return 0, io.EOF
		}
		a := r.answers[0]
		r.answers = r.answers[1:]
		if a.observe != nil {
			a.text = a.observe(r.ctx, r.e)
		}
		r.pending = []byte(a.text + "\n")
	}
	n := copy(p, r.pending)
	r.pending = r.pending[n:]
	return n, nil
}

// asked counts the steps a person answered: not the ones the engine took
// by itself, and not "Did this fix it?" (asked after the diagnosis).
func asked(res *terminal.Result) int {
	n := 0
	for _, a := range res.Answers {
		if a.Source == vpndiag.SourceUser && !a.Auto && a.Question != vpndiag.ConfirmFixQuestion {
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
	b.WriteString("| fault | first answer | resolution reached | questions asked | wall time |\n|---|---|---|---|---|\n")
	for _, r := range rows {
		res := r.resolution
		if !r.ok {
			res += " (FAILED)"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %d | %.1f s |\n", r.fault, r.first, res, r.questions, r.wall.Seconds())
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
