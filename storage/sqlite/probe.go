package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/storage/internal/sqlrow"
)

// Ensure the service implements the interface.
var _ vpndiag.ProbeService = (*ProbeService)(nil)

// ProbeService stores probe results and keep-alive samples in SQLite.
type ProbeService struct {
	db *DB
}

// NewProbeService returns a ProbeService on db.
func NewProbeService(db *DB) *ProbeService {
	return &ProbeService{db: db}
}

// CreateProbeResult stores r. A result whose ID is stored already is
// ignored (nil error), so relays may deliver at least once. CaseID 0 stores
// an ad hoc result that belongs to no case.
func (s *ProbeService) CreateProbeResult(ctx context.Context, r *vpndiag.ProbeResult) error {
	return s.db.write(ctx, func(tx *Tx) error {
		if err := createProbeResult(ctx, tx, r); err != nil {
			return fmt.Errorf("create probe result: %w", err)
		}
		return nil
	})
}

// FindProbeResults returns a case's results, oldest first; caseID 0 lists
// the ad hoc results.
func (s *ProbeService) FindProbeResults(ctx context.Context, caseID int64) ([]*vpndiag.ProbeResult, error) {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	rs, err := findProbeResults(ctx, tx, caseID)
	if err != nil {
		return nil, fmt.Errorf("find probe results: %w", err)
	}
	return rs, nil
}

// AddKeepaliveSamples stores samples of a case's monitors in one transaction.
func (s *ProbeService) AddKeepaliveSamples(ctx context.Context, caseID int64, samples []vpndiag.KeepaliveSample) error {
	return s.db.write(ctx, func(tx *Tx) error {
		if err := addKeepaliveSamples(ctx, tx, caseID, samples); err != nil {
			return fmt.Errorf("add keepalive samples: %w", err)
		}
		return nil
	})
}

// FindKeepaliveSamples returns a case's samples, oldest first.
func (s *ProbeService) FindKeepaliveSamples(ctx context.Context, caseID int64) ([]vpndiag.KeepaliveSample, error) {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	ss, err := findKeepaliveSamples(ctx, tx, caseID)
	if err != nil {
		return nil, fmt.Errorf("find keepalive samples: %w", err)
	}
	return ss, nil
}

// createProbeResult inserts r unless its ID is stored already.
func createProbeResult(ctx context.Context, tx *Tx, r *vpndiag.ProbeResult) error {
	if err := sqlrow.ValidateProbeResult(r); err != nil {
		return err
	}
	if r.CaseID != 0 {
		if err := requireCase(ctx, tx, r.CaseID); err != nil {
			return err
		}
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO probe_results (`+sqlrow.ProbeResultColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
		r.ID, sqlrow.NullID(r.CaseID), string(r.Kind), r.Target, string(r.Outcome), r.Summary,
		sqlrow.NullJSON(r.Detail), r.Error, r.Relay, formatTime(r.StartedAt), int64(r.Duration))
	return err
}

// findProbeResults returns a case's results (ad hoc ones for caseID 0) by
// start time, then arrival.
func findProbeResults(ctx context.Context, tx *Tx, caseID int64) ([]*vpndiag.ProbeResult, error) {
	rows, err := tx.QueryContext(ctx, `SELECT `+sqlrow.ProbeResultColumns+` FROM probe_results
		WHERE case_id IS ? ORDER BY started_at, rowid`, sqlrow.NullID(caseID))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return sqlrow.Collect(rows, sqlrow.ScanProbeResult)
}

// addKeepaliveSamples inserts samples for caseID.
func addKeepaliveSamples(ctx context.Context, tx *Tx, caseID int64, samples []vpndiag.KeepaliveSample) error {
	if err := requireCase(ctx, tx, caseID); err != nil {
		return err
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM keepalive_samples WHERE case_id = ?`, caseID).Scan(&n); err != nil {
		return err
	}
	if err := sqlrow.KeepaliveCap(caseID, n, len(samples)); err != nil {
		return err
	}
	for _, s := range samples {
		if _, err := tx.ExecContext(ctx, `INSERT INTO keepalive_samples (case_id, monitor, time, ok, rtt_ns)
			VALUES (?, ?, ?, ?, ?)`, caseID, s.Monitor, formatTime(s.Time), s.OK, int64(s.RTT)); err != nil {
			return err
		}
	}
	return nil
}

// findKeepaliveSamples returns a case's samples by time, then arrival.
func findKeepaliveSamples(ctx context.Context, tx *Tx, caseID int64) ([]vpndiag.KeepaliveSample, error) {
	rows, err := tx.QueryContext(ctx, `SELECT `+sqlrow.KeepaliveColumns+` FROM keepalive_samples
		WHERE case_id = ? ORDER BY time, id`, caseID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return sqlrow.Collect(rows, sqlrow.ScanKeepalive)
}
