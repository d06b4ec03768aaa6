package policy

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/probes"
)

// Denied is a refusal by the policy. Its message is safe to show to users
// and starts with "refused by relay policy: ".
type Denied struct {
	// Reason says what was refused and why.
	Reason string
}

// Error implements error.
func (d *Denied) Error() string { return "refused by relay policy: " + d.Reason }

func deny(format string, args ...any) error { return &Denied{Reason: fmt.Sprintf(format, args...)} }

// Resolver looks names up; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// NewResolver returns a resolver that asks server (ip:port) over UDP and
// TCP, or the system's resolver when server is empty.
func NewResolver(server string) Resolver {
	if server == "" {
		return net.DefaultResolver
	}
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, server)
	}}
}

// always-refused ranges: no allowlist entry makes them reachable, because
// a probe to them reaches the relay itself or nobody in particular.
var forbidden = []struct {
	p   netip.Prefix
	why string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "is in 0.0.0.0/8 (\"this host\"), which no policy allows"},
	{netip.MustParsePrefix("::/128"), "is the unspecified address, which no policy allows"},
	{netip.MustParsePrefix("224.0.0.0/4"), "is a multicast address, which no policy allows"},
	{netip.MustParsePrefix("ff00::/8"), "is a multicast address, which no policy allows"},
	{netip.MustParsePrefix("255.255.255.255/32"), "is the broadcast address, which no policy allows"},
}

// sensitive ranges are allowed only by an allowlist entry inside them
// (127.0.0.0/8 allows 127.0.0.1; 0.0.0.0/0 does not), so that a broad
// range never opens the relay's own host or the cloud metadata service.
var sensitive = []netip.Prefix{
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("fe80::/10"),
}

// CheckAddr returns nil when a is an allowed target, or a *Denied that
// says why not. a must already be canonical (see ParseAddr).
func (p *Policy) CheckAddr(a netip.Addr) error {
	for _, f := range forbidden {
		if f.p.Contains(a) {
			return deny("%s %s", a, f.why)
		}
	}
	for _, s := range sensitive {
		if !s.Contains(a) {
			continue
		}
		for _, c := range p.CIDRs {
			if c.Contains(a) && c.Bits() >= s.Bits() && s.Contains(c.Addr()) {
				return nil
			}
		}
		return deny("%s is not in the allowlist", a)
	}
	for _, c := range p.CIDRs {
		if c.Contains(a) {
			return nil
		}
	}
	return deny("%s is not in the allowlist", a)
}

// AllowsName reports whether name (lower case, no trailing dot) is listed
// or under a listed *.suffix.
func (p *Policy) AllowsName(name string) bool {
	if slices.Contains(p.Names, name) {
		return true
	}
	for _, s := range p.Suffixes {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	return false
}

// Checked is a network target that passed the policy.
type Checked struct {
	// Addr is the address to use.
	Addr netip.Addr
	// Name is the name it was resolved from, or "".
	Name string
	// Target is the target rewritten to Addr (with the port kept).
	Target string
}

// CheckTarget normalises target, resolves a name with r, checks the
// address and returns the target rewritten to it. A refusal is a *Denied;
// a name that does not resolve is a *vpndiag.Error (EINVALID).
func (p *Policy) CheckTarget(ctx context.Context, r Resolver, target string) (*Checked, error) {
	h, ok := ParseTarget(target)
	if !ok {
		return nil, deny("%q is neither an IP address nor a DNS name", target)
	}
	c := &Checked{Addr: h.Addr}
	if !h.Addr.IsValid() {
		if !p.AllowsName(h.Name) {
			return nil, deny("the name %s is not in the allowlist", h.Name)
		}
		addrs, err := r.LookupNetIP(ctx, "ip", h.Name)
		if err != nil || len(addrs) == 0 {
			var de *net.DNSError
			if errors.As(err, &de) && de.IsNotFound {
				return nil, vpndiag.Errorf(vpndiag.EINVALID, "The relay could not resolve %s: no such name.", h.Name)
			}
			return nil, vpndiag.Errorf(vpndiag.EINVALID, "The relay could not resolve %s: %v.", h.Name, errText(err))
		}
		// IPv4 first, as the probes prefer it; the first allowed address
		// is the one used.
		for i := range addrs {
			addrs[i] = addrs[i].WithZone("").Unmap()
		}
		slices.SortStableFunc(addrs, func(a, b netip.Addr) int { return cmpBool(a.Is4(), b.Is4()) })
		addrs = slices.Compact(addrs)
		for _, a := range addrs {
			if p.CheckAddr(a) == nil {
				c.Addr, c.Name = a, h.Name
				break
			}
		}
		if !c.Addr.IsValid() {
			if len(addrs) == 1 {
				return nil, deny("%s resolves to %s, which is not in the allowlist", h.Name, addrs[0])
			}
			s := make([]string, len(addrs))
			for i, a := range addrs {
				s[i] = a.String()
			}
			return nil, deny("%s resolves to %s and %s, none of which is in the allowlist", h.Name, strings.Join(s[:len(s)-1], ", "), s[len(s)-1])
		}
	} else if err := p.CheckAddr(h.Addr); err != nil {
		if h.Spelled() {
			return nil, deny("%s (%s) %s", h.Raw, h.Addr, strings.TrimPrefix(err.(*Denied).Reason, h.Addr.String()+" "))
		}
		return nil, err
	}
	c.Target = c.Addr.String()
	if h.Port != "" {
		c.Target = net.JoinHostPort(c.Addr.String(), h.Port)
	}
	return c, nil
}

// cmpBool orders true before false.
func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return -1
	}
	return 1
}

func errText(err error) string {
	if err == nil {
		return "no addresses"
	}
	var de *net.DNSError
	if errors.As(err, &de) {
		return de.Err
	}
	return err.Error()
}

// Check checks req against the policy and returns a copy with every
// network target rewritten to its checked address. It does not apply the
// limits (see Guard). A refusal is a *Denied.
func (p *Policy) Check(ctx context.Context, r Resolver, req *vpndiag.ProbeRequest) (*vpndiag.ProbeRequest, error) {
	if !p.Allows(req.Kind) {
		var names []string
		for _, k := range p.Kinds {
			names = append(names, string(k))
		}
		allowed := "none"
		if len(names) > 0 {
			allowed = strings.Join(names, ", ")
		}
		return nil, deny("probe kind %q is not allowed (allowed: %s)", req.Kind, allowed)
	}
	d, err := probes.Lookup(req.Kind)
	if err != nil {
		return nil, deny("probe kind %q is unknown", req.Kind)
	}
	out := *req
	out.Params = maps.Clone(req.Params)
	if d.Targets.Target {
		c, err := p.CheckTarget(ctx, r, req.Target)
		if err != nil {
			return nil, err
		}
		out.Target = c.Target
		if key := d.Targets.ServerName; c.Name != "" && key != "" {
			if out.Params == nil {
				out.Params = map[string]string{}
			}
			if out.Params[key] == "" {
				out.Params[key] = c.Name
			}
		}
	}
	for _, key := range d.Targets.Params {
		v, ok := req.Params[key]
		if !ok || v == "" {
			continue
		}
		c, err := p.CheckTarget(ctx, r, v)
		if err != nil {
			return nil, err
		}
		out.Params[key] = c.Target
	}
	if key := d.Targets.Implicit; key != "" && strings.TrimSpace(req.Params[key]) == "" {
		return nil, deny("the %s probe must name its %s (the %s parameter): without it the probe picks a target of its own, which the policy cannot check", req.Kind, key, key)
	}
	return &out, nil
}
