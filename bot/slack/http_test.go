package slack_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag"
	botslack "github.com/vpndiag/vpndiag/bot/slack"
)

// nothingStored fails when the harness's database holds any case or dedup
// claim effect, or Slack was called.
func nothingStored(t *testing.T, h *Harness) {
	t.Helper()
	h.Settle()
	cs, n, err := h.Cases.FindCases(context.Background(), vpndiag.CaseFilter{})
	if err != nil || n != 0 || len(cs) != 0 {
		t.Fatalf("cases stored: %d (%v)", n, err)
	}
	if calls := h.Fake.Calls(""); len(calls) != 0 {
		t.Fatalf("Slack was called %d times, first %s", len(calls), calls[0].Method)
	}
}

func TestHTTP_RefusesUnsigned(t *testing.T) {
	h := MustHarness(t)
	body := h.CommandForm("U1", "C1", "start")
	now := strconv.FormatInt(time.Now().Unix(), 10)
	sign := func(secret, ts string, b []byte) string { return botslack.SignatureHeader(secret, ts, b) }
	stale := strconv.FormatInt(time.Now().Add(-6*time.Minute).Unix(), 10)
	future := strconv.FormatInt(time.Now().Add(6*time.Minute).Unix(), 10)
	tests := []struct {
		name string
		sig  string
		ts   string
		body []byte
	}{
		{"missing headers", "", "", body},
		{"missing signature", "", now, body},
		{"missing timestamp", sign(Secret, now, body), "", body},
		{"wrong secret", sign("another-secret", now, body), now, body},
		{"wrong version", "v1=" + sign(Secret, now, body)[3:], now, body},
		{"stale timestamp", sign(Secret, stale, body), stale, body},
		{"future timestamp", sign(Secret, future, body), future, body},
		{"body changed after signing", sign(Secret, now, body), now, append([]byte("x"), body...)},
	}
	for _, path := range []string{botslack.PathCommands, botslack.PathInteractions, botslack.PathEvents} {
		for _, tt := range tests {
			hdr := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
			if tt.sig != "" {
				hdr.Set(botslack.HeaderSignature, tt.sig)
			}
			if tt.ts != "" {
				hdr.Set(botslack.HeaderTimestamp, tt.ts)
			}
			if r := h.Raw(path, tt.body, hdr); r.Status != http.StatusUnauthorized {
				t.Errorf("%s %s: status %d, want 401", path, tt.name, r.Status)
			}
		}
	}
	nothingStored(t, h)
	if !strings.Contains(h.Log.String(), "request refused") {
		t.Error("refusals are not logged")
	}
}

func TestHTTP_BadBodies(t *testing.T) {
	h := MustHarness(t, func(c *botslack.Config, _ *botslack.Deps) { c.MaxBodyBytes = 4096 })
	big := []byte("text=" + strings.Repeat("a", 5000))
	tests := []struct {
		name, path, ctype string
		body              []byte
		want              int
	}{
		{"body over the cap", botslack.PathCommands, "application/x-www-form-urlencoded", big, http.StatusRequestEntityTooLarge},
		{"command without command", botslack.PathCommands, "application/x-www-form-urlencoded", []byte("text=start"), http.StatusBadRequest},
		{"command not a form", botslack.PathCommands, "application/x-www-form-urlencoded", []byte("%zz"), http.StatusBadRequest},
		{"interaction without payload", botslack.PathInteractions, "application/x-www-form-urlencoded", []byte("x=1"), http.StatusBadRequest},
		{"interaction JSON does not parse", botslack.PathInteractions, "application/x-www-form-urlencoded", []byte("payload=" + url.QueryEscape(`{"type":"block_actions",`)), http.StatusBadRequest},
		{"interaction without type", botslack.PathInteractions, "application/x-www-form-urlencoded", []byte("payload=" + url.QueryEscape(`{}`)), http.StatusBadRequest},
		{"interaction wrong types", botslack.PathInteractions, "application/x-www-form-urlencoded", []byte("payload=" + url.QueryEscape(`{"type":"block_actions","actions":"nope"}`)), http.StatusBadRequest},
		{"event JSON does not parse", botslack.PathEvents, "application/json", []byte(`{"type":`), http.StatusBadRequest},
	}
	for _, tt := range tests {
		if r := h.Post(tt.path, tt.body, tt.ctype); r.Status != tt.want {
			t.Errorf("%s: status %d (%s), want %d", tt.name, r.Status, r.Body, tt.want)
		}
	}
	// An over-cap body is refused before its signature is even checked.
	hdr := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	if r := h.Raw(botslack.PathEvents, big, hdr); r.Status != http.StatusRequestEntityTooLarge {
		t.Errorf("unsigned over-cap body: %d, want 413", r.Status)
	}
	req, _ := http.NewRequest(http.MethodGet, h.HTTP.URL+botslack.PathCommands, nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %v %v, want 405", resp.StatusCode, err)
	}
	nothingStored(t, h)
}

func TestHTTP_SSLCheckAndURLVerification(t *testing.T) {
	h := MustHarness(t)
	// Slack's certificate check: unsigned, answered 200, nothing done.
	hdr := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	if r := h.Raw(botslack.PathCommands, []byte("ssl_check=1&token=xyzz0WbapA4vBCDEFasx0q6G"), hdr); r.Status != http.StatusOK {
		t.Errorf("ssl_check: %d", r.Status)
	}
	// ssl_check cannot smuggle a command past the signature check.
	if r := h.Raw(botslack.PathCommands, []byte("ssl_check=1&command=%2Fvpn-diagnose&text=start&user_id=U1&channel_id=C1"), hdr); r.Status != http.StatusUnauthorized {
		t.Errorf("ssl_check with a command: %d, want 401", r.Status)
	}
	body, _ := json.Marshal(map[string]string{"token": "t", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P", "type": "url_verification"})
	r := h.Event(body)
	if r.Status != http.StatusOK || r.Body != "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" {
		t.Errorf("url_verification: %d %q", r.Status, r.Body)
	}
	nothingStored(t, h)
}

func TestHTTP_SlackPublishedRequest(t *testing.T) {
	// The request of Slack's worked example, verified with the clock set to
	// its time: accepted (its command is not ours, so the answer is help).
	v := mustVector(t, "01_signature_vector_slack_docs.json")
	h := MustHarness(t, func(c *botslack.Config, _ *botslack.Deps) {
		c.SigningSecret = v.Secret
		c.Clock = clockAt(v.Timestamp, 10*time.Second)
	})
	hdr := http.Header{"Content-Type": {v.Body}, botslack.HeaderSignature: {v.Signature}, botslack.HeaderTimestamp: {v.Timestamp}}
	hdr.Set("Content-Type", "application/x-www-form-urlencoded")
	r := h.Raw(botslack.PathCommands, []byte(v.Body), hdr)
	if r.Status != http.StatusOK || !strings.Contains(r.Body, `"response_type":"ephemeral"`) || !strings.Contains(r.Body, "/vpn-diagnose start") {
		t.Fatalf("Slack's example request: %d %s", r.Status, r.Body)
	}
}

func TestHTTP_HelpAndUnknownWords(t *testing.T) {
	h := MustHarness(t)
	for _, text := range []string{"", "help", "frobnicate the tunnel"} {
		r := h.Command("U1", "C1", text)
		var msg struct {
			ResponseType string `json:"response_type"`
			Text         string `json:"text"`
		}
		if err := json.Unmarshal([]byte(r.Body), &msg); err != nil || r.Status != 200 {
			t.Fatalf("%q: %d %s", text, r.Status, r.Body)
		}
		if msg.ResponseType != "ephemeral" || !strings.Contains(msg.Text, "/vpn-diagnose export [CASE]") {
			t.Errorf("%q: not the help, ephemerally: %+v", text, msg)
		}
		if text == "frobnicate the tunnel" && !strings.Contains(msg.Text, `I don't know "frobnicate".`) {
			t.Errorf("unknown word not named: %s", msg.Text)
		}
	}
	nothingStored(t, h)
}
