package evidence

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/evidence/redact"
	"github.com/vpndiag/vpndiag/internal/ctxio"
)

// Service attaches files to cases: it checks, redacts, analyses and stores
// them with their findings and an evidence.added event.
type Service struct {
	// Evidence stores the redacted content with its findings and event,
	// in one transaction.
	Evidence vpndiag.EvidenceService
	// MaxBytes caps an upload; DefaultMaxBytes when 0.
	MaxBytes int64
	// Redact chooses optional obfuscation of public addresses and names.
	Redact redact.Options
}

// Attach reads a file of a case and stores its redacted content, its
// findings (with the stored evidence's ID in their references) and an
// evidence.added event in one transaction: all of it, or nothing and an
// error. A file that is too large, empty or binary is refused with a clear
// error and nothing is stored. A configuration is also checked together
// with the case's earlier logs and a log with its earlier configurations
// (as `vpndiag analyze` checks files given together); what only the pair
// shows is stored with the new file. site may be nil. The report is returned with the
// findings as stored.
//
// The upload is read once, into a temporary file (size cap and SHA-256 on
// the way), so that memory stays bounded whatever its size: the head is
// sniffed once, the redactor learns every secret in a first pass, and the
// second pass redacts, detects once, analyses and writes the redacted
// content to a second temporary file, which the store compresses.
func (s *Service) Attach(ctx context.Context, caseID int64, name string, r io.Reader, actor string, site *vpndiag.Site) (*Report, error) {
	max := s.MaxBytes
	if max <= 0 {
		max = DefaultMaxBytes
	}
	base := redact.FileName(name)
	if base == "." || base == "/" || base == "" {
		base = "upload.txt"
	}
	up, err := spool(ctx, r, max)
	if up != nil {
		defer up.close()
	}
	if errors.Is(err, errTooLarge) {
		return nil, vpndiag.Errorf(vpndiag.ETOOLARGE, "File %q is larger than the %s limit; nothing was stored.", base, sizeText(max))
	}
	if err != nil {
		return nil, fmt.Errorf("evidence: read upload: %w", err)
	}
	head := make([]byte, min(up.size, headSize))
	if _, err := up.f.ReadAt(head, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("evidence: read upload: %w", err)
	}
	if len(bytes.TrimSpace(head)) == 0 {
		return nil, vpndiag.Errorf(vpndiag.EINVALID, "File %q is empty; nothing was stored.", base)
	}
	bin, enc := sniff(head)
	if bin != "" {
		return nil, vpndiag.Errorf(vpndiag.EINVALID, "File %q is %s, not text; nothing was stored. Attach device configurations or logs as text.", base, bin)
	}
	// Two passes: the first learns every secret, so that the second also
	// replaces one that is echoed before the line that defines it.
	red := redact.New(s.Redact)
	if err := red.Learn(decoder(up.section(), enc)); err != nil {
		return nil, fmt.Errorf("evidence: redact: %w", err)
	}
	out, err := os.CreateTemp("", "vpndiag-redacted-*.txt")
	if err != nil {
		return nil, fmt.Errorf("evidence: temporary file: %w", err)
	}
	defer os.Remove(out.Name())
	defer out.Close()
	rep := newReport(base)
	rep.Size = up.size
	if err := analyzeText(ctx, rep, up.section(), enc, site, Options{Redactor: red, Redacted: out, MaxConfigBytes: DefaultMaxParseBytes}); err != nil {
		return nil, err
	}
	cross, err := s.crossCheck(ctx, caseID, rep)
	if err != nil {
		return nil, err
	}
	rep.Findings = append(rep.Findings, cross...)
	sortFindings(rep.Findings)
	for _, f := range rep.Findings {
		f.CaseID = caseID
	}
	var codes []string
	for _, f := range rep.Findings {
		codes = append(codes, f.Code)
	}
	data, err := json.Marshal(map[string]any{
		"name": base, "kind": rep.Kind, "format": rep.Format,
		"redactions": rep.Redactions, "findings": codes,
	})
	if err != nil {
		return nil, fmt.Errorf("evidence: event data: %w", err)
	}
	e := &vpndiag.Evidence{
		CaseID:         caseID,
		Name:           base,
		Kind:           rep.Kind,
		MediaType:      "text/plain; charset=utf-8",
		Vendor:         rep.Format,
		OriginalSize:   up.size,
		OriginalSHA256: up.sha256,
		Redactions:     rep.Redactions,
		UploadedBy:     actor,
	}
	a := &vpndiag.Attachment{
		Evidence: e,
		Findings: rep.Findings,
		Event: &vpndiag.Event{CaseID: caseID, Actor: actor, Kind: vpndiag.EventEvidenceAdded, Data: data,
			Message: fmt.Sprintf("%s attached (%s, %d finding(s), %d secret(s) redacted)", base, orDash(rep.Format), len(rep.Findings), rep.Redactions)},
	}
	if _, err := out.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("evidence: %w", err)
	}
	if err := s.Evidence.AttachEvidence(ctx, a, out); err != nil {
		return nil, fmt.Errorf("evidence: store %s: %w", base, err)
	}
	return rep, nil
}

// crossChecked says which earlier files CrossCheck can pair a new file
// with: a configuration with logs, a log with configurations.
var crossChecked = map[vpndiag.EvidenceKind]vpndiag.EvidenceKind{
	vpndiag.EvidenceConfig: vpndiag.EvidenceLog,
	vpndiag.EvidenceLog:    vpndiag.EvidenceConfig,
}

// crossCheck analyses again the case's stored files that CrossCheck can
// pair with rep (they are stored redacted; logs are read in bounded
// memory) and returns what CrossCheck finds between them and rep.
// Findings about earlier files alone were stored with those files.
func (s *Service) crossCheck(ctx context.Context, caseID int64, rep *Report) ([]*vpndiag.Finding, error) {
	pair, ok := crossChecked[rep.Kind]
	if !ok {
		return nil, nil
	}
	stored, err := s.Evidence.FindEvidence(ctx, caseID)
	if err != nil {
		return nil, fmt.Errorf("evidence: cross-check: %w", err)
	}
	ids := map[string]int64{}
	reports := []*Report{}
	for _, e := range stored {
		if e.Kind != pair || e.Name == rep.Name {
			continue
		}
		other, err := s.reanalyze(ctx, e)
		if err != nil {
			return nil, err
		}
		ids[e.Name] = e.ID
		reports = append(reports, other)
	}
	if len(reports) == 0 {
		return nil, nil
	}
	var out []*vpndiag.Finding
	for _, f := range CrossCheck(append(reports, rep)) {
		involves := false
		for i, ref := range f.Evidence {
			if ref.Name == rep.Name {
				involves = true
			} else if id, ok := ids[ref.Name]; ok {
				f.Evidence[i].EvidenceID = id
			}
		}
		if involves {
			out = append(out, f)
		}
	}
	return out, nil
}

// reanalyze reads stored (redacted) evidence back through the analysis.
func (s *Service) reanalyze(ctx context.Context, e *vpndiag.Evidence) (*Report, error) {
	rc, err := s.Evidence.OpenEvidence(ctx, e.ID)
	if err != nil {
		return nil, fmt.Errorf("evidence: cross-check %s: %w", e.Name, err)
	}
	defer rc.Close()
	rep, err := AnalyzeWith(ctx, e.Name, rc, nil, Options{})
	if err != nil {
		return nil, fmt.Errorf("evidence: cross-check %s: %w", e.Name, err)
	}
	return rep, nil
}

var errTooLarge = errors.New("upload over the size limit")

// upload is a file read once into a temporary file.
type upload struct {
	f      *os.File
	size   int64
	sha256 string
}

// spool copies r into a temporary file, hashing it, and stops with
// errTooLarge past max bytes.
func spool(ctx context.Context, r io.Reader, max int64) (*upload, error) {
	f, err := os.CreateTemp("", "vpndiag-upload-*")
	if err != nil {
		return nil, err
	}
	up := &upload{f: f}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(ctxio.Reader(ctx, r), max+1))
	if err != nil {
		return up, err
	}
	if n > max {
		return up, errTooLarge
	}
	up.size, up.sha256 = n, hex.EncodeToString(h.Sum(nil))
	return up, nil
}

// section reads the spooled upload from its start.
func (u *upload) section() io.Reader { return io.NewSectionReader(u.f, 0, u.size) }

func (u *upload) close() {
	u.f.Close()
	os.Remove(u.f.Name())
}

func sizeText(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}
