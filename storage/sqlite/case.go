package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/vpndiag/vpndiag"
)

// Ensure the service implements the interface.
var _ vpndiag.CaseService = (*CaseService)(nil)

// CaseService stores cases in SQLite.
type CaseService struct {
	db *DB
}

// NewCaseService returns a CaseService on db.
func NewCaseService(db *DB) *CaseService {
	return &CaseService{db: db}
}

// FindCaseByID returns the case with id, or ENOTFOUND.
func (s *CaseService) FindCaseByID(ctx context.Context, id int64) (*vpndiag.Case, error) {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
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
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
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
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
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
	return s.db.write(ctx, func(tx *Tx) error {
		if err := createCase(ctx, tx, c); err != nil {
			return fmt.Errorf("create case: %w", err)
		}
		return nil
	})
}

// UpdateCase applies upd, appends a "case.updated" event and returns the
// case as stored.
func (s *CaseService) UpdateCase(ctx context.Context, id int64, upd vpndiag.CaseUpdate) (*vpndiag.Case, error) {
	var c *vpndiag.Case
	err := s.db.write(ctx, func(tx *Tx) (err error) {
		if c, err = updateCase(ctx, tx, id, upd, true); err != nil {
			return fmt.Errorf("update case: %w", err)
		}
		return nil
	})
	if err != nil {
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
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM cases WHERE id = ?`, id).Scan(&n); err != nil {
		return err
	} else if n == 0 {
		return caseNotFound(id)
	}
	return nil
}

// requireSite returns ENOTFOUND unless the site exists.
func requireSite(ctx context.Context, tx *Tx, id int64) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM sites WHERE id = ?`, id).Scan(&n); err != nil {
		return err
	} else if n == 0 {
		return vpndiag.Errorf(vpndiag.ENOTFOUND, "Site %d not found.", id)
	}
	return nil
}

// caseColumns are the columns scanCase reads, in order.
const caseColumns = `id, marker, site_id, title, status, origin, channel_id, thread_ts,
	created_by, resolution, kb_article, created_at, updated_at`

// scanCase reads one row of caseColumns.
func scanCase(sc scanner) (*vpndiag.Case, error) {
	var c vpndiag.Case
	var siteID sql.NullInt64
	var createdAt, updatedAt string
	if err := sc.Scan(&c.ID, &c.Marker, &siteID, &c.Title, &c.Status, &c.Origin, &c.ChannelID, &c.ThreadTS,
		&c.CreatedBy, &c.Resolution, &c.KBArticle, &createdAt, &updatedAt); err != nil {
		return nil, err
	}
	c.SiteID = siteID.Int64
	var err error
	if c.CreatedAt, err = parseTime(createdAt); err != nil {
		return nil, err
	}
	if c.UpdatedAt, err = parseTime(updatedAt); err != nil {
		return nil, err
	}
	return &c, nil
}

// findCases returns the cases matching filter, newest first, and the count
// before paging.
func findCases(ctx context.Context, tx *Tx, filter vpndiag.CaseFilter) ([]*vpndiag.Case, int, error) {
	where, args := []string{"1 = 1"}, []any{}
	if v := filter.ID; v != nil {
		where, args = append(where, "id = ?"), append(args, *v)
	}
	if v := filter.Marker; v != nil {
		where, args = append(where, "marker = ?"), append(args, *v)
	}
	if v := filter.ChannelID; v != nil {
		where, args = append(where, "channel_id = ?"), append(args, *v)
	}
	if v := filter.ThreadTS; v != nil {
		where, args = append(where, "thread_ts = ?"), append(args, *v)
	}
	if v := filter.Status; v != nil {
		where, args = append(where, "status = ?"), append(args, string(*v))
	}
	if v := filter.SiteID; v != nil {
		where, args = append(where, "site_id IS ?"), append(args, nullID(*v))
	}
	cond := strings.Join(where, " AND ")

	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM cases WHERE `+cond, args...).Scan(&n); err != nil {
		return nil, 0, err
	}
	q := `SELECT ` + caseColumns + ` FROM cases WHERE ` + cond + ` ORDER BY id DESC`
	if filter.Limit > 0 || filter.Offset > 0 {
		limit := filter.Limit
		if limit <= 0 {
			limit = -1
		}
		q += ` LIMIT ? OFFSET ?`
		args = append(args, limit, filter.Offset)
	}
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	cs := []*vpndiag.Case{}
	for rows.Next() {
		c, err := scanCase(rows)
		if err != nil {
			return nil, 0, err
		}
		cs = append(cs, c)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, err
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
	res, err := tx.ExecContext(ctx, `INSERT INTO cases (marker, site_id, title, status, origin, channel_id,
		thread_ts, created_by, resolution, kb_article, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.Marker, nullID(c.SiteID), c.Title, string(c.Status), c.Origin, c.ChannelID,
		c.ThreadTS, c.CreatedBy, c.Resolution, c.KBArticle, formatTime(c.CreatedAt), formatTime(c.UpdatedAt))
	if isUnique(err) {
		return vpndiag.Errorf(vpndiag.ECONFLICT, "Case %s already exists.", c.Marker)
	} else if err != nil {
		return err
	}
	if c.ID, err = res.LastInsertId(); err != nil {
		return err
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
// "case.updated" event listing the changed fields.
func updateCase(ctx context.Context, tx *Tx, id int64, upd vpndiag.CaseUpdate, withEvent bool) (*vpndiag.Case, error) {
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
	if _, err := tx.ExecContext(ctx, `UPDATE cases SET title = ?, status = ?, site_id = ?, thread_ts = ?,
		resolution = ?, kb_article = ?, updated_at = ? WHERE id = ?`,
		c.Title, string(c.Status), nullID(c.SiteID), c.ThreadTS, c.Resolution, c.KBArticle,
		formatTime(c.UpdatedAt), id); err != nil {
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

// errNoRows reports whether err is sql.ErrNoRows.
func errNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }
