// Package logs analyses VPN logs — strongSwan charon, libreswan pluto,
// Cisco ASA and IOS syslog and debug output, Juniper kmd, FortiGate event
// logs, Palo Alto ikemgr and system logs (table and syslog CSV), MikroTik
// RouterOS ipsec topics, and cloud tunnel logs, also when a syslog relay put its own prefix in front — for
// what the vendors' message catalogues name: authentication failures,
// proposal mismatches in phase 1 and phase 2, traffic selectors refused,
// DPD declaring the peer dead, IKE requests that get no answer, half-open
// SAs, idle closes, failed rekeys, and drops at a regular interval of 30 s
// or more.
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
	"net/netip"
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
// classify. They are case-sensitive, as the devices write them, and at
// least ten bytes long: the shortest keyword sets how far the one-pass
// scan may skip, and so how close the analysis stays to grep's speed.
var keywords = []string{
	// authentication
	"AUTHENTICATION_FAILED", "AUTH_FAILED", "MAC mismatched", "N(PLD_MAL)", "INVALID_COOKIE",
	"key mismatch", "secret mismatch", "invalid Pre-shared", "Hash verification failed", "IKMP_BAD_MESSAGE",
	"Authentication failure", "authentication failed", "Authentication failed", "authentication failure",
	"decryption failed", "could not decrypt", "mismatched pre-shared", "IKMP_NOT_ENCRYPTED", "No pre-shared key", "No preshared key",
	"no peer config found", "does not match to", "Couldn't find configuration",
	"wrong password", "identity not found",
	// proposals
	"NO_PROPOSAL_CHOSEN", "N(NO_PROP)", "no acceptable proposal", "proposals unacceptable", "PROPOSAL_NOT_CHOSEN",
	"proposal not match", "No Proposal Match", "no suitable proposal", "found unacceptable", "no proposal chosen",
	"No proposal chosen", "SA proposal chosen", "NO-PROPOSAL-CHOSEN", "pfs group mismatched", "Mismatched attribute",
	"matching policy", "no offers accepted", "SA policy not acceptable", "failed to get valid proposal",
	// traffic selectors
	"TS_UNACCEPT", "Traffic Selectors", "traffic selectors", "no matching crypto map", "crypto map policy not found",
	"Policy not found", "INVALID_ID_INFORMATION", "N(INVAL_ID)", "no matching CHILD_SA config", "INVALID-ID-INFORMATION",
	"Invalid ID info", "processing Proxy ID", "peer proxy ids", "proxy identities", "KMD_VPN_TS_MISMATCH", "TS unacceptable",
	"failed to get sainfo", "P2_POLICY_LOOKUP_FAILURE", "invalidated proposal with error",
	// DPD and liveness
	"eclaring peer dead", "DPD failed", "DPD failure", "dpd_failure", "DPD timed out", "DPD: No response", "giving up after",
	"sending DPD request", "DPD action", "lost contact", "KMD_DPD_PEER_DOWN",
	"liveness action", "seems to be dead", "R_U_THERE sent",
	// no answer
	"retransmit", "retransmission", " RESENDING", "not responding", "No response", "timeout exceeded", "un-established",
	"negotiation timeout", "ue to timeout", "not responsive", "Death by retransmission", "error: Timed out",
	"due to time up",
	// half-open: the peer repeats requests already answered or uses SAs gone here
	"IKMP_NO_SA", "RECVD_PKT_INV_SPI", "Duplicate Phase", "with no matching SA", "for dead phase2",
	// rekeying
	"TEMPORARY_FAILURE", "N(TEMP_FAIL)", "unable to install", "failed to establish", "N(REKEY_SA)", "ekeying failed",
	"ekey failed", " collision",
	// idle close
	"inactivity", "Idle Timeout", "idle timeout",
	// context: phases, establishment, drops
	"IKE_SA_INIT", "initiating IKE_SA ", "IKE_AUTH re", "CREATE_CHILD_SA", "Quick Mode", "QUICK_MODE", "Main Mode ", "ID_PROT re", "STATE_PARENT_I1",
	"proposals: ESP", "proposals: IKE", "established", "PHASE 1 COMPLETED", "IKE_P1_COMPLETE", "PHASE 2 COMPLETED",
	"Session disconnected", "unnel-down", "unnel down", "phase2_state", "phase 1 error", "phase 2 error",
	"phase-1 negotiation", "phase-2 negotiation", "received DELETE", "received Delete", "SESSION_STATUS",
	"KMD_VPN_DOWN_ALARM", "KMD_VPN_UP_ALARM", "KMD_PM_SA_ESTABLISHED", "IKE negotiation failed", "IKE Phase-2",
	"Negotiation aborted", "negotiation is failed", "negotiate_error", "phase2-down", "pre-shared secret",
	"IKEv2 SA DOWN", "Connection terminated",
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

// families are detected from markers in the first 64 KiB: a strong marker
// is unmistakable and counts double, a weak one counts once, and a family
// needs 2. Markers are found anywhere in a line, so a syslog relay's prefix
// (priority, relay host, sequence number, second timestamp) in front of the
// device's own line does not hide them.
var families = []struct {
	name         string
	strong, weak []string
}{
	{"aws-tunnel-log", []string{"AWS tunnel"}, []string{"event_timestamp", "ike_phase1_state", "VpnLogDetail", "No Proposal Match Found"}},
	{"fortigate-event", []string{"logid="}, []string{"subtype=vpn", "subtype=\"vpn\"", "logdesc=", "vpntunnel="}},
	{"cisco-asa", []string{"%ASA-", "%FTD-"}, []string{"[IKEv1]", "IKE_DECODE", "Group = "}},
	{"cisco-ios", []string{"ISAKMP:", "%CRYPTO-"}, []string{"ISAKMP (", "IPSEC(", "%IKEV2-"}},
	{"juniper-kmd", []string{"KMD_", "kmd["}, []string{"IKE negotiation failed with error", "IKE Phase-2", "Phase-1 [", "Phase-2 ["}},
	{"paloalto", []string{"ikemgr", ",SYSTEM,vpn,"}, []string{"[PNTF]", "[PERR]", "[PWRN]", "IKE phase-1 negotiation", "IKE phase-2 negotiation", "IKEv2 IKE SA negotiation", "ike-nego-p",
		// ikemgr.log's own banner lines, written in capitals.
		"IKE SA NEGOTIATION", "CHILD SA NEGOTIATION"}},
	{"libreswan-pluto", []string{"pluto["}, []string{"STATE_", "\" #", "v2N_", "IKE SA authentication request", "initiating IKEv2", "initiating IKEv1",
		"ISAKMP SA established {", "IPsec SA established", "sent Main Mode", "ipsec whack", "ipsec auto",
		// pluto's own log file (logfile=, no syslog prefix) and whack output.
		"packet from ", "with unencrypted notification", "with encrypted notification", "no local proposal matches", "deleting state"}},
	// RouterOS logs by topic ("ipsec,error"); its IKEv1 daemon words its
	// messages as racoon does.
	{"mikrotik", []string{"ipsec,error", "ipsec,info", "ipsec,debug"}, []string{"ISAKMP-SA established", "IPsec-SA established", "phase1 negotiation failed", "ike2 SA", "ph1 packet", "ph2 packet"}},
	{"strongswan-charon", []string{"charon"}, []string{"[IKE]", "[NET]", "[ENC]", "[CFG]", "IKE_SA ", "CHILD_SA", "retransmit ", "ID_PROT", "generating "}},
}

func (a *analyzer) detect(b []byte) {
	if rem := 64<<10 - a.head; len(b) > rem {
		b = b[:rem]
	}
	a.head += len(b)
	for i, f := range families {
		for _, m := range f.strong {
			if !a.seen[m] && bytes.Contains(b, []byte(m)) {
				a.seen[m] = true
				a.famScore[i] += 2
			}
		}
		for _, m := range f.weak {
			if !a.seen[m] && bytes.Contains(b, []byte(m)) {
				a.seen[m] = true
				a.famScore[i]++
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
	seen     map[string]bool
	family   string
	aggs     map[string]*agg
	order    []string

	phase       int  // phase of the exchange seen last: 1 or 2
	phase1Seen  bool // a line set the phase to 1
	p1Line      int  // last line that started phase 1
	estLine     int  // last line where a phase 1 SA was established
	established bool // a phase 1 SA was established
	p2up        bool // a phase 2 SA was established
	rekeyLine   int  // last line that showed a rekey exchange
	rekeyAt     time.Time
	refusedLine int // last line where a rekey was refused with NO_PROPOSAL_CHOSEN
	tsLine      int // last line where traffic selectors were refused
	lastTime    time.Time
	initRetx    int    // retransmits of the first IKE message
	initPeer    string // the address charon last started an IKE SA to ("initiating ... IKE_SA ... to ADDR")
	initRefs    []vpndiag.EvidenceRef
	p2Retx      int // retransmits of phase 2 requests on an established IKE SA
	p2Refs      []vpndiag.EvidenceRef
	authRetx    int // retransmits of IKE_AUTH (message ID 1) after IKE_SA_INIT was answered
	authRefs    []vpndiag.EvidenceRef
	dpdRetx     int // retransmits of a DPD request
	dpdRefs     []vpndiag.EvidenceRef
	answered    bool // the peer answered the first exchange (a notify, a response)
	dupReq      int  // requests the peer repeated after this side answered them
	dupRefs     []vpndiag.EvidenceRef
	stale       int // messages for SAs this side no longer has
	staleRefs   []vpndiag.EvidenceRef
	sas         map[string]*saState
	collisions  int // rekey collisions detected and settled by the daemon
	collRefs    []vpndiag.EvidenceRef
	settled     int       // "collision won/lost" lines (one per collision)
	lastAdd     int       // line of the last finding event
	givingUp    []pending // "giving up after N retransmits", decided at the end
	drops       []time.Time
}

// saState is what is known of one IKE SA, by the key its lines carry
// (strongSwan's "<conn|N>"); lines without one share the "" entry.
type saState struct {
	established bool
	dpd         bool // a DPD request is outstanding
	retxMID     int  // message ID of the last retransmitted request, -1 none
	childMID    int  // message ID of the last CREATE_CHILD_SA or QUICK_MODE request, -1 none
	retxLine    int  // its line
	retxAt      time.Time
}

// recentRetx is the message ID of the SA's last retransmit when it belongs
// to the exchange that ends at line n, time ts (a retransmit sequence
// lasts a few minutes); -1 otherwise.
func (s *saState) recentRetx(n int, ts time.Time) int {
	if s.retxMID < 0 {
		return -1
	}
	if !ts.IsZero() && !s.retxAt.IsZero() {
		if (ts.Sub(s.retxAt)).Abs() <= 5*time.Minute {
			return s.retxMID
		}
		return -1
	}
	if n-s.retxLine <= 200 {
		return s.retxMID
	}
	return -1
}

type pending struct {
	line  int
	text  string
	phase int
	est   bool
	dpd   bool
	mid   int
}

func newAnalyzer(name string) *analyzer {
	return &analyzer{name: name, aggs: map[string]*agg{}, famScore: make([]int, len(families)), seen: map[string]bool{},
		phase: 1, sas: map[string]*saState{}}
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
	a.lastAdd = line
	if len(g.refs) < maxRefs {
		g.refs = append(g.refs, a.ref(line, text))
	}
}

// keep appends a line to a bounded list of references.
func (a *analyzer) keep(refs []vpndiag.EvidenceRef, line int, text []byte) []vpndiag.EvidenceRef {
	if len(refs) < maxRefs {
		refs = append(refs, a.ref(line, text))
	}
	return refs
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

// hasFold is has, ASCII case-insensitive.
func hasFold(l []byte, s string) bool {
	n := len(s)
	for i := 0; i+n <= len(l); i++ {
		if bytes.EqualFold(l[i:i+n], []byte(s)) {
			return true
		}
	}
	return false
}

// saKey returns the IKE SA a charon line is about ("<conn|N>"), "" when the
// line names none.
func saKey(l []byte) string {
	i := bytes.IndexByte(l, '<')
	if i < 0 {
		return ""
	}
	j := bytes.IndexByte(l[i:], '>')
	if j < 0 || j > 80 || !bytes.Contains(l[i:i+j], []byte("|")) {
		return ""
	}
	return string(l[i : i+j+1])
}

func (a *analyzer) sa(key string) *saState {
	s := a.sas[key]
	if s == nil {
		if len(a.sas) > 4096 { // bounded: a log of many SAs forgets the old ones
			clear(a.sas)
		}
		s = &saState{retxMID: -1, childMID: -1}
		a.sas[key] = s
	}
	return s
}

// messageID reads the N of "message ID N" (charon), -1 when absent.
func messageID(l []byte) int { return numberAfter(l, "message ID ") }

// numberAfter reads the decimal number (at most 10 digits) that follows
// the first marker in l, -1 when there is none.
func numberAfter(l []byte, marker string) int {
	i := bytes.Index(l, []byte(marker))
	if i < 0 {
		return -1
	}
	j := i + len(marker)
	k := j
	for k < len(l) && l[k] >= '0' && l[k] <= '9' && k-j < 10 {
		k++
	}
	if k == j {
		return -1
	}
	n := 0
	for _, c := range l[j:k] {
		n = n*10 + int(c-'0')
	}
	return n
}

// phaseOf decides which phase a proposal or selector failure is about.
func (a *analyzer) phaseOf(l []byte) int {
	if p := explicitPhase(l); p != 0 {
		return p
	}
	return a.phase
}

// explicitPhase is the phase a line names, 0 when it names none.
func explicitPhase(l []byte) int {
	if p := notifyLengthPhase(l); p != 0 {
		return p
	}
	switch {
	case hasAny(l, "CREATE_CHILD_SA", "IKE_AUTH"):
		return 2
	case hasAny(l, "protocol 3", "protocol 2", "Notifying with", "HASH N("):
		// IKEv1 notifies protected by the phase 1 SA (HASH) are about
		// Quick Mode.
		return 2
	case hasAny(l, "protocol 1", "by AWS", "[ N(NO_PROP) ]", "[ N(INVAL_ID) ]", "unauthenticated v2N", "unsecured"):
		return 1
	case hasAny(l, "CHILD_SA", "CREATE_CHILD_SA", "IKE_AUTH", "Quick Mode", "QUICK", "QM_", "phase 2", "Phase 2", "phase-2", "Phase-2",
		"IPsec SA", "IPSec SA", "ESP:", "Child SA", "child SA", "secured informational", "ipsec proposal", "P2 "):
		return 2
	case hasAny(l, "IKE_SA_INIT", "STATE_PARENT_I1", "phase 1", "Phase 1", "phase-1", "Phase-1", "Main Mode", "MM_", "IKE:", "ID_PROT",
		"IKE SA negotiation", "IKE_SA_INIT_I", "STATE_MAIN"):
		return 1
	}
	return 0
}

// notifyLengthPhase reads the phase of an IKEv1 notification that pluto
// logs only with its payload length ("ignoring informational payload
// NO_PROPOSAL_CHOSEN, msgid=00000000, length=16"). The length is 12 bytes
// plus the SPI (RFC 2408, 3.14): a 4-byte SPI names an ESP or AH SA, so
// the notification is about Quick Mode (phase 2). Without an SPI it may be
// about either phase (peers leave the SPI out in Quick Mode too): 0, as for
// a line that is no such notification.
func notifyLengthPhase(l []byte) int {
	if !has(l, "informational payload") {
		return 0
	}
	if numberAfter(l, "length=") == 16 {
		return 2
	}
	return 0
}

// Texts of the findings, shared by the vendors that log the same cause.
var (
	evAuth       = event{kb.CodeAuthFailed, vpndiag.SeverityCritical, "authentication failed (pre-shared key mismatch or wrong identity)"}
	evDecrypt    = event{kb.CodeAuthFailed, vpndiag.SeverityCritical, "IKEv1 messages could not be decrypted: the two ends hold different pre-shared keys"}
	evIdentity   = event{kb.CodeAuthFailed, vpndiag.SeverityCritical, "the peer's identity matches no configuration here (or ours none there): identity or peer address mismatch"}
	evP1Prop     = event{kb.CodePhase1NoProposal, vpndiag.SeverityCritical, "no phase 1 proposal was chosen (encryption, integrity, PRF or DH group differ)"}
	evP2Prop     = event{kb.CodePhase2NoProposal, vpndiag.SeverityError, "no phase 2 proposal was chosen (encryption, integrity or PFS group differ)"}
	evP2Silent   = event{kb.CodePhase2NoProposal, vpndiag.SeverityError, "phase 2 requests got no answer while phase 1 is up: the peer silently refuses the phase 2 proposal (or its selectors)"}
	evTS         = event{kb.CodeTSUnacceptable, vpndiag.SeverityError, "the traffic selectors (encryption domain) were refused"}
	evDead       = event{kb.CodeDPDPeerDead, vpndiag.SeverityError, "dead peer detection declared the peer dead"}
	evDeadEst    = event{kb.CodeDPDPeerDead, vpndiag.SeverityError, "the peer stopped answering an established IKE SA (retransmits gave up): the peer was declared dead"}
	evNoAnswer   = event{kb.CodeIKENoResponse, vpndiag.SeverityCritical, "IKE requests got no answer: UDP 500/4500 blocked on the way or the peer unreachable"}
	evAuthUnans  = event{kb.CodeIKENoResponse, vpndiag.SeverityCritical, "IKE_SA_INIT was answered but IKE_AUTH never was: UDP 4500 or fragmented IKE packets are dropped on the way"}
	evHalfOpen   = event{kb.CodeIKEHalfOpen, vpndiag.SeverityWarning, ""}
	evStaleSA    = event{kb.CodeIKEHalfOpen, vpndiag.SeverityWarning, ""}
	evRekey      = event{kb.CodeRekeyFailed, vpndiag.SeverityError, "rekeying failed"}
	evRekeyNoPro = event{kb.CodeRekeyFailed, vpndiag.SeverityError, "a CHILD_SA rekey was refused with NO_PROPOSAL_CHOSEN: the rekey's proposal (often its PFS/DH group, only sent on rekeys) differs from the peer's"}
	evIdle       = event{kb.CodeIdleClose, vpndiag.SeverityError, "the device closed the tunnel after a period without traffic; on a responder-only cloud nothing brings it back until this side sends again"}
)

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
	if p := initiatedTo(l); p != "" {
		a.initPeer = p
	}
	drop := func() {
		if hasTS && len(a.drops) < maxDrops {
			a.drops = append(a.drops, ts)
		}
	}
	sa := a.sa(saKey(l))

	// Context first: which phase, rekeying, established.
	switch {
	case hasAny(l, "CREATE_CHILD_SA", "IKE_AUTH", "Quick Mode", "QUICK_MODE", "proposals: ESP", "phase 2 error", "phase-2 negotiation", "STATE_QUICK"):
		a.phase = 2
	case hasAny(l, "IKE_SA_INIT", "Main Mode", "ID_PROT", "STATE_PARENT_I1", "proposals: IKE", "phase 1 error", "phase-1 negotiation", "STATE_MAIN_I1"):
		a.phase = 1
		a.phase1Seen = true
		a.p1Line = n
	}
	if hasAny(l, "REKEY_SA", "ekeying", "REKEYING", "rekeyed") {
		a.rekeyLine = n
		if hasTS {
			a.rekeyAt = ts
		}
	}
	if hasAny(l, "PHASE 1 COMPLETED", "IKE_P1_COMPLETE", "established IKE SA", "ISAKMP SA established", "ISAKMP-SA established", "IKE SA established", "KMD_VPN_UP_ALARM") ||
		has(l, "IKE_SA") && has(l, "established between") {
		a.established, sa.established = true, true
		a.answered = true
		a.estLine = n
	}
	if hasAny(l, "IPsec SA established", "IPsec-SA established", "PHASE 2 COMPLETED", "KMD_PM_SA_ESTABLISHED") || has(l, "CHILD_SA") && has(l, "established with") {
		a.p2up = true
	}
	if has(l, "parsed IKE_SA_INIT response") || has(l, "processed IKE_SA_INIT response") || has(l, "STATE_PARENT_I2") {
		a.answered = true
	}

	// Authentication.
	switch {
	case hasAny(l, "AUTHENTICATION_FAILED", "AUTH_FAILED", "MAC mismatched", "key mismatch", "secret mismatch",
		"invalid Pre-shared", "Hash verification failed", "IKMP_BAD_MESSAGE", "Authentication failure", "authentication failed", "Authentication failed",
		"authentication failure", "mismatched pre-shared", "IKMP_NOT_ENCRYPTED", "No pre-shared key", "No preshared key", "pre-shared secret",
		"possible cause: wrong password"):
		if !hasAny(l, " successful", "successfully") {
			a.add(n, l, evAuth)
		}
	case hasAny(l, "decryption failed", "could not decrypt"):
		a.add(n, l, evDecrypt)
	case hasAny(l, "no peer config found", "Couldn't find configuration", "identity not found") || has(l, "does not match to") && hasAny(l, "IDir", "IDi", "ID "):
		a.add(n, l, evIdentity)
	case has(l, "PLD_MAL") && a.phase == 1:
		a.add(n, l, event{kb.CodeAuthFailed, vpndiag.SeverityCritical, "the peer could not decrypt main mode message 5 (PAYLOAD_MALFORMED): the IKEv1 signature of a pre-shared key mismatch"})
	case has(l, "INVALID_COOKIE"):
		a.add(n, l, event{kb.CodeAuthFailed, vpndiag.SeverityWarning, "the peer dropped the exchange with INVALID_COOKIE: it has no SA for us, often because it has no tunnel or pre-shared key for this address"})
	}

	// Proposals.
	proposal := hasAny(l, "NO_PROPOSAL_CHOSEN", "NO_PROP", "no acceptable proposal", "proposals unacceptable", "PROPOSAL_NOT_CHOSEN",
		"proposal not match", "No Proposal Match", "no suitable proposal", "found unacceptable", "no proposal chosen",
		"No proposal chosen", "SA proposal chosen", "NO-PROPOSAL-CHOSEN", "pfs group mismatched", "Mismatched attribute", "no offers accepted", "SA policy not acceptable", "failed to get valid proposal") ||
		has(l, "matching policy") && hasAny(l, "Failed to find", "failed to find", "no matching policy")
	if proposal && has(l, "SA policy not acceptable") && a.tsLine > 0 && n-a.tsLine <= 5 {
		// IOS ends a Quick Mode whose proxy identities it refused with
		// the same words as one whose transforms it refused: the cause
		// was logged just before.
		proposal = false
	}
	if proposal && has(l, "no IKE config found") {
		// strongSwan answers NO_PROPOSAL_CHOSEN when no connection is
		// configured for the address pair at all.
		a.add(n, l, evIdentity)
		proposal = false
	}
	if proposal {
		switch p := a.phaseOf(l); {
		case p == 2 && a.rekeyLine > 0 && n-a.rekeyLine <= 20:
			a.add(n, l, evP2Prop)
			a.add(n, l, evRekeyNoPro)
			a.refusedLine = n
			drop()
		case p == 2 || has(l, "pfs group"):
			a.phase = 2
			a.add(n, l, evP2Prop)
		case explicitPhase(l) == 0 && a.estLine > 0 && a.estLine >= a.p1Line:
			// An IKE SA is up and no phase 1 started since: a refused
			// proposal is the child's (Quick Mode), never phase 1's.
			a.phase = 2
			a.add(n, l, evP2Prop)
		default:
			a.phase = 1
			a.add(n, l, evP1Prop)
		}
		a.answered = true
	}
	if has(l, "Phase 2 was unable to establish") {
		a.add(n, l, event{kb.CodePhase2NoProposal, vpndiag.SeverityError, "phase 2 could not be established while phase 1 stayed up (negotiation error such as a proposal mismatch)"})
	}

	// Traffic selectors.
	switch {
	case hasAny(l, "TS_UNACCEPT", "compatible Traffic Selectors", "no matching crypto map", "crypto map policy not found", "Crypto Map Policy not found",
		"no matching CHILD_SA config", "KMD_VPN_TS_MISMATCH", "TS unacceptable", "Failed to match the peer proxy ids", "proxy identities not supported",
		"failed to get sainfo", "P2_POLICY_LOOKUP_FAILURE", "invalidated proposal with error 32") ||
		has(l, "traffic selectors") && has(l, "unacceptable") ||
		has(l, "Proxy ID") && hasAny(l, "failed", "mismatch"):
		a.add(n, l, evTS)
		a.tsLine = n
	case has(l, "invalidated proposal with error 256"):
		// IOS: the peer's transforms match no transform set.
		a.add(n, l, evP2Prop)
	case hasAny(l, "INVALID_ID_INFORMATION", "INVAL_ID", "INVALID-ID-INFORMATION", "Invalid ID info"):
		// In Quick Mode it refuses the selectors (proxy IDs), in Main Mode
		// the identity: only a line or context that says phase 1 is the
		// latter.
		if p := explicitPhase(l); p == 2 || p == 0 && (a.established || !a.phase1Seen) {
			a.add(n, l, evTS)
		} else {
			a.add(n, l, event{kb.CodeAuthFailed, vpndiag.SeverityCritical, "the peer refused our phase 1 identity (INVALID_ID_INFORMATION): the IKE identity differs from what it expects"})
		}
		a.answered = true
	}

	// DPD.
	switch {
	case hasAny(l, "sending DPD request", "R_U_THERE sent"):
		sa.dpd = true
	case has(l, "generating") && hasAny(l, "CREATE_CHILD_SA", "IKE_AUTH", "QUICK_MODE", "IKE_SA_INIT"):
		sa.dpd = false // a new request that is not a DPD
		if hasAny(l, "CREATE_CHILD_SA request", "QUICK_MODE request") {
			sa.childMID = requestID(l)
		}
	}
	switch {
	case hasAny(l, "declaring peer dead", "Declaring peer dead", "DPD failed", "DPD failure", "dpd_failure", "DPD timed out", "DPD: No response", "peer is dead",
		"KMD_DPD_PEER_DOWN", "keepalive type: DPD", "seems to be dead") ||
		has(l, "lost contact") && hasAny(l, "IKE", "peer") ||
		hasAny(l, "DPD action", "liveness action") && hasAny(l, "hold", "clear", "restart"):
		a.add(n, l, evDead)
		sa.dpd = false
		drop()
	}
	if has(l, "giving up after") {
		a.givingUp = append(a.givingUp, pending{line: n, text: string(a.ref(n, l).Text), phase: a.phase, est: a.established || sa.established, dpd: sa.dpd, mid: sa.recentRetx(n, tsOrZero(ts, hasTS))})
		sa.dpd = false
		drop()
	}

	// Requests without an answer.
	switch {
	case hasAny(l, "retransmitting response", "Duplicate Phase") || has(l, "retransmit of request") && has(l, "received"):
		a.dupReq++
		a.dupRefs = a.keep(a.dupRefs, n, l)
	case hasAny(l, "IKMP_NO_SA", "RECVD_PKT_INV_SPI", "with no matching SA", "for dead phase2"):
		a.stale++
		a.staleRefs = a.keep(a.staleRefs, n, l)
	case hasAny(l, "not responding", "timeout exceeded", "un-established", "negotiation timeout", "ue to timeout", "not responsive",
		"Death by retransmission", "Maximum number of retransmissions", "due to time up") ||
		has(l, "No response") && !has(l, "DPD") ||
		has(l, "Timed out") && hasAny(l, "negotiation", "IKE", "Phase-2"):
		switch {
		case has(l, "not responsive"):
			a.add(n, l, evDead)
		case hasAny(l, "ESTABLISHED_IKE_SA", "STATE_MAIN_I4", "STATE_MAIN_R3", "ESTABLISHED_CHILD_SA", "STATE_QUICK_I2", "STATE_QUICK_R2") ||
			sa.dpd && !has(l, "establishing"):
			a.add(n, l, evDeadEst)
		case hasAny(l, "QUICK", "CREATE_CHILD", "phase-2", "phase 2", "Phase 2", "Phase-2", "quick mode", "child SA", "phase2 negotiation"):
			a.add(n, l, evP2Silent)
		case a.answered && !a.established && !sa.established && sa.recentRetx(n, tsOrZero(ts, hasTS)) == 1:
			// IKE_SA_INIT was answered, IKE_AUTH (message ID 1, on UDP
			// 4500 behind NAT, often fragmented) was not.
			a.add(n, l, evAuthUnans)
		default:
			a.add(n, l, evNoAnswer)
		}
		drop()
	case hasAny(l, "retransmit", "retransmission", "RESENDING"):
		a.retransmit(l, n, sa)
	}

	// Rekeying.
	switch {
	case hasAny(l, "TEMPORARY_FAILURE", "TEMP_FAIL"):
		a.add(n, l, event{kb.CodeRekeyFailed, vpndiag.SeverityWarning, "a CHILD_SA rekey collided (TEMPORARY_FAILURE): traffic can be lost until the next rekey or DPD"})
		drop()
	case has(l, "collision") && hasAny(l, "REKEY", "rekey") && resolvedCollision(l):
		// Both ends rekeyed the same SA at once and the IKE daemon
		// settled it (RFC 7296, 2.8.1): not a failure on its own.
		if has(l, "detected") {
			a.collisions++
		} else {
			a.settled++
		}
		a.collRefs = a.keep(a.collRefs, n, l)
	case hasAny(l, "ekeying failed", "ekey failed") || has(l, "collision") && hasAny(l, "REKEY", "rekey"):
		a.add(n, l, evRekey)
		drop()
	case a.rekeyLine > 0 && n-a.rekeyLine <= 20 && hasAny(l, "unable to install", "failed to establish CHILD_SA"):
		if a.refusedLine == 0 || n-a.refusedLine > 20 {
			a.add(n, l, event{kb.CodeRekeyFailed, vpndiag.SeverityError, "a CHILD_SA rekey failed (the new SA or its policies could not be installed)"})
			drop()
		}
	}

	// Idle close.
	if has(l, "inactivity") && hasAny(l, "deleting", "closing") || hasAny(l, "Idle Timeout", "idle timeout") && hasAny(l, "Reason", "reason", "disconnect", "deleting", "torn down") {
		a.add(n, l, evIdle)
		drop()
		return
	}

	// Vendor messages that name their cause in a field of their own, when
	// no keyword above named it.
	switch {
	case a.lastAdd == n:
	case has(l, "IKE negotiation failed") || has(l, "IKE Phase-2") && hasAny(l, "Failure", "failed", "Failed"):
		a.junosCause(l, n)
	case hasAny(l, "negotiate_error", "Negotiation aborted", "negotiation is failed"):
		a.causeText(l, n)
	}

	// Plain drops: tunnels going down, and a peer deleting an SA outside a
	// rekey.
	switch {
	case hasAny(l, "Session disconnected", "unnel-down", "unnel down", "phase2-down", "KMD_VPN_DOWN_ALARM", "IKEv2 SA DOWN", "Connection terminated") ||
		has(l, "SESSION_STATUS") && has(l, "DOWN") ||
		has(l, "phase2_state") && hasAny(l, "\"down\"", ": down", "=down"):
		drop()
	case hasAny(l, "received DELETE", "received Delete"):
		if a.rekeyAt.IsZero() || !hasTS || ts.Sub(a.rekeyAt) > 10*time.Second || ts.Before(a.rekeyAt) {
			if a.rekeyLine == 0 || n-a.rekeyLine > 20 {
				drop()
			}
		}
	}
}

// resolvedCollision reports whether a rekey collision line is charon's
// detection ("detected CHILD_REKEY collision with CHILD_REKEY") or
// settlement ("CHILD_SA rekey collision won, deleting old child …").
func resolvedCollision(l []byte) bool {
	return hasAny(l, "collision won", "collision lost") || has(l, "detected") && has(l, "_REKEY collision with ")
}

func tsOrZero(ts time.Time, ok bool) time.Time {
	if ok {
		return ts
	}
	return time.Time{}
}

// retransmit sorts a retransmitted request by the exchange it repeats.
func (a *analyzer) retransmit(l []byte, n int, sa *saState) {
	mid := messageID(l)
	if mid >= 0 {
		sa.retxMID, sa.retxLine = mid, n
		sa.retxAt, _ = Timestamp(l)
	}
	kind := ""
	switch {
	case mid < 0: // pluto, IOS, ASA: the state or exchange is named
		switch {
		case hasAny(l, "STATE_QUICK_I", "QUICK", "QM_", "phase 2", "CREATE_CHILD"):
			kind = "p2"
		case hasAny(l, "msgid=0", "request 0", "STATE_PARENT_I1", "IKE_SA_INIT", "STATE_MAIN_I", "phase 1", "MM_", "PARENT_I1"):
			kind = "init"
		case hasAny(l, "IKE_AUTH", "PARENT_I2"):
			kind = "auth"
		case hasAny(l, "ESTABLISHED_IKE_SA", "STATE_MAIN_I4", "STATE_MAIN_R3"):
			kind = "est"
		}
	case mid == 0:
		kind = "init"
	case sa.dpd:
		kind = "est"
	case mid == sa.childMID:
		kind = "p2"
	case mid == 1 && !sa.established:
		kind = "auth"
	case sa.established || a.established:
		// A request on an established IKE SA (INFORMATIONAL, DPD)
		// that the peer no longer answers.
		kind = "est"
	}
	switch kind {
	case "init":
		a.initRetx++
		a.initRefs = a.keep(a.initRefs, n, l)
	case "p2":
		a.p2Retx++
		a.p2Refs = a.keep(a.p2Refs, n, l)
	case "auth":
		a.authRetx++
		a.authRefs = a.keep(a.authRefs, n, l)
	case "est":
		a.dpdRetx++
		a.dpdRefs = a.keep(a.dpdRefs, n, l)
	}
}

// initiatedTo returns the peer address of a charon line starting an IKE SA
// ("initiating IKE_SA conn[1] to 203.0.113.10", "initiating Main Mode
// IKE_SA ... to ..."), or "".
func initiatedTo(l []byte) string {
	i := bytes.Index(l, []byte("initiating "))
	if i < 0 || !bytes.Contains(l[i:], []byte("IKE_SA ")) {
		return ""
	}
	j := bytes.LastIndex(l[i:], []byte(" to "))
	if j < 0 {
		return ""
	}
	f := bytes.Fields(l[i+j+4:])
	if len(f) == 0 {
		return ""
	}
	if a, err := netip.ParseAddr(string(f[0])); err == nil {
		return a.String()
	}
	return ""
}

// requestID reads the N of "generating X request N" (charon), -1 when
// absent.
func requestID(l []byte) int { return numberAfter(l, " request ") }

// junosCause reads the error of Junos kmd's "IKE negotiation failed with
// error: …" and "IKE Phase-2 Failure: …".
func (a *analyzer) junosCause(l []byte, n int) {
	p2 := has(l, "Phase-2") || has(l, "IPSec") && !has(l, "IKE Version")
	switch {
	case hasFold(l, "proposal"):
		if p2 {
			a.add(n, l, evP2Prop)
		} else {
			a.add(n, l, evP1Prop)
		}
	case hasFold(l, "authentication") || hasFold(l, "IKE-ID") || hasFold(l, "ike id"):
		a.add(n, l, evAuth)
	case hasFold(l, "TS unacceptable") || hasFold(l, "traffic selector") || hasFold(l, "proxy id"):
		a.add(n, l, evTS)
	case hasFold(l, "timed out") || hasFold(l, "no response") || hasFold(l, "peer not responding"):
		if p2 {
			a.add(n, l, evP2Silent)
		} else {
			a.add(n, l, evNoAnswer)
		}
	}
}

// causeText reads the reason of FortiGate's negotiate errors, ASA's
// "IKEv2 Negotiation aborted due to ERROR: …" and PAN-OS's "… negotiation
// is failed …" when no keyword above named it.
func (a *analyzer) causeText(l []byte, n int) {
	t := causeOf(l)
	switch {
	case hasFold(t, "proposal") || hasFold(t, "matching policy") || hasFold(t, "DH group"):
		if a.phaseOf(l) == 2 {
			a.add(n, l, evP2Prop)
		} else {
			a.add(n, l, evP1Prop)
		}
	case hasFold(t, "pre-shared") || hasFold(t, "psk") || hasFold(t, "auth") && !hasFold(t, "authenticated"):
		a.add(n, l, evAuth)
	case hasFold(t, "selector") || hasFold(t, "proxy") || hasFold(t, "no matching phase2"):
		a.add(n, l, evTS)
	case hasFold(t, "retransmi") || hasFold(t, "no response") || hasFold(t, "timeout"):
		if a.phaseOf(l) == 2 {
			a.add(n, l, evP2Silent)
		} else {
			a.add(n, l, evNoAnswer)
		}
	}
}

// causeOf is the part of a negotiation error that says why: FortiGate's
// reason="…" field, or what follows "ERROR:" (ASA); else the whole line.
// FortiGate's other fields must not count: every event names
// xauthuser= and xauthgroup=, which are no authentication failure.
func causeOf(l []byte) []byte {
	if i := bytes.Index(l, []byte(`reason="`)); i >= 0 {
		v := l[i+len(`reason="`):]
		if j := bytes.IndexByte(v, '"'); j >= 0 {
			v = v[:j]
		}
		return v
	}
	if i := bytes.Index(l, []byte("ERROR:")); i >= 0 {
		return l[i+len("ERROR:"):]
	}
	return l
}

// finish decides what needed the whole log and builds the findings.
func (a *analyzer) finish() {
	if a.res.Family == "" {
		a.res.Family = a.family
	}
	for _, g := range a.givingUp {
		l := []byte(g.text)
		switch {
		case g.dpd:
			a.add(g.line, l, event{kb.CodeDPDPeerDead, vpndiag.SeverityError, "DPD requests on an established IKE SA got no answer and the retransmits gave up: the peer was declared dead"})
		case g.mid == 0:
			a.add(g.line, l, evNoAnswer)
		case g.mid > 0 && g.est:
			a.add(g.line, l, evDeadEst)
		case g.mid == 1:
			a.add(g.line, l, evAuthUnans)
		case g.phase == 1 && !g.est && !a.res.NewestFirst:
			a.add(g.line, l, evNoAnswer)
		default:
			a.add(g.line, l, evDeadEst)
		}
	}
	// One repeated request or one packet for a gone SA happens on any
	// busy path; a few of them do not.
	if a.dupReq >= 2 {
		a.merge(event{evHalfOpen.code, evHalfOpen.severity, fmt.Sprintf("the peer repeated %d requests this side had already answered: the answers do not reach it (return path) or the peer's SA is half-open", a.dupReq)}, a.dupReq, a.dupRefs)
	}
	if a.stale >= 3 {
		a.merge(event{evStaleSA.code, evStaleSA.severity, fmt.Sprintf("the peer sent %d messages on IKE or IPsec SAs this side no longer has: the two ends went out of step (one side deleted its SAs without the other knowing)", a.stale)}, a.stale, a.staleRefs)
	}
	// A settled rekey collision is routine; one at most rekeys says both
	// ends rekey on the same timer.
	if c := max(a.collisions, a.settled); c >= 3 && a.aggs[kb.CodeRekeyFailed] == nil {
		a.merge(event{kb.CodeRekeyFailed, vpndiag.SeverityWarning, fmt.Sprintf("both ends started the same rekey at the same moment %d times (rekey collisions, settled each time): the two sides use the same lifetimes, and some devices lose traffic or drop the SA when a collision is settled; make this side's lifetimes shorter than the cloud's so that it always rekeys first", c)}, c, a.collRefs)
	}
	// Retransmits with no final line: judged by how many there were.
	switch {
	case a.dpdRetx >= 3 && a.aggs[kb.CodeDPDPeerDead] == nil:
		a.merge(event{kb.CodeDPDPeerDead, vpndiag.SeverityError, fmt.Sprintf("requests on an established IKE SA (DPD, informational) were retransmitted %d times without an answer: the peer stopped answering", a.dpdRetx)}, a.dpdRetx, a.dpdRefs)
	}
	if a.p2Retx >= 2 && a.aggs[kb.CodePhase2NoProposal] == nil && a.aggs[kb.CodeTSUnacceptable] == nil {
		a.merge(event{evP2Silent.code, evP2Silent.severity, fmt.Sprintf("phase 2 requests were retransmitted %d times without an answer while phase 1 is up: the peer silently refuses the phase 2 proposal (or its selectors)", a.p2Retx)}, a.p2Retx, a.p2Refs)
	}
	if a.authRetx >= 3 && !a.established && a.aggs[kb.CodeIKENoResponse] == nil {
		a.merge(evAuthUnans, a.authRetx, a.authRefs)
	}
	if a.initRetx >= 3 && !a.established && a.aggs[kb.CodePhase1NoProposal] == nil && a.aggs[kb.CodeAuthFailed] == nil {
		text := fmt.Sprintf("the first IKE message was retransmitted %d times without an answer: UDP 500/4500 blocked on the way or the peer unreachable", a.initRetx)
		if a.initPeer != "" {
			text = fmt.Sprintf("the first IKE message to %s was retransmitted %d times without an answer: UDP 500/4500 blocked on the way, the peer unreachable, or %s not the cloud's VPN endpoint", a.initPeer, a.initRetx, a.initPeer)
		}
		a.merge(event{kb.CodeIKENoResponse, vpndiag.SeverityCritical, text}, a.initRetx, a.initRefs)
	}
	if d, ok := period(a.drops); ok {
		a.res.DropPeriod = d.period
		f := &vpndiag.Finding{
			Code:     kb.CodePeriodicDrop,
			Severity: vpndiag.SeverityError,
			Summary:  fmt.Sprintf("%s: %d drops, every %s ± %s", a.name, d.drops, span(d.period), spread(d.spread, d.period)),
			Source:   "logs/" + familyOr(a.res.Family),
		}
		if near(d.period, time.Hour, 5*time.Minute) {
			f.KBArticle = kb.ArticleIKEv2HourlyDrop
			f.Detail = fmt.Sprintf("Drops every ~60 minutes match the phase 2 lifetime of %s; with IKEv2 some devices drop the tunnel at each CHILD_SA rekey instead of rekeying it (kb: %s).", kb.ChildSALifetime, kb.ArticleIKEv2HourlyDrop)
			f.Fix = fmt.Sprintf("If the tunnel uses IKEv2, set the phase 2 (CHILD_SA) lifetime to %d minutes so that your device rekeys before the cloud does.", int(kb.IKEv2HourlyDropWorkaround.Minutes()))
		} else {
			f.KBArticle = kb.ArticleDPDIdle
			f.Detail = fmt.Sprintf("Drops at a fixed interval of %s point at a timer rather than at the network: a lifetime, an idle timeout or DPD (kb: %s).", span(d.period), kb.ArticleDPDIdle)
			f.Fix = "Compare the interval with the phase 1 and phase 2 lifetimes and idle timeouts on both sides, and keep traffic flowing (a keep-alive ping to a cloud DNS server)."
		}
		for i, t := range d.at {
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

// merge adds count occurrences of e, citing refs first.
func (a *analyzer) merge(e event, count int, refs []vpndiag.EvidenceRef) {
	g := a.aggs[e.code]
	if g == nil {
		g = &agg{code: e.code, severity: e.severity}
		a.aggs[g.code] = g
		a.order = append(a.order, g.code)
	}
	g.what = e.what
	if e.severity.Rank() > g.severity.Rank() {
		g.severity = e.severity
	}
	g.count += count
	g.refs = append(append([]vpndiag.EvidenceRef(nil), refs...), g.refs...)
	if len(g.refs) > maxRefs {
		g.refs = g.refs[:maxRefs]
	}
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
	kb.CodeIKEHalfOpen: {kb.ArticleDPDIdle, "The two ends disagree about an SA: either this side's answers do not reach the peer, so it keeps repeating its request, or one side deleted its SAs and the other still uses them.",
		"Check that UDP 500 and 4500 from your device to the cloud's VPN endpoint are not dropped or rewritten on the way back, enable DPD on your device so that stale SAs are cleared, and reset the tunnel once (clear the IKE and IPsec SAs) to bring both ends in step."},
	kb.CodeIdleClose: {kb.ArticleResponderOnly, "Your device closed the tunnel because no traffic crossed it for a while; the cloud only answers and never brings a tunnel back, so it stays down until your network sends again.",
		"Remove the idle timeout for this tunnel (strongSwan: drop `inactivity`; Cisco ASA: `vpn-idle-timeout none` in the group policy; FortiGate: disable `idle-timeout` in phase 1), or keep traffic flowing with a keep-alive ping every 5 seconds to a cloud DNS server."},
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

// drops is a regular pattern of drops.
type drops struct {
	period time.Duration // the median interval
	spread time.Duration // the largest distance of a regular interval from it
	drops  int           // drops after merging the lines of one drop
	at     []time.Time   // when, oldest first
}

// period finds a regular interval between drops of any period of at least
// 30 s: at least three intervals after merging the lines of one drop,
// three quarters of them within 10 % of the median (the period is their
// mean). The lines of one drop
// (DPD, DELETE, down) are merged when they are less than two minutes apart
// for periods of ten minutes and more, and less than ten seconds apart
// for shorter ones.
func period(ts []time.Time) (drops, bool) {
	if len(ts) < 4 {
		return drops{}, false
	}
	s := append([]time.Time(nil), ts...)
	sort.Slice(s, func(i, j int) bool { return s[i].Before(s[j]) })
	for _, c := range []struct{ gap, min time.Duration }{{2 * time.Minute, 10 * time.Minute}, {10 * time.Second, 30 * time.Second}} {
		if d, ok := regular(s, c.gap, c.min); ok {
			return d, true
		}
	}
	return drops{}, false
}

func regular(s []time.Time, gap, min time.Duration) (drops, bool) {
	var merged []time.Time
	for _, t := range s {
		if len(merged) == 0 || t.Sub(merged[len(merged)-1]) >= gap {
			merged = append(merged, t)
		}
	}
	if len(merged) < 4 {
		return drops{}, false
	}
	iv := make([]time.Duration, 0, len(merged)-1)
	for i := 1; i < len(merged); i++ {
		iv = append(iv, merged[i].Sub(merged[i-1]))
	}
	sorted := append([]time.Duration(nil), iv...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	med := sorted[len(sorted)/2]
	if med < min {
		return drops{}, false
	}
	var reg []time.Duration
	var sum time.Duration
	for _, d := range iv {
		if near(d, med, med/10) {
			reg = append(reg, d)
			sum += d
		}
	}
	if len(reg)*4 < len(iv)*3 {
		return drops{}, false
	}
	// The period is the mean of the regular intervals, the spread how far
	// the farthest of them is from it.
	mean, spread := sum/time.Duration(len(reg)), time.Duration(0)
	for _, d := range reg {
		spread = max(spread, (d - mean).Abs())
	}
	return drops{period: mean, spread: spread, drops: len(merged), at: merged}, true
}

func near(d, want, tol time.Duration) bool {
	return d >= want-tol && d <= want+tol
}

// span writes a duration as people say it: "60 min", "45 s", "1 h 30 min".
func span(d time.Duration) string {
	switch {
	case d < 2*time.Minute:
		return fmt.Sprintf("%d s", int(d.Round(time.Second).Seconds()))
	case d < 3*time.Hour:
		return fmt.Sprintf("%d min", int(d.Round(time.Minute).Minutes()))
	}
	d = d.Round(time.Minute)
	h, m := int(d.Hours()), int(d.Minutes())%60
	if m == 0 {
		return fmt.Sprintf("%d h", h)
	}
	return fmt.Sprintf("%d h %d min", h, m)
}

// spread writes the spread of a period in the period's unit when it is at
// least one of them: "± 1 min" for an hourly period, "± 3 s" otherwise.
func spread(d, period time.Duration) string {
	if period >= 2*time.Minute && d >= time.Minute {
		return fmt.Sprintf("%d min", int(d.Round(time.Minute).Minutes()))
	}
	return fmt.Sprintf("%d s", int(d.Round(time.Second).Seconds()))
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
