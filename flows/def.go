package flows

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/kb"
)

// Def is one version of a flow, as written in flows/NAME/flow.yaml (the
// current version) or flows/NAME/versions/vN.yaml (older versions, kept so
// that sessions started on them can finish).
type Def struct {
	// Name is the flow's name; it must equal its folder's name.
	Name string `yaml:"name"`
	// Version counts incompatible changes; a session keeps the version it
	// started on.
	Version int `yaml:"version"`
	// Title says what the flow diagnoses, in one line.
	Title string `yaml:"title"`
	// Guide lists the titles of the guide's sections the flow covers.
	Guide []string `yaml:"guide"`
	// Start is the initial state.
	Start string `yaml:"start"`
	// States are the flow's states by name.
	States map[string]*State `yaml:"states"`
}

// State is one state of a flow: the step it shows and where each answer
// leads. Which fields apply depends on Kind.
type State struct {
	// Kind is what the step asks of the user.
	Kind vpndiag.StepKind `yaml:"kind"`
	// Title is the question or heading; Text the body. Both may use
	// {var} or {var|fallback} placeholders (see Facts).
	Title string `yaml:"title"`
	Text  string `yaml:"text"`
	// KB is the kb article the step cites; required for resolutions and
	// escalations.
	KB string `yaml:"kb"`

	// Choices are a question's answers.
	Choices []ChoiceDef `yaml:"choices"`
	// Auto are rules that answer a question without asking, tried in order.
	Auto []AutoRule `yaml:"auto"`

	// Input is the value an input step asks for.
	Input *InputDef `yaml:"input"`

	// Probes are the probe requests of a probe step.
	Probes []ProbeDef `yaml:"probes"`
	// Outcomes map a probe step's combined outcome to an event.
	Outcomes []OutcomeDef `yaml:"outcomes"`

	// Evidence says what an evidence step asks to upload.
	Evidence *EvidenceDef `yaml:"evidence"`
	// Findings map finding codes to events, first match wins.
	Findings []FindingRule `yaml:"findings"`
	// None is where an evidence step goes when no rule matches; Skip where
	// it goes when the user has nothing to upload.
	None *Exit `yaml:"none"`
	Skip *Exit `yaml:"skip"`

	// Next is where input and info steps go.
	Next string `yaml:"next"`

	// NotFixed is where a resolution goes when the person answers "Did this
	// fix it?" with no: the flow's next check, or "@flow". Empty hands the
	// case to support (SupportFlow).
	NotFixed string `yaml:"not_fixed"`
}

// ChoiceDef is one answer of a question; its key is the FSM event.
type ChoiceDef struct {
	Key   string `yaml:"key"`
	Label string `yaml:"label"`
	// To is the next state, or "@flow" to hand over to another flow.
	To string `yaml:"to"`
}

// AutoRule answers a question from what is already known. Exactly one of
// Fact and Finding is set.
type AutoRule struct {
	// Fact names a site-profile fact or session variable (see Facts); its
	// value, mapped through Map when set, must be a choice key.
	Fact string `yaml:"fact"`
	// Map translates the fact's value to a choice key.
	Map map[string]string `yaml:"map"`
	// Finding is a finding code; when the case has such a finding, Choice
	// is taken.
	Finding string `yaml:"finding"`
	// Choice is the key taken when Finding is present.
	Choice string `yaml:"choice"`
}

// InputDef is the typed value an input step asks for.
type InputDef struct {
	Kind vpndiag.InputKind `yaml:"kind"`
	Var  string            `yaml:"var"`
	// Label is what the person is asked to type, in their words (≤ 75
	// characters); Description says where to find it.
	Label       string `yaml:"label"`
	Description string `yaml:"description"`
	Placeholder string `yaml:"placeholder"`
	// FromFinding answers the input from the line of the case's finding
	// with one of these codes (and Article, when set): the first word of
	// that line valid for Kind, e.g. the range of "local_ts = 10.2.0.0/16".
	FromFinding *FindingRef `yaml:"from_finding"`
}

// FindingRef selects a finding of the case by code and kb article.
type FindingRef struct {
	Codes   []string `yaml:"codes"`
	Article string   `yaml:"article"`
}

// ProbeDef is a probe request template.
type ProbeDef struct {
	// Kind is the probe kind.
	Kind vpndiag.ProbeKind `yaml:"kind"`
	// Each, when set, names a list fact (e.g. dns_servers): one request is
	// made per item, available as {item}.
	Each string `yaml:"each"`
	// Target and Params may use {var} placeholders.
	Target string            `yaml:"target"`
	Params map[string]string `yaml:"params"`
	// Timeout bounds each request; default DefaultProbeTimeout.
	Timeout time.Duration `yaml:"timeout"`
	// Purpose says why the probe runs, shown to the user.
	Purpose string `yaml:"purpose"`
	// Vars keep values the probe measured for later steps: session
	// variable → top-level key of the result's detail (e.g. source_ip:
	// source), so that nothing measured is asked.
	Vars map[string]string `yaml:"vars"`
}

// OutcomeDef maps probe outcomes to one event.
type OutcomeDef struct {
	// Event is the FSM event, also the key of the manual choice.
	Event string `yaml:"event"`
	// Label describes the outcome to people ("the DNS server answers").
	Label string `yaml:"label"`
	// When lists the outcomes that fire the event; "*" matches any outcome
	// no other entry lists.
	When []vpndiag.Outcome `yaml:"when"`
	// To is the next state or "@flow".
	To string `yaml:"to"`
	// Implies: see FindingRule.Implies. A measurement is followed; a
	// person's earlier answer it contradicts is said and recorded.
	Implies map[string][]string `yaml:"implies"`
}

// EvidenceDef describes the files an evidence step asks for.
type EvidenceDef struct {
	Kinds []vpndiag.EvidenceKind `yaml:"kinds"`
	Hint  string                 `yaml:"hint"`
}

// FindingRule maps finding codes to an event.
type FindingRule struct {
	Event string   `yaml:"event"`
	Label string   `yaml:"label"`
	Codes []string `yaml:"codes"`
	// Article, when set, matches only findings that cite this kb article
	// (e.g. ts-unacceptable because the local range is not the site's).
	Article string `yaml:"article"`
	// Info lets an informational finding of Codes decide the step; by
	// default only warnings and worse do (an info note determines nothing).
	Info bool `yaml:"info"`
	// Implies names what the rule's answer amounts to for questions a
	// person may have answered earlier: state (of this flow, or
	// "flow:state") → the choice keys it agrees with. A person's answer
	// outside them wins: the rule is set aside (unless Follow) and the
	// contradiction is said and recorded.
	Implies map[string][]string `yaml:"implies"`
	// Follow marks a rule whose findings show the device's state now (a
	// failed authentication, an SA's counters): against a person's answer
	// it is still followed, and the disagreement said and recorded.
	Follow bool   `yaml:"follow"`
	To     string `yaml:"to"`
}

// Exit is a labelled way out of an evidence step.
type Exit struct {
	Label string `yaml:"label"`
	To    string `yaml:"to"`
}

// Fixed event names.
const (
	// EventNext leaves input and info steps.
	EventNext = "next"
	// EventNone leaves an evidence step whose findings match no rule.
	EventNone = "none"
	// EventSkip leaves an evidence step the user has nothing for.
	EventSkip = "skip"
	// EventNotFixed leaves a resolution the person says did not fix it
	// (vpndiag.ChoiceNotFixed).
	EventNotFixed = "not_fixed"
)

// SupportFlow takes a case whose resolution did not fix it and that has no
// next check: the hand-over to support with the bundle.
const SupportFlow = "support"

// AnyOutcome in OutcomeDef.When matches every outcome not listed elsewhere.
const AnyOutcome vpndiag.Outcome = "*"

// DefaultProbeTimeout bounds a probe whose definition sets no timeout.
const DefaultProbeTimeout = 10 * time.Second

// commonOutcomes must each be handled by every probe step.
var commonOutcomes = []vpndiag.Outcome{
	vpndiag.OutcomeOK, vpndiag.OutcomeFail, vpndiag.OutcomeTimeout, vpndiag.OutcomeRefused,
	vpndiag.OutcomeUnreachable, vpndiag.OutcomeDenied, vpndiag.OutcomeError,
}

// exit is one outgoing transition of a state.
type exit struct {
	Event string
	Label string
	To    string
}

// exits returns a state's outgoing transitions in definition order.
func (s *State) exits() []exit {
	var out []exit
	switch s.Kind {
	case vpndiag.StepQuestion:
		for _, c := range s.Choices {
			out = append(out, exit{c.Key, c.Label, c.To})
		}
	case vpndiag.StepProbe:
		for _, o := range s.Outcomes {
			out = append(out, exit{o.Event, o.Label, o.To})
		}
	case vpndiag.StepEvidence:
		for _, r := range s.Findings {
			out = append(out, exit{r.Event, r.Label, r.To})
		}
		if s.None != nil {
			out = append(out, exit{EventNone, s.None.Label, s.None.To})
		}
		if s.Skip != nil {
			out = append(out, exit{EventSkip, s.Skip.Label, s.Skip.To})
		}
	case vpndiag.StepInput, vpndiag.StepInfo:
		if s.Next != "" {
			out = append(out, exit{EventNext, "", s.Next})
		}
	case vpndiag.StepResolution:
		to := s.NotFixed
		if to == "" {
			to = "@" + SupportFlow
		}
		out = append(out, exit{EventNotFixed, notFixedLabel, to})
	}
	return out
}

// isHandover reports whether a transition target names another flow.
func isHandover(to string) bool { return strings.HasPrefix(to, "@") }

// handoverTarget splits a hand-over target "@flow" or "@flow:state" (a
// state other than the flow's start, so that what is known is not asked
// again); state is empty for the flow's start.
func handoverTarget(to string) (flow, state string) {
	p := vpndiag.ParsePathStep(strings.TrimPrefix(to, "@"))
	if p.Flow == "" { // "@flow": the bare name is the flow's, not a state
		return p.State, ""
	}
	return p.Flow, p.State
}

// Problems is every problem found in the flows, each naming the flow and
// the state.
type Problems []string

// Error implements error.
func (p Problems) Error() string {
	if len(p) == 1 {
		return "flows: " + p[0]
	}
	return fmt.Sprintf("flows: %d problems:\n  - %s", len(p), strings.Join(p, "\n  - "))
}

// Set is a validated collection of flows, every version of each.
type Set struct {
	byName  map[string]map[int]*Def
	current map[string]int
}

// Load reads every NAME/flow.yaml and NAME/versions/*.yaml of fsys and
// validates them. A Problems error lists every problem found.
func Load(fsys fs.FS) (*Set, error) {
	set := &Set{byName: map[string]map[int]*Def{}, current: map[string]int{}}
	var probs Problems
	dirs, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("flows: %w", err)
	}
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		name := d.Name()
		data, err := fs.ReadFile(fsys, path.Join(name, "flow.yaml"))
		if errors.Is(err, fs.ErrNotExist) {
			continue // not a flow folder (e.g. testdata)
		} else if err != nil {
			return nil, fmt.Errorf("flows: %w", err)
		}
		def, err := parseDef(name, "flow.yaml", data)
		if err != nil {
			probs = append(probs, err.Error())
			continue
		}
		set.add(def)
		set.current[name] = def.Version
		old, _ := fs.Glob(fsys, path.Join(name, "versions", "*.yaml"))
		for _, p := range old {
			data, err := fs.ReadFile(fsys, p)
			if err != nil {
				return nil, fmt.Errorf("flows: %w", err)
			}
			od, err := parseDef(name, strings.TrimPrefix(p, name+"/"), data)
			if err != nil {
				probs = append(probs, err.Error())
				continue
			}
			if od.Version >= def.Version {
				probs = append(probs, fmt.Sprintf("flow %q: %s has version %d, not older than flow.yaml's %d", name, p, od.Version, def.Version))
				continue
			}
			if set.byName[name][od.Version] != nil {
				probs = append(probs, fmt.Sprintf("flow %q: version %d is defined twice", name, od.Version))
				continue
			}
			set.add(od)
		}
	}
	if len(set.current) == 0 && len(probs) == 0 {
		probs = append(probs, "no flow found (no NAME/flow.yaml)")
	}
	for _, name := range set.Names() {
		vs := set.versions(name)
		for _, v := range vs {
			probs = append(probs, set.validate(set.byName[name][v])...)
		}
	}
	if len(probs) > 0 {
		return nil, probs
	}
	return set, nil
}

// MustLoad is Load for definitions known to be valid; it panics otherwise.
func MustLoad(fsys fs.FS) *Set {
	s, err := Load(fsys)
	if err != nil {
		panic(err)
	}
	return s
}

func (s *Set) add(d *Def) {
	if s.byName[d.Name] == nil {
		s.byName[d.Name] = map[int]*Def{}
	}
	s.byName[d.Name][d.Version] = d
}

// parseDef decodes one definition file strictly.
func parseDef(folder, file string, data []byte) (*Def, error) {
	var d Def
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("flow %q: %s: %s", folder, file, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if d.Name != folder {
		return nil, fmt.Errorf("flow %q: %s: name %q must equal the folder name", folder, file, d.Name)
	}
	if d.Version < 1 {
		return nil, fmt.Errorf("flow %q: %s: version must be 1 or more", folder, file)
	}
	return &d, nil
}

// Names returns the flow names, sorted, with "triage" first.
func (s *Set) Names() []string {
	var out []string
	for n := range s.current {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool {
		if (out[i] == TriageFlow) != (out[j] == TriageFlow) {
			return out[i] == TriageFlow
		}
		return out[i] < out[j]
	})
	return out
}

// versions returns a flow's versions, ascending.
func (s *Set) versions(name string) []int {
	var vs []int
	for v := range s.byName[name] {
		vs = append(vs, v)
	}
	sort.Ints(vs)
	return vs
}

// Current returns the current version of the named flow; ENOTFOUND naming
// the known flows when there is none.
func (s *Set) Current(name string) (*Def, error) {
	v, ok := s.current[name]
	if !ok {
		return nil, vpndiag.Errorf(vpndiag.ENOTFOUND, "There is no flow %q; flows are: %s.", name, strings.Join(s.Names(), ", "))
	}
	return s.byName[name][v], nil
}

// Version returns the given version of the named flow; ENOTFOUND when the
// flow is unknown, ECONFLICT (with the migrate hint) when that version is no
// longer kept.
func (s *Set) Version(name string, version int) (*Def, error) {
	cur, err := s.Current(name)
	if err != nil {
		return nil, err
	}
	d, ok := s.byName[name][version]
	if !ok {
		return nil, vpndiag.Errorf(vpndiag.ECONFLICT,
			"This case runs flow %q version %d, which this vpndiag no longer has (current: version %d). Migrate it to the current version to continue.",
			name, version, cur.Version)
	}
	return d, nil
}

var (
	namePattern = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	varPattern  = regexp.MustCompile(`\{([a-z0-9_]+)(\|[^}]*)?\}`)
)

// validate returns every problem of d.
func (s *Set) validate(d *Def) Problems {
	c := &checker{set: s, def: d, knownVars: s.knownVars()}
	if !c.flow() {
		return c.probs
	}
	names := make([]string, 0, len(d.States))
	for n := range d.States {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		c.state(name, d.States[name])
	}
	reach := c.reachable(names)
	c.deadEnds(names, reach)
	return c.probs
}

// checker collects the problems of one flow; each of its methods checks one
// kind of rule.
type checker struct {
	set       *Set
	def       *Def
	knownVars map[string]bool
	probs     Problems
}

// add records a problem of state (of the flow itself when state is empty).
func (c *checker) add(state, format string, args ...any) {
	where := fmt.Sprintf("flow %q v%d", c.def.Name, c.def.Version)
	if state != "" {
		where = fmt.Sprintf("flow %q v%d: state %q", c.def.Name, c.def.Version, state)
	}
	c.probs = append(c.probs, where+": "+fmt.Sprintf(format, args...))
}

// flow checks the flow's own fields; false when its start state is not
// defined (nothing else can then be checked).
func (c *checker) flow() bool {
	d := c.def
	if d.Title == "" {
		c.add("", "title is required")
	}
	if len(d.Guide) == 0 {
		c.add("", "guide must name the guide's section(s) the flow covers")
	}
	if d.States[d.Start] == nil {
		c.add("", "start state %q is not defined", d.Start)
		return false
	}
	return true
}

// target checks where an exit of state leads: a state of the flow, or a
// hand-over to another flow (and a state of it).
func (c *checker) target(state, to, what string) {
	switch {
	case to == "":
		c.add(state, "%s leads nowhere (no \"to\")", what)
	case isHandover(to):
		name, at := handoverTarget(to)
		if _, ok := c.set.current[name]; !ok {
			c.add(state, "%s hands over to unknown flow %q", what, name)
		} else if name == c.def.Name {
			c.add(state, "%s hands over to its own flow", what)
		} else if cur := c.set.byName[name][c.set.current[name]]; at != "" && cur.States[at] == nil {
			c.add(state, "%s hands over to undefined state %q of flow %q", what, at, name)
		}
	case c.def.States[to] == nil:
		c.add(state, "%s leads to undefined state %q", what, to)
	}
}

// implies checks that the answers m implies are choices of questions.
func (c *checker) implies(state, what string, m map[string][]string) {
	for key, choices := range m {
		fl, p := c.def, vpndiag.ParsePathStep(key)
		if p.Flow != "" {
			cur, err := c.set.Current(p.Flow)
			if err != nil {
				c.add(state, "%s implies an answer of unknown flow %q", what, p.Flow)
				continue
			}
			fl = cur
		}
		target := fl.States[p.State]
		if target == nil || target.Kind != vpndiag.StepQuestion {
			c.add(state, "%s implies an answer of %q, which is not a question", what, key)
			continue
		}
		for _, ch := range choices {
			if !slices.ContainsFunc(target.Choices, func(x ChoiceDef) bool { return x.Key == ch }) {
				c.add(state, "%s implies choice %q of %q, which it does not have", what, ch, key)
			}
		}
	}
}

// article checks that a, when set, is a kb article.
func (c *checker) article(state, what, a string) {
	if a != "" {
		if _, err := kb.Article(a); err != nil {
			c.add(state, "%s names kb article %q, which does not exist", what, a)
		}
	}
}

// codes checks that every finding code is one of kb.Codes.
func (c *checker) codes(state, what string, codes []string) {
	for _, code := range codes {
		if !slices.Contains(kb.Codes, code) {
			c.add(state, "%s: code %q is not one of kb.Codes", what, code)
		}
	}
}

// vars checks that the {variables} of text are known.
func (c *checker) vars(state, field, text string) {
	for _, m := range varPattern.FindAllStringSubmatch(text, -1) {
		if !c.knownVars[m[1]] {
			c.add(state, "%s uses {%s}, which is neither a site-profile fact nor an input variable", field, m[1])
		}
	}
}

// state checks one state: what every state needs, then its kind's rules.
func (c *checker) state(name string, st *State) {
	if !namePattern.MatchString(name) {
		c.add(name, "state names must be lower-case words with _ ")
	}
	if st == nil {
		c.add(name, "empty state")
		return
	}
	if strings.TrimSpace(st.Title) == "" {
		c.add(name, "title is required")
	}
	c.vars(name, "title", st.Title)
	c.vars(name, "text", st.Text)
	if st.KB != "" {
		if _, err := kb.Article(st.KB); err != nil {
			c.add(name, "cites kb article %q, which does not exist", st.KB)
		}
	}
	events := c.events(name, st)
	switch st.Kind {
	case vpndiag.StepQuestion:
		c.question(name, st, events)
	case vpndiag.StepInput:
		c.input(name, st)
	case vpndiag.StepInfo:
		c.target(name, st.Next, "next")
	case vpndiag.StepProbe:
		c.probe(name, st)
	case vpndiag.StepEvidence:
		c.evidence(name, st)
	case vpndiag.StepResolution, vpndiag.StepEscalation:
		c.terminal(name, st)
	default:
		c.add(name, "unknown kind %q", st.Kind)
	}
	if !st.Kind.Terminal() && len(st.exits()) == 0 && st.Kind != "" {
		c.add(name, "non-terminal state has no exit")
	}
}

// events checks the names of a state's exits and returns them.
func (c *checker) events(name string, st *State) map[string]bool {
	events := map[string]bool{}
	for _, e := range st.exits() {
		if events[e.Event] {
			c.add(name, "event %q is defined twice", e.Event)
		}
		events[e.Event] = true
		if !namePattern.MatchString(e.Event) {
			c.add(name, "event %q must be a lower-case word with _", e.Event)
		}
	}
	return events
}

// question checks a question's choices and its automatic answers.
func (c *checker) question(name string, st *State, events map[string]bool) {
	if len(st.Choices) < 2 {
		c.add(name, "a question needs 2 or more choices, has %d", len(st.Choices))
	}
	for _, ch := range st.Choices {
		if ch.Label == "" {
			c.add(name, "choice %q has no label", ch.Key)
		}
		c.target(name, ch.To, fmt.Sprintf("choice %q", ch.Key))
	}
	for i, r := range st.Auto {
		switch {
		case (r.Fact == "") == (r.Finding == ""):
			c.add(name, "auto[%d]: set exactly one of fact and finding", i)
		case r.Fact != "":
			if !c.knownVars[r.Fact] {
				c.add(name, "auto[%d]: fact %q is neither a site-profile fact nor an input variable", i, r.Fact)
			}
			for v, k := range r.Map {
				if !events[k] {
					c.add(name, "auto[%d]: map %q → %q is not a choice", i, v, k)
				}
			}
		default:
			if !slices.Contains(kb.Codes, r.Finding) {
				c.add(name, "auto[%d]: finding code %q is not one of kb.Codes", i, r.Finding)
			}
			if !events[r.Choice] {
				c.add(name, "auto[%d]: choice %q is not a choice", i, r.Choice)
			}
		}
	}
}

// input checks an input step's variable, kind, label and from_finding.
func (c *checker) input(name string, st *State) {
	if st.Input == nil || st.Input.Var == "" {
		c.add(name, "an input step needs input.var")
	} else if !validInputKind(st.Input.Kind) {
		c.add(name, "input kind %q must be ip, cidr, fqdn, port or text", st.Input.Kind)
	}
	if st.Input != nil && len(st.Input.Label) > 75 {
		c.add(name, "input label is %d characters; keep it within 75 (put the rest in description)", len(st.Input.Label))
	}
	if ff := st.Input; ff != nil && ff.FromFinding != nil {
		if len(ff.FromFinding.Codes) == 0 {
			c.add(name, "input from_finding lists no codes")
		}
		c.codes(name, "input from_finding", ff.FromFinding.Codes)
		c.article(name, "input from_finding", ff.FromFinding.Article)
	}
	c.target(name, st.Next, "next")
}

// probe checks a probe step's probes and the outcomes it maps.
func (c *checker) probe(name string, st *State) {
	if len(st.Probes) == 0 {
		c.add(name, "a probe step needs at least one probe")
	}
	for i, p := range st.Probes {
		if !slices.Contains(vpndiag.ProbeKinds, p.Kind) {
			c.add(name, "probes[%d]: unknown probe kind %q", i, p.Kind)
		}
		if p.Target == "" {
			c.add(name, "probes[%d]: target is required", i)
		}
		if p.Each != "" && !listFacts[p.Each] {
			c.add(name, "probes[%d]: each %q is not a list fact", i, p.Each)
		}
		c.vars(name, fmt.Sprintf("probes[%d].target", i), strings.ReplaceAll(p.Target, "{item}", ""))
		for k, v := range p.Params {
			c.vars(name, fmt.Sprintf("probes[%d].params.%s", i, k), strings.ReplaceAll(v, "{item}", ""))
		}
	}
	seen := map[vpndiag.Outcome]bool{}
	for _, o := range st.Outcomes {
		if o.Label == "" {
			c.add(name, "outcome event %q has no label", o.Event)
		}
		if len(o.When) == 0 {
			c.add(name, "outcome event %q lists no outcomes (when)", o.Event)
		}
		for _, w := range o.When {
			if seen[w] {
				c.add(name, "outcome %q is mapped twice", w)
			}
			seen[w] = true
		}
		c.target(name, o.To, fmt.Sprintf("outcome event %q", o.Event))
		c.implies(name, fmt.Sprintf("outcome event %q", o.Event), o.Implies)
	}
	if !seen[AnyOutcome] {
		for _, o := range commonOutcomes {
			if !seen[o] {
				c.add(name, "probe outcome %q leads nowhere (map it or add \"*\")", o)
			}
		}
	}
}

// evidence checks an evidence step's kinds, finding rules, none and skip.
func (c *checker) evidence(name string, st *State) {
	if st.Evidence == nil || len(st.Evidence.Kinds) == 0 || st.Evidence.Hint == "" {
		c.add(name, "an evidence step needs evidence.kinds and evidence.hint")
	}
	for _, r := range st.Findings {
		what := fmt.Sprintf("finding rule %q", r.Event)
		if len(r.Codes) == 0 {
			c.add(name, "finding rule %q lists no codes", r.Event)
		}
		c.codes(name, what, r.Codes)
		c.target(name, r.To, what)
		c.implies(name, what, r.Implies)
		c.article(name, what, r.Article)
	}
	if st.None == nil {
		c.add(name, "an evidence step needs none (where to go when no rule matches)")
	} else {
		c.target(name, st.None.To, "none")
	}
	if st.Skip == nil {
		c.add(name, "an evidence step needs skip (where to go with nothing to upload)")
	} else {
		c.target(name, st.Skip.To, "skip")
	}
}

// terminal checks a resolution or an escalation.
func (c *checker) terminal(name string, st *State) {
	if st.KB == "" {
		c.add(name, "a %s must cite a kb article (kb)", st.Kind)
	}
	if st.Next != "" || len(st.Choices) > 0 || len(st.Probes) > 0 || len(st.Findings) > 0 {
		c.add(name, "a %s is terminal: its only way on is not_fixed", st.Kind)
	}
	if st.Kind == vpndiag.StepEscalation && st.NotFixed != "" {
		c.add(name, "an escalation takes no not_fixed")
	}
	if st.Kind == vpndiag.StepResolution && st.NotFixed != "" {
		c.target(name, st.NotFixed, "not_fixed")
	}
}

// reachable checks that every state is reachable from the start and
// returns the reachable ones.
func (c *checker) reachable(names []string) map[string]bool {
	d := c.def
	reach := map[string]bool{d.Start: true}
	queue := []string{d.Start}
	for len(queue) > 0 {
		st := d.States[queue[0]]
		queue = queue[1:]
		if st == nil {
			continue
		}
		for _, e := range st.exits() {
			if !isHandover(e.To) && d.States[e.To] != nil && !reach[e.To] {
				reach[e.To] = true
				queue = append(queue, e.To)
			}
		}
	}
	for _, n := range names {
		if !reach[n] {
			c.add(n, "not reachable from the start state %q", d.Start)
		}
	}
	return reach
}

// deadEnds checks that from every reachable state an end (terminal step or
// hand-over) is reachable.
func (c *checker) deadEnds(names []string, reach map[string]bool) {
	ends := map[string]bool{}
	for changed := true; changed; {
		changed = false
		for _, n := range names {
			st := c.def.States[n]
			if ends[n] || st == nil {
				continue
			}
			if st.Kind.Terminal() {
				ends[n], changed = true, true
				continue
			}
			for _, e := range st.exits() {
				if isHandover(e.To) || ends[e.To] {
					ends[n], changed = true, true
					break
				}
			}
		}
	}
	for _, n := range names {
		if !ends[n] && reach[n] {
			c.add(n, "dead end: no resolution, escalation or hand-over can be reached from it")
		}
	}
}

func validInputKind(k vpndiag.InputKind) bool {
	switch k {
	case vpndiag.InputIP, vpndiag.InputCIDR, vpndiag.InputFQDN, vpndiag.InputPort, vpndiag.InputText:
		return true
	}
	return false
}

// knownVars returns the names a placeholder or auto rule may use: the
// site-profile facts, derived facts and every input variable of any flow.
func (s *Set) knownVars() map[string]bool {
	m := map[string]bool{"item": true}
	for _, f := range FactNames {
		m[f] = true
	}
	for _, vs := range s.byName {
		for _, d := range vs {
			for _, st := range d.States {
				if st != nil && st.Input != nil && st.Input.Var != "" {
					m[st.Input.Var] = true
				}
				if st == nil {
					continue
				}
				for _, p := range st.Probes {
					for v := range p.Vars {
						m[v] = true
					}
				}
			}
		}
	}
	return m
}
