package vpndiag

import (
	"context"
	"io"
	"time"
)

// EvidenceKind is what a file is.
type EvidenceKind string

const (
	EvidenceConfig EvidenceKind = "config" // a VPN device configuration
	EvidenceLog    EvidenceKind = "log"    // device or cloud tunnel logs
	EvidenceStatus EvidenceKind = "status" // SA status output (swanctl --list-sas, show crypto ipsec sa …)
	EvidenceOther  EvidenceKind = "other"  // anything else the user attached
)

// Evidence is a file attached to a case, stored redacted and compressed.
// Content never holds a secret: redaction happens before it is stored.
type Evidence struct {
	// ID is the store's primary key.
	ID int64 `json:"id"`
	// CaseID is the case it is attached to.
	CaseID int64 `json:"case_id"`
	// Name is the file name as uploaded (base name only).
	Name string `json:"name"`
	// Kind is config, log, status or other.
	Kind EvidenceKind `json:"kind"`
	// MediaType is the content type, e.g. text/plain.
	MediaType string `json:"media_type"`
	// Vendor is the detected device vendor and format, e.g. "strongswan-swanctl".
	Vendor string `json:"vendor,omitempty"`
	// Size is the size in bytes of the redacted content.
	Size int64 `json:"size"`
	// SHA256 is the hex SHA-256 of the redacted content.
	SHA256 string `json:"sha256"`
	// OriginalSize and OriginalSHA256 describe the file as uploaded, before
	// redaction, so support can match it with the customer's copy.
	OriginalSize   int64  `json:"original_size"`
	OriginalSHA256 string `json:"original_sha256"`
	// Redactions counts the secrets replaced.
	Redactions int `json:"redactions"`
	// CRC32 and CompressedSize describe the stored raw DEFLATE stream, so an
	// archive writer can copy it without recompressing.
	CRC32          uint32 `json:"crc32"`
	CompressedSize int64  `json:"compressed_size"`
	// UploadedBy is who attached it.
	UploadedBy string `json:"uploaded_by"`
	// CreatedAt is maintained by the store.
	CreatedAt time.Time `json:"created_at"`
}

// Attachment is one file attached to a case together with what was learnt
// from it, stored as one unit by EvidenceService.AttachEvidence.
type Attachment struct {
	// Evidence describes the file; the store sets its ID, sizes, hashes
	// and CreatedAt.
	Evidence *Evidence
	// Findings are stored with it, for Evidence.CaseID. References that
	// name Evidence.Name and have no EvidenceID get the stored ID.
	Findings []*Finding
	// Event, when set, is appended to the case's timeline with it. When
	// its Data is a JSON object, the store adds the stored ID to it as
	// "evidence_id".
	Event *Event
}

// EvidenceService stores redacted evidence.
type EvidenceService interface {
	// AttachEvidence stores a's evidence with the redacted content read
	// from r, its findings and its event in one transaction: all of it, or
	// nothing and an error. The content is compressed as it streams and
	// the configured size cap enforced (ETOOLARGE, nothing stored).
	AttachEvidence(ctx context.Context, a *Attachment, r io.Reader) error
	// CreateEvidence is AttachEvidence of e alone.
	CreateEvidence(ctx context.Context, e *Evidence, r io.Reader) error
	// FindEvidenceByID returns ENOTFOUND when there is no such evidence.
	FindEvidenceByID(ctx context.Context, id int64) (*Evidence, error)
	// FindEvidence returns a case's evidence, oldest first, without content.
	FindEvidence(ctx context.Context, caseID int64) ([]*Evidence, error)
	// OpenEvidence streams the redacted content.
	OpenEvidence(ctx context.Context, id int64) (io.ReadCloser, error)
	// OpenEvidenceRaw streams the stored raw DEFLATE stream (RFC 1951).
	OpenEvidenceRaw(ctx context.Context, id int64) (io.ReadCloser, error)
}

// Severity ranks findings.
type Severity string

const (
	SeverityInfo     Severity = "info"     // worth knowing, not a problem
	SeverityWarning  Severity = "warning"  // against the guide, may cause trouble
	SeverityError    Severity = "error"    // breaks or will break the tunnel
	SeverityCritical Severity = "critical" // the tunnel cannot come up
)

// Rank orders severities: higher is worse; unknown is 0.
func (s Severity) Rank() int {
	switch s {
	case SeverityInfo:
		return 1
	case SeverityWarning:
		return 2
	case SeverityError:
		return 3
	case SeverityCritical:
		return 4
	}
	return 0
}

// EvidenceRef points at the line of a file a finding came from.
type EvidenceRef struct {
	// EvidenceID is the stored evidence; 0 before it is stored.
	EvidenceID int64 `json:"evidence_id,omitempty"`
	// Name is the file name.
	Name string `json:"name"`
	// Line is the 1-based line number; 0 when the finding is about the file.
	Line int `json:"line,omitempty"`
	// Text is the (redacted) line as seen.
	Text string `json:"text,omitempty"`
}

// Finding is something learnt about a case: from a config rule, a log
// analyser or a probe.
type Finding struct {
	// ID is the store's primary key.
	ID int64 `json:"id"`
	// CaseID is the case.
	CaseID int64 `json:"case_id"`
	// Code is stable and searchable, e.g. "phase1-lifetime".
	Code string `json:"code"`
	// Severity ranks it.
	Severity Severity `json:"severity"`
	// Summary is one line: what was seen.
	Summary string `json:"summary"`
	// Detail explains why it matters.
	Detail string `json:"detail,omitempty"`
	// Fix is the concrete change to make.
	Fix string `json:"fix,omitempty"`
	// KBArticle is the kb article that explains it.
	KBArticle string `json:"kb_article,omitempty"`
	// Evidence points at where it was seen.
	Evidence []EvidenceRef `json:"evidence,omitempty"`
	// Source is the rule, analyser or probe that produced it.
	Source string `json:"source"`
	// CreatedAt is maintained by the store.
	CreatedAt time.Time `json:"created_at"`
}

// FindingService stores findings.
type FindingService interface {
	// CreateFindings stores findings of a case in one transaction.
	CreateFindings(ctx context.Context, caseID int64, fs []*Finding) error
	// FindFindings returns a case's findings, worst first.
	FindFindings(ctx context.Context, caseID int64) ([]*Finding, error)
}
