package flows_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/flows"
	"github.com/vpndiag/vpndiag/kb"
	"github.com/vpndiag/vpndiag/storage/sqlite"
)

// Store is a real SQLite store with the services the engine needs.
type Store struct {
	DB  *sqlite.DB
	Svc flows.Services
}

// MustOpenStore opens a SQLite file at path and closes it when the test ends.
func MustOpenStore(tb testing.TB, path string) *Store {
	tb.Helper()
	db := sqlite.NewDB(path)
	if err := db.Open(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return &Store{DB: db, Svc: flows.Services{
		Cases: sqlite.NewCaseService(db), Sessions: sqlite.NewSessionService(db),
		Events: sqlite.NewEventService(db), Sites: sqlite.NewSiteService(db),
		Findings: sqlite.NewFindingService(db), Probes: sqlite.NewProbeService(db),
		Evidence: sqlite.NewEvidenceService(db),
	}}
}

// MustNewEngine returns an engine on the default flows over a new store.
func MustNewEngine(tb testing.TB) (*flows.Engine, *Store) {
	tb.Helper()
	st := MustOpenStore(tb, filepath.Join(tb.TempDir(), "vpndiag.db"))
	return flows.NewEngine(nil, st.Svc), st
}

// MustCreateCase stores a new open case, on site when not nil.
func MustCreateCase(tb testing.TB, st *Store, site *vpndiag.Site) *vpndiag.Case {
	tb.Helper()
	ctx := context.Background()
	// Unique: the walk creates hundreds of cases a day's markers may repeat.
	marker, err := vpndiag.NewUniqueMarker(ctx, st.Svc.Cases, time.Now(), nil)
	if err != nil {
		tb.Fatal(err)
	}
	c := &vpndiag.Case{Marker: marker, Status: vpndiag.CaseOpen, Origin: "terminal", CreatedBy: "tester"}
	if site != nil {
		if err := st.Svc.Sites.UpsertSite(ctx, site); err != nil {
			tb.Fatal(err)
		}
		c.SiteID = site.ID
	}
	if err := st.Svc.Cases.CreateCase(ctx, c); err != nil {
		tb.Fatal(err)
	}
	return c
}

// testSite is a complete site profile on documentation/loopback addresses.
func testSite() *vpndiag.Site {
	return &vpndiag.Site{
		Name:             "hq",
		CloudDNSServers:  []netip.Addr{netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.3")},
		VPNEndpoints:     []netip.Addr{netip.MustParseAddr("203.0.113.10")},
		CloudCIDR:        netip.MustParsePrefix("10.0.0.0/16"),
		EnvironmentFQDNs: []string{"myenv.example.com"},
		CloudDomain:      "example.com",
		CustomerCIDRs:    []netip.Prefix{netip.MustParsePrefix("192.168.10.0/24")},
		Routing:          vpndiag.RoutingBGP,
		IKEVersion:       2,
		Only443:          true,
		ConsoleVersion:   "11.10.2",
	}
}

// sampleValue is a valid value for an input kind.
func sampleValue(k vpndiag.InputKind) string {
	return map[vpndiag.InputKind]string{
		vpndiag.InputIP: "10.0.0.2", vpndiag.InputCIDR: "192.168.20.0/24",
		vpndiag.InputFQDN: "myenv.example.com", vpndiag.InputPort: "53", vpndiag.InputText: "a note",
	}[k]
}

// option is one way to answer a step, named for the test log.
type option struct {
	name  string
	reply vpndiag.Reply
}

// options returns every way the walk answers a step: each choice, one valid
// value, each probe outcome mapping (by results), each finding rule, none
// and skip.
func options(t *testing.T, set *flows.Set, s *vpndiag.Step) []option {
	def, err := set.Version(s.Flow, s.FlowVersion)
	if err != nil {
		t.Fatal(err)
	}
	st := def.States[s.State]
	var out []option
	switch s.Kind {
	case vpndiag.StepQuestion:
		for _, c := range s.Choices {
			out = append(out, option{c.Key, vpndiag.Reply{Choice: c.Key}})
		}
	case vpndiag.StepInput:
		v := sampleValue(s.Input.Kind)
		out = append(out, option{v, vpndiag.Reply{Value: v}})
	case vpndiag.StepInfo:
		out = append(out, option{"next", vpndiag.Reply{}})
	case vpndiag.StepProbe:
		for _, o := range st.Outcomes {
			outcome := o.When[0]
			if outcome == flows.AnyOutcome {
				outcome = "unmapped-outcome" // a kind's own outcome the flow does not list
			}
			var rs []*vpndiag.ProbeResult
			for _, q := range s.Probes {
				rs = append(rs, &vpndiag.ProbeResult{ID: q.ID, Kind: q.Kind, Target: q.Target, Outcome: outcome, Summary: "walk"})
			}
			out = append(out, option{"outcome " + string(outcome), vpndiag.Reply{Results: rs}})
		}
	case vpndiag.StepEvidence:
		for _, r := range st.Findings {
			// A person who knows what the files show picks the rule; the
			// findings path is tested on stored findings elsewhere.
			out = append(out, option{"finding " + r.Codes[0], vpndiag.Reply{Choice: r.Event}})
		}
		out = append(out, option{"none", vpndiag.Reply{}}, option{"skip", vpndiag.Reply{Skip: true}})
	}
	return out
}

// TestWalkEveryPath answers every step of every flow in every way the flow
// allows, on a real store, and checks that each path ends in a terminal step
// (with the case updated) or a hand-over to another flow's start. Every
// terminal state of every flow must be reached.
func TestWalkEveryPath(t *testing.T) {
	eng, st := MustNewEngine(t)
	set := eng.Flows()
	ctx := context.Background()
	reached := map[string]bool{}
	var paths int

	var walk func(flow string, prefix []option)
	walk = func(flow string, prefix []option) {
		if len(prefix) > 30 {
			t.Fatalf("flow %s: path longer than 30 steps: %v", flow, names(prefix))
		}
		c := MustCreateCase(t, st, nil)
		step, err := eng.Start(ctx, c.ID, flow, "walker")
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range prefix {
			o.reply.Seq, o.reply.Actor = step.Seq, "walker"
			if step, err = eng.Reply(ctx, c.ID, o.reply); err != nil {
				t.Fatalf("flow %s path %v: %v", flow, names(prefix), err)
			}
		}
		switch {
		case step.Flow != flow:
			// Handed over: the session is in the other flow now.
			paths++
			sess, err := st.Svc.Sessions.FindSession(ctx, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(sess.Path.Join(" "), " "+step.Flow+":") {
				t.Errorf("flow %s path %v: handed over to %s but the path %v does not record it", flow, names(prefix), step.Flow, sess.Path)
			}
			return
		case step.Kind.Terminal():
			paths++
			reached[step.Flow+"."+step.State] = true
			if step.Resolution != flows.ResolutionID(step.Flow, step.State) {
				t.Errorf("flow %s path %v: resolution %q", flow, names(prefix), step.Resolution)
			}
			if _, err := kb.Article(step.KBArticle); err != nil {
				t.Errorf("flow %s path %v: kb %q: %v", flow, names(prefix), step.KBArticle, err)
			}
			got, err := st.Svc.Cases.FindCaseByID(ctx, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			// A resolution leaves the case open until "Did this fix
			// it?" is answered; an escalation ends it.
			want := vpndiag.CaseOpen
			if step.Kind == vpndiag.StepEscalation {
				want = vpndiag.CaseEscalated
			}
			if got.Status != want || got.Resolution != step.Resolution || got.KBArticle != step.KBArticle || step.CaseStatus != want {
				t.Errorf("flow %s path %v: case = %s %q %q, want %s %q %q", flow, names(prefix), got.Status, got.Resolution, got.KBArticle, want, step.Resolution, step.KBArticle)
			}
			if step.Kind == vpndiag.StepEscalation {
				return
			}
			if len(step.Choices) != 2 || step.Choices[0].Key != vpndiag.ChoiceFixed || step.Choices[1].Key != vpndiag.ChoiceNotFixed {
				t.Fatalf("flow %s path %v: resolution choices %+v", flow, names(prefix), step.Choices)
			}
			fixed, err := eng.Reply(ctx, c.ID, vpndiag.Reply{Seq: step.Seq, Choice: vpndiag.ChoiceFixed, Actor: "walker"})
			if err != nil {
				t.Fatal(err)
			}
			got, _ = st.Svc.Cases.FindCaseByID(ctx, c.ID)
			if got.Status != vpndiag.CaseResolved || fixed.CaseStatus != vpndiag.CaseResolved || len(fixed.Choices) != 0 || got.Resolution != step.Resolution {
				t.Errorf("flow %s path %v: after fixed: case %s %q, step %s %v", flow, names(prefix), got.Status, got.Resolution, fixed.CaseStatus, fixed.Choices)
			}
			// Explicit next checks are walked too (the default hand-over
			// to support is walked once, in TestDidThisFixIt).
			def, _ := set.Version(step.Flow, step.FlowVersion)
			again := slices.ContainsFunc(prefix, func(o option) bool { return o.name == "not-fixed" })
			if def.States[step.State].NotFixed != "" && !again {
				walk(flow, append(append([]option(nil), prefix...), option{"not-fixed", vpndiag.Reply{Choice: vpndiag.ChoiceNotFixed}}))
			}
			return
		}
		opts := options(t, set, step)
		if len(opts) == 0 {
			t.Fatalf("flow %s path %v: step %s (%s) has no way forward", flow, names(prefix), step.State, step.Kind)
		}
		for _, o := range opts {
			walk(flow, append(append([]option(nil), prefix...), o))
		}
	}
	for _, name := range set.Names() {
		walk(name, nil)
	}
	for _, name := range set.Names() {
		def, _ := set.Current(name)
		for sname, s := range def.States {
			if s.Kind.Terminal() && !reached[name+"."+sname] {
				t.Errorf("flow %s: terminal state %s is never reached by the walk", name, sname)
			}
		}
	}
	t.Logf("%d paths walked, %d terminal states reached", paths, len(reached))
}

// autoText renders a step's automatic answers as "question — answer:
// answered by what".
func autoText(s *vpndiag.Step) []string {
	var out []string
	for _, a := range s.Auto {
		out = append(out, fmt.Sprintf("%s — %s: answered by %s", a.Question, a.Answer, a.By))
	}
	return out
}

func names(p []option) []string {
	var out []string
	for _, o := range p {
		out = append(out, o.name)
	}
	return out
}

// TestRestoreAfterRestart stops mid-flow, reopens the database with a new
// engine and continues at the same question, from the stored state.
func TestRestoreAfterRestart(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "vpndiag.db")
	st := MustOpenStore(t, path)
	eng := flows.NewEngine(nil, st.Svc)
	c := MustCreateCase(t, st, nil)
	step, err := eng.Start(ctx, c.ID, "", "alice")
	if err != nil {
		t.Fatal(err)
	}
	step, err = eng.Reply(ctx, c.ID, vpndiag.Reply{Seq: step.Seq, Choice: "unstable", Actor: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if step.Flow != "stability" || step.State != "pattern" {
		t.Fatalf("after triage: %s/%s", step.Flow, step.State)
	}
	if err := st.DB.Close(); err != nil {
		t.Fatal(err)
	}

	st2 := MustOpenStore(t, path)
	eng2 := flows.NewEngine(nil, st2.Svc)
	again, err := eng2.Current(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if again.Flow != step.Flow || again.State != step.State || again.Seq != step.Seq || again.Title != step.Title {
		t.Fatalf("after restart: %+v, want %+v", again, step)
	}
	step, err = eng2.Reply(ctx, c.ID, vpndiag.Reply{Seq: again.Seq, Choice: "hourly", Actor: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	step, err = eng2.Reply(ctx, c.ID, vpndiag.Reply{Seq: step.Seq, Choice: "v2", Actor: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if step.Resolution != "stability.ikev2_lifetime" || step.KBArticle != kb.ArticleIKEv2HourlyDrop {
		t.Fatalf("resolution %q %q", step.Resolution, step.KBArticle)
	}
	sess, err := st2.Svc.Sessions.FindSession(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := "triage:symptom stability:pattern stability:ike_version stability:ikev2_lifetime"
	if got := sess.Path.Join(" "); got != want {
		t.Fatalf("path = %s, want %s", got, want)
	}
	answers, err := st2.Svc.Sessions.FindAnswers(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(answers) != 3 || answers[0].Choice != "unstable" || answers[2].Choice != "v2" {
		t.Fatalf("answers = %d", len(answers))
	}
}

// TestReplyBadInput: every bad answer is refused with a clear message and
// stores nothing (the session Seq and the answers stay as they were).
func TestReplyBadInput(t *testing.T) {
	ctx := context.Background()
	eng, st := MustNewEngine(t)

	// to walks a fresh case to the step after the given choices/values.
	to := func(t *testing.T, flow string, replies ...vpndiag.Reply) (*vpndiag.Case, *vpndiag.Step) {
		c := MustCreateCase(t, st, nil)
		step, err := eng.Start(ctx, c.ID, flow, "bob")
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range replies {
			r.Seq = step.Seq
			if step, err = eng.Reply(ctx, c.ID, r); err != nil {
				t.Fatal(err)
			}
		}
		return c, step
	}
	tests := []struct {
		name    string
		flow    string
		path    []vpndiag.Reply
		reply   vpndiag.Reply
		staleBy int
		code    string
		msg     string
	}{
		{"not a choice", "triage", nil, vpndiag.Reply{Choice: "maybe"}, 0, vpndiag.EINVALID, `"maybe" is not one of the choices`},
		{"empty choice", "triage", nil, vpndiag.Reply{}, 0, vpndiag.EINVALID, "Please choose one of"},
		{"bad IP", "connectivity", []vpndiag.Reply{{Skip: true}, {Choice: "ping_dns"}}, vpndiag.Reply{Value: "10.0.0.300"}, 0, vpndiag.EINVALID, "is not an IP address"},
		{"bad FQDN", "connectivity", []vpndiag.Reply{{Skip: true}, {Choice: "end_to_end"}, {Value: "10.0.0.2"}, {Results: nil, Choice: "replies"}}, vpndiag.Reply{Value: "not a name!"}, 0, vpndiag.EINVALID, "is not a DNS name"},
		{"bad CIDR", "rangechange", nil, vpndiag.Reply{Value: "192.168.20.0/33"}, 0, vpndiag.EINVALID, "is not a CIDR range"},
		{"CIDR with host bits", "rangechange", nil, vpndiag.Reply{Value: "192.168.20.5/24"}, 0, vpndiag.EINVALID, "did you mean 192.168.20.0/24"},
		{"bad port", "dns", []vpndiag.Reply{{Choice: "internal_names"}, {Choice: "no"}, {Value: "company.local"}, {Value: "192.168.1.53"}}, vpndiag.Reply{Value: "70000"}, 0, vpndiag.EINVALID, "is not a port number"},
		{"probe outcome not a choice", "connectivity", []vpndiag.Reply{{Skip: true}, {Choice: "ping_dns"}, {Value: "10.0.0.2"}}, vpndiag.Reply{Choice: "perhaps"}, 0, vpndiag.EINVALID, "is not one of the choices"},
		{"stale seq", "triage", nil, vpndiag.Reply{Choice: "names"}, 1, vpndiag.ECONFLICT, "already done"},
		{"not an answer to did this fix it", "triage", []vpndiag.Reply{{Choice: "reset"}}, vpndiag.Reply{Choice: "names"}, 0, vpndiag.EINVALID, "Did this fix it?"},
		{"after a confirmed resolution", "triage", []vpndiag.Reply{{Choice: "reset"}, {Choice: vpndiag.ChoiceFixed}}, vpndiag.Reply{Choice: vpndiag.ChoiceNotFixed}, 0, vpndiag.ECONFLICT, "resolved"},
		{"after the end", "triage", []vpndiag.Reply{{Choice: "other"}}, vpndiag.Reply{Choice: "names"}, 0, vpndiag.ECONFLICT, "finished"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, step := to(t, tt.flow, tt.path...)
			before, _ := st.Svc.Sessions.FindAnswers(ctx, c.ID)
			r := tt.reply
			r.Seq = step.Seq - tt.staleBy
			_, err := eng.Reply(ctx, c.ID, r)
			if vpndiag.ErrorCode(err) != tt.code || !strings.Contains(vpndiag.ErrorMessage(err), tt.msg) {
				t.Fatalf("err = %v, want %s containing %q", err, tt.code, tt.msg)
			}
			after, err := eng.Current(ctx, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			if after.Seq != step.Seq || after.State != step.State {
				t.Fatalf("moved to %s seq %d", after.State, after.Seq)
			}
			if got, _ := st.Svc.Sessions.FindAnswers(ctx, c.ID); len(got) != len(before) {
				t.Fatalf("answers %d → %d", len(before), len(got))
			}
		})
	}

	t.Run("unknown flow", func(t *testing.T) {
		c := MustCreateCase(t, st, nil)
		_, err := eng.Start(ctx, c.ID, "nosuch", "bob")
		if vpndiag.ErrorCode(err) != vpndiag.ENOTFOUND || !strings.Contains(vpndiag.ErrorMessage(err), "flows are: triage") {
			t.Fatalf("err = %v", err)
		}
		if _, err := st.Svc.Sessions.FindSession(ctx, c.ID); vpndiag.ErrorCode(err) != vpndiag.ENOTFOUND {
			t.Fatalf("a session was stored: %v", err)
		}
	})
	t.Run("started twice", func(t *testing.T) {
		c, _ := to(t, "triage")
		if _, err := eng.Start(ctx, c.ID, "triage", "bob"); vpndiag.ErrorCode(err) != vpndiag.ECONFLICT {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("idempotency key", func(t *testing.T) {
		c, step := to(t, "triage")
		r := vpndiag.Reply{Seq: step.Seq, Choice: "unstable", IdempotencyKey: "slack-retry-1"}
		if _, err := eng.Reply(ctx, c.ID, r); err != nil {
			t.Fatal(err)
		}
		if _, err := eng.Reply(ctx, c.ID, r); vpndiag.ErrorCode(err) != vpndiag.ECONFLICT {
			t.Fatalf("second delivery: %v", err)
		}
	})
}

// TestCorruptedSessionAndMigrate: a stored state the flow does not have is
// refused with the migrate hint; Migrate restarts the flow.
func TestCorruptedSessionAndMigrate(t *testing.T) {
	ctx := context.Background()
	eng, st := MustNewEngine(t)
	c := MustCreateCase(t, st, nil)
	step, err := eng.Start(ctx, c.ID, "stability", "bob")
	if err != nil {
		t.Fatal(err)
	}
	sess, _ := st.Svc.Sessions.FindSession(ctx, c.ID)
	bad := *sess
	bad.State = "no_such_state"
	if err := st.Svc.Sessions.ApplyTransition(ctx, &vpndiag.Transition{CaseID: c.ID, FromSeq: step.Seq, Session: &bad}); err != nil {
		t.Fatal(err)
	}
	_, err = eng.Current(ctx, c.ID)
	if !errors.Is(err, flows.ErrNeedsMigration) || !strings.Contains(vpndiag.ErrorMessage(err), "Migrate it") {
		t.Fatalf("err = %v", err)
	}
	if _, err := eng.Reply(ctx, c.ID, vpndiag.Reply{Seq: step.Seq + 1, Choice: "hourly"}); !errors.Is(err, flows.ErrNeedsMigration) {
		t.Fatalf("reply err = %v", err)
	}
	got, err := eng.Migrate(ctx, c.ID, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if got.Flow != "stability" || got.State != "pattern" {
		t.Fatalf("migrated to %s/%s", got.Flow, got.State)
	}
}

// TestVersions: a session keeps the version it started on; when that
// version is gone it is refused until migrated, and Migrate keeps the state
// when the new version has it.
func TestVersions(t *testing.T) {
	ctx := context.Background()
	v1 := mapFS(map[string]string{
		"triage/flow.yaml": flowYAML("triage", 1, "Is it broken?", "ask"),
	})
	v2 := mapFS(map[string]string{
		"triage/flow.yaml":        flowYAML("triage", 2, "Is it really broken?", "ask"),
		"triage/versions/v1.yaml": flowYAML("triage", 1, "Is it broken?", "ask"),
	})
	v3 := mapFS(map[string]string{
		"triage/flow.yaml": flowYAML("triage", 3, "Renamed start", "first"),
	})
	_, st := MustNewEngine(t)
	e1 := flows.NewEngine(flows.MustLoad(v1), st.Svc)
	c := MustCreateCase(t, st, nil)
	step, err := e1.Start(ctx, c.ID, "", "bob")
	if err != nil {
		t.Fatal(err)
	}
	if step.FlowVersion != 1 || step.Title != "Is it broken?" {
		t.Fatalf("v1 step: %+v", step)
	}
	// A build with v2 that keeps v1: the session stays on v1.
	e2 := flows.NewEngine(flows.MustLoad(v2), st.Svc)
	if step, err = e2.Current(ctx, c.ID); err != nil || step.FlowVersion != 1 || step.Title != "Is it broken?" {
		t.Fatalf("on v2 build: %+v %v", step, err)
	}
	// A build with only v3: refused, then migrated to v3's start.
	e3 := flows.NewEngine(flows.MustLoad(v3), st.Svc)
	_, err = e3.Current(ctx, c.ID)
	if !errors.Is(err, flows.ErrNeedsMigration) || !strings.Contains(vpndiag.ErrorMessage(err), "version 1, which this vpndiag no longer has") {
		t.Fatalf("err = %v", err)
	}
	if step, err = e3.Migrate(ctx, c.ID, "bob"); err != nil || step.FlowVersion != 3 || step.State != "first" {
		t.Fatalf("migrated: %+v %v", step, err)
	}
	// Migrating v1 → v2 keeps the state, which v2 has.
	c2 := MustCreateCase(t, st, nil)
	if _, err := e1.Start(ctx, c2.ID, "", "bob"); err != nil {
		t.Fatal(err)
	}
	if step, err = e2.Migrate(ctx, c2.ID, "bob"); err != nil || step.FlowVersion != 2 || step.State != "ask" || step.Title != "Is it really broken?" {
		t.Fatalf("migrated: %+v %v", step, err)
	}
}

// flowYAML is a minimal valid flow with a question and two resolutions.
func flowYAML(name string, version int, title, start string) string {
	return fmt.Sprintf(`name: %s
version: %d
title: test flow
guide: ["Further assistance"]
start: %s
states:
  %s:
    kind: question
    title: %q
    choices:
      - {key: "yes", label: "Yes", to: fixed}
      - {key: "no", label: "No", to: help}
  fixed:
    kind: resolution
    title: Fixed
    kb: reset-tunnels
  help:
    kind: escalation
    title: Open a case
    kb: further-assistance
`, name, version, start, start, title)
}

// TestSkippedBySiteProfile: questions and inputs the site profile answers
// are taken automatically and listed as "answered by site profile".
func TestSkippedBySiteProfile(t *testing.T) {
	ctx := context.Background()
	eng, st := MustNewEngine(t)
	c := MustCreateCase(t, st, testSite())
	step, err := eng.Start(ctx, c.ID, "stability", "bob")
	if err != nil {
		t.Fatal(err)
	}
	step, err = eng.Reply(ctx, c.ID, vpndiag.Reply{Seq: step.Seq, Choice: "hourly"})
	if err != nil {
		t.Fatal(err)
	}
	if step.Resolution != "stability.ikev2_lifetime" {
		t.Fatalf("step = %s", step.State)
	}
	if len(step.Auto) != 1 || !strings.Contains(autoText(step)[0], "answered by site profile (ike_version: 2)") {
		t.Fatalf("auto = %q", autoText(step))
	}
	if !strings.Contains(step.Title, "51 minutes") {
		t.Fatalf("title %q does not carry the guide's fact", step.Title)
	}
	answers, _ := st.Svc.Sessions.FindAnswers(ctx, c.ID)
	if last := answers[len(answers)-1]; last.Source != vpndiag.SourceProfile || last.Actor != flows.BotActor {
		t.Fatalf("auto answer = %+v", last)
	}

	// Range change with BGP: routing answered by the profile → support case.
	c2 := MustCreateCase(t, st, testSite())
	step, err = eng.Start(ctx, c2.ID, "rangechange", "bob")
	if err != nil {
		t.Fatal(err)
	}
	step, err = eng.Reply(ctx, c2.ID, vpndiag.Reply{Seq: step.Seq, Value: "192.168.20.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	if step.Kind != vpndiag.StepEscalation || step.Resolution != "rangechange.support_case" || !strings.Contains(step.Title, "192.168.20.0/24") {
		t.Fatalf("step = %+v", step)
	}

	// Connectivity: the DNS server input comes from the profile, and the
	// ping is asked for every cloud DNS server of the profile.
	c3 := MustCreateCase(t, st, testSite())
	step, _ = eng.Start(ctx, c3.ID, "connectivity", "bob")
	step, _ = eng.Reply(ctx, c3.ID, vpndiag.Reply{Seq: step.Seq, Skip: true})
	step, err = eng.Reply(ctx, c3.ID, vpndiag.Reply{Seq: step.Seq, Choice: "ping_dns"})
	if err != nil {
		t.Fatal(err)
	}
	if step.State != "ping_dns" || len(step.Probes) != 2 || step.Probes[1].Target != "10.0.0.3" {
		t.Fatalf("step = %s probes %v", step.State, step.Probes)
	}
	if len(step.Auto) != 1 || !strings.Contains(autoText(step)[0], "10.0.0.2: answered by site profile") {
		t.Fatalf("auto = %q", autoText(step))
	}
}

// TestSkippedByProbeAndEvidence: a probe step whose probe already ran in
// the case, and an evidence step whose finding is stored, are answered
// automatically and say by what.
func TestSkippedByProbeAndEvidence(t *testing.T) {
	ctx := context.Background()
	eng, st := MustNewEngine(t)
	c := MustCreateCase(t, st, testSite())
	step, _ := eng.Start(ctx, c.ID, "connectivity", "bob")
	reply := func(r vpndiag.Reply) *vpndiag.Step {
		t.Helper()
		r.Seq = step.Seq
		s, err := eng.Reply(ctx, c.ID, r)
		if err != nil {
			t.Fatal(err)
		}
		step = s
		return s
	}
	results := func(o vpndiag.Outcome) vpndiag.Reply {
		var rs []*vpndiag.ProbeResult
		for _, q := range step.Probes {
			rs = append(rs, &vpndiag.ProbeResult{ID: q.ID, Kind: q.Kind, Target: q.Target, Outcome: o, Summary: "test"})
		}
		return vpndiag.Reply{Results: rs}
	}
	reply(vpndiag.Reply{Skip: true}) // no SA status to upload
	reply(vpndiag.Reply{Choice: "end_to_end"})
	reply(results(vpndiag.OutcomeOK))      // ping the DNS servers
	reply(results(vpndiag.OutcomeTimeout)) // resolve: no answer → the dns flow's ping of the server
	// The dns flow's ping of 10.0.0.2 is the ping already run: it is not
	// run or asked again, and says so.
	if step.Resolution != "dns.allow_dns_port" {
		t.Fatalf("after hand-over: %s/%s, auto %q", step.Flow, step.State, autoText(step))
	}
	got := strings.Join(autoText(step), "\n")
	for _, want := range []string{"answered by probe ping 10.0.0.2: ok"} {
		if !strings.Contains(got, want) {
			t.Errorf("auto %q lacks %q", got, want)
		}
	}
	probes, err := st.Svc.Probes.FindProbeResults(ctx, c.ID)
	if err != nil || len(probes) != 3 {
		t.Fatalf("stored probe results: %d %v", len(probes), err)
	}

	// Evidence already analysed answers the tunnel flow's upload step.
	c2 := MustCreateCase(t, st, testSite())
	if err := st.Svc.Findings.CreateFindings(ctx, c2.ID, []*vpndiag.Finding{{
		Code: kb.CodePFSDisabled, Severity: vpndiag.SeverityError, Summary: "phase 2 without PFS", Source: "test",
		Evidence: []vpndiag.EvidenceRef{{Name: "asa.txt", Line: 12}},
	}}); err != nil {
		t.Fatal(err)
	}
	s2, err := eng.Start(ctx, c2.ID, "tunnel", "bob")
	if err != nil {
		t.Fatal(err)
	}
	if s2.Resolution != "tunnel.phase2_settings" || len(s2.Auto) != 1 || !strings.Contains(autoText(s2)[0], "answered by asa.txt:12 (pfs-disabled)") {
		t.Fatalf("step %s auto %q", s2.State, autoText(s2))
	}
}

// Evidence steps are decided by the worst finding: an informational note
// whose code a rule also lists never hides an error another rule explains,
// and decides nothing by itself.
func TestEvidenceDecidedByWorstFinding(t *testing.T) {
	ctx := context.Background()
	eng, st := MustNewEngine(t)
	for _, tc := range []struct {
		name     string
		findings []*vpndiag.Finding
		want     string
	}{
		{"error beats info listed earlier", []*vpndiag.Finding{
			{Code: "nat-traversal", Severity: vpndiag.SeverityInfo},
			{Code: "ts-unacceptable", Severity: vpndiag.SeverityError},
		}, "selectors_fix"},
		{"error beats a warning of an earlier rule", []*vpndiag.Finding{
			{Code: "dpd-disabled", Severity: vpndiag.SeverityWarning},
			{Code: "sa-no-child", Severity: vpndiag.SeverityError},
			{Code: "ts-unacceptable", Severity: vpndiag.SeverityError},
		}, "selectors_fix"},
		{"same severity: the rules' order decides (refused selectors before phase 2)", []*vpndiag.Finding{
			{Code: "sa-no-child", Severity: vpndiag.SeverityError},
			{Code: "ts-unacceptable", Severity: vpndiag.SeverityError},
		}, "selectors_fix"},
		{"refused selectors outside the site's ranges: the range changed", []*vpndiag.Finding{
			{Code: "ts-unacceptable", Severity: vpndiag.SeverityError, KBArticle: kb.ArticleSingleSAPair},
			{Code: "ts-unacceptable", Severity: vpndiag.SeverityError, KBArticle: kb.ArticleInternalRangeChanged,
				Evidence: []vpndiag.EvidenceRef{{Name: "swanctl.conf", Line: 23, Text: "local_ts = 192.168.20.0/24"}}},
		}, "@rangechange"},
		{"critical beats error", []*vpndiag.Finding{
			{Code: "ike-no-response", Severity: vpndiag.SeverityError},
			{Code: "auth-failed", Severity: vpndiag.SeverityCritical},
		}, "phase1_settings"},
		{"a peer that is not the site's endpoint comes before IKE unanswered", []*vpndiag.Finding{
			{Code: "ike-no-response", Severity: vpndiag.SeverityCritical},
			{Code: "peer-mismatch", Severity: vpndiag.SeverityCritical},
		}, "wrong_peer"},
		{"a wrong identity comes before the AUTHENTICATION_FAILED it causes", []*vpndiag.Finding{
			{Code: "auth-failed", Severity: vpndiag.SeverityCritical},
			{Code: "id-mismatch", Severity: vpndiag.SeverityCritical},
		}, "identity"},
		{"IKEv1 against IKEv2 comes before the NO_PROPOSAL_CHOSEN it causes", []*vpndiag.Finding{
			{Code: "phase1-no-proposal", Severity: vpndiag.SeverityCritical},
			{Code: "ike-version-mismatch", Severity: vpndiag.SeverityCritical},
		}, "ike_version"},
		{"an info note alone decides nothing (certainty)", []*vpndiag.Finding{
			{Code: "nat-traversal", Severity: vpndiag.SeverityInfo},
		}, "bring_up_server"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := MustCreateCase(t, st, testSite())
			step, err := eng.Start(ctx, c.ID, "tunnel", "bob")
			if err != nil {
				t.Fatal(err)
			}
			if step.Kind != vpndiag.StepEvidence {
				t.Fatalf("tunnel does not start with its evidence step: %s (%s)", step.State, step.Kind)
			}
			if err := st.Svc.Findings.CreateFindings(ctx, c.ID, tc.findings); err != nil {
				t.Fatal(err)
			}
			step, err = eng.Reply(ctx, c.ID, vpndiag.Reply{Seq: step.Seq})
			if err != nil {
				t.Fatal(err)
			}
			path, _ := st.Svc.Sessions.FindSession(ctx, c.ID)
			want := "tunnel:" + tc.want
			if strings.HasPrefix(tc.want, "@") {
				want = strings.TrimPrefix(tc.want, "@") + ":new_range"
			}
			if !slices.Contains(path.Path, vpndiag.ParsePathStep(want)) {
				t.Fatalf("path %q does not pass %s", path.Path, want)
			}
		})
	}
}
