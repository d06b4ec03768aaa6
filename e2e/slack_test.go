package e2e_test

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
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/bot"
	botslack "github.com/vpndiag/vpndiag/bot/slack"
	"github.com/vpndiag/vpndiag/bot/slack/slackfake"
	"github.com/vpndiag/vpndiag/flows"
	"github.com/vpndiag/vpndiag/flows/terminal"
	"github.com/vpndiag/vpndiag/internal/fixtures"
	"github.com/vpndiag/vpndiag/storage/sqlite"
)

const slackSecret = "e2e-signing-secret"

// SlackCase drives one case through the bot in HTTP mode against the fake
// Slack: a signed /vpn-diagnose start, then a signed click on the button
// of each choice in turn. The bot runs probe steps itself through the relay
// hub (it routes them to the relay of the case's site) and evidence files
// through the evidence service. It returns the case as a terminal Result
// built from the store, so that both paths are checked alike.
func (e *Env) SlackCase(t *testing.T, ctx context.Context, symptom string, clicks []string) *terminal.Result {
	t.Helper()
	fake := slackfake.New(t)
	var log syncBuffer
	eng := flows.NewEngine(nil, e.Svc)
	b, err := botslack.New(botslack.Config{
		BotToken: slackfake.BotToken, SigningSecret: slackSecret, APIURL: fake.APIURL(), JobTimeout: 3 * time.Minute,
	}, botslack.Deps{
		Cases: e.Svc.Cases, Sites: e.Svc.Sites, Events: e.Svc.Events, Dedup: sqlite.NewDedupService(e.DB),
		Diagnoser: eng, Findings: e.Svc.Findings, Prober: e.Hub,
		Evidence: bot.EvidenceFunc(func(ctx context.Context, caseID int64, name string, r io.Reader, actor string) (string, []*vpndiag.Finding, error) {
			rep, err := e.Evidence.Attach(ctx, caseID, name, r, actor, e.Site)
			if err != nil {
				return "", nil, err
			}
			return rep.Name, rep.Findings, nil
		}),
		Logger: slog.New(slog.NewTextHandler(&log, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(b.Handler())
	t.Cleanup(func() {
		srv.Close()
		_ = b.Close()
		if t.Failed() {
			t.Logf("bot log:\n%s", log.String())
		}
	})
	const user, channel = "U0E2E", "C0E2E"

	form, err := url.ParseQuery(string(fixtures.Read(t, "slack", "04_slash_command_bolt_python.form.txt")))
	if err != nil {
		t.Fatal(err)
	}
	form.Set("command", botslack.DefaultCommand)
	form.Set("user_id", user)
	form.Set("channel_id", channel)
	form.Set("text", "start "+symptom)
	form.Set("trigger_id", "1.111.trigger")
	form.Set("response_url", fake.APIURL()+"hooks/commands/T111/1")
	if st := signedPost(t, srv.URL+botslack.PathCommands, []byte(form.Encode())); st != http.StatusOK {
		t.Fatalf("slash command: HTTP %d", st)
	}
	waitFor(t, fake, func() bool { return len(fake.Messages(channel)) >= 2 })
	cs := onlyCase(t, ctx, e, channel)

	for i, key := range clicks {
		// The newest message with buttons is the step waiting for us.
		var msg slackfake.Message
		var action string
		waitFor(t, fake, func() bool {
			msgs := fake.Messages(channel)
			for j := len(msgs) - 1; j >= 0; j-- {
				for _, id := range actionIDs(t, msgs[j]) {
					if strings.HasSuffix(id, ":"+key) {
						msg, action = msgs[j], id
						return true
					}
				}
			}
			return false
		})
		var p map[string]any
		if err := json.Unmarshal(fixtures.Read(t, "slack", "05_block_actions_button_bolt_python.payload.json"), &p); err != nil {
			t.Fatal(err)
		}
		p["user"].(map[string]any)["id"] = user
		p["channel"].(map[string]any)["id"] = channel
		c := p["container"].(map[string]any)
		c["channel_id"], c["message_ts"], c["thread_ts"], c["is_ephemeral"] = channel, msg.TS, cs.ThreadTS, false
		p["trigger_id"] = fmt.Sprintf("%d.222.trigger", i+2)
		p["response_url"] = fake.APIURL() + "hooks/actions/T111/1"
		a := p["actions"].([]any)[0].(map[string]any)
		a["action_id"], a["value"], a["action_ts"] = action, "x", fmt.Sprintf("1700000100.%06d", i)
		body, _ := json.Marshal(p)
		if st := signedPost(t, srv.URL+botslack.PathInteractions, []byte("payload="+url.QueryEscape(string(body)))); st != http.StatusOK {
			t.Fatalf("click %s: HTTP %d", key, st)
		}
		// Wait until the clicked step is answered before the next click.
		waitFor(t, fake, func() bool {
			s, err := e.Svc.Sessions.FindSession(ctx, cs.ID)
			return err == nil && s.Seq > seqOf(action)
		})
	}
	var final *vpndiag.Case
	waitFor(t, fake, func() bool {
		final, err = e.Svc.Cases.FindCaseByID(ctx, cs.ID)
		return err == nil && (final.Status != vpndiag.CaseOpen || final.Resolution != "")
	})
	return resultOf(t, ctx, e, final)
}

// resultOf describes a stored case as the terminal runner would.
func resultOf(t *testing.T, ctx context.Context, e *Env, c *vpndiag.Case) *terminal.Result {
	t.Helper()
	s, err := e.Svc.Sessions.FindSession(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	as, err := e.Svc.Sessions.FindAnswers(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := e.Svc.Findings.FindFindings(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	res := &terminal.Result{Case: c.Marker, Status: c.Status, Finished: c.Resolution != "",
		Flow: s.Flow, State: s.State, Resolution: c.Resolution, KBArticle: c.KBArticle, Path: s.Path, Findings: fs}
	for _, a := range as {
		res.Answers = append(res.Answers, terminal.Answer{Step: vpndiag.PathStep{Flow: a.Flow, State: a.State}.String(), Question: a.Question, Answer: a.Label + a.Value, Source: a.Source, Auto: a.Actor == flows.BotActor})
	}
	return res
}

// seqOf reads the step Seq from an action ID "vd1:CASE:SEQ:KEY".
func seqOf(action string) int {
	parts := strings.Split(action, ":")
	if len(parts) < 4 {
		return -1
	}
	n, _ := strconv.Atoi(parts[2])
	return n
}

func onlyCase(t *testing.T, ctx context.Context, e *Env, channel string) *vpndiag.Case {
	t.Helper()
	cs, _, err := e.Svc.Cases.FindCases(ctx, vpndiag.CaseFilter{ChannelID: &channel})
	if err != nil || len(cs) != 1 {
		t.Fatalf("cases in %s: %v %v", channel, cs, err)
	}
	return cs[0]
}

// signedPost posts body as Slack does, signed with the signing secret now.
func signedPost(t *testing.T, u string, body []byte) int {
	t.Helper()
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req, err := http.NewRequest(http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set(botslack.HeaderTimestamp, ts)
	req.Header.Set(botslack.HeaderSignature, botslack.SignatureHeader(slackSecret, ts, body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func waitFor(t *testing.T, fake *slackfake.Server, cond func() bool) {
	t.Helper()
	fake.WaitFor(t, 2*time.Minute, "the bot", cond)
}

// actionIDs returns the action IDs of a message's buttons.
func actionIDs(t *testing.T, m slackfake.Message) []string {
	var blocks []struct {
		Type     string `json:"type"`
		Elements []struct {
			ActionID string `json:"action_id"`
		} `json:"elements"`
	}
	if len(m.Blocks) == 0 || json.Unmarshal(m.Blocks, &blocks) != nil {
		return nil
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

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
