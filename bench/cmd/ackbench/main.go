// Command ackbench measures how fast the Slack bot acknowledges signed
// slash commands and button clicks in HTTP mode, against a bare net/http
// handler that only answers 200, with the same open-loop load generator at
// the same fixed rates on loopback.
//
// The bot is the real one (bot/slack's Handler, the built-in flows on the
// flow engine, a SQLite file on disk) talking to a minimal fake Slack Web
// API on loopback. It acknowledges first and works afterwards, so after
// each phase ackbench waits until the work is committed to SQLite (a case
// and a session per command, a transition per click) and reports how many
// were committed and how long the queue took to drain.
//
//	go run ./bench/cmd/ackbench -rates 100,500,1000 -seconds 3
//
// It prints a human summary on stderr and ROW lines (see bench/internal/row)
// on stdout. Only loopback is used.
package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/bench/internal/row"
	"github.com/vpndiag/vpndiag/bench/loadgen"
	"github.com/vpndiag/vpndiag/bot"
	botslack "github.com/vpndiag/vpndiag/bot/slack"
	"github.com/vpndiag/vpndiag/flows"
	"github.com/vpndiag/vpndiag/storage/sqlite"
)

// secret is the signing secret shared by the generator and the bot.
const secret = "bench-signing-secret-0123456789ab"

func main() {
	rates := flag.String("rates", "100,500,1000", "comma-separated request rates per second")
	seconds := flag.Float64("seconds", 3, "seconds of timed load per rate and kind")
	dir := flag.String("dir", "", "directory for the SQLite file (default: a new temporary directory, removed after)")
	flag.Parse()
	var rs []int
	for _, f := range strings.Split(*rates, ",") {
		r, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || r <= 0 || r > 5000 {
			fail(fmt.Errorf("-rates: %q is not a rate from 1 to 5000", f))
		}
		rs = append(rs, r)
	}
	if *seconds <= 0 || *seconds > 30 {
		fail(errors.New("-seconds must be more than 0 and at most 30"))
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "vpndiag-ackbench-")
		if err != nil {
			fail(err)
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	if err := run(context.Background(), rs, *seconds, *dir); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "ackbench:", err)
	os.Exit(1)
}

// env is the bot in HTTP mode, the bare handler and the fake Slack, each on
// its own loopback listener.
type env struct {
	db       *sqlite.DB
	cases    *sqlite.CaseService
	sessions *sqlite.SessionService
	engine   *flows.Engine
	bot      *botslack.Bot
	botURL   string
	bareURL  string
	slackURL string
	slackN   atomic.Int64
	busyN    atomic.Int64
	logs     logCounter
	closers  []func()
}

// logCounter is a slog handler that formats every record at Info and above
// as JSON (the cost production pays) and counts warnings and errors by
// message and error text.
type logCounter struct {
	mu     sync.Mutex
	counts map[string]int
	order  []string
	json   slog.Handler
}

func (l *logCounter) Enabled(_ context.Context, lv slog.Level) bool { return lv >= slog.LevelInfo }

func (l *logCounter) Handle(ctx context.Context, r slog.Record) error {
	l.mu.Lock()
	if l.json == nil {
		l.json = slog.NewJSONHandler(io.Discard, nil)
	}
	l.mu.Unlock()
	_ = l.json.Handle(ctx, r)
	if r.Level < slog.LevelWarn {
		return nil
	}
	key := r.Level.String() + " " + r.Message
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "error" || a.Key == "reason" {
			key += ": " + a.Value.String()
		}
		return true
	})
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.counts == nil {
		l.counts = map[string]int{}
	}
	if l.counts[key] == 0 {
		l.order = append(l.order, key)
	}
	l.counts[key]++
	return nil
}

func (l *logCounter) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logCounter) WithGroup(string) slog.Handler      { return l }

// summary returns "N× message" lines, first seen first.
func (l *logCounter) summary() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, k := range l.order {
		out = append(out, fmt.Sprintf("%d× %s", l.counts[k], k))
	}
	return out
}

func listen(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}

func start(dir string) (*env, error) {
	e := &env{}
	// The fake Slack Web API: every method succeeds; chat.postMessage
	// returns a new message timestamp each time.
	var ts atomic.Int64
	slackURL, stop, err := listen(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		e.slackN.Add(1)
		// A click refused because the work queue is full is acknowledged
		// with 200 and the user is told to click again.
		if strings.HasSuffix(r.URL.Path, "chat.postEphemeral") && bytes.Contains(body, []byte("busy")) {
			e.busyN.Add(1)
		}
		w.Header().Set("Content-Type", "application/json")
		n := ts.Add(1)
		fmt.Fprintf(w, `{"ok":true,"channel":"C1","ts":"1700000000.%06d","message_ts":"1700000000.%06d"}`, n, n)
	}))
	if err != nil {
		return nil, err
	}
	e.closers = append(e.closers, stop)
	e.slackURL = slackURL + "/api/"

	e.db = sqlite.NewDB(filepath.Join(dir, "ackbench.db"))
	if err := e.db.Open(); err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	e.closers = append(e.closers, func() { _ = e.db.Close() })
	e.cases, e.sessions = sqlite.NewCaseService(e.db), sqlite.NewSessionService(e.db)
	sites, events, findings := sqlite.NewSiteService(e.db), sqlite.NewEventService(e.db), sqlite.NewFindingService(e.db)
	// As `vpndiag serve` wires it: the built-in flows on the engine.
	e.engine = flows.NewEngine(nil, flows.Services{Cases: e.cases, Sessions: e.sessions, Events: events, Sites: sites,
		Findings: findings, Probes: sqlite.NewProbeService(e.db)})
	e.bot, err = botslack.New(botslack.Config{BotToken: "xoxb-bench", SigningSecret: secret, APIURL: e.slackURL},
		botslack.Deps{Cases: e.cases, Sites: sites, Events: events, Dedup: sqlite.NewDedupService(e.db),
			Diagnoser: e.engine, Findings: findings,
			// Log lines are formatted as in production; warnings and
			// errors are kept for the report.
			Logger: slog.New(&e.logs)})
	if err != nil {
		return nil, err
	}
	e.closers = append(e.closers, func() { _ = e.bot.Close() })
	if e.botURL, stop, err = listen(e.bot.Handler()); err != nil {
		return nil, err
	}
	e.closers = append(e.closers, stop)
	if e.bareURL, stop, err = listen(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
	})); err != nil {
		return nil, err
	}
	e.closers = append(e.closers, stop)
	return e, nil
}

func (e *env) close() {
	for i := len(e.closers) - 1; i >= 0; i-- {
		e.closers[i]()
	}
}

// signed returns a POST of a form body signed as Slack signs it: v0=
// hex(HMAC-SHA256(secret, "v0:" + timestamp + ":" + body)).
func signed(base, path string, body []byte) (*http.Request, error) {
	req, err := http.NewRequest(http.MethodPost, base+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "v0:%s:", ts)
	mac.Write(body)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
	return req, nil
}

// command is the form of a slash command as Slack sends it, from user (the
// bot caps the cases one user may start in a burst, so the load comes from
// many users, as it would).
func command(user, channel, text, trigger, responseURL string) []byte {
	f := url.Values{}
	f.Set("token", "gIkuvaNzQIHg97ATvDxqgjtO")
	f.Set("team_id", "T0001")
	f.Set("team_domain", "example")
	f.Set("channel_id", channel)
	f.Set("channel_name", "vpn-bench")
	f.Set("user_id", user)
	f.Set("user_name", "oncall-"+user)
	f.Set("command", botslack.DefaultCommand)
	f.Set("text", text)
	f.Set("api_app_id", "A123456")
	f.Set("response_url", responseURL)
	f.Set("trigger_id", trigger)
	return []byte(f.Encode())
}

// click is the form of a block_actions interaction on a case's step message.
func click(channel, threadTS, trigger, actionID, actionTS, responseURL string) []byte {
	p := map[string]any{
		"type": "block_actions", "api_app_id": "A123456", "token": "gIkuvaNzQIHg97ATvDxqgjtO", "trigger_id": trigger,
		"user":         map[string]any{"id": "U2147483697", "username": "oncall", "name": "oncall", "team_id": "T0001"},
		"team":         map[string]any{"id": "T0001", "domain": "example"},
		"channel":      map[string]any{"id": channel, "name": "vpn-bench"},
		"container":    map[string]any{"type": "message", "message_ts": threadTS, "thread_ts": threadTS, "channel_id": channel, "is_ephemeral": false},
		"response_url": responseURL,
		"actions": []any{map[string]any{"action_id": actionID, "block_id": "step", "type": "button", "value": "x", "action_ts": actionTS,
			"text": map[string]any{"type": "plain_text", "text": "choice"}}},
	}
	b, _ := json.Marshal(p)
	return []byte("payload=" + url.QueryEscape(string(b)))
}

// ackCheck fails a request whose acknowledgement says the bot is busy:
// acknowledged, but not taken on.
func ackCheck(_ int, _ *http.Response, body []byte) error {
	if bytes.Contains(body, []byte("busy")) {
		return errors.New("acknowledged as busy: work refused")
	}
	return nil
}

type measured struct {
	kind       string
	bare, bot  *loadgen.Result
	committed  int
	drain      time.Duration
	slackCalls int64
	// busy counts acknowledgements whose work was refused (queue full)
	// and the user told so.
	busy int64
}

func run(ctx context.Context, rates []int, seconds float64, dir string) error {
	e, err := start(dir)
	if err != nil {
		return err
	}
	defer e.close()
	defer func() {
		if lines := e.logs.summary(); len(lines) > 0 {
			fmt.Fprintln(os.Stderr, "ackbench: the bot's warnings and errors during the run:")
			for _, l := range lines {
				fmt.Fprintln(os.Stderr, "  ", l)
			}
		}
	}()
	var all []measured
	for _, rate := range rates {
		n := int(float64(rate) * seconds)
		warm := min(rate/2, 200)
		channel := fmt.Sprintf("CBENCH%d", rate)
		hook := e.slackURL + "hooks/commands/T0001/1"
		user := func(i int) string { return fmt.Sprintf("U%d%06d", rate, i) }
		warmCmd := func(i int) []byte {
			return command(user(i), channel, "help", fmt.Sprintf("w%d.%d.trigger", rate, i), hook)
		}

		// Bare handler: the same signed slash command bodies.
		bare, err := loadgen.Run(ctx, loadgen.Config{Rate: rate, N: n, Warmup: warm, Request: func(i int) (*http.Request, error) {
			return signed(e.bareURL, botslack.PathCommands, command(user(i), channel, "start bench", fmt.Sprintf("b%d.%d.trigger", rate, i), hook))
		}})
		if err != nil {
			return err
		}
		// Slash commands: each opens a case (root message, case, session, first step).
		calls0, busy0 := e.slackN.Load(), e.busyN.Load()
		cmd, err := loadgen.Run(ctx, loadgen.Config{Rate: rate, N: n, Warmup: warm, Check: ackCheck, Request: func(i int) (*http.Request, error) {
			if i < warm {
				return signed(e.botURL, botslack.PathCommands, warmCmd(i))
			}
			return signed(e.botURL, botslack.PathCommands, command(user(i), channel, "start bench case", fmt.Sprintf("c%d.%d.trigger", rate, i), hook))
		}})
		if err != nil {
			return err
		}
		t0 := time.Now()
		cases, err := e.waitCases(ctx, channel, cmd.OK)
		if err != nil {
			return err
		}
		m := measured{kind: "slash command", bare: bare, bot: cmd, committed: len(cases), drain: time.Since(t0), slackCalls: e.slackN.Load() - calls0,
			busy: int64(cmd.Failed) + e.busyN.Load() - busy0}
		all = append(all, m)
		report(m, rate)

		// Button clicks: one per case, on its current step's first choice.
		type target struct {
			cs   *vpndiag.Case
			seq  int
			body []byte
		}
		var targets []target
		for i, cs := range cases {
			st, err := e.engine.Current(ctx, cs.ID)
			if err != nil {
				return fmt.Errorf("current step of case %d: %w", cs.ID, err)
			}
			if st.Kind != vpndiag.StepQuestion || len(st.Choices) == 0 {
				return fmt.Errorf("case %d waits on a %s step, not a question", cs.ID, st.Kind)
			}
			id := bot.Action{CaseID: cs.ID, Seq: st.Seq, Key: st.Choices[0].Key}.ID()
			targets = append(targets, target{cs: cs, seq: st.Seq,
				body: click(channel, cs.ThreadTS, fmt.Sprintf("k%d.%d.trigger", rate, i), id, fmt.Sprintf("1700000100.%06d", i), e.slackURL+"hooks/actions/T0001/1")})
		}
		if len(targets) == 0 {
			return fmt.Errorf("no case was committed at %d req/s, so no click can be sent", rate)
		}
		bareClick, err := loadgen.Run(ctx, loadgen.Config{Rate: rate, N: len(targets), Warmup: warm, Request: func(i int) (*http.Request, error) {
			return signed(e.bareURL, botslack.PathInteractions, targets[max(i-warm, 0)].body)
		}})
		if err != nil {
			return err
		}
		calls0, busy0 = e.slackN.Load(), e.busyN.Load()
		clicks, err := loadgen.Run(ctx, loadgen.Config{Rate: rate, N: len(targets), Warmup: warm, Check: ackCheck, Request: func(i int) (*http.Request, error) {
			if i < warm {
				return signed(e.botURL, botslack.PathCommands, warmCmd(i))
			}
			return signed(e.botURL, botslack.PathInteractions, targets[i-warm].body)
		}})
		if err != nil {
			return err
		}
		t0 = time.Now()
		moved, last, lastChange := 0, -1, time.Now()
		for {
			moved = 0
			for _, t := range targets {
				s, err := e.sessions.FindSession(ctx, t.cs.ID)
				if err != nil {
					return fmt.Errorf("session of case %d: %w", t.cs.ID, err)
				}
				if s.Seq > t.seq {
					moved++
				}
			}
			if moved != last {
				last, lastChange = moved, time.Now()
			}
			if moved >= clicks.OK || time.Since(lastChange) > stall {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		m = measured{kind: "button click", bare: bareClick, bot: clicks, committed: moved, drain: time.Since(t0), slackCalls: e.slackN.Load() - calls0,
			busy: int64(clicks.Failed) + e.busyN.Load() - busy0}
		all = append(all, m)
		report(m, rate)
	}
	for _, m := range all {
		ratio := float64(m.bot.P99) / float64(max(m.bare.P99, time.Microsecond))
		r := row.Row{
			Figure: fmt.Sprintf("Ack latency, %s, %d req/s", m.kind, m.bot.Rate),
			Subject: fmt.Sprintf("p50 %s, p99 %s, max %s; of %d sent: %d refused (busy, or 5xx asking Slack to retry), %d committed (drained in %s)",
				row.Ms(m.bot.P50), row.Ms(m.bot.P99), row.Ms(m.bot.Max), m.bot.Sent, m.busy, m.committed, m.drain.Round(time.Millisecond)),
			Baseline: fmt.Sprintf("bare net/http: p50 %s, p99 %s, max %s", row.Ms(m.bare.P50), row.Ms(m.bare.P99), row.Ms(m.bare.Max)),
			Ratio:    fmt.Sprintf("p99 %.2f×", ratio),
			Goal:     "p99 ≤ 3× bare and ≤ 10 ms at 500 req/s",
		}
		if m.bot.Rate == 500 {
			r.Met = row.Bool(ratio <= 3 && m.bot.P99 <= 10*time.Millisecond && m.bot.Failed == 0 && m.busy == 0)
		}
		r.Print(os.Stdout)
	}
	return nil
}

func report(m measured, rate int) {
	fmt.Fprintf(os.Stderr, "ack %-13s %4d req/s: bot p50 %s p99 %s max %s (ok %d/%d, achieved %.0f/s, max lag %s%s) | bare p50 %s p99 %s max %s | %d refused (busy or retry), committed %d in %s, %d Slack calls\n",
		m.kind, rate, row.Ms(m.bot.P50), row.Ms(m.bot.P99), row.Ms(m.bot.Max), m.bot.OK, m.bot.Sent, m.bot.Achieved, row.Ms(m.bot.MaxLag),
		firstErr(m.bot), row.Ms(m.bare.P50), row.Ms(m.bare.P99), row.Ms(m.bare.Max), m.busy, m.committed, m.drain.Round(time.Millisecond), m.slackCalls)
}

func firstErr(r *loadgen.Result) string {
	if r.FirstError == "" {
		return ""
	}
	return ", first failure: " + r.FirstError
}

// stall is how long the committed count may stay the same before the
// remaining acknowledged work is reported as lost.
const stall = 5 * time.Second

// waitCases waits until channel holds want cases, each with a session, or
// until the count stops growing, and returns them oldest first.
func (e *env) waitCases(ctx context.Context, channel string, want int) ([]*vpndiag.Case, error) {
	last, lastChange := -1, time.Now()
	for {
		cs, _, err := e.cases.FindCases(ctx, vpndiag.CaseFilter{ChannelID: &channel})
		if err != nil {
			return nil, fmt.Errorf("find cases: %w", err)
		}
		ready := 0
		for _, c := range cs {
			if _, err := e.sessions.FindSession(ctx, c.ID); err == nil {
				ready++
			}
		}
		if ready != last {
			last, lastChange = ready, time.Now()
		}
		if ready >= want || time.Since(lastChange) > stall {
			var out []*vpndiag.Case
			for i := len(cs) - 1; i >= 0; i-- {
				if _, err := e.sessions.FindSession(ctx, cs[i].ID); err == nil {
					out = append(out, cs[i])
				}
			}
			if ready < want {
				fmt.Fprintf(os.Stderr, "ackbench: only %d of %d acknowledged commands committed (no progress for %s)\n", ready, want, stall)
			}
			return out, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
}
