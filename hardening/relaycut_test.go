package hardening_test

import (
	"bytes"
	"context"
	"database/sql"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag/bot/slack/slackfake"
)

// linkProxy forwards TCP from its own loopback port to target; Cut drops
// every connection and refuses new ones (the link is down) until Restore.
type linkProxy struct {
	t      testing.TB
	addr   string
	target string

	mu    sync.Mutex
	ln    net.Listener
	conns []net.Conn
}

func newLinkProxy(t testing.TB, target string) *linkProxy {
	p := &linkProxy{t: t, target: target}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.Cut)
	return p
}

func (p *linkProxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(u, c); u.Close() }()
			go func() { _, _ = io.Copy(c, u); c.Close() }()
		}
	}()
}

// Cut drops the link.
func (p *linkProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// Restore brings the link back on the same port.
func (p *linkProxy) Restore() {
	var ln net.Listener
	var err error
	for range 100 {
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		p.t.Fatal(err)
	}
	p.serve(ln)
}

// relayProc is a `vpndiag relay` process.
type relayProc struct {
	cmd *exec.Cmd
	log *bytes.Buffer
}

func startRelay(t *testing.T, hub, tokenFile, policyFile string) *relayProc {
	t.Helper()
	r := &relayProc{log: &bytes.Buffer{}}
	r.cmd = exec.Command(vpndiagBin, "relay", "--hub", "http://"+hub, "--token-file", tokenFile, "--policy", policyFile, "--name", "hq-1",
		"--state", tokenFile+".state")
	r.cmd.Stderr = r.log
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.cmd.Process.Kill(); _ = r.cmd.Wait() })
	return r
}

// relaysConnected reads serve's gauge of connected relays.
func relaysConnected(addr string) bool {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strings.Contains(string(b), "\nvpndiag_relays_connected 1")
}

// waitRelay waits until serve counts the relay as connected and returns
// how long that took.
func waitRelay(t *testing.T, srv *Serve, timeout time.Duration) time.Duration {
	t.Helper()
	t0 := time.Now()
	for !relaysConnected(srv.Addr) {
		if time.Since(t0) > timeout {
			t.Fatalf("the relay did not connect within %s\n%s", timeout, srv.Log())
		}
		time.Sleep(25 * time.Millisecond)
	}
	return time.Since(t0)
}

// updatesOf returns the texts of the chat.update calls on channel.
func updatesOf(fake *slackfake.Server, channel string) []string {
	var out []string
	for _, c := range fake.Calls("chat.update") {
		if c.Form.Get("channel") == channel {
			out = append(out, c.Form.Get("text")+"\n"+c.Form.Get("blocks"))
		}
	}
	return out
}

// TestRelayLinkCut cuts the relay's link while a probe step runs, then
// kills the relay process during another, and brings each back: the step
// shows "… offline since …, retrying", the relay reconnects within 5 s of
// its link returning, and each probe step is answered exactly once.
func TestRelayLinkCut(t *testing.T) {
	fake := slackfake.New(t)
	srv := MustServe(t, fake, "", `  max_case_starts_per_user: -1
hub:
  listen: 127.0.0.1:0
sites:
  - name: hq
    cloud_dns_servers: [127.0.0.2]
    vpn_endpoints: [127.0.0.3]
    cloud_cidr: 127.0.0.0/8
    customer_cidrs: [127.0.1.0/24]
    environment_fqdns: [env.hardening.test]
    routing: static
    ike_version: 2
`)
	dir := t.TempDir()
	cfgFile := filepath.Join(srv.Dir, "vpndiag.yaml")
	out, err := exec.Command(vpndiagBin, "relay", "token", "create", "--site", "hq", "--name", "hq-1", "--db", srv.DB, "--config", cfgFile).Output()
	if err != nil {
		t.Fatalf("token create: %v", err)
	}
	tokenFile, policyFile := filepath.Join(dir, "relay.token"), filepath.Join(dir, "policy.yaml")
	os.WriteFile(tokenFile, out, 0o600)
	os.WriteFile(policyFile, []byte("version: 1\nkinds: [ping, tcp, dns, traceroute]\ncidrs: [127.0.0.0/8]\nmax_concurrent: 8\n"), 0o600)
	link := newLinkProxy(t, srv.HubAddr)
	rp := startRelay(t, link.addr, tokenFile, policyFile)
	waitRelay(t, srv, 15*time.Second)
	sl := NewSlack(t, fake, func() string { return srv.Addr })
	db := MustOpenDB(t, srv.DB)
	ctx := context.Background()

	// runToProbe opens a case in channel and clicks to the ping probe of the
	// connectivity flow, calling cut right after the click that runs it.
	runToProbe := func(channel string, cut func()) (caseID int64) {
		t.Helper()
		cs, btns := startCase(t, sl, srv, "U1", channel)
		click := func(b Button) {
			t.Helper()
			if r := sl.Interaction(ctx, sl.ClickPayload("U1", channel, sl.Root(channel), b.TS, b.ActionID)); !r.Acked() {
				t.Fatalf("click %s: %+v", b.ActionID, r)
			}
		}
		click(button(btns, "no_access"))
		var b Button
		skipped := false
		fake.WaitFor(t, 10*time.Second, "the connectivity question", func() bool {
			all := sl.Buttons(channel)
			b = button(all, "ping_dns")
			if b.ActionID == "" && !skipped {
				// The connectivity flow first asks for the tunnel's status
				// output: nothing to upload here.
				if s := button(all, "_skip"); s.ActionID != "" {
					click(s)
					skipped = true
				}
			}
			return b.ActionID != ""
		})
		// The cloud DNS server comes from the site profile; if the flow
		// still asks, the answer is given in the modal.
		click(b)
		cut()
		fake.WaitFor(t, 10*time.Second, "the probe step", func() bool {
			cur, _, _ := caseOf(db, channel)
			for _, x := range sl.Buttons(channel) {
				if x.Key == "_input" && x.Seq == cur.Seq {
					v, err := (&Script{S: sl}).waitView(ctx, x)
					if err == nil {
						sl.Interaction(ctx, sl.SubmitPayload("U1", v, "VCUT"+channel, "127.0.0.2"))
					}
				}
			}
			return strings.Contains(strings.Join(updatesOf(fake, channel), "\n"), "Running") ||
				strings.Contains(strings.Join(updatesOf(fake, channel), "\n"), "retrying")
		})
		return cs.ID
	}

	// 1. The link is cut as the probe starts, and comes back 2 s later.
	var cutAt time.Time
	case1 := runToProbe("CCUT", func() { link.Cut(); cutAt = time.Now() })
	fake.WaitFor(t, 15*time.Second, "the retrying notice", func() bool {
		return strings.Contains(strings.Join(updatesOf(fake, "CCUT"), "\n"), "retrying")
	})
	time.Sleep(2*time.Second - time.Since(cutAt))
	link.Restore()
	reconnect1 := waitRelay(t, srv, 10*time.Second)
	answered1 := waitAnswered(t, db, case1)

	// 2. The relay process is killed as the probe starts and restarted 2 s
	// later.
	var killedAt time.Time
	case2 := runToProbe("CKILL", func() {
		_ = rp.cmd.Process.Signal(syscall.SIGKILL)
		killedAt = time.Now()
	})
	fake.WaitFor(t, 15*time.Second, "the retrying notice", func() bool {
		return strings.Contains(strings.Join(updatesOf(fake, "CKILL"), "\n"), "retrying")
	})
	_ = rp.cmd.Wait()
	time.Sleep(2*time.Second - time.Since(killedAt))
	rp = startRelay(t, link.addr, tokenFile, policyFile)
	reconnect2 := waitRelay(t, srv, 10*time.Second)
	answered2 := waitAnswered(t, db, case2)

	var notices []string
	for _, ch := range []string{"CCUT", "CKILL"} {
		for _, u := range updatesOf(fake, ch) {
			if i := strings.Index(u, "retrying"); i >= 0 {
				line := u[:i+len("retrying")]
				if j := strings.LastIndex(line, "Relay "); j >= 0 {
					line = line[j:]
				}
				notices = append(notices, line)
				break
			}
		}
	}
	for _, n := range notices {
		if !strings.Contains(n, "offline since") && !strings.Contains(n, "disconnected while running") {
			t.Errorf("the notice %q does not say the relay is offline", n)
		}
	}
	if n := Count(t, db, "SELECT COUNT(*) FROM (SELECT id FROM probe_results GROUP BY id HAVING COUNT(*) > 1)"); n != 0 {
		t.Errorf("%d probe jobs stored more than once", n)
	}
	MustIntegrity(t, db)
	if reconnect1 > 5*time.Second || reconnect2 > 5*time.Second {
		t.Errorf("reconnects took %s and %s; want ≤ 5 s", reconnect1, reconnect2)
	}
	t.Logf("relay link cut: the step showed %q; link back after 2 s, relay reconnected %s later; the probe step was answered once (%s after the cut)",
		first(notices, 0), reconnect1.Round(time.Millisecond), answered1.Sub(cutAt).Round(time.Millisecond))
	t.Logf("relay killed: the step showed %q; relay restarted after 2 s and connected %s later; the probe step was answered once (%s after the kill); %d probe results stored, each job ID once",
		first(notices, 1), reconnect2.Round(time.Millisecond), answered2.Sub(killedAt).Round(time.Millisecond),
		Count(t, db, "SELECT COUNT(*) FROM probe_results"))
}

func first(ss []string, i int) string {
	if i < len(ss) {
		return ss[i]
	}
	return ""
}

// waitAnswered waits until the ping_dns probe step of the case is
// answered, checks it is answered once (also a second later), and returns
// when it was first seen.
func waitAnswered(t *testing.T, db *sql.DB, caseID int64) time.Time {
	t.Helper()
	q := "SELECT COUNT(*) FROM answers WHERE case_id = ? AND state = 'ping_dns'"
	deadline := time.Now().Add(60 * time.Second)
	for Count(t, db, q, caseID) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the probe step of case %d was not answered within 60 s", caseID)
		}
		time.Sleep(50 * time.Millisecond)
	}
	at := time.Now()
	time.Sleep(time.Second)
	if n := Count(t, db, q, caseID); n != 1 {
		t.Errorf("the probe step of case %d was answered %d times", caseID, n)
	}
	return at
}
