package bundle

import (
	_ "embed"
	"html/template"
	"io"
	"strings"
	"time"

	"github.com/vpndiag/vpndiag"
)

//go:embed report.html.tmpl
var reportSource string

// reportTmpl is report.html: one page with inline CSS and SVG, no script and
// nothing loaded from elsewhere (a Content-Security-Policy forbids it).
var reportTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"time":     fmtTime,
	"duration": fmtDuration,
	"answer":   answerText,
	"by":       answeredBy,
	"ref":      refText,
	"ranFrom":  ranFrom,
	"dash":     orDash,
	"join":     strings.Join,
	"inc":      func(i int) int { return i + 1 },
}).Parse(reportSource))

// reportData is what the report template renders.
type reportData struct {
	Case       *vpndiag.Case
	Session    *vpndiag.Session
	Answers    []*vpndiag.Answer
	Findings   []*vpndiag.Finding
	Probes     []*vpndiag.ProbeResult
	Events     []*vpndiag.Event
	Evidence   []evidenceView
	Created    time.Time
	InProgress bool
	Version    string
	Status     string
	Site       *Site
	Diagrams   []diagramView
	Keepalive  []keepaliveView
	Tried      []string
	Outcome    string
	AskNext    []string
	PathString string
}

// keepaliveView is one monitor's summary and chart.
type keepaliveView struct {
	Name     string
	N, Lost  int
	LossPct  float64
	Avg, Max time.Duration
	From, To time.Time
	Chart    template.HTML
}

// diagramView is the diagram of one flow the case went through.
type diagramView struct {
	Name    string
	Version int
	// SVG is empty when the flow's graph is not known.
	SVG template.HTML
}

// evidenceView is an attachment and its name in the archive.
type evidenceView struct {
	Name string
	Ev   *vpndiag.Evidence
}

// writeReport writes report.html.
func (d *caseData) writeReport(w io.Writer) error {
	rd := reportData{
		Case:       d.c,
		Session:    d.session,
		Answers:    d.answers,
		Findings:   d.findings,
		Probes:     d.probes,
		Events:     d.events,
		Created:    d.created,
		InProgress: d.inProgress(),
		Version:    vpndiag.Version,
		Status:     d.statusLine(),
		Site:       siteOf(d.site),
		Tried:      d.tried(),
		Outcome:    d.outcome(),
		AskNext:    d.askNext(),
	}
	if d.session != nil {
		rd.PathString = d.session.Path.Join(" → ")
		for i, f := range d.flows {
			rd.Diagrams = append(rd.Diagrams, diagramView{Name: f.name, Version: f.version, SVG: flowDiagram(f, i+1)})
		}
	}
	for _, m := range keepaliveStats(d.samples) {
		rd.Keepalive = append(rd.Keepalive, keepaliveView{
			Name: m.name, N: m.n, Lost: m.lost, LossPct: m.lossPct(), Avg: m.avg(), Max: m.max,
			From: m.from, To: m.to, Chart: keepaliveChart(m),
		})
	}
	for _, e := range d.evidence {
		rd.Evidence = append(rd.Evidence, evidenceView{Name: e.name, Ev: e.ev})
	}
	return reportTmpl.Execute(w, rd)
}
