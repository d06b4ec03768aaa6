package main_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/internal/testkit"
	"github.com/vpndiag/vpndiag/relay"
	"github.com/vpndiag/vpndiag/storage/sqlite"
)

const relayCfg = `
sites:
  - name: hq
    cloud_dns_servers: [10.20.0.2]
`

// relayFiles writes a config and returns its path and a database path.
func relayFiles(tb testing.TB) (cfg, db string) {
	dir := tb.TempDir()
	cfg = filepath.Join(dir, "vpndiag.yaml")
	if err := os.WriteFile(cfg, []byte(relayCfg), 0o600); err != nil {
		tb.Fatal(err)
	}
	return cfg, filepath.Join(dir, "bot.db")
}

func TestRelayTokenLifecycle(t *testing.T) {
	cfg, db := relayFiles(t)
	r := MustRun(t, "", nil, "relay", "token", "create", "--site", "hq", "--name", "hq-1", "--db", db, "--config", cfg)
	token := strings.TrimSpace(r.stdout)
	if r.code != 0 || !strings.HasPrefix(token, relay.TokenPrefix) || !strings.Contains(r.stderr, "shown once") {
		t.Fatalf("create: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	r = MustRun(t, "", nil, "relay", "token", "list", "--db", db, "--config", cfg)
	if r.code != 0 || !strings.Contains(r.stdout, "hq-1  hq") || !strings.Contains(r.stdout, token[:11]+"…") || strings.Contains(r.stdout, token) {
		t.Fatalf("list: exit %d, stdout %q (the token must not be shown again)", r.code, r.stdout)
	}
	// Only the hash is stored.
	raw, _ := os.ReadFile(db)
	if bytes.Contains(raw, []byte(token)) {
		t.Fatal("the token itself is in the database")
	}
	r = MustRun(t, "", nil, "relay", "token", "revoke", "hq-1", "--db", db, "--config", cfg)
	if r.code != 0 || !strings.Contains(r.stdout, "Revoked the token of relay hq-1") {
		t.Fatalf("revoke: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	r = MustRun(t, "", nil, "relay", "token", "list", "--db", db, "--config", cfg, "--format", "json")
	if r.code != 0 || !strings.Contains(r.stdout, `"revoked_at"`) || !strings.Contains(r.stdout, `"site": "hq"`) {
		t.Fatalf("list json: %q", r.stdout)
	}
}

func TestRelayBadInput(t *testing.T) {
	cfg, db := relayFiles(t)
	dir := t.TempDir()
	badPolicy := filepath.Join(dir, "policy.yaml")
	os.WriteFile(badPolicy, []byte("kinds: [tcp]\ncidrs:\n  - 10.0.0.0/33\n"), 0o600)
	goodPolicy := filepath.Join(dir, "good.yaml")
	os.WriteFile(goodPolicy, []byte("kinds: [tcp]\ncidrs: [127.0.0.0/8]\n"), 0o600)
	tokenFile := filepath.Join(dir, "relay.token")
	os.WriteFile(tokenFile, []byte("vpdr_abc\n"), 0o600)
	emptyToken := filepath.Join(dir, "empty.token")
	os.WriteFile(emptyToken, []byte("\n"), 0o600)
	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		contains string
	}{
		{"no flags", []string{"relay"}, 2, "--hub, --token-file, --policy required"},
		{"plain http hub", []string{"relay", "--hub", "http://bot.example.com", "--token-file", tokenFile, "--policy", goodPolicy}, 2, "must be https"},
		{"policy does not parse", []string{"relay", "--hub", "https://127.0.0.1:1", "--token-file", tokenFile, "--policy", badPolicy}, 1, `line 3: cidrs: "10.0.0.0/33" is not a CIDR`},
		{"missing policy", []string{"relay", "--hub", "https://127.0.0.1:1", "--token-file", tokenFile, "--policy", filepath.Join(dir, "nope.yaml")}, 1, "cannot read"},
		{"missing token file", []string{"relay", "--hub", "https://127.0.0.1:1", "--token-file", filepath.Join(dir, "nope"), "--policy", goodPolicy}, 1, "cannot read the token file"},
		{"empty token file", []string{"relay", "--hub", "https://127.0.0.1:1", "--token-file", emptyToken, "--policy", goodPolicy}, 1, "must hold one token"},
		{"bad ca", []string{"relay", "--hub", "https://127.0.0.1:1", "--token-file", tokenFile, "--policy", goodPolicy, "--ca", goodPolicy}, 1, "no PEM certificate"},
		{"token without site", []string{"relay", "token", "create", "--name", "x", "--db", db}, 2, "--site and --name are required"},
		{"token bad name", []string{"relay", "token", "create", "--site", "hq", "--name", "HQ 1", "--db", db}, 2, "must be lower-case letters"},
		{"token unknown site", []string{"relay", "token", "create", "--site", "nowhere", "--name", "x", "--db", db, "--config", cfg}, 1, "No site named nowhere"},
		{"revoke unknown", []string{"relay", "token", "revoke", "ghost", "--db", db}, 1, "Relay ghost has no token."},
		{"revoke without name", []string{"relay", "token", "revoke", "--db", db}, 2, "give exactly one relay name"},
		{"unknown action", []string{"relay", "token", "rotate"}, 2, `unknown action "rotate"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := MustRun(t, "", nil, tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.contains) {
				t.Fatalf("exit %d (want %d), stderr %q (want %q)", r.code, tc.code, r.stderr, tc.contains)
			}
		})
	}
}

// The relay command, as a process, dials a hub over HTTPS (private CA),
// runs a probe, and stops cleanly on SIGTERM.
func TestRelayCommandEndToEnd(t *testing.T) {
	cfg, dbPath := relayFiles(t)
	r := MustRun(t, "", nil, "relay", "token", "create", "--site", "hq", "--name", "hq-1", "--db", dbPath, "--config", cfg)
	if r.code != 0 {
		t.Fatalf("create: %s", r.stderr)
	}
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "relay.token")
	os.WriteFile(tokenFile, []byte(r.stdout), 0o600)
	policyFile := filepath.Join(dir, "policy.yaml")
	os.WriteFile(policyFile, []byte("kinds: [tcp]\ncidrs: [127.0.0.0/8]\n"), 0o600)

	cert, caPEM := testCert(t)
	caFile := filepath.Join(dir, "ca.pem")
	os.WriteFile(caFile, caPEM, 0o600)
	db := sqlite.NewDB(dbPath)
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	hub := &relay.Hub{Tokens: sqlite.NewRelayTokenService(db), Results: sqlite.NewProbeService(db), Sites: sqlite.NewSiteService(db)}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(relay.Path, hub)
	srv := &http.Server{Handler: mux, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}
	go srv.ServeTLS(l, "", "")
	defer srv.Close()
	defer hub.Close()

	cmd := exec.Command(vpndiagBin, "relay", "--hub", "https://"+l.Addr().String(), "--token-file", tokenFile, "--policy", policyFile, "--ca", caFile, "--name", "hq-1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for {
		st, _ := hub.Relays(ctx)
		if len(st) == 1 && st[0].Connected {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the relay did not connect; its log:\n%s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	target, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	res, err := hub.Probe(ctx, &vpndiag.ProbeRequest{Kind: vpndiag.ProbeTCP, Target: target.Addr().String(), Relay: "hq-1"})
	if err != nil || res.Outcome != vpndiag.OutcomeOK {
		t.Fatalf("probe through the relay process = %+v, %v", res, err)
	}
	res, _ = hub.Probe(ctx, &vpndiag.ProbeRequest{Kind: vpndiag.ProbeTCP, Target: "169.254.169.254:80", Relay: "hq-1"})
	if res == nil || res.Outcome != vpndiag.OutcomeDenied {
		t.Fatalf("metadata probe = %+v", res)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("relay exit on SIGTERM: %v; log:\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "relay stopped") {
		t.Fatalf("relay log:\n%s", stderr.String())
	}
}

// testCert returns a self-signed certificate for 127.0.0.1 and its PEM.
func testCert(tb testing.TB) (tls.Certificate, []byte) {
	c := testkit.MustCert(tb, "vpndiag test hub", time.Time{}, "127.0.0.1")
	return c.TLS, c.PEM
}
