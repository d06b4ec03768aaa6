package lab

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/vpndiag/vpndiag"
)

// Fault names.
const (
	FaultPSKMismatch            = "psk-mismatch"
	FaultUDPBlocked             = "udp-500-4500-blocked"
	FaultESPBlocked             = "esp-blocked"
	FaultPFSMismatch            = "pfs-mismatch"
	FaultTSMismatch             = "ts-mismatch"
	FaultDNSDown                = "dns-down"
	FaultCustomerNeverInitiates = "customer-never-initiates"
	FaultDPDUnanswered          = "dpd-unanswered"
	FaultFrontEndPing           = "frontend-ping"
	FaultNoConditionalForwarder = "no-conditional-forwarder"
	FaultPeriodicDrop           = "periodic-drop"
	FaultIKEProposalMismatch    = "ike-proposal-mismatch"
	FaultPFSDisabled            = "pfs-disabled"
	FaultRangeChanged           = "range-changed"
	FaultIdleClose              = "idle-close"
	FaultHalfOpen               = "half-open"
	FaultWrongPeerAddress       = "wrong-peer-address"
	FaultIDMismatch             = "id-mismatch"
	FaultIKEVersionMismatch     = "ike-version-mismatch"
	FaultCustomerRouteMissing   = "customer-route-missing"
)

// FaultInfo describes a fault.
type FaultInfo struct {
	// Name is what Fault and Clear take.
	Name string
	// Summary says what the fault changes in the lab.
	Summary string
	// Effect says what it does at the network level and what charon logs.
	Effect string
}

// faults is the registry, in the order Faults lists them.
var faults = []FaultInfo{
	{FaultPSKMismatch, "the customer gateway's pre-shared key differs from the cloud's",
		"IKE_AUTH fails: customer logs `received AUTHENTICATION_FAILED notify error`, cloud logs `tried 1 shared key for ... but MAC mismatched`; no tunnel"},
	{FaultUDPBlocked, "the path drops UDP 500 and 4500 both ways",
		"no IKE and no ESP-in-UDP: customer logs `retransmit N of request with message ID 0` and `giving up after 3 retransmits`; no tunnel"},
	{FaultESPBlocked, "the path drops IP protocol 50 and ESP in UDP 4500 (non-zero SPI), IKE passes",
		"the SAs stay ESTABLISHED/INSTALLED but no traffic passes"},
	{FaultPFSMismatch, "the customer's CHILD_SA proposal uses DH group modp3072, the cloud's modp2048",
		"the first CHILD_SA (in IKE_AUTH, no KE) comes up; the forced rekey fails: customer logs `received NO_PROPOSAL_CHOSEN notify`; the lab then ends the old CHILD_SA as its expiry would, and re-creating it fails too: no traffic"},
	{FaultTSMismatch, "the customer proposes a second subnet (192.168.20.0/24) as a second SA pair",
		"the cloud answers TS_UNACCEPTABLE for it (`traffic selectors ... unacceptable`); 192.168.10.0/24 still works, 192.168.20.0/24 does not"},
	{FaultDNSDown, "the cloud DNS server's service is stopped (the host still answers ping)",
		"DNS queries to the cloud DNS server time out or are refused; ping still works"},
	{FaultCustomerNeverInitiates, "the customer gateway brings the tunnel up only on traffic; the cloud ends idle CHILD_SAs",
		"no SA until traffic flows: the first packet is dropped (`could not find an outbound IPsec SA`), the lab initiates, then traffic passes; idle for IdleTimeout, the cloud closes it again"},
	{FaultDPDUnanswered, "the path drops the customer's INFORMATIONAL responses (DPD replies)",
		"the cloud logs `sending DPD request`, retransmits and `giving up after 3 retransmits`, and deletes its SAs; traffic stops"},
	{FaultFrontEndPing, "none: the front-end drops ICMP by design (the baseline)",
		"ping to the front-end gets no answer; TCP 443 and 80 connect"},
	{FaultNoConditionalForwarder, "the customer's internal resolver has no conditional forwarder for the cloud domain",
		"the environment FQDN resolves to its public address (203.0.113.80) instead of the private one"},
	{FaultPeriodicDrop, "the cloud's CHILD_SA ends every DropPeriod (lifetime scaled down to seconds); the customer re-creates it on traffic",
		"the cloud logs `closing CHILD_SA`, the customer `received DELETE for ESP CHILD_SA`; the next packet is lost, then the lab initiates again"},
	{FaultIKEProposalMismatch, "the customer's IKE proposal is aes128-sha1-modp1024, the cloud accepts only aes256-sha256-modp2048",
		"IKE_SA_INIT fails: the customer logs `received NO_PROPOSAL_CHOSEN notify error`, the cloud `received proposals unacceptable`; no tunnel"},
	{FaultPFSDisabled, "the customer's CHILD_SA proposal has no DH group (PFS off), the cloud requires modp2048",
		"the first CHILD_SA (in IKE_AUTH, no KE) comes up; the forced rekey without a KE payload fails: customer logs `received NO_PROPOSAL_CHOSEN notify`; the lab ends the old CHILD_SA as its expiry would, and re-creating it fails too: no traffic"},
	{FaultRangeChanged, "the customer moved its LAN to 192.168.20.0/24 and changed its gateway's selectors; the cloud still has 192.168.10.0/24",
		"IKE_SA established, the only CHILD_SA refused: customer logs `received TS_UNACCEPTABLE notify, no CHILD_SA built`; no traffic from either range"},
	{FaultIdleClose, "the customer gateway closes its CHILD_SA after IdleTimeout without traffic and does not bring it back (no trap, no close action); the cloud is responder only",
		"up while traffic flows; idle for IdleTimeout, the customer logs the inactivity close and the tunnel stays down until someone initiates it"},
	{FaultHalfOpen, "the cloud declared the customer dead (its DPD replies were lost for a while) while the customer, without DPD, keeps its SAs",
		"the cloud logs `giving up after 3 retransmits` and has no SA; the customer still shows ESTABLISHED/INSTALLED, its outbound counters grow and nothing comes back"},
	{FaultWrongPeerAddress, "the customer gateway's peer (`remote_addrs`) is an old cloud VPN endpoint address (203.0.113.11) where nothing answers",
		"no tunnel: the customer logs `initiating IKE_SA customer[N] to 203.0.113.11`, `retransmit N of request with message ID 0`, `giving up after 3 retransmits`; the real endpoint still answers IKE"},
	{FaultIDMismatch, "the customer gateway identifies itself as `vpn.customer.example` (FQDN) while the cloud expects its address 198.51.100.2; the key is right",
		"IKE_AUTH refused: the cloud logs `looking for peer configs matching ...[vpn.customer.example]` and `no matching peer config found`; the customer logs `received AUTHENTICATION_FAILED notify error`, as with a wrong key"},
	{FaultIKEVersionMismatch, "the customer gateway is set to IKEv1 (`version = 1`); the cloud speaks IKEv2 only",
		"no tunnel: main mode is refused, the customer logs `received NO_PROPOSAL_CHOSEN error notify` (or retransmits main mode), the cloud `no IKE config found ... sending NO_PROPOSAL_CHOSEN`"},
	{FaultCustomerRouteMissing, "a policy-routing rule on the customer gateway (ahead of strongSwan's table 220) sends the LAN's traffic for the cloud range out of its Internet interface instead of into the tunnel",
		"the SAs stay ESTABLISHED/INSTALLED and healthy but their counters do not move; pings from the LAN leave unencrypted towards the Internet and get no answer; nothing is logged"},
}

// Faults lists every fault the lab can apply.
func Faults() []FaultInfo { return slices.Clone(faults) }

// LookupFault returns the fault named name.
func LookupFault(name string) (FaultInfo, error) {
	for _, f := range faults {
		if f.Name == name {
			return f, nil
		}
	}
	names := make([]string, len(faults))
	for i, f := range faults {
		names[i] = f.Name
	}
	return FaultInfo{}, vpndiag.Errorf(vpndiag.EINVALID, "Unknown fault %q; the faults are: %s.", name, strings.Join(names, ", "))
}

// Active returns the faults applied now.
func (l *Lab) Active() ([]string, error) {
	st, err := l.loadState()
	if err != nil {
		return nil, err
	}
	return st.Faults, nil
}

// The nftables tables the path faults add to the path router.
const (
	tableUDP = "vpnlab_udp"
	tableESP = "vpnlab_esp"
	tableDPD = "vpnlab_dpd"
)

// Fault applies the named fault and returns when it is in effect. Applying
// an active fault again re-applies it.
func (l *Lab) Fault(ctx context.Context, name string) error {
	if _, err := LookupFault(name); err != nil {
		return err
	}
	var st *state
	err := l.withState(func(s *state) error {
		if !slices.Contains(s.Faults, name) {
			s.Faults = append(s.Faults, name)
		}
		if name == FaultPeriodicDrop {
			s.NextDrop = time.Now().Add(s.DropPeriod)
		}
		st = s
		return nil
	})
	if err != nil {
		return fmt.Errorf("fault %s: %w", name, err)
	}
	if err := l.apply(ctx, name, st); err != nil {
		return fmt.Errorf("fault %s: %w", name, err)
	}
	l.opts.Logf("lab %s: fault %s applied", l.Name, name)
	return nil
}

// Clear removes the named fault and returns when the lab is back to its
// baseline: the tunnel up and carrying traffic. Clearing an inactive fault
// also restores the baseline.
func (l *Lab) Clear(ctx context.Context, name string) error {
	if _, err := LookupFault(name); err != nil {
		return err
	}
	var st *state
	err := l.withState(func(s *state) error {
		s.Faults = slices.DeleteFunc(s.Faults, func(f string) bool { return f == name })
		if name == FaultPeriodicDrop {
			s.NextDrop = time.Time{}
		}
		st = s
		return nil
	})
	if err != nil {
		return fmt.Errorf("clear %s: %w", name, err)
	}
	if err := l.undo(ctx, name, st); err != nil {
		return fmt.Errorf("clear %s: %w", name, err)
	}
	if err := l.restore(ctx, st); err != nil {
		return fmt.Errorf("clear %s: %w", name, err)
	}
	l.opts.Logf("lab %s: fault %s cleared", l.Name, name)
	return nil
}

// reconfigure writes and loads every configuration for st, then
// reconnects the gateways and waits for the customer's first attempt.
func (l *Lab) reconfigure(ctx context.Context, st *state) error {
	if err := l.writeConfigs(st); err != nil {
		return err
	}
	if err := l.loadGateways(ctx); err != nil {
		return err
	}
	l.reconnect(ctx, st, true)
	return nil
}

// reconfigureResolver writes every configuration for st and restarts the
// customer's resolver, with or without its conditional forwarder.
func (l *Lab) reconfigureResolver(ctx context.Context, st *state) error {
	if err := l.writeConfigs(st); err != nil {
		return err
	}
	return l.startResolver(ctx)
}

func (l *Lab) apply(ctx context.Context, name string, st *state) error {
	switch name {
	case FaultPSKMismatch, FaultTSMismatch, FaultIKEProposalMismatch, FaultRangeChanged, FaultIdleClose,
		FaultCustomerNeverInitiates, FaultPeriodicDrop, FaultWrongPeerAddress, FaultIDMismatch, FaultIKEVersionMismatch:
		return l.reconfigure(ctx, st)
	case FaultPFSMismatch, FaultPFSDisabled:
		if err := l.reconfigure(ctx, st); err != nil {
			return err
		}
		// The mismatch shows at the first rekey (CREATE_CHILD_SA carries a KE
		// payload, IKE_AUTH does not).
		off := fileSize(l.CharonLog(CustomerGateway))
		_, _ = l.swanctl(ctx, CustomerGateway, "--rekey", "--child", CustomerChild)
		if err := waitLog(ctx, l.CharonLog(CustomerGateway), off, "NO_PROPOSAL_CHOSEN", 10*time.Second); err != nil {
			return err
		}
		// The old CHILD_SA would live on until its hard lifetime; end it as
		// that expiry would, and let the customer try to re-create it.
		_, _ = l.swanctl(ctx, CustomerGateway, "--terminate", "--child", CustomerChild, "--timeout", "5")
		_, _ = l.swanctl(ctx, CustomerGateway, "--initiate", "--child", CustomerChild, "--timeout", "10")
	case FaultNoConditionalForwarder:
		return l.reconfigureResolver(ctx, st)
	case FaultDNSDown:
		return l.stopDnsmasq("dns")
	case FaultFrontEndPing:
		// The baseline: the front-end always drops ICMP.
	case FaultUDPBlocked:
		if err := l.nft(ctx, l.NS.Path, fmt.Sprintf(`table inet %s {
	chain forward {
		type filter hook forward priority -10; policy accept;
		udp dport { 500, 4500 } counter drop
		udp sport { 500, 4500 } counter drop
	}
}
`, tableUDP)); err != nil {
			return err
		}
		// Start over, so the customer's log shows IKE getting no answer.
		l.reconnect(ctx, st, false)
	case FaultESPBlocked:
		// libipsec sends ESP only inside UDP 4500: drop that too (a non-zero
		// first word is an SPI; IKE on 4500 starts with four zero bytes).
		return l.nft(ctx, l.NS.Path, fmt.Sprintf(`table inet %s {
	chain forward {
		type filter hook forward priority -10; policy accept;
		ip protocol esp counter drop
		udp dport 4500 @th,64,32 != 0 counter drop
		udp sport 4500 @th,64,32 != 0 counter drop
	}
}
`, tableESP))
	case FaultDPDUnanswered:
		return l.dropDPDReplies(ctx)
	case FaultCustomerRouteMissing:
		_, err := inNS(ctx, l.NS.CustomerGW, bypassRule("add")...)
		return err
	case FaultHalfOpen:
		// The cloud declares the customer dead while its DPD replies are
		// lost; then the path heals, but the customer (no DPD of its own)
		// never learns that its peer has forgotten the SAs.
		if err := l.dropDPDReplies(ctx); err != nil {
			return err
		}
		wait := 4*st.DPDDelay + 30*time.Second
		err := waitFor(ctx, wait, func() bool {
			s, err := l.SAs(ctx, CloudGateway)
			return err == nil && s.IKECount == 0
		})
		if derr := l.nftDelete(ctx, l.NS.Path, tableDPD); derr != nil && err == nil {
			err = derr
		}
		if err != nil {
			return fmt.Errorf("the cloud did not declare the customer dead within %v", wait)
		}
	}
	return nil
}

// bypassPriority is the customer-route-missing rule's priority: below
// 220, so it is looked up before the routes strongSwan installs in table 220.
const bypassPriority = "100"

// bypassRule is the `ip rule` command (add or del) of the
// customer-route-missing fault: LAN traffic for the cloud range looks up the
// main table, whose default route is the Internet, before the tunnel's
// routes.
func bypassRule(verb string) []string {
	return []string{"ip", "rule", verb, "from", CustomerCIDR.String(), "to", CloudCIDR.String(), "lookup", "main", "priority", bypassPriority}
}

// dropDPDReplies makes the path router drop the customer gateway's
// INFORMATIONAL responses. IKE in UDP 4500: 4 zero bytes, then the IKE
// header, whose exchange type is at byte 18 (37 = INFORMATIONAL) and flags
// at byte 19 (0x20 = response). Offsets are in bits from the UDP header.
func (l *Lab) dropDPDReplies(ctx context.Context) error {
	return l.nft(ctx, l.NS.Path, fmt.Sprintf(`table inet %s {
	chain forward {
		type filter hook forward priority -10; policy accept;
		ip saddr %s udp dport 4500 @th,64,32 0 @th,240,8 37 @th,248,8 & 0x20 == 0x20 counter drop
		ip saddr %s udp dport 500 @th,240,8 37 @th,248,8 & 0x20 == 0x20 counter drop
	}
}
`, tableDPD, CustomerGWAddr, CustomerGWAddr))
}

// waitFor polls cond every 200 ms until it holds or timeout passes.
func waitFor(ctx context.Context, timeout time.Duration, cond func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return nil
}

func (l *Lab) undo(ctx context.Context, name string, st *state) error {
	switch name {
	case FaultPSKMismatch, FaultTSMismatch, FaultPFSMismatch, FaultCustomerNeverInitiates, FaultPeriodicDrop,
		FaultIKEProposalMismatch, FaultPFSDisabled, FaultRangeChanged, FaultIdleClose, FaultHalfOpen,
		FaultWrongPeerAddress, FaultIDMismatch, FaultIKEVersionMismatch:
		return l.reconfigure(ctx, st)
	case FaultNoConditionalForwarder:
		return l.reconfigureResolver(ctx, st)
	case FaultDNSDown:
		return l.startDNS(ctx)
	case FaultUDPBlocked:
		return l.nftDelete(ctx, l.NS.Path, tableUDP)
	case FaultESPBlocked:
		return l.nftDelete(ctx, l.NS.Path, tableESP)
	case FaultDPDUnanswered:
		return l.nftDelete(ctx, l.NS.Path, tableDPD)
	case FaultCustomerRouteMissing:
		if out, err := inNS(ctx, l.NS.CustomerGW, "ip", "rule", "show", "priority", bypassPriority); err == nil && strings.TrimSpace(out) != "" {
			_, err := inNS(ctx, l.NS.CustomerGW, bypassRule("del")...)
			return err
		}
	}
	return nil
}

// restore brings the tunnel back up if the remaining faults allow it.
func (l *Lab) restore(ctx context.Context, st *state) error {
	cs := st.conf()
	for _, f := range []string{FaultPSKMismatch, FaultUDPBlocked, FaultPFSMismatch, FaultDPDUnanswered, FaultESPBlocked,
		FaultIKEProposalMismatch, FaultPFSDisabled, FaultRangeChanged, FaultHalfOpen,
		FaultWrongPeerAddress, FaultIDMismatch, FaultIKEVersionMismatch} {
		if cs.faults[f] {
			return nil // the tunnel cannot come up (or carry traffic) yet
		}
	}
	if cs.faults[FaultCustomerNeverInitiates] || cs.faults[FaultIdleClose] {
		return nil // comes up with traffic, or goes down when idle
	}
	if l.TunnelUp(ctx) {
		if err := l.WaitTunnel(ctx, 5*time.Second); err == nil {
			return nil
		}
	}
	l.reconnect(ctx, st, true)
	return l.WaitTunnel(ctx, 20*time.Second)
}

// waitLog waits until the file at path contains needle after offset.
func waitLog(ctx context.Context, path string, offset int64, needle string, timeout time.Duration) error {
	err := waitFor(ctx, timeout, func() bool {
		_, found := scanFrom(path, offset, needle)
		return found
	})
	if err != nil {
		return fmt.Errorf("%q not logged in %s within %v", needle, path, timeout)
	}
	return nil
}

// fileSize is the size of the file at path, 0 when it does not exist.
func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}
