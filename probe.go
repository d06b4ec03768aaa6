package vpndiag

import (
	"context"
	"encoding/json"
	"time"
)

// ProbeKind names a probe.
type ProbeKind string

const (
	ProbeDNS        ProbeKind = "dns"        // query a chosen DNS server, or compare two
	ProbePing       ProbeKind = "ping"       // ICMP echo
	ProbeTCP        ProbeKind = "tcp"        // TCP connect, optionally TLS
	ProbeTraceroute ProbeKind = "traceroute" // TTL-limited path discovery
	ProbeIKE        ProbeKind = "ike"        // IKE_SA_INIT reachability on UDP 500/4500
	ProbeKeepalive  ProbeKind = "keepalive"  // ping every few seconds, record drops
)

// ProbeKinds lists every probe kind.
var ProbeKinds = []ProbeKind{ProbeDNS, ProbePing, ProbeTCP, ProbeTraceroute, ProbeIKE, ProbeKeepalive}

// Outcome is the verdict of a probe, which flows branch on. Probe kinds may
// add outcomes of their own (documented in package probes); these are common.
type Outcome string

const (
	OutcomeOK          Outcome = "ok"          // the target answered as expected
	OutcomeFail        Outcome = "fail"        // the target answered, but not as expected
	OutcomeTimeout     Outcome = "timeout"     // nothing answered before the deadline
	OutcomeRefused     Outcome = "refused"     // the target actively refused (TCP RST, ICMP port unreachable)
	OutcomeUnreachable Outcome = "unreachable" // no route, or an ICMP unreachable from the path
	OutcomeDenied      Outcome = "denied"      // the relay's local policy refused to run it
	OutcomeError       Outcome = "error"       // the probe could not run (permissions, bad input)
)

// ProbeRequest asks for one probe.
type ProbeRequest struct {
	// ID is the job ID; a result delivered twice for one ID is stored once.
	ID string `json:"id"`
	// CaseID is the case the probe is for; 0 for ad hoc probes.
	CaseID int64 `json:"case_id,omitempty"`
	// Kind is the probe kind.
	Kind ProbeKind `json:"kind"`
	// Target is a host name, an IP address or host:port, as the kind expects.
	Target string `json:"target"`
	// Params are kind-specific options (e.g. "type": "A", "port": "443",
	// "count": "3"), documented per kind in package probes.
	Params map[string]string `json:"params,omitempty"`
	// Timeout bounds the probe; the runner turns it into a context deadline.
	Timeout time.Duration `json:"timeout"`
	// Relay names the relay to run through; empty runs in-process (or, with
	// SiteID, on any connected relay of that site).
	Relay string `json:"relay,omitempty"`
	// SiteID, when set, is the site whose relays may run the probe: with
	// Relay empty the hub picks the least busy connected relay of the site;
	// with Relay set, that relay must serve the site.
	SiteID int64 `json:"site_id,omitempty"`
	// Purpose says why a flow asked for it, shown to the user.
	Purpose string `json:"purpose,omitempty"`
}

// ProbeResult is what a probe found.
type ProbeResult struct {
	// ID is the job ID of the request.
	ID string `json:"id"`
	// CaseID is the case the probe was for.
	CaseID int64 `json:"case_id,omitempty"`
	// Kind and Target repeat the request.
	Kind   ProbeKind `json:"kind"`
	Target string    `json:"target"`
	// Outcome is the verdict flows branch on.
	Outcome Outcome `json:"outcome"`
	// Summary is one line for people, e.g. "3/3 replies from 10.0.0.2, avg 1.2 ms".
	Summary string `json:"summary"`
	// Detail is the kind's typed result as JSON (answers, hops, replies).
	Detail json.RawMessage `json:"detail,omitempty"`
	// Error is why the probe could not run, for OutcomeError and OutcomeDenied.
	Error string `json:"error,omitempty"`
	// Relay is the relay that ran it; empty for in-process.
	Relay string `json:"relay,omitempty"`
	// StartedAt and Duration time the probe.
	StartedAt time.Time     `json:"started_at"`
	Duration  time.Duration `json:"duration_ns"`
	// Stored is set by a Prober that has already stored the result (the
	// relay hub stores a result as it arrives, before it acknowledges it to
	// the relay), so whoever it is handed to does not store it again. It is
	// never serialized: a result read back or received over a wire is not
	// known to be stored.
	Stored bool `json:"-"`
}

// Prober runs probes, in-process or through a relay. The context's deadline
// bounds the probe; an error is returned only when no result could be
// produced at all (a result with OutcomeError is preferred when the probe ran
// but could not complete).
type Prober interface {
	Probe(ctx context.Context, req *ProbeRequest) (*ProbeResult, error)
}

// KeepaliveSample is one ping of a keep-alive monitor.
type KeepaliveSample struct {
	// Monitor names the monitor (one per case and target).
	Monitor string `json:"monitor"`
	// Time is when the ping was sent.
	Time time.Time `json:"time"`
	// OK is true when a reply came back.
	OK bool `json:"ok"`
	// RTT is the round-trip time of the reply.
	RTT time.Duration `json:"rtt_ns,omitempty"`
}

// MaxKeepaliveSamplesPerCase caps the keep-alive samples stored for one
// case (about 10 MB): a monitor's longest run (7 days) at the default 5 s
// interval, or 41 hours at the shortest (1 s), so that a relay cannot fill
// the disk through one case.
const MaxKeepaliveSamplesPerCase = 125_000

// ProbeService stores probe results and keep-alive samples.
type ProbeService interface {
	// CreateProbeResult stores r; a second result with the same ID is
	// ignored (nil error), so delivery may be at-least-once.
	CreateProbeResult(ctx context.Context, r *ProbeResult) error
	// FindProbeResults returns a case's results, oldest first.
	FindProbeResults(ctx context.Context, caseID int64) ([]*ProbeResult, error)
	// AddKeepaliveSamples stores samples of a case's monitor, all or none:
	// a batch that would take the case over MaxKeepaliveSamplesPerCase is
	// refused with ETOOLARGE.
	AddKeepaliveSamples(ctx context.Context, caseID int64, samples []KeepaliveSample) error
	// FindKeepaliveSamples returns a case's samples, oldest first.
	FindKeepaliveSamples(ctx context.Context, caseID int64) ([]KeepaliveSample, error)
}
