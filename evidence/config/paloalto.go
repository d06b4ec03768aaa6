package config

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// xmlStatements flattens an XML document into statements: the element path
// (an <entry name="X"> element becomes X, a repeated element NAME becomes
// NAME#k, <member> adds nothing) followed by the text, with the line of the
// text. Elements without text and without children give a statement too.
func xmlStatements(text string) ([]stmt, error) {
	dec := xml.NewDecoder(strings.NewReader(text))
	dec.Strict = false
	dec.AutoClose = xml.HTMLAutoClose
	dec.Entity = xml.HTMLEntity
	type frame struct {
		seg      string
		counts   map[string]int
		children int
		text     bytes.Buffer
		line     int
	}
	stack := []*frame{{counts: map[string]int{}}}
	var out []stmt
	path := func() []string {
		var p []string
		for _, fr := range stack[1:] {
			if fr.seg != "" {
				p = append(p, fr.seg)
			}
		}
		return p
	}
	for {
		line, _ := dec.InputPos()
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return out, fmt.Errorf("xml: line %d: %w", line, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			parent := stack[len(stack)-1]
			parent.children++
			seg := t.Name.Local
			for _, a := range t.Attr {
				if a.Name.Local == "name" && seg == "entry" {
					seg = a.Value
				}
			}
			if seg == "member" {
				seg = ""
			} else if seg == t.Name.Local {
				n := parent.counts[seg]
				parent.counts[seg]++
				seg = seg + "#" + strconv.Itoa(n)
			}
			l, _ := dec.InputPos()
			stack = append(stack, &frame{seg: seg, counts: map[string]int{}, line: l})
		case xml.CharData:
			stack[len(stack)-1].text.Write(t)
		case xml.EndElement:
			if len(stack) == 1 {
				continue
			}
			fr := stack[len(stack)-1]
			txt := strings.TrimSpace(fr.text.String())
			if fr.children == 0 {
				p := path()
				if txt != "" {
					p = append(p, txt)
				}
				out = append(out, stmt{f: p, line: fr.line})
			}
			stack = stack[:len(stack)-1]
		}
	}
	return out, nil
}

// stripIndex removes "#k" from a path segment.
func stripIndex(s string) string {
	if i := strings.LastIndexByte(s, '#'); i > 0 {
		if _, err := strconv.Atoi(s[i+1:]); err == nil {
			return s[:i]
		}
	}
	return s
}

// panSetStatements reads PAN-OS "set" commands, including the
// "edit … / set … / top / up" form of published samples.
func panSetStatements(ls []string) []stmt {
	var out []stmt
	var ctx [][]string
	for i := 0; i < len(ls); i++ {
		t := strings.TrimSpace(ls[i])
		if t == "" || t[0] == '!' || t[0] == '#' {
			continue
		}
		// A command pasted from a document or a shell script may go on
		// over several lines, each but the last ending in a backslash;
		// it counts as one statement on its first line.
		first := i
		for strings.HasSuffix(t, `\`) && i+1 < len(ls) {
			i++
			t = strings.TrimSpace(strings.TrimSuffix(t, `\`)) + " " + strings.TrimSpace(ls[i])
		}
		t = strings.TrimSpace(strings.TrimSuffix(t, `\`))
		f := fgFields(t)
		switch f[0] {
		case "edit":
			ctx = append(ctx, f[1:])
		case "top":
			ctx = nil
		case "up":
			if len(ctx) > 0 {
				ctx = ctx[:len(ctx)-1]
			}
		case "set":
			var full []string
			for _, c := range ctx {
				full = append(full, c...)
			}
			full = append(full, f[1:]...)
			var clean []string
			for _, w := range full {
				if w != "[" && w != "]" {
					clean = append(clean, strings.Trim(w, "[]"))
				}
			}
			out = append(out, stmt{f: clean, line: first + 1})
		}
	}
	return out
}

// panGatewayKeywords start a setting of an IKE gateway; a set line may
// hold several.
var panGatewayKeywords = map[string]bool{
	"interface": true, "local-address": true, "peer-address": true, "authentication": true,
	"protocol": true, "protocol-common": true, "local-id": true, "peer-id": true, "version": true,
}

// panTunnelKeywords start a setting of an IPsec tunnel.
var panTunnelKeywords = map[string]bool{
	"auto-key": true, "tunnel-interface": true, "ike-gateway": true, "ipsec-crypto-profile": true,
	"anti-replay": true, "tunnel-monitor": true,
}

// after returns the words after keyword in f, or nil.
func after(f []string, keyword string) []string {
	for i, w := range f {
		if w == keyword {
			return f[i+1:]
		}
	}
	return nil
}

// panLifetime reads "lifetime seconds|minutes|hours|days N" anywhere in f.
func panLifetime(f []string) (time.Duration, bool) {
	r := after(f, "lifetime")
	if len(r) < 2 {
		return 0, false
	}
	return parseDuration(r[1]+" "+r[0], time.Second)
}

// panProfile is an IKE or IPsec crypto profile.
type panProfile struct {
	lifetime Value[time.Duration]
	groups   []Value[int]
	noPFS    Value[bool]
	props    []Value[string]
	line     int
}

// panGateway is an IKE gateway.
type panGateway struct {
	line           int
	peer           []Value[string]
	local          Value[string]
	version        Value[int]
	v1prof, v2prof string
	psk            Value[bool]
	auth           Value[string]
	natt           Value[string]
	dpd1, dpd2     Value[bool]
	dpdInterval    Value[time.Duration]
	dpdRetry       Value[int]
	sawV1, sawV2   bool
	// localID and peerID are local-id and peer-id.
	localID, peerID Value[string]
}

// panTunnel is an IPsec tunnel.
type panTunnel struct {
	name, gateway, profile string
	line                   int
	iface                  Value[string]
	proxy                  map[string]*Selector
	order                  []string
}

// panState is what parsePaloAlto gathers from the statements before it
// builds the tunnels.
type panState struct {
	c          *Config
	ike, ipsec map[string]*panProfile
	gws        map[string]*panGateway
	tuns       []*panTunnel
	tunBy      map[string]*panTunnel
	// aliased holds the wrong paths read as meant, noted once each.
	aliased map[string]bool
}

// parsePaloAlto reads PAN-OS statements (from set commands or XML).
func parsePaloAlto(st []stmt, syntax string) *Config {
	s := &panState{
		c:   &Config{Vendor: "paloalto", Syntax: syntax, Routing: Default("static")},
		ike: map[string]*panProfile{}, ipsec: map[string]*panProfile{},
		gws: map[string]*panGateway{}, tunBy: map[string]*panTunnel{}, aliased: map[string]bool{},
	}
	for _, x := range st {
		s.read(panNetworkPath(x.f), x.line)
	}
	s.noteUnusedIKEProfiles()
	for _, tu := range s.tuns {
		s.c.Tunnels = append(s.c.Tunnels, s.tunnel(tu))
	}
	return s.c
}

// panNetworkPath cuts everything up to "network" (XML paths start at
// /config/devices/…) and the [@name] indexes; nil without "network".
func panNetworkPath(f []string) []string {
	for i, w := range f {
		if stripIndex(w) == "network" {
			f = f[i+1:]
			break
		}
		if i == len(f)-1 {
			f = nil
		}
	}
	for i := range f {
		f[i] = stripIndex(f[i])
	}
	return f
}

// read takes in one statement below "network".
func (s *panState) read(f []string, line int) {
	switch {
	case has(f, "ike", "crypto-profiles") && len(f) > 4 && (f[2] == "ike-crypto-profiles" || f[2] == "ike-crypto-profile" || f[2] == "ipsec-crypto-profiles" || f[2] == "ipsec-crypto-profile"),
		has(f, "ipsec", "crypto-profiles") && len(f) > 4 && strings.HasPrefix(f[2], "ipsec-crypto-profile"):
		s.readCryptoProfile(f, line)
	case has(f, "ike", "gateway") && len(f) > 3:
		g := s.gws[f[2]]
		if g == nil {
			g = &panGateway{line: line}
			s.gws[f[2]] = g
		}
		// A set line may carry several keywords: "… interface ethernet1/1
		// local-address 192.0.2.1 peer-address 198.51.100.1".
		r := f[3:]
		for i, w := range r {
			if i == 0 || panGatewayKeywords[w] {
				g.read(r[i:], line)
			}
		}
	case has(f, "ipsec", "tunnel") && len(f) > 3:
		// "network ipsec tunnel" is not a PAN-OS path; it means
		// "network tunnel ipsec": read as meant, like the crypto
		// profiles.
		if !s.aliased["ipsec tunnel"] {
			s.aliased["ipsec tunnel"] = true
			s.c.note(line, "ipsec tunnel is not a PAN-OS path (network tunnel ipsec); read as meant")
		}
		s.readTunnel(append([]string{"tunnel", "ipsec"}, f[2:]...), line)
	case has(f, "tunnel", "ipsec") && len(f) > 3:
		s.readTunnel(f, line)
	case len(f) > 3 && f[0] == "virtual-router" && after(f, "bgp") != nil:
		if e := after(f, "enable"); len(e) > 0 && e[0] == "yes" || after(f, "peer-group") != nil {
			if s.c.Routing.From != FromFile {
				s.c.Routing = At("bgp", line)
			}
		}
	}
}

// readCryptoProfile reads "ike crypto-profiles ike-crypto-profiles|ipsec-
// crypto-profiles NAME …": lifetime, DH groups (or no-pfs) and algorithms.
func (s *panState) readCryptoProfile(f []string, line int) {
	// "ipsec crypto-profiles ipsec-crypto-profile" and the singular forms
	// are read as the PAN-OS paths they mean.
	if f[2] != "ike-crypto-profiles" && f[2] != "ipsec-crypto-profiles" && !s.aliased[f[0]+" "+f[2]] {
		s.aliased[f[0]+" "+f[2]] = true
		s.c.note(line, "%s %s %s is not a PAN-OS path (network ike crypto-profiles %ss); read as meant", f[0], f[1], f[2], strings.TrimSuffix(f[2], "s"))
	}
	m := s.ike
	if strings.HasPrefix(f[2], "ipsec") {
		m = s.ipsec
	}
	p := m[f[3]]
	if p == nil {
		p = &panProfile{line: line}
		m[f[3]] = p
	}
	r := f[4:]
	if d, ok := panLifetime(r); ok {
		p.lifetime = At(d, line)
	} else if l := after(r, "lifetime"); len(l) == 1 {
		s.c.note(line, "lifetime %s has no unit (seconds, minutes, hours or days): PAN-OS rejects it, so the profile keeps its default lifetime", l[0])
	}
	for _, w := range after(r, "dh-group") {
		if w == "no-pfs" {
			p.noPFS = At(true, line)
		} else if n, ok := dhGroup(w); ok && strings.HasPrefix(w, "group") {
			p.groups = append(p.groups, At(n, line))
		} else {
			break
		}
	}
	for _, k := range []string{"encryption", "hash", "authentication"} {
		if v := after(r, k); len(v) > 0 && r[0] != "lifetime" && r[0] != "dh-group" {
			p.props = append(p.props, At(k+" "+strings.Join(v, " "), line))
			break
		}
	}
}

// read reads one setting of an IKE gateway, r from its keyword on.
func (g *panGateway) read(r []string, line int) {
	switch {
	case has(r, "peer-address") && len(r) > 1:
		switch {
		case r[1] == "dynamic":
		case (r[1] == "ip" || r[1] == "fqdn") && len(r) > 2:
			g.peer = append(g.peer, At(r[2], line))
		case r[1] != "ip" && r[1] != "fqdn":
			g.peer = append(g.peer, At(r[1], line))
		}
	case has(r, "local-address", "ip") && len(r) > 2:
		// PAN-OS writes the interface address with its prefix length.
		g.local = At(strings.Split(r[2], "/")[0], line)
	case has(r, "local-address") && len(r) > 1 && strings.Count(r[1], ".") == 3:
		g.local = At(strings.Split(r[1], "/")[0], line)
	case has(r, "authentication", "pre-shared-key"):
		g.psk = At(true, line)
		g.auth = At("psk", line)
	case has(r, "authentication", "certificate"):
		g.auth = At("pubkey", line)
		g.psk = At(false, line)
	case has(r, "protocol", "version") && len(r) > 2, has(r, "version") && len(r) > 1:
		// "version ikev2" without "protocol" is read as meant.
		switch after(r, "version")[0] {
		case "ikev1":
			g.version = At(1, line)
		case "ikev2":
			g.version = At(2, line)
		case "ikev2-preferred":
			g.version = At(0, line)
		}
	case has(r, "protocol-common", "nat-traversal", "enable") && len(r) > 3:
		if r[3] == "yes" {
			g.natt = At("enabled", line)
		} else {
			g.natt = At("disabled", line)
		}
	case has(r, "protocol", "ikev1") || has(r, "protocol", "ikev2"):
		g.readProtocol(r, line)
	case has(r, "local-id"):
		panIdentity(&g.localID, r[1:], line)
	case has(r, "peer-id"):
		panIdentity(&g.peerID, r[1:], line)
	}
}

// panIdentity reads the words after local-id or peer-id ("id 192.0.2.1",
// "type fqdn", or both on one set line) into id: the id as written. The
// type alone sets nothing: the id says which identity is sent.
func panIdentity(id *Value[string], r []string, line int) {
	for i := 0; i+1 < len(r) && !panGatewayKeywords[r[i]]; i += 2 {
		if r[i] == "id" {
			*id = At(r[i+1], line)
		}
	}
}

// readProtocol reads "protocol ikev1|ikev2 …": the IKE crypto profile and
// DPD of that version.
func (g *panGateway) readProtocol(r []string, line int) {
	v2 := r[1] == "ikev2"
	if v2 {
		g.sawV2 = true
	} else {
		g.sawV1 = true
	}
	if p := after(r, "ike-crypto-profile"); len(p) > 0 {
		if v2 {
			g.v2prof = p[0]
		} else {
			g.v1prof = p[0]
		}
	}
	if after(r, "dpd") == nil && after(r, "liveness-check") == nil {
		return
	}
	en := true
	if e := after(r, "enable"); len(e) > 0 {
		en = e[0] == "yes"
	}
	if v2 {
		g.dpd2 = At(en, line)
	} else {
		g.dpd1 = At(en, line)
	}
	if iv := after(r, "interval"); len(iv) > 0 {
		setSeconds(&g.dpdInterval, iv[0], line)
	}
	if rt := after(r, "retry"); len(rt) > 0 {
		if n, ok := atoi(rt[0]); ok {
			g.dpdRetry = At(n, line)
		}
	}
}

// readTunnel reads "tunnel ipsec NAME …"; several keywords may share one
// set line, and "ike-gateway" and "ipsec-crypto-profile" are also
// accepted without "auto-key".
func (s *panState) readTunnel(f []string, line int) {
	t := s.tunBy[f[2]]
	if t == nil {
		t = &panTunnel{name: f[2], line: line, proxy: map[string]*Selector{}}
		s.tunBy[f[2]] = t
		s.tuns = append(s.tuns, t)
	}
	r0 := f[3:]
	for i, w := range r0 {
		if i > 0 && !panTunnelKeywords[w] {
			continue
		}
		r := r0[i:]
		if r[0] == "ike-gateway" || r[0] == "ipsec-crypto-profile" {
			r = append([]string{"auto-key"}, r...)
		}
		switch {
		case has(r, "auto-key", "ike-gateway") && len(r) > 2:
			t.gateway = r[2]
		case has(r, "auto-key", "ipsec-crypto-profile") && len(r) > 2:
			t.profile = r[2]
		case has(r, "auto-key", "proxy-id") && len(r) > 3:
			t.readProxyID(r, line)
		case has(r, "tunnel-interface") && len(r) > 1:
			t.iface = At(r[1], line)
		}
	}
}

// readProxyID reads "auto-key proxy-id NAME local L remote R".
func (t *panTunnel) readProxyID(r []string, line int) {
	p := t.proxy[r[2]]
	if p == nil {
		p = &Selector{Line: line}
		t.proxy[r[2]] = p
		t.order = append(t.order, r[2])
	}
	if v := after(r[3:], "local"); len(v) > 0 {
		p.Local = v[0]
	}
	if v := after(r[3:], "remote"); len(v) > 0 {
		p.Remote = v[0]
	}
}

// noteUnusedIKEProfiles notes the IKE crypto profiles no gateway uses.
func (s *panState) noteUnusedIKEProfiles() {
	used := map[string]bool{}
	for _, g := range s.gws {
		used[g.v1prof], used[g.v2prof] = true, true
	}
	for _, n := range sortedProfiles(s.ike) {
		if !used[n] && len(s.gws) > 0 {
			s.c.note(s.ike[n].line, "IKE crypto profile %s is not used by any IKE gateway (protocol ikev1|ikev2 ike-crypto-profile): the gateways use their own or the default profile", n)
		}
	}
}

// tunnel builds the tunnel from its IKE gateway and crypto profiles.
func (s *panState) tunnel(tu *panTunnel) *Tunnel {
	t := &Tunnel{Name: tu.name, Line: tu.line}
	g := named(s.c, s.gws, tu.gateway, tu.line, "IKE gateway %q of tunnel %q is not in this file", tu.gateway, tu.name)
	t.Peers, t.Local = g.peer, g.local
	t.LocalID, t.RemoteID = g.localID, g.peerID
	t.IKEVersion = orDefault(g.version, 1)
	t.Auth, t.PSK = g.auth, g.psk
	if !t.PSK.Known() {
		t.PSK = At(false, g.line)
	}
	t.NATT = orDefault(g.natt, "disabled")
	s.phase1(t, g)
	s.phase2(t, tu)
	for _, n := range tu.order {
		t.Selectors = append(t.Selectors, *tu.proxy[n])
	}
	t.RouteBased = Default(true)
	if tu.iface.Known() {
		t.RouteBased = At(true, tu.iface.Line)
	}
	if len(t.Selectors) == 0 {
		t.Selectors = []Selector{{Local: "any", Remote: "any", Line: tu.iface.Line}}
	}
	return t
}

// phase1 sets DPD and phase 1 from the gateway's settings for the IKE
// version the tunnel uses and its IKE crypto profile.
func (s *panState) phase1(t *Tunnel, g *panGateway) {
	dpd, pn := g.dpd1, g.v1prof
	if t.IKEVersion.V != 1 {
		dpd, pn = g.dpd2, g.v2prof
	}
	t.DPD.Enabled = Default(true)
	if dpd.Known() {
		t.DPD.Enabled = dpd
	}
	t.DPD.Interval, t.DPD.Retries = g.dpdInterval, g.dpdRetry
	t.Phase1.Lifetime = Default(8 * time.Hour)
	if pn == "" {
		pn = "default"
	}
	if p := s.ike[pn]; p != nil {
		if p.lifetime.Known() {
			t.Phase1.Lifetime = p.lifetime
		}
		t.Phase1.DHGroups, t.Phase1.Proposals = p.groups, p.props
	} else if pn == "default" {
		// PAN-OS's built-in "default" IKE crypto profile.
		t.Phase1.DHGroups = []Value[int]{Default(2)}
		t.Phase1.Proposals = []Value[string]{Default("encryption aes-128-cbc 3des hash sha1")}
	} else {
		s.c.note(g.line, "IKE crypto profile %q is not in this file", pn)
	}
}

// phase2 sets phase 2 and PFS from the tunnel's IPsec crypto profile.
func (s *panState) phase2(t *Tunnel, tu *panTunnel) {
	t.Phase2.Lifetime = Default(time.Hour)
	t.PFS = Default(true)
	t.Phase2.DHGroups = []Value[int]{Default(2)}
	pp := tu.profile
	if pp == "" {
		pp = "default"
	}
	p := s.ipsec[pp]
	switch {
	case p != nil:
		if p.lifetime.Known() {
			t.Phase2.Lifetime = p.lifetime
		}
		t.Phase2.Proposals = p.props
		if len(p.groups) > 0 {
			t.PFS = At(true, p.groups[0].Line)
			t.Phase2.DHGroups = p.groups
		}
		if p.noPFS.Known() {
			t.PFS = At(false, p.noPFS.Line)
			t.Phase2.DHGroups = nil
		}
	case pp != "default":
		// The profile's settings are elsewhere: not PAN-OS's defaults.
		s.c.note(tu.line, "IPsec crypto profile %q is not in this file", pp)
		t.Phase2.Lifetime, t.PFS, t.Phase2.DHGroups = Value[time.Duration]{}, Value[bool]{}, nil
	}
}
