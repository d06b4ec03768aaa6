package postgres

import (
	"context"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/storage/internal/deflate"
	"github.com/vpndiag/vpndiag/storage/internal/sqlrow"
)

// Ensure the service implements the interface.
var _ vpndiag.EvidenceService = (*EvidenceService)(nil)

// EvidenceService stores redacted evidence in PostgreSQL as a raw DEFLATE
// stream split into ChunkSize bytea rows, the same layout as the SQLite
// store, so that writing and reading use bounded memory and a bundle copies
// the stream without recompressing.
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
// findings and its event in one transaction: all of it or nothing. The
// content is compressed into a temporary file first (so a slow upload holds
// no transaction open), ETOOLARGE over the cap with nothing stored; the
// transaction then copies the chunks, and appending the event takes the
// case's row lock as every write of a case does.
func (s *EvidenceService) AttachEvidence(ctx context.Context, a *vpndiag.Attachment, r io.Reader) error {
	tmp, cleanup, err := deflate.Spool(ctx, a.Evidence, r, deflate.Cap(s.db.MaxEvidenceBytes),
		func(caseID int64) error { return s.checkCase(ctx, caseID) })
	if err != nil {
		return fmt.Errorf("attach evidence: %w", err)
	}
	defer cleanup()

	tx, err := s.db.BeginTx(ctx, pgx.TxOptions{})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := sqlrow.Attach(writer{ctx, tx}, a, tmp); err != nil {
		return fmt.Errorf("attach evidence: %w", err)
	}
	return tx.Commit()
}

// FindEvidenceByID returns the evidence with id, without content, or
// ENOTFOUND.
func (s *EvidenceService) FindEvidenceByID(ctx context.Context, id int64) (*vpndiag.Evidence, error) {
	tx, err := s.db.BeginTx(ctx, readOnly)
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
	tx, err := s.db.BeginTx(ctx, readOnly)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	es, err := findEvidence(ctx, tx, "WHERE case_id = $1", caseID)
	if err != nil {
		return nil, fmt.Errorf("find evidence: %w", err)
	}
	return es, nil
}

// OpenEvidence streams the redacted content of evidence id, checking its
// size and CRC-32 at the end.
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

// loadChunk reads chunk n of evidence id with a query of its own on the
// pool, so that no connection stays checked out while a caller streams.
func (s *EvidenceService) loadChunk(ctx context.Context, id int64) deflate.LoadChunk {
	return func(n int, buf []byte) ([]byte, bool, error) {
		rows, err := s.db.pool.Query(ctx, `SELECT data FROM evidence_chunks WHERE evidence_id = $1 AND n = $2`, id, n)
		if err != nil {
			return nil, false, runtimeError(err)
		}
		defer rows.Close()
		ok := rows.Next()
		if ok {
			// DriverBytes points into the connection's read buffer: copy it
			// into buf before the next row.
			var data pgtype.DriverBytes
			if err := rows.Scan(&data); err != nil {
				return nil, false, err
			}
			buf = append(buf, data...)
		}
		rows.Close()
		return buf, ok, runtimeError(rows.Err())
	}
}

// checkCase returns ENOTFOUND unless the case exists, before an upload is
// read.
func (s *EvidenceService) checkCase(ctx context.Context, caseID int64) error {
	tx, err := s.db.BeginTx(ctx, readOnly)
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
	if err := tx.QueryRow(ctx, `INSERT INTO evidence (case_id, name, kind, media_type, vendor, size, sha256,
		original_size, original_sha256, redactions, crc32, compressed_size, uploaded_by, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id`,
		e.CaseID, e.Name, string(e.Kind), e.MediaType, e.Vendor, e.Size, e.SHA256,
		e.OriginalSize, e.OriginalSHA256, e.Redactions, int64(e.CRC32), e.CompressedSize, e.UploadedBy,
		e.CreatedAt).Scan(&e.ID); err != nil {
		return runtimeError(err)
	}
	return deflate.WriteChunks(r, ChunkSize, func(n int, data []byte) error {
		_, err := tx.exec(ctx, `INSERT INTO evidence_chunks (evidence_id, n, data) VALUES ($1, $2, $3)`, e.ID, n, data)
		return err
	})
}

// findEvidenceByID returns evidence id, or ENOTFOUND.
func findEvidenceByID(ctx context.Context, tx *Tx, id int64) (*vpndiag.Evidence, error) {
	es, err := findEvidence(ctx, tx, "WHERE id = $1", id)
	if err != nil {
		return nil, err
	} else if len(es) == 0 {
		return nil, sqlrow.EvidenceNotFound(id)
	}
	return es[0], nil
}

// findEvidence returns the evidence matching the where clause, by ID.
func findEvidence(ctx context.Context, tx *Tx, where string, args ...any) ([]*vpndiag.Evidence, error) {
	rows, err := tx.Query(ctx, `SELECT `+sqlrow.EvidenceColumns+` FROM evidence `+where+` ORDER BY id`, args...)
	if err != nil {
		return nil, runtimeError(err)
	}
	defer rows.Close()
	es, err := sqlrow.Collect(rows, sqlrow.ScanEvidence)
	return es, runtimeError(err)
}
