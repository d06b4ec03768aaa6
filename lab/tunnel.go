package lab

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/vpndiag/vpndiag/evidence/status"
)

// SAStatus is a gateway's view of its security associations, parsed from
// `swanctl --list-sas`.
type SAStatus struct {
	// IKE is the state of the first IKE_SA ("ESTABLISHED", "CONNECTING",
	// ...), empty when there is none.
	IKE string
	// IKECount is how many IKE_SAs the gateway has.
	IKECount int
	// Children maps each CHILD_SA name to its state ("INSTALLED",
	// "REKEYING", ...); a name with several SAs keeps the first.
	Children map[string]string
	// Encap is the first CHILD_SA's mode, e.g. "TUNNEL-in-UDP".
	Encap string
	// Raw is swanctl's output.
	Raw string
}

// Up reports whether the IKE_SA is established and child is installed.
func (s *SAStatus) Up(child string) bool {
	return s.IKE == "ESTABLISHED" && s.Children[child] == "INSTALLED"
}

// ParseSAs parses the text output of `swanctl --list-sas` with the
// evidence analysis's own swanctl reader (evidence/status), so that the lab
// and the diagnosis read a gateway's SAs alike.
func ParseSAs(out string) *SAStatus {
	s := &SAStatus{Children: map[string]string{}, Raw: out}
	st, err := status.Parse(status.FormatSwanctl, out)
	if err != nil { // the format is known: Parse cannot fail
		return s
	}
	s.IKECount = len(st.IKE)
	if len(st.IKE) > 0 {
		s.IKE = st.IKE[0].State
	}
	for _, c := range st.Child {
		if _, ok := s.Children[c.Name]; !ok {
			s.Children[c.Name] = c.State
		}
		if s.Encap == "" {
			s.Encap = c.Mode
		}
	}
	return s
}

// SAs returns a gateway's security associations.
func (l *Lab) SAs(ctx context.Context, gw Gateway) (*SAStatus, error) {
	out, err := l.swanctl(ctx, gw, "--list-sas")
	if err != nil {
		return nil, err
	}
	return ParseSAs(out), nil
}

// TunnelUp reports whether both gateways have the IKE_SA established and
// the CHILD_SA installed.
func (l *Lab) TunnelUp(ctx context.Context) bool {
	c, err := l.SAs(ctx, CustomerGateway)
	if err != nil || !c.Up(CustomerChild) {
		return false
	}
	o, err := l.SAs(ctx, CloudGateway)
	return err == nil && o.Up(CloudChild)
}

// WaitTunnel waits up to timeout for TunnelUp and for a ping from the LAN
// host to the cloud DNS server to be answered.
func (l *Lab) WaitTunnel(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		if l.TunnelUp(ctx) {
			if _, err := l.Exec(ctx, l.NS.LAN, "ping", "-n", "-c", "1", "-W", "1", CloudDNSAddr.String()); err == nil {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			c, _ := l.swanctl(context.Background(), CustomerGateway, "--list-sas")
			return fmt.Errorf("tunnel not up after %v; customer SAs: %q", timeout, c)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// reconnect ends the customer's IKE_SA (if any) and, unless the customer is
// on demand, initiates its children again. With wait, each initiation waits
// until it succeeds or fails; otherwise it detaches at once and charon
// carries on (a fault that blocks IKE then shows in the log as retransmits).
func (l *Lab) reconnect(ctx context.Context, st *state, wait bool) {
	if wait {
		_, _ = l.swanctl(ctx, CustomerGateway, "--terminate", "--ike", CustomerConn, "--timeout", "2")
	}
	// --force: without waiting for the peer, which may be unreachable.
	_, _ = l.swanctl(ctx, CustomerGateway, "--terminate", "--ike", CustomerConn, "--force", "--timeout", "1")
	cs := st.conf()
	if cs.faults[FaultCustomerNeverInitiates] {
		return
	}
	children := []string{CustomerChild}
	if cs.faults[FaultTSMismatch] {
		children = append(children, SecondChild)
	}
	for _, c := range children {
		timeout := "10"
		if !wait {
			timeout = "1"
		}
		_, _ = l.swanctl(ctx, CustomerGateway, "--initiate", "--child", c, "--timeout", timeout)
	}
}

// acquireLine is what libipsec logs when a packet matches a trap policy but
// no SA exists; the kernel would raise an acquire, libipsec does not.
const acquireLine = "could not find an outbound IPsec SA for reqid"

// loop is the holder's background work: it emulates the kernel's acquire
// (traffic without an SA brings the on-demand tunnel up) and ends the
// CHILD_SA at the periodic-drop fault's interval.
func (l *Lab) loop(ctx context.Context) {
	defer close(l.done)
	logPath := l.CharonLog(CustomerGateway)
	var offset int64
	if fi, err := os.Stat(logPath); err == nil {
		offset = fi.Size()
	}
	var lastInitiate time.Time
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		var acquire bool
		offset, acquire = scanFrom(logPath, offset, acquireLine)
		// The kernel raises an acquire only for a trap policy: the
		// customer's child is trapped under these faults alone (with
		// idle-close there is no trap, and the tunnel must stay down).
		if acquire && !l.trapped() {
			acquire = false
		}
		if acquire && time.Since(lastInitiate) > 2*time.Second {
			lastInitiate = time.Now()
			l.opts.Logf("lab %s: traffic without an SA on the customer gateway: initiating (acquire emulation)", l.Name)
			go func() {
				ictx, cancel := context.WithTimeout(ctx, 15*time.Second)
				defer cancel()
				_, _ = l.swanctl(ictx, CustomerGateway, "--initiate", "--child", CustomerChild, "--timeout", "10")
			}()
		}
		var drop bool
		_ = l.withState(func(st *state) error {
			if !st.conf().faults[FaultPeriodicDrop] || st.NextDrop.IsZero() || time.Now().Before(st.NextDrop) {
				return nil
			}
			drop = true
			for !st.NextDrop.After(time.Now()) {
				st.NextDrop = st.NextDrop.Add(st.DropPeriod)
			}
			return nil
		})
		if drop {
			l.opts.Logf("lab %s: periodic drop: the cloud ends its CHILD_SA", l.Name)
			dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			_, _ = l.swanctl(dctx, CloudGateway, "--terminate", "--child", CloudChild, "--timeout", "5")
			cancel()
		}
	}
}

// trapped reports whether the customer's child is installed as a trap
// (start_action or close_action = trap) under the faults applied now.
func (l *Lab) trapped() bool {
	var trap bool
	_ = l.withState(func(st *state) error {
		f := st.conf().faults
		trap = (f[FaultCustomerNeverInitiates] || f[FaultPeriodicDrop]) && !f[FaultIdleClose]
		return nil
	})
	return trap
}

// scanFrom reads path from offset and reports whether a line contains
// needle; it returns the new offset (reset when the file shrank).
func scanFrom(path string, offset int64, needle string) (int64, bool) {
	f, err := os.Open(path)
	if err != nil {
		return offset, false
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() < offset {
		offset = 0
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return offset, false
	}
	found := false
	r := bufio.NewReader(f)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			// An incomplete last line is read again next time.
			return offset, found
		}
		offset += int64(len(line))
		if strings.Contains(line, needle) {
			found = true
		}
	}
}
