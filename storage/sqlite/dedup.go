package sqlite

import (
	"context"
	"fmt"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/storage/internal/sqlrow"
)

// Ensure the service implements the interface.
var _ vpndiag.DedupService = (*DedupService)(nil)

// DedupService remembers delivery keys in SQLite.
type DedupService struct {
	db *DB
}

// NewDedupService returns a DedupService on db.
func NewDedupService(db *DB) *DedupService {
	return &DedupService{db: db}
}

// Claim records key and reports whether this is its first claim.
func (s *DedupService) Claim(ctx context.Context, key string) (bool, error) {
	if err := sqlrow.ValidateDedupKey(key); err != nil {
		return false, err
	}
	var first bool
	err := s.db.write(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO dedup_keys (key, created_at) VALUES (?, ?)
			ON CONFLICT (key) DO NOTHING`, key, formatTime(tx.now))
		if err != nil {
			return fmt.Errorf("claim: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("claim: %w", err)
		}
		first = n == 1
		return nil
	})
	return first, err
}
