package config

import (
	"strconv"
	"strings"
	"time"
)

// parsePfSense reads the <ipsec> section of a pfSense (or OPNsense legacy)
// config.xml.
func parsePfSense(text string) (*Config, error) {
	c := &Config{Vendor: "pfsense", Syntax: "xml", Routing: Default("static")}
	st, err := xmlStatements(text)
	type p1 struct {
		t     *Tunnel
		ikeid string
		kv    map[string]Value[string]
	}
	p1s := map[string]*p1{}
	var order []string
	p2s := map[string]map[string]Value[string]{}
	var p2order []string
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
			p := p1s[sec]
			if p == nil {
				p = &p1{kv: map[string]Value[string]{}, t: &Tunnel{Line: s.line}}
				p1s[sec] = p
				order = append(order, sec)
			}
			if _, dup := p.kv[key]; !dup {
				p.kv[key] = At(val, s.line)
			}
			if strings.HasPrefix(key, "encryption/item") && strings.HasSuffix(key, "dhgroup") {
				if n, ok := atoi(val); ok {
					p.t.Phase1.DHGroups = append(p.t.Phase1.DHGroups, At(n, s.line))
				}
			}
			if strings.HasSuffix(key, "encryption-algorithm/name") {
				p.t.Phase1.Proposals = append(p.t.Phase1.Proposals, At(val, s.line))
			}
		case "phase2":
			m := p2s[sec]
			if m == nil {
				m = map[string]Value[string]{"_line": At("", s.line)}
				p2s[sec] = m
				p2order = append(p2order, sec)
			}
			if _, dup := m[key]; !dup {
				m[key] = At(val, s.line)
			} else if strings.HasSuffix(key, "/name") {
				m[key+"+"+strconv.Itoa(s.line)] = At(val, s.line)
			}
		}
	}
	for _, sec := range order {
		p := p1s[sec]
		t, kv := p.t, p.kv
		p.ikeid = kv["ikeid"].V
		t.Name = "phase1 ikeid " + p.ikeid
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
		if v := kv["lifetime"]; v.V != "" {
			if n, ok := atoi(v.V); ok {
				t.Phase1.Lifetime = At(time.Duration(n)*time.Second, v.Line)
			}
		}
		if v := kv["rekey_time"]; v.V != "" {
			if n, ok := atoi(v.V); ok {
				t.Phase1.Lifetime = At(time.Duration(n)*time.Second, v.Line)
			}
		}
		if v := kv["authentication_method"]; v.Known() {
			a := v.V
			if a == "pre_shared_key" || a == "xauth_psk_server" {
				a = "psk"
			} else {
				a = "pubkey"
			}
			t.Auth = At(a, v.Line)
		}
		t.PSK = At(false, t.Line)
		if v := kv["pre-shared-key"]; v.V != "" && t.Auth.V == "psk" {
			t.PSK = At(true, v.Line)
		}
		t.DPD.Enabled = Default(false)
		if v := kv["dpd_delay"]; v.V != "" {
			if n, ok := atoi(v.V); ok {
				t.DPD.Enabled = At(n > 0, v.Line)
				t.DPD.Interval = At(time.Duration(n)*time.Second, v.Line)
			}
		}
		if v := kv["dpd_maxfail"]; v.V != "" {
			if n, ok := atoi(v.V); ok {
				t.DPD.Retries = At(n, v.Line)
			}
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
		first := true
		for _, s2 := range p2order {
			m := p2s[s2]
			if m["ikeid"].V != p.ikeid {
				continue
			}
			line := m["_line"].Line
			if m["mode"].V == "vti" {
				t.RouteBased = At(true, m["mode"].Line)
			}
			t.Selectors = append(t.Selectors, Selector{Local: pfID(m, "localid"), Remote: pfID(m, "remoteid"), Line: line})
			if !first {
				continue
			}
			first = false
			t.Phase2.Lifetime = Default(3600 * time.Second)
			if v := m["lifetime"]; v.V != "" {
				if n, ok := atoi(v.V); ok {
					t.Phase2.Lifetime = At(time.Duration(n)*time.Second, v.Line)
				}
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
		if first {
			c.note(t.Line, "%s has no phase 2 entries", t.Name)
		}
		c.Tunnels = append(c.Tunnels, t)
	}
	return c, err
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
