package slack_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/bot"
	botslack "github.com/vpndiag/vpndiag/bot/slack"
	"github.com/vpndiag/vpndiag/bot/slack/slackfake"
)

// SubmitValues builds a view_submission payload for the modal opened by
// views.open call number n with the given state values (block → action →
// value object).
func (h *Harness) SubmitValues(user string, n int, values map[string]any) []byte {
	h.T.Helper()
	views := h.Fake.Views()
	if len(views) <= n {
		h.T.Fatalf("views.open was called %d times; want call %d", len(views), n)
	}
	var p map[string]any
	if err := json.Unmarshal(MustFixture(h.T, "07_view_submission_bolt_python.payload.json"), &p); err != nil {
		h.T.Fatal(err)
	}
	p["user"].(map[string]any)["id"] = user
	p["trigger_id"] = fmt.Sprintf("%d.333.trigger", h.next())
	v := p["view"].(map[string]any)
	v["id"] = fmt.Sprintf("V%d", n)
	v["callback_id"] = views[n].CallbackID
	v["private_metadata"] = views[n].PrivateMetadata
	v["state"] = map[string]any{"values": values}
	b, _ := json.Marshal(p)
	return b
}

// button returns the action ID of the button of m whose key is key.
func buttonOf(t *testing.T, m slackfake.Message, key string) string {
	t.Helper()
	for _, id := range ActionIDs(t, m) {
		if strings.HasSuffix(id, ":"+key) {
			return id
		}
	}
	t.Fatalf("no %s button in %v", key, ActionIDs(t, m))
	return ""
}

// walkToProbe answers the test flow up to its probe step (a TCP probe of
// 127.0.0.1:443) and returns the case and the probe step's message.
func walkToProbe(t *testing.T, h *Harness, user, channel string) (*vpndiag.Case, slackfake.Message) {
	t.Helper()
	cs := walkToPort(t, h, user, channel)
	h.Interaction(h.SubmitPayload(user, 1, "443"))
	h.WaitMessages(channel, 5)
	h.Settle()
	return cs, h.Fake.Messages(channel)[4]
}

// walkToPort answers the test flow up to the port its probe step checks
// and opens that input's modal (the second view).
func walkToPort(t *testing.T, h *Harness, user, channel string) *vpndiag.Case {
	t.Helper()
	cs, first := mustStart(t, h, user, channel)
	h.Interaction(h.ClickPayload(user, channel, cs.ThreadTS, first.TS, buttonOf(t, first, "tunnel_down")))
	msgs := h.WaitMessages(channel, 3)
	h.Interaction(h.ClickPayload(user, channel, cs.ThreadTS, msgs[2].TS, buttonOf(t, msgs[2], bot.KeyInput)))
	h.Fake.WaitFor(t, 5*time.Second, "views.open", func() bool { return len(h.Fake.Views()) == 1 })
	h.Interaction(h.SubmitPayload(user, 0, "127.0.0.1"))
	msgs = h.WaitMessages(channel, 4)
	h.Interaction(h.ClickPayload(user, channel, cs.ThreadTS, msgs[3].TS, buttonOf(t, msgs[3], bot.KeyInput)))
	h.Fake.WaitFor(t, 5*time.Second, "views.open", func() bool { return len(h.Fake.Views()) == 2 })
	return cs
}

// TestProbesWithoutRelay: with no relay and no local probes, a probe step
// is never a dead end: "Run the probes" is not offered (a forged click is
// answered 200 with an explanation), "I'll run it myself" shows the exact
// commands and takes the outcome, "Skip this check" moves on.
func TestProbesWithoutRelay(t *testing.T) {
	t.Run("RunItMyself", func(t *testing.T) {
		h := MustHarness(t)
		cs, probe := walkToProbe(t, h, "U1", "C1")
		if !strings.Contains(BlocksText(probe), "No relay is connected") {
			t.Fatalf("probe step without a relay: %s", BlocksText(probe))
		}
		for _, id := range ActionIDs(t, probe) {
			if strings.HasSuffix(id, ":"+bot.KeyRun) {
				t.Fatalf("Run the probes offered with nothing to run them: %v", ActionIDs(t, probe))
			}
		}
		// A click on Run anyway (an old message): 200, and words.
		run := strings.TrimSuffix(buttonOf(t, probe, bot.KeyManual), bot.KeyManual) + bot.KeyRun
		if r := h.Interaction(h.ClickPayload("U1", "C1", cs.ThreadTS, probe.TS, run)); r.Status != 200 {
			t.Fatalf("Run without a relay answered %d", r.Status)
		}
		if eph := h.WaitEphemeral(1); !strings.Contains(eph[0], "I'll run it myself") {
			t.Fatalf("Run without a relay: %q", eph[0])
		}
		h.Interaction(h.ClickPayload("U1", "C1", cs.ThreadTS, probe.TS, buttonOf(t, probe, bot.KeyManual)))
		h.Fake.WaitFor(t, 5*time.Second, "the manual modal", func() bool { return len(h.Fake.Views()) == 3 })
		view := string(h.Fake.Calls("views.open")[2].JSON)
		for _, want := range []string{"vpndiag probe tcp 127.0.0.1 --port 443", "nc -vz -w 5 127.0.0.1 443", "What did you see?"} {
			if !strings.Contains(view, want) {
				t.Errorf("manual modal lacks %q: %s", want, view)
			}
		}
		if i, j := strings.Index(view, `"value":"reachable"`), strings.Index(view, `"value":"unreachable"`); i < 0 || j < 0 || i > j {
			t.Errorf("outcomes not in the flow's order: %s", view)
		}
		r := h.Interaction(h.SubmitValues("U1", 2, map[string]any{
			"outcome": map[string]any{"outcome": map[string]any{"type": "radio_buttons", "selected_option": map[string]any{"value": "unreachable", "text": map[string]any{"type": "plain_text", "text": "the port does not answer"}}}},
			"note":    map[string]any{"note": map[string]any{"type": "plain_text_input", "value": "nc: connect to 127.0.0.1 port 443 (tcp) failed: Connection refused\npassword=hunter2"}},
		}))
		if r.Status != 200 || r.Body != "" {
			t.Fatalf("manual answer: %d %s", r.Status, r.Body)
		}
		msgs := h.WaitMessages("C1", 6)
		h.Settle()
		msgs = h.Fake.Messages("C1")
		if !strings.Contains(msgs[5].Text, "Upload your VPN device configuration") {
			t.Fatalf("after the manual answer: %q", msgs[5].Text)
		}
		if !strings.Contains(BlocksText(msgs[4]), "answered *the port does not answer (run by hand)*") || len(ActionIDs(t, msgs[4])) != 0 {
			t.Fatalf("probe step after the manual answer: %s", BlocksText(msgs[4]))
		}
		evs, _ := h.Events.FindEvents(context.Background(), cs.ID)
		var note string
		for _, e := range evs {
			if e.Kind == vpndiag.EventNote && strings.Contains(e.Message, "as pasted") {
				note = e.Message
			}
		}
		if !strings.Contains(note, "Connection refused") || strings.Contains(note, "hunter2") {
			t.Fatalf("pasted output kept as %q (want it, redacted)", note)
		}
	})
	t.Run("Skip", func(t *testing.T) {
		h := MustHarness(t)
		cs, probe := walkToProbe(t, h, "U1", "C1")
		h.Interaction(h.ClickPayload("U1", "C1", cs.ThreadTS, probe.TS, buttonOf(t, probe, bot.KeySkipProbe)))
		msgs := h.WaitMessages("C1", 6)
		h.Settle()
		if !strings.Contains(msgs[5].Text, "Upload your VPN device configuration") {
			t.Fatalf("after Skip: %q", msgs[5].Text)
		}
		if !strings.Contains(BlocksText(h.Fake.Messages("C1")[4]), "Skipped (not run)") {
			t.Fatalf("skipped probe step: %s", BlocksText(h.Fake.Messages("C1")[4]))
		}
	})
}

// failingReplies is a Diagnoser whose Reply fails with a storage error the
// first n times.
type failingReplies struct {
	vpndiag.Diagnoser
	n int
}

func (f *failingReplies) Reply(ctx context.Context, id int64, r vpndiag.Reply) (*vpndiag.Step, error) {
	if f.n > 0 {
		f.n--
		return nil, fmt.Errorf("reply: %w", vpndiag.Errorf(vpndiag.EUNAVAILABLE, "The database is busy; try again in a moment."))
	}
	return f.Diagnoser.Reply(ctx, id, r)
}

// TestStatusCodes: what a person must act on is answered 200 with words;
// 503 only when a retry can succeed (the store could not write).
func TestStatusCodes(t *testing.T) {
	t.Run("not_in_channel", func(t *testing.T) {
		h := MustHarness(t)
		h.Fake.Fail("chat.postMessage", slackfake.Failure{Error: "not_in_channel"})
		if r := h.Command("U1", "C1", "start"); r.Status != 200 {
			t.Fatalf("start in a channel the bot is not in: %d", r.Status)
		}
		if eph := h.WaitEphemeral(1); !strings.Contains(eph[0], "invite me first") {
			t.Fatalf("told %q", eph[0])
		}
	})
	t.Run("missing_scope", func(t *testing.T) {
		h := MustHarness(t)
		h.Fake.Fail("views.open", slackfake.Failure{Error: "missing_scope", Needed: "commands"})
		if r := h.Command("U1", "C1", "setup"); r.Status != 200 {
			t.Fatalf("setup without the scope: %d", r.Status)
		}
		h.WaitEphemeral(1)
	})
	t.Run("access", func(t *testing.T) {
		h := MustHarness(t, func(c *botslack.Config, _ *botslack.Deps) { c.Policy.Users = []string{"U1"} })
		cs, step := mustStart(t, h, "U1", "C1")
		if r := h.Interaction(h.ClickPayload("U2", "C1", cs.ThreadTS, step.TS, ActionIDs(t, step)[0])); r.Status != 200 {
			t.Fatalf("refused click: %d", r.Status)
		}
		if eph := h.WaitEphemeral(1); !strings.Contains(eph[0], "not on the list") {
			t.Fatalf("told %q", eph[0])
		}
	})
	t.Run("storage", func(t *testing.T) {
		var fr *failingReplies
		h := MustHarness(t, func(_ *botslack.Config, d *botslack.Deps) {
			fr = &failingReplies{Diagnoser: d.Diagnoser, n: 1}
			d.Diagnoser = fr
		})
		cs, step := mustStart(t, h, "U1", "C1")
		click := h.ClickPayload("U1", "C1", cs.ThreadTS, step.TS, ActionIDs(t, step)[0])
		if r := h.Interaction(click); r.Status != 503 {
			t.Fatalf("click not stored answered %d, want 503", r.Status)
		}
		if eph := h.WaitEphemeral(1); !strings.Contains(eph[0], "could not record your click") {
			t.Fatalf("told %q", eph[0])
		}
		// Slack's retry of the same click goes through, once.
		if r := h.Interaction(click, botslack.HeaderRetryNum, "1"); r.Status != 200 {
			t.Fatalf("retry answered %d", r.Status)
		}
		h.WaitMessages("C1", 3)
		h.Settle()
		if s, _ := h.Sessions.FindSession(context.Background(), cs.ID); s.Seq != 1 {
			t.Fatalf("seq %d after the retry, want 1", s.Seq)
		}
	})
}

// TestBackAndStartOver: Back undoes the last answer and asks it again;
// Start over triages again; the old buttons go.
func TestBackAndStartOver(t *testing.T) {
	h := MustHarness(t)
	cs, first := mustStart(t, h, "U1", "C1")
	h.Interaction(h.ClickPayload("U1", "C1", cs.ThreadTS, first.TS, buttonOf(t, first, "dns")))
	msgs := h.WaitMessages("C1", 3)
	h.Settle()
	second := h.Fake.Messages("C1")[2]
	h.Interaction(h.ClickPayload("U1", "C1", cs.ThreadTS, second.TS, buttonOf(t, second, bot.KeyBack)))
	msgs = h.WaitMessages("C1", 4)
	h.Settle()
	msgs = h.Fake.Messages("C1")
	if !strings.Contains(msgs[3].Text, "What do you see?") {
		t.Fatalf("after Back: %q", msgs[3].Text)
	}
	if len(ActionIDs(t, msgs[2])) != 0 || !strings.Contains(BlocksText(msgs[2]), "<@U1> went back one step.") {
		t.Fatalf("the step left by Back: %s", BlocksText(msgs[2]))
	}
	h.Interaction(h.ClickPayload("U1", "C1", cs.ThreadTS, msgs[3].TS, buttonOf(t, msgs[3], bot.KeyRestart)))
	msgs = h.WaitMessages("C1", 5)
	h.Settle()
	if msgs = h.Fake.Messages("C1"); !strings.Contains(msgs[4].Text, "What do you see?") || !strings.Contains(BlocksText(msgs[3]), "started the diagnosis over") {
		t.Fatalf("after Start over: %q / %s", msgs[4].Text, BlocksText(msgs[3]))
	}
}

// TestLimitsAndEscaping: a file with hundreds of findings, hostile names
// and hostile summaries gives one message within Block Kit's limits (the
// checker in slackfake fails the test otherwise) that says how many are
// left out and where they are; nothing can ping the channel.
func TestLimitsAndEscaping(t *testing.T) {
	h := MustHarness(t, func(_ *botslack.Config, d *botslack.Deps) {
		d.Evidence = bot.EvidenceFunc(func(ctx context.Context, caseID int64, name string, r io.Reader, actor string) (string, []*vpndiag.Finding, error) {
			_, _ = io.Copy(io.Discard, r)
			var fs []*vpndiag.Finding
			for i := range 540 {
				fs = append(fs, &vpndiag.Finding{Code: fmt.Sprintf("rule-%d", i), Severity: vpndiag.SeverityWarning,
					Summary: fmt.Sprintf("tunnel <!here> & `tun%d` has a <b>odd</b> proposal %s", i, strings.Repeat("x", 200)),
					Fix:     "set `proposals = aes256", Evidence: []vpndiag.EvidenceRef{{Line: i + 1}}})
			}
			return "a config with 540 findings for <!channel>", fs, nil
		})
	})
	cs, _ := mustStart(t, h, "U1", "C1")
	h.Fake.AddFile("F9", "<!channel>.conf", "text/plain", []byte("config\n"), nil)
	h.Event(h.FileEvent("U1", "C1", cs.ThreadTS, "F9"))
	msgs := h.WaitMessages("C1", 3)
	h.Settle()
	m := msgs[2]
	var blocks []any
	_ = json.Unmarshal(m.Blocks, &blocks)
	if len(blocks) > 50 || !strings.Contains(BlocksText(m), "more — full list in the bundle") {
		t.Fatalf("%d blocks; text %.300s", len(blocks), BlocksText(m))
	}
	if strings.Contains(m.Text, "<!") || strings.Contains(string(m.Blocks), "<!") {
		t.Fatalf("a broadcast reached the message: %q", m.Text)
	}
}

// TestSetupBigSite: a site profile longer than one input takes is edited
// over several fields (the modal stays within Block Kit's limits) and
// saved whole.
func TestSetupBigSite(t *testing.T) {
	h := MustHarness(t)
	site := &vpndiag.Site{Name: "big", CloudCIDR: mustPrefix(t, "10.20.0.0/16"), Routing: "static", IKEVersion: 2,
		CloudDNSServers: []netip.Addr{netip.MustParseAddr("10.20.0.2")}, Channels: []string{"C1"}}
	for i := range 150 {
		site.EnvironmentFQDNs = append(site.EnvironmentFQDNs, fmt.Sprintf("environment-%03d.customer.example.cloud", i))
	}
	if err := h.Sites.UpsertSite(context.Background(), site); err != nil {
		t.Fatal(err)
	}
	h.Command("U1", "C1", "setup big")
	h.Fake.WaitFor(t, 5*time.Second, "views.open", func() bool { return len(h.Fake.Views()) == 1 })
	v := h.Fake.Views()[0]
	if len(v.Inputs) < 2 {
		t.Fatalf("a big profile in %d input(s)", len(v.Inputs))
	}
	var req struct {
		View struct {
			Blocks []struct {
				Element struct {
					InitialValue string `json:"initial_value"`
				} `json:"element"`
			} `json:"blocks"`
		} `json:"view"`
	}
	_ = json.Unmarshal(h.Fake.Calls("views.open")[0].JSON, &req)
	values := map[string]any{}
	var whole strings.Builder
	for i, in := range v.Inputs {
		part := req.View.Blocks[i+1].Element.InitialValue
		whole.WriteString(part)
		values[in[0]] = map[string]any{in[1]: map[string]any{"type": "plain_text_input", "value": part}}
	}
	if !strings.Contains(whole.String(), "environment-149.customer.example.cloud") {
		t.Fatalf("the parts do not hold the whole profile")
	}
	if r := h.Interaction(h.SubmitValues("U1", 0, values)); r.Status != 200 || r.Body != "" {
		t.Fatalf("save: %d %s", r.Status, r.Body)
	}
	h.WaitEphemeral(1)
	got, err := h.Sites.FindSiteByName(context.Background(), "big")
	if err != nil || len(got.EnvironmentFQDNs) != 150 {
		t.Fatalf("saved %+v %v", got, err)
	}
}

// TestKBAndMention: kb articles are readable from Slack; a person who
// writes to the bot in a case thread is told where the case stands.
func TestKBAndMention(t *testing.T) {
	h := MustHarness(t)
	r := h.Command("U1", "C1", "kb phase1-ike-failure")
	var resp struct{ Text string }
	if err := json.Unmarshal([]byte(r.Body), &resp); err != nil || !strings.Contains(resp.Text, "Guide section:") {
		t.Fatalf("kb: %d %s", r.Status, r.Body)
	}
	r = h.Command("U1", "C1", "kb nosuch")
	if !strings.Contains(r.Body, "There is no article") || !strings.Contains(r.Body, "phase1-ike-failure") {
		t.Fatalf("kb of an unknown article: %s", r.Body)
	}
	cs, _ := mustStart(t, h, "U1", "C1")
	h.Event(h.MentionEvent("U2", "C1", cs.ThreadTS, "what now?"))
	if eph := h.WaitEphemeral(1); !strings.Contains(eph[0], "I read buttons and files") || !strings.Contains(eph[0], "What do you see?") {
		t.Fatalf("mention answered %q", eph[0])
	}
}

// TestStartCapCountsOnlyStarts: a start that failed does not count
// against the per-user cap.
func TestStartCapCountsOnlyStarts(t *testing.T) {
	h := MustHarness(t, func(c *botslack.Config, _ *botslack.Deps) { c.MaxStartsPerUser = 1 })
	h.Fake.Fail("chat.postMessage", slackfake.Failure{Error: "not_in_channel"})
	h.Command("U1", "C1", "start")
	h.WaitEphemeral(1)
	h.Settle()
	mustStart(t, h, "U1", "C2")
	h.Command("U1", "C2", "start")
	if eph := h.WaitEphemeral(2); !strings.Contains(eph[1], "You have opened 1 cases") {
		t.Fatalf("second start: %q", eph[1])
	}
}

// TestSocketMode_AckAfterCommit: over Socket Mode a click is acknowledged
// once its answer is stored, and a click Slack's retry cannot fix (no
// relay) is acknowledged with words for the person.
func TestSocketMode_AckAfterCommit(t *testing.T) {
	h := MustHarness(t)
	runSocket(t, h)
	h.Fake.WaitSocket(t, 1, 10*time.Second)
	h.Fake.SendFrame(t, envelope(t, "12_socket_mode_slash_commands_python_sdk.json", "env-start", func(p map[string]any) {
		p["command"], p["text"], p["trigger_id"] = botslack.DefaultCommand, "start", "9.9.start"
	}))
	h.Fake.WaitAck(t, "env-start", 5*time.Second)
	msgs := h.WaitMessages("C111", 2)
	h.Settle()
	cs := h.MustCase("C111")
	step := h.Fake.Messages("C111")[1]
	h.Fake.SendFrame(t, envelope(t, "15_socket_mode_interactive_block_actions_button_java_sdk.json", "env-click", func(p map[string]any) {
		p["container"].(map[string]any)["message_ts"] = step.TS
		p["container"].(map[string]any)["thread_ts"] = msgs[0].TS
		p["actions"].([]any)[0].(map[string]any)["action_id"] = buttonOf(t, step, "tunnel_down")
	}))
	h.Fake.WaitAck(t, "env-click", 5*time.Second)
	// Acknowledged means stored.
	if s, _ := h.Sessions.FindSession(context.Background(), cs.ID); s.Seq != 1 {
		t.Fatalf("acked at seq %d: the answer was not stored first", s.Seq)
	}
	h.Settle()
	next := h.Fake.Messages("C111")[2]
	h.Fake.SendFrame(t, envelope(t, "15_socket_mode_interactive_block_actions_button_java_sdk.json", "env-run", func(p map[string]any) {
		p["trigger_id"] = "9.9.run"
		p["container"].(map[string]any)["message_ts"] = next.TS
		p["actions"].([]any)[0].(map[string]any)["action_id"] = bot.Action{CaseID: cs.ID, Seq: 1, Key: bot.KeyRun}.ID()
		p["actions"].([]any)[0].(map[string]any)["action_ts"] = "1700000999.000001"
	}))
	h.Fake.WaitAck(t, "env-run", 5*time.Second)
	if eph := h.WaitEphemeral(1); !strings.HasPrefix(eph[0], "This step is already done") && !strings.Contains(eph[0], "I'll run it myself") {
		t.Fatalf("told %q", eph[0])
	}
}

func mustPrefix(t *testing.T, s string) netip.Prefix {
	t.Helper()
	p, err := netip.ParsePrefix(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestStatusShowsALostStep: when the step a case waits on was never shown
// (the bot stopped between storing an answer and posting the next step),
// status posts it, with its buttons.
func TestStatusShowsALostStep(t *testing.T) {
	h := MustHarness(t)
	cs, _ := mustStart(t, h, "U1", "C1")
	if _, err := h.Engine.Reply(context.Background(), cs.ID, vpndiag.Reply{Seq: 0, Choice: "dns", Actor: "U1"}); err != nil {
		t.Fatal(err)
	}
	h.Command("U1", "C1", "status")
	msgs := h.WaitMessages("C1", 3)
	h.Settle()
	msgs = h.Fake.Messages("C1")
	if len(msgs) != 3 || !strings.Contains(msgs[2].Text, "Which resolver") || len(ActionIDs(t, msgs[2])) == 0 {
		t.Fatalf("status did not show the lost step: %d messages, last %q", len(msgs), msgs[len(msgs)-1].Text)
	}
	if !strings.Contains(ActionIDs(t, msgs[2])[0], fmt.Sprintf("vd1:%d:1:", cs.ID)) {
		t.Fatalf("buttons %v", ActionIDs(t, msgs[2]))
	}
}

// TestPresentation: choices in the flow's order, a long label cut at a
// word on its button and shown whole above, an automatic answer shown
// with what gave it and "Not right" asking the question instead.
func TestPresentation(t *testing.T) {
	h := MustHarnessFlows(t, "flows-labels")
	site := &vpndiag.Site{Name: "hq", CloudCIDR: mustPrefix(t, "10.20.0.0/16"), Routing: "bgp", IKEVersion: 2,
		CloudDNSServers: []netip.Addr{netip.MustParseAddr("10.20.0.2")}}
	if err := h.Sites.UpsertSite(context.Background(), site); err != nil {
		t.Fatal(err)
	}
	cs, step := mustStart(t, h, "U1", "C1")
	ids := ActionIDs(t, step)
	var choices []string
	for _, id := range ids {
		if !strings.Contains(id, ":_") {
			choices = append(choices, id)
		}
	}
	if len(choices) != 2 || !strings.HasSuffix(choices[0], ":zeta") || !strings.HasSuffix(choices[1], ":alpha") {
		t.Fatalf("buttons %v, want zeta then alpha (the flow's order)", ids)
	}
	text := BlocksText(step)
	if !strings.Contains(text, "Some applications in the cloud environment cannot reach the on-premises database servers at all") {
		t.Errorf("the long label is not shown whole: %s", text)
	}
	var blocks []struct {
		Elements []struct {
			ActionID string                `json:"action_id"`
			Text     struct{ Text string } `json:"text"`
		} `json:"elements"`
	}
	_ = json.Unmarshal(step.Blocks, &blocks)
	for _, b := range blocks {
		for _, e := range b.Elements {
			if strings.HasSuffix(e.ActionID, ":alpha") && (!strings.HasSuffix(e.Text.Text, "…") || strings.HasSuffix(strings.TrimSuffix(e.Text.Text, "…"), "databa")) {
				t.Errorf("button label %q: want it cut at a word", e.Text.Text)
			}
		}
	}
	if !strings.Contains(text, "How does your network exchange routes with the cloud? — *BGP*") {
		t.Fatalf("the automatic answer is not shown: %s", text)
	}
	notRight := ""
	for _, id := range ids {
		if strings.Contains(id, ":_no.triage.routing") {
			notRight = id
		}
	}
	if notRight == "" {
		t.Fatalf("no Not right button: %v", ids)
	}
	h.Interaction(h.ClickPayload("U1", "C1", cs.ThreadTS, step.TS, notRight))
	msgs := h.WaitMessages("C1", 3)
	h.Settle()
	msgs = h.Fake.Messages("C1")
	if !strings.Contains(msgs[2].Text, "How does your network exchange routes with the cloud?") || len(ActionIDs(t, msgs[2])) == 0 {
		t.Fatalf("after Not right: %q", msgs[2].Text)
	}
}

// countingDedup counts delivery claims.
type countingDedup struct {
	vpndiag.DedupService
	n atomic.Int64
}

func (c *countingDedup) Claim(ctx context.Context, key string) (bool, error) {
	c.n.Add(1)
	return c.DedupService.Claim(ctx, key)
}

// TestOneCommitPerAck: a click and a modal answer are acknowledged on the
// one transition they make (its idempotency key is the dedup: no separate
// claim); a command other than start on its one claim.
func TestOneCommitPerAck(t *testing.T) {
	var dd *countingDedup
	h := MustHarness(t, func(_ *botslack.Config, d *botslack.Deps) {
		dd = &countingDedup{DedupService: d.Dedup}
		d.Dedup = dd
	})
	cs, step := mustStart(t, h, "U1", "C1")
	before := dd.n.Load()
	if r := h.Interaction(h.ClickPayload("U1", "C1", cs.ThreadTS, step.TS, buttonOf(t, step, "tunnel_down"))); r.Status != 200 {
		t.Fatalf("click: %d", r.Status)
	}
	// Acknowledged means stored.
	if s, _ := h.Sessions.FindSession(context.Background(), cs.ID); s.Seq != 1 {
		t.Fatalf("acknowledged at seq %d", s.Seq)
	}
	msgs := h.WaitMessages("C1", 3)
	h.Interaction(h.ClickPayload("U1", "C1", cs.ThreadTS, msgs[2].TS, buttonOf(t, msgs[2], bot.KeyInput)))
	h.Fake.WaitFor(t, 5*time.Second, "views.open", func() bool { return len(h.Fake.Views()) == 1 })
	h.Interaction(h.SubmitPayload("U1", 0, "192.0.2.7"))
	h.WaitMessages("C1", 4)
	h.Settle()
	if n := dd.n.Load() - before; n != 0 {
		t.Errorf("%d delivery claims for two clicks and a modal answer; want 0 (the transition's key is the claim)", n)
	}
	before = dd.n.Load()
	h.Command("U1", "C1", "status")
	h.WaitEphemeral(1)
	if n := dd.n.Load() - before; n != 1 {
		t.Errorf("%d claims for a status command; want 1", n)
	}
}
