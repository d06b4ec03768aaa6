package hardening_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag/bot/slack/slackfake"
)

// cases is how many scripted cases run at once in the crash tests.
const cases = 100

// load runs the scripts concurrently until ctx ends or they finish; it
// returns the errors that are not "serve stopped answering".
func load(ctx context.Context, scripts []*Script) []error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for _, sc := range scripts {
		wg.Go(func() {
			err := sc.Run(ctx)
			if err != nil && !errors.Is(err, errStopped) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				mu.Lock()
				errs = append(errs, fmt.Errorf("%s: %w", sc.Channel, err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errs
}

// newScripts returns one script per case, each in its own channel with its
// own user.
func newScripts(s *Slack, db *Serve, seed uint64) []*Script {
	sdb := MustOpenDB(s.T, db.DB)
	out := make([]*Script, cases)
	for i := range out {
		out[i] = &Script{S: s, DB: sdb, User: fmt.Sprintf("U%04d", i), Channel: fmt.Sprintf("C%04d", i),
			Rand: rand.New(rand.NewPCG(seed, uint64(i))), MaxSteps: 12, Think: 500 * time.Millisecond}
	}
	return out
}

// checkAcked fails for every acknowledged answer the database does not
// hold, and returns how many were checked.
func checkAcked(t *testing.T, s *Serve, scripts []*Script) int {
	t.Helper()
	return checkAckedIn(t, MustOpenDB(t, s.DB), scripts)
}

// checkAckedIn is checkAcked on an open database (SQLite or PostgreSQL).
func checkAckedIn(t *testing.T, db *sql.DB, scripts []*Script) int {
	t.Helper()
	n := 0
	for _, sc := range scripts {
		sc.mu.Lock()
		acks := append([]Acked(nil), sc.Acks...)
		started := sc.Start
		sc.mu.Unlock()
		if started {
			if _, ok, err := caseOf(db, sc.Channel); err != nil || !ok {
				t.Errorf("%s: the start was acknowledged but there is no case (%v)", sc.Channel, err)
			}
		}
		for _, a := range acks {
			n++
			if Count(t, db, "SELECT COUNT(*) FROM answers WHERE case_id = $1 AND seq = $2 AND source = 'user'", a.Case, a.Seq) != 1 {
				t.Errorf("%s: the answer %q to step %d of case %d was acknowledged and is not stored once", sc.Channel, a.Key, a.Seq, a.Case)
			}
		}
	}
	MustIntegrity(t, db)
	return n
}

// TestCrashMidFlow kills serve (SIGKILL) at a random moment while 100
// scripted cases click through their flows, restarts it on the same
// database and lets every case continue, three times; then checks that no
// acknowledged answer was lost and nothing was stored twice.
func TestCrashMidFlow(t *testing.T) {
	fake := slackfake.New(t)
	srv := MustServe(t, fake, "", "  max_case_starts_per_user: -1\n")
	sl := NewSlack(t, fake, func() string { return srv.Addr })
	scripts := newScripts(sl, srv, 1)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 10))
	const rounds = 3
	prevLost := 0
	for round := 1; round <= rounds; round++ {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		// The first round starts 100 cases at once; later ones pick up mid-flow.
		killAt := time.Duration(300+rng.IntN(600)) * time.Millisecond
		if round > 1 {
			killAt = time.Duration(100+rng.IntN(300)) * time.Millisecond
		}
		errc := make(chan []error, 1)
		go func() { errc <- load(ctx, scripts) }()
		time.Sleep(killAt)
		steps, lost := 0, 0
		_ = srv.Stop(syscall.SIGKILL, 10*time.Second)
		errs := <-errc
		cancel()
		for _, e := range errs {
			t.Errorf("round %d: %v", round, e)
		}
		for _, sc := range scripts {
			steps += sc.Steps
			lost += sc.Lost
		}
		checked := checkAcked(t, srv, scripts)
		t.Logf("round %d: SIGKILL after %s; %d answers acknowledged so far, all %d stored once; %d requests in flight got no answer", round, killAt, steps, checked, lost-prevLost)
		prevLost = lost
		srv.Start()
	}
	// After the last restart every case runs to its end.
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	start := time.Now()
	for _, e := range load(ctx, scripts) {
		t.Errorf("final run: %v", e)
	}
	done, steps := 0, 0
	for _, sc := range scripts {
		if sc.Done {
			done++
		}
		steps += sc.Steps
	}
	checked := checkAcked(t, srv, scripts)
	t.Logf("after %d kills: %d/%d cases reached their end (resolution, escalation or probe step) in %s after the last restart; %d acknowledged answers, all stored once; events contiguous, integrity ok",
		rounds, done, cases, time.Since(start).Round(time.Millisecond), checked)
	if done != cases {
		t.Errorf("%d cases did not reach their end", cases-done)
	}
}

// TestSIGTERMUnderLoad stops serve with SIGTERM while the scripted cases
// run: requests in flight are answered, serve exits 0, no acknowledged
// answer is lost, and the cases continue after a restart.
func TestSIGTERMUnderLoad(t *testing.T) {
	fake := slackfake.New(t)
	srv := MustServe(t, fake, "", "  max_case_starts_per_user: -1\n")
	sl := NewSlack(t, fake, func() string { return srv.Addr })
	scripts := newScripts(sl, srv, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	errc := make(chan []error, 1)
	go func() { errc <- load(ctx, scripts) }()
	time.Sleep(400 * time.Millisecond)
	t0 := time.Now()
	err := srv.Stop(syscall.SIGTERM, 20*time.Second)
	stopped := time.Since(t0)
	errs := <-errc
	cancel()
	if err != nil {
		t.Errorf("serve exited with %v after SIGTERM", err)
	}
	for _, e := range errs {
		t.Error(e)
	}
	steps, lost := 0, 0
	for _, sc := range scripts {
		steps += sc.Steps
		lost += sc.Lost
	}
	checked := checkAcked(t, srv, scripts)
	t.Logf("SIGTERM under load: exited in %s with %v; %d answers acknowledged, all %d stored once; %d requests refused or unanswered after the signal (none acknowledged and lost)",
		stopped.Round(time.Millisecond), err, steps, checked, lost)
	srv.Start()
	ctx2, cancel2 := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel2()
	for _, e := range load(ctx2, scripts) {
		t.Errorf("after restart: %v", e)
	}
	done := 0
	for _, sc := range scripts {
		if sc.Done {
			done++
		}
	}
	checkAcked(t, srv, scripts)
	if done != cases {
		t.Errorf("%d of %d cases did not reach their end after the restart", cases-done, cases)
	}
}
