package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/netip"

	"github.com/vpndiag/vpndiag"
)

// Ensure the service implements the interface.
var _ vpndiag.SiteService = (*SiteService)(nil)

// SiteService stores site profiles in SQLite. Address and name lists are
// stored as JSON arrays of strings.
type SiteService struct {
	db *DB
}

// NewSiteService returns a SiteService on db.
func NewSiteService(db *DB) *SiteService {
	return &SiteService{db: db}
}

// FindSiteByID returns the site with id, or ENOTFOUND.
func (s *SiteService) FindSiteByID(ctx context.Context, id int64) (*vpndiag.Site, error) {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	sites, err := findSites(ctx, tx, "WHERE id = ?", id)
	if err != nil {
		return nil, fmt.Errorf("find site: %w", err)
	} else if len(sites) == 0 {
		return nil, vpndiag.Errorf(vpndiag.ENOTFOUND, "Site %d not found.", id)
	}
	return sites[0], nil
}

// FindSiteByName returns the site named name, or ENOTFOUND.
func (s *SiteService) FindSiteByName(ctx context.Context, name string) (*vpndiag.Site, error) {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	sites, err := findSites(ctx, tx, "WHERE name = ?", name)
	if err != nil {
		return nil, fmt.Errorf("find site: %w", err)
	} else if len(sites) == 0 {
		return nil, vpndiag.Errorf(vpndiag.ENOTFOUND, "Site %q not found.", name)
	}
	return sites[0], nil
}

// FindSites returns every site ordered by name.
func (s *SiteService) FindSites(ctx context.Context) ([]*vpndiag.Site, error) {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
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
// name (keeping its ID and CreatedAt); it sets ID and timestamps.
func (s *SiteService) UpsertSite(ctx context.Context, site *vpndiag.Site) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := upsertSite(ctx, tx, site); err != nil {
		return fmt.Errorf("upsert site: %w", err)
	}
	return tx.Commit()
}

// siteJSON are a site's list columns, encoded.
type siteJSON struct {
	dns, endpoints, fqdns, customer, resolvers, channels string
	phase1, phase2                                       string // "" when nil
}

// marshalSite encodes the list columns of site.
func marshalSite(site *vpndiag.Site) (siteJSON, error) {
	var out siteJSON
	for _, f := range []struct {
		dst *string
		v   any
	}{
		{&out.dns, site.CloudDNSServers},
		{&out.endpoints, site.VPNEndpoints},
		{&out.fqdns, site.EnvironmentFQDNs},
		{&out.customer, site.CustomerCIDRs},
		{&out.resolvers, site.InternalResolvers},
		{&out.channels, nonNil(site.Channels)},
	} {
		b, err := json.Marshal(f.v)
		if err != nil {
			return out, err
		}
		*f.dst = string(b)
	}
	for _, f := range []struct {
		dst *string
		v   *vpndiag.Proposals
	}{{&out.phase1, site.Phase1}, {&out.phase2, site.Phase2}} {
		if f.v == nil {
			continue
		}
		b, err := json.Marshal(f.v)
		if err != nil {
			return out, err
		}
		*f.dst = string(b)
	}
	return out, nil
}

// upsertSite inserts or replaces site by name.
func upsertSite(ctx context.Context, tx *Tx, site *vpndiag.Site) error {
	if err := site.Validate(); err != nil {
		return err
	}
	j, err := marshalSite(site)
	if err != nil {
		return err
	}
	var createdAt string
	if err := tx.QueryRowContext(ctx, `INSERT INTO sites (name, cloud_dns_servers, vpn_endpoints, cloud_cidr,
		environment_fqdns, cloud_domain, customer_cidrs, internal_resolvers, customer_peer, routing,
		ike_version, only_443, console_version, channels, phase1, phase2, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET
			cloud_dns_servers = excluded.cloud_dns_servers, vpn_endpoints = excluded.vpn_endpoints,
			cloud_cidr = excluded.cloud_cidr, environment_fqdns = excluded.environment_fqdns,
			cloud_domain = excluded.cloud_domain, customer_cidrs = excluded.customer_cidrs,
			internal_resolvers = excluded.internal_resolvers, customer_peer = excluded.customer_peer,
			routing = excluded.routing, ike_version = excluded.ike_version, only_443 = excluded.only_443,
			console_version = excluded.console_version, channels = excluded.channels,
			phase1 = excluded.phase1, phase2 = excluded.phase2,
			updated_at = excluded.updated_at
		RETURNING id, created_at`,
		site.Name, j.dns, j.endpoints, prefixText(site.CloudCIDR),
		j.fqdns, site.CloudDomain, j.customer, j.resolvers, addrText(site.CustomerPeer), string(site.Routing),
		site.IKEVersion, site.Only443, site.ConsoleVersion, j.channels, j.phase1, j.phase2, formatTime(tx.now), formatTime(tx.now),
	).Scan(&site.ID, &createdAt); err != nil {
		return err
	}
	site.UpdatedAt = tx.now
	site.CreatedAt, err = parseTime(createdAt)
	return err
}

// addrText is the stored form of an optional address ("" when unset).
func addrText(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// prefixText is the stored form of an optional prefix ("" when unset).
func prefixText(p netip.Prefix) string {
	if !p.IsValid() {
		return ""
	}
	return p.String()
}

// findSites returns the sites matching the where clause, ordered by name.
func findSites(ctx context.Context, tx *Tx, where string, args ...any) ([]*vpndiag.Site, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, name, cloud_dns_servers, vpn_endpoints, cloud_cidr,
		environment_fqdns, cloud_domain, customer_cidrs, internal_resolvers, customer_peer, routing,
		ike_version, only_443, console_version, channels, phase1, phase2, created_at, updated_at
		FROM sites `+where+` ORDER BY name`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	sites := []*vpndiag.Site{}
	for rows.Next() {
		var site vpndiag.Site
		var j siteJSON
		var cidr, peer, createdAt, updatedAt string
		if err := rows.Scan(&site.ID, &site.Name, &j.dns, &j.endpoints, &cidr,
			&j.fqdns, &site.CloudDomain, &j.customer, &j.resolvers, &peer, &site.Routing,
			&site.IKEVersion, &site.Only443, &site.ConsoleVersion, &j.channels, &j.phase1, &j.phase2, &createdAt, &updatedAt); err != nil {
			return nil, err
		}
		for _, f := range []struct {
			src string
			dst any
		}{
			{j.dns, &site.CloudDNSServers},
			{j.endpoints, &site.VPNEndpoints},
			{j.fqdns, &site.EnvironmentFQDNs},
			{j.customer, &site.CustomerCIDRs},
			{j.resolvers, &site.InternalResolvers},
			{j.channels, &site.Channels},
		} {
			if err := json.Unmarshal([]byte(f.src), f.dst); err != nil {
				return nil, fmt.Errorf("site %s: %w", site.Name, err)
			}
		}
		if cidr != "" {
			if site.CloudCIDR, err = netip.ParsePrefix(cidr); err != nil {
				return nil, fmt.Errorf("site %s: %w", site.Name, err)
			}
		}
		if peer != "" {
			if site.CustomerPeer, err = netip.ParseAddr(peer); err != nil {
				return nil, fmt.Errorf("site %s: %w", site.Name, err)
			}
		}
		if site.CreatedAt, err = parseTime(createdAt); err != nil {
			return nil, err
		}
		if site.UpdatedAt, err = parseTime(updatedAt); err != nil {
			return nil, err
		}
		if len(site.Channels) == 0 {
			site.Channels = nil
		}
		for _, f := range []struct {
			src string
			dst **vpndiag.Proposals
		}{{j.phase1, &site.Phase1}, {j.phase2, &site.Phase2}} {
			if f.src == "" {
				continue
			}
			*f.dst = &vpndiag.Proposals{}
			if err := json.Unmarshal([]byte(f.src), *f.dst); err != nil {
				return nil, fmt.Errorf("site %s: %w", site.Name, err)
			}
		}
		sites = append(sites, &site)
	}
	return sites, rows.Err()
}

// nonNil stores an empty list as [] rather than null.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
