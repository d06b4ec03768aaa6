package probes

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/vpndiag/vpndiag"
)

// IKE outcomes, besides ok (an IKE_SA_INIT response with SA, KE and
// Nonce), timeout (nothing answered), refused (ICMP port unreachable) and
// unreachable.
const (
	// OutcomeNoProposal: the responder answered NO_PROPOSAL_CHOSEN; it is
	// reachable but accepts none of the proposals offered.
	OutcomeNoProposal vpndiag.Outcome = "no-proposal-chosen"
	// OutcomeInvalidKE: the responder answered INVALID_KE_PAYLOAD; it wants
	// another Diffie-Hellman group (reported as RequestedGroup).
	OutcomeInvalidKE vpndiag.Outcome = "invalid-ke"
	// OutcomeCookie: the responder asked for a COOKIE and did not answer the
	// request that carried it.
	OutcomeCookie vpndiag.Outcome = "cookie"
	// OutcomeNotify: the responder answered with another error notify.
	OutcomeNotify vpndiag.Outcome = "notify"
	// OutcomeNotIKE: something answered, but not with an IKEv2 response
	// to our request.
	OutcomeNotIKE vpndiag.Outcome = "not-ike"
)

// IKERequest is the typed request of the ike probe.
type IKERequest struct {
	// Host is the VPN endpoint's address or name.
	Host string
	// Port is the IKE port (500) and NATTPort the NAT-T port (4500), where
	// messages carry the 4-byte non-ESP marker.
	Port, NATTPort int
	// Mode is "both", "ike" (Port only) or "natt" (NATTPort only).
	Mode string
	// Proposals are offered in the SA payload.
	Proposals []IKEProposal
	// Group is the Diffie-Hellman group of the KE payload.
	Group uint16
	// Retransmit is the first retransmission interval; it doubles.
	Retransmit time.Duration
}

// ParseIKERequest validates req as an ike probe request.
func ParseIKERequest(req *vpndiag.ProbeRequest) (*IKERequest, error) {
	p := newParams(req)
	r := &IKERequest{
		Port:       p.integer("port", 500, 1, 65535),
		NATTPort:   p.integer("natt_port", 4500, 1, 65535),
		Mode:       strings.ToLower(p.str("mode", "both")),
		Retransmit: p.duration("retransmit", time.Second, 100*time.Millisecond, 30*time.Second),
	}
	if r.Mode != "both" && r.Mode != "ike" && r.Mode != "natt" {
		p.fail("The ike probe's mode must be both, ike or natt, not %q.", r.Mode)
	}
	props := DefaultIKEProposals
	if s, ok := p.get("proposals"); ok {
		props = strings.Split(s, ",")
	}
	if len(props) > 8 {
		p.fail("The ike probe offers at most 8 proposals (got %d).", len(props))
		props = nil
	}
	for _, s := range props {
		prop, err := ParseIKEProposal(s)
		if err != nil {
			p.fail("The ike probe's proposal %q is not valid: %v.", strings.TrimSpace(s), err)
			break
		}
		r.Proposals = append(r.Proposals, prop)
	}
	r.Group = firstDH(r.Proposals)
	if s, ok := p.get("dh"); ok {
		a, known := ikeAlgorithms[strings.ToLower(s)]
		if !known || a.typ != ikeTransformDH {
			p.fail("The ike probe's dh must be a Diffie-Hellman group such as modp2048 or ecp256, not %q.", s)
		} else if !offersGroup(r.Proposals, a.id) {
			p.fail("The ike probe's dh group %s is not in its proposals.", s)
		} else {
			r.Group = a.id
		}
	}
	if err := p.done(); err != nil {
		return nil, err
	}
	var err error
	if r.Host, err = checkHost(req.Kind, "a VPN endpoint", req.Target); err != nil {
		return nil, err
	}
	return r, nil
}

func offersGroup(props []IKEProposal, group uint16) bool {
	for _, p := range props {
		for _, t := range p.Transforms {
			if t.Type == ikeTransformDH && t.ID == group {
				return true
			}
		}
	}
	return false
}

// IKEAttempt is what one port answered.
type IKEAttempt struct {
	// Port is the UDP port; NATT is true when the non-ESP marker was used.
	Port int  `json:"port"`
	NATT bool `json:"natt"`
	// Outcome is this port's verdict.
	Outcome vpndiag.Outcome `json:"outcome"`
	// Answered is true when an IKEv2 response to our request came back.
	Answered bool `json:"answered"`
	// Sent counts transmissions (first send and retransmissions).
	Sent int `json:"sent"`
	// RTT is the time from the last send before the answer to the answer.
	RTT time.Duration `json:"rtt_ns,omitempty"`
	// Cookie is true when the responder asked for a COOKIE and the request
	// was sent again with it.
	Cookie bool `json:"cookie,omitempty"`
	// Notifies are the response's Notify payloads.
	Notifies []IKENotify `json:"notifies,omitempty"`
	// Chosen is the proposal the responder chose, strongSwan-style.
	Chosen string `json:"chosen,omitempty"`
	// DHGroup is the group of the responder's KE payload.
	DHGroup uint16 `json:"dh_group,omitempty"`
	// RequestedGroup is the group asked for by INVALID_KE_PAYLOAD.
	RequestedGroup uint16 `json:"requested_group,omitempty"`
	// ResponderSPI is the responder's SPI, hex.
	ResponderSPI string `json:"responder_spi,omitempty"`
	// VendorIDs are the responder's Vendor ID payloads, hex.
	VendorIDs []string `json:"vendor_ids,omitempty"`
	// Error says why nothing usable came back.
	Error string `json:"error,omitempty"`
}

// IKEResult is the detail of an ike probe.
type IKEResult struct {
	// Address is the endpoint's IP address.
	Address string `json:"address"`
	// Proposals are the proposals offered, strongSwan-style.
	Proposals []string `json:"proposals"`
	// DHGroup is the group of the KE payload sent.
	DHGroup uint16 `json:"dh_group"`
	// Attempts are the ports tried, IKE port first.
	Attempts []IKEAttempt `json:"attempts"`
}

// ProbeIKE is the ike probe: see the package documentation for its Params.
// It sends IKE_SA_INIT requests only; it never sends IKE_AUTH, so it cannot
// complete a handshake and needs no pre-shared key.
func ProbeIKE(ctx context.Context, req *vpndiag.ProbeRequest) *vpndiag.ProbeResult {
	return ikeDescriptor.probe(ctx, req)
}

// runIKE runs the ike probe whose parameters r were parsed from req.
func runIKE(ctx context.Context, req *vpndiag.ProbeRequest, r *IKERequest) *vpndiag.ProbeResult {
	started := time.Now()
	res := newResult(req)
	addr, err := resolve(ctx, r.Host)
	if err != nil {
		return failed(res, started, err)
	}
	d := &IKEResult{Address: addr.String(), DHGroup: r.Group}
	for _, p := range r.Proposals {
		d.Proposals = append(d.Proposals, p.String())
	}
	type port struct {
		n    int
		natt bool
	}
	var ports []port
	if r.Mode != "natt" {
		ports = append(ports, port{r.Port, false})
	}
	if r.Mode != "ike" {
		ports = append(ports, port{r.NATTPort, true})
	}
	d.Attempts = make([]IKEAttempt, len(ports))
	var wg sync.WaitGroup
	for i, p := range ports {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.Attempts[i] = ikeAttempt(ctx, netip.AddrPortFrom(addr, uint16(p.n)), p.natt, r)
		}()
	}
	wg.Wait()

	outcome := d.Attempts[0].Outcome
	for _, a := range d.Attempts {
		if a.Answered || a.Outcome == OutcomeNotIKE {
			outcome = a.Outcome
			break
		}
	}
	var parts []string
	for _, a := range d.Attempts {
		parts = append(parts, fmt.Sprintf("UDP %d: %s", a.Port, ikeAttemptSummary(a)))
	}
	return finish(res, started, outcome, fmt.Sprintf("IKE %s: %s", d.Address, strings.Join(parts, "; ")), d)
}

func ikeAttemptSummary(a IKEAttempt) string {
	rtt := ""
	if a.RTT > 0 {
		rtt = ", " + ms(a.RTT)
	}
	switch a.Outcome {
	case vpndiag.OutcomeOK:
		return fmt.Sprintf("IKE_SA_INIT response, %s chosen%s", a.Chosen, rtt)
	case OutcomeNoProposal:
		return "NO_PROPOSAL_CHOSEN" + rtt
	case OutcomeInvalidKE:
		return fmt.Sprintf("INVALID_KE_PAYLOAD, wants DH group %d%s", a.RequestedGroup, rtt)
	case OutcomeCookie:
		return "COOKIE requested, no answer to the request with the cookie"
	case OutcomeNotify:
		var names []string
		for _, n := range a.Notifies {
			names = append(names, n.Name)
		}
		return strings.Join(names, ", ") + rtt
	case vpndiag.OutcomeTimeout:
		return fmt.Sprintf("no answer to %d requests", a.Sent)
	}
	return a.Error
}

// ikeAttempt sends IKE_SA_INIT to remote, retransmitting with a doubling
// interval, and reads until an IKEv2 response to it arrives or ctx ends.
func ikeAttempt(ctx context.Context, remote netip.AddrPort, natt bool, r *IKERequest) IKEAttempt {
	a := IKEAttempt{Port: int(remote.Port()), NATT: natt}
	var d net.Dialer
	c, err := d.DialContext(ctx, "udp", remote.String())
	if err != nil {
		a.Outcome, a.Error = classifyNetErr(ctx, err)
		return a
	}
	conn := c.(*net.UDPConn)
	defer conn.Close()
	local := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	msg := &ikeSAInit{proposals: r.Proposals, group: r.Group, local: local, remote: remote}
	rand.Read(msg.spi[:])

	// Close the socket when ctx ends so that a blocked read returns.
	stop := context.AfterFunc(ctx, func() { conn.SetReadDeadline(time.Now()) })
	defer stop()

	buf := make([]byte, 65535)
	for cookieRounds := 0; ; cookieRounds++ {
		pkt, err := msg.marshal()
		if err != nil {
			a.Outcome, a.Error = vpndiag.OutcomeError, "cannot build the request"
			return a
		}
		if natt {
			pkt = append([]byte{0, 0, 0, 0}, pkt...)
		}
		resp, rtt, err := ikeExchange(ctx, conn, pkt, msg.spi, natt, r.Retransmit, &a, buf)
		if err != nil {
			if errors.Is(err, errNotIKE) {
				a.Outcome, a.Error = OutcomeNotIKE, "an answer that is not an IKEv2 response to the request"
				return a
			}
			a.Outcome, a.Error = classifyNetErr(ctx, err)
			if a.Outcome == vpndiag.OutcomeTimeout && a.Cookie {
				a.Outcome = OutcomeCookie
			}
			return a
		}
		a.RTT = rtt
		a.ResponderSPI = hex.EncodeToString(resp.SPIr[:])
		a.Notifies = resp.Notifies
		for _, v := range resp.VendorIDs {
			a.VendorIDs = append(a.VendorIDs, hex.EncodeToString(v))
		}
		if cookie := findNotify(resp, NotifyCookie); cookie != nil && cookieRounds == 0 {
			a.Cookie = true
			msg.cookie = cookie.Data
			continue
		}
		a.Answered = true
		classifyIKEResponse(resp, &a)
		return a
	}
}

var errNotIKE = errors.New("ike: answer is not an IKEv2 response")

// ikeExchange sends pkt and retransmits it until a response with our SPI
// arrives. Unrelated datagrams are skipped; when only such arrived by the
// deadline, it returns errNotIKE.
func ikeExchange(ctx context.Context, conn *net.UDPConn, pkt []byte, spi [8]byte, natt bool, rto time.Duration, a *IKEAttempt, buf []byte) (*IKEMessage, time.Duration, error) {
	junk := false
	for {
		sent := time.Now() // before the write: a descheduled goroutine must not shorten the RTT
		if _, err := conn.Write(pkt); err != nil {
			return nil, 0, err
		}
		a.Sent++
		next := sent.Add(rto)
		if dl, ok := ctx.Deadline(); ok && dl.Before(next) {
			next = dl
		}
		conn.SetReadDeadline(next)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				dl, hasDL := ctx.Deadline()
				if ctx.Err() != nil || (hasDL && !time.Now().Before(dl)) {
					if junk {
						return nil, 0, errNotIKE
					}
					if ctx.Err() != nil {
						return nil, 0, ctx.Err()
					}
					return nil, 0, context.DeadlineExceeded
				}
				if errors.Is(err, os.ErrDeadlineExceeded) {
					break // retransmit
				}
				return nil, 0, err
			}
			rtt := time.Since(sent)
			b := buf[:n]
			if natt {
				if len(b) < 4 || binary.BigEndian.Uint32(b[:4]) != 0 {
					junk = true
					continue
				}
				b = b[4:]
			}
			m, err := ParseIKEMessage(b)
			if err != nil || m.SPIi != spi || m.Flags&ikeFlagResponse == 0 || m.Exchange != ikeExchangeSAInit {
				junk = true
				continue
			}
			return m, rtt, nil
		}
		rto *= 2
	}
}

func findNotify(m *IKEMessage, t uint16) *IKENotify {
	for i := range m.Notifies {
		if m.Notifies[i].Type == t {
			return &m.Notifies[i]
		}
	}
	return nil
}

// classifyIKEResponse sets a's outcome from an IKE_SA_INIT response.
func classifyIKEResponse(m *IKEMessage, a *IKEAttempt) {
	if n := findNotify(m, NotifyNoProposalChosen); n != nil {
		a.Outcome = OutcomeNoProposal
		return
	}
	if n := findNotify(m, NotifyInvalidKEPayload); n != nil {
		a.Outcome = OutcomeInvalidKE
		if len(n.Data) >= 2 {
			a.RequestedGroup = binary.BigEndian.Uint16(n.Data[:2])
		}
		return
	}
	if findNotify(m, NotifyCookie) != nil {
		a.Outcome = OutcomeCookie
		return
	}
	if len(m.Proposals) > 0 && m.DHGroup != 0 && len(m.Nonce) > 0 {
		a.Outcome = vpndiag.OutcomeOK
		a.Chosen = m.Proposals[0].String()
		a.DHGroup = m.DHGroup
		return
	}
	if len(m.Notifies) > 0 {
		a.Outcome = OutcomeNotify
		return
	}
	a.Outcome, a.Error = OutcomeNotIKE, "an IKE_SA_INIT response without SA, KE and Nonce or a notify"
}

// ikeDescriptor describes the ike probe.
var ikeDescriptor = describe(Descriptor{
	Kind:    vpndiag.ProbeIKE,
	Summary: "sends an IKE_SA_INIT to UDP 500 and 4500 and reports what the VPN endpoint answers",
	Target:  "HOST",
	Params: []Param{
		{Key: "port", Usage: "IKE port (default 500)"},
		{Key: "natt_port", Usage: "NAT-T port, with the non-ESP marker (default 4500)"},
		{Key: "mode", Usage: "both, ike (port only) or natt (natt-port only) (default both)"},
		{Key: "proposals", Usage: "comma-separated proposals such as aes256-sha256-modp2048"},
		{Key: "dh", Usage: "DH group of the KE payload, one of the proposals' (default the first)"},
		{Key: "retransmit", Usage: "first retransmission interval, doubling (default 1s)"},
	},
	Targets: Targets{Target: true},
}, ParseIKERequest, func(*IKERequest) time.Duration { return 8 * time.Second }, runIKE)
