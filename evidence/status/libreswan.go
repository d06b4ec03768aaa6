package status

import (
	"regexp"
	"strconv"
	"strings"
)

var (
	lsState   = regexp.MustCompile(`^(?:\d{3} )?#(\d+): "([^"]+)"\S*(?:\s+[^\s:]+)?:\d+\s+(STATE_[A-Z0-9_]+)\s*\(([^)]*)\)`)
	lsSAs     = regexp.MustCompile(`^(?:\d{3} )?#(\d+): "([^"]+)"\S*\s+esp\.([0-9a-f]+)@(\S+)\s+esp\.([0-9a-f]+)@\S+`)
	lsTraffic = regexp.MustCompile(`ESPin=(\d+)([KMG]?B)\s+ESPout=(\d+)([KMG]?B)`)
	lsTStat   = regexp.MustCompile(`^(?:\d{3} )?#(\d+): "([^"]+)"\S*(?:\s+([0-9a-fA-F.:]+))?,\s*type=ESP,.*?inBytes=(\d+),\s*outBytes=(\d+)`)
	lsConn    = regexp.MustCompile(`^(?:\d{3} )?"([^"]+)"\S*:\s+(\S+?)===\S*?\.\.\.\S*?===(\S+?);`)
	lsPeer    = regexp.MustCompile(`^(?:\d{3} )?"([^"]+)"\S*:\s+\S*?\.\.\.(\d{1,3}(?:\.\d{1,3}){3})[<\[=;]`)
)

// lsChildState tells a libreswan IPsec SA state from an IKE SA state.
func lsChildState(state, desc string) bool {
	return strings.HasPrefix(state, "STATE_QUICK_") || strings.HasPrefix(state, "STATE_V2_IPSEC_") ||
		strings.Contains(state, "CHILD_SA") || strings.Contains(desc, "IPsec SA") || strings.Contains(desc, "Child SA")
}

// lsBytes reads libreswan's 84B, 12KB, 3MB.
func lsBytes(n, unit string) int64 {
	v, _ := strconv.ParseInt(n, 10, 64)
	switch unit {
	case "KB":
		v <<= 10
	case "MB":
		v <<= 20
	case "GB":
		v <<= 30
	}
	return v
}

// parseLibreswan reads libreswan/Openswan `ipsec status` (`ipsec whack
// --status`) and `ipsec trafficstatus`.
func parseLibreswan(st *Status, lines []string) {
	if len(lines) > 0 {
		st.listedIKE(0, lines[0])
	}
	byNum := map[string]*ChildSA{}
	type sel struct{ local, remote string }
	conns := map[string]sel{}
	peers := map[string]string{}
	for i, l := range lines {
		t := strings.TrimSpace(l)
		if m := lsPeer.FindStringSubmatch(l); m != nil {
			peers[m[1]] = m[2]
		}
		if m := lsConn.FindStringSubmatch(l); m != nil {
			conns[m[1]] = sel{m[2], m[3]}
			continue
		}
		if m := lsState.FindStringSubmatch(l); m != nil {
			state, desc := m[3], m[4]
			up := strings.Contains(strings.ToLower(desc), "established")
			if lsChildState(state, desc) {
				st.ChildListed = true
				c := byNum[m[1]]
				if c == nil {
					c = &ChildSA{Name: "#" + m[1], IKE: m[2], Line: i + 1, Text: t}
					byNum[m[1]] = c
					st.Child = append(st.Child, c)
				}
				c.State, c.Up = state, up
				continue
			}
			st.IKE = append(st.IKE, &IKESA{Name: m[2], State: state, Up: up, Negotiating: !up && !strings.Contains(desc, "delet"), Line: i + 1, Text: t})
			continue
		}
		if m := lsSAs.FindStringSubmatch(l); m != nil {
			st.ChildListed = true
			c := byNum[m[1]]
			if c == nil {
				c = &ChildSA{Name: "#" + m[1], IKE: m[2], Up: true, State: "SA listed", Line: i + 1, Text: t}
				byNum[m[1]] = c
				st.Child = append(st.Child, c)
			}
			c.SPIOut, c.Peer, c.SPIIn = m[3], m[4], m[5]
			if tm := lsTraffic.FindStringSubmatch(l); tm != nil {
				c.BytesIn, c.BytesOut = n64(lsBytes(tm[1], tm[2])), n64(lsBytes(tm[3], tm[4]))
				c.counted(i, l)
			}
			continue
		}
		if m := lsTStat.FindStringSubmatch(l); m != nil {
			// trafficstatus lists established IPsec SAs only; listed twice,
			// each listing is a snapshot.
			st.ChildListed = true
			c := byNum[m[1]]
			switch {
			case c == nil:
				c = &ChildSA{Name: "#" + m[1], IKE: m[2], Peer: m[3], Up: true, State: "established", Line: i + 1, Text: t}
				byNum[m[1]] = c
				st.Child = append(st.Child, c)
			case c.CounterLine > 0:
				c = c.snapshot(i, t)
				byNum[m[1]] = c
				st.Child = append(st.Child, c)
			}
			in, _ := strconv.ParseInt(m[4], 10, 64)
			out, _ := strconv.ParseInt(m[5], 10, 64)
			c.BytesIn, c.BytesOut = n64(in), n64(out)
			c.counted(i, l)
		}
	}
	for _, c := range st.Child {
		if s, ok := conns[c.IKE]; ok && len(c.Local) == 0 {
			c.Local, _ = parseSelector(s.local)
			c.Remote, _ = parseSelector(s.remote)
		}
		if c.Peer == "" {
			c.Peer = peers[c.IKE]
		}
	}
	for _, ike := range st.IKE {
		ike.Remote = peers[ike.Name]
	}
}
