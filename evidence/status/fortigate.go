package status

import (
	"regexp"
	"strconv"
	"strings"
)

var (
	fgTunnel   = regexp.MustCompile(`^\s*name=(\S+) ver=([12]) serial=\d+ ([0-9a-fA-F.:]+):\d+->([0-9a-fA-F.:]+):\d+`)
	fgProxy    = regexp.MustCompile(`^\s*proxyid=(\S+) proto=\d+ sa=(\d+)`)
	fgSel      = regexp.MustCompile(`^\s*(src|dst): (\S+)`)
	fgSPI      = regexp.MustCompile(`^\s*(dec|enc): spi=([0-9a-f]+)`)
	fgLast     = regexp.MustCompile(`^\s*proxyid_num=\d+ child_num=\d+ refcnt=\d+ ilast=(\d+) olast=(\d+)`)
	fgCount    = regexp.MustCompile(`^\s*dec:pkts/bytes=(\d+)/(\d+), enc:pkts/bytes=(\d+)/(\d+)`)
	fgGWName   = regexp.MustCompile(`^\s*name: (\S+)`)
	fgGWVer    = regexp.MustCompile(`^\s*version: ([12])`)
	fgGWAddr   = regexp.MustCompile(`^\s*addr: ([0-9a-fA-F.:]+):\d+ -> ([0-9a-fA-F.:]+):\d+`)
	fgGWStatus = regexp.MustCompile(`^\s*status: (\S+)`)
	fgGWIKESA  = regexp.MustCompile(`^\s*IKE SA: created \d+/\d+\s+established \d+/\d+`)
	fgListHead = regexp.MustCompile(`^\s*list all ipsec tunnel`)
)

// parseFortiGate reads diagnose vpn tunnel list and diagnose vpn ike
// gateway list.
func parseFortiGate(st *Status, lines []string) {
	var tunnel, peer string
	var ilast, olast *int64
	var child *ChildSA
	var gw *IKESA
	for i, l := range lines {
		t := strings.TrimSpace(l)
		if fgListHead.MatchString(l) {
			st.ChildListed = true
			continue
		}
		if m := fgTunnel.FindStringSubmatch(l); m != nil {
			st.ChildListed = true
			tunnel, peer, child, gw = m[1], m[4], nil, nil
			ilast, olast = nil, nil
			continue
		}
		if m := fgLast.FindStringSubmatch(l); m != nil && tunnel != "" {
			i, _ := strconv.ParseInt(m[1], 10, 64)
			o, _ := strconv.ParseInt(m[2], 10, 64)
			ilast, olast = n64(i), n64(o)
			continue
		}
		if m := fgProxy.FindStringSubmatch(l); m != nil && tunnel != "" {
			n, _ := strconv.Atoi(m[2])
			state := "no SA"
			if n > 0 {
				state = "sa=" + m[2]
			}
			// ilast and olast are the tunnel's: its proxy IDs share them.
			child = &ChildSA{Name: m[1], IKE: tunnel, Peer: peer, State: state, Up: n > 0, Line: i + 1, Text: t, InIdle: ilast, OutIdle: olast}
			st.Child = append(st.Child, child)
			continue
		}
		if m := fgGWName.FindStringSubmatch(l); m != nil {
			st.listedIKE(i, l)
			gw = &IKESA{Name: m[1], State: "no IKE SA", Line: i + 1, Text: t}
			st.IKE = append(st.IKE, gw)
			tunnel, child = "", nil
			continue
		}
		if gw != nil {
			switch {
			case fgGWVer.MatchString(l):
				gw.Version, _ = strconv.Atoi(fgGWVer.FindStringSubmatch(l)[1])
			case fgGWAddr.MatchString(l):
				m := fgGWAddr.FindStringSubmatch(l)
				gw.Local, gw.Remote = m[1], m[2]
			case fgGWStatus.MatchString(l):
				s := fgGWStatus.FindStringSubmatch(l)[1]
				gw.State, gw.Line, gw.Text = s, i+1, t
				gw.Up = s == "established"
				gw.Negotiating = s == "connecting" || s == "negotiating"
			case fgGWIKESA.MatchString(l) && gw.State == "no IKE SA":
				gw.Text = t
			}
			continue
		}
		if child == nil {
			continue
		}
		if m := fgSel.FindStringSubmatch(l); m != nil {
			child.selector(m[1] == "src", m[2])
			continue
		}
		if m := fgSPI.FindStringSubmatch(l); m != nil {
			if m[1] == "dec" {
				child.SPIIn = m[2]
			} else {
				child.SPIOut = m[2]
			}
			continue
		}
		if m := fgCount.FindStringSubmatch(l); m != nil {
			v := make([]int64, 4)
			for j := range v {
				v[j], _ = strconv.ParseInt(m[j+1], 10, 64)
			}
			child.PacketsIn, child.BytesIn, child.PacketsOut, child.BytesOut = n64(v[0]), n64(v[1]), n64(v[2]), n64(v[3])
			child.counted(i, l)
		}
	}
}
