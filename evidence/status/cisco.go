package status

import (
	"regexp"
	"strconv"
	"strings"
)

var (
	ciLocalIdent  = regexp.MustCompile(`^\s*local\s+ident \(addr/mask/prot/port\): (\(.*\))`)
	ciRemoteIdent = regexp.MustCompile(`^\s*remote\s+ident \(addr/mask/prot/port\): (\(.*\))`)
	ciPeer        = regexp.MustCompile(`^\s*current_peer:? ([0-9a-fA-F.:]+)`)
	ciEncaps      = regexp.MustCompile(`^\s*#pkts encaps: (\d+)`)
	ciDecaps      = regexp.MustCompile(`^\s*#pkts decaps: (\d+)`)
	ciCurSPI      = regexp.MustCompile(`^\s*current (outbound|inbound) spi\s*: (?:0x)?([0-9A-Fa-f]+)`)
	ciSASection   = regexp.MustCompile(`^\s*(inbound|outbound) (esp|ah|pcp) sas:`)
	ciSPI         = regexp.MustCompile(`^\s*spi: 0x([0-9A-Fa-f]+)`)
	ciSAState     = regexp.MustCompile(`^\s*(?:SA State|Status): (\S+)`)
	ciISAKMPHead  = regexp.MustCompile(`^\s*dst\s+src\s+state\s+conn-id\s+`)
	ciISAKMPRow   = regexp.MustCompile(`^\s*([0-9a-fA-F.:]+)\s+([0-9a-fA-F.:]+)\s+([A-Z][A-Z0-9_]+)\s+\d+\s+(?:\d+\s+)?([A-Z]+)?`)
	ciIKEv2Head   = regexp.MustCompile(`^\s*Tunnel-id\s+Local\s+Remote`)
	ciIKEv2Row    = regexp.MustCompile(`^\s*(\d+)\s+([0-9a-fA-F.:]+)/\d+\s+([0-9a-fA-F.:]+)/\d+\s+(?:\S+/\S+\s+)?([A-Z][A-Z-]+)\b`)
	ciASAIKEv1    = regexp.MustCompile(`^\s*\d+\s+IKE Peer: ([0-9a-fA-F.:]+)`)
	ciASAState    = regexp.MustCompile(`\bState\s*: ([A-Z][A-Z0-9_]+)`)
	ciASAChildTS  = regexp.MustCompile(`^\s*(?:Child sa: )?(local|remote) selector\s+(.+)$`)
	ciASAChildSPI = regexp.MustCompile(`^\s*ESP spi in/out: 0x([0-9A-Fa-f]+)/0x([0-9A-Fa-f]+)`)
	ciNoSAs       = regexp.MustCompile(`(?i)^\s*There are no (ipsec|isakmp|ikev1|ikev2) sas`)
	ciIKEListing  = regexp.MustCompile(`^\s*(IKEv[12] SAs:|IPv[46] Crypto (ISAKMP|IKEv2)\s+SA)`)
	ciMapTag      = regexp.MustCompile(`^\s*(interface: |Crypto map tag: )`)
	sdbType       = regexp.MustCompile(`^\s*Session Type: LAN-to-LAN`)
	sdbConn       = regexp.MustCompile(`^\s*Connection\s*: (\S+)`)
	sdbIP         = regexp.MustCompile(`\bIP Addr\s*: ([0-9a-fA-F.:]+)`)
	sdbSection    = regexp.MustCompile(`^\s*(IKEv1|IKEv2|IPsec|IPsecOverNatT):\s*$`)
	sdbTunnels    = regexp.MustCompile(`^\s*IPsec(?:OverNatT)? Tunnels\s*: (\d+)`)
	sdbAddr       = regexp.MustCompile(`^\s*(Local|Remote) Addr\s*: (\S+)`)
	sdbBytes      = regexp.MustCompile(`^\s*Bytes Tx\s*: (\d+)\s+Bytes Rx\s*: (\d+)`)
	sdbPkts       = regexp.MustCompile(`^\s*Pkts Tx\s*: (\d+)\s+Pkts Rx\s*: (\d+)`)
)

// parseSessionDB reads ASA show vpn-sessiondb [detail] l2l: a session is an
// IKE SA that is up; its IPsec sections (detail) or, without them, its
// totals are its IPsec SA, unless it says it has no IPsec tunnel.
func parseSessionDB(st *Status, lines []string) {
	var ike *IKESA
	var child, total *ChildSA
	section, noIPsec := "", false
	flush := func() {
		if ike != nil && total != nil && child == nil && !noIPsec {
			st.Child = append(st.Child, total)
		}
		ike, child, total, section, noIPsec = nil, nil, nil, "", false
	}
	for i, l := range lines {
		t := strings.TrimSpace(l)
		if sdbType.MatchString(l) {
			st.listedIKE(i, l)
			st.ChildListed = true
			continue
		}
		if m := sdbConn.FindStringSubmatch(l); m != nil {
			flush()
			ike = &IKESA{Name: m[1], Remote: m[1], State: "connected", Up: true, Line: i + 1, Text: t}
			st.IKE = append(st.IKE, ike)
			continue
		}
		if ike == nil {
			continue
		}
		if m := sdbSection.FindStringSubmatch(l); m != nil {
			section = m[1]
			if strings.HasPrefix(section, "IPsec") {
				child = &ChildSA{IKE: ike.Name, Peer: ike.Remote, State: "connected", Up: true, Line: i + 1, Text: t}
				st.Child = append(st.Child, child)
			}
			continue
		}
		cur := child
		if section == "" {
			if m := sdbIP.FindStringSubmatch(l); m != nil {
				ike.Remote = m[1]
			}
			if m := sdbTunnels.FindStringSubmatch(l); m != nil && m[1] == "0" {
				noIPsec = true
			}
			if total == nil {
				total = &ChildSA{IKE: ike.Name, Peer: ike.Remote, State: "connected", Up: true, Line: ike.Line, Text: ike.Text}
			}
			total.Peer = ike.Remote
			cur = total
		} else if !strings.HasPrefix(section, "IPsec") {
			continue
		}
		if m := sdbAddr.FindStringSubmatch(l); m != nil {
			cur.selector(m[1] == "Local", m[2])
			continue
		}
		if m := sdbBytes.FindStringSubmatch(l); m != nil {
			tx, _ := strconv.ParseInt(m[1], 10, 64)
			rx, _ := strconv.ParseInt(m[2], 10, 64)
			cur.BytesOut, cur.BytesIn = n64(tx), n64(rx)
			cur.counted(i, l)
			continue
		}
		if m := sdbPkts.FindStringSubmatch(l); m != nil {
			tx, _ := strconv.ParseInt(m[1], 10, 64)
			rx, _ := strconv.ParseInt(m[2], 10, 64)
			cur.PacketsOut, cur.PacketsIn = n64(tx), n64(rx)
		}
	}
	flush()
}

// ciscoIKEState classifies ISAKMP/IKEv2 states of ASA and IOS.
func ciscoIKEState(s string) (up, negotiating bool) {
	switch {
	case s == "QM_IDLE" || s == "MM_ACTIVE" || s == "AM_ACTIVE" || s == "READY" || s == "UP-ACTIVE":
		return true, false
	case s == "IN-NEG" || strings.HasPrefix(s, "MM_") || strings.HasPrefix(s, "AM_") || strings.HasPrefix(s, "AG_") || strings.HasPrefix(s, "QM_"):
		return false, true
	}
	return false, false
}

// parseCisco reads ASA and IOS show crypto ipsec sa, show crypto isakmp sa,
// show crypto ikev1 sa and show crypto ikev2 sa, pasted in any order.
func parseCisco(st *Status, lines []string) {
	var child *ChildSA
	var section string // inbound/outbound esp while inside an SA list
	var asaIKE *IKESA
	var ikev2Children []*ChildSA
	var v2child *ChildSA
	inISAKMP, inIKEv2 := false, false
	for i, l := range lines {
		t := strings.TrimSpace(l)
		if t == "" {
			inISAKMP = false
			continue
		}
		if m := ciNoSAs.FindStringSubmatch(l); m != nil {
			if strings.EqualFold(m[1], "ipsec") {
				st.ChildListed = true
			} else {
				st.listedIKE(i, l)
			}
			continue
		}
		if ciIKEListing.MatchString(l) {
			st.listedIKE(i, l)
			continue
		}
		if ciMapTag.MatchString(l) {
			st.ChildListed = true
			continue
		}
		if ciISAKMPHead.MatchString(l) {
			st.listedIKE(i, l)
			inISAKMP, inIKEv2 = true, false
			continue
		}
		if ciIKEv2Head.MatchString(l) {
			st.listedIKE(i, l)
			inIKEv2, inISAKMP = true, false
			continue
		}
		if inISAKMP {
			if m := ciISAKMPRow.FindStringSubmatch(l); m != nil {
				up, neg := ciscoIKEState(m[3])
				st.IKE = append(st.IKE, &IKESA{Remote: m[1], Local: m[2], Version: 1, State: m[3], Up: up, Negotiating: neg, Line: i + 1, Text: t})
				continue
			}
		}
		if inIKEv2 {
			if m := ciIKEv2Row.FindStringSubmatch(l); m != nil {
				up, neg := ciscoIKEState(m[4])
				st.IKE = append(st.IKE, &IKESA{Local: m[2], Remote: m[3], Version: 2, State: m[4], Up: up, Negotiating: neg, Line: i + 1, Text: t})
				v2child = nil
				continue
			}
			if m := ciASAChildTS.FindStringSubmatch(l); m != nil && len(st.IKE) > 0 {
				ike := st.IKE[len(st.IKE)-1]
				if m[1] == "local" || v2child == nil {
					v2child = &ChildSA{Peer: ike.Remote, Line: i + 1, Text: t}
					ikev2Children = append(ikev2Children, v2child)
				}
				v2child.selector(m[1] == "local", m[2])
				continue
			}
			if m := ciASAChildSPI.FindStringSubmatch(l); m != nil && v2child != nil {
				v2child.SPIIn, v2child.SPIOut = strings.ToLower(m[1]), strings.ToLower(m[2])
				v2child.Up = nonZeroSPI(m[1]) && nonZeroSPI(m[2])
				continue
			}
		}
		if m := ciASAIKEv1.FindStringSubmatch(l); m != nil {
			st.listedIKE(i, l)
			asaIKE = &IKESA{Remote: m[1], Version: 1, Line: i + 1, Text: t}
			st.IKE = append(st.IKE, asaIKE)
			continue
		}
		if asaIKE != nil && asaIKE.State == "" {
			if m := ciASAState.FindStringSubmatch(l); m != nil {
				asaIKE.State = m[1]
				asaIKE.Up, asaIKE.Negotiating = ciscoIKEState(m[1])
				continue
			}
		}
		if m := ciLocalIdent.FindStringSubmatch(l); m != nil {
			st.ChildListed = true
			child = &ChildSA{Line: i + 1, Text: t}
			child.Local, _ = parseSelector(m[1])
			st.Child = append(st.Child, child)
			section = ""
			continue
		}
		if child == nil {
			continue
		}
		switch {
		case ciRemoteIdent.MatchString(l):
			child.Remote, _ = parseSelector(ciRemoteIdent.FindStringSubmatch(l)[1])
		case ciPeer.MatchString(l):
			child.Peer = ciPeer.FindStringSubmatch(l)[1]
		case ciEncaps.MatchString(l):
			n, _ := strconv.ParseInt(ciEncaps.FindStringSubmatch(l)[1], 10, 64)
			child.PacketsOut = n64(n)
		case ciDecaps.MatchString(l):
			n, _ := strconv.ParseInt(ciDecaps.FindStringSubmatch(l)[1], 10, 64)
			child.PacketsIn = n64(n)
			child.counted(i, l)
		case ciCurSPI.MatchString(l):
			m := ciCurSPI.FindStringSubmatch(l)
			if nonZeroSPI(m[2]) {
				if m[1] == "outbound" {
					child.SPIOut = strings.ToLower(m[2])
				} else {
					child.SPIIn = strings.ToLower(m[2])
				}
			}
		case ciSASection.MatchString(l):
			m := ciSASection.FindStringSubmatch(l)
			section = ""
			if m[2] == "esp" {
				section = m[1]
			}
		case ciSPI.MatchString(l):
			spi := strings.ToLower(ciSPI.FindStringSubmatch(l)[1])
			if section == "inbound" && child.SPIIn == "" && nonZeroSPI(spi) {
				child.SPIIn = spi
			}
			if section == "outbound" && child.SPIOut == "" && nonZeroSPI(spi) {
				child.SPIOut = spi
			}
		case ciSAState.MatchString(l) && child.State == "":
			child.State = ciSAState.FindStringSubmatch(l)[1]
		}
	}
	for _, c := range st.Child {
		c.Up = c.SPIOut != "" && c.SPIIn != "" && !strings.EqualFold(c.State, "down")
	}
	if len(st.Child) == 0 && len(ikev2Children) > 0 {
		st.Child = ikev2Children
		st.ChildListed = true
	}
	parseSessionDB(st, lines)
}

func nonZeroSPI(s string) bool {
	s = strings.TrimLeft(strings.TrimPrefix(strings.ToLower(s), "0x"), "0")
	return s != ""
}
