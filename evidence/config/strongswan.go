package config

import (
	"regexp"
	"strings"
	"time"
)

// node is a section of a brace-structured file (swanctl.conf).
type node struct {
	name     string
	line     int
	kv       map[string]Value[string]
	children []*node
}

func (n *node) child(name string) *node {
	for _, c := range n.children {
		if nm, _ := baseName(c.name); nm == name {
			return c
		}
	}
	return nil
}

// sectionBrace returns the index of the '{' that opens a section on l, or
// -1: a '{' that is not part of a ${VAR} template reference.
func sectionBrace(l string) int {
	for i := 0; i < len(l); i++ {
		if l[i] == '{' && (i == 0 || l[i-1] != '$' && l[i-1] != '%') {
			return i
		}
	}
	return -1
}

// closingBrace returns the index of the first '}' in v that does not close
// a ${VAR} or %{…} template reference, or -1.
func closingBrace(v string) int {
	depth := 0
	for i := 0; i < len(v); i++ {
		switch {
		case v[i] == '{' && i > 0 && (v[i-1] == '$' || v[i-1] == '%'):
			depth++
		case v[i] == '}' && depth > 0:
			depth--
		case v[i] == '}':
			return i
		}
	}
	return -1
}

// parseBraces reads "name { key = value … }" sections. Section names may
// be template references (${NAME}) and may name templates to inherit from
// ("name : base, other").
func parseBraces(ls []string) *node {
	root := &node{kv: map[string]Value[string]{}}
	stack := []*node{root}
	for i, raw := range ls {
		l := strings.TrimSpace(uncomment(raw, "#"))
		for l != "" {
			cur := stack[len(stack)-1]
			b := sectionBrace(l)
			switch {
			case strings.HasPrefix(l, "}"):
				if len(stack) > 1 {
					stack = stack[:len(stack)-1]
				}
				l = strings.TrimSpace(l[1:])
				continue
			case b >= 0 && !strings.Contains(l[:b], "="):
				n := &node{name: strings.TrimSpace(l[:b]), line: i + 1, kv: map[string]Value[string]{}}
				cur.children = append(cur.children, n)
				stack = append(stack, n)
				l = strings.TrimSpace(l[b+1:])
				continue
			}
			if k, v, ok := strings.Cut(l, "="); ok {
				v = strings.TrimSpace(v)
				if j := closingBrace(v); j >= 0 && !strings.ContainsAny(v[:j], `"'`) {
					cur.kv[strings.TrimSpace(k)] = At(strings.TrimSpace(v[:j]), i+1)
					l = strings.TrimSpace(v[j:])
					continue
				}
				cur.kv[strings.TrimSpace(k)] = At(v, i+1)
			}
			break
		}
	}
	return root
}

// baseName splits "name : base1, base2" into the name and its templates.
func baseName(s string) (string, []string) {
	name, bases, ok := strings.Cut(s, ":")
	if !ok {
		return strings.TrimSpace(s), nil
	}
	return strings.TrimSpace(name), splitList(bases)
}

// inherit returns n with the settings of the templates it names merged
// under its own, looking templates up by name among scopes (innermost
// first); subsections are merged by name.
func inherit(n *node, scopes [][]*node, depth int) *node {
	name, bases := baseName(n.name)
	out := &node{name: name, line: n.line, kv: map[string]Value[string]{}}
	if depth < 8 {
		for _, b := range bases {
			if tpl := lookupTemplate(scopes, b, n); tpl != nil {
				merge(out, inherit(tpl, scopes, depth+1))
			}
		}
	}
	merge(out, &node{kv: n.kv, children: n.children})
	return out
}

// lookupTemplate finds the section a connection inherits from: by its
// name among scopes (innermost first), or by its full path from the root as
// swanctl.conf writes it ("conn2 : connections.conn1",
// "child : connections.conn1.children.net"). self is never its own template.
func lookupTemplate(scopes [][]*node, ref string, self *node) *node {
	segs := strings.Split(ref, ".")
	for _, sc := range scopes {
		var tpl *node
		for _, c := range sc {
			if nm, _ := baseName(c.name); nm == segs[0] && c != self {
				tpl = c
				break
			}
		}
		for _, seg := range segs[1:] {
			if tpl == nil {
				break
			}
			var next *node
			for _, c := range tpl.children {
				if nm, _ := baseName(c.name); nm == seg && c != self {
					next = c
					break
				}
			}
			tpl = next
		}
		if tpl != nil {
			return tpl
		}
	}
	return nil
}

// merge overlays src onto dst.
func merge(dst, src *node) {
	for k, v := range src.kv {
		dst.kv[k] = v
	}
	for _, c := range src.children {
		nm, _ := baseName(c.name)
		if d := dst.child(nm); d != nil {
			merge(d, c)
			continue
		}
		// The copy keeps the templates it names ("net2 : base.net"), so
		// that a child inherits after its connection was merged.
		cp := &node{name: c.name, line: c.line, kv: map[string]Value[string]{}}
		merge(cp, c)
		dst.children = append(dst.children, cp)
	}
}

// templated reports whether a value is an unfilled template reference.
func templated(s string) bool {
	return strings.Contains(s, "${") || strings.Contains(s, "%{")
}

// stockReason says that a file holds only the commented examples it ships
// with.
const stockReason = "only commented-out example connections, as the file is shipped: no tunnel is configured"

// commentedExample reports whether a commented line matches pattern: the
// examples of a stock file.
func commentedExample(ls []string, pattern string) bool {
	re := regexp.MustCompile(pattern)
	for _, l := range ls {
		if re.MatchString(strings.TrimSpace(l)) {
			return true
		}
	}
	return false
}

// parseSwanctl reads a strongSwan swanctl.conf.
//
// Lifetimes: a CHILD_SA is renewed at rekey_time (default 1 h, minus up to
// rand_time) and deleted at life_time (default rekey_time + 10 %); an
// IKE_SA is renewed at the earlier of rekey_time (default 4 h) and
// reauth_time (default off) and deleted over_time later (default 10 % of
// the longer of the two). Lifetime is that hard lifetime, Rekey the
// renewal time.
func parseSwanctl(ls []string) *Config {
	c := &Config{Vendor: "strongswan", Syntax: "swanctl", Routing: Default("static")}
	root := parseBraces(ls)
	conns := root.child("connections")
	if conns == nil || len(conns.children) == 0 {
		if conns == nil {
			c.note(0, "no connections section")
		}
		if commentedExample(ls, `^#\s*\S+\s*\{\s*$`) {
			c.NoTunnelReason = stockReason
		}
		return c
	}
	pskLine := swanctlPSKLine(root.child("secrets"))
	for _, cn0 := range conns.children {
		cn := inherit(cn0, [][]*node{conns.children, root.children}, 0)
		if templated(cn.name) {
			c.note(cn.line, "connection name %s is a template variable", cn.name)
		}
		t := &Tunnel{Name: cn.name, Line: cn.line}
		swanctlIKE(c, t, cn)
		swanctlAuth(c, t, cn, pskLine)
		t.RouteBased = Default(false)
		if v, ok := cn.kv["if_id_in"]; ok {
			t.RouteBased = At(true, v.Line)
		}
		if ch := cn.child("children"); ch != nil {
			for i, child0 := range ch.children {
				child := inherit(child0, [][]*node{ch.children, root.children}, 0)
				t.Selectors = append(t.Selectors, swanctlSelectors(child)...)
				if i > 0 {
					c.note(child.line, "CHILD_SA %q is a further SA pair; phase 2 values are read from the first child", child.name)
					continue
				}
				swanctlChild(c, t, child)
			}
		}
		c.Tunnels = append(c.Tunnels, t)
	}
	return c
}

// swanctlPSKLine returns the line of the first IKE secret, 0 when there is
// none.
func swanctlPSKLine(secrets *node) int {
	if secrets == nil {
		return 0
	}
	for _, s := range secrets.children {
		if strings.HasPrefix(s.name, "ike") {
			if v, ok := s.kv["secret"]; ok {
				return v.Line
			}
		}
	}
	return 0
}

// durationAt reads setting key of kv as a duration (bare numbers in
// seconds).
func durationAt(kv map[string]Value[string], key string) (Value[time.Duration], bool) {
	if v, ok := kv[key]; ok {
		if d, ok := parseDuration(v.V, time.Second); ok {
			return At(d, v.Line), true
		}
	}
	return Value[time.Duration]{}, false
}

// swanctlIKE reads a connection's IKE settings: addresses, version,
// proposals, lifetimes, DPD and NAT-T.
func swanctlIKE(c *Config, t *Tunnel, cn *node) {
	if v, ok := cn.kv["remote_addrs"]; ok {
		for _, a := range splitList(v.V) {
			t.Peers = append(t.Peers, At(a, v.Line))
		}
	}
	if v, ok := cn.kv["local_addrs"]; ok {
		t.Local = v
	}
	t.IKEVersion = Default(0)
	if v, ok := cn.kv["version"]; ok {
		if n, ok := atoi(v.V); ok && n <= 2 {
			t.IKEVersion = At(n, v.Line)
		}
	}
	if v, ok := cn.kv["proposals"]; ok && !templated(v.V) {
		t.Phase1.Proposals = append(t.Phase1.Proposals, v)
		for _, g := range proposalDH(v.V) {
			t.Phase1.DHGroups = append(t.Phase1.DHGroups, At(g, v.Line))
		}
	} else if ok {
		c.note(v.Line, "IKE proposals are a template variable (%s); not checked", v.V)
	}
	swanctlIKELifetimes(cn, t)
	if v, ok := cn.kv["reauth_time"]; ok {
		c.note(v.Line, "reauth_time %s: the IKE SA is re-authenticated (a new IKE SA from scratch, not a rekey) at that interval", v.V)
	}
	t.DPD.Enabled = Default(false)
	if d, ok := durationAt(cn.kv, "dpd_delay"); ok {
		t.DPD.Enabled = At(d.V > 0, d.Line)
		t.DPD.Interval = d
	}
	t.NATT = Default("enabled")
	if v, ok := cn.kv["encap"]; ok && strings.EqualFold(v.V, "yes") {
		t.NATT = At("forced", v.Line)
	}
}

// swanctlAuth reads the local auth method, and whether a secrets section
// holds the key.
func swanctlAuth(c *Config, t *Tunnel, cn *node, pskLine int) {
	if loc := cn.child("local"); loc != nil {
		if v, ok := loc.kv["auth"]; ok {
			t.Auth = v
			if v.V == "pubkey" || strings.HasPrefix(v.V, "eap") || v.V == "xauth" {
				t.PSK = At(false, v.Line)
			}
		}
	}
	if t.Auth.V == "psk" {
		if pskLine > 0 {
			t.PSK = At(true, pskLine)
		} else {
			c.note(t.Auth.Line, "auth = psk but no secrets section in this file; the key may be in another swanctl file")
		}
	}
}

// swanctlSelectors returns a child's local_ts × remote_ts pairs.
func swanctlSelectors(child *node) []Selector {
	var out []Selector
	loc, rem := []string{"dynamic"}, []string{"dynamic"}
	line := child.line
	if v, ok := child.kv["local_ts"]; ok {
		loc, line = splitList(v.V), v.Line
	}
	if v, ok := child.kv["remote_ts"]; ok {
		rem, line = splitList(v.V), v.Line
	}
	for _, l := range loc {
		for _, r := range rem {
			out = append(out, Selector{Local: l, Remote: r, Line: line})
		}
	}
	return out
}

// swanctlChild reads the first CHILD_SA: lifetimes, ESP proposals and PFS,
// DPD action, interface ID and inactivity.
func swanctlChild(c *Config, t *Tunnel, child *node) {
	swanctlChildLifetimes(child, t)
	if v, ok := child.kv["esp_proposals"]; ok && templated(v.V) {
		c.note(v.Line, "ESP proposals are a template variable (%s); PFS not checked", v.V)
	} else if ok {
		t.Phase2.Proposals = append(t.Phase2.Proposals, v)
		gs := proposalDH(v.V)
		for _, g := range gs {
			t.Phase2.DHGroups = append(t.Phase2.DHGroups, At(g, v.Line))
		}
		t.PFS = At(len(gs) > 0, v.Line)
	} else {
		t.PFS = Default(false)
	}
	if v, ok := child.kv["dpd_action"]; ok {
		t.DPD.Action = v
	}
	if v, ok := child.kv["if_id_in"]; ok {
		t.RouteBased = At(true, v.Line)
	}
	if d, ok := durationAt(child.kv, "inactivity"); ok {
		t.IdleTimeout = d
	}
}

// swanctlIKELifetimes sets the IKE SA's renewal (Rekey) and hard lifetime
// (Lifetime) from rekey_time, reauth_time and over_time.
func swanctlIKELifetimes(cn *node, t *Tunnel) {
	dur := func(key string, def time.Duration) Value[time.Duration] {
		if d, ok := durationAt(cn.kv, key); ok {
			return d
		}
		return Default(def)
	}
	rekey := dur("rekey_time", 4*time.Hour)
	reauth := dur("reauth_time", 0)
	renew := rekey
	if reauth.V > 0 && (renew.V == 0 || reauth.V < renew.V) {
		renew = reauth
	}
	if renew.V == 0 {
		// Never renewed nor expired.
		t.Phase1.Rekey = renew
		return
	}
	longer := max(rekey.V, reauth.V)
	over := dur("over_time", longer/10)
	t.Phase1.Rekey = renew
	t.Phase1.Lifetime = Value[time.Duration]{V: renew.V + over.V, Line: max(renew.Line, over.Line), From: FromFile}
	if renew.From == FromDefault && over.From == FromDefault {
		t.Phase1.Lifetime = Default(renew.V + over.V)
	}
}

// swanctlChildLifetimes sets the CHILD_SA's renewal (Rekey) and hard
// lifetime (Lifetime) from rekey_time and life_time.
func swanctlChildLifetimes(child *node, t *Tunnel) {
	t.Phase2.Rekey = Default(time.Hour)
	if d, ok := durationAt(child.kv, "rekey_time"); ok {
		t.Phase2.Rekey = d
	}
	life := t.Phase2.Rekey.V + t.Phase2.Rekey.V/10
	t.Phase2.Lifetime = Value[time.Duration]{V: life, Line: t.Phase2.Rekey.Line, From: t.Phase2.Rekey.From}
	if d, ok := durationAt(child.kv, "life_time"); ok {
		t.Phase2.Lifetime = d
	}
}

// conn is one "conn NAME" section of an ipsec.conf.
type conn struct {
	name string
	line int
	kv   map[string]Value[string]
}

// parseConns reads the conn sections of an ipsec.conf, applying
// conn %default and also= includes.
func parseConns(ls []string) []*conn {
	var all []*conn
	var cur *conn
	for i, raw := range ls {
		l := uncomment(raw, "#")
		t := strings.TrimSpace(l)
		if t == "" {
			continue
		}
		indented := l[0] == ' ' || l[0] == '\t'
		if !indented {
			f := strings.Fields(t)
			switch {
			case f[0] == "conn" && len(f) == 2:
				cur = &conn{name: f[1], line: i + 1, kv: map[string]Value[string]{}}
				all = append(all, cur)
				continue
			case f[0] == "config" || f[0] == "include" || f[0] == "version" || f[0] == "ca" || !strings.Contains(t, "="):
				cur = nil
				continue
			}
			// key=value at column 0 still belongs to the conn above: some
			// files do not indent.
		}
		if cur == nil {
			continue
		}
		if k, v, ok := strings.Cut(t, "="); ok {
			cur.kv[strings.TrimSpace(k)] = At(strings.Trim(strings.TrimSpace(v), `"`), i+1)
		}
	}
	byName := map[string]*conn{}
	var def *conn
	var out []*conn
	for _, c := range all {
		byName[c.name] = c
		if c.name == "%default" {
			def = c
		}
	}
	for _, c := range all {
		if strings.HasPrefix(c.name, "%") {
			continue
		}
		merged := map[string]Value[string]{}
		if def != nil {
			for k, v := range def.kv {
				merged[k] = v
			}
		}
		var include func(cc *conn, depth int)
		include = func(cc *conn, depth int) {
			if depth > 8 {
				return
			}
			if a, ok := cc.kv["also"]; ok {
				for _, n := range splitList(a.V) {
					if o := byName[n]; o != nil {
						include(o, depth+1)
					}
				}
			}
			for k, v := range cc.kv {
				merged[k] = v
			}
		}
		include(c, 0)
		out = append(out, &conn{name: c.name, line: c.line, kv: merged})
	}
	return out
}

// parseIPsecConf reads an ipsec.conf of strongSwan (libre=false) or
// libreswan (libre=true); the syntax is shared, the defaults are not.
func parseIPsecConf(ls []string, libre bool) *Config {
	c := &Config{Vendor: "strongswan", Syntax: "ipsec.conf", Routing: Default("static")}
	if libre {
		c.Vendor = "libreswan"
	}
	conns := parseConns(ls)
	if len(conns) == 0 {
		c.note(0, "no conn sections")
		if commentedExample(ls, `^#\s*conn\s+\S+`) {
			c.NoTunnelReason = stockReason
		}
	}
	for _, cn := range conns {
		if v, ok := cn.kv["auto"]; ok && v.V == "ignore" {
			continue
		}
		t := &Tunnel{Name: cn.name, Line: cn.line}
		if v, ok := cn.get("right"); ok {
			t.Peers = append(t.Peers, v)
		}
		if v, ok := cn.get("left"); ok {
			t.Local = v
		}
		cn.ikeVersion(t, libre)
		if v, ok := cn.get("ike"); ok {
			t.Phase1.Proposals = append(t.Phase1.Proposals, v)
			for _, g := range proposalDH(v.V) {
				t.Phase1.DHGroups = append(t.Phase1.DHGroups, At(g, v.Line))
			}
		}
		if v, ok := cn.get("esp", "phase2alg"); ok {
			t.Phase2.Proposals = append(t.Phase2.Proposals, v)
			for _, g := range proposalDH(v.V) {
				t.Phase2.DHGroups = append(t.Phase2.DHGroups, At(g, v.Line))
			}
		}
		cn.lifetimes(c, t, libre)
		if d, ok := cn.duration("inactivity"); ok {
			t.IdleTimeout = d
		}
		cn.pfs(t, libre)
		cn.dpd(t, libre)
		t.NATT = Default("enabled")
		if v, ok := cn.get("forceencaps", "encapsulation"); ok && v.V == "yes" {
			t.NATT = At("forced", v.Line)
		} else if ok && v.V == "no" {
			t.NATT = At("disabled", v.Line)
		}
		t.Selectors = cn.selectors()
		t.RouteBased = Default(false)
		if v, ok := cn.get("mark", "vti-interface", "ipsec-interface"); ok {
			t.RouteBased = At(true, v.Line)
		}
		cn.auth(c, t)
		c.Tunnels = append(c.Tunnels, t)
	}
	return c
}

// get returns the first of keys the conn sets.
func (cn *conn) get(keys ...string) (Value[string], bool) {
	for _, k := range keys {
		if v, ok := cn.kv[k]; ok {
			return v, true
		}
	}
	return Value[string]{}, false
}

// duration returns the first of keys the conn sets, as a duration.
func (cn *conn) duration(keys ...string) (Value[time.Duration], bool) {
	if v, ok := cn.get(keys...); ok {
		if d, ok := parseDuration(v.V, time.Second); ok {
			return At(d, v.Line), true
		}
	}
	return Value[time.Duration]{}, false
}

// ikeVersion reads keyexchange (and libreswan's ikev2=).
func (cn *conn) ikeVersion(t *Tunnel, libre bool) {
	if !libre {
		t.IKEVersion = Default(0)
		if v, ok := cn.get("keyexchange"); ok {
			if n, ok := ikeVersionWord(v, "ike"); ok {
				t.IKEVersion = n
			}
		}
		return
	}
	t.IKEVersion = Default(2)
	if v, ok := cn.get("ikev2"); ok {
		switch v.V {
		case "no", "never":
			t.IKEVersion = At(1, v.Line)
		case "permit", "propose", "yes", "insist":
			t.IKEVersion = At(2, v.Line)
		}
	}
	if v, ok := cn.get("keyexchange"); ok {
		if n, ok := ikeVersionWord(v, ""); ok {
			t.IKEVersion = n
		}
	}
}

// lifetimes reads the hard lifetimes (ikelifetime, lifetime / keylife /
// salifetime, lifebytes) and derives the renewal times: margintime
// (rekeymargin, default 9 min) before, made earlier still by up to
// rekeyfuzz (default 100 %) of it.
func (cn *conn) lifetimes(c *Config, t *Tunnel, libre bool) {
	if libre {
		t.Phase1.Lifetime = Default(8 * time.Hour)
		t.Phase2.Lifetime = Default(8 * time.Hour)
	} else {
		t.Phase1.Lifetime = Default(3 * time.Hour)
		t.Phase2.Lifetime = Default(time.Hour)
	}
	if d, ok := cn.duration("ikelifetime"); ok {
		t.Phase1.Lifetime = d
	}
	if d, ok := cn.duration("salifetime", "keylife", "lifetime"); ok {
		t.Phase2.Lifetime = d
	}
	if v, ok := cn.get("lifebytes"); ok {
		if n, ok := atoi(v.V); ok {
			t.Phase2.LifetimeKB = At(int64(n/1024), v.Line)
		}
	}
	margin := Default(9 * time.Minute)
	if d, ok := cn.duration("rekeymargin", "margintime"); ok {
		margin = d
	}
	if v, ok := cn.get("rekeyfuzz"); ok {
		c.note(v.Line, "rekeyfuzz=%s: each renewal is brought forward by a random part (up to %s) of the rekey margin", v.V, v.V)
	}
	if v, ok := cn.get("rekey"); ok && v.V == "no" {
		c.note(v.Line, "rekey=no: this device never renews the SAs; they expire and the tunnel drops until traffic brings it up again")
		return
	}
	for _, ph := range []*Phase{&t.Phase1, &t.Phase2} {
		if ph.Lifetime.Known() && margin.V < ph.Lifetime.V {
			ph.Rekey = Value[time.Duration]{V: ph.Lifetime.V - margin.V, Line: max(margin.Line, ph.Lifetime.Line), From: FromFile}
			if ph.Lifetime.From == FromDefault && margin.From == FromDefault {
				ph.Rekey = Default(ph.Lifetime.V - margin.V)
			}
		} else if ph.Lifetime.Known() {
			c.note(margin.Line, "the rekey margin (%s) is not shorter than the lifetime (%s): the SA cannot be renewed before it expires", margin, ph.Lifetime)
		}
	}
}

// pfs reads pfs=; strongSwan does PFS when the esp proposal names a group.
func (cn *conn) pfs(t *Tunnel, libre bool) {
	if libre {
		t.PFS = Default(true)
		if v, ok := cn.get("pfs"); ok {
			t.PFS = At(v.V == "yes", v.Line)
		}
		return
	}
	t.PFS = Default(false)
	if v, ok := cn.get("esp", "phase2alg"); ok {
		t.PFS = At(len(t.Phase2.DHGroups) > 0, v.Line)
	}
	if v, ok := cn.get("pfs"); ok && v.V == "no" {
		t.PFS = At(false, v.Line)
	}
}

// dpd reads dpdaction and dpddelay.
func (cn *conn) dpd(t *Tunnel, libre bool) {
	t.DPD.Enabled = Default(false)
	if v, ok := cn.get("dpdaction"); ok {
		t.DPD.Action = v
		t.DPD.Enabled = At(v.V != "none", v.Line)
		if !libre {
			t.DPD.Interval = Default(30 * time.Second)
		}
	}
	if d, ok := cn.duration("dpddelay"); ok {
		t.DPD.Interval = d
		if libre || !t.DPD.Enabled.Known() || t.DPD.Enabled.From == FromDefault {
			t.DPD.Enabled = At(d.V > 0, d.Line)
		}
	}
}

// selectors returns the leftsubnet(s) × rightsubnet(s) pairs.
func (cn *conn) selectors() []Selector {
	var out []Selector
	loc, rem := []string{"(left address)"}, []string{"(right address)"}
	line := cn.line
	if v, ok := cn.get("leftsubnet", "leftsubnets"); ok {
		loc, line = splitList(strings.Trim(v.V, "{}")), v.Line
	}
	if v, ok := cn.get("rightsubnet", "rightsubnets"); ok {
		rem, line = splitList(strings.Trim(v.V, "{}")), v.Line
	}
	for _, l := range loc {
		for _, r := range rem {
			out = append(out, Selector{Local: l, Remote: r, Line: line})
		}
	}
	return out
}

// auth reads authby (or leftauth); both stacks default to public keys.
func (cn *conn) auth(c *Config, t *Tunnel) {
	v, ok := cn.get("authby", "leftauth")
	if !ok {
		t.Auth = Default("pubkey")
		return
	}
	switch v.V {
	case "secret", "psk":
		t.Auth = At("psk", v.Line)
		c.note(v.Line, "pre-shared keys live in ipsec.secrets, not in this file")
	case "pubkey", "rsasig", "rsa", "ecdsa", "rsa-sha2":
		t.Auth = At("pubkey", v.Line)
		t.PSK = At(false, v.Line)
	default:
		t.Auth = v
	}
}
