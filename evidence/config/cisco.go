package config

import (
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
type ciscoPolicy struct {
	prio     int
	line     int
	lifetime Value[time.Duration]
	groups   []Value[int]
	props    []Value[string]
	auth     Value[string]
}

func readPolicy(c *cmd, prio int, def time.Duration) ciscoPolicy {
	p := ciscoPolicy{prio: prio, line: c.line, lifetime: Default(def)}
	var enc, hash string
	for _, s := range c.sub {
		switch {
		case has(s.f, "lifetime", "seconds") && len(s.f) > 2:
			if n, ok := atoi(s.f[2]); ok {
				p.lifetime = At(time.Duration(n)*time.Second, s.line)
			}
		case has(s.f, "lifetime") && len(s.f) > 1:
			if n, ok := atoi(s.f[1]); ok {
				p.lifetime = At(time.Duration(n)*time.Second, s.line)
			}
		case has(s.f, "group") && len(s.f) > 1:
			for _, g := range s.f[1:] {
				if n, ok := dhGroup(g); ok {
					p.groups = append(p.groups, At(n, s.line))
				}
			}
		case (has(s.f, "encryption") || has(s.f, "encr")) && len(s.f) > 1:
			enc = strings.Join(s.f[1:], " ")
			p.props = append(p.props, At("encryption "+enc, s.line))
		case (has(s.f, "hash") || has(s.f, "integrity")) && len(s.f) > 1:
			hash = strings.Join(s.f[1:], " ")
			p.props = append(p.props, At(s.f[0]+" "+hash, s.line))
		case has(s.f, "authentication") && len(s.f) > 1:
			a := "psk"
			if !strings.HasPrefix(s.f[1], "pre-share") {
				a = "pubkey"
			}
			p.auth = At(a, s.line)
		}
	}
	return p
}

// ciscoPSKs finds pre-shared keys by peer address: IOS "crypto isakmp key K
// address A", keyrings, IKEv2 keyrings; it returns peer → line.
func ciscoPSKs(cmds []*cmd) map[string]int {
	psk := map[string]int{}
	for _, c := range cmds {
		switch {
		case has(c.f, "crypto", "isakmp", "key"):
			for i, w := range c.f {
				if (w == "address" || w == "hostname") && i+1 < len(c.f) {
					psk[c.f[i+1]] = c.line
				}
			}
		case has(c.f, "crypto", "keyring"):
			for _, s := range c.sub {
				if has(s.f, "pre-shared-key") && len(s.f) > 2 {
					psk[s.f[2]] = s.line
				}
			}
		case has(c.f, "crypto", "ikev2", "keyring"):
			var addr string
			for _, s := range c.sub {
				switch {
				case has(s.f, "peer"):
					addr = ""
				case has(s.f, "address") && len(s.f) > 1:
					addr = s.f[1]
				case has(s.f, "pre-shared-key") && addr != "":
					psk[addr] = s.line
				}
			}
		}
	}
	return psk
}

// parseCiscoASA reads an ASA running configuration (or a part of it).
func parseCiscoASA(ls []string) *Config {
	c := &Config{Vendor: "cisco-asa", Syntax: "cli", Routing: Default("static")}
	cmds := ciscoCommands(ls)
	acls := ciscoACLs(cmds, false)
	var v1, v2 []ciscoPolicy
	globalP2 := Default(28800 * time.Second)
	natt := Default("enabled")
	type tg struct {
		psk      Value[bool]
		dpd      Value[bool]
		interval Value[time.Duration]
		retries  Value[int]
	}
	groups := map[string]*tg{}
	type entry struct {
		name, seq string
		line      int
		acl       Value[string]
		peers     []Value[string]
		ciscoP2
		v1, v2  bool
		verLine int
	}
	entries := map[string]*entry{}
	var order []string
	// Route-based (VTI) set-ups: IPsec profiles, IKEv2 IPsec proposals and
	// tunnel interfaces.
	type asaProfile struct {
		ciscoP2
		v2 Value[bool]
	}
	profiles := map[string]*asaProfile{}
	proposals := map[string]string{}
	type vti struct {
		name, dest string
		line, dl   int
		prof       Value[string]
	}
	var vtis []*vti
	// Group policies and which tunnel group uses which.
	idle := map[string]Value[time.Duration]{}
	groupPolicy := map[string]Value[string]{}
	remoteAccess := false
	for _, c0 := range cmds {
		if has(c0.f, "crypto", "ipsec", "ikev2", "ipsec-proposal") && len(c0.f) > 4 {
			var parts []string
			for _, s := range c0.sub {
				if has(s.f, "protocol", "esp") && len(s.f) > 3 {
					parts = append(parts, strings.Join(s.f[2:], " "))
				}
			}
			proposals[c0.f[4]] = strings.Join(parts, " ")
		}
	}
	for _, c0 := range cmds {
		f := c0.f
		switch {
		case has(f, "crypto", "ipsec", "profile") && len(f) > 3:
			p := &asaProfile{}
			for _, s := range c0.sub {
				switch {
				case has(s.f, "set", "ikev2", "ipsec-proposal"):
					p.v2 = At(true, s.line)
					for _, n := range s.f[3:] {
						if txt, ok := proposals[n]; ok && txt != "" {
							p.transform = append(p.transform, At(n+": "+txt, s.line))
						} else {
							p.transform = append(p.transform, At(n, s.line))
						}
					}
				case has(s.f, "set", "ikev1", "transform-set"):
					p.v2 = At(false, s.line)
					for _, n := range s.f[3:] {
						p.transform = append(p.transform, At(n, s.line))
					}
				case has(s.f, "set", "pfs"):
					p.pfs = At(true, s.line)
					g := 2
					if len(s.f) > 2 {
						if n, ok := dhGroup(s.f[2]); ok {
							g = n
						}
					}
					p.groups = append(p.groups, At(g, s.line))
				case has(s.f, "set", "security-association", "lifetime", "seconds") && len(s.f) > 4:
					if n, ok := atoi(s.f[4]); ok {
						p.lifetime = At(time.Duration(n)*time.Second, s.line)
					}
				case has(s.f, "set", "security-association", "lifetime", "kilobytes") && len(s.f) > 4:
					if n, ok := atoi(s.f[4]); ok {
						p.kb = At(int64(n), s.line)
					}
				}
			}
			profiles[f[3]] = p
		case has(f, "interface") && len(f) > 1 && strings.HasPrefix(strings.ToLower(f[1]), "tunnel"):
			v := &vti{name: "interface " + f[1], line: c0.line}
			for _, s := range c0.sub {
				switch {
				case has(s.f, "tunnel", "destination") && len(s.f) > 2:
					v.dest, v.dl = s.f[2], s.line
				case has(s.f, "tunnel", "protection", "ipsec", "profile") && len(s.f) > 4:
					v.prof = At(s.f[4], s.line)
				}
			}
			if v.prof.Known() {
				vtis = append(vtis, v)
			}
		case has(f, "group-policy") && len(f) > 2 && strings.EqualFold(f[2], "attributes"):
			for _, s := range c0.sub {
				switch {
				case has(s.f, "vpn-idle-timeout", "none"):
					idle[f[1]] = At(time.Duration(0), s.line)
				case has(s.f, "vpn-idle-timeout") && len(s.f) > 1:
					if n, ok := atoi(s.f[1]); ok {
						idle[f[1]] = At(time.Duration(n)*time.Minute, s.line)
					}
				case has(s.f, "vpn-tunnel-protocol"):
					for _, p := range s.f[1:] {
						if strings.HasPrefix(p, "ssl") || p == "l2tp-ipsec" || p == "webvpn" {
							remoteAccess = true
						}
					}
				}
			}
		case has(f, "tunnel-group") && len(f) > 2 && strings.EqualFold(f[2], "general-attributes"):
			for _, s := range c0.sub {
				if has(s.f, "default-group-policy") && len(s.f) > 1 {
					groupPolicy[f[1]] = At(s.f[1], s.line)
				}
			}
		case has(f, "webvpn") || has(f, "anyconnect"):
			remoteAccess = true
		case (has(f, "crypto", "isakmp", "policy") || has(f, "crypto", "ikev1", "policy")) && len(f) > 3:
			n, _ := atoi(f[3])
			v1 = append(v1, readPolicy(c0, n, 86400*time.Second))
		case has(f, "crypto", "ikev2", "policy") && len(f) > 3:
			n, _ := atoi(f[3])
			v2 = append(v2, readPolicy(c0, n, 86400*time.Second))
		case has(f, "crypto", "ipsec", "security-association", "lifetime", "seconds") && len(f) > 5:
			if n, ok := atoi(f[5]); ok {
				globalP2 = At(time.Duration(n)*time.Second, c0.line)
			}
		case has(f, "crypto", "isakmp", "nat-traversal"):
			natt = At("enabled", c0.line)
		case has(f, "no", "crypto", "isakmp", "nat-traversal"):
			natt = At("disabled", c0.line)
		case has(f, "crypto", "ipsec", "ikev1", "transform-set") || has(f, "crypto", "ipsec", "transform-set"):
		case has(f, "tunnel-group") && len(f) >= 3 && strings.EqualFold(f[2], "ipsec-attributes"):
			g := groups[f[1]]
			if g == nil {
				g = &tg{}
				groups[f[1]] = g
			}
			for _, s := range c0.sub {
				switch {
				case has(s.f, "pre-shared-key") || has(s.f, "ikev1", "pre-shared-key") || has(s.f, "ikev2", "remote-authentication", "pre-shared-key") || has(s.f, "ikev2", "local-authentication", "pre-shared-key"):
					g.psk = At(true, s.line)
				case has(s.f, "isakmp", "keepalive", "disable"):
					g.dpd = At(false, s.line)
				case has(s.f, "isakmp", "keepalive"):
					g.dpd = At(true, s.line)
					for i, w := range s.f {
						if w == "threshold" && i+1 < len(s.f) {
							if n, ok := atoi(s.f[i+1]); ok {
								g.interval = At(time.Duration(n)*time.Second, s.line)
							}
						}
						if w == "retry" && i+1 < len(s.f) {
							if n, ok := atoi(s.f[i+1]); ok {
								g.retries = At(n, s.line)
							}
						}
					}
				}
			}
		case has(f, "crypto", "map") && len(f) >= 5:
			if _, err := strconv.Atoi(f[3]); err != nil {
				continue
			}
			key := f[2] + " " + f[3]
			e := entries[key]
			if e == nil {
				e = &entry{name: f[2], seq: f[3], line: c0.line}
				entries[key] = e
				order = append(order, key)
			}
			rest := f[4:]
			switch {
			case has(rest, "match", "address") && len(rest) > 2:
				e.acl = At(rest[2], c0.line)
			case has(rest, "set", "peer"):
				for _, p := range rest[2:] {
					e.peers = append(e.peers, At(p, c0.line))
				}
			case has(rest, "set", "pfs"):
				e.pfs = At(true, c0.line)
				g := 2
				if len(rest) > 2 {
					if n, ok := dhGroup(rest[2]); ok {
						g = n
					}
				}
				e.groups = append(e.groups, At(g, c0.line))
			case has(rest, "set", "ikev2"):
				e.v2, e.verLine = true, c0.line
			case has(rest, "set", "ikev1", "transform-set") || has(rest, "set", "transform-set"):
				e.v1, e.verLine = true, c0.line
				start := 2
				if strings.EqualFold(rest[1], "ikev1") {
					start = 3
				}
				for _, ts := range rest[start:] {
					e.transform = append(e.transform, At(ts, c0.line))
				}
			case has(rest, "set", "security-association", "lifetime", "seconds") && len(rest) > 4:
				if n, ok := atoi(rest[4]); ok {
					e.lifetime = At(time.Duration(n)*time.Second, c0.line)
				}
			case has(rest, "set", "security-association", "lifetime", "kilobytes") && len(rest) > 4:
				if n, ok := atoi(rest[4]); ok {
					e.kb = At(int64(n), c0.line)
				}
			}
		case has(f, "router", "bgp"):
			c.Routing = At("bgp", c0.line)
		}
	}
	sort.SliceStable(v1, func(i, j int) bool { return v1[i].prio < v1[j].prio })
	sort.SliceStable(v2, func(i, j int) bool { return v2[i].prio < v2[j].prio })
	for _, key := range order {
		e := entries[key]
		if !e.acl.Known() && len(e.peers) == 0 {
			continue
		}
		t := &Tunnel{Name: "crypto map " + key, Line: e.line, Peers: e.peers, NATT: natt}
		switch {
		case e.v1 && e.v2:
			t.IKEVersion = At(0, e.verLine)
		case e.v2:
			t.IKEVersion = At(2, e.verLine)
		case e.v1:
			t.IKEVersion = At(1, e.verLine)
		}
		pols := v1
		if t.IKEVersion.V == 2 {
			pols = v2
		}
		if len(pols) > 0 {
			t.Phase1.Lifetime = pols[0].lifetime
			t.Phase1.DHGroups = pols[0].groups
			t.Phase1.Proposals = pols[0].props
			t.Auth = pols[0].auth
			if len(pols) > 1 {
				c.note(pols[1].line, "%d IKE policies; phase 1 values are read from the one with the lowest priority number (%d)", len(pols), pols[0].prio)
			}
		}
		e.ciscoP2.apply(t, globalP2)
		t.RouteBased = At(false, e.line)
		t.DPD.Enabled = Default(true)
		t.PSK = Value[bool]{}
		found := false
		for _, p := range e.peers {
			if g := groups[p.V]; g != nil {
				found = true
				if g.psk.Known() {
					t.PSK = g.psk
				}
				if g.dpd.Known() {
					t.DPD.Enabled, t.DPD.Interval, t.DPD.Retries = g.dpd, g.interval, g.retries
				}
			}
		}
		if !found {
			t.PSK = At(false, e.line)
			c.note(e.line, "no tunnel-group ipsec-attributes for the peer(s) of %s", t.Name)
		} else if !t.PSK.Known() {
			t.PSK = At(false, e.line)
		}
		if e.acl.Known() {
			for _, a := range acls[e.acl.V] {
				t.Selectors = append(t.Selectors, Selector{Local: a.src, Remote: a.dst, Line: a.line})
			}
			if len(acls[e.acl.V]) == 0 {
				c.note(e.acl.Line, "crypto ACL %s is not in this file", e.acl.V)
			}
		}
		c.Tunnels = append(c.Tunnels, t)
	}
	for _, v := range vtis {
		t := &Tunnel{Name: v.name, Line: v.line, NATT: natt, RouteBased: At(true, v.prof.Line)}
		if v.dest != "" {
			t.Peers = []Value[string]{At(v.dest, v.dl)}
		}
		p := profiles[v.prof.V]
		if p == nil {
			p = &asaProfile{}
			c.note(v.prof.Line, "ipsec profile %s is not in this file", v.prof.V)
		}
		pols := v1
		t.IKEVersion = At(1, v.prof.Line)
		if p.v2.Known() && p.v2.V || !p.v2.Known() && len(v1) == 0 && len(v2) > 0 {
			t.IKEVersion = At(2, p.v2.Line)
			if !p.v2.Known() {
				t.IKEVersion = Default(2)
			}
			pols = v2
		}
		if len(pols) > 0 {
			t.Phase1.Lifetime = pols[0].lifetime
			t.Phase1.DHGroups = pols[0].groups
			t.Phase1.Proposals = pols[0].props
			t.Auth = pols[0].auth
		} else {
			t.Phase1.Lifetime = Default(86400 * time.Second)
		}
		p.ciscoP2.apply(t, globalP2)
		t.DPD.Enabled = Default(true)
		t.PSK = At(false, v.line)
		if g := groups[v.dest]; g != nil {
			if g.psk.Known() {
				t.PSK = g.psk
			}
			if g.dpd.Known() {
				t.DPD.Enabled, t.DPD.Interval, t.DPD.Retries = g.dpd, g.interval, g.retries
			}
		} else {
			c.note(v.line, "no tunnel-group ipsec-attributes for the tunnel destination %s", v.dest)
		}
		if !t.Auth.Known() && t.PSK.V {
			t.Auth = At("psk", t.PSK.Line)
		}
		t.Selectors = []Selector{{Local: "any", Remote: "any", Line: v.prof.Line}}
		c.Tunnels = append(c.Tunnels, t)
	}
	// Idle timeout: the group policy of the peer's tunnel group, else
	// DfltGrpPolicy when the file changes it.
	for _, t := range c.Tunnels {
		for _, p := range t.Peers {
			gp, ok := groupPolicy[p.V]
			name := "DfltGrpPolicy"
			if ok {
				name = gp.V
			}
			if v, ok := idle[name]; ok {
				t.IdleTimeout = v
			}
		}
	}
	if len(c.Tunnels) == 0 {
		if remoteAccess {
			c.NoTunnelReason = "only remote-access VPN (AnyConnect / SSL VPN) is configured, no site-to-site (LAN-to-LAN) IPsec tunnel"
		} else if onlyACLs(cmds) {
			aclFragment(c, acls)
		}
	}
	return c
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
		t := &Tunnel{Name: "access-list " + n, Line: es[0].line}
		for _, a := range es {
			t.Selectors = append(t.Selectors, Selector{Local: a.src, Remote: a.dst, Line: a.line})
		}
		c.Tunnels = append(c.Tunnels, t)
		c.note(es[0].line, "access list %s is taken as a crypto ACL by its name; no crypto map or tunnel settings are in this file", n)
	}
}

// parseCiscoIOS reads an IOS / IOS-XE configuration.
func parseCiscoIOS(ls []string) *Config {
	c := &Config{Vendor: "cisco-ios", Syntax: "cli", Routing: Default("static")}
	cmds := ciscoCommands(ls)
	acls := ciscoACLs(cmds, true)
	psks := ciscoPSKs(cmds)
	var v1 []ciscoPolicy
	globalP2 := Default(3600 * time.Second)
	natt := Default("enabled")
	dpd := Default(false)
	var dpdInterval Value[time.Duration]
	var dpdRetries Value[int]
	transforms := map[string]Value[string]{}
	type profile struct {
		ciscoP2
		ikev2  Value[string]
		isakmp Value[string]
	}
	// ISAKMP profiles may set DPD (keepalive N retry M) for the peers
	// they match.
	type isakmpProfile struct {
		dpd      Value[bool]
		interval Value[time.Duration]
		retries  Value[int]
		remote   []string
	}
	isakmpProfiles := map[string]*isakmpProfile{}
	ipsecProfiles := map[string]*profile{}
	type v2prof struct {
		lifetime Value[time.Duration]
		dpd      Value[bool]
		interval Value[time.Duration]
		auth     Value[string]
		remote   []string
	}
	v2profiles := map[string]*v2prof{}
	var v2props []ciscoPolicy
	readProfile := func(p *profile, f []string, line int) {
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
			if n, ok := atoi(f[4]); ok {
				p.lifetime = At(time.Duration(n)*time.Second, line)
			}
		case has(f, "set", "security-association", "lifetime", "kilobytes") && len(f) > 4:
			if n, ok := atoi(f[4]); ok {
				p.kb = At(int64(n), line)
			}
		case has(f, "set", "transform-set"):
			for _, ts := range f[2:] {
				if v, ok := transforms[ts]; ok {
					p.transform = append(p.transform, At(ts+": "+v.V, line))
				} else {
					p.transform = append(p.transform, At(ts, line))
				}
			}
		case has(f, "set", "ikev2-profile") && len(f) > 2:
			p.ikev2 = At(f[2], line)
		case has(f, "set", "isakmp-profile") && len(f) > 2:
			p.isakmp = At(f[2], line)
		}
	}
	type mapEntry struct {
		name  string
		line  int
		peers []Value[string]
		acl   Value[string]
		prof  profile
	}
	var maps []*mapEntry
	type tun struct {
		name, dest string
		line, dl   int
		prof       Value[string]
	}
	var tuns []*tun
	// Transform sets first: they are referenced by name.
	for _, c0 := range cmds {
		if has(c0.f, "crypto", "ipsec", "transform-set") && len(c0.f) > 4 {
			transforms[c0.f[3]] = At(strings.Join(c0.f[4:], " "), c0.line)
		}
	}
	for _, c0 := range cmds {
		f := c0.f
		switch {
		case has(f, "crypto", "isakmp", "policy") && len(f) > 3:
			n, _ := atoi(f[3])
			v1 = append(v1, readPolicy(c0, n, 86400*time.Second))
		case has(f, "crypto", "ikev2", "proposal") && len(f) > 3:
			v2props = append(v2props, readPolicy(c0, 0, 86400*time.Second))
		case has(f, "crypto", "isakmp", "profile") && len(f) > 3:
			p := &isakmpProfile{}
			for _, s := range c0.sub {
				switch {
				case has(s.f, "keepalive") && len(s.f) > 1:
					p.dpd = At(true, s.line)
					if n, ok := atoi(s.f[1]); ok {
						p.interval = At(time.Duration(n)*time.Second, s.line)
					}
					for i, w := range s.f {
						if w == "retry" && i+1 < len(s.f) {
							if n, ok := atoi(s.f[i+1]); ok {
								p.retries = At(n, s.line)
							}
						}
					}
				case has(s.f, "match", "identity", "address") && len(s.f) > 3:
					p.remote = append(p.remote, s.f[3])
				}
			}
			isakmpProfiles[f[3]] = p
		case has(f, "crypto", "ikev2", "profile") && len(f) > 3:
			p := &v2prof{lifetime: Default(86400 * time.Second), dpd: Default(false)}
			for _, s := range c0.sub {
				switch {
				case has(s.f, "lifetime") && len(s.f) > 1:
					if n, ok := atoi(s.f[1]); ok {
						p.lifetime = At(time.Duration(n)*time.Second, s.line)
					}
				case has(s.f, "dpd") && len(s.f) > 1:
					p.dpd = At(true, s.line)
					if n, ok := atoi(s.f[1]); ok {
						p.interval = At(time.Duration(n)*time.Second, s.line)
					}
				case has(s.f, "match", "identity", "remote", "address") && len(s.f) > 4:
					p.remote = append(p.remote, s.f[4])
				case has(s.f, "authentication", "remote") && len(s.f) > 2:
					a := "psk"
					if !strings.HasPrefix(s.f[2], "pre-share") {
						a = "pubkey"
					}
					p.auth = At(a, s.line)
				}
			}
			v2profiles[f[3]] = p
		case has(f, "crypto", "ipsec", "security-association", "lifetime", "seconds") && len(f) > 5:
			if n, ok := atoi(f[5]); ok {
				globalP2 = At(time.Duration(n)*time.Second, c0.line)
			}
		case has(f, "no", "crypto", "ipsec", "nat-transparency"):
			natt = At("disabled", c0.line)
		case has(f, "crypto", "isakmp", "keepalive") && len(f) > 3:
			dpd = At(true, c0.line)
			if n, ok := atoi(f[3]); ok {
				dpdInterval = At(time.Duration(n)*time.Second, c0.line)
			}
			if len(f) > 4 {
				if n, ok := atoi(f[4]); ok {
					dpdRetries = At(n, c0.line)
				}
			}
		case has(f, "crypto", "ipsec", "profile") && len(f) > 3:
			p := &profile{}
			for _, s := range c0.sub {
				readProfile(p, s.f, s.line)
			}
			ipsecProfiles[f[3]] = p
		case has(f, "crypto", "map") && len(f) >= 4:
			if _, err := strconv.Atoi(f[3]); err != nil {
				continue
			}
			if len(f) > 4 && !strings.HasPrefix(f[4], "ipsec-isakmp") {
				continue
			}
			m := &mapEntry{name: "crypto map " + f[2] + " " + f[3], line: c0.line}
			for _, s := range c0.sub {
				switch {
				case has(s.f, "set", "peer"):
					for _, p := range s.f[2:] {
						if p != "default" {
							m.peers = append(m.peers, At(p, s.line))
						}
					}
				case has(s.f, "match", "address") && len(s.f) > 2:
					m.acl = At(s.f[2], s.line)
				default:
					readProfile(&m.prof, s.f, s.line)
				}
			}
			maps = append(maps, m)
		case (has(f, "interface") || has(f, "int")) && len(f) > 1 && strings.HasPrefix(strings.ToLower(strings.Join(f[1:], "")), "tunnel"):
			t := &tun{name: "interface " + strings.Join(f[1:], ""), line: c0.line}
			for _, s := range c0.sub {
				switch {
				case has(s.f, "tunnel", "destination") && len(s.f) > 2:
					t.dest, t.dl = s.f[2], s.line
				case has(s.f, "tunnel", "protection", "ipsec", "profile") && len(s.f) > 4:
					t.prof = At(s.f[4], s.line)
				}
			}
			if t.prof.Known() {
				tuns = append(tuns, t)
			}
		case has(f, "router", "bgp"):
			c.Routing = At("bgp", c0.line)
		}
	}
	sort.SliceStable(v1, func(i, j int) bool { return v1[i].prio < v1[j].prio })
	fill := func(t *Tunnel, p *profile) {
		t.NATT = natt
		t.IKEVersion = At(1, t.Line)
		if p.ikev2.Known() {
			t.IKEVersion = At(2, p.ikev2.Line)
		} else if len(v1) == 0 && len(v2profiles) > 0 {
			t.IKEVersion = Default(2)
		}
		if t.IKEVersion.V == 2 {
			vp := v2profiles[p.ikev2.V]
			if vp == nil {
				for _, x := range v2profiles {
					vp = x
					break
				}
			}
			if vp != nil {
				t.Phase1.Lifetime = vp.lifetime
				t.DPD.Enabled, t.DPD.Interval = vp.dpd, vp.interval
				t.Auth = vp.auth
			} else {
				t.Phase1.Lifetime = Default(86400 * time.Second)
				t.DPD.Enabled = Default(false)
			}
			if len(v2props) > 0 {
				t.Phase1.Proposals = v2props[0].props
				t.Phase1.DHGroups = v2props[0].groups
			}
		} else {
			if len(v1) > 0 {
				t.Phase1.Lifetime = v1[0].lifetime
				t.Phase1.DHGroups = v1[0].groups
				t.Phase1.Proposals = v1[0].props
				t.Auth = v1[0].auth
				if len(v1) > 1 {
					c.note(v1[1].line, "%d ISAKMP policies; phase 1 values are read from the one with the lowest priority number (%d)", len(v1), v1[0].prio)
				}
			} else {
				t.Phase1.Lifetime = Default(86400 * time.Second)
			}
			t.DPD.Enabled, t.DPD.Interval, t.DPD.Retries = dpd, dpdInterval, dpdRetries
			ip := isakmpProfiles[p.isakmp.V]
			if ip == nil {
				for _, peer := range t.Peers {
					for _, x := range sortedProfiles(isakmpProfiles) {
						for _, r := range isakmpProfiles[x].remote {
							if r == peer.V && ip == nil {
								ip = isakmpProfiles[x]
							}
						}
					}
				}
			}
			if ip != nil && ip.dpd.Known() {
				t.DPD.Enabled, t.DPD.Interval, t.DPD.Retries = ip.dpd, ip.interval, ip.retries
			}
		}
		p.ciscoP2.apply(t, globalP2)
		t.PSK = At(false, t.Line)
		for _, peer := range t.Peers {
			if l, ok := psks[peer.V]; ok {
				t.PSK = At(true, l)
			}
		}
		if !t.Auth.Known() && t.PSK.V {
			t.Auth = At("psk", t.PSK.Line)
		}
	}
	for _, m := range maps {
		t := &Tunnel{Name: m.name, Line: m.line, Peers: m.peers, RouteBased: At(false, m.line)}
		fill(t, &m.prof)
		if m.acl.Known() {
			for _, a := range acls[m.acl.V] {
				t.Selectors = append(t.Selectors, Selector{Local: a.src, Remote: a.dst, Line: a.line})
			}
			if len(acls[m.acl.V]) == 0 {
				c.note(m.acl.Line, "crypto ACL %s is not in this file", m.acl.V)
			}
		}
		c.Tunnels = append(c.Tunnels, t)
	}
	for _, tu := range tuns {
		t := &Tunnel{Name: tu.name, Line: tu.line, RouteBased: At(true, tu.prof.Line)}
		if tu.dest != "" {
			t.Peers = []Value[string]{At(tu.dest, tu.dl)}
		}
		p := ipsecProfiles[tu.prof.V]
		missing := p == nil
		if missing {
			p = &profile{}
			c.note(tu.prof.Line, "ipsec profile %s is not in this file: its PFS and lifetime are not known", tu.prof.V)
		}
		fill(t, p)
		if missing {
			t.PFS = Value[bool]{}
		}
		t.Selectors = []Selector{{Local: "any", Remote: "any", Line: tu.prof.Line}}
		c.Tunnels = append(c.Tunnels, t)
	}
	if len(c.Tunnels) == 0 && onlyACLs(cmds) {
		aclFragment(c, acls)
	}
	return c
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
