package flows

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/vpndiag/vpndiag"
)

// Session variables the engine keeps for itself. Their names hold a ":" or
// start with "_", so no fact or input variable can collide with them.
const (
	// lineVar lists the answers on the current path, oldest first, as
	// "SEQ:p" (a person's) or "SEQ:a" (automatic), SEQ being the session
	// Seq the step was answered at. Back and Reopen walk it.
	lineVar = "_line"
)

// askVar marks a step a person must answer: reopened with "That's not
// right", or gone back to. No automatic answer is taken for it.
func askVar(flow, state string) string {
	return "ask:" + vpndiag.PathStep{Flow: flow, State: state}.String()
}

// srcVar names what measured a session variable a probe set, so that the
// step it answers says so ("probe ping 10.0.0.2: timeout").
func srcVar(name string) string { return "src:" + name }

// personVar remembers a person's answer to a step (the choice key or the
// value): an inference never replaces it.
func personVar(flow, state string) string {
	return "person:" + vpndiag.PathStep{Flow: flow, State: state}.String()
}

// pushLine appends an answer at seq to a line.
func pushLine(line string, seq int, person bool) string {
	kind := "a"
	if person {
		kind = "p"
	}
	entry := strconv.Itoa(seq) + ":" + kind
	if line == "" {
		return entry
	}
	return line + "," + entry
}

// lineEntry is one answer of the line.
type lineEntry struct {
	seq    int
	person bool
}

func parseLine(line string) []lineEntry {
	var out []lineEntry
	for _, f := range strings.Split(line, ",") {
		n, kind, ok := strings.Cut(f, ":")
		seq, err := strconv.Atoi(n)
		if !ok || err != nil {
			continue
		}
		out = append(out, lineEntry{seq: seq, person: kind == "p"})
	}
	return out
}

// lastPerson returns the Seq of the last person's answer of line, or -1.
func lastPerson(line string) int {
	l := parseLine(line)
	for i := len(l) - 1; i >= 0; i-- {
		if l[i].person {
			return l[i].seq
		}
	}
	return -1
}

// snapshot is a session as it was before an answer, kept in the answer's
// event so that Back and Reopen can return to it.
type snapshot struct {
	Flow        string            `json:"flow"`
	FlowVersion int               `json:"flow_version"`
	State       string            `json:"state"`
	Vars        map[string]string `json:"vars"`
	Path        vpndiag.Path      `json:"path"`
}

func snapshotOf(s *vpndiag.Session) snapshot {
	return snapshot{Flow: s.Flow, FlowVersion: s.FlowVersion, State: s.State, Vars: maps.Clone(s.Vars), Path: slices.Clone(s.Path)}
}

// answerData is the Data of an EventAnswer.
type answerData struct {
	Flow      string               `json:"flow"`
	State     string               `json:"state"`
	Event     string               `json:"event"`
	Source    vpndiag.AnswerSource `json:"source"`
	SourceRef string               `json:"source_ref,omitempty"`
	// FromSeq is the session Seq the step was answered at.
	FromSeq int `json:"from_seq"`
	// Auto is set when the engine answered the step by itself.
	Auto *vpndiag.AutoAnswer `json:"auto,omitempty"`
	// Before is the session before the answer.
	Before snapshot `json:"before"`
}

// autoAnswer describes an automatic answer of the run's current step.
func (rs *run) autoAnswer(question, answer, by string) *vpndiag.AutoAnswer {
	return &vpndiag.AutoAnswer{Flow: rs.def.Name, State: rs.sess.State, Question: question, Answer: answer, By: by, Reopenable: true}
}

// answersOnLine returns the answer events of the case's current path by
// the Seq they were given at.
func (e *Engine) answersOnLine(ctx context.Context, rs *run) (map[int]*answerData, error) {
	evs, err := e.svc.Events.FindEvents(ctx, rs.c.ID)
	if err != nil {
		return nil, fmt.Errorf("load timeline: %w", err)
	}
	want := map[int]bool{}
	for _, l := range parseLine(rs.sess.Vars[lineVar]) {
		want[l.seq] = true
	}
	out := map[int]*answerData{}
	for _, ev := range evs {
		if ev.Kind != vpndiag.EventAnswer || len(ev.Data) == 0 {
			continue
		}
		var d answerData
		if json.Unmarshal(ev.Data, &d) != nil || !want[d.FromSeq] || d.Before.State == "" {
			continue
		}
		out[d.FromSeq] = &d // the newest event of a Seq wins
	}
	return out, nil
}

// rewind returns the case to the session before the answer d, marking that
// step for a person, and stores the move with events evs.
func (e *Engine) rewind(ctx context.Context, rs *run, d *answerData, evs []*vpndiag.Event) error {
	b := d.Before
	next := *rs.sess
	next.Flow, next.FlowVersion, next.State = b.Flow, b.FlowVersion, b.State
	next.Vars = maps.Clone(b.Vars)
	if next.Vars == nil {
		next.Vars = map[string]string{}
	}
	next.Vars[askVar(b.Flow, b.State)] = "1"
	next.Path = slices.Clone(b.Path)
	var upd *vpndiag.CaseUpdate
	if rs.c.Status != vpndiag.CaseOpen || rs.c.Resolution != "" {
		open, empty := vpndiag.CaseOpen, ""
		upd = &vpndiag.CaseUpdate{Status: &open, Resolution: &empty, KBArticle: &empty}
	}
	for _, ev := range evs {
		ev.CaseID = rs.c.ID
	}
	if err := e.svc.Sessions.ApplyTransition(ctx, &vpndiag.Transition{
		CaseID: rs.c.ID, FromSeq: rs.sess.Seq, Session: &next, Events: evs, Case: upd,
	}); err != nil {
		return err
	}
	return nil
}

// Back undoes the person's last answer on the current path, with every
// step answered automatically after it, and asks that question again.
// The undone answers stay in the timeline. seq must be the current Seq.
func (e *Engine) Back(ctx context.Context, caseID int64, seq int, actor string) (*vpndiag.Step, error) {
	rs, err := e.load(ctx, caseID)
	if err != nil {
		return nil, err
	}
	if seq != rs.sess.Seq {
		return nil, vpndiag.Errorf(vpndiag.ECONFLICT, "This step is already done.")
	}
	last := lastPerson(rs.sess.Vars[lineVar])
	if last < 0 {
		return nil, vpndiag.Errorf(vpndiag.EINVALID, "There is no answer of yours to go back to.")
	}
	line, err := e.answersOnLine(ctx, rs)
	if err != nil {
		return nil, fmt.Errorf("back: %w", err)
	}
	d := line[last]
	if d == nil {
		return nil, vpndiag.Errorf(vpndiag.ECONFLICT, "Case %s cannot go back: the answer to undo is not in its timeline.", rs.c.Marker)
	}
	q := e.question(d)
	msg := fmt.Sprintf("Back to %q: the answer given there and the steps after it are undone", q)
	if err := e.rewind(ctx, rs, d, []*vpndiag.Event{{Actor: actor, Kind: vpndiag.EventBack, Message: msg}}); err != nil {
		return nil, fmt.Errorf("back: %w", err)
	}
	return e.advance(ctx, caseID, nil)
}

// question returns the title of the step an answer answered.
func (e *Engine) question(d *answerData) string {
	if d.Auto != nil {
		return d.Auto.Question
	}
	if def, err := e.flows.Version(d.Flow, d.Before.FlowVersion); err == nil && def.States[d.State] != nil {
		rs := &run{def: def, facts: Facts{Vars: d.Before.Vars}}
		return rs.expand(def.States[d.State].Title)
	}
	return vpndiag.PathStep{Flow: d.Flow, State: d.State}.String()
}

// reopen handles "That's not right" about the automatic answer of r.Reopen
// on the current path: the case returns to that step and a person answers
// it; the steps after it are undone (they stay in the timeline).
func (e *Engine) reopen(ctx context.Context, rs *run, r vpndiag.Reply) (*vpndiag.Step, error) {
	step := vpndiag.ParsePathStep(r.Reopen)
	line, err := e.answersOnLine(ctx, rs)
	if err != nil {
		return nil, fmt.Errorf("reopen: %w", err)
	}
	var d *answerData
	for _, l := range parseLine(rs.sess.Vars[lineVar]) {
		if a := line[l.seq]; a != nil && !l.person && a.Auto != nil && a.Flow == step.Flow && a.State == step.State {
			d = a // the latest on the line
		}
	}
	if d == nil {
		return nil, vpndiag.Errorf(vpndiag.EINVALID, "%q is not a step answered automatically on this case's current path.", r.Reopen)
	}
	if !d.Auto.Reopenable {
		return nil, vpndiag.Errorf(vpndiag.EINVALID, "%q was answered by a fixed rule of the guide and cannot be reopened.", d.Auto.Question)
	}
	msg := fmt.Sprintf("%q was answered %q by %s; you said that is not right, so the question is yours to answer.", d.Auto.Question, d.Auto.Answer, d.Auto.By)
	data, _ := json.Marshal(d.Auto)
	if err := e.rewind(ctx, rs, d, []*vpndiag.Event{{Actor: r.Actor, Kind: vpndiag.EventReopened, Message: msg, Data: data}}); err != nil {
		return nil, fmt.Errorf("reopen: %w", err)
	}
	return e.advance(ctx, rs.c.ID, []string{fmt.Sprintf("Reopened: %s said %q; you answer it now.", d.Auto.By, d.Auto.Answer)})
}

// Restart begins triage again for the case, keeping its history in the
// timeline; a resolved, escalated or closed case is re-opened.
func (e *Engine) Restart(ctx context.Context, caseID int64, actor string) (*vpndiag.Step, error) {
	c, err := e.svc.Cases.FindCaseByID(ctx, caseID)
	if err != nil {
		return nil, fmt.Errorf("restart: %w", err)
	}
	sess, err := e.svc.Sessions.FindSession(ctx, caseID)
	if vpndiag.ErrorCode(err) == vpndiag.ENOTFOUND {
		return e.Start(ctx, caseID, "", actor)
	} else if err != nil {
		return nil, fmt.Errorf("restart: %w", err)
	}
	def, err := e.flows.Current(TriageFlow)
	if err != nil {
		return nil, err
	}
	next := *sess
	next.Flow, next.FlowVersion, next.State = def.Name, def.Version, def.Start
	next.Vars = map[string]string{}
	next.Path = vpndiag.Path{{Flow: def.Name, State: def.Start}}
	open, empty := vpndiag.CaseOpen, ""
	upd := &vpndiag.CaseUpdate{Status: &open, Resolution: &empty, KBArticle: &empty}
	if err := e.svc.Sessions.ApplyTransition(ctx, &vpndiag.Transition{
		CaseID: caseID, FromSeq: sess.Seq, Session: &next, Case: upd,
		Events: []*vpndiag.Event{{CaseID: caseID, Actor: actor, Kind: vpndiag.EventRestart,
			Message: fmt.Sprintf("Started over at %q (was at %s, status %s); the earlier answers stay in the timeline", def.States[def.Start].Title, vpndiag.PathStep{Flow: sess.Flow, State: sess.State}, c.Status)}},
	}); err != nil {
		return nil, fmt.Errorf("restart: %w", err)
	}
	return e.advance(ctx, caseID, nil)
}
