package bundle

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/vpndiag/vpndiag"
)

// writeSummary writes summary.md: what a support engineer reads first.
func (d *caseData) writeSummary(w io.Writer) error {
	p := &mdPrinter{w: w}
	c := d.c
	p.f("<!-- vpndiag support bundle %s -->\n", c.Marker)
	p.f("# %s: %s\n\n", c.Marker, mdText(orDash(c.Title)))
	p.f("| | |\n|---|---|\n")
	p.f("| Case | `%s` |\n", c.Marker)
	p.f("| Status | %s |\n", mdCell(d.statusLine()))
	p.f("| Opened | %s by %s (%s) |\n", fmtTime(c.CreatedAt), mdCell(orDash(c.CreatedBy)), mdCell(orDash(c.Origin)))
	if d.site != nil {
		p.f("| Site | %s |\n", mdCell(d.site.Name))
	}
	if s := d.session; s != nil {
		p.f("| Flow | %s v%d, at step `%s` after %d transitions |\n", mdCell(s.Flow), s.FlowVersion, mdCell(s.State), s.Seq)
	}
	p.f("| Exported | %s by vpndiag %s |\n\n", fmtTime(d.created), mdCell(vpndiag.Version))
	if d.inProgress() {
		p.f("> **In progress.** This case was still open when it was exported: the bundle holds what it had at %s.\n\n", fmtTime(d.created))
	}

	p.f("## Symptom\n\n%s\n\n", mdText(orDash(c.Title)))

	if d.site != nil {
		s := siteOf(d.site)
		p.f("## Site profile\n\n")
		p.f("- Name: %s\n", mdText(s.Name))
		p.f("- Cloud internal range: %s\n", orDash(s.CloudCIDR))
		p.f("- Cloud DNS servers: %s\n", orDash(strings.Join(s.CloudDNSServers, ", ")))
		p.f("- Cloud VPN endpoints: %s\n", orDash(strings.Join(s.VPNEndpoints, ", ")))
		p.f("- Customer ranges: %s\n", orDash(strings.Join(s.CustomerCIDRs, ", ")))
		p.f("- Customer peer: %s\n", orDash(s.CustomerPeer))
		p.f("- Internal resolvers: %s\n", orDash(strings.Join(s.InternalResolvers, ", ")))
		p.f("- Environments: %s\n", mdText(orDash(strings.Join(s.EnvironmentFQDNs, ", "))))
		p.f("- Routing: %s, IKE version: %s, only TCP 443: %t, console: %s\n\n",
			orDash(s.Routing), orDash(intOrEmpty(s.IKEVersion)), s.Only443, mdText(orDash(s.ConsoleVersion)))
	}

	p.f("## Decision path\n\n")
	if d.session != nil && len(d.session.Path) > 0 {
		p.f("States visited: %s\n\n", mdText(d.session.Path.Join(" → ")))
	}
	if len(d.answers) == 0 {
		p.f("No step has been answered yet.\n\n")
	} else {
		p.f("| # | Question | Answer | Answered by | When |\n|---|---|---|---|---|\n")
		for i, a := range d.answers {
			p.f("| %d | %s | %s | %s | %s |\n", i+1, mdCell(orDash(a.Question)), mdCell(answerText(a)), mdCell(answeredBy(a)), fmtTime(a.CreatedAt))
		}
		p.f("\n")
	}

	p.f("## Findings\n\n")
	if len(d.findings) == 0 {
		p.f("No findings.\n\n")
	}
	for i, f := range d.findings {
		p.f("### %d. [%s] %s: %s\n\n", i+1, f.Severity, mdText(f.Code), mdText(f.Summary))
		if f.Detail != "" {
			p.f("%s\n\n", mdText(f.Detail))
		}
		if f.Fix != "" {
			p.f("- Fix: %s\n", mdText(f.Fix))
		}
		if f.KBArticle != "" {
			p.f("- KB article: `%s`\n", f.KBArticle)
		}
		if f.Source != "" {
			p.f("- Source: %s\n", mdText(f.Source))
		}
		for _, r := range f.Evidence {
			p.f("- Evidence: `%s`", mdCode(refText(r)))
			if r.Text != "" {
				p.f(": `%s`", mdCode(r.Text))
			}
			p.f("\n")
		}
		p.f("\n")
	}

	p.f("## Probe results\n\n")
	if len(d.probes) == 0 {
		p.f("No probes were run.\n\n")
	} else {
		p.f("| # | Kind | Target | Outcome | Summary | Ran from | Started | Duration |\n|---|---|---|---|---|---|---|---|\n")
		for i, r := range d.probes {
			sum := r.Summary
			if r.Error != "" {
				sum = strings.TrimSpace(sum + " (" + r.Error + ")")
			}
			p.f("| %d | %s | %s | **%s** | %s | %s | %s | %s |\n", i+1, r.Kind, mdCell(r.Target), r.Outcome, mdCell(orDash(sum)),
				mdCell(ranFrom(r)), fmtTime(r.StartedAt), fmtDuration(r.Duration))
		}
		p.f("\n")
	}
	if len(d.samples) > 0 {
		p.f("## Keep-alive\n\n| Monitor | Samples | Lost | Loss | RTT avg | RTT max | From | To |\n|---|---|---|---|---|---|---|---|\n")
		for _, m := range keepaliveStats(d.samples) {
			p.f("| %s | %d | %d | %.1f%% | %s | %s | %s | %s |\n", mdCell(m.name), m.n, m.lost, m.lossPct(),
				fmtDuration(m.avg()), fmtDuration(m.max), fmtTime(m.from), fmtTime(m.to))
		}
		p.f("\n")
	}

	p.f("## Evidence\n\n")
	if len(d.evidence) == 0 {
		p.f("No evidence was attached to this case: no device configuration or logs were uploaded.\n\n")
	} else {
		p.f("| File | Kind | Vendor | Size | Secrets redacted | Uploaded by | SHA-256 (redacted) |\n|---|---|---|---|---|---|---|\n")
		for _, e := range d.evidence {
			p.f("| `%s` | %s | %s | %d | %d | %s | `%s` |\n", mdCode(e.name), e.ev.Kind, mdCell(orDash(e.ev.Vendor)), e.ev.Size,
				e.ev.Redactions, mdCell(orDash(e.ev.UploadedBy)), e.ev.SHA256)
		}
		p.f("\n")
	}

	p.f("## What the user already tried\n\n")
	for _, t := range d.tried() {
		p.f("- %s\n", mdText(t))
	}
	p.f("\n## Outcome\n\n%s\n\n", mdText(d.outcome()))

	p.f("## What support should ask next\n\n")
	for _, q := range d.askNext() {
		p.f("- %s\n", mdText(q))
	}
	p.f("\n---\nCase marker: `%s`. Every file of this bundle carries it; manifest.json lists each file with its SHA-256.\n", c.Marker)
	return p.err
}

// statusLine describes the case's status in words.
func (d *caseData) statusLine() string {
	switch d.c.Status {
	case vpndiag.CaseOpen:
		return "open (in progress)"
	case vpndiag.CaseResolved:
		return "resolved"
	case vpndiag.CaseEscalated:
		return "escalated to support"
	case vpndiag.CaseClosed:
		return "closed without an outcome"
	}
	return string(d.c.Status)
}

// outcome is the resolution, why the case was escalated, or where it stands.
func (d *caseData) outcome() string {
	c := d.c
	var msgs []string
	for _, e := range d.events {
		if (c.Status == vpndiag.CaseEscalated && e.Kind == vpndiag.EventEscalation) ||
			(c.Status == vpndiag.CaseResolved && e.Kind == vpndiag.EventResolution) {
			msgs = append(msgs, e.Message)
		}
	}
	why := strings.Join(msgs, " ")
	kb := ""
	if c.KBArticle != "" {
		kb = " (KB article " + c.KBArticle + ")"
	}
	switch c.Status {
	case vpndiag.CaseResolved:
		return strings.TrimSpace(fmt.Sprintf("Resolved: %s%s. %s", orDash(c.Resolution), kb, why))
	case vpndiag.CaseEscalated:
		if why == "" {
			why = "no reason was recorded."
		}
		res := ""
		if c.Resolution != "" {
			res = " at step " + c.Resolution + kb
		}
		return fmt.Sprintf("Escalated to support%s: %s", res, why)
	case vpndiag.CaseClosed:
		return "Closed by a user without a resolution."
	}
	if d.session != nil {
		return fmt.Sprintf("In progress: the case was waiting on step %s of flow %s when exported.", d.session.State, d.session.Flow)
	}
	return "In progress: no diagnosis flow had been started when exported."
}

// tried lists what the user already did: notes they added, actions the flow
// asked for that they confirmed, and what they uploaded and ran.
func (d *caseData) tried() []string {
	var out []string
	for _, e := range d.events {
		if e.Kind == vpndiag.EventNote && e.Message != "" && e.Actor != "bot" && e.Actor != "system" {
			out = append(out, fmt.Sprintf("Note from %s at %s: %s", e.Actor, fmtTime(e.Time), e.Message))
		}
	}
	kinds := map[[2]string]vpndiag.StepKind{}
	for _, f := range d.flows {
		if f.graph != nil {
			for _, n := range f.graph.Nodes {
				kinds[[2]string{f.name, n.State}] = n.Kind
			}
		}
	}
	for _, a := range d.answers {
		if k := kinds[[2]string{a.Flow, a.State}]; k == vpndiag.StepInfo || k == vpndiag.StepResolution {
			out = append(out, fmt.Sprintf("%s: %s (%s)", a.Question, answerText(a), fmtTime(a.CreatedAt)))
		}
	}
	if n := len(d.evidence); n > 0 {
		out = append(out, fmt.Sprintf("Uploaded %d file(s) for analysis.", n))
	}
	if n := len(d.probes); n > 0 {
		out = append(out, fmt.Sprintf("Ran %d probe(s) from the bot or the relay.", n))
	}
	if len(out) == 0 {
		out = append(out, "Nothing recorded beyond the answers above.")
	}
	return out
}

// askNext lists the questions support should ask, from what the case lacks
// and what went wrong.
func (d *caseData) askNext() []string {
	var out []string
	hasKind := map[vpndiag.EvidenceKind]bool{}
	for _, e := range d.evidence {
		hasKind[e.ev.Kind] = true
	}
	if !hasKind[vpndiag.EvidenceConfig] {
		out = append(out, "Ask for the VPN device's configuration (it is redacted on upload): none is attached.")
	}
	if !hasKind[vpndiag.EvidenceLog] {
		out = append(out, "Ask for the device's IKE/IPsec logs covering a failure: none are attached.")
	}
	n := 0
	for _, f := range d.findings {
		if f.Fix == "" || f.Severity.Rank() < vpndiag.SeverityWarning.Rank() || n == 5 {
			continue
		}
		n++
		out = append(out, fmt.Sprintf("Ask whether this change was made (%s, %s): %s", f.Code, f.Severity, f.Fix))
	}
	for _, r := range d.probes {
		switch r.Outcome {
		case vpndiag.OutcomeOK:
		case vpndiag.OutcomeDenied:
			out = append(out, fmt.Sprintf("The relay's policy refused the %s probe to %s: ask whether it may be allowed.", r.Kind, r.Target))
		case vpndiag.OutcomeError:
			out = append(out, fmt.Sprintf("The %s probe to %s could not run (%s): ask the user to run it by hand.", r.Kind, r.Target, orDash(r.Error)))
		default:
			out = append(out, fmt.Sprintf("The %s probe to %s gave %q: ask what firewall, route or NAT sits between %s and it.", r.Kind, r.Target, r.Outcome, ranFrom(r)))
		}
	}
	for _, m := range keepaliveStats(d.samples) {
		if m.lost > 0 {
			out = append(out, fmt.Sprintf("Keep-alive %s lost %d of %d pings (%.1f%%) between %s and %s: ask for the tunnel's up/down log around those times.",
				m.name, m.lost, m.n, m.lossPct(), fmtTime(m.from), fmtTime(m.to)))
		}
	}
	switch {
	case d.session == nil && d.inProgress():
		out = append(out, "The diagnosis flow was never started: ask the user to run it, or for the symptom in detail.")
	case d.inProgress():
		out = append(out, fmt.Sprintf("The case stopped at step %q: ask the user to continue it, or why they could not.", d.session.State))
	}
	if len(out) == 0 {
		out = append(out, "Nothing outstanding: confirm with the user that the fix held.")
	}
	return out
}

// answerText is what was answered.
func answerText(a *vpndiag.Answer) string {
	switch {
	case a.Label != "" && a.Value != "":
		return a.Label + ": " + a.Value
	case a.Label != "":
		return a.Label
	case a.Value != "":
		return a.Value
	case a.Choice != "":
		return a.Choice
	}
	return "—"
}

// answeredBy is who or what answered, e.g. "U123 (user)" or "probe job-7".
func answeredBy(a *vpndiag.Answer) string {
	s := string(a.Source)
	if a.SourceRef != "" {
		s += " " + a.SourceRef
	}
	if a.Actor != "" {
		s = a.Actor + " (" + s + ")"
	}
	return orDash(s)
}

// refText is "name:line" or "name".
func refText(r vpndiag.EvidenceRef) string {
	if r.Line > 0 {
		return fmt.Sprintf("%s:%d", r.Name, r.Line)
	}
	return r.Name
}

// ranFrom says where a probe ran.
func ranFrom(r *vpndiag.ProbeResult) string {
	if r.Relay != "" {
		return "relay " + r.Relay
	}
	return "the bot"
}

// keepaliveMonitor summarises one monitor's samples.
type keepaliveMonitor struct {
	name     string
	n, lost  int
	sum, max time.Duration
	from, to time.Time
	samples  []vpndiag.KeepaliveSample
}

func (m *keepaliveMonitor) lossPct() float64 {
	if m.n == 0 {
		return 0
	}
	return 100 * float64(m.lost) / float64(m.n)
}

func (m *keepaliveMonitor) avg() time.Duration {
	if ok := m.n - m.lost; ok > 0 {
		return m.sum / time.Duration(ok)
	}
	return 0
}

// keepaliveStats groups samples by monitor, in order of first appearance.
func keepaliveStats(samples []vpndiag.KeepaliveSample) []*keepaliveMonitor {
	var out []*keepaliveMonitor
	by := map[string]*keepaliveMonitor{}
	for _, s := range samples {
		m := by[s.Monitor]
		if m == nil {
			m = &keepaliveMonitor{name: s.Monitor, from: s.Time, to: s.Time}
			by[s.Monitor] = m
			out = append(out, m)
		}
		m.n++
		m.samples = append(m.samples, s)
		if s.Time.Before(m.from) {
			m.from = s.Time
		}
		if s.Time.After(m.to) {
			m.to = s.Time
		}
		if !s.OK {
			m.lost++
			continue
		}
		m.sum += s.RTT
		if s.RTT > m.max {
			m.max = s.RTT
		}
	}
	return out
}

// mdPrinter writes formatted Markdown and keeps the first error.
type mdPrinter struct {
	w   io.Writer
	err error
}

func (p *mdPrinter) f(format string, args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format, args...)
	}
}

// mdText makes user text safe in a Markdown paragraph: no raw HTML, no
// line breaks that start new blocks.
func mdText(s string) string {
	s = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ", "<", "&lt;", ">", "&gt;").Replace(s)
	return s
}

// mdCell makes user text safe in a Markdown table cell.
func mdCell(s string) string { return strings.ReplaceAll(mdText(s), "|", `\|`) }

// mdCode makes text safe inside a `code` span in a table.
func mdCode(s string) string {
	return strings.NewReplacer("`", "'", "|", `\|`, "\n", " ", "\r", " ").Replace(s)
}

func orDash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "—"
	}
	return s
}

func intOrEmpty(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprint(n)
}

// fmtTime formats t in UTC to the second, "—" when zero.
func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// fmtDuration formats a probe or RTT duration for people.
func fmtDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "—"
	case d < time.Millisecond:
		return fmt.Sprintf("%d µs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	case d < time.Minute:
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
	return d.Round(time.Second).String()
}
