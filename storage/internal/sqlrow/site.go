package sqlrow

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"

	"github.com/vpndiag/vpndiag"
)

// siteColumns are the columns of sites a store writes, in order.
var siteColumns = []string{"name", "cloud_dns_servers", "vpn_endpoints", "cloud_cidr",
	"environment_fqdns", "cloud_domain", "customer_cidrs", "internal_resolvers", "customer_peer", "routing",
	"ike_version", "only_443", "console_version", "channels", "phase1", "phase2", "created_at", "updated_at"}

// SiteColumns are the columns ScanSite reads, in order.
var SiteColumns = "id, " + strings.Join(siteColumns, ", ")

// SiteUpsert returns the statement that inserts site, or replaces the site
// with the same name keeping its ID and created_at, and its parameters; it
// returns id and created_at. now is the transaction's time as the store
// writes times. It validates site first.
func SiteUpsert(d Dialect, site *vpndiag.Site, now any) (string, []any, error) {
	if err := site.Validate(); err != nil {
		return "", nil, err
	}
	lists := make([]string, 0, 6)
	for _, v := range []any{site.CloudDNSServers, site.VPNEndpoints, site.EnvironmentFQDNs,
		site.CustomerCIDRs, site.InternalResolvers, nonNil(site.Channels)} {
		b, err := json.Marshal(v)
		if err != nil {
			return "", nil, err
		}
		lists = append(lists, string(b))
	}
	phases := make([]any, 0, 2)
	for _, p := range []*vpndiag.Proposals{site.Phase1, site.Phase2} {
		if p == nil {
			phases = append(phases, d.Unset)
			continue
		}
		b, err := json.Marshal(p)
		if err != nil {
			return "", nil, err
		}
		phases = append(phases, string(b))
	}
	a := d.Args()
	vals := []string{
		a.Add(site.Name), a.Add(lists[0]), a.Add(lists[1]), a.Add(prefixText(site.CloudCIDR)),
		a.Add(lists[2]), a.Add(site.CloudDomain), a.Add(lists[3]), a.Add(lists[4]), a.Add(addrText(site.CustomerPeer)),
		a.Add(string(site.Routing)), a.Add(site.IKEVersion), a.Add(site.Only443), a.Add(site.ConsoleVersion),
		a.Add(lists[5]), a.Add(phases[0]), a.Add(phases[1]), a.Add(now), a.Add(now),
	}
	var set []string
	for _, c := range siteColumns[1:] {
		if c != "created_at" {
			set = append(set, c+" = excluded."+c)
		}
	}
	q := `INSERT INTO sites (` + strings.Join(siteColumns, ", ") + `) VALUES (` + strings.Join(vals, ", ") + `)
		ON CONFLICT (name) DO UPDATE SET ` + strings.Join(set, ", ") + `
		RETURNING id, created_at`
	return q, a.Values(), nil
}

// ScanSite reads one row of SiteColumns.
func ScanSite(sc Scanner) (*vpndiag.Site, error) {
	var site vpndiag.Site
	var dns, endpoints, fqdns, customer, resolvers, channels, phase1, phase2, cidr, peer string
	if err := sc.Scan(&site.ID, &site.Name, Text(&dns), Text(&endpoints), &cidr,
		Text(&fqdns), &site.CloudDomain, Text(&customer), Text(&resolvers), &peer, &site.Routing,
		&site.IKEVersion, &site.Only443, &site.ConsoleVersion, Text(&channels), Text(&phase1), Text(&phase2),
		Time(&site.CreatedAt), Time(&site.UpdatedAt)); err != nil {
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
		src string
		dst **vpndiag.Proposals
	}{{phase1, &site.Phase1}, {phase2, &site.Phase2}} {
		if f.src == "" {
			continue
		}
		var p vpndiag.Proposals
		if err := json.Unmarshal([]byte(f.src), &p); err != nil {
			return nil, fmt.Errorf("site %s: %w", site.Name, err)
		}
		*f.dst = &p
	}
	return &site, nil
}

// SiteNamed is the ENOTFOUND error of a site name.
func SiteNamed(name string) error {
	return vpndiag.Errorf(vpndiag.ENOTFOUND, "Site %q not found.", name)
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

// nonNil stores an empty list as [] rather than null.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
