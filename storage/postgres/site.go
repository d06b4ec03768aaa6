package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"

	"github.com/jackc/pgx/v5"
	"github.com/vpndiag/vpndiag"
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
		return nil, vpndiag.Errorf(vpndiag.ENOTFOUND, "Site %d not found.", id)
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
		return nil, vpndiag.Errorf(vpndiag.ENOTFOUND, "Site %q not found.", name)
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

// siteJSON are a site's list columns, encoded.
type siteJSON struct {
	dns, endpoints, fqdns, customer, resolvers, channels []byte
	phase1, phase2                                       *string // nil when unset
}

// marshalSite encodes the list columns of site.
func marshalSite(site *vpndiag.Site) (siteJSON, error) {
	var out siteJSON
	for _, f := range []struct {
		dst *[]byte
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
		*f.dst = b
	}
	for _, f := range []struct {
		dst **string
		v   *vpndiag.Proposals
	}{{&out.phase1, site.Phase1}, {&out.phase2, site.Phase2}} {
		if f.v == nil {
			continue
		}
		b, err := json.Marshal(f.v)
		if err != nil {
			return out, err
		}
		text := string(b)
		*f.dst = &text
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
	if err := tx.QueryRow(ctx, `INSERT INTO sites (name, cloud_dns_servers, vpn_endpoints, cloud_cidr,
		environment_fqdns, cloud_domain, customer_cidrs, internal_resolvers, customer_peer, routing,
		ike_version, only_443, console_version, channels, phase1, phase2, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
		ON CONFLICT (name) DO UPDATE SET
			cloud_dns_servers = excluded.cloud_dns_servers, vpn_endpoints = excluded.vpn_endpoints,
			cloud_cidr = excluded.cloud_cidr, environment_fqdns = excluded.environment_fqdns,
			cloud_domain = excluded.cloud_domain, customer_cidrs = excluded.customer_cidrs,
			internal_resolvers = excluded.internal_resolvers, customer_peer = excluded.customer_peer,
			routing = excluded.routing, ike_version = excluded.ike_version, only_443 = excluded.only_443,
			console_version = excluded.console_version, channels = excluded.channels,
			phase1 = excluded.phase1, phase2 = excluded.phase2, updated_at = excluded.updated_at
		RETURNING id, created_at`,
		site.Name, string(j.dns), string(j.endpoints), prefixText(site.CloudCIDR),
		string(j.fqdns), site.CloudDomain, string(j.customer), string(j.resolvers), addrText(site.CustomerPeer),
		string(site.Routing), site.IKEVersion, site.Only443, site.ConsoleVersion, string(j.channels), j.phase1, j.phase2, tx.now, tx.now,
	).Scan(&site.ID, &site.CreatedAt); err != nil {
		return runtimeError(err)
	}
	site.CreatedAt, site.UpdatedAt = site.CreatedAt.UTC(), tx.now
	return nil
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
	rows, err := tx.Query(ctx, `SELECT id, name, cloud_dns_servers::text, vpn_endpoints::text, cloud_cidr,
		environment_fqdns::text, cloud_domain, customer_cidrs::text, internal_resolvers::text, customer_peer, routing,
		ike_version, only_443, console_version, channels::text, phase1::text, phase2::text, created_at, updated_at
		FROM sites `+where+` ORDER BY name`, args...)
	if err != nil {
		return nil, runtimeError(err)
	}
	sites, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*vpndiag.Site, error) {
		var site vpndiag.Site
		var dns, endpoints, fqdns, customer, resolvers, channels string
		var phase1, phase2 *string
		var cidr, peer string
		if err := row.Scan(&site.ID, &site.Name, &dns, &endpoints, &cidr,
			&fqdns, &site.CloudDomain, &customer, &resolvers, &peer, &site.Routing,
			&site.IKEVersion, &site.Only443, &site.ConsoleVersion, &channels, &phase1, &phase2, &site.CreatedAt, &site.UpdatedAt); err != nil {
			return nil, err
		}
		for _, f := range []struct {
			src string
			dst any
		}{
			{dns, &site.CloudDNSServers},
			{endpoints, &site.VPNEndpoints},
			{fqdns, &site.EnvironmentFQDNs},
			{customer, &site.CustomerCIDRs},
			{resolvers, &site.InternalResolvers},
			{channels, &site.Channels},
		} {
			if err := json.Unmarshal([]byte(f.src), f.dst); err != nil {
				return nil, fmt.Errorf("site %s: %w", site.Name, err)
			}
		}
		var err error
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
		if len(site.Channels) == 0 {
			site.Channels = nil
		}
		for _, f := range []struct {
			src *string
			dst **vpndiag.Proposals
		}{{phase1, &site.Phase1}, {phase2, &site.Phase2}} {
			if f.src == nil {
				continue
			}
			var p vpndiag.Proposals
			if err := json.Unmarshal([]byte(*f.src), &p); err != nil {
				return nil, fmt.Errorf("site %s: %w", site.Name, err)
			}
			*f.dst = &p
		}
		site.CreatedAt, site.UpdatedAt = site.CreatedAt.UTC(), site.UpdatedAt.UTC()
		return &site, nil
	})
	if err != nil {
		return nil, runtimeError(err)
	}
	if sites == nil {
		sites = []*vpndiag.Site{}
	}
	return sites, nil
}

// nonNil stores an empty list as [] rather than null.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
