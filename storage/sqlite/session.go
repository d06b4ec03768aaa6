package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/storage/internal/sqlrow"
)

// Ensure the service implements the interface.
var _ vpndiag.SessionService = (*SessionService)(nil)

// SessionService stores flow sessions, answers and transitions in SQLite.
type SessionService struct {
	db *DB
}

// NewSessionService returns a SessionService on db.
func NewSessionService(db *DB) *SessionService {
	return &SessionService{db: db}
}

// FindSession returns the case's session, or ENOTFOUND.
func (s *SessionService) FindSession(ctx context.Context, caseID int64) (*vpndiag.Session, error) {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	sess, err := findSession(ctx, tx, caseID)
	if err != nil {
		return nil, fmt.Errorf("find session: %w", err)
	}
	return sess, nil
}

// CreateSession stores the first state of a case's session, setting
// UpdatedAt. ECONFLICT when the case has a session already.
func (s *SessionService) CreateSession(ctx context.Context, sess *vpndiag.Session) error {
	return s.db.write(ctx, func(tx *Tx) error {
		if err := createSession(ctx, tx, sess); err != nil {
			return fmt.Errorf("create session: %w", err)
		}
		return nil
	})
}

// StartSession stores a case's first session state, the events that start
// it and the case update upd (nil for none) with its "case.updated" event,
// in one write (one commit shared with the writes queued at the same
// moment). ECONFLICT when the case has a session already.
func (s *SessionService) StartSession(ctx context.Context, sess *vpndiag.Session, events []*vpndiag.Event, upd *vpndiag.CaseUpdate) error {
	return s.db.write(ctx, func(tx *Tx) error {
		if err := sqlrow.StartSession(writer{ctx, tx}, sess, events, upd); err != nil {
			return fmt.Errorf("start session: %w", err)
		}
		return nil
	})
}

// ApplyTransition stores t in one transaction: the session (with Seq
// FromSeq+1), the answer, the events (each with the case's next seq) and
// the case update. ECONFLICT ("This step is already done.") when the
// session is no longer at FromSeq or the idempotency key was seen before;
// then nothing changes. The case update appends no event of its own: the
// transition's events describe it.
func (s *SessionService) ApplyTransition(ctx context.Context, t *vpndiag.Transition) error {
	return s.db.write(ctx, func(tx *Tx) error {
		if err := applyTransition(ctx, tx, t); err != nil {
			return fmt.Errorf("apply transition: %w", err)
		}
		return nil
	})
}

// FindAnswers returns a case's answers in the order given.
func (s *SessionService) FindAnswers(ctx context.Context, caseID int64) ([]*vpndiag.Answer, error) {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	if err := requireCase(ctx, tx, caseID); err != nil {
		return nil, fmt.Errorf("find answers: %w", err)
	}
	as, err := findAnswers(ctx, tx, caseID)
	if err != nil {
		return nil, fmt.Errorf("find answers: %w", err)
	}
	return as, nil
}

// findSession returns the case's session, or ENOTFOUND.
func findSession(ctx context.Context, tx *Tx, caseID int64) (*vpndiag.Session, error) {
	sess, err := sqlrow.ScanSession(tx.QueryRowContext(ctx,
		`SELECT `+sqlrow.SessionColumns+` FROM sessions WHERE case_id = ?`, caseID))
	if errNoRows(err) {
		return nil, sqlrow.NoSession(caseID)
	}
	return sess, err
}

// createSession inserts sess.
func createSession(ctx context.Context, tx *Tx, sess *vpndiag.Session) error {
	if err := sqlrow.ValidateSession(sess); err != nil {
		return err
	}
	if err := requireCase(ctx, tx, sess.CaseID); err != nil {
		return err
	}
	vars, path, err := sqlrow.MarshalSession(sess)
	if err != nil {
		return err
	}
	sess.UpdatedAt = tx.now
	_, err = tx.ExecContext(ctx, `INSERT INTO sessions (`+sqlrow.SessionColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		sess.CaseID, sess.Flow, sess.FlowVersion, sess.State, sess.Seq, vars, path, formatTime(sess.UpdatedAt))
	if isUnique(err) {
		return vpndiag.Errorf(vpndiag.ECONFLICT, "Case %d already has a flow session.", sess.CaseID)
	}
	return err
}

// applyTransition writes t; see SessionService.ApplyTransition.
func applyTransition(ctx context.Context, tx *Tx, t *vpndiag.Transition) error {
	if err := sqlrow.ValidateTransition(t); err != nil {
		return err
	}
	var seq int
	err := tx.QueryRowContext(ctx, `SELECT seq FROM sessions WHERE case_id = ?`, t.CaseID).Scan(&seq)
	if errNoRows(err) {
		return sqlrow.NoSession(t.CaseID)
	} else if err != nil {
		return err
	}
	if t.IdempotencyKey != "" {
		res, err := tx.ExecContext(ctx, `INSERT INTO transition_keys (key, case_id, created_at) VALUES (?, ?, ?)
			ON CONFLICT (key) DO NOTHING`, t.IdempotencyKey, t.CaseID, formatTime(tx.now))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return sqlrow.StepDone()
		}
	}
	if seq != t.FromSeq {
		return sqlrow.StepDone()
	}

	sess := t.Session
	sess.CaseID, sess.Seq, sess.UpdatedAt = t.CaseID, t.FromSeq+1, tx.now
	vars, path, err := sqlrow.MarshalSession(sess)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE sessions SET flow = ?, flow_version = ?, state = ?, seq = ?,
		vars = ?, path = ?, updated_at = ? WHERE case_id = ?`,
		sess.Flow, sess.FlowVersion, sess.State, sess.Seq, vars, path, formatTime(sess.UpdatedAt), sess.CaseID); err != nil {
		return err
	}

	return sqlrow.FinishTransition(writer{ctx, tx}, t)
}

// createAnswer inserts a, setting ID and CreatedAt.
func createAnswer(ctx context.Context, tx *Tx, a *vpndiag.Answer) error {
	a.CreatedAt = tx.now
	res, err := tx.ExecContext(ctx, `INSERT INTO answers (case_id, seq, flow, state, question, choice, label,
		value, source, source_ref, actor, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.CaseID, a.Seq, a.Flow, a.State, a.Question, a.Choice, a.Label,
		a.Value, string(a.Source), a.SourceRef, a.Actor, formatTime(a.CreatedAt))
	if err != nil {
		return err
	}
	a.ID, err = res.LastInsertId()
	return err
}

// findAnswers returns a case's answers in insertion order.
func findAnswers(ctx context.Context, tx *Tx, caseID int64) ([]*vpndiag.Answer, error) {
	rows, err := tx.QueryContext(ctx, `SELECT `+sqlrow.AnswerColumns+` FROM answers WHERE case_id = ? ORDER BY id`, caseID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return sqlrow.Collect(rows, sqlrow.ScanAnswer)
}
