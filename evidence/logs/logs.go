// Package logs analyses VPN logs — strongSwan charon, libreswan pluto,
// Cisco ASA and IOS syslog and debug output, FortiGate event logs, Palo Alto
// ikemgr and system logs, and cloud tunnel logs — for the failures the
// troubleshooting guide knows: authentication failures, proposal mismatches
// in phase 1 and phase 2, traffic selectors refused, DPD declaring the peer
// dead, IKE requests that get no answer, failed rekeys, and drops at a
// regular interval.
//
// The analysis streams: it reads large blocks, finds the few interesting
// lines with one multi-keyword scan, and only looks closer at those, so
// memory stays bounded and throughput is close to grep's.
package logs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/evidence/internal/multimatch"
	"github.com/vpndiag/vpndiag/kb"
)

// Limits.
const (
	// MaxLine is the longest line examined; the rest of a longer line is
	// skipped (and counted in Result.LongLines).
	MaxLine = 64 << 10
	// blockSize is how much is read at a time.
	blockSize = 1 << 20
	// maxRefs is how many lines a finding cites.
	maxRefs = 5
	// maxDrops bounds the drop times kept for period detection.
	maxDrops = 100000
)

// keywords make a line interesting; the line is then classified by
// classify. They are case-sensitive, as the devices write them.
var keywords = []string{
	// authentication
	"AUTHENTICATION_FAILED", "AUTH_FAILED", "MAC mismatched", "PLD_MAL", "INVALID_COOKIE",
	"key mismatch", "secret mismatch", "invalid Pre-shared", "Hash verification failed", "IKMP_BAD_MESSAGE",
	"Authentication failure", "authentication failed", "Authentication failed",
	// proposals
	"NO_PROPOSAL_CHOSEN", "NO_PROP", "no acceptable proposal", "proposals unacceptable", "PROPOSAL_NOT_CHOSEN",
	"proposal not match", "No Proposal Match", "no suitable proposal", "found unacceptable", "no proposal chosen",
	// traffic selectors
	"TS_UNACCEPT", "Traffic Selectors", "traffic selectors", "no matching crypto map", "crypto map policy not found",
	// DPD and liveness
	"eer dead", "DPD failed", "DPD failure", "dpd_failure", "DPD timed out", "DPD: No response", "giving up after",
	// no answer
	"retransmit", "RESENDING", "not responding", "No response", "timeout exceeded", "un-established",
	"negotiation timeout", "ue to timeout", "not responsive",
	// rekeying
	"TEMPORARY_FAILURE", "TEMP_FAIL", "unable to install", "failed to establish", "REKEY_SA", "ekeying failed",
	"ekey failed", "collision",
	// context: phases, establishment, drops
	"IKE_SA_INIT", "IKE_AUTH", "CREATE_CHILD_SA", "Quick Mode", "Main Mode", "ID_PROT", "STATE_PARENT_I1",
	"proposals: ESP", "proposals: IKE", "established", "PHASE 1 COMPLETED", "IKE_P1_COMPLETE",
	"Session disconnected", "unnel-down", "unnel down", "phase2_state", "phase 1 error", "phase 2 error",
	"phase-1 negotiation", "phase-2 negotiation",
}

var matcher = multimatch.New(keywords, false)

// Keywords returns the keywords that make a line interesting, e.g. to
// compare with grep -E on the same patterns.
func Keywords() []string { return append([]string(nil), keywords...) }

// Result is what the analysis of one log found.
type Result struct {
	// Family is the log family detected from the content, e.g.
	// "strongswan-charon"; "" when unknown.
	Family string `json:"family"`
	// Lines and Bytes count the input.
	Lines int64 `json:"lines"`
	Bytes int64 `json:"bytes"`
	// Matched counts the lines that held a keyword and were examined.
	Matched int64 `json:"matched"`
	// LongLines counts lines longer than MaxLine, examined only in part.
	LongLines int64 `json:"long_lines,omitempty"`
	// First and Last are the earliest and latest timestamps seen on
	// examined lines; zero when none could be read.
	First time.Time `json:"first,omitzero"`
	Last  time.Time `json:"last,omitzero"`
	// NewestFirst is true when the timestamps go backwards (a log shown
	// newest first, as some GUIs export it).
	NewestFirst bool `json:"newest_first,omitempty"`
	// DropPeriod is the regular interval between drops, when one was found.
	DropPeriod time.Duration `json:"drop_period,omitempty"`
	// Findings are worst first.
	Findings []*vpndiag.Finding `json:"findings"`
}

// Analyze reads a log from r and returns its findings. name is used in the
// findings' evidence references.
func Analyze(ctx context.Context, name string, r io.Reader) (*Result, error) {
	a := newAnalyzer(name)
	buf := make([]byte, blockSize)
	carry := 0
	skipping := false // inside the remainder of an over-long line
	var line int64 = 1
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n, err := io.ReadFull(r, buf[carry:])
		data := buf[:carry+n]
		a.res.Bytes += int64(n)
		eof := errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
		if err != nil && !eof {
			return nil, fmt.Errorf("logs: read: %w", err)
		}
		if len(data) == 0 {
			break
		}
		end := bytes.LastIndexByte(data, '\n') + 1
		if eof && end < len(data) {
			data = append(data, '\n') // a last line without newline
			end = len(data)
			if cap(buf) < len(data) {
				buf = data
			}
		}
		if end == 0 {
			// No newline in a full block: an over-long line.
			if !skipping {
				a.res.LongLines++
				a.region(data[:MaxLine:MaxLine], line, true)
			}
			skipping = true
			carry = 0
			continue
		}
		region := data[:end]
		if skipping {
			i := bytes.IndexByte(region, '\n')
			line++
			region = region[i+1:]
			skipping = false
		}
		line = a.region(region, line, false)
		carry = copy(buf, data[end:])
		if eof {
			break
		}
	}
	a.res.Lines = line - 1
	a.finish()
	return &a.res, nil
}

// region examines complete lines (region ends with '\n' unless partial),
// starting at line number first; it returns the number of the next line.
func (a *analyzer) region(region []byte, first int64, partial bool) int64 {
	if a.res.Family == "" && a.head < 64<<10 {
		a.detect(region)
	}
	pos, counted := 0, 0
	line := first
	for {
		s, _ := matcher.Next(region, pos)
		if s < 0 {
			break
		}
		ls := bytes.LastIndexByte(region[:s], '\n') + 1
		le := len(region)
		if i := bytes.IndexByte(region[s:], '\n'); i >= 0 {
			le = s + i
		}
		line += int64(bytes.Count(region[counted:ls], []byte{'\n'}))
		counted = ls
		l := region[ls:le]
		if len(l) > MaxLine {
			l = l[:MaxLine]
			a.res.LongLines++
		}
		a.res.Matched++
		a.classify(bytes.TrimRight(l, "\r"), int(line))
		pos = le + 1
		if pos >= len(region) {
			break
		}
	}
	if partial {
		return line
	}
	return line + int64(bytes.Count(region[counted:], []byte{'\n'}))
}

// families are detected from markers in the first 64 KiB; the first
// marker of each is unmistakable and counts double.
var families = []struct {
	name    string
	markers []string
}{
	{"aws-tunnel-log", []string{"AWS tunnel", "event_timestamp", "ike_phase1_state", "VpnLogDetail", "No Proposal Match Found"}},
	{"fortigate-event", []string{"logid=", "subtype=vpn", "subtype=\"vpn\"", "logdesc=", "vpntunnel="}},
	{"cisco-asa", []string{"%ASA-", "[IKEv1]", "IKE_DECODE"}},
	{"cisco-ios", []string{"ISAKMP:", "ISAKMP (", "%CRYPTO-", "IPSEC("}},
	{"paloalto", []string{"ikemgr", "[PNTF]", "[PERR]", "[PWRN]", "IKE phase-1 negotiation", "IKE phase-2 negotiation", ",SYSTEM,vpn,", "IKEv2 IKE SA negotiation"}},
	{"libreswan-pluto", []string{"pluto[", "STATE_", "\" #", "v2N_", "IKE SA authentication request", "initiating IKEv2"}},
	{"strongswan-charon", []string{"charon", "[IKE]", "[NET]", "[ENC]", "[CFG]", "IKE_SA ", "CHILD_SA", "retransmit ", "ID_PROT", "generating "}},
}

func (a *analyzer) detect(b []byte) {
	if rem := 64<<10 - a.head; len(b) > rem {
		b = b[:rem]
	}
	a.head += len(b)
	for i, f := range families {
		for j, m := range f.markers {
			if bytes.Contains(b, []byte(m)) {
				a.famScore[i]++
				if j == 0 {
					a.famScore[i]++ // the first marker is unmistakable
				}
			}
		}
	}
	best, bi := 1, -1
	for i, s := range a.famScore {
		if s > best {
			best, bi = s, i
		}
	}
	if bi >= 0 && best >= 2 {
		a.family = families[bi].name
	}
	if a.head >= 64<<10 {
		a.res.Family = a.family
	}
}

// event is one occurrence of a finding code.
type event struct {
	code     string
	severity vpndiag.Severity
	what     string
}

// agg collects the occurrences of one code.
type agg struct {
	code     string
	severity vpndiag.Severity
	what     string
	count    int
	refs     []vpndiag.EvidenceRef
}

type analyzer struct {
	name     string
	res      Result
	head     int
	famScore []int
	family   string
	aggs     map[string]*agg
	order    []string

	phase       int  // phase of the exchange seen last: 1 or 2
	established bool // a phase 1 SA was established
	rekeyLine   int  // last line that showed a rekey exchange
	lastTime    time.Time
	initRetx    int // retransmits of the first IKE message
	initRefs    []vpndiag.EvidenceRef
	givingUp    []pending // "giving up after N retransmits", decided at the end
	drops       []time.Time
}

type pending struct {
	line  int
	text  string
	phase int
	est   bool
}

func newAnalyzer(name string) *analyzer {
	return &analyzer{name: name, aggs: map[string]*agg{}, famScore: make([]int, len(families)), phase: 1}
}

func (a *analyzer) ref(line int, text []byte) vpndiag.EvidenceRef {
	t := string(text)
	if len(t) > 300 {
		t = t[:300] + "…"
	}
	return vpndiag.EvidenceRef{Name: a.name, Line: line, Text: strings.ToValidUTF8(t, "?")}
}

func (a *analyzer) add(line int, text []byte, e event) {
	g := a.aggs[e.code]
	if g == nil {
		g = &agg{code: e.code, severity: e.severity, what: e.what}
		a.aggs[e.code] = g
		a.order = append(a.order, e.code)
	}
	if e.severity.Rank() > g.severity.Rank() {
		g.severity, g.what = e.severity, e.what
	}
	g.count++
	if len(g.refs) < maxRefs {
		g.refs = append(g.refs, a.ref(line, text))
	}
}

func has(l []byte, s string) bool { return bytes.Contains(l, []byte(s)) }

func hasAny(l []byte, ss ...string) bool {
	for _, s := range ss {
		if bytes.Contains(l, []byte(s)) {
			return true
		}
	}
	return false
}

// phaseOf decides which phase a proposal or selector failure is about.
func (a *analyzer) phaseOf(l []byte) int {
	switch {
	case hasAny(l, "protocol 3", "protocol 2", "Notifying with"):
		return 2
	case hasAny(l, "protocol 1", "by AWS"):
		return 1
	case hasAny(l, "CHILD_SA", "CREATE_CHILD_SA", "IKE_AUTH", "Quick Mode", "QUICK", "QM_", "phase 2", "Phase 2", "phase-2", "IPsec SA", "IPSec SA", "ESP:", "Child SA"):
		return 2
	case hasAny(l, "IKE_SA_INIT", "STATE_PARENT_I1", "phase 1", "Phase 1", "phase-1", "Main Mode", "MM_", "IKE:", "ID_PROT"):
		return 1
	}
	return a.phase
}

// classify looks at one interesting line.
func (a *analyzer) classify(l []byte, n int) {
	ts, hasTS := Timestamp(l)
	if hasTS {
		if !a.lastTime.IsZero() && ts.Before(a.lastTime) {
			a.res.NewestFirst = true
		}
		a.lastTime = ts
		if a.res.First.IsZero() || ts.Before(a.res.First) {
			a.res.First = ts
		}
		if a.res.Last.IsZero() || ts.After(a.res.Last) {
			a.res.Last = ts
		}
	}
	drop := func() {
		if hasTS && len(a.drops) < maxDrops {
			a.drops = append(a.drops, ts)
		}
	}
	// Context first: which phase, rekeying, established.
	switch {
	case hasAny(l, "CREATE_CHILD_SA", "IKE_AUTH", "Quick Mode", "proposals: ESP", "phase 2 error", "phase-2 negotiation"):
		a.phase = 2
	case hasAny(l, "IKE_SA_INIT", "Main Mode", "ID_PROT", "STATE_PARENT_I1", "proposals: IKE", "phase 1 error", "phase-1 negotiation"):
		a.phase = 1
	}
	if hasAny(l, "REKEY_SA", "ekeying", "REKEYING") {
		a.rekeyLine = n
	}
	if hasAny(l, "PHASE 1 COMPLETED", "IKE_P1_COMPLETE", "established IKE SA", "ISAKMP SA established", "IKE SA established") ||
		has(l, "IKE_SA") && has(l, "established between") {
		a.established = true
	}

	// Authentication.
	switch {
	case hasAny(l, "AUTHENTICATION_FAILED", "AUTH_FAILED", "MAC mismatched", "key mismatch", "secret mismatch",
		"invalid Pre-shared", "Hash verification failed", "IKMP_BAD_MESSAGE", "Authentication failure", "authentication failed", "Authentication failed"):
		if !hasAny(l, " successful", "successfully") {
			a.add(n, l, event{kb.CodeAuthFailed, vpndiag.SeverityCritical, "authentication failed (pre-shared key mismatch or wrong identity)"})
		}
	case has(l, "PLD_MAL") && a.phase == 1:
		a.add(n, l, event{kb.CodeAuthFailed, vpndiag.SeverityCritical, "the peer could not decrypt main mode message 5 (PAYLOAD_MALFORMED): the IKEv1 signature of a pre-shared key mismatch"})
	case has(l, "INVALID_COOKIE"):
		a.add(n, l, event{kb.CodeAuthFailed, vpndiag.SeverityWarning, "the peer dropped the exchange with INVALID_COOKIE: it has no SA for us, often because it has no tunnel or pre-shared key for this address"})
	}

	// Proposals.
	if hasAny(l, "NO_PROPOSAL_CHOSEN", "NO_PROP", "no acceptable proposal", "proposals unacceptable", "PROPOSAL_NOT_CHOSEN",
		"proposal not match", "No Proposal Match", "no suitable proposal", "found unacceptable", "no proposal chosen") {
		if a.phaseOf(l) == 2 {
			a.add(n, l, event{kb.CodePhase2NoProposal, vpndiag.SeverityError, "no phase 2 proposal was chosen (encryption, integrity or PFS group differ)"})
		} else {
			a.add(n, l, event{kb.CodePhase1NoProposal, vpndiag.SeverityCritical, "no phase 1 proposal was chosen (encryption, integrity, PRF or DH group differ)"})
		}
	}
	if has(l, "Phase 2 was unable to establish") {
		a.add(n, l, event{kb.CodePhase2NoProposal, vpndiag.SeverityError, "phase 2 could not be established while phase 1 stayed up (negotiation error such as a proposal mismatch)"})
	}

	// Traffic selectors.
	if hasAny(l, "TS_UNACCEPT", "compatible Traffic Selectors", "no matching crypto map", "crypto map policy not found") ||
		has(l, "traffic selectors") && has(l, "unacceptable") {
		a.add(n, l, event{kb.CodeTSUnacceptable, vpndiag.SeverityError, "the traffic selectors (encryption domain) were refused"})
	}

	// DPD.
	if hasAny(l, "declaring peer dead", "Declaring peer dead", "DPD failed", "DPD failure", "dpd_failure", "DPD timed out", "DPD: No response", "peer is dead") {
		a.add(n, l, event{kb.CodeDPDPeerDead, vpndiag.SeverityError, "dead peer detection declared the peer dead"})
		drop()
	}
	if has(l, "giving up after") {
		a.givingUp = append(a.givingUp, pending{line: n, text: string(a.ref(n, l).Text), phase: a.phase, est: a.established})
		drop()
	}

	// Requests without an answer.
	switch {
	case hasAny(l, "not responding", "timeout exceeded", "un-established", "negotiation timeout", "ue to timeout", "not responsive") ||
		has(l, "No response") && !has(l, "DPD"):
		if has(l, "not responsive") {
			a.add(n, l, event{kb.CodeDPDPeerDead, vpndiag.SeverityError, "dead peer detection declared the peer dead"})
		} else {
			a.add(n, l, event{kb.CodeIKENoResponse, vpndiag.SeverityCritical, "IKE requests got no answer: UDP 500/4500 blocked on the way or the peer unreachable"})
		}
		drop()
	case has(l, "retransmit") || has(l, "RESENDING"):
		if hasAny(l, "message ID 0", "msgid=0", "request 0", "STATE_PARENT_I1", "IKE_SA_INIT", "STATE_MAIN_I", "phase 1", "MM_") {
			a.initRetx++
			if len(a.initRefs) < maxRefs {
				a.initRefs = append(a.initRefs, a.ref(n, l))
			}
		}
	}

	// Rekeying.
	switch {
	case hasAny(l, "TEMPORARY_FAILURE", "TEMP_FAIL"):
		a.add(n, l, event{kb.CodeRekeyFailed, vpndiag.SeverityWarning, "a CHILD_SA rekey collided (TEMPORARY_FAILURE): traffic can be lost until the next rekey or DPD"})
		drop()
	case hasAny(l, "ekeying failed", "ekey failed") || has(l, "collision") && hasAny(l, "REKEY", "rekey"):
		a.add(n, l, event{kb.CodeRekeyFailed, vpndiag.SeverityError, "rekeying failed"})
		drop()
	case a.rekeyLine > 0 && n-a.rekeyLine <= 20 && hasAny(l, "unable to install", "failed to establish CHILD_SA"):
		a.add(n, l, event{kb.CodeRekeyFailed, vpndiag.SeverityError, "a CHILD_SA rekey failed (the new SA or its policies could not be installed)"})
		drop()
	}

	// Plain drops.
	if hasAny(l, "Session disconnected", "unnel-down", "unnel down") || has(l, "phase2_state") && hasAny(l, "\"down\"", ": down", "=down") {
		drop()
	}
}

// finish decides what needed the whole log and builds the findings.
func (a *analyzer) finish() {
	if a.res.Family == "" {
		a.res.Family = a.family
	}
	for _, g := range a.givingUp {
		l := []byte(g.text)
		if g.phase == 1 && !g.est && !a.res.NewestFirst {
			a.add(g.line, l, event{kb.CodeIKENoResponse, vpndiag.SeverityCritical, "IKE requests got no answer: UDP 500/4500 blocked on the way or the peer unreachable"})
		} else {
			a.add(g.line, l, event{kb.CodeDPDPeerDead, vpndiag.SeverityError, "the peer stopped answering an established IKE SA (retransmits gave up): the peer was declared dead"})
		}
	}
	if a.initRetx >= 3 && !a.established {
		g := a.aggs[kb.CodeIKENoResponse]
		if g == nil {
			g = &agg{code: kb.CodeIKENoResponse, severity: vpndiag.SeverityCritical}
			a.aggs[g.code] = g
			a.order = append(a.order, g.code)
		}
		g.what = fmt.Sprintf("the first IKE message was retransmitted %d times without an answer: UDP 500/4500 blocked on the way or the peer unreachable", a.initRetx)
		g.count += a.initRetx
		g.refs = append(a.initRefs, g.refs...)
		if len(g.refs) > maxRefs {
			g.refs = g.refs[:maxRefs]
		}
	}
	if p, ok := period(a.drops); ok {
		a.res.DropPeriod = p
		f := &vpndiag.Finding{
			Code:     kb.CodePeriodicDrop,
			Severity: vpndiag.SeverityError,
			Summary:  fmt.Sprintf("%s: the tunnel dropped %d times at a regular interval of about %s", a.name, len(a.drops), roundPeriod(p)),
			Source:   "logs/" + familyOr(a.res.Family),
		}
		if near(p, time.Hour, 5*time.Minute) {
			f.KBArticle = kb.ArticleIKEv2HourlyDrop
			f.Detail = fmt.Sprintf("Drops every ~60 minutes match the phase 2 lifetime of %s; with IKEv2 some devices drop the tunnel at each CHILD_SA rekey instead of rekeying it (kb: %s).", kb.ChildSALifetime, kb.ArticleIKEv2HourlyDrop)
			f.Fix = fmt.Sprintf("If the tunnel uses IKEv2, set the phase 2 (CHILD_SA) lifetime to %d minutes so that your device rekeys before the cloud does.", int(kb.IKEv2HourlyDropWorkaround.Minutes()))
		} else {
			f.KBArticle = kb.ArticleDPDIdle
			f.Detail = fmt.Sprintf("Drops at a fixed interval point at a timer rather than at the network: a lifetime, an idle timeout or DPD (kb: %s).", kb.ArticleDPDIdle)
			f.Fix = "Compare the interval with the phase 1 and phase 2 lifetimes and idle timeouts on both sides, and keep traffic flowing (a keep-alive ping to a cloud DNS server)."
		}
		for i, t := range a.drops {
			if i >= maxRefs {
				break
			}
			f.Evidence = append(f.Evidence, vpndiag.EvidenceRef{Name: a.name, Text: "drop at " + t.Format("Jan _2 15:04:05")})
		}
		a.res.Findings = append(a.res.Findings, f)
	}
	for _, code := range a.order {
		g := a.aggs[code]
		a.res.Findings = append(a.res.Findings, a.finding(g))
	}
	sort.SliceStable(a.res.Findings, func(i, j int) bool {
		return a.res.Findings[i].Severity.Rank() > a.res.Findings[j].Severity.Rank()
	})
}

func familyOr(f string) string {
	if f == "" {
		return "unknown"
	}
	return f
}

// why and fix per code.
var advice = map[string]struct{ article, detail, fix string }{
	kb.CodeAuthFailed: {kb.ArticlePhase1, "Phase 1 authentication failed: the two ends do not share the same pre-shared key (or identity).",
		"Copy the pre-shared key from the cloud's VPN configuration file again on your device (watch for trailing spaces and special characters), and check the peer identity (IP address) matches."},
	kb.CodePhase1NoProposal: {kb.ArticlePhase1, "Phase 1 failed because no IKE proposal matched: encryption, integrity, PRF or Diffie-Hellman group differ between the two ends.",
		"Set the IKE (phase 1) encryption, hash and DH group exactly as in the cloud's VPN configuration file."},
	kb.CodePhase2NoProposal: {kb.ArticlePhase2, "Phase 2 failed because no ESP proposal matched: encryption, integrity or the PFS group differ (PFS on one side only is a common cause).",
		"Set the IPsec (phase 2) encryption, hash and PFS group exactly as in the cloud's VPN configuration file; enable PFS with the same group."},
	kb.CodeTSUnacceptable: {kb.ArticleSingleSAPair, "The traffic selectors (encryption domain / proxy IDs) were refused: the networks differ between the ends, or more than one pair was proposed.",
		"Configure a single traffic-selector pair: your internal range(s) summarised as one CIDR to the cloud's full internal range, identical on both sides."},
	kb.CodeDPDPeerDead: {kb.ArticleDPDIdle, fmt.Sprintf("Dead peer detection got no answer (the cloud closes the tunnel after %d missed replies): the path dropped IKE traffic or the tunnel was idle.", kb.DPDMissedReplies),
		"Keep the tunnel busy with a keep-alive (ping a cloud DNS server every 5 seconds) and check that UDP 500/4500 is not dropped by a firewall on the way."},
	kb.CodeIKENoResponse: {kb.ArticlePhase1, "IKE requests were retransmitted without an answer: UDP 500/4500 is blocked on the way, the peer address is wrong, or the peer does not answer.",
		"Check the peer address against the cloud's VPN endpoints and that UDP 500 and 4500 (and ESP) are allowed both ways on every firewall on the path."},
	kb.CodeRekeyFailed: {kb.ArticlePhase2, "Rekeying an SA failed; traffic stops until the SA is negotiated again.",
		"Match the lifetimes of both sides (phase 1 28800 s, phase 2 3600 s), keep one SA pair, and update the device software if it mishandles rekey collisions."},
}

func (a *analyzer) finding(g *agg) *vpndiag.Finding {
	adv := advice[g.code]
	first := g.refs[0].Line
	times := "once"
	if g.count > 1 {
		times = fmt.Sprintf("%d times", g.count)
	}
	return &vpndiag.Finding{
		Code:      g.code,
		Severity:  g.severity,
		Summary:   fmt.Sprintf("%s:%d: %s (seen %s)", a.name, first, g.what, times),
		Detail:    fmt.Sprintf("%s (kb: %s)", adv.detail, adv.article),
		Fix:       adv.fix,
		KBArticle: adv.article,
		Evidence:  g.refs,
		Source:    "logs/" + familyOr(a.res.Family),
	}
}

// period finds a regular interval between drops: at least three intervals
// (after merging drops less than two minutes apart), three quarters of them
// within 10% of the median, and the median at least five minutes.
func period(ts []time.Time) (time.Duration, bool) {
	if len(ts) < 4 {
		return 0, false
	}
	s := append([]time.Time(nil), ts...)
	sort.Slice(s, func(i, j int) bool { return s[i].Before(s[j]) })
	var merged []time.Time
	for _, t := range s {
		if len(merged) == 0 || t.Sub(merged[len(merged)-1]) >= 2*time.Minute {
			merged = append(merged, t)
		}
	}
	if len(merged) < 4 {
		return 0, false
	}
	iv := make([]time.Duration, 0, len(merged)-1)
	for i := 1; i < len(merged); i++ {
		iv = append(iv, merged[i].Sub(merged[i-1]))
	}
	sorted := append([]time.Duration(nil), iv...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	med := sorted[len(sorted)/2]
	if med < 5*time.Minute {
		return 0, false
	}
	ok := 0
	for _, d := range iv {
		if near(d, med, med/10) {
			ok++
		}
	}
	if ok*4 < len(iv)*3 {
		return 0, false
	}
	return med, true
}

func near(d, want, tol time.Duration) bool {
	return d >= want-tol && d <= want+tol
}

func roundPeriod(d time.Duration) time.Duration {
	return d.Round(time.Minute)
}

// DetectFamily scores the start of a file against the log families and
// returns the best with its score; "" and 0 when none fits.
func DetectFamily(head []byte) (string, int) {
	a := newAnalyzer("")
	a.detect(head)
	best, name := 0, ""
	for i, s := range a.famScore {
		if s > best {
			best, name = s, families[i].name
		}
	}
	if best < 2 {
		return "", best
	}
	return name, best
}
