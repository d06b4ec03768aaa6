package config

import (
	"strings"
	"time"
)

// fgEntry is one "edit NAME" entry of a FortiGate config table.
type fgEntry struct {
	name string
	line int
	set  map[string]Value[[]string]
}

func (e *fgEntry) get(k string) (Value[string], bool) {
	v, ok := e.set[k]
	if !ok {
		return Value[string]{}, false
	}
	return At(strings.Join(v.V, " "), v.Line), true
}

// fgTables reads "config PATH / edit NAME / set K V… / next / end" blocks
// into PATH → entries. It is lenient with missing "end" lines (a new
// top-level "config" starts over) and skips "!" and "#" comment lines.
func fgTables(ls []string) map[string][]*fgEntry {
	tables := map[string][]*fgEntry{}
	var path []string
	var cur *fgEntry
	for i, raw := range ls {
		t := strings.TrimSpace(raw)
		if t == "" || t[0] == '!' || t[0] == '#' {
			continue
		}
		f := fgFields(t)
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "config":
			if raw[0] != ' ' && raw[0] != '\t' {
				path = nil
			}
			if cur != nil {
				path = append(path, "edit:"+cur.name)
			}
			path = append(path, strings.Join(f[1:], " "))
			cur = nil
		case "edit":
			if len(f) > 1 {
				cur = &fgEntry{name: f[1], line: i + 1, set: map[string]Value[[]string]{}}
				key := strings.Join(path, "/")
				tables[key] = append(tables[key], cur)
			}
		case "next":
			cur = nil
		case "end":
			cur = nil
			// Pop to the enclosing table, and out of its entry if nested.
			if len(path) > 0 {
				path = path[:len(path)-1]
			}
			if n := len(path); n > 0 && strings.HasPrefix(path[n-1], "edit:") {
				path = path[:n-1]
			}
		case "set":
			if cur != nil && len(f) > 1 {
				cur.set[f[1]] = At(f[2:], i+1)
			}
		}
	}
	return tables
}

// fgFields splits a FortiGate line into words, honouring double quotes and
// dropping a trailing " ! comment" (seen in published samples).
func fgFields(s string) []string { return quotedWords(s, false, true) }

// parseFortiGate reads FortiOS configuration (show / show full-configuration).
func parseFortiGate(ls []string) *Config {
	c := &Config{Vendor: "fortigate", Syntax: "cli", Routing: Default("static")}
	tables := fgTables(ls)
	p1s := append([]*fgEntry(nil), tables["vpn ipsec phase1-interface"]...)
	routeBased := len(p1s)
	p1s = append(p1s, tables["vpn ipsec phase1"]...)
	p2s := append(tables["vpn ipsec phase2-interface"], tables["vpn ipsec phase2"]...)
	if bgp := tables["router bgp/neighbor"]; len(bgp) > 0 {
		c.Routing = At("bgp", bgp[0].line)
	}
	for i, p1 := range p1s {
		t := &Tunnel{Name: p1.name, Line: p1.line}
		t.RouteBased = At(i < routeBased, p1.line)
		fgPhase1(t, p1)
		var mine []*fgEntry
		for _, p2 := range p2s {
			if v, ok := p2.get("phase1name"); ok && v.V == p1.name {
				mine = append(mine, p2)
			}
		}
		if len(mine) == 0 {
			c.note(p1.line, "phase 1 %q has no phase 2 in this file", p1.name)
		}
		for j, p2 := range mine {
			t.Selectors = append(t.Selectors, fgSelector(p2))
			if j > 0 {
				c.note(p2.line, "phase 2 %q is a further SA pair of %q; phase 2 values are read from the first", p2.name, p1.name)
				continue
			}
			fgPhase2(c, t, p2, p1.name)
		}
		c.Tunnels = append(c.Tunnels, t)
	}
	return c
}

// int returns setting k as a number.
func (e *fgEntry) int(k string) (Value[int], bool) {
	v, ok := e.get(k)
	if !ok {
		return Value[int]{}, false
	}
	n, ok := atoi(v.V)
	return At(n, v.Line), ok
}

// list returns the words of setting k, each at the setting's line.
func (e *fgEntry) list(k string) []Value[string] {
	var out []Value[string]
	if v, ok := e.set[k]; ok {
		for _, w := range v.V {
			out = append(out, At(w, v.Line))
		}
	}
	return out
}

// groups returns the DH groups of setting k ("dhgrp 14 5"), and whether
// it is set.
func (e *fgEntry) groups(k string) ([]Value[int], bool) {
	v, ok := e.set[k]
	var out []Value[int]
	for _, g := range v.V {
		if n, ok := dhGroup(g); ok {
			out = append(out, At(n, v.Line))
		}
	}
	return out, ok
}

// fgPhase1 reads a phase1(-interface) entry: gateways, IKE version,
// keylife, proposals, authentication, DPD, NAT-T and idle timeout.
func fgPhase1(t *Tunnel, p1 *fgEntry) {
	if v, ok := p1.get("remote-gw"); ok {
		t.Peers = append(t.Peers, v)
	} else if v, ok := p1.get("remotegw-ddns"); ok {
		t.Peers = append(t.Peers, v)
	}
	if v, ok := p1.get("local-gw"); ok {
		t.Local = v
	} else if v, ok := p1.get("interface"); ok {
		t.Local = v
	}
	t.IKEVersion = Default(1)
	if v, ok := p1.int("ike-version"); ok {
		t.IKEVersion = v
	}
	t.Phase1.Lifetime = Default(86400 * time.Second)
	if v, ok := p1.int("keylife"); ok {
		t.Phase1.Lifetime = At(time.Duration(v.V)*time.Second, v.Line)
	}
	t.Phase1.Proposals = append(t.Phase1.Proposals, p1.list("proposal")...)
	t.Phase1.DHGroups, _ = p1.groups("dhgrp")
	fgAuth(t, p1)
	fgIdentities(t, p1)
	fgDPD(t, p1)
	t.NATT = Default("enabled")
	if v, ok := p1.get("nattraversal"); ok {
		switch v.V {
		case "disable":
			t.NATT = At("disabled", v.Line)
		case "forced":
			t.NATT = At("forced", v.Line)
		default:
			t.NATT = At("enabled", v.Line)
		}
	}
	// idle-timeout closes the phase 1 after idle-timeoutinterval
	// minutes (default 15) without traffic.
	if v, ok := p1.get("idle-timeout"); ok && v.V == "enable" {
		t.IdleTimeout = At(15*time.Minute, v.Line)
		if iv, ok := p1.int("idle-timeoutinterval"); ok {
			t.IdleTimeout = At(time.Duration(iv.V)*time.Minute, iv.Line)
		}
	}
}

// fgAuth reads authmethod and psksecret.
func fgAuth(t *Tunnel, p1 *fgEntry) {
	t.Auth = Default("psk")
	if v, ok := p1.get("authmethod"); ok {
		a := v.V
		if a == "signature" {
			a = "pubkey"
		}
		t.Auth = At(a, v.Line)
	}
	t.PSK = At(false, p1.line)
	if v, ok := p1.get("psksecret"); ok {
		t.PSK = At(true, v.Line)
	}
	if t.Auth.V == "pubkey" {
		t.PSK = At(false, t.Auth.Line)
	}
}

// fgIdentities reads localid and, when the tunnel accepts one peer only
// (peertype one), peerid; an empty quoted value names none.
func fgIdentities(t *Tunnel, p1 *fgEntry) {
	if v, ok := fgIdentity(p1, "localid"); ok {
		t.LocalID = v
	}
	if pt, ok := p1.get("peertype"); ok && pt.V == "one" {
		if v, ok := fgIdentity(p1, "peerid"); ok {
			t.RemoteID = v
		}
	}
}

// fgIdentity returns identity setting k without its quotes, and whether
// it names one.
func fgIdentity(p1 *fgEntry, k string) (Value[string], bool) {
	v, ok := p1.get(k)
	v.V = strings.Trim(v.V, `"'`)
	return v, ok && v.V != ""
}

// fgDPD reads dpd, dpd-retryinterval and dpd-retrycount.
func fgDPD(t *Tunnel, p1 *fgEntry) {
	t.DPD.Enabled = Default(true)
	if v, ok := p1.get("dpd"); ok {
		t.DPD.Enabled = At(v.V != "disable", v.Line)
		t.DPD.Action = v
	}
	if v, ok := p1.get("dpd-retryinterval"); ok {
		// "set dpd-retryinterval 20 [ms]": the seconds come first; a
		// value-less "set dpd-retryinterval" leaves the interval unknown.
		if f := strings.Fields(v.V); len(f) > 0 {
			setSeconds(&t.DPD.Interval, f[0], v.Line)
		}
	}
	if v, ok := p1.int("dpd-retrycount"); ok {
		t.DPD.Retries = v
	}
}

// fgSelector reads a phase 2 entry's selector pair.
func fgSelector(p2 *fgEntry) Selector {
	loc, locLine := fgSelectorSide(p2, "src")
	rem, remLine := fgSelectorSide(p2, "dst")
	line := p2.line
	if locLine > 0 {
		line = locLine
	}
	if remLine > 0 {
		line = remLine
	}
	return Selector{Local: loc, Remote: rem, Line: line}
}

// fgSelectorSide reads one side (prefix "src" or "dst") of a phase 2
// selector by its addr-type: a single address (ip: start-ip), a range
// (range: start-ip to end-ip), a subnet or an address name; 0.0.0.0/0
// and line 0 when the entry leaves it at FortiOS's default.
func fgSelectorSide(p2 *fgEntry, side string) (string, int) {
	typ, _ := p2.get(side + "-addr-type")
	start, hasStart := p2.get(side + "-start-ip")
	switch {
	case typ.V == "ip" && hasStart:
		return start.V + "/32", start.Line
	case typ.V == "range" && hasStart:
		if end, ok := p2.get(side + "-end-ip"); ok {
			return start.V + "-" + end.V, max(start.Line, end.Line)
		}
		return start.V + "/32", start.Line
	}
	if v, ok := p2.set[side+"-subnet"]; ok && len(v.V) >= 1 {
		return fgSubnet(v.V), v.Line
	}
	if v, ok := p2.get(side + "-name"); ok {
		return v.V, v.Line
	}
	return "0.0.0.0/0", 0
}

// fgPhase2 reads the first phase 2 entry of phase 1 p1name: keylife,
// proposals, PFS and keep-alive.
func fgPhase2(c *Config, t *Tunnel, p2 *fgEntry, p1name string) {
	t.Phase2.Lifetime = Default(43200 * time.Second)
	typ, _ := p2.get("keylife-type")
	if v, ok := p2.int("keylifeseconds"); ok && typ.V != "kbs" {
		t.Phase2.Lifetime = At(time.Duration(v.V)*time.Second, v.Line)
	}
	if v, ok := p2.int("keylifekbs"); ok {
		t.Phase2.LifetimeKB = At(int64(v.V), v.Line)
	}
	t.Phase2.Proposals = append(t.Phase2.Proposals, p2.list("proposal")...)
	t.PFS = Default(true)
	if v, ok := p2.get("pfs"); ok {
		t.PFS = At(v.V != "disable", v.Line)
	}
	if t.PFS.V {
		if gs, ok := p2.groups("dhgrp"); ok {
			t.Phase2.DHGroups = gs
		} else {
			t.Phase2.DHGroups = []Value[int]{Default(14), Default(5)}
		}
	}
	for _, k := range []string{"keepalive", "auto-negotiate"} {
		if v, ok := p2.get(k); ok && v.V == "enable" {
			t.KeepAlive = At(true, v.Line)
		}
	}
	if v, ok := p2.get("auto-negotiate"); ok && v.V == "disable" {
		c.note(v.Line, "auto-negotiate disable: phase 2 of %q is only brought up by traffic, and may not come back after a rekey until traffic flows", p1name)
	}
}

// fgSubnet turns "10.0.0.0 255.255.0.0" or "10.0.0.0/16" into a CIDR.
func fgSubnet(v []string) string {
	if len(v) >= 2 {
		if p, ok := maskToPrefix(v[0], v[1], false); ok {
			return p
		}
	}
	return strings.Join(v, " ")
}
