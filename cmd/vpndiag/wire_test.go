package main_test

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
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
	if !strings.Contains(r.stderr, "by strongswan-charon-psk-mismatch-authentication-failed.txt:3 (auth-failed)") {
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

// An operator runs one probe through a relay connected to a running bot:
// serve (with the hub) + relay token create + relay + probe --relay, four
// processes over loopback.
func TestProbeThroughRelay(t *testing.T) {
	fake := slackfake.New(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "bot.db")
	const operator = "operator-token-0123456789"
	site := "sites:\n  - name: hq\n    cloud_dns_servers: [127.0.0.53]\n"
	cfg := filepath.Join(dir, "bot.yaml")
	if err := os.WriteFile(cfg, []byte("db: "+db+"\nslack:\n  mode: http\nhub:\n  listen: 127.0.0.1:0\n  operator_token: "+operator+"\n"+site), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServeArgs(t, []string{"serve", "--config", cfg, "--listen", "127.0.0.1:0"},
		"SLACK_BOT_TOKEN="+slackfake.BotToken, "SLACK_SIGNING_SECRET=s", "SLACK_API_URL="+fake.APIURL())
	m := regexp.MustCompile(`hub_addr=(127\.0\.0\.1:[0-9]+)`).FindStringSubmatch(s.stderr())
	if m == nil {
		t.Fatalf("no hub address in the log:\n%s", s.stderr())
	}
	hub := "http://" + m[1]

	tok := MustRun(t, "", nil, "relay", "token", "create", "--site", "hq", "--name", "hq-1", "--db", db)
	if tok.code != 0 {
		t.Fatalf("token create: %d %s", tok.code, tok.stderr)
	}
	token := strings.TrimSpace(tok.stdout)
	if i := strings.LastIndex(token, "vpdr_"); i >= 0 {
		token = strings.Fields(token[i:])[0]
	}
	tokenFile := filepath.Join(dir, "relay.token")
	policy := filepath.Join(dir, "policy.yaml")
	os.WriteFile(tokenFile, []byte(token+"\n"), 0o600)
	os.WriteFile(policy, []byte("version: 1\nkinds: [tcp]\ncidrs: [127.0.0.1/32]\n"), 0o600)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()

	relayCmd := exec.Command(vpndiagBin, "relay", "--hub", hub, "--token-file", tokenFile, "--policy", policy, "--state", filepath.Join(dir, "state.json"))
	relayCmd.Env = []string{"HOME=" + dir, "PATH=" + os.Getenv("PATH")}
	var relayLog bytes.Buffer
	relayCmd.Stderr = &relayLog
	if err := relayCmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { relayCmd.Process.Signal(syscall.SIGTERM); relayCmd.Wait() }()

	env := []string{"VPNDIAG_OPERATOR_TOKEN=" + operator}
	var r result
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		r = MustRun(t, "", env, "probe", "tcp", ln.Addr().String(), "--relay", "hq-1", "--hub", hub, "--format", "json")
		if r.code == 0 {
			break
		}
	}
	if r.code != 0 || !strings.Contains(r.stdout, `"relay": "hq-1"`) || !strings.Contains(r.stdout, `"outcome": "ok"`) {
		t.Fatalf("probe through the relay: exit %d\n%s\n%s\nrelay log:\n%s", r.code, r.stdout, r.stderr, relayLog.String())
	}
	// The relay's own policy refuses what it does not allow, and says so.
	r = MustRun(t, "", env, "probe", "tcp", "169.254.169.254:80", "--relay", "hq-1", "--hub", hub)
	if r.code != 1 || !strings.Contains(r.stdout+r.stderr, "refused by relay policy") {
		t.Errorf("forbidden target: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// A wrong operator token and a missing one are refused clearly.
	r = MustRun(t, "", []string{"VPNDIAG_OPERATOR_TOKEN=wrong-token-0123456789"}, "probe", "tcp", ln.Addr().String(), "--relay", "hq-1", "--hub", hub)
	if r.code != 1 || !strings.Contains(r.stderr, "operator token") {
		t.Errorf("wrong operator token: exit %d %s", r.code, r.stderr)
	}
	r = MustRun(t, "", nil, "probe", "tcp", ln.Addr().String(), "--relay", "hq-1", "--hub", hub)
	if r.code != 2 || !strings.Contains(r.stderr, "VPNDIAG_OPERATOR_TOKEN") {
		t.Errorf("no operator token: exit %d %s", r.code, r.stderr)
	}
}
