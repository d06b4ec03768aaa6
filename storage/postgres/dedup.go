package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/storage/internal/sqlrow"
)

// Ensure the service implements the interface.
var _ vpndiag.DedupService = (*DedupService)(nil)

// DedupService remembers delivery keys in PostgreSQL. The key is the
// primary key of dedup_keys, so of two replicas claiming one key at once
// exactly one sees first == true.
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
	tx, err := s.db.BeginTx(ctx, pgx.TxOptions{})
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	n, err := tx.exec(ctx, `INSERT INTO dedup_keys (key, created_at) VALUES ($1, $2)
		ON CONFLICT (key) DO NOTHING`, key, tx.now)
	if err != nil {
		return false, fmt.Errorf("claim: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return false, err
	}
	return n == 1, nil
}
