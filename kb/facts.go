// Package kb is the knowledge base: one Markdown article per topic of the
// troubleshooting guide, written in our own words, and the guide's facts as
// typed values that flows and analysers use instead of literals.
package kb

import "time"

// The guide's requirements and rules of thumb.
const (
	// IKELifetime is the required phase 1 (IKE SA) lifetime: 28800 s, 8 hours.
	IKELifetime = 28800 * time.Second
	// ChildSALifetime is the required phase 2 (IPsec/child SA) lifetime: 3600 s.
	ChildSALifetime = 3600 * time.Second
	// IKEv2HourlyDropWorkaround is the phase 2 lifetime that avoids the
	// IKEv2 tunnel drop every 60 minutes: 51 minutes.
	IKEv2HourlyDropWorkaround = 51 * time.Minute
	// KeepaliveInterval is how often to ping a cloud DNS server to keep the
	// responder-only tunnel up: every 5 seconds.
	KeepaliveInterval = 5 * time.Second
	// DPDMissedReplies is how many DPD requests in a row may go unanswered
	// before the cloud declares the customer's peer dead and closes the tunnel.
	DPDMissedReplies = 3
	// MaxSAPairs is how many inbound/outbound SA pairs the cloud supports.
	MaxSAPairs = 1
	// SelfServiceRoutingVersion is the management console version from which
	// static VPN routes can be changed self-service.
	SelfServiceRoutingVersion = "11.7.0"
)

// Ports and protocols.
const (
	DNSPort     = 53  // UDP and TCP, to the cloud DNS servers
	IKEPort     = 500 // UDP, IKE
	NATTPort    = 4500
	ESPProtocol = 50 // IP protocol number of ESP
	HTTPSPort   = 443
	HTTPPort    = 80
)

// Finding codes, shared by the evidence analysers, the probes' findings and
// the flows that branch on them. They are stable: support searches for them.
const (
	CodePhase1Lifetime     = "phase1-lifetime"      // IKE lifetime is not 28800 s
	CodePhase2Lifetime     = "phase2-lifetime"      // child SA lifetime is not 3600 s (or 51 min)
	CodeIKEv2HourlyDrop    = "ikev2-hourly-drop"    // IKEv2 with a 60-minute child lifetime and drops every hour
	CodePFSDisabled        = "pfs-disabled"         // phase 2 without PFS
	CodeMultipleSAPairs    = "multiple-sa-pairs"    // more than one traffic-selector / SA pair
	CodeDPDDisabled        = "dpd-disabled"         // dead peer detection off
	CodeNATTraversal       = "nat-traversal"        // NAT-T expectations (UDP 4500, forced encapsulation)
	CodePeerMismatch       = "peer-mismatch"        // peer address not a cloud VPN endpoint of the site
	CodeNoPSK              = "no-psk"               // no pre-shared key configured
	CodeIKEVersionMismatch = "ike-version-mismatch" // device IKE version differs from the site's
	CodeAuthFailed         = "auth-failed"          // authentication failed / PSK mismatch
	CodeIDMismatch         = "id-mismatch"          // IKE identity sent or expected is not the one the other end uses
	CodePhase1NoProposal   = "phase1-no-proposal"   // NO_PROPOSAL_CHOSEN in IKE_SA_INIT / main mode
	CodePhase2NoProposal   = "phase2-no-proposal"   // NO_PROPOSAL_CHOSEN for the child SA / quick mode
	CodeTSUnacceptable     = "ts-unacceptable"      // TS_UNACCEPTABLE / proxy identities not matching
	CodeDPDPeerDead        = "dpd-peer-dead"        // DPD declared the peer dead
	CodeIKENoResponse      = "ike-no-response"      // IKE retransmits with no answer: UDP 500/4500 blocked or peer unreachable
	CodeRekeyFailed        = "rekey-failed"         // rekeying failed
	CodePeriodicDrop       = "periodic-drop"        // drops at a regular interval
	CodeUnknownFormat      = "unknown-format"       // the file was not understood
	CodeNoVPNConfig        = "no-vpn-config"        // a config with no VPN in it
)

// Finding codes of SA status output (swanctl --list-sas, show crypto ipsec
// sa, diagnose vpn tunnel list …): what the device says about its live SAs.
const (
	CodeSANoChild           = "sa-no-child"           // IKE SA up, no IPsec/child SA: phase 2 failing
	CodeSANoInbound         = "sa-no-inbound"         // IPsec SA sends but receives nothing: ESP lost on the way back or the cloud not answering
	CodeSANoOutbound        = "sa-no-outbound"        // IPsec SA receives but sends nothing back: route, NAT exemption or policy on the customer's side
	CodeSAHalfOpen          = "sa-half-open"          // IKE SA stuck negotiating (connecting, MM_WAIT, half-open)
	CodeSANone              = "sa-none"               // no IKE SA and no IPsec SA at all: the tunnel is down
	CodeSASelectorsMismatch = "sa-selectors-mismatch" // SA traffic selectors other than the site's ranges
	CodeSAMultiplePairs     = "sa-multiple-pairs"     // more than one IPsec SA pair to the cloud
	CodeSAHealthy           = "sa-healthy"            // info: IPsec SA up with traffic both ways
)

// Finding codes of the log analysers for what the vendors' message
// catalogues name beyond the failures above (idle-close, below, too).
const (
	CodeIKEHalfOpen = "ike-half-open" // the two ends disagree on an SA: the peer retransmits requests already answered, or uses SAs this side deleted
)

// Finding codes of the configuration rules on proposals and idle close.
const (
	CodePhase1Proposal = "phase1-proposal" // IKE cipher, integrity or DH group outside the cloud's accepted set
	CodePhase2Proposal = "phase2-proposal" // ESP cipher, integrity or PFS group outside the cloud's accepted set
	CodeIdleClose      = "idle-close"      // the device closes an idle tunnel and nothing brings it back up
)

// CryptoSet is what the cloud accepts in one phase: ciphers and integrity
// algorithms by their normalised names (as evidence/config.Algorithms
// writes them) and Diffie-Hellman groups by IANA number.
type CryptoSet struct {
	Encryption []string
	Integrity  []string
	DHGroups   []int
}

// The cloud's accepted proposals, used when a site profile does not list
// its own. The cloud is a responder that accepts what the customer
// proposes within this set: AES-128/256 in CBC or GCM (16-byte ICV) mode
// and SHA-1 or SHA-2 integrity, with the 2048-bit MODP group (14) both for
// the IKE SA and as the PFS group of the IPsec SA: the group its VPN
// configuration file names, and the only one the reference cloud of the
// lab (lab/) accepts. Other groups (1, 2, 5, ecp256, x25519, modp3072 …),
// 3DES and MD5 get NO_PROPOSAL_CHOSEN. A site whose cloud accepts more
// (e.g. an AWS virtual private gateway's groups 2 and 14-24) lists them in
// its profile (phase1/phase2 dh_groups).
var (
	CloudPhase1 = CryptoSet{
		Encryption: []string{"aes128", "aes256", "aes128gcm16", "aes256gcm16"},
		Integrity:  []string{"sha1", "sha256", "sha384", "sha512"},
		DHGroups:   []int{14},
	}
	CloudPhase2 = CryptoSet{
		Encryption: []string{"aes128", "aes256", "aes128gcm16", "aes256gcm16"},
		Integrity:  []string{"sha1", "sha256", "sha384", "sha512"},
		DHGroups:   []int{14},
	}
)

// Article slugs. Every resolution cites one; each has kb/articles/SLUG.md.
const (
	ArticleDNSForwarder          = "dns-conditional-forwarder"
	ArticleCloudResolvesInternal = "cloud-resolves-internal-domain"
	ArticleDatabasePrivateIP     = "database-private-ip"
	ArticleResponderOnly         = "responder-only-keepalive"
	ArticleSingleSAPair          = "single-sa-pair"
	ArticleAsymmetricRouting     = "two-tunnels-asymmetric-routing"
	ArticleDPDIdle               = "dpd-idle-timeouts"
	ArticleIKEv2HourlyDrop       = "ikev2-hourly-drop"
	ArticleICMPOnlyDNS           = "icmp-only-dns"
	ArticleConnectivityTest1     = "connectivity-test-ping-traceroute"
	ArticleConnectivityTest2     = "connectivity-test-tcp-dns"
	ArticlePingCloudDNS          = "ping-cloud-dns"
	ArticleExternalDatabase      = "external-database-firewall"
	ArticleInternalNetwork       = "connect-from-internal-network"
	ArticleFullInternalRange     = "full-internal-range"
	ArticleFrontEndIPs           = "front-end-private-ips"
	ArticlePhase1                = "phase1-ike-failure"
	ArticlePhase2                = "phase2-ipsec-failure"
	ArticleResetTunnels          = "reset-tunnels"
	ArticleConfigFile            = "configuration-file"
	ArticleInternalRangeChanged  = "internal-range-changed"
	ArticleFurtherAssistance     = "further-assistance"
)

// Codes lists every finding code above, so that flows can check at load
// that a rule names a code that exists.
var Codes = []string{
	CodePhase1Lifetime, CodePhase2Lifetime, CodeIKEv2HourlyDrop, CodePFSDisabled,
	CodeMultipleSAPairs, CodeDPDDisabled, CodeNATTraversal, CodePeerMismatch,
	CodeNoPSK, CodeIKEVersionMismatch, CodeAuthFailed, CodeIDMismatch, CodePhase1NoProposal,
	CodePhase2NoProposal, CodeTSUnacceptable, CodeDPDPeerDead, CodeIKENoResponse,
	CodeRekeyFailed, CodePeriodicDrop, CodeUnknownFormat, CodeNoVPNConfig,
	CodeSANoChild, CodeSANoInbound, CodeSANoOutbound, CodeSAHalfOpen, CodeSASelectorsMismatch,
	CodeSAMultiplePairs, CodeSAHealthy, CodeSANone,
	CodePhase1Proposal, CodePhase2Proposal, CodeIdleClose, CodeIKEHalfOpen,
}

// Slugs lists every article slug above, in the order of the guide.
var Slugs = []string{
	ArticleDNSForwarder, ArticleCloudResolvesInternal, ArticleDatabasePrivateIP,
	ArticleResponderOnly, ArticleSingleSAPair, ArticleAsymmetricRouting,
	ArticleDPDIdle, ArticleIKEv2HourlyDrop, ArticleICMPOnlyDNS,
	ArticleConnectivityTest1, ArticleConnectivityTest2, ArticlePingCloudDNS,
	ArticleExternalDatabase, ArticleInternalNetwork, ArticleFullInternalRange,
	ArticleFrontEndIPs, ArticlePhase1, ArticlePhase2, ArticleResetTunnels,
	ArticleConfigFile, ArticleInternalRangeChanged, ArticleFurtherAssistance,
}
