package slack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/bot"
	botslack "github.com/vpndiag/vpndiag/bot/slack"
	"github.com/vpndiag/vpndiag/bundle"
	"github.com/vpndiag/vpndiag/probes"
	"github.com/vpndiag/vpndiag/storage/sqlite"
)

// withWholeBot wires the real in-process prober, evidence storage in the
// real store and the real bundle exporter.
func withWholeBot(h **Harness) func(*botslack.Config, *botslack.Deps) {
	return func(_ *botslack.Config, d *botslack.Deps) {
		d.Prober = &probes.Local{}
		d.Evidence = bot.EvidenceFunc(func(ctx context.Context, caseID int64, name string, r io.Reader, actor string) (string, []*vpndiag.Finding, error) {
			// Stored as it is; a config that says "ike_lifetime = 3600"
			// gets the finding the analysis would give it, so that the
			// file decides the evidence step.
			var buf bytes.Buffer
			ev := &vpndiag.Evidence{CaseID: caseID, Name: name, Kind: vpndiag.EvidenceConfig, MediaType: "text/plain", UploadedBy: actor}
			if err := sqlite.NewEvidenceService((*h).DB).CreateEvidence(ctx, ev, io.TeeReader(r, &buf)); err != nil {
				return "", nil, err
			}
			var fs []*vpndiag.Finding
			if strings.Contains(buf.String(), "ike_lifetime = 3600") {
				fs = append(fs, &vpndiag.Finding{CaseID: caseID, Code: "phase1-lifetime", Severity: vpndiag.SeverityError,
					Summary: "IKE lifetime 3600 s, the cloud uses 28800 s", Fix: "set ike_lifetime = 28800", Source: "test",
					Evidence: []vpndiag.EvidenceRef{{Name: name, Line: 1}}})
				if err := sqlite.NewFindingService((*h).DB).CreateFindings(ctx, caseID, fs); err != nil {
					return "", nil, err
				}
			}
			return fmt.Sprintf("stored %d bytes", ev.Size), fs, nil
		})
		d.Exporter = bot.ExportFunc(func(ctx context.Context, caseID int64, w io.Writer) (string, error) {
			db := (*h).DB
			x := &bundle.Exporter{Cases: sqlite.NewCaseService(db), Sessions: sqlite.NewSessionService(db), Events: sqlite.NewEventService(db),
				Probes: sqlite.NewProbeService(db), Evidence: sqlite.NewEvidenceService(db), Findings: sqlite.NewFindingService(db), Sites: sqlite.NewSiteService(db)}
			c, err := x.Cases.FindCaseByID(ctx, caseID)
			if err != nil {
				return "", err
			}
			if _, err := x.Export(ctx, c.Marker, w); err != nil {
				return "", err
			}
			return bundle.DefaultFileName(c.Marker), nil
		})
	}
}

// listen starts a TCP listener on loopback that accepts and closes.
func listen(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestWholeCase drives a case only through Slack payloads: slash command,
// button clicks, modal submissions, a file shared in the thread, export.
func TestWholeCase(t *testing.T) {
	var h *Harness
	h = MustHarness(t, withWholeBot(&h))
	port := listen(t)
	const user, channel = "U1", "C1"

	// /vpn-diagnose start: acknowledged at once, root message and first step.
	if r := h.Command(user, channel, "start tunnel is down since 9:00"); r.Status != 200 || r.Body != "" {
		t.Fatalf("start: %d %q", r.Status, r.Body)
	}
	msgs := h.WaitMessages(channel, 2)
	cs := h.MustCase(channel)
	root, first := msgs[0], msgs[1]
	if root.TS != cs.ThreadTS || root.ThreadTS != "" || !strings.Contains(root.Text, cs.Marker) || !strings.Contains(root.Text, "tunnel is down since 9:00") {
		t.Fatalf("root message %+v for case %+v", root, cs)
	}
	if first.ThreadTS != root.TS || !strings.Contains(first.Text, "What do you see?") {
		t.Fatalf("first step %+v", first)
	}
	ids := ActionIDs(t, first)
	want := []string{fmt.Sprintf("vd1:%d:0:tunnel_down", cs.ID), fmt.Sprintf("vd1:%d:0:dns", cs.ID)}
	if fmt.Sprint(ids[:2]) != fmt.Sprint(want) {
		t.Fatalf("buttons %v, want in the flow's order %v", ids, want)
	}

	// Click "Names do not resolve"; the step is edited in place.
	click := h.ClickPayload(user, channel, root.TS, first.TS, ids[1])
	if r := h.Interaction(click); r.Status != 200 || r.Body != "" {
		t.Fatalf("click: %d %q", r.Status, r.Body)
	}
	msgs = h.WaitMessages(channel, 3)
	h.Settle()
	msgs = h.Fake.Messages(channel)
	if m := msgs[1]; m.Updates != 1 || !strings.Contains(BlocksText(m), "<@U1> answered *Names do not resolve*") || len(ActionIDs(t, m)) != 0 {
		t.Fatalf("answered step not edited in place: %+v", m)
	}
	second := msgs[2]
	if !strings.Contains(second.Text, "Which resolver") {
		t.Fatalf("second step %q", second.Text)
	}

	// The same delivery again (a Slack retry) changes nothing; a second
	// click on the old button is told the step is done.
	before := len(h.Fake.Calls(""))
	if r := h.Interaction(click, botslack.HeaderRetryNum, "1", "X-Slack-Retry-Reason", "http_timeout"); r.Status != 200 {
		t.Fatalf("retry: %d", r.Status)
	}
	h.Settle()
	if n := len(h.Fake.Calls("")); n != before {
		t.Fatalf("a retried delivery made %d Slack calls", n-before)
	}
	h.Interaction(h.ClickPayload(user, channel, root.TS, first.TS, ids[0]))
	if eph := h.WaitEphemeral(1); !strings.HasPrefix(eph[0], "This step is already done. The case now waits on <https://") || !strings.Contains(eph[0], "Which resolver") {
		t.Fatalf("old button: %q", eph[0])
	}

	// "Our internal resolver" → input step with a button that opens a modal.
	h.Interaction(h.ClickPayload(user, channel, root.TS, second.TS, ActionIDs(t, second)[0]))
	msgs = h.WaitMessages(channel, 4)
	input := msgs[3]
	if !strings.Contains(input.Text, "public IP") {
		t.Fatalf("input step %q", input.Text)
	}
	h.Interaction(h.ClickPayload(user, channel, root.TS, input.TS, ActionIDs(t, input)[0]))
	h.Fake.WaitFor(t, 5e9, "views.open", func() bool { return len(h.Fake.Calls("views.open")) == 1 })
	if got := h.Fake.Calls("views.open")[0]; !strings.Contains(string(got.JSON), `"trigger_id":"`) {
		t.Fatalf("views.open without trigger: %s", got.JSON)
	}
	// An invalid value is answered with the error next to the field.
	r := h.Interaction(h.SubmitPayload(user, 0, "not-an-ip"))
	var resp struct {
		Action string            `json:"response_action"`
		Errors map[string]string `json:"errors"`
	}
	if err := json.Unmarshal([]byte(r.Body), &resp); err != nil || resp.Action != "errors" || !strings.Contains(resp.Errors["value"], "is not an IP address") {
		t.Fatalf("invalid modal value: %d %s", r.Status, r.Body)
	}
	if r := h.Interaction(h.SubmitPayload(user, 0, " 127.0.0.1 ")); r.Status != 200 || r.Body != "" {
		t.Fatalf("valid modal value: %d %q", r.Status, r.Body)
	}
	msgs = h.WaitMessages(channel, 5)
	portStep := msgs[4]
	h.Settle()
	if m := h.Fake.Messages(channel)[3]; !strings.Contains(BlocksText(m), "<@U1> answered *127.0.0.1*") {
		t.Fatalf("input step not edited: %s", BlocksText(m))
	}

	// The port; then the probe step runs by itself against the listener.
	h.Interaction(h.ClickPayload(user, channel, root.TS, portStep.TS, ActionIDs(t, portStep)[0]))
	h.Fake.WaitFor(t, 5e9, "second views.open", func() bool { return len(h.Fake.Calls("views.open")) == 2 })
	h.Interaction(h.SubmitPayload(user, 1, strconv.Itoa(port)))
	msgs = h.WaitMessages(channel, 7)
	h.Settle()
	msgs = h.Fake.Messages(channel)
	probe, evidence := msgs[5], msgs[6]
	if probe.Updates != 1 || !strings.Contains(BlocksText(probe), "*ok*") || !strings.Contains(BlocksText(probe), "127.0.0.1") {
		t.Fatalf("probe step not updated with its result: %s", BlocksText(probe))
	}
	if !strings.Contains(evidence.Text, "Upload your VPN device configuration") {
		t.Fatalf("evidence step %q", evidence.Text)
	}

	// A config shared in the thread is downloaded, stored and answered;
	// its finding decides the evidence step: the step loses its button and
	// says so, and the resolution is posted, asking whether it worked.
	h.Fake.AddFile("F1", "swanctl.conf", "text/plain", []byte("connections { hq { ike_lifetime = 3600 } }\n"), nil)
	ev := h.FileEvent(user, channel, root.TS, "F1")
	if r := h.Event(ev); r.Status != 200 {
		t.Fatalf("file event: %d", r.Status)
	}
	h.Event(ev, botslack.HeaderRetryNum, "1")
	msgs = h.WaitMessages(channel, 9)
	h.Settle()
	msgs = h.Fake.Messages(channel)
	if len(msgs) != 9 {
		t.Fatalf("%d messages after the file, want 9 (file answered once, then the resolution)", len(msgs))
	}
	if !strings.Contains(msgs[7].Text, "swanctl.conf: stored") || !strings.Contains(BlocksText(msgs[7]), "IKE lifetime 3600 s") {
		t.Fatalf("evidence answer %q", BlocksText(msgs[7]))
	}
	if dl := h.Fake.Calls("download"); len(dl) != 1 || dl[0].Auth != "Bearer "+"xoxb-fake-bot-token" {
		t.Fatalf("downloads %+v", dl)
	}
	if m := msgs[6]; len(ActionIDs(t, m)) != 0 || !strings.Contains(BlocksText(m), "Answered by the file *swanctl.conf*") {
		t.Fatalf("the decided evidence step keeps its buttons or does not say what decided it: %s", BlocksText(m))
	}
	res := msgs[8]
	if !strings.Contains(res.Text, "Set the phase 1 lifetime to 28800 seconds") || !strings.Contains(BlocksText(res), "Did this fix it?") {
		t.Fatalf("resolution step %s", BlocksText(res))
	}
	if !strings.Contains(BlocksText(h.Fake.Messages(channel)[0]), "*Now:* Set the phase 1 lifetime") {
		t.Fatalf("the case message does not show the current step: %s", BlocksText(h.Fake.Messages(channel)[0]))
	}
	fixed, notFixed := "", ""
	for _, id := range ActionIDs(t, res) {
		switch {
		case strings.HasSuffix(id, ":"+vpndiag.ChoiceFixed):
			fixed = id
		case strings.HasSuffix(id, ":"+vpndiag.ChoiceNotFixed):
			notFixed = id
		}
	}
	if fixed == "" || notFixed == "" {
		t.Fatalf("resolution buttons %v", ActionIDs(t, res))
	}

	// "Did this fix it? No" → the flow's next check.
	h.Interaction(h.ClickPayload(user, channel, root.TS, res.TS, notFixed))
	msgs = h.WaitMessages(channel, 10)
	h.Settle()
	msgs = h.Fake.Messages(channel)
	idle := msgs[9]
	if !strings.Contains(idle.Text, "Does the tunnel drop after a quiet period?") {
		t.Fatalf("after not fixed: %q", idle.Text)
	}
	if !strings.Contains(BlocksText(msgs[8]), "<@U1> answered *No, it still does not work*") {
		t.Fatalf("resolution not marked answered: %s", BlocksText(msgs[8]))
	}

	// Close from the case message: the live step loses its buttons, the
	// case message says Closed and offers Re-open; a file shared now is
	// answered, not read.
	closeID := ""
	for _, id := range ActionIDs(t, msgs[0]) {
		if strings.HasSuffix(id, ":"+bot.KeyClose) {
			closeID = id
		}
	}
	if closeID == "" {
		t.Fatalf("no Close button on the case message: %v", ActionIDs(t, msgs[0]))
	}
	h.Interaction(h.ClickPayload(user, channel, "", root.TS, closeID))
	msgs = h.WaitMessages(channel, 11)
	h.Settle()
	msgs = h.Fake.Messages(channel)
	if got, _ := h.Cases.FindCaseByID(context.Background(), cs.ID); got.Status != vpndiag.CaseClosed {
		t.Fatalf("case status %s after Close", got.Status)
	}
	if len(ActionIDs(t, msgs[9])) != 0 || !strings.Contains(BlocksText(msgs[9]), "Case closed by <@U1>") {
		t.Fatalf("the live step keeps its buttons after Close: %s", BlocksText(msgs[9]))
	}
	reopenID := ""
	for _, id := range ActionIDs(t, msgs[0]) {
		if strings.HasSuffix(id, ":"+bot.KeyReopen) {
			reopenID = id
		}
	}
	if !strings.Contains(BlocksText(msgs[0]), "Closed") || reopenID == "" {
		t.Fatalf("case message after Close: %s %v", BlocksText(msgs[0]), ActionIDs(t, msgs[0]))
	}
	h.Fake.AddFile("F2", "<!channel>.log", "text/plain", []byte("late log line\n"), nil)
	h.Event(h.FileEvent(user, channel, root.TS, "F2"))
	msgs = h.WaitMessages(channel, 12)
	h.Settle()
	msgs = h.Fake.Messages(channel)
	if late := msgs[11]; !strings.Contains(BlocksText(late), "is closed") || strings.Contains(late.Text, "<!channel>") {
		t.Fatalf("file after close: %q / %s", late.Text, BlocksText(late))
	}

	// Re-open: the case continues at the step it stopped on.
	h.Interaction(h.ClickPayload(user, channel, "", root.TS, reopenID))
	msgs = h.WaitMessages(channel, 14)
	h.Settle()
	msgs = h.Fake.Messages(channel)
	again := msgs[13]
	if !strings.Contains(again.Text, "Does the tunnel drop after a quiet period?") || len(ActionIDs(t, again)) == 0 {
		t.Fatalf("after Re-open: %q", again.Text)
	}
	h.Interaction(h.ClickPayload(user, channel, root.TS, again.TS, ActionIDs(t, again)[0]))
	msgs = h.WaitMessages(channel, 15)
	h.Settle()
	msgs = h.Fake.Messages(channel)
	esc := msgs[14]
	if !strings.Contains(esc.Text, "Open a support case") || len(ActionIDs(t, esc)) == 0 {
		t.Fatalf("escalation step %q %v", esc.Text, ActionIDs(t, esc))
	}

	// /vpn-diagnose export twice: one bundle in the case thread; the second
	// time nothing changed, so the bundle is pointed at, not rebuilt.
	h.Command(user, channel, "export")
	h.Fake.WaitFor(t, 10e9, "the bundle upload", func() bool { return len(h.Fake.Uploads()) == 1 })
	h.Settle()
	h.Command(user, channel, "export")
	h.Fake.WaitFor(t, 10e9, "the answer to the second export", func() bool {
		return contains(h.WaitEphemeral(1), "Nothing changed in "+cs.Marker)
	})
	h.Settle()
	if n := len(h.Fake.Uploads()); n != 1 {
		t.Fatalf("%d bundles uploaded for one version of the case", n)
	}
	up := h.Fake.Uploads()[0]
	if up.Channel != channel || up.ThreadTS != root.TS || up.Filename != cs.Marker+"-bundle.zip" {
		t.Fatalf("upload %+v", up)
	}
	if _, err := bundle.Verify(bytes.NewReader(up.Content), int64(len(up.Content))); err != nil {
		t.Fatalf("the uploaded bundle does not verify: %v", err)
	}
	for _, m := range []string{"files.getUploadURLExternal", "upload", "files.completeUploadExternal"} {
		if n := len(h.Fake.Calls(m)); n != 1 {
			t.Errorf("%s called %d times", m, n)
		}
	}
	// Every answer is in the store, once.
	answers, err := h.Sessions.FindAnswers(context.Background(), cs.ID)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range answers {
		got = append(got, a.State+"="+a.Choice+a.Value)
	}
	t.Logf("answers: %v", got)
	if want := "symptom=dns dns_server=internal peer=127.0.0.1 port="; !strings.HasPrefix(strings.Join(got, " "), want) {
		t.Fatalf("answers %v", got)
	}
	// Every payload the bot sent went through the Block Kit checker.
	if n, sent := h.Fake.Checked(), len(h.Fake.Calls("chat.postMessage"))+len(h.Fake.Calls("chat.update"))+len(h.Fake.Calls("chat.postEphemeral"))+len(h.Fake.Calls("views.open")); n < sent {
		t.Fatalf("%d payloads checked of %d sent", n, sent)
	}
}
