package relay_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/relay"
	"github.com/vpndiag/vpndiag/storage/sqlite"
)

// hubEnv is a hub on loopback (plain HTTP, real SQLite) with two sites,
// each with a case.
type hubEnv struct {
	t      *testing.T
	hub    *relay.Hub
	srv    *httptest.Server
	tokens *sqlite.RelayTokenService
	probes *sqlite.ProbeService
	caseDB *sqlite.CaseService
	sites  [2]*vpndiag.Site
	cases  [2]int64
}

func newHubEnv(t *testing.T, opts ...func(*relay.Hub)) *hubEnv {
	t.Helper()
	db := sqlite.NewDB(filepath.Join(t.TempDir(), "bot.db"))
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e := &hubEnv{t: t, tokens: sqlite.NewRelayTokenService(db), probes: sqlite.NewProbeService(db)}
	sites, cases := sqlite.NewSiteService(db), sqlite.NewCaseService(db)
	e.caseDB = cases
	ctx := context.Background()
	for i, name := range []string{"hq", "branch"} {
		s := &vpndiag.Site{Name: name, CloudDNSServers: []netip.Addr{netip.MustParseAddr("10.20.0.2")}}
		if err := sites.UpsertSite(ctx, s); err != nil {
			t.Fatal(err)
		}
		marker, _ := vpndiag.NewMarker(time.Now(), nil)
		c := &vpndiag.Case{Marker: marker, SiteID: s.ID, Title: "hub test", Status: vpndiag.CaseOpen, Origin: "terminal", CreatedBy: "test"}
		if err := cases.CreateCase(ctx, c); err != nil {
			t.Fatal(err)
		}
		e.sites[i], e.cases[i] = s, c.ID
	}
	e.hub = &relay.Hub{Tokens: e.tokens, Results: e.probes, Sites: sites, Cases: cases, Heartbeat: 200 * time.Millisecond}
	for _, o := range opts {
		o(e.hub)
	}
	mux := http.NewServeMux()
	mux.Handle(relay.Path, e.hub)
	e.srv = httptest.NewServer(mux)
	t.Cleanup(func() { e.hub.Close(); e.srv.Close() })
	return e
}

// enrol issues a token for a relay of site i.
func (e *hubEnv) enrol(name string, site int) string {
	e.t.Helper()
	token, hash, prefix := relay.NewToken()
	if err := e.tokens.CreateRelayToken(context.Background(), &vpndiag.RelayToken{Name: name, SiteID: e.sites[site].ID, Hash: hash, Prefix: prefix}); err != nil {
		e.t.Fatal(err)
	}
	return token
}

// dial connects a raw relay (this test speaks the protocol) and exchanges
// hellos.
func (e *hubEnv) dial(token string, monitors ...string) *websocket.Conn {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(e.srv.URL, "http") + relay.Path
	ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}})
	if err != nil {
		e.t.Fatal(err)
	}
	ws.SetReadLimit(relay.MaxMessageSize)
	e.t.Cleanup(func() { ws.CloseNow() })
	send(e.t, ws, &relay.Message{Type: relay.TypeHello, Hello: &relay.Hello{Name: "raw", Version: "test", HeartbeatInterval: time.Second, Monitors: monitors}})
	if m := recv(e.t, ws); m.Type != relay.TypeHello {
		e.t.Fatalf("hub answered %s, want hello", m.Type)
	}
	return ws
}

func send(t *testing.T, ws *websocket.Conn, m *relay.Message) {
	t.Helper()
	b, err := relay.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := ws.Write(context.Background(), websocket.MessageText, b); err != nil {
		t.Fatal(err)
	}
}

// recv returns the next message that is not a heartbeat.
func recv(t *testing.T, ws *websocket.Conn) *relay.Message {
	t.Helper()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, b, err := ws.Read(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		m, err := relay.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if m.Type != relay.TypeHeartbeat {
			return m
		}
	}
}

// answer runs a fake relay on ws: every job gets an ok result (after
// delay), until the test ends; jobs receives each job.
func answer(t *testing.T, ws *websocket.Conn, jobs chan<- *vpndiag.ProbeRequest) {
	go func() {
		for {
			_, b, err := ws.Read(context.Background())
			if err != nil {
				return
			}
			m, err := relay.Decode(b)
			if err != nil || m.Type != relay.TypeJob {
				continue
			}
			if jobs != nil {
				jobs <- m.Job
			}
			out, _ := relay.Encode(&relay.Message{Type: relay.TypeResult, Result: &vpndiag.ProbeResult{ID: m.Job.ID, Kind: m.Job.Kind, Target: m.Job.Target, Outcome: vpndiag.OutcomeOK, Summary: "ok"}})
			if ws.Write(context.Background(), websocket.MessageText, out) != nil {
				return
			}
		}
	}()
}

// newCase opens a case of no site.
func (e *hubEnv) newCase() int64 {
	e.t.Helper()
	marker, _ := vpndiag.NewMarker(time.Now(), nil)
	c := &vpndiag.Case{Marker: marker, Title: "another customer", Status: vpndiag.CaseOpen, Origin: "slack", CreatedBy: "U2"}
	if err := e.caseDB.CreateCase(context.Background(), c); err != nil {
		e.t.Fatal(err)
	}
	return c.ID
}
