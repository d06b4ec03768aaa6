package probes

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vpndiag/vpndiag"
)

// params reads a request's Params with validation. The first problem is
// kept and reported by done, which also rejects keys the kind does not know
// (a typo must not silently fall back to a default).
type params struct {
	kind vpndiag.ProbeKind
	m    map[string]string
	used map[string]bool
	err  error
}

func newParams(req *vpndiag.ProbeRequest) *params {
	return &params{kind: req.Kind, m: req.Params, used: map[string]bool{}}
}

func (p *params) fail(format string, args ...any) {
	if p.err == nil {
		p.err = vpndiag.Errorf(vpndiag.EINVALID, format, args...)
	}
}

// get returns the trimmed value of key and whether it was given (non-empty).
func (p *params) get(key string) (string, bool) {
	p.used[key] = true
	v := strings.TrimSpace(p.m[key])
	return v, v != ""
}

func (p *params) str(key, def string) string {
	if v, ok := p.get(key); ok {
		return v
	}
	return def
}

func (p *params) integer(key string, def, lo, hi int) int {
	v, ok := p.get(key)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		p.fail("The %s probe's %s must be a whole number, not %q.", p.kind, key, v)
		return def
	}
	if n < lo || n > hi {
		p.fail("The %s probe's %s must be between %d and %d (got %d).", p.kind, key, lo, hi, n)
		return def
	}
	return n
}

// duration accepts a Go duration ("500ms", "5s", "1m") or a number of seconds.
func (p *params) duration(key string, def, lo, hi time.Duration) time.Duration {
	v, ok := p.get(key)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		f, ferr := strconv.ParseFloat(v, 64)
		if ferr != nil {
			p.fail("The %s probe's %s must be a duration such as 5s or 500ms, not %q.", p.kind, key, v)
			return def
		}
		d = time.Duration(f * float64(time.Second))
	}
	if d < lo || d > hi {
		p.fail("The %s probe's %s must be between %s and %s (got %s).", p.kind, key, lo, hi, d)
		return def
	}
	return d
}

func (p *params) boolean(key string, def bool) bool {
	v, ok := p.get(key)
	if !ok {
		return def
	}
	b, err := strconv.ParseBool(strings.ToLower(v))
	if err != nil {
		switch strings.ToLower(v) {
		case "yes", "on":
			return true
		case "no", "off":
			return false
		}
		p.fail("The %s probe's %s must be true or false, not %q.", p.kind, key, v)
		return def
	}
	return b
}

// done returns the first problem, or an error naming unknown keys.
func (p *params) done() error {
	if p.err != nil {
		return p.err
	}
	var unknown []string
	for k := range p.m {
		if !p.used[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		known := make([]string, 0, len(p.used))
		for k := range p.used {
			known = append(known, k)
		}
		sort.Strings(known)
		return vpndiag.Errorf(vpndiag.EINVALID, "The %s probe has no parameter %s; its parameters are %s.",
			p.kind, strings.Join(quoteAll(unknown), ", "), strings.Join(known, ", "))
	}
	return nil
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strconv.Quote(s)
	}
	return out
}

// checkHost validates an IP address or host name (no port) and returns it
// without surrounding brackets.
func checkHost(kind vpndiag.ProbeKind, what, host string) (string, error) {
	host = strings.TrimSpace(host)
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	if host == "" {
		return "", vpndiag.Errorf(vpndiag.EINVALID, "The %s probe needs %s.", kind, what)
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return host, nil
	}
	if looksNumeric(host) || strings.Contains(host, ":") {
		return "", vpndiag.Errorf(vpndiag.EINVALID, "%q is not a valid IP address (%s of the %s probe).", host, what, kind)
	}
	if !validHostname(host) {
		return "", vpndiag.Errorf(vpndiag.EINVALID, "%q is not a valid IP address or host name (%s of the %s probe).", host, what, kind)
	}
	return host, nil
}

// looksNumeric is true for strings of digits and dots, which are meant as
// IPv4 addresses and must not be resolved as names.
func looksNumeric(s string) bool {
	for _, c := range s {
		if (c < '0' || c > '9') && c != '.' {
			return false
		}
	}
	return true
}

// validHostname checks RFC 1123 host name syntax (letters, digits, hyphens
// and underscores in labels of 1..63 characters, 253 in all).
func validHostname(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
			if !ok {
				return false
			}
		}
	}
	return true
}

// splitHostPort splits "host:port", "[v6]:port", or a bare host (port 0).
func splitHostPort(kind vpndiag.ProbeKind, target string) (host string, port int, err error) {
	target = strings.TrimSpace(target)
	if _, perr := netip.ParseAddr(strings.Trim(target, "[]")); perr == nil || !strings.Contains(target, ":") {
		return target, 0, nil
	}
	h, ps, serr := net.SplitHostPort(target)
	if serr != nil {
		return "", 0, vpndiag.Errorf(vpndiag.EINVALID, "%q is not a valid host:port target for the %s probe.", target, kind)
	}
	n, perr := strconv.Atoi(ps)
	if perr != nil || n < 1 || n > 65535 {
		return "", 0, vpndiag.Errorf(vpndiag.EINVALID, "Port %q is out of range: a port is a number from 1 to 65535.", ps)
	}
	return h, n, nil
}

// resolve returns host's address: the host itself when it is an IP address,
// else the first IPv4 address the system resolver gives (IPv6 when there is
// none). A name that does not resolve is an ENOTFOUND error naming it.
func resolve(ctx context.Context, host string) (netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return a.Unmap(), nil
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		var dnsErr *net.DNSError
		if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
			return netip.Addr{}, fmt.Errorf("resolve %s: %w", host, vpndiag.Errorf(vpndiag.ENOTFOUND, "Cannot resolve %q: no such host.", host))
		}
		return netip.Addr{}, fmt.Errorf("resolve %s: %v: %w", host, err, vpndiag.Errorf(vpndiag.EUNAVAILABLE, "Cannot resolve %q: the resolver did not answer.", host))
	}
	for _, a := range addrs {
		if a.Unmap().Is4() {
			return a.Unmap(), nil
		}
	}
	if len(addrs) == 0 {
		return netip.Addr{}, vpndiag.Errorf(vpndiag.ENOTFOUND, "Cannot resolve %q: no addresses.", host)
	}
	return addrs[0], nil
}

// ms formats a duration as milliseconds with two decimals.
func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64) + " ms"
}
