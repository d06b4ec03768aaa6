package policy

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// Host is a probe target's host, normalised: either an address (every
// spelling of it reduced to one form) or a lower-case DNS name.
type Host struct {
	// Raw is the host as written in the request, without port and brackets.
	Raw string
	// Addr is the address when the host is one; invalid for a name.
	Addr netip.Addr
	// Name is the lower-case name without a trailing dot, for a name.
	Name string
	// Port is the port when the target had one ("" otherwise).
	Port string
}

// Spelled reports whether the raw host is an unusual spelling of its
// address (decimal, octal, hex, IPv4-mapped IPv6, a zone), so that a
// refusal can show both.
func (h Host) Spelled() bool { return h.Addr.IsValid() && h.Raw != h.Addr.String() }

// ParseTarget splits a target into host and optional port and normalises
// the host. It accepts host, host:port, [v6], [v6]:port and bare IPv6.
// ok is false when the host is neither an address nor a valid DNS name.
func ParseTarget(target string) (h Host, ok bool) {
	t := strings.TrimSpace(target)
	if t == "" || strings.ContainsAny(t, " \t\r\n/\\@?#") {
		return Host{Raw: t}, false
	}
	host := t
	if hh, port, err := net.SplitHostPort(t); err == nil {
		host, h.Port = hh, port
	} else if strings.HasPrefix(t, "[") && strings.HasSuffix(t, "]") {
		host = t[1 : len(t)-1]
	}
	h.Raw = host
	if a, ok := ParseAddr(host); ok {
		h.Addr = a
		return h, true
	}
	name := strings.ToLower(strings.TrimSuffix(host, "."))
	if !validName(name) {
		return h, false
	}
	h.Name = name
	return h, true
}

// ParseAddr parses every spelling of an IP address a resolver or a C
// library might accept and returns its canonical form: IPv4-mapped IPv6
// is unmapped, an IPv6 zone is dropped, and IPv4 in the inet_aton forms
// (2852039166, 0251.0376.0251.0376, 0xa9.0xfe.0xa9.0xfe, 169.254.43518,
// a trailing dot) is read as the address it names.
func ParseAddr(s string) (netip.Addr, bool) {
	s = strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"), ".")
	if s == "" {
		return netip.Addr{}, false
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a.WithZone("").Unmap(), true
	}
	if strings.Contains(s, ":") {
		// An IPv6 address with a zone netip did not accept (e.g. "%25"
		// URL-escaped), or garbage: drop the zone and try again.
		if i := strings.IndexByte(s, '%'); i > 0 {
			if a, err := netip.ParseAddr(s[:i]); err == nil {
				return a.Unmap(), true
			}
		}
		return netip.Addr{}, false
	}
	return parseInetAton(s)
}

// parseInetAton reads IPv4 as inet_aton(3) does: one to four parts, each
// decimal, octal (leading 0) or hex (leading 0x), the last part filling the
// remaining bytes.
func parseInetAton(s string) (netip.Addr, bool) {
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	vals := make([]uint64, len(parts))
	for i, p := range parts {
		if p == "" {
			return netip.Addr{}, false
		}
		base, digits := 10, p
		switch {
		case len(p) > 1 && (p[:2] == "0x" || p[:2] == "0X"):
			base, digits = 16, p[2:]
			if digits == "" {
				// "0x" alone is 0 to inet_aton.
				digits = "0"
			}
		case len(p) > 1 && p[0] == '0':
			base, digits = 8, p[1:]
		}
		v, err := strconv.ParseUint(digits, base, 32)
		if err != nil {
			return netip.Addr{}, false
		}
		vals[i] = v
	}
	var n uint64
	last := len(vals) - 1
	for i := 0; i < last; i++ {
		if vals[i] > 0xff {
			return netip.Addr{}, false
		}
		n |= vals[i] << (8 * (3 - i))
	}
	rest := uint64(1)<<(8*(4-last)) - 1
	if vals[last] > rest {
		return netip.Addr{}, false
	}
	n |= vals[last]
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), true
}

// validName reports whether name (lower case, no trailing dot) is a DNS
// host name: labels of letters, digits, '-' and '_', not all-numeric at
// the top (so that "1.2.3.999" is not taken for a name).
func validName(name string) bool {
	if name == "" || len(name) > 253 {
		return false
	}
	labels := strings.Split(name, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	top := labels[len(labels)-1]
	if _, err := strconv.ParseUint(top, 0, 64); err == nil || strings.Trim(top, "0123456789") == "" {
		return false
	}
	if strings.HasPrefix(top, "0x") && strings.Trim(top[2:], "0123456789abcdef") == "" {
		return false
	}
	return true
}
