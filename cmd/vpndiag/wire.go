package main

import (
	"context"
	"fmt"
	"io"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/evidence"
	"github.com/vpndiag/vpndiag/storage/sqlite"
)

// evidenceIntake attaches files to cases: redaction, analysis against the
// case's site profile, storage of the redacted content, findings and an
// event. Both the Slack bot and the terminal runner use it.
type evidenceIntake struct {
	svc   *evidence.Service
	cases vpndiag.CaseService
	sites vpndiag.SiteService
}

// newEvidenceIntake wires evidence analysis to the store.
func newEvidenceIntake(db *sqlite.DB, maxBytes int64) *evidenceIntake {
	return &evidenceIntake{
		svc:   &evidence.Service{Evidence: sqlite.NewEvidenceService(db), MaxBytes: maxBytes},
		cases: sqlite.NewCaseService(db),
		sites: sqlite.NewSiteService(db),
	}
}

// attach stores the file for caseID and returns the analysis report.
func (e *evidenceIntake) attach(ctx context.Context, caseID int64, name string, r io.Reader, actor string) (*evidence.Report, error) {
	c, err := e.cases.FindCaseByID(ctx, caseID)
	if err != nil {
		return nil, err
	}
	var site *vpndiag.Site
	if c.SiteID != 0 {
		if site, err = e.sites.FindSiteByID(ctx, c.SiteID); err != nil {
			return nil, err
		}
	}
	return e.svc.Attach(ctx, caseID, name, r, actor, site)
}

// Attach implements bot.EvidenceIntake: a one-line summary for the thread.
func (e *evidenceIntake) Attach(ctx context.Context, caseID int64, name string, r io.Reader, actor string) (string, []*vpndiag.Finding, error) {
	rep, err := e.attach(ctx, caseID, name, r, actor)
	if err != nil {
		return "", nil, err
	}
	return reportLine(rep), rep.Findings, nil
}

// reportLine says in one line what a file was and what was found.
func reportLine(rep *evidence.Report) string {
	line := fmt.Sprintf("%s: %s, %d finding(s), %d secret(s) redacted", rep.Name, orUnknown(rep.Format), len(rep.Findings), rep.Redactions)
	if len(rep.Findings) > 0 {
		line += "; worst: " + rep.Findings[0].Summary
	}
	return line
}

// orUnknown names a detected format, or says none was recognised.
func orUnknown(format string) string {
	if format == "" {
		return "not a format vpndiag recognises"
	}
	return format
}
