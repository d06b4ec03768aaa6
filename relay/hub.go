package relay

import (
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/internal/listen"
)

// DefaultHeartbeat is how often each side sends a heartbeat; a link silent
// for DeadAfter(DefaultHeartbeat) is declared dead.
const DefaultHeartbeat = 2 * time.Second

// jobMemory is how long the hub remembers a finished job, so that a result
// delivered again (after a reconnect) is recognised and stored once.
const jobMemory = time.Hour

// Hub is the bot's side of the relays: an http.Handler for the endpoint
// relays dial into, a registry of which relay is connected for which site,
// and a vpndiag.Prober that runs a probe on the relay named in the
// request and awaits its result.
type Hub struct {
	// Tokens authenticates relays. Required.
	Tokens vpndiag.RelayTokenService
	// Results stores results and keep-alive samples; nil stores nothing.
	Results vpndiag.ProbeService
	// Sites names the site of each relay in its status; nil shows site IDs
	// only. Requests are routed by site ID (ProbeRequest.SiteID).
	Sites vpndiag.SiteService
	// Cases, when set, also checks that a keep-alive sample's case is of
	// the relay's site (samples are accepted only for monitors this hub
	// started on that relay in any case).
	Cases vpndiag.CaseService
	// Logger receives connection events and internal detail; nil discards.
	Logger *slog.Logger
	// Heartbeat is the hub's heartbeat interval; 0 means DefaultHeartbeat.
	Heartbeat time.Duration
	// Now is the clock; nil means vpndiag.Now.
	Now vpndiag.Clock
	// Refusals, when set, counts and logs (rate-limited) every refused
	// connection attempt; nil logs each at Warn through Logger.
	Refusals Refuser
	// RelayRate and RelayBurst limit each relay's results and sample
	// batches per second; 0 means RelayMessagesPerSecond and
	// RelayMessageBurst. RelayByteRate limits their volume in bytes per
	// second; 0 means RelayBytesPerSecond. A site whose relay runs many
	// probes at once (a big site, a sweep of many targets, a benchmark)
	// may need them raised; `vpndiag serve` sets them from the hub section
	// of its config (relay_messages_per_second, relay_message_burst,
	// relay_bytes_per_second).
	RelayRate, RelayBurst, RelayByteRate int
	// MonitorLifetime, when set, is how long every keep-alive monitor the
	// hub started runs before the hub stops it; 0 means the monitor's
	// duration parameter (default DefaultMonitorLifetime) and a minute.
	MonitorLifetime time.Duration

	// Monitors shares the keep-alive monitors this hub starts with the
	// other replicas of the bot (see MonitorStore); nil keeps them here.
	Monitors MonitorStore

	mu       sync.Mutex
	relays   map[string]*relayState // by relay name
	jobs     map[string]*job        // by wire job ID
	batches  map[string]time.Time   // stored sample batches, "relay/batch"
	monitors map[monitorKey]*monitor
	closed   bool
	// monitorQueue holds MonitorStore writes in order; monitorWriting is
	// set while a goroutine drains it.
	monitorQueue   []monitorWrite
	monitorWriting bool
	drops          listen.RateLog // dropped results and samples, logged rate-limited
}

// relayState is what the hub knows of one relay, connected or not.
type relayState struct {
	conn *conn // nil when offline
	// since is when it connected (conn != nil) or disconnected.
	since  time.Time
	siteID int64
	site   string
	hello  Hello
	reason string // why it last disconnected
}

// job is a probe sent to a relay.
type job struct {
	// req is the request as sent, with the hub's wire job ID.
	req vpndiag.ProbeRequest
	// ref is the caller's ID of the request, under which the result is
	// stored and returned (the wire ID when the caller gave none).
	ref    string
	relay  string
	conn   *conn
	result chan *vpndiag.ProbeResult // buffered 1; receives the first result
	stored bool
	done   time.Time // when the result came; zero while pending
}

var _ vpndiag.Prober = (*Hub)(nil)
var _ http.Handler = (*Hub)(nil)

func (h *Hub) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return vpndiag.Now()
}

func (h *Hub) log() *slog.Logger {
	if h.Logger != nil {
		return h.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func (h *Hub) heartbeat() time.Duration {
	if h.Heartbeat > 0 {
		return h.Heartbeat
	}
	return DefaultHeartbeat
}

func (h *Hub) init() {
	if h.relays == nil {
		h.relays = map[string]*relayState{}
		h.jobs = map[string]*job{}
		h.batches = map[string]time.Time{}
		h.monitors = map[monitorKey]*monitor{}
	}
}

// dropped logs (rate-limited) a result or sample batch the hub refused.
func (h *Hub) dropped(msg string, args ...any) {
	h.mu.Lock()
	if h.drops.Log == nil {
		h.drops.Log = h.log()
	}
	h.mu.Unlock()
	h.drops.Warn(msg, args...)
}
