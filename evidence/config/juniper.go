package config

import (
	"strings"
	"time"
)

// stmt is one flattened statement: the words of a "set" command without
// "set", and its line.
type stmt struct {
	f    []string
	line int
}

// junosFlatten turns a hierarchical Junos configuration into set-style
// statements, so that one reader handles both forms.
func junosFlatten(ls []string) []stmt {
	var out []stmt
	var path []string
	inComment := false
	for i, raw := range ls {
		l := raw
		if inComment {
			j := strings.Index(l, "*/")
			if j < 0 {
				continue
			}
			l, inComment = l[j+2:], false
		}
		if j := strings.Index(l, "/*"); j >= 0 {
			if k := strings.Index(l[j:], "*/"); k >= 0 {
				l = l[:j] + l[j+k+2:]
			} else {
				l, inComment = l[:j], true
			}
		}
		l = strings.TrimSpace(uncomment(l, "#"))
		if l == "" {
			continue
		}
		for l != "" {
			switch {
			case strings.HasPrefix(l, "}"):
				if len(path) > 0 {
					path = path[:len(path)-1]
				}
				l = strings.TrimSpace(l[1:])
			case strings.IndexAny(l, "{;") >= 0:
				j := strings.IndexAny(l, "{;")
				words := junosWords(l[:j])
				if l[j] == '{' {
					path = append(path, strings.Join(words, " "))
				} else if len(words) > 0 {
					f := []string{}
					for _, p := range path {
						f = append(f, junosWords(p)...)
					}
					out = append(out, stmt{f: append(f, words...), line: i + 1})
				}
				l = strings.TrimSpace(l[j+1:])
			default:
				l = ""
			}
		}
	}
	return out
}

// junosWords splits words, keeping quoted strings and dropping [ ].
func junosWords(s string) []string {
	var out []string
	for _, w := range fgFields(s) {
		if w == "[" || w == "]" || strings.HasSuffix(w, ":") && (w == "inactive:" || w == "protect:") {
			continue
		}
		out = append(out, strings.Trim(w, "[]"))
	}
	return out
}

// junosSet reads "set …" lines into statements.
func junosSet(ls []string) []stmt {
	var out []stmt
	for i, raw := range ls {
		f := fgFields(strings.TrimSpace(uncomment(raw, "#")))
		if len(f) > 1 && f[0] == "set" {
			out = append(out, stmt{f: f[1:], line: i + 1})
		}
	}
	return out
}

// junosProp is an IKE or IPsec proposal.
type junosProp struct {
	lifetime Value[time.Duration]
	kb       Value[int64]
	groups   []Value[int]
	text     []string
	line     int
}

// junosPolicy is an IKE or IPsec policy.
type junosPolicy struct {
	props []string
	pfs   Value[bool]
	group []Value[int]
	psk   Value[bool]
	line  int
}

// junosGateway is an IKE gateway.
type junosGateway struct {
	name    string
	line    int
	policy  string
	addr    []Value[string]
	natt    Value[string]
	dpd     DPD
	version Value[int]
	local   Value[string]
	// localID and remoteID are local-identity and remote-identity.
	localID, remoteID Value[string]
}

// junosVPN is an IPsec VPN.
type junosVPN struct {
	name, gateway, policy string
	line                  int
	bind                  Value[string]
	sel                   []Selector
	// ts is the index in sel of each named traffic selector.
	ts map[string]int
}

// junosState is what parseJunos gathers from the statements before it
// builds the tunnels.
type junosState struct {
	c                    *Config
	ikeProps, ipsecProps map[string]*junosProp
	ikePols, ipsecPols   map[string]*junosPolicy
	gws                  map[string]*junosGateway
	vpns                 []*junosVPN
	vpnBy                map[string]*junosVPN
}

// parseJunos reads Junos SRX statements (from set or hierarchical form).
func parseJunos(st []stmt, syntax string) *Config {
	s := &junosState{
		c:        &Config{Vendor: "juniper", Syntax: syntax, Routing: Default("static")},
		ikeProps: map[string]*junosProp{}, ipsecProps: map[string]*junosProp{},
		ikePols: map[string]*junosPolicy{}, ipsecPols: map[string]*junosPolicy{},
		gws: map[string]*junosGateway{}, vpnBy: map[string]*junosVPN{},
	}
	for _, x := range st {
		s.read(x)
	}
	for _, v := range s.vpns {
		s.c.Tunnels = append(s.c.Tunnels, s.tunnel(v))
	}
	return s.c
}

// read takes in one statement.
func (s *junosState) read(x stmt) {
	f := x.f
	switch {
	case has(f, "security", "ike", "proposal") && len(f) > 5:
		junosProposal(s.ikeProps, f[3], x.line).read(f[4:], x.line)
	case has(f, "security", "ipsec", "proposal") && len(f) > 5:
		junosProposal(s.ipsecProps, f[3], x.line).read(f[4:], x.line)
	case has(f, "security", "ike", "policy") && len(f) > 4:
		p := junosPolicyNamed(s.ikePols, f[3], x.line)
		if !p.readProposals(f) && f[4] == "pre-shared-key" {
			p.psk = At(true, x.line)
		}
	case has(f, "security", "ipsec", "policy") && len(f) > 4:
		p := junosPolicyNamed(s.ipsecPols, f[3], x.line)
		if !p.readProposals(f) && f[4] == "perfect-forward-secrecy" {
			p.pfs = At(true, x.line)
			for _, w := range f[5:] {
				if n, ok := dhGroup(w); ok && strings.HasPrefix(w, "group") {
					p.group = append(p.group, At(n, x.line))
				}
			}
		}
	case has(f, "security", "ike", "gateway") && len(f) > 4:
		s.readGateway(f, x.line)
	case has(f, "security", "ipsec", "vpn") && len(f) > 4:
		s.readVPN(f, x.line)
	case has(f, "protocols", "bgp"):
		if !s.c.Routing.Known() || s.c.Routing.From == FromDefault {
			s.c.Routing = At("bgp", x.line)
		}
	}
}

// junosProposal returns the proposal named n in m, made at line when new.
func junosProposal(m map[string]*junosProp, n string, line int) *junosProp {
	if m[n] == nil {
		m[n] = &junosProp{line: line}
	}
	return m[n]
}

// junosPolicyNamed returns the policy named n in m, made at line when new.
func junosPolicyNamed(m map[string]*junosPolicy, n string, line int) *junosPolicy {
	if m[n] == nil {
		m[n] = &junosPolicy{line: line}
	}
	return m[n]
}

// readProposals reads "… policy NAME proposals P…" and "… proposal-set
// SET" (f is the whole statement); false for any other statement.
func (p *junosPolicy) readProposals(f []string) bool {
	switch f[4] {
	case "proposals":
		p.props = append(p.props, f[5:]...)
	case "proposal-set":
		if len(f) > 5 {
			p.props = append(p.props, "proposal-set "+f[5])
		}
	default:
		return false
	}
	return true
}

// readGateway reads "security ike gateway NAME …".
func (s *junosState) readGateway(f []string, line int) {
	g := s.gws[f[3]]
	if g == nil {
		g = &junosGateway{name: f[3], line: line}
		s.gws[f[3]] = g
	}
	switch f[4] {
	case "ike-policy":
		if len(f) > 5 {
			g.policy = f[5]
		}
	case "address":
		for _, a := range f[5:] {
			g.addr = append(g.addr, At(a, line))
		}
	case "no-nat-traversal":
		g.natt = At("disabled", line)
	case "dead-peer-detection":
		g.dpd.Enabled = At(true, line)
		if n, ok := intAfter(f[5:], "interval"); ok {
			g.dpd.Interval = At(time.Duration(n)*time.Second, line)
		}
		if n, ok := intAfter(f[5:], "threshold"); ok {
			g.dpd.Retries = At(n, line)
		}
	case "version":
		if len(f) > 5 {
			switch f[5] {
			case "v1-only":
				g.version = At(1, line)
			case "v2-only":
				g.version = At(2, line)
			}
		}
	case "local-address", "external-interface":
		if len(f) > 5 && !g.local.Known() {
			g.local = At(f[5], line)
		}
	case "local-identity":
		if id, ok := junosIdentity(f[5:]); ok {
			g.localID = At(id, line)
		}
	case "remote-identity":
		if id, ok := junosIdentity(f[5:]); ok {
			g.remoteID = At(id, line)
		}
	}
}

// junosIdentity reads the words of a local-identity or remote-identity
// ("inet 192.0.2.1", "hostname vpn.example.com", "user-at-hostname
// a@example.com"): the value as written; a distinguished name keeps its
// words, which may be a container or wildcard rather than one value.
func junosIdentity(r []string) (string, bool) {
	switch {
	case len(r) == 0:
		return "", false
	case r[0] == "distinguished-name" || len(r) == 1:
		return strings.Join(r, " "), true
	}
	return r[1], true
}

// readVPN reads "security ipsec vpn NAME …": gateway, policy,
// bind-interface, proxy identities and traffic selectors.
func (s *junosState) readVPN(f []string, line int) {
	v := s.vpnBy[f[3]]
	if v == nil {
		v = &junosVPN{name: f[3], line: line, ts: map[string]int{}}
		s.vpnBy[f[3]] = v
		s.vpns = append(s.vpns, v)
	}
	r := f[4:]
	switch {
	case has(r, "bind-interface") && len(r) > 1:
		v.bind = At(r[1], line)
	case has(r, "ike", "gateway") && len(r) > 2:
		v.gateway = r[2]
	case has(r, "ike", "ipsec-policy") && len(r) > 2:
		v.policy = r[2]
	case has(r, "ike", "proxy-identity"):
		loc, _ := wordAfter(r[2:], "local")
		rem, _ := wordAfter(r[2:], "remote")
		if loc != "" || rem != "" {
			v.sel = append(v.sel, Selector{Local: loc, Remote: rem, Line: line})
		}
	case has(r, "traffic-selector") && len(r) > 3:
		i, ok := v.ts[r[1]]
		if !ok {
			i = len(v.sel)
			v.ts[r[1]] = i
			v.sel = append(v.sel, Selector{Line: line})
		}
		if w, ok := wordAfter(r[2:], "local-ip"); ok {
			v.sel[i].Local = w
		}
		if w, ok := wordAfter(r[2:], "remote-ip"); ok {
			v.sel[i].Remote = w
		}
	}
}

// wordAfter returns the word after the last w in f that has one.
func wordAfter(f []string, w string) (string, bool) {
	out, found := "", false
	for i := 0; i+1 < len(f); i++ {
		if f[i] == w {
			out, found = f[i+1], true
		}
	}
	return out, found
}

// tunnel builds the tunnel of a VPN from its gateway and policies.
func (s *junosState) tunnel(v *junosVPN) *Tunnel {
	t := &Tunnel{Name: v.name, Line: v.line}
	g := named(s.c, s.gws, v.gateway, v.line, "IKE gateway %q of VPN %q is not in this file", v.gateway, v.name)
	t.Peers = g.addr
	t.Local = g.local
	t.LocalID, t.RemoteID = g.localID, g.remoteID
	t.IKEVersion = orDefault(g.version, 1)
	t.NATT = orDefault(g.natt, "enabled")
	t.DPD.Enabled = Default(false)
	if g.dpd.Enabled.Known() {
		t.DPD = g.dpd
	}
	s.phase1(t, g)
	s.phase2(t, v)
	s.selectors(t, v)
	return t
}

// phase1 sets phase 1 and the PSK from the gateway's IKE policy.
func (s *junosState) phase1(t *Tunnel, g *junosGateway) {
	t.Phase1.Lifetime = Default(28800 * time.Second)
	ip := s.ikePols[g.policy]
	if ip == nil {
		s.c.note(g.line, "IKE policy %q is not in this file", g.policy)
		return
	}
	t.PSK = At(false, ip.line)
	if ip.psk.Known() {
		t.PSK = ip.psk
		t.Auth = At("psk", ip.psk.Line)
	}
	if p := junosProposals(&t.Phase1, ip, s.ikeProps); p != nil {
		t.Phase1.DHGroups = append(t.Phase1.DHGroups, p.groups...)
	}
}

// phase2 sets phase 2 and PFS from the VPN's IPsec policy.
func (s *junosState) phase2(t *Tunnel, v *junosVPN) {
	t.Phase2.Lifetime = Default(3600 * time.Second)
	t.PFS = Default(false)
	pp := s.ipsecPols[v.policy]
	if pp == nil {
		return
	}
	if pp.pfs.Known() {
		t.PFS = pp.pfs
		t.Phase2.DHGroups = pp.group
	}
	if p := junosProposals(&t.Phase2, pp, s.ipsecProps); p != nil && p.kb.Known() {
		t.Phase2.LifetimeKB = p.kb
	}
}

// junosProposals adds to ph the proposals pol names, up to the first one
// defined in this file, whose text and lifetime it takes and which it
// returns (nil when none is).
func junosProposals(ph *Phase, pol *junosPolicy, props map[string]*junosProp) *junosProp {
	for _, pn := range pol.props {
		if p := props[pn]; p != nil {
			if p.lifetime.Known() {
				ph.Lifetime = p.lifetime
			}
			ph.Proposals = append(ph.Proposals, At(pn+": "+strings.Join(p.text, " "), p.line))
			return p
		}
		ph.Proposals = append(ph.Proposals, At(pn, pol.line))
	}
	return nil
}

// selectors sets the VPN's traffic selectors and whether it is route-based.
func (s *junosState) selectors(t *Tunnel, v *junosVPN) {
	switch {
	case len(v.sel) > 0:
		t.Selectors = v.sel
		t.RouteBased = Default(false)
		if v.bind.Known() {
			t.RouteBased = v.bind.mapBool(true)
		}
	case v.bind.Known():
		t.RouteBased = At(true, v.bind.Line)
		t.Selectors = []Selector{{Local: "any", Remote: "any", Line: v.bind.Line}}
	default:
		t.RouteBased = Default(false)
		s.c.note(v.line, "VPN %q has neither bind-interface nor proxy identities here; its traffic is chosen by security policies", v.name)
	}
}

// mapBool returns a bool value at the same line.
func (v Value[T]) mapBool(b bool) Value[bool] { return Value[bool]{V: b, Line: v.Line, From: v.From} }

// read reads one "… proposal NAME KEY VALUE" statement (r from KEY on).
func (p *junosProp) read(r []string, line int) {
	switch r[0] {
	case "lifetime-seconds":
		setSeconds(&p.lifetime, r[1], line)
	case "lifetime-kilobytes":
		if n, ok := atoi(r[1]); ok {
			p.kb = At(int64(n), line)
		}
	case "dh-group":
		if n, ok := dhGroup(r[1]); ok {
			p.groups = append(p.groups, At(n, line))
		}
	case "encryption-algorithm", "authentication-algorithm":
		p.text = append(p.text, r[1])
	}
}
