// Package bot holds the chat-ops logic that does not depend on a chat
// platform: the /vpn-diagnose command grammar, the action IDs carried by
// buttons, who may do what, per-case serialisation and the bounded worker
// pool, and the small interfaces through which a bot hands files to evidence
// analysis and asks for a support bundle. Package bot/slack implements the
// Slack transport on top of it.
package bot

import (
	"context"
	"io"

	"github.com/vpndiag/vpndiag"
)

// EvidenceIntake analyses and stores a file a user attached to a case
// (package evidence provides it). The reader yields the file as uploaded; the
// implementation redacts secrets before anything is stored.
type EvidenceIntake interface {
	// Attach stores the file named name for caseID and returns a one-line
	// summary and the findings it produced. An *vpndiag.Error explains a
	// refusal (too large, not understood) in words safe to show the user.
	Attach(ctx context.Context, caseID int64, name string, r io.Reader, actor string) (summary string, findings []*vpndiag.Finding, err error)
}

// Exporter writes a case's support bundle (package bundle provides it).
type Exporter interface {
	// Export writes the bundle of caseID to w and returns the file name the
	// bundle should be given, e.g. "VPN-20261125-7KQ2.zip".
	Export(ctx context.Context, caseID int64, w io.Writer) (filename string, err error)
}

// EvidenceFunc adapts a function to EvidenceIntake.
type EvidenceFunc func(ctx context.Context, caseID int64, name string, r io.Reader, actor string) (string, []*vpndiag.Finding, error)

// Attach calls f.
func (f EvidenceFunc) Attach(ctx context.Context, caseID int64, name string, r io.Reader, actor string) (string, []*vpndiag.Finding, error) {
	return f(ctx, caseID, name, r, actor)
}

// ExportFunc adapts a function to Exporter.
type ExportFunc func(ctx context.Context, caseID int64, w io.Writer) (string, error)

// Export calls f.
func (f ExportFunc) Export(ctx context.Context, caseID int64, w io.Writer) (string, error) {
	return f(ctx, caseID, w)
}
