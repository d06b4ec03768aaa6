package hardening_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag/bot/slack/slackfake"
	"github.com/vpndiag/vpndiag/internal/fixtures"
)

// signature is Slack's v0 signature, computed here independently of the bot.
func signature(secret, ts string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("v0:" + ts + ":"))
	m.Write(body)
	return "v0=" + hex.EncodeToString(m.Sum(nil))
}

// fixture reads one of Slack's payload samples in the shared fixtures
// (../shared/fixtures/slack beside the repository).
func fixture(tb testing.TB, name string) []byte {
	tb.Helper()
	return fixtures.Read(tb, "slack", name)
}

// Slack plays Slack's part for the scripted cases: it builds payloads from
// the recorded fixtures, signs and posts them, and reads what the bot
// posted back from the fake.
type Slack struct {
	T    testing.TB
	Fake *slackfake.Server
	// Addr returns serve's current address (it changes on restart).
	Addr func() string

	n        atomic.Int64
	click    map[string]any
	submit   map[string]any
	formBase url.Values
}

// NewSlack returns a scripted Slack for the serve at addr().
func NewSlack(tb testing.TB, fake *slackfake.Server, addr func() string) *Slack {
	s := &Slack{T: tb, Fake: fake, Addr: addr}
	if err := json.Unmarshal(fixture(tb, "05_block_actions_button_bolt_python.payload.json"), &s.click); err != nil {
		tb.Fatal(err)
	}
	if err := json.Unmarshal(fixture(tb, "07_view_submission_bolt_python.payload.json"), &s.submit); err != nil {
		tb.Fatal(err)
	}
	f, err := url.ParseQuery(strings.TrimSpace(string(fixture(tb, "04_slash_command_bolt_python.form.txt"))))
	if err != nil {
		tb.Fatal(err)
	}
	s.formBase = f
	return s
}

func (s *Slack) next() int64 { return s.n.Add(1) }

// CommandBody is a slash command form from the fixture.
func (s *Slack) CommandBody(user, channel, text string) []byte {
	f := url.Values{}
	for k, v := range s.formBase {
		f[k] = append([]string(nil), v...)
	}
	f.Set("command", "/vpn-diagnose")
	f.Set("user_id", user)
	f.Set("channel_id", channel)
	f.Set("text", text)
	f.Set("trigger_id", fmt.Sprintf("%d.111.trigger", s.next()))
	f.Set("response_url", s.Fake.APIURL()+"hooks/commands/T111/1")
	return []byte(f.Encode())
}

// Command posts a slash command.
func (s *Slack) Command(ctx context.Context, user, channel, text string) Reply {
	return Post(ctx, s.Addr(), "/slack/commands", s.CommandBody(user, channel, text), "application/x-www-form-urlencoded")
}

// deepCopy copies a JSON-shaped value.
func deepCopy(v map[string]any) map[string]any {
	b, _ := json.Marshal(v)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return out
}

// ClickPayload is a block_actions payload: user clicks actionID on the
// message at messageTS of the thread threadTS in channel.
func (s *Slack) ClickPayload(user, channel, threadTS, messageTS, actionID string) []byte {
	p := deepCopy(s.click)
	n := s.next()
	p["user"].(map[string]any)["id"] = user
	p["channel"].(map[string]any)["id"] = channel
	c := p["container"].(map[string]any)
	c["channel_id"], c["message_ts"], c["thread_ts"], c["is_ephemeral"] = channel, messageTS, threadTS, false
	p["trigger_id"] = fmt.Sprintf("%d.222.trigger", n)
	p["response_url"] = s.Fake.APIURL() + "hooks/actions/T111/1"
	a := p["actions"].([]any)[0].(map[string]any)
	a["action_id"], a["value"], a["action_ts"] = actionID, "x", fmt.Sprintf("1700000100.%06d", n)
	b, _ := json.Marshal(p)
	return b
}

// InteractionBody wraps a payload as Slack posts it.
func InteractionBody(payload []byte) []byte {
	return []byte("payload=" + url.QueryEscape(string(payload)))
}

// Interaction posts an interaction payload.
func (s *Slack) Interaction(ctx context.Context, payload []byte, extra ...string) Reply {
	return Post(ctx, s.Addr(), "/slack/interactions", InteractionBody(payload), "application/x-www-form-urlencoded", extra...)
}

// View is a modal the bot opened (a recorded views.open call).
type View struct {
	CallbackID string
	Meta       string
	Case       int64
	Seq        int
	Kind       string
	Blocks     [][2]string // block ID, action ID of each input
}

// Views returns the modals the bot opened so far.
func (s *Slack) Views() []View {
	var out []View
	for _, fv := range s.Fake.Views() {
		v := View{CallbackID: fv.CallbackID, Meta: fv.PrivateMetadata, Blocks: fv.Inputs}
		var m struct {
			K int64  `json:"k"`
			S int    `json:"s"`
			I string `json:"i"`
		}
		_ = json.Unmarshal([]byte(v.Meta), &m)
		v.Case, v.Seq, v.Kind = m.K, m.S, m.I
		out = append(out, v)
	}
	return out
}

// SubmitPayload is a view_submission of v with value typed, as view viewID.
func (s *Slack) SubmitPayload(user string, v View, viewID, value string) []byte {
	p := deepCopy(s.submit)
	p["user"].(map[string]any)["id"] = user
	p["trigger_id"] = fmt.Sprintf("%d.333.trigger", s.next())
	view := p["view"].(map[string]any)
	view["id"], view["callback_id"], view["private_metadata"] = viewID, v.CallbackID, v.Meta
	values := map[string]any{}
	for _, b := range v.Blocks {
		values[b[0]] = map[string]any{b[1]: map[string]any{"type": "plain_text_input", "value": value}}
	}
	view["state"] = map[string]any{"values": values}
	b, _ := json.Marshal(p)
	return b
}

// Button is a button of a message the bot posted.
type Button struct {
	Case     int64
	Seq      int
	Key      string
	ActionID string
	TS       string // the message's ts
}

// Buttons returns the buttons of the steps in channel's threads, oldest
// first (not the buttons of a case's own message in the channel: Close,
// Re-open).
func (s *Slack) Buttons(channel string) []Button {
	var out []Button
	for _, m := range s.Fake.Messages(channel) {
		if m.ThreadTS == "" {
			continue
		}
		var blocks []struct {
			Type     string `json:"type"`
			Elements []struct {
				ActionID string `json:"action_id"`
			} `json:"elements"`
		}
		if len(m.Blocks) == 0 || json.Unmarshal(m.Blocks, &blocks) != nil {
			continue
		}
		for _, b := range blocks {
			if b.Type != "actions" {
				continue
			}
			for _, e := range b.Elements {
				parts := strings.SplitN(e.ActionID, ":", 4)
				if len(parts) != 4 {
					continue
				}
				c, _ := strconv.ParseInt(parts[1], 10, 64)
				q, _ := strconv.Atoi(parts[2])
				out = append(out, Button{Case: c, Seq: q, Key: parts[3], ActionID: e.ActionID, TS: m.TS})
			}
		}
	}
	return out
}

// Root returns the ts of the newest case root message in channel, "" when
// none.
func (s *Slack) Root(channel string) string {
	root := ""
	for _, m := range s.Fake.Messages(channel) {
		if m.ThreadTS == "" && strings.Contains(m.Text, "VPN case ") {
			root = m.TS
		}
	}
	return root
}

// inputValue is a valid value for an input kind (documentation ranges and
// names only; nothing is sent to them).
func inputValue(kind string) string {
	switch kind {
	case "ip":
		return "192.0.2.10"
	case "cidr":
		return "192.0.2.0/24"
	case "fqdn":
		return "app.example.com"
	case "port":
		return "443"
	}
	return "scripted answer"
}

// CaseState is what the database says of a case.
type CaseState struct {
	ID     int64
	Status string
	Seq    int
}

// caseOf reads the case of channel from the database; ok false when none.
func caseOf(db *sql.DB, channel string) (CaseState, bool, error) {
	var c CaseState
	err := db.QueryRow(`SELECT c.id, c.status, COALESCE(s.seq, -1) FROM cases c LEFT JOIN sessions s ON s.case_id = c.id WHERE c.channel_id = $1 ORDER BY c.id DESC LIMIT 1`, channel).Scan(&c.ID, &c.Status, &c.Seq)
	if err == sql.ErrNoRows {
		return c, false, nil
	}
	return c, err == nil, err
}

// Acked is a click (or submission) serve acknowledged: the step seq of
// the case was answered.
type Acked struct {
	Case int64
	Seq  int
	Key  string
}

// Script drives one case in its own channel: start, then a deterministic
// pseudo-random path of clicks and modal submissions until the case
// reaches a resolution, an escalation or a probe step (no relay in these
// tests), or serve stops answering. It can be run again after a restart:
// it picks up from what the database says.
type Script struct {
	S       *Slack
	DB      *sql.DB
	User    string
	Channel string
	Rand    *rand.Rand
	// MaxSteps bounds the clicks of one run.
	MaxSteps int
	// Think is the longest pause before a click (a person reading the
	// step); each pause is random up to it.
	Think time.Duration

	mu    sync.Mutex
	Acks  []Acked // acknowledged answers
	Start bool    // the start command was acknowledged
	Done  bool    // the case reached a step the script does not answer
	Steps int     // clicks and submissions acknowledged, over all runs
	Lost  int     // requests that got no answer (serve died)
}

// errStopped means serve stopped answering.
var errStopped = fmt.Errorf("serve stopped answering")

// Run drives the case until it is done, ctx ends or serve stops answering.
func (sc *Script) Run(ctx context.Context) error {
	s := sc.S
	cs, ok, err := caseOf(sc.DB, sc.Channel)
	if err != nil {
		return err
	}
	if !ok {
		r := s.Command(ctx, sc.User, sc.Channel, "start scripted case")
		if !r.Acked() {
			sc.lost()
			return fmt.Errorf("start: %v %d %s: %w", r.Err, r.Status, r.Body, errStopped)
		}
		sc.mu.Lock()
		sc.Start = true
		sc.mu.Unlock()
		// Acknowledged means stored.
		cs, ok, err = caseOf(sc.DB, sc.Channel)
		if err != nil || !ok || cs.Seq < 0 {
			return fmt.Errorf("start acknowledged but the case is not stored (%v, %+v)", err, cs)
		}
	}
	asked := false // asked for the step to be shown again
	for steps := 0; steps < sc.MaxSteps; {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if cs, _, err = caseOf(sc.DB, sc.Channel); err != nil {
			return err
		}
		if cs.Status != "open" {
			sc.finish()
			return nil
		}
		// The buttons of the step the case waits on.
		var btns []Button
		deadline := time.Now().Add(5 * time.Second)
		for {
			btns = btns[:0]
			for _, b := range s.Buttons(sc.Channel) {
				if b.Case == cs.ID && b.Seq == cs.Seq {
					btns = append(btns, b)
				}
			}
			if len(btns) > 0 || time.Now().After(deadline) || ctx.Err() != nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if len(btns) == 0 {
			if asked {
				return fmt.Errorf("case %d waits on step %d but no message shows its buttons, even after status", cs.ID, cs.Seq)
			}
			// Lost with a crash between storing an answer and posting the
			// next step: status shows the step again.
			r := s.Command(ctx, sc.User, sc.Channel, "status")
			if !r.Acked() {
				sc.lost()
				return errStopped
			}
			asked = true
			continue
		}
		asked = false
		var choices []Button
		for _, b := range btns {
			// Answers only: not the case's own buttons (close, back,
			// start over, "not right"), nor probes, exports or skips.
			switch {
			case b.Key == "_input", b.Key == "_continue", b.Key == "_skip", !strings.HasPrefix(b.Key, "_"):
				choices = append(choices, b)
			}
		}
		if len(choices) == 0 {
			sc.finish() // a probe step (no relay here) or an escalation
			return nil
		}
		b := choices[sc.Rand.IntN(len(choices))]
		if sc.Think > 0 {
			time.Sleep(time.Duration(sc.Rand.Int64N(int64(sc.Think))))
		}
		root := s.Root(sc.Channel)
		r := s.Interaction(ctx, s.ClickPayload(sc.User, sc.Channel, root, b.TS, b.ActionID))
		if !r.Acked() {
			sc.lost()
			return fmt.Errorf("click %s: %v %d: %w", b.ActionID, r.Err, r.Status, errStopped)
		}
		if b.Key == "_input" {
			v, err := sc.waitView(ctx, b)
			if err != nil {
				return err
			}
			viewID := fmt.Sprintf("V%d-%d-%d", b.Case, b.Seq, s.next())
			r := s.Interaction(ctx, s.SubmitPayload(sc.User, v, viewID, inputValue(v.Kind)))
			if !r.Acked() {
				sc.lost()
				return fmt.Errorf("submit %s: %v %d: %w", viewID, r.Err, r.Status, errStopped)
			}
			if strings.Contains(r.Body, "errors") {
				return fmt.Errorf("submission of %q for %s refused: %s", inputValue(v.Kind), v.Kind, r.Body)
			}
		}
		sc.mu.Lock()
		sc.Acks = append(sc.Acks, Acked{Case: b.Case, Seq: b.Seq, Key: b.Key})
		sc.Steps++
		sc.mu.Unlock()
		steps++
		// Acknowledged means stored: the session has moved on.
		after, _, err := caseOf(sc.DB, sc.Channel)
		if err != nil {
			return err
		}
		if after.Seq <= b.Seq && after.Status == "open" {
			return fmt.Errorf("case %d: the answer to step %d was acknowledged but the session is still at %d", b.Case, b.Seq, after.Seq)
		}
	}
	return nil
}

// waitView waits for the modal the click on b opened.
func (sc *Script) waitView(ctx context.Context, b Button) (View, error) {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		vs := sc.S.Views()
		for i := len(vs) - 1; i >= 0; i-- {
			if vs[i].Case == b.Case && vs[i].Seq == b.Seq {
				return vs[i], nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return View{}, fmt.Errorf("no modal opened for %s: %w", b.ActionID, errStopped)
}

func (sc *Script) lost() {
	sc.mu.Lock()
	sc.Lost++
	sc.mu.Unlock()
}

func (sc *Script) finish() {
	sc.mu.Lock()
	sc.Done = true
	sc.mu.Unlock()
}
