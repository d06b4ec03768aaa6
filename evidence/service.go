package evidence

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/evidence/redact"
)

// Service attaches files to cases: it checks, redacts, analyses and stores
// them with their findings and an evidence.added event.
type Service struct {
	// Evidence stores the redacted content.
	Evidence vpndiag.EvidenceService
	// Findings stores the findings.
	Findings vpndiag.FindingService
	// Events stores the timeline event.
	Events vpndiag.EventService
	// MaxBytes caps an upload; DefaultMaxBytes when 0.
	MaxBytes int64
	// Redact chooses optional obfuscation of public addresses and names.
	Redact redact.Options
}

// Attach reads a file of a case, refuses it when it is too large, empty or
// binary (storing nothing), and otherwise stores its redacted content, its
// findings (with the stored evidence's ID in their references) and an
// evidence.added event. site may be nil. The report is returned with the
// findings as stored.
func (s *Service) Attach(ctx context.Context, caseID int64, name string, r io.Reader, actor string, site *vpndiag.Site) (*Report, error) {
	max := s.MaxBytes
	if max <= 0 {
		max = DefaultMaxBytes
	}
	base := redact.FileName(name)
	if base == "." || base == "/" || base == "" {
		base = "upload.txt"
	}
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, fmt.Errorf("evidence: read upload: %w", err)
	}
	if int64(len(data)) > max {
		return nil, vpndiag.Errorf(vpndiag.ETOOLARGE, "File %q is larger than the %s limit; nothing was stored.", base, sizeText(max))
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, vpndiag.Errorf(vpndiag.EINVALID, "File %q is empty; nothing was stored.", base)
	}
	head := data
	if len(head) > headSize {
		head = head[:headSize]
	}
	if bin, _ := sniff(head); bin != "" {
		return nil, vpndiag.Errorf(vpndiag.EINVALID, "File %q is %s, not text; nothing was stored. Attach device configurations or logs as text.", base, bin)
	}
	// Two passes: the first learns every secret, so that the second also
	// replaces one that is echoed before the line that defines it.
	red := redact.New(s.Redact)
	_, enc := sniff(head)
	if err := red.Learn(decoder(bytes.NewReader(data), enc)); err != nil {
		return nil, fmt.Errorf("evidence: redact: %w", err)
	}
	var redacted bytes.Buffer
	rep, err := AnalyzeWith(ctx, base, bytes.NewReader(data), site, Options{Redactor: red, Redacted: &redacted, MaxConfigBytes: max})
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	e := &vpndiag.Evidence{
		CaseID:         caseID,
		Name:           base,
		Kind:           rep.Kind,
		MediaType:      "text/plain; charset=utf-8",
		Vendor:         rep.Format,
		OriginalSize:   int64(len(data)),
		OriginalSHA256: hex.EncodeToString(sum[:]),
		Redactions:     rep.Redactions,
		UploadedBy:     actor,
	}
	if err := s.Evidence.CreateEvidence(ctx, e, &redacted); err != nil {
		return nil, fmt.Errorf("evidence: store %s: %w", base, err)
	}
	for _, f := range rep.Findings {
		f.CaseID = caseID
		for i := range f.Evidence {
			if f.Evidence[i].Name == base {
				f.Evidence[i].EvidenceID = e.ID
			}
		}
	}
	if len(rep.Findings) > 0 {
		if err := s.Findings.CreateFindings(ctx, caseID, rep.Findings); err != nil {
			return nil, fmt.Errorf("evidence: store findings of %s: %w", base, err)
		}
	}
	var codes []string
	for _, f := range rep.Findings {
		codes = append(codes, f.Code)
	}
	data2, err := json.Marshal(map[string]any{
		"evidence_id": e.ID, "name": base, "kind": rep.Kind, "format": rep.Format,
		"redactions": rep.Redactions, "findings": codes,
	})
	if err != nil {
		return nil, fmt.Errorf("evidence: event data: %w", err)
	}
	msg := fmt.Sprintf("%s attached (%s, %d finding(s), %d secret(s) redacted)", base, orDash(rep.Format), len(rep.Findings), rep.Redactions)
	if err := s.Events.AppendEvent(ctx, &vpndiag.Event{CaseID: caseID, Actor: actor, Kind: vpndiag.EventEvidenceAdded, Message: msg, Data: data2}); err != nil {
		return nil, fmt.Errorf("evidence: event for %s: %w", base, err)
	}
	return rep, nil
}

func sizeText(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}
