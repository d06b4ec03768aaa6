package status

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
	"regexp"
	"strings"
)

// parseSelector reads one traffic selector in any of the vendors' forms:
// 10.1.0.0/16, 10.1.0.0/255.255.0.0, (10.1.0.0/255.255.0.0/0/0),
// 10.1.0.0-10.1.255.255, 0:10.1.0.0-10.1.255.255:0, 10.1.0.0/16[tcp/443],
// ipv4_subnet(any:0,[0..7]=10.1.0.0/16), 10.1.0.0/0 - 10.1.255.255/65535,
// or one address. ok is false for anything else (e.g. "dynamic").
func parseSelector(s string) ([]netip.Prefix, bool) {
	s = strings.TrimSpace(s)
	// Junos: ipv4_subnet(any:0,[0..7]=X), ipv4(X), ipv6_range(...=X).
	if i := strings.IndexByte(s, '('); i > 0 && strings.HasSuffix(s, ")") {
		s = s[i+1 : len(s)-1]
		if j := strings.LastIndexByte(s, '='); j >= 0 {
			s = s[j+1:]
		}
	}
	if i := strings.IndexByte(s, '['); i > 0 { // strongSwan proto/port suffix
		s = s[:i]
	}
	s = strings.Trim(s, "() ")
	if m := fortiSel.FindStringSubmatch(s); m != nil {
		s = m[1]
	}
	if m := asaSel.FindStringSubmatch(s); m != nil {
		return rangePrefixes(m[1], m[2])
	}
	// Cisco ident addr/mask/prot/port.
	if parts := strings.Split(s, "/"); len(parts) == 4 {
		s = parts[0] + "/" + parts[1]
	}
	if a, b, ok := strings.Cut(s, "-"); ok {
		return rangePrefixes(strings.TrimSpace(a), strings.TrimSpace(b))
	}
	if a, m, ok := strings.Cut(s, "/"); ok {
		addr, err := netip.ParseAddr(a)
		if err != nil {
			return nil, false
		}
		if mask, err := netip.ParseAddr(m); err == nil && mask.Is4() {
			ones, ok := maskBits(mask)
			if !ok {
				return nil, false
			}
			return []netip.Prefix{netip.PrefixFrom(addr, ones).Masked()}, true
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, false
		}
		return []netip.Prefix{p.Masked()}, true
	}
	addr, err := netip.ParseAddr(s)
	if err != nil {
		return nil, false
	}
	return []netip.Prefix{netip.PrefixFrom(addr, addr.BitLen())}, true
}

var (
	fortiSel = regexp.MustCompile(`^\d+:(\S+):\d+$`)
	asaSel   = regexp.MustCompile(`^([0-9a-fA-F.:]+)/\d+\s*-\s*([0-9a-fA-F.:]+)/\d+$`)
)

func maskBits(m netip.Addr) (int, bool) {
	v := binary.BigEndian.Uint32(m.AsSlice())
	ones := bits.LeadingZeros32(^v)
	if v<<ones != 0 {
		return 0, false
	}
	return ones, true
}

// rangePrefixes turns an address range into the fewest prefixes that
// cover it exactly (IPv4), or one prefix when the range is one (IPv6).
func rangePrefixes(from, to string) ([]netip.Prefix, bool) {
	a, err1 := netip.ParseAddr(from)
	b, err2 := netip.ParseAddr(to)
	if err1 != nil || err2 != nil || a.Is4() != b.Is4() || b.Less(a) {
		return nil, false
	}
	if !a.Is4() {
		for l := 0; l <= 128; l++ {
			p := netip.PrefixFrom(a, l).Masked()
			if p.Addr() == a && lastAddr(p) == b {
				return []netip.Prefix{p}, true
			}
		}
		return nil, false
	}
	lo := uint64(binary.BigEndian.Uint32(a.AsSlice()))
	hi := uint64(binary.BigEndian.Uint32(b.AsSlice()))
	var out []netip.Prefix
	for lo <= hi {
		size := 32
		for size > 0 {
			block := uint64(1) << (33 - size)
			if lo%block != 0 || lo+block-1 > hi {
				break
			}
			size--
		}
		var ip [4]byte
		binary.BigEndian.PutUint32(ip[:], uint32(lo))
		out = append(out, netip.PrefixFrom(netip.AddrFrom4(ip), size))
		lo += uint64(1) << (32 - size)
	}
	return out, true
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 1 << (7 - i%8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// covers reports whether outer contains all of inner.
func covers(outer, inner netip.Prefix) bool {
	return outer.Bits() <= inner.Bits() && outer.Contains(inner.Addr())
}
