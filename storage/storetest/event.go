package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag"
)

func testEventService_AppendFind(t *testing.T, open Opener) {
	ctx := context.Background()
	db := open(t)
	es := db.Events
	c := MustCreateCase(t, db, 1)

	at := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	for _, tt := range []struct {
		name string
		e    *vpndiag.Event
	}{
		{"WithTimeAndData", &vpndiag.Event{CaseID: c.ID, Time: at, Actor: "U123", Kind: vpndiag.EventAnswer,
			Message: "Answered yes", Data: json.RawMessage(`{"choice":"yes"}`)}},
		{"NoTimeNoData", &vpndiag.Event{CaseID: c.ID, Actor: "bot", Kind: vpndiag.EventNote, Message: "Note"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := es.AppendEvent(ctx, tt.e); err != nil {
				t.Fatal(err)
			}
			if tt.e.ID == 0 || tt.e.Time.IsZero() {
				t.Fatalf("ID/Time not set: %+v", tt.e)
			}
			all, err := es.FindEvents(ctx, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			last := all[len(all)-1]
			if !reflect.DeepEqual(last, tt.e) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", last, tt.e)
			}
			if last.Seq != len(all) {
				t.Fatalf("seq = %d, want %d", last.Seq, len(all))
			}
		})
	}

	wantCode(t, es.AppendEvent(ctx, &vpndiag.Event{CaseID: 999, Kind: vpndiag.EventNote}), vpndiag.ENOTFOUND)
	wantCode(t, es.AppendEvent(ctx, &vpndiag.Event{CaseID: c.ID}), vpndiag.EINVALID)
	wantCode(t, es.AppendEvent(ctx, &vpndiag.Event{CaseID: c.ID, Kind: "x", Data: json.RawMessage("{")}), vpndiag.EINVALID)
	_, err := es.FindEvents(ctx, 999)
	wantCode(t, err, vpndiag.ENOTFOUND)

	// The timeline is append-only at the schema level too.
	if err := db.Exec(ctx, `UPDATE events SET message = 'x'`); err == nil {
		t.Fatal("UPDATE of events succeeded")
	}
	if err := db.Exec(ctx, `DELETE FROM events`); err == nil {
		t.Fatal("DELETE of events succeeded")
	}
}

// testEventService_Concurrent has 100 goroutines append events to 20 cases
// at once: none may fail, and every case's seq must run 1..n in commit
// order (ascending IDs) with each writer's events in the order it wrote them.
func testEventService_Concurrent(t *testing.T, open Opener) {
	const writers, cases, perWriter = 100, 20, 5
	ctx := context.Background()
	db := open(t)
	es := db.Events
	var cs []*vpndiag.Case
	for i := 0; i < cases; i++ {
		cs = append(cs, MustCreateCase(t, db, i))
	}

	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, writers*perWriter)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < perWriter; i++ {
				e := &vpndiag.Event{
					CaseID:  cs[(w+i)%cases].ID,
					Actor:   fmt.Sprintf("writer-%d", w),
					Kind:    vpndiag.EventNote,
					Message: fmt.Sprintf("%d/%d", w, i),
				}
				if err := es.AppendEvent(ctx, e); err != nil {
					errs <- err
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("%d events by %d goroutines in %v", writers*perWriter, writers, time.Since(start))

	total := 0
	for _, c := range cs {
		got, err := es.FindEvents(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		lastByWriter := map[string]int{}
		for i, e := range got {
			if e.Seq != i+1 {
				t.Fatalf("case %d: event %d has seq %d", c.ID, i, e.Seq)
			}
			if i > 0 && e.ID <= got[i-1].ID {
				t.Fatalf("case %d: seq %d has ID %d, not after %d", c.ID, e.Seq, e.ID, got[i-1].ID)
			}
			if e.Kind != vpndiag.EventNote {
				continue
			}
			var w, n int
			if _, err := fmt.Sscanf(e.Message, "%d/%d", &w, &n); err != nil {
				t.Fatal(err)
			}
			if prev, ok := lastByWriter[e.Actor]; ok && n <= prev {
				t.Fatalf("case %d: %s wrote %d after %d", c.ID, e.Actor, n, prev)
			}
			lastByWriter[e.Actor] = n
			total++
		}
	}
	if total != writers*perWriter {
		t.Fatalf("stored %d events, want %d", total, writers*perWriter)
	}
}
