package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/internal/atomicfile"
)

// Lab is a running lab. Its methods are safe for concurrent use.
type Lab struct {
	// Name is the unique prefix of the lab's namespaces.
	Name string
	// NS are the namespace names.
	NS Namespaces
	// Dir is the run directory: per gateway cgw/ and cld/ (strongswan.conf,
	// swanctl.conf, charon.log, charon.vici), dns/ and res/ (dnsmasq),
	// state.json.
	Dir string

	opts   Options
	holder bool // this process started the lab and runs its background loop

	mu       sync.Mutex
	cancel   context.CancelFunc
	done     chan struct{}
	frontEnd *frontEnd
	downed   bool
}

// state is what the lab keeps in Dir/state.json, so that `vpnlab fault` in
// another process sees and changes the same lab.
type state struct {
	Name        string        `json:"name"`
	PSK         string        `json:"psk"`
	DPDDelay    time.Duration `json:"dpd_delay"`
	IdleTimeout time.Duration `json:"idle_timeout"`
	DropPeriod  time.Duration `json:"drop_period"`
	Faults      []string      `json:"faults"`
	// NextDrop is when the periodic-drop fault next ends the CHILD_SA.
	NextDrop time.Time `json:"next_drop,omitzero"`
}

// Up starts a lab for a test and tears it down in tb.Cleanup, even when
// the test fails. It skips the test, saying how to run it, when the machine
// cannot run a lab (not root, strongSwan or nftables missing). The run
// directory defaults to tb.TempDir().
func Up(ctx context.Context, tb testing.TB, opts Options) *Lab {
	tb.Helper()
	if err := Requirements(); err != nil {
		tb.Skipf("skipping: %v", err)
	}
	if opts.Dir == "" {
		opts.Dir = tb.TempDir()
	}
	if opts.Logf == nil {
		opts.Logf = tb.Logf
	}
	l, err := Start(ctx, opts)
	if l != nil {
		tb.Cleanup(func() {
			if err := l.Down(); err != nil {
				tb.Errorf("lab down: %v", err)
			}
		})
	}
	if err != nil {
		tb.Fatalf("lab up: %v", err)
	}
	return l
}

// Start brings a lab up and returns when the tunnel is established and
// carries traffic. Leftovers of a lab of the same name are removed first.
// On error the returned Lab, if not nil, must still be brought Down. The
// caller's process holds the lab: it serves the front-end and runs the
// background loop (acquire emulation, periodic drops) until Down.
func Start(ctx context.Context, opts Options) (*Lab, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	if opts.Dir == "" {
		opts.Dir = DefaultDir(opts.Name)
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("lab dir: %w", err)
	}
	if dir == "/run" || strings.HasPrefix(dir, "/run/") || strings.HasPrefix(dir, "/var/run/") {
		// charon runs with the run directory bind-mounted over /run (its pid
		// file is fixed at /var/run/charon.pid), so paths under /run vanish.
		return nil, vpndiag.Errorf(vpndiag.EINVALID, "Lab directory %s must not be under /run.", dir)
	}
	if err := Requirements(); err != nil {
		return nil, err
	}
	l := &Lab{Name: opts.Name, NS: namespacesFor(opts.Name), Dir: dir, opts: opts, holder: true}
	t0 := time.Now()
	if err := teardown(ctx, l.Name); err != nil {
		return nil, fmt.Errorf("remove leftovers of lab %s: %w", l.Name, err)
	}
	// A leftover run directory (same name) goes too, but not the directory itself
	// (it may be a test's TempDir).
	if err := clearDir(dir); err != nil {
		return nil, err
	}
	st := &state{Name: l.Name, PSK: opts.PSK, DPDDelay: opts.DPDDelay, IdleTimeout: opts.IdleTimeout, DropPeriod: opts.DropPeriod}
	if err := l.saveState(st); err != nil {
		return nil, err
	}
	if err := l.up(ctx, st); err != nil {
		return l, err
	}
	bg, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	l.done = make(chan struct{})
	go l.loop(bg)
	l.opts.Logf("lab %s up in %v (dir %s)", l.Name, time.Since(t0).Round(time.Millisecond), dir)
	return l, nil
}

// DefaultDir is the run directory the vpnlab command uses for a lab name.
func DefaultDir(name string) string {
	return filepath.Join(os.TempDir(), "vpndiag-lab", name)
}

// Attach returns a handle on a lab another process started in dir, to apply
// and clear faults, run commands and read its state. Down on it tears the
// lab down; the holder process's background loop stops when its own Down runs.
func Attach(ctx context.Context, dir string) (*Lab, error) {
	l := &Lab{Dir: dir}
	st, err := l.loadState()
	if err != nil {
		return nil, vpndiag.Errorf(vpndiag.ENOTFOUND, "No lab found in %s.", dir)
	}
	l.Name, l.NS = st.Name, namespacesFor(st.Name)
	l.opts = Options{Name: st.Name, Dir: dir, PSK: st.PSK, DPDDelay: st.DPDDelay, IdleTimeout: st.IdleTimeout, DropPeriod: st.DropPeriod}
	if err := l.opts.setDefaults(); err != nil {
		return nil, err
	}
	if !nsExists(l.NS.CustomerGW) {
		return nil, vpndiag.Errorf(vpndiag.ENOTFOUND, "Lab %s is not running.", st.Name)
	}
	return l, nil
}

func clearDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("lab dir: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("lab dir: %w", err)
	}
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("lab dir: %w", err)
		}
	}
	return nil
}

// up builds the topology and starts every service.
func (l *Lab) up(ctx context.Context, st *state) error {
	if err := l.topology(ctx); err != nil {
		return fmt.Errorf("topology: %w", err)
	}
	for _, d := range []string{"cgw", "cld", "dns", "res"} {
		if err := os.MkdirAll(filepath.Join(l.Dir, d), 0o755); err != nil {
			return err
		}
	}
	if err := l.writeConfigs(st); err != nil {
		return err
	}
	if err := l.startDNS(ctx); err != nil {
		return err
	}
	if err := l.startResolver(ctx); err != nil {
		return err
	}
	fe, err := startFrontEnd(l.NS.FrontEnd)
	if err != nil {
		return fmt.Errorf("front-end: %w", err)
	}
	l.frontEnd = fe
	for _, gw := range []Gateway{CloudGateway, CustomerGateway} {
		if err := l.startCharon(ctx, gw); err != nil {
			return err
		}
	}
	if err := l.loadGateways(ctx); err != nil {
		return err
	}
	return l.WaitTunnel(ctx, 20*time.Second)
}

// topology creates the namespaces, links and addresses.
func (l *Lab) topology(ctx context.Context) error {
	n := l.NS
	var cmds [][]string
	add := func(args ...string) { cmds = append(cmds, args) }
	for _, ns := range n.All() {
		add("netns", "add", ns)
		add("-n", ns, "link", "set", "lo", "up")
	}
	veth := func(ns1, if1, ns2, if2 string) {
		add("-n", ns1, "link", "add", if1, "type", "veth", "peer", "name", if2, "netns", ns2)
	}
	// iface gives ns's dev its addresses and brings it up; with gw, the
	// default route goes through gw.
	iface := func(ns, dev string, addrs []string, gw string) {
		for _, a := range addrs {
			add("-n", ns, "addr", "add", a, "dev", dev)
		}
		add("-n", ns, "link", "set", dev, "up")
		if gw != "" {
			add("-n", ns, "route", "add", "default", "via", gw)
		}
	}
	// bridge joins ns's ports in br0, which holds addrs.
	bridge := func(ns string, addrs []string, ports ...string) {
		add("-n", ns, "link", "add", "br0", "type", "bridge")
		iface(ns, "br0", addrs, "")
		for _, p := range ports {
			add("-n", ns, "link", "set", p, "master", "br0", "up")
		}
	}
	// Customer LAN: a bridge on the gateway joins the LAN host and the resolver.
	veth(n.CustomerGW, "lan0", n.LAN, "eth0")
	veth(n.CustomerGW, "res0", n.Resolver, "eth0")
	bridge(n.CustomerGW, []string{CustomerGWLANAddr.String() + "/24", "192.168.20.1/24"}, "lan0", "res0")
	iface(n.LAN, "eth0", []string{LANHostAddr.String() + "/24", LANHostSecondAddr.String() + "/24"}, CustomerGWLANAddr.String())
	iface(n.Resolver, "eth0", []string{ResolverAddr.String() + "/24"}, CustomerGWLANAddr.String())
	// The Internet: customer gateway — path router — cloud gateway.
	veth(n.CustomerGW, "wan0", n.Path, "cust0")
	veth(n.Path, "cloud0", n.CloudGW, "wan0")
	iface(n.CustomerGW, "wan0", []string{CustomerGWAddr.String() + "/24"}, "198.51.100.1")
	iface(n.Path, "cust0", []string{"198.51.100.1/24"}, "")
	iface(n.Path, "cloud0", []string{"203.0.113.1/24"}, "")
	iface(n.CloudGW, "wan0", []string{CloudGWAddr.String() + "/24"}, "203.0.113.1")
	// Cloud side: a bridge on the cloud gateway joins the DNS server and the front-end.
	veth(n.CloudGW, "dns0", n.DNS, "eth0")
	veth(n.CloudGW, "fe0", n.FrontEnd, "eth0")
	bridge(n.CloudGW, []string{"10.100.0.1/24"}, "dns0", "fe0")
	iface(n.DNS, "eth0", []string{CloudDNSAddr.String() + "/24"}, "10.100.0.1")
	iface(n.FrontEnd, "eth0", []string{FrontEndAddr.String() + "/24"}, "10.100.0.1")
	for _, c := range cmds {
		if _, err := run(ctx, "ip", c...); err != nil {
			return err
		}
	}
	for _, ns := range []string{n.CustomerGW, n.Path, n.CloudGW} {
		if _, err := inNS(ctx, ns, "sysctl", "-qw", "net.ipv4.ip_forward=1"); err != nil {
			return err
		}
	}
	// The front-end drops ping, as the cloud's front-ends do (other ICMP, e.g.
	// fragmentation-needed for path MTU discovery through the tunnel, passes).
	if err := l.nft(ctx, n.FrontEnd, `table inet vpnlab_fe {
	chain input {
		type filter hook input priority 0; policy accept;
		icmp type echo-request drop
	}
}
`); err != nil {
		return err
	}
	// The LAN host resolves through the internal resolver (ip netns exec).
	etc := filepath.Join("/etc/netns", n.LAN)
	if err := os.MkdirAll(etc, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(etc, "resolv.conf"), []byte("nameserver "+ResolverAddr.String()+"\n"), 0o644)
}

// nft loads an nftables ruleset into namespace ns.
func (l *Lab) nft(ctx context.Context, ns, ruleset string) error {
	f := filepath.Join(l.Dir, fmt.Sprintf("nft-%s-%d.nft", ns, time.Now().UnixNano()))
	if err := os.WriteFile(f, []byte(ruleset), 0o644); err != nil {
		return err
	}
	defer os.Remove(f)
	_, err := inNS(ctx, ns, "nft", "-f", f)
	return err
}

// nftDelete removes an nftables table from namespace ns if it is there.
func (l *Lab) nftDelete(ctx context.Context, ns, table string) error {
	if _, err := inNS(ctx, ns, "nft", "list", "table", "inet", table); err != nil {
		return nil
	}
	_, err := inNS(ctx, ns, "nft", "delete", "table", "inet", table)
	return err
}

// confState builds the rendering input from the saved state.
func (st *state) conf() confState {
	f := map[string]bool{}
	for _, n := range st.Faults {
		f[n] = true
	}
	return confState{psk: st.PSK, faults: f, dpdDelay: st.DPDDelay, idleTimeout: st.IdleTimeout, dropPeriod: st.DropPeriod}
}

// writeConfigs writes both gateways' configurations and the resolvers'.
func (l *Lab) writeConfigs(st *state) error {
	cs := st.conf()
	files := map[string]string{
		"cgw/strongswan.conf": strongswanConf(filepath.Join(l.Dir, "cgw")),
		"cld/strongswan.conf": strongswanConf(filepath.Join(l.Dir, "cld")),
		"cgw/swanctl.conf":    customerSwanctl(cs),
		"cld/swanctl.conf":    cloudSwanctl(cs),
		"dns/dnsmasq.conf":    cloudDNSConf(filepath.Join(l.Dir, "dns")),
		"res/dnsmasq.conf":    resolverConf(filepath.Join(l.Dir, "res"), !cs.faults[FaultNoConditionalForwarder]),
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(l.Dir, name), []byte(text), 0o600); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	return nil
}

func (l *Lab) gwNS(gw Gateway) string {
	if gw == CloudGateway {
		return l.NS.CloudGW
	}
	return l.NS.CustomerGW
}

// startCharon starts a gateway's charon in its namespace, with the gateway's
// run directory bind-mounted over /run so that its fixed pid file
// (/var/run/charon.pid) does not clash with other charons.
func (l *Lab) startCharon(ctx context.Context, gw Gateway) error {
	dir := filepath.Join(l.Dir, string(gw))
	// swanctl --load-all looks for credential directories next to the file.
	for _, d := range []string{"x509", "x509ca", "x509ocsp", "x509aa", "x509ac", "x509crl", "pubkey", "private", "rsa", "ecdsa", "bliss", "pkcs8", "pkcs12"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return err
		}
	}
	out, err := os.Create(filepath.Join(dir, "charon.out"))
	if err != nil {
		return err
	}
	defer out.Close()
	cmd := exec.Command("ip", "netns", "exec", l.gwNS(gw), "sh", "-c", `mount --bind "$1" /run && exec "$2"`, "sh", dir, charonPath)
	cmd.Env = append(os.Environ(), "STRONGSWAN_CONF="+filepath.Join(dir, "strongswan.conf"))
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start charon (%s): %w", gw, err)
	}
	go func() { _ = cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := l.swanctl(ctx, gw, "--stats"); err == nil {
			return nil
		} else if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(dir, "charon.out"))
			return fmt.Errorf("charon (%s) did not start: %w: %s", gw, err, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// swanctl runs swanctl against a gateway's charon.
func (l *Lab) swanctl(ctx context.Context, gw Gateway, args ...string) (string, error) {
	uri := "unix://" + filepath.Join(l.Dir, string(gw), "charon.vici")
	return run(ctx, "swanctl", append(args, "--uri", uri)...)
}

// Swanctl runs swanctl with args against a gateway's charon and returns its
// output, e.g. l.Swanctl(ctx, lab.CustomerGateway, "--list-sas").
func (l *Lab) Swanctl(ctx context.Context, gw Gateway, args ...string) (string, error) {
	return l.swanctl(ctx, gw, args...)
}

// loadGateways (re)loads both gateways' connections and secrets from their
// swanctl.conf, the cloud's first.
func (l *Lab) loadGateways(ctx context.Context) error {
	for _, gw := range []Gateway{CloudGateway, CustomerGateway} {
		if _, err := l.swanctl(ctx, gw, "--load-all", "--clear", "--file", l.SwanctlConf(gw)); err != nil {
			return err
		}
	}
	return nil
}

// SwanctlConf is the path of a gateway's swanctl.conf.
func (l *Lab) SwanctlConf(gw Gateway) string { return filepath.Join(l.Dir, string(gw), "swanctl.conf") }

// CharonLog is the path of a gateway's charon log.
func (l *Lab) CharonLog(gw Gateway) string { return filepath.Join(l.Dir, string(gw), "charon.log") }

// Config returns the text of a gateway's swanctl.conf as loaded now (the
// evidence a customer would upload).
func (l *Lab) Config(gw Gateway) (string, error) {
	b, err := os.ReadFile(l.SwanctlConf(gw))
	return string(b), err
}

// startDNS starts (or restarts) the cloud DNS server.
func (l *Lab) startDNS(ctx context.Context) error {
	return l.startDnsmasq(ctx, l.NS.DNS, "dns")
}

// startResolver starts (or restarts) the customer's internal resolver.
func (l *Lab) startResolver(ctx context.Context) error {
	return l.startDnsmasq(ctx, l.NS.Resolver, "res")
}

func (l *Lab) startDnsmasq(ctx context.Context, ns, sub string) error {
	if err := l.stopDnsmasq(sub); err != nil {
		return err
	}
	dir := filepath.Join(l.Dir, sub)
	_, err := inNS(ctx, ns, "dnsmasq", "--conf-file="+filepath.Join(dir, "dnsmasq.conf"))
	return err
}

// stopDnsmasq stops the dnsmasq whose pid file is in Dir/sub.
func (l *Lab) stopDnsmasq(sub string) error {
	pidFile := filepath.Join(l.Dir, sub, "dnsmasq.pid")
	b, err := os.ReadFile(pidFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	var pid int
	if _, err := fmt.Sscan(string(b), &pid); err != nil || pid <= 0 {
		_ = os.Remove(pidFile)
		return nil
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err == nil {
		for i := 0; i < 100 && len(alive([]int{pid})) > 0; i++ {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if err := os.Remove(pidFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// Exec runs a command inside one of the lab's namespaces (with
// `ip netns exec`, so the LAN host resolves through the internal resolver)
// and returns its combined output.
func (l *Lab) Exec(ctx context.Context, ns string, args ...string) (string, error) {
	if !slices.Contains(l.NS.All(), ns) {
		return "", vpndiag.Errorf(vpndiag.EINVALID, "Namespace %q is not part of lab %s.", ns, l.Name)
	}
	return inNS(ctx, ns, args...)
}

// Do runs fn with its goroutine's thread in one of the lab's namespaces.
// Sockets fn opens (listeners, pings, DNS queries, dialled connections)
// stay in that namespace afterwards; the thread is discarded when fn returns.
func (l *Lab) Do(ns string, fn func() error) error {
	if !slices.Contains(l.NS.All(), ns) {
		return vpndiag.Errorf(vpndiag.EINVALID, "Namespace %q is not part of lab %s.", ns, l.Name)
	}
	return doInNS(ns, fn)
}

// Site is the lab's site profile.
func (l *Lab) Site() *vpndiag.Site { return Site(l.Name) }

// Down tears the lab down: background loop, front-end, every process in
// its namespaces (charon, dnsmasq), the namespaces with their links, the
// /etc/netns entries. It is idempotent; the run directory (logs) is kept.
func (l *Lab) Down() error {
	l.mu.Lock()
	if l.cancel != nil {
		l.cancel()
		<-l.done
		l.cancel = nil
	}
	if l.frontEnd != nil {
		l.frontEnd.Close()
		l.frontEnd = nil
	}
	l.downed = true
	l.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := teardown(ctx, l.Name)
	if left := Leftovers(ctx, l.Name); len(left) > 0 {
		err = errors.Join(err, fmt.Errorf("lab %s left: %s", l.Name, strings.Join(left, ", ")))
	}
	return err
}

func (l *Lab) statePath() string { return filepath.Join(l.Dir, "state.json") }

// withState runs fn on the saved state under an exclusive file lock and
// saves it afterwards, so that processes sharing the lab don't race.
func (l *Lab) withState(fn func(st *state) error) error {
	lf, err := os.OpenFile(filepath.Join(l.Dir, "state.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	defer lf.Close()
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	defer syscall.Flock(int(lf.Fd()), syscall.LOCK_UN)
	st, err := l.loadState()
	if err != nil {
		return err
	}
	if err := fn(st); err != nil {
		return err
	}
	return l.saveState(st)
}

func (l *Lab) loadState() (*state, error) {
	b, err := os.ReadFile(l.statePath())
	if err != nil {
		return nil, err
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("lab state: %w", err)
	}
	return &st, nil
}

func (l *Lab) saveState(st *state) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(l.statePath(), b, 0o600)
}
