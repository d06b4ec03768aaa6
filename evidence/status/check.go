package status

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/kb"
)

const source = "evidence/status"

// Check turns a parsed status into findings, and notes on what the output
// could not show (no counters, no traffic yet, one listing only).
// name is the file name the line references point into; site may be nil
// (then selectors are not compared and every peer counts). SAs with peers
// other than the site's cloud VPN endpoints are another tunnel's and left
// alone, unless no SA at all is with those endpoints (see CloudPeerSeen):
// then every SA is checked.
func Check(name string, st *Status, site *vpndiag.Site) (findings []*vpndiag.Finding, notes []string) {
	c := checker{name: name, st: st, site: site, filter: CloudPeerSeen(st, site)}
	c.none()
	c.halfOpen()
	c.noChild()
	c.traffic()
	c.selectors()
	c.multiplePairs()
	return c.out, c.notes
}

type checker struct {
	name   string
	st     *Status
	site   *vpndiag.Site
	filter bool // only SAs with the site's endpoints count
	out    []*vpndiag.Finding
	notes  []string
	seen   map[string]bool
}

// CloudPeerSeen reports whether some SA of st is with one of the site's
// cloud VPN endpoints; false when the site names none.
func CloudPeerSeen(st *Status, site *vpndiag.Site) bool {
	if site == nil || len(site.VPNEndpoints) == 0 {
		return false
	}
	var addrs []string
	for _, ike := range st.IKE {
		addrs = append(addrs, ike.Remote, ike.Local)
	}
	for _, c := range st.Child {
		addrs = append(addrs, c.Peer)
	}
	for _, a := range addrs {
		ip, err := netip.ParseAddr(a)
		if err != nil {
			continue
		}
		for _, e := range site.VPNEndpoints {
			if e == ip.Unmap() {
				return true
			}
		}
	}
	return false
}

func (c *checker) add(code string, sev vpndiag.Severity, article string, line int, text, summary, detail, fix string) *vpndiag.Finding {
	f := &vpndiag.Finding{
		Code: code, Severity: sev, KBArticle: article, Source: source,
		Summary:  fmt.Sprintf("%s line %d: %s", c.name, line, summary),
		Detail:   detail + fmt.Sprintf(" (kb: %s)", article),
		Fix:      fix,
		Evidence: []vpndiag.EvidenceRef{{Name: c.name, Line: line, Text: text}},
	}
	c.out = append(c.out, f)
	return f
}

// addTraffic is add for a counter finding: it points at the counter line
// and also at the line the SA starts at.
func (c *checker) addTraffic(code string, sev vpndiag.Severity, article string, ch *ChildSA, summary, detail, fix string) {
	line, text := ch.Line, ch.Text
	if ch.CounterLine > 0 {
		line, text = ch.CounterLine, ch.CounterText
	}
	f := c.add(code, sev, article, line, text, summary, detail, fix)
	if line != ch.Line {
		f.Evidence = append(f.Evidence, vpndiag.EvidenceRef{Name: c.name, Line: ch.Line, Text: ch.Text})
	}
}

// cloudPeer reports whether addr (as printed) is one of the site's cloud
// VPN endpoints; true when the site names none or addr is not shown.
func (c *checker) cloudPeer(addrs ...string) bool {
	if !c.filter {
		return true
	}
	known := false
	for _, a := range addrs {
		ip, err := netip.ParseAddr(a)
		if err != nil {
			continue
		}
		known = true
		for _, e := range c.site.VPNEndpoints {
			if e == ip.Unmap() {
				return true
			}
		}
	}
	return !known
}

func (c *checker) endpoints() string {
	if c.site == nil || len(c.site.VPNEndpoints) == 0 {
		return "the cloud VPN endpoint"
	}
	var s []string
	for _, e := range c.site.VPNEndpoints {
		s = append(s, e.String())
	}
	return strings.Join(s, " / ")
}

func (c *checker) dnsServers() string {
	if c.site == nil || len(c.site.CloudDNSServers) == 0 {
		return "a cloud DNS server"
	}
	return "a cloud DNS server (" + c.site.CloudDNSServers[0].String() + ")"
}

// none flags an output whose IKE SA listing holds no live SA at all.
func (c *checker) none() {
	if !c.st.IKEListed {
		return
	}
	for _, ike := range c.st.IKE {
		if (ike.Up || ike.Negotiating) && c.cloudPeer(ike.Remote, ike.Local) {
			return
		}
	}
	for _, ch := range c.st.Child {
		if ch.Up && c.cloudPeer(ch.Peer) {
			return
		}
	}
	c.add(kb.CodeSANone, vpndiag.SeverityError, kb.ArticlePhase1, c.st.ListLine, c.st.ListText,
		fmt.Sprintf("no IKE SA and no IPsec SA with %s: the tunnel is down", c.endpoints()),
		"The device has no security association with the cloud at all, so the tunnel is not up with nothing passing: it is not up. The cloud end only answers; the device must start the negotiation, and when it does and fails its IKE log names the reason (pre-shared key, proposal, UDP 500/4500 blocked).",
		fmt.Sprintf("Bring the tunnel up from the device (send traffic from the internal range to %s, or start the connection by hand) and take this output again; if no SA appears, attach the device's IKE log from that moment.", c.dnsServers()))
}

// once reports whether an IKE SA's finding of code is new: an output
// pasted twice lists the same SA twice.
func (c *checker) once(code string, ike *IKESA) bool {
	k := code + "|" + ike.Name + "|" + ike.Remote + "|" + ike.Local + "|" + ike.State
	if c.seen == nil {
		c.seen = map[string]bool{}
	}
	if c.seen[k] {
		return false
	}
	c.seen[k] = true
	return true
}

func (c *checker) halfOpen() {
	for _, ike := range c.st.IKE {
		if !ike.Negotiating || !c.cloudPeer(ike.Remote, ike.Local) || !c.once(kb.CodeSAHalfOpen, ike) {
			continue
		}
		peer := orPeer(ike.Remote)
		c.add(kb.CodeSAHalfOpen, vpndiag.SeverityError, kb.ArticlePhase1, ike.Line, ike.Text,
			fmt.Sprintf("the IKE SA with %s is stuck in %s: phase 1 never completes", peer, ike.State),
			"The device started (or answered) the IKE negotiation but it never reached the established state. Usually the other side's answers do not arrive — UDP 500 and 4500 blocked between the two, or the device talks to the wrong address — or the cloud rejects the proposal or the pre-shared key, which its log shows.",
			fmt.Sprintf("Check that UDP 500 and UDP 4500 pass both ways between the device and %s, that the peer address configured is exactly the cloud's VPN endpoint, and that the phase 1 proposal and pre-shared key are the ones in the VPN configuration file; then clear the SA and watch the IKE log while it renegotiates.", peerOr(ike.Remote, c.endpoints())))
	}
}

func matches(ike *IKESA, ch *ChildSA) bool {
	if ch.IKE != "" && ike.Name != "" && ch.IKE == ike.Name {
		return true
	}
	return ch.Peer != "" && (ch.Peer == ike.Remote || ch.Peer == ike.Local)
}

func (c *checker) noChild() {
	if !c.st.ChildListed {
		return
	}
	for _, ike := range c.st.IKE {
		if !ike.Up || !c.cloudPeer(ike.Remote, ike.Local) {
			continue
		}
		found, unknown := false, false
		for _, ch := range c.st.Child {
			if !ch.Up {
				continue
			}
			if ch.IKE == "" && ch.Peer == "" {
				unknown = true
			}
			if matches(ike, ch) {
				found = true
			}
		}
		if found || unknown || !c.once(kb.CodeSANoChild, ike) {
			continue
		}
		c.add(kb.CodeSANoChild, vpndiag.SeverityError, kb.ArticlePhase2, ike.Line, ike.Text,
			fmt.Sprintf("the IKE SA with %s is up (%s) but no IPsec SA is: phase 2 fails", orPeer(ike.Remote), ike.State),
			"Phase 1 works — the device and the cloud authenticated each other — but no IPsec (child) SA exists, so nothing can pass the tunnel. Phase 2 is refused: a different ESP proposal or PFS group, a lifetime the cloud does not accept, or traffic selectors (local and remote networks) that are not the ones the cloud has for this site.",
			"Compare the phase 2 settings with the VPN configuration file: ESP encryption and integrity, PFS enabled with the same DH group, lifetime 3600 s, and exactly the site's internal ranges as local networks and the cloud's range as remote network; ESP (IP protocol 50) must not be blocked. Then send traffic to the cloud to bring the IPsec SA up and look at the device's IKE log for the reason it is refused.")
	}
}

// Recency thresholds for one listing with last-packet times: a direction
// used within recent seconds is active; one silent for at least silent
// seconds longer than the other is not answering.
const (
	recent = 10
	silent = 5
)

// key identifies one SA across several listings in the same file (a
// customer often runs the command twice, a few seconds apart).
func (ch *ChildSA) key() string {
	if ch.SPIIn != "" && ch.SPIOut != "" {
		return "spi " + ch.SPIIn + "/" + ch.SPIOut
	}
	return ch.IKE + "|" + ch.Name + "|" + ch.Peer + "|" + ch.pair()
}

// traffic judges each up IPsec SA's traffic: between two listings of it
// when the file holds more than one (what grew), else from its totals and,
// where the device prints them, the seconds since its last packet each way.
func (c *checker) traffic() {
	groups := map[string][]*ChildSA{}
	var order []string
	for _, ch := range c.st.Child {
		if !ch.Up || !c.cloudPeer(ch.Peer) {
			continue
		}
		if _, okIn := ch.In(); !okIn {
			c.note("line %d: the IPsec SA's traffic counters are not in this output", ch.Line)
			continue
		}
		k := ch.key()
		if groups[k] == nil {
			order = append(order, k)
		}
		groups[k] = append(groups[k], ch)
	}
	for _, k := range order {
		g := groups[k]
		if len(g) > 1 {
			c.trafficBetween(g[0], g[len(g)-1])
		} else {
			c.trafficOnce(g[0])
		}
	}
}

// trafficBetween compares two listings of the same SA.
func (c *checker) trafficBetween(first, last *ChildSA) {
	in0, _ := first.In()
	out0, _ := first.Out()
	in1, _ := last.In()
	out1, _ := last.Out()
	din, dout := in1-in0, out1-out0
	what := describe(last)
	when := fmt.Sprintf("between the listings at lines %d and %d", first.Line, last.Line)
	switch {
	case din < 0 || dout < 0:
		c.note("line %d: the IPsec SA's counters went down since line %d (the SA was renewed or the counters cleared); take both listings within the same minute", last.Line, first.Line)
	case dout > 0 && din == 0:
		c.noInbound(last, fmt.Sprintf("the IPsec SA %s sent %d more and received nothing %s", what, dout, when))
	case din > 0 && dout == 0:
		c.noOutbound(last, fmt.Sprintf("the IPsec SA %s received %d more and sent nothing back %s", what, din, when))
	case din > 0 && dout > 0:
		c.healthy(last, fmt.Sprintf("the IPsec SA %s carried traffic both ways %s (%d in, %d out)", what, when, din, dout))
	default:
		c.note("line %d: no traffic went through the IPsec SA %s; ping a cloud DNS server from the internal network while taking the listings", last.Line, when)
	}
}

// trafficOnce judges one listing of an SA.
func (c *checker) trafficOnce(ch *ChildSA) {
	in, _ := ch.In()
	out, _ := ch.Out()
	what := describe(ch)
	switch {
	case out > 0 && in == 0:
		c.noInbound(ch, fmt.Sprintf("the IPsec SA %s has sent %d and received nothing back", what, out))
		return
	case in > 0 && out == 0:
		c.noOutbound(ch, fmt.Sprintf("the IPsec SA %s has received %d but sent nothing back", what, in))
		return
	case in == 0 && out == 0:
		c.note("line %d: the IPsec SA has carried no traffic yet; ping a cloud DNS server from the internal network and take the output again", ch.Line)
		return
	}
	// Both totals grew at some point since the SA was set up; whether they
	// still do shows only in the last-packet times.
	if ch.InIdle == nil || ch.OutIdle == nil {
		c.note("line %d: the IPsec SA has carried traffic both ways since it was set up (%d in, %d out), but one listing does not show whether it still does: take it twice, a few seconds apart, while pinging a cloud DNS server", ch.Line, in, out)
		return
	}
	ii, oi := *ch.InIdle, *ch.OutIdle
	switch {
	case oi <= recent && ii >= oi+silent:
		c.noInbound(ch, fmt.Sprintf("the IPsec SA %s last sent %d s ago but has received nothing for %d s", what, oi, ii))
	case ii <= recent && oi >= ii+silent:
		c.noOutbound(ch, fmt.Sprintf("the IPsec SA %s last received %d s ago but has sent nothing for %d s", what, ii, oi))
	case ii <= recent && oi <= recent:
		c.healthy(ch, fmt.Sprintf("the IPsec SA %s is up with traffic both ways (%d in, %d out; last packets %d s and %d s ago)", what, in, out, ii, oi))
	default:
		c.note("line %d: the IPsec SA has carried no traffic for %d s; ping a cloud DNS server from the internal network and take the output again", ch.Line, min(ii, oi))
	}
}

func (c *checker) note(format string, args ...any) {
	c.notes = append(c.notes, fmt.Sprintf(format, args...))
}

func (c *checker) noInbound(ch *ChildSA, summary string) {
	c.addTraffic(kb.CodeSANoInbound, vpndiag.SeverityError, kb.ArticlePingCloudDNS, ch, summary,
		"The tunnel is up and the device encrypts traffic into it, but nothing comes back. Either the ESP packets are dropped on the way (a firewall or NAT device between the device and the cloud), or they reach the cloud and get no answer: the cloud answers only hosts inside the ranges configured for the VPN, and the only cloud hosts that answer ping are its DNS servers.",
		fmt.Sprintf("Ping %s from a host inside the site's configured internal range and take this output again. If nothing comes in still, allow ESP (IP protocol 50) and UDP 4500 from %s on every firewall in front of the device (or enable NAT traversal if a NAT device is in the path); if it does, the earlier test used a source or target the cloud does not answer.", c.dnsServers(), c.endpoints()))
}

func (c *checker) noOutbound(ch *ChildSA, summary string) {
	c.addTraffic(kb.CodeSANoOutbound, vpndiag.SeverityError, kb.ArticleConnectivityTest1, ch, summary,
		"Traffic from the cloud arrives and is decrypted, but the device sends nothing into the tunnel: its replies leave another way. Typical causes are a missing route to the cloud's range through the tunnel, NAT applied to the traffic before encryption (no NAT exemption for the VPN), or a firewall policy on the customer's side that drops it.",
		"Add (or fix) the route to the cloud's internal range through the tunnel, exempt traffic between the internal ranges and the cloud's range from NAT, and allow it in the firewall policy; then ping a cloud DNS server and check that both counters grow.")
}

func (c *checker) healthy(ch *ChildSA, summary string) {
	c.addTraffic(kb.CodeSAHealthy, vpndiag.SeverityInfo, kb.ArticleConnectivityTest2, ch, summary,
		"The tunnel itself passes traffic in both directions. If an application still cannot reach the cloud, the cause is beyond the tunnel: DNS resolution of the environment names, a firewall rule for the cloud's full range, or the route for that particular source.",
		"Test name resolution and TCP 443 to the environment from the failing host, and check that the host's address is inside the internal range configured for the VPN.")
}

func describe(ch *ChildSA) string {
	var s []string
	if ch.Name != "" {
		s = append(s, ch.Name)
	}
	if len(ch.Local) > 0 || len(ch.Remote) > 0 {
		s = append(s, "("+ch.pair()+")")
	}
	if len(s) == 0 && ch.Peer != "" {
		s = append(s, "with "+ch.Peer)
	}
	return strings.Join(s, " ")
}

func peerOr(a, alt string) string {
	if a == "" {
		return alt
	}
	return a
}

func orPeer(a string) string {
	if a == "" {
		return "the peer"
	}
	return a
}

func isAny(p netip.Prefix) bool { return p.Bits() == 0 }

// selectors compares the child SAs' selectors with the site's ranges:
// local must lie within the customer's ranges, remote within the cloud's.
func (c *checker) selectors() {
	if c.site == nil || (!c.site.CloudCIDR.IsValid() && len(c.site.CustomerCIDRs) == 0) {
		return
	}
	for _, ch := range c.st.Child {
		if !c.cloudPeer(ch.Peer) || len(ch.Local)+len(ch.Remote) == 0 {
			continue
		}
		var probs []string
		for _, p := range ch.Remote {
			if isAny(p) || !c.site.CloudCIDR.IsValid() {
				continue
			}
			switch {
			case p == c.site.CloudCIDR:
			case covers(c.site.CloudCIDR, p):
				probs = append(probs, fmt.Sprintf("remote %s is only part of the cloud's range %s", p, c.site.CloudCIDR))
			default:
				probs = append(probs, fmt.Sprintf("remote %s is not the cloud's range %s", p, c.site.CloudCIDR))
			}
		}
		for _, p := range ch.Local {
			if isAny(p) || len(c.site.CustomerCIDRs) == 0 {
				continue
			}
			ok := false
			for _, cc := range c.site.CustomerCIDRs {
				if covers(cc, p) {
					ok = true
				}
			}
			if !ok {
				probs = append(probs, fmt.Sprintf("local %s is not inside the site's internal ranges (%s)", p, prefixList(c.site.CustomerCIDRs)))
			}
		}
		if len(probs) == 0 {
			continue
		}
		c.add(kb.CodeSASelectorsMismatch, vpndiag.SeverityError, kb.ArticleInternalRangeChanged, ch.Line, ch.Text,
			fmt.Sprintf("the IPsec SA %s uses other networks than the site's: %s", describe(ch), strings.Join(probs, "; ")),
			"The traffic selectors say which addresses the tunnel carries. Traffic from or to addresses outside them is not encrypted (it leaves unprotected or is dropped), and the cloud accepts only the internal ranges it knows for this site and answers only for its own range; a part of the cloud's range leaves servers whose addresses move unreachable.",
			fmt.Sprintf("Set the phase 2 local networks to exactly the site's internal ranges (%s) and the remote network to the cloud's full range (%s), as one pair; if your internal range changed, register the new range for the site first.", prefixList(c.site.CustomerCIDRs), c.site.CloudCIDR))
	}
}

// multiplePairs flags more than one distinct selector pair up towards the
// same cloud peer. Two SAs with the same selectors are a rekey overlap.
func (c *checker) multiplePairs() {
	type group struct {
		pairs map[string]bool
		first *ChildSA
		list  []string
	}
	groups := map[string]*group{}
	var order []string
	for _, ch := range c.st.Child {
		if !ch.Up || !c.cloudPeer(ch.Peer) {
			continue
		}
		key := ch.Peer
		if key == "" {
			key = ch.IKE
		}
		g := groups[key]
		if g == nil {
			g = &group{pairs: map[string]bool{}, first: ch}
			groups[key] = g
			order = append(order, key)
		}
		p := ch.pair()
		if len(ch.Local)+len(ch.Remote) == 0 {
			p = "SPI " + ch.SPIIn + "/" + ch.SPIOut
		}
		if !g.pairs[p] {
			g.pairs[p] = true
			g.list = append(g.list, fmt.Sprintf("%s (line %d)", p, ch.Line))
		}
	}
	for _, key := range order {
		g := groups[key]
		if len(g.pairs) <= kb.MaxSAPairs {
			continue
		}
		c.add(kb.CodeSAMultiplePairs, vpndiag.SeverityError, kb.ArticleSingleSAPair, g.first.Line, g.first.Text,
			fmt.Sprintf("%d IPsec SA pairs are up with %s: %s", len(g.pairs), orPeer(key), strings.Join(g.list, "; ")),
			"The cloud supports one inbound/outbound SA pair per VPN connection. With several (one per subnet, or per local/remote network combination), the cloud keeps one and drops or replaces the others, so some networks work and others do not, or the tunnel renegotiates again and again.",
			"Configure one phase 2 selector pair: all internal ranges summarised as the local network (or a single any/any pair on a route-based tunnel) and the cloud's full range as the remote network, then clear the IPsec SAs so only that pair comes up.")
	}
}
