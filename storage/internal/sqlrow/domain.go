package sqlrow

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/vpndiag/vpndiag"
)

// Errors both stores return in the same words.

// CaseNotFound is the ENOTFOUND error of a case ID.
func CaseNotFound(id int64) error {
	return vpndiag.Errorf(vpndiag.ENOTFOUND, "Case %d not found.", id)
}

// SiteNotFound is the ENOTFOUND error of a site ID.
func SiteNotFound(id int64) error {
	return vpndiag.Errorf(vpndiag.ENOTFOUND, "Site %d not found.", id)
}

// NoSession is the ENOTFOUND error of a case without a flow session.
func NoSession(caseID int64) error {
	return vpndiag.Errorf(vpndiag.ENOTFOUND, "Case %d has no flow session.", caseID)
}

// StepDone is the ECONFLICT of a stale or repeated transition.
func StepDone() error {
	return vpndiag.Errorf(vpndiag.ECONFLICT, "This step is already done.")
}

// Cases.

// CaseColumns are the columns ScanCase reads, in order.
const CaseColumns = `id, marker, site_id, title, status, origin, channel_id, thread_ts,
	created_by, resolution, kb_article, created_at, updated_at`

// ScanCase reads one row of CaseColumns.
func ScanCase(sc Scanner) (*vpndiag.Case, error) {
	var c vpndiag.Case
	if err := sc.Scan(&c.ID, &c.Marker, ID(&c.SiteID), &c.Title, &c.Status, &c.Origin, &c.ChannelID, &c.ThreadTS,
		&c.CreatedBy, &c.Resolution, &c.KBArticle, Time(&c.CreatedAt), Time(&c.UpdatedAt)); err != nil {
		return nil, err
	}
	return &c, nil
}

// CaseWhere returns filter's conditions (without paging) and their
// parameters in d's style.
func CaseWhere(d Dialect, filter vpndiag.CaseFilter) (string, *Args) {
	a := d.Args()
	var conds []string
	if v := filter.ID; v != nil {
		conds = append(conds, "id = "+a.Add(*v))
	}
	if v := filter.Marker; v != nil {
		conds = append(conds, "marker = "+a.Add(*v))
	}
	if v := filter.ChannelID; v != nil {
		conds = append(conds, "channel_id = "+a.Add(*v))
	}
	if v := filter.ThreadTS; v != nil {
		conds = append(conds, "thread_ts = "+a.Add(*v))
	}
	if v := filter.Status; v != nil {
		conds = append(conds, "status = "+a.Add(string(*v)))
	}
	if v := filter.SiteID; v != nil {
		if *v == 0 {
			conds = append(conds, "site_id IS NULL")
		} else {
			conds = append(conds, "site_id = "+a.Add(*v))
		}
	}
	return Where(conds), a
}

// Page returns the LIMIT and OFFSET of a listing ("" for all rows), adding
// their parameters to a; limit 0 means no limit.
func Page(a *Args, limit, offset int) string {
	var q string
	if limit > 0 {
		q += ` LIMIT ` + a.Add(limit)
	} else if offset > 0 {
		q += ` LIMIT ` + a.d.NoLimit
	}
	if offset > 0 {
		q += ` OFFSET ` + a.Add(offset)
	}
	return q
}

// CaseCreated returns the "case.created" event of the stored case c.
func CaseCreated(c *vpndiag.Case) (*vpndiag.Event, error) {
	data, err := json.Marshal(map[string]any{
		"marker": c.Marker, "title": c.Title, "origin": c.Origin, "status": c.Status,
	})
	if err != nil {
		return nil, err
	}
	return &vpndiag.Event{
		CaseID:  c.ID,
		Actor:   c.CreatedBy,
		Kind:    vpndiag.EventCaseCreated,
		Message: fmt.Sprintf("Case %s opened: %s", c.Marker, c.Title),
		Data:    data,
	}, nil
}

// ApplyCaseUpdate applies upd to c and returns the changed fields by
// column name. requireSite checks a new site reference.
func ApplyCaseUpdate(c *vpndiag.Case, upd vpndiag.CaseUpdate, requireSite func(id int64) error) (map[string]any, error) {
	changed := map[string]any{}
	if v := upd.Title; v != nil {
		c.Title, changed["title"] = *v, *v
	}
	if v := upd.Status; v != nil {
		if !v.Valid() {
			return nil, vpndiag.Errorf(vpndiag.EINVALID, "Case status %q is not known.", *v)
		}
		c.Status, changed["status"] = *v, *v
	}
	if v := upd.SiteID; v != nil {
		if *v != 0 {
			if err := requireSite(*v); err != nil {
				return nil, err
			}
		}
		c.SiteID, changed["site_id"] = *v, *v
	}
	if v := upd.ThreadTS; v != nil {
		c.ThreadTS, changed["thread_ts"] = *v, *v
	}
	if v := upd.Resolution; v != nil {
		c.Resolution, changed["resolution"] = *v, *v
	}
	if v := upd.KBArticle; v != nil {
		c.KBArticle, changed["kb_article"] = *v, *v
	}
	return changed, nil
}

// CaseUpdated returns the "case.updated" event listing the changed fields
// of c.
func CaseUpdated(c *vpndiag.Case, changed map[string]any) (*vpndiag.Event, error) {
	data, err := json.Marshal(changed)
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(changed))
	for k := range changed {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	msg := fmt.Sprintf("Case %s updated", c.Marker)
	if len(keys) > 0 {
		msg += ": " + strings.Join(keys, ", ")
	}
	return &vpndiag.Event{
		CaseID:  c.ID,
		Actor:   "system",
		Kind:    vpndiag.EventCaseUpdated,
		Message: msg,
		Data:    data,
	}, nil
}

// Sessions and answers.

// SessionColumns are the columns ScanSession reads, in order.
const SessionColumns = `case_id, flow, flow_version, state, seq, vars, path, updated_at`

// ScanSession reads one row of SessionColumns.
func ScanSession(sc Scanner) (*vpndiag.Session, error) {
	var sess vpndiag.Session
	var vars, path string
	if err := sc.Scan(&sess.CaseID, &sess.Flow, &sess.FlowVersion, &sess.State, &sess.Seq,
		Text(&vars), Text(&path), Time(&sess.UpdatedAt)); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(vars), &sess.Vars); err != nil {
		return nil, fmt.Errorf("session vars: %w", err)
	}
	if err := json.Unmarshal([]byte(path), &sess.Path); err != nil {
		return nil, fmt.Errorf("session path: %w", err)
	}
	return &sess, nil
}

// ValidateSession checks the fields every stored session needs.
func ValidateSession(sess *vpndiag.Session) error {
	if sess.Flow == "" || sess.State == "" {
		return vpndiag.Errorf(vpndiag.EINVALID, "A session needs a flow and a state.")
	}
	return nil
}

// ValidateTransition checks that t carries a valid new session state.
func ValidateTransition(t *vpndiag.Transition) error {
	if t.Session == nil {
		return vpndiag.Errorf(vpndiag.EINVALID, "A transition needs the new session state.")
	}
	return ValidateSession(t.Session)
}

// MarshalSession encodes the JSON columns of a session.
func MarshalSession(sess *vpndiag.Session) (vars, path string, err error) {
	if vars, err = JSON("session vars", sess.Vars); err != nil {
		return "", "", err
	}
	if path, err = JSON("session path", sess.Path); err != nil {
		return "", "", err
	}
	return vars, path, nil
}

// AnswerColumns are the columns ScanAnswer reads, in order.
const AnswerColumns = `id, case_id, seq, flow, state, question, choice, label, value,
	source, source_ref, actor, created_at`

// ScanAnswer reads one row of AnswerColumns.
func ScanAnswer(sc Scanner) (*vpndiag.Answer, error) {
	var a vpndiag.Answer
	if err := sc.Scan(&a.ID, &a.CaseID, &a.Seq, &a.Flow, &a.State, &a.Question, &a.Choice, &a.Label,
		&a.Value, &a.Source, &a.SourceRef, &a.Actor, Time(&a.CreatedAt)); err != nil {
		return nil, err
	}
	return &a, nil
}

// Events.

// EventColumns are the columns ScanEvent reads, in order.
const EventColumns = `id, case_id, seq, time, actor, kind, message, data`

// ScanEvent reads one row of EventColumns.
func ScanEvent(sc Scanner) (*vpndiag.Event, error) {
	var e vpndiag.Event
	if err := sc.Scan(&e.ID, &e.CaseID, &e.Seq, Time(&e.Time), &e.Actor, &e.Kind, &e.Message,
		RawJSON(&e.Data)); err != nil {
		return nil, err
	}
	return &e, nil
}

// ValidateEvent checks e before it is appended.
func ValidateEvent(e *vpndiag.Event) error {
	if e.Kind == "" {
		return vpndiag.Errorf(vpndiag.EINVALID, "Event kind is required.")
	}
	if e.Data != nil && !json.Valid(e.Data) {
		return vpndiag.Errorf(vpndiag.EINVALID, "Event data is not valid JSON.")
	}
	return nil
}

// Findings.

// FindingColumns are the columns ScanFinding reads, in order.
const FindingColumns = `id, case_id, code, severity, summary, detail, fix, kb_article,
	evidence, source, created_at`

// ScanFinding reads one row of FindingColumns.
func ScanFinding(sc Scanner) (*vpndiag.Finding, error) {
	var f vpndiag.Finding
	var refs string
	if err := sc.Scan(&f.ID, &f.CaseID, &f.Code, &f.Severity, &f.Summary, &f.Detail, &f.Fix, &f.KBArticle,
		Text(&refs), &f.Source, Time(&f.CreatedAt)); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(refs), &f.Evidence); err != nil {
		return nil, fmt.Errorf("finding %d evidence: %w", f.ID, err)
	}
	return &f, nil
}

// PrepareFinding checks f and returns its evidence references encoded.
func PrepareFinding(f *vpndiag.Finding) (refs string, err error) {
	if f.Code == "" || f.Severity.Rank() == 0 {
		return "", vpndiag.Errorf(vpndiag.EINVALID, "Finding %q needs a code and a known severity.", f.Code)
	}
	b, err := json.Marshal(f.Evidence)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// Evidence.

// EvidenceColumns are the columns ScanEvidence reads, in order.
const EvidenceColumns = `id, case_id, name, kind, media_type, vendor, size, sha256, original_size,
	original_sha256, redactions, crc32, compressed_size, uploaded_by, created_at`

// ScanEvidence reads one row of EvidenceColumns.
func ScanEvidence(sc Scanner) (*vpndiag.Evidence, error) {
	var e vpndiag.Evidence
	var crc int64
	if err := sc.Scan(&e.ID, &e.CaseID, &e.Name, &e.Kind, &e.MediaType, &e.Vendor, &e.Size, &e.SHA256,
		&e.OriginalSize, &e.OriginalSHA256, &e.Redactions, &crc, &e.CompressedSize, &e.UploadedBy,
		Time(&e.CreatedAt)); err != nil {
		return nil, err
	}
	e.CRC32 = uint32(crc)
	return &e, nil
}

// EvidenceNotFound is the ENOTFOUND error of an evidence ID.
func EvidenceNotFound(id int64) error {
	return vpndiag.Errorf(vpndiag.ENOTFOUND, "Evidence %d not found.", id)
}

// Probe results and keep-alive samples.

// ProbeResultColumns are the columns ScanProbeResult reads, in order.
const ProbeResultColumns = `id, case_id, kind, target, outcome, summary, detail, error, relay,
	started_at, duration_ns`

// ScanProbeResult reads one row of ProbeResultColumns.
func ScanProbeResult(sc Scanner) (*vpndiag.ProbeResult, error) {
	var r vpndiag.ProbeResult
	var dur int64
	if err := sc.Scan(&r.ID, ID(&r.CaseID), &r.Kind, &r.Target, &r.Outcome, &r.Summary, RawJSON(&r.Detail),
		&r.Error, &r.Relay, Time(&r.StartedAt), &dur); err != nil {
		return nil, err
	}
	r.Duration = time.Duration(dur)
	return &r, nil
}

// ValidateProbeResult checks r before it is stored.
func ValidateProbeResult(r *vpndiag.ProbeResult) error {
	if r.ID == "" {
		return vpndiag.Errorf(vpndiag.EINVALID, "A probe result needs the job ID.")
	}
	if r.Detail != nil && !json.Valid(r.Detail) {
		return vpndiag.Errorf(vpndiag.EINVALID, "Probe result %s: detail is not valid JSON.", r.ID)
	}
	return nil
}

// KeepaliveColumns are the columns ScanKeepalive reads, in order.
const KeepaliveColumns = `monitor, time, ok, rtt_ns`

// ScanKeepalive reads one row of KeepaliveColumns.
func ScanKeepalive(sc Scanner) (vpndiag.KeepaliveSample, error) {
	var s vpndiag.KeepaliveSample
	var rtt int64
	err := sc.Scan(&s.Monitor, Time(&s.Time), &s.OK, &rtt)
	s.RTT = time.Duration(rtt)
	return s, err
}

// KeepaliveCap returns ETOOLARGE when adding more samples to the have a
// case holds would pass vpndiag.MaxKeepaliveSamplesPerCase.
func KeepaliveCap(caseID int64, have, more int) error {
	if have+more > vpndiag.MaxKeepaliveSamplesPerCase {
		return vpndiag.Errorf(vpndiag.ETOOLARGE, "Case %d holds %d keep-alive samples; %d more would pass the cap of %d.",
			caseID, have, more, vpndiag.MaxKeepaliveSamplesPerCase)
	}
	return nil
}

// Relay tokens.

// RelayTokenColumns are the columns ScanRelayToken reads, in order.
const RelayTokenColumns = `id, name, site_id, hash, prefix, created_at, last_seen_at, revoked_at`

// ScanRelayToken reads one row of RelayTokenColumns.
func ScanRelayToken(sc Scanner) (*vpndiag.RelayToken, error) {
	var t vpndiag.RelayToken
	if err := sc.Scan(&t.ID, &t.Name, &t.SiteID, &t.Hash, &t.Prefix, Time(&t.CreatedAt),
		NullTime(&t.LastSeenAt), NullTime(&t.RevokedAt)); err != nil {
		return nil, err
	}
	return &t, nil
}

// ValidateRelayToken checks t before it is stored.
func ValidateRelayToken(t *vpndiag.RelayToken) error {
	if t.Name == "" || t.Hash == "" {
		return vpndiag.Errorf(vpndiag.EINVALID, "A relay token needs a name and a hash.")
	}
	return nil
}

// RelayTokenNotFound is the ENOTFOUND error of a token ID.
func RelayTokenNotFound(id int64) error {
	return vpndiag.Errorf(vpndiag.ENOTFOUND, "Relay token %d not found.", id)
}

// NoRelayToken is the ENOTFOUND error of a relay name that never had a
// token.
func NoRelayToken(name string) error {
	return vpndiag.Errorf(vpndiag.ENOTFOUND, "Relay %s has no token.", name)
}

// Delivery keys.

// ValidateDedupKey checks a delivery key before it is claimed.
func ValidateDedupKey(key string) error {
	if key == "" {
		return vpndiag.Errorf(vpndiag.EINVALID, "A delivery key is required.")
	}
	return nil
}
