package probes

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	probing "github.com/prometheus-community/pro-bing"
	"github.com/vpndiag/vpndiag"
)

// Ping outcomes, besides ok, timeout (no reply at all), unreachable and
// error.
const (
	// OutcomeLoss (ping): some echo requests were answered, some not.
	OutcomeLoss vpndiag.Outcome = "loss"
	// OutcomeTooBig (ping): with don't-fragment set, the packet is larger
	// than the path MTU known to this host (EMSGSIZE).
	OutcomeTooBig vpndiag.Outcome = "too-big"
)

// Limits of the ping parameters; they keep a relay from being used to flood.
const (
	MaxPingCount    = 100
	MinPingInterval = 100 * time.Millisecond
	MinPingSize     = 24 // pro-bing's timestamp and tracker
	MaxPingSize     = 65000
)

// PingRequest is the typed request of the ping probe.
type PingRequest struct {
	// Host is the IP address or name to ping.
	Host string
	// Count is the number of echo requests (1..MaxPingCount).
	Count int
	// Interval is the time between requests.
	Interval time.Duration
	// Size is the ICMP payload in bytes, as ping -s.
	Size int
	// DF sets don't-fragment, to test the path MTU.
	DF bool
	// Wait is how long to wait for replies after the last request.
	Wait time.Duration
	// TTL is the IP time to live of the requests.
	TTL int
}

// ParsePingRequest validates req as a ping probe request.
func ParsePingRequest(req *vpndiag.ProbeRequest) (*PingRequest, error) {
	p := newParams(req)
	r := &PingRequest{
		Count:    p.integer("count", 3, 1, MaxPingCount),
		Interval: p.duration("interval", time.Second, MinPingInterval, time.Minute),
		Size:     p.integer("size", 56, MinPingSize, MaxPingSize),
		DF:       p.boolean("df", false),
		Wait:     p.duration("wait", 2*time.Second, 10*time.Millisecond, time.Minute),
		TTL:      p.integer("ttl", 64, 1, 255),
	}
	if err := p.done(); err != nil {
		return nil, err
	}
	var err error
	if r.Host, err = checkHost(req.Kind, "a host to ping", req.Target); err != nil {
		return nil, err
	}
	return r, nil
}

// PingResult is the detail of a ping probe.
type PingResult struct {
	// Address is the IP address pinged.
	Address string `json:"address"`
	// Source is the local address the requests leave from (the route's
	// source towards Address), so that a flow never asks "which address
	// did you ping from?".
	Source string `json:"source,omitempty"`
	// Privileged is true when a raw ICMP socket was used (CAP_NET_RAW),
	// false for an unprivileged ICMP datagram socket.
	Privileged bool `json:"privileged"`
	// Size is the ICMP payload size and DF the don't-fragment flag.
	Size int  `json:"size"`
	DF   bool `json:"df,omitempty"`
	// Sent and Received count echo requests and replies; Duplicates counts
	// replies received twice.
	Sent       int `json:"sent"`
	Received   int `json:"received"`
	Duplicates int `json:"duplicates,omitempty"`
	// Loss is the percentage of requests without a reply.
	Loss float64 `json:"loss_percent"`
	// RTTs are the round-trip times of the replies, in order of arrival.
	RTTs []time.Duration `json:"rtts_ns,omitempty"`
	// MinRTT, AvgRTT, MaxRTT and StdDevRTT summarise RTTs.
	MinRTT    time.Duration `json:"min_rtt_ns"`
	AvgRTT    time.Duration `json:"avg_rtt_ns"`
	MaxRTT    time.Duration `json:"max_rtt_ns"`
	StdDevRTT time.Duration `json:"stddev_rtt_ns"`
	// Error says why requests could not be sent.
	Error string `json:"error,omitempty"`
}

// errPingNotPermitted is the error when neither socket kind may be opened.
func errPingNotPermitted(err error) error {
	return fmt.Errorf("ping: %w: %w", err, vpndiag.Errorf(vpndiag.EFORBIDDEN,
		"Ping is not permitted for this process: allow unprivileged ICMP with sysctl net.ipv4.ping_group_range (e.g. \"0 2147483647\"), or grant CAP_NET_RAW (setcap cap_net_raw+ep on the binary)."))
}

// ProbePing is the ping probe: see the package documentation for its Params.
func ProbePing(ctx context.Context, req *vpndiag.ProbeRequest) *vpndiag.ProbeResult {
	return pingDescriptor.probe(ctx, req)
}

// runPing runs the ping probe whose parameters r were parsed from req.
func runPing(ctx context.Context, req *vpndiag.ProbeRequest, r *PingRequest) *vpndiag.ProbeResult {
	started := time.Now()
	res := newResult(req)
	addr, err := resolve(ctx, r.Host)
	if err != nil {
		return unresolved(res, started, err)
	}
	d, err := ping(ctx, addr, r)
	if err != nil {
		return failed(res, started, err)
	}
	d.Source = sourceFor(addr)
	outcome, summary := pingVerdict(ctx, d)
	return finish(res, started, outcome, summary, d)
}

// Texts of PingResult.Error for send failures.
const (
	pingErrTooBig      = "packet larger than the path MTU"
	pingErrNetUnreach  = "network unreachable"
	pingErrHostUnreach = "host unreachable"
	pingErrDenied      = "sending not permitted (a local firewall)"
)

func pingVerdict(ctx context.Context, d *PingResult) (vpndiag.Outcome, string) {
	if d.Error != "" && d.Received == 0 {
		switch d.Error {
		case pingErrTooBig:
			return OutcomeTooBig, fmt.Sprintf("ping %s: a %d-byte payload with don't-fragment is larger than the path MTU", d.Address, d.Size)
		case pingErrNetUnreach, pingErrHostUnreach:
			return vpndiag.OutcomeUnreachable, fmt.Sprintf("ping %s: %s", d.Address, d.Error)
		}
		return vpndiag.OutcomeError, fmt.Sprintf("ping %s: %s", d.Address, d.Error)
	}
	stats := fmt.Sprintf("%d/%d replies from %s", d.Received, d.Sent, d.Address)
	switch {
	case d.Received == 0 && d.Sent > 0:
		return vpndiag.OutcomeTimeout, stats + ", 100% loss"
	case d.Received == 0:
		return ctxOutcome(ctx), fmt.Sprintf("ping %s: stopped before a request was sent", d.Address)
	case d.Received < d.Sent:
		return OutcomeLoss, fmt.Sprintf("%s, %.0f%% loss, avg %s", stats, d.Loss, ms(d.AvgRTT))
	default:
		return vpndiag.OutcomeOK, fmt.Sprintf("%s, avg %s (min %s, max %s)", stats, ms(d.AvgRTT), ms(d.MinRTT), ms(d.MaxRTT))
	}
}

// ping sends r.Count echo requests to addr: over an unprivileged ICMP
// datagram socket first, over a raw socket when that is not permitted. It
// never runs past ctx's deadline nor past the last request plus r.Wait.
func ping(ctx context.Context, addr netip.Addr, r *PingRequest) (*PingResult, error) {
	d, err := pingWith(ctx, addr, r, false)
	if err != nil && isPermission(err) {
		d, err = pingWith(ctx, addr, r, true)
		if err != nil && isPermission(err) {
			return nil, errPingNotPermitted(err)
		}
	}
	if err != nil {
		return nil, err
	}
	return d, nil
}

func isPermission(err error) bool {
	return errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EPROTONOSUPPORT)
}

// errListen marks an error opening the socket, as opposed to sending.
type errListen struct{ err error }

func (e errListen) Error() string { return e.err.Error() }
func (e errListen) Unwrap() error { return e.err }

func pingWith(ctx context.Context, addr netip.Addr, r *PingRequest, privileged bool) (*PingResult, error) {
	p := probing.New(addr.String())
	p.SetIPAddr(&net.IPAddr{IP: addr.AsSlice(), Zone: addr.Zone()})
	p.SetPrivileged(privileged)
	p.SetLogger(probing.NoopLogger{})
	p.Count = r.Count
	p.Interval = r.Interval
	p.Size = r.Size
	p.TTL = r.TTL
	p.SetDoNotFragment(r.DF)
	// pro-bing's Timeout is infinite by default: bound it by the context
	// and by the time the requests need plus the wait for the last reply.
	p.Timeout = time.Duration(r.Count-1)*r.Interval + r.Wait
	if dl, ok := ctx.Deadline(); ok {
		p.Timeout = max(min(p.Timeout, time.Until(dl)), time.Millisecond)
	}
	var mu sync.Mutex
	var sendErr error
	p.OnSendError = func(_ *probing.Packet, err error) {
		mu.Lock()
		defer mu.Unlock()
		if sendErr == nil {
			sendErr = err
		}
	}
	listened := false
	p.OnSetup = func() { listened = true }
	err := p.RunWithContext(ctx)
	if err != nil && !listened && sendErr == nil && ctx.Err() == nil {
		// RunWithContext failed before its loop: the socket or its options.
		return nil, fmt.Errorf("ping %s (privileged %v): %w", addr, privileged, errListen{err})
	}
	st := p.Statistics()
	d := &PingResult{
		Address: addr.String(), Privileged: privileged, Size: r.Size, DF: r.DF,
		Sent: st.PacketsSent, Received: st.PacketsRecv, Duplicates: st.PacketsRecvDuplicates, Loss: st.PacketLoss,
		RTTs: st.Rtts, MinRTT: st.MinRtt, AvgRTT: st.AvgRtt, MaxRTT: st.MaxRtt, StdDevRTT: st.StdDevRtt,
	}
	mu.Lock()
	defer mu.Unlock()
	if sendErr != nil {
		switch {
		case errors.Is(sendErr, syscall.EMSGSIZE):
			d.Error = pingErrTooBig
		case errors.Is(sendErr, syscall.ENETUNREACH):
			d.Error = pingErrNetUnreach
		case errors.Is(sendErr, syscall.EHOSTUNREACH):
			d.Error = pingErrHostUnreach
		case isPermission(sendErr):
			d.Error = pingErrDenied
		default:
			d.Error = "cannot send: " + sendErr.Error()
		}
	}
	return d, nil
}

// pingDescriptor describes the ping probe.
var pingDescriptor = describe(Descriptor{
	Kind:    vpndiag.ProbePing,
	Summary: "sends ICMP echo requests and reports loss and round-trip times",
	Target:  "HOST",
	Params: []Param{
		{Key: "count", Usage: "echo requests, 1..100 (default 3)"},
		{Key: "interval", Usage: "time between requests, e.g. 500ms (default 1s)"},
		{Key: "size", Usage: "ICMP payload bytes, 24..65000 (default 56)"},
		{Key: "df", Usage: "set don't-fragment (path MTU test)", Bool: true},
		{Key: "wait", Usage: "wait for replies after the last request (default 2s)"},
		{Key: "ttl", Usage: "IP time to live (default 64)"},
	},
	Targets: Targets{Target: true},
}, ParsePingRequest, func(r *PingRequest) time.Duration {
	return time.Duration(r.Count-1)*r.Interval + r.Wait + time.Second
}, runPing)
