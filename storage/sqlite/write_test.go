package sqlite_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/storage/sqlite"
)

// Writes that arrive together share a commit, but each keeps its own
// outcome: a failing one (a stale transition) is rolled back alone, the
// others are stored, and every caller returns only once its write is in.
func TestGroupCommitKeepsEachOutcome(t *testing.T) {
	db := MustOpenDB(t)
	ctx := context.Background()
	c := MustCreateCase(t, db, 1)
	sessions := sqlite.NewSessionService(db)
	if err := sessions.CreateSession(ctx, &vpndiag.Session{CaseID: c.ID, Flow: "triage", FlowVersion: 1, State: "symptom", Path: vpndiag.Path{{Flow: "triage", State: "symptom"}}}); err != nil {
		t.Fatal(err)
	}
	dedup := sqlite.NewDedupService(db)
	events := sqlite.NewEventService(db)

	// Hold the write lock so that every writer below queues into one batch.
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	const n = 40
	var wg sync.WaitGroup
	claims := make([]bool, n)
	claimErrs := make([]error, n)
	transErrs := make([]error, 2)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			claims[i], claimErrs[i] = dedup.Claim(ctx, []string{"k-a", "k-b"}[i%2])
			if err := events.AppendEvent(ctx, &vpndiag.Event{CaseID: c.ID, Kind: vpndiag.EventNote, Message: "n"}); err != nil {
				t.Error(err)
			}
		}(i)
	}
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			transErrs[i] = sessions.ApplyTransition(ctx, &vpndiag.Transition{CaseID: c.ID, FromSeq: 0,
				Session: &vpndiag.Session{CaseID: c.ID, Flow: "triage", FlowVersion: 1, State: "next", Seq: 1, Path: vpndiag.Path{{Flow: "triage", State: "symptom"}, {Flow: "triage", State: "next"}}},
				Events:  []*vpndiag.Event{{CaseID: c.ID, Kind: vpndiag.EventAnswer, Message: "answered"}}})
		}(i)
	}
	time.Sleep(100 * time.Millisecond)
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()

	firsts := 0
	for i := range claims {
		if claimErrs[i] != nil {
			t.Fatalf("claim %d: %v", i, claimErrs[i])
		}
		if claims[i] {
			firsts++
		}
	}
	if firsts != 2 {
		t.Errorf("%d first claims of 2 keys, want 2", firsts)
	}
	ok, conflict := 0, 0
	for _, err := range transErrs {
		switch vpndiag.ErrorCode(err) {
		case "":
			ok++
		case vpndiag.ECONFLICT:
			conflict++
		default:
			t.Fatalf("transition: %v", err)
		}
	}
	if ok != 1 || conflict != 1 {
		t.Fatalf("two transitions from seq 0: %d stored, %d refused; want 1 and 1", ok, conflict)
	}
	evs, err := events.FindEvents(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	notes, answers := 0, 0
	for i, e := range evs {
		if e.Seq != i+1 {
			t.Fatalf("event %d has seq %d", i, e.Seq)
		}
		switch e.Kind {
		case vpndiag.EventNote:
			notes++
		case vpndiag.EventAnswer:
			answers++
		}
	}
	if notes != n || answers != 1 {
		t.Errorf("stored %d notes and %d answers, want %d and 1 (the refused transition's event rolled back)", notes, answers, n)
	}
	sess, _ := sessions.FindSession(ctx, c.ID)
	if sess.Seq != 1 || sess.State != "next" {
		t.Errorf("session = %+v", sess)
	}
}

// A writer that gives up (its context ends) while queued is answered with
// its context's error and its write is not made.
func TestGroupCommitCancelledWhileQueued(t *testing.T) {
	db := MustOpenDB(t)
	ctx := context.Background()
	c := MustCreateCase(t, db, 1)
	events := sqlite.NewEventService(db)
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- events.AppendEvent(short, &vpndiag.Event{CaseID: c.ID, Kind: vpndiag.EventNote, Message: "late"})
	}()
	if err := <-done; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("queued writer past its deadline: %v", err)
	}
	tx.Rollback()
	evs, _ := events.FindEvents(ctx, c.ID)
	for _, e := range evs {
		if e.Message == "late" {
			t.Fatal("the cancelled write was stored")
		}
	}
}
