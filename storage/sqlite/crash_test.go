package sqlite_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/storage/sqlite"
)

// Environment of the helper process of TestCrash_SIGKILL.
const (
	crashDBEnv    = "VPNDIAG_SQLITE_CRASH_DB"
	crashRoundEnv = "VPNDIAG_SQLITE_CRASH_ROUND"
)

// TestHelperWriter is not a test: TestCrash_SIGKILL runs the test binary
// again with only this function and the crash environment. It writes
// transactions (a case, its case.created event and a 4 KiB note) in a loop
// and prints "committed ID" after each commit returns, until killed.
func TestHelperWriter(t *testing.T) {
	path := os.Getenv(crashDBEnv)
	if path == "" {
		t.Skip("helper process for TestCrash_SIGKILL")
	}
	round, err := strconv.Atoi(os.Getenv(crashRoundEnv))
	if err != nil {
		t.Fatal(err)
	}
	db := sqlite.NewDB(path)
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cs, ss := sqlite.NewCaseService(db), sqlite.NewSessionService(db)
	data, _ := json.Marshal(map[string]string{"text": strings.Repeat("x", 4096)})
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		c := &vpndiag.Case{Marker: marker(round*5000 + i), Title: "crash", Status: vpndiag.CaseOpen,
			Origin: "terminal", CreatedBy: "writer"}
		if err := cs.CreateCase(ctx, c); err != nil {
			t.Fatal(err)
		}
		if err := ss.CreateSession(ctx, &vpndiag.Session{CaseID: c.ID, Flow: "triage", State: "start"}); err != nil {
			t.Fatal(err)
		}
		if err := ss.ApplyTransition(ctx, &vpndiag.Transition{CaseID: c.ID, FromSeq: 0,
			Session: &vpndiag.Session{Flow: "triage", State: "next"},
			Events:  []*vpndiag.Event{{Actor: "writer", Kind: vpndiag.EventNote, Message: "note", Data: data}},
		}); err != nil {
			t.Fatal(err)
		}
		fmt.Printf("committed %d\n", c.ID)
	}
}

// TestCrash_SIGKILL kills a writing process with SIGKILL, three times, and
// checks that the database passes integrity_check and holds every
// transaction the writer saw commit.
func TestCrash_SIGKILL(t *testing.T) {
	if os.Getenv(crashDBEnv) != "" {
		t.Skip("inside the helper process")
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	var committed []int64
	for round := 0; round < 3; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWriter$")
		cmd.Env = append(os.Environ(), crashDBEnv+"="+path, crashRoundEnv+"="+strconv.Itoa(round))
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		killAt := 50 + 40*round
		sc := bufio.NewScanner(out)
		killed := false
		for sc.Scan() {
			id, ok := strings.CutPrefix(sc.Text(), "committed ")
			if !ok {
				continue
			}
			n, err := strconv.ParseInt(id, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			committed = append(committed, n)
			if !killed && len(committed) >= killAt*(round+1) {
				if err := cmd.Process.Kill(); err != nil {
					t.Fatal(err)
				}
				killed = true
			}
		}
		err = cmd.Wait()
		if !killed {
			t.Fatalf("round %d: writer stopped before it was killed: %v", round, err)
		}
		t.Logf("round %d: killed after %d commits reported (%v)", round, len(committed), err)

		db := sqlite.NewDB(path)
		if err := db.Open(); err != nil {
			t.Fatalf("round %d: open after SIGKILL: %v", round, err)
		}
		var res string
		if err := db.SQL().QueryRowContext(context.Background(), `PRAGMA integrity_check`).Scan(&res); err != nil {
			t.Fatal(err)
		} else if res != "ok" {
			t.Fatalf("round %d: integrity_check = %q", round, res)
		}
		cs, es := sqlite.NewCaseService(db), sqlite.NewEventService(db)
		for _, id := range committed {
			if _, err := cs.FindCaseByID(context.Background(), id); err != nil {
				t.Fatalf("round %d: committed case %d: %v", round, id, err)
			}
			evs, err := es.FindEvents(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			} else if len(evs) != 2 {
				t.Fatalf("round %d: committed case %d has %d events, want 2", round, id, len(evs))
			}
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
