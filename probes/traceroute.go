package probes

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/vpndiag/vpndiag"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
)

// OutcomeIncomplete (traceroute): some hops answered but the target was not
// reached before max_hops or the silent-hop limit.
const OutcomeIncomplete vpndiag.Outcome = "incomplete"

// Traceroute limits.
const (
	MaxTracerouteHops = 64
	// tracerouteSilentLimit ends a trace after this many hops in a row
	// answered nothing (a firewall dropping everything past it).
	tracerouteSilentLimit = 5
	// traceroutePort is the first UDP destination port, as classic
	// traceroute's 33434; each probe uses the next.
	traceroutePort = 33434
)

// TracerouteRequest is the typed request of the traceroute probe.
type TracerouteRequest struct {
	// Host is the IPv4 address or name to trace to.
	Host string
	// Method is "icmp" (echo requests, as Windows tracert) or "udp" (to
	// ports from 33434, as Unix traceroute).
	Method string
	// MaxHops is the largest TTL tried.
	MaxHops int
	// FirstHop is the first TTL tried.
	FirstHop int
	// Queries is the number of probes per hop.
	Queries int
	// Wait is how long to wait for a hop's answers.
	Wait time.Duration
	// Path, when CustomerCIDRs or Edge are given, interprets the trace.
	Path *PathContext
}

// ParseTracerouteRequest validates req as a traceroute probe request.
func ParseTracerouteRequest(req *vpndiag.ProbeRequest) (*TracerouteRequest, error) {
	p := newParams(req)
	r := &TracerouteRequest{
		Method:   strings.ToLower(p.str("method", "icmp")),
		MaxHops:  p.integer("max_hops", 30, 1, MaxTracerouteHops),
		FirstHop: p.integer("first_hop", 1, 1, MaxTracerouteHops),
		Queries:  p.integer("queries", 3, 1, 10),
		Wait:     p.duration("wait", time.Second, 10*time.Millisecond, 10*time.Second),
	}
	if r.Method != "icmp" && r.Method != "udp" {
		p.fail("The traceroute probe's method must be icmp or udp, not %q.", r.Method)
	}
	if r.FirstHop > r.MaxHops {
		p.fail("The traceroute probe's first_hop (%d) is past its max_hops (%d).", r.FirstHop, r.MaxHops)
	}
	pc := &PathContext{}
	if s, ok := p.get("customer_cidrs"); ok {
		for _, f := range strings.Split(s, ",") {
			pfx, err := netip.ParsePrefix(strings.TrimSpace(f))
			if err != nil {
				p.fail("The traceroute probe's customer_cidrs must be CIDRs such as 10.0.0.0/16; %q is not one.", strings.TrimSpace(f))
				break
			}
			pc.CustomerCIDRs = append(pc.CustomerCIDRs, pfx.Masked())
		}
	}
	if s, ok := p.get("edge"); ok {
		a, err := netip.ParseAddr(s)
		if err != nil {
			p.fail("The traceroute probe's edge must be an IP address, not %q.", s)
		}
		pc.Edge = a.Unmap()
	}
	if err := p.done(); err != nil {
		return nil, err
	}
	var err error
	if r.Host, err = checkHost(req.Kind, "a host to trace to", req.Target); err != nil {
		return nil, err
	}
	if a, err := netip.ParseAddr(r.Host); err == nil && !a.Unmap().Is4() {
		return nil, vpndiag.Errorf(vpndiag.EINVALID, "The traceroute probe traces to IPv4 addresses only; %s is IPv6.", r.Host)
	}
	if len(pc.CustomerCIDRs) > 0 || pc.Edge.IsValid() {
		r.Path = pc
	}
	return r, nil
}

// HopProbe is one probe's answer at a hop.
type HopProbe struct {
	// Address answered; empty when nothing did.
	Address string `json:"address,omitempty"`
	// RTT is the round trip; zero when nothing answered.
	RTT time.Duration `json:"rtt_ns,omitempty"`
	// Note marks special answers: "!H", "!N", "!P", "!X" (host, network,
	// protocol unreachable, administratively prohibited), "!F" (fragmentation
	// needed).
	Note string `json:"note,omitempty"`
}

// Hop is one TTL of a trace.
type Hop struct {
	// TTL is the hop number.
	TTL int `json:"ttl"`
	// Address is the first address that answered at this TTL, if any.
	Address string `json:"address,omitempty"`
	// Probes are each probe's answer, in sending order.
	Probes []HopProbe `json:"probes"`
	// Reached is true when the target itself answered at this hop.
	Reached bool `json:"reached,omitempty"`
}

// TracerouteResult is the detail of a traceroute probe.
type TracerouteResult struct {
	// Address is the IPv4 address traced to.
	Address string `json:"address"`
	// Method is "icmp" or "udp".
	Method string `json:"method"`
	// Hops are the TTLs tried, in order.
	Hops []Hop `json:"hops"`
	// Reached is true when the target answered.
	Reached bool `json:"reached"`
	// LastAnswered is the address of the last hop that answered.
	LastAnswered string `json:"last_answered,omitempty"`
	// Path interprets the trace, when the request gave customer CIDRs or the
	// edge address.
	Path *PathInterpretation `json:"path,omitempty"`
}

// errTracerouteNotPermitted names the remedy for a missing CAP_NET_RAW.
func errTracerouteNotPermitted(err error) error {
	return fmt.Errorf("traceroute: %w: %w", err, vpndiag.Errorf(vpndiag.EFORBIDDEN,
		"Traceroute needs CAP_NET_RAW to receive the routers' ICMP time-exceeded messages: run it as root or grant the capability (setcap cap_net_raw+ep on the binary)."))
}

// ProbeTraceroute is the traceroute probe: see the package documentation
// for its Params.
func ProbeTraceroute(ctx context.Context, req *vpndiag.ProbeRequest) *vpndiag.ProbeResult {
	return tracerouteDescriptor.probe(ctx, req)
}

// runTraceroute runs the traceroute probe whose parameters r were parsed from req.
func runTraceroute(ctx context.Context, req *vpndiag.ProbeRequest, r *TracerouteRequest) *vpndiag.ProbeResult {
	started := time.Now()
	res := newResult(req)
	addr, err := resolve(ctx, r.Host)
	if err != nil {
		return unresolved(res, started, err)
	}
	if !addr.Is4() {
		return failed(res, started, vpndiag.Errorf(vpndiag.EINVALID, "The traceroute probe traces to IPv4 addresses only; %s resolves to %s.", r.Host, addr))
	}
	d, err := traceroute(ctx, addr, r)
	if err != nil {
		return failed(res, started, err)
	}
	if r.Path != nil {
		pc := *r.Path
		pc.Target = addr
		interp := InterpretPath(d, pc)
		d.Path = &interp
	}
	outcome, summary := tracerouteVerdict(ctx, d)
	if d.Path != nil && (outcome == OutcomeIncomplete || outcome == vpndiag.OutcomeTimeout) && d.Path.Verdict != PathReachedTarget {
		// Where the trace stopped, classified with the customer's ranges
		// and edge, is the outcome: a flow never asks where it stopped.
		outcome = vpndiag.Outcome("path-" + string(d.Path.Verdict))
	}
	return finish(res, started, outcome, summary, d)
}

func tracerouteVerdict(ctx context.Context, d *TracerouteResult) (vpndiag.Outcome, string) {
	var path []string
	for _, h := range d.Hops {
		if h.Address == "" {
			path = append(path, "*")
			continue
		}
		rtt := time.Duration(0)
		for _, p := range h.Probes {
			if p.RTT > 0 {
				rtt = p.RTT
				break
			}
		}
		path = append(path, fmt.Sprintf("%s (%s)", h.Address, ms(rtt)))
	}
	hops := strings.Join(path, " → ")
	interp := ""
	if d.Path != nil {
		interp = "; " + d.Path.Explanation
	}
	var note string
	if n := len(d.Hops); n > 0 {
		for _, p := range d.Hops[n-1].Probes {
			if p.Note != "" {
				note = p.Note
			}
		}
	}
	switch {
	case d.Reached:
		return vpndiag.OutcomeOK, fmt.Sprintf("reached %s in %d hops: %s%s", d.Address, len(d.Hops), hops, interp)
	case note != "" && note != "!F":
		return vpndiag.OutcomeUnreachable, fmt.Sprintf("%s unreachable (%s from %s): %s%s", d.Address, note, d.LastAnswered, hops, interp)
	case d.LastAnswered == "":
		if ctx.Err() != nil {
			return ctxOutcome(ctx), fmt.Sprintf("no hop answered towards %s before the deadline%s", d.Address, interp)
		}
		return vpndiag.OutcomeTimeout, fmt.Sprintf("no hop answered towards %s%s", d.Address, interp)
	default:
		return OutcomeIncomplete, fmt.Sprintf("%s not reached; last answer from %s: %s%s", d.Address, d.LastAnswered, hops, interp)
	}
}

// tracer sends TTL-limited probes and reads the ICMP answers on a raw
// socket.
type tracer struct {
	dst    netip.Addr
	method string
	icmp   *icmp.PacketConn  // raw ICMP: receives every answer, sends echoes
	udp    *ipv4.PacketConn  // UDP method: sends the probes
	udpRaw net.PacketConn    // underlying UDP socket
	srcUDP int               // our UDP source port, to match answers
	id     int               // our echo identifier
	seq    int               // next probe's sequence number
	sent   map[int]time.Time // sequence → send time, for the current hop
}

// traceroute runs the trace: for each TTL, r.Queries probes sent together,
// answers collected until they are all in or r.Wait passed.
func traceroute(ctx context.Context, dst netip.Addr, r *TracerouteRequest) (*TracerouteResult, error) {
	conn, err := icmp.ListenPacket("ip4:icmp", "0.0.0.0")
	if err != nil {
		if isPermission(err) {
			return nil, errTracerouteNotPermitted(err)
		}
		return nil, fmt.Errorf("traceroute: listen: %w", err)
	}
	defer conn.Close()
	t := &tracer{dst: dst, method: r.Method, icmp: conn, id: os.Getpid() & 0xffff}
	if r.Method == "udp" {
		uc, err := net.ListenPacket("udp4", "0.0.0.0:0")
		if err != nil {
			return nil, fmt.Errorf("traceroute: listen udp: %w", err)
		}
		defer uc.Close()
		t.udpRaw, t.udp = uc, ipv4.NewPacketConn(uc)
		t.srcUDP = uc.LocalAddr().(*net.UDPAddr).Port
	}
	// Distinguish concurrent traces in one process by a random-ish id.
	t.id = (t.id ^ int(time.Now().UnixNano())) & 0xffff

	d := &TracerouteResult{Address: dst.String(), Method: r.Method}
	silent := 0
	for ttl := r.FirstHop; ttl <= r.MaxHops && ctx.Err() == nil; ttl++ {
		hop, err := t.hop(ctx, ttl, r.Queries, r.Wait)
		if err != nil {
			return nil, err
		}
		d.Hops = append(d.Hops, hop)
		if hop.Address != "" {
			d.LastAnswered = hop.Address
			silent = 0
		} else if silent++; silent >= tracerouteSilentLimit {
			break
		}
		if hop.Reached {
			d.Reached = true
			break
		}
		if stop := hopNote(hop); stop != "" && stop != "!F" {
			break
		}
	}
	return d, nil
}

func hopNote(h Hop) string {
	for _, p := range h.Probes {
		if p.Note != "" {
			return p.Note
		}
	}
	return ""
}

// hereFactor and hereMin bound the wait for a hop's remaining answers once
// one has come back (see hop).
const (
	hereFactor = 3
	hereMin    = 20 * time.Millisecond
)

// hop sends the probes of one TTL and collects their answers.
func (t *tracer) hop(ctx context.Context, ttl, queries int, wait time.Duration) (Hop, error) {
	hop := Hop{TTL: ttl, Probes: make([]HopProbe, queries)}
	t.sent = map[int]time.Time{}
	first := t.seq
	for q := 0; q < queries; q++ {
		seq := t.seq
		t.seq++
		sentAt := time.Now()
		if err := t.send(ttl, seq); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) || ctx.Err() != nil {
				return hop, nil
			}
			outcome, why := classifyNetErr(ctx, err)
			if outcome == vpndiag.OutcomeUnreachable {
				hop.Probes[q].Note = "!N"
				return hop, nil
			}
			return hop, fmt.Errorf("traceroute: send: %w: %w", err, vpndiag.Errorf(vpndiag.EUNAVAILABLE, "Traceroute could not send: %s.", why))
		}
		t.sent[seq] = sentAt
	}
	deadline := time.Now().Add(wait)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	buf := make([]byte, 1500)
	for answered := 0; answered < queries; {
		if err := t.icmp.SetReadDeadline(deadline); err != nil {
			return hop, fmt.Errorf("traceroute: %w", err)
		}
		n, peer, err := t.icmp.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				break
			}
			return hop, fmt.Errorf("traceroute: read: %w", err)
		}
		now := time.Now()
		seq, note, reached, ok := t.match(buf[:n])
		if !ok || seq < first || seq >= first+queries {
			continue
		}
		sentAt, pending := t.sent[seq]
		if !pending {
			continue
		}
		delete(t.sent, seq)
		answered++
		from := ""
		if ipa, ok := peer.(*net.IPAddr); ok {
			if a, ok := netip.AddrFromSlice(ipa.IP); ok {
				from = a.Unmap().String()
			}
		}
		rtt := now.Sub(sentAt)
		hop.Probes[seq-first] = HopProbe{Address: from, RTT: rtt, Note: note}
		// Once a hop has answered, its other probes are not waited for the
		// whole Wait: like traceroute(8)'s -w HERE factor, three times this
		// answer's round trip (at least hereMin) is enough, since routers
		// rate-limit ICMP errors and a lost answer would otherwise cost Wait.
		if here := now.Add(max(hereFactor*rtt, hereMin)); here.Before(deadline) {
			deadline = here
		}
		if hop.Address == "" {
			hop.Address = from
		}
		if reached {
			hop.Reached = true
		}
	}
	return hop, nil
}

// send sends probe seq with the given TTL.
func (t *tracer) send(ttl, seq int) error {
	dst := t.dst.AsSlice()
	if t.method == "udp" {
		if err := t.udp.SetTTL(ttl); err != nil {
			return err
		}
		payload := make([]byte, 32)
		_, err := t.udpRaw.WriteTo(payload, &net.UDPAddr{IP: dst, Port: traceroutePort + seq})
		return err
	}
	if err := t.icmp.IPv4PacketConn().SetTTL(ttl); err != nil {
		return err
	}
	msg := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: t.id, Seq: seq, Data: make([]byte, 32)}}
	b, err := msg.Marshal(nil)
	if err != nil {
		return err
	}
	_, err = t.icmp.WriteTo(b, &net.IPAddr{IP: dst})
	return err
}

// match reads an ICMP message and tells whether it answers one of our
// probes: its sequence, a note for unreachables, and whether the target
// itself answered.
func (t *tracer) match(b []byte) (seq int, note string, reached, ok bool) {
	m, err := icmp.ParseMessage(1, b)
	if err != nil {
		return 0, "", false, false
	}
	switch body := m.Body.(type) {
	case *icmp.Echo:
		if m.Type != ipv4.ICMPTypeEchoReply || t.method != "icmp" || body.ID != t.id {
			return 0, "", false, false
		}
		return body.Seq, "", true, true
	case *icmp.TimeExceeded:
		seq, ok := t.matchQuoted(body.Data)
		return seq, "", false, ok
	case *icmp.DstUnreach:
		seq, ok := t.matchQuoted(body.Data)
		if !ok {
			return 0, "", false, false
		}
		switch m.Code {
		case 3: // port unreachable: the UDP probe reached the target
			return seq, "", t.method == "udp", true
		case 0:
			return seq, "!N", false, true
		case 1:
			return seq, "!H", false, true
		case 2:
			return seq, "!P", false, true
		case 4:
			return seq, "!F", false, true
		default:
			return seq, "!X", false, true
		}
	}
	return 0, "", false, false
}

// matchQuoted finds our probe in the original datagram an ICMP error
// quotes: its IPv4 header and at least 8 bytes of payload.
func (t *tracer) matchQuoted(data []byte) (int, bool) {
	if len(data) < 20 || data[0]>>4 != 4 {
		return 0, false
	}
	ihl := int(data[0]&0x0f) * 4
	if ihl < 20 || len(data) < ihl+8 {
		return 0, false
	}
	if dst, _ := netip.AddrFromSlice(data[16:20]); dst != t.dst {
		return 0, false
	}
	l4 := data[ihl:]
	switch data[9] {
	case 17: // UDP
		if t.method != "udp" || int(binary.BigEndian.Uint16(l4[0:2])) != t.srcUDP {
			return 0, false
		}
		return int(binary.BigEndian.Uint16(l4[2:4])) - traceroutePort, true
	case 1: // ICMP echo
		if t.method != "icmp" || l4[0] != 8 || int(binary.BigEndian.Uint16(l4[4:6])) != t.id {
			return 0, false
		}
		return int(binary.BigEndian.Uint16(l4[6:8])), true
	}
	return 0, false
}

// PathContext describes the customer's side of a VPN, to interpret a trace.
type PathContext struct {
	// CustomerCIDRs are the customer's internal networks.
	CustomerCIDRs []netip.Prefix
	// Edge is the customer's VPN gateway (its inside address, as it answers
	// traceroute from the inside).
	Edge netip.Addr
	// Target is the address traced to.
	Target netip.Addr
}

// The outcomes of a trace that stopped before its target, when the request
// gave the customer's ranges or edge ("path-" and the PathVerdict).
const (
	OutcomePathNoReply        vpndiag.Outcome = "path-no-reply"
	OutcomePathInsideCustomer vpndiag.Outcome = "path-inside-customer"
	OutcomePathVPNEdge        vpndiag.Outcome = "path-vpn-edge"
	OutcomePathPastTunnel     vpndiag.Outcome = "path-past-tunnel"
)

// PathVerdict says where a trace stopped.
type PathVerdict string

const (
	// PathReachedTarget: the target answered.
	PathReachedTarget PathVerdict = "reached-target"
	// PathNoReply: no hop answered at all.
	PathNoReply PathVerdict = "no-reply"
	// PathInsideCustomer: the last answer came from inside the customer's
	// networks, before the VPN edge: traffic does not reach the gateway
	// (internal routing or firewall).
	PathInsideCustomer PathVerdict = "inside-customer"
	// PathVPNEdge: the last answer came from the VPN edge itself: the
	// gateway does not send the traffic into the tunnel, or the tunnel
	// drops it (down, selectors not matching).
	PathVPNEdge PathVerdict = "vpn-edge"
	// PathPastTunnel: the last answer came from beyond the edge (neither a
	// customer address nor the edge): traffic crosses the tunnel and stops
	// on the far side (security group, cloud routing, target down).
	PathPastTunnel PathVerdict = "past-tunnel"
)

// PathInterpretation is InterpretPath's answer.
type PathInterpretation struct {
	// Verdict is where the trace stopped.
	Verdict PathVerdict `json:"verdict"`
	// LastHop is the last address that answered, and LastTTL its hop.
	LastHop string `json:"last_hop,omitempty"`
	LastTTL int    `json:"last_ttl,omitempty"`
	// Explanation is one sentence for people.
	Explanation string `json:"explanation"`
}

// InterpretPath says whether the last hop that answered is the target,
// inside the customer's network, the VPN edge, or past the tunnel. It is a
// pure function of the trace and pc.
func InterpretPath(d *TracerouteResult, pc PathContext) PathInterpretation {
	var last netip.Addr
	lastTTL := 0
	for _, h := range d.Hops {
		if a, err := netip.ParseAddr(h.Address); err == nil {
			last, lastTTL = a, h.TTL
		}
	}
	in := PathInterpretation{LastTTL: lastTTL}
	if last.IsValid() {
		in.LastHop = last.String()
	}
	inCustomer := func(a netip.Addr) bool {
		for _, p := range pc.CustomerCIDRs {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	switch {
	case d.Reached || (last.IsValid() && last == pc.Target):
		in.Verdict = PathReachedTarget
		in.Explanation = fmt.Sprintf("the target %s answered at hop %d", pc.Target, lastTTL)
	case !last.IsValid():
		in.Verdict = PathNoReply
		in.Explanation = "no hop answered, not even the first router"
	case pc.Edge.IsValid() && last == pc.Edge:
		in.Verdict = PathVPNEdge
		in.Explanation = fmt.Sprintf("the last answer came from the VPN edge %s (hop %d): traffic is not sent through the tunnel or is dropped in it", last, lastTTL)
	case inCustomer(last):
		in.Verdict = PathInsideCustomer
		in.Explanation = fmt.Sprintf("the last answer came from %s (hop %d), inside the customer network before the VPN edge: traffic does not reach the gateway", last, lastTTL)
	default:
		in.Verdict = PathPastTunnel
		in.Explanation = fmt.Sprintf("the last answer came from %s (hop %d), past the VPN edge: traffic crosses the tunnel and stops on the far side", last, lastTTL)
	}
	return in
}

// tracerouteDescriptor describes the traceroute probe.
var tracerouteDescriptor = describe(Descriptor{
	Kind:    vpndiag.ProbeTraceroute,
	Summary: "lists the hops towards a host and says where the path stops",
	Target:  "HOST",
	Params: []Param{
		{Key: "method", Usage: "icmp or udp (default icmp)"},
		{Key: "max_hops", Usage: "largest TTL, 1..64 (default 30)"},
		{Key: "first_hop", Usage: "first TTL (default 1)"},
		{Key: "queries", Usage: "probes per hop, 1..10 (default 3)"},
		{Key: "wait", Usage: "wait for a hop's answers (default 1s)"},
		{Key: "customer_cidrs", Usage: "comma-separated customer networks, to interpret where the trace stops"},
		{Key: "edge", Usage: "the customer VPN gateway's inside address, to interpret where the trace stops"},
	},
	// customer_cidrs and edge only classify the hops: nothing is sent to them.
	Targets: Targets{Target: true},
}, ParseTracerouteRequest, func(r *TracerouteRequest) time.Duration {
	return time.Duration(r.MaxHops-r.FirstHop+1)*r.Wait + time.Second
}, runTraceroute)
