package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/storage/internal/sqlrow"
)

// Ensure the service implements the interface.
var _ vpndiag.ProbeService = (*ProbeService)(nil)

// ProbeService stores probe results and keep-alive samples in PostgreSQL.
type ProbeService struct {
	db *DB
}

// NewProbeService returns a ProbeService on db.
func NewProbeService(db *DB) *ProbeService {
	return &ProbeService{db: db}
}

// CreateProbeResult stores r. A result whose ID is stored already is
// ignored (nil error), so relays may deliver at least once, to any
// replica. CaseID 0 stores an ad hoc result that belongs to no case.
func (s *ProbeService) CreateProbeResult(ctx context.Context, r *vpndiag.ProbeResult) error {
	tx, err := s.db.BeginTx(ctx, pgx.TxOptions{})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := createProbeResult(ctx, tx, r); err != nil {
		return fmt.Errorf("create probe result: %w", err)
	}
	return tx.Commit()
}

// FindProbeResults returns a case's results, oldest first; caseID 0 lists
// the ad hoc results.
func (s *ProbeService) FindProbeResults(ctx context.Context, caseID int64) ([]*vpndiag.ProbeResult, error) {
	tx, err := s.db.BeginTx(ctx, readOnly)
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
	tx, err := s.db.BeginTx(ctx, pgx.TxOptions{})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := addKeepaliveSamples(ctx, tx, caseID, samples); err != nil {
		return fmt.Errorf("add keepalive samples: %w", err)
	}
	return tx.Commit()
}

// FindKeepaliveSamples returns a case's samples, oldest first.
func (s *ProbeService) FindKeepaliveSamples(ctx context.Context, caseID int64) ([]vpndiag.KeepaliveSample, error) {
	tx, err := s.db.BeginTx(ctx, readOnly)
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
	_, err := tx.exec(ctx, `INSERT INTO probe_results (`+sqlrow.ProbeResultColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (id) DO NOTHING`,
		r.ID, sqlrow.NullID(r.CaseID), string(r.Kind), r.Target, string(r.Outcome), r.Summary,
		sqlrow.NullJSON(r.Detail), r.Error, r.Relay, micro(r.StartedAt), int64(r.Duration))
	return err
}

// findProbeResults returns a case's results (ad hoc ones for caseID 0) by
// start time, then arrival.
func findProbeResults(ctx context.Context, tx *Tx, caseID int64) ([]*vpndiag.ProbeResult, error) {
	rows, err := tx.Query(ctx, `SELECT `+sqlrow.ProbeResultColumns+` FROM probe_results
		WHERE case_id IS NOT DISTINCT FROM $1 ORDER BY started_at, arrival`, sqlrow.NullID(caseID))
	if err != nil {
		return nil, runtimeError(err)
	}
	defer rows.Close()
	rs, err := sqlrow.Collect(rows, sqlrow.ScanProbeResult)
	return rs, runtimeError(err)
}

// addKeepaliveSamples inserts samples for caseID.
func addKeepaliveSamples(ctx context.Context, tx *Tx, caseID int64, samples []vpndiag.KeepaliveSample) error {
	// The case's row lock serialises batches of one case on every replica,
	// so two batches cannot both pass the cap.
	if err := lockCase(ctx, tx, caseID); err != nil {
		return err
	}
	var n int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM keepalive_samples WHERE case_id = $1`, caseID).Scan(&n); err != nil {
		return runtimeError(err)
	}
	if err := sqlrow.KeepaliveCap(caseID, n, len(samples)); err != nil {
		return err
	}
	rows := make([][]any, len(samples))
	for i, s := range samples {
		rows[i] = []any{caseID, s.Monitor, micro(s.Time), s.OK, int64(s.RTT)}
	}
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"keepalive_samples"},
		[]string{"case_id", "monitor", "time", "ok", "rtt_ns"}, pgx.CopyFromRows(rows))
	return runtimeError(err)
}

// findKeepaliveSamples returns a case's samples by time, then arrival.
func findKeepaliveSamples(ctx context.Context, tx *Tx, caseID int64) ([]vpndiag.KeepaliveSample, error) {
	rows, err := tx.Query(ctx, `SELECT `+sqlrow.KeepaliveColumns+` FROM keepalive_samples
		WHERE case_id = $1 ORDER BY time, id`, caseID)
	if err != nil {
		return nil, runtimeError(err)
	}
	defer rows.Close()
	ss, err := sqlrow.Collect(rows, sqlrow.ScanKeepalive)
	return ss, runtimeError(err)
}
