package config

import (
	"sort"
	"strconv"
	"strings"
	"time"
)

// asaTunnelGroup is what a "tunnel-group PEER ipsec-attributes" says.
type asaTunnelGroup struct {
	psk Value[bool]
	// dpd is the ISAKMP keepalive; dpd.Enabled is unknown when the group
	// does not set it.
	dpd DPD
}

// apply sets t's PSK and DPD from the group, where it sets them.
func (g *asaTunnelGroup) apply(t *Tunnel) {
	if g.psk.Known() {
		t.PSK = g.psk
	}
	if g.dpd.Enabled.Known() {
		t.DPD = g.dpd
	}
}

// asaMapEntry is one crypto map entry (NAME SEQ) gathered from its lines.
type asaMapEntry struct {
	name, seq string
	line      int
	acl       Value[string]
	peers     []Value[string]
	ciscoP2
	v1, v2  bool
	verLine int
	// nattOff is "set nat-t-disable" on this entry.
	nattOff Value[bool]
}

// ikeVersion is the IKE version the entry's "set ikev1/ikev2" lines allow.
func (e *asaMapEntry) ikeVersion() Value[int] {
	switch {
	case e.v1 && e.v2:
		return At(0, e.verLine)
	case e.v2:
		return At(2, e.verLine)
	case e.v1:
		return At(1, e.verLine)
	}
	return Value[int]{}
}

// asaProfile is an IPsec profile of a route-based (VTI) set-up.
type asaProfile struct {
	ciscoP2
	v2 Value[bool]
}

// asaState is what parseCiscoASA gathers from the commands before it
// builds the tunnels.
type asaState struct {
	c        *Config
	cmds     []*cmd
	acls     map[string][]aclEntry
	v1, v2   []ciscoPolicy
	globalP2 Value[time.Duration]
	natt     Value[string]
	groups   map[string]*asaTunnelGroup
	entries  map[string]*asaMapEntry
	order    []string
	// Route-based (VTI) set-ups: IPsec profiles, IKEv2 IPsec proposals and
	// tunnel interfaces.
	profiles  map[string]*asaProfile
	proposals map[string]string
	vtis      []*ciscoVTI
	// Group policies' idle timeouts and which tunnel group uses which.
	idle         map[string]Value[time.Duration]
	groupPolicy  map[string]Value[string]
	remoteAccess bool
	// id is the device-wide "crypto isakmp identity", when it names one.
	id Value[string]
}

// parseCiscoASA reads an ASA running configuration (or a part of it).
func parseCiscoASA(ls []string) *Config {
	cmds := ciscoCommands(ls)
	s := &asaState{
		c:    &Config{Vendor: "cisco-asa", Syntax: "cli", Routing: Default("static")},
		cmds: cmds, acls: ciscoACLs(cmds, false),
		globalP2: Default(28800 * time.Second), natt: Default("enabled"),
		groups: map[string]*asaTunnelGroup{}, entries: map[string]*asaMapEntry{},
		profiles: map[string]*asaProfile{}, proposals: asaIPsecProposals(cmds),
		idle: map[string]Value[time.Duration]{}, groupPolicy: map[string]Value[string]{},
		id: ciscoIdentity(cmds),
	}
	for _, c0 := range cmds {
		s.read(c0)
	}
	sort.SliceStable(s.v1, func(i, j int) bool { return s.v1[i].prio < s.v1[j].prio })
	sort.SliceStable(s.v2, func(i, j int) bool { return s.v2[i].prio < s.v2[j].prio })
	for _, key := range s.order {
		s.mapTunnel(s.entries[key])
	}
	for _, v := range s.vtis {
		s.vtiTunnel(v)
	}
	s.idleTimeouts()
	if len(s.c.Tunnels) == 0 {
		if s.remoteAccess {
			s.c.NoTunnelReason = "only remote-access VPN (AnyConnect / SSL VPN) is configured, no site-to-site (LAN-to-LAN) IPsec tunnel"
		} else if onlyACLs(cmds) {
			aclFragment(s.c, s.acls)
		}
	}
	return s.c
}

// asaIPsecProposals reads "crypto ipsec ikev2 ipsec-proposal NAME" blocks
// into NAME → their "protocol esp" lines; profiles refer to them by name.
func asaIPsecProposals(cmds []*cmd) map[string]string {
	out := map[string]string{}
	for _, c0 := range cmds {
		if has(c0.f, "crypto", "ipsec", "ikev2", "ipsec-proposal") && len(c0.f) > 4 {
			var parts []string
			for _, s := range c0.sub {
				if has(s.f, "protocol", "esp") && len(s.f) > 3 {
					parts = append(parts, strings.Join(s.f[2:], " "))
				}
			}
			out[c0.f[4]] = strings.Join(parts, " ")
		}
	}
	return out
}

// read takes in one top-level command.
func (s *asaState) read(c0 *cmd) {
	f := c0.f
	switch {
	case has(f, "crypto", "ipsec", "profile") && len(f) > 3:
		s.profiles[f[3]] = s.readIPsecProfile(c0)
	case has(f, "interface") && len(f) > 1 && strings.HasPrefix(strings.ToLower(f[1]), "tunnel"):
		if v := readTunnelInterface(c0, "interface "+f[1]); v != nil {
			s.vtis = append(s.vtis, v)
		}
	case has(f, "group-policy") && len(f) > 2 && strings.EqualFold(f[2], "attributes"):
		s.readGroupPolicy(c0)
	case has(f, "tunnel-group") && len(f) > 2 && strings.EqualFold(f[2], "general-attributes"):
		for _, sc := range c0.sub {
			if has(sc.f, "default-group-policy") && len(sc.f) > 1 {
				s.groupPolicy[f[1]] = At(sc.f[1], sc.line)
			}
		}
	case has(f, "webvpn") || has(f, "anyconnect"):
		s.remoteAccess = true
	case (has(f, "crypto", "isakmp", "policy") || has(f, "crypto", "ikev1", "policy")) && len(f) > 3:
		n, _ := atoi(f[3])
		s.v1 = append(s.v1, readPolicy(c0, n, 86400*time.Second))
	case has(f, "crypto", "ikev2", "policy") && len(f) > 3:
		n, _ := atoi(f[3])
		s.v2 = append(s.v2, readPolicy(c0, n, 86400*time.Second))
	case has(f, "crypto", "ipsec", "security-association", "lifetime", "seconds") && len(f) > 5:
		setSeconds(&s.globalP2, f[5], c0.line)
	case has(f, "crypto", "isakmp", "nat-traversal"):
		s.natt = At("enabled", c0.line)
	case has(f, "no", "crypto", "isakmp", "nat-traversal"):
		s.natt = At("disabled", c0.line)
	case has(f, "tunnel-group") && len(f) >= 3 && strings.EqualFold(f[2], "ipsec-attributes"):
		s.readTunnelGroupIPsec(c0)
	case has(f, "crypto", "map") && len(f) >= 5:
		s.readCryptoMap(c0)
	case has(f, "router", "bgp"):
		s.c.Routing = At("bgp", c0.line)
	}
}

// readIPsecProfile reads "crypto ipsec profile NAME": its IKEv2 IPsec
// proposals or IKEv1 transform sets, PFS and lifetimes.
func (s *asaState) readIPsecProfile(c0 *cmd) *asaProfile {
	p := &asaProfile{}
	for _, sc := range c0.sub {
		switch {
		case has(sc.f, "set", "ikev2", "ipsec-proposal"):
			p.v2 = At(true, sc.line)
			p.transform = append(p.transform, namedTransforms(sc.f[3:], sc.line, s.proposals)...)
		case has(sc.f, "set", "ikev1", "transform-set"):
			p.v2 = At(false, sc.line)
			p.transform = append(p.transform, namedTransforms(sc.f[3:], sc.line, nil)...)
		default:
			p.readSet(sc.f, sc.line)
		}
	}
	return p
}

// readGroupPolicy reads "group-policy NAME attributes": its idle timeout,
// and whether it serves remote access.
func (s *asaState) readGroupPolicy(c0 *cmd) {
	name := c0.f[1]
	for _, sc := range c0.sub {
		switch {
		case has(sc.f, "vpn-idle-timeout", "none"):
			s.idle[name] = At(time.Duration(0), sc.line)
		case has(sc.f, "vpn-idle-timeout") && len(sc.f) > 1:
			if n, ok := atoi(sc.f[1]); ok {
				s.idle[name] = At(time.Duration(n)*time.Minute, sc.line)
			}
		case has(sc.f, "vpn-tunnel-protocol"):
			for _, p := range sc.f[1:] {
				if strings.HasPrefix(p, "ssl") || p == "l2tp-ipsec" || p == "webvpn" {
					s.remoteAccess = true
				}
			}
		}
	}
}

// readTunnelGroupIPsec reads "tunnel-group PEER ipsec-attributes": the
// pre-shared key and ISAKMP keepalive (DPD).
func (s *asaState) readTunnelGroupIPsec(c0 *cmd) {
	g := s.groups[c0.f[1]]
	if g == nil {
		g = &asaTunnelGroup{}
		s.groups[c0.f[1]] = g
	}
	for _, sc := range c0.sub {
		f := sc.f
		switch {
		case has(f, "pre-shared-key") || has(f, "ikev1", "pre-shared-key") || has(f, "ikev2", "remote-authentication", "pre-shared-key") || has(f, "ikev2", "local-authentication", "pre-shared-key"):
			g.psk = At(true, sc.line)
		case has(f, "isakmp", "keepalive", "disable"):
			g.dpd.Enabled = At(false, sc.line)
		case has(f, "isakmp", "keepalive"):
			g.dpd.Enabled = At(true, sc.line)
			if n, ok := intAfter(f, "threshold"); ok {
				g.dpd.Interval = At(time.Duration(n)*time.Second, sc.line)
			}
			if n, ok := intAfter(f, "retry"); ok {
				g.dpd.Retries = At(n, sc.line)
			}
		}
	}
}

// readCryptoMap reads one "crypto map NAME SEQ ..." line into its entry.
func (s *asaState) readCryptoMap(c0 *cmd) {
	f := c0.f
	if _, err := strconv.Atoi(f[3]); err != nil {
		return
	}
	key := f[2] + " " + f[3]
	e := s.entries[key]
	if e == nil {
		e = &asaMapEntry{name: f[2], seq: f[3], line: c0.line}
		s.entries[key] = e
		s.order = append(s.order, key)
	}
	rest := f[4:]
	switch {
	case has(rest, "match", "address") && len(rest) > 2:
		e.acl = At(rest[2], c0.line)
	case has(rest, "set", "peer"):
		for _, p := range rest[2:] {
			e.peers = append(e.peers, At(p, c0.line))
		}
	case has(rest, "set", "ikev2"):
		e.v2, e.verLine = true, c0.line
		if has(rest, "set", "ikev2", "ipsec-proposal") {
			e.transform = append(e.transform, namedTransforms(rest[3:], c0.line, s.proposals)...)
		}
	case has(rest, "set", "nat-t-disable"):
		e.nattOff = At(true, c0.line)
	case has(rest, "set", "ikev1", "transform-set") || has(rest, "set", "transform-set"):
		e.v1, e.verLine = true, c0.line
		start := 2
		if strings.EqualFold(rest[1], "ikev1") {
			start = 3
		}
		e.transform = append(e.transform, namedTransforms(rest[start:], c0.line, nil)...)
	default:
		e.readSet(rest, c0.line)
	}
}

// mapTunnel builds the policy-based tunnel of a crypto map entry that has
// an ACL or a peer.
func (s *asaState) mapTunnel(e *asaMapEntry) {
	if !e.acl.Known() && len(e.peers) == 0 {
		return
	}
	t := &Tunnel{Name: "crypto map " + e.name + " " + e.seq, Line: e.line, Peers: e.peers, NATT: s.natt, LocalID: s.id}
	if e.nattOff.Known() {
		t.NATT = At("disabled", e.nattOff.Line)
	}
	t.IKEVersion = e.ikeVersion()
	pols := s.v1
	if t.IKEVersion.V == 2 {
		pols = s.v2
	}
	if len(pols) > 0 {
		pols[0].phase1(t)
		if len(pols) > 1 {
			s.c.note(pols[1].line, "%d IKE policies; phase 1 values are read from the one with the lowest priority number (%d)", len(pols), pols[0].prio)
		}
	}
	e.ciscoP2.apply(t, s.globalP2)
	t.RouteBased = At(false, e.line)
	t.DPD.Enabled = Default(true)
	found := false
	for _, p := range e.peers {
		if g := s.groups[p.V]; g != nil {
			found = true
			g.apply(t)
		}
	}
	if !found {
		s.c.note(e.line, "no tunnel-group ipsec-attributes for the peer(s) of %s", t.Name)
	}
	if !t.PSK.Known() {
		t.PSK = At(false, e.line)
	}
	if !t.Auth.Known() && t.PSK.V {
		t.Auth = At("psk", t.PSK.Line)
	}
	cryptoACLSelectors(s.c, t, s.acls, e.acl)
	s.c.Tunnels = append(s.c.Tunnels, t)
}

// vtiTunnel builds the route-based tunnel of a tunnel interface.
func (s *asaState) vtiTunnel(v *ciscoVTI) {
	t := v.tunnel(s.natt)
	t.LocalID = s.id
	p := named(s.c, s.profiles, v.prof.V, v.prof.Line, "ipsec profile %s is not in this file", v.prof.V)
	pols := s.v1
	t.IKEVersion = At(1, v.prof.Line)
	if p.v2.Known() && p.v2.V || !p.v2.Known() && len(s.v1) == 0 && len(s.v2) > 0 {
		t.IKEVersion = At(2, p.v2.Line)
		if !p.v2.Known() {
			t.IKEVersion = Default(2)
		}
		pols = s.v2
	}
	if len(pols) > 0 {
		pols[0].phase1(t)
	} else {
		t.Phase1.Lifetime = Default(86400 * time.Second)
	}
	p.ciscoP2.apply(t, s.globalP2)
	t.DPD.Enabled = Default(true)
	t.PSK = At(false, v.line)
	if g := s.groups[v.dest]; g != nil {
		g.apply(t)
	} else {
		s.c.note(v.line, "no tunnel-group ipsec-attributes for the tunnel destination %s", v.dest)
	}
	if !t.Auth.Known() && t.PSK.V {
		t.Auth = At("psk", t.PSK.Line)
	}
	s.c.Tunnels = append(s.c.Tunnels, t)
}

// idleTimeouts sets each tunnel's idle timeout from the group policy of
// the peer's tunnel group, else DfltGrpPolicy when the file changes it.
func (s *asaState) idleTimeouts() {
	for _, t := range s.c.Tunnels {
		for _, p := range t.Peers {
			name := "DfltGrpPolicy"
			if gp, ok := s.groupPolicy[p.V]; ok {
				name = gp.V
			}
			if v, ok := s.idle[name]; ok {
				t.IdleTimeout = v
			}
		}
	}
}
