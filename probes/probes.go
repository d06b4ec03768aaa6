package probes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"time"

	"github.com/vpndiag/vpndiag"
)

// ProbeFunc runs one probe kind. The context's deadline is the probe's
// timeout. It always returns a result: invalid parameters give OutcomeError
// with a user-safe Error, and so does a probe that cannot run (permissions).
type ProbeFunc func(ctx context.Context, req *vpndiag.ProbeRequest) *vpndiag.ProbeResult

// MaxTimeout bounds any probe's timeout but a keepalive's (which is bounded
// by MaxKeepaliveDuration plus a minute); a request asking for more is
// invalid.
const MaxTimeout = 10 * time.Minute

// Validate checks req (kind, target, every Param) without running it. The
// error is an EINVALID *vpndiag.Error whose message names the bad field.
func Validate(req *vpndiag.ProbeRequest) error {
	_, _, err := parse(req)
	return err
}

// parse checks req and returns its kind's descriptor and typed request.
func parse(req *vpndiag.ProbeRequest) (*Descriptor, any, error) {
	if req == nil {
		return nil, nil, vpndiag.Errorf(vpndiag.EINVALID, "No probe request given.")
	}
	d, err := Lookup(req.Kind)
	if err != nil {
		return nil, nil, err
	}
	if req.Timeout < 0 {
		return nil, nil, vpndiag.Errorf(vpndiag.EINVALID, "The probe timeout must not be negative (got %s).", req.Timeout)
	}
	if max := maxTimeoutFor(req.Kind); req.Timeout > max {
		return nil, nil, vpndiag.Errorf(vpndiag.EINVALID, "The probe timeout %s is over the limit of %s.", req.Timeout, max)
	}
	parsed, err := d.Parse(req)
	if err != nil {
		return nil, nil, err
	}
	return d, parsed, nil
}

func maxTimeoutFor(kind vpndiag.ProbeKind) time.Duration {
	if kind == vpndiag.ProbeKeepalive {
		return MaxKeepaliveDuration + time.Minute
	}
	return MaxTimeout
}

func kindList() string {
	s := ""
	for i, k := range vpndiag.ProbeKinds {
		if i > 0 {
			s += ", "
		}
		s += string(k)
	}
	return s
}

// Local runs probes in this process. It implements vpndiag.Prober: the
// terminal runner and tests use it directly, and a relay uses it to run the
// jobs the bot sends.
type Local struct {
	// Funcs replaces the function of the kinds it names (tests); the
	// others run through Registry.
	Funcs map[vpndiag.ProbeKind]ProbeFunc
	// Logger receives panics and internal detail; nil means slog.Default().
	Logger *slog.Logger
	// Now stamps StartedAt; nil means vpndiag.Now.
	Now vpndiag.Clock
}

var _ vpndiag.Prober = (*Local)(nil)

// Probe validates req, applies its timeout (req.Timeout, or the kind's
// default) as a context deadline, runs the kind's function and returns its
// result. An invalid request returns an EINVALID error and runs nothing; a
// probe that panics returns a result with OutcomeError.
func (l *Local) Probe(ctx context.Context, req *vpndiag.ProbeRequest) (*vpndiag.ProbeResult, error) {
	d, parsed, err := parse(req)
	if err != nil {
		return nil, err
	}
	run := func(ctx context.Context, req *vpndiag.ProbeRequest) *vpndiag.ProbeResult {
		return d.Run(ctx, req, parsed)
	}
	if fn, ok := l.Funcs[req.Kind]; ok {
		run = fn
	}
	now := vpndiag.Now
	if l.Now != nil {
		now = l.Now
	}
	timeout := req.Timeout
	if timeout == 0 {
		timeout = d.DefaultTimeout(parsed)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	started := now()
	mono := time.Now()
	res := l.run(ctx, run, req)
	res.ID, res.CaseID, res.Kind, res.Target = req.ID, req.CaseID, req.Kind, req.Target
	res.StartedAt = started
	res.Duration = time.Since(mono)
	if res.Outcome == "" {
		res.Outcome = vpndiag.OutcomeError
	}
	return res, nil
}

// run calls fn and turns a panic into an OutcomeError result.
func (l *Local) run(ctx context.Context, fn ProbeFunc, req *vpndiag.ProbeRequest) (res *vpndiag.ProbeResult) {
	defer func() {
		if p := recover(); p != nil {
			logger := l.Logger
			if logger == nil {
				logger = slog.Default()
			}
			logger.Error("probe panicked", "kind", req.Kind, "target", req.Target, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			res = &vpndiag.ProbeResult{
				Outcome: vpndiag.OutcomeError,
				Summary: fmt.Sprintf("the %s probe failed with an internal error", req.Kind),
				Error:   fmt.Sprintf("Internal error in the %s probe.", req.Kind),
			}
		}
	}()
	res = fn(ctx, req)
	if res == nil {
		res = &vpndiag.ProbeResult{Outcome: vpndiag.OutcomeError, Error: fmt.Sprintf("The %s probe returned no result.", req.Kind)}
	}
	return res
}

// newResult starts a result for req.
func newResult(req *vpndiag.ProbeRequest) *vpndiag.ProbeResult {
	return &vpndiag.ProbeResult{
		ID: req.ID, CaseID: req.CaseID, Kind: req.Kind, Target: req.Target,
		StartedAt: vpndiag.Now(),
	}
}

// finish completes res with the outcome, summary and typed detail.
func finish(res *vpndiag.ProbeResult, started time.Time, outcome vpndiag.Outcome, summary string, detail any) *vpndiag.ProbeResult {
	res.Outcome = outcome
	res.Summary = summary
	if detail != nil {
		b, err := json.Marshal(detail)
		if err != nil {
			res.Outcome = vpndiag.OutcomeError
			res.Error = "Internal error encoding the probe result."
		} else {
			res.Detail = b
		}
	}
	res.Duration = time.Since(started)
	return res
}

// failed completes res as OutcomeError with err's user-safe message.
// OutcomeNoName is the outcome of a ping, tcp or traceroute probe whose
// target name does not resolve where the probe runs: the probe ran, and
// what it found is a name problem, not a reason to run it by hand.
const OutcomeNoName vpndiag.Outcome = "no-name"

// unresolved is the result of a probe whose target could not be resolved:
// OutcomeNoName for a name that does not resolve (no such host, or the
// resolver did not answer), and failed's error otherwise.
func unresolved(res *vpndiag.ProbeResult, started time.Time, err error) *vpndiag.ProbeResult {
	switch vpndiag.ErrorCode(err) {
	case vpndiag.ENOTFOUND, vpndiag.EUNAVAILABLE:
		res.Outcome = OutcomeNoName
		res.Error = vpndiag.ErrorMessage(err)
		res.Summary = fmt.Sprintf("%s %s: the name does not resolve here: %s", res.Kind, res.Target, res.Error)
		res.Duration = time.Since(started)
		return res
	}
	return failed(res, started, err)
}

// sourceFor returns the local address the kernel would send from towards
// dst (a connected UDP socket sends nothing), or "" when there is no route.
func sourceFor(dst netip.Addr) string {
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, 9)))
	if err != nil {
		return ""
	}
	defer c.Close()
	if a, ok := c.LocalAddr().(*net.UDPAddr); ok {
		if ap := a.AddrPort(); ap.Addr().IsValid() {
			return ap.Addr().Unmap().String()
		}
	}
	return ""
}

func failed(res *vpndiag.ProbeResult, started time.Time, err error) *vpndiag.ProbeResult {
	res.Outcome = vpndiag.OutcomeError
	res.Error = vpndiag.ErrorMessage(err)
	res.Summary = fmt.Sprintf("%s probe could not run: %s", res.Kind, res.Error)
	res.Duration = time.Since(started)
	return res
}

// DecodeDetail decodes res.Detail into v (a *DNSResult, *PingResult, …).
func DecodeDetail(res *vpndiag.ProbeResult, v any) error {
	if res == nil || len(res.Detail) == 0 {
		return errors.New("probes: result has no detail")
	}
	if err := json.Unmarshal(res.Detail, v); err != nil {
		return fmt.Errorf("probes: decode %s detail: %w", res.Kind, err)
	}
	return nil
}

// ctxOutcome classifies a probe ended by its context: the deadline is a
// timeout, a cancellation is an error (someone stopped it).
func ctxOutcome(ctx context.Context) vpndiag.Outcome {
	if errors.Is(ctx.Err(), context.Canceled) {
		return vpndiag.OutcomeError
	}
	return vpndiag.OutcomeTimeout
}
