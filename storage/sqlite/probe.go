package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/vpndiag/vpndiag"
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
	if r.ID == "" {
		return vpndiag.Errorf(vpndiag.EINVALID, "A probe result needs the job ID.")
	}
	if r.Detail != nil && !json.Valid(r.Detail) {
		return vpndiag.Errorf(vpndiag.EINVALID, "Probe result %s: detail is not valid JSON.", r.ID)
	}
	if r.CaseID != 0 {
		if err := requireCase(ctx, tx, r.CaseID); err != nil {
			return err
		}
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO probe_results (id, case_id, kind, target, outcome, summary,
		detail, error, relay, started_at, duration_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO NOTHING`,
		r.ID, nullID(r.CaseID), string(r.Kind), r.Target, string(r.Outcome), r.Summary,
		nullBytes(r.Detail), r.Error, r.Relay, formatTime(r.StartedAt), int64(r.Duration))
	return err
}

// findProbeResults returns a case's results (ad hoc ones for caseID 0) by
// start time, then arrival.
func findProbeResults(ctx context.Context, tx *Tx, caseID int64) ([]*vpndiag.ProbeResult, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, case_id, kind, target, outcome, summary, detail, error, relay,
		started_at, duration_ns FROM probe_results WHERE case_id IS ? ORDER BY started_at, rowid`, nullID(caseID))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	rs := []*vpndiag.ProbeResult{}
	for rows.Next() {
		var r vpndiag.ProbeResult
		var cid sql.NullInt64
		var detail sql.NullString
		var startedAt string
		var dur int64
		if err := rows.Scan(&r.ID, &cid, &r.Kind, &r.Target, &r.Outcome, &r.Summary, &detail, &r.Error, &r.Relay,
			&startedAt, &dur); err != nil {
			return nil, err
		}
		r.CaseID, r.Duration = cid.Int64, time.Duration(dur)
		if detail.Valid {
			r.Detail = json.RawMessage(detail.String)
		}
		if r.StartedAt, err = parseTime(startedAt); err != nil {
			return nil, err
		}
		rs = append(rs, &r)
	}
	return rs, rows.Err()
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
	if n+len(samples) > vpndiag.MaxKeepaliveSamplesPerCase {
		return vpndiag.Errorf(vpndiag.ETOOLARGE, "Case %d holds %d keep-alive samples; %d more would pass the cap of %d.", caseID, n, len(samples), vpndiag.MaxKeepaliveSamplesPerCase)
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
	rows, err := tx.QueryContext(ctx, `SELECT monitor, time, ok, rtt_ns FROM keepalive_samples
		WHERE case_id = ? ORDER BY time, id`, caseID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	ss := []vpndiag.KeepaliveSample{}
	for rows.Next() {
		var s vpndiag.KeepaliveSample
		var t string
		var rtt int64
		if err := rows.Scan(&s.Monitor, &t, &s.OK, &rtt); err != nil {
			return nil, err
		}
		s.RTT = time.Duration(rtt)
		if s.Time, err = parseTime(t); err != nil {
			return nil, err
		}
		ss = append(ss, s)
	}
	return ss, rows.Err()
}
