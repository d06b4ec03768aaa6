package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/storage/internal/sqlrow"
)

// Ensure the service implements the interface.
var _ vpndiag.RelayTokenService = (*RelayTokenService)(nil)

// RelayTokenService stores relay tokens (their hashes) in SQLite. A relay
// name has at most one token in force; after revocation a new token may be
// issued under the same name.
type RelayTokenService struct {
	db *DB
}

// NewRelayTokenService returns a RelayTokenService on db.
func NewRelayTokenService(db *DB) *RelayTokenService {
	return &RelayTokenService{db: db}
}

// CreateRelayToken stores t, setting ID and CreatedAt. ECONFLICT when the
// name has a token in force or the hash is taken; ENOTFOUND for an unknown
// site.
func (s *RelayTokenService) CreateRelayToken(ctx context.Context, t *vpndiag.RelayToken) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := createRelayToken(ctx, tx, t); err != nil {
		return fmt.Errorf("create relay token: %w", err)
	}
	return tx.Commit()
}

// FindRelayTokenByHash returns the token with hash, revoked or not, or
// ENOTFOUND. The caller refuses a token whose RevokedAt is set.
func (s *RelayTokenService) FindRelayTokenByHash(ctx context.Context, hash string) (*vpndiag.RelayToken, error) {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	ts, err := findRelayTokens(ctx, tx, "WHERE hash = ?", hash)
	if err != nil {
		return nil, fmt.Errorf("find relay token: %w", err)
	} else if len(ts) == 0 {
		return nil, vpndiag.Errorf(vpndiag.ENOTFOUND, "Relay token not found.")
	}
	return ts[0], nil
}

// FindRelayTokens lists every token, revoked ones included, by name and
// then age.
func (s *RelayTokenService) FindRelayTokens(ctx context.Context) ([]*vpndiag.RelayToken, error) {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	ts, err := findRelayTokens(ctx, tx, "")
	if err != nil {
		return nil, fmt.Errorf("find relay tokens: %w", err)
	}
	return ts, nil
}

// RevokeRelayToken revokes the token in force named name. Revoking a name
// whose tokens are all revoked already is a no-op; ENOTFOUND when no token
// ever had that name.
func (s *RelayTokenService) RevokeRelayToken(ctx context.Context, name string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := revokeRelayToken(ctx, tx, name); err != nil {
		return fmt.Errorf("revoke relay token: %w", err)
	}
	return tx.Commit()
}

// TouchRelayToken records that token id was used at at; ENOTFOUND for an
// unknown id.
func (s *RelayTokenService) TouchRelayToken(ctx context.Context, id int64, at time.Time) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE relay_tokens SET last_seen_at = ? WHERE id = ?`, formatTime(at), id)
	if err != nil {
		return fmt.Errorf("touch relay token: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("touch relay token: %w", err)
	} else if n == 0 {
		return sqlrow.RelayTokenNotFound(id)
	}
	return tx.Commit()
}

// createRelayToken inserts t.
func createRelayToken(ctx context.Context, tx *Tx, t *vpndiag.RelayToken) error {
	if err := sqlrow.ValidateRelayToken(t); err != nil {
		return err
	}
	if err := requireSite(ctx, tx, t.SiteID); err != nil {
		return err
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM relay_tokens WHERE name = ? AND revoked_at IS NULL`,
		t.Name).Scan(&n); err != nil {
		return err
	} else if n > 0 {
		return vpndiag.Errorf(vpndiag.ECONFLICT, "Relay %s already has a token; revoke it first.", t.Name)
	}
	t.CreatedAt = tx.now
	res, err := tx.ExecContext(ctx, `INSERT INTO relay_tokens (name, site_id, hash, prefix, created_at,
		last_seen_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		t.Name, t.SiteID, t.Hash, t.Prefix, formatTime(t.CreatedAt), nullTime(t.LastSeenAt), nullTime(t.RevokedAt))
	if isUnique(err) {
		return vpndiag.Errorf(vpndiag.ECONFLICT, "This relay token is already enrolled.")
	} else if err != nil {
		return err
	}
	t.ID, err = res.LastInsertId()
	return err
}

// revokeRelayToken sets revoked_at on the token in force named name.
func revokeRelayToken(ctx context.Context, tx *Tx, name string) error {
	res, err := tx.ExecContext(ctx, `UPDATE relay_tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL`,
		formatTime(tx.now), name)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n > 0 {
		return nil
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM relay_tokens WHERE name = ?`, name).Scan(&n); err != nil {
		return err
	} else if n == 0 {
		return sqlrow.NoRelayToken(name)
	}
	return nil
}

// findRelayTokens returns the tokens matching the where clause.
func findRelayTokens(ctx context.Context, tx *Tx, where string, args ...any) ([]*vpndiag.RelayToken, error) {
	rows, err := tx.QueryContext(ctx, `SELECT `+sqlrow.RelayTokenColumns+` FROM relay_tokens `+where+` ORDER BY name, id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return sqlrow.Collect(rows, sqlrow.ScanRelayToken)
}
