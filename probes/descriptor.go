package probes

import (
	"context"
	"fmt"
	"time"

	"github.com/vpndiag/vpndiag"
)

// Descriptor is everything vpndiag knows of one probe kind, in one place:
// its parameters (for validation, the CLI's flags and the docs), the
// network targets a request of the kind connects to (for a relay's local
// policy), its default timeout and the function that runs it. A request is
// parsed once, into the kind's typed request (DNSRequest, …): the timeout
// and the run both use that value.
type Descriptor struct {
	// Kind is the probe kind.
	Kind vpndiag.ProbeKind
	// Summary says in one line what the probe checks.
	Summary string
	// Target says what the request's Target is, for usage lines: NAME,
	// HOST or HOST:PORT.
	Target string
	// Params are the kind's parameters in the order help lists them.
	Params []Param
	// Targets declares what a request connects to.
	Targets Targets

	parse   func(*vpndiag.ProbeRequest) (any, error)
	timeout func(any) time.Duration
	run     func(context.Context, *vpndiag.ProbeRequest, any) *vpndiag.ProbeResult
}

// Param documents one parameter of a probe kind.
type Param struct {
	// Key is the Params key (the CLI's flag is the key with - for _).
	Key string
	// Usage says what it means and its default.
	Usage string
	// Bool marks a true/false parameter (a flag without a value).
	Bool bool
}

// Targets declares the network targets of a probe kind, so that a relay's
// policy can check every address a request would reach before it runs.
type Targets struct {
	// Target is true when the request's Target is a network target (a host
	// name, an IP address or host:port). It is false for dns, whose Target
	// is the name asked for.
	Target bool
	// Params are the parameters whose values are network targets.
	Params []string
	// Implicit names a parameter which, left empty, makes the probe pick a
	// target of its own (dns: no server means the system's resolver). A
	// policy refuses such a request: it cannot check what it is not told.
	Implicit string
	// ServerName is the parameter that carries the target's name when a
	// policy rewrites the Target to its checked address (TLS SNI).
	ServerName string
}

// describe builds a Descriptor from the kind's typed parse, timeout and run
// functions.
func describe[T any](d Descriptor, parse func(*vpndiag.ProbeRequest) (T, error), timeout func(T) time.Duration, run func(context.Context, *vpndiag.ProbeRequest, T) *vpndiag.ProbeResult) *Descriptor {
	d.parse = func(req *vpndiag.ProbeRequest) (any, error) { return parse(req) }
	d.timeout = func(v any) time.Duration { return timeout(v.(T)) }
	d.run = func(ctx context.Context, req *vpndiag.ProbeRequest, v any) *vpndiag.ProbeResult {
		return run(ctx, req, v.(T))
	}
	return &d
}

// Registry holds the descriptor of every probe kind; vpndiag.ProbeKinds
// lists the same kinds in order.
var Registry = map[vpndiag.ProbeKind]*Descriptor{
	vpndiag.ProbeDNS:        dnsDescriptor,
	vpndiag.ProbeTCP:        tcpDescriptor,
	vpndiag.ProbePing:       pingDescriptor,
	vpndiag.ProbeTraceroute: tracerouteDescriptor,
	vpndiag.ProbeIKE:        ikeDescriptor,
	vpndiag.ProbeKeepalive:  keepaliveDescriptor,
}

// Lookup returns the descriptor of kind, or an EINVALID error listing the
// kinds.
func Lookup(kind vpndiag.ProbeKind) (*Descriptor, error) {
	d, ok := Registry[kind]
	if !ok {
		return nil, vpndiag.Errorf(vpndiag.EINVALID, "Unknown probe kind %q; kinds are %s.", kind, kindList())
	}
	return d, nil
}

// Parse checks req's parameters and returns the kind's typed request
// (*DNSRequest, *TCPRequest, …). The error is an EINVALID *vpndiag.Error
// naming the bad field.
func (d *Descriptor) Parse(req *vpndiag.ProbeRequest) (any, error) { return d.parse(req) }

// DefaultTimeout is the timeout Local applies to a parsed request that sets
// none: room for the probe's own parameters to finish, at most the kind's
// limit.
func (d *Descriptor) DefaultTimeout(parsed any) time.Duration {
	return min(d.timeout(parsed), maxTimeoutFor(d.Kind))
}

// Run runs a request already parsed by Parse.
func (d *Descriptor) Run(ctx context.Context, req *vpndiag.ProbeRequest, parsed any) *vpndiag.ProbeResult {
	return d.run(ctx, req, parsed)
}

// Func returns the kind's ProbeFunc: parse, then run.
func (d *Descriptor) Func() ProbeFunc { return d.probe }

// probe parses req and runs it; invalid parameters are an error result.
func (d *Descriptor) probe(ctx context.Context, req *vpndiag.ProbeRequest) *vpndiag.ProbeResult {
	parsed, err := d.parse(req)
	if err != nil {
		return failed(newResult(req), time.Now(), err)
	}
	return d.run(ctx, req, parsed)
}

// Param returns the parameter named key, or nil.
func (d *Descriptor) Param(key string) *Param {
	for i := range d.Params {
		if d.Params[i].Key == key {
			return &d.Params[i]
		}
	}
	return nil
}

// validate checks the descriptor itself: what the registry test and init
// rely on.
func (d *Descriptor) validate() error {
	if d.parse == nil || d.run == nil || d.timeout == nil {
		return fmt.Errorf("probe kind %s: descriptor without parse, timeout or run", d.Kind)
	}
	if !d.Targets.Target && len(d.Targets.Params) == 0 {
		return fmt.Errorf("probe kind %s declares no network target", d.Kind)
	}
	for _, k := range append(append([]string{}, d.Targets.Params...), d.Targets.Implicit, d.Targets.ServerName) {
		if k != "" && d.Param(k) == nil {
			return fmt.Errorf("probe kind %s: target parameter %q is not among its parameters", d.Kind, k)
		}
	}
	return nil
}

func init() {
	for _, k := range vpndiag.ProbeKinds {
		d, ok := Registry[k]
		if !ok {
			panic(fmt.Sprintf("probes: kind %s has no descriptor", k))
		}
		if d.Kind != k {
			panic(fmt.Sprintf("probes: registry key %s holds the descriptor of %s", k, d.Kind))
		}
		if err := d.validate(); err != nil {
			panic("probes: " + err.Error())
		}
	}
	if len(Registry) != len(vpndiag.ProbeKinds) {
		panic("probes: the registry and vpndiag.ProbeKinds differ")
	}
}
