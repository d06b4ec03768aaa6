package storetest

import (
	"context"
	"reflect"
	"testing"

	"github.com/vpndiag/vpndiag"
)

func testSessionService_CreateFind(t *testing.T, open Opener) {
	ctx := context.Background()
	db := open(t)
	ss := db.Sessions
	c := MustCreateCase(t, db, 1)

	_, err := ss.FindSession(ctx, c.ID)
	wantCode(t, err, vpndiag.ENOTFOUND)

	sess := &vpndiag.Session{CaseID: c.ID, Flow: "triage", FlowVersion: 3, State: "start",
		Vars: map[string]string{"peer": "198.51.100.7"}, Path: vpndiag.Path{{State: "start"}}}
	if err := ss.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	got, err := ss.FindSession(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	} else if !reflect.DeepEqual(got, sess) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, sess)
	}

	for _, tt := range []struct {
		name string
		s    *vpndiag.Session
		code string
	}{
		{"Again", &vpndiag.Session{CaseID: c.ID, Flow: "triage", State: "start"}, vpndiag.ECONFLICT},
		{"NoCase", &vpndiag.Session{CaseID: 999, Flow: "triage", State: "start"}, vpndiag.ENOTFOUND},
		{"NoFlow", &vpndiag.Session{CaseID: c.ID, State: "start"}, vpndiag.EINVALID},
	} {
		t.Run(tt.name, func(t *testing.T) { wantCode(t, ss.CreateSession(ctx, tt.s), tt.code) })
	}
}

// testSessionService_StartSession: the first state, its events and the case
// update are stored together or not at all.
func testSessionService_StartSession(t *testing.T, open Opener) {
	ctx := context.Background()
	db := open(t)
	ss := db.Sessions
	c := MustCreateCase(t, db, 1)
	shown := func(msg string) []*vpndiag.Event {
		return []*vpndiag.Event{{Actor: "alice", Kind: vpndiag.EventStepShown, Message: msg, Data: []byte(`{"state":"start"}`)}}
	}
	escalated, res := vpndiag.CaseEscalated, "support:start"

	// A bad event stores nothing, not even the session.
	bad := []*vpndiag.Event{{Actor: "alice", Message: "no kind"}}
	wantCode(t, ss.StartSession(ctx, &vpndiag.Session{CaseID: c.ID, Flow: "support", State: "start"}, bad, nil), vpndiag.EINVALID)
	_, err := ss.FindSession(ctx, c.ID)
	wantCode(t, err, vpndiag.ENOTFOUND)

	sess := &vpndiag.Session{CaseID: c.ID, Flow: "support", FlowVersion: 2, State: "start", Vars: map[string]string{}}
	if err := ss.StartSession(ctx, sess, shown("Flow support started"),
		&vpndiag.CaseUpdate{Status: &escalated, Resolution: &res}); err != nil {
		t.Fatal(err)
	}
	if got, err := ss.FindSession(ctx, c.ID); err != nil || got.State != "start" || got.Seq != 0 || got.FlowVersion != 2 {
		t.Fatalf("session = %+v, %v; want support v2 at start, seq 0", got, err)
	}
	check := func(when string) {
		t.Helper()
		evs, err := db.Events.FindEvents(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		var kinds []string
		for _, e := range evs {
			kinds = append(kinds, e.Kind)
		}
		want := []string{vpndiag.EventCaseCreated, vpndiag.EventStepShown, vpndiag.EventCaseUpdated}
		if !reflect.DeepEqual(kinds, want) || evs[1].Seq != 2 || string(evs[1].Data) != `{"state":"start"}` {
			t.Fatalf("%s: events %v (step seq %d, data %s), want %v", when, kinds, evs[1].Seq, evs[1].Data, want)
		}
		got, err := db.Cases.FindCaseByID(ctx, c.ID)
		if err != nil || got.Status != escalated || got.Resolution != res {
			t.Fatalf("%s: case %+v, %v; want escalated with resolution %s", when, got, err, res)
		}
	}
	check("started")

	// A second start is ECONFLICT and adds nothing.
	wantCode(t, ss.StartSession(ctx, &vpndiag.Session{CaseID: c.ID, Flow: "triage", State: "start"},
		shown("again"), nil), vpndiag.ECONFLICT)
	check("started twice")
	wantCode(t, ss.StartSession(ctx, &vpndiag.Session{CaseID: 999, Flow: "triage", State: "start"}, shown("x"), nil),
		vpndiag.ENOTFOUND)
}

func testSessionService_ApplyTransition(t *testing.T, open Opener) {
	ctx := context.Background()
	db := open(t)
	ss := db.Sessions
	es := db.Events
	c := MustCreateCase(t, db, 1)
	if err := ss.CreateSession(ctx, &vpndiag.Session{CaseID: c.ID, Flow: "triage", FlowVersion: 1,
		State: "start", Path: vpndiag.Path{{State: "start"}}}); err != nil {
		t.Fatal(err)
	}

	step := func(from int, state, key string) *vpndiag.Transition {
		return &vpndiag.Transition{
			CaseID:  c.ID,
			FromSeq: from,
			Session: &vpndiag.Session{Flow: "triage", FlowVersion: 1, State: state,
				Vars: map[string]string{"last": state}, Path: vpndiag.Path{{State: "start"}, {State: state}}},
			Answer: &vpndiag.Answer{Flow: "triage", State: "start", Question: "Is the tunnel up?",
				Choice: "no", Label: "No", Source: vpndiag.SourceUser, Actor: "U1"},
			Events: []*vpndiag.Event{
				{Actor: "U1", Kind: vpndiag.EventAnswer, Message: "No"},
				{Actor: "bot", Kind: vpndiag.EventStepShown, Message: state},
			},
			IdempotencyKey: key,
		}
	}

	t1 := step(0, "phase1", "click-1")
	t1.Case = &vpndiag.CaseUpdate{Title: ptr("Phase 1 fails")}
	if err := ss.ApplyTransition(ctx, t1); err != nil {
		t.Fatal(err)
	}
	if t1.Session.Seq != 1 || t1.Answer.ID == 0 || t1.Answer.Seq != 0 || t1.Events[1].Seq != 3 {
		t.Fatalf("transition fields not set: session %+v answer %+v events %+v", t1.Session, t1.Answer, t1.Events)
	}
	got, err := ss.FindSession(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	} else if !reflect.DeepEqual(got, t1.Session) {
		t.Fatalf("session:\n got %+v\nwant %+v", got, t1.Session)
	}
	answers, err := ss.FindAnswers(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	} else if len(answers) != 1 || !reflect.DeepEqual(answers[0], t1.Answer) {
		t.Fatalf("answers = %+v, want [%+v]", answers, t1.Answer)
	}
	stored, err := db.Cases.FindCaseByID(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	} else if stored.Title != "Phase 1 fails" {
		t.Fatalf("case title = %q", stored.Title)
	}

	countRows := func() (events, answers int) {
		t.Helper()
		all, err := es.FindEvents(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		as, err := ss.FindAnswers(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		return len(all), len(as)
	}
	ev, an := countRows()

	for _, tt := range []struct {
		name string
		t    *vpndiag.Transition
		code string
		msg  string
	}{
		{"StaleSeq", step(0, "phase2", ""), vpndiag.ECONFLICT, "This step is already done."},
		{"ReplayedKey", step(1, "phase2", "click-1"), vpndiag.ECONFLICT, "This step is already done."},
		{"NoSession", &vpndiag.Transition{CaseID: 999, Session: &vpndiag.Session{Flow: "f", State: "s"}}, vpndiag.ENOTFOUND, ""},
		{"NoState", &vpndiag.Transition{CaseID: c.ID, FromSeq: 1}, vpndiag.EINVALID, ""},
		{"BadCaseUpdate", func() *vpndiag.Transition {
			tr := step(1, "phase2", "click-9")
			tr.Case = &vpndiag.CaseUpdate{Status: ptr(vpndiag.CaseStatus("odd"))}
			return tr
		}(), vpndiag.EINVALID, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := ss.ApplyTransition(ctx, tt.t)
			wantCode(t, err, tt.code)
			if tt.msg != "" && vpndiag.ErrorMessage(err) != tt.msg {
				t.Fatalf("message = %q, want %q", vpndiag.ErrorMessage(err), tt.msg)
			}
			if e, a := countRows(); e != ev || a != an {
				t.Fatalf("refused transition wrote rows: events %d→%d answers %d→%d", ev, e, an, a)
			}
			if s, err := ss.FindSession(ctx, c.ID); err != nil || s.Seq != 1 || s.State != "phase1" {
				t.Fatalf("session changed: %+v %v", s, err)
			}
		})
	}

	// The key of the refused BadCaseUpdate transition was rolled back with it.
	t2 := step(1, "resolved", "click-9")
	t2.Answer = nil
	t2.Case = &vpndiag.CaseUpdate{Status: ptr(vpndiag.CaseResolved), Resolution: ptr("psk-mismatch")}
	if err := ss.ApplyTransition(ctx, t2); err != nil {
		t.Fatal(err)
	}
	if e, a := countRows(); e != ev+2 || a != an {
		t.Fatalf("after automatic move: events %d answers %d, want %d and %d", e, a, ev+2, an)
	}
	stored, err = db.Cases.FindCaseByID(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	} else if stored.Status != vpndiag.CaseResolved || stored.Resolution != "psk-mismatch" {
		t.Fatalf("case = %+v", stored)
	}
	_, err = ss.FindAnswers(ctx, 999)
	wantCode(t, err, vpndiag.ENOTFOUND)
}
