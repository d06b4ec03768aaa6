package config

import (
	"net"
	"sort"
	"strconv"
	"strings"
	"time"
)

// cmd is a top-level Cisco command with its indented sub-commands.
type cmd struct {
	line int
	f    []string // fields
	sub  []subcmd
}

type subcmd struct {
	line int
	f    []string
}

// ciscoP2 is what a Cisco crypto map entry (ASA) or IPsec profile (IOS)
// says of phase 2.
type ciscoP2 struct {
	pfs       Value[bool]
	groups    []Value[int]
	lifetime  Value[time.Duration]
	kb        Value[int64]
	transform []Value[string]
}

// apply sets t's phase 2 and PFS from p, with global the device-wide
// phase 2 lifetime used when p sets none.
func (p *ciscoP2) apply(t *Tunnel, global Value[time.Duration]) {
	t.Phase2.Lifetime = global
	if p.lifetime.Known() {
		t.Phase2.Lifetime = p.lifetime
	}
	t.Phase2.LifetimeKB = p.kb
	t.Phase2.Proposals = p.transform
	t.PFS = Default(false)
	if p.pfs.Known() {
		t.PFS = p.pfs
		t.Phase2.DHGroups = p.groups
	}
}

// ciscoIdentity reads the device-wide "crypto isakmp identity" (IOS and
// ASA): the identity the device sends when the command names one other
// than its address. hostname sends the device's name with its domain
// (hostname, and ip domain name or domain-name) as configured, or
// "hostname" when the file has no hostname line; key-id sends its string
// (ASA). address, auto and dn leave the identity to the device's address
// or certificate, which the file does not state: unset.
func ciscoIdentity(cmds []*cmd) Value[string] {
	var id Value[string]
	host, domain := "", ""
	for _, c := range cmds {
		f := c.f
		switch {
		case has(f, "crypto", "isakmp", "identity") && len(f) > 3:
			id = Value[string]{}
			switch strings.ToLower(f[3]) {
			case "hostname":
				id = At("hostname", c.line)
			case "key-id":
				if len(f) > 4 {
					id = At(f[4], c.line)
				}
			}
		case has(f, "hostname") && len(f) > 1:
			host = f[1]
		case has(f, "ip", "domain", "name") && len(f) > 3:
			domain = f[3]
		case has(f, "ip", "domain-name") && len(f) > 2:
			domain = f[2]
		case has(f, "domain-name") && len(f) > 1:
			domain = f[1]
		}
	}
	if id.V == "hostname" && host != "" {
		id.V = strings.TrimSuffix(host+"."+domain, ".")
	}
	return id
}

// ciscoCommands groups lines into commands; "!" lines and "exit" end nothing
// in particular and are skipped.
func ciscoCommands(ls []string) []*cmd {
	var out []*cmd
	var cur *cmd
	for i, raw := range ls {
		t := strings.TrimSpace(raw)
		if t == "" || t[0] == '!' || t[0] == ':' {
			continue
		}
		f := strings.Fields(t)
		if raw[0] == ' ' || raw[0] == '\t' {
			if cur != nil && f[0] != "exit" {
				cur.sub = append(cur.sub, subcmd{line: i + 1, f: f})
			}
			continue
		}
		if f[0] == "exit" || f[0] == "end" {
			cur = nil
			continue
		}
		cur = &cmd{line: i + 1, f: f}
		out = append(out, cur)
	}
	return out
}

// has reports whether f starts with words.
func has(f []string, words ...string) bool {
	if len(f) < len(words) {
		return false
	}
	for i, w := range words {
		if !strings.EqualFold(f[i], w) {
			return false
		}
	}
	return true
}

// aclEntry is one "permit ip SRC DST" line of an access list.
type aclEntry struct {
	src, dst string
	line     int
}

// aclAddr reads one address operand at f[i]: any, host A, object-group N,
// object N, A MASK; it returns the text and the number of fields used.
func aclAddr(f []string, i int, wildcard bool) (string, int) {
	if i >= len(f) {
		return "", 0
	}
	switch strings.ToLower(f[i]) {
	case "any", "any4", "any6":
		return "any", 1
	case "host":
		if i+1 < len(f) {
			return f[i+1] + "/32", 2
		}
		return "", 0
	case "object-group", "object":
		if i+1 < len(f) {
			return f[i] + " " + f[i+1], 2
		}
		return "", 0
	}
	if i+1 < len(f) {
		if p, ok := maskToPrefix(f[i], f[i+1], wildcard); ok {
			return p, 2
		}
		if strings.Count(f[i+1], ".") == 3 || strings.Contains(f[i+1], "mask") || strings.HasSuffix(f[i+1], "_mask") {
			return f[i] + " " + f[i+1], 2
		}
	}
	if strings.Contains(f[i], "/") {
		return f[i], 1
	}
	return f[i], 1
}

// ciscoACLs reads extended ACL entries that permit ip: ASA "access-list N
// extended permit ip S D", IOS "access-list 101 permit ip S D" and named
// "ip access-list extended N" with " permit ip S D" lines.
func ciscoACLs(cmds []*cmd, wildcard bool) map[string][]aclEntry {
	acl := map[string][]aclEntry{}
	add := func(name string, f []string, line int) {
		if len(f) < 2 || !strings.EqualFold(f[0], "permit") {
			return
		}
		i := 1
		if strings.EqualFold(f[i], "ip") {
			i++
		} else {
			return
		}
		s, n := aclAddr(f, i, wildcard)
		if n == 0 {
			return
		}
		d, m := aclAddr(f, i+n, wildcard)
		if m == 0 {
			return
		}
		acl[name] = append(acl[name], aclEntry{src: s, dst: d, line: line})
	}
	for _, c := range cmds {
		switch {
		case has(c.f, "access-list") && len(c.f) > 3 && strings.EqualFold(c.f[2], "extended"):
			add(c.f[1], c.f[3:], c.line)
		case has(c.f, "access-list") && len(c.f) > 2:
			add(c.f[1], c.f[2:], c.line)
		case has(c.f, "ip", "access-list", "extended") && len(c.f) > 3:
			for _, s := range c.sub {
				f := s.f
				if len(f) > 0 {
					if _, err := strconv.Atoi(f[0]); err == nil {
						f = f[1:]
					}
				}
				add(c.f[3], f, s.line)
			}
		}
	}
	return acl
}

// ciscoPolicy is an ISAKMP / IKEv1 / IKEv2 policy.

// ciscoPolicy is an ISAKMP / IKEv1 / IKEv2 policy.
type ciscoPolicy struct {
	prio     int
	line     int
	lifetime Value[time.Duration]
	groups   []Value[int]
	props    []Value[string]
	auth     Value[string]
}

// phase1 sets t's phase 1 and authentication from the policy.
func (p ciscoPolicy) phase1(t *Tunnel) {
	t.Phase1.Lifetime = p.lifetime
	t.Phase1.DHGroups = p.groups
	t.Phase1.Proposals = p.props
	t.Auth = p.auth
}

// readPolicy reads the sub-commands of an ISAKMP / IKEv1 / IKEv2 policy or
// IKEv2 proposal: lifetime, DH groups, encryption, hash and authentication.
func readPolicy(c *cmd, prio int, def time.Duration) ciscoPolicy {
	p := ciscoPolicy{prio: prio, line: c.line, lifetime: Default(def)}
	for _, s := range c.sub {
		switch {
		case has(s.f, "lifetime", "seconds") && len(s.f) > 2:
			setSeconds(&p.lifetime, s.f[2], s.line)
		case has(s.f, "lifetime") && len(s.f) > 1:
			setSeconds(&p.lifetime, s.f[1], s.line)
		case has(s.f, "group") && len(s.f) > 1:
			for _, g := range s.f[1:] {
				if n, ok := dhGroup(g); ok {
					p.groups = append(p.groups, At(n, s.line))
				}
			}
		case (has(s.f, "encryption") || has(s.f, "encr")) && len(s.f) > 1:
			p.props = append(p.props, At("encryption "+strings.Join(s.f[1:], " "), s.line))
		case (has(s.f, "hash") || has(s.f, "integrity")) && len(s.f) > 1:
			p.props = append(p.props, At(s.f[0]+" "+strings.Join(s.f[1:], " "), s.line))
		case has(s.f, "authentication") && len(s.f) > 1:
			p.auth = At(ciscoAuth(s.f[1]), s.line)
		}
	}
	return p
}

// ciscoAuth maps an authentication method word (pre-share, rsa-sig,
// ecdsa-sig…) to the model's "psk" or "pubkey".
func ciscoAuth(method string) string {
	if strings.HasPrefix(method, "pre-share") {
		return "psk"
	}
	return "pubkey"
}

// setSeconds sets v to n seconds read from s at line, when s is a number.
func setSeconds(v *Value[time.Duration], s string, line int) {
	if n, ok := atoi(s); ok {
		*v = At(time.Duration(n)*time.Second, line)
	}
}

// intAfter returns the number that follows the last word w in f that is
// followed by one: "isakmp keepalive threshold 10 retry 3".
func intAfter(f []string, w string) (int, bool) {
	n, found := 0, false
	for i, x := range f {
		if x == w && i+1 < len(f) {
			if m, ok := atoi(f[i+1]); ok {
				n, found = m, true
			}
		}
	}
	return n, found
}

// readSet reads the phase 2 settings an ASA crypto map entry or IPsec
// profile and an IOS crypto map or IPsec profile share: "set pfs [GROUP]"
// (group 2 when none is named) and "set security-association lifetime
// seconds|kilobytes N".
func (p *ciscoP2) readSet(f []string, line int) {
	switch {
	case has(f, "set", "pfs"):
		p.pfs = At(true, line)
		g := 2
		if len(f) > 2 {
			if n, ok := dhGroup(f[2]); ok {
				g = n
			}
		}
		p.groups = append(p.groups, At(g, line))
	case has(f, "set", "security-association", "lifetime", "seconds") && len(f) > 4:
		setSeconds(&p.lifetime, f[4], line)
	case has(f, "set", "security-association", "lifetime", "kilobytes") && len(f) > 4:
		if n, ok := atoi(f[4]); ok {
			p.kb = At(int64(n), line)
		}
	}
}

// namedTransforms returns the transform sets or IPsec proposals names, each
// as "NAME: what it holds" when known holds it, else as the name alone.
func namedTransforms(names []string, line int, known map[string]string) []Value[string] {
	var out []Value[string]
	for _, n := range names {
		if txt, ok := known[n]; ok && txt != "" {
			out = append(out, At(n+": "+txt, line))
		} else {
			out = append(out, At(n, line))
		}
	}
	return out
}

// ciscoVTI is a tunnel interface protected by an IPsec profile (a
// route-based tunnel), ASA or IOS.
type ciscoVTI struct {
	name, dest string
	line, dl   int
	prof       Value[string]
}

// readTunnelInterface reads "interface TunnelN": its destination and IPsec
// profile; nil when no IPsec profile protects it.
func readTunnelInterface(c *cmd, name string) *ciscoVTI {
	v := &ciscoVTI{name: name, line: c.line}
	for _, s := range c.sub {
		switch {
		case has(s.f, "tunnel", "destination") && len(s.f) > 2:
			v.dest, v.dl = s.f[2], s.line
		case has(s.f, "tunnel", "protection", "ipsec", "profile") && len(s.f) > 4:
			v.prof = At(s.f[4], s.line)
		}
	}
	if !v.prof.Known() {
		return nil
	}
	return v
}

// tunnel returns the route-based tunnel of the interface, its any/any
// selector and its destination as peer.
func (v *ciscoVTI) tunnel(natt Value[string]) *Tunnel {
	t := &Tunnel{Name: v.name, Line: v.line, NATT: natt, RouteBased: At(true, v.prof.Line)}
	if v.dest != "" {
		t.Peers = []Value[string]{At(v.dest, v.dl)}
	}
	t.Selectors = []Selector{{Local: "any", Remote: "any", Line: v.prof.Line}}
	return t
}

// cryptoACLSelectors sets t's selectors from the crypto ACL acl (a crypto
// map's "match address"), with a note when the list is not in the file.
func cryptoACLSelectors(c *Config, t *Tunnel, acls map[string][]aclEntry, acl Value[string]) {
	if !acl.Known() {
		return
	}
	t.Selectors = append(t.Selectors, aclSelectors(acls[acl.V])...)
	if len(acls[acl.V]) == 0 {
		c.note(acl.Line, "crypto ACL %s is not in this file", acl.V)
	}
}

// aclSelectors turns ACL entries into selector pairs.
func aclSelectors(es []aclEntry) []Selector {
	var out []Selector
	for _, a := range es {
		out = append(out, Selector{Local: a.src, Remote: a.dst, Line: a.line})
	}
	return out
}

// address A", keyrings, IKEv2 keyrings; it returns peer → line.
func ciscoPSKs(cmds []*cmd) map[string]int {
	psk := map[string]int{}
	for _, c := range cmds {
		switch {
		case has(c.f, "crypto", "isakmp", "key"):
			for i, w := range c.f {
				if (w == "address" || w == "hostname") && i+1 < len(c.f) {
					psk[withMask(c.f, i+1)] = c.line
				}
			}
		case has(c.f, "crypto", "keyring"):
			for _, s := range c.sub {
				if has(s.f, "pre-shared-key") && len(s.f) > 2 {
					psk[withMask(s.f, 2)] = s.line
				}
			}
		case has(c.f, "crypto", "ikev2", "keyring"):
			var addr string
			for _, s := range c.sub {
				switch {
				case has(s.f, "peer"):
					addr = ""
				case has(s.f, "address") && len(s.f) > 1:
					addr = withMask(s.f, 1)
				case has(s.f, "pre-shared-key") && addr != "":
					psk[addr] = s.line
				}
			}
		}
	}
	return psk
}

// withMask returns the address at f[i], followed by " MASK" when the next
// word is a dotted mask: "crypto isakmp key K address 10.0.0.0 255.0.0.0".
func withMask(f []string, i int) string {
	if i+1 < len(f) && net.ParseIP(f[i+1]) != nil && strings.Count(f[i+1], ".") == 3 && net.ParseIP(f[i]) != nil {
		return f[i] + " " + f[i+1]
	}
	return f[i]
}

// pskFor finds the key for one of peers among keys by address: the peer's
// own address, a subnet with a mask that holds it, or the wildcard key
// (address 0.0.0.0, with or without a mask), which IOS uses for every peer
// without a key of its own, even where the peer is not in the file.
func pskFor(psks map[string]int, peers []Value[string]) (int, bool) {
	for _, p := range peers {
		if l, ok := psks[p.V]; ok {
			return l, true
		}
	}
	keys := make([]string, 0, len(psks))
	for k := range psks {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		l := psks[k]
		addr, mask, _ := strings.Cut(k, " ")
		if addr == "0.0.0.0" && (mask == "" || mask == "0.0.0.0") {
			return l, true
		}
		if mask == "" {
			continue
		}
		m := net.ParseIP(mask).To4()
		a := net.ParseIP(addr).To4()
		if m == nil || a == nil {
			continue
		}
		n := net.IPNet{IP: a.Mask(net.IPMask(m)), Mask: net.IPMask(m)}
		for _, p := range peers {
			if ip := net.ParseIP(p.V); ip != nil && n.Contains(ip) {
				return l, true
			}
		}
	}
	return 0, false
}

// onlyACLs reports whether a Cisco file holds nothing but access lists and
// objects: a crypto ACL pasted on its own, not a device configuration.
func onlyACLs(cmds []*cmd) bool {
	for _, c := range cmds {
		switch {
		case has(c.f, "access-list"), has(c.f, "ip", "access-list"), has(c.f, "object"), has(c.f, "object-group"):
		default:
			return false
		}
	}
	return true
}

// aclFragment handles a file that holds only access lists (a crypto ACL
// pasted on its own): one tunnel whose only known part is its selectors.
func aclFragment(c *Config, acls map[string][]aclEntry) {
	var names []string
	for n := range acls {
		l := strings.ToLower(n)
		if strings.Contains(l, "vpn") || strings.Contains(l, "crypto") || strings.Contains(l, "ipsec") || strings.Contains(l, "tunnel") || len(acls) == 1 {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		es := acls[n]
		t := &Tunnel{Name: "access-list " + n, Line: es[0].line, Selectors: aclSelectors(es)}
		c.Tunnels = append(c.Tunnels, t)
		c.note(es[0].line, "access list %s is taken as a crypto ACL by its name; no crypto map or tunnel settings are in this file", n)
	}
}

// sortedProfiles returns the names of m in order, for deterministic
// matching.
func sortedProfiles[T any](m map[string]T) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
