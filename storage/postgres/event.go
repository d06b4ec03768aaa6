package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/storage/internal/sqlrow"
)

// Ensure the service implements the interface.
var _ vpndiag.EventService = (*EventService)(nil)

// EventService stores the case timeline in PostgreSQL.
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
	tx, err := s.db.BeginTx(ctx, pgx.TxOptions{})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := appendEvent(ctx, tx, e); err != nil {
		return fmt.Errorf("append event: %w", err)
	}
	return tx.Commit()
}

// FindEvents returns a case's events in Seq order; ENOTFOUND when the case
// does not exist.
func (s *EventService) FindEvents(ctx context.Context, caseID int64) ([]*vpndiag.Event, error) {
	tx, err := s.db.BeginTx(ctx, readOnly)
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

// appendEvent inserts e with the case's next seq. Incrementing
// cases.event_seq takes the case's row lock, so two replicas appending to
// one case wait for each other instead of racing for the same seq; a
// missing case is ENOTFOUND.
func appendEvent(ctx context.Context, tx *Tx, e *vpndiag.Event) error {
	if err := sqlrow.ValidateEvent(e); err != nil {
		return err
	}
	if e.Time.IsZero() {
		e.Time = tx.now
	}
	e.Time = micro(e.Time)
	err := tx.QueryRow(ctx, `UPDATE cases SET event_seq = event_seq + 1 WHERE id = $1 RETURNING event_seq`,
		e.CaseID).Scan(&e.Seq)
	if errors.Is(err, pgx.ErrNoRows) {
		return sqlrow.CaseNotFound(e.CaseID)
	} else if err != nil {
		return runtimeError(err)
	}
	err = tx.QueryRow(ctx, `INSERT INTO events (case_id, seq, time, actor, kind, message, data)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
		e.CaseID, e.Seq, e.Time, e.Actor, e.Kind, e.Message, sqlrow.NullJSON(e.Data)).Scan(&e.ID)
	return runtimeError(err)
}

// findEvents returns a case's events in seq order.
func findEvents(ctx context.Context, tx *Tx, caseID int64) ([]*vpndiag.Event, error) {
	rows, err := tx.Query(ctx, `SELECT `+sqlrow.EventColumns+` FROM events WHERE case_id = $1 ORDER BY seq`, caseID)
	if err != nil {
		return nil, runtimeError(err)
	}
	defer rows.Close()
	es, err := sqlrow.Collect(rows, sqlrow.ScanEvent)
	return es, runtimeError(err)
}
