package status

import (
	"net/netip"
	"strings"
)

// Status is what one SA status output says about a device's live SAs.
type Status struct {
	// Format is the command family read, e.g. "strongswan-swanctl-sas" or
	// "cisco-asa-sa" (see Formats).
	Format string `json:"format"`
	// IKE are the IKE (phase 1) SAs, in the order listed.
	IKE []*IKESA `json:"ike"`
	// Child are the IPsec / child (phase 2) SAs, in the order listed.
	Child []*ChildSA `json:"child"`
	// IKEListed and ChildListed say whether the output holds an IKE SA
	// listing and an IPsec SA listing at all (an empty listing counts):
	// `show crypto isakmp sa` alone says nothing about IPsec SAs.
	IKEListed   bool `json:"ike_listed"`
	ChildListed bool `json:"child_listed"`
	// ListLine and ListText are the first line of the IKE SA listing (a
	// header, or the first SA), for findings about the listing as a whole.
	ListLine int    `json:"list_line,omitempty"`
	ListText string `json:"list_text,omitempty"`
	// Notes say what was seen but could not be tied to an SA.
	Notes []string `json:"notes,omitempty"`
	// Lines is the number of lines read.
	Lines int `json:"lines"`
}

// IKESA is one IKE (phase 1) SA.
type IKESA struct {
	// Name is the connection, gateway or tunnel name; empty when the
	// output does not name it (Cisco lists peers only).
	Name string `json:"name,omitempty"`
	// Local and Remote are the IKE endpoints' addresses as printed.
	Local  string `json:"local,omitempty"`
	Remote string `json:"remote,omitempty"`
	// Version is 1 or 2; 0 when not shown.
	Version int `json:"version,omitempty"`
	// State is the device's own word for it, e.g. ESTABLISHED, QM_IDLE,
	// MM_WAIT_MSG2, READY, UP.
	State string `json:"state"`
	// Up is true for an established SA; Negotiating for one stuck on the
	// way (half-open). Neither is set for a state that is going away.
	Up          bool `json:"up"`
	Negotiating bool `json:"negotiating,omitempty"`
	// Line is the 1-based line it was read from; Text is that line.
	Line int    `json:"line"`
	Text string `json:"text"`
}

// ChildSA is one IPsec (phase 2, CHILD_SA) SA pair: inbound and outbound.
type ChildSA struct {
	// Name is the child, proxy-ID or tunnel name when shown.
	Name string `json:"name,omitempty"`
	// IKE names the IKE SA it belongs to (same as IKESA.Name), when shown.
	IKE string `json:"ike,omitempty"`
	// Peer is the remote IKE/ESP endpoint, when shown.
	Peer string `json:"peer,omitempty"`
	// State is the device's word for it (INSTALLED, active, Mature …).
	State string `json:"state,omitempty"`
	// Up is true when the SA is installed with keys (an SPI each way or
	// the device says so).
	Up bool `json:"up"`
	// Mode is the encapsulation as the device prints it, when it does
	// (swanctl: TUNNEL, TUNNEL-in-UDP when NAT-T wraps ESP in UDP 4500,
	// TRANSPORT).
	Mode string `json:"mode,omitempty"`
	// Local and Remote are the traffic selectors (proxy IDs): the
	// customer's side and the cloud's side, as prefixes.
	Local  []netip.Prefix `json:"local,omitempty"`
	Remote []netip.Prefix `json:"remote,omitempty"`
	// SPIIn and SPIOut are the SPIs in hex, without 0x.
	SPIIn  string `json:"spi_in,omitempty"`
	SPIOut string `json:"spi_out,omitempty"`
	// Counters; nil when the output does not show them.
	BytesIn    *int64 `json:"bytes_in,omitempty"`
	BytesOut   *int64 `json:"bytes_out,omitempty"`
	PacketsIn  *int64 `json:"packets_in,omitempty"`
	PacketsOut *int64 `json:"packets_out,omitempty"`
	// Line is the 1-based line the SA starts at; Text is that line.
	Line int    `json:"line"`
	Text string `json:"text"`
	// InIdle and OutIdle are the seconds since the last packet came in and
	// went out, when the device says (strongSwan, FortiGate); nil otherwise.
	InIdle  *int64 `json:"in_idle_s,omitempty"`
	OutIdle *int64 `json:"out_idle_s,omitempty"`
	// CounterLine and CounterText are where the inbound counter was read
	// (0 when there is none).
	CounterLine int    `json:"counter_line,omitempty"`
	CounterText string `json:"counter_text,omitempty"`
}

// snapshot starts a later listing of the same SA, at line i: its identity
// without its counters.
func (c *ChildSA) snapshot(i int, text string) *ChildSA {
	return &ChildSA{Name: c.Name, IKE: c.IKE, Peer: c.Peer, State: c.State, Up: c.Up, Mode: c.Mode,
		Local: c.Local, Remote: c.Remote, SPIIn: c.SPIIn, SPIOut: c.SPIOut, Line: i + 1, Text: text}
}

// selector adds the traffic selector s, in any vendor's notation, to the
// local side or the remote side; what is not an address adds nothing.
func (c *ChildSA) selector(local bool, s string) {
	ps, _ := parseSelector(s)
	if local {
		c.Local = append(c.Local, ps...)
	} else {
		c.Remote = append(c.Remote, ps...)
	}
}

// counted records where a counter was read.
func (c *ChildSA) counted(i int, line string) {
	if c.CounterLine == 0 {
		c.CounterLine, c.CounterText = i+1, strings.TrimSpace(line)
	}
}

// In and Out are the traffic each way: packets when shown, else bytes;
// known is false when neither is shown.
func (c *ChildSA) In() (n int64, known bool)  { return pick(c.PacketsIn, c.BytesIn) }
func (c *ChildSA) Out() (n int64, known bool) { return pick(c.PacketsOut, c.BytesOut) }

func pick(pk, by *int64) (int64, bool) {
	switch {
	case pk != nil:
		return *pk, true
	case by != nil:
		return *by, true
	}
	return 0, false
}

// pair is a child's selectors as a comparable key.
func (c *ChildSA) pair() string {
	return prefixList(c.Local) + " <-> " + prefixList(c.Remote)
}

func prefixList(ps []netip.Prefix) string {
	var s []string
	for _, p := range ps {
		s = append(s, p.String())
	}
	if len(s) == 0 {
		return "?"
	}
	return strings.Join(s, ",")
}

func n64(v int64) *int64 { return &v }

// listedIKE records that the output lists IKE SAs, from line i on.
func (st *Status) listedIKE(i int, line string) {
	st.IKEListed = true
	if st.ListLine == 0 {
		st.ListLine, st.ListText = i+1, strings.TrimSpace(line)
	}
}
