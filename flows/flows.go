// Package flows is the diagnosis engine: the troubleshooting guide's
// decision tree as finite-state machines (github.com/looplab/fsm), walked
// one step at a time for a case, independent of any user interface.
//
// # Definitions
//
// Each flow is a folder, NAME/, holding flow.yaml (the current version) and
// README.md (what it diagnoses, steps, guide section, example). The walks
// that must reach a given end are Go tests: TestWalkEveryPath walks every
// path of every flow on SQLite, and cmd/vpndiag's TestDiagnoseGuideSections
// runs the binary to each guide section's resolution.
// Older versions live in NAME/versions/vN.yaml, so that a session started
// on one can finish; a session whose version is gone is refused with a
// "migrate" message until Engine.Migrate moves it. The definitions are
// embedded and validated at load: every state reachable from the start,
// every non-terminal state with an exit, every choice and outcome leading to
// a defined state, every resolution citing a kb article that exists, and no
// dead end. A problem names the flow, the version and the state.
//
// A state is a step of one of the kinds of vpndiag.StepKind. Its exits are
// FSM events: a question's choice keys, a probe step's outcome events, an
// evidence step's finding-rule events plus "none" and "skip", and "next" for
// input and info steps. A target "@flow" hands the session over to another
// flow's start (triage → the topic flow); the path records it.
//
// # Sessions
//
// The FSM keeps no state between calls: the engine stores the state name in
// vpndiag.Session after every transition (through SessionService.
// ApplyTransition, with the answer, the events and the case update in one
// transaction, compare-and-swap on Seq) and restores a machine with
// SetState before firing the next event. Session.Path lists "flow:state"
// entries; Session.Vars holds typed inputs and remembered probe outcomes
// ("probe:KIND TARGET k=v…").
//
// # Automatic answers
//
// A step the case already answers is taken without asking and listed in
// Step.Auto with what answered it (AutoAnswer.By: "site profile",
// "charon.log:12 (auth-failed)", "probe ping 10.0.0.2: timeout"): a
// question by an auto rule on a site-profile fact, a session variable or a
// stored finding; an input by the profile, an earlier answer, a value a
// probe measured (ProbeDef.Vars) or the line of a finding
// (InputDef.FromFinding); a probe step by an earlier result of the same
// probe; an evidence step by a stored finding that one of its rules names,
// or "nothing specific found" when files of the kinds it asks for were read
// and no rule applies. Start, Current, Reply, Back and Restart all pass
// through the same driver, so every surface shows every step taken.
//
// The rules that keep this honest (reason.go): a step is answered only when
// what was measured determines it (an informational note decides nothing;
// failures, then warnings, are tried in the rules' order); a person's
// answer is never replaced by an inference (a rule whose Implies contradicts
// it is set aside, the contradiction said in Step.Notes and recorded as an
// EventContradiction); "That's not right" (Reply.Reopen) turns an automatic
// answer back into a question for a person; Back undoes the person's last
// answer. Resolutions ask "Did this fix it?": yes resolves the case, no goes
// to the resolution's not_fixed check or to the support flow; a resolution
// lists the case's own findings for its kb article, with file, line and fix.
package flows

import (
	"embed"
	"io/fs"
	"sync"
)

// definitions holds every flow folder's definition files.
//
// When a flow keeps an older version, add "*/versions/*.yaml" here (a
// test fails until it is).
//
//go:embed */flow.yaml */versions/*.yaml
var definitions embed.FS

var (
	defaultOnce sync.Once
	defaultSet  *Set
	defaultErr  error
)

// Default returns the embedded flows. They are validated by the tests and
// by `vpndiag check`, so a failure here is a build defect: it panics.
func Default() *Set {
	defaultOnce.Do(func() { defaultSet, defaultErr = Load(definitions) })
	if defaultErr != nil {
		panic(defaultErr)
	}
	return defaultSet
}

// LoadDefault loads and validates the embedded flows, returning every
// problem instead of panicking (for `vpndiag check`).
func LoadDefault() (*Set, error) { return Load(definitions) }

// FS returns the embedded definition files.
func FS() fs.FS { return definitions }

//go:generate go test -run TestDiagrams -update .
