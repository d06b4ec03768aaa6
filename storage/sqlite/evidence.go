package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"io"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/storage/internal/deflate"
	"github.com/vpndiag/vpndiag/storage/internal/sqlrow"
)

// Ensure the service implements the interface.
var _ vpndiag.EvidenceService = (*EvidenceService)(nil)

// EvidenceService stores redacted evidence in SQLite as a raw DEFLATE stream
// split into ChunkSize rows. Writing and reading use bounded memory whatever
// the file size.
type EvidenceService struct {
	db *DB
}

// NewEvidenceService returns an EvidenceService on db.
func NewEvidenceService(db *DB) *EvidenceService {
	return &EvidenceService{db: db}
}

// CreateEvidence stores e with the redacted content read from r: it is
// AttachEvidence with no findings and no event.
func (s *EvidenceService) CreateEvidence(ctx context.Context, e *vpndiag.Evidence, r io.Reader) error {
	return s.AttachEvidence(ctx, &vpndiag.Attachment{Evidence: e}, r)
}

// AttachEvidence stores a's evidence, its content read from r, its
// findings and its event in one write transaction (shared with the writes
// queued at the same moment, under a savepoint of its own, as every write
// is). The content is first compressed into a temporary file while Size,
// SHA256, CRC32 and CompressedSize are computed, so that the transaction
// only copies the compressed chunks; content over the size cap fails with
// ETOOLARGE and stores nothing. Memory stays bounded whatever the size.
func (s *EvidenceService) AttachEvidence(ctx context.Context, a *vpndiag.Attachment, r io.Reader) error {
	tmp, cleanup, err := deflate.Spool(ctx, a.Evidence, r, deflate.Cap(s.db.MaxEvidenceBytes),
		func(caseID int64) error { return s.checkCase(ctx, caseID) })
	if err != nil {
		return fmt.Errorf("attach evidence: %w", err)
	}
	defer cleanup()
	return s.db.write(ctx, func(tx *Tx) error {
		if err := sqlrow.Attach(writer{ctx, tx}, a, tmp); err != nil {
			return fmt.Errorf("attach evidence: %w", err)
		}
		return nil
	})
}

// FindEvidenceByID returns the evidence with id, without content, or
// ENOTFOUND.
func (s *EvidenceService) FindEvidenceByID(ctx context.Context, id int64) (*vpndiag.Evidence, error) {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	e, err := findEvidenceByID(ctx, tx, id)
	if err != nil {
		return nil, fmt.Errorf("find evidence: %w", err)
	}
	return e, nil
}

// FindEvidence returns a case's evidence, oldest first, without content.
func (s *EvidenceService) FindEvidence(ctx context.Context, caseID int64) ([]*vpndiag.Evidence, error) {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	es, err := findEvidence(ctx, tx, "WHERE case_id = ?", caseID)
	if err != nil {
		return nil, fmt.Errorf("find evidence: %w", err)
	}
	return es, nil
}

// OpenEvidence streams the redacted content of evidence id. The reader
// checks the size and CRC-32 at the end and fails if they differ from what
// was stored.
func (s *EvidenceService) OpenEvidence(ctx context.Context, id int64) (io.ReadCloser, error) {
	e, err := s.FindEvidenceByID(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("open evidence: %w", err)
	}
	return deflate.NewReader(deflate.NewChunkReader(e, s.loadChunk(ctx, id)), e), nil
}

// OpenEvidenceRaw streams the stored raw DEFLATE stream (RFC 1951) of
// evidence id, one chunk in memory at a time.
func (s *EvidenceService) OpenEvidenceRaw(ctx context.Context, id int64) (io.ReadCloser, error) {
	e, err := s.FindEvidenceByID(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("open evidence: %w", err)
	}
	return deflate.NewChunkReader(e, s.loadChunk(ctx, id)), nil
}

// loadChunk reads chunk n of evidence id with a query of its own, outside
// any transaction: evidence is never changed once stored.
func (s *EvidenceService) loadChunk(ctx context.Context, id int64) deflate.LoadChunk {
	return func(n int, buf []byte) ([]byte, bool, error) {
		rows, err := s.db.db.QueryContext(ctx, `SELECT data FROM evidence_chunks WHERE evidence_id = ? AND n = ?`, id, n)
		if err != nil {
			return nil, false, err
		}
		defer rows.Close()
		ok := rows.Next()
		if ok {
			var data sql.RawBytes
			if err := rows.Scan(&data); err != nil {
				return nil, false, err
			}
			buf = append(buf, data...)
		}
		if err := rows.Err(); err != nil {
			return nil, false, err
		}
		return buf, ok, rows.Close()
	}
}

// checkCase returns ENOTFOUND unless the case exists, before an upload is
// read.
func (s *EvidenceService) checkCase(ctx context.Context, caseID int64) error {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	return requireCase(ctx, tx, caseID)
}

// createEvidence inserts e and the compressed stream read from r in chunks.
func createEvidence(ctx context.Context, tx *Tx, e *vpndiag.Evidence, r io.Reader) error {
	if err := requireCase(ctx, tx, e.CaseID); err != nil {
		return err
	}
	e.CreatedAt = tx.now
	res, err := tx.ExecContext(ctx, `INSERT INTO evidence (case_id, name, kind, media_type, vendor, size, sha256,
		original_size, original_sha256, redactions, crc32, compressed_size, uploaded_by, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.CaseID, e.Name, string(e.Kind), e.MediaType, e.Vendor, e.Size, e.SHA256,
		e.OriginalSize, e.OriginalSHA256, e.Redactions, int64(e.CRC32), e.CompressedSize, e.UploadedBy,
		formatTime(e.CreatedAt))
	if err != nil {
		return err
	}
	if e.ID, err = res.LastInsertId(); err != nil {
		return err
	}
	return deflate.WriteChunks(r, ChunkSize, func(n int, data []byte) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO evidence_chunks (evidence_id, n, data) VALUES (?, ?, ?)`, e.ID, n, data)
		return err
	})
}

// findEvidenceByID returns evidence id, or ENOTFOUND.
func findEvidenceByID(ctx context.Context, tx *Tx, id int64) (*vpndiag.Evidence, error) {
	es, err := findEvidence(ctx, tx, "WHERE id = ?", id)
	if err != nil {
		return nil, err
	} else if len(es) == 0 {
		return nil, sqlrow.EvidenceNotFound(id)
	}
	return es[0], nil
}

// findEvidence returns the evidence matching the where clause, by ID.
func findEvidence(ctx context.Context, tx *Tx, where string, args ...any) ([]*vpndiag.Evidence, error) {
	rows, err := tx.QueryContext(ctx, `SELECT `+sqlrow.EvidenceColumns+` FROM evidence `+where+` ORDER BY id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return sqlrow.Collect(rows, sqlrow.ScanEvidence)
}
