package status

import (
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

var (
	swIKE      = regexp.MustCompile(`^(\S+): #(\d+), ([A-Z_]+), IKEv([12])`)
	swEndpoint = regexp.MustCompile(`^\s+(local|remote)\s+'[^']*' @ (\S+?)\[\d+\]`)
	swChild    = regexp.MustCompile(`^\s+(\S+): #(\d+), reqid \d+, ([A-Z_]+), ([\w-]+)`)
	swCount    = regexp.MustCompile(`^\s+(in|out)\s+([0-9a-f]{8})(?:\s*\([^)]*\))?,\s+(\d+) bytes,\s+(\d+) packets(?:,\s+(\d+)s ago)?`)
	swTS       = regexp.MustCompile(`^\s+(local|remote)\s+([^'@]+)$`)
)

// ikeUp and ikeNegotiating classify strongSwan IKE_SA states.
func swIKEState(s string) (up, negotiating bool) {
	switch s {
	case "ESTABLISHED", "REKEYING", "REKEYED":
		return true, false
	case "CONNECTING", "CREATED", "PASSIVE":
		return false, true
	}
	return false, false
}

func swChildUp(s string) bool {
	switch s {
	case "INSTALLED", "REKEYING", "REKEYED", "UPDATING":
		return true
	}
	return false
}

// parseSwanctl reads swanctl --list-sas.
func parseSwanctl(st *Status, lines []string) {
	st.ChildListed = true
	if len(lines) > 0 {
		st.listedIKE(0, lines[0])
	}
	var ike *IKESA
	var child *ChildSA
	for i, l := range lines {
		if m := swIKE.FindStringSubmatch(l); m != nil {
			up, neg := swIKEState(m[3])
			v, _ := strconv.Atoi(m[4])
			ike = &IKESA{Name: m[1], Version: v, State: m[3], Up: up, Negotiating: neg, Line: i + 1, Text: strings.TrimSpace(l)}
			st.IKE = append(st.IKE, ike)
			child = nil
			continue
		}
		if ike == nil {
			continue
		}
		if m := swChild.FindStringSubmatch(l); m != nil {
			child = &ChildSA{Name: m[1], IKE: ike.Name, Peer: ike.Remote, State: m[3], Up: swChildUp(m[3]), Mode: m[4], Line: i + 1, Text: strings.TrimSpace(l)}
			st.Child = append(st.Child, child)
			continue
		}
		if child == nil {
			if m := swEndpoint.FindStringSubmatch(l); m != nil {
				if m[1] == "local" {
					ike.Local = m[2]
				} else {
					ike.Remote = m[2]
				}
			}
			continue
		}
		if m := swCount.FindStringSubmatch(l); m != nil {
			by, _ := strconv.ParseInt(m[3], 10, 64)
			pk, _ := strconv.ParseInt(m[4], 10, 64)
			child.counted(i, l)
			var idle *int64
			if m[5] != "" {
				s, _ := strconv.ParseInt(m[5], 10, 64)
				idle = n64(s)
			}
			if m[1] == "in" {
				child.SPIIn, child.BytesIn, child.PacketsIn, child.InIdle = m[2], n64(by), n64(pk), idle
			} else {
				child.SPIOut, child.BytesOut, child.PacketsOut, child.OutIdle = m[2], n64(by), n64(pk), idle
			}
			continue
		}
		if m := swTS.FindStringSubmatch(l); m != nil {
			ps := selectors(strings.Fields(m[2]))
			if m[1] == "local" {
				child.Local = append(child.Local, ps...)
			} else {
				child.Remote = append(child.Remote, ps...)
			}
		}
	}
}

var (
	stIKE      = regexp.MustCompile(`^\s*(\S+)\[(\d+)\]: (ESTABLISHED|CONNECTING|REKEYING|REKEYED|DELETING|DESTROYING|PASSIVE|CREATED)\b.*?, ([^\s\[]+)\[[^\]]*\]\.\.\.([^\s\[]+)\[`)
	stIKEVer   = regexp.MustCompile(`^\s*(\S+)\[(\d+)\]: IKEv([12]) SPIs`)
	stChild    = regexp.MustCompile(`^\s*(\S+)\{(\d+)\}:\s+([A-Z_]+), (?:TUNNEL|TRANSPORT|BEET)`)
	stSPIs     = regexp.MustCompile(`SPIs: ([0-9a-f]{8})_i\*? ([0-9a-f]{8})_o`)
	stBytes    = regexp.MustCompile(`(\d+) bytes_i(?: \((?:(\d+) pkts?(?:, )?)?(?:(\d+)s ago)?[^)]*\))?, (\d+) bytes_o(?: \((?:(\d+) pkts?(?:, )?)?(?:(\d+)s ago)?[^)]*\))?`)
	stTS       = regexp.MustCompile(`^\s*(\S+)\{(\d+)\}:\s+(.+?) === (.+)$`)
	stSAHeader = regexp.MustCompile(`^Security Associations \(`)
)

// parseStroke reads ipsec statusall / ipsec status.
func parseStroke(st *Status, lines []string) {
	children := map[string]*ChildSA{}
	ikes := map[string]*IKESA{}
	for i, l := range lines {
		if stSAHeader.MatchString(l) {
			st.listedIKE(i, l)
			st.ChildListed = true
			continue
		}
		if m := stIKE.FindStringSubmatch(l); m != nil {
			up, neg := swIKEState(m[3])
			ike := &IKESA{Name: m[1], State: m[3], Up: up, Negotiating: neg, Local: m[4], Remote: m[5], Line: i + 1, Text: strings.TrimSpace(l)}
			st.IKE = append(st.IKE, ike)
			ikes[m[1]+"["+m[2]+"]"] = ike
			st.listedIKE(i, l)
			continue
		}
		if m := stIKEVer.FindStringSubmatch(l); m != nil {
			if ike := ikes[m[1]+"["+m[2]+"]"]; ike != nil {
				ike.Version, _ = strconv.Atoi(m[3])
			}
			continue
		}
		if m := stChild.FindStringSubmatch(l); m != nil {
			c := &ChildSA{Name: m[1], IKE: m[1], State: m[3], Up: swChildUp(m[3]), Line: i + 1, Text: strings.TrimSpace(l)}
			if s := stSPIs.FindStringSubmatch(l); s != nil {
				c.SPIIn, c.SPIOut = s[1], s[2]
			}
			named := false
			for _, ike := range st.IKE {
				if ike.Name == c.IKE {
					c.Peer, named = ike.Remote, true
				}
			}
			// A child named apart from its connection (swanctl.conf's
			// children, shown through stroke) belongs to the IKE SA
			// listed just before it.
			if last := len(st.IKE) - 1; !named && last >= 0 {
				c.IKE, c.Peer = st.IKE[last].Name, st.IKE[last].Remote
			}
			children[m[1]+"{"+m[2]+"}"] = c
			st.Child = append(st.Child, c)
			st.ChildListed = true
			continue
		}
		if m := stTS.FindStringSubmatch(l); m != nil {
			if c := children[m[1]+"{"+m[2]+"}"]; c != nil {
				c.Local = append(c.Local, selectors(strings.Fields(m[3]))...)
				c.Remote = append(c.Remote, selectors(strings.Fields(m[4]))...)
			}
			continue
		}
		if m := stBytes.FindStringSubmatch(l); m != nil {
			name, _, ok := strings.Cut(l, ":")
			c := children[strings.TrimSpace(name)]
			if !ok || c == nil {
				continue
			}
			bi, _ := strconv.ParseInt(m[1], 10, 64)
			bo, _ := strconv.ParseInt(m[4], 10, 64)
			c.BytesIn, c.BytesOut = n64(bi), n64(bo)
			// Packets are printed only with traffic, and not at all
			// before strongSwan 5.1: trust them only when shown.
			if m[2] != "" || m[5] != "" {
				pi, _ := strconv.ParseInt(m[2], 10, 64)
				po, _ := strconv.ParseInt(m[5], 10, 64)
				c.PacketsIn, c.PacketsOut = n64(pi), n64(po)
			}
			// "Ns ago" follows a direction only once it has carried
			// something.
			if m[3] != "" || m[6] != "" {
				c.InIdle, c.OutIdle = idleOf(m[3], bi), idleOf(m[6], bo)
			}
			c.counted(i, l)
		}
	}
}

// selectors parses each field, skipping what is not an address.
func selectors(fields []string) (out []netip.Prefix) {
	for _, f := range fields {
		if ps, ok := parseSelector(f); ok {
			out = append(out, ps...)
		}
	}
	return out
}

// idleOf is the seconds since a direction's last packet: as printed, or
// unknown for a direction that has carried nothing.
func idleOf(ago string, bytes int64) *int64 {
	if ago == "" || bytes == 0 {
		return nil
	}
	n, _ := strconv.ParseInt(ago, 10, 64)
	return n64(n)
}
