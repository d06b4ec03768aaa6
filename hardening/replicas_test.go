package hardening_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
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
	"github.com/vpndiag/vpndiag/bot/slack/slackfake"
	"github.com/vpndiag/vpndiag/internal/testkit"
	"github.com/vpndiag/vpndiag/relay"
)

// operatorToken is the hub's operator token in the replica test.
const operatorToken = "hardening-operator-token-0123456789"

// TestReplicasSIGKILL runs three `vpndiag serve` replicas on one
// PostgreSQL database behind a load balancer, with a relay dialling the
// hubs through another, while 100 scripted cases click through their flows
// with signed Slack requests spread over the replicas. Three times a random
// replica is SIGKILLed at a random moment (the first two are restarted, the
// third stays dead). Every acknowledged answer is stored exactly once, every
// case reaches its end on the survivors, the relay reconnects to a surviving
// replica within 5 s, and every surviving replica still runs probes on it,
// whichever replica holds its link.
func TestReplicasSIGKILL(t *testing.T) {
	pg := testkit.StartPostgres(t)
	url := pg.NewDatabase(t)
	fake := slackfake.New(t)
	config := `slack:
  mode: http
  max_case_starts_per_user: -1
hub:
  listen: 127.0.0.1:0
  operator_token: ` + operatorToken + `
sites:
  - name: hq
    cloud_dns_servers: [127.0.0.2]
    vpn_endpoints: [127.0.0.3]
    cloud_cidr: 127.0.0.0/8
    customer_cidrs: [127.0.1.0/24]
    environment_fqdns: [env.hardening.test]
    routing: static
    ike_version: 2
`
	const n = 3
	replicas := make([]*Serve, n)
	for i := range replicas {
		replicas[i] = NewServe(t, fake, url, config)
		replicas[i].Start()
	}
	web := testkit.StartBalancer(t)
	hubs := testkit.StartBalancer(t)
	alive := map[int]bool{0: true, 1: true, 2: true}
	route := func() {
		var addrs, hubAddrs []string
		for i := 0; i < n; i++ {
			if alive[i] {
				addrs, hubAddrs = append(addrs, replicas[i].Addr), append(hubAddrs, replicas[i].HubAddr)
			}
		}
		web.SetBackends(addrs...)
		hubs.SetBackends(hubAddrs...)
	}
	route()

	// The relay of site hq, enrolled with the CLI against PostgreSQL.
	dir := t.TempDir()
	cfgFile := filepath.Join(replicas[0].Dir, "vpndiag.yaml")
	out, err := exec.Command(vpndiagBin, "relay", "token", "create", "--site", "hq", "--name", "hq-1", "--db", url, "--config", cfgFile).Output()
	if err != nil {
		t.Fatalf("token create: %v", err)
	}
	tokenFile, policyFile := filepath.Join(dir, "relay.token"), filepath.Join(dir, "policy.yaml")
	os.WriteFile(tokenFile, out, 0o600)
	os.WriteFile(policyFile, []byte("version: 1\nkinds: [ping, tcp, dns]\ncidrs: [127.0.0.0/8]\nmax_concurrent: 8\n"), 0o600)
	rp := startRelay(t, hubs.Addr, tokenFile, policyFile)
	target := tcpTarget(t)

	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// holder returns the replica index holding the relay's link, or -1.
	holder := func() int {
		for i := 0; i < n; i++ {
			if alive[i] && relaysConnected(replicas[i].Addr) {
				return i
			}
		}
		return -1
	}
	waitHolder := func(timeout time.Duration) (int, time.Duration) {
		t0 := time.Now()
		for {
			if h := holder(); h >= 0 {
				return h, time.Since(t0)
			}
			if time.Since(t0) > timeout {
				t.Fatalf("no surviving replica holds the relay's link after %s; relay log:\n%s", timeout, tail(rp.log.String(), 2000))
			}
			time.Sleep(25 * time.Millisecond)
		}
	}
	// probeAll runs a TCP probe through the relay from every live replica's
	// operator endpoint: the replicas that do not hold its link reach it
	// through PostgreSQL.
	probeAll := func(round int) {
		t.Helper()
		h := holder()
		for i := 0; i < n; i++ {
			if !alive[i] {
				continue
			}
			var res *vpndiag.ProbeResult
			var err error
			for try := 0; try < 20; try++ { // a replica sees a moved link within its lease
				if res, err = operatorProbe(replicas[i].HubAddr, target); err == nil {
					break
				}
				time.Sleep(250 * time.Millisecond)
			}
			if err != nil || res.Outcome != vpndiag.OutcomeOK || res.Relay != "hq-1" {
				t.Errorf("round %d: probe on replica %d (the relay is held by %d) = %+v, %v", round, i, h, res, err)
			}
		}
	}
	waitHolder(15 * time.Second)
	probeAll(0)

	sl := NewSlack(t, fake, func() string { return web.Addr })
	scripts := make([]*Script, cases)
	for i := range scripts {
		scripts[i] = &Script{S: sl, DB: db, User: fmt.Sprintf("U%04d", i), Channel: fmt.Sprintf("C%04d", i),
			Rand: rand.New(rand.NewPCG(3, uint64(i))), MaxSteps: 12, Think: 500 * time.Millisecond}
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 11))
	const rounds = 3
	for round := 1; round <= rounds; round++ {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		errc := make(chan []error, 1)
		go func() { errc <- load(ctx, scripts) }()
		killAt := time.Duration(300+rng.IntN(900)) * time.Millisecond
		time.Sleep(killAt)
		var live []int
		for i := 0; i < n; i++ {
			if alive[i] {
				live = append(live, i)
			}
		}
		victim := live[rng.IntN(len(live))]
		held := holder()
		_ = replicas[victim].Stop(syscall.SIGKILL, 10*time.Second)
		alive[victim] = false
		route() // the balancer's health check takes the dead replica out
		killed := time.Now()
		h, took := waitHolder(15 * time.Second)
		if held == victim && took > 5*time.Second {
			t.Errorf("round %d: the relay took %s to reconnect to a surviving replica", round, took)
		}
		t.Logf("round %d: SIGKILL of replica %d after %s (it held the relay: %v); relay held by replica %d %s later",
			round, victim, killAt, held == victim, h, time.Since(killed).Round(time.Millisecond))
		probeAll(round)
		// A script stopped by the kill (its step's message was being posted
		// by the killed replica, and status did not show it within the
		// script's patience) picks up in the next round; the final run must
		// finish every case without one.
		for _, e := range <-errc {
			t.Logf("round %d: interrupted, continues in the next run: %v", round, e)
		}
		cancel()
		checked := checkAckedIn(t, db, scripts)
		steps, lost := 0, 0
		for _, sc := range scripts {
			steps += sc.Steps
			lost += sc.Lost
		}
		t.Logf("round %d: %d answers acknowledged so far, all %d stored once; %d requests in flight on the killed replica got no answer", round, steps, checked, lost)
		if round < rounds {
			replicas[victim].Start()
			alive[victim] = true
			route()
		}
	}

	// The survivors finish every case.
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	start := time.Now()
	for _, e := range load(ctx, scripts) {
		t.Errorf("final run: %v", e)
	}
	done := 0
	for _, sc := range scripts {
		if sc.Done {
			done++
		}
	}
	checked := checkAckedIn(t, db, scripts)
	probeAll(rounds + 1)
	t.Logf("after %d kills: %d/%d cases reached their end on the %d survivors in %s; %d acknowledged answers, all stored once; events contiguous",
		rounds, done, cases, n-1, time.Since(start).Round(time.Millisecond), checked)
	if done != cases {
		t.Errorf("%d cases did not reach their end", cases-done)
	}
	if n := Count(t, db, "SELECT COUNT(*) FROM (SELECT key FROM dedup_keys GROUP BY key HAVING COUNT(*) > 1) d"); n != 0 {
		t.Errorf("%d delivery keys stored twice", n)
	}
}

// operatorProbe runs a TCP probe of target on relay hq-1 through the
// operator endpoint of the hub at addr.
func operatorProbe(addr, target string) (*vpndiag.ProbeResult, error) {
	body, _ := json.Marshal(vpndiag.ProbeRequest{Kind: vpndiag.ProbeTCP, Target: target, Relay: "hq-1", Timeout: 3 * time.Second})
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+relay.ProbePath, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+operatorToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 15 * time.Second}).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%d: %s", resp.StatusCode, strings.TrimSpace(string(b)))
	}
	var res vpndiag.ProbeResult
	if err := json.Unmarshal(b, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// tcpTarget is a loopback TCP listener that accepts and closes: the target
// of the test's probes.
func tcpTarget(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return l.Addr().String()
}

// TestDatabaseDown stops PostgreSQL under a running `vpndiag serve`: a
// slash command is answered 503 (so Slack delivers it again) and /readyz
// fails naming the database; once the server is back the redelivery opens
// the case, once, however often Slack retries.
func TestDatabaseDown(t *testing.T) {
	pg := testkit.StartPostgres(t)
	url := pg.NewDatabase(t)
	fake := slackfake.New(t)
	srv := NewServe(t, fake, url, "slack:\n  mode: http\n  max_case_starts_per_user: -1\n")
	srv.Start()
	sl := NewSlack(t, fake, func() string { return srv.Addr })
	ctx := context.Background()
	readyz := func() (int, string) {
		resp, err := http.Get("http://" + srv.Addr + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// Ready only once this replica has joined the others (its first
	// heartbeat), as a load balancer polling /readyz would see it.
	code, rbody := readyz()
	for deadline := time.Now().Add(10 * time.Second); code != http.StatusOK && time.Now().Before(deadline); code, rbody = readyz() {
		if !strings.Contains(rbody, "first heartbeat pending") {
			t.Fatalf("/readyz before the replica joined = %d %s", code, rbody)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code != http.StatusOK || !strings.Contains(rbody, `"database":"postgres `) || !strings.Contains(rbody, "one of 1 live") {
		t.Fatalf("/readyz with the database up = %d %s", code, rbody)
	}
	if strings.Contains(srv.Log(), pg.Password) {
		t.Fatal("the database password is in serve's log")
	}

	pg.Stop(t)
	body := sl.CommandBody("U1", "C1", "start while the database is down")
	r := Post(ctx, srv.Addr, "/slack/commands", body, "application/x-www-form-urlencoded")
	if r.Status != http.StatusServiceUnavailable {
		t.Fatalf("command with the database down = %d %q %v, want 503", r.Status, r.Body, r.Err)
	}
	if code, body := readyz(); code != http.StatusServiceUnavailable || !strings.Contains(body, `"database":`) || strings.Contains(body, pg.Password) {
		t.Fatalf("/readyz with the database down = %d %s", code, body)
	}

	pg.Start(t)
	var acked int
	for try := 1; try <= 3; try++ { // Slack's redeliveries of the same request
		r := Post(ctx, srv.Addr, "/slack/commands", body, "application/x-www-form-urlencoded",
			"X-Slack-Retry-Num", fmt.Sprint(try), "X-Slack-Retry-Reason", "http_error")
		if r.Acked() {
			acked++
		}
	}
	if acked == 0 {
		t.Fatal("no redelivery was acknowledged once the database was back")
	}
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	deadline := time.Now().Add(10 * time.Second)
	for Count(t, db, "SELECT COUNT(*) FROM sessions s JOIN cases c ON c.id = s.case_id WHERE c.channel_id = 'C1'") == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := Count(t, db, "SELECT COUNT(*) FROM cases WHERE channel_id = 'C1'"); n != 1 {
		t.Fatalf("%d cases opened by one command delivered %d times, want 1", n, acked+1)
	}
	if code, _ := readyz(); code != http.StatusOK {
		t.Fatalf("/readyz after the database came back = %d", code)
	}
}
