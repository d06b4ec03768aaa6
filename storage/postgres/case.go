package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/vpndiag/vpndiag"
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

// caseNotFound is the ENOTFOUND error for a case ID.
func caseNotFound(id int64) error {
	return vpndiag.Errorf(vpndiag.ENOTFOUND, "Case %d not found.", id)
}

// findCaseByID returns the case with id, or ENOTFOUND.
func findCaseByID(ctx context.Context, tx *Tx, id int64) (*vpndiag.Case, error) {
	cs, _, err := findCases(ctx, tx, vpndiag.CaseFilter{ID: &id})
	if err != nil {
		return nil, err
	} else if len(cs) == 0 {
		return nil, caseNotFound(id)
	}
	return cs[0], nil
}

// requireCase returns ENOTFOUND unless the case exists.
func requireCase(ctx context.Context, tx *Tx, id int64) error {
	var ok bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM cases WHERE id = $1)`, id).Scan(&ok); err != nil {
		return runtimeError(err)
	} else if !ok {
		return caseNotFound(id)
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
		return caseNotFound(id)
	}
	return runtimeError(err)
}

// requireSite returns ENOTFOUND unless the site exists.
func requireSite(ctx context.Context, tx *Tx, id int64) error {
	var ok bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM sites WHERE id = $1)`, id).Scan(&ok); err != nil {
		return runtimeError(err)
	} else if !ok {
		return vpndiag.Errorf(vpndiag.ENOTFOUND, "Site %d not found.", id)
	}
	return nil
}

// caseColumns are the columns scanCase reads, in order.
const caseColumns = `id, marker, site_id, title, status, origin, channel_id, thread_ts,
	created_by, resolution, kb_article, created_at, updated_at`

// scanCase reads one row of caseColumns.
func scanCase(row pgx.CollectableRow) (*vpndiag.Case, error) {
	var c vpndiag.Case
	var siteID *int64
	if err := row.Scan(&c.ID, &c.Marker, &siteID, &c.Title, &c.Status, &c.Origin, &c.ChannelID, &c.ThreadTS,
		&c.CreatedBy, &c.Resolution, &c.KBArticle, &c.CreatedAt, &c.UpdatedAt); err != nil {
		return nil, err
	}
	if siteID != nil {
		c.SiteID = *siteID
	}
	c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	return &c, nil
}

// args builds a numbered placeholder list.
type args []any

// add appends v and returns its placeholder.
func (a *args) add(v any) string {
	*a = append(*a, v)
	return fmt.Sprintf("$%d", len(*a))
}

// findCases returns the cases matching filter, newest first, and the count
// before paging.
func findCases(ctx context.Context, tx *Tx, filter vpndiag.CaseFilter) ([]*vpndiag.Case, int, error) {
	var a args
	where := []string{"TRUE"}
	if v := filter.ID; v != nil {
		where = append(where, "id = "+a.add(*v))
	}
	if v := filter.Marker; v != nil {
		where = append(where, "marker = "+a.add(*v))
	}
	if v := filter.ChannelID; v != nil {
		where = append(where, "channel_id = "+a.add(*v))
	}
	if v := filter.ThreadTS; v != nil {
		where = append(where, "thread_ts = "+a.add(*v))
	}
	if v := filter.Status; v != nil {
		where = append(where, "status = "+a.add(string(*v)))
	}
	if v := filter.SiteID; v != nil {
		if *v == 0 {
			where = append(where, "site_id IS NULL")
		} else {
			where = append(where, "site_id = "+a.add(*v))
		}
	}
	cond := strings.Join(where, " AND ")

	var n int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM cases WHERE `+cond, a...).Scan(&n); err != nil {
		return nil, 0, runtimeError(err)
	}
	q := `SELECT ` + caseColumns + ` FROM cases WHERE ` + cond + ` ORDER BY id DESC`
	if filter.Limit > 0 {
		q += ` LIMIT ` + a.add(filter.Limit)
	}
	if filter.Offset > 0 {
		q += ` OFFSET ` + a.add(filter.Offset)
	}
	rows, err := tx.Query(ctx, q, a...)
	if err != nil {
		return nil, 0, runtimeError(err)
	}
	cs, err := pgx.CollectRows(rows, scanCase)
	if err != nil {
		return nil, 0, runtimeError(err)
	}
	if cs == nil {
		cs = []*vpndiag.Case{}
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
		c.Marker, nullID(c.SiteID), c.Title, string(c.Status), c.Origin, c.ChannelID,
		c.ThreadTS, c.CreatedBy, c.Resolution, c.KBArticle, c.CreatedAt, c.UpdatedAt).Scan(&c.ID)
	if isUnique(err) {
		return vpndiag.Errorf(vpndiag.ECONFLICT, "Case %s already exists.", c.Marker)
	} else if err != nil {
		return runtimeError(err)
	}
	data, err := json.Marshal(map[string]any{
		"marker": c.Marker, "title": c.Title, "origin": c.Origin, "status": c.Status,
	})
	if err != nil {
		return err
	}
	return appendEvent(ctx, tx, &vpndiag.Event{
		CaseID:  c.ID,
		Actor:   c.CreatedBy,
		Kind:    vpndiag.EventCaseCreated,
		Message: fmt.Sprintf("Case %s opened: %s", c.Marker, c.Title),
		Data:    data,
	})
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
	changed := map[string]any{}
	if v := upd.Title; v != nil {
		c.Title, changed["title"] = *v, *v
	}
	if v := upd.Status; v != nil {
		if !v.Valid() {
			return nil, vpndiag.Errorf(vpndiag.EINVALID, "Case status %q is not known.", *v)
		}
		c.Status, changed["status"] = *v, *v
	}
	if v := upd.SiteID; v != nil {
		if *v != 0 {
			if err := requireSite(ctx, tx, *v); err != nil {
				return nil, err
			}
		}
		c.SiteID, changed["site_id"] = *v, *v
	}
	if v := upd.ThreadTS; v != nil {
		c.ThreadTS, changed["thread_ts"] = *v, *v
	}
	if v := upd.Resolution; v != nil {
		c.Resolution, changed["resolution"] = *v, *v
	}
	if v := upd.KBArticle; v != nil {
		c.KBArticle, changed["kb_article"] = *v, *v
	}
	c.UpdatedAt = tx.now
	if _, err := tx.exec(ctx, `UPDATE cases SET title = $1, status = $2, site_id = $3, thread_ts = $4,
		resolution = $5, kb_article = $6, updated_at = $7 WHERE id = $8`,
		c.Title, string(c.Status), nullID(c.SiteID), c.ThreadTS, c.Resolution, c.KBArticle,
		c.UpdatedAt, id); err != nil {
		return nil, err
	}
	if !withEvent {
		return c, nil
	}
	data, err := json.Marshal(changed)
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(changed))
	for k := range changed {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	msg := fmt.Sprintf("Case %s updated", c.Marker)
	if len(keys) > 0 {
		msg += ": " + strings.Join(keys, ", ")
	}
	if err := appendEvent(ctx, tx, &vpndiag.Event{
		CaseID:  c.ID,
		Actor:   "system",
		Kind:    vpndiag.EventCaseUpdated,
		Message: msg,
		Data:    data,
	}); err != nil {
		return nil, err
	}
	return c, nil
}
