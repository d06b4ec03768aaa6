package relay_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/relay"
)

// fakeBackplane records the requests forwarded to other replicas.
type fakeBackplane struct {
	mu  sync.Mutex
	got []*vpndiag.ProbeRequest
}

func (b *fakeBackplane) Forward(_ context.Context, req *vpndiag.ProbeRequest) (*vpndiag.ProbeResult, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.got = append(b.got, req)
	return &vpndiag.ProbeResult{ID: req.ID, Kind: req.Kind, Relay: "elsewhere", Outcome: vpndiag.OutcomeOK}, nil
}

func (b *fakeBackplane) forwarded() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.got)
}

// A replica runs a probe on its own hub when that hub holds a link that can
// run it (the relay named, or one of the site), and hands it to the
// backplane otherwise; without a backplane, or for a request that names
// neither relay nor site, the hub answers itself.
func TestReplicatedRoutes(t *testing.T) {
	e := newHubEnv(t)
	ws := e.dial(e.enrol("hq-1", 0))
	answer(t, ws, nil)
	e.enrol("branch-1", 1) // enrolled, linked to another replica
	if held := e.hub.Held(); len(held) != 1 || held["hq-1"] != e.sites[0].ID {
		t.Fatalf("Held() = %v, want hq-1 of site %d", held, e.sites[0].ID)
	}
	for _, tt := range []struct {
		name      string
		req       vpndiag.ProbeRequest
		backplane bool
		want      string // the relay that answered; "" for an error from the hub
		forwarded bool
	}{
		{"relay held here", vpndiag.ProbeRequest{CaseID: e.cases[0], Relay: "hq-1"}, true, "hq-1", false},
		{"site held here", vpndiag.ProbeRequest{CaseID: e.cases[0], SiteID: e.sites[0].ID}, true, "hq-1", false},
		{"relay held elsewhere", vpndiag.ProbeRequest{CaseID: e.cases[1], Relay: "branch-1"}, true, "elsewhere", true},
		{"site held elsewhere", vpndiag.ProbeRequest{CaseID: e.cases[1], SiteID: e.sites[1].ID}, true, "elsewhere", true},
		{"no relay nor site", vpndiag.ProbeRequest{CaseID: e.cases[0]}, true, "", false},
		{"no backplane", vpndiag.ProbeRequest{CaseID: e.cases[1], Relay: "branch-1"}, false, "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			bp := &fakeBackplane{}
			r := &relay.Replicated{Hub: e.hub}
			if tt.backplane {
				r.Backplane = bp
			}
			req := tt.req
			req.Kind, req.Target = vpndiag.ProbeTCP, "10.0.0.1:443"
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			res, err := r.Probe(ctx, &req)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("Probe = %+v, want an error from the hub", res)
				}
			} else if err != nil || res.Relay != tt.want {
				t.Fatalf("Probe = %+v, %v; want an answer from %s", res, err, tt.want)
			}
			if tt.want != "" && !res.Stored {
				t.Fatalf("result %+v not marked Stored: the hub that ran it stored it in the shared store", res)
			}
			if got := bp.forwarded() == 1; got != tt.forwarded {
				t.Fatalf("forwarded %d requests, want forwarded=%v", bp.forwarded(), tt.forwarded)
			}
		})
	}
}

// memMonitors is a MonitorStore in memory.
type memMonitors struct {
	mu   sync.Mutex
	recs map[[2]string]relay.MonitorRecord
}

func (s *memMonitors) SaveMonitor(_ context.Context, m relay.MonitorRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recs[[2]string{m.Relay, m.Name}] = m
	return nil
}

func (s *memMonitors) DeleteMonitor(_ context.Context, relayName, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.recs, [2]string{relayName, name})
	return nil
}

func (s *memMonitors) FindMonitors(_ context.Context, relayName string) ([]relay.MonitorRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []relay.MonitorRecord
	for k, m := range s.recs {
		if k[0] == relayName {
			out = append(out, m)
		}
	}
	return out, nil
}

func (s *memMonitors) names() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for k := range s.recs {
		out = append(out, k[1])
	}
	slices.Sort(out)
	return out
}

// The monitors a hub starts are shared through the MonitorStore; a hub that
// takes over a relay's link adopts them: it accepts their samples and does
// not stop them, while a monitor nobody shared is still stopped.
func TestSharedMonitorsAreAdopted(t *testing.T) {
	store := &memMonitors{recs: map[[2]string]relay.MonitorRecord{}}
	e := newHubEnv(t, func(h *relay.Hub) { h.Monitors = store })
	token := e.enrol("hq-1", 0)

	// This replica starts monitor "ka": the store has it.
	ws := e.dial(token)
	e.startMonitor(ws, "hq-1", e.cases[0], "ka")
	waitFor(t, func() bool { return slices.Equal(store.names(), []string{"ka"}) }, "the started monitor shared")

	// Another replica (a new hub on the same store) takes over the link;
	// the relay comes back running "ka" and a monitor nobody shared.
	ws.CloseNow()
	other := e.replica(func(h *relay.Hub) { h.Monitors = store })
	ws2 := other.dial(token, "ka", "stray")
	stop := recv(t, ws2)
	if stop.Type != relay.TypeJob || stop.Job.Params[relay.MonitorParam] != "stop" || stop.Job.Params[relay.MonitorNameParam] != "stray" {
		t.Fatalf("the new hub sent %+v, want a stop of the unshared monitor only", stop)
	}
	send(t, ws2, &relay.Message{Type: relay.TypeResult, Result: &vpndiag.ProbeResult{ID: stop.Job.ID, Outcome: vpndiag.OutcomeOK}})
	sendSamples(t, ws2, e.cases[0], "ka")
	if n := e.samples(e.cases[0]); n != 1 {
		t.Fatalf("the adopted monitor's samples: %d stored, want 1", n)
	}
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("not within 5 s: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// replica returns an environment of another hub on e's database, as a
// second replica of the bot would run.
func (e *hubEnv) replica(opts ...func(*relay.Hub)) *hubEnv {
	r := *e
	r.hub = &relay.Hub{Tokens: e.tokens, Results: e.probes, Sites: e.hub.Sites, Cases: e.caseDB, Heartbeat: e.hub.Heartbeat}
	for _, o := range opts {
		o(r.hub)
	}
	mux := http.NewServeMux()
	mux.Handle(relay.Path, r.hub)
	r.srv = httptest.NewServer(mux)
	e.t.Cleanup(func() { r.hub.Close(); r.srv.Close() })
	return &r
}
