package flows

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/vpndiag/vpndiag"
)

// This file holds the rules by which what was measured answers a step:
//
//   - Certainty: a finding decides an evidence step only when one of the
//     step's rules names its code (and kb article, when the rule sets one);
//     an informational finding decides nothing unless the rule says so
//     (Info), because a note such as "NAT-T is forced on" determines no
//     answer. Failures (errors and critical findings) come first, then
//     warnings, then notes a rule accepts; within each the rules' order
//     decides.
//   - Override: a person's answer is never replaced by an inference. A rule
//     whose answer contradicts an earlier answer of a person (Implies) is
//     set aside; the contradiction is said (Step.Notes) and recorded (an
//     EventContradiction in the timeline).
//   - No re-asking: values a probe measured (ProbeDef.Vars) and values a
//     finding's line holds (InputDef.FromFinding) answer the inputs that
//     ask for them.

// contradiction is an inference set aside because a person said otherwise.
type contradiction struct {
	// inferred is what the rule concluded, by is what it rests on.
	inferred, by string
	// question and said are the person's question and answer.
	question, said string
	// followed is true when the finding shows the state now and was
	// followed anyway (FindingRule.Follow).
	followed bool
}

// note says the contradiction plainly, for Step.Notes.
func (c contradiction) note() string {
	if c.followed {
		return fmt.Sprintf("You answered %q to %q, but %s shows %q: the diagnosis continues from what your device shows.",
			c.said, c.question, c.by, c.inferred)
	}
	return fmt.Sprintf("%s suggests %q, but you answered %q to %q. Your answer stands; if %s is right, go back and change your answer.",
		c.by, c.inferred, c.said, c.question, c.by)
}

// event records the contradiction in the timeline.
func (c contradiction) event(actor string) *vpndiag.Event {
	kept := "the person's answer kept"
	if c.followed {
		kept = "the device's state followed"
	}
	data, _ := json.Marshal(map[string]any{"inferred": c.inferred, "by": c.by, "question": c.question, "answer": c.said, "followed": c.followed})
	return &vpndiag.Event{Actor: actor, Kind: vpndiag.EventContradiction,
		Message: fmt.Sprintf("Contradiction: %s suggests %q; the person answered %q to %q (%s)", c.by, c.inferred, c.said, c.question, kept),
		Data:    data}
}

// contradicts returns the contradiction between implies and the person's
// earlier answers of the run, if any.
func (e *Engine) contradicts(rs *run, implies map[string][]string, inferred, by string) *contradiction {
	for _, key := range sortedImplies(implies) {
		step := vpndiag.ParsePathStep(key).In(rs.def.Name)
		flow, state := step.Flow, step.State
		said, ok := rs.sess.Vars[personVar(flow, state)]
		if !ok || slices.Contains(implies[key], said) {
			continue
		}
		c := &contradiction{inferred: inferred, by: by, question: step.String(), said: said}
		if def, err := e.flows.Current(flow); err == nil && def.States[state] != nil {
			st := def.States[state]
			c.question = rs.expand(st.Title)
			for _, ch := range st.Choices {
				if ch.Key == said {
					c.said = rs.expand(ch.Label)
				}
			}
		}
		return c
	}
	return nil
}

func sortedImplies(m map[string][]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// matchFindings returns the rule that fs decide, with the finding that
// decided it, setting aside rules that contradict a person's answer (listed
// in set). Tiers are tried worst first (failures, warnings, notes); within a
// tier, the first rule in definition order that one of the tier's findings
// matches wins.
func (e *Engine) matchFindings(rs *run, st *State, fs []*vpndiag.Finding) (rule *FindingRule, f *vpndiag.Finding, set []contradiction) {
	aside := map[int]bool{}
	for _, tier := range []int{failureTier, vpndiag.SeverityWarning.Rank(), vpndiag.SeverityInfo.Rank()} {
		for i := range st.Findings {
			r := &st.Findings[i]
			if aside[i] {
				continue
			}
			for _, x := range fs {
				if x == nil || tierOf(x) != tier || !r.matches(x) {
					continue
				}
				if tier <= vpndiag.SeverityInfo.Rank() && !r.Info {
					continue
				}
				if c := e.contradicts(rs, r.Implies, rs.expand(r.Label), describeFinding(x)); c != nil {
					c.followed = r.Follow
					set = append(set, *c)
					if !r.Follow {
						aside[i] = true
						break
					}
				}
				return r, x, set
			}
		}
	}
	return nil, nil, set
}

// failureTier holds errors and critical findings together: among failures
// the rules' order decides, so that a flow can put what the device shows
// now (an IKE SA up, say) before what a log line says about an attempt.
const failureTier = 3

// tierOf is a finding's tier: failures, warnings, or information (unknown
// severities count as information).
func tierOf(f *vpndiag.Finding) int {
	if r := f.Severity.Rank(); r >= failureTier {
		return failureTier
	} else if r == vpndiag.SeverityWarning.Rank() {
		return r
	}
	return vpndiag.SeverityInfo.Rank()
}

// matches reports whether the rule names f's code (and article).
func (r *FindingRule) matches(f *vpndiag.Finding) bool {
	return slices.Contains(r.Codes, f.Code) && (r.Article == "" || r.Article == f.KBArticle)
}

// describeFinding names a finding and where it was seen: "charon.log:12
// (ts-unacceptable)".
func describeFinding(f *vpndiag.Finding) string {
	return fmt.Sprintf("%s (%s)", findingRef(f), f.Code)
}

// inputFromFinding answers an input from the line of a finding: the first
// word of the line (after "=", ":" or spaces) valid for the input's kind.
func inputFromFinding(in *InputDef, fs []*vpndiag.Finding) (value string, f *vpndiag.Finding, ok bool) {
	if in.FromFinding == nil {
		return "", nil, false
	}
	for _, x := range fs {
		if x == nil || !slices.Contains(in.FromFinding.Codes, x.Code) || (in.FromFinding.Article != "" && in.FromFinding.Article != x.KBArticle) {
			continue
		}
		for _, ref := range x.Evidence {
			for _, w := range strings.FieldsFunc(ref.Text, func(r rune) bool {
				return r == ' ' || r == '\t' || r == '=' || r == ',' || r == ';' || r == '"' || r == '\'' || r == '[' || r == ']' || r == '{' || r == '}'
			}) {
				if v, err := vpndiag.ValidateInput(in.Kind, w); err == nil && in.Kind != vpndiag.InputText {
					return v, x, true
				}
			}
		}
	}
	return "", nil, false
}

// probeVars extracts the values a probe step keeps (ProbeDef.Vars) from
// the results' details.
func probeVars(st *State, results []*vpndiag.ProbeResult) map[string]string {
	out := map[string]string{}
	for _, p := range st.Probes {
		for v, key := range p.Vars {
			for _, res := range results {
				if res == nil || res.Kind != p.Kind || len(res.Detail) == 0 {
					continue
				}
				var detail map[string]any
				if json.Unmarshal(res.Detail, &detail) != nil {
					continue
				}
				if s, ok := detail[key].(string); ok && s != "" {
					out[v] = s
					break
				}
			}
		}
	}
	return out
}

// maxCited bounds the findings a resolution cites.
const maxCited = 5

// citeFindings returns the part of a terminal step's text that says what
// the case's own files show about it: every finding citing the step's kb
// article (worst first, as stored), with where it was seen and its fix.
func citeFindings(st *State, fs []*vpndiag.Finding) string {
	var lines []string
	n := 0
	for _, f := range fs {
		if f == nil || f.KBArticle != st.KB || f.Severity.Rank() < vpndiag.SeverityWarning.Rank() {
			continue
		}
		n++
		if len(lines) == maxCited {
			continue
		}
		ref := findingRef(f)
		l := fmt.Sprintf("- `%s`: %s", ref, strings.TrimPrefix(f.Summary, ref+": "))
		if f.Fix != "" {
			l += " → " + f.Fix
		}
		lines = append(lines, l)
	}
	if len(lines) == 0 {
		return ""
	}
	if n > len(lines) {
		lines = append(lines, fmt.Sprintf("- and %d more, listed in the case bundle", n-len(lines)))
	}
	return "*What your files show:*\n" + strings.Join(lines, "\n")
}
