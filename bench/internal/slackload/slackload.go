// Package slackload is what bench/cmd/ackbench and bench/cmd/replbench
// share to load the Slack bot in HTTP mode: requests signed as Slack signs
// them, a fake Slack Web API, the bot wired as `vpndiag serve` wires it,
// the bare handler it is measured against, the wait for acknowledged work
// to be committed, and a log handler that pays production's formatting
// cost and counts warnings. Everything listens on loopback only.
package slackload

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vpndiag/vpndiag"
	botslack "github.com/vpndiag/vpndiag/bot/slack"
	"github.com/vpndiag/vpndiag/flows"
)

// Secret is the signing secret shared by the load generator and the bots.
const Secret = "bench-signing-secret-0123456789ab"

// Stall is how long the committed count may stay the same before the
// remaining acknowledged work is reported as lost.
const Stall = 5 * time.Second

// Fail prints "prog: err" on stderr and exits 1.
func Fail(prog string, err error) {
	fmt.Fprintf(os.Stderr, "%s: %v\n", prog, err)
	os.Exit(1)
}

// ParseRates parses a comma-separated list of request rates per second,
// each from 1 to 5000.
func ParseRates(s string) ([]int, error) {
	var rs []int
	for _, f := range strings.Split(s, ",") {
		r, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || r <= 0 || r > 5000 {
			return nil, fmt.Errorf("-rates: %q is not a rate from 1 to 5000", f)
		}
		rs = append(rs, r)
	}
	return rs, nil
}

// Listen serves h on a free port of 127.0.0.1 and returns its base URL
// ("http://127.0.0.1:PORT") and a function that stops it.
func Listen(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}

// ListenBare serves the baseline: a bare net/http handler that only
// answers 200.
func ListenBare() (string, func(), error) {
	return Listen(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
}

// Slack is a minimal fake Slack Web API: every method succeeds, and
// chat.postMessage returns a new message timestamp each time.
type Slack struct {
	// URL is the API's base URL, ".../api/", for botslack.Config.APIURL.
	URL string
	// Calls counts the API calls; Busy counts the chat.postEphemeral
	// calls telling a user the bot is busy (work acknowledged with 200
	// but refused because the queue is full).
	Calls, Busy atomic.Int64

	stop func()
	ts   atomic.Int64
}

// StartSlack serves a fake Slack Web API on loopback.
func StartSlack() (*Slack, error) {
	s := &Slack{}
	u, stop, err := Listen(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.Calls.Add(1)
		if strings.HasSuffix(r.URL.Path, "chat.postEphemeral") && bytes.Contains(body, []byte("busy")) {
			s.Busy.Add(1)
		}
		w.Header().Set("Content-Type", "application/json")
		n := s.ts.Add(1)
		fmt.Fprintf(w, `{"ok":true,"channel":"C1","ts":"1700000000.%06d","message_ts":"1700000000.%06d"}`, n, n)
	}))
	if err != nil {
		return nil, err
	}
	s.URL, s.stop = u+"/api/", stop
	return s, nil
}

// CommandHook is a response_url for slash commands.
func (s *Slack) CommandHook() string { return s.URL + "hooks/commands/T0001/1" }

// ActionHook is a response_url for interactions.
func (s *Slack) ActionHook() string { return s.URL + "hooks/actions/T0001/1" }

// Close stops the fake API.
func (s *Slack) Close() { s.stop() }

// Services are what a bot is wired to: the flow engine's stores and the
// delivery dedup.
type Services struct {
	flows.Services
	Dedup vpndiag.DedupService
}

// Bot is the Slack bot in HTTP mode on its own loopback listener, on the
// built-in flows.
type Bot struct {
	// URL is the bot's base URL.
	URL    string
	Engine *flows.Engine
	s      Services
	bot    *botslack.Bot
	stop   func()
}

// StartBot wires a bot as `vpndiag serve` does (the built-in flows on the
// flow engine) against the Slack API at slackURL, and serves it.
func StartBot(s Services, slackURL string, log slog.Handler) (*Bot, error) {
	engine := flows.NewEngine(nil, s.Services)
	b, err := botslack.New(botslack.Config{BotToken: "xoxb-bench", SigningSecret: Secret, APIURL: slackURL},
		botslack.Deps{Cases: s.Cases, Sites: s.Sites, Events: s.Events, Dedup: s.Dedup, Diagnoser: engine,
			Findings: s.Findings, Logger: slog.New(log)})
	if err != nil {
		return nil, err
	}
	u, stop, err := Listen(b.Handler())
	if err != nil {
		_ = b.Close()
		return nil, err
	}
	return &Bot{URL: u, Engine: engine, s: s, bot: b, stop: stop}, nil
}

// Close stops the listener and the bot.
func (b *Bot) Close() {
	b.stop()
	_ = b.bot.Close()
}

// Await polls count every 50 ms until it reaches want or has not grown for
// Stall, and returns the last count and how long it waited.
func Await(want int, count func() (int, error)) (int, time.Duration, error) {
	t0, last, lastChange := time.Now(), -1, time.Now()
	for {
		n, err := count()
		if err != nil {
			return n, time.Since(t0), err
		}
		if n != last {
			last, lastChange = n, time.Now()
		}
		if n >= want || time.Since(lastChange) > Stall {
			return n, time.Since(t0), nil
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// WaitCases waits (Await) until channel holds want cases each with a
// session, and returns those cases, oldest first, and how long it waited.
func (b *Bot) WaitCases(ctx context.Context, channel string, want int) ([]*vpndiag.Case, time.Duration, error) {
	var ready []*vpndiag.Case
	_, waited, err := Await(want, func() (int, error) {
		cs, _, err := b.s.Cases.FindCases(ctx, vpndiag.CaseFilter{ChannelID: &channel})
		if err != nil {
			return 0, fmt.Errorf("find cases: %w", err)
		}
		ready = ready[:0]
		for i := len(cs) - 1; i >= 0; i-- {
			if _, err := b.s.Sessions.FindSession(ctx, cs[i].ID); err == nil {
				ready = append(ready, cs[i])
			}
		}
		return len(ready), nil
	})
	return ready, waited, err
}

// Signed returns a POST of a form body to base+path, signed as Slack signs
// it: v0=hex(HMAC-SHA256(Secret, "v0:" + timestamp + ":" + body)).
func Signed(base, path string, body []byte) (*http.Request, error) {
	req, err := http.NewRequest(http.MethodPost, base+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", botslack.SignatureHeader(Secret, ts, body))
	return req, nil
}

// Command is the form of a slash command as Slack sends it, from user (the
// bot caps the cases one user may start in a burst, so the load comes from
// many users, as it would).
func Command(user, channel, text, trigger, responseURL string) []byte {
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

// Click is the form of a block_actions interaction on a case's step message.
func Click(channel, threadTS, trigger, actionID, actionTS, responseURL string) []byte {
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

// NotBusy is a loadgen.Config.Check that fails a request whose
// acknowledgement says the bot is busy: acknowledged, but not taken on.
func NotBusy(_ int, _ *http.Response, body []byte) error {
	if bytes.Contains(body, []byte("busy")) {
		return errors.New("acknowledged as busy: work refused")
	}
	return nil
}

// LogCounter is a slog handler that formats every record at Info and above
// as JSON (the cost production pays) and counts warnings and errors by
// message and error text.
type LogCounter struct {
	mu     sync.Mutex
	counts map[string]int
	order  []string
	json   slog.Handler
}

func (l *LogCounter) Enabled(_ context.Context, lv slog.Level) bool { return lv >= slog.LevelInfo }

func (l *LogCounter) Handle(ctx context.Context, r slog.Record) error {
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

func (l *LogCounter) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *LogCounter) WithGroup(string) slog.Handler      { return l }

// Summary returns "N× message" lines, first seen first.
func (l *LogCounter) Summary() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, k := range l.order {
		out = append(out, fmt.Sprintf("%d× %s", l.counts[k], k))
	}
	return out
}

// Report prints the warnings and errors counted, if any, on stderr under
// a line naming prog.
func (l *LogCounter) Report(prog string) {
	lines := l.Summary()
	if len(lines) == 0 {
		return
	}
	fmt.Fprintf(os.Stderr, "%s: the bot's warnings and errors during the run:\n", prog)
	for _, s := range lines {
		fmt.Fprintln(os.Stderr, "  ", s)
	}
}
