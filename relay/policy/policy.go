// Package policy is the relay's local policy: a YAML file owned by the
// customer that says which probes the relay may run, against which
// addresses and names, how many at once and how often. Everything not
// allowed is refused (default deny), and a refusal comes back as a probe
// result with vpndiag.OutcomeDenied and a sentence saying why.
//
// A name is resolved by the relay, the address is checked, and the probe
// is sent to the checked address (the name is kept for TLS SNI and
// display), so that a name cannot change its answer between check and use.
package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/vpndiag/vpndiag"
)

// Defaults for limits the file leaves out.
const (
	DefaultMaxConcurrent = 4
	DefaultRate          = 60
	DefaultRatePer       = time.Minute
	// MaxMaxConcurrent caps max_concurrent, so that a typo cannot turn the
	// relay into a scanner.
	MaxMaxConcurrent = 64
)

// Policy is a parsed, validated policy file.
type Policy struct {
	// Kinds are the probe kinds allowed.
	Kinds []vpndiag.ProbeKind
	// CIDRs are the address ranges probes may target.
	CIDRs []netip.Prefix
	// Names are exact DNS names probes may target (lower case, no trailing dot).
	Names []string
	// Suffixes are allowed name suffixes, from "*.example.cloud" entries,
	// stored as ".example.cloud": they match names below it, not the apex.
	Suffixes []string
	// MaxConcurrent is how many probes may run at once.
	MaxConcurrent int
	// Rate probes may start per RatePer.
	Rate    int
	RatePer time.Duration
	// Resolver is the DNS server (ip:port) the relay resolves names with;
	// empty uses the system's resolver.
	Resolver string
}

// file is the YAML form.
type file struct {
	Version       int         `yaml:"version"`
	Kinds         []kind      `yaml:"kinds"`
	CIDRs         []cidr      `yaml:"cidrs"`
	Names         []name      `yaml:"names"`
	MaxConcurrent *count      `yaml:"max_concurrent"`
	RateLimit     *rateLimit  `yaml:"rate_limit"`
	Resolver      *serverAddr `yaml:"resolver"`
}

type rateLimit struct {
	Probes count    `yaml:"probes"`
	Per    duration `yaml:"per"`
}

type kind vpndiag.ProbeKind

func (k *kind) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode && slices.Contains(vpndiag.ProbeKinds, vpndiag.ProbeKind(n.Value)) {
		*k = kind(n.Value)
		return nil
	}
	names := make([]string, len(vpndiag.ProbeKinds))
	for i, k := range vpndiag.ProbeKinds {
		names[i] = string(k)
	}
	return fmt.Errorf("line %d: kinds: %q is not a probe kind (kinds are %s)", n.Line, n.Value, strings.Join(names, ", "))
}

type cidr netip.Prefix

func (c *cidr) UnmarshalYAML(n *yaml.Node) error {
	s := strings.TrimSpace(n.Value)
	if n.Kind == yaml.ScalarNode {
		if p, err := netip.ParsePrefix(s); err == nil {
			if p != p.Masked() {
				return fmt.Errorf("line %d: cidrs: %s has host bits set (did you mean %s?)", n.Line, s, p.Masked())
			}
			if p.Addr().Is4In6() {
				return fmt.Errorf("line %d: cidrs: %s is IPv4-mapped IPv6; write the IPv4 range", n.Line, s)
			}
			*c = cidr(p)
			return nil
		}
		if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
			// A single address is its host prefix.
			*c = cidr(netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			return nil
		}
	}
	return fmt.Errorf("line %d: cidrs: %q is not a CIDR or an IP address (e.g. 10.20.0.0/16 or 10.20.0.5)", n.Line, n.Value)
}

type name string

func (m *name) UnmarshalYAML(n *yaml.Node) error {
	s := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(n.Value), "."))
	base := strings.TrimPrefix(s, "*.")
	if n.Kind == yaml.ScalarNode && validName(base) {
		*m = name(s)
		return nil
	}
	if n.Kind == yaml.ScalarNode {
		if _, ok := ParseAddr(s); ok {
			return fmt.Errorf("line %d: names: %q is an address; list it under cidrs", n.Line, n.Value)
		}
	}
	return fmt.Errorf("line %d: names: %q is not a DNS name or a *.suffix (e.g. db.example.cloud or *.example.cloud)", n.Line, n.Value)
}

type count int

func (c *count) UnmarshalYAML(n *yaml.Node) error {
	var v int
	if err := n.Decode(&v); err != nil || v < 1 {
		return fmt.Errorf("line %d: %q must be a whole number of at least 1", n.Line, n.Value)
	}
	*c = count(v)
	return nil
}

type duration time.Duration

func (d *duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil || v < time.Second || v > 24*time.Hour {
		return fmt.Errorf("line %d: rate_limit.per: %q must be a duration from 1s to 24h (e.g. 1m)", n.Line, n.Value)
	}
	*d = duration(v)
	return nil
}

type serverAddr string

func (s *serverAddr) UnmarshalYAML(n *yaml.Node) error {
	v := strings.TrimSpace(n.Value)
	if v == "" {
		return nil
	}
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		host, port = v, "53"
	}
	a, aerr := netip.ParseAddr(host)
	if aerr != nil || port == "" {
		return fmt.Errorf("line %d: resolver: %q must be an IP address, optionally with :port (e.g. 10.20.0.2:53)", n.Line, n.Value)
	}
	*s = serverAddr(net.JoinHostPort(a.String(), port))
	return nil
}

// Load reads and parses the policy file at path.
func Load(path string) (*Policy, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("relay policy: cannot read %s: %w", path, errors.Unwrap(err))
	}
	p, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("relay policy %s: %w", path, err)
	}
	return p, nil
}

// Parse parses a policy document strictly: an unknown field, a bad CIDR,
// name, kind or limit is an error naming its line and field.
func Parse(data []byte) (*Policy, error) {
	if len(data) > 1<<20 {
		return nil, errors.New("the file is over 1 MiB")
	}
	var f file
	if len(bytes.TrimSpace(data)) > 0 {
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
			return nil, errors.New(strings.TrimPrefix(err.Error(), "yaml: "))
		}
	}
	if f.Version != 0 && f.Version != 1 {
		return nil, fmt.Errorf("version: %d is not supported (this relay reads version 1)", f.Version)
	}
	p := &Policy{MaxConcurrent: DefaultMaxConcurrent, Rate: DefaultRate, RatePer: DefaultRatePer}
	for _, k := range f.Kinds {
		if !slices.Contains(p.Kinds, vpndiag.ProbeKind(k)) {
			p.Kinds = append(p.Kinds, vpndiag.ProbeKind(k))
		}
	}
	for _, c := range f.CIDRs {
		p.CIDRs = append(p.CIDRs, netip.Prefix(c))
	}
	for _, n := range f.Names {
		if s, ok := strings.CutPrefix(string(n), "*"); ok {
			p.Suffixes = append(p.Suffixes, s)
		} else {
			p.Names = append(p.Names, string(n))
		}
	}
	if f.MaxConcurrent != nil {
		if *f.MaxConcurrent > MaxMaxConcurrent {
			return nil, fmt.Errorf("max_concurrent: %d is over %d", *f.MaxConcurrent, MaxMaxConcurrent)
		}
		p.MaxConcurrent = int(*f.MaxConcurrent)
	}
	if f.RateLimit != nil {
		if f.RateLimit.Probes == 0 || f.RateLimit.Per == 0 {
			return nil, errors.New("rate_limit: set both probes and per (e.g. probes: 60, per: 1m)")
		}
		p.Rate, p.RatePer = int(f.RateLimit.Probes), time.Duration(f.RateLimit.Per)
	}
	if f.Resolver != nil {
		p.Resolver = string(*f.Resolver)
	}
	return p, nil
}

// Allows reports whether kind k may run.
func (p *Policy) Allows(k vpndiag.ProbeKind) bool { return slices.Contains(p.Kinds, k) }

// Summary is one line describing the policy, for the relay's start-up log.
func (p *Policy) Summary() string {
	var kinds []string
	for _, k := range p.Kinds {
		kinds = append(kinds, string(k))
	}
	if len(kinds) == 0 {
		kinds = []string{"none"}
	}
	return fmt.Sprintf("kinds %s; %d CIDRs, %d names, %d suffixes; at most %d at once, %d per %s",
		strings.Join(kinds, ","), len(p.CIDRs), len(p.Names), len(p.Suffixes), p.MaxConcurrent, p.Rate, p.RatePer)
}
