package vpndiag

import (
	"context"
	"strings"
	"time"
)

// Session is a case's position in a flow: which flow, which version of it,
// and which FSM state. It is persisted after every transition; the flow
// engine restores its state machine from it (looplab/fsm keeps no state of
// its own between processes).
type Session struct {
	// CaseID is the case the session belongs to (one session per case).
	CaseID int64 `json:"case_id"`
	// Flow is the name of the flow being walked, e.g. "triage".
	Flow string `json:"flow"`
	// FlowVersion is the version of the flow the session started on; the
	// session keeps running on it unless migrated explicitly.
	FlowVersion int `json:"flow_version"`
	// State is the current FSM state name.
	State string `json:"state"`
	// Seq counts the transitions taken. A reply names the Seq it answers, so a
	// reply to an older step (a double click, a retry) is recognised as stale.
	Seq int `json:"seq"`
	// Vars holds values collected on the way (typed inputs, probe outcomes)
	// that later steps can use.
	Vars map[string]string `json:"vars,omitempty"`
	// Path is the list of states visited, oldest first.
	Path Path `json:"path"`
	// UpdatedAt is maintained by the store.
	UpdatedAt time.Time `json:"updated_at"`
}

// PathStep names one state of one flow: an entry of Session.Path, the step
// Reply.Reopen names, a key of a flow's implies. Its text form is
// "flow:state", so that a path that crossed a hand-over says which flow each
// state belongs to; a bare "state" (Flow empty) is a state of the session's
// own flow, as sessions stored before hand-overs recorded it.
type PathStep struct {
	Flow  string
	State string
}

// ParsePathStep parses the text form of a PathStep: "flow:state", or a bare
// "state" with Flow empty. It is the only place that form is split.
func ParsePathStep(s string) PathStep {
	flow, state, ok := strings.Cut(s, ":")
	if !ok {
		return PathStep{State: s}
	}
	return PathStep{Flow: flow, State: state}
}

// String returns "flow:state", or the bare state when Flow is empty.
func (p PathStep) String() string {
	if p.Flow == "" {
		return p.State
	}
	return p.Flow + ":" + p.State
}

// In returns p with Flow set to flow when p is a bare state.
func (p PathStep) In(flow string) PathStep {
	if p.Flow == "" {
		p.Flow = flow
	}
	return p
}

// MarshalText encodes p as its String, so that a stored path is a JSON
// array of "flow:state" strings.
func (p PathStep) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText decodes the form MarshalText writes (see ParsePathStep).
func (p *PathStep) UnmarshalText(b []byte) error {
	*p = ParsePathStep(string(b))
	return nil
}

// Path is the list of states a session visited, oldest first.
type Path []PathStep

// Join returns the steps' text forms separated by sep.
func (p Path) Join(sep string) string {
	parts := make([]string, len(p))
	for i, s := range p {
		parts[i] = s.String()
	}
	return strings.Join(parts, sep)
}

// AnswerSource says who or what answered a step.
type AnswerSource string

const (
	SourceUser     AnswerSource = "user"     // a person chose or typed it
	SourceProfile  AnswerSource = "profile"  // the site profile already knew
	SourceProbe    AnswerSource = "probe"    // a probe result decided it
	SourceEvidence AnswerSource = "evidence" // an uploaded config or log decided it
)

// Answer records how one step was answered.
type Answer struct {
	// ID is the store's primary key.
	ID int64 `json:"id"`
	// CaseID is the case answered in.
	CaseID int64 `json:"case_id"`
	// Seq is the session Seq of the step that was answered.
	Seq int `json:"seq"`
	// Flow and State name the step.
	Flow  string `json:"flow"`
	State string `json:"state"`
	// Question is the step's title as shown to the user.
	Question string `json:"question"`
	// Choice is the key of the chosen choice, for question steps.
	Choice string `json:"choice,omitempty"`
	// Label is the chosen choice's label as shown.
	Label string `json:"label,omitempty"`
	// Value is the typed value, for input steps.
	Value string `json:"value,omitempty"`
	// Source says who or what answered.
	Source AnswerSource `json:"source"`
	// SourceRef points at what answered: a probe job ID or "file:line".
	SourceRef string `json:"source_ref,omitempty"`
	// Actor is the user who answered (Slack user ID, OS user) or the system.
	Actor string `json:"actor"`
	// CreatedAt is maintained by the store.
	CreatedAt time.Time `json:"created_at"`
}

// Transition is one step forward of a session, stored atomically: the answer,
// the new session state, the events and any change to the case are written in
// one transaction or not at all.
type Transition struct {
	// CaseID is the case.
	CaseID int64
	// FromSeq is the Seq the answer was given at; the store refuses the
	// transition with ECONFLICT when the session has moved on.
	FromSeq int
	// Session is the state after the transition (its Seq is FromSeq+1).
	Session *Session
	// Answer is how the step was answered; nil for automatic moves.
	Answer *Answer
	// Events are appended to the timeline.
	Events []*Event
	// Case, when set, updates the case (status, resolution).
	Case *CaseUpdate
	// IdempotencyKey, when set, is remembered; a second transition with the
	// same key is refused with ECONFLICT and changes nothing (Slack retries,
	// replayed Socket Mode envelopes, double clicks).
	IdempotencyKey string
}

// SessionService stores flow sessions and their transitions.
type SessionService interface {
	// FindSession returns ENOTFOUND when the case has no session.
	FindSession(ctx context.Context, caseID int64) (*Session, error)
	// CreateSession stores the first state of a case's session.
	CreateSession(ctx context.Context, s *Session) error
	// StartSession stores the first state of a case's session with the
	// events that start it (each with the case's next seq) and, when upd
	// is not nil, the case update (with its "case.updated" event), in one
	// transaction: CreateSession, AppendEvent and UpdateCase at once.
	// ECONFLICT when the case has a session already; then nothing changes.
	StartSession(ctx context.Context, s *Session, events []*Event, upd *CaseUpdate) error
	// ApplyTransition stores t atomically, see Transition.
	ApplyTransition(ctx context.Context, t *Transition) error
	// FindAnswers returns a case's answers in order.
	FindAnswers(ctx context.Context, caseID int64) ([]*Answer, error)
}

// StepKind is what a flow step asks of the user.
type StepKind string

const (
	StepQuestion   StepKind = "question"   // pick one of two or more choices
	StepInput      StepKind = "input"      // type a value, validated
	StepProbe      StepKind = "probe"      // run probes; their outcome picks the next step
	StepEvidence   StepKind = "evidence"   // upload a device config or logs
	StepInfo       StepKind = "info"       // something to read, then continue
	StepResolution StepKind = "resolution" // the fix, citing a kb article; terminal
	StepEscalation StepKind = "escalation" // open a support case with the bundle; terminal
)

// Terminal reports whether a step of this kind ends the flow.
func (k StepKind) Terminal() bool { return k == StepResolution || k == StepEscalation }

// InputKind is the type of a typed value.
type InputKind string

const (
	InputIP   InputKind = "ip"
	InputCIDR InputKind = "cidr"
	InputFQDN InputKind = "fqdn"
	InputPort InputKind = "port"
	InputText InputKind = "text"
)

// Choice is one answer to a question step.
type Choice struct {
	// Key is stable and short, used in action IDs and --answers files.
	Key string `json:"key"`
	// Label is what the user sees.
	Label string `json:"label"`
}

// InputSpec describes a typed value a step asks for.
type InputSpec struct {
	// Kind selects the validator.
	Kind InputKind `json:"kind"`
	// Var is the session variable the value is stored in.
	Var string `json:"var"`
	// Label is what the person is asked to type, in their words ("Source
	// address of the ping"), authored to fit a chat input label (≤ 75
	// characters); never a variable name.
	Label string `json:"label,omitempty"`
	// Description says where to find the value (one or two short sentences).
	Description string `json:"description,omitempty"`
	// Placeholder is an example value.
	Placeholder string `json:"placeholder,omitempty"`
}

// EvidenceSpec describes the files an evidence step asks for.
type EvidenceSpec struct {
	// Kinds are the kinds of evidence that answer the step.
	Kinds []EvidenceKind `json:"kinds"`
	// Hint says what to upload and how to get it from the device.
	Hint string `json:"hint"`
}

// Step is what a flow asks next. The flow engine produces it; the terminal
// runner and the Slack bot render it.
type Step struct {
	// CaseID is the case.
	CaseID int64 `json:"case_id"`
	// Flow, FlowVersion and State identify the step.
	Flow        string `json:"flow"`
	FlowVersion int    `json:"flow_version"`
	State       string `json:"state"`
	// Seq is the session Seq; a reply must carry it.
	Seq int `json:"seq"`
	// Kind is what the step asks of the user.
	Kind StepKind `json:"kind"`
	// Title is a one-line question or heading.
	Title string `json:"title"`
	// Text is the body (Markdown subset: *bold*, `code`, lists).
	Text string `json:"text,omitempty"`
	// Choices are the answers to a question step (two or more).
	Choices []Choice `json:"choices,omitempty"`
	// Input describes the value an input step asks for.
	Input *InputSpec `json:"input,omitempty"`
	// Probes are the probes a probe step asks to run.
	Probes []*ProbeRequest `json:"probes,omitempty"`
	// Evidence describes what an evidence step asks to upload.
	Evidence *EvidenceSpec `json:"evidence,omitempty"`
	// Resolution is the resolution ID, for terminal steps.
	Resolution string `json:"resolution,omitempty"`
	// KBArticle is the kb article the step cites.
	KBArticle string `json:"kb_article,omitempty"`
	// Auto lists, oldest first, every step the engine answered by itself on
	// the way here (from the site profile, a probe result or a stored
	// finding). Each surface shows all of them, with "That's not right"
	// for the reopenable ones.
	Auto []AutoAnswer `json:"auto,omitempty"`
	// Notes are things the person must read before answering, said plainly:
	// a contradiction between their answer and what was measured, a step
	// reopened, an answer undone.
	Notes []string `json:"notes,omitempty"`
	// CaseStatus is the case's status after this step: a resolution step
	// leaves the case open until the person answers "Did this fix it?";
	// ChoiceFixed makes it resolved.
	CaseStatus CaseStatus `json:"case_status,omitempty"`
	// CanGoBack is true when a person's answer can be undone with Back.
	CanGoBack bool `json:"can_go_back,omitempty"`
}

// AutoAnswer is a step the engine answered by itself.
type AutoAnswer struct {
	// Flow and State name the step; Reply.Reopen names it as "flow:state".
	Flow  string `json:"flow"`
	State string `json:"state"`
	// Question is the step's title as it would have been asked.
	Question string `json:"question"`
	// Answer is the choice label or the value taken.
	Answer string `json:"answer"`
	// By says what answered it, precisely enough to check: "probe ping
	// 10.1.2.3: 100% loss", "charon.log:12 (auth-failed)", "site profile".
	By string `json:"by"`
	// Reopenable is true when a person may say "That's not right" about
	// it (Reply.Reopen), which asks them the question instead.
	Reopenable bool `json:"reopenable"`
}

// Reopen returns the Reply.Reopen value naming a.
func (a AutoAnswer) Reopen() string { return PathStep{Flow: a.Flow, State: a.State}.String() }

// The choices every resolution step offers under ConfirmFixQuestion.
const (
	// ChoiceFixed closes the case as resolved.
	ChoiceFixed = "fixed"
	// ChoiceNotFixed continues with the flow's next check, or hands the
	// case over to support with the bundle.
	ChoiceNotFixed = "not-fixed"
)

// ConfirmFixQuestion is asked under every resolution.
const ConfirmFixQuestion = "Did this fix it?"

// Reply answers the current step of a case.
type Reply struct {
	// Seq is the Seq of the step being answered; a stale Seq is refused with
	// ECONFLICT ("this step is already done").
	Seq int
	// Choice is the chosen choice's key, for question steps.
	Choice string
	// Value is the typed value, for input steps.
	Value string
	// Results are the probe results, for probe steps. The engine stores
	// each one not marked Stored (by the Prober that ran it) for the case.
	Results []*ProbeResult
	// Skip answers an evidence step with "I have nothing to upload". A
	// reply to an evidence step without Skip says "my files are attached":
	// the engine decides the step from the case's stored findings (findings
	// reach the engine only through the FindingService).
	Skip bool
	// Reopen, "flow:state" (AutoAnswer.Reopen), says "That's not right"
	// about a step the engine answered by itself on the current path: the
	// case goes back to that step and a person answers it; nothing
	// inferred replaces that answer afterwards. Seq must be the current
	// step's Seq.
	Reopen string
	// Actor is who answered.
	Actor string
	// IdempotencyKey, when set, makes a retried reply a no-op (see Transition).
	IdempotencyKey string
}

// Diagnoser walks a case through the flows. It knows nothing of how a step
// is shown: the terminal runner and the Slack bot both drive it.
type Diagnoser interface {
	// Start begins flow (the triage flow when empty) for an existing case and
	// returns the first step that needs the user.
	Start(ctx context.Context, caseID int64, flow string, actor string) (*Step, error)
	// Current returns the step a case is waiting on.
	Current(ctx context.Context, caseID int64) (*Step, error)
	// Reply answers the current step and returns the next step that needs
	// the user (steps that the profile, a probe or evidence answer are taken
	// automatically and listed in Step.Auto). Start, Current, Reply, Back
	// and Restart all move the case through the same driver: whatever they
	// pass is in Step.Auto of what they return; Current takes steps that
	// became answerable since (a finding stored, a profile set).
	Reply(ctx context.Context, caseID int64, r Reply) (*Step, error)
	// Back undoes the person's last answer on the current path (and the
	// steps taken automatically after it) and asks that question again;
	// seq is the current step's Seq. History stays in the timeline.
	Back(ctx context.Context, caseID int64, seq int, actor string) (*Step, error)
	// Restart begins triage again for the case, keeping its history; a
	// resolved or escalated case is re-opened.
	Restart(ctx context.Context, caseID int64, actor string) (*Step, error)
}

// FlowGraph is a flow's states and transitions, for diagrams and for
// highlighting the path a case took.
type FlowGraph struct {
	// Name and Version identify the flow.
	Name    string `json:"name"`
	Version int    `json:"version"`
	// Start is the initial state.
	Start string `json:"start"`
	// Nodes are the states.
	Nodes []FlowNode `json:"nodes"`
	// Edges are the transitions.
	Edges []FlowEdge `json:"edges"`
}

// FlowNode is one state of a flow.
type FlowNode struct {
	State     string   `json:"state"`
	Kind      StepKind `json:"kind"`
	Title     string   `json:"title"`
	KBArticle string   `json:"kb_article,omitempty"`
}

// FlowEdge is one transition: the event that fires it and its label
// (a choice's label or a probe outcome).
type FlowEdge struct {
	From  string `json:"from"`
	To    string `json:"to"`
	Event string `json:"event"`
	Label string `json:"label,omitempty"`
}
