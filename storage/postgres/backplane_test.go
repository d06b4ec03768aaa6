package postgres_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/internal/testkit"
	"github.com/vpndiag/vpndiag/storage/postgres"
)

// runBackplane starts b until the test ends.
func runBackplane(t *testing.T, b *postgres.Backplane) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { b.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// TestBackplane_TakeOver: a job claimed by a replica that died (its lease
// ran out) goes back to pending and is run by the replica the relay's link
// moved to; the replica that asked gets that result. Exactly one replica
// runs each job.
func TestBackplane_TakeOver(t *testing.T) {
	pg := testkit.StartPostgres(t)
	ctx := context.Background()
	db := postgres.NewDB(pg.NewDatabase(t))
	if err := db.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	// Replica "ghost" held relay r1 and claimed the job, then died.
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := db.Pool().Exec(ctx, sql, args...); err != nil {
			t.Fatal(err)
		}
	}
	exec(`INSERT INTO replicas (id, host, started_at, heartbeat_at) VALUES ('ghost', 'h', now(), now())`)
	exec(`INSERT INTO relay_links (relay, site_id, replica, heartbeat_at) VALUES ('r1', 7, 'ghost', now())`)

	asker := postgres.NewBackplane(db)
	asker.Lease = time.Second
	runBackplane(t, asker)
	type out struct {
		res *vpndiag.ProbeResult
		err error
	}
	got := make(chan out, 1)
	go func() {
		fctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		res, err := asker.Forward(fctx, &vpndiag.ProbeRequest{ID: "job-1", Kind: vpndiag.ProbeTCP, Target: "127.0.0.1:1", Relay: "r1"})
		got <- out{res, err}
	}()
	// The ghost claims it ...
	deadline := time.Now().Add(5 * time.Second)
	for {
		var n int
		if err := db.Pool().QueryRow(ctx, `SELECT count(*) FROM relay_jobs WHERE state = 'pending'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	exec(`UPDATE relay_jobs SET state = 'running', claimed_by = 'ghost', claimed_at = now() WHERE state = 'pending'`)
	// ... and dies: its lease runs out; the relay reconnects to replica B.
	exec(`UPDATE replicas SET heartbeat_at = now() - interval '1 minute' WHERE id = 'ghost'`)
	var runs atomic.Int32
	var holds atomic.Bool
	holds.Store(true)
	b := postgres.NewBackplane(db)
	b.Lease = time.Second
	b.Held = func() map[string]int64 {
		if holds.Load() {
			return map[string]int64{"r1": 7}
		}
		return nil
	}
	b.Probe = func(_ context.Context, req *vpndiag.ProbeRequest) (*vpndiag.ProbeResult, error) {
		runs.Add(1)
		return &vpndiag.ProbeResult{ID: req.ID, Kind: req.Kind, Target: req.Target, Outcome: vpndiag.OutcomeRefused, Relay: "r1"}, nil
	}
	runBackplane(t, b)

	o := <-got
	if o.err != nil || o.res.ID != "job-1" || o.res.Outcome != vpndiag.OutcomeRefused {
		t.Fatalf("forwarded probe after the take-over = %+v, %v", o.res, o.err)
	}
	if n := runs.Load(); n != 1 {
		t.Fatalf("the job ran %d times, want once", n)
	}
	// A relay nobody holds any more is refused at once, saying so.
	exec(`DELETE FROM relay_links`)
	holds.Store(false)
	time.Sleep(1500 * time.Millisecond) // B's next heartbeat drops its link
	_, err := asker.Forward(ctx, &vpndiag.ProbeRequest{Kind: vpndiag.ProbeTCP, Target: "127.0.0.1:1", Relay: "r1"})
	if vpndiag.ErrorCode(err) != vpndiag.EUNAVAILABLE {
		t.Fatalf("forward to a relay nobody holds: %v, want EUNAVAILABLE", err)
	}
}
