package status

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
)

var (
	paIKEv2Head   = regexp.MustCompile(`^\s*IKEv2 SAs\s*$`)
	paIKEv1Head   = regexp.MustCompile(`^\s*(IKEv1 )?phase-1 SAs\s*$`)
	paChildHead   = regexp.MustCompile(`^\s*(IKEv2 IPSec Child SAs|(IKEv1 )?phase-2 SAs)\s*$`)
	paHexSPI      = regexp.MustCompile(`^[0-9A-Fa-f]{8}$`)
	paIPsecHead   = regexp.MustCompile(`^\s*GwID(/client IP)?\s+TnID\s+Peer-Address`)
	paFlowHead    = regexp.MustCompile(`^\s*id\s+name\s+state\s+monitor\s+local-ip\s+peer-ip`)
	paIKERow      = regexp.MustCompile(`^\s*(\d+)\s+([0-9a-fA-F.:]+)\s+(\S+)\s+(Init|Resp)\s+(.*)$`)
	paIPsecRow    = regexp.MustCompile(`^\s*(\S+)\s+(\d+)\s+([0-9a-fA-F.:]+)\s+(\S+?)\((\S+)\)\s+(\S+)(?:\s+([0-9A-Fa-f]{8})\s+([0-9A-Fa-f]{8}))?`)
	paFlowRow     = regexp.MustCompile(`^\s*(\d+)\s+(\S+)\s+(active|inactive|init|down|up)\s+(\S+)\s+([0-9a-fA-F.:]+)\s+([0-9a-fA-F.:]+)`)
	paDetailStart = regexp.MustCompile(`^\s*tunnel\s+(\S+)\s*$`)
	paKV          = regexp.MustCompile(`^(\s*)([a-z][a-z /-]*?):\s+(\S.*)$`)
	paTotals      = regexp.MustCompile(`^\s*(Show IPSec SA:|total IPSec tunnel)`)
)

// parsePANOS reads show vpn ike-sa, show vpn ipsec-sa, show vpn flow and
// show vpn flow tunnel-id N (or name X).
func parsePANOS(st *Status, lines []string) {
	byTn := map[string]*ChildSA{}
	get := func(tn, name string, i int, t string) *ChildSA {
		c := byTn[tn]
		if c == nil {
			c = &ChildSA{Name: name, Line: i + 1, Text: t}
			byTn[tn] = c
			st.Child = append(st.Child, c)
		}
		return c
	}
	table := ""
	var detail *ChildSA
	detailName, inProxy := "", false
	for i, l := range lines {
		t := strings.TrimSpace(l)
		switch {
		case paIKEv2Head.MatchString(l), paIKEv1Head.MatchString(l):
			st.listedIKE(i, l)
			table = "ike"
			continue
		case paChildHead.MatchString(l):
			st.ChildListed, table = true, "child"
			continue
		case paIPsecHead.MatchString(l):
			st.ChildListed, table = true, "ipsec"
			continue
		case paFlowHead.MatchString(l):
			st.ChildListed, table = true, "flow"
			continue
		case paTotals.MatchString(l):
			st.ChildListed = true
			continue
		case strings.HasPrefix(t, "Show IKE"), strings.HasPrefix(t, "Show IKEv"):
			st.listedIKE(i, l)
			table = ""
			continue
		}
		if m := paDetailStart.FindStringSubmatch(l); m != nil {
			st.ChildListed, table, detailName, detail, inProxy = true, "", m[1], nil, false
			continue
		}
		if detailName != "" {
			m := paKV.FindStringSubmatch(l)
			if m == nil {
				if t == "" {
					continue
				}
				if strings.HasPrefix(t, "proxy-id") {
					inProxy = true
				}
				continue
			}
			key, val := m[2], strings.TrimSpace(m[3])
			if key == "id" {
				detail = get(val, detailName, i, "tunnel "+detailName)
				if detail.CounterLine > 0 {
					// The same tunnel listed again: a later snapshot.
					detail = detail.snapshot(i, "tunnel "+detailName)
					detail.Local, detail.Remote = nil, nil // read again below
					byTn[val] = detail
					st.Child = append(st.Child, detail)
				}
				continue
			}
			if detail == nil {
				detail = get("name:"+detailName, detailName, i, "tunnel "+detailName)
			}
			switch key {
			case "peer ip":
				detail.Peer = val
			case "gateway id":
			case "state":
				detail.State = val
			case "local spi":
				detail.SPIIn = strings.ToLower(val)
			case "remote spi":
				detail.SPIOut = strings.ToLower(val)
			case "local ip", "remote ip":
				if !inProxy {
					break
				}
				detail.selector(key == "local ip", val)
			case "encap packets", "decap packets", "encap bytes", "decap bytes":
				n, err := strconv.ParseInt(val, 10, 64)
				if err != nil {
					break
				}
				switch key {
				case "encap packets":
					detail.PacketsOut = n64(n)
				case "decap packets":
					detail.PacketsIn = n64(n)
					detail.counted(i, l)
				case "encap bytes":
					detail.BytesOut = n64(n)
				case "decap bytes":
					detail.BytesIn = n64(n)
				}
			default:
				if len(m[1]) <= 8 {
					inProxy = false
				}
			}
			continue
		}
		switch table {
		case "ike":
			if m := paIKERow.FindStringSubmatch(l); m != nil {
				rest := strings.Fields(m[5])
				state := "Established"
				up, neg := true, false
				for _, f := range rest {
					switch f {
					case "Larval", "Half-Open", "Negotiating", "Init":
						state, up, neg = f, false, true
					case "Dying", "Dead", "Deleted":
						state, up, neg = f, false, false
					}
				}
				st.IKE = append(st.IKE, &IKESA{Name: m[3], Remote: m[2], State: state, Up: up, Negotiating: neg, Line: i + 1, Text: t})
			}
		case "child":
			// IKEv2 child SAs and IKEv1 phase-2 SAs: gateway, tunnel ID,
			// tunnel, …, role, [algorithm,] SPI in, SPI out, message ID, state.
			f := strings.Fields(l)
			if len(f) < 7 || !slices.Contains(f, "Init") && !slices.Contains(f, "Resp") {
				break
			}
			if _, err := strconv.Atoi(f[1]); err != nil {
				break
			}
			for j := 3; j+1 < len(f); j++ {
				if paHexSPI.MatchString(f[j]) && paHexSPI.MatchString(f[j+1]) {
					c := get(f[1], f[2], i, t)
					c.IKE, c.SPIIn, c.SPIOut = f[0], strings.ToLower(f[j]), strings.ToLower(f[j+1])
					if j+3 < len(f) {
						c.State = f[j+3]
					}
					break
				}
			}
		case "ipsec":
			if m := paIPsecRow.FindStringSubmatch(l); m != nil {
				c := get(m[2], m[4], i, t)
				c.IKE, c.Peer = m[5], m[3]
				if m[7] != "" {
					c.SPIIn, c.SPIOut = strings.ToLower(m[7]), strings.ToLower(m[8])
				} else if c.State == "" {
					c.State = "SA listed"
				}
			}
		case "flow":
			if m := paFlowRow.FindStringSubmatch(l); m != nil {
				c := get(m[1], m[2], i, t)
				c.Peer = m[6]
				if c.State == "" || c.State == "SA listed" {
					c.State = m[3]
				}
			}
		}
	}
	for _, c := range st.Child {
		switch {
		case c.SPIIn != "" && c.SPIOut != "":
			c.Up = nonZeroSPI(c.SPIIn) && nonZeroSPI(c.SPIOut) && c.State != "inactive"
		default:
			c.Up = c.State == "active" || c.State == "SA listed" || c.State == "Mature"
		}
		if c.IKE == "" {
			if i := strings.IndexByte(c.Name, ':'); i > 0 {
				c.IKE = c.Name[:i]
			}
		}
	}
}
