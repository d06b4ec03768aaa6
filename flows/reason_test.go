package flows_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/flows"
	"github.com/vpndiag/vpndiag/kb"
)

// walker drives one case of a real engine over a real SQLite store.
type walker struct {
	t    *testing.T
	eng  *flows.Engine
	st   *Store
	c    *vpndiag.Case
	step *vpndiag.Step
}

func newWalker(t *testing.T, site *vpndiag.Site, flow string, findings ...*vpndiag.Finding) *walker {
	t.Helper()
	eng, st := MustNewEngine(t)
	w := &walker{t: t, eng: eng, st: st, c: MustCreateCase(t, st, site)}
	w.store(findings...)
	step, err := eng.Start(context.Background(), w.c.ID, flow, "alice")
	if err != nil {
		t.Fatal(err)
	}
	w.step = step
	return w
}

// store adds findings to the case, as an upload does.
func (w *walker) store(fs ...*vpndiag.Finding) {
	w.t.Helper()
	if len(fs) == 0 {
		return
	}
	if err := w.st.Svc.Findings.CreateFindings(context.Background(), w.c.ID, fs); err != nil {
		w.t.Fatal(err)
	}
}

func (w *walker) reply(r vpndiag.Reply) *vpndiag.Step {
	w.t.Helper()
	r.Seq, r.Actor = w.step.Seq, "alice"
	step, err := w.eng.Reply(context.Background(), w.c.ID, r)
	if err != nil {
		w.t.Fatalf("at %s:%s: %v", w.step.Flow, w.step.State, err)
	}
	w.step = step
	return step
}

// results answers the current probe step with outcome o for every probe,
// each result carrying detail.
func (w *walker) results(o vpndiag.Outcome, detail map[string]any) *vpndiag.Step {
	w.t.Helper()
	var rs []*vpndiag.ProbeResult
	for _, q := range w.step.Probes {
		d, _ := json.Marshal(detail)
		rs = append(rs, &vpndiag.ProbeResult{ID: q.ID, Kind: q.Kind, Target: q.Target, Outcome: o, Summary: "test", Detail: d})
	}
	return w.reply(vpndiag.Reply{Results: rs})
}

func (w *walker) at(flow, state string) {
	w.t.Helper()
	if w.step.Flow != flow || w.step.State != state {
		w.t.Fatalf("at %s:%s, want %s:%s (auto %q, notes %q)", w.step.Flow, w.step.State, flow, state, autoText(w.step), w.step.Notes)
	}
}

func (w *walker) events(kind string) []*vpndiag.Event {
	w.t.Helper()
	evs, err := w.st.Svc.Events.FindEvents(context.Background(), w.c.ID)
	if err != nil {
		w.t.Fatal(err)
	}
	var out []*vpndiag.Event
	for _, e := range evs {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

func finding(code string, sev vpndiag.Severity, article, file string, line int, text string) *vpndiag.Finding {
	return &vpndiag.Finding{Code: code, Severity: sev, KBArticle: article, Summary: code + " seen", Fix: "fix for " + code, Source: "test",
		Evidence: []vpndiag.EvidenceRef{{Name: file, Line: line, Text: text}}}
}

// Certainty: a probe or finding answers a step only when it determines it,
// and the step says what answered it, reopenable.
func TestCertainty(t *testing.T) {
	t.Run("an informational note decides nothing", func(t *testing.T) {
		w := newWalker(t, testSite(), "tunnel", finding(kb.CodeNATTraversal, vpndiag.SeverityInfo, kb.ArticlePhase1, "swanctl.conf", 7, "encap = yes"))
		// No evidence file was attached (only findings stored): the
		// upload step is the person's.
		w.at("tunnel", "upload")
		w.reply(vpndiag.Reply{})
		w.at("tunnel", "bring_up")
	})
	t.Run("a finding decides and says where it was seen", func(t *testing.T) {
		w := newWalker(t, testSite(), "tunnel", finding(kb.CodeAuthFailed, vpndiag.SeverityCritical, kb.ArticlePhase1, "charon.log", 3, "received AUTHENTICATION_FAILED notify error"))
		w.at("tunnel", "phase1_settings")
		if len(w.step.Auto) != 1 || w.step.Auto[0].By != "charon.log:3 (auth-failed)" || !w.step.Auto[0].Reopenable {
			t.Fatalf("auto = %+v", w.step.Auto)
		}
		// The resolution is specific: it cites the case's finding, line and fix.
		if !strings.Contains(w.step.Text, "`charon.log:3`: auth-failed seen → fix for auth-failed") {
			t.Fatalf("resolution text lacks the finding:\n%s", w.step.Text)
		}
	})
	t.Run("refused selectors outside the site's ranges lead to the range change, with the range from the config line", func(t *testing.T) {
		site := testSite()
		site.Routing, site.ConsoleVersion = vpndiag.RoutingStatic, "11.10.2"
		w := newWalker(t, site, "tunnel",
			finding(kb.CodeTSUnacceptable, vpndiag.SeverityError, kb.ArticleSingleSAPair, "charon.log", 40, "received TS_UNACCEPTABLE notify, no CHILD_SA built"),
			finding(kb.CodeTSUnacceptable, vpndiag.SeverityError, kb.ArticleInternalRangeChanged, "swanctl.conf", 23, "\t\t\t\tlocal_ts = 192.168.20.0/24"),
			finding(kb.CodeSANoChild, vpndiag.SeverityError, kb.ArticlePhase2, "sas.txt", 1, "lab: #1, ESTABLISHED"))
		w.at("rangechange", "self_service")
		if !strings.Contains(w.step.Title, "192.168.20.0/24") {
			t.Fatalf("title %q lacks the new range", w.step.Title)
		}
		got := strings.Join(autoText(w.step), "\n")
		for _, want := range []string{
			"The local network proposed is not the site's internal range: answered by swanctl.conf:23 (ts-unacceptable)",
			"192.168.20.0/24: answered by swanctl.conf:23 (ts-unacceptable)",
		} {
			if !strings.Contains(got, want) {
				t.Errorf("auto %q lacks %q", got, want)
			}
		}
	})
}

// Override and contradiction: what the logs suggest never replaces what
// the person said; the contradiction is said and recorded.
func TestPersonAnswerWins(t *testing.T) {
	w := newWalker(t, testSite(), "stability")
	w.reply(vpndiag.Reply{Choice: "random"}) // "It drops at other times"
	w.at("stability", "logs")
	w.store(
		finding(kb.CodePeriodicDrop, vpndiag.SeverityError, kb.ArticleIKEv2HourlyDrop, "charon.log", 12, "received DELETE for ESP CHILD_SA"),
		finding(kb.CodeDPDDisabled, vpndiag.SeverityWarning, kb.ArticleDPDIdle, "swanctl.conf", 9, "dpd_delay = 0s"))
	w.reply(vpndiag.Reply{}) // the files are attached
	// Not the 51-minute fix: the periodic rule contradicts "other times".
	w.at("stability", "dpd_fix")
	if len(w.step.Notes) != 1 || !strings.Contains(w.step.Notes[0], `charon.log:12 (periodic-drop) suggests "The drops come at a regular interval", but you answered "It drops at other times"`) {
		t.Fatalf("notes = %q", w.step.Notes)
	}
	evs := w.events(vpndiag.EventContradiction)
	if len(evs) != 1 || !strings.Contains(evs[0].Message, "(the person's answer kept)") {
		t.Fatalf("contradiction events = %+v", evs)
	}
	var data map[string]any
	if err := json.Unmarshal(evs[0].Data, &data); err != nil || data["by"] != "charon.log:12 (periodic-drop)" || data["answer"] != "It drops at other times" || data["followed"] != false {
		t.Fatalf("event data %s (%v)", evs[0].Data, err)
	}

	// What the device shows now is followed even against the person's
	// answer ("up but I cannot reach" while IKE fails), and the
	// disagreement is said and recorded.
	w3 := newWalker(t, testSite(), "", finding(kb.CodeAuthFailed, vpndiag.SeverityCritical, kb.ArticlePhase1, "charon.log", 3, "received AUTHENTICATION_FAILED notify error"))
	w3.reply(vpndiag.Reply{Choice: "no_access"})
	w3.at("tunnel", "phase1_settings")
	if len(w3.step.Notes) != 1 || !strings.Contains(w3.step.Notes[0], `but charon.log:3 (auth-failed) shows "The tunnel is not up: phase 1 (IKE) fails": the diagnosis continues from what your device shows`) {
		t.Fatalf("notes = %q", w3.step.Notes)
	}
	if evs := w3.events(vpndiag.EventContradiction); len(evs) != 1 || !strings.Contains(evs[0].Message, "(the device's state followed)") {
		t.Fatalf("contradiction events = %+v", evs)
	}

	// Without a person's answer the same finding decides: "every hour".
	w2 := newWalker(t, testSite(), "stability")
	w2.reply(vpndiag.Reply{Choice: "random"})
	w2.reply(vpndiag.Reply{Choice: "periodic"}) // the person picks it: their answer, no contradiction
	w2.at("stability", "ikev2_lifetime")
	if len(w2.events(vpndiag.EventContradiction)) != 0 {
		t.Fatal("a person's own choice was recorded as a contradiction")
	}
}

// No re-asking: what a probe measured, the traceroute's stop and the SA
// state from evidence are not asked.
func TestNothingMeasuredIsAsked(t *testing.T) {
	w := newWalker(t, testSite(), "connectivity")
	w.reply(vpndiag.Reply{Skip: true})
	w.reply(vpndiag.Reply{Choice: "end_to_end"})
	w.at("connectivity", "ping_dns")
	w.results(vpndiag.OutcomeTimeout, map[string]any{"address": "10.0.0.2", "source": "192.168.10.10"})
	// The source address came with the ping, the ranges from the profile:
	// straight to the traceroute, whose request carries the site's ranges.
	w.at("connectivity", "traceroute")
	got := strings.Join(autoText(w.step), "\n")
	if !strings.Contains(got, "192.168.10.10: answered by probe ping 10.0.0.2: timeout") {
		t.Fatalf("auto %q", got)
	}
	if p := w.step.Probes[0].Params["customer_cidrs"]; p != "192.168.10.0/24" {
		t.Fatalf("traceroute customer_cidrs = %q", p)
	}
	// Its only hop is the LAN gateway: not asked "internal network or
	// firewall?" — the SA counters decide.
	w.results("path-inside-customer", nil)
	w.at("connectivity", "sa_check")
	w.store(finding(kb.CodeSANoInbound, vpndiag.SeverityError, kb.ArticlePhase2, "sas.txt", 5, "bytes_i 0, bytes_o 8400"))
	// An upload while the question waits: Current takes it, and lists it.
	step, err := w.eng.Current(context.Background(), w.c.ID)
	if err != nil {
		t.Fatal(err)
	}
	w.step = step
	w.at("connectivity", "peer_or_path")
	if len(step.Auto) != 1 || step.Auto[0].By != "sas.txt:5 (sa-no-inbound)" || step.Auto[0].Answer != "Packets go out, none come in" {
		t.Fatalf("auto = %+v", step.Auto)
	}
	answers, _ := w.st.Svc.Sessions.FindAnswers(context.Background(), w.c.ID)
	var asked []string
	for _, a := range answers {
		if a.Actor != flows.BotActor && a.Source == vpndiag.SourceUser {
			asked = append(asked, a.State)
		}
	}
	if strings.Join(asked, " ") != "sa_state goal" {
		t.Fatalf("asked %v", asked)
	}
}

// "That's not right" reopens an automatic answer as a question; the
// person's answer then stands, even though the finding is still there.
func TestReopen(t *testing.T) {
	w := newWalker(t, testSite(), "stability")
	w.reply(vpndiag.Reply{Choice: "hourly"})
	w.at("stability", "ikev2_lifetime") // IKE version from the profile
	if len(w.step.Auto) != 1 || w.step.Auto[0].Reopen() != "stability:ike_version" {
		t.Fatalf("auto = %+v", w.step.Auto)
	}
	w.reply(vpndiag.Reply{Reopen: w.step.Auto[0].Reopen()})
	w.at("stability", "ike_version")
	if len(w.step.Notes) != 1 || !strings.Contains(w.step.Notes[0], "Reopened") || len(w.step.Choices) != 2 {
		t.Fatalf("reopened step: notes %q choices %v", w.step.Notes, w.step.Choices)
	}
	if c, _ := w.st.Svc.Cases.FindCaseByID(context.Background(), w.c.ID); c.Resolution != "" || c.Status != vpndiag.CaseOpen {
		t.Fatalf("case after reopen: %s %q", c.Status, c.Resolution)
	}
	// Current does not answer it again from the profile.
	if s, _ := w.eng.Current(context.Background(), w.c.ID); s.State != "ike_version" || len(s.Auto) != 0 {
		t.Fatalf("current = %s, auto %v", s.State, s.Auto)
	}
	w.reply(vpndiag.Reply{Choice: "v1"})
	w.at("stability", "hourly_lifetimes")
	if len(w.events(vpndiag.EventReopened)) != 1 {
		t.Fatal("no step.reopened event")
	}
	// Reopening what was not answered automatically is refused.
	_, err := w.eng.Reply(context.Background(), w.c.ID, vpndiag.Reply{Seq: w.step.Seq, Reopen: "stability:pattern"})
	if vpndiag.ErrorCode(err) != vpndiag.EINVALID {
		t.Fatalf("reopen of a person's answer: %v", err)
	}
}

// Back undoes the person's last answer and the steps taken after it;
// Restart begins again; "Did this fix it?" closes or continues.
func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	w := newWalker(t, testSite(), "")
	if w.step.CanGoBack {
		t.Fatal("can go back before any answer")
	}
	w.reply(vpndiag.Reply{Choice: "unstable"})
	w.reply(vpndiag.Reply{Choice: "hourly"})
	w.at("stability", "ikev2_lifetime")
	step, err := w.eng.Back(ctx, w.c.ID, w.step.Seq, "alice")
	if err != nil {
		t.Fatal(err)
	}
	w.step = step
	w.at("stability", "pattern")
	if !step.CanGoBack {
		t.Fatal("cannot go back to triage")
	}
	if _, err := w.eng.Back(ctx, w.c.ID, step.Seq-1, "alice"); vpndiag.ErrorCode(err) != vpndiag.ECONFLICT {
		t.Fatalf("stale back: %v", err)
	}
	w.reply(vpndiag.Reply{Choice: "both_tunnels"})
	w.at("stability", "bgp_preference") // routing: BGP, from the profile
	sess, _ := w.st.Svc.Sessions.FindSession(ctx, w.c.ID)
	if got := sess.Path.Join(" "); got != "triage:symptom stability:pattern stability:routing stability:bgp_preference" {
		t.Fatalf("path after back = %s", got)
	}

	// Did this fix it? No → support, with the bundle.
	w.reply(vpndiag.Reply{Choice: vpndiag.ChoiceNotFixed})
	w.at("support", "handover")
	c, _ := w.st.Svc.Cases.FindCaseByID(ctx, w.c.ID)
	if c.Status != vpndiag.CaseEscalated || c.Resolution != "support.handover" || len(w.events(vpndiag.EventFixFailed)) != 1 {
		t.Fatalf("after not-fixed: %s %q", c.Status, c.Resolution)
	}

	// Restart: triage again, the case open, the history kept.
	step, err = w.eng.Restart(ctx, w.c.ID, "alice")
	if err != nil {
		t.Fatal(err)
	}
	w.step = step
	w.at("triage", "symptom")
	if c, _ := w.st.Svc.Cases.FindCaseByID(ctx, w.c.ID); c.Status != vpndiag.CaseOpen || c.Resolution != "" {
		t.Fatalf("after restart: %s %q", c.Status, c.Resolution)
	}
	w.reply(vpndiag.Reply{Choice: "reset"})
	w.reply(vpndiag.Reply{Choice: vpndiag.ChoiceFixed})
	if c, _ := w.st.Svc.Cases.FindCaseByID(ctx, w.c.ID); c.Status != vpndiag.CaseResolved || c.Resolution != "triage.reset_tunnels" || w.step.CaseStatus != vpndiag.CaseResolved {
		t.Fatalf("after fixed: %s %q", c.Status, c.Resolution)
	}
	if len(w.events(vpndiag.EventRestart)) != 1 || len(w.events(vpndiag.EventBack)) != 1 || len(w.events(vpndiag.EventFixConfirmed)) != 1 {
		t.Fatal("lifecycle events missing")
	}
	answers, _ := w.st.Svc.Sessions.FindAnswers(ctx, w.c.ID)
	if !slices.ContainsFunc(answers, func(a *vpndiag.Answer) bool { return a.Choice == "hourly" }) {
		t.Fatal("the undone answer is not in the history")
	}
}
