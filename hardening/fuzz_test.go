package hardening_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag"
	botslack "github.com/vpndiag/vpndiag/bot/slack"
	"github.com/vpndiag/vpndiag/bot/slack/slackfake"
	"github.com/vpndiag/vpndiag/bundle"
	"github.com/vpndiag/vpndiag/flows"
	"github.com/vpndiag/vpndiag/relay/policy"
	"github.com/vpndiag/vpndiag/storage/sqlite"
)

// zipOf builds a zip archive of name → content.
func zipOf(files map[string]string) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, content := range files {
		w, _ := zw.Create(name)
		_, _ = io.WriteString(w, content)
	}
	_ = zw.Close()
	return buf.Bytes()
}

// FuzzBundleVerify feeds arbitrary bytes to the bundle verifier: it never
// panics, and a report that says OK has no problems.
func FuzzBundleVerify(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("PK\x03\x04"))
	f.Add(zipOf(map[string]string{"manifest.json": `{"format":"vpndiag-bundle","version":1,"files":[]}`}))
	f.Add(zipOf(map[string]string{"manifest.json": `{"files":[{"name":"../etc/passwd","sha256":"00","size":1}]}`, "../etc/passwd": "x"}))
	f.Add(zipOf(map[string]string{"manifest.json": `[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`, "case.json": "{}"}))
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := bundle.Verify(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		if rep.OK() && rep.Err() != nil {
			t.Fatalf("report OK with an error: %v", rep.Err())
		}
	})
}

// staticResolver answers names from a map, without the network.
type staticResolver map[string][]netip.Addr

func (r staticResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := r[strings.TrimSuffix(strings.ToLower(host), ".")]; ok {
		return a, nil
	}
	return nil, fmt.Errorf("no such host %s", host)
}

// FuzzRelayPolicy checks arbitrary targets against an allowlist of one
// loopback address and one name: whatever the spelling, a target the
// policy lets through is rewritten to an allowed address.
func FuzzRelayPolicy(f *testing.F) {
	pol, err := policy.Parse([]byte("version: 1\nkinds: [tcp, ping, dns]\ncidrs: [127.0.0.2/32, 10.20.0.0/16]\nnames: [ok.example.cloud, \"*.env.example.cloud\"]\n"))
	if err != nil {
		f.Fatal(err)
	}
	res := staticResolver{
		"ok.example.cloud":      {netip.MustParseAddr("10.20.0.5")},
		"a.env.example.cloud":   {netip.MustParseAddr("169.254.169.254")},
		"b.env.example.cloud":   {netip.MustParseAddr("10.20.1.1"), netip.MustParseAddr("127.0.0.1")},
		"localhost":             {netip.MustParseAddr("127.0.0.1")},
		"ok.example.cloud.evil": {netip.MustParseAddr("10.20.0.6")},
	}
	for _, s := range []string{"127.0.0.2:443", "2130706434", "0x7f000002", "[::ffff:127.0.0.2]:80", "169.254.169.254", "ok.example.cloud:443", "a.env.example.cloud", "b.env.example.cloud:80", "localhost", "10.20.0.1", "0177.0.0.2", "::1", "fe80::1%lo"} {
		f.Add(s, uint8(0))
	}
	allowed := []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32"), netip.MustParsePrefix("10.20.0.0/16")}
	kinds := []vpndiag.ProbeKind{vpndiag.ProbeTCP, vpndiag.ProbePing, vpndiag.ProbeDNS}
	f.Fuzz(func(t *testing.T, target string, k uint8) {
		req := &vpndiag.ProbeRequest{Kind: kinds[int(k)%len(kinds)], Target: target}
		if req.Kind == vpndiag.ProbeDNS {
			req.Target, req.Params = "ok.example.cloud", map[string]string{"server": target}
		}
		out, err := pol.Check(context.Background(), res, req)
		if err != nil {
			return
		}
		checked := out.Target
		if req.Kind == vpndiag.ProbeDNS {
			checked = out.Params["server"]
		}
		host := checked
		if h, _, err := net.SplitHostPort(checked); err == nil {
			host = h
		}
		a, err := netip.ParseAddr(host)
		if err != nil {
			t.Fatalf("%s %q allowed as %q, which is not an address", req.Kind, target, checked)
		}
		ok := false
		for _, p := range allowed {
			ok = ok || p.Contains(a.Unmap())
		}
		if !ok {
			t.Fatalf("%s %q allowed as %q, outside the allowlist", req.Kind, target, checked)
		}
	})
}

// fuzzBot is one bot in HTTP mode on a real database, shared by the runs
// of FuzzSlackHTTP in one process.
var fuzzBot struct {
	once sync.Once
	h    http.Handler
	err  error
}

// FuzzSlackHTTP posts arbitrary, correctly signed bodies to the bot's three
// HTTP endpoints (slash command forms, interaction payloads, Events API
// JSON): it never panics and answers 200, 400 or 413.
func FuzzSlackHTTP(f *testing.F) {
	fake := slackfake.New(f)
	fuzzBot.once.Do(func() {
		db := sqlite.NewDB(filepath.Join(f.TempDir(), "fuzz.db"))
		if fuzzBot.err = db.Open(); fuzzBot.err != nil {
			return
		}
		f.Cleanup(func() { db.Close() })
		cases, events, sites := sqlite.NewCaseService(db), sqlite.NewEventService(db), sqlite.NewSiteService(db)
		eng := flows.NewEngine(nil, flows.Services{Cases: cases, Sessions: sqlite.NewSessionService(db), Events: events, Sites: sites,
			Findings: sqlite.NewFindingService(db), Probes: sqlite.NewProbeService(db)})
		var b *botslack.Bot
		b, fuzzBot.err = botslack.New(botslack.Config{BotToken: slackfake.BotToken, SigningSecret: Secret, APIURL: fake.APIURL(),
			MaxBodyBytes: 64 << 10, JobTimeout: 5 * time.Second, AckWait: time.Second},
			botslack.Deps{Cases: cases, Sites: sites, Events: events, Dedup: sqlite.NewDedupService(db), Diagnoser: eng,
				Logger: slog.New(slog.DiscardHandler)})
		if fuzzBot.err == nil {
			fuzzBot.h = b.Handler()
			f.Cleanup(func() { b.Close() })
		}
	})
	if fuzzBot.err != nil {
		f.Fatal(fuzzBot.err)
	}
	click, _ := json.Marshal(map[string]any{"type": "block_actions", "user": map[string]any{"id": "U1"}, "channel": map[string]any{"id": "C1"},
		"trigger_id": "1.2.3", "actions": []any{map[string]any{"action_id": "vd1:1:0:names", "action_ts": "1.1"}}})
	for _, s := range []struct {
		path uint8
		body string
	}{
		{0, "command=%2Fvpn-diagnose&text=start+dns&user_id=U1&channel_id=C1&trigger_id=1.2.3"},
		{0, "command=%2Fvpn-diagnose&text=status+VPN-20261125-7KQ2&user_id=U1&channel_id=C1"},
		{0, "command=%2Fvpn-diagnose&text=%ff%fe&user_id=U1"},
		{0, "ssl_check=1&token=x"},
		{1, "payload=" + string(click)},
		{1, `payload={"type":"view_submission","view":{"callback_id":"vd1:input","private_metadata":"{\"k\":1,\"s\":0,\"i\":\"ip\"}"}}`},
		{1, "payload=" + strings.Repeat("[", 5000)},
		{2, `{"type":"url_verification","challenge":"abc"}`},
		{2, `{"type":"event_callback","event_id":"Ev1","event":{"type":"message","subtype":"file_share","channel":"C1","thread_ts":"1.1","files":[{"id":"F1"}]}}`},
	} {
		f.Add(s.path, []byte(s.body))
	}
	paths := []string{botslack.PathCommands, botslack.PathInteractions, botslack.PathEvents}
	f.Fuzz(func(t *testing.T, p uint8, body []byte) {
		path := paths[int(p)%len(paths)]
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		req.Header.Set("X-Slack-Request-Timestamp", ts)
		req.Header.Set("X-Slack-Signature", signature(Secret, ts, body))
		if path == botslack.PathEvents {
			req.Header.Set("Content-Type", "application/json")
		} else {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		w := httptest.NewRecorder()
		fuzzBot.h.ServeHTTP(w, req)
		switch w.Code {
		case http.StatusOK, http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusServiceUnavailable:
		default:
			t.Fatalf("%s %q: status %d", path, body, w.Code)
		}
	})
}
