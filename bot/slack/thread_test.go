package slack_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/bot"
	botslack "github.com/vpndiag/vpndiag/bot/slack"
	"github.com/vpndiag/vpndiag/evidence"
	"github.com/vpndiag/vpndiag/storage/sqlite"
)

// withEvidence wires the real evidence intake (redaction, detection,
// analysis, one transaction in the real store), as vpndiag serve does.
func withEvidence(h **Harness) func(*botslack.Config, *botslack.Deps) {
	return func(_ *botslack.Config, d *botslack.Deps) {
		d.Evidence = bot.EvidenceFunc(func(ctx context.Context, caseID int64, name string, r io.Reader, actor string) (string, []*vpndiag.Finding, error) {
			svc := &evidence.Service{Evidence: sqlite.NewEvidenceService((*h).DB)}
			rep, err := svc.Attach(ctx, caseID, name, r, actor, nil)
			if err != nil {
				return "", nil, err
			}
			return fmt.Sprintf("%s: %s, %d finding(s), %d secret(s) redacted", rep.Name, rep.Format, len(rep.Findings), rep.Redactions), rep.Findings, nil
		})
	}
}

// slackText is text as Slack delivers a pasted message: in a code block,
// with &, < and > escaped.
func slackText(s string) string {
	return "```" + strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s) + "```"
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// storedEvidence returns the names and redacted contents of a case's evidence.
func storedEvidence(t *testing.T, h *Harness, caseID int64) map[string]string {
	t.Helper()
	svc := sqlite.NewEvidenceService(h.DB)
	evs, err := svc.FindEvidence(context.Background(), caseID)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range evs {
		rc, err := svc.OpenEvidence(context.Background(), e.ID)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name] = string(b)
	}
	return out
}

// threadTexts is every message text and block text of the case thread.
func threadTexts(h *Harness, channel, threadTS string) string {
	var sb strings.Builder
	for _, m := range h.Thread(channel, threadTS) {
		sb.WriteString(m.Text + "\n" + BlocksText(m) + "\n")
	}
	return sb.String()
}

// TestPastedEvidence: device output pasted in a case thread as a message
// (in a code block, escaped by Slack) goes through the same intake as a
// file: stored, answered in the thread, and its finding decides the step.
func TestPastedEvidence(t *testing.T) {
	fixtures := filepath.Join("..", "..", "..", "shared", "fixtures", "vpn")
	tests := []struct {
		name, text  string
		ext, format string
		next        string
		// mention: pasted in a message to @vpndiag (an app_mention).
		mention bool
	}{
		{"swanctl --list-sas", mustRead(t, filepath.Join("..", "..", "evidence", "status", "testdata", "swanctl-no-child.txt")),
			".txt", "strongswan-swanctl-sas", "Make the traffic selectors match the cloud's", false},
		{"charon log lines", mustRead(t, filepath.Join(fixtures, "logs", "strongswan-charon-psk-mismatch-authentication-failed.txt")),
			".log", "strongswan-charon", "Set the same pre-shared key on both ends", false},
		{"charon log lines to @vpndiag", mustRead(t, filepath.Join(fixtures, "logs", "strongswan-charon-psk-mismatch-authentication-failed.txt")),
			".log", "strongswan-charon", "Set the same pre-shared key on both ends", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h *Harness
			h = MustHarnessFlows(t, "flows-paste", withEvidence(&h))
			cs, step := mustStart(t, h, "U1", "C1")
			if !strings.Contains(step.Text, "Share your VPN device's logs") {
				t.Fatalf("first step %q", step.Text)
			}
			n := len(h.Fake.Messages("C1"))
			ev := h.MessageEvent("U1", "C1", cs.ThreadTS, slackText(tt.text), nil)
			if tt.mention {
				// Slack sends it twice: as a message (ignored) and as an app_mention.
				h.Event(h.MessageEvent("U1", "C1", cs.ThreadTS, "<@"+BotUser+"> "+slackText(tt.text), nil))
				ev = h.MentionEvent("U1", "C1", cs.ThreadTS, slackText(tt.text))
			}
			if r := h.Event(ev); r.Status != 200 {
				t.Fatalf("message event: %d %s", r.Status, r.Body)
			}
			h.Event(ev, botslack.HeaderRetryNum, "1") // Slack's retry changes nothing
			h.WaitMessages("C1", n+2)
			h.Settle()
			msgs := h.Fake.Messages("C1")
			if len(msgs) != n+2 {
				t.Fatalf("%d new messages, want 2 (what was read, then the next step): %q", len(msgs)-n, threadTexts(h, "C1", cs.ThreadTS))
			}
			read, next := msgs[n], msgs[n+1]
			if !strings.Contains(BlocksText(read), "Text pasted at") || !strings.Contains(BlocksText(read), "from <@U1>") || !strings.Contains(read.Text, tt.format) {
				t.Fatalf("answer to the paste: %q / %q", read.Text, BlocksText(read))
			}
			if !strings.Contains(next.Text, tt.next) {
				t.Fatalf("next step %q, want %q", next.Text, tt.next)
			}
			if m := h.Fake.Messages("C1")[n-1]; len(ActionIDs(t, m)) != 0 || !strings.Contains(BlocksText(m), "Answered by the message *Text pasted at") {
				t.Fatalf("the decided step keeps its buttons or does not say what decided it: %s", BlocksText(m))
			}
			stored := storedEvidence(t, h, cs.ID)
			if len(stored) != 1 {
				t.Fatalf("stored %d pieces of evidence, want 1", len(stored))
			}
			for name, body := range stored {
				if !strings.HasPrefix(name, "pasted-") || !strings.HasSuffix(name, "-U1"+tt.ext) {
					t.Errorf("stored as %q", name)
				}
				if strings.Contains(body, "```") || strings.Contains(body, "&lt;") || strings.Contains(body, BotUser) {
					t.Errorf("stored text keeps Slack's markup:\n%s", body)
				}
			}
		})
	}
}

// TestPastedSecret: a pasted configuration with pre-shared keys is stored
// redacted, and the thread asks its author to delete the message without
// repeating a secret.
func TestPastedSecret(t *testing.T) {
	var h *Harness
	h = MustHarnessFlows(t, "flows-paste", withEvidence(&h))
	cs, _ := mustStart(t, h, "U1", "C1")
	conf := mustRead(t, filepath.Join("..", "..", "..", "shared", "fixtures", "vpn", "configs", "strongswan-swanctl-net2net-psk-moon.txt"))
	secrets := []string{"0x45a30759df97dc26a15b88ff", "This is a strong password", "0sv+NkxY9LLZvwj4qCC2o/gGrWDF2d21jL"}
	for _, s := range secrets {
		if !strings.Contains(conf, s) {
			t.Fatalf("fixture lacks the secret %q", s)
		}
	}
	n := len(h.Fake.Messages("C1"))
	h.Event(h.MessageEvent("U1", "C1", cs.ThreadTS, slackText(conf), nil))
	h.WaitMessages("C1", n+2)
	h.Settle()
	thread := threadTexts(h, "C1", cs.ThreadTS)
	if !strings.Contains(thread, "the message you posted contains") || !strings.Contains(thread, "stored only a redacted copy") || !strings.Contains(thread, "Delete message") {
		t.Fatalf("no notice to delete the message:\n%s", thread)
	}
	stored := storedEvidence(t, h, cs.ID)
	if len(stored) != 1 {
		t.Fatalf("stored %d pieces of evidence, want 1", len(stored))
	}
	for name, body := range stored {
		if !strings.HasSuffix(name, ".conf") || !strings.Contains(body, "<redacted:") {
			t.Errorf("stored %q:\n%s", name, body)
		}
		for _, s := range secrets {
			if strings.Contains(body, s) {
				t.Errorf("stored evidence has the secret %q", s)
			}
		}
	}
	var all strings.Builder
	for _, c := range h.Fake.Calls("") {
		all.WriteString(c.Form.Encode() + string(c.JSON))
	}
	for _, s := range secrets {
		if strings.Contains(all.String(), s) || strings.Contains(thread, s) {
			t.Errorf("the secret %q was sent to Slack", s)
		}
	}
}

// TestThreadChatter: typed sentences get one hint per case within the
// window, a mention is answered once (by app_mention, not again as a
// message), and what is not a person writing in a case thread is ignored.
func TestThreadChatter(t *testing.T) {
	var h *Harness
	h = MustHarnessFlows(t, "flows-paste", withEvidence(&h))
	cs, _ := mustStart(t, h, "U1", "C1")
	other := h.Fake.Messages("C1")[0].TS // the case card, not a case thread
	msgs := len(h.Fake.Messages("C1"))

	// Ignored: nothing answered, nothing stored.
	log := slackText(mustRead(t, filepath.Join("..", "..", "..", "shared", "fixtures", "vpn", "logs", "strongswan-charon-psk-mismatch-authentication-failed.txt")))
	ignored := []struct {
		name     string
		thread   string
		text     string
		set      map[string]any
		channel  string
		noThread bool
	}{
		{name: "bot message", thread: cs.ThreadTS, text: log, set: map[string]any{"bot_id": "B1", "subtype": "bot_message"}},
		{name: "our own bot", thread: cs.ThreadTS, text: "done", set: map[string]any{"bot_id": "B0BOT"}},
		{name: "edit", thread: cs.ThreadTS, text: log, set: map[string]any{"subtype": "message_changed"}},
		{name: "deletion", thread: cs.ThreadTS, text: "", set: map[string]any{"subtype": "message_deleted"}},
		{name: "join", thread: cs.ThreadTS, text: "<@U3> has joined the channel", set: map[string]any{"subtype": "channel_join"}},
		{name: "file share", thread: cs.ThreadTS, text: "here", set: map[string]any{"subtype": "file_share"}},
		{name: "not a case thread", thread: other + "9", text: log},
		{name: "another channel", thread: cs.ThreadTS, text: log, channel: "C9"},
		{name: "outside a thread", text: log, noThread: true},
		{name: "mentions the bot", thread: cs.ThreadTS, text: "<@" + BotUser + "> what now?"},
	}
	for _, tt := range ignored {
		ch := tt.channel
		if ch == "" {
			ch = "C1"
		}
		if r := h.Event(h.MessageEvent("U2", ch, tt.thread, tt.text, tt.set)); r.Status != 200 {
			t.Fatalf("%s: %d", tt.name, r.Status)
		}
	}
	h.Settle()
	if n := len(h.Fake.Messages("C1")) + len(h.Fake.Messages("C9")); n != msgs {
		t.Fatalf("%d messages posted for messages to ignore", n-msgs)
	}
	if eph := h.Fake.Calls("chat.postEphemeral"); len(eph) != 0 {
		t.Fatalf("ephemeral answers to messages to ignore: %v", eph[0].Form)
	}
	if stored := storedEvidence(t, h, cs.ID); len(stored) != 0 {
		t.Fatalf("stored %v", stored)
	}

	// Chatter: one hint, then silence within the window.
	for _, text := range []string{"yes", "done, still down", "ok &lt;!channel&gt; anyone?"} {
		h.Event(h.MessageEvent("U2", "C1", cs.ThreadTS, text, nil))
	}
	eph := h.WaitEphemeral(1)
	h.Settle()
	if eph = h.WaitEphemeral(1); len(eph) != 1 {
		t.Fatalf("%d hints to chatter, want 1: %q", len(eph), eph)
	}
	if !strings.Contains(eph[0], "I read buttons and files") || !strings.Contains(eph[0], cs.Marker) || !strings.Contains(eph[0], "Share your VPN device's logs") {
		t.Fatalf("hint %q", eph[0])
	}
	if c := h.Fake.Calls("chat.postEphemeral")[0]; c.Form.Get("thread_ts") != cs.ThreadTS || c.Form.Get("user") != "U2" {
		t.Fatalf("hint sent to %v", c.Form)
	}

	// A mention comes as app_mention and as a message: answered once,
	// even within the chatter window.
	h.Event(h.MessageEvent("U2", "C1", cs.ThreadTS, "<@"+BotUser+"> what now?", nil))
	h.Event(h.MentionEvent("U2", "C1", cs.ThreadTS, "what now?"))
	h.WaitEphemeral(2)
	h.Settle()
	if eph = h.WaitEphemeral(2); len(eph) != 2 || !strings.Contains(eph[1], "I read buttons and files") {
		t.Fatalf("answers after the mention: %q", eph)
	}
	if n := len(h.Fake.Messages("C1")); n != msgs {
		t.Fatalf("%d messages posted for chatter", n-msgs)
	}
}
