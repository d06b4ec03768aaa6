// Command scale measures the memory of the bot's process side with many
// open cases and many connected relays: a SQLite store holding CASES open
// cases (each with its flow session, started by the flow engine) that the
// bot lists and reads, and a relay hub over HTTPS on loopback with RELAYS
// relay agents connected over real WebSocket connections.
//
// The agents run in a child process (this program re-executed), so the
// parent's resident set is the server side alone; both are reported.
//
//	go run ./bench/cmd/scale -cases 10000 -relays 1000
//
// The database lives in a temporary directory under /dev/shm when it exists
// (tmpfs: the page cache it uses is not the process's memory, and setup is
// quick). Only loopback is used. It prints a summary on stderr and ROW lines
// (see bench/internal/row) on stdout.
package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/bench/internal/row"
	"github.com/vpndiag/vpndiag/flows"
	"github.com/vpndiag/vpndiag/internal/procmem"
	"github.com/vpndiag/vpndiag/probes"
	"github.com/vpndiag/vpndiag/relay"
	"github.com/vpndiag/vpndiag/relay/agent"
	"github.com/vpndiag/vpndiag/relay/policy"
	"github.com/vpndiag/vpndiag/storage/sqlite"
)

// The child's environment: the hub URL, the CA file and the tokens file.
const (
	envHub    = "VPNDIAG_SCALE_HUB"
	envCA     = "VPNDIAG_SCALE_CA"
	envTokens = "VPNDIAG_SCALE_TOKENS"
)

func main() {
	if os.Getenv(envHub) != "" {
		if err := agents(); err != nil {
			fmt.Fprintln(os.Stderr, "scale agents:", err)
			os.Exit(1)
		}
		return
	}
	cases := flag.Int("cases", 10000, "open cases in the store")
	relays := flag.Int("relays", 1000, "relays connected to the hub")
	flag.Parse()
	if *cases < 1 || *cases > 100000 || *relays < 1 || *relays > 5000 {
		fail(errors.New("-cases must be 1 to 100000 and -relays 1 to 5000"))
	}
	if err := run(context.Background(), *cases, *relays); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "scale:", err)
	os.Exit(1)
}

func heap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

func run(ctx context.Context, nCases, nRelays int) error {
	base := ""
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		base = "/dev/shm"
	}
	dir, err := os.MkdirTemp(base, "vpndiag-scale-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	db := sqlite.NewDB(filepath.Join(dir, "scale.db"))
	if err := db.Open(); err != nil {
		return err
	}
	defer db.Close()
	mem0, err := procmem.Of(0)
	if err != nil {
		return err
	}
	cases, sessions, events, sites := sqlite.NewCaseService(db), sqlite.NewSessionService(db), sqlite.NewEventService(db), sqlite.NewSiteService(db)
	engine := flows.NewEngine(nil, flows.Services{Cases: cases, Sessions: sessions, Events: events, Sites: sites,
		Findings: sqlite.NewFindingService(db), Probes: sqlite.NewProbeService(db)})
	site := &vpndiag.Site{Name: "hq", CloudDNSServers: []netip.Addr{netip.MustParseAddr("127.0.0.53")}}
	if err := sites.UpsertSite(ctx, site); err != nil {
		return err
	}

	// 10 000 open cases, each started on the triage flow.
	t0 := time.Now()
	collisions := 0
	for i := 0; i < nCases; i++ {
		marker, err := vpndiag.NewMarker(time.Now(), nil)
		if err != nil {
			return err
		}
		c := &vpndiag.Case{Marker: marker, SiteID: site.ID, Title: "scale " + strconv.Itoa(i), Status: vpndiag.CaseOpen,
			Origin: "slack", ChannelID: fmt.Sprintf("C%04d", i%500), ThreadTS: fmt.Sprintf("1700000000.%06d", i), CreatedBy: "U1"}
		if err := cases.CreateCase(ctx, c); err != nil {
			if vpndiag.ErrorCode(err) == vpndiag.ECONFLICT && collisions < nCases {
				// The same random marker twice (20 random bits a day):
				// try again with another.
				collisions++
				i--
				continue
			}
			return fmt.Errorf("case %d: %w", i, err)
		}
		if _, err := engine.Start(ctx, c.ID, "", "U1"); err != nil {
			return fmt.Errorf("start case %d: %w", c.ID, err)
		}
	}
	open := vpndiag.CaseOpen
	all, total, err := cases.FindCases(ctx, vpndiag.CaseFilter{Status: &open})
	if err != nil {
		return err
	}
	// What the bot does with them: list a channel's cases, read each
	// case's current step.
	for _, c := range all {
		if _, err := engine.Current(ctx, c.ID); err != nil {
			return fmt.Errorf("current step of case %d: %w", c.ID, err)
		}
	}
	all = nil
	heapCases := heap()
	memCases, err := procmem.Of(0)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "scale: %d open cases stored and read in %s; RSS %s (%s before), Go heap %s; %d markers drawn twice in one day and redrawn\n",
		total, time.Since(t0).Round(time.Millisecond), row.MiB(memCases.RSS), row.MiB(mem0.RSS), row.MiB(heapCases), collisions)

	// The hub, with a token per relay.
	cert, caPEM, err := selfSigned()
	if err != nil {
		return err
	}
	tokens := sqlite.NewRelayTokenService(db)
	var tokenLines strings.Builder
	for i := range nRelays {
		token, hash, prefix := relay.NewToken()
		if err := tokens.CreateRelayToken(ctx, &vpndiag.RelayToken{Name: fmt.Sprintf("relay-%04d", i), SiteID: site.ID, Hash: hash, Prefix: prefix}); err != nil {
			return err
		}
		tokenLines.WriteString(token + "\n")
	}
	hub := &relay.Hub{Tokens: tokens, Results: sqlite.NewProbeService(db), Sites: sites, Cases: cases,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	defer hub.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle(relay.Path, hub)
	srv := &http.Server{Handler: mux, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: nil}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	defer srv.Close()
	caPath, tokPath := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "tokens")
	if err := os.WriteFile(caPath, caPEM, 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(tokPath, []byte(tokenLines.String()), 0o600); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	child := exec.CommandContext(ctx, self)
	child.Env = append(os.Environ(), envHub+"=https://"+ln.Addr().String(), envCA+"="+caPath, envTokens+"="+tokPath)
	child.Stderr = os.Stderr
	stdin, err := child.StdinPipe()
	if err != nil {
		return err
	}
	if err := child.Start(); err != nil {
		return err
	}
	defer func() { stdin.Close(); _ = child.Wait() }()

	t0 = time.Now()
	connected := 0
	for time.Since(t0) < 120*time.Second {
		rs, err := hub.Relays(ctx)
		if err != nil {
			return err
		}
		connected = 0
		for _, r := range rs {
			if r.Connected {
				connected++
			}
		}
		if connected >= nRelays {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	up := time.Since(t0)
	// Let a few heartbeat rounds go by with everything connected.
	time.Sleep(2 * relay.DefaultHeartbeat)
	// One probe through a relay, to show the links carry work.
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	res, err := hub.Probe(ctx, &vpndiag.ProbeRequest{Kind: vpndiag.ProbeTCP, Target: echo.Addr().String(), Relay: "relay-0500", Timeout: 5 * time.Second, CaseID: 1})
	if err != nil || res.Outcome != vpndiag.OutcomeOK {
		return fmt.Errorf("probe through relay-0500: %+v, %v", res, err)
	}
	heapAll := heap()
	server, err := procmem.Of(0)
	if err != nil {
		return err
	}
	agents, err := procmem.Of(child.Process.Pid)
	if err != nil {
		return fmt.Errorf("the agents' process: %w", err)
	}
	fmt.Fprintf(os.Stderr, "scale: %d of %d relays connected in %s; server RSS %s (peak %s), Go heap %s; agents' process RSS %s (peak %s)\n",
		connected, nRelays, up.Round(time.Millisecond), row.MiB(server.RSS), row.MiB(server.Peak), row.MiB(heapAll), row.MiB(agents.RSS), row.MiB(agents.Peak))
	if connected < nRelays {
		return fmt.Errorf("only %d of %d relays connected after %s", connected, nRelays, up.Round(time.Second))
	}
	row.Row{
		Figure:   fmt.Sprintf("Scale: server memory with %d open cases and %d connected relays", total, nRelays),
		Subject:  fmt.Sprintf("RSS %s, peak %s (Go heap %s; %s with the cases alone)", row.MiB(server.RSS), row.MiB(server.Peak), row.MiB(heapAll), row.MiB(memCases.RSS)),
		Baseline: fmt.Sprintf("same process before any case: RSS %s; relay agents' own process: RSS %s", row.MiB(mem0.RSS), row.MiB(agents.RSS)),
		Ratio:    "–", Goal: "≤ 200 MB", Met: row.Bool(server.Peak <= 200<<20),
	}.Print(os.Stdout)
	return nil
}

// agents is the child: one agent per token, all to the same hub, until
// stdin closes.
func agents() error {
	pool, err := agent.LoadCA(os.Getenv(envCA))
	if err != nil {
		return err
	}
	f, err := os.Open(os.Getenv(envTokens))
	if err != nil {
		return err
	}
	defer f.Close()
	p, err := policy.Parse([]byte("kinds: [tcp]\ncidrs: [127.0.0.0/8]\nmax_concurrent: 4\n"))
	if err != nil {
		return err
	}
	guard := policy.NewGuard(p, &probes.Local{})
	client := agent.NewHTTPClient(pool)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var failed atomic.Int64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		a := &agent.Agent{Hub: os.Getenv(envHub), Token: sc.Text(), Guard: guard, HTTPClient: client}
		wg.Go(func() {
			if err := a.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				failed.Add(1)
				fmt.Fprintln(os.Stderr, "scale agents:", err)
			}
		})
	}
	_, _ = io.Copy(io.Discard, os.Stdin) // until the parent closes it
	cancel()
	wg.Wait()
	if n := failed.Load(); n > 0 {
		return fmt.Errorf("%d agents stopped with an error", n)
	}
	return nil
}

// selfSigned returns a certificate for 127.0.0.1 made in memory and its PEM.
func selfSigned() (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "vpndiag scale bench hub"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}
