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

// parseJunos reads Junos SRX statements (from set or hierarchical form).
func parseJunos(st []stmt, syntax string) *Config {
	c := &Config{Vendor: "juniper", Syntax: syntax, Routing: Default("static")}
	type prop struct {
		lifetime Value[time.Duration]
		kb       Value[int64]
		groups   []Value[int]
		text     []string
		line     int
	}
	ikeProps, ipsecProps := map[string]*prop{}, map[string]*prop{}
	type pol struct {
		props []string
		pfs   Value[bool]
		group []Value[int]
		psk   Value[bool]
		line  int
	}
	ikePols, ipsecPols := map[string]*pol{}, map[string]*pol{}
	type gw struct {
		name    string
		line    int
		policy  string
		addr    []Value[string]
		natt    Value[string]
		dpd     Value[bool]
		dpdIntv Value[time.Duration]
		dpdThr  Value[int]
		version Value[int]
		local   Value[string]
	}
	gws := map[string]*gw{}
	type vpn struct {
		name, gateway, policy string
		line                  int
		bind                  Value[string]
		sel                   []Selector
	}
	var vpns []*vpn
	vpnBy := map[string]*vpn{}
	tsIndex := map[string]int{}
	getProp := func(m map[string]*prop, n string, line int) *prop {
		if m[n] == nil {
			m[n] = &prop{line: line}
		}
		return m[n]
	}
	getPol := func(m map[string]*pol, n string, line int) *pol {
		if m[n] == nil {
			m[n] = &pol{line: line}
		}
		return m[n]
	}
	for _, s := range st {
		f := s.f
		switch {
		case has(f, "security", "ike", "proposal") && len(f) > 5:
			p := getProp(ikeProps, f[3], s.line)
			readJunosProp(f[4:], s.line, &p.lifetime, &p.kb, &p.groups, &p.text)
		case has(f, "security", "ipsec", "proposal") && len(f) > 5:
			p := getProp(ipsecProps, f[3], s.line)
			readJunosProp(f[4:], s.line, &p.lifetime, &p.kb, &p.groups, &p.text)
		case has(f, "security", "ike", "policy") && len(f) > 4:
			p := getPol(ikePols, f[3], s.line)
			switch f[4] {
			case "proposals":
				p.props = append(p.props, f[5:]...)
			case "proposal-set":
				if len(f) > 5 {
					p.props = append(p.props, "proposal-set "+f[5])
				}
			case "pre-shared-key":
				p.psk = At(true, s.line)
			}
		case has(f, "security", "ipsec", "policy") && len(f) > 4:
			p := getPol(ipsecPols, f[3], s.line)
			switch f[4] {
			case "proposals":
				p.props = append(p.props, f[5:]...)
			case "proposal-set":
				if len(f) > 5 {
					p.props = append(p.props, "proposal-set "+f[5])
				}
			case "perfect-forward-secrecy":
				p.pfs = At(true, s.line)
				for _, w := range f[5:] {
					if n, ok := dhGroup(w); ok && strings.HasPrefix(w, "group") {
						p.group = append(p.group, At(n, s.line))
					}
				}
			}
		case has(f, "security", "ike", "gateway") && len(f) > 4:
			g := gws[f[3]]
			if g == nil {
				g = &gw{name: f[3], line: s.line}
				gws[f[3]] = g
			}
			switch f[4] {
			case "ike-policy":
				if len(f) > 5 {
					g.policy = f[5]
				}
			case "address":
				for _, a := range f[5:] {
					g.addr = append(g.addr, At(a, s.line))
				}
			case "no-nat-traversal":
				g.natt = At("disabled", s.line)
			case "nat-keepalive":
			case "dead-peer-detection":
				g.dpd = At(true, s.line)
				for i := 5; i+1 < len(f); i++ {
					if f[i] == "interval" {
						if n, ok := atoi(f[i+1]); ok {
							g.dpdIntv = At(time.Duration(n)*time.Second, s.line)
						}
					}
					if f[i] == "threshold" {
						if n, ok := atoi(f[i+1]); ok {
							g.dpdThr = At(n, s.line)
						}
					}
				}
			case "version":
				if len(f) > 5 {
					switch f[5] {
					case "v1-only":
						g.version = At(1, s.line)
					case "v2-only":
						g.version = At(2, s.line)
					}
				}
			case "local-address", "external-interface":
				if len(f) > 5 && !g.local.Known() {
					g.local = At(f[5], s.line)
				}
			}
		case has(f, "security", "ipsec", "vpn") && len(f) > 4:
			v := vpnBy[f[3]]
			if v == nil {
				v = &vpn{name: f[3], line: s.line}
				vpnBy[f[3]] = v
				vpns = append(vpns, v)
			}
			r := f[4:]
			switch {
			case has(r, "bind-interface") && len(r) > 1:
				v.bind = At(r[1], s.line)
			case has(r, "ike", "gateway") && len(r) > 2:
				v.gateway = r[2]
			case has(r, "ike", "ipsec-policy") && len(r) > 2:
				v.policy = r[2]
			case has(r, "ike", "proxy-identity"):
				var loc, rem string
				for i := 2; i+1 < len(r); i++ {
					if r[i] == "local" {
						loc = r[i+1]
					}
					if r[i] == "remote" {
						rem = r[i+1]
					}
				}
				if loc != "" || rem != "" {
					v.sel = append(v.sel, Selector{Local: loc, Remote: rem, Line: s.line})
				}
			case has(r, "traffic-selector") && len(r) > 3:
				key := v.name + "/" + r[1]
				i, ok := tsIndex[key]
				if !ok {
					i = len(v.sel)
					tsIndex[key] = i
					v.sel = append(v.sel, Selector{Line: s.line})
				}
				for j := 2; j+1 < len(r); j++ {
					switch r[j] {
					case "local-ip":
						v.sel[i].Local = r[j+1]
					case "remote-ip":
						v.sel[i].Remote = r[j+1]
					}
				}
			}
		case has(f, "protocols", "bgp"):
			if !c.Routing.Known() || c.Routing.From == FromDefault {
				c.Routing = At("bgp", s.line)
			}
		}
	}
	for _, v := range vpns {
		t := &Tunnel{Name: v.name, Line: v.line}
		g := gws[v.gateway]
		if g == nil {
			c.note(v.line, "IKE gateway %q of VPN %q is not in this file", v.gateway, v.name)
			g = &gw{}
		}
		t.Peers = g.addr
		t.Local = g.local
		t.IKEVersion = Default(1)
		if g.version.Known() {
			t.IKEVersion = g.version
		}
		t.NATT = Default("enabled")
		if g.natt.Known() {
			t.NATT = g.natt
		}
		t.DPD.Enabled = Default(false)
		if g.dpd.Known() {
			t.DPD.Enabled, t.DPD.Interval, t.DPD.Retries = g.dpd, g.dpdIntv, g.dpdThr
		}
		t.Phase1.Lifetime = Default(28800 * time.Second)
		if ip := ikePols[g.policy]; ip != nil {
			t.PSK = At(false, ip.line)
			if ip.psk.Known() {
				t.PSK = ip.psk
				t.Auth = At("psk", ip.psk.Line)
			}
			for _, pn := range ip.props {
				if p := ikeProps[pn]; p != nil {
					if p.lifetime.Known() {
						t.Phase1.Lifetime = p.lifetime
					}
					t.Phase1.DHGroups = append(t.Phase1.DHGroups, p.groups...)
					t.Phase1.Proposals = append(t.Phase1.Proposals, At(pn+": "+strings.Join(p.text, " "), p.line))
					break
				}
				t.Phase1.Proposals = append(t.Phase1.Proposals, At(pn, ip.line))
			}
		} else {
			c.note(g.line, "IKE policy %q is not in this file", g.policy)
		}
		t.Phase2.Lifetime = Default(3600 * time.Second)
		t.PFS = Default(false)
		if pp := ipsecPols[v.policy]; pp != nil {
			if pp.pfs.Known() {
				t.PFS = pp.pfs
				t.Phase2.DHGroups = pp.group
			}
			for _, pn := range pp.props {
				if p := ipsecProps[pn]; p != nil {
					if p.lifetime.Known() {
						t.Phase2.Lifetime = p.lifetime
					}
					if p.kb.Known() {
						t.Phase2.LifetimeKB = p.kb
					}
					t.Phase2.Proposals = append(t.Phase2.Proposals, At(pn+": "+strings.Join(p.text, " "), p.line))
					break
				}
				t.Phase2.Proposals = append(t.Phase2.Proposals, At(pn, pp.line))
			}
		}
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
			c.note(v.line, "VPN %q has neither bind-interface nor proxy identities here; its traffic is chosen by security policies", v.name)
		}
		c.Tunnels = append(c.Tunnels, t)
	}
	return c
}

// mapBool returns a bool value at the same line.
func (v Value[T]) mapBool(b bool) Value[bool] { return Value[bool]{V: b, Line: v.Line, From: v.From} }

func readJunosProp(r []string, line int, life *Value[time.Duration], kb *Value[int64], groups *[]Value[int], text *[]string) {
	switch r[0] {
	case "lifetime-seconds":
		if n, ok := atoi(r[1]); ok {
			*life = At(time.Duration(n)*time.Second, line)
		}
	case "lifetime-kilobytes":
		if n, ok := atoi(r[1]); ok {
			*kb = At(int64(n), line)
		}
	case "dh-group":
		if n, ok := dhGroup(r[1]); ok {
			*groups = append(*groups, At(n, line))
		}
	case "encryption-algorithm", "authentication-algorithm":
		*text = append(*text, r[1])
	}
}
