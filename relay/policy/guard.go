package policy

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vpndiag/vpndiag"
)

// Guard is a vpndiag.Prober that runs only what its policy allows: it
// checks and rewrites each request, applies the concurrency and rate
// limits, and hands the rewritten request to Next. The relay agent runs
// every job through one; the in-process transport for `vpndiag diagnose`
// and tests is a Guard around the local prober.
type Guard struct {
	policy   *Policy
	next     vpndiag.Prober
	resolver Resolver
	now      func() time.Time

	slots chan struct{}
	// queued counts probes waiting for a slot; at most queueFactor times
	// MaxConcurrent may wait, the rest are refused.
	queued atomic.Int32

	mu     sync.Mutex
	tokens float64
	last   time.Time
}

// queueFactor times max_concurrent probes may wait for a slot.
const queueFactor = 4

// NewGuard returns a Guard enforcing p around next, resolving names with
// p.Resolver (or the system's resolver).
func NewGuard(p *Policy, next vpndiag.Prober) *Guard {
	return &Guard{
		policy:   p,
		next:     next,
		resolver: NewResolver(p.Resolver),
		now:      time.Now,
		slots:    make(chan struct{}, p.MaxConcurrent),
		tokens:   float64(p.Rate),
	}
}

// Waiting returns how many probes wait for a slot now.
func (g *Guard) Waiting() int { return int(g.queued.Load()) }

// Policy returns the policy the guard enforces.
func (g *Guard) Policy() *Policy { return g.policy }

// Probe implements vpndiag.Prober. A refusal is a result with
// vpndiag.OutcomeDenied; a target that cannot be resolved is a result with
// vpndiag.OutcomeError. Neither is an error.
func (g *Guard) Probe(ctx context.Context, req *vpndiag.ProbeRequest) (*vpndiag.ProbeResult, error) {
	start := g.now()
	checked, err := g.policy.Check(ctx, g.resolver, req)
	if err == nil {
		err = g.take()
	}
	if err == nil {
		// Probes over max_concurrent wait their turn (a flow's sweep asks
		// for several at once) until their own deadline; a queue longer than
		// queueFactor×max_concurrent is refused, so nothing piles up.
		select {
		case g.slots <- struct{}{}:
			defer func() { <-g.slots }()
		default:
			if int(g.queued.Add(1)) > queueFactor*g.policy.MaxConcurrent {
				err = deny("%d probes are already running and %d waiting (max_concurrent: %d)",
					g.policy.MaxConcurrent, queueFactor*g.policy.MaxConcurrent, g.policy.MaxConcurrent)
			} else {
				select {
				case g.slots <- struct{}{}:
					defer func() { <-g.slots }()
				case <-ctx.Done():
					err = deny("%d probes were running (max_concurrent: %d) until this one's deadline", g.policy.MaxConcurrent, g.policy.MaxConcurrent)
				}
			}
			g.queued.Add(-1)
		}
	}
	if err != nil {
		return refusal(req, start, g.now(), err), nil
	}
	res, err := g.next.Probe(ctx, checked)
	if err != nil {
		return nil, err
	}
	// Report the target as asked, so callers match results to requests;
	// the detail and summary show the address used.
	res.Target = req.Target
	return res, nil
}

// take takes one token from the rate limiter's bucket, refilled
// continuously at Rate per RatePer with a capacity of Rate.
func (g *Guard) take() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	if !g.last.IsZero() {
		g.tokens += float64(now.Sub(g.last)) / float64(g.policy.RatePer) * float64(g.policy.Rate)
		if g.tokens > float64(g.policy.Rate) {
			g.tokens = float64(g.policy.Rate)
		}
	}
	g.last = now
	if g.tokens < 1 {
		return deny("rate limit reached (%d probes per %s); try again shortly", g.policy.Rate, g.policy.RatePer)
	}
	g.tokens--
	return nil
}

// refusal turns a policy or resolution error into a result.
func refusal(req *vpndiag.ProbeRequest, start, end time.Time, err error) *vpndiag.ProbeResult {
	res := &vpndiag.ProbeResult{
		ID: req.ID, CaseID: req.CaseID, Kind: req.Kind, Target: req.Target,
		StartedAt: start.UTC(), Duration: end.Sub(start),
	}
	var d *Denied
	if errors.As(err, &d) {
		res.Outcome = vpndiag.OutcomeDenied
		res.Error = d.Error()
		res.Summary = fmt.Sprintf("%s %s: %s", req.Kind, req.Target, d.Error())
	} else {
		res.Outcome = vpndiag.OutcomeError
		res.Error = vpndiag.ErrorMessage(err)
		res.Summary = fmt.Sprintf("%s %s: %s", req.Kind, req.Target, res.Error)
	}
	return res
}

// Allow takes one probe from the rate limit without running anything: what
// a keep-alive monitor's pings do, so that they count against rate_limit
// like every other probe. A refusal is a *Denied.
func (g *Guard) Allow() error { return g.take() }

// Next returns the prober the guard hands allowed requests to.
func (g *Guard) Next() vpndiag.Prober { return g.next }

// Check checks req against the policy with the guard's resolver, without
// the limits and without running it; see Policy.Check.
func (g *Guard) Check(ctx context.Context, req *vpndiag.ProbeRequest) (*vpndiag.ProbeRequest, error) {
	return g.policy.Check(ctx, g.resolver, req)
}

// Refusal turns an error of Check into a result: vpndiag.OutcomeDenied for
// a policy refusal, vpndiag.OutcomeError otherwise.
func Refusal(req *vpndiag.ProbeRequest, start time.Time, err error) *vpndiag.ProbeResult {
	return refusal(req, start, time.Now(), err)
}
