package main_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	botslack "github.com/vpndiag/vpndiag/bot/slack"
	"github.com/vpndiag/vpndiag/bot/slack/slackfake"
	"github.com/vpndiag/vpndiag/internal/procmem"
	"github.com/vpndiag/vpndiag/relay"
)

// hubAddr is the relay hub's address from serve's log.
func hubAddr(t *testing.T, s *server) string {
	t.Helper()
	m := regexp.MustCompile(`hub_addr=(127\.0\.0\.1:[0-9]+)`).FindStringSubmatch(s.stderr())
	if m == nil {
		t.Fatalf("no hub address in the log:\n%s", s.stderr())
	}
	return m[1]
}

// signedHelp posts a signed `/vpn-diagnose help` to serve and returns the
// status (0 when the request failed).
func signedHelp(addr, secret string) (int, error) {
	body := []byte("command=%2Fvpn-diagnose&text=help&user_id=U1&channel_id=C1&trigger_id=1.2.3")
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+botslack.PathCommands, strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req.Header.Set(botslack.HeaderTimestamp, ts)
	req.Header.Set(botslack.HeaderSignature, botslack.SignatureHeader(secret, ts, body))
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// healthz gets /healthz on a fresh connection; 0 when it failed.
func healthz(addr string) (int, error) {
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + addr + "/healthz")
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// A client without credentials floods the relay hub of a bot limited to
// 256 open files: 500 connections that each send a refused upgrade request
// and then hold the connection. The hub closes every one of them at once
// (Connection: close after a refusal, or the connection cap), /healthz and
// signed Slack commands are answered throughout, and a connection idle after
// an operator request is closed after the idle timeout (≤ 30 s).
//
// Before the fix (only a header timeout on the hub) the 500 connections
// stayed open, the process ran out of descriptors, and /healthz and Slack
// commands failed.
func TestServeSurvivesHubFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 30 s (the idle timeout)")
	}
	if _, err := exec.LookPath("prlimit"); err != nil {
		t.Skip("prlimit (util-linux) is not installed")
	}
	fake := slackfake.New(t)
	const secret, operator = "flood-test-secret", "operator-token-0123456789"
	dir := t.TempDir()
	cfg := writeFile(t, "vpndiag.yaml", "slack:\n  mode: http\nhub:\n  listen: 127.0.0.1:0\n  operator_token: "+operator+"\n")
	s := startServeUnder(t, []string{"prlimit", "--nofile=256:256"},
		[]string{"serve", "--config", cfg, "--listen", "127.0.0.1:0", "--db", dir + "/vpndiag.db"},
		"SLACK_BOT_TOKEN="+slackfake.BotToken, "SLACK_SIGNING_SECRET="+secret, "SLACK_API_URL="+fake.APIURL())
	hub := hubAddr(t, s)

	// One connection that made an authorised operator request and then
	// idles: closed by the idle timeout.
	idle, err := net.Dial("tcp", hub)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	fmt.Fprintf(idle, "GET /relay/v1/relays HTTP/1.1\r\nHost: hub\r\nAuthorization: Bearer %s\r\n\r\n", operator)
	idleStart := time.Now()
	resp, err := http.ReadResponse(bufio.NewReader(idle), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("operator request: %v %v", resp, err)
	}
	resp.Body.Close()
	idleClosed := make(chan time.Duration, 1)
	go func() {
		_ = idle.SetReadDeadline(time.Now().Add(45 * time.Second))
		_, _ = io.Copy(io.Discard, idle)
		idleClosed <- time.Since(idleStart)
	}()

	// The flood.
	const n = 500
	start := time.Now()
	var (
		mu     sync.Mutex
		closed []time.Duration
		open   int
		conns  []net.Conn
	)
	var wg sync.WaitGroup
	for range n {
		c, err := net.Dial("tcp", hub)
		if err != nil {
			t.Fatalf("dial %d: %v", len(conns), err)
		}
		conns = append(conns, c)
		wg.Go(func() {
			_, _ = fmt.Fprint(c, "GET /relay/v1/connect HTTP/1.1\r\nHost: hub\r\nConnection: keep-alive\r\n\r\n")
			_ = c.SetReadDeadline(time.Now().Add(40 * time.Second))
			_, err := io.Copy(io.Discard, c)
			mu.Lock()
			defer mu.Unlock()
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				open++
				return
			}
			closed = append(closed, time.Since(start))
		})
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()

	// While the hub is flooded, health and Slack are answered.
	for i := range 5 {
		if code, err := healthz(s.addr); code != 200 {
			t.Errorf("/healthz during the flood (try %d): %d %v", i+1, code, err)
		}
		if code, err := signedHelp(s.addr, secret); code != 200 {
			t.Errorf("signed Slack command during the flood (try %d): %d %v", i+1, code, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	wg.Wait()
	var last time.Duration
	for _, d := range closed {
		last = max(last, d)
	}
	t.Logf("%d flood connections closed by the hub, the last after %s; %d still open after 40 s", len(closed), last.Round(time.Millisecond), open)
	if open > 0 {
		t.Errorf("%d of %d refused connections still open after 40 s", open, n)
	}
	if last > 5*time.Second {
		t.Errorf("the last refused connection was closed after %s, want at once", last)
	}
	d := <-idleClosed
	t.Logf("idle connection after an operator request closed after %s", d.Round(time.Millisecond))
	if d < 25*time.Second || d > 35*time.Second {
		t.Errorf("idle connection closed after %s, want the 30 s idle timeout", d)
	}
	if !strings.Contains(s.stderr(), "connection refused") && !strings.Contains(s.stderr(), "no bearer token") {
		t.Errorf("no refusal logged:\n%s", s.stderr())
	}
	if c := strings.Count(s.stderr(), "msg=\"connection refused\""); c > 10 {
		t.Errorf("%d refusal lines for one flood; want them rate-limited", c)
	}
}

// peakRSS reads a process's peak resident set size (VmHWM) in MiB.
func peakRSS(t *testing.T, pid int) float64 {
	t.Helper()
	u, err := procmem.Of(pid)
	if errors.Is(err, fs.ErrNotExist) {
		t.Skipf("no /proc: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return float64(u.Peak) / (1 << 20)
}

// One relay token floods the hub with results and sample batches whose IDs
// are 1 MiB long (the largest message the protocol takes). The hub refuses
// every such message at decode (fields are bounded) and stays small.
//
// Before the fix the IDs were kept, logged and echoed in acks: the server
// grew from about 28 to 704 MiB.
func TestServeRelayFloodMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("sends 300 MiB over loopback")
	}
	fake := slackfake.New(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "bot.db")
	cfg := writeFile(t, "bot.yaml", "db: "+db+"\nslack:\n  mode: http\nhub:\n  listen: 127.0.0.1:0\nsites:\n  - name: hq\n    cloud_dns_servers: [127.0.0.53]\n")
	s := startServeArgs(t, []string{"serve", "--config", cfg, "--listen", "127.0.0.1:0"},
		"SLACK_BOT_TOKEN="+slackfake.BotToken, "SLACK_SIGNING_SECRET=s", "SLACK_API_URL="+fake.APIURL())
	hub := hubAddr(t, s)
	tok := MustRun(t, "", nil, "relay", "token", "create", "--site", "hq", "--name", "hq-1", "--db", db)
	if tok.code != 0 {
		t.Fatalf("token create: %d %s", tok.code, tok.stderr)
	}
	token := strings.Fields(tok.stdout[strings.LastIndex(tok.stdout, relay.TokenPrefix):])[0]
	base := peakRSS(t, s.cmd.Process.Pid)

	huge := strings.Repeat("x", relay.MaxMessageSize-200)
	msgs := [][]byte{
		[]byte(`{"v":1,"type":"result","result":{"id":"` + huge + `","outcome":"ok"}}`),
		[]byte(`{"v":1,"type":"samples","samples":{"batch":"` + huge + `","case_id":1,"samples":[]}}`),
	}
	hello, _ := relay.Encode(&relay.Message{Type: relay.TypeHello, Hello: &relay.Hello{Name: "hq-1", Version: "flood", HeartbeatInterval: time.Second}})
	const total = 300
	sent, links := 0, 0
	deadline := time.Now().Add(60 * time.Second)
	for sent < total && time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		ws, _, err := websocket.Dial(ctx, "ws://"+hub+relay.Path, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}})
		if err != nil {
			cancel()
			t.Fatalf("dial after %d messages: %v", sent, err)
		}
		links++
		ws.SetReadLimit(-1)
		go func() { // drain the hub's messages
			for {
				if _, _, err := ws.Read(ctx); err != nil {
					return
				}
			}
		}()
		if ws.Write(ctx, websocket.MessageText, hello) == nil {
			for sent < total {
				if err := ws.Write(ctx, websocket.MessageText, msgs[sent%2]); err != nil {
					break
				}
				sent++
			}
		}
		ws.CloseNow()
		cancel()
	}
	time.Sleep(500 * time.Millisecond)
	peak := peakRSS(t, s.cmd.Process.Pid)
	t.Logf("%d messages with 1 MiB IDs over %d links: serve's peak RSS %.0f MiB (%.0f MiB before the flood)", sent, links, peak, base)
	if sent < total {
		t.Errorf("only %d of %d messages sent in 60 s: the hub stalled under the flood", sent, total)
	}
	if peak > base+64 {
		t.Errorf("peak RSS %.0f MiB grew by more than 64 MiB under the flood (from %.0f MiB)", peak, base)
	}
	if code, err := healthz(s.addr); code != 200 {
		t.Errorf("/healthz after the flood: %d %v", code, err)
	}
}

// check warns about a config file that holds secrets and others can read;
// not about one that is private or holds none.
func TestCheckWarnsWorldReadableSecrets(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		name, content string
		mode          os.FileMode
		warn          bool
	}{
		{"readable with token", "slack:\n  bot_token: xoxb-1-secret\n  signing_secret: s3cret\n", 0o644, true},
		{"private with token", "slack:\n  bot_token: xoxb-1-secret\n", 0o600, false},
		{"readable without secrets", "log:\n  level: debug\n", 0o644, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-")+".yaml")
			if err := os.WriteFile(p, []byte(tt.content), tt.mode); err != nil {
				t.Fatal(err)
			}
			_ = os.Chmod(p, tt.mode)
			r := MustRun(t, "", nil, "check", "--config", p)
			warned := strings.Contains(r.stderr, "readable by others") && strings.Contains(r.stderr, "slack.bot_token")
			if r.code != 0 || warned != tt.warn {
				t.Fatalf("exit %d, warned %v (want %v): %s", r.code, warned, tt.warn, r.stderr)
			}
			if strings.Contains(r.stderr, "xoxb-1-secret") {
				t.Fatal("the warning shows the secret")
			}
		})
	}
}

// /metrics answers loopback clients only, unless metrics.token is set: a
// request through a proxy (X-Forwarded-For) is refused, and with a token
// the token is required.
func TestServeMetricsLoopbackOnly(t *testing.T) {
	fake := slackfake.New(t)
	get := func(addr, token string, hdr ...string) int {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/metrics", nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	env := []string{"SLACK_BOT_TOKEN=" + slackfake.BotToken, "SLACK_SIGNING_SECRET=s", "SLACK_API_URL=" + fake.APIURL()}
	s := startServe(t, "slack:\n  mode: http\n", env...)
	if code := get(s.addr, ""); code != 200 {
		t.Errorf("/metrics from loopback: %d", code)
	}
	if code := get(s.addr, "", "X-Forwarded-For", "192.0.2.7"); code != http.StatusForbidden {
		t.Errorf("/metrics through a proxy: %d, want 403", code)
	}
	s = startServe(t, "slack:\n  mode: http\n", append(env, "VPNDIAG_METRICS_TOKEN=scrape-token-0123456")...)
	if code := get(s.addr, ""); code != http.StatusUnauthorized {
		t.Errorf("/metrics without the token: %d, want 401", code)
	}
	if code := get(s.addr, "scrape-token-0123456", "X-Forwarded-For", "192.0.2.7"); code != 200 {
		t.Errorf("/metrics with the token: %d", code)
	}
}
