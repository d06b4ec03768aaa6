package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/bundle"
	"github.com/vpndiag/vpndiag/internal/testkit"
	"github.com/vpndiag/vpndiag/storage/postgres"
	"github.com/vpndiag/vpndiag/storage/sqlite"
)

// services are one store's services, for building and exporting a case.
type services struct {
	cases    vpndiag.CaseService
	sessions vpndiag.SessionService
	events   vpndiag.EventService
	probes   vpndiag.ProbeService
	evidence vpndiag.EvidenceService
	findings vpndiag.FindingService
	sites    vpndiag.SiteService
	tokens   vpndiag.RelayTokenService
}

// exportBundle writes the bundle of marker with a fixed export time.
func (s services) exportBundle(tb testing.TB, marker string) []byte {
	tb.Helper()
	x := &bundle.Exporter{Cases: s.cases, Sessions: s.sessions, Events: s.events, Probes: s.probes,
		Evidence: s.evidence, Findings: s.findings, Sites: s.sites,
		Now: func() time.Time { return time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC) }}
	var buf bytes.Buffer
	if _, err := x.Export(context.Background(), marker, &buf); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// fillCase stores a case that has walked a few steps: a site, answers,
// events, probe results, keep-alive samples, evidence, findings and a relay
// token.
func fillCase(tb testing.TB, s services, n int) string {
	tb.Helper()
	ctx := context.Background()
	site := &vpndiag.Site{Name: "hq", CloudDNSServers: []netip.Addr{netip.MustParseAddr("10.20.0.2")},
		CloudCIDR: netip.MustParsePrefix("10.20.0.0/16"), EnvironmentFQDNs: []string{"acme.example.cloud"},
		CustomerCIDRs: []netip.Prefix{netip.MustParsePrefix("192.168.10.0/24")}, Routing: vpndiag.RoutingStatic, IKEVersion: 2}
	if err := s.sites.UpsertSite(ctx, site); err != nil {
		tb.Fatal(err)
	}
	c := &vpndiag.Case{Marker: "VPN-20261125-00" + string(rune('A'+n)) + "2", SiteID: site.ID, Title: "Tunnel up, no traffic",
		Status: vpndiag.CaseOpen, Origin: "slack", ChannelID: "C0VPN", ThreadTS: "1764067200.000100", CreatedBy: "U1"}
	if err := s.cases.CreateCase(ctx, c); err != nil {
		tb.Fatal(err)
	}
	if err := s.sessions.CreateSession(ctx, &vpndiag.Session{CaseID: c.ID, Flow: "triage", FlowVersion: 1, State: "start",
		Path: vpndiag.Path{{Flow: "triage", State: "start"}}}); err != nil {
		tb.Fatal(err)
	}
	for i, st := range []string{"phase2", "routes"} {
		if err := s.sessions.ApplyTransition(ctx, &vpndiag.Transition{CaseID: c.ID, FromSeq: i,
			Session: &vpndiag.Session{Flow: "triage", FlowVersion: 1, State: st, Vars: map[string]string{"step": st},
				Path: vpndiag.Path{{Flow: "triage", State: "start"}, {Flow: "triage", State: st}}},
			Answer: &vpndiag.Answer{Flow: "triage", State: "start", Question: "Is the tunnel up?", Choice: "yes", Label: "Yes",
				Source: vpndiag.SourceUser, Actor: "U1"},
			Events:         []*vpndiag.Event{{Actor: "U1", Kind: vpndiag.EventAnswer, Message: "Yes", Data: json.RawMessage(`{"z":1, "a":[2,1]}`)}},
			IdempotencyKey: c.Marker + st}); err != nil {
			tb.Fatal(err)
		}
	}
	t0 := vpndiag.Now()
	if err := s.probes.CreateProbeResult(ctx, &vpndiag.ProbeResult{ID: c.Marker + "-job1", CaseID: c.ID, Kind: vpndiag.ProbeDNS,
		Target: "acme.example.cloud", Outcome: vpndiag.OutcomeOK, Summary: "A 10.20.1.5", Detail: json.RawMessage(`{"answers": ["10.20.1.5"]}`),
		Relay: "hq-relay", StartedAt: t0, Duration: 1500 * time.Microsecond}); err != nil {
		tb.Fatal(err)
	}
	if err := s.probes.AddKeepaliveSamples(ctx, c.ID, []vpndiag.KeepaliveSample{
		{Monitor: "ka-1", Time: t0, OK: true, RTT: time.Millisecond}, {Monitor: "ka-1", Time: t0.Add(time.Second)}}); err != nil {
		tb.Fatal(err)
	}
	e := &vpndiag.Evidence{CaseID: c.ID, Name: "charon.log", Kind: vpndiag.EvidenceLog, MediaType: "text/plain", UploadedBy: "U1"}
	log := strings.Repeat("Nov 25 10:00:01 vpn charon: 09[IKE] CHILD_SA hq{1} established\n", 30000)
	if err := s.evidence.CreateEvidence(ctx, e, strings.NewReader(log)); err != nil {
		tb.Fatal(err)
	}
	if err := s.findings.CreateFindings(ctx, c.ID, []*vpndiag.Finding{{Code: "phase2-pfs", Severity: vpndiag.SeverityError,
		Summary: "PFS group differs", Evidence: []vpndiag.EvidenceRef{{EvidenceID: e.ID, Name: "charon.log", Line: 3}}, Source: "config"}}); err != nil {
		tb.Fatal(err)
	}
	if n == 0 {
		if err := s.tokens.CreateRelayToken(ctx, &vpndiag.RelayToken{Name: "hq-relay", SiteID: site.ID, Hash: strings.Repeat("ab", 32), Prefix: "vpr_ab"}); err != nil {
			tb.Fatal(err)
		}
	}
	return c.Marker
}

// TestDBCopy moves a SQLite deployment to PostgreSQL with the CLI: counts
// and checksums are reported, each case's bundle is byte-identical before
// and after, the copied store goes on (IDs and event seqs continue), a
// second copy into the now full database is refused, and a wrong password
// is one clear line.
func TestDBCopy(t *testing.T) {
	pg := testkit.StartPostgres(t)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "vpndiag.db")
	sdb := sqlite.NewDB(path)
	if err := sdb.Open(); err != nil {
		t.Fatal(err)
	}
	src := services{sqlite.NewCaseService(sdb), sqlite.NewSessionService(sdb), sqlite.NewEventService(sdb),
		sqlite.NewProbeService(sdb), sqlite.NewEvidenceService(sdb), sqlite.NewFindingService(sdb),
		sqlite.NewSiteService(sdb), sqlite.NewRelayTokenService(sdb)}
	var markers []string
	before := map[string][]byte{}
	for i := 0; i < 3; i++ {
		m := fillCase(t, src, i)
		markers = append(markers, m)
		before[m] = src.exportBundle(t, m)
	}
	sdb.Close()

	url := pg.NewDatabase(t)
	r := MustRun(t, "", nil, "db", "copy", "--from", path, "--to", url)
	if r.code != 0 {
		t.Fatalf("db copy: %+v", r)
	}
	for _, want := range []string{"cases                     3 rows", "evidence_chunks", "counts and checksums match"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output does not say %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout+r.stderr, pg.Password) {
		t.Fatalf("the password was printed:\n%s%s", r.stdout, r.stderr)
	}

	pdb := postgres.NewDB(url)
	if err := pdb.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer pdb.Close()
	dst := services{postgres.NewCaseService(pdb), postgres.NewSessionService(pdb), postgres.NewEventService(pdb),
		postgres.NewProbeService(pdb), postgres.NewEvidenceService(pdb), postgres.NewFindingService(pdb),
		postgres.NewSiteService(pdb), postgres.NewRelayTokenService(pdb)}
	for _, m := range markers {
		if after := dst.exportBundle(t, m); !bytes.Equal(after, before[m]) {
			t.Fatalf("bundle of %s differs after the copy (%d bytes before, %d after)", m, len(before[m]), len(after))
		}
	}
	// The CLI reads the PostgreSQL store as it read the file.
	zipPath := filepath.Join(t.TempDir(), "case.zip")
	if r := MustRun(t, "", nil, "export", markers[1], "--db", url, "-o", zipPath); r.code != 0 {
		t.Fatalf("export from PostgreSQL: %+v", r)
	}
	if r := MustRun(t, "", nil, "bundle", "verify", zipPath); r.code != 0 || !strings.Contains(r.stdout, "ok: bundle of case "+markers[1]) {
		t.Fatalf("verify the bundle exported from PostgreSQL: %+v", r)
	}
	if r := MustRun(t, "", nil, "relay", "token", "list", "--db", url); r.code != 0 || !strings.Contains(r.stdout, "hq-relay") {
		t.Fatalf("relay token list on PostgreSQL: %+v", r)
	}

	// The copied store goes on where SQLite stopped.
	c, err := dst.cases.FindCaseByMarker(ctx, markers[0])
	if err != nil {
		t.Fatal(err)
	}
	ev := &vpndiag.Event{CaseID: c.ID, Kind: vpndiag.EventNote, Actor: "U2", Message: "after the move"}
	if err := dst.events.AppendEvent(ctx, ev); err != nil {
		t.Fatal(err)
	}
	if evs, err := dst.events.FindEvents(ctx, c.ID); err != nil || ev.Seq != len(evs) || ev.Seq < 4 {
		t.Fatalf("event after the copy has seq %d of %d events (%v)", ev.Seq, len(evs), err)
	}
	nc := &vpndiag.Case{Marker: "VPN-20261127-NEW1", Status: vpndiag.CaseOpen, Origin: "slack", CreatedBy: "U3"}
	if err := dst.cases.CreateCase(ctx, nc); err != nil || nc.ID <= 3 {
		t.Fatalf("new case after the copy: id %d, %v", nc.ID, err)
	}
	if tok, err := dst.tokens.FindRelayTokenByHash(ctx, strings.Repeat("ab", 32)); err != nil || tok.Name != "hq-relay" {
		t.Fatalf("relay token by hash after the copy: %+v, %v", tok, err)
	}

	r = MustRun(t, "", nil, "db", "copy", "--from", path, "--to", url)
	if r.code != 1 || !strings.Contains(r.stderr, "already holds data") {
		t.Fatalf("copy into a full database: %+v", r)
	}
	bad := strings.Replace(pg.NewDatabase(t), ":"+pg.Password+"@", ":wrong@", 1)
	r = MustRun(t, "", nil, "db", "copy", "--from", path, "--to", bad)
	if r.code != 1 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || !strings.Contains(r.stderr, "refused the login") {
		t.Fatalf("wrong password: %+v", r)
	}
	// serve refuses the same way, before it talks to Slack.
	env := []string{"VPNDIAG_DB=" + bad, "SLACK_BOT_TOKEN=xoxb-test", "SLACK_APP_TOKEN=xapp-test", "SLACK_API_URL=http://127.0.0.1:9/api/"}
	r = MustRun(t, "", env, "serve", "--listen", "127.0.0.1:0")
	if r.code != 1 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || !strings.Contains(r.stderr, "refused the login") ||
		strings.Contains(r.stderr, pg.Password) {
		t.Fatalf("serve with a wrong password: %+v", r)
	}
	r = MustRun(t, "", nil, "db", "copy", "--from", filepath.Join(t.TempDir(), "none.db"), "--to", url)
	if r.code != 1 || !strings.Contains(r.stderr, "no SQLite database") {
		t.Fatalf("missing source: %+v", r)
	}
}
