package config

import (
	"sort"
	"strconv"
	"strings"
	"time"
)

// iosProfile is what an IPsec profile or a crypto map entry says of
// phase 2 and which IKE profile it uses.
type iosProfile struct {
	ciscoP2
	ikev2  Value[string]
	isakmp Value[string]
}

// iosISAKMPProfile is a "crypto isakmp profile": it may set DPD
// (keepalive N retry M) for the peers it matches.
type iosISAKMPProfile struct {
	dpd    DPD
	remote []string
}

// iosIKEv2Profile is a "crypto ikev2 profile".
type iosIKEv2Profile struct {
	lifetime Value[time.Duration]
	dpd      DPD
	auth     Value[string]
	remote   []string
	// localID is "identity local"; remoteIDs are the "match identity
	// remote" lines that name one peer.
	localID   Value[string]
	remoteIDs []Value[string]
}

// iosMapEntry is one "crypto map NAME SEQ ipsec-isakmp" entry.
type iosMapEntry struct {
	name  string
	line  int
	peers []Value[string]
	acl   Value[string]
	prof  iosProfile
}

// iosState is what parseCiscoIOS gathers from the commands before it
// builds the tunnels.
type iosState struct {
	c        *Config
	cmds     []*cmd
	acls     map[string][]aclEntry
	psks     map[string]int
	v1       []ciscoPolicy
	v2props  []ciscoPolicy
	globalP2 Value[time.Duration]
	natt     Value[string]
	// dpd is the device-wide "crypto isakmp keepalive" (IKEv1).
	dpd DPD
	// v2dpd is the device-wide "crypto ikev2 dpd", for IKEv2 profiles
	// that set none.
	v2dpd DPD
	// v1id is the device-wide "crypto isakmp identity" (IKEv1).
	v1id           Value[string]
	transforms     map[string]string
	isakmpProfiles map[string]*iosISAKMPProfile
	ipsecProfiles  map[string]*iosProfile
	v2profiles     map[string]*iosIKEv2Profile
	maps           []*iosMapEntry
	tuns           []*ciscoVTI
}

// parseCiscoIOS reads an IOS / IOS-XE configuration.
func parseCiscoIOS(ls []string) *Config {
	cmds := ciscoCommands(ls)
	s := &iosState{
		c:    &Config{Vendor: "cisco-ios", Syntax: "cli", Routing: Default("static")},
		cmds: cmds, acls: ciscoACLs(cmds, true), psks: ciscoPSKs(cmds),
		globalP2: Default(3600 * time.Second), natt: Default("enabled"),
		dpd:            DPD{Enabled: Default(false)},
		transforms:     iosTransformSets(cmds),
		isakmpProfiles: map[string]*iosISAKMPProfile{},
		ipsecProfiles:  map[string]*iosProfile{},
		v2profiles:     map[string]*iosIKEv2Profile{},
		v1id:           ciscoIdentity(cmds),
	}
	for _, c0 := range cmds {
		s.read(c0)
	}
	sort.SliceStable(s.v1, func(i, j int) bool { return s.v1[i].prio < s.v1[j].prio })
	for _, m := range s.maps {
		t := &Tunnel{Name: m.name, Line: m.line, Peers: m.peers, RouteBased: At(false, m.line)}
		s.fill(t, &m.prof)
		cryptoACLSelectors(s.c, t, s.acls, m.acl)
		s.c.Tunnels = append(s.c.Tunnels, t)
	}
	for _, v := range s.tuns {
		s.vtiTunnel(v)
	}
	if len(s.c.Tunnels) == 0 && onlyACLs(cmds) {
		aclFragment(s.c, s.acls)
	}
	return s.c
}

// iosTransformSets reads "crypto ipsec transform-set NAME T..." into
// NAME → its transforms; profiles and maps refer to them by name.
func iosTransformSets(cmds []*cmd) map[string]string {
	out := map[string]string{}
	for _, c0 := range cmds {
		if has(c0.f, "crypto", "ipsec", "transform-set") && len(c0.f) > 4 {
			out[c0.f[3]] = strings.Join(c0.f[4:], " ")
		}
	}
	return out
}

// read takes in one top-level command.
func (s *iosState) read(c0 *cmd) {
	f := c0.f
	switch {
	case has(f, "crypto", "isakmp", "policy") && len(f) > 3:
		n, _ := atoi(f[3])
		s.v1 = append(s.v1, readPolicy(c0, n, 86400*time.Second))
	case has(f, "crypto", "ikev2", "proposal") && len(f) > 3:
		s.v2props = append(s.v2props, readPolicy(c0, 0, 86400*time.Second))
	case has(f, "crypto", "isakmp", "profile") && len(f) > 3:
		s.isakmpProfiles[f[3]] = readISAKMPProfile(c0)
	case has(f, "crypto", "ikev2", "profile") && len(f) > 3:
		s.v2profiles[f[3]] = readIKEv2Profile(c0)
	case has(f, "crypto", "ipsec", "security-association", "lifetime", "seconds") && len(f) > 5:
		setSeconds(&s.globalP2, f[5], c0.line)
	case has(f, "no", "crypto", "ipsec", "nat-transparency"):
		s.natt = At("disabled", c0.line)
	case has(f, "crypto", "isakmp", "keepalive") && len(f) > 3:
		s.dpd.Enabled = At(true, c0.line)
		setSeconds(&s.dpd.Interval, f[3], c0.line)
		if len(f) > 4 {
			if n, ok := atoi(f[4]); ok {
				s.dpd.Retries = At(n, c0.line)
			}
		}
	case has(f, "crypto", "ikev2", "dpd") && len(f) > 3:
		s.v2dpd.Enabled = At(true, c0.line)
		setSeconds(&s.v2dpd.Interval, f[3], c0.line)
	case has(f, "crypto", "ipsec", "profile") && len(f) > 3:
		p := &iosProfile{}
		for _, sc := range c0.sub {
			s.readProfile(p, sc.f, sc.line)
		}
		s.ipsecProfiles[f[3]] = p
	case has(f, "crypto", "map") && len(f) >= 4:
		s.readCryptoMap(c0)
	case (has(f, "interface") || has(f, "int")) && len(f) > 1 && strings.HasPrefix(strings.ToLower(strings.Join(f[1:], "")), "tunnel"):
		if v := readTunnelInterface(c0, "interface "+strings.Join(f[1:], "")); v != nil {
			s.tuns = append(s.tuns, v)
		}
	case has(f, "router", "bgp"):
		s.c.Routing = At("bgp", c0.line)
	}
}

// readISAKMPProfile reads "crypto isakmp profile NAME": keepalive and the
// peer addresses it matches.
func readISAKMPProfile(c0 *cmd) *iosISAKMPProfile {
	p := &iosISAKMPProfile{}
	for _, sc := range c0.sub {
		switch {
		case has(sc.f, "keepalive") && len(sc.f) > 1:
			p.dpd.Enabled = At(true, sc.line)
			setSeconds(&p.dpd.Interval, sc.f[1], sc.line)
			if n, ok := intAfter(sc.f, "retry"); ok {
				p.dpd.Retries = At(n, sc.line)
			}
		case has(sc.f, "match", "identity", "address") && len(sc.f) > 3:
			p.remote = append(p.remote, sc.f[3])
		}
	}
	return p
}

// readIKEv2Profile reads "crypto ikev2 profile NAME": lifetime, DPD,
// remote authentication and the peer addresses it matches.
func readIKEv2Profile(c0 *cmd) *iosIKEv2Profile {
	p := &iosIKEv2Profile{lifetime: Default(86400 * time.Second), dpd: DPD{Enabled: Default(false)}}
	for _, sc := range c0.sub {
		switch {
		case has(sc.f, "lifetime") && len(sc.f) > 1:
			setSeconds(&p.lifetime, sc.f[1], sc.line)
		case has(sc.f, "dpd") && len(sc.f) > 1:
			p.dpd.Enabled = At(true, sc.line)
			setSeconds(&p.dpd.Interval, sc.f[1], sc.line)
		case has(sc.f, "match", "identity", "remote", "address") && len(sc.f) > 4:
			p.remote = append(p.remote, sc.f[4])
		case has(sc.f, "authentication", "remote") && len(sc.f) > 2:
			p.auth = At(ciscoAuth(sc.f[2]), sc.line)
		}
		p.readIdentity(sc)
	}
	return p
}

// readIdentity reads an IKEv2 profile's "identity local address|fqdn|
// email|key-id VALUE" and "match identity remote address|fqdn|email
// VALUE": the value as written. A remote match of a range (a mask other
// than 255.255.255.255, address 0.0.0.0, or "any") names no one peer and
// is left out; "fqdn domain NAME" keeps both words.
func (p *iosIKEv2Profile) readIdentity(sc subcmd) {
	f := sc.f
	switch {
	case has(f, "identity", "local") && len(f) > 3:
		p.localID = At(f[3], sc.line)
	case has(f, "match", "identity", "remote", "any"):
	case has(f, "match", "identity", "remote", "address") && len(f) > 4:
		if f[4] != "0.0.0.0" && (len(f) == 5 || f[5] == "255.255.255.255") {
			p.remoteIDs = append(p.remoteIDs, At(f[4], sc.line))
		}
	case has(f, "match", "identity", "remote") && len(f) > 4:
		p.remoteIDs = append(p.remoteIDs, At(strings.Join(f[4:], " "), sc.line))
	}
}

// readProfile reads one "set ..." line of an IPsec profile or crypto map
// entry.
func (s *iosState) readProfile(p *iosProfile, f []string, line int) {
	switch {
	case has(f, "set", "transform-set"):
		p.transform = append(p.transform, namedTransforms(f[2:], line, s.transforms)...)
	case has(f, "set", "ikev2-profile") && len(f) > 2:
		p.ikev2 = At(f[2], line)
	case has(f, "set", "isakmp-profile") && len(f) > 2:
		p.isakmp = At(f[2], line)
	default:
		p.readSet(f, line)
	}
}

// readCryptoMap reads "crypto map NAME SEQ ipsec-isakmp" and its lines.
func (s *iosState) readCryptoMap(c0 *cmd) {
	f := c0.f
	if _, err := strconv.Atoi(f[3]); err != nil {
		return
	}
	if len(f) > 4 && !strings.HasPrefix(f[4], "ipsec-isakmp") {
		return
	}
	m := &iosMapEntry{name: "crypto map " + f[2] + " " + f[3], line: c0.line}
	for _, sc := range c0.sub {
		switch {
		case has(sc.f, "set", "peer"):
			for _, p := range sc.f[2:] {
				if p != "default" {
					m.peers = append(m.peers, At(p, sc.line))
				}
			}
		case has(sc.f, "match", "address") && len(sc.f) > 2:
			m.acl = At(sc.f[2], sc.line)
		default:
			s.readProfile(&m.prof, sc.f, sc.line)
		}
	}
	s.maps = append(s.maps, m)
}

// vtiTunnel builds the route-based tunnel of a tunnel interface.
func (s *iosState) vtiTunnel(v *ciscoVTI) {
	t := v.tunnel(s.natt)
	p := s.ipsecProfiles[v.prof.V]
	missing := p == nil
	if missing {
		p = &iosProfile{}
		s.c.note(v.prof.Line, "ipsec profile %s is not in this file: its PFS and lifetime are not known", v.prof.V)
	}
	s.fill(t, p)
	if missing {
		t.PFS = Value[bool]{}
	}
	s.c.Tunnels = append(s.c.Tunnels, t)
}

// fill sets a tunnel's IKE version, phase 1, phase 2, DPD and PSK from
// the profile p its crypto map entry or tunnel interface uses.
func (s *iosState) fill(t *Tunnel, p *iosProfile) {
	t.NATT = s.natt
	t.IKEVersion = At(1, t.Line)
	if p.ikev2.Known() {
		t.IKEVersion = At(2, p.ikev2.Line)
	} else if len(s.v1) == 0 && len(s.v2profiles) > 0 {
		t.IKEVersion = Default(2)
	}
	if t.IKEVersion.V == 2 {
		s.phase1IKEv2(t, p)
	} else {
		s.phase1IKEv1(t, p)
	}
	p.ciscoP2.apply(t, s.globalP2)
	t.PSK = At(false, t.Line)
	if l, ok := pskFor(s.psks, t.Peers); ok {
		t.PSK = At(true, l)
	}
	if !t.Auth.Known() && t.PSK.V {
		t.Auth = At("psk", t.PSK.Line)
	}
}

// phase1IKEv2 sets phase 1, DPD and authentication from the IKEv2 profile
// p names (else the one that matches a peer, else the first by name) and
// the first IKEv2 proposal; DPD from the profile, else from the global
// "crypto ikev2 dpd".
func (s *iosState) phase1IKEv2(t *Tunnel, p *iosProfile) {
	vp := s.v2profiles[p.ikev2.V]
	if vp == nil {
		vp = s.ikev2ProfileFor(t.Peers)
	}
	t.DPD.Enabled = Default(false)
	if s.v2dpd.Enabled.Known() {
		t.DPD = s.v2dpd
	}
	if vp != nil {
		t.Phase1.Lifetime = vp.lifetime
		if vp.dpd.Enabled.From == FromFile {
			t.DPD = vp.dpd
		}
		t.Auth = vp.auth
		s.ikev2Identities(t, vp)
	} else {
		t.Phase1.Lifetime = Default(86400 * time.Second)
	}
	if len(s.v2props) > 0 {
		t.Phase1.Proposals = s.v2props[0].props
		t.Phase1.DHGroups = s.v2props[0].groups
	}
}

// ikev2Identities sets the identities from the IKEv2 profile vp: its
// local identity, and its remote identity when it matches one; a profile
// that matches several peers' identities leaves the remote one unchecked.
func (s *iosState) ikev2Identities(t *Tunnel, vp *iosIKEv2Profile) {
	t.LocalID = vp.localID
	switch len(vp.remoteIDs) {
	case 0:
	case 1:
		t.RemoteID = vp.remoteIDs[0]
	default:
		s.c.note(vp.remoteIDs[1].Line, "the IKEv2 profile of %s matches %d remote identities; the remote identity is not checked", t.Name, len(vp.remoteIDs))
	}
}

// phase1IKEv1 sets phase 1 from the ISAKMP policy with the lowest priority
// number, and DPD from the device's keepalive or the ISAKMP profile p
// names or that matches a peer.
func (s *iosState) phase1IKEv1(t *Tunnel, p *iosProfile) {
	if len(s.v1) > 0 {
		s.v1[0].phase1(t)
		if len(s.v1) > 1 {
			s.c.note(s.v1[1].line, "%d ISAKMP policies; phase 1 values are read from the one with the lowest priority number (%d)", len(s.v1), s.v1[0].prio)
		}
	} else {
		t.Phase1.Lifetime = Default(86400 * time.Second)
	}
	t.DPD = s.dpd
	t.LocalID = s.v1id
	ip := s.isakmpProfiles[p.isakmp.V]
	if ip == nil {
		ip = s.isakmpProfileFor(t.Peers)
	}
	if ip != nil && ip.dpd.Enabled.Known() {
		t.DPD = ip.dpd
	}
}

// isakmpProfileFor returns the ISAKMP profile that matches the first of
// peers any profile matches; nil if none.
func (s *iosState) isakmpProfileFor(peers []Value[string]) *iosISAKMPProfile {
	p, _ := profileForPeer(s.isakmpProfiles, peers, func(p *iosISAKMPProfile) []string { return p.remote })
	return p
}

// ikev2ProfileFor returns the IKEv2 profile whose "match identity remote
// address" is one of peers, else the first profile by name; nil if there
// is none.
func (s *iosState) ikev2ProfileFor(peers []Value[string]) *iosIKEv2Profile {
	if p, ok := profileForPeer(s.v2profiles, peers, func(p *iosIKEv2Profile) []string { return p.remote }); ok {
		return p
	}
	if names := sortedProfiles(s.v2profiles); len(names) > 0 {
		return s.v2profiles[names[0]]
	}
	return nil
}

// profileForPeer returns the profile of m that matches the first of peers
// any profile matches (remote gives a profile's matched addresses),
// profiles taken in name order.
func profileForPeer[P any](m map[string]P, peers []Value[string], remote func(P) []string) (P, bool) {
	names := sortedProfiles(m)
	for _, peer := range peers {
		for _, x := range names {
			for _, r := range remote(m[x]) {
				if r == peer.V {
					return m[x], true
				}
			}
		}
	}
	var zero P
	return zero, false
}
