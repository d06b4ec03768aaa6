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
var _ vpndiag.CaseService = (*CaseService)(nil)

// CaseService stores cases in PostgreSQL.
type CaseService struct {
	db *DB
}

// NewCaseService returns a CaseService on db.
func NewCaseService(db *DB) *CaseService {
	return &CaseService{db: db}
}

// FindCaseByID returns the case with id, or ENOTFOUND.
func (s *CaseService) FindCaseByID(ctx context.Context, id int64) (*vpndiag.Case, error) {
	tx, err := s.db.BeginTx(ctx, readOnly)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	c, err := findCaseByID(ctx, tx, id)
	if err != nil {
		return nil, fmt.Errorf("find case: %w", err)
	}
	return c, nil
}

// FindCaseByMarker returns the case with marker, or ENOTFOUND.
func (s *CaseService) FindCaseByMarker(ctx context.Context, marker string) (*vpndiag.Case, error) {
	tx, err := s.db.BeginTx(ctx, readOnly)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	cs, _, err := findCases(ctx, tx, vpndiag.CaseFilter{Marker: &marker})
	if err != nil {
		return nil, fmt.Errorf("find case: %w", err)
	} else if len(cs) == 0 {
		return nil, vpndiag.Errorf(vpndiag.ENOTFOUND, "Case %s not found.", marker)
	}
	return cs[0], nil
}

// FindCases returns the matching cases, newest first, and the total count
// before paging.
func (s *CaseService) FindCases(ctx context.Context, filter vpndiag.CaseFilter) ([]*vpndiag.Case, int, error) {
	tx, err := s.db.BeginTx(ctx, readOnly)
	if err != nil {
		return nil, 0, err
	}
	defer tx.Rollback()
	cs, n, err := findCases(ctx, tx, filter)
	if err != nil {
		return nil, 0, fmt.Errorf("find cases: %w", err)
	}
	return cs, n, nil
}

// CreateCase stores c, setting its ID and timestamps, and appends a
// "case.created" event in the same transaction.
func (s *CaseService) CreateCase(ctx context.Context, c *vpndiag.Case) error {
	tx, err := s.db.BeginTx(ctx, pgx.TxOptions{})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := createCase(ctx, tx, c); err != nil {
		return fmt.Errorf("create case: %w", err)
	}
	return tx.Commit()
}

// UpdateCase applies upd, appends a "case.updated" event and returns the
// case as stored.
func (s *CaseService) UpdateCase(ctx context.Context, id int64, upd vpndiag.CaseUpdate) (*vpndiag.Case, error) {
	tx, err := s.db.BeginTx(ctx, pgx.TxOptions{})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	c, err := updateCase(ctx, tx, id, upd, true)
	if err != nil {
		return nil, fmt.Errorf("update case: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return c, nil
}

// findCaseByID returns the case with id, or ENOTFOUND.
func findCaseByID(ctx context.Context, tx *Tx, id int64) (*vpndiag.Case, error) {
	cs, _, err := findCases(ctx, tx, vpndiag.CaseFilter{ID: &id})
	if err != nil {
		return nil, err
	} else if len(cs) == 0 {
		return nil, sqlrow.CaseNotFound(id)
	}
	return cs[0], nil
}

// requireCase returns ENOTFOUND unless the case exists.
func requireCase(ctx context.Context, tx *Tx, id int64) error {
	var ok bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM cases WHERE id = $1)`, id).Scan(&ok); err != nil {
		return runtimeError(err)
	} else if !ok {
		return sqlrow.CaseNotFound(id)
	}
	return nil
}

// lockCase takes the case's row lock until the transaction ends, so that
// the writers of one case run one after the other on every replica;
// ENOTFOUND when there is no such case.
func lockCase(ctx context.Context, tx *Tx, id int64) error {
	var got int64
	err := tx.QueryRow(ctx, `SELECT id FROM cases WHERE id = $1 FOR UPDATE`, id).Scan(&got)
	if errors.Is(err, pgx.ErrNoRows) {
		return sqlrow.CaseNotFound(id)
	}
	return runtimeError(err)
}

// requireSite returns ENOTFOUND unless the site exists.
func requireSite(ctx context.Context, tx *Tx, id int64) error {
	var ok bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM sites WHERE id = $1)`, id).Scan(&ok); err != nil {
		return runtimeError(err)
	} else if !ok {
		return sqlrow.SiteNotFound(id)
	}
	return nil
}

// findCases returns the cases matching filter, newest first, and the count
// before paging.
func findCases(ctx context.Context, tx *Tx, filter vpndiag.CaseFilter) ([]*vpndiag.Case, int, error) {
	where, args := sqlrow.CaseWhere(sqlrow.Postgres, filter)
	var n int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM cases WHERE `+where, args.Values()...).Scan(&n); err != nil {
		return nil, 0, runtimeError(err)
	}
	q := `SELECT ` + sqlrow.CaseColumns + ` FROM cases WHERE ` + where + ` ORDER BY id DESC` +
		sqlrow.Page(args, filter.Limit, filter.Offset)
	rows, err := tx.Query(ctx, q, args.Values()...)
	if err != nil {
		return nil, 0, runtimeError(err)
	}
	defer rows.Close()
	cs, err := sqlrow.Collect(rows, sqlrow.ScanCase)
	if err != nil {
		return nil, 0, runtimeError(err)
	}
	return cs, n, nil
}

// createCase inserts c and its "case.created" event.
func createCase(ctx context.Context, tx *Tx, c *vpndiag.Case) error {
	if err := c.Validate(); err != nil {
		return err
	}
	if c.SiteID != 0 {
		if err := requireSite(ctx, tx, c.SiteID); err != nil {
			return err
		}
	}
	c.CreatedAt, c.UpdatedAt = tx.now, tx.now
	err := tx.QueryRow(ctx, `INSERT INTO cases (marker, site_id, title, status, origin, channel_id,
		thread_ts, created_by, resolution, kb_article, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id`,
		c.Marker, sqlrow.NullID(c.SiteID), c.Title, string(c.Status), c.Origin, c.ChannelID,
		c.ThreadTS, c.CreatedBy, c.Resolution, c.KBArticle, c.CreatedAt, c.UpdatedAt).Scan(&c.ID)
	if isUnique(err) {
		return vpndiag.Errorf(vpndiag.ECONFLICT, "Case %s already exists.", c.Marker)
	} else if err != nil {
		return runtimeError(err)
	}
	ev, err := sqlrow.CaseCreated(c)
	if err != nil {
		return err
	}
	return appendEvent(ctx, tx, ev)
}

// updateCase applies upd to case id and, when withEvent, appends a
// "case.updated" event listing the changed fields. It locks the case row.
func updateCase(ctx context.Context, tx *Tx, id int64, upd vpndiag.CaseUpdate, withEvent bool) (*vpndiag.Case, error) {
	if err := lockCase(ctx, tx, id); err != nil {
		return nil, err
	}
	c, err := findCaseByID(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	changed, err := sqlrow.ApplyCaseUpdate(c, upd, func(id int64) error { return requireSite(ctx, tx, id) })
	if err != nil {
		return nil, err
	}
	c.UpdatedAt = tx.now
	if _, err := tx.exec(ctx, `UPDATE cases SET title = $1, status = $2, site_id = $3, thread_ts = $4,
		resolution = $5, kb_article = $6, updated_at = $7 WHERE id = $8`,
		c.Title, string(c.Status), sqlrow.NullID(c.SiteID), c.ThreadTS, c.Resolution, c.KBArticle,
		c.UpdatedAt, id); err != nil {
		return nil, err
	}
	if !withEvent {
		return c, nil
	}
	ev, err := sqlrow.CaseUpdated(c, changed)
	if err != nil {
		return nil, err
	}
	if err := appendEvent(ctx, tx, ev); err != nil {
		return nil, err
	}
	return c, nil
}
