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
var _ vpndiag.SessionService = (*SessionService)(nil)

// SessionService stores flow sessions, answers and transitions in
// PostgreSQL.
type SessionService struct {
	db *DB
}

// NewSessionService returns a SessionService on db.
func NewSessionService(db *DB) *SessionService {
	return &SessionService{db: db}
}

// FindSession returns the case's session, or ENOTFOUND.
func (s *SessionService) FindSession(ctx context.Context, caseID int64) (*vpndiag.Session, error) {
	tx, err := s.db.BeginTx(ctx, readOnly)
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
	tx, err := s.db.BeginTx(ctx, pgx.TxOptions{})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := createSession(ctx, tx, sess); err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	return tx.Commit()
}

// StartSession stores a case's first session state, the events that start
// it and the case update upd (nil for none) with its "case.updated" event,
// in one transaction: one commit where CreateSession, AppendEvent and
// UpdateCase took one each. ECONFLICT when the case has a session already.
func (s *SessionService) StartSession(ctx context.Context, sess *vpndiag.Session, events []*vpndiag.Event, upd *vpndiag.CaseUpdate) error {
	tx, err := s.db.BeginTx(ctx, pgx.TxOptions{})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := sqlrow.StartSession(writer{ctx, tx}, sess, events, upd); err != nil {
		return fmt.Errorf("start session: %w", err)
	}
	return tx.Commit()
}

// ApplyTransition stores t in one transaction: the session (with Seq
// FromSeq+1), the answer, the events (each with the case's next seq) and
// the case update. It first takes the case's row lock, so transitions of
// one case on any replica run one after the other and the seq
// compare-and-swap reads the last committed seq. ECONFLICT ("This step is
// already done.") when the session is no longer at FromSeq or the
// idempotency key was seen before; then nothing changes.
func (s *SessionService) ApplyTransition(ctx context.Context, t *vpndiag.Transition) error {
	tx, err := s.db.BeginTx(ctx, pgx.TxOptions{})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := applyTransition(ctx, tx, t); err != nil {
		return fmt.Errorf("apply transition: %w", err)
	}
	return tx.Commit()
}

// FindAnswers returns a case's answers in the order given.
func (s *SessionService) FindAnswers(ctx context.Context, caseID int64) ([]*vpndiag.Answer, error) {
	tx, err := s.db.BeginTx(ctx, readOnly)
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
	sess, err := sqlrow.ScanSession(tx.QueryRow(ctx,
		`SELECT `+sqlrow.SessionColumns+` FROM sessions WHERE case_id = $1`, caseID))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, sqlrow.NoSession(caseID)
	} else if err != nil {
		return nil, runtimeError(err)
	}
	return sess, nil
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
	_, err = tx.exec(ctx, `INSERT INTO sessions (`+sqlrow.SessionColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		sess.CaseID, sess.Flow, sess.FlowVersion, sess.State, sess.Seq, vars, path, sess.UpdatedAt)
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
	if err := lockCase(ctx, tx, t.CaseID); err != nil {
		if vpndiag.ErrorCode(err) == vpndiag.ENOTFOUND {
			return sqlrow.NoSession(t.CaseID)
		}
		return err
	}
	var seq int
	err := tx.QueryRow(ctx, `SELECT seq FROM sessions WHERE case_id = $1`, t.CaseID).Scan(&seq)
	if errors.Is(err, pgx.ErrNoRows) {
		return sqlrow.NoSession(t.CaseID)
	} else if err != nil {
		return runtimeError(err)
	}
	if t.IdempotencyKey != "" {
		n, err := tx.exec(ctx, `INSERT INTO transition_keys (key, case_id, created_at) VALUES ($1, $2, $3)
			ON CONFLICT (key) DO NOTHING`, t.IdempotencyKey, t.CaseID, tx.now)
		if err != nil {
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
	if _, err := tx.exec(ctx, `UPDATE sessions SET flow = $1, flow_version = $2, state = $3, seq = $4,
		vars = $5, path = $6, updated_at = $7 WHERE case_id = $8`,
		sess.Flow, sess.FlowVersion, sess.State, sess.Seq, vars, path, sess.UpdatedAt, sess.CaseID); err != nil {
		return err
	}
	return sqlrow.FinishTransition(writer{ctx, tx}, t)
}

// createAnswer inserts a, setting ID and CreatedAt.
func createAnswer(ctx context.Context, tx *Tx, a *vpndiag.Answer) error {
	a.CreatedAt = tx.now
	err := tx.QueryRow(ctx, `INSERT INTO answers (case_id, seq, flow, state, question, choice, label,
		value, source, source_ref, actor, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
		RETURNING id`,
		a.CaseID, a.Seq, a.Flow, a.State, a.Question, a.Choice, a.Label,
		a.Value, string(a.Source), a.SourceRef, a.Actor, a.CreatedAt).Scan(&a.ID)
	return runtimeError(err)
}

// findAnswers returns a case's answers in insertion order.
func findAnswers(ctx context.Context, tx *Tx, caseID int64) ([]*vpndiag.Answer, error) {
	rows, err := tx.Query(ctx, `SELECT `+sqlrow.AnswerColumns+` FROM answers WHERE case_id = $1 ORDER BY id`, caseID)
	if err != nil {
		return nil, runtimeError(err)
	}
	defer rows.Close()
	as, err := sqlrow.Collect(rows, sqlrow.ScanAnswer)
	return as, runtimeError(err)
}
