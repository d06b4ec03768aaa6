// Package vpndiag holds the domain of the VPN diagnosis tool: cases, site
// profiles, flow sessions, answers, probes, evidence, findings and the case
// timeline, and the interfaces that the implementations in sub-packages
// provide (storage/sqlite, flows, probes, relay, bot/slack, evidence, bundle).
//
// This package imports none of the project's own packages. Dependencies point
// inward: implementations import this package, and cmd/vpndiag wires them.
package vpndiag

import "time"

// Build information, set by cmd/vpndiag at start-up (or by -ldflags).
var (
	// Version is the released version, or "dev".
	Version = "dev"
	// Commit is the VCS revision the binary was built from, when known.
	Commit = ""
)

// Clock returns the current time. Services take one so that tests can inject
// a fixed or stepping clock.
type Clock func() time.Time

// Now is the default Clock, in UTC and truncated to microseconds so that a
// value survives a round trip through storage unchanged.
func Now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
