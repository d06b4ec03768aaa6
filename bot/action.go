package bot

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/vpndiag/vpndiag"
)

// ActionVersion prefixes every action ID the bot issues, so that buttons of a
// future layout can be told apart from today's.
const ActionVersion = "vd1"

// Keys of actions that are not choices of a question step. Choice keys of
// flows never start with an underscore.
const (
	KeyInput     = "_input"     // open the modal of an input step
	KeySkip      = "_skip"      // "nothing to upload" on an evidence step
	KeyContinue  = "_continue"  // continue after an info step
	KeyRun       = "_run"       // run a probe step's probes (again)
	KeyExport    = "_export"    // export the bundle from an escalation step
	KeyManual    = "_manual"    // "I'll run it myself": the probe step's commands and a form for the result
	KeySkipProbe = "_skipprobe" // skip a probe step that cannot run
	KeyBack      = "_back"      // undo the last answer a person gave
	KeyRestart   = "_restart"   // start the diagnosis over (history kept)
	KeyClose     = "_close"     // close the case without an outcome
	KeyReopen    = "_reopen"    // re-open a closed or resolved case
	// KeyNotRight prefixes "That's not right" about a step the engine
	// answered by itself: KeyNotRight + "." + flow + "." + state.
	KeyNotRight = "_no"
)

// NotRightKey is the key of "That's not right" about the automatically
// answered step flow:state, or "" when the names do not fit a key.
func NotRightKey(flow, state string) string {
	k := KeyNotRight + "." + flow + "." + state
	if strings.Count(k, ".") != 2 || !ValidKey(k) {
		return ""
	}
	return k
}

// ParseNotRight returns the "flow:state" a KeyNotRight key names.
func ParseNotRight(key string) (string, bool) {
	parts := strings.Split(key, ".")
	if len(parts) != 3 || parts[0] != KeyNotRight || parts[1] == "" || parts[2] == "" {
		return "", false
	}
	return vpndiag.PathStep{Flow: parts[1], State: parts[2]}.String(), true
}

// maxActionID is Slack's limit on an action_id.
const maxActionID = 255

// Action is what a button carries: the case, the session Seq of the step it
// answers and the choice (or one of the Key* actions).
type Action struct {
	CaseID int64
	Seq    int
	Key    string
}

// ID encodes a as vd1:<caseID>:<seq>:<key>.
func (a Action) ID() string {
	return fmt.Sprintf("%s:%d:%d:%s", ActionVersion, a.CaseID, a.Seq, a.Key)
}

// ParseAction decodes an action ID issued by Action.ID. Anything else (an
// older layout, a forged or truncated ID) is an EINVALID error.
func ParseAction(id string) (Action, error) {
	bad := vpndiag.Errorf(vpndiag.EINVALID, "I don't recognise that button; it may come from an older version of the bot.")
	if len(id) > maxActionID {
		return Action{}, bad
	}
	parts := strings.SplitN(id, ":", 4)
	if len(parts) != 4 || parts[0] != ActionVersion {
		return Action{}, bad
	}
	caseID, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || caseID <= 0 || parts[1] != strconv.FormatInt(caseID, 10) {
		return Action{}, bad
	}
	seq, err := strconv.Atoi(parts[2])
	if err != nil || seq < 0 || parts[2] != strconv.Itoa(seq) {
		return Action{}, bad
	}
	if !ValidKey(parts[3]) {
		return Action{}, bad
	}
	return Action{CaseID: caseID, Seq: seq, Key: parts[3]}, nil
}

// ValidKey reports whether k can be carried in an action ID: 1 to 64
// characters of letters, digits, '_', '-' and '.'.
func ValidKey(k string) bool {
	if k == "" || len(k) > 64 {
		return false
	}
	for _, r := range k {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}
