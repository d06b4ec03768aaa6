package bundle_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/bundle"
	"github.com/vpndiag/vpndiag/kb"
	"github.com/vpndiag/vpndiag/storage/sqlite"
)

// base is the fixed time of the test cases; the store's clock steps one
// second from it on every call.
var base = time.Date(2026, 11, 25, 9, 30, 0, 0, time.UTC)

// exportTime is the fixed export time of the tests.
var exportTime = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// MustOpenDB opens a SQLite database in a temporary directory with a clock
// that steps one second per call from base.
func MustOpenDB(tb testing.TB) *sqlite.DB {
	tb.Helper()
	return MustOpenDBAt(tb, filepath.Join(tb.TempDir(), "vpndiag.db"))
}

// MustOpenDBAt opens the SQLite database at path, see MustOpenDB.
func MustOpenDBAt(tb testing.TB, path string) *sqlite.DB {
	tb.Helper()
	db := sqlite.NewDB(path)
	var mu sync.Mutex
	now := base
	db.Now = func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(time.Second)
		return now
	}
	if err := db.Open(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// NewExporter returns an exporter on db with the test flows and the fixed
// export time.
func NewExporter(db *sqlite.DB) *bundle.Exporter {
	return &bundle.Exporter{
		Cases:    sqlite.NewCaseService(db),
		Sessions: sqlite.NewSessionService(db),
		Events:   sqlite.NewEventService(db),
		Probes:   sqlite.NewProbeService(db),
		Evidence: sqlite.NewEvidenceService(db),
		Findings: sqlite.NewFindingService(db),
		Sites:    sqlite.NewSiteService(db),
		Graph:    testGraph,
		Now:      func() time.Time { return exportTime },
	}
}

// testGraph knows two small flows shaped like the real ones: triage, which
// hands over to dns, and dns.
func testGraph(flow string, version int) (vpndiag.FlowGraph, bool) {
	switch flow {
	case "triage":
		return vpndiag.FlowGraph{Name: "triage", Version: 1, Start: "symptom",
			Nodes: []vpndiag.FlowNode{
				{State: "symptom", Kind: vpndiag.StepQuestion, Title: "What do you see?"},
				{State: "tunnel_check", Kind: vpndiag.StepProbe, Title: "Can the relay reach the cloud VPN endpoint on UDP 500?"},
				{State: "drops", Kind: vpndiag.StepQuestion, Title: "Does the tunnel drop about every hour?"},
				{State: "@dns", Kind: "handover", Title: "Continue with flow dns"},
				{State: "phase1_logs", Kind: vpndiag.StepEvidence, Title: "Upload the device configuration and IKE logs"},
				{State: "firewall_fix", Kind: vpndiag.StepResolution, Title: "Allow UDP 500 and 4500 to the cloud endpoints", KBArticle: kb.ArticlePhase1},
				{State: "ikev2_fix", Kind: vpndiag.StepResolution, Title: "Set the phase 2 lifetime to 51 minutes", KBArticle: kb.ArticleIKEv2HourlyDrop},
				{State: "keepalive", Kind: vpndiag.StepProbe, Title: "Watch the tunnel with a keep-alive ping"},
				{State: "reset_tunnels", Kind: vpndiag.StepInfo, Title: "Reset both tunnels from the console", KBArticle: kb.ArticleResetTunnels},
				{State: "config_fix", Kind: vpndiag.StepResolution, Title: "Fix the phase 1 settings the analysis found", KBArticle: kb.ArticlePhase1},
				{State: "escalate", Kind: vpndiag.StepEscalation, Title: "Open a support case with the bundle", KBArticle: kb.ArticleFurtherAssistance},
			},
			Edges: []vpndiag.FlowEdge{
				{From: "symptom", To: "tunnel_check", Event: "down", Label: "The tunnel is down"},
				{From: "symptom", To: "drops", Event: "drops", Label: "The tunnel drops"},
				{From: "symptom", To: "@dns", Event: "dns", Label: "Names do not resolve"},
				{From: "tunnel_check", To: "phase1_logs", Event: "ok", Label: "ok"},
				{From: "tunnel_check", To: "firewall_fix", Event: "timeout", Label: "timeout"},
				{From: "drops", To: "ikev2_fix", Event: "yes", Label: "Yes"},
				{From: "drops", To: "keepalive", Event: "no", Label: "No"},
				{From: "phase1_logs", To: "reset_tunnels", Event: "no_findings", Label: "nothing found"},
				{From: "phase1_logs", To: "config_fix", Event: "findings", Label: "findings"},
				{From: "reset_tunnels", To: "escalate", Event: "still_down", Label: "Still down"},
				{From: "reset_tunnels", To: "tunnel_check", Event: "retry", Label: "Check again"},
				{From: "keepalive", To: "escalate", Event: "loss", Label: "loss"},
			}}, true
	case "dns":
		return vpndiag.FlowGraph{Name: "dns", Version: 2, Start: "resolve",
			Nodes: []vpndiag.FlowNode{
				{State: "resolve", Kind: vpndiag.StepProbe, Title: "Resolve the environment name through the internal resolver"},
				{State: "forwarder_fix", Kind: vpndiag.StepResolution, Title: "Add the conditional forwarder", KBArticle: kb.ArticleDNSForwarder},
				{State: "escalate", Kind: vpndiag.StepEscalation, Title: "Open a support case with the bundle"},
			},
			Edges: []vpndiag.FlowEdge{
				{From: "resolve", To: "forwarder_fix", Event: "public", Label: "public address"},
				{From: "resolve", To: "escalate", Event: "private", Label: "private address"},
			}}, true
	}
	return vpndiag.FlowGraph{}, false
}

// testConfig is a strongSwan configuration as stored: already redacted.
const testConfig = `# ipsec.conf - strongSwan IPsec configuration file
config setup

conn %default
	ikelifetime=86400s
	keylife=20m
	rekeymargin=3m
	keyingtries=1
	authby=secret
	keyexchange=ikev2
	mobike=no

conn net-net
	left=192.168.0.1
	leftsubnet=10.1.0.0/16
	leftfirewall=yes
	right=203.0.113.10
	rightsubnet=10.20.0.0/16
	auto=add
# psk: <redacted:psk:1>
`

// testLog is a charon log as stored.
const testLog = `Nov 25 09:10:01 moon charon: 09[IKE] sending DPD request
Nov 25 09:10:11 moon charon: 10[IKE] retransmit 1 of request with message ID 12
Nov 25 09:10:29 moon charon: 11[IKE] retransmit 2 of request with message ID 12
Nov 25 09:11:02 moon charon: 12[IKE] giving up after 3 retransmits
Nov 25 09:11:02 moon charon: 12[IKE] peer not responding, deleting IKE_SA net-net[4] between 192.168.0.1[moon]...203.0.113.10[sun]
`

// seed describes a test case.
type seed struct {
	marker string
	status vpndiag.CaseStatus // open: the case stops after the probe step
	// evidence is uploaded (already redacted) when set: name → content.
	evidence []evidenceFile
	// samples is the number of keep-alive samples.
	samples int
}

type evidenceFile struct {
	name    string
	kind    vpndiag.EvidenceKind
	content io.Reader
}

// MustSeedCase stores a case the way the flows would: a site, a session
// walked through the triage flow with answers from a user, a probe and
// evidence, probe results, keep-alive samples, findings, a user's note and,
// unless the case stays open, an escalation.
func MustSeedCase(tb testing.TB, db *sqlite.DB, s seed) *vpndiag.Case {
	tb.Helper()
	ctx := context.Background()
	cases, sites, sessions := sqlite.NewCaseService(db), sqlite.NewSiteService(db), sqlite.NewSessionService(db)
	events, probes, evs, findings := sqlite.NewEventService(db), sqlite.NewProbeService(db), sqlite.NewEvidenceService(db), sqlite.NewFindingService(db)
	must := func(err error) {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
	}
	site := &vpndiag.Site{
		Name:             "hq",
		CloudDNSServers:  []netip.Addr{netip.MustParseAddr("10.20.0.2"), netip.MustParseAddr("10.20.0.3")},
		VPNEndpoints:     []netip.Addr{netip.MustParseAddr("203.0.113.10"), netip.MustParseAddr("203.0.113.11")},
		CloudCIDR:        netip.MustParsePrefix("10.20.0.0/16"),
		EnvironmentFQDNs: []string{"acme.example.cloud"},
		CloudDomain:      "example.cloud",
		CustomerCIDRs:    []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")},
		CustomerPeer:     netip.MustParseAddr("198.51.100.7"),
		Routing:          vpndiag.RoutingStatic,
		IKEVersion:       2,
		ConsoleVersion:   "11.8.2",
	}
	must(sites.UpsertSite(ctx, site))
	c := &vpndiag.Case{Marker: s.marker, Title: "The tunnel to the cloud is down since this morning", Status: vpndiag.CaseOpen,
		Origin: "slack", ChannelID: "C0VPNHELP", ThreadTS: "1764063000.000100", CreatedBy: "U024BE7LH", SiteID: site.ID}
	must(cases.CreateCase(ctx, c))
	must(sessions.CreateSession(ctx, &vpndiag.Session{CaseID: c.ID, Flow: "triage", FlowVersion: 1, State: "symptom",
		Path: vpndiag.Path{{Flow: "triage", State: "symptom"}}}))
	shown := func(state string, kind vpndiag.StepKind, title string) *vpndiag.Event {
		data, _ := json.Marshal(map[string]any{"flow": "triage", "version": 1, "state": state, "kind": kind})
		return &vpndiag.Event{Actor: "bot", Kind: vpndiag.EventStepShown, Message: title, Data: data}
	}
	path := vpndiag.Path{{Flow: "triage", State: "symptom"}}
	seq := 0
	step := func(from, to string, kind vpndiag.StepKind, title string, a *vpndiag.Answer, upd *vpndiag.CaseUpdate, extra ...*vpndiag.Event) {
		tb.Helper()
		path = append(path, vpndiag.PathStep{Flow: "triage", State: to})
		a.CaseID, a.Seq, a.Flow, a.State = c.ID, seq, "triage", from
		evs := []*vpndiag.Event{{Actor: a.Actor, Kind: vpndiag.EventAnswer, Message: a.Question + " → " + a.Label}}
		evs = append(evs, extra...)
		evs = append(evs, shown(to, kind, title))
		must(sessions.ApplyTransition(ctx, &vpndiag.Transition{CaseID: c.ID, FromSeq: seq,
			Session: &vpndiag.Session{CaseID: c.ID, Flow: "triage", FlowVersion: 1, State: to, Path: append(vpndiag.Path{}, path...),
				Vars: map[string]string{"symptom": "down"}},
			Answer: a, Events: evs, Case: upd}))
		seq++
	}
	step("symptom", "tunnel_check", vpndiag.StepProbe, "Can the relay reach the cloud VPN endpoint on UDP 500?",
		&vpndiag.Answer{Question: "What do you see?", Choice: "down", Label: "The tunnel is down", Source: vpndiag.SourceUser, Actor: "U024BE7LH"}, nil)

	results := []*vpndiag.ProbeResult{
		{ID: "job-1", Kind: vpndiag.ProbeIKE, Target: "203.0.113.10:500", Outcome: vpndiag.OutcomeOK,
			Summary: "IKE_SA_INIT answered by 203.0.113.10 (NO_PROPOSAL_CHOSEN)", Relay: "hq-relay-1", Duration: 41 * time.Millisecond,
			Detail: json.RawMessage(`{"notify":"NO_PROPOSAL_CHOSEN","port":500}`)},
		{ID: "job-2", Kind: vpndiag.ProbeDNS, Target: "acme.example.cloud", Outcome: vpndiag.OutcomeTimeout,
			Summary: "no answer from 10.20.0.2 in 3 s", Relay: "hq-relay-1", Duration: 3 * time.Second},
		{ID: "job-3", Kind: vpndiag.ProbePing, Target: "10.20.0.2", Outcome: vpndiag.OutcomeOK,
			Summary: "3/3 replies from 10.20.0.2, avg 21.4 ms", Relay: "hq-relay-1", Duration: 2100 * time.Millisecond},
		{ID: "job-4", Kind: vpndiag.ProbeTCP, Target: "acme.example.cloud:443", Outcome: vpndiag.OutcomeRefused,
			Summary: "connection refused by 10.20.4.17:443", Relay: "hq-relay-1", Duration: 12 * time.Millisecond},
	}
	for i, r := range results {
		r.CaseID = c.ID
		r.StartedAt = base.Add(time.Duration(10+i) * time.Minute)
		must(probes.CreateProbeResult(ctx, r))
		must(events.AppendEvent(ctx, &vpndiag.Event{CaseID: c.ID, Actor: "relay:hq-relay-1", Kind: vpndiag.EventProbeResult,
			Message: fmt.Sprintf("%s %s: %s", r.Kind, r.Target, r.Outcome)}))
	}
	var samples []vpndiag.KeepaliveSample
	for i := 0; i < s.samples; i++ {
		smp := vpndiag.KeepaliveSample{Monitor: "hq-relay-1 → 10.20.0.2", Time: base.Add(20*time.Minute + time.Duration(i)*kb.KeepaliveInterval),
			OK: !(i%37 >= 30 && i%37 <= 33), RTT: time.Duration(18000+(i*7919)%9000+(i%50)*200) * time.Microsecond}
		if !smp.OK {
			smp.RTT = 0
		}
		samples = append(samples, smp)
	}
	if len(samples) > 0 {
		must(probes.AddKeepaliveSamples(ctx, c.ID, samples))
	}
	if s.status == vpndiag.CaseOpen {
		return c
	}

	step("tunnel_check", "phase1_logs", vpndiag.StepEvidence, "Upload the device configuration and IKE logs",
		&vpndiag.Answer{Question: "Can the relay reach the cloud VPN endpoint on UDP 500?", Choice: "ok", Label: "ok",
			Source: vpndiag.SourceProbe, SourceRef: "job-1", Actor: "bot"}, nil)
	for _, f := range s.evidence {
		vendor := "strongswan-ipsec.conf"
		if f.kind == vpndiag.EvidenceLog {
			vendor = "strongswan-charon"
		}
		e := &vpndiag.Evidence{CaseID: c.ID, Name: f.name, Kind: f.kind, MediaType: "text/plain", Vendor: vendor,
			OriginalSize: 1234, OriginalSHA256: strings.Repeat("ab", 32), Redactions: 1, UploadedBy: "U024BE7LH"}
		must(evs.CreateEvidence(ctx, e, f.content))
		must(events.AppendEvent(ctx, &vpndiag.Event{CaseID: c.ID, Actor: "U024BE7LH", Kind: vpndiag.EventEvidenceAdded, Message: "Uploaded " + f.name}))
	}
	must(findings.CreateFindings(ctx, c.ID, []*vpndiag.Finding{
		{Code: kb.CodePFSDisabled, Severity: vpndiag.SeverityWarning, Summary: "Phase 2 runs without PFS",
			Fix: "Enable PFS (DH group 14) on the child SA.", Source: "config/strongswan",
			Evidence: []vpndiag.EvidenceRef{{Name: "ipsec.conf", Line: 13, Text: "conn net-net"}}},
		{Code: kb.CodePhase1Lifetime, Severity: vpndiag.SeverityError, Summary: "IKE lifetime is 86400 s, the cloud needs 28800 s",
			Detail: "A lifetime the cloud does not accept makes every rekey fail.", Fix: "Set ikelifetime=28800s.",
			KBArticle: kb.ArticlePhase1, Source: "config/strongswan",
			Evidence: []vpndiag.EvidenceRef{{Name: "ipsec.conf", Line: 5, Text: "\tikelifetime=86400s"}}},
		{Code: kb.CodeDPDPeerDead, Severity: vpndiag.SeverityCritical, Summary: "DPD declared the cloud peer dead after 3 retransmits",
			Fix: "Check that UDP 500/4500 from the cloud endpoints reaches the device.", KBArticle: kb.ArticleDPDIdle, Source: "log/charon",
			Evidence: []vpndiag.EvidenceRef{{Name: "charon.log", Line: 4, Text: "giving up after 3 retransmits"}}},
		{Code: kb.CodeNATTraversal, Severity: vpndiag.SeverityInfo, Summary: "NAT-T is on", Source: "config/strongswan"},
	}))
	step("phase1_logs", "reset_tunnels", vpndiag.StepInfo, "Reset both tunnels from the console",
		&vpndiag.Answer{Question: "Upload the device configuration and IKE logs", Choice: "no_findings", Label: "nothing found",
			Source: vpndiag.SourceEvidence, SourceRef: "ipsec.conf:5", Actor: "bot"}, nil)
	must(events.AppendEvent(ctx, &vpndiag.Event{CaseID: c.ID, Actor: "U024BE7LH", Kind: vpndiag.EventNote,
		Message: "Restarted strongswan on moon twice, no change"}))
	status := vpndiag.CaseEscalated
	res, article := "triage.escalate", kb.ArticleFurtherAssistance
	step("reset_tunnels", "escalate", vpndiag.StepEscalation, "Open a support case with the bundle",
		&vpndiag.Answer{Question: "Reset both tunnels from the console", Choice: "still_down", Label: "Still down",
			Source: vpndiag.SourceUser, Actor: "U024BE7LH"},
		&vpndiag.CaseUpdate{Status: &status, Resolution: &res, KBArticle: &article},
		&vpndiag.Event{Actor: "bot", Kind: vpndiag.EventEscalation, Message: "The tunnel stays down after a reset; IKE answers NO_PROPOSAL_CHOSEN."})
	c, err := cases.FindCaseByID(ctx, c.ID)
	must(err)
	return c
}

// unzip returns the entries of a bundle: name → content, and the names in
// archive order.
func unzip(tb testing.TB, data []byte) (map[string][]byte, []*zip.File) {
	tb.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			tb.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			tb.Fatalf("%s: %v", f.Name, err)
		}
		out[f.Name] = b
	}
	return out, zr.File
}

// rezip rewrites a bundle: edit returns an entry's new content, or nil to
// drop it; add appends entries; when fixManifest is set the manifest's
// sizes and checksums are recomputed for the edited files.
func rezip(tb testing.TB, data []byte, edit func(name string, b []byte) []byte, add map[string][]byte, fixManifest bool) []byte {
	tb.Helper()
	files, order := unzip(tb, data)
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	comments := map[string]string{}
	for _, f := range order {
		comments[f.Name] = f.Comment
	}
	put := func(name string, b []byte) {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Comment: comments[name]})
		if err != nil {
			tb.Fatal(err)
		}
		w.Write(b)
	}
	for _, f := range order {
		b := files[f.Name]
		if edit != nil && f.Name != bundle.ManifestName {
			b = edit(f.Name, b)
		}
		if b == nil {
			continue
		}
		if f.Name == bundle.ManifestName && fixManifest {
			var m bundle.Manifest
			if err := json.Unmarshal(b, &m); err != nil {
				tb.Fatal(err)
			}
			for i, mf := range m.Files {
				nb := files[mf.Name]
				if edit != nil {
					nb = edit(mf.Name, nb)
				}
				m.Files[i].Size, m.Files[i].SHA256 = int64(len(nb)), sha(nb)
			}
			b, _ = json.MarshalIndent(m, "", "  ")
		}
		put(f.Name, b)
	}
	names := make([]string, 0, len(add))
	for n := range add {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		put(n, add[n])
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}
