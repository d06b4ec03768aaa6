// Package probes runs the network checks of the troubleshooting guide: DNS
// lookups, ping, TCP connects, traceroute, IKE reachability and a keep-alive
// monitor. It knows nothing of Slack, SQLite or relays: the relay runs these
// same functions inside the customer's network through Local, which
// implements vpndiag.Prober.
//
// # Shape
//
// Every kind has one file and one Descriptor in the explicit Registry (the
// layout of prometheus/blackbox_exporter's prober package, one step
// further): the descriptor holds the kind's parameters (the CLI's flags and
// this documentation are checked against them), the network targets a
// request of the kind connects to (a relay's policy checks exactly these,
// and a test walks the registry to prove it), its default timeout and the
// function that runs it. A request is parsed once into the kind's typed
// request (ParseDNSRequest gives a *DNSRequest, …); the timeout and the run
// both use that value. A run takes a context, whose deadline is the probe's
// timeout, and returns a vpndiag.ProbeResult with an Outcome, a one-line
// Summary, timings, and the kind's typed result (DNSResult, …) as JSON in
// Detail (DecodeDetail reads it back). Invalid parameters are an EINVALID
// error naming the field; unknown Params keys are refused, so a typo never
// falls back to a default silently. ProbeDNS, ProbeTCP, … are the same runs
// as plain ProbeFuncs (parse, then run).
//
// Local validates the request first (an invalid one returns an error and
// runs nothing), turns req.Timeout into a context deadline (the kind's
// default when zero, at most MaxTimeout), runs the descriptor and recovers
// a panic into an OutcomeError result.
//
// # Params
//
// Values are strings. Durations take Go syntax ("500ms", "5s") or a number
// of seconds; booleans take true/false/yes/no.
//
// dns: Target is the name to look up (an IP address with type PTR).
//   - server: the resolver, IP or ip:port (port 53 by default); default the
//     first nameserver of /etc/resolv.conf.
//   - type: record type, default A (AAAA, CNAME, MX, TXT, PTR, SRV, NS, SOA…).
//   - tcp: ask over TCP from the start; default false (UDP, retried over TCP
//     when the answer is truncated).
//   - expect: comma-separated addresses, at least one of which must be in
//     the answer, else the outcome is fail.
//   - compare: the cloud DNS server, IP or ip:port. Set, the probe asks both
//     server (the customer's internal resolver) and compare for the name, at
//     once, and says whether the internal resolver returns the private
//     address the cloud returns: the conditional-forwarder check.
//
// Default timeout 5 s.
//
// tcp: Target is host:port, or a host with the port parameter.
//   - port: the TCP port (1..65535), when Target has none.
//   - tls: after connecting, run a TLS handshake and report the
//     certificate's subject, issuer, names, expiry and whether it verifies
//     against the system roots (an untrusted certificate is reported, not
//     refused); default false.
//   - sni: the server name to send; default Target's host when it is a name.
//
// Default timeout 10 s.
//
// ping: Target is an IP address or a name.
//   - count: echo requests, 1..100, default 3.
//   - interval: between requests, 100ms..1m, default 1s.
//   - size: ICMP payload bytes as ping -s, 24..65000, default 56.
//   - df: set don't-fragment (path-MTU test), default false.
//   - wait: how long to wait for replies after the last request, default 2s.
//   - ttl: IP time to live, 1..255, default 64.
//
// The probe opens an unprivileged ICMP datagram socket first (allowed by
// the sysctl net.ipv4.ping_group_range), then a raw socket (CAP_NET_RAW);
// when neither is permitted it fails with an EFORBIDDEN error naming both
// remedies. pro-bing's own timeout is infinite by default: the probe sets it
// from the context deadline and the count, so it always ends. Default
// timeout: (count-1)×interval + wait + 1 s.
//
// traceroute: Target is an IPv4 address or a name.
//   - method: icmp (echo requests, as Windows tracert; default) or udp (to
//     ports 33434 and up, as Unix traceroute).
//   - max_hops: largest TTL, 1..64, default 30; first_hop: first TTL,
//     default 1.
//   - queries: probes per hop, 1..10, default 3.
//   - wait: how long to wait for a hop's answers, default 1s.
//   - customer_cidrs: comma-separated customer networks, and edge: the
//     customer VPN gateway's inside address. Given, the result says (with
//     InterpretPath) whether the last hop that answered is the target,
//     inside the customer network, the VPN edge, or past the tunnel.
//
// A trace stops at the target, at an ICMP unreachable, or after 5 silent
// hops in a row. Default timeout: (max_hops-first_hop+1)×wait + 1 s.
//
// The probes are sent with golang.org/x/net/ipv4 (per-packet TTL on a UDP
// socket, or on the raw ICMP socket for echoes) and the answers read and
// parsed with golang.org/x/net/icmp, matched to our probes by the quoted
// original datagram (UDP ports, or echo id and sequence). These are kept,
// maintained libraries; only the matching is ours. Reading ICMP
// time-exceeded messages needs a raw socket, so traceroute needs
// CAP_NET_RAW; without it the probe fails with an EFORBIDDEN error that
// says so.
//
// ike: Target is the VPN endpoint's address or name. The probe sends an
// IKEv2 IKE_SA_INIT request (RFC 7296: header, SA, KE, Nonce,
// NAT_DETECTION_SOURCE_IP and _DESTINATION_IP notifies) and reports what
// answered. It never sends IKE_AUTH: no handshake completes and no
// pre-shared key is needed. A COOKIE request is followed once.
//   - port: the IKE port, default 500; natt_port: the NAT-T port, default
//     4500, where messages carry the 4-byte non-ESP marker.
//   - mode: both (default, the two ports at once), ike or natt.
//   - proposals: comma-separated strongSwan-style proposals such as
//     aes256-sha256-modp2048 (several algorithms of a kind are
//     alternatives); default DefaultIKEProposals. At most 8.
//   - dh: the group of the KE payload, one of the proposals' groups;
//     default the first.
//   - retransmit: first retransmission interval (it doubles), default 1s.
//
// Default timeout 8 s. ParseIKEMessage is fuzzed (FuzzParseIKEMessage).
//
// keepalive: (one-shot) Target is the IP address (or name) to ping, the
// guide's cloud DNS server. It runs a Monitor for a bounded time and returns
// every sample, the up/down transitions and any periodic drop.
//   - interval: between pings, 100ms..1h, default kb.KeepaliveInterval (5s).
//   - duration: how long to run, up to MaxKeepaliveDuration (1h), default 1m.
//   - ping_timeout: one ping's wait, default min(interval, 2s).
//   - down_after: failed pings in a row that mark the target down, default
//     2; up_after: replies in a row that mark it up, default 1.
//
// Default timeout: duration + ping_timeout + 1 s.
//
// # Keep-alive monitor
//
// Monitor is the long-running form, for the responder-only tunnel the
// guide keeps up by pinging every 5 s: NewMonitor (or LoadMonitor to resume
// from its state file after a restart), Start, Status, Stop. Each sample
// goes to a KeepaliveSink (vpndiag.ProbeService implements it); samples the
// sink refuses stay pending, in memory and in the state file, until it
// accepts them. The state file is rewritten atomically after every sample.
// Transitions and DetectPeriodicDrops are pure functions over samples and
// transitions: the latter finds drops at a regular interval and marks a
// period of about 60 minutes as the IKEv2 hourly drop
// (kb.CodeIKEv2HourlyDrop).
//
// # Tests
//
// DNS, TCP and IKE tests use real servers on 127.0.0.1 (miekg/dns, TCP and
// TLS listeners, an IKE responder written from RFC 7296). Ping,
// traceroute and keep-alive tests build chains of network namespaces with
// veths (internal/nstest) and run the probe inside them by re-executing the
// test binary under `ip netns exec`; they skip with a message when not
// root. Packet loss is made with nftables or by switching a router's
// forwarding off. The ike probe is also tested against strongSwan's charon
// (Debian packages strongswan-charon, strongswan-swanctl) in a namespace,
// for a response, NO_PROPOSAL_CHOSEN and INVALID_KE_PAYLOAD; that test
// skips when charon is not installed.
//
// # Outcomes
//
// Besides the common vpndiag outcomes (ok, fail, timeout, refused,
// unreachable, error), kinds add their own:
//
//   - dns: nxdomain, servfail, nodata; REFUSED is refused. Compare mode:
//     forwarded, public-answer, mismatch, not-forwarded, cloud-no-answer, or
//     the internal resolver's timeout/refused/unreachable.
//   - tcp: refused (RST), unreachable (no route, ICMP unreachable), timeout
//     (SYN unanswered), tls-failed (connected, handshake failed).
//   - ping: ok (every request answered), loss (some), timeout (none),
//     too-big (don't-fragment packet over the local path MTU), unreachable
//     (no route here), error (not permitted). pro-bing ignores ICMP errors
//     from the path, so an unreachable reported by a router shows as timeout.
//   - traceroute: ok (target reached), incomplete (some hops answered),
//     timeout (none did), unreachable (a router sent host/network/protocol
//     unreachable or administratively prohibited). Given customer_cidrs or
//     edge, a trace that stops silently before the target (incomplete or
//     timeout) has the outcome of where it stopped instead: path-inside-customer, path-vpn-edge,
//     path-past-tunnel or path-no-reply.
//   - ping, tcp and traceroute to a name that does not resolve where the
//     probe runs: no-name (the probe ran; the name is the problem). The
//     ping result's detail carries source, the local address the requests
//     left from.
//   - ike (per port in IKEAttempt, overall the first port that answered):
//     ok (IKE_SA_INIT response: SA, KE, Nonce), no-proposal-chosen,
//     invalid-ke (with the group the responder wants), cookie, notify
//     (another notify), not-ike (an answer that is not an IKEv2 response),
//     timeout (nothing: UDP blocked or nobody there), refused (ICMP port
//     unreachable).
//   - keepalive: ok (never down), drops (down at least once),
//     periodic-drop (down at a regular interval), timeout (never up).
package probes
