package config

import (
	"strconv"
	"strings"
	"time"
)

// pfPhase1 is a <phase1> entry: its settings by path, and the tunnel
// that gathers its repeated items (DH groups, algorithms) as they come.
type pfPhase1 struct {
	t  *Tunnel
	kv map[string]Value[string]
}

// pfSections is the <ipsec> section: phase 1 and phase 2 entries in file
// order.
type pfSections struct {
	p1s     map[string]*pfPhase1
	order   []string
	p2s     map[string]map[string]Value[string]
	p2order []string
}

// parsePfSense reads the <ipsec> section of a pfSense (or OPNsense legacy)
// config.xml.
func parsePfSense(text string) (*Config, error) {
	c := &Config{Vendor: "pfsense", Syntax: "xml", Routing: Default("static")}
	st, err := xmlStatements(text)
	sec := pfReadSections(st)
	for _, name := range sec.order {
		p := sec.p1s[name]
		t := p.t
		pfPhase1Settings(t, p.kv)
		ikeid := p.kv["ikeid"].V
		first := true
		for _, s2 := range sec.p2order {
			m := sec.p2s[s2]
			if m["ikeid"].V != ikeid {
				continue
			}
			if m["mode"].V == "vti" {
				t.RouteBased = At(true, m["mode"].Line)
			}
			t.Selectors = append(t.Selectors, Selector{Local: pfID(m, "localid"), Remote: pfID(m, "remoteid"), Line: m["_line"].Line})
			if first {
				pfPhase2Settings(t, m)
			}
			first = false
		}
		if first {
			c.note(t.Line, "%s has no phase 2 entries", t.Name)
		}
		c.Tunnels = append(c.Tunnels, t)
	}
	return c, err
}

// pfReadSections gathers the statements below <ipsec> into phase 1 and
// phase 2 entries.
func pfReadSections(st []stmt) *pfSections {
	out := &pfSections{p1s: map[string]*pfPhase1{}, p2s: map[string]map[string]Value[string]{}}
	for _, s := range st {
		i := -1
		for j, w := range s.f {
			if stripIndex(w) == "ipsec" {
				i = j
				break
			}
		}
		if i < 0 || len(s.f) < i+3 {
			continue
		}
		sec := s.f[i+1]
		rest := s.f[i+2:]
		key := strings.Join(stripAll(rest[:len(rest)-1]), "/")
		val := rest[len(rest)-1]
		if len(rest) == 1 {
			key, val = stripIndex(rest[0]), ""
		}
		switch stripIndex(sec) {
		case "phase1":
			out.phase1(sec, s.line).read(key, val, s.line)
		case "phase2":
			m := out.p2s[sec]
			if m == nil {
				m = map[string]Value[string]{"_line": At("", s.line)}
				out.p2s[sec] = m
				out.p2order = append(out.p2order, sec)
			}
			if _, dup := m[key]; !dup {
				m[key] = At(val, s.line)
			} else if strings.HasSuffix(key, "/name") {
				m[key+"+"+strconv.Itoa(s.line)] = At(val, s.line)
			}
		}
	}
	return out
}

// phase1 returns the phase 1 entry sec, made at line when new.
func (ps *pfSections) phase1(sec string, line int) *pfPhase1 {
	p := ps.p1s[sec]
	if p == nil {
		p = &pfPhase1{kv: map[string]Value[string]{}, t: &Tunnel{Line: line}}
		ps.p1s[sec] = p
		ps.order = append(ps.order, sec)
	}
	return p
}

// read takes in one phase 1 setting; the first of a key counts, and
// every encryption item adds its DH group and algorithm.
func (p *pfPhase1) read(key, val string, line int) {
	if _, dup := p.kv[key]; !dup {
		p.kv[key] = At(val, line)
	}
	if strings.HasPrefix(key, "encryption/item") && strings.HasSuffix(key, "dhgroup") {
		if n, ok := atoi(val); ok {
			p.t.Phase1.DHGroups = append(p.t.Phase1.DHGroups, At(n, line))
		}
	}
	if strings.HasSuffix(key, "encryption-algorithm/name") {
		p.t.Phase1.Proposals = append(p.t.Phase1.Proposals, At(val, line))
	}
}

// pfInt returns setting k of kv as a number, when it is one.
func pfInt(kv map[string]Value[string], k string) (Value[int], bool) {
	v := kv[k]
	if v.V == "" {
		return Value[int]{}, false
	}
	n, ok := atoi(v.V)
	return At(n, v.Line), ok
}

// pfPhase1Settings reads a phase 1 entry's name, gateways, IKE version,
// lifetime, authentication, DPD and NAT-T.
func pfPhase1Settings(t *Tunnel, kv map[string]Value[string]) {
	t.Name = "phase1 ikeid " + kv["ikeid"].V
	if v := kv["descr"]; v.V != "" {
		t.Name += " (" + v.V + ")"
	}
	if v := kv["remote-gateway"]; v.V != "" {
		t.Peers = append(t.Peers, v)
	}
	if v := kv["interface"]; v.V != "" {
		t.Local = v
	}
	t.IKEVersion = Default(1)
	if n, ok := ikeVersionWord(kv["iketype"], "auto"); ok {
		t.IKEVersion = n
	}
	t.Phase1.Lifetime = Default(28800 * time.Second)
	for _, k := range []string{"lifetime", "rekey_time"} {
		if n, ok := pfInt(kv, k); ok {
			t.Phase1.Lifetime = At(time.Duration(n.V)*time.Second, n.Line)
		}
	}
	if v := kv["authentication_method"]; v.Known() {
		a := "pubkey"
		if v.V == "pre_shared_key" || v.V == "xauth_psk_server" {
			a = "psk"
		}
		t.Auth = At(a, v.Line)
	}
	t.PSK = At(false, t.Line)
	if v := kv["pre-shared-key"]; v.V != "" && t.Auth.V == "psk" {
		t.PSK = At(true, v.Line)
	}
	t.DPD.Enabled = Default(false)
	if n, ok := pfInt(kv, "dpd_delay"); ok {
		t.DPD.Enabled = At(n.V > 0, n.Line)
		t.DPD.Interval = At(time.Duration(n.V)*time.Second, n.Line)
	}
	if n, ok := pfInt(kv, "dpd_maxfail"); ok {
		t.DPD.Retries = n
	}
	t.NATT = Default("enabled")
	if v := kv["nat_traversal"]; v.V != "" {
		switch v.V {
		case "force":
			t.NATT = At("forced", v.Line)
		case "off", "no":
			t.NATT = At("disabled", v.Line)
		default:
			t.NATT = At("enabled", v.Line)
		}
	}
	t.RouteBased = Default(false)
}

// pfPhase2Settings reads the first phase 2 entry's lifetime, PFS group and
// algorithms.
func pfPhase2Settings(t *Tunnel, m map[string]Value[string]) {
	t.Phase2.Lifetime = Default(3600 * time.Second)
	if n, ok := pfInt(m, "lifetime"); ok {
		t.Phase2.Lifetime = At(time.Duration(n.V)*time.Second, n.Line)
	}
	t.PFS = Default(false)
	if v := m["pfsgroup"]; v.Known() {
		n, _ := atoi(v.V)
		t.PFS = At(n > 0, v.Line)
		if n > 0 {
			t.Phase2.DHGroups = append(t.Phase2.DHGroups, At(n, v.Line))
		}
	}
	for k, v := range m {
		if strings.HasPrefix(k, "encryption-algorithm-option/name") {
			t.Phase2.Proposals = append(t.Phase2.Proposals, v)
		}
	}
	sortValues(t.Phase2.Proposals)
}

// pfID formats a phase 2 local/remote id: lan, wan, network A/N, address A.
func pfID(m map[string]Value[string], which string) string {
	typ := m[which+"/type"].V
	addr := m[which+"/address"].V
	bits := m[which+"/netbits"].V
	switch typ {
	case "network":
		if strings.Contains(addr, "/") {
			return addr
		}
		return addr + "/" + bits
	case "address":
		return addr + "/32"
	case "":
		return "(unset)"
	}
	return typ + " subnet"
}

// stripAll removes "#k" indexes from path segments.
func stripAll(ws []string) []string {
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = stripIndex(w)
	}
	return out
}

// sortValues orders values by line.
func sortValues(vs []Value[string]) {
	for i := 1; i < len(vs); i++ {
		for j := i; j > 0 && vs[j].Line < vs[j-1].Line; j-- {
			vs[j], vs[j-1] = vs[j-1], vs[j]
		}
	}
}
