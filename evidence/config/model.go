// Package config reads VPN device configurations of many vendors into one
// normalised model (peers, IKE version, phase 1 and phase 2 proposals and
// lifetimes, PFS, DPD, NAT-T, traffic selectors, routing, PSK), keeping for
// every value the line it came from, or saying that it is the vendor's
// built-in default. Detect tells the vendor and format from the content.
package config

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Origin says where a model value came from.
type Origin string

const (
	// FromFile values were read from a line of the file.
	FromFile Origin = "file"
	// FromDefault values are the vendor's built-in default: the setting is
	// not in the file.
	FromDefault Origin = "default"
)

// Value is a model value with where it came from. The zero Value is
// "unknown": neither in the file nor known as a default.
type Value[T any] struct {
	// V is the value.
	V T
	// Line is the 1-based line it was read from; 0 for defaults.
	Line int
	// From says whether it is from the file or a default; "" when unknown.
	From Origin
}

// Known reports whether the value is known (from the file or a default).
func (v Value[T]) Known() bool { return v.From != "" }

// MarshalJSON writes {"value": …, "line": N, "from": "file"}, durations as
// "8h0m0s" with their seconds, and null when unknown.
func (v Value[T]) MarshalJSON() ([]byte, error) {
	if !v.Known() {
		return []byte("null"), nil
	}
	out := map[string]any{"value": v.V, "from": v.From}
	if d, ok := any(v.V).(time.Duration); ok {
		out["value"] = d.String()
		out["seconds"] = int64(d / time.Second)
	}
	if v.Line > 0 {
		out["line"] = v.Line
	}
	return json.Marshal(out)
}

// String formats the value for people: "28800s (line 12)", "3600s (default)".
func (v Value[T]) String() string {
	if !v.Known() {
		return "unknown"
	}
	var s string
	switch x := any(v.V).(type) {
	case time.Duration:
		s = fmt.Sprintf("%ds", int64(x/time.Second))
	default:
		s = fmt.Sprint(x)
	}
	if v.From == FromDefault {
		return s + " (default)"
	}
	return fmt.Sprintf("%s (line %d)", s, v.Line)
}

// At returns a value read from line.
func At[T any](v T, line int) Value[T] { return Value[T]{V: v, Line: line, From: FromFile} }

// Default returns a vendor default.
func Default[T any](v T) Value[T] { return Value[T]{V: v, From: FromDefault} }

// Config is one device configuration, normalised.
type Config struct {
	// Vendor is the device family, e.g. "strongswan", "cisco-asa", "fortigate".
	Vendor string `json:"vendor"`
	// Syntax is the file format, e.g. "swanctl", "ipsec.conf", "set", "xml".
	Syntax string `json:"syntax"`
	// Tunnels are the IPsec tunnels (connections, crypto map entries,
	// phase 1 definitions) found.
	Tunnels []*Tunnel `json:"tunnels"`
	// Routing is static or bgp for the device as a whole.
	Routing Value[string] `json:"routing"`
	// Notes are what was assumed or not understood, with lines.
	Notes []Note `json:"notes,omitempty"`
	// SecretsOnly is true for a file that holds only keys (ipsec.secrets):
	// no tunnel is expected in it.
	SecretsOnly bool `json:"secrets_only,omitempty"`
	// NoTunnelReason says why a device configuration has no tunnel, when
	// the parser can tell (e.g. "only SSL VPN (AnyConnect) is configured").
	NoTunnelReason string `json:"no_tunnel_reason,omitempty"`
}

// Format returns "vendor-syntax", e.g. "strongswan-swanctl".
func (c *Config) Format() string { return c.Vendor + "-" + c.Syntax }

// Note is something the parser wants the reader to know: an assumption or
// a part of the file it did not understand.
type Note struct {
	// Line is the line it is about; 0 for the whole file.
	Line int `json:"line,omitempty"`
	// Text says what.
	Text string `json:"text"`
}

// Tunnel is one IPsec tunnel as configured on the device.
type Tunnel struct {
	// Name is the connection, crypto map entry or gateway name.
	Name string `json:"name"`
	// Line is where the tunnel's definition starts.
	Line int `json:"line"`
	// Peers are the remote gateway addresses (or names) as written.
	Peers []Value[string] `json:"peers"`
	// Local is the local gateway address or interface, when given.
	Local Value[string] `json:"local"`
	// LocalID is the IKE identity this device sends, as the file states
	// it (swanctl local id, ipsec.conf leftid, IOS/ASA crypto isakmp
	// identity hostname|key-id and IKEv2 profile identity local, Junos
	// local-identity, PAN-OS local-id, FortiGate localid, RouterOS
	// my-id); unset when the device derives it (its address, auto).
	LocalID Value[string] `json:"local_id,omitzero"`
	// RemoteID is the IKE identity this device expects from the peer
	// (swanctl remote id, ipsec.conf rightid, IOS IKEv2 profile match
	// identity remote of one peer, Junos remote-identity, PAN-OS peer-id,
	// FortiGate peerid with peertype one, RouterOS remote-id), when set.
	RemoteID Value[string] `json:"remote_id,omitzero"`
	// IKEVersion is 1 or 2; 0 in a known value means "either".
	IKEVersion Value[int] `json:"ike_version"`
	// Phase1 is the IKE SA.
	Phase1 Phase `json:"phase1"`
	// Phase2 is the IPsec / CHILD SA.
	Phase2 Phase `json:"phase2"`
	// PFS is whether phase 2 does a fresh Diffie-Hellman exchange; its
	// groups are Phase2.DHGroups.
	PFS Value[bool] `json:"pfs"`
	// DPD is dead peer detection.
	DPD DPD `json:"dpd"`
	// NATT is "enabled" (automatic), "disabled" or "forced".
	NATT Value[string] `json:"nat_t"`
	// Selectors are the traffic-selector (encryption domain, proxy ID)
	// pairs; a route-based tunnel has one any/any pair.
	Selectors []Selector `json:"selectors"`
	// RouteBased is true for VTI/tunnel-interface set-ups, false for
	// policy-based (crypto map, encryption domain) ones.
	RouteBased Value[bool] `json:"route_based"`
	// Auth is the authentication method: "psk", "pubkey", "rsasig", "eap".
	Auth Value[string] `json:"auth"`
	// PSK is whether a pre-shared key is configured for the tunnel in
	// this file (unknown when the key lives in another file).
	PSK Value[bool] `json:"psk"`
	// IdleTimeout is how long without traffic before the device closes
	// the tunnel (strongSwan inactivity, FortiGate idle-timeoutinterval,
	// ASA vpn-idle-timeout); unknown or 0 when it never does.
	IdleTimeout Value[time.Duration] `json:"idle_timeout"`
	// KeepAlive is whether the device keeps the tunnel up by itself
	// (FortiGate phase 2 keepalive or auto-negotiate, ASA/IOS SLA
	// monitor), so that an idle close is re-opened from the customer side.
	KeepAlive Value[bool] `json:"keep_alive"`
}

// Phase is one negotiation phase.
type Phase struct {
	// Proposals are the algorithm proposals as written, e.g. "aes256-sha1".
	Proposals []Value[string] `json:"proposals,omitempty"`
	// DHGroups are the Diffie-Hellman groups by IANA number.
	DHGroups []Value[int] `json:"dh_groups,omitempty"`
	// Lifetime is the hard lifetime: when the SA expires and is deleted,
	// which is what the cloud's lifetime is compared with. Most vendors
	// configure only this (Cisco, FortiGate keylife, Juniper, PAN-OS,
	// ipsec.conf lifetime/ikelifetime) and renew some time before it.
	Lifetime Value[time.Duration] `json:"lifetime"`
	// Rekey is when this device starts renewing the SA, where the vendor
	// sets it apart from the hard lifetime: strongSwan swanctl rekey_time
	// (or reauth_time), ipsec.conf/libreswan lifetime minus margintime
	// (the latest moment; rekeyfuzz makes it earlier).
	Rekey Value[time.Duration] `json:"rekey"`
	// LifetimeKB is the volume lifetime in kilobytes, when set.
	LifetimeKB Value[int64] `json:"lifetime_kb"`
}

// DPD is dead peer detection.
type DPD struct {
	// Enabled is whether DPD (or keep-alive / liveness) runs.
	Enabled Value[bool] `json:"enabled"`
	// Interval is the delay between checks.
	Interval Value[time.Duration] `json:"interval"`
	// Retries is how many unanswered checks declare the peer dead.
	Retries Value[int] `json:"retries"`
	// Action is what happens then, e.g. "restart", "clear".
	Action Value[string] `json:"action"`
}

// Selector is one traffic-selector pair.
type Selector struct {
	// Local and Remote are CIDRs, "any", or names as written.
	Local  string `json:"local"`
	Remote string `json:"remote"`
	// Line is where the pair was defined.
	Line int `json:"line"`
}

// String formats the pair as "local <=> remote".
func (s Selector) String() string { return s.Local + " <=> " + s.Remote }

// Summary describes the config in a few lines, for people and golden files.
func (c *Config) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "format: %s\n", c.Format())
	fmt.Fprintf(&b, "routing: %s\n", c.Routing)
	for _, t := range c.Tunnels {
		fmt.Fprintf(&b, "tunnel %q (line %d)\n", t.Name, t.Line)
		var peers []string
		for _, p := range t.Peers {
			peers = append(peers, p.String())
		}
		fmt.Fprintf(&b, "  peers: %s\n", strings.Join(peers, ", "))
		fmt.Fprintf(&b, "  ike version: %s\n", t.IKEVersion)
		if t.LocalID.Known() || t.RemoteID.Known() {
			fmt.Fprintf(&b, "  identities: local %s; remote %s\n", t.LocalID, t.RemoteID)
		}
		for _, ph := range []struct {
			name string
			p    Phase
		}{{"phase1", t.Phase1}, {"phase2", t.Phase2}} {
			var props []string
			for _, p := range ph.p.Proposals {
				props = append(props, p.V)
			}
			var groups []string
			for _, g := range ph.p.DHGroups {
				groups = append(groups, fmt.Sprint(g.V))
			}
			fmt.Fprintf(&b, "  %s: lifetime %s", ph.name, ph.p.Lifetime)
			if ph.p.Rekey.Known() {
				fmt.Fprintf(&b, ", rekey %s", ph.p.Rekey)
			}
			if ph.p.LifetimeKB.Known() {
				fmt.Fprintf(&b, ", %s KB", ph.p.LifetimeKB)
			}
			fmt.Fprintf(&b, "; proposals [%s]; dh [%s]\n", strings.Join(props, " "), strings.Join(groups, " "))
		}
		fmt.Fprintf(&b, "  pfs: %s\n", t.PFS)
		fmt.Fprintf(&b, "  dpd: %s interval %s retries %s action %s\n", t.DPD.Enabled, t.DPD.Interval, t.DPD.Retries, t.DPD.Action)
		fmt.Fprintf(&b, "  nat-t: %s\n", t.NATT)
		fmt.Fprintf(&b, "  route-based: %s\n", t.RouteBased)
		fmt.Fprintf(&b, "  auth: %s; psk: %s\n", t.Auth, t.PSK)
		if t.IdleTimeout.Known() || t.KeepAlive.Known() {
			fmt.Fprintf(&b, "  idle timeout: %s; keep-alive: %s\n", t.IdleTimeout, t.KeepAlive)
		}
		for _, s := range t.Selectors {
			fmt.Fprintf(&b, "  selector: %s (line %d)\n", s, s.Line)
		}
	}
	for _, n := range c.Notes {
		fmt.Fprintf(&b, "note: line %d: %s\n", n.Line, n.Text)
	}
	return b.String()
}

// note adds a note.
func (c *Config) note(line int, format string, args ...any) {
	n := Note{Line: line, Text: fmt.Sprintf(format, args...)}
	for _, o := range c.Notes {
		if o == n {
			return
		}
	}
	c.Notes = append(c.Notes, n)
}
