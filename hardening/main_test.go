package hardening_test

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/vpndiag/vpndiag/bot/slack/slackfake"
	"github.com/vpndiag/vpndiag/internal/procmem"
)

// vpndiagBin is the vpndiag binary, built once in TestMain.
var vpndiagBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "vpndiag-hardening-")
	if err != nil {
		panic(err)
	}
	vpndiagBin = filepath.Join(dir, "vpndiag")
	if out, err := exec.Command("go", "build", "-o", vpndiagBin, "../cmd/vpndiag").CombinedOutput(); err != nil {
		os.Stderr.Write(out)
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// Secret is the Slack signing secret every serve of these tests uses.
const Secret = "hardening-signing-secret-0123456789"

// Serve is one `vpndiag serve` process.
type Serve struct {
	T       testing.TB
	Dir     string // holds the config file and the state directory
	DB      string // the database file
	Config  string // the config text
	Env     []string
	Addr    string // the HTTP listen address, host:port
	HubAddr string // the relay hub's address, when configured

	cmd  *exec.Cmd
	mu   sync.Mutex
	log  bytes.Buffer
	done chan error
	err  error
	over bool
}

var (
	listenRE = regexp.MustCompile(`listening" addr=(127\.0\.0\.1:[0-9]+)`)
	hubRE    = regexp.MustCompile(`relay hub up" hub_addr=(127\.0\.0\.1:[0-9]+)`)
)

// MustServe starts `vpndiag serve` in HTTP mode against fake Slack with the
// extra config text (YAML lines below slack:), on the database db (a new
// one in a temp dir when empty).
func MustServe(tb testing.TB, fake *slackfake.Server, db, extra string) *Serve {
	tb.Helper()
	s := NewServe(tb, fake, db, "slack:\n  mode: http\n"+extra)
	s.Start()
	return s
}

// NewServe prepares `vpndiag serve` with the whole config text; Start runs
// it. It is stopped (SIGTERM) when the test ends.
func NewServe(tb testing.TB, fake *slackfake.Server, db, config string, env ...string) *Serve {
	dir := tb.TempDir()
	if db == "" {
		db = filepath.Join(dir, "vpndiag.db")
	}
	s := &Serve{T: tb, Dir: dir, DB: db, Config: config,
		Env: append([]string{"SLACK_BOT_TOKEN=" + slackfake.BotToken, "SLACK_SIGNING_SECRET=" + Secret, "SLACK_API_URL=" + fake.APIURL()}, env...),
	}
	tb.Cleanup(func() {
		if s.cmd != nil && !s.Exited() {
			s.Stop(syscall.SIGTERM, 20*time.Second)
		}
		if tb.Failed() {
			tb.Logf("serve log (last 4000 bytes):\n%s", tail(s.Log(), 4000))
		}
	})
	return s
}

// Start (re)starts the process on the same database and waits until it
// listens.
func (s *Serve) Start() {
	s.T.Helper()
	cfg := filepath.Join(s.Dir, "vpndiag.yaml")
	if err := os.WriteFile(cfg, []byte(s.Config), 0o600); err != nil {
		s.T.Fatal(err)
	}
	s.cmd = exec.Command(vpndiagBin, "serve", "--config", cfg, "--listen", "127.0.0.1:0", "--db", s.DB)
	s.cmd.Env = append([]string{"HOME=" + s.Dir, "PATH=" + os.Getenv("PATH")}, s.Env...)
	pr, err := s.cmd.StderrPipe()
	if err != nil {
		s.T.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		s.T.Fatal(err)
	}
	s.mu.Lock()
	s.done, s.over, s.err = make(chan error, 1), false, nil
	s.mu.Unlock()
	found := make(chan string, 1)
	hub := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			s.mu.Lock()
			s.log.WriteString(line + "\n")
			s.mu.Unlock()
			if m := listenRE.FindStringSubmatch(line); m != nil {
				found <- m[1]
			}
			if m := hubRE.FindStringSubmatch(line); m != nil {
				hub <- m[1]
			}
		}
	}()
	done := s.done
	cmd := s.cmd
	go func() {
		err := cmd.Wait()
		s.mu.Lock()
		s.over, s.err = true, err
		s.mu.Unlock()
		done <- err
	}()
	select {
	case s.Addr = <-found:
	case err := <-done:
		s.T.Fatalf("serve exited at start: %v\n%s", err, s.Log())
	case <-time.After(30 * time.Second):
		s.T.Fatalf("serve did not listen\n%s", s.Log())
	}
	if strings.Contains(s.Config, "hub:") {
		select {
		case s.HubAddr = <-hub:
		case <-time.After(10 * time.Second):
			s.T.Fatalf("the relay hub did not start\n%s", s.Log())
		}
	}
}

// Pid is the process ID.
func (s *Serve) Pid() int { return s.cmd.Process.Pid }

// Exited reports whether the process has ended.
func (s *Serve) Exited() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.over
}

// Stop sends sig and waits up to timeout for the process to end; it returns
// the process's exit error.
func (s *Serve) Stop(sig syscall.Signal, timeout time.Duration) error {
	s.T.Helper()
	_ = s.cmd.Process.Signal(sig)
	select {
	case err := <-s.done:
		return err
	case <-time.After(timeout):
		_ = s.cmd.Process.Kill()
		err := <-s.done
		s.T.Errorf("serve did not stop within %s of %s", timeout, sig)
		return err
	}
}

// Log returns what the process logged so far.
func (s *Serve) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// RSS returns the process's peak and current resident set in bytes (0, 0
// once it has exited).
func (s *Serve) RSS() (peak, cur int64) {
	u, err := procmem.Of(s.Pid())
	if err != nil {
		return 0, 0
	}
	return u.Peak, u.RSS
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

// httpClient is shared by the scripted clients; many connections per host.
var httpClient = &http.Client{
	Timeout:   30 * time.Second,
	Transport: &http.Transport{MaxIdleConnsPerHost: 200, MaxConnsPerHost: 0, DisableCompression: true},
}

// Reply is an HTTP answer of serve; Err is set when there was none (the
// process died, the connection was refused).
type Reply struct {
	Status int
	Body   string
	Err    error
}

// Acked reports whether the request was acknowledged (200).
func (r Reply) Acked() bool { return r.Err == nil && r.Status == http.StatusOK }

// Sign returns Slack's signature headers for body at time ts with secret.
func Sign(secret string, ts time.Time, body []byte) http.Header {
	h := http.Header{}
	t := strconv.FormatInt(ts.Unix(), 10)
	h.Set("X-Slack-Request-Timestamp", t)
	h.Set("X-Slack-Signature", signature(secret, t, body))
	return h
}

// PostRaw sends body to addr+path with exactly hdr.
func PostRaw(ctx context.Context, addr, path string, body []byte, hdr http.Header) Reply {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+path, bytes.NewReader(body))
	if err != nil {
		return Reply{Err: err}
	}
	req.Header = hdr
	resp, err := httpClient.Do(req)
	if err != nil {
		return Reply{Err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return Reply{Status: resp.StatusCode, Body: string(b), Err: err}
}

// Post sends body signed now with Secret; ctype is its Content-Type and
// extra are more header name/value pairs.
func Post(ctx context.Context, addr, path string, body []byte, ctype string, extra ...string) Reply {
	hdr := Sign(Secret, time.Now(), body)
	hdr.Set("Content-Type", ctype)
	for i := 0; i+1 < len(extra); i += 2 {
		hdr.Set(extra[i], extra[i+1])
	}
	return PostRaw(ctx, addr, path, body, hdr)
}

// MustOpenDB opens the database file of serve for reading (WAL lets it
// read while serve writes).
func MustOpenDB(tb testing.TB, path string) *sql.DB {
	tb.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		tb.Fatal(err)
	}
	db.SetMaxOpenConns(2)
	tb.Cleanup(func() { db.Close() })
	return db
}

// Count runs a COUNT(*)-like query and returns its number.
func Count(tb testing.TB, db *sql.DB, query string, args ...any) int {
	tb.Helper()
	var n int
	if err := db.QueryRow(query, args...).Scan(&n); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return 0
		}
		tb.Fatalf("%s: %v", query, err)
	}
	return n
}

// Counts is the number of rows of every table that a delivery can change.
type Counts map[string]int

// Tables are the tables Counts counts.
var Tables = []string{"cases", "sessions", "answers", "events", "transition_keys", "dedup_keys", "sites", "evidence", "findings", "probe_results"}

// MustCounts counts the rows of Tables.
func MustCounts(tb testing.TB, db *sql.DB) Counts {
	tb.Helper()
	c := Counts{}
	for _, t := range Tables {
		c[t] = Count(tb, db, "SELECT COUNT(*) FROM "+t)
	}
	return c
}

// Diff returns the tables whose counts differ, as "table a→b".
func (c Counts) Diff(d Counts) []string {
	var out []string
	for _, t := range Tables {
		if c[t] != d[t] {
			out = append(out, fmt.Sprintf("%s %d→%d", t, c[t], d[t]))
		}
	}
	return out
}

// DataDiff is Diff without dedup_keys: the record that a delivery was
// handled (refused ones included) is not case data.
func (c Counts) DataDiff(d Counts) []string {
	var out []string
	for _, x := range c.Diff(d) {
		if !strings.HasPrefix(x, "dedup_keys ") {
			out = append(out, x)
		}
	}
	return out
}

// MustIntegrity runs the invariants every test checks at the end: SQLite's
// integrity check (on SQLite), one answer per (case, seq), every case's
// events numbered 1..n without a gap or a repeat.
func MustIntegrity(tb testing.TB, db *sql.DB) {
	tb.Helper()
	if _, pg := db.Driver().(*stdlib.Driver); !pg {
		var ic string
		if err := db.QueryRow("PRAGMA integrity_check").Scan(&ic); err != nil || ic != "ok" {
			tb.Errorf("integrity_check = %q, %v", ic, err)
		}
	}
	if n := Count(tb, db, "SELECT COUNT(*) FROM (SELECT case_id, seq FROM answers GROUP BY case_id, seq HAVING COUNT(*) > 1) AS d"); n != 0 {
		tb.Errorf("%d (case, seq) pairs answered more than once", n)
	}
	if n := Count(tb, db, "SELECT COUNT(*) FROM (SELECT case_id FROM events GROUP BY case_id HAVING COUNT(*) != MAX(seq) OR MIN(seq) != 1) AS d"); n != 0 {
		tb.Errorf("%d cases whose events are not numbered 1..n", n)
	}
}
