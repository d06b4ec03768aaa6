package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/storage/internal/sqlrow"
)

// Ensure the service implements the interface.
var _ vpndiag.FindingService = (*FindingService)(nil)

// FindingService stores findings in SQLite.
type FindingService struct {
	db *DB
}

// NewFindingService returns a FindingService on db.
func NewFindingService(db *DB) *FindingService {
	return &FindingService{db: db}
}

// CreateFindings stores a case's findings in one transaction, setting each
// one's ID, CaseID and CreatedAt.
func (s *FindingService) CreateFindings(ctx context.Context, caseID int64, fs []*vpndiag.Finding) error {
	return s.db.write(ctx, func(tx *Tx) error {
		if err := createFindings(ctx, tx, caseID, fs); err != nil {
			return fmt.Errorf("create findings: %w", err)
		}
		return nil
	})
}

// FindFindings returns a case's findings, worst severity first, then in the
// order stored.
func (s *FindingService) FindFindings(ctx context.Context, caseID int64) ([]*vpndiag.Finding, error) {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	fs, err := findFindings(ctx, tx, caseID)
	if err != nil {
		return nil, fmt.Errorf("find findings: %w", err)
	}
	return fs, nil
}

// createFindings inserts fs for caseID.
func createFindings(ctx context.Context, tx *Tx, caseID int64, fs []*vpndiag.Finding) error {
	if err := requireCase(ctx, tx, caseID); err != nil {
		return err
	}
	for _, f := range fs {
		refs, err := sqlrow.PrepareFinding(f)
		if err != nil {
			return err
		}
		f.CaseID, f.CreatedAt = caseID, tx.now
		res, err := tx.ExecContext(ctx, `INSERT INTO findings (case_id, code, severity, severity_rank, summary,
			detail, fix, kb_article, evidence, source, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			caseID, f.Code, string(f.Severity), f.Severity.Rank(), f.Summary,
			f.Detail, f.Fix, f.KBArticle, refs, f.Source, formatTime(f.CreatedAt))
		if err != nil {
			return err
		}
		if f.ID, err = res.LastInsertId(); err != nil {
			return err
		}
	}
	return nil
}

// findFindings returns a case's findings, worst first, then by ID.
func findFindings(ctx context.Context, tx *Tx, caseID int64) ([]*vpndiag.Finding, error) {
	rows, err := tx.QueryContext(ctx, `SELECT `+sqlrow.FindingColumns+` FROM findings WHERE case_id = ?
		ORDER BY severity_rank DESC, id`, caseID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return sqlrow.Collect(rows, sqlrow.ScanFinding)
}
