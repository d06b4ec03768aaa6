package lab_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/vpndiag/vpndiag/kb"
	"github.com/vpndiag/vpndiag/lab"
)

// labName is unique per test process, so parallel runs by others don't clash.
func labName(tag string) string { return fmt.Sprintf("vt%s%d", tag, os.Getpid()%100000) }

// MustPing pings dst from namespace ns (optionally from address src) and
// reports whether any reply came back.
func ping(ctx context.Context, l *lab.Lab, ns string, src netip.Addr, dst netip.Addr, count int) bool {
	args := []string{"ping", "-n", "-c", fmt.Sprint(count), "-i", "0.2", "-W", "1"}
	if src.IsValid() {
		args = append(args, "-I", src.String())
	}
	_, err := l.Exec(ctx, ns, append(args, dst.String())...)
	return err == nil
}

// lookup asks server for name's A record from inside ns, through Do.
func lookup(l *lab.Lab, ns string, server netip.Addr, name string) ([]netip.Addr, error) {
	var addrs []netip.Addr
	err := l.Do(ns, func() error {
		c := &dns.Client{Timeout: 2 * time.Second}
		m := new(dns.Msg)
		m.SetQuestion(dns.Fqdn(name), dns.TypeA)
		r, _, err := c.Exchange(m, netip.AddrPortFrom(server, kb.DNSPort).String())
		if err != nil {
			return err
		}
		if r.Rcode != dns.RcodeSuccess {
			return fmt.Errorf("rcode %s", dns.RcodeToString[r.Rcode])
		}
		for _, rr := range r.Answer {
			if a, ok := rr.(*dns.A); ok {
				ip, _ := netip.AddrFromSlice(a.A.To4())
				addrs = append(addrs, ip)
			}
		}
		return nil
	})
	return addrs, err
}

// dialTLS connects to the front-end on 443 from ns and completes a TLS handshake.
func dialTLS(l *lab.Lab, ns string) error {
	return l.Do(ns, func() error {
		d := &net.Dialer{Timeout: 3 * time.Second}
		c, err := tls.DialWithDialer(d, "tcp", netip.AddrPortFrom(lab.FrontEndAddr, kb.HTTPSPort).String(),
			&tls.Config{ServerName: lab.FrontEndFQDN, InsecureSkipVerify: true})
		if err != nil {
			return err
		}
		return c.Close()
	})
}

func TestLabBaseline(t *testing.T) {
	ctx := context.Background()
	t0 := time.Now()
	l := lab.Up(ctx, t, lab.Options{Name: labName("b")})
	t.Logf("lab up in %v", time.Since(t0).Round(time.Millisecond))

	for _, gw := range []lab.Gateway{lab.CustomerGateway, lab.CloudGateway} {
		s, err := l.SAs(ctx, gw)
		if err != nil {
			t.Fatal(err)
		}
		child := lab.CustomerChild
		if gw == lab.CloudGateway {
			child = lab.CloudChild
		}
		if !s.Up(child) || s.Encap != "TUNNEL-in-UDP" {
			t.Errorf("%s: want ESTABLISHED/INSTALLED TUNNEL-in-UDP, got %+v\n%s", gw, s, s.Raw)
		}
	}
	if !ping(ctx, l, l.NS.LAN, netip.Addr{}, lab.CloudDNSAddr, 3) {
		t.Error("LAN host cannot ping the cloud DNS server through the tunnel")
	}
	if ping(ctx, l, l.NS.LAN, netip.Addr{}, lab.FrontEndAddr, 2) {
		t.Error("front-end answered ping; it must drop ICMP")
	}
	if err := dialTLS(l, l.NS.LAN); err != nil {
		t.Errorf("TLS to the front-end on 443: %v", err)
	}
	got, err := lookup(l, l.NS.LAN, lab.ResolverAddr, lab.FrontEndFQDN)
	if err != nil || len(got) != 1 || got[0] != lab.FrontEndAddr {
		t.Errorf("internal resolver: %s = %v, %v; want %v", lab.FrontEndFQDN, got, err, lab.FrontEndAddr)
	}
	for _, gw := range []lab.Gateway{lab.CustomerGateway, lab.CloudGateway} {
		conf, err := l.Config(gw)
		if err != nil || !strings.Contains(conf, "version = 2") || !strings.Contains(conf, "28800s") {
			t.Errorf("%s swanctl.conf: %v\n%s", gw, err, conf)
		}
		if b, err := os.ReadFile(l.CharonLog(gw)); err != nil || !strings.Contains(string(b), "remote host is behind NAT") && gw == lab.CustomerGateway {
			t.Errorf("%s charon log: %v", gw, err)
		}
	}
	if err := l.Site().Validate(); err != nil {
		t.Errorf("site profile: %v", err)
	}
}

// logAfter returns what gw's charon logged after offset.
func logAfter(t *testing.T, l *lab.Lab, gw lab.Gateway, offset int64) string {
	t.Helper()
	b, err := os.ReadFile(l.CharonLog(gw))
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(b)) < offset {
		return string(b)
	}
	return string(b[offset:])
}

func logSize(l *lab.Lab, gw lab.Gateway) int64 {
	fi, err := os.Stat(l.CharonLog(gw))
	if err != nil {
		return 0
	}
	return fi.Size()
}

// eventually polls cond every 200 ms until it holds or timeout passes.
func eventually(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestLabFaults applies each fault to one lab in turn, checks its effect at
// the network level and in the charon logs, clears it and checks the tunnel
// is back.
func TestLabFaults(t *testing.T) {
	ctx := context.Background()
	l := lab.Up(ctx, t, lab.Options{
		Name: labName("f"), DPDDelay: 4 * time.Second, IdleTimeout: 6 * time.Second, DropPeriod: 6 * time.Second,
	})
	none := netip.Addr{}
	// noTunnel checks a fault that keeps the tunnel from coming up and shows
	// in the customer's log as logged.
	noTunnel := func(why, logged string) func(t *testing.T, cust, cloud int64) {
		return func(t *testing.T, cust, cloud int64) {
			if l.TunnelUp(ctx) || ping(ctx, l, l.NS.LAN, none, lab.CloudDNSAddr, 2) {
				t.Error("tunnel up with " + why)
			}
			if log := logAfter(t, l, lab.CustomerGateway, cust); !strings.Contains(log, logged) {
				t.Errorf("customer log lacks %s:\n%s", logged, log)
			}
		}
	}
	tests := []struct {
		fault string
		check func(t *testing.T, cust, cloud int64)
	}{
		{lab.FaultPSKMismatch, noTunnel("mismatched PSKs", "AUTHENTICATION_FAILED")},
		{lab.FaultUDPBlocked, func(t *testing.T, cust, cloud int64) {
			if ping(ctx, l, l.NS.LAN, none, lab.CloudDNSAddr, 2) {
				t.Error("traffic passes with UDP 500/4500 blocked")
			}
			if !eventually(10*time.Second, func() bool {
				return strings.Contains(logAfter(t, l, lab.CustomerGateway, cust), "retransmit 2 of request with message ID 0")
			}) {
				t.Errorf("customer log shows no IKE retransmits:\n%s", logAfter(t, l, lab.CustomerGateway, cust))
			}
		}},
		{lab.FaultESPBlocked, func(t *testing.T, cust, cloud int64) {
			if !l.TunnelUp(ctx) {
				t.Error("SAs went down; only ESP should be blocked")
			}
			if ping(ctx, l, l.NS.LAN, none, lab.CloudDNSAddr, 2) {
				t.Error("traffic passes with ESP blocked")
			}
		}},
		{lab.FaultPFSMismatch, func(t *testing.T, cust, cloud int64) {
			log := logAfter(t, l, lab.CustomerGateway, cust)
			if !strings.Contains(log, "received NO_PROPOSAL_CHOSEN notify") {
				t.Errorf("customer log lacks NO_PROPOSAL_CHOSEN:\n%s", log)
			}
			if ping(ctx, l, l.NS.LAN, none, lab.CloudDNSAddr, 2) {
				t.Error("traffic passes after the failed rekey")
			}
		}},
		{lab.FaultTSMismatch, func(t *testing.T, cust, cloud int64) {
			if !ping(ctx, l, l.NS.LAN, lab.LANHostAddr, lab.CloudDNSAddr, 2) {
				t.Error("the agreed subnet lost the tunnel")
			}
			if ping(ctx, l, l.NS.LAN, lab.LANHostSecondAddr, lab.CloudDNSAddr, 2) {
				t.Error("the second subnet got through")
			}
			if log := logAfter(t, l, lab.CustomerGateway, cust); !strings.Contains(log, "received TS_UNACCEPTABLE notify") {
				t.Errorf("customer log lacks TS_UNACCEPTABLE:\n%s", log)
			}
		}},
		{lab.FaultDNSDown, func(t *testing.T, cust, cloud int64) {
			if !ping(ctx, l, l.NS.LAN, none, lab.CloudDNSAddr, 2) {
				t.Error("the DNS host must still answer ping")
			}
			if got, err := lookup(l, l.NS.LAN, lab.CloudDNSAddr, lab.FrontEndFQDN); err == nil {
				t.Errorf("cloud DNS answered while down: %v", got)
			}
		}},
		{lab.FaultCustomerNeverInitiates, func(t *testing.T, cust, cloud int64) {
			if s, err := l.SAs(ctx, lab.CustomerGateway); err != nil || s.IKECount != 0 {
				t.Errorf("customer has SAs before any traffic: %v %+v", err, s)
			}
			if !ping(ctx, l, l.NS.LAN, none, lab.CloudDNSAddr, 6) {
				t.Error("traffic did not bring the tunnel up")
			}
			if log := logAfter(t, l, lab.CustomerGateway, cust); !strings.Contains(log, "could not find an outbound IPsec SA") {
				t.Errorf("customer log lacks the dropped first packet:\n%s", log)
			}
			if !l.TunnelUp(ctx) {
				t.Error("tunnel not up after traffic")
			}
			// Idle, the cloud ends it; nothing brings it back until traffic flows.
			if !eventually(15*time.Second, func() bool { return !l.TunnelUp(ctx) }) {
				t.Error("idle tunnel stayed up")
			}
		}},
		{lab.FaultDPDUnanswered, func(t *testing.T, cust, cloud int64) {
			if !eventually(25*time.Second, func() bool {
				s, err := l.SAs(ctx, lab.CloudGateway)
				return err == nil && s.IKECount == 0
			}) {
				t.Error("cloud did not declare the customer dead")
			}
			log := logAfter(t, l, lab.CloudGateway, cloud)
			if !strings.Contains(log, "sending DPD request") || !strings.Contains(log, "giving up after 3 retransmits") {
				t.Errorf("cloud log lacks DPD give-up:\n%s", log)
			}
			if ping(ctx, l, l.NS.LAN, none, lab.CloudDNSAddr, 2) {
				t.Error("traffic passes after the cloud declared the peer dead")
			}
		}},
		{lab.FaultFrontEndPing, func(t *testing.T, cust, cloud int64) {
			if ping(ctx, l, l.NS.LAN, none, lab.FrontEndAddr, 2) {
				t.Error("front-end answered ping")
			}
			if err := dialTLS(l, l.NS.LAN); err != nil {
				t.Errorf("front-end 443: %v", err)
			}
		}},
		{lab.FaultNoConditionalForwarder, func(t *testing.T, cust, cloud int64) {
			got, err := lookup(l, l.NS.LAN, lab.ResolverAddr, lab.FrontEndFQDN)
			if err != nil || len(got) != 1 || got[0] != lab.FrontEndPublicAddr {
				t.Errorf("resolver without forwarder: %v, %v; want %v", got, err, lab.FrontEndPublicAddr)
			}
		}},
		{lab.FaultPeriodicDrop, func(t *testing.T, cust, cloud int64) {
			// Ping every 500 ms for 2.5 periods: each drop loses a reply.
			var lost []time.Time
			end := time.Now().Add(15 * time.Second)
			for time.Now().Before(end) {
				at := time.Now()
				if !ping(ctx, l, l.NS.LAN, none, lab.CloudDNSAddr, 1) {
					lost = append(lost, at)
				}
				time.Sleep(500 * time.Millisecond)
			}
			if len(lost) < 2 {
				t.Errorf("lost %d pings in 15 s; want drops every 6 s", len(lost))
			}
			t.Logf("lost pings at %v", lost)
			if n := strings.Count(logAfter(t, l, lab.CustomerGateway, cust), "received DELETE for ESP CHILD_SA"); n < 2 {
				t.Errorf("customer saw %d CHILD_SA deletes; want >= 2", n)
			}
		}},
		{lab.FaultIKEProposalMismatch, noTunnel("an IKE proposal the cloud does not accept", "NO_PROPOSAL_CHOSEN")},
		{lab.FaultPFSDisabled, func(t *testing.T, cust, cloud int64) {
			if log := logAfter(t, l, lab.CustomerGateway, cust); !strings.Contains(log, "received NO_PROPOSAL_CHOSEN notify") {
				t.Errorf("customer log lacks NO_PROPOSAL_CHOSEN:\n%s", log)
			}
			if ping(ctx, l, l.NS.LAN, none, lab.CloudDNSAddr, 2) {
				t.Error("traffic passes after the failed rekey")
			}
		}},
		{lab.FaultRangeChanged, func(t *testing.T, cust, cloud int64) {
			s, err := l.SAs(ctx, lab.CustomerGateway)
			if err != nil || s.IKE != "ESTABLISHED" || s.Children[lab.CustomerChild] == "INSTALLED" {
				t.Errorf("want the IKE_SA up and no CHILD_SA: %v %+v", err, s)
			}
			for _, src := range []netip.Addr{lab.LANHostAddr, lab.LANHostSecondAddr} {
				if ping(ctx, l, l.NS.LAN, src, lab.CloudDNSAddr, 2) {
					t.Errorf("traffic from %v passes with the selectors refused", src)
				}
			}
			if log := logAfter(t, l, lab.CustomerGateway, cust); !strings.Contains(log, "received TS_UNACCEPTABLE notify") {
				t.Errorf("customer log lacks TS_UNACCEPTABLE:\n%s", log)
			}
		}},
		{lab.FaultIdleClose, func(t *testing.T, cust, cloud int64) {
			if !ping(ctx, l, l.NS.LAN, none, lab.CloudDNSAddr, 2) {
				t.Error("tunnel not up right after the fault was applied")
			}
			if !eventually(20*time.Second, func() bool { return !l.TunnelUp(ctx) }) {
				t.Error("idle tunnel stayed up")
			}
			// Nothing brings it back: traffic finds no SA and no trap.
			if ping(ctx, l, l.NS.LAN, none, lab.CloudDNSAddr, 3) || l.TunnelUp(ctx) {
				t.Error("the tunnel came back by itself")
			}
			if log := logAfter(t, l, lab.CustomerGateway, cust); !strings.Contains(log, "inactivity") {
				t.Errorf("customer log lacks the inactivity close:\n%s", log)
			}
		}},
		{lab.FaultHalfOpen, func(t *testing.T, cust, cloud int64) {
			c, err := l.SAs(ctx, lab.CustomerGateway)
			if err != nil || !c.Up(lab.CustomerChild) {
				t.Errorf("customer lost its SAs; half-open wants them kept: %v %+v", err, c)
			}
			if o, err := l.SAs(ctx, lab.CloudGateway); err != nil || o.IKECount != 0 {
				t.Errorf("cloud still has SAs: %v %+v", err, o)
			}
			if ping(ctx, l, l.NS.LAN, none, lab.CloudDNSAddr, 2) {
				t.Error("traffic passes over a half-open tunnel")
			}
			if log := logAfter(t, l, lab.CloudGateway, cloud); !strings.Contains(log, "giving up after 3 retransmits") {
				t.Errorf("cloud log lacks the DPD give-up:\n%s", log)
			}
		}},
		{lab.FaultWrongPeerAddress, func(t *testing.T, cust, cloud int64) {
			noTunnel("the peer pointed at an old endpoint", "to "+lab.OldCloudGWAddr.String())(t, cust, cloud)
			if log := logAfter(t, l, lab.CustomerGateway, cust); !strings.Contains(log, "retransmit 1 of request with message ID 0") {
				t.Errorf("customer log shows no unanswered IKE:\n%s", log)
			}
		}},
		{lab.FaultIDMismatch, func(t *testing.T, cust, cloud int64) {
			noTunnel("the customer's identity wrong", "AUTHENTICATION_FAILED")(t, cust, cloud)
			if log := logAfter(t, l, lab.CloudGateway, cloud); !strings.Contains(log, "no matching peer config found") {
				t.Errorf("cloud log lacks the identity refusal:\n%s", log)
			}
		}},
		{lab.FaultIKEVersionMismatch, func(t *testing.T, cust, cloud int64) {
			noTunnel("IKEv1 against IKEv2", "Main Mode")(t, cust, cloud)
			if log := logAfter(t, l, lab.CloudGateway, cloud); !strings.Contains(log, "no IKE config found") {
				t.Errorf("cloud log lacks the refusal of IKEv1:\n%s", log)
			}
		}},
		{lab.FaultCustomerRouteMissing, func(t *testing.T, cust, cloud int64) {
			if !l.TunnelUp(ctx) {
				t.Error("SAs went down; only the LAN's traffic should miss the tunnel")
			}
			if ping(ctx, l, l.NS.LAN, none, lab.CloudDNSAddr, 2) {
				t.Error("traffic passes although it is routed around the tunnel")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.fault, func(t *testing.T) {
			cust, cloud := logSize(l, lab.CustomerGateway), logSize(l, lab.CloudGateway)
			t0 := time.Now()
			if err := l.Fault(ctx, tt.fault); err != nil {
				t.Fatal(err)
			}
			applied := time.Since(t0)
			tt.check(t, cust, cloud)
			checked := time.Since(t0)
			if err := l.Clear(ctx, tt.fault); err != nil {
				t.Fatal(err)
			}
			if !l.TunnelUp(ctx) || !ping(ctx, l, l.NS.LAN, none, lab.CloudDNSAddr, 2) {
				t.Error("tunnel not restored after clearing")
			}
			if got, err := lookup(l, l.NS.LAN, lab.ResolverAddr, lab.FrontEndFQDN); err != nil || len(got) != 1 || got[0] != lab.FrontEndAddr {
				t.Errorf("DNS not restored: %v %v", got, err)
			}
			if act, _ := l.Active(); len(act) != 0 {
				t.Errorf("faults still active: %v", act)
			}
			t.Logf("%s: apply %v, check %v, clear %v", tt.fault, applied.Round(time.Millisecond),
				(checked - applied).Round(time.Millisecond), (time.Since(t0) - checked).Round(time.Millisecond))
		})
	}
}

// TestLabCleanup checks that Up removes leftovers of a lab of the same name
// (here: a lab whose holder never called Down), that Down is idempotent and
// leaves no namespace, link, /etc/netns entry or process behind.
func TestLabCleanup(t *testing.T) {
	if err := lab.Requirements(); err != nil {
		t.Skipf("skipping: %v", err)
	}
	ctx := context.Background()
	name := labName("c")
	first, err := lab.Start(ctx, lab.Options{Name: name, Dir: t.TempDir()})
	if first != nil {
		t.Cleanup(func() { _ = first.Down() })
	}
	if err != nil {
		t.Fatal(err)
	}
	pids := charonPids(t, first)
	if len(pids) != 2 {
		t.Fatalf("want 2 charon processes, got %v", pids)
	}
	// A second lab of the same name takes over: the first's leftovers go.
	second := lab.Up(ctx, t, lab.Options{Name: name})
	for _, p := range pids {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", p)); err == nil {
			if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p)); !strings.Contains(string(b), ") Z") {
				t.Errorf("charon %d of the first lab still running", p)
			}
		}
	}
	if !ping(ctx, second, second.NS.LAN, netip.Addr{}, lab.CloudDNSAddr, 2) {
		t.Error("second lab's tunnel does not carry traffic")
	}
	pids = charonPids(t, second)
	for i := 0; i < 2; i++ {
		if err := second.Down(); err != nil {
			t.Errorf("down #%d: %v", i+1, err)
		}
	}
	if left := lab.Leftovers(ctx, name); len(left) > 0 {
		t.Errorf("leftovers after Down: %v", left)
	}
	for _, p := range pids {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p)); err == nil && !strings.Contains(string(b), ") Z") {
			t.Errorf("charon %d still running after Down", p)
		}
	}
	if _, err := second.Exec(ctx, "elsewhere", "true"); err == nil {
		t.Error("Exec in a namespace outside the lab must be refused")
	}
}

// charonPids lists the charon processes in the lab's gateway namespaces.
func charonPids(t *testing.T, l *lab.Lab) []int {
	t.Helper()
	var pids []int
	for _, ns := range []string{l.NS.CustomerGW, l.NS.CloudGW} {
		ps, err := execOut("ip", "netns", "pids", ns)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range strings.Fields(ps) {
			var p int
			fmt.Sscan(f, &p)
			if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", p)); err == nil && strings.TrimSpace(string(b)) == "charon" {
				pids = append(pids, p)
			}
		}
	}
	return pids
}

func execOut(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}

func TestValidName(t *testing.T) {
	for _, tt := range []struct {
		name string
		ok   bool
	}{
		{"vl01ab", true}, {"ab", true}, {"a", false}, {"abcdefghijk", false}, {"1abc", false},
		{"Lab", false}, {"a-b", false}, {"a b", false}, {"", false},
	} {
		if err := lab.ValidName(tt.name); (err == nil) != tt.ok {
			t.Errorf("ValidName(%q) = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

func TestLookupFault(t *testing.T) {
	for _, f := range lab.Faults() {
		if _, err := lab.LookupFault(f.Name); err != nil || f.Summary == "" || f.Effect == "" {
			t.Errorf("fault %q: %v", f.Name, err)
		}
	}
	if _, err := lab.LookupFault("psk"); err == nil || !strings.Contains(err.Error(), "psk-mismatch") {
		t.Errorf("unknown fault: %v; want an error listing the faults", err)
	}
	if len(lab.Faults()) != 20 {
		t.Errorf("want 20 faults, got %d", len(lab.Faults()))
	}
}

func TestParseSAs(t *testing.T) {
	out := `customer: #3, ESTABLISHED, IKEv2, af1aae503779be1d_i* 1d2ec843ad6fa24f_r
  local  '198.51.100.2' @ 198.51.100.2[4500]
  remote '203.0.113.10' @ 203.0.113.10[4500]
  AES_CBC-256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048
  established 2s ago, rekeying in 27769s
  customer: #4, reqid 1, INSTALLED, TUNNEL-in-UDP, ESP:AES_CBC-256/HMAC_SHA2_256_128/MODP_2048
    installed 2s ago, rekeying in 2800s, expires in 3598s
    local  192.168.10.0/24
    remote 10.100.0.0/16
`
	s := lab.ParseSAs(out)
	if s.IKE != "ESTABLISHED" || s.IKECount != 1 || s.Children["customer"] != "INSTALLED" || s.Encap != "TUNNEL-in-UDP" || !s.Up("customer") {
		t.Errorf("ParseSAs = %+v", s)
	}
	if e := lab.ParseSAs(""); e.IKE != "" || e.Up("customer") || len(e.Children) != 0 {
		t.Errorf("ParseSAs(empty) = %+v", e)
	}
}
