package vpndiag

// Services is every service of one database, as a storage backend opens
// them (storage/sqlite.NewServices, storage/postgres.NewServices) and as
// cmd/vpndiag hands them to the flows, the bot, the relay hub and the bundle.
type Services struct {
	Cases       CaseService
	Sessions    SessionService
	Events      EventService
	Evidence    EvidenceService
	Findings    FindingService
	Probes      ProbeService
	RelayTokens RelayTokenService
	Sites       SiteService
	Dedup       DedupService
}
