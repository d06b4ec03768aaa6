package main_test

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	botslack "github.com/vpndiag/vpndiag/bot/slack"
	"github.com/vpndiag/vpndiag/bot/slack/slackfake"
)

const fixtures = "../../../shared/fixtures/vpn/"

// Files given with --evidence are redacted, analysed and stored before the
// first question, and the questions they answer are skipped.
func TestDiagnoseWithEvidence(t *testing.T) {
	db := filepath.Join(t.TempDir(), "case.db")
	res, r := MustDiagnose(t, db, []string{"2"},
		"--evidence", fixtures+"logs/strongswan-charon-psk-mismatch-authentication-failed.txt",
		fixtures+"configs/strongswan-swanctl-net2net-psk-moon.txt")
	if !res.Finished || res.KBArticle != "phase1-ike-failure" {
		t.Fatalf("resolution = %+v\n%s", res, r.stderr)
	}
	if !strings.Contains(r.stderr, "answered by strongswan-charon-psk-mismatch-authentication-failed.txt:3 (auth-failed)") {
		t.Errorf("the evidence step was not answered by the log:\n%s", r.stderr)
	}
	if !strings.Contains(r.stderr, "strongswan-swanctl, 5 secret(s) redacted") {
		t.Errorf("redaction not reported:\n%s", r.stderr)
	}
	// None of the config's secrets reached the database file.
	raw, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	if wal, err := os.ReadFile(db + "-wal"); err == nil {
		raw = append(raw, wal...)
	}
	for _, secret := range []string{"0x45a30759df97dc26a15b88ff", "This is a strong password", "0sv+NkxY9LLZvwj4qCC2o/gGrWDF2d21jL", `My "home" is my "castle"!`, "Andi's home"} {
		if bytes.Contains(raw, []byte(secret)) {
			t.Errorf("secret %q is in the database", secret)
		}
	}
	// A file that cannot be read stops before anything is asked, with its name.
	r2 := MustRun(t, "", nil, "diagnose", "--db", db, "--evidence", "/nonexistent/asa.txt", "--manual-probes")
	if r2.code != 1 || !strings.Contains(r2.stderr, "/nonexistent/asa.txt") {
		t.Errorf("unreadable evidence: exit %d, %s", r2.code, r2.stderr)
	}
}

// serve exposes /metrics and /readyz, and the relay hub when configured;
// a scripted case moves the counters.
func TestServeMetricsAndHealth(t *testing.T) {
	fake := slackfake.New(t)
	const secret = "metrics-test-secret"
	s := startServe(t, "slack:\n  mode: http\nhub:\n  listen: 127.0.0.1:0\n  operator_token: operator-token-0123456789\n",
		"SLACK_BOT_TOKEN="+slackfake.BotToken, "SLACK_SIGNING_SECRET="+secret, "SLACK_API_URL="+fake.APIURL())
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + s.addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/readyz"); code != 200 || !strings.Contains(body, `"database":"ok"`) {
		t.Fatalf("/readyz = %d %s", code, body)
	}
	if !strings.Contains(s.stderr(), "relay hub up") {
		t.Errorf("the hub did not start:\n%s", s.stderr())
	}

	body := []byte("command=%2Fvpn-diagnose&text=start&user_id=U1&user_name=op&channel_id=C1&team_id=T1&trigger_id=1.2.3&response_url=" + fake.APIURL() + "hooks/1")
	req, _ := http.NewRequest(http.MethodPost, "http://"+s.addr+botslack.PathCommands, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req.Header.Set(botslack.HeaderTimestamp, ts)
	req.Header.Set(botslack.HeaderSignature, botslack.SignatureHeader(secret, ts, body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("signed start: %v %v", resp, err)
	}
	resp.Body.Close()

	var text string
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		_, text = get("/metrics")
		if strings.Contains(text, `vpndiag_cases_started_total{flow="triage"} 1`) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, want := range []string{
		`vpndiag_cases_started_total{flow="triage"} 1`,
		`vpndiag_http_requests_total{code="200",endpoint="commands"} 1`,
		`vpndiag_slack_ack_seconds_count{endpoint="commands"} 1`,
		`vpndiag_relays_connected 0`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
