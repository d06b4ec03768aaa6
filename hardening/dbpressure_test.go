package hardening_test

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag/bot/slack/slackfake"
)

// lockHelperEnv, when set in the environment of this test binary, makes it
// hold an exclusive lock on the database it names instead of running tests
// (see holdLock).
const lockHelperEnv = "HARDENING_HOLD_LOCK"

func init() {
	if path := os.Getenv(lockHelperEnv); path != "" {
		holdLock(path)
	}
}

// holdLock takes an exclusive write lock on the database at path, says
// "locked" on stdout, holds it until stdin closes, and exits.
func holdLock(path string) {
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	conn, err := db.Conn(context.Background())
	if err == nil {
		_, err = conn.ExecContext(context.Background(), "BEGIN EXCLUSIVE")
	}
	if err == nil {
		_, err = conn.ExecContext(context.Background(), "INSERT INTO dedup_keys (key, created_at) VALUES ('lock-holder', '2026-01-01T00:00:00Z')")
	}
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println("locked")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	_, _ = conn.ExecContext(context.Background(), "ROLLBACK")
	os.Exit(0)
}

// clickAndHear clicks b as user and returns the reply and what the user
// was told privately within wait.
func clickAndHear(t *testing.T, sl *Slack, user, channel string, b Button, wait time.Duration, extra ...string) (Reply, []string) {
	t.Helper()
	settle(t, sl.Fake)
	from := len(sl.Fake.Calls(""))
	r := sl.Interaction(context.Background(), sl.ClickPayload(user, channel, sl.Root(channel), b.TS, b.ActionID), extra...)
	var got []string
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		if got = told(sl.Fake, from); len(got) > 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return r, got
}

// TestDatabaseFull fills the disk under the database (a small tmpfs) while
// a case runs: the user is told the disk is full, nothing half-written is
// left, and the case continues once space is freed.
func TestDatabaseFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := filepath.Join(t.TempDir(), "tmpfs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=6m", "hardening-"+fmt.Sprint(os.Getpid()), dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	fake := slackfake.New(t)
	srv := MustServe(t, fake, filepath.Join(dir, "vpndiag.db"), "")
	sl := NewSlack(t, fake, func() string { return srv.Addr })
	cs, btns := startCase(t, sl, srv, "U1", "C1")
	settle(t, fake)

	// Fill the file system.
	filler := filepath.Join(dir, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	f.Close()
	// Small writes may still fit in the WAL's free pages; click until a
	// write needs a new page. Every click is a new delivery (a new trigger).
	b := button(btns, "range_changed")
	var told []string
	var r Reply
	for i := 0; i < 5; i++ {
		r, told = clickAndHear(t, sl, "U1", "C1", b, 8*time.Second)
		if len(told) > 0 {
			break
		}
		if cur, _, _ := caseOf(MustOpenDB(t, srv.DB), "C1"); cur.Seq != cs.Seq {
			t.Skip("the answer fitted in the WAL's free pages; the disk-full path was not reached")
		}
	}
	msg := strings.Join(told, "\n")
	if !strings.Contains(msg, "disk is full") && !strings.Contains(msg, "could not record your click") {
		t.Fatalf("disk full: the user was told %q (reply %d %v)", told, r.Status, r.Err)
	}
	if r.Acked() && !strings.Contains(msg, "disk is full") {
		// A 200 must mean the answer is stored.
		if cur, _, _ := caseOf(MustOpenDB(t, srv.DB), "C1"); cur.Seq == cs.Seq {
			t.Errorf("the click was acknowledged (200) but not stored")
		}
	}
	t.Logf("disk full: click answered %d; the user was told %q", r.Status, told)
	if srv.Exited() {
		t.Fatal("serve died on a full disk")
	}

	// Space again: the same step answered by a new click continues the case.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	r, _ = clickAndHear(t, sl, "U1", "C1", b, 0)
	if !r.Acked() {
		t.Fatalf("click after freeing space: %+v", r)
	}
	db := MustOpenDB(t, srv.DB)
	after, _, _ := caseOf(db, "C1")
	if after.Seq <= cs.Seq {
		t.Fatalf("the case did not continue after the disk was freed: seq %d", after.Seq)
	}
	if n := Count(t, db, "SELECT COUNT(*) FROM answers WHERE case_id = ?", cs.ID); n != 1 {
		t.Errorf("%d answers after the full disk and one successful click; want 1", n)
	}
	MustIntegrity(t, db)
	t.Logf("disk full: after freeing space the case went on from step %d to %d; integrity_check ok, one answer", cs.Seq, after.Seq)
}

// TestDatabaseLocked has another process hold an exclusive lock on the
// database longer than serve's busy timeout (5 s) while a user clicks: the
// click is not acknowledged as done, the user is told to try again, and
// the click delivered again after the lock goes answers the step once.
func TestDatabaseLocked(t *testing.T) {
	fake := slackfake.New(t)
	srv := MustServe(t, fake, "", "")
	sl := NewSlack(t, fake, func() string { return srv.Addr })
	cs, btns := startCase(t, sl, srv, "U1", "C1")
	settle(t, fake)

	holder := exec.Command(os.Args[0], "-test.run=^$")
	holder.Env = append(os.Environ(), lockHelperEnv+"="+srv.DB)
	stdin, _ := holder.StdinPipe()
	stdout, _ := holder.StdoutPipe()
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); _ = holder.Wait() })
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	if strings.TrimSpace(line) != "locked" {
		t.Fatalf("the lock holder said %q", line)
	}
	b := button(btns, "range_changed")
	payload := sl.ClickPayload("U1", "C1", sl.Root("C1"), b.TS, b.ActionID)
	settle(t, fake)
	from := len(fake.Calls(""))
	t0 := time.Now()
	r := sl.Interaction(context.Background(), payload)
	ackIn := time.Since(t0)
	var got []string
	fake.WaitFor(t, 15*time.Second, "the user to be told the database is busy", func() bool {
		got = told(fake, from)
		return len(got) > 0
	})
	toldIn := time.Since(t0)
	msg := strings.Join(got, "\n")
	if !strings.Contains(msg, "busy") && !strings.Contains(msg, "could not record your click") {
		t.Errorf("locked database: the user was told %q", got)
	}
	if r.Acked() {
		t.Errorf("the click was acknowledged while the database was locked (it cannot have been stored)")
	}
	t.Logf("locked database: click answered %d after %s (Slack delivers it again); the user was told %q after %s",
		r.Status, ackIn.Round(time.Millisecond), got, toldIn.Round(time.Millisecond))

	// The lock goes; Slack's retry of the same click goes through once.
	stdin.Close()
	_ = holder.Wait()
	r = sl.Interaction(context.Background(), payload, "X-Slack-Retry-Num", "1", "X-Slack-Retry-Reason", "http_error")
	if !r.Acked() {
		t.Fatalf("retry after the lock: %+v", r)
	}
	db := MustOpenDB(t, srv.DB)
	after, _, _ := caseOf(db, "C1")
	if after.Seq <= cs.Seq {
		t.Fatalf("the retried click did not answer the step: seq %d", after.Seq)
	}
	if n := Count(t, db, "SELECT COUNT(*) FROM answers WHERE case_id = ?", cs.ID); n != 1 {
		t.Errorf("%d answers; want 1", n)
	}
	if n := Count(t, db, "SELECT COUNT(*) FROM dedup_keys WHERE key = 'lock-holder'"); n != 0 {
		t.Errorf("the lock holder's rolled-back write is in the database")
	}
	MustIntegrity(t, db)
	t.Logf("locked database: after the lock went, Slack's retry answered step %d once (now at %d); integrity_check ok", cs.Seq, after.Seq)
}
