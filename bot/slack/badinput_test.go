package slack_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag"
	botslack "github.com/vpndiag/vpndiag/bot/slack"
	"github.com/vpndiag/vpndiag/bot/slack/slackfake"
	"github.com/vpndiag/vpndiag/storage/sqlite"
)

// mustStart opens a case in channel and returns it with its first step.
func mustStart(t *testing.T, h *Harness, user, channel string) (*vpndiag.Case, slackfake.Message) {
	t.Helper()
	n := len(h.Fake.Messages(channel))
	h.Command(user, channel, "start")
	msgs := h.WaitMessages(channel, n+2)
	h.Settle()
	return h.MustCase(channel), msgs[n+1]
}

func TestClickOnClosedCase(t *testing.T) {
	h := MustHarness(t)
	cs, step := mustStart(t, h, "U1", "C1")
	closed := vpndiag.CaseClosed
	if _, err := h.Cases.UpdateCase(context.Background(), cs.ID, vpndiag.CaseUpdate{Status: &closed}); err != nil {
		t.Fatal(err)
	}
	h.Interaction(h.ClickPayload("U1", "C1", cs.ThreadTS, step.TS, ActionIDs(t, step)[0]))
	if eph := h.WaitEphemeral(1); !strings.Contains(eph[0], "is closed. Re-open it with the button on its message in the channel, or `/vpn-diagnose start` opens a new one.") {
		t.Fatalf("click on closed case: %q", eph[0])
	}
	h.Settle()
	if s, _ := h.Sessions.FindSession(context.Background(), cs.ID); s.Seq != 0 {
		t.Fatalf("a closed case moved to seq %d", s.Seq)
	}
}

func TestUnknownAndForeignActions(t *testing.T) {
	h := MustHarness(t)
	cs, step := mustStart(t, h, "U1", "C1")
	for _, id := range []string{"a", "vd1:x:0:dns", "vd2:1:0:dns", fmt.Sprintf("vd1:%d:0:nosuchchoice", cs.ID), fmt.Sprintf("vd1:%d:0:dns", cs.ID+1)} {
		h.Interaction(h.ClickPayload("U1", "C1", cs.ThreadTS, step.TS, id))
	}
	// The real button, clicked from another channel (a forged payload).
	h.Interaction(h.ClickPayload("U1", "C2", cs.ThreadTS, step.TS, ActionIDs(t, step)[0]))
	eph := h.WaitEphemeral(6)
	h.Settle()
	for i, e := range eph {
		if !strings.Contains(e, "I don't recognise that button") && !strings.HasPrefix(e, "This step is already done.") {
			t.Errorf("answer %d: %q", i, e)
		}
	}
	if s, _ := h.Sessions.FindSession(context.Background(), cs.ID); s.Seq != 0 {
		t.Fatalf("a forged click moved the case to seq %d", s.Seq)
	}
	if n := strings.Count(h.Log.String(), "action the bot never issued"); n != 3 {
		t.Errorf("%d unknown action IDs logged, want 3", n)
	}
}

func TestFilesRefused(t *testing.T) {
	var h *Harness
	h = MustHarness(t, withWholeBot(&h), func(c *botslack.Config, _ *botslack.Deps) { c.MaxUploadBytes = 2048 })
	cs, _ := mustStart(t, h, "U1", "C1")
	h.Fake.AddFile("FBIG", "big.log", "text/plain", []byte(strings.Repeat("log line\n", 400)), nil)
	h.Fake.AddFile("FPNG", "screenshot.png", "image/png", []byte("\x89PNG\r\n\x1a\n...."), nil)
	h.Fake.AddFile("FBIN", "dump.txt", "text/plain", []byte("MZ\x90\x00\x03\x00\x00\x00binary"), nil)
	for _, id := range []string{"FBIG", "FPNG", "FBIN"} {
		if r := h.Event(h.FileEvent("U1", "C1", cs.ThreadTS, id)); r.Status != 200 {
			t.Fatalf("%s: %d", id, r.Status)
		}
	}
	msgs := h.WaitMessages("C1", 5)
	h.Settle()
	want := map[string]string{"big.log": "over the limit of 2.0 KiB", "screenshot.png": "image/png", "dump.txt": "looks binary"}
	for _, m := range msgs[2:] {
		for name, why := range want {
			if strings.HasPrefix(m.Text, name+" was not read") && strings.Contains(BlocksText(m), why) {
				delete(want, name)
			}
		}
	}
	if len(want) != 0 {
		t.Fatalf("refusals missing: %v", want)
	}
	if dl := h.Fake.Calls("download"); len(dl) != 1 {
		t.Fatalf("%d downloads; only the file that claims to be text and fits should be fetched", len(dl))
	}
	if evs, err := sqlite.NewEvidenceService(h.DB).FindEvidence(context.Background(), cs.ID); err != nil || len(evs) != 0 {
		t.Fatalf("refused files stored: %d %v", len(evs), err)
	}
}

func TestSlackAPIErrors(t *testing.T) {
	t.Run("rate limited once: waits Retry-After and retries", func(t *testing.T) {
		h := MustHarness(t)
		h.Fake.Fail("chat.postMessage", slackfake.Failure{RetryAfter: 1})
		mustStart(t, h, "U1", "C1")
		posts := h.Fake.Calls("chat.postMessage")
		if len(posts) != 3 {
			t.Fatalf("%d chat.postMessage calls, want 3 (429, retry, first step)", len(posts))
		}
		if gap := posts[1].Time.Sub(posts[0].Time); gap < 900*time.Millisecond {
			t.Fatalf("retried after %s, Retry-After was 1 s", gap)
		}
	})
	t.Run("rate limited twice: user told, nothing stored", func(t *testing.T) {
		h := MustHarness(t)
		h.Fake.Fail("chat.postMessage", slackfake.Failure{RetryAfter: 1}, slackfake.Failure{RetryAfter: 1})
		h.Command("U1", "C1", "start")
		if eph := h.WaitEphemeral(1); !strings.Contains(eph[0], "rate limiting") {
			t.Fatalf("user told %q", eph[0])
		}
		assertNoCases(t, h)
	})
	t.Run("channel not found: user told via response_url, nothing stored", func(t *testing.T) {
		h := MustHarness(t)
		h.Fake.Fail("chat.postMessage", slackfake.Failure{Error: "channel_not_found"})
		h.Fake.Fail("chat.postEphemeral", slackfake.Failure{Error: "channel_not_found"})
		h.Command("U1", "C1", "start")
		h.Fake.WaitFor(t, 5*time.Second, "response_url fallback", func() bool { return len(h.Fake.Calls("response_url")) == 1 })
		var m struct {
			Text         string `json:"text"`
			ResponseType string `json:"response_type"`
		}
		if err := json.Unmarshal(h.Fake.Calls("response_url")[0].JSON, &m); err != nil || m.ResponseType != "ephemeral" || !strings.Contains(m.Text, "invite me first") {
			t.Fatalf("fallback said %s (%v)", h.Fake.Calls("response_url")[0].JSON, err)
		}
		assertNoCases(t, h)
		if !strings.Contains(h.Log.String(), "invite the bot to it") {
			t.Error("channel_not_found not explained in the log")
		}
	})
	t.Run("missing scope: log names it, user told", func(t *testing.T) {
		h := MustHarness(t)
		h.Fake.Fail("views.open", slackfake.Failure{Error: "missing_scope", Needed: "commands"})
		h.Command("U1", "C1", "setup")
		if eph := h.WaitEphemeral(1); !strings.Contains(eph[0], "missing the Slack scope commands") {
			t.Fatalf("user told %q", eph[0])
		}
		if !strings.Contains(h.Log.String(), `add it under OAuth & Permissions`) || !strings.Contains(h.Log.String(), "needed=commands") {
			t.Errorf("missing_scope log:\n%s", h.Log.String())
		}
	})
}

// assertNoCases checks that no case is left open after Slack refused a
// case's message: the case (stored first, as its acknowledgement promises)
// is closed.
func assertNoCases(t *testing.T, h *Harness) {
	t.Helper()
	h.Settle()
	open := vpndiag.CaseOpen
	if _, n, _ := h.Cases.FindCases(context.Background(), vpndiag.CaseFilter{Status: &open}); n != 0 {
		t.Fatalf("%d open cases after Slack refused the case's message", n)
	}
}

func TestAccess(t *testing.T) {
	var h *Harness
	h = MustHarness(t, withWholeBot(&h), func(c *botslack.Config, _ *botslack.Deps) {
		c.Policy.Channels = []string{"C1", "C2"}
		c.Policy.Usergroups = []string{"S0NETOPS"}
		c.Policy.ExportUsers = []string{"U1"}
		c.Policy.Admins = []string{"U9"}
	})
	h.Fake.SetUsergroup("S0NETOPS", "U1", "U2")
	cs, step := mustStart(t, h, "U1", "C1")

	h.Command("U3", "C1", "start")                                                         // not in the group
	h.Command("U1", "C9", "start")                                                         // channel not allowed
	h.Interaction(h.ClickPayload("U3", "C1", cs.ThreadTS, step.TS, ActionIDs(t, step)[0])) // outsider clicks
	h.Command("U2", "C1", "export")                                                        // may diagnose, not export
	h.Command("U1", "C2", "export "+cs.Marker)                                             // case of another channel
	h.Command("U1", "C2", "status "+cs.Marker)
	eph := h.WaitEphemeral(6)
	h.Settle()
	wants := []string{
		"You are not on the list of people who may run VPN diagnoses. Ask <@U9> for access.",
		"VPN diagnoses are not enabled in this channel. Ask <@U9> for access.",
		"You are not on the list of people who may export support bundles, and you did not take part in this case. Ask <@U9> for access.",
		"There is no case " + cs.Marker + " in this channel.",
	}
	for _, w := range wants {
		if !contains(eph, w) {
			t.Errorf("no refusal %q in %q", w, eph)
		}
	}
	if s, _ := h.Sessions.FindSession(context.Background(), cs.ID); s.Seq != 0 {
		t.Fatalf("an outsider moved the case to seq %d", s.Seq)
	}
	if len(h.Fake.Uploads()) != 0 || len(h.Fake.Calls("files.getUploadURLExternal")) != 0 {
		t.Fatal("a refused export uploaded something")
	}
	if _, n, _ := h.Cases.FindCases(context.Background(), vpndiag.CaseFilter{}); n != 1 {
		t.Fatalf("%d cases; refused starts must store nothing", n)
	}
	if n := len(h.Fake.Calls("usergroups.users.list")); n != 1 {
		t.Errorf("usergroups.users.list called %d times; the cache should answer after the first", n)
	}
}

func TestSetupModal(t *testing.T) {
	h := MustHarness(t)
	h.Command("U1", "C1", "setup hq")
	h.Fake.WaitFor(t, 5*time.Second, "views.open", func() bool { return len(h.Fake.Calls("views.open")) == 1 })
	bad := []struct{ yaml, want string }{
		{"name: hq\ncloud_dns_servers: [10.20.0.2]\nfoo: 1\n", `line 3: there is no field \"foo\"`},
		{"name: hq\nike_version: two\n", `line 2: \"two\" should be a number.`},
		{"name: hq\n  routing: [\n", "is not valid YAML"},
		{"name: hq\ncloud_dns_servers: [10.20.0.300]\n", "Not a valid site profile"},
		{"name: hq\ncloud_dns_servers: []\ncustomer_cidrs: [192.168.0.1/24]\n", "did you mean 192.168.0.0/24?"},
		{"[", "Not a valid site profile"},
	}
	for _, b := range bad {
		r := h.Interaction(h.SubmitPayload("U1", 0, b.yaml))
		if !strings.Contains(r.Body, `"response_action":"errors"`) || !strings.Contains(r.Body, b.want) {
			t.Errorf("%q: %s", b.yaml, r.Body)
		}
		// No Go error text reaches the user.
		for _, leak := range []string{"yaml:", "unmarshal", "vpndiag.", "!!", "netip", "not found in type"} {
			if strings.Contains(r.Body, leak) {
				t.Errorf("%q: the error shows %q: %s", b.yaml, leak, r.Body)
			}
		}
	}
	if sites, _ := h.Sites.FindSites(context.Background()); len(sites) != 0 {
		t.Fatalf("invalid profiles stored: %d", len(sites))
	}
	good := "name: hq\ncloud_dns_servers: [10.20.0.2]\ncloud_cidr: 10.20.0.0/16\nrouting: static\nike_version: 2\n"
	if r := h.Interaction(h.SubmitPayload("U1", 0, good)); r.Status != 200 || r.Body != "" {
		t.Fatalf("valid profile: %d %s", r.Status, r.Body)
	}
	if eph := h.WaitEphemeral(1); !strings.Contains(eph[0], "Site profile *hq* saved") {
		t.Fatalf("confirmation %q", eph[0])
	}
	s, err := h.Sites.FindSiteByName(context.Background(), "hq")
	if err != nil || s.CloudCIDR.String() != "10.20.0.0/16" {
		t.Fatalf("stored site %+v %v", s, err)
	}
	// A case started now uses the only site.
	cs, _ := mustStart(t, h, "U1", "C1")
	if cs.SiteID != s.ID {
		t.Fatalf("case site %d, want %d", cs.SiteID, s.ID)
	}
}

func TestStatusAndCases(t *testing.T) {
	h := MustHarness(t)
	cs, _ := mustStart(t, h, "U1", "C1")
	posts := len(h.Fake.Calls("chat.postMessage"))
	h.Command("U1", "C1", "status")
	h.Command("U1", "C1", "status")
	h.Command("U1", "C1", "cases")
	h.Command("U1", "C3", "cases")
	eph := h.WaitEphemeral(4)
	h.Settle()
	if !contains(eph, "*"+cs.Marker+"* — VPN troubleshooting\n*Status:* :large_blue_circle: Open") || !contains(eph, "*Waiting on:* <https://fake.slack.com/archives/C1/p") {
		t.Errorf("status: %q", eph)
	}
	for _, e := range eph {
		if strings.Contains(e, "step 0") || strings.Contains(e, "question") || strings.Contains(e, fmt.Sprintf(":%d:", cs.ID)) {
			t.Errorf("status shows an internal detail: %q", e)
		}
	}
	if n := len(h.Fake.Calls("chat.postMessage")) - posts; n != 0 {
		t.Errorf("status posted %d messages; it links to the live step instead", n)
	}
	if !contains(eph, "*Open cases in this channel* (1 of 1, newest first)\n• `"+cs.Marker+"`") {
		t.Errorf("cases: %q", eph)
	}
	if !contains(eph, "There is no open case in this channel") {
		t.Errorf("cases of an empty channel: %q", eph)
	}
	// A closed case is not listed.
	closed := vpndiag.CaseClosed
	if _, err := h.Cases.UpdateCase(context.Background(), cs.ID, vpndiag.CaseUpdate{Status: &closed}); err != nil {
		t.Fatal(err)
	}
	h.Command("U1", "C1", "cases")
	if eph := h.WaitEphemeral(5); !strings.Contains(eph[4], "There is no open case in this channel") {
		t.Errorf("cases after close: %q", eph[4])
	}
}
