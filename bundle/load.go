package bundle

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"
	"unicode"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/evidence/redact"
)

// caseData is everything a bundle is made of except evidence content, which
// is streamed from the store when its entry is written.
type caseData struct {
	c        *vpndiag.Case
	site     *vpndiag.Site
	session  *vpndiag.Session // nil when the case has no session yet
	flows    []*flowPart      // the flows the path went through, in order
	events   []*vpndiag.Event
	answers  []*vpndiag.Answer
	findings []*vpndiag.Finding // worst first
	probes   []*vpndiag.ProbeResult
	samples  []vpndiag.KeepaliveSample
	evidence []evidenceEntry
	created  time.Time
}

// evidenceEntry is an attachment and its name in the archive.
type evidenceEntry struct {
	ev   *vpndiag.Evidence
	name string // evidence/NAME
}

// inProgress reports whether the case is still open.
func (d *caseData) inProgress() bool { return d.c.Status == vpndiag.CaseOpen }

// load reads the case. It only calls Find* methods: exporting never changes
// the case.
func (x *Exporter) load(ctx context.Context, marker string) (*caseData, error) {
	c, err := x.Cases.FindCaseByMarker(ctx, marker)
	if vpndiag.ErrorCode(err) == vpndiag.ENOTFOUND {
		return nil, vpndiag.Errorf(vpndiag.ENOTFOUND, "There is no case %s (check the marker, or the database with --db).", marker)
	} else if err != nil {
		return nil, fmt.Errorf("bundle: find case: %w", err)
	}
	d := &caseData{c: c}
	if c.SiteID != 0 {
		d.site, err = x.Sites.FindSiteByID(ctx, c.SiteID)
		if vpndiag.ErrorCode(err) == vpndiag.ENOTFOUND {
			d.site = nil
		} else if err != nil {
			return nil, fmt.Errorf("bundle: find site: %w", err)
		}
	}
	d.session, err = x.Sessions.FindSession(ctx, c.ID)
	if vpndiag.ErrorCode(err) == vpndiag.ENOTFOUND {
		d.session = nil
	} else if err != nil {
		return nil, fmt.Errorf("bundle: find session: %w", err)
	}
	if d.events, err = x.Events.FindEvents(ctx, c.ID); err != nil {
		return nil, fmt.Errorf("bundle: find events: %w", err)
	}
	if d.session != nil {
		d.flows = splitPath(d.session, flowVersions(d.events))
		for _, f := range d.flows {
			if x.Graph == nil {
				break
			}
			if g, ok := x.Graph(f.name, f.version); ok {
				f.graph = &g
			}
		}
	}
	if d.answers, err = x.Sessions.FindAnswers(ctx, c.ID); err != nil {
		return nil, fmt.Errorf("bundle: find answers: %w", err)
	}
	if d.findings, err = x.Findings.FindFindings(ctx, c.ID); err != nil {
		return nil, fmt.Errorf("bundle: find findings: %w", err)
	}
	// Worst first, whatever order the store returned; ties keep store order.
	sort.SliceStable(d.findings, func(i, j int) bool {
		return d.findings[i].Severity.Rank() > d.findings[j].Severity.Rank()
	})
	if d.probes, err = x.Probes.FindProbeResults(ctx, c.ID); err != nil {
		return nil, fmt.Errorf("bundle: find probe results: %w", err)
	}
	if d.samples, err = x.Probes.FindKeepaliveSamples(ctx, c.ID); err != nil {
		return nil, fmt.Errorf("bundle: find keep-alive samples: %w", err)
	}
	evs, err := x.Evidence.FindEvidence(ctx, c.ID)
	if err != nil {
		return nil, fmt.Errorf("bundle: find evidence: %w", err)
	}
	// Names were redacted when stored; again here for anything stored
	// before a rule existed.
	for _, ev := range evs {
		ev.Name = redact.FileName(ev.Name)
	}
	d.evidence = evidenceNames(evs)
	return d, nil
}

// flowPart is the part of a case's path in one flow.
type flowPart struct {
	name    string
	version int // 0 when not known
	graph   *vpndiag.FlowGraph
	// states are the states visited in this flow, in order, with "@next"
	// for a hand-over to flow next.
	states []string
	// taken are the transitions followed, as (from, to) state pairs.
	taken map[[2]string]bool
	// current is the state the case stands at, when it is in this flow.
	current string
}

// splitPath splits a session's path into flows. A bare state is one of
// the session's flow; a step from one flow
// to another is a hand-over, drawn as the edge to the "@flow" node.
func splitPath(s *vpndiag.Session, versions map[string]int) []*flowPart {
	var parts []*flowPart
	by := map[string]*flowPart{}
	part := func(name string) *flowPart {
		p := by[name]
		if p == nil {
			p = &flowPart{name: name, version: versions[name], taken: map[[2]string]bool{}}
			by[name] = p
			parts = append(parts, p)
		}
		return p
	}
	var prevFlow, prevState string
	for i, e := range s.Path {
		e = e.In(s.Flow)
		flow, state := e.Flow, e.State
		p := part(flow)
		if i > 0 {
			if prevFlow == flow {
				p.taken[[2]string{prevState, state}] = true
			} else {
				pp := by[prevFlow]
				pp.taken[[2]string{prevState, "@" + flow}] = true
				pp.states = append(pp.states, "@"+flow)
			}
		}
		p.states = append(p.states, state)
		prevFlow, prevState = flow, state
	}
	if len(parts) > 0 {
		by[prevFlow].current = prevState
	}
	if p := by[s.Flow]; p != nil && s.FlowVersion != 0 {
		p.version = s.FlowVersion
	}
	return parts
}

// flowVersions reads the version of each flow from the "step.shown" events,
// whose data names the flow, its version and the state.
func flowVersions(events []*vpndiag.Event) map[string]int {
	out := map[string]int{}
	for _, e := range events {
		if e.Kind != vpndiag.EventStepShown || len(e.Data) == 0 {
			continue
		}
		var d struct {
			Flow    string `json:"flow"`
			Version int    `json:"version"`
		}
		if json.Unmarshal(e.Data, &d) == nil && d.Flow != "" && d.Version > 0 {
			out[d.Flow] = d.Version
		}
	}
	return out
}

// evidenceNames gives each attachment a unique, safe name under evidence/,
// in upload order: the upload's base name with path separators and control
// characters replaced, and "-2", "-3"… before the extension when two
// uploads share a name.
func evidenceNames(evs []*vpndiag.Evidence) []evidenceEntry {
	used := map[string]bool{}
	out := make([]evidenceEntry, 0, len(evs))
	for _, ev := range evs {
		base := safeName(ev.Name)
		name := base
		ext := path.Ext(base)
		stem := strings.TrimSuffix(base, ext)
		for i := 2; used[strings.ToLower(name)]; i++ {
			name = fmt.Sprintf("%s-%d%s", stem, i, ext)
		}
		used[strings.ToLower(name)] = true
		out = append(out, evidenceEntry{ev: ev, name: EvidenceDir + name})
	}
	return out
}

// safeName makes an uploaded name safe as one archive path element.
func safeName(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == ':' || r == '*' || r == '?' || r == '"' || r == '<' || r == '>' || r == '|' {
			return '_'
		}
		return r
	}, name)
	name = strings.TrimLeft(strings.TrimSpace(name), ".")
	if len(name) > 120 {
		ext := path.Ext(name)
		if len(ext) > 20 {
			ext = ""
		}
		name = name[:120-len(ext)] + ext
		name = strings.ToValidUTF8(name, "_")
	}
	if name == "" {
		name = "attachment"
	}
	return name
}
