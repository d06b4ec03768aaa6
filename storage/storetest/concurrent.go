package storetest

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag"
)

// testCaseService_MarkersUniquePerDay: a marker is unique in the store, a
// taken one is drawn again, and two writers racing for one marker get one
// case and one ECONFLICT.
func testCaseService_MarkersUniquePerDay(t *testing.T, open Opener) {
	ctx := context.Background()
	db := open(t)
	day := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	taken := &vpndiag.Case{Marker: "VPN-20261125-0000", Status: vpndiag.CaseOpen, Origin: "slack", CreatedBy: "U1"}
	if err := db.Cases.CreateCase(ctx, taken); err != nil {
		t.Fatal(err)
	}
	rnd := bytes.NewReader([]byte{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1})
	if m, err := vpndiag.NewUniqueMarker(ctx, db.Cases, day, rnd); err != nil || m != "VPN-20261125-1111" {
		t.Fatalf("NewUniqueMarker = %q, %v; want the third draw VPN-20261125-1111", m, err)
	}
	// The same four characters on another day are another marker.
	other := &vpndiag.Case{Marker: "VPN-20261126-0000", Status: vpndiag.CaseOpen, Origin: "slack", CreatedBy: "U1"}
	if err := db.Cases.CreateCase(ctx, other); err != nil {
		t.Fatalf("same characters on the next day: %v", err)
	}

	const writers = 8
	got := race(writers, func(int) error {
		c := &vpndiag.Case{Marker: "VPN-20261125-RACE", Status: vpndiag.CaseOpen, Origin: "slack", CreatedBy: "U1"}
		return db.Cases.CreateCase(ctx, c)
	})
	if got[""] != 1 || got[vpndiag.ECONFLICT] != writers-1 {
		t.Fatalf("racing creates of one marker: %v, want one success and %d ECONFLICT", got, writers-1)
	}
}

// testDedupService_ConcurrentClaims: of many claims of one key at the same
// moment exactly one is first.
func testDedupService_ConcurrentClaims(t *testing.T, open Opener) {
	ctx := context.Background()
	db := open(t)
	const claimers, keys = 20, 5
	var wg sync.WaitGroup
	var mu sync.Mutex
	firsts := map[string]int{}
	for i := 0; i < claimers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for k := 0; k < keys; k++ {
				key := fmt.Sprintf("event:Ev%d", (i+k)%keys)
				first, err := db.Dedup.Claim(ctx, key)
				if err != nil {
					t.Error(err)
					return
				}
				if first {
					mu.Lock()
					firsts[key]++
					mu.Unlock()
				}
			}
		}(i)
	}
	wg.Wait()
	if len(firsts) != keys {
		t.Fatalf("first claims = %v, want each of %d keys once", firsts, keys)
	}
	for k, n := range firsts {
		if n != 1 {
			t.Fatalf("key %s claimed first %d times", k, n)
		}
	}
}

// testSessionService_ConcurrentTransitions: writers answering the same step
// at once (a double click reaching two replicas, a retried request) leave
// exactly one transition; the others get ECONFLICT and change nothing.
// Writers repeating one idempotency key after the step moved on are refused
// too.
func testSessionService_ConcurrentTransitions(t *testing.T, open Opener) {
	ctx := context.Background()
	db := open(t)
	c := MustCreateCase(t, db, 1)
	if err := db.Sessions.CreateSession(ctx, &vpndiag.Session{CaseID: c.ID, Flow: "triage", FlowVersion: 1,
		State: "start", Path: vpndiag.Path{{State: "start"}}}); err != nil {
		t.Fatal(err)
	}
	step := func(from int, actor, key string) *vpndiag.Transition {
		return &vpndiag.Transition{
			CaseID: c.ID, FromSeq: from, IdempotencyKey: key,
			Session: &vpndiag.Session{Flow: "triage", FlowVersion: 1, State: "next-" + actor, Path: vpndiag.Path{{State: "start"}}},
			Answer:  &vpndiag.Answer{Flow: "triage", State: "start", Question: "Up?", Choice: "no", Source: vpndiag.SourceUser, Actor: actor},
			Events:  []*vpndiag.Event{{Actor: actor, Kind: vpndiag.EventAnswer, Message: "no"}},
		}
	}
	for round := 0; round < 3; round++ {
		const writers = 10
		got := race(writers, func(w int) error {
			// Half the writers replay one delivery (same key), half are
			// separate clicks (own keys).
			key := fmt.Sprintf("r%d-w%d", round, w)
			if w%2 == 0 {
				key = fmt.Sprintf("r%d-same", round)
			}
			return db.Sessions.ApplyTransition(ctx, step(round, fmt.Sprintf("U%d", w), key))
		})
		if got[""] != 1 || got[vpndiag.ECONFLICT] != writers-1 {
			t.Fatalf("round %d: outcomes %v, want one success and %d ECONFLICT", round, got, writers-1)
		}
		sess, err := db.Sessions.FindSession(ctx, c.ID)
		if err != nil || sess.Seq != round+1 {
			t.Fatalf("round %d: session %+v, %v; want seq %d", round, sess, err, round+1)
		}
	}
	answers, err := db.Sessions.FindAnswers(ctx, c.ID)
	if err != nil || len(answers) != 3 {
		t.Fatalf("answers = %d, %v; want one per step (3)", len(answers), err)
	}
	for i, a := range answers {
		if a.Seq != i {
			t.Fatalf("answer %d has seq %d", i, a.Seq)
		}
	}
	events, err := db.Events.FindEvents(ctx, c.ID)
	if err != nil || len(events) != 4 {
		t.Fatalf("events = %d, %v; want case.created and one answer per step (4)", len(events), err)
	}
	// A key seen before is refused even at the current seq.
	if err := db.Sessions.ApplyTransition(ctx, step(3, "U0", "final")); err != nil {
		t.Fatal(err)
	}
	wantCode(t, db.Sessions.ApplyTransition(ctx, step(4, "U0", "final")), vpndiag.ECONFLICT)
}

// race runs f for writers 0 to n-1 at the same moment and counts the
// outcomes by error code ("" for success).
func race(n int, f func(w int) error) map[string]int {
	var wg sync.WaitGroup
	codes := make(chan string, n)
	for w := 0; w < n; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			codes <- vpndiag.ErrorCode(f(w))
		}(w)
	}
	wg.Wait()
	close(codes)
	got := map[string]int{}
	for c := range codes {
		got[c]++
	}
	return got
}
