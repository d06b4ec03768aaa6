package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/storage/internal/sqlrow"
)

// Ensure the service implements the interface.
var _ vpndiag.EventService = (*EventService)(nil)

// EventService stores the case timeline in SQLite.
type EventService struct {
	db *DB
}

// NewEventService returns an EventService on db.
func NewEventService(db *DB) *EventService {
	return &EventService{db: db}
}

// AppendEvent stores e, setting ID, Seq (the case's next) and, when zero,
// Time.
func (s *EventService) AppendEvent(ctx context.Context, e *vpndiag.Event) error {
	return s.db.write(ctx, func(tx *Tx) error {
		if err := requireCase(ctx, tx, e.CaseID); err != nil {
			return fmt.Errorf("append event: %w", err)
		}
		if err := appendEvent(ctx, tx, e); err != nil {
			return fmt.Errorf("append event: %w", err)
		}
		return nil
	})
}

// FindEvents returns a case's events in Seq order; ENOTFOUND when the case
// does not exist.
func (s *EventService) FindEvents(ctx context.Context, caseID int64) ([]*vpndiag.Event, error) {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	if err := requireCase(ctx, tx, caseID); err != nil {
		return nil, fmt.Errorf("find events: %w", err)
	}
	es, err := findEvents(ctx, tx, caseID)
	if err != nil {
		return nil, fmt.Errorf("find events: %w", err)
	}
	return es, nil
}

// appendEvent inserts e with the case's next seq. The caller holds the
// write lock (every read-write Tx does), so max+1 cannot race.
func appendEvent(ctx context.Context, tx *Tx, e *vpndiag.Event) error {
	if err := sqlrow.ValidateEvent(e); err != nil {
		return err
	}
	if e.Time.IsZero() {
		e.Time = tx.now
	}
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) + 1 FROM events WHERE case_id = ?`,
		e.CaseID).Scan(&e.Seq); err != nil {
		return err
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO events (case_id, seq, time, actor, kind, message, data)
		VALUES (?, ?, ?, ?, ?, ?, ?)`,
		e.CaseID, e.Seq, formatTime(e.Time), e.Actor, e.Kind, e.Message, sqlrow.NullJSON(e.Data))
	if err != nil {
		return err
	}
	e.ID, err = res.LastInsertId()
	return err
}

// findEvents returns a case's events in seq order.
func findEvents(ctx context.Context, tx *Tx, caseID int64) ([]*vpndiag.Event, error) {
	rows, err := tx.QueryContext(ctx, `SELECT `+sqlrow.EventColumns+` FROM events WHERE case_id = ? ORDER BY seq`, caseID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return sqlrow.Collect(rows, sqlrow.ScanEvent)
}
