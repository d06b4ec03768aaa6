// Package terminal runs a diagnosis at a terminal prompt, or from an
// answers file, over the flow engine: numbered choices, typed values
// validated and asked again on error, probes run through a vpndiag.Prober
// (or answered by hand when there is none, or when one cannot run here),
// files attached through an AttachFunc. Every step is stored as it is taken,
// so stopping at any prompt (EOF, Ctrl-D) loses nothing: running again with
// the case marker continues at the same question.
//
// # Answers
//
// One answer a line. A question (and a probe step answered by hand) takes
// the choice's number, its key, or the start of its label (case-insensitive,
// unique); an input step takes the value; an evidence step takes a file path,
// or "skip" when there is nothing to upload. Blank lines and lines starting
// with # are ignored. A line that does not fit is reported and the next line
// is read as a new answer to the same step.
package terminal

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/flows"
	"github.com/vpndiag/vpndiag/kb"
)

// AttachFunc attaches the file at path to a case (redacted, stored and
// analysed) and returns the findings it produced.
type AttachFunc func(ctx context.Context, caseID int64, path string) ([]*vpndiag.Finding, error)

// Runner drives one case through the flows at a terminal.
type Runner struct {
	// Engine walks the flows; Services are the stores it runs over (Cases,
	// Sessions and Sites are required, Findings optional).
	Engine   *flows.Engine
	Services flows.Services
	// Prober runs probe steps; nil asks the user to run them by hand.
	Prober vpndiag.Prober
	// Attach attaches files of evidence steps; nil means files cannot be
	// analysed in this build and evidence steps go on without them.
	Attach AttachFunc
	// In is read one line per answer; Out receives the conversation.
	In  io.Reader
	Out io.Writer
	// Interactive is true at a terminal: prompts are shown and a new case
	// asks for its site profile once.
	Interactive bool
	// Actor is who answers (the OS user).
	Actor string
	// Now stamps new case markers; nil means vpndiag.Now.
	Now vpndiag.Clock
}

// Options select the case and flow.
type Options struct {
	// Case is the marker of a case to resume; empty opens a new case.
	Case string
	// Flow is the flow a new case starts with; empty means triage.
	Flow string
	// Site is a saved site profile's name, or a YAML file to save and use.
	Site string
	// Migrate moves a resumed case to the current flow version when its
	// own version or state is no longer available.
	Migrate bool
	// Evidence are files attached to the case before its first step (or,
	// when resuming, before the current step is shown), so that the
	// questions they answer are skipped.
	Evidence []string
	// ResumeHint is appended to the resume and export commands printed,
	// e.g. " --db /tmp/x.db".
	ResumeHint string
}

// Result is where a run ended.
type Result struct {
	// Case is the case marker.
	Case string `json:"case"`
	// Status is the case status.
	Status vpndiag.CaseStatus `json:"status"`
	// Finished is true when a resolution or escalation was reached (a
	// resolution leaves Status open until "Did this fix it?" is answered
	// yes); false when input ended first (the case is saved and can be
	// resumed).
	Finished bool `json:"finished"`
	// Flow and State are where the case stands.
	Flow  string `json:"flow"`
	State string `json:"state"`
	// Resolution is the terminal step's ID ("flow.state"), KBArticle the kb
	// article it cites and KBTitle that article's title.
	Resolution string `json:"resolution,omitempty"`
	KBArticle  string `json:"kb_article,omitempty"`
	KBTitle    string `json:"kb_title,omitempty"`
	// Path is the list of "flow:state" entries visited.
	Path vpndiag.Path `json:"path"`
	// Answers are how each step was answered.
	Answers []Answer `json:"answers"`
	// Findings are the case's findings, worst first.
	Findings []*vpndiag.Finding `json:"findings"`
	// Export is the command that writes the case's support bundle.
	Export string `json:"export"`
}

// Answer summarises one answered step.
type Answer struct {
	Step     string               `json:"step"`
	Question string               `json:"question"`
	Answer   string               `json:"answer"`
	Source   vpndiag.AnswerSource `json:"source"`
	// Auto is true when the engine answered the step by itself (from the
	// profile, a probe, a finding or an earlier answer).
	Auto bool `json:"auto,omitempty"`
}

// errEOF ends a run when input ends mid-flow.
var errEOF = errors.New("terminal: end of input")

// Run opens or resumes a case and walks it until a terminal step or the
// end of input. Both are a clean end (nil error); Result.Finished tells
// them apart.
func (r *Runner) Run(ctx context.Context, opts Options) (*Result, error) {
	sc := bufio.NewScanner(r.In)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	in := &lines{sc: sc}
	c, step, err := r.open(ctx, in, opts)
	if errors.Is(err, errEOF) && c != nil {
		return r.saved(ctx, c, opts)
	} else if err != nil {
		return nil, err
	}
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if step.Kind.Terminal() {
			r.printAuto(step, false)
			r.printEnd(step)
			if step.Kind == vpndiag.StepEscalation || len(step.Choices) == 0 {
				break
			}
		}
		next, err := r.ask(ctx, in, c, step)
		if errors.Is(err, errEOF) {
			if step.Kind.Terminal() {
				break // the resolution stands; "Did this fix it?" stays open
			}
			return r.saved(ctx, c, opts)
		} else if err != nil {
			return nil, err
		}
		if next.CaseStatus == vpndiag.CaseResolved && next.Kind == vpndiag.StepResolution {
			fmt.Fprintln(r.Out, "\nGood: the case is closed as resolved.")
			step = next
			break
		}
		step = next
	}
	res, err := r.result(ctx, c.ID, opts)
	if err != nil {
		return nil, err
	}
	status := string(res.Status)
	if res.Status == vpndiag.CaseOpen && res.Resolution != "" {
		status = "open: resolution " + res.Resolution + " awaits \"" + vpndiag.ConfirmFixQuestion + "\""
	}
	fmt.Fprintf(r.Out, "\nCase %s %s. Export the support bundle with: %s\n", res.Case, status, res.Export)
	return res, nil
}

// open creates the case (asking for the site once) and starts it, or finds
// the case to resume and returns its current step.
func (r *Runner) open(ctx context.Context, in *lines, opts Options) (*vpndiag.Case, *vpndiag.Step, error) {
	if opts.Case != "" {
		c, err := r.Services.Cases.FindCaseByMarker(ctx, strings.ToUpper(strings.TrimSpace(opts.Case)))
		if err != nil {
			return nil, nil, err
		}
		if opts.Site != "" && c.SiteID == 0 {
			site, err := r.site(ctx, opts.Site)
			if err != nil {
				return nil, nil, err
			}
			if c, err = r.Services.Cases.UpdateCase(ctx, c.ID, vpndiag.CaseUpdate{SiteID: &site.ID}); err != nil {
				return nil, nil, err
			}
		}
		if err := r.attachAll(ctx, c, opts.Evidence); err != nil {
			return nil, nil, err
		}
		step, err := r.Engine.Current(ctx, c.ID)
		if errors.Is(err, flows.ErrNeedsMigration) {
			if !opts.Migrate {
				return nil, nil, vpndiag.Errorf(vpndiag.ECONFLICT, "%s Run again with --migrate to do so.", vpndiag.ErrorMessage(err))
			}
			step, err = r.Engine.Migrate(ctx, c.ID, r.Actor)
		}
		if err != nil {
			return nil, nil, err
		}
		fmt.Fprintf(r.Out, "Resuming case %s (%s).\n", c.Marker, c.Status)
		return c, step, nil
	}
	if opts.Flow != "" {
		if _, err := r.Engine.Flows().Current(opts.Flow); err != nil {
			return nil, nil, err
		}
	}
	var site *vpndiag.Site
	var err error
	if opts.Site != "" {
		if site, err = r.site(ctx, opts.Site); err != nil {
			return nil, nil, err
		}
	}
	now := vpndiag.Now
	if r.Now != nil {
		now = r.Now
	}
	marker, err := vpndiag.NewUniqueMarker(ctx, r.Services.Cases, now(), nil)
	if err != nil {
		return nil, nil, err
	}
	c := &vpndiag.Case{Marker: marker, Status: vpndiag.CaseOpen, Origin: "terminal", CreatedBy: r.Actor}
	if site != nil {
		c.SiteID = site.ID
	}
	if err := r.Services.Cases.CreateCase(ctx, c); err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(r.Out, "Case %s opened.\n", c.Marker)
	if site == nil && r.Interactive {
		site, err = r.askSite(ctx, in)
		if errors.Is(err, errEOF) {
			return c, nil, err
		} else if err != nil {
			return nil, nil, err
		}
		if site != nil {
			if c, err = r.Services.Cases.UpdateCase(ctx, c.ID, vpndiag.CaseUpdate{SiteID: &site.ID}); err != nil {
				return nil, nil, err
			}
		}
	}
	if err := r.attachAll(ctx, c, opts.Evidence); err != nil {
		return nil, nil, err
	}
	step, err := r.Engine.Start(ctx, c.ID, opts.Flow, r.Actor)
	if err != nil {
		return nil, nil, err
	}
	return c, step, nil
}

// attachAll attaches the files given on the command line to c. A file that
// cannot be attached stops the run with its reason: the case is kept, and
// nothing of that file is stored.
func (r *Runner) attachAll(ctx context.Context, c *vpndiag.Case, paths []string) error {
	if len(paths) > 0 && r.Attach == nil {
		return vpndiag.Errorf(vpndiag.EINVALID, "File analysis is not available here; run without --evidence.")
	}
	for _, p := range paths {
		if _, err := r.attach(ctx, c, p); err != nil {
			return fmt.Errorf("attach %s: %w", p, err)
		}
	}
	return nil
}

// lines reads answers, skipping blank lines and # comments.
type lines struct{ sc *bufio.Scanner }

func (l *lines) next() (string, error) {
	for l.sc.Scan() {
		s := strings.TrimSpace(l.sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		return s, nil
	}
	if err := l.sc.Err(); err != nil {
		return "", fmt.Errorf("read answer: %w", err)
	}
	return "", errEOF
}

// prompt prints the prompt (interactive only) and reads a line; in
// interactive mode a blank line is returned too (Enter on its own).
func (r *Runner) prompt(in *lines) (string, error) {
	if r.Interactive {
		fmt.Fprint(r.Out, "> ")
		if !in.sc.Scan() {
			if err := in.sc.Err(); err != nil {
				return "", fmt.Errorf("read answer: %w", err)
			}
			fmt.Fprintln(r.Out)
			return "", errEOF
		}
		return strings.TrimSpace(in.sc.Text()), nil
	}
	s, err := in.next()
	if err == nil {
		fmt.Fprintf(r.Out, "> %s\n", s)
	}
	return s, err
}

// printAuto shows every step answered automatically on the way to step,
// with what answered it, and the notes to read. With choices, each
// reopenable answer gets a "That's not right" choice (x1, x2 …).
func (r *Runner) printAuto(step *vpndiag.Step, choices bool) {
	for i, a := range step.Auto {
		mark := ""
		if choices && a.Reopenable {
			mark = fmt.Sprintf("  [x%d: that's not right]", i+1)
		}
		fmt.Fprintf(r.Out, "  ✓ %s — %s (by %s)%s\n", a.Question, a.Answer, a.By, mark)
	}
	for _, n := range step.Notes {
		fmt.Fprintf(r.Out, "  ! %s\n", n)
	}
}

func (r *Runner) printStep(step *vpndiag.Step) {
	fmt.Fprintf(r.Out, "\n[%s] %s\n", step.Flow, step.Title)
	if step.Text != "" {
		fmt.Fprintln(r.Out, indent(step.Text, "  "))
	}
}

// ask shows one step, reads answers until one is accepted and returns the
// next step. Besides the step's own answers, every prompt takes "back"
// (undo the last answer), "restart" (triage again) and, for a step
// answered automatically on the way, "xN" (that's not right: ask it).
func (r *Runner) ask(ctx context.Context, in *lines, c *vpndiag.Case, step *vpndiag.Step) (*vpndiag.Step, error) {
	if !step.Kind.Terminal() {
		r.printAuto(step, true)
		r.printStep(step)
	} else {
		r.printReopen(step)
		fmt.Fprintf(r.Out, "\n%s\n", vpndiag.ConfirmFixQuestion)
	}
	reply := vpndiag.Reply{Seq: step.Seq, Actor: r.Actor}
	switch step.Kind {
	case vpndiag.StepInfo:
		return r.reply(ctx, c, reply)
	case vpndiag.StepProbe:
		if r.Prober != nil {
			results, ok := r.runProbes(ctx, step)
			if ok {
				reply.Results = results
				return r.reply(ctx, c, reply)
			}
		} else {
			fmt.Fprintln(r.Out, "  Run this by hand from a host in your network and say what happened:")
			for _, p := range step.Probes {
				fmt.Fprintf(r.Out, "    $ %s\n", command(p))
			}
		}
	}
	for {
		for i, ch := range step.Choices {
			fmt.Fprintf(r.Out, "  %d. %s\n", i+1, ch.Label)
		}
		switch step.Kind {
		case vpndiag.StepInput:
			label := step.Input.Label
			if label == "" {
				label = string(step.Input.Kind)
			}
			fmt.Fprintf(r.Out, "  %s (e.g. %s)\n", label, step.Input.Placeholder)
			if step.Input.Description != "" {
				fmt.Fprintf(r.Out, "  %s\n", step.Input.Description)
			}
		case vpndiag.StepEvidence:
			fmt.Fprintf(r.Out, "  %s\n  Type the path of a file to attach, or \"skip\" if you have nothing to upload.\n", step.Evidence.Hint)
		}
		if step.CanGoBack && r.Interactive {
			fmt.Fprintln(r.Out, "  (\"back\" undoes your last answer, \"restart\" starts over)")
		}
		line, err := r.prompt(in)
		if err != nil {
			return nil, err
		}
		if next, done, err := r.command(ctx, c, step, line); done {
			if vpndiag.ErrorCode(err) == vpndiag.EINVALID {
				fmt.Fprintf(r.Out, "  %s\n", vpndiag.ErrorMessage(err))
				continue
			}
			return next, err
		}
		reply := vpndiag.Reply{Seq: step.Seq, Actor: r.Actor}
		switch {
		case len(step.Choices) > 0 && (step.Kind != vpndiag.StepEvidence || !looksLikePath(line)):
			key, err := match(step.Choices, line)
			if err != nil {
				fmt.Fprintf(r.Out, "  %s\n", vpndiag.ErrorMessage(err))
				continue
			}
			reply.Choice = key
		case step.Kind == vpndiag.StepInput:
			reply.Value = line
		case step.Kind == vpndiag.StepEvidence:
			if line == "" || strings.EqualFold(line, "skip") {
				reply.Skip = true
				break
			}
			fs, err := r.attach(ctx, c, line)
			if err != nil {
				fmt.Fprintf(r.Out, "  %s\n", vpndiag.ErrorMessage(err))
				continue
			}
			// The engine reads the stored findings; nothing stored means
			// nothing could be analysed here.
			reply.Skip = fs == nil
		}
		next, err := r.reply(ctx, c, reply)
		if vpndiag.ErrorCode(err) == vpndiag.EINVALID {
			fmt.Fprintf(r.Out, "  %s\n", vpndiag.ErrorMessage(err))
			continue
		}
		return next, err
	}
}

// printReopen lists, under a resolution, the automatic answers that led to
// it with their "That's not right" choices.
func (r *Runner) printReopen(step *vpndiag.Step) {
	for i, a := range step.Auto {
		if a.Reopenable {
			fmt.Fprintf(r.Out, "  x%d. That's not right: %s — %s\n", i+1, a.Question, a.Answer)
		}
	}
}

// looksLikePath tells a file path from a choice typed at an evidence step.
func looksLikePath(s string) bool {
	return strings.ContainsAny(s, "/\\.") || strings.EqualFold(s, "skip")
}

// command handles the answers every prompt takes: back, restart and xN.
// done is false when line is none of them.
func (r *Runner) command(ctx context.Context, c *vpndiag.Case, step *vpndiag.Step, line string) (next *vpndiag.Step, done bool, err error) {
	l := strings.ToLower(strings.TrimSpace(line))
	switch {
	case l == "back":
		next, err = r.Engine.Back(ctx, c.ID, step.Seq, r.Actor)
		return next, true, err
	case l == "restart" || l == "start over":
		next, err = r.Engine.Restart(ctx, c.ID, r.Actor)
		return next, true, err
	case len(l) > 1 && l[0] == 'x':
		n, convErr := strconv.Atoi(l[1:])
		if convErr != nil {
			return nil, false, nil
		}
		if n < 1 || n > len(step.Auto) || !step.Auto[n-1].Reopenable {
			return nil, true, vpndiag.Errorf(vpndiag.EINVALID, "x%d names no automatic answer of this step.", n)
		}
		next, err = r.Engine.Reply(ctx, c.ID, vpndiag.Reply{Seq: step.Seq, Actor: r.Actor, Reopen: step.Auto[n-1].Reopen()})
		return next, true, err
	}
	return nil, false, nil
}

// reply sends the reply; a conflict (the case moved on elsewhere) returns
// the case's current step instead.
func (r *Runner) reply(ctx context.Context, c *vpndiag.Case, reply vpndiag.Reply) (*vpndiag.Step, error) {
	next, err := r.Engine.Reply(ctx, c.ID, reply)
	if vpndiag.ErrorCode(err) == vpndiag.ECONFLICT && !errors.Is(err, flows.ErrNeedsMigration) {
		fmt.Fprintf(r.Out, "  %s\n", vpndiag.ErrorMessage(err))
		return r.Engine.Current(ctx, c.ID)
	}
	return next, err
}

// attach analyses one file; with no AttachFunc it says so and returns nil
// findings (the step continues as "nothing to upload").
func (r *Runner) attach(ctx context.Context, c *vpndiag.Case, path string) ([]*vpndiag.Finding, error) {
	if r.Attach == nil {
		fmt.Fprintf(r.Out, "  File analysis is not available in this build; continuing without %s.\n", path)
		return nil, nil
	}
	if _, err := os.Stat(path); err != nil {
		return nil, vpndiag.Errorf(vpndiag.EINVALID, "Cannot read %s: %v.", path, errors.Unwrap(err))
	}
	fs, err := r.Attach(ctx, c.ID, path)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(r.Out, "  Attached %s: %d finding(s).\n", path, len(fs))
	for _, f := range fs {
		fmt.Fprintf(r.Out, "    - [%s] %s: %s\n", f.Severity, f.Code, f.Summary)
	}
	if fs == nil {
		fs = []*vpndiag.Finding{}
	}
	return fs, nil
}

// runProbes runs every probe of step; ok is false when one could not run
// here (then the step is answered by hand).
func (r *Runner) runProbes(ctx context.Context, step *vpndiag.Step) ([]*vpndiag.ProbeResult, bool) {
	var out []*vpndiag.ProbeResult
	for _, p := range step.Probes {
		fmt.Fprintf(r.Out, "  running %s … ", command(p))
		res, err := r.Prober.Probe(ctx, p)
		if err != nil {
			fmt.Fprintf(r.Out, "cannot run here: %s\n  Run it by hand instead and say what happened:\n", vpndiag.ErrorMessage(err))
			return nil, false
		}
		fmt.Fprintf(r.Out, "%s — %s\n", res.Outcome, res.Summary)
		if res.Outcome == vpndiag.OutcomeError || res.Outcome == vpndiag.OutcomeDenied {
			if res.Error != "" {
				fmt.Fprintf(r.Out, "  %s\n", res.Error)
			}
			fmt.Fprintln(r.Out, "  The probe could not run here. Run it by hand instead and say what happened:")
			return nil, false
		}
		out = append(out, res)
	}
	return out, true
}

// command renders a probe request as the shell command a person would run.
func command(p *vpndiag.ProbeRequest) string {
	switch p.Kind {
	case vpndiag.ProbeDNS:
		if cmp := p.Params["compare"]; cmp != "" {
			return fmt.Sprintf("nslookup %s %s   (and compare with nslookup %s %s)", p.Target, p.Params["server"], p.Target, cmp)
		}
		return fmt.Sprintf("nslookup %s %s", p.Target, p.Params["server"])
	case vpndiag.ProbePing:
		return "ping -c " + orDefault(p.Params["count"], "3") + " " + p.Target
	case vpndiag.ProbeTCP:
		host, port, _ := strings.Cut(p.Target, ":")
		return fmt.Sprintf("telnet %s %s", host, port)
	case vpndiag.ProbeTraceroute:
		return "traceroute " + p.Target
	case vpndiag.ProbeKeepalive:
		return fmt.Sprintf("ping -i %s %s   (for a minute, count the losses)", strings.TrimSuffix(orDefault(p.Params["interval"], "5s"), "s"), p.Target)
	case vpndiag.ProbeIKE:
		return fmt.Sprintf("ike-scan %s   (an IKE_SA_INIT on UDP %s)", p.Target, orDefault(p.Params["port"], strconv.Itoa(kb.IKEPort)))
	}
	return fmt.Sprintf("%s %s", p.Kind, p.Target)
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// match finds the choice a line names: its number, its key, or the unique
// choice whose label starts with it (case-insensitive).
func match(choices []vpndiag.Choice, line string) (string, error) {
	s := strings.TrimSpace(line)
	if n, err := strconv.Atoi(s); err == nil {
		if n >= 1 && n <= len(choices) {
			return choices[n-1].Key, nil
		}
		return "", vpndiag.Errorf(vpndiag.EINVALID, "%d is not one of the choices: type a number from 1 to %d.", n, len(choices))
	}
	for _, c := range choices {
		if strings.EqualFold(c.Key, s) {
			return c.Key, nil
		}
	}
	var found []vpndiag.Choice
	for _, c := range choices {
		if s != "" && strings.HasPrefix(strings.ToLower(c.Label), strings.ToLower(s)) {
			found = append(found, c)
		}
	}
	switch len(found) {
	case 1:
		return found[0].Key, nil
	case 0:
		return "", vpndiag.Errorf(vpndiag.EINVALID, "%q is not one of the choices: type a number from 1 to %d.", s, len(choices))
	}
	var keys []string
	for _, c := range found {
		keys = append(keys, c.Key)
	}
	return "", vpndiag.Errorf(vpndiag.EINVALID, "%q matches several choices (%s): type more of the label, or its number.", s, strings.Join(keys, ", "))
}

// printEnd shows a resolution or escalation with its kb article.
func (r *Runner) printEnd(step *vpndiag.Step) {
	what := "Resolution"
	if step.Kind == vpndiag.StepEscalation {
		what = "Escalation"
	}
	fmt.Fprintf(r.Out, "\n== %s: %s\n", what, step.Title)
	if step.Text != "" {
		fmt.Fprintln(r.Out, indent(step.Text, "  "))
	}
	if a, err := kb.Article(step.KBArticle); err == nil {
		fmt.Fprintf(r.Out, "\n-- kb: %s (%s; guide section %q)\n%s\n", a.Title, a.Slug, a.GuideSection, indent(a.Body, "  "))
	}
}

// saved reports a case left mid-flow.
func (r *Runner) saved(ctx context.Context, c *vpndiag.Case, opts Options) (*Result, error) {
	res, err := r.result(ctx, c.ID, opts)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(r.Out, "\ncase %s saved; resume with vpndiag diagnose --case %s%s\n", c.Marker, c.Marker, opts.ResumeHint)
	return res, nil
}

// result collects where the case stands.
func (r *Runner) result(ctx context.Context, caseID int64, opts Options) (*Result, error) {
	c, err := r.Services.Cases.FindCaseByID(ctx, caseID)
	if err != nil {
		return nil, err
	}
	res := &Result{
		Case: c.Marker, Status: c.Status, Resolution: c.Resolution, KBArticle: c.KBArticle,
		Finished: c.Resolution != "" || c.Status == vpndiag.CaseResolved || c.Status == vpndiag.CaseEscalated,
		Export:   "vpndiag export " + c.Marker + opts.ResumeHint,
		Answers:  []Answer{}, Findings: []*vpndiag.Finding{},
	}
	if a, err := kb.Article(c.KBArticle); err == nil {
		res.KBTitle = a.Title
	}
	if sess, err := r.Services.Sessions.FindSession(ctx, caseID); err == nil {
		res.Flow, res.State, res.Path = sess.Flow, sess.State, sess.Path
	} else if vpndiag.ErrorCode(err) != vpndiag.ENOTFOUND {
		return nil, err
	}
	answers, err := r.Services.Sessions.FindAnswers(ctx, caseID)
	if err != nil {
		return nil, err
	}
	for _, a := range answers {
		text := a.Label
		if a.Value != "" {
			text = strings.TrimSpace(a.Label + " " + a.Value)
		}
		res.Answers = append(res.Answers, Answer{Step: vpndiag.PathStep{Flow: a.Flow, State: a.State}.String(), Question: a.Question, Answer: text, Source: a.Source, Auto: a.Actor == flows.BotActor})
	}
	if r.Services.Findings != nil {
		fs, err := r.Services.Findings.FindFindings(ctx, caseID)
		if err != nil {
			return nil, err
		}
		res.Findings = append(res.Findings, fs...)
	}
	return res, nil
}

func indent(s, prefix string) string {
	ls := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range ls {
		if l != "" {
			ls[i] = prefix + l
		}
	}
	return strings.Join(ls, "\n")
}
