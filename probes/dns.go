package probes

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
	"github.com/vpndiag/vpndiag"
)

// DNS outcomes, besides the common ones (ok, fail, timeout, refused,
// unreachable, error).
const (
	// OutcomeNXDomain: the server says the name does not exist.
	OutcomeNXDomain vpndiag.Outcome = "nxdomain"
	// OutcomeServFail: the server failed to resolve the name (SERVFAIL).
	OutcomeServFail vpndiag.Outcome = "servfail"
	// OutcomeNoData: the name exists but has no record of the asked type.
	OutcomeNoData vpndiag.Outcome = "nodata"

	// OutcomeForwarded (compare mode): the internal resolver returns the
	// private address the cloud DNS server returns; the conditional
	// forwarder works.
	OutcomeForwarded vpndiag.Outcome = "forwarded"
	// OutcomePublicAnswer (compare mode): the internal resolver returns only
	// public addresses where the cloud DNS server returns private ones; the
	// name is resolved on the internet, not forwarded.
	OutcomePublicAnswer vpndiag.Outcome = "public-answer"
	// OutcomeMismatch (compare mode): the internal resolver returns private
	// addresses, but not the ones the cloud DNS server returns (a stale
	// zone or a forwarder to the wrong server).
	OutcomeMismatch vpndiag.Outcome = "mismatch"
	// OutcomeNotForwarded (compare mode): the cloud DNS server knows the name,
	// but the internal resolver answers NXDOMAIN, SERVFAIL or no data.
	OutcomeNotForwarded vpndiag.Outcome = "not-forwarded"
	// OutcomeCloudNoAnswer (compare mode): the cloud DNS server did not give
	// an address (no answer, NXDOMAIN, …), so nothing can be compared.
	OutcomeCloudNoAnswer vpndiag.Outcome = "cloud-no-answer"
)

// DNSRequest is the typed request of the dns probe.
type DNSRequest struct {
	// Name is the fully qualified name asked for (PTR names are derived from
	// an IP target).
	Name string
	// Type is the query type, e.g. dns.TypeA.
	Type uint16
	// Server is the resolver asked, as ip:port; empty means the first
	// nameserver of /etc/resolv.conf.
	Server string
	// TCP asks over TCP from the start instead of UDP.
	TCP bool
	// Compare is the cloud DNS server (ip:port); set, the probe runs in
	// compare mode and Server is the customer's internal resolver.
	Compare string
	// Expect lists addresses of which at least one must be in the answer.
	Expect []netip.Addr
}

// ParseDNSRequest validates req as a dns probe request.
func ParseDNSRequest(req *vpndiag.ProbeRequest) (*DNSRequest, error) {
	p := newParams(req)
	r := &DNSRequest{}
	typ := strings.ToUpper(p.str("type", "A"))
	t, ok := dns.StringToType[typ]
	if !ok || t == dns.TypeNone || t == dns.TypeANY {
		p.fail("%q is not a DNS record type the dns probe asks for (e.g. A, AAAA, CNAME, MX, TXT, PTR, SRV, NS, SOA).", typ)
	}
	r.Type = t
	if s, ok := p.get("server"); ok {
		addr, err := dnsServerAddr("server", s)
		if err != nil {
			return nil, err
		}
		r.Server = addr
	}
	if s, ok := p.get("compare"); ok {
		addr, err := dnsServerAddr("compare", s)
		if err != nil {
			return nil, err
		}
		r.Compare = addr
	}
	r.TCP = p.boolean("tcp", false)
	if s, ok := p.get("expect"); ok {
		for _, f := range strings.Split(s, ",") {
			a, err := netip.ParseAddr(strings.TrimSpace(f))
			if err != nil {
				p.fail("The dns probe's expect must list IP addresses; %q is not one.", strings.TrimSpace(f))
				break
			}
			r.Expect = append(r.Expect, a.Unmap())
		}
	}
	if err := p.done(); err != nil {
		return nil, err
	}
	name := strings.TrimSpace(req.Target)
	if name == "" {
		return nil, vpndiag.Errorf(vpndiag.EINVALID, "The dns probe needs a name to look up.")
	}
	if a, err := netip.ParseAddr(name); err == nil && r.Type == dns.TypePTR {
		arpa, err := dns.ReverseAddr(a.String())
		if err != nil {
			return nil, vpndiag.Errorf(vpndiag.EINVALID, "Cannot make a reverse name of %q.", name)
		}
		name = arpa
	} else if err == nil || looksNumeric(name) {
		return nil, vpndiag.Errorf(vpndiag.EINVALID, "%q is an address, not a name: look it up with type PTR.", name)
	}
	if _, ok := dns.IsDomainName(name); !ok || strings.ContainsAny(name, " \t") || len(strings.TrimSuffix(name, ".")) > 253 {
		return nil, vpndiag.Errorf(vpndiag.EINVALID, "%q is not a valid DNS name.", name)
	}
	r.Name = dns.Fqdn(name)
	return r, nil
}

// dnsServerAddr validates a server given as an IP address or ip:port and
// returns ip:port (port 53 by default).
func dnsServerAddr(key, s string) (string, error) {
	if a, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
		return netip.AddrPortFrom(a.Unmap(), 53).String(), nil
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		host, port, serr := net.SplitHostPort(s)
		if serr == nil {
			if _, aerr := netip.ParseAddr(host); aerr == nil {
				return "", vpndiag.Errorf(vpndiag.EINVALID, "The dns probe's %s port %q is out of range: a port is a number from 1 to 65535.", key, port)
			}
		}
		return "", vpndiag.Errorf(vpndiag.EINVALID, "The dns probe's %s must be an IP address or ip:port, not %q.", key, s)
	}
	if ap.Port() == 0 {
		return "", vpndiag.Errorf(vpndiag.EINVALID, "The dns probe's %s port is out of range: a port is a number from 1 to 65535.", key)
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).String(), nil
}

// DNSAnswer is one resource record of an answer.
type DNSAnswer struct {
	// Name is the record's owner name.
	Name string `json:"name"`
	// Type is the record type, e.g. "A".
	Type string `json:"type"`
	// TTL is the record's time to live in seconds.
	TTL uint32 `json:"ttl"`
	// Data is the record's data as in a zone file (the address for A/AAAA).
	Data string `json:"data"`
}

// DNSQuery is what one server answered.
type DNSQuery struct {
	// Server is the server asked, ip:port.
	Server string `json:"server"`
	// Transport is "udp" or "tcp": the transport of the answer reported.
	Transport string `json:"transport"`
	// Truncated is true when the UDP answer had the TC bit and the query was
	// retried over TCP.
	Truncated bool `json:"truncated,omitempty"`
	// Outcome is this server's verdict (ok, nxdomain, servfail, nodata,
	// refused, timeout, unreachable, error).
	Outcome vpndiag.Outcome `json:"outcome"`
	// Rcode is the response code, e.g. "NOERROR"; empty when nothing answered.
	Rcode string `json:"rcode,omitempty"`
	// Authoritative is the AA bit of the answer.
	Authoritative bool `json:"authoritative,omitempty"`
	// RecursionAvailable is the RA bit of the answer.
	RecursionAvailable bool `json:"recursion_available,omitempty"`
	// Answers are the answer section's records.
	Answers []DNSAnswer `json:"answers,omitempty"`
	// Addresses are the A and AAAA addresses in the answer.
	Addresses []string `json:"addresses,omitempty"`
	// QueryTime is the round trip of the reported exchange.
	QueryTime time.Duration `json:"query_time_ns"`
	// Error says why there is no answer (timeout, refused, …).
	Error string `json:"error,omitempty"`
}

// DNSResult is the detail of a dns probe.
type DNSResult struct {
	// Name is the fully qualified name asked for.
	Name string `json:"name"`
	// Type is the query type, e.g. "A".
	Type string `json:"type"`
	// Query is the answer of the server asked; in compare mode, of the
	// customer's internal resolver.
	Query DNSQuery `json:"query"`
	// Cloud is the cloud DNS server's answer, in compare mode only.
	Cloud *DNSQuery `json:"cloud,omitempty"`
	// Expect are the addresses the answer had to contain, if any were given.
	Expect []string `json:"expect,omitempty"`
}

// ProbeDNS is the dns probe: see the package documentation for its Params.
func ProbeDNS(ctx context.Context, req *vpndiag.ProbeRequest) *vpndiag.ProbeResult {
	return dnsDescriptor.probe(ctx, req)
}

// runDNS runs the dns probe whose parameters r were parsed from req.
func runDNS(ctx context.Context, req *vpndiag.ProbeRequest, r *DNSRequest) *vpndiag.ProbeResult {
	started := time.Now()
	res := newResult(req)
	if r.Server == "" {
		conf, err := dns.ClientConfigFromFile("/etc/resolv.conf")
		if err != nil || len(conf.Servers) == 0 {
			return failed(res, started, vpndiag.Errorf(vpndiag.EINVALID, "The dns probe needs a server: none was given and /etc/resolv.conf names none."))
		}
		r.Server = net.JoinHostPort(conf.Servers[0], conf.Port)
	}
	d := &DNSResult{Name: r.Name, Type: dns.TypeToString[r.Type]}
	for _, a := range r.Expect {
		d.Expect = append(d.Expect, a.String())
	}
	if r.Compare == "" {
		d.Query = queryDNS(ctx, r, r.Server)
		outcome, summary := dnsSingleVerdict(r, d)
		return finish(res, started, outcome, summary, d)
	}
	var wg sync.WaitGroup
	var cloud DNSQuery
	wg.Add(1)
	go func() {
		defer wg.Done()
		cloud = queryDNS(ctx, r, r.Compare)
	}()
	d.Query = queryDNS(ctx, r, r.Server)
	wg.Wait()
	d.Cloud = &cloud
	outcome, summary := dnsCompareVerdict(d)
	return finish(res, started, outcome, summary, d)
}

// queryDNS asks server for r.Name over UDP (or TCP), retrying over TCP when
// the UDP answer is truncated.
func queryDNS(ctx context.Context, r *DNSRequest, server string) DNSQuery {
	q := DNSQuery{Server: server, Transport: "udp"}
	if r.TCP {
		q.Transport = "tcp"
	}
	m := new(dns.Msg)
	m.SetQuestion(r.Name, r.Type)
	m.RecursionDesired = true
	m.SetEdns0(1232, false)

	in, rtt, err := exchange(ctx, q.Transport, m, server)
	if err == nil && in.Truncated && q.Transport == "udp" {
		q.Truncated = true
		q.Transport = "tcp"
		in, rtt, err = exchange(ctx, "tcp", m, server)
	}
	q.QueryTime = rtt
	if err != nil {
		q.Outcome, q.Error = classifyNetErr(ctx, err)
		return q
	}
	q.Rcode = dns.RcodeToString[in.Rcode]
	if q.Rcode == "" {
		q.Rcode = "RCODE" + strconv.Itoa(in.Rcode)
	}
	q.Authoritative = in.Authoritative
	q.RecursionAvailable = in.RecursionAvailable
	for _, rr := range in.Answer {
		h := rr.Header()
		a := DNSAnswer{Name: h.Name, Type: dns.TypeToString[h.Rrtype], TTL: h.Ttl}
		a.Data = strings.TrimPrefix(strings.TrimPrefix(rr.String(), h.String()), "\t")
		switch v := rr.(type) {
		case *dns.A:
			q.Addresses = append(q.Addresses, v.A.String())
		case *dns.AAAA:
			q.Addresses = append(q.Addresses, v.AAAA.String())
		}
		q.Answers = append(q.Answers, a)
	}
	switch {
	case in.Rcode == dns.RcodeSuccess && len(in.Answer) > 0:
		q.Outcome = vpndiag.OutcomeOK
	case in.Rcode == dns.RcodeSuccess:
		q.Outcome = OutcomeNoData
	case in.Rcode == dns.RcodeNameError:
		q.Outcome = OutcomeNXDomain
	case in.Rcode == dns.RcodeServerFailure:
		q.Outcome = OutcomeServFail
	case in.Rcode == dns.RcodeRefused:
		q.Outcome = vpndiag.OutcomeRefused
	default:
		q.Outcome = vpndiag.OutcomeFail
	}
	return q
}

// exchange sends m to server over network, bounded by ctx.
func exchange(ctx context.Context, network string, m *dns.Msg, server string) (*dns.Msg, time.Duration, error) {
	c := &dns.Client{Net: network, UDPSize: 1232}
	if dl, ok := ctx.Deadline(); ok {
		// The client's own 2 s read default must not cut a longer deadline.
		c.Timeout = max(time.Until(dl), time.Millisecond)
	}
	return c.ExchangeContext(ctx, m, server)
}

func dnsSingleVerdict(r *DNSRequest, d *DNSResult) (vpndiag.Outcome, string) {
	q := &d.Query
	head := fmt.Sprintf("%s %s @%s (%s)", d.Type, d.Name, q.Server, q.Transport)
	if q.Rcode == "" {
		return q.Outcome, fmt.Sprintf("%s: %s", head, q.Error)
	}
	if q.Outcome == vpndiag.OutcomeOK && len(r.Expect) > 0 && !containsAny(q.Addresses, d.Expect) {
		return vpndiag.OutcomeFail, fmt.Sprintf("%s: %s, expected %s, %s", head, answerList(q), strings.Join(d.Expect, ", "), ms(q.QueryTime))
	}
	if q.Outcome == vpndiag.OutcomeOK {
		return q.Outcome, fmt.Sprintf("%s: %s, %s", head, answerList(q), ms(q.QueryTime))
	}
	return q.Outcome, fmt.Sprintf("%s: %s, %s", head, q.Rcode, ms(q.QueryTime))
}

// answerList is the addresses of q, or the answers' data for other types.
func answerList(q *DNSQuery) string {
	if len(q.Addresses) > 0 {
		return strings.Join(q.Addresses, ", ")
	}
	var parts []string
	for _, a := range q.Answers {
		parts = append(parts, a.Data)
	}
	return strings.Join(parts, ", ")
}

func containsAny(have, want []string) bool {
	for _, w := range want {
		if slices.Contains(have, w) {
			return true
		}
	}
	return false
}

// dnsCompareVerdict is the conditional-forwarder check: does the internal
// resolver return the private address the cloud DNS server returns?
func dnsCompareVerdict(d *DNSResult) (vpndiag.Outcome, string) {
	in, cloud := &d.Query, d.Cloud
	name := strings.TrimSuffix(d.Name, ".")
	if cloud.Outcome != vpndiag.OutcomeOK || len(cloud.Addresses) == 0 {
		why := cloud.Error
		if why == "" {
			why = cloud.Rcode
			if cloud.Outcome == vpndiag.OutcomeOK {
				why = "no address"
			}
		}
		return OutcomeCloudNoAnswer, fmt.Sprintf("the cloud DNS server %s gave no address for %s (%s); nothing to compare", cloud.Server, name, why)
	}
	want := strings.Join(cloud.Addresses, ", ")
	switch {
	case in.Rcode == "":
		return in.Outcome, fmt.Sprintf("the internal resolver %s did not answer for %s (%s); the cloud DNS server says %s", in.Server, name, in.Error, want)
	case in.Outcome != vpndiag.OutcomeOK || len(in.Addresses) == 0:
		return OutcomeNotForwarded, fmt.Sprintf("the internal resolver %s answers %s for %s, the cloud DNS server says %s: no conditional forwarder", in.Server, in.Rcode, name, want)
	case containsAny(in.Addresses, cloud.Addresses):
		return OutcomeForwarded, fmt.Sprintf("the internal resolver %s returns %s for %s, as the cloud DNS server does: forwarded", in.Server, strings.Join(in.Addresses, ", "), name)
	case !anyPrivate(in.Addresses):
		return OutcomePublicAnswer, fmt.Sprintf("the internal resolver %s returns the public %s for %s, the cloud DNS server the private %s: not forwarded", in.Server, strings.Join(in.Addresses, ", "), name, want)
	default:
		return OutcomeMismatch, fmt.Sprintf("the internal resolver %s returns %s for %s, the cloud DNS server %s: different private addresses", in.Server, strings.Join(in.Addresses, ", "), name, want)
	}
}

// anyPrivate is true when one of addrs is private (RFC 1918, RFC 4193) or
// shared address space (RFC 6598, 100.64.0.0/10).
func anyPrivate(addrs []string) bool {
	cgnat := netip.MustParsePrefix("100.64.0.0/10")
	for _, s := range addrs {
		if a, err := netip.ParseAddr(s); err == nil && (a.IsPrivate() || cgnat.Contains(a)) {
			return true
		}
	}
	return false
}

// dnsDescriptor describes the dns probe.
var dnsDescriptor = describe(Descriptor{
	Kind:    vpndiag.ProbeDNS,
	Summary: "looks a name up on a resolver, or compares the internal resolver's answer with the cloud DNS server's (conditional forwarder)",
	Target:  "NAME",
	Params: []Param{
		{Key: "server", Usage: "resolver to ask, IP or ip:port (default: first nameserver of /etc/resolv.conf)"},
		{Key: "type", Usage: "record type: A, AAAA, CNAME, MX, TXT, PTR, SRV, NS, SOA (default A)"},
		{Key: "tcp", Usage: "ask over TCP (default UDP, TCP on truncation)", Bool: true},
		{Key: "compare", Usage: "cloud DNS server, IP or ip:port: compare its answer with the server's (conditional-forwarder check)"},
		{Key: "expect", Usage: "comma-separated addresses, one of which must be in the answer"},
	},
	// The Target is the name asked for; the servers are what is reached.
	Targets: Targets{Params: []string{"server", "compare"}, Implicit: "server"},
}, ParseDNSRequest, func(*DNSRequest) time.Duration { return 5 * time.Second }, runDNS)
