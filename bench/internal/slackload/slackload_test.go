package slackload_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	sl "github.com/vpndiag/vpndiag/bench/internal/slackload"
	botslack "github.com/vpndiag/vpndiag/bot/slack"
)

func TestParseRates(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []int
		err  bool
	}{
		{"100,500, 1000", []int{100, 500, 1000}, false},
		{"5000", []int{5000}, false},
		{"0", nil, true},
		{"100,x", nil, true},
		{"5001", nil, true},
		{"", nil, true},
	} {
		got, err := sl.ParseRates(tc.in)
		if (err != nil) != tc.err || len(got) != len(tc.want) {
			t.Errorf("ParseRates(%q) = %v, %v; want %v (error: %v)", tc.in, got, err, tc.want, tc.err)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("ParseRates(%q) = %v, want %v", tc.in, got, tc.want)
			}
		}
	}
}

// The requests the generator sends pass the bot's own signature check, and
// their bodies decode as Slack's forms.
func TestSignedRequestsVerify(t *testing.T) {
	v := &botslack.Verifier{Secret: sl.Secret}
	cmd := sl.Command("U1", "C1", "start bench", "t.1", "http://127.0.0.1/hook")
	click := sl.Click("C1", "1700000000.000001", "t.2", "act-1", "1700000100.000001", "http://127.0.0.1/hook")
	for _, body := range [][]byte{cmd, click} {
		req, err := sl.Signed("http://127.0.0.1:1", botslack.PathCommands, body)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(req.Body)
		if err := v.Verify(req.Header, got); err != nil {
			t.Errorf("signature of %.40q…: %v", got, err)
		}
		if (&botslack.Verifier{Secret: "another-secret-0123456789abcdef"}).Verify(req.Header, got) == nil {
			t.Error("verifies under another secret")
		}
		if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			t.Errorf("request %s %s", req.Method, req.Header.Get("Content-Type"))
		}
	}
	f, err := url.ParseQuery(string(cmd))
	if err != nil || f.Get("command") != botslack.DefaultCommand || f.Get("user_id") != "U1" || f.Get("text") != "start bench" {
		t.Errorf("command form %v, %v", f, err)
	}
	f, err = url.ParseQuery(string(click))
	var p struct {
		Type    string `json:"type"`
		Actions []struct {
			ActionID string `json:"action_id"`
		} `json:"actions"`
	}
	if err != nil || json.Unmarshal([]byte(f.Get("payload")), &p) != nil || p.Type != "block_actions" || len(p.Actions) != 1 || p.Actions[0].ActionID != "act-1" {
		t.Errorf("click payload %+v, %v", p, err)
	}
}

func TestNotBusy(t *testing.T) {
	if err := sl.NotBusy(0, nil, []byte(`{"text":"Working on it"}`)); err != nil {
		t.Errorf("a plain ack: %v", err)
	}
	if err := sl.NotBusy(0, nil, []byte(`{"text":"The bot is busy, try again"}`)); err == nil || !strings.Contains(err.Error(), "busy") {
		t.Errorf("a busy ack: %v", err)
	}
}

// The fake Slack answers every method and counts the calls and the
// "busy" notices.
func TestSlack(t *testing.T) {
	s, err := sl.StartSlack()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, c := range []struct{ method, body string }{
		{"chat.postMessage", `{"text":"hello"}`},
		{"chat.postEphemeral", `{"text":"The bot is busy"}`},
	} {
		resp, err := http.Post(s.URL+c.method, "application/json", strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		var r struct {
			OK bool   `json:"ok"`
			TS string `json:"ts"`
		}
		err = json.NewDecoder(resp.Body).Decode(&r)
		resp.Body.Close()
		if err != nil || !r.OK || r.TS == "" {
			t.Errorf("%s: %+v, %v", c.method, r, err)
		}
	}
	if s.Calls.Load() != 2 || s.Busy.Load() != 1 {
		t.Errorf("calls %d, busy %d; want 2 and 1", s.Calls.Load(), s.Busy.Load())
	}
}
