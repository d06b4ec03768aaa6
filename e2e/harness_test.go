package e2e_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/evidence"
	"github.com/vpndiag/vpndiag/flows"
	"github.com/vpndiag/vpndiag/internal/testkit"
	"github.com/vpndiag/vpndiag/lab"
	"github.com/vpndiag/vpndiag/relay"
	"github.com/vpndiag/vpndiag/storage/sqlite"
)

// The hub's link into the customer LAN: a veth pair between a namespace of
// the test's own (LABNAME-hub, where the hub listens) and the lab's LAN
// namespace, carrying only this /30. It overlaps none of the lab's ranges
// (192.168.10/24, 192.168.20/24, 198.51.100/24, 203.0.113/24, 10.100/16) and
// exists only inside the two namespaces, so it cannot clash with the host or
// with other labs. The LAN host reaches the hub the way a relay reaches the
// bot: by dialling out; nothing in the lab can reach the test process
// otherwise.
const (
	hubAddr   = "100.64.77.1"
	relayAddr = "100.64.77.2"
	hubPrefix = "/30"
)

// relayPolicy is the customer's local policy for the relay: the cloud's
// internal range, the cloud VPN endpoint (ike and ping probes), the
// customer's own resolver (the dns compare probe) and the cloud domain's
// names, resolved through the customer's resolver as the LAN host does.
var relayPolicy = fmt.Sprintf(`version: 1
kinds: [dns, ping, tcp, traceroute, ike, keepalive]
cidrs:
  - %s
  - %s
  - %s
names:
  - "*.%s"
max_concurrent: 8
rate_limit:
  probes: 600
  per: 1m
resolver: %s:53
`, lab.CloudCIDR, lab.CloudGWAddr, lab.ResolverAddr, lab.CloudDomain, lab.ResolverAddr)

// nftNAT masquerades the customer LAN's internet traffic on the gateway's
// WAN interface (wan0), leaving the tunnel's traffic alone.
var nftNAT = [][]string{
	{"add", "table", "ip", "e2e_nat"},
	{"add", "chain", "ip", "e2e_nat", "postrouting", "{ type nat hook postrouting priority srcnat; policy accept; }"},
	{"add", "rule", "ip", "e2e_nat", "postrouting", "oifname", "wan0", "ip", "saddr", lab.CustomerCIDR.String(),
		"ip", "daddr", "!=", lab.CloudCIDR.String(), "masquerade"},
}

// Env is one lab with the bot's side around it: a SQLite store, the relay
// hub listening in its own namespace, the vpndiag relay binary running in
// the customer LAN namespace, and the evidence service.
type Env struct {
	Lab   *lab.Lab
	DB    *sqlite.DB
	Svc   flows.Services
	Hub   *relay.Hub
	Site  *vpndiag.Site
	Relay string
	// Prober runs every probe through the relay of the lab's site.
	Prober vpndiag.Prober
	// Evidence attaches files to cases (redaction, analysis, storage).
	Evidence *evidence.Service
	// RelayLog is the relay process's stderr.
	RelayLog *syncBuffer
}

// MustEnv brings a lab up (skipping when the machine cannot run one) and
// the hub and relay around it.
func MustEnv(tb testing.TB, ctx context.Context, opts lab.Options) *Env {
	tb.Helper()
	l := lab.Up(ctx, tb, opts)
	e := &Env{Lab: l, RelayLog: &syncBuffer{}}

	e.DB = sqlite.NewDB(filepath.Join(tb.TempDir(), "vpndiag.db"))
	if err := e.DB.Open(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = e.DB.Close() })
	e.Svc = flows.Services{
		Cases: sqlite.NewCaseService(e.DB), Sessions: sqlite.NewSessionService(e.DB),
		Events: sqlite.NewEventService(e.DB), Sites: sqlite.NewSiteService(e.DB),
		Findings: sqlite.NewFindingService(e.DB), Probes: sqlite.NewProbeService(e.DB),
		Evidence: sqlite.NewEvidenceService(e.DB),
	}
	e.Evidence = &evidence.Service{Evidence: sqlite.NewEvidenceService(e.DB)}
	e.Site = l.Site()
	if err := e.Svc.Sites.UpsertSite(ctx, e.Site); err != nil {
		tb.Fatal(err)
	}

	// The hub's namespace and its link to the LAN.
	hubNS := l.Name + "-hub"
	mustRun(tb, ctx, "ip", "netns", "add", hubNS)
	tb.Cleanup(func() { _, _ = run(context.Background(), "ip", "netns", "del", hubNS) })
	mustRun(tb, ctx, "ip", "-n", hubNS, "link", "set", "lo", "up")
	mustRun(tb, ctx, "ip", "-n", hubNS, "link", "add", "hub0", "type", "veth", "peer", "name", "hub1", "netns", l.NS.LAN)
	mustRun(tb, ctx, "ip", "-n", hubNS, "addr", "add", hubAddr+hubPrefix, "dev", "hub0")
	mustRun(tb, ctx, "ip", "-n", hubNS, "link", "set", "hub0", "up")
	mustRun(tb, ctx, "ip", "-n", l.NS.LAN, "addr", "add", relayAddr+hubPrefix, "dev", "hub1")
	mustRun(tb, ctx, "ip", "-n", l.NS.LAN, "link", "set", "hub1", "up")

	// The customer's internet access: the LAN reaches the internet through
	// the gateway's source NAT, as customer networks do (the lab routes the
	// LAN only into the tunnel). Traffic for the cloud range is left alone:
	// it goes through the tunnel. Without it, the tunnel flow's checks of
	// the VPN endpoints (ping, IKE) could not run from the relay.
	for _, cmd := range nftNAT {
		mustRun(tb, ctx, "ip", append([]string{"netns", "exec", l.NS.CustomerGW, "nft"}, cmd...)...)
	}

	ln, err := listenInNS(hubNS, "tcp", hubAddr+":0")
	if err != nil {
		tb.Fatal(err)
	}
	certPEM, cert := mustCert(tb, hubAddr)
	caFile := filepath.Join(tb.TempDir(), "hub-ca.pem")
	if err := os.WriteFile(caFile, certPEM, 0o600); err != nil {
		tb.Fatal(err)
	}
	e.Hub = &relay.Hub{
		Tokens: sqlite.NewRelayTokenService(e.DB), Results: e.Svc.Probes, Sites: e.Svc.Sites, Cases: e.Svc.Cases,
		Logger: slog.New(slog.NewTextHandler(e.RelayLog, &slog.HandlerOptions{Level: slog.LevelInfo})).With("side", "hub"),
	}
	mux := http.NewServeMux()
	mux.Handle(relay.Path, e.Hub)
	srv := &http.Server{Handler: mux, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	tb.Cleanup(func() {
		_ = e.Hub.Close()
		_ = srv.Close()
	})

	// The relay: a token for the lab's site, the policy, the binary in the
	// LAN namespace.
	e.Relay = "lab-relay"
	token, hash, prefix := relay.NewToken()
	if err := e.Hub.Tokens.CreateRelayToken(ctx, &vpndiag.RelayToken{Name: e.Relay, SiteID: e.Site.ID, Hash: hash, Prefix: prefix, CreatedAt: vpndiag.Now()}); err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	tokenFile, policyFile := filepath.Join(dir, "relay.token"), filepath.Join(dir, "relay-policy.yaml")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(policyFile, []byte(relayPolicy), 0o600); err != nil {
		tb.Fatal(err)
	}
	hubURL := "https://" + ln.Addr().String()
	cmd := exec.Command("ip", "netns", "exec", l.NS.LAN, vpndiagBin, "relay",
		"--hub", hubURL, "--token-file", tokenFile, "--policy", policyFile, "--ca", caFile, "--name", e.Relay,
		"--state", filepath.Join(dir, "relay.state"))
	cmd.Stdout, cmd.Stderr = e.RelayLog, e.RelayLog
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if tb.Failed() {
			tb.Logf("relay and hub log:\n%s", e.RelayLog.String())
		}
	})
	if err := e.waitRelay(ctx, 20*time.Second); err != nil {
		tb.Fatalf("%v\nrelay log:\n%s", err, e.RelayLog.String())
	}
	e.Prober = siteProber{hub: e.Hub, siteID: e.Site.ID}
	return e
}

// waitRelay waits until the relay is connected to the hub.
func (e *Env) waitRelay(ctx context.Context, timeout time.Duration) error {
	end := time.Now().Add(timeout)
	for time.Now().Before(end) {
		rs, err := e.Hub.Relays(ctx)
		if err == nil {
			for _, r := range rs {
				if r.Name == e.Relay && r.Connected {
					return nil
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("relay %s did not connect to the hub within %v", e.Relay, timeout)
}

// siteProber sends every probe to a relay of the site: the flows' probe
// requests name no relay, and the bot's wiring does not route them (see
// e2e/README.md), so the test does what that wiring would.
type siteProber struct {
	hub    *relay.Hub
	siteID int64
}

func (p siteProber) Probe(ctx context.Context, req *vpndiag.ProbeRequest) (*vpndiag.ProbeResult, error) {
	r := *req
	if r.Relay == "" && r.SiteID == 0 {
		r.SiteID = p.siteID
	}
	return p.hub.Probe(ctx, &r)
}

// listenInNS opens a listener inside network namespace ns: the socket
// belongs to ns for its whole life, whichever thread accepts on it.
func listenInNS(ns, network, addr string) (net.Listener, error) {
	f, err := os.Open(filepath.Join("/run/netns", ns))
	if err != nil {
		return nil, fmt.Errorf("open netns %s: %w", ns, err)
	}
	defer f.Close()
	type res struct {
		ln  net.Listener
		err error
	}
	c := make(chan res, 1)
	go func() {
		// Never unlocked: the thread is discarded when the goroutine ends.
		runtime.LockOSThread()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			c <- res{err: fmt.Errorf("setns %s: %w", ns, err)}
			return
		}
		ln, err := net.Listen(network, addr)
		c <- res{ln, err}
	}()
	r := <-c
	return r.ln, r.err
}

// mustCert makes a self-signed certificate for ip: the hub's "private CA".
func mustCert(tb testing.TB, ip string) ([]byte, tls.Certificate) {
	c := testkit.MustCert(tb, "vpndiag e2e hub", time.Time{}, ip)
	return c.PEM, c.TLS
}

func run(ctx context.Context, name string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

func mustRun(tb testing.TB, ctx context.Context, name string, args ...string) {
	tb.Helper()
	if _, err := run(ctx, name, args...); err != nil {
		tb.Fatal(err)
	}
}

// syncBuffer is a log buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// EvidenceFiles writes what the customer would upload for a fault: the
// customer gateway's swanctl.conf as loaded now and its charon log from
// offset on (the lines written since the fault was applied).
func (e *Env) EvidenceFiles(tb testing.TB, ctx context.Context, logOffset int64) []string {
	tb.Helper()
	dir := tb.TempDir()
	conf, err := e.Lab.Config(lab.CustomerGateway)
	if err != nil {
		tb.Fatal(err)
	}
	confPath := filepath.Join(dir, "swanctl.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		tb.Fatal(err)
	}
	files := []string{confPath}
	// The SA status, as the customer reads it on the gateway.
	if sas, err := e.Lab.Swanctl(ctx, lab.CustomerGateway, "--list-sas"); err == nil && strings.TrimSpace(sas) != "" {
		p := filepath.Join(dir, "list-sas.txt")
		if err := os.WriteFile(p, []byte(sas), 0o600); err != nil {
			tb.Fatal(err)
		}
		files = append(files, p)
	}
	log, err := os.ReadFile(e.Lab.CharonLog(lab.CustomerGateway))
	if err != nil {
		tb.Fatal(err)
	}
	if logOffset > int64(len(log)) {
		logOffset = 0
	}
	if len(strings.TrimSpace(string(log[logOffset:]))) == 0 {
		// Nothing logged since the fault: there is no log to hand in.
		return files
	}
	logPath := filepath.Join(dir, "charon.log")
	if err := os.WriteFile(logPath, log[logOffset:], 0o600); err != nil {
		tb.Fatal(err)
	}
	return append(files, logPath)
}

// LogSize is the current size of a gateway's charon log.
func (e *Env) LogSize(gw lab.Gateway) int64 {
	fi, err := os.Stat(e.Lab.CharonLog(gw))
	if err != nil {
		return 0
	}
	return fi.Size()
}

// attachFunc adapts the evidence service to the terminal runner.
func (e *Env) attachFunc(actor string) func(ctx context.Context, caseID int64, path string) ([]*vpndiag.Finding, error) {
	return func(ctx context.Context, caseID int64, path string) ([]*vpndiag.Finding, error) {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("attach: %w", err)
		}
		defer f.Close()
		rep, err := e.Evidence.Attach(ctx, caseID, filepath.Base(path), f, actor, e.Site)
		if err != nil {
			return nil, err
		}
		return rep.Findings, nil
	}
}

// vpndiagBin is the vpndiag binary TestMain builds.
var vpndiagBin string

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	if lab.Requirements() == nil {
		dir, err := os.MkdirTemp("", "vpndiag-e2e-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		vpndiagBin = filepath.Join(dir, "vpndiag")
		build := exec.Command("go", "build", "-o", vpndiagBin, "github.com/vpndiag/vpndiag/cmd/vpndiag")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: building vpndiag:", err)
			return 1
		}
	}
	return m.Run()
}
