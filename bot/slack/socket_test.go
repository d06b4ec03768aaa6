package slack_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	botslack "github.com/vpndiag/vpndiag/bot/slack"
)

// socketRun is a running RunSocketMode.
type socketRun struct {
	done chan struct{}
	err  error
}

// runSocket runs the harness's bot in Socket Mode until the test ends.
func runSocket(t *testing.T, h *Harness) *socketRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &socketRun{done: make(chan struct{})}
	go func() { r.err = h.Bot.RunSocketMode(ctx); close(r.done) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(10 * time.Second):
			t.Error("RunSocketMode did not stop")
		}
	})
	return r
}

// envelope rewrites a fixture envelope: a new envelope ID and payload fields.
func envelope(t *testing.T, fixture, id string, edit func(p map[string]any)) []byte {
	t.Helper()
	var e map[string]any
	if err := json.Unmarshal(MustFixture(t, fixture), &e); err != nil {
		t.Fatal(err)
	}
	e["envelope_id"] = id
	if edit != nil {
		edit(e["payload"].(map[string]any))
	}
	b, _ := json.Marshal(e)
	return b
}

func TestSocketMode(t *testing.T) {
	h := MustHarness(t)
	h.Fake.SetHello(string(MustFixture(t, "09_socket_mode_hello_slackgo.json")))
	runSocket(t, h)
	h.Fake.WaitSocket(t, 1, 10*time.Second)

	// Slack's python-sdk slash command envelope, as sent: our bot answers
	// a command it does not know with the help, in the ack (as in fixture 14).
	h.Fake.SendFrame(t, MustFixture(t, "12_socket_mode_slash_commands_python_sdk.json"))
	ack := h.Fake.WaitAck(t, "1d3c79ab-0ffb-41f3-a080-d19e85f53649", 5*time.Second)
	var msg struct {
		ResponseType string `json:"response_type"`
		Text         string `json:"text"`
	}
	if err := json.Unmarshal(ack.Payload, &msg); err != nil || msg.ResponseType != "ephemeral" || !strings.Contains(msg.Text, "/vpn-diagnose start") {
		t.Fatalf("ack payload %s", ack.Payload)
	}

	// start over Socket Mode: acked empty, then the case thread.
	h.Fake.SendFrame(t, envelope(t, "12_socket_mode_slash_commands_python_sdk.json", "env-start", func(p map[string]any) {
		p["command"], p["text"], p["trigger_id"] = botslack.DefaultCommand, "start", "9.9.start"
	}))
	if a := h.Fake.WaitAck(t, "env-start", 5*time.Second); len(a.Payload) != 0 {
		t.Fatalf("start ack carries %s", a.Payload)
	}
	msgs := h.WaitMessages("C111", 2)
	step := msgs[1]
	ids := ActionIDs(t, step)

	// The java-sdk interactive envelope with our button: the step advances.
	click := envelope(t, "15_socket_mode_interactive_block_actions_button_java_sdk.json", "env-click", func(p map[string]any) {
		p["container"].(map[string]any)["message_ts"] = step.TS
		p["container"].(map[string]any)["thread_ts"] = msgs[0].TS
		p["actions"].([]any)[0].(map[string]any)["action_id"] = ids[1]
	})
	h.Fake.SendFrame(t, click)
	h.Fake.WaitAck(t, "env-click", 5*time.Second)
	h.WaitMessages("C111", 3)
	h.Settle()
	before := len(h.Fake.Calls(""))

	// The same envelope sent again changes nothing (it is acked again).
	h.Fake.SendFrame(t, click)
	h.Fake.WaitFor(t, 5*time.Second, "second ack", func() bool {
		n := 0
		for _, a := range h.Fake.Acks() {
			if a.EnvelopeID == "env-click" {
				n++
			}
		}
		return n == 2
	})
	h.Settle()
	if n := len(h.Fake.Calls("")); n != before {
		t.Fatalf("a replayed envelope made %d Slack calls", n-before)
	}

	// The fixture's own action ID was never issued: logged, user told.
	h.Fake.SendFrame(t, envelope(t, "15_socket_mode_interactive_block_actions_button_java_sdk.json", "env-foreign", nil))
	h.Fake.WaitAck(t, "env-foreign", 5*time.Second)
	if eph := h.WaitEphemeral(1); !strings.Contains(eph[0], "I don't recognise that button") {
		t.Fatalf("foreign action: %q", eph[0])
	}
	if !strings.Contains(h.Log.String(), `action the bot never issued" component=slack action_id=a`) {
		t.Error("foreign action not logged")
	}

	// Slack asks us to reconnect: a new connection; then the link breaks:
	// another one.
	h.Fake.SendFrame(t, MustFixture(t, "10_socket_mode_disconnect_warning_slackgo.json"))
	h.Fake.WaitSocket(t, 2, 10*time.Second)
	h.Fake.DropSocket()
	h.Fake.WaitSocket(t, 3, 10*time.Second)
	h.Fake.SendFrame(t, envelope(t, "12_socket_mode_slash_commands_python_sdk.json", "env-after", func(p map[string]any) {
		p["command"], p["text"] = botslack.DefaultCommand, "help"
	}))
	if a := h.Fake.WaitAck(t, "env-after", 5*time.Second); a.Conn != 3 {
		t.Fatalf("ack after reconnects came on connection %d, want 3", a.Conn)
	}
}

func TestSocketMode_BadAppToken(t *testing.T) {
	h := MustHarness(t, func(c *botslack.Config, _ *botslack.Deps) { c.AppToken = "xapp-revoked" })
	run := runSocket(t, h)
	select {
	case <-run.done:
		if err := run.err; err == nil || !strings.Contains(err.Error(), "invalid_auth") {
			t.Fatalf("RunSocketMode = %v, want invalid_auth", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("RunSocketMode kept retrying a refused token")
	}
	if !strings.Contains(h.Log.String(), "check slack.app_token") {
		t.Error("the refusal does not say what to fix")
	}
	if n := h.Fake.SocketConnects(); n != 0 {
		t.Fatalf("%d connections with a refused token", n)
	}
}
