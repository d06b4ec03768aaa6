package main_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	botslack "github.com/vpndiag/vpndiag/bot/slack"
	"github.com/vpndiag/vpndiag/bot/slack/slackfake"
)

// server is a running `vpndiag serve`.
type server struct {
	cmd  *exec.Cmd
	addr string
	mu   sync.Mutex
	log  strings.Builder
	done chan error
}

func (s *server) stderr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

var listenRE = regexp.MustCompile(`listening" addr=(127\.0\.0\.1:[0-9]+)`)

// startServe runs `vpndiag serve` with config text and env, waits until it
// listens, and stops it (SIGTERM) when the test ends.
func startServe(t *testing.T, configText string, env ...string) *server {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "vpndiag.yaml")
	if err := os.WriteFile(cfg, []byte(configText), 0o600); err != nil {
		t.Fatal(err)
	}
	return startServeArgs(t, []string{"serve", "--config", cfg, "--listen", "127.0.0.1:0", "--db", filepath.Join(dir, "vpndiag.db")}, env...)
}

// startServeArgs runs the binary with args (a serve command line) and env.
func startServeArgs(t *testing.T, args []string, env ...string) *server {
	t.Helper()
	return startServeUnder(t, nil, args, env...)
}

// startServeUnder runs the binary under a wrapper command line (e.g.
// prlimit), with args and env.
func startServeUnder(t *testing.T, wrapper, args []string, env ...string) *server {
	t.Helper()
	dir := t.TempDir()
	s := &server{done: make(chan error, 1)}
	argv := append(append(slices.Clone(wrapper), vpndiagBin), args...)
	s.cmd = exec.Command(argv[0], argv[1:]...)
	s.cmd.Env = append([]string{"HOME=" + dir, "PATH=" + os.Getenv("PATH")}, env...)
	pr, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			s.mu.Lock()
			s.log.WriteString(sc.Text() + "\n")
			s.mu.Unlock()
			if m := listenRE.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	go func() { s.done <- s.cmd.Wait() }()
	t.Cleanup(func() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-s.done:
			if err != nil {
				t.Errorf("serve exited with %v after SIGTERM\n%s", err, s.stderr())
			}
		case <-time.After(20 * time.Second):
			_ = s.cmd.Process.Kill()
			t.Errorf("serve did not stop on SIGTERM\n%s", s.stderr())
		}
	})
	select {
	case s.addr = <-found:
	case err := <-s.done:
		t.Fatalf("serve exited: %v\n%s", err, s.stderr())
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not listen\n%s", s.stderr())
	}
	return s
}

func TestServe_HTTPMode(t *testing.T) {
	fake := slackfake.New(t)
	const secret = "serve-test-secret"
	s := startServe(t, "slack:\n  mode: http\n", "SLACK_BOT_TOKEN="+slackfake.BotToken, "SLACK_SIGNING_SECRET="+secret, "SLACK_API_URL="+fake.APIURL())
	resp, err := http.Get("http://" + s.addr + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/healthz: %v %v", resp, err)
	}
	resp.Body.Close()
	body := []byte("command=%2Fvpn-diagnose&text=help&user_id=U1&channel_id=C1&trigger_id=1.2.3")
	post := func(sign bool) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, "http://"+s.addr+botslack.PathCommands, strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if sign {
			ts := strconv.FormatInt(time.Now().Unix(), 10)
			req.Header.Set(botslack.HeaderTimestamp, ts)
			req.Header.Set(botslack.HeaderSignature, botslack.SignatureHeader(secret, ts, body))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := post(false); code != http.StatusUnauthorized {
		t.Fatalf("unsigned command: %d", code)
	}
	code, out := post(true)
	var msg struct {
		ResponseType string `json:"response_type"`
		Text         string `json:"text"`
	}
	if err := json.Unmarshal([]byte(out), &msg); code != 200 || err != nil || msg.ResponseType != "ephemeral" || !strings.Contains(msg.Text, "/vpn-diagnose start") {
		t.Fatalf("signed help: %d %s", code, out)
	}
}

func TestServe_SocketMode(t *testing.T) {
	fake := slackfake.New(t)
	startServe(t, "", "SLACK_BOT_TOKEN="+slackfake.BotToken, "SLACK_APP_TOKEN="+slackfake.AppToken, "SLACK_API_URL="+fake.APIURL())
	fake.WaitSocket(t, 1, 20*time.Second)
	fake.SendFrame(t, []byte(`{"envelope_id":"e1","type":"slash_commands","accepts_response_payload":true,"payload":{"command":"/vpn-diagnose","text":"","user_id":"U1","channel_id":"C1","trigger_id":"1.2.3"}}`))
	ack := fake.WaitAck(t, "e1", 10*time.Second)
	if !strings.Contains(string(ack.Payload), "/vpn-diagnose start") {
		t.Fatalf("ack %s", ack.Payload)
	}
}

func TestServe_Refusals(t *testing.T) {
	tests := []struct {
		name string
		env  []string
		args []string
		code int
		want string
	}{
		{"no tokens", nil, nil, 1, "slack.bot_token: required to serve"},
		{"socket mode without app token", []string{"SLACK_BOT_TOKEN=xoxb-1"}, nil, 1, "slack.app_token: required in socket mode"},
		{"bad listen", []string{"SLACK_BOT_TOKEN=xoxb-1", "SLACK_APP_TOKEN=xapp-1"}, []string{"--listen", "nope"}, 2, `--listen "nope" is not host:port`},
		{"extra argument", nil, []string{"now"}, 2, `unexpected argument "now"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := MustRun(t, "", tt.env, append([]string{"serve"}, tt.args...)...)
			if r.code != tt.code || !strings.Contains(r.stderr, tt.want) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", r.code, r.stderr, tt.code, tt.want)
			}
		})
	}
}
