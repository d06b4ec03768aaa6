package flows

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/looplab/fsm"

	"github.com/vpndiag/vpndiag"
)

// TriageFlow is the entry flow: "what do you see?".
const TriageFlow = "triage"

// BotActor is the actor of steps the engine takes by itself.
const BotActor = "bot"

// maxAuto bounds how many steps one call may take automatically.
const maxAuto = 64

// ErrNeedsMigration is in the chain of the error returned for a session
// that cannot continue on its stored flow version or state; Migrate moves it
// to the current version.
var ErrNeedsMigration = errors.New("flows: the session needs migration")

// Services are the stores the engine works over. Findings and Probes are
// optional: without Findings no step is answered by uploaded evidence, and
// without Probes the probe results are kept only in the timeline.
type Services struct {
	Cases    vpndiag.CaseService
	Sessions vpndiag.SessionService
	Events   vpndiag.EventService
	Sites    vpndiag.SiteService
	Findings vpndiag.FindingService
	Probes   vpndiag.ProbeService
	// Evidence, optional, tells which files a case holds: an evidence step
	// whose files were read and matched no rule is then answered "nothing
	// specific found" without asking.
	Evidence vpndiag.EvidenceService
}

// Engine walks cases through the flows of a Set. It implements
// vpndiag.Diagnoser and knows nothing of how steps are shown.
type Engine struct {
	flows *Set
	svc   Services
}

var _ vpndiag.Diagnoser = (*Engine)(nil)

// NewEngine returns an engine for the flows of set (Default() when nil)
// over the given services.
func NewEngine(set *Set, svc Services) *Engine {
	if set == nil {
		set = Default()
	}
	return &Engine{flows: set, svc: svc}
}

// Flows returns the engine's flow set.
func (e *Engine) Flows() *Set { return e.flows }

// Start begins flow (triage when empty) for an existing case and returns the
// first step that needs the user. ECONFLICT when the case has a session.
func (e *Engine) Start(ctx context.Context, caseID int64, flow, actor string) (*vpndiag.Step, error) {
	if flow == "" {
		flow = TriageFlow
	}
	if _, err := e.svc.Cases.FindCaseByID(ctx, caseID); err != nil {
		return nil, fmt.Errorf("start: %w", err)
	}
	def, err := e.flows.Current(flow)
	if err != nil {
		return nil, err
	}
	sess := &vpndiag.Session{
		CaseID: caseID, Flow: def.Name, FlowVersion: def.Version, State: def.Start,
		Vars: map[string]string{}, Path: vpndiag.Path{{Flow: def.Name, State: def.Start}},
	}
	data, _ := json.Marshal(map[string]any{"flow": def.Name, "version": def.Version, "state": def.Start})
	started := &vpndiag.Event{
		CaseID: caseID, Actor: actor, Kind: vpndiag.EventStepShown,
		Message: fmt.Sprintf("Flow %s v%d started: %s", def.Name, def.Version, def.States[def.Start].Title),
		Data:    data,
	}
	var upd *vpndiag.CaseUpdate
	if st := def.States[def.Start]; st.Kind.Terminal() {
		// A flow that is its own end (support): the case takes it at once.
		res, article := ResolutionID(def.Name, def.Start), st.KB
		upd = &vpndiag.CaseUpdate{Resolution: &res, KBArticle: &article}
		if st.Kind == vpndiag.StepEscalation {
			status := vpndiag.CaseEscalated
			upd.Status = &status
		}
	}
	// The session, its first event and the case update: one transaction.
	if err := e.svc.Sessions.StartSession(ctx, sess, []*vpndiag.Event{started}, upd); err != nil {
		return nil, fmt.Errorf("start: %w", err)
	}
	return e.advance(ctx, caseID, nil)
}

// Current returns the step a case is waiting on, first taking any step that
// became answerable since (a site profile set, evidence uploaded).
func (e *Engine) Current(ctx context.Context, caseID int64) (*vpndiag.Step, error) {
	return e.advance(ctx, caseID, nil)
}

// Reply answers the current step and returns the next step that needs the
// user. A reply for another Seq is ECONFLICT ("already done"); an answer
// that does not fit the step is EINVALID and stores nothing. Reply.Reopen
// says "That's not right" about an automatic answer (see Reopen).
func (e *Engine) Reply(ctx context.Context, caseID int64, r vpndiag.Reply) (*vpndiag.Step, error) {
	rs, err := e.load(ctx, caseID)
	if err != nil {
		return nil, err
	}
	if r.Seq != rs.sess.Seq {
		return nil, vpndiag.Errorf(vpndiag.ECONFLICT, "This step is already done.")
	}
	if r.Reopen != "" {
		return e.reopen(ctx, rs, r)
	}
	if err := rs.accepting(); err != nil {
		return nil, err
	}
	var mv *move
	if rs.state.Kind == vpndiag.StepResolution {
		mv, err = e.confirm(rs, r)
	} else {
		mv, err = e.answer(ctx, rs, r)
	}
	if err != nil {
		return nil, err
	}
	if e.svc.Probes != nil {
		for _, res := range r.Results {
			if res.Stored && res.CaseID == caseID { // by the relay hub, as it arrived
				continue
			}
			res.CaseID = caseID
			if err := e.svc.Probes.CreateProbeResult(ctx, res); err != nil {
				return nil, fmt.Errorf("reply: store probe result: %w", err)
			}
		}
	}
	if err := e.apply(ctx, rs, mv, r.IdempotencyKey); err != nil {
		return nil, err
	}
	return e.advance(ctx, caseID, mv.notes)
}

// accepting refuses a reply to a case that takes none: an escalated case,
// a confirmed resolution or a case closed by a user (until re-opened).
func (rs *run) accepting() error {
	switch {
	case rs.state.Kind == vpndiag.StepEscalation:
		return vpndiag.Errorf(vpndiag.ECONFLICT, "This case is finished (%s); start over or open a new case to diagnose something else.", rs.state.Kind)
	case rs.c.Status == vpndiag.CaseResolved:
		return vpndiag.Errorf(vpndiag.ECONFLICT, "This case is resolved; re-open it or start over to continue.")
	case rs.c.Status == vpndiag.CaseClosed:
		return vpndiag.Errorf(vpndiag.ECONFLICT, "This case is closed; re-open it to continue.")
	}
	return nil
}

// confirm answers "Did this fix it?" under a resolution: fixed resolves
// the case where it stands; not-fixed continues with the flow's next check
// (State.NotFixed) or hands the case to support.
func (e *Engine) confirm(rs *run, r vpndiag.Reply) (*move, error) {
	a := &vpndiag.Answer{Flow: rs.def.Name, State: rs.sess.State, Question: vpndiag.ConfirmFixQuestion, Source: vpndiag.SourceUser, Actor: r.Actor}
	mv := &move{answer: a}
	switch strings.TrimSpace(r.Choice) {
	case vpndiag.ChoiceFixed, fixedLabel:
		status := vpndiag.CaseResolved
		mv.stay, mv.status = true, &status
		a.Choice, a.Label = vpndiag.ChoiceFixed, fixedLabel
		mv.events = append(mv.events, &vpndiag.Event{Actor: r.Actor, Kind: vpndiag.EventFixConfirmed,
			Message: "The resolution fixed it: " + rs.expand(rs.state.Title)})
	case vpndiag.ChoiceNotFixed, EventNotFixed, notFixedLabel:
		mv.event, a.Choice, a.Label = EventNotFixed, vpndiag.ChoiceNotFixed, notFixedLabel
		mv.events = append(mv.events, &vpndiag.Event{Actor: r.Actor, Kind: vpndiag.EventFixFailed,
			Message: "The resolution did not fix it: " + rs.expand(rs.state.Title)})
	default:
		return nil, vpndiag.Errorf(vpndiag.EINVALID, "Please answer %q with %s (%s) or %s (%s).",
			vpndiag.ConfirmFixQuestion, vpndiag.ChoiceFixed, fixedLabel, vpndiag.ChoiceNotFixed, notFixedLabel)
	}
	return mv, nil
}

// Labels of the "Did this fix it?" choices.
const (
	fixedLabel    = "Yes, it works now"
	notFixedLabel = "No, it still does not work"
)

// Migrate moves a case's session to the current version of its flow,
// keeping the state when the current version has it and restarting the
// flow otherwise (also for a session whose state is corrupted). A session
// of a flow that no longer exists restarts at triage.
func (e *Engine) Migrate(ctx context.Context, caseID int64, actor string) (*vpndiag.Step, error) {
	sess, err := e.svc.Sessions.FindSession(ctx, caseID)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	def, err := e.flows.Current(sess.Flow)
	if err != nil {
		if def, err = e.flows.Current(TriageFlow); err != nil {
			return nil, err
		}
	}
	state := sess.State
	if def.Name != sess.Flow || def.States[state] == nil {
		state = def.Start
	}
	if def.Name == sess.Flow && def.Version == sess.FlowVersion && state == sess.State {
		return e.advance(ctx, caseID, nil)
	}
	next := *sess
	next.Flow, next.FlowVersion, next.State = def.Name, def.Version, state
	next.Vars = maps.Clone(sess.Vars)
	next.Path = append(slices.Clone(sess.Path), vpndiag.PathStep{Flow: def.Name, State: state})
	msg := fmt.Sprintf("Migrated from flow %s v%d state %s to %s v%d state %s", sess.Flow, sess.FlowVersion, sess.State, def.Name, def.Version, state)
	if err := e.svc.Sessions.ApplyTransition(ctx, &vpndiag.Transition{
		CaseID: caseID, FromSeq: sess.Seq, Session: &next,
		Events: []*vpndiag.Event{{Actor: actor, Kind: vpndiag.EventNote, Message: msg}},
	}); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	return e.advance(ctx, caseID, nil)
}

// run is a case loaded with its flow.
type run struct {
	c     *vpndiag.Case
	sess  *vpndiag.Session
	def   *Def
	state *State
	facts Facts
}

// load reads a case, its session, site and flow definition.
func (e *Engine) load(ctx context.Context, caseID int64) (*run, error) {
	c, err := e.svc.Cases.FindCaseByID(ctx, caseID)
	if err != nil {
		return nil, fmt.Errorf("load case: %w", err)
	}
	sess, err := e.svc.Sessions.FindSession(ctx, caseID)
	if err != nil {
		return nil, fmt.Errorf("load session: %w", err)
	}
	def, err := e.flows.Version(sess.Flow, sess.FlowVersion)
	if err != nil {
		if vpndiag.ErrorCode(err) == vpndiag.ECONFLICT {
			return nil, errors.Join(err, ErrNeedsMigration)
		}
		return nil, err
	}
	st := def.States[sess.State]
	if st == nil {
		return nil, errors.Join(vpndiag.Errorf(vpndiag.ECONFLICT,
			"Case %s cannot continue: its stored state %q is not a state of flow %q version %d (the stored session is corrupted or from another build). Migrate it to restart the flow.",
			c.Marker, sess.State, sess.Flow, sess.FlowVersion), ErrNeedsMigration)
	}
	var site *vpndiag.Site
	if c.SiteID != 0 && e.svc.Sites != nil {
		if site, err = e.svc.Sites.FindSiteByID(ctx, c.SiteID); err != nil && vpndiag.ErrorCode(err) != vpndiag.ENOTFOUND {
			return nil, fmt.Errorf("load site: %w", err)
		}
	}
	if sess.Vars == nil {
		sess.Vars = map[string]string{}
	}
	return &run{c: c, sess: sess, def: def, state: st, facts: Facts{Site: site, Vars: sess.Vars}}, nil
}

// move is one transition about to be applied.
type move struct {
	event  string
	answer *vpndiag.Answer
	events []*vpndiag.Event
	vars   map[string]string
	// auto is set when the engine answered the step by itself.
	auto *vpndiag.AutoAnswer
	// notes are said to the person on the next step.
	notes []string
	// stay keeps the session where it is (a confirmed resolution).
	stay bool
	// status, when set, changes the case's status.
	status *vpndiag.CaseStatus
}

// answer turns a user's reply into a move, or EINVALID.
func (e *Engine) answer(ctx context.Context, rs *run, r vpndiag.Reply) (*move, error) {
	st := rs.state
	title := rs.expand(st.Title)
	a := &vpndiag.Answer{Flow: rs.def.Name, State: rs.sess.State, Question: title, Source: vpndiag.SourceUser, Actor: r.Actor}
	mv := &move{answer: a}
	switch st.Kind {
	case vpndiag.StepQuestion:
		c, err := pick(st.exits(), r.Choice)
		if err != nil {
			return nil, err
		}
		mv.event, a.Choice, a.Label = c.Event, c.Event, c.Label
	case vpndiag.StepInput:
		v, err := vpndiag.ValidateInput(st.Input.Kind, r.Value)
		if err != nil {
			return nil, err
		}
		mv.event, a.Value = EventNext, v
		mv.vars = map[string]string{st.Input.Var: v}
	case vpndiag.StepInfo:
		mv.event, a.Choice = EventNext, EventNext
	case vpndiag.StepProbe:
		if len(r.Results) == 0 {
			// Answered by hand: the user ran the test and says what happened.
			c, err := pick(st.exits(), r.Choice)
			if err != nil {
				return nil, err
			}
			mv.event, a.Choice, a.Label = c.Event, c.Event, c.Label
			break
		}
		reqs, err := rs.requests(st, rs.sess.Seq)
		if err != nil {
			return nil, err
		}
		mv.vars = map[string]string{}
		var outcomes []vpndiag.Outcome
		var refs []string
		for i, res := range r.Results {
			if res == nil {
				return nil, vpndiag.Errorf(vpndiag.EINVALID, "Probe result %d is empty.", i+1)
			}
			outcomes = append(outcomes, res.Outcome)
			refs = append(refs, fmt.Sprintf("%s %s: %s", res.Kind, res.Target, res.Outcome))
			// Remember the outcome under the request it answers, so
			// that a later step asking the same probe is answered.
			for _, q := range reqs {
				if q.ID == res.ID || (res.ID == "" && q.Kind == res.Kind && q.Target == res.Target) {
					mv.vars[probeVar(q)] = string(res.Outcome)
				}
			}
			data, _ := json.Marshal(res)
			mv.events = append(mv.events, &vpndiag.Event{Actor: r.Actor, Kind: vpndiag.EventProbeResult,
				Message: fmt.Sprintf("%s %s: %s — %s", res.Kind, res.Target, res.Outcome, res.Summary), Data: data})
		}
		for k, v := range probeVars(st, r.Results) {
			// Kept with what measured it, for the step it answers.
			mv.vars[k], mv.vars[srcVar(k)] = v, "probe "+strings.Join(refs, "; ")
		}
		out := combine(outcomes)
		o := st.outcomeFor(out)
		mv.event, a.Choice, a.Label = o.Event, o.Event, o.Label
		a.Source, a.SourceRef, a.Value = vpndiag.SourceProbe, r.Results[0].ID, strings.Join(refs, "; ")
		if c := e.contradicts(rs, o.Implies, rs.expand(o.Label), "the probe ("+strings.Join(refs, "; ")+")"); c != nil {
			// A measurement is followed, and the disagreement said.
			mv.notes = append(mv.notes, fmt.Sprintf("The probe measured %q (%s), which does not fit your answer %q to %q: the measurement is followed; go back if the probe ran from the wrong place.", c.inferred, strings.Join(refs, "; "), c.said, c.question))
			mv.events = append(mv.events, c.event(r.Actor))
		}
	case vpndiag.StepEvidence:
		if r.Skip {
			mv.event, a.Choice, a.Label = EventSkip, EventSkip, st.Skip.Label
			break
		}
		if r.Choice != "" {
			// A person says what the files would show (a step reopened,
			// or one they know the answer to).
			c, err := pick(st.exits(), r.Choice)
			if err != nil {
				return nil, err
			}
			mv.event, a.Choice, a.Label = c.Event, c.Event, c.Label
			break
		}
		fs, err := e.findings(ctx, rs.c.ID)
		if err != nil {
			return nil, err
		}
		rule, f, aside := e.matchFindings(rs, st, fs)
		mv.contradictions(aside, r.Actor)
		if rule == nil {
			mv.event, a.Choice, a.Label = EventNone, EventNone, st.None.Label
		} else {
			mv.event, a.Choice, a.Label = rule.Event, rule.Event, rule.Label
			a.SourceRef = findingRef(f)
		}
		a.Source = vpndiag.SourceEvidence
		var codes []string
		for _, f := range fs {
			codes = append(codes, f.Code)
		}
		a.Value = strings.Join(codes, ", ")
	default:
		return nil, vpndiag.Errorf(vpndiag.ECONFLICT, "This step takes no answer.")
	}
	return mv, nil
}

// pick finds the exit a typed choice names: its key, or (case-insensitive)
// its label.
func pick(exits []exit, choice string) (exit, error) {
	c := strings.TrimSpace(choice)
	for _, e := range exits {
		if e.Event == c {
			return e, nil
		}
	}
	for _, e := range exits {
		if strings.EqualFold(e.Label, c) {
			return e, nil
		}
	}
	var opts []string
	for _, e := range exits {
		opts = append(opts, fmt.Sprintf("%s (%s)", e.Event, e.Label))
	}
	if c == "" {
		return exit{}, vpndiag.Errorf(vpndiag.EINVALID, "Please choose one of: %s.", strings.Join(opts, ", "))
	}
	return exit{}, vpndiag.Errorf(vpndiag.EINVALID, "%q is not one of the choices: %s.", c, strings.Join(opts, ", "))
}

// auto returns the move that answers the current step from what is known,
// or nil when the step needs the user.
func (e *Engine) auto(ctx context.Context, rs *run) (*move, error) {
	st := rs.state
	if rs.sess.Vars[askVar(rs.def.Name, rs.sess.State)] != "" {
		return nil, nil // reopened or gone back to: a person answers it
	}
	title := rs.expand(st.Title)
	a := &vpndiag.Answer{Flow: rs.def.Name, State: rs.sess.State, Question: title, Actor: BotActor}
	mv := &move{answer: a}
	switch st.Kind {
	case vpndiag.StepQuestion:
		for _, rule := range st.Auto {
			if rule.Fact != "" {
				v, src, ok := rs.facts.Lookup(rule.Fact)
				if !ok {
					continue
				}
				key := v
				if rule.Map != nil {
					if key, ok = rule.Map[v]; !ok {
						continue
					}
				}
				c, err := pick(st.exits(), key)
				if err != nil {
					continue
				}
				mv.event, a.Choice, a.Label = c.Event, c.Event, c.Label
				a.Source, a.SourceRef = sourceOf(src), rule.Fact
				mv.auto = rs.autoAnswer(title, c.Label, fmt.Sprintf("%s (%s: %s)", src, rule.Fact, v))
				return mv, nil
			}
			fs, err := e.findings(ctx, rs.c.ID)
			if err != nil {
				return nil, err
			}
			for _, f := range fs {
				if f.Code == rule.Finding && f.Severity.Rank() >= vpndiag.SeverityWarning.Rank() {
					c, err := pick(st.exits(), rule.Choice)
					if err != nil {
						return nil, err
					}
					mv.event, a.Choice, a.Label = c.Event, c.Event, c.Label
					a.Source, a.SourceRef = vpndiag.SourceEvidence, findingRef(f)
					mv.auto = rs.autoAnswer(title, c.Label, fmt.Sprintf("%s (%s)", findingRef(f), f.Code))
					return mv, nil
				}
			}
		}
	case vpndiag.StepInput:
		v, src, ok := rs.facts.Lookup(st.Input.Var)
		if !ok && st.Input.FromFinding != nil {
			fs, err := e.findings(ctx, rs.c.ID)
			if err != nil {
				return nil, err
			}
			var f *vpndiag.Finding
			if v, f, ok = inputFromFinding(st.Input, fs); ok {
				src = findingRef(f) + " (" + f.Code + ")"
			}
		}
		if !ok {
			return nil, nil
		}
		nv, err := vpndiag.ValidateInput(st.Input.Kind, v)
		if err != nil {
			return nil, nil // the profile's value does not fit: ask
		}
		mv.event, a.Value, a.Source, a.SourceRef = EventNext, nv, sourceOf(src), st.Input.Var
		mv.vars = map[string]string{st.Input.Var: nv}
		mv.auto = rs.autoAnswer(title, nv, src)
		return mv, nil
	case vpndiag.StepProbe:
		reqs, err := rs.requests(st, 0)
		if err != nil {
			return nil, nil // the step will report what is missing
		}
		var outs []vpndiag.Outcome
		var refs []string
		for _, q := range reqs {
			o, ok := rs.sess.Vars[probeVar(q)]
			if !ok {
				return nil, nil
			}
			outs = append(outs, vpndiag.Outcome(o))
			refs = append(refs, fmt.Sprintf("probe %s %s: %s", q.Kind, q.Target, o))
		}
		o := st.outcomeFor(combine(outs))
		mv.event, a.Choice, a.Label = o.Event, o.Event, o.Label
		a.Source, a.Value = vpndiag.SourceProbe, strings.Join(refs, "; ")
		mv.auto = rs.autoAnswer(title, o.Label, strings.Join(refs, "; "))
		return mv, nil
	case vpndiag.StepEvidence:
		fs, err := e.findings(ctx, rs.c.ID)
		if err != nil {
			return nil, err
		}
		rule, f, aside := e.matchFindings(rs, st, fs)
		mv.contradictions(aside, BotActor)
		if rule == nil {
			// Files of the kinds asked for were read and none of the rules
			// applies: "nothing specific found" is what they say.
			names, err := e.attached(ctx, rs.c.ID, st.Evidence.Kinds)
			if err != nil || len(names) == 0 {
				return nil, err
			}
			mv.event, a.Choice, a.Label = EventNone, EventNone, st.None.Label
			a.Source, a.SourceRef = vpndiag.SourceEvidence, strings.Join(names, ", ")
			mv.auto = rs.autoAnswer(title, rs.expand(st.None.Label), "the files attached ("+strings.Join(names, ", ")+")")
			return mv, nil
		}
		mv.event, a.Choice, a.Label = rule.Event, rule.Event, rule.Label
		a.Source, a.SourceRef, a.Value = vpndiag.SourceEvidence, findingRef(f), f.Code
		mv.auto = rs.autoAnswer(title, rule.Label, fmt.Sprintf("%s (%s)", findingRef(f), f.Code))
		return mv, nil
	}
	return nil, nil
}

func sourceOf(src string) vpndiag.AnswerSource {
	switch {
	case src == sourceProfile:
		return vpndiag.SourceProfile
	case strings.HasPrefix(src, "probe "):
		return vpndiag.SourceProbe
	case src == sourceEarlier:
		return vpndiag.SourceUser
	}
	return vpndiag.SourceEvidence // a finding's line
}

// contradictions records inferences set aside for a person's answer: said
// on the next step, and in the timeline.
func (mv *move) contradictions(cs []contradiction, actor string) {
	for _, c := range cs {
		mv.notes = append(mv.notes, c.note())
		mv.events = append(mv.events, c.event(actor))
	}
}

// attached returns the names of the case's files of the given kinds (none
// without an EvidenceService).
func (e *Engine) attached(ctx context.Context, caseID int64, kinds []vpndiag.EvidenceKind) ([]string, error) {
	if e.svc.Evidence == nil {
		return nil, nil
	}
	evs, err := e.svc.Evidence.FindEvidence(ctx, caseID)
	if err != nil {
		return nil, fmt.Errorf("load evidence: %w", err)
	}
	var names []string
	for _, ev := range evs {
		if slices.Contains(kinds, ev.Kind) {
			names = append(names, ev.Name)
		}
	}
	return names, nil
}

// findings returns the case's stored findings (none without a FindingService).
func (e *Engine) findings(ctx context.Context, caseID int64) ([]*vpndiag.Finding, error) {
	if e.svc.Findings == nil {
		return nil, nil
	}
	fs, err := e.svc.Findings.FindFindings(ctx, caseID)
	if err != nil {
		return nil, fmt.Errorf("load findings: %w", err)
	}
	return fs, nil
}

// findingRef names where a finding was seen: "config.txt:12", or its source.
func findingRef(f *vpndiag.Finding) string {
	if f == nil {
		return ""
	}
	for _, ev := range f.Evidence {
		if ev.Name != "" && ev.Line > 0 {
			return fmt.Sprintf("%s:%d", ev.Name, ev.Line)
		}
		if ev.Name != "" {
			return ev.Name
		}
	}
	if f.Source != "" {
		return f.Source
	}
	return "finding " + f.Code
}

// combine reduces several probe outcomes to one: ok when all are ok, else
// the first that is not.
func combine(outs []vpndiag.Outcome) vpndiag.Outcome {
	for _, o := range outs {
		if o != vpndiag.OutcomeOK {
			return o
		}
	}
	return vpndiag.OutcomeOK
}

// outcomeFor returns the outcome mapping of o: the entry listing it, else
// "*", else the entry for OutcomeError (an outcome a probe kind added that
// the flow does not know).
func (s *State) outcomeFor(o vpndiag.Outcome) OutcomeDef {
	find := func(o vpndiag.Outcome) (OutcomeDef, bool) {
		for _, d := range s.Outcomes {
			if slices.Contains(d.When, o) {
				return d, true
			}
		}
		return OutcomeDef{}, false
	}
	if d, ok := find(o); ok {
		return d
	}
	if d, ok := find(AnyOutcome); ok {
		return d
	}
	d, _ := find(vpndiag.OutcomeError)
	return d
}

// probeVar is the session variable remembering a probe's outcome.
func probeVar(q *vpndiag.ProbeRequest) string {
	keys := slices.Sorted(maps.Keys(q.Params))
	var b strings.Builder
	fmt.Fprintf(&b, "probe:%s %s", q.Kind, q.Target)
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%s", k, q.Params[k])
	}
	return b.String()
}

// expand fills placeholders in text from the run's facts.
func (rs *run) expand(text string) string {
	out, _ := rs.facts.Expand(text)
	return out
}

// requests expands a probe step's templates into requests.
func (rs *run) requests(st *State, seq int) ([]*vpndiag.ProbeRequest, error) {
	var out []*vpndiag.ProbeRequest
	for _, p := range st.Probes {
		items := []string{""}
		if p.Each != "" {
			l, _ := rs.facts.List(p.Each)
			if len(l) == 0 {
				return nil, fmt.Errorf("flow %s state %s: no value for %s", rs.def.Name, rs.sess.State, p.Each)
			}
			items = l
		}
		for _, item := range items {
			f := Facts{Site: rs.facts.Site, Vars: maps.Clone(rs.facts.Vars)}
			if f.Vars == nil {
				f.Vars = map[string]string{}
			}
			f.Vars["item"] = item
			target, missing := f.Expand(p.Target)
			params := map[string]string{}
			for k, v := range p.Params {
				ev, m := f.Expand(v)
				params[k] = ev
				missing = append(missing, m...)
			}
			if len(missing) > 0 {
				return nil, fmt.Errorf("flow %s state %s: probe %s needs %s, which is not known", rs.def.Name, rs.sess.State, p.Kind, strings.Join(missing, ", "))
			}
			timeout := p.Timeout
			if timeout == 0 {
				timeout = DefaultProbeTimeout
			}
			purpose, _ := f.Expand(p.Purpose)
			out = append(out, &vpndiag.ProbeRequest{
				ID:     fmt.Sprintf("case%d-seq%d-%d", rs.c.ID, seq, len(out)+1),
				CaseID: rs.c.ID, Kind: p.Kind, Target: target, Params: params,
				Timeout: timeout, Purpose: purpose,
			})
		}
	}
	return out, nil
}

// fire runs event from state on a looplab/fsm machine restored to state
// with SetState, and returns the destination.
func fire(ctx context.Context, def *Def, state, event string) (string, error) {
	m := fsm.NewFSM(def.Start, def.fsmEvents(), nil)
	m.SetState(state)
	if !m.Can(event) {
		return "", vpndiag.Errorf(vpndiag.EINVALID, "%q is not an answer to this step.", event)
	}
	if err := m.Event(ctx, event); err != nil {
		return "", fmt.Errorf("flow %s: %s --%s-->: %w", def.Name, state, event, err)
	}
	return m.Current(), nil
}

// fsmEvents returns the flow's transitions as looplab/fsm events.
func (d *Def) fsmEvents() fsm.Events {
	names := slices.Sorted(maps.Keys(d.States))
	var evs fsm.Events
	for _, n := range names {
		for _, x := range d.States[n].exits() {
			evs = append(evs, fsm.EventDesc{Name: x.Event, Src: []string{n}, Dst: x.To})
		}
	}
	return evs
}

// apply fires mv's event and stores the transition atomically.
func (e *Engine) apply(ctx context.Context, rs *run, mv *move, key string) error {
	to := rs.sess.State
	if !mv.stay {
		var err error
		if to, err = fire(ctx, rs.def, rs.sess.State, mv.event); err != nil {
			return err
		}
	}
	next := *rs.sess
	next.Vars = maps.Clone(rs.sess.Vars)
	if next.Vars == nil {
		next.Vars = map[string]string{}
	}
	maps.Copy(next.Vars, mv.vars)
	next.Path = slices.Clone(rs.sess.Path)
	delete(next.Vars, askVar(rs.def.Name, rs.sess.State))

	actor := BotActor
	if mv.answer != nil && mv.answer.Actor != "" {
		actor = mv.answer.Actor
	}
	events := mv.events
	var upd *vpndiag.CaseUpdate
	if mv.status != nil {
		upd = &vpndiag.CaseUpdate{Status: mv.status}
	}
	if a := mv.answer; a != nil {
		answer := a.Label
		if answer == "" {
			answer = a.Value
		}
		if a.Label != "" && a.Value != "" {
			answer = a.Label + " (" + a.Value + ")"
		}
		msg := fmt.Sprintf("%s → %s", a.Question, answer)
		if mv.auto != nil {
			msg = fmt.Sprintf("Answered automatically: %s → %s (by %s)", mv.auto.Question, mv.auto.Answer, mv.auto.By)
			next.Vars[lineVar] = pushLine(next.Vars[lineVar], rs.sess.Seq, false)
		} else {
			next.Vars[lineVar] = pushLine(next.Vars[lineVar], rs.sess.Seq, true)
			if a.Choice != "" || a.Value != "" {
				next.Vars[personVar(rs.def.Name, rs.sess.State)] = a.Choice + a.Value
			}
		}
		data, _ := json.Marshal(answerData{
			Flow: a.Flow, State: a.State, Event: mv.event, Source: a.Source, SourceRef: a.SourceRef,
			FromSeq: rs.sess.Seq, Auto: mv.auto, Before: snapshotOf(rs.sess),
		})
		events = append(events, &vpndiag.Event{Actor: actor, Kind: vpndiag.EventAnswer, Message: msg, Data: data})
	}
	def := rs.def
	if isHandover(to) {
		name, at := handoverTarget(to)
		nd, err := e.flows.Current(name)
		if err != nil {
			return err
		}
		if at == "" || nd.States[at] == nil {
			at = nd.Start
		}
		events = append(events, &vpndiag.Event{Actor: BotActor, Kind: vpndiag.EventNote,
			Message: fmt.Sprintf("Handed over from flow %s to flow %s: %s", def.Name, nd.Name, nd.Title)})
		if rs.c.Title == "" && mv.answer != nil && mv.answer.Label != "" {
			title := mv.answer.Label
			upd = &vpndiag.CaseUpdate{Title: &title}
		}
		def, to = nd, at
		next.Flow, next.FlowVersion = nd.Name, nd.Version
	}
	if mv.event == EventNotFixed {
		// The resolution did not hold: it is no longer the case's.
		if upd == nil {
			upd = &vpndiag.CaseUpdate{}
		}
		empty := ""
		upd.Resolution, upd.KBArticle = &empty, &empty
	}
	st := def.States[to]
	nrs := &run{c: rs.c, sess: &next, def: def, state: st, facts: Facts{Site: rs.facts.Site, Vars: next.Vars}}
	if !mv.stay {
		next.State = to
		next.Path = append(next.Path, vpndiag.PathStep{Flow: def.Name, State: to})
		shown, _ := json.Marshal(map[string]any{"flow": def.Name, "version": def.Version, "state": to, "kind": st.Kind})
		events = append(events, &vpndiag.Event{Actor: BotActor, Kind: vpndiag.EventStepShown, Message: nrs.expand(st.Title), Data: shown})
		if st.Kind.Terminal() {
			kind := vpndiag.EventResolution
			if upd == nil {
				upd = &vpndiag.CaseUpdate{}
			}
			if st.Kind == vpndiag.StepEscalation {
				// A hand-over to support ends the case; a resolution
				// leaves it open until "Did this fix it?" is answered.
				status := vpndiag.CaseEscalated
				kind, upd.Status = vpndiag.EventEscalation, &status
			}
			res, article := ResolutionID(def.Name, to), st.KB
			upd.Resolution, upd.KBArticle = &res, &article
			data, _ := json.Marshal(map[string]string{"resolution": res, "kb_article": article})
			events = append(events, &vpndiag.Event{Actor: BotActor, Kind: kind, Message: nrs.expand(st.Title), Data: data})
		}
	}
	for _, ev := range events {
		ev.CaseID = rs.c.ID
	}
	if err := e.svc.Sessions.ApplyTransition(ctx, &vpndiag.Transition{
		CaseID: rs.c.ID, FromSeq: rs.sess.Seq, Session: &next, Answer: mv.answer,
		Events: events, Case: upd, IdempotencyKey: key,
	}); err != nil {
		return fmt.Errorf("reply: %w", err)
	}
	return nil
}

// ResolutionID names a terminal step: "flow.state".
func ResolutionID(flow, state string) string { return flow + "." + state }

// advance takes every step that is answered already and returns the first
// that needs the user, listing the ones taken in Step.Auto and notes (said
// by the caller's move) in Step.Notes.
func (e *Engine) advance(ctx context.Context, caseID int64, notes []string) (*vpndiag.Step, error) {
	var taken []vpndiag.AutoAnswer
	for i := 0; ; i++ {
		rs, err := e.load(ctx, caseID)
		if err != nil {
			return nil, err
		}
		var mv *move
		if rs.accepting() == nil {
			if mv, err = e.auto(ctx, rs); err != nil {
				return nil, err
			}
		}
		if mv == nil {
			step, err := e.step(ctx, rs)
			if err != nil {
				return nil, err
			}
			step.Auto, step.Notes = taken, append(slices.Clone(notes), step.Notes...)
			return step, nil
		}
		if i >= maxAuto {
			return nil, fmt.Errorf("flow %s: more than %d automatic steps in a row at %s", rs.def.Name, maxAuto, rs.sess.State)
		}
		if err := e.apply(ctx, rs, mv, ""); err != nil {
			if vpndiag.ErrorCode(err) == vpndiag.ECONFLICT {
				continue // moved by someone else meanwhile: look again
			}
			return nil, err
		}
		taken = append(taken, *mv.auto)
		notes = append(notes, mv.notes...)
	}
}

// step renders the current state as a Step.
func (e *Engine) step(ctx context.Context, rs *run) (*vpndiag.Step, error) {
	st := rs.state
	s := &vpndiag.Step{
		CaseID: rs.c.ID, Flow: rs.def.Name, FlowVersion: rs.def.Version, State: rs.sess.State,
		Seq: rs.sess.Seq, Kind: st.Kind, Title: rs.expand(st.Title), Text: rs.expand(st.Text),
		KBArticle: st.KB,
	}
	switch st.Kind {
	case vpndiag.StepQuestion, vpndiag.StepProbe:
		for _, x := range st.exits() {
			s.Choices = append(s.Choices, vpndiag.Choice{Key: x.Event, Label: rs.expand(x.Label)})
		}
	case vpndiag.StepInput:
		s.Input = &vpndiag.InputSpec{Kind: st.Input.Kind, Var: st.Input.Var, Placeholder: st.Input.Placeholder,
			Label: rs.expand(st.Input.Label), Description: rs.expand(st.Input.Description)}
	case vpndiag.StepEvidence:
		s.Evidence = &vpndiag.EvidenceSpec{Kinds: st.Evidence.Kinds, Hint: rs.expand(st.Evidence.Hint)}
		if rs.sess.Vars[askVar(rs.def.Name, rs.sess.State)] != "" {
			// Reopened: the person may say what the files show.
			for _, x := range st.exits() {
				s.Choices = append(s.Choices, vpndiag.Choice{Key: x.Event, Label: rs.expand(x.Label)})
			}
		}
	case vpndiag.StepResolution, vpndiag.StepEscalation:
		s.Resolution = ResolutionID(rs.def.Name, rs.sess.State)
		fs, err := e.findings(ctx, rs.c.ID)
		if err != nil {
			return nil, err
		}
		if cited := citeFindings(st, fs); cited != "" {
			s.Text = strings.TrimRight(s.Text, "\n") + "\n\n" + cited
		}
		if st.Kind == vpndiag.StepResolution && rs.c.Status == vpndiag.CaseOpen {
			s.Choices = []vpndiag.Choice{{Key: vpndiag.ChoiceFixed, Label: fixedLabel}, {Key: vpndiag.ChoiceNotFixed, Label: notFixedLabel}}
		}
	}
	s.CaseStatus = rs.c.Status
	s.CanGoBack = lastPerson(rs.sess.Vars[lineVar]) >= 0
	if st.Kind == vpndiag.StepProbe {
		reqs, err := rs.requests(st, rs.sess.Seq)
		if err != nil {
			return nil, vpndiag.Errorf(vpndiag.EINTERNAL, "The flow cannot build its probe: %v", err)
		}
		s.Probes = reqs
	}
	return s, nil
}
