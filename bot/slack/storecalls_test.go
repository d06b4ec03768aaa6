package slack_test

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag"
	botslack "github.com/vpndiag/vpndiag/bot/slack"
	"github.com/vpndiag/vpndiag/flows"
	"github.com/vpndiag/vpndiag/probes"
	"github.com/vpndiag/vpndiag/relay"
	"github.com/vpndiag/vpndiag/relay/agent"
	"github.com/vpndiag/vpndiag/relay/policy"
	"github.com/vpndiag/vpndiag/storage/sqlite"
)

// storeCalls counts the calls on the storage services, by method.
type storeCalls struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *storeCalls) add(method string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[method]++
}

// take returns the counts so far and starts again from zero.
func (c *storeCalls) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.n
	c.n = nil
	return n
}

// line says counts as "total (Method n, …)", methods sorted.
func line(counts map[string]int) string {
	total, parts := 0, []string{}
	for _, m := range slices.Sorted(maps.Keys(counts)) {
		total += counts[m]
		parts = append(parts, fmt.Sprintf("%s %d", m, counts[m]))
	}
	return fmt.Sprintf("%d (%s)", total, strings.Join(parts, ", "))
}

type countingCases struct {
	vpndiag.CaseService
	c *storeCalls
}

func (s countingCases) FindCaseByID(ctx context.Context, id int64) (*vpndiag.Case, error) {
	s.c.add("FindCaseByID")
	return s.CaseService.FindCaseByID(ctx, id)
}

func (s countingCases) FindCaseByMarker(ctx context.Context, marker string) (*vpndiag.Case, error) {
	s.c.add("FindCaseByMarker")
	return s.CaseService.FindCaseByMarker(ctx, marker)
}

func (s countingCases) FindCases(ctx context.Context, f vpndiag.CaseFilter) ([]*vpndiag.Case, int, error) {
	s.c.add("FindCases")
	return s.CaseService.FindCases(ctx, f)
}

func (s countingCases) CreateCase(ctx context.Context, cs *vpndiag.Case) error {
	s.c.add("CreateCase")
	return s.CaseService.CreateCase(ctx, cs)
}

func (s countingCases) UpdateCase(ctx context.Context, id int64, upd vpndiag.CaseUpdate) (*vpndiag.Case, error) {
	s.c.add("UpdateCase")
	return s.CaseService.UpdateCase(ctx, id, upd)
}

type countingSessions struct {
	vpndiag.SessionService
	c *storeCalls
}

func (s countingSessions) FindSession(ctx context.Context, caseID int64) (*vpndiag.Session, error) {
	s.c.add("FindSession")
	return s.SessionService.FindSession(ctx, caseID)
}

func (s countingSessions) CreateSession(ctx context.Context, sess *vpndiag.Session) error {
	s.c.add("CreateSession")
	return s.SessionService.CreateSession(ctx, sess)
}

func (s countingSessions) StartSession(ctx context.Context, sess *vpndiag.Session, events []*vpndiag.Event, upd *vpndiag.CaseUpdate) error {
	s.c.add("StartSession")
	return s.SessionService.StartSession(ctx, sess, events, upd)
}

func (s countingSessions) ApplyTransition(ctx context.Context, t *vpndiag.Transition) error {
	s.c.add("ApplyTransition")
	return s.SessionService.ApplyTransition(ctx, t)
}

func (s countingSessions) FindAnswers(ctx context.Context, caseID int64) ([]*vpndiag.Answer, error) {
	s.c.add("FindAnswers")
	return s.SessionService.FindAnswers(ctx, caseID)
}

type countingEvents struct {
	vpndiag.EventService
	c *storeCalls
}

func (s countingEvents) AppendEvent(ctx context.Context, e *vpndiag.Event) error {
	s.c.add("AppendEvent")
	return s.EventService.AppendEvent(ctx, e)
}

func (s countingEvents) FindEvents(ctx context.Context, caseID int64) ([]*vpndiag.Event, error) {
	s.c.add("FindEvents")
	return s.EventService.FindEvents(ctx, caseID)
}

type countingSites struct {
	vpndiag.SiteService
	c *storeCalls
}

func (s countingSites) FindSiteByID(ctx context.Context, id int64) (*vpndiag.Site, error) {
	s.c.add("FindSiteByID")
	return s.SiteService.FindSiteByID(ctx, id)
}

func (s countingSites) FindSiteByName(ctx context.Context, name string) (*vpndiag.Site, error) {
	s.c.add("FindSiteByName")
	return s.SiteService.FindSiteByName(ctx, name)
}

func (s countingSites) FindSites(ctx context.Context) ([]*vpndiag.Site, error) {
	s.c.add("FindSites")
	return s.SiteService.FindSites(ctx)
}

func (s countingSites) UpsertSite(ctx context.Context, site *vpndiag.Site) error {
	s.c.add("UpsertSite")
	return s.SiteService.UpsertSite(ctx, site)
}

type countingFindings struct {
	vpndiag.FindingService
	c *storeCalls
}

func (s countingFindings) CreateFindings(ctx context.Context, caseID int64, fs []*vpndiag.Finding) error {
	s.c.add("CreateFindings")
	return s.FindingService.CreateFindings(ctx, caseID, fs)
}

func (s countingFindings) FindFindings(ctx context.Context, caseID int64) ([]*vpndiag.Finding, error) {
	s.c.add("FindFindings")
	return s.FindingService.FindFindings(ctx, caseID)
}

type countingProbes struct {
	vpndiag.ProbeService
	c *storeCalls
}

func (s countingProbes) CreateProbeResult(ctx context.Context, r *vpndiag.ProbeResult) error {
	s.c.add("CreateProbeResult")
	return s.ProbeService.CreateProbeResult(ctx, r)
}

func (s countingProbes) FindProbeResults(ctx context.Context, caseID int64) ([]*vpndiag.ProbeResult, error) {
	s.c.add("FindProbeResults")
	return s.ProbeService.FindProbeResults(ctx, caseID)
}

func (s countingProbes) AddKeepaliveSamples(ctx context.Context, caseID int64, samples []vpndiag.KeepaliveSample) error {
	s.c.add("AddKeepaliveSamples")
	return s.ProbeService.AddKeepaliveSamples(ctx, caseID, samples)
}

func (s countingProbes) FindKeepaliveSamples(ctx context.Context, caseID int64) ([]vpndiag.KeepaliveSample, error) {
	s.c.add("FindKeepaliveSamples")
	return s.ProbeService.FindKeepaliveSamples(ctx, caseID)
}

type countingDedupCalls struct {
	vpndiag.DedupService
	c *storeCalls
}

func (s countingDedupCalls) Claim(ctx context.Context, key string) (bool, error) {
	s.c.add("Claim")
	return s.DedupService.Claim(ctx, key)
}

// countedHarness is a harness whose engine, bot and (with relayed) relay
// hub reach the store through counting wrappers: the probe step's probes
// run on a relay connected to the hub over HTTPS on loopback, or, without
// relayed, in the bot's process (probes.Local).
func countedHarness(t *testing.T, relayed bool) (*Harness, *storeCalls) {
	t.Helper()
	calls := &storeCalls{}
	var hub *relay.Hub
	h := mustHarnessWith(t, "flows", func(h *Harness, svc *flows.Services) {
		if err := h.Sites.UpsertSite(context.Background(), &vpndiag.Site{Name: "hq", Channels: []string{"C1"}, CloudDNSServers: []netip.Addr{netip.MustParseAddr("10.20.0.2")}}); err != nil {
			t.Fatal(err)
		}
		svc.Cases = countingCases{svc.Cases, calls}
		svc.Sessions = countingSessions{svc.Sessions, calls}
		svc.Events = countingEvents{svc.Events, calls}
		svc.Sites = countingSites{svc.Sites, calls}
		svc.Findings = countingFindings{svc.Findings, calls}
		svc.Probes = countingProbes{svc.Probes, calls}
		if relayed {
			hub = &relay.Hub{Tokens: sqlite.NewRelayTokenService(h.DB), Results: countingProbes{sqlite.NewProbeService(h.DB), calls},
				Sites: countingSites{h.Sites, calls}, Cases: countingCases{h.Cases, calls}, Heartbeat: 200 * time.Millisecond}
		}
	}, func(_ *botslack.Config, d *botslack.Deps) {
		d.Cases = countingCases{d.Cases, calls}
		d.Sites = countingSites{d.Sites, calls}
		d.Events = countingEvents{d.Events, calls}
		d.Findings = countingFindings{d.Findings, calls}
		d.Dedup = countingDedupCalls{d.Dedup, calls}
		if relayed {
			d.Prober = hub
		} else {
			d.Prober = &probes.Local{}
		}
	})
	if relayed {
		startRelay(t, h, hub)
	}
	return h, calls
}

// startRelay enrols relay "hq-1" for site hq and runs it against hub.
func startRelay(t *testing.T, h *Harness, hub *relay.Hub) {
	t.Helper()
	ctx := context.Background()
	site, err := h.Sites.FindSiteByName(ctx, "hq")
	if err != nil {
		t.Fatal(err)
	}
	token, hash, prefix := relay.NewToken()
	if err := sqlite.NewRelayTokenService(h.DB).CreateRelayToken(ctx, &vpndiag.RelayToken{Name: "hq-1", SiteID: site.ID, Hash: hash, Prefix: prefix}); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(relay.Path, hub)
	srv := httptest.NewTLSServer(mux)
	p, err := policy.Parse([]byte("kinds: [tcp]\ncidrs: [127.0.0.0/8]\nmax_concurrent: 8\nrate_limit: {probes: 1000, per: 1s}\n"))
	if err != nil {
		t.Fatal(err)
	}
	connected := make(chan struct{}, 4)
	a := &agent.Agent{Hub: srv.URL, Token: token, Guard: policy.NewGuard(p, &probes.Local{}), HTTPClient: srv.Client(),
		Heartbeat: 200 * time.Millisecond, MinBackoff: 50 * time.Millisecond, MaxBackoff: time.Second,
		OnConnect: func(string, string) { connected <- struct{}{} }}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = a.Run(runCtx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		_ = hub.Close()
		srv.Close()
	})
	select {
	case <-connected:
	case <-time.After(10 * time.Second):
		t.Fatal("the relay did not connect within 10 s")
	}
}

// TestStoreCallsPerClick: the answer that leads into a probe step (the
// port typed in its modal) runs the probes, and each probe result is
// stored once, whether a relay ran the probe (the hub stores it before it
// acknowledges it to the relay; the engine does not store it again) or the
// bot's own process did (the engine stores it). The log line gives every
// store call of that one interaction, by method.
func TestStoreCallsPerClick(t *testing.T) {
	for _, tt := range []struct {
		name    string
		relayed bool
	}{{"relay", true}, {"local", false}} {
		t.Run(tt.name, func(t *testing.T) {
			h, calls := countedHarness(t, tt.relayed)
			cs := walkToPort(t, h, "U1", "C1")
			if cs.SiteID == 0 {
				t.Fatal("the case has no site; the relay cannot be chosen by site")
			}
			h.Settle()
			calls.take()
			if r := h.Interaction(h.SubmitPayload("U1", 1, "443")); r.Status != 200 || r.Body != "" {
				t.Fatalf("port: %d %s", r.Status, r.Body)
			}
			msgs := h.WaitMessages("C1", 6)
			h.Settle()
			if !strings.Contains(msgs[4].Text, "— results") || !strings.Contains(msgs[5].Text, "Upload your VPN device configuration") {
				t.Fatalf("after the probes: %q, %q", msgs[4].Text, msgs[5].Text)
			}
			got := calls.take()
			t.Logf("store calls for the interaction that runs one probe (%s): %s", tt.name, line(got))
			if got["CreateProbeResult"] != 1 {
				t.Errorf("CreateProbeResult called %d times for one probe; want 1", got["CreateProbeResult"])
			}
			rs, err := sqlite.NewProbeService(h.DB).FindProbeResults(context.Background(), cs.ID)
			if err != nil {
				t.Fatal(err)
			}
			want := ""
			if tt.relayed {
				want = "hq-1"
			}
			if len(rs) != 1 || rs[0].Relay != want || rs[0].Kind != vpndiag.ProbeTCP {
				t.Fatalf("stored results %+v; want one tcp result run by %q", rs, want)
			}
		})
	}
}

// writes are the methods of the storage services that write.
var writes = []string{"CreateCase", "UpdateCase", "CreateSession", "StartSession", "ApplyTransition", "AppendEvent", "UpsertSite",
	"CreateFindings", "CreateProbeResult", "AddKeepaliveSamples", "Claim"}

// TestStoreCallsPerChoiceClick: a click on a choice writes once, the
// transition (its idempotency key is the delivery's claim).
func TestStoreCallsPerChoiceClick(t *testing.T) {
	h, calls := countedHarness(t, false)
	cs, first := mustStart(t, h, "U1", "C1")
	calls.take()
	if r := h.Interaction(h.ClickPayload("U1", "C1", cs.ThreadTS, first.TS, buttonOf(t, first, "tunnel_down"))); r.Status != 200 {
		t.Fatalf("click: %d", r.Status)
	}
	h.WaitMessages("C1", 3)
	h.Settle()
	got := calls.take()
	t.Logf("store calls for one choice click: %s", line(got))
	n := 0
	for _, m := range writes {
		n += got[m]
	}
	if n != 1 || got["ApplyTransition"] != 1 {
		t.Errorf("%d writes for one choice click (%s); want 1, the transition", n, line(got))
	}
}
