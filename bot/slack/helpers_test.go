package slack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag"
	botslack "github.com/vpndiag/vpndiag/bot/slack"
	"github.com/vpndiag/vpndiag/bot/slack/slackfake"
	"github.com/vpndiag/vpndiag/flows"
	"github.com/vpndiag/vpndiag/storage/sqlite"
)

// Secret is the signing secret of the harness.
const Secret = "8f742231b10e8888abcd99yyyzzz85a5"

// Harness is a bot in HTTP mode on a real SQLite file and the real flow
// engine (with testdata/flows), talking to a fake Slack.
type Harness struct {
	T        testing.TB
	Fake     *slackfake.Server
	DB       *sqlite.DB
	Cases    *sqlite.CaseService
	Sessions *sqlite.SessionService
	Events   *sqlite.EventService
	Sites    *sqlite.SiteService
	Engine   *flows.Engine
	Bot      *botslack.Bot
	HTTP     *httptest.Server
	Log      *LogBuffer

	seq atomic.Int64
}

// LogBuffer collects the bot's log lines.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String returns the log so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// MustHarness starts a harness; opts adjust the bot's config and deps.
func MustHarness(tb testing.TB, opts ...func(*botslack.Config, *botslack.Deps)) *Harness {
	tb.Helper()
	return MustHarnessFlows(tb, "flows", opts...)
}

// MustHarnessFlows starts a harness whose engine runs the flows of
// testdata/DIR.
func MustHarnessFlows(tb testing.TB, dir string, opts ...func(*botslack.Config, *botslack.Deps)) *Harness {
	tb.Helper()
	return mustHarnessWith(tb, dir, nil, opts...)
}

// mustHarnessWith starts a harness whose engine runs the flows of
// testdata/DIR; wrap, when set, may replace the engine's services once the
// database is open (h.DB and the h services are set), before the engine
// and the bot are made.
func mustHarnessWith(tb testing.TB, dir string, wrap func(*Harness, *flows.Services), opts ...func(*botslack.Config, *botslack.Deps)) *Harness {
	tb.Helper()
	h := &Harness{T: tb, Fake: slackfake.New(tb), Log: &LogBuffer{}}
	h.DB = sqlite.NewDB(filepath.Join(tb.TempDir(), "vpndiag.db"))
	if err := h.DB.Open(); err != nil {
		tb.Fatal(err)
	}
	h.Cases, h.Sessions, h.Events, h.Sites = sqlite.NewCaseService(h.DB), sqlite.NewSessionService(h.DB), sqlite.NewEventService(h.DB), sqlite.NewSiteService(h.DB)
	set, err := flows.Load(os.DirFS(filepath.Join("testdata", dir)))
	if err != nil {
		tb.Fatal(err)
	}
	svc := flows.Services{Cases: h.Cases, Sessions: h.Sessions, Events: h.Events, Sites: h.Sites,
		Findings: sqlite.NewFindingService(h.DB), Probes: sqlite.NewProbeService(h.DB)}
	if wrap != nil {
		wrap(h, &svc)
	}
	h.Engine = flows.NewEngine(set, svc)
	cfg := botslack.Config{
		BotToken: slackfake.BotToken, AppToken: slackfake.AppToken, SigningSecret: Secret,
		APIURL: h.Fake.APIURL(), MaxRetryAfter: 2 * time.Second,
		ReconnectMin: 50 * time.Millisecond, ReconnectMax: 200 * time.Millisecond,
	}
	deps := botslack.Deps{
		Cases: h.Cases, Sites: h.Sites, Events: h.Events, Dedup: sqlite.NewDedupService(h.DB), Diagnoser: h.Engine,
		Findings: sqlite.NewFindingService(h.DB),
		Logger:   slog.New(slog.NewTextHandler(h.Log, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, o := range opts {
		o(&cfg, &deps)
	}
	h.Bot, err = botslack.New(cfg, deps)
	if err != nil {
		tb.Fatal(err)
	}
	h.HTTP = httptest.NewServer(h.Bot.Handler())
	tb.Cleanup(func() {
		h.HTTP.Close()
		_ = h.Bot.Close()
		if err := h.DB.Close(); err != nil {
			tb.Error(err)
		}
		if tb.Failed() {
			tb.Logf("bot log:\n%s", h.Log.String())
		}
	})
	return h
}

// Response is an HTTP answer of the bot.
type Response struct {
	Status int
	Body   string
}

// Post sends body to path signed as Slack signs it, now.
func (h *Harness) Post(path string, body []byte, contentType string, extra ...string) Response {
	h.T.Helper()
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	hdr := http.Header{}
	hdr.Set("Content-Type", contentType)
	hdr.Set(botslack.HeaderTimestamp, ts)
	hdr.Set(botslack.HeaderSignature, botslack.SignatureHeader(Secret, ts, body))
	for i := 0; i+1 < len(extra); i += 2 {
		hdr.Set(extra[i], extra[i+1])
	}
	return h.Raw(path, body, hdr)
}

// Raw sends body to path with exactly the headers hdr.
func (h *Harness) Raw(path string, body []byte, hdr http.Header) Response {
	h.T.Helper()
	req, err := http.NewRequest(http.MethodPost, h.HTTP.URL+path, bytes.NewReader(body))
	if err != nil {
		h.T.Fatal(err)
	}
	req.Header = hdr
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.T.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m struct {
		Text   *string         `json:"text"`
		Blocks json.RawMessage `json:"blocks"`
	}
	if json.Unmarshal(b, &m) == nil && m.Text != nil {
		for _, v := range slackfake.CheckMessage(*m.Text, m.Blocks) {
			h.T.Errorf("the response to %s breaks Block Kit's limits: %s", path, v)
		}
	}
	return Response{Status: resp.StatusCode, Body: string(b)}
}

// next returns a number unique within the harness.
func (h *Harness) next() int64 { return h.seq.Add(1) }

// CommandForm builds a slash command body from the bolt-python fixture with
// the given user, channel and text.
func (h *Harness) CommandForm(user, channel, text string) []byte {
	h.T.Helper()
	form, err := url.ParseQuery(string(MustFixture(h.T, "04_slash_command_bolt_python.form.txt")))
	if err != nil {
		h.T.Fatal(err)
	}
	form.Set("command", botslack.DefaultCommand)
	form.Set("user_id", user)
	form.Set("channel_id", channel)
	form.Set("text", text)
	form.Set("trigger_id", fmt.Sprintf("%d.111.trigger", h.next()))
	form.Set("response_url", h.Fake.APIURL()+"hooks/commands/T111/1")
	return []byte(form.Encode())
}

// Command sends a slash command.
func (h *Harness) Command(user, channel, text string) Response {
	h.T.Helper()
	return h.Post(botslack.PathCommands, h.CommandForm(user, channel, text), "application/x-www-form-urlencoded")
}

// ClickPayload builds a block_actions payload from the bolt-python fixture:
// user clicks actionID on the message at messageTS in channel.
func (h *Harness) ClickPayload(user, channel, threadTS, messageTS, actionID string) []byte {
	h.T.Helper()
	var p map[string]any
	if err := json.Unmarshal(MustFixture(h.T, "05_block_actions_button_bolt_python.payload.json"), &p); err != nil {
		h.T.Fatal(err)
	}
	n := h.next()
	p["user"].(map[string]any)["id"] = user
	p["channel"].(map[string]any)["id"] = channel
	c := p["container"].(map[string]any)
	c["channel_id"], c["message_ts"], c["thread_ts"], c["is_ephemeral"] = channel, messageTS, threadTS, false
	p["trigger_id"] = fmt.Sprintf("%d.222.trigger", n)
	p["response_url"] = h.Fake.APIURL() + "hooks/actions/T111/1"
	a := p["actions"].([]any)[0].(map[string]any)
	a["action_id"], a["value"], a["action_ts"] = actionID, "x", fmt.Sprintf("1700000100.%06d", n)
	b, _ := json.Marshal(p)
	return b
}

// Interaction posts an interaction payload as Slack does (payload=<json>).
func (h *Harness) Interaction(payload []byte, extra ...string) Response {
	h.T.Helper()
	body := "payload=" + url.QueryEscape(string(payload))
	return h.Post(botslack.PathInteractions, []byte(body), "application/x-www-form-urlencoded", extra...)
}

// SubmitPayload builds a view_submission payload from the bolt-python
// fixture for the modal opened by views.open call number n (0-based), with
// value typed into the modal's input.
func (h *Harness) SubmitPayload(user string, n int, value string) []byte {
	h.T.Helper()
	views := h.Fake.Views()
	if len(views) <= n {
		h.T.Fatalf("views.open was called %d times; want call %d", len(views), n)
	}
	view := views[n]
	var p map[string]any
	if err := json.Unmarshal(MustFixture(h.T, "07_view_submission_bolt_python.payload.json"), &p); err != nil {
		h.T.Fatal(err)
	}
	p["user"].(map[string]any)["id"] = user
	p["trigger_id"] = fmt.Sprintf("%d.333.trigger", h.next())
	v := p["view"].(map[string]any)
	v["id"] = fmt.Sprintf("V%d", n)
	v["callback_id"] = view.CallbackID
	v["private_metadata"] = view.PrivateMetadata
	values := map[string]any{}
	for _, in := range view.Inputs {
		values[in[0]] = map[string]any{in[1]: map[string]any{"type": "plain_text_input", "value": value}}
	}
	v["state"] = map[string]any{"values": values}
	b, _ := json.Marshal(p)
	return b
}

// BotUser is the bot's user ID in the events the harness builds.
const BotUser = "U0BOT"

// callback builds an Events API callback in slack-go's fixture envelope,
// with a new event ID and the bot's user in its authorizations (as
// Slack's callbacks have), around the inner event inner returns for the
// callback's sequence number.
func (h *Harness) callback(inner func(n int64) map[string]any) []byte {
	h.T.Helper()
	var v vector
	_ = json.Unmarshal(MustFixture(h.T, "03_signature_vector_slackgo_events_json.json"), &v)
	var p map[string]any
	if err := json.Unmarshal([]byte(v.Body), &p); err != nil {
		h.T.Fatal(err)
	}
	n := h.next()
	p["event_id"] = fmt.Sprintf("Ev%06d", n)
	p["authorizations"] = []map[string]any{{"team_id": "T1", "user_id": BotUser, "is_bot": true}}
	p["event"] = inner(n)
	b, _ := json.Marshal(p)
	return b
}

// FileEvent builds an Events API file_shared event for a file shared by
// user in a thread; files.info of the fake then reports the share.
func (h *Harness) FileEvent(user, channel, threadTS, fileID string) []byte {
	h.T.Helper()
	h.Fake.Share(fileID, channel, threadTS)
	return h.callback(func(n int64) map[string]any {
		return map[string]any{
			"type": "file_shared", "file_id": fileID, "user_id": user, "channel_id": channel,
			"file": map[string]any{"id": fileID}, "event_ts": fmt.Sprintf("1700000200.%06d", n),
		}
	})
}

// MentionEvent builds an Events API app_mention event: user wrote text to
// the bot in the thread threadTS of channel.
func (h *Harness) MentionEvent(user, channel, threadTS, text string) []byte {
	h.T.Helper()
	return h.callback(func(n int64) map[string]any {
		ts := fmt.Sprintf("1700000300.%06d", n)
		return map[string]any{"type": "app_mention", "user": user, "channel": channel, "text": "<@" + BotUser + "> " + text,
			"ts": ts, "thread_ts": threadTS, "event_ts": ts}
	})
}

// MessageEvent builds an Events API message event (message.channels):
// user wrote text in the thread threadTS of channel (none: outside a
// thread); set adds or overrides fields of the inner event (subtype,
// bot_id, …).
func (h *Harness) MessageEvent(user, channel, threadTS, text string, set map[string]any) []byte {
	h.T.Helper()
	return h.callback(func(n int64) map[string]any {
		ts := fmt.Sprintf("1700000400.%06d", n)
		ev := map[string]any{"type": "message", "channel": channel, "user": user, "text": text,
			"ts": ts, "event_ts": ts, "channel_type": "channel"}
		if threadTS != "" {
			ev["thread_ts"] = threadTS
		}
		for k, val := range set {
			ev[k] = val
		}
		return ev
	})
}

// Event posts an Events API body.
func (h *Harness) Event(body []byte, extra ...string) Response {
	h.T.Helper()
	return h.Post(botslack.PathEvents, body, "application/json", extra...)
}

// Thread returns the messages of a channel's thread rooted at ts, root first.
func (h *Harness) Thread(channel, ts string) []slackfake.Message {
	var out []slackfake.Message
	for _, m := range h.Fake.Messages(channel) {
		if m.TS == ts || m.ThreadTS == ts {
			out = append(out, m)
		}
	}
	return out
}

// WaitMessages waits until channel has at least n messages and returns them.
func (h *Harness) WaitMessages(channel string, n int) []slackfake.Message {
	h.T.Helper()
	h.Fake.WaitFor(h.T, 10*time.Second, fmt.Sprintf("%d messages in %s", n, channel), func() bool { return len(h.Fake.Messages(channel)) >= n })
	return h.Fake.Messages(channel)
}

// WaitEphemeral waits until at least n ephemeral messages were sent and
// returns their texts.
func (h *Harness) WaitEphemeral(n int) []string {
	h.T.Helper()
	h.Fake.WaitFor(h.T, 10*time.Second, fmt.Sprintf("%d ephemeral messages", n), func() bool { return len(h.Fake.Calls("chat.postEphemeral")) >= n })
	var out []string
	for _, c := range h.Fake.Calls("chat.postEphemeral") {
		out = append(out, c.Form.Get("text"))
	}
	return out
}

// Settle waits until the bot's queue is idle: no Slack call for 150 ms.
func (h *Harness) Settle() {
	h.T.Helper()
	last := -1
	stable := 0
	h.Fake.WaitFor(h.T, 10*time.Second, "the bot to settle", func() bool {
		n := len(h.Fake.Calls(""))
		if n == last {
			stable++
		} else {
			stable, last = 0, n
		}
		return stable >= 15
	})
}

// MustCase returns the only case of channel.
func (h *Harness) MustCase(channel string) *vpndiag.Case {
	h.T.Helper()
	cs, _, err := h.Cases.FindCases(context.Background(), vpndiag.CaseFilter{ChannelID: &channel})
	if err != nil {
		h.T.Fatal(err)
	}
	if len(cs) != 1 {
		h.T.Fatalf("%d cases in %s, want 1", len(cs), channel)
	}
	return cs[0]
}

// ActionIDs returns the action IDs of the buttons of a message.
func ActionIDs(tb testing.TB, m slackfake.Message) []string {
	tb.Helper()
	var blocks []struct {
		Type     string `json:"type"`
		Elements []struct {
			ActionID string `json:"action_id"`
		} `json:"elements"`
	}
	if len(m.Blocks) == 0 {
		return nil
	}
	if err := json.Unmarshal(m.Blocks, &blocks); err != nil {
		tb.Fatalf("blocks of %s: %v", m.TS, err)
	}
	var ids []string
	for _, b := range blocks {
		if b.Type == "actions" {
			for _, e := range b.Elements {
				ids = append(ids, e.ActionID)
			}
		}
	}
	return ids
}

// BlocksText returns the message's blocks as text, for searching.
func BlocksText(m slackfake.Message) string {
	return m.Text + "\n" + strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&").Replace(string(m.Blocks))
}

// contains reports whether any s has sub.
func contains(ss []string, sub string) bool {
	for _, s := range ss {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
