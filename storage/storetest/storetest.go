// Package storetest is the conformance suite of the vpndiag stores: one set
// of behavioural checks of the root service interfaces (sequence
// compare-and-swap, idempotency keys, dedup, evidence chunks, markers unique
// per day, relay tokens stored by hash, …) that every backend must pass.
// storage/sqlite and storage/postgres run it from their tests; it is
// imported only by tests.
package storetest

import (
	"context"
	"testing"

	"github.com/vpndiag/vpndiag"
)

// Store is one backend's services on one empty database, plus the few raw
// hooks the checks need to look behind the interfaces.
//
// Times handed to a store are at microsecond resolution, as vpndiag.Now
// makes them; every backend gives them back unchanged. Times a store sets
// itself come from its own clock and read back equal to what it set.
type Store struct {
	// Services are the backend's services (its NewServices).
	vpndiag.Services

	// SetMaxEvidenceBytes changes the evidence size cap.
	SetMaxEvidenceBytes func(n int64)
	// Exec runs one SQL statement, without parameters, on the database.
	Exec func(ctx context.Context, sql string) error
	// QueryInt runs a query that returns one integer.
	QueryInt func(ctx context.Context, sql string) (int64, error)
	// ChunkSize is the size of one stored evidence chunk.
	ChunkSize int64
}

// Opener returns a Store on a new, empty database whose clock steps on
// every call, closed when tb ends.
type Opener func(tb testing.TB) *Store

// Run runs every check as a subtest of t, each on a store of its own.
func Run(t *testing.T, open Opener) {
	for _, tt := range []struct {
		name string
		fn   func(*testing.T, Opener)
	}{
		{"CaseService_CreateFind", testCaseService_CreateFind},
		{"CaseService_Errors", testCaseService_Errors},
		{"CaseService_Update", testCaseService_Update},
		{"CaseService_FindCases", testCaseService_FindCases},
		{"CaseService_MarkersUniquePerDay", testCaseService_MarkersUniquePerDay},
		{"DedupService_Claim", testDedupService_Claim},
		{"DedupService_ConcurrentClaims", testDedupService_ConcurrentClaims},
		{"EventService_AppendFind", testEventService_AppendFind},
		{"EventService_Concurrent", testEventService_Concurrent},
		{"EvidenceService_RoundTrip", testEvidenceService_RoundTrip},
		{"EvidenceService_Errors", testEvidenceService_Errors},
		{"EvidenceService_LargeBoundedMemory", testEvidenceService_LargeBoundedMemory},
		{"EvidenceService_DetectsDamage", testEvidenceService_DetectsDamage},
		{"EvidenceService_AttachOneTransaction", testEvidenceService_AttachOneTransaction},
		{"FindingService", testFindingService},
		{"ProbeService_Results", testProbeService_Results},
		{"ProbeService_Keepalive", testProbeService_Keepalive},
		{"ProbeService_KeepaliveCap", testProbeService_KeepaliveCap},
		{"RelayTokenService", testRelayTokenService},
		{"SessionService_CreateFind", testSessionService_CreateFind},
		{"SessionService_ApplyTransition", testSessionService_ApplyTransition},
		{"SessionService_StartSession", testSessionService_StartSession},
		{"SessionService_ConcurrentTransitions", testSessionService_ConcurrentTransitions},
		{"SiteService", testSiteService},
		{"SiteService_Channels", testSiteService_Channels},
		{"SiteService_Proposals", testSiteService_Proposals},
	} {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open) })
	}
}

// MustCreateCase stores a case with a marker derived from n.
func MustCreateCase(tb testing.TB, db *Store, n int) *vpndiag.Case {
	tb.Helper()
	c := &vpndiag.Case{
		Marker:    marker(n),
		Title:     "Tunnel is down",
		Status:    vpndiag.CaseOpen,
		Origin:    "terminal",
		CreatedBy: "alice",
	}
	if err := db.Cases.CreateCase(context.Background(), c); err != nil {
		tb.Fatal(err)
	}
	return c
}

// marker returns a valid, distinct case marker for n < 32^4.
func marker(n int) string {
	const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	b := make([]byte, 4)
	for i := 3; i >= 0; i-- {
		b[i] = alphabet[n%32]
		n /= 32
	}
	return "VPN-20261125-" + string(b)
}

// wantCode fails unless err carries code.
func wantCode(tb testing.TB, err error, code string) {
	tb.Helper()
	if got := vpndiag.ErrorCode(err); got != code {
		tb.Fatalf("error code = %q, want %q (err: %v)", got, code, err)
	}
}
