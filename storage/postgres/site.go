package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/storage/internal/sqlrow"
)

// Ensure the service implements the interface.
var _ vpndiag.SiteService = (*SiteService)(nil)

// SiteService stores site profiles in PostgreSQL. Address and name lists
// are jsonb arrays of strings.
type SiteService struct {
	db *DB
}

// NewSiteService returns a SiteService on db.
func NewSiteService(db *DB) *SiteService {
	return &SiteService{db: db}
}

// FindSiteByID returns the site with id, or ENOTFOUND.
func (s *SiteService) FindSiteByID(ctx context.Context, id int64) (*vpndiag.Site, error) {
	tx, err := s.db.BeginTx(ctx, readOnly)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	sites, err := findSites(ctx, tx, "WHERE id = $1", id)
	if err != nil {
		return nil, fmt.Errorf("find site: %w", err)
	} else if len(sites) == 0 {
		return nil, sqlrow.SiteNotFound(id)
	}
	return sites[0], nil
}

// FindSiteByName returns the site named name, or ENOTFOUND.
func (s *SiteService) FindSiteByName(ctx context.Context, name string) (*vpndiag.Site, error) {
	tx, err := s.db.BeginTx(ctx, readOnly)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	sites, err := findSites(ctx, tx, "WHERE name = $1", name)
	if err != nil {
		return nil, fmt.Errorf("find site: %w", err)
	} else if len(sites) == 0 {
		return nil, sqlrow.SiteNamed(name)
	}
	return sites[0], nil
}

// FindSites returns every site ordered by name.
func (s *SiteService) FindSites(ctx context.Context) ([]*vpndiag.Site, error) {
	tx, err := s.db.BeginTx(ctx, readOnly)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	sites, err := findSites(ctx, tx, "")
	if err != nil {
		return nil, fmt.Errorf("find sites: %w", err)
	}
	return sites, nil
}

// UpsertSite validates s and creates it, or replaces the site with the same
// name (keeping its ID and CreatedAt); it sets ID and timestamps. Replicas
// that load the same config at start upsert side by side safely.
func (s *SiteService) UpsertSite(ctx context.Context, site *vpndiag.Site) error {
	tx, err := s.db.BeginTx(ctx, pgx.TxOptions{})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := upsertSite(ctx, tx, site); err != nil {
		return fmt.Errorf("upsert site: %w", err)
	}
	return tx.Commit()
}

// upsertSite inserts or replaces site by name.
func upsertSite(ctx context.Context, tx *Tx, site *vpndiag.Site) error {
	q, args, err := sqlrow.SiteUpsert(sqlrow.Postgres, site, tx.now)
	if err != nil {
		return err
	}
	if err := tx.QueryRow(ctx, q, args...).Scan(&site.ID, sqlrow.Time(&site.CreatedAt)); err != nil {
		return runtimeError(err)
	}
	site.UpdatedAt = tx.now
	return nil
}

// findSites returns the sites matching the where clause, ordered by name.
func findSites(ctx context.Context, tx *Tx, where string, args ...any) ([]*vpndiag.Site, error) {
	rows, err := tx.Query(ctx, `SELECT `+sqlrow.SiteColumns+` FROM sites `+where+` ORDER BY name`, args...)
	if err != nil {
		return nil, runtimeError(err)
	}
	defer rows.Close()
	sites, err := sqlrow.Collect(rows, sqlrow.ScanSite)
	return sites, runtimeError(err)
}
