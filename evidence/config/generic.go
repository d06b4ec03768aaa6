package config

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

var (
	genTunnelRe = regexp.MustCompile(`(?i)^\s*(?:IPSec Tunnel #\s*\d+|.*Add a new Phase ?1 entry)`)
	genP1Re     = regexp.MustCompile(`(?i)(#1: Internet Key Exchange|Phase ?1 proposal|Phase ?1 entry)`)
	genP2Re     = regexp.MustCompile(`(?i)(#2: IPSec Configuration|Phase ?2 entry|Phase ?2 proposal)`)
	genOtherRe  = regexp.MustCompile(`(?i)^\s*!?\s*#[3-9]:`)
	genLabelRe  = regexp.MustCompile(`^\s*(?:-\s*|[a-z]\.\s*)?([A-Za-z][A-Za-z0-9 /'().-]*?)\s*:\s*(.*?)\s*$`)
	genBGPRe    = regexp.MustCompile(`(?i)Border Gateway Protocol|BGP Configuration`)
	genStaticRe = regexp.MustCompile(`(?i)Static Routing Configuration`)
)

// genState is where parseGeneric is in the sheet.
type genState struct {
	c *Config
	t *Tunnel
	// section is 1 or 2 inside a phase 1 or phase 2 block, 3 in another
	// numbered block, 0 before any.
	section int
	// outside is true in an "Outside IP Addresses" block.
	outside bool
}

// parseGeneric reads vendor-neutral "Label : value" parameter sheets, as
// cloud VPN services publish them, and pfSense GUI step lists.
func parseGeneric(ls []string, vendor, syntax string) *Config {
	s := &genState{c: &Config{Vendor: vendor, Syntax: syntax}}
	for i, l := range ls {
		s.line(i+1, l)
	}
	for _, t := range s.c.Tunnels {
		if !t.PFS.Known() && len(t.Phase2.DHGroups) == 0 && t.Phase2.Lifetime.Known() {
			s.c.note(t.Line, "%s: no PFS setting found", t.Name)
		}
	}
	if !s.c.Routing.Known() {
		s.c.Routing = Value[string]{}
	}
	return s.c
}

// newTunnel starts a tunnel at line n.
func (s *genState) newTunnel(n int, name string) {
	s.t = &Tunnel{Name: name, Line: n}
	s.c.Tunnels = append(s.c.Tunnels, s.t)
	s.section = 0
	s.outside = false
}

// line reads line n: a tunnel heading, a block heading or a labelled value.
func (s *genState) line(n int, l string) {
	if genTunnelRe.MatchString(l) {
		name := strings.Trim(strings.TrimSpace(l), "!# ")
		if strings.Contains(strings.ToLower(name), "phase1 entry") || strings.Contains(strings.ToLower(name), "phase 1 entry") {
			name = fmt.Sprintf("phase 1 entry #%d", len(s.c.Tunnels)+1)
		}
		s.newTunnel(n, name)
		return
	}
	switch {
	case genP1Re.MatchString(l):
		s.section = 1
	case genP2Re.MatchString(l):
		s.section = 2
	case genOtherRe.MatchString(l):
		s.section = 3
	}
	if genBGPRe.MatchString(l) {
		s.c.Routing = At("bgp", n)
	} else if genStaticRe.MatchString(l) && !s.c.Routing.Known() {
		s.c.Routing = At("static", n)
	}
	if strings.Contains(l, "Outside IP Addresses") {
		s.outside = true
	} else if strings.Contains(l, "Inside IP Addresses") {
		s.outside = false
	}
	m := genLabelRe.FindStringSubmatch(l)
	if m == nil || strings.HasPrefix(strings.TrimSpace(l), "!") {
		return
	}
	label, val := strings.ToLower(m[1]), m[2]
	if s.t == nil {
		switch label {
		case "ike version", "key exchange version", "lifetime", "pre-shared key", "perfect forward secrecy", "pfs key group":
			s.newTunnel(n, "tunnel")
		default:
			return
		}
	}
	if !s.cryptoSetting(label, val, n) {
		s.peerSetting(label, val, n)
	}
}

// cryptoSetting reads the IKE version, lifetimes, DH and PFS groups and
// algorithms; false for any other label.
func (s *genState) cryptoSetting(label, val string, n int) bool {
	t := s.t
	switch label {
	case "ike version", "key exchange version":
		lv := strings.ToLower(val)
		switch {
		case strings.Contains(lv, "2"):
			t.IKEVersion = At(2, n)
		case strings.Contains(lv, "1"):
			t.IKEVersion = At(1, n)
		}
	case "lifetime":
		if d, ok := parseDuration(val, time.Second); ok {
			if s.section == 2 {
				t.Phase2.Lifetime = At(d, n)
			} else {
				t.Phase1.Lifetime = At(d, n)
			}
		}
	case "diffie-hellman", "dh key group", "dh group":
		if g, ok := dhGroup(strings.TrimPrefix(strings.ToLower(val), "diffie-hellman ")); ok {
			t.Phase1.DHGroups = append(t.Phase1.DHGroups, At(g, n))
		}
	case "perfect forward secrecy", "pfs key group", "pfs group", "pfs":
		lv := strings.ToLower(val)
		if g, ok := dhGroup(strings.TrimPrefix(lv, "diffie-hellman ")); ok {
			t.PFS = At(true, n)
			t.Phase2.DHGroups = append(t.Phase2.DHGroups, At(g, n))
		} else if lv == "off" || lv == "disabled" || lv == "none" || lv == "no" {
			t.PFS = At(false, n)
		}
	case "encryption algorithm", "authentication algorithm", "hash algorithm", "encryption algorithms", "encryption algorigthms", "hash algorithms":
		if s.section == 2 {
			t.Phase2.Proposals = append(t.Phase2.Proposals, At(label+" "+val, n))
		} else {
			t.Phase1.Proposals = append(t.Phase1.Proposals, At(label+" "+val, n))
		}
	default:
		return false
	}
	return true
}

// peerSetting reads DPD, authentication, gateways and NAT-T.
func (s *genState) peerSetting(label, val string, n int) {
	t := s.t
	switch label {
	case "dpd interval", "delay between requesting peer acknowledgement":
		if d, ok := parseDuration(val, time.Second); ok {
			t.DPD.Interval = At(d, n)
			t.DPD.Enabled = At(d > 0, n)
		}
	case "dpd retries", "number of consecutive failures allowed before disconnect":
		if r, ok := atoi(strings.Fields(val + " x")[0]); ok {
			t.DPD.Retries = At(r, n)
		}
	case "deed peer detection", "dead peer detection":
		t.DPD.Enabled = At(strings.Contains(strings.ToLower(val), "enable"), n)
	case "pre-shared key":
		v := strings.ToLower(strings.TrimSpace(val))
		t.PSK = At(v != "" && v != "none", n)
	case "authentication method":
		if strings.Contains(strings.ToLower(val), "psk") || strings.Contains(strings.ToLower(val), "pre-shared") {
			t.Auth = At("psk", n)
		} else if val != "" {
			t.Auth = At(val, n)
		}
	case "virtual private gateway", "remote gateway":
		if (s.outside || label == "remote gateway") && val != "" {
			t.Peers = append(t.Peers, At(val, n))
		}
	case "customer gateway":
		if s.outside && val != "" {
			t.Local = At(val, n)
		}
	case "nat traversal":
		lv := strings.ToLower(val)
		switch {
		case strings.Contains(lv, "disable") || lv == "off":
			t.NATT = At("disabled", n)
		case strings.Contains(lv, "force"):
			t.NATT = At("forced", n)
		default:
			t.NATT = At("enabled", n)
		}
	}
}
