package hardening_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag/bot/slack/slackfake"
)

// settle waits until fake Slack has seen no call for 300 ms.
func settle(tb testing.TB, fake *slackfake.Server) {
	tb.Helper()
	last, stable := -1, 0
	fake.WaitFor(tb, 30*time.Second, "the bot to settle", func() bool {
		n := len(fake.Calls(""))
		if n == last {
			stable++
		} else {
			stable, last = 0, n
		}
		return stable >= 30
	})
}

// startCase opens a case in channel as user and returns its state and the
// buttons of its first step.
func startCase(t *testing.T, sl *Slack, srv *Serve, user, channel string) (CaseState, []Button) {
	t.Helper()
	ctx := context.Background()
	if r := sl.Command(ctx, user, channel, "start"); !r.Acked() {
		t.Fatalf("start: %+v", r)
	}
	db := MustOpenDB(t, srv.DB)
	cs, ok, err := caseOf(db, channel)
	if !ok || err != nil {
		t.Fatalf("no case in %s after an acknowledged start: %v", channel, err)
	}
	var btns []Button
	sl.Fake.WaitFor(t, 10*time.Second, "the first step's buttons", func() bool {
		btns = btns[:0]
		for _, b := range sl.Buttons(channel) {
			if b.Case == cs.ID && b.Seq == cs.Seq {
				btns = append(btns, b)
			}
		}
		return len(btns) > 0
	})
	return cs, btns
}

func button(btns []Button, key string) Button {
	for _, b := range btns {
		if b.Key == key {
			return b
		}
	}
	return Button{}
}

// TestSignatures sends every kind of badly signed request to the three
// endpoints: all are refused with 401 and nothing is stored or posted.
func TestSignatures(t *testing.T) {
	fake := slackfake.New(t)
	srv := MustServe(t, fake, "", "")
	sl := NewSlack(t, fake, func() string { return srv.Addr })
	cs, btns := startCase(t, sl, srv, "U1", "C1")
	settle(t, fake)
	db := MustOpenDB(t, srv.DB)
	before, calls := MustCounts(t, db), len(fake.Calls(""))

	type body struct {
		path, ctype string
		data        []byte
	}
	root := sl.Root("C1")
	bodies := []body{
		{"/slack/commands", "application/x-www-form-urlencoded", sl.CommandBody("U1", "C1", "start forged")},
		{"/slack/interactions", "application/x-www-form-urlencoded", InteractionBody(sl.ClickPayload("U1", "C1", root, btns[0].TS, btns[0].ActionID))},
		{"/slack/events", "application/json", []byte(`{"type":"event_callback","event_id":"EvForged","event":{"type":"message","subtype":"file_share","user":"U1","channel":"C1","thread_ts":"` + root + `","files":[{"id":"F1"}]}}`)},
	}
	now := time.Now()
	ts := func(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }
	variants := []struct {
		name string
		hdr  func(b []byte) http.Header
		send func(b []byte) []byte
	}{
		{"wrong secret", func(b []byte) http.Header { return Sign("not-the-secret", now, b) }, nil},
		{"wrong version prefix", func(b []byte) http.Header {
			h := Sign(Secret, now, b)
			h.Set("X-Slack-Signature", "v1="+strings.TrimPrefix(h.Get("X-Slack-Signature"), "v0="))
			return h
		}, nil},
		{"no version prefix", func(b []byte) http.Header {
			h := Sign(Secret, now, b)
			h.Set("X-Slack-Signature", strings.TrimPrefix(h.Get("X-Slack-Signature"), "v0="))
			return h
		}, nil},
		{"stale timestamp (6 min)", func(b []byte) http.Header { return Sign(Secret, now.Add(-6*time.Minute), b) }, nil},
		{"stale timestamp (1 day)", func(b []byte) http.Header { return Sign(Secret, now.Add(-24*time.Hour), b) }, nil},
		{"future timestamp (6 min)", func(b []byte) http.Header { return Sign(Secret, now.Add(6*time.Minute), b) }, nil},
		{"timestamp changed after signing", func(b []byte) http.Header {
			h := Sign(Secret, now, b)
			h.Set("X-Slack-Request-Timestamp", ts(now.Add(time.Second)))
			return h
		}, nil},
		{"body changed after signing", func(b []byte) http.Header { return Sign(Secret, now, b) }, func(b []byte) []byte {
			return append(append([]byte(nil), b...), "&x=1"...)
		}},
		{"body truncated after signing", func(b []byte) http.Header { return Sign(Secret, now, b) }, func(b []byte) []byte { return b[:len(b)-1] }},
		{"missing signature", func(b []byte) http.Header {
			h := Sign(Secret, now, b)
			h.Del("X-Slack-Signature")
			return h
		}, nil},
		{"missing timestamp", func(b []byte) http.Header {
			h := Sign(Secret, now, b)
			h.Del("X-Slack-Request-Timestamp")
			return h
		}, nil},
		{"no headers", func(b []byte) http.Header { return http.Header{} }, nil},
		{"timestamp not a number", func(b []byte) http.Header {
			h := Sign(Secret, now, b)
			h.Set("X-Slack-Request-Timestamp", "17e8")
			return h
		}, nil},
		{"signature not hex", func(b []byte) http.Header {
			h := Sign(Secret, now, b)
			h.Set("X-Slack-Signature", "v0=zz"+strings.Repeat("0", 62))
			return h
		}, nil},
		{"empty signature", func(b []byte) http.Header {
			h := Sign(Secret, now, b)
			h.Set("X-Slack-Signature", "v0=")
			return h
		}, nil},
		{"signature of another body", func(b []byte) http.Header { return Sign(Secret, now, []byte("command=%2Fvpn-diagnose&text=help")) }, nil},
	}
	sent, refused := 0, 0
	for _, bd := range bodies {
		for _, v := range variants {
			for range 5 {
				hdr := v.hdr(bd.data)
				hdr.Set("Content-Type", bd.ctype)
				data := bd.data
				if v.send != nil {
					data = v.send(data)
				}
				r := PostRaw(context.Background(), srv.Addr, bd.path, data, hdr)
				sent++
				if r.Err == nil && r.Status == http.StatusUnauthorized {
					refused++
				} else {
					t.Errorf("%s %s: %d %v, want 401", bd.path, v.name, r.Status, r.Err)
				}
			}
		}
	}
	settle(t, fake)
	after := MustCounts(t, db)
	if d := before.Diff(after); len(d) > 0 {
		t.Errorf("badly signed requests changed the database: %v", d)
	}
	if n := len(fake.Calls("")); n != calls {
		t.Errorf("badly signed requests made the bot call Slack %d times", n-calls)
	}
	t.Logf("signatures: %d/%d badly signed requests (%d kinds × 3 endpoints × 5) refused with 401 (%.0f %%); rows changed: %d; Slack calls: %d (case %d untouched)",
		refused, sent, len(variants), 100*float64(refused)/float64(sent), len(before.Diff(after)), len(fake.Calls(""))-calls, cs.ID)
}

// TestSlackAtLeastOnce replays slash commands, clicks and modal
// submissions (with and without X-Slack-Retry-Num) to HTTP mode, and Socket
// Mode envelopes: 1000 replays in all change state exactly once.
func TestSlackAtLeastOnce(t *testing.T) {
	fake := slackfake.New(t)
	srv := MustServe(t, fake, "", "")
	sl := NewSlack(t, fake, func() string { return srv.Addr })
	ctx := context.Background()
	db := MustOpenDB(t, srv.DB)
	replays, changed := 0, 0
	replay := func(name string, n int, send func(i int) Reply) {
		t.Helper()
		settle(t, fake)
		before, calls := MustCounts(t, db), len(fake.Calls(""))
		for i := range n {
			r := send(i)
			if !r.Acked() {
				t.Errorf("%s replay %d: %d %v", name, i, r.Status, r.Err)
			}
			replays++
		}
		settle(t, fake)
		if d := before.Diff(MustCounts(t, db)); len(d) > 0 {
			changed++
			t.Errorf("%d replays of the %s changed the database: %v", n, name, d)
		}
		if c := len(fake.Calls("")) - calls; c != 0 {
			changed++
			t.Errorf("%d replays of the %s made %d Slack calls", n, name, c)
		}
	}
	retry := func(i int) []string {
		if i%2 == 0 {
			return nil
		}
		return []string{"X-Slack-Retry-Num", strconv.Itoa(1 + i%3), "X-Slack-Retry-Reason", "http_timeout"}
	}

	// A slash command delivered again (same trigger_id).
	cmd := sl.CommandBody("U1", "C1", "start")
	if r := Post(ctx, srv.Addr, "/slack/commands", cmd, "application/x-www-form-urlencoded"); !r.Acked() {
		t.Fatalf("start: %+v", r)
	}
	replay("start command", 250, func(i int) Reply {
		return Post(ctx, srv.Addr, "/slack/commands", cmd, "application/x-www-form-urlencoded", retry(i)...)
	})
	cs, _, _ := caseOf(db, "C1")
	if n := Count(t, db, "SELECT COUNT(*) FROM cases WHERE channel_id = 'C1'"); n != 1 {
		t.Fatalf("%d cases after 251 deliveries of one start", n)
	}

	// A click delivered again (same trigger and action_ts).
	var first Button
	fake.WaitFor(t, 10*time.Second, "the first step", func() bool {
		first = button(sl.Buttons("C1"), "range_changed")
		return first.ActionID != ""
	})
	click := sl.ClickPayload("U1", "C1", sl.Root("C1"), first.TS, first.ActionID)
	if r := sl.Interaction(ctx, click); !r.Acked() {
		t.Fatalf("click: %+v", r)
	}
	replay("click", 250, func(i int) Reply { return sl.Interaction(ctx, click, retry(i)...) })

	// The input step's modal submitted again (same view ID).
	var input Button
	fake.WaitFor(t, 10*time.Second, "the input step", func() bool {
		input = button(sl.Buttons("C1"), "_input")
		return input.ActionID != ""
	})
	if r := sl.Interaction(ctx, sl.ClickPayload("U1", "C1", sl.Root("C1"), input.TS, input.ActionID)); !r.Acked() {
		t.Fatalf("open modal: %+v", r)
	}
	var view View
	fake.WaitFor(t, 10*time.Second, "the modal", func() bool {
		for _, v := range sl.Views() {
			if v.Case == cs.ID && v.Seq == input.Seq {
				view = v
				return true
			}
		}
		return false
	})
	submit := sl.SubmitPayload("U1", view, "VREPLAY1", "192.0.2.0/24")
	if r := sl.Interaction(ctx, submit); !r.Acked() || strings.Contains(r.Body, "errors") {
		t.Fatalf("submit: %+v", r)
	}
	replay("modal submission", 250, func(i int) Reply { return sl.Interaction(ctx, submit, retry(i)...) })
	if n := Count(t, db, "SELECT COUNT(*) FROM answers WHERE case_id = ? AND source = 'user'", cs.ID); n != 2 {
		t.Errorf("%d user answers after one click and one submission, each delivered 251 times; want 2", n)
	}
	MustIntegrity(t, db)

	// Socket Mode: the same envelopes delivered again.
	sfake := slackfake.New(t)
	sock := NewServe(t, sfake, "", "slack:\n  mode: socket\n", "SLACK_APP_TOKEN="+slackfake.AppToken)
	sock.Start()
	sfake.WaitSocket(t, 1, 20*time.Second)
	sdb := MustOpenDB(t, sock.DB)
	env := func(id, typ string, payload any) []byte {
		b, _ := json.Marshal(map[string]any{"envelope_id": id, "type": typ, "accepts_response_payload": typ != "events_api", "payload": payload})
		return b
	}
	start := env("env-start", "slash_commands", map[string]any{"command": "/vpn-diagnose", "text": "start", "user_id": "U1", "channel_id": "C9", "trigger_id": "9.9.9"})
	sfake.SendFrame(t, start)
	sfake.WaitAck(t, "env-start", 10*time.Second)
	var sb Button
	ssl := NewSlack(t, sfake, func() string { return sock.Addr })
	sfake.WaitFor(t, 10*time.Second, "the socket case's first step", func() bool {
		sb = button(ssl.Buttons("C9"), "range_changed")
		return sb.ActionID != ""
	})
	var clickPayload map[string]any
	_ = json.Unmarshal(ssl.ClickPayload("U1", "C9", ssl.Root("C9"), sb.TS, sb.ActionID), &clickPayload)
	clickEnv := env("env-click", "interactive", clickPayload)
	sfake.SendFrame(t, clickEnv)
	sfake.WaitAck(t, "env-click", 10*time.Second)
	settle(t, sfake)
	sBefore, sCalls := MustCounts(t, sdb), len(sfake.Calls(""))
	for i := range 250 {
		if i%2 == 0 {
			sfake.SendFrame(t, start)
		} else {
			sfake.SendFrame(t, clickEnv)
		}
		replays++
	}
	sfake.WaitFor(t, 30*time.Second, "acks of every replayed envelope", func() bool { return len(sfake.Acks()) >= 252 })
	settle(t, sfake)
	if d := sBefore.Diff(MustCounts(t, sdb)); len(d) > 0 {
		changed++
		t.Errorf("250 replayed envelopes changed the database: %v", d)
	}
	if c := len(sfake.Calls("")) - sCalls; c != 0 {
		changed++
		t.Errorf("250 replayed envelopes made %d Slack calls", c)
	}
	MustIntegrity(t, sdb)
	t.Logf("at-least-once: %d replays (250 slash commands, 250 clicks, 250 modal submissions over HTTP, half with X-Slack-Retry-Num; 250 Socket Mode envelopes) changed state %d times beyond the first delivery",
		replays, changed)
}
