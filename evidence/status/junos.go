package status

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

var (
	jnIKEHead   = regexp.MustCompile(`^\s*Index\s+State\s+Initiator cookie`)
	jnIKERow    = regexp.MustCompile(`^\s*(\d+)\s+(UP|DOWN|\S+)\s+[0-9a-f]{16}\s+[0-9a-f]{16}\s+(\S+)\s+([0-9a-fA-F.:]+)`)
	jnTotal     = regexp.MustCompile(`^\s*Total active tunnels: \d+`)
	jnSARow     = regexp.MustCompile(`^\s*([<>])(\d+)\s+(.*)$`)
	jnSPI       = regexp.MustCompile(`^(?:0x)?([0-9a-f]{8})$`)
	jnID        = regexp.MustCompile(`^\s*ID: (\d+)`)
	jnVPNName   = regexp.MustCompile(`VPN Name: ([^,\s]+)`)
	jnGateways  = regexp.MustCompile(`Local Gateway: ([0-9a-fA-F.:]+), Remote Gateway: ([0-9a-fA-F.:]+)`)
	jnIdentity  = regexp.MustCompile(`^\s*(Local|Remote) Identity: (.+)$`)
	jnDirection = regexp.MustCompile(`^\s*Direction: (inbound|outbound), SPI: ([0-9a-f]+)`)
	jnSAState   = regexp.MustCompile(`^\s*State: (\S+)`)
	jnStat      = regexp.MustCompile(`^\s*(Encrypted|Decrypted) (bytes|packets):\s+(\d+)`)
)

// parseJunos reads show security ike security-associations, show security
// ipsec security-associations [detail] and show security ipsec statistics.
func parseJunos(st *Status, lines []string) {
	byID := map[string]*ChildSA{}
	get := func(id string, i int, t string) *ChildSA {
		c := byID[id]
		if c == nil {
			c = &ChildSA{Name: "SA " + id, Line: i + 1, Text: t}
			byID[id] = c
			st.Child = append(st.Child, c)
		}
		return c
	}
	var cur *ChildSA
	inIKE := false
	// Each "ESP Statistics:" block is one snapshot of the counters.
	type statSnap struct {
		v          map[string]int64
		line       int
		text, head string
		headLine   int
	}
	var stats []*statSnap
	for i, l := range lines {
		t := strings.TrimSpace(l)
		if jnIKEHead.MatchString(l) {
			st.listedIKE(i, l)
			inIKE = true
			continue
		}
		if inIKE {
			if m := jnIKERow.FindStringSubmatch(l); m != nil {
				v := 1
				if strings.EqualFold(m[3], "IKEv2") {
					v = 2
				}
				st.IKE = append(st.IKE, &IKESA{Name: "index " + m[1], Remote: m[4], Version: v, State: m[2], Up: m[2] == "UP", Negotiating: m[2] == "DOWN", Line: i + 1, Text: t})
				continue
			}
			if t == "" {
				inIKE = false
			}
		}
		if jnTotal.MatchString(l) {
			st.ChildListed = true
			continue
		}
		if m := jnSARow.FindStringSubmatch(l); m != nil {
			// Columns differ by release (gateway first or last, a 0x on
			// the SPI): the SPI is the first 8-digit hex word, the
			// gateway the address.
			spi, gw := "", ""
			for _, f := range strings.Fields(m[3]) {
				if s := jnSPI.FindStringSubmatch(f); s != nil && spi == "" {
					spi = s[1]
				} else if a, err := netip.ParseAddr(f); err == nil && gw == "" {
					gw = a.String()
				}
			}
			if spi == "" {
				continue
			}
			st.ChildListed = true
			c := get(m[2], i, t)
			if gw != "" {
				c.Peer = gw
			}
			if m[1] == "<" {
				c.SPIIn = spi
			} else {
				c.SPIOut = spi
			}
			continue
		}
		if m := jnID.FindStringSubmatch(l); m != nil {
			st.ChildListed = true
			cur = get(m[1], i, t)
			if n := jnVPNName.FindStringSubmatch(l); n != nil {
				cur.Name = n[1]
			}
			continue
		}
		if strings.HasPrefix(t, "ESP Statistics:") {
			stats = append(stats, &statSnap{v: map[string]int64{}, head: t, headLine: i + 1})
			continue
		}
		if m := jnStat.FindStringSubmatch(l); m != nil && len(stats) > 0 {
			s := stats[len(stats)-1]
			n, _ := strconv.ParseInt(m[3], 10, 64)
			s.v[m[1]+" "+m[2]] = n
			if m[1] == "Decrypted" && m[2] == "packets" {
				s.line, s.text = i+1, t
			}
			continue
		}
		if cur == nil {
			continue
		}
		if m := jnVPNName.FindStringSubmatch(l); m != nil {
			cur.Name = m[1]
		}
		if m := jnGateways.FindStringSubmatch(l); m != nil {
			cur.Peer = m[2]
			continue
		}
		if m := jnIdentity.FindStringSubmatch(l); m != nil {
			cur.selector(m[1] == "Local", m[2])
			continue
		}
		if m := jnDirection.FindStringSubmatch(l); m != nil {
			if m[1] == "inbound" {
				cur.SPIIn = m[2]
			} else {
				cur.SPIOut = m[2]
			}
			continue
		}
		if m := jnSAState.FindStringSubmatch(l); m != nil && cur.State == "" {
			cur.State = m[1]
		}
	}
	for _, c := range st.Child {
		c.Up = nonZeroSPI(c.SPIIn) && nonZeroSPI(c.SPIOut)
		if c.State == "" && c.Up {
			c.State = "installed"
		}
	}
	if len(stats) > 0 {
		switch len(st.Child) {
		case 1:
			// The device's statistics are its one SA's: each block is a
			// snapshot of it.
			c := st.Child[0]
			for j, s := range stats {
				if j > 0 {
					c = c.snapshot(s.headLine-1, s.head)
					st.Child = append(st.Child, c)
				}
				c.BytesOut, c.BytesIn = n64(s.v["Encrypted bytes"]), n64(s.v["Decrypted bytes"])
				c.PacketsOut, c.PacketsIn = n64(s.v["Encrypted packets"]), n64(s.v["Decrypted packets"])
				c.CounterLine, c.CounterText = s.line, s.text
			}
		default:
			s := stats[len(stats)-1]
			st.Notes = append(st.Notes, fmt.Sprintf("line %d: IPsec statistics (%d packets encrypted, %d decrypted) could not be tied to one of the %d SAs: run show security ipsec statistics index N for each SA", s.headLine, s.v["Encrypted packets"], s.v["Decrypted packets"], len(st.Child)))
		}
	}
}
