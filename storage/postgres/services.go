package postgres

import "github.com/vpndiag/vpndiag"

// NewServices returns every service on db.
func NewServices(db *DB) vpndiag.Services {
	return vpndiag.Services{
		Cases: NewCaseService(db), Sessions: NewSessionService(db), Events: NewEventService(db),
		Evidence: NewEvidenceService(db), Findings: NewFindingService(db), Probes: NewProbeService(db),
		RelayTokens: NewRelayTokenService(db), Sites: NewSiteService(db), Dedup: NewDedupService(db),
	}
}
