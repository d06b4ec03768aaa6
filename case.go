package vpndiag

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"regexp"
	"time"
)

// CaseStatus is where a case stands.
type CaseStatus string

const (
	CaseOpen      CaseStatus = "open"      // the flow is running, or a resolution awaits "Did this fix it?"
	CaseResolved  CaseStatus = "resolved"  // the person confirmed the resolution fixed it
	CaseEscalated CaseStatus = "escalated" // handed to support with a bundle
	CaseClosed    CaseStatus = "closed"    // closed by a user without an outcome
)

// Valid reports whether s is a known status.
func (s CaseStatus) Valid() bool {
	switch s {
	case CaseOpen, CaseResolved, CaseEscalated, CaseClosed:
		return true
	}
	return false
}

// Case is one diagnosis: a user reported a symptom and the bot walks a flow
// with them until a resolution or an escalation.
type Case struct {
	// ID is the store's primary key.
	ID int64 `json:"id"`
	// Marker is the human-readable identifier support searches for in
	// tickets, logs and bundles, e.g. VPN-20261125-7KQ2.
	Marker string `json:"marker"`
	// SiteID is the site profile the case is about; 0 when none is known yet.
	SiteID int64 `json:"site_id,omitempty"`
	// Title is the symptom in the user's words or the triage choice.
	Title string `json:"title"`
	// Status is where the case stands.
	Status CaseStatus `json:"status"`
	// Origin is where the case was opened: "terminal" or "slack".
	Origin string `json:"origin"`
	// ChannelID is the Slack channel of the case thread; empty in terminal mode.
	ChannelID string `json:"channel_id,omitempty"`
	// ThreadTS is the Slack timestamp of the case's root message.
	ThreadTS string `json:"thread_ts,omitempty"`
	// CreatedBy is the actor who opened the case (Slack user ID or OS user).
	CreatedBy string `json:"created_by"`
	// Resolution is the resolution step reached, empty while open.
	Resolution string `json:"resolution,omitempty"`
	// KBArticle is the kb article the resolution cites.
	KBArticle string `json:"kb_article,omitempty"`
	// CreatedAt and UpdatedAt are maintained by the store.
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Validate returns an EINVALID error when required fields are missing.
func (c *Case) Validate() error {
	if !MarkerPattern.MatchString(c.Marker) {
		return Errorf(EINVALID, "Case marker %q is not of the form VPN-YYYYMMDD-XXXX.", c.Marker)
	}
	if !c.Status.Valid() {
		return Errorf(EINVALID, "Case status %q is not known.", c.Status)
	}
	if c.Origin == "" {
		return Errorf(EINVALID, "Case origin is required.")
	}
	return nil
}

// CaseFilter selects cases. Nil fields do not filter.
type CaseFilter struct {
	ID        *int64
	Marker    *string
	ChannelID *string
	// ThreadTS selects the case whose Slack thread starts at this message
	// (with ChannelID: at most one case).
	ThreadTS *string
	Status   *CaseStatus
	SiteID   *int64
	// Offset and Limit page the result, newest first; Limit 0 means no limit.
	Offset int
	Limit  int
}

// CaseUpdate changes a case. Nil fields are left as they are.
type CaseUpdate struct {
	Title      *string
	Status     *CaseStatus
	SiteID     *int64
	ThreadTS   *string
	Resolution *string
	KBArticle  *string
}

// CaseService stores cases.
type CaseService interface {
	// FindCaseByID returns ENOTFOUND when there is no such case.
	FindCaseByID(ctx context.Context, id int64) (*Case, error)
	// FindCaseByMarker returns ENOTFOUND when there is no such case.
	FindCaseByMarker(ctx context.Context, marker string) (*Case, error)
	// FindCases returns the matching cases, newest first, and the total count
	// before paging.
	FindCases(ctx context.Context, filter CaseFilter) ([]*Case, int, error)
	// CreateCase stores c, setting its ID and timestamps, and appends a
	// "case.created" event in the same transaction.
	CreateCase(ctx context.Context, c *Case) error
	// UpdateCase applies upd and returns the case as stored.
	UpdateCase(ctx context.Context, id int64, upd CaseUpdate) (*Case, error)
}

// MarkerPattern matches a case marker.
var MarkerPattern = regexp.MustCompile(`^VPN-[0-9]{8}-[0-9A-Z]{4}$`)

// markerAlphabet is Crockford's base32 without the letters people misread.
const markerAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// NewMarker returns a case marker for the day of t with four random
// characters read from r (crypto/rand when r is nil), e.g. VPN-20261125-7KQ2.
func NewMarker(t time.Time, r io.Reader) (string, error) {
	if r == nil {
		r = rand.Reader
	}
	var b [4]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return "", fmt.Errorf("marker: %w", err)
	}
	out := make([]byte, 4)
	for i, v := range b {
		out[i] = markerAlphabet[int(v)%len(markerAlphabet)]
	}
	return fmt.Sprintf("VPN-%s-%s", t.UTC().Format("20060102"), out), nil
}

// NewUniqueMarker draws markers for the day of t (random bytes from r, or
// crypto/rand when nil) until one is not taken in cases. Four random characters give about a million markers a day, so a
// busy day sees a repeat now and then; drawing again keeps them unique.
func NewUniqueMarker(ctx context.Context, cases CaseService, t time.Time, r io.Reader) (string, error) {
	for i := 0; i < 20; i++ {
		m, err := NewMarker(t, r)
		if err != nil {
			return "", err
		}
		_, err = cases.FindCaseByMarker(ctx, m)
		switch ErrorCode(err) {
		case ENOTFOUND:
			return m, nil
		case "":
			continue // taken: draw again
		default:
			return "", fmt.Errorf("marker: %w", err)
		}
	}
	return "", Errorf(EUNAVAILABLE, "No free case marker could be drawn for %s; try again.", t.UTC().Format("2006-01-02"))
}
