package vpndiag

import (
	"context"
	"slices"

	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Routing is how the customer's network and the cloud exchange routes.
type Routing string

const (
	RoutingStatic Routing = "static" // static routes / policy-based encryption domain
	RoutingBGP    Routing = "bgp"    // dynamic routing over the tunnels
)

// Site is a customer's VPN set-up as the cloud provisioned it. It is asked once
// per site and reused by every case, so that a question the profile already
// answers is skipped. The YAML form is the same in the config file, in
// `vpndiag analyze --site` and in the Slack setup modal.
type Site struct {
	// ID is the store's primary key.
	ID int64 `json:"id" yaml:"-"`
	// Name identifies the site, e.g. "hq" or "acme-prod".
	Name string `json:"name" yaml:"name"`
	// CloudDNSServers are the private IPs of the cloud DNS servers given in the
	// initial VPN configuration; the only cloud hosts that answer ping.
	CloudDNSServers []netip.Addr `json:"cloud_dns_servers" yaml:"cloud_dns_servers"`
	// VPNEndpoints are the public IPs of the cloud VPN tunnel endpoints.
	VPNEndpoints []netip.Addr `json:"vpn_endpoints" yaml:"vpn_endpoints"`
	// CloudCIDR is the cloud's full internal range; customer firewalls must
	// allow all of it.
	CloudCIDR netip.Prefix `json:"cloud_cidr" yaml:"cloud_cidr"`
	// EnvironmentFQDNs are the environments' public names, which must resolve
	// to private addresses over the VPN through the conditional forwarder.
	EnvironmentFQDNs []string `json:"environment_fqdns" yaml:"environment_fqdns"`
	// CloudDomain is the domain the conditional forwarder must send to the
	// cloud DNS servers (e.g. "example.cloud").
	CloudDomain string `json:"cloud_domain,omitempty" yaml:"cloud_domain,omitempty"`
	// CustomerCIDRs are the customer's internal ranges routed over the VPN.
	CustomerCIDRs []netip.Prefix `json:"customer_cidrs" yaml:"customer_cidrs"`
	// InternalResolvers are the customer's own DNS servers, where the
	// conditional forwarder lives.
	InternalResolvers []netip.Addr `json:"internal_resolvers,omitempty" yaml:"internal_resolvers,omitempty"`
	// CustomerPeer is the public IP of the customer's VPN device as configured
	// in the cloud.
	CustomerPeer netip.Addr `json:"customer_peer,omitzero" yaml:"customer_peer,omitempty"`
	// Routing is static or bgp.
	Routing Routing `json:"routing" yaml:"routing"`
	// IKEVersion is 1 or 2.
	IKEVersion int `json:"ike_version" yaml:"ike_version"`
	// Only443 is true for editions that allow only TCP 443 to environments
	// (no port 80).
	Only443 bool `json:"only_443" yaml:"only_443"`
	// ConsoleVersion is the management console version, which decides whether
	// static routes can be changed self-service (11.7.0 or later).
	ConsoleVersion string `json:"console_version,omitempty" yaml:"console_version,omitempty"`
	// Channels are the Slack channels the site belongs to: only they may
	// read (`setup NAME`), change or use it (cases, probes through its
	// relays). A site set up from Slack belongs to the channel it was set
	// up in; the config file may list several. Empty (the config file and
	// the terminal by default) means every channel may use it, and Slack
	// may not change it.
	Channels []string `json:"channels,omitempty" yaml:"channels,omitempty"`
	// Phase1 and Phase2 are the proposals the cloud accepts for this site
	// when they differ from the cloud's published set; empty lists (or no
	// block) mean the published set.
	Phase1 *Proposals `json:"phase1,omitempty" yaml:"phase1,omitempty"`
	Phase2 *Proposals `json:"phase2,omitempty" yaml:"phase2,omitempty"`
	// CreatedAt and UpdatedAt are maintained by the store.
	CreatedAt time.Time `json:"created_at" yaml:"-"`
	UpdatedAt time.Time `json:"updated_at" yaml:"-"`
}

// UsableIn reports whether the Slack channel may read and use the site:
// it is one of Channels, or Channels is empty.
func (s *Site) UsableIn(channel string) bool {
	return len(s.Channels) == 0 || slices.Contains(s.Channels, channel)
}

// OwnedBy reports whether the Slack channel may change the site: it is one
// of Channels (a site without channels is changed in the config file).
func (s *Site) OwnedBy(channel string) bool {
	return channel != "" && slices.Contains(s.Channels, channel)
}

// Proposals is what the cloud accepts in one negotiation phase.
type Proposals struct {
	// Encryption are ciphers, e.g. "aes256", "aes128gcm16".
	Encryption []string `json:"encryption,omitempty" yaml:"encryption,omitempty"`
	// Integrity are integrity algorithms, e.g. "sha256".
	Integrity []string `json:"integrity,omitempty" yaml:"integrity,omitempty"`
	// DHGroups are Diffie-Hellman groups by IANA number (14 = modp2048);
	// for phase 2 they are the accepted PFS groups.
	DHGroups []int `json:"dh_groups,omitempty" yaml:"dh_groups,omitempty"`
}

// Validate returns every problem with the profile, each naming its field,
// joined into one EINVALID error; nil when the profile is usable.
func (s *Site) Validate() error {
	var probs []string
	add := func(format string, args ...any) { probs = append(probs, fmt.Sprintf(format, args...)) }
	if s.Name == "" {
		add("name: required")
	} else if strings.ContainsAny(s.Name, " \t\n/") {
		add("name: %q must not contain spaces or slashes", s.Name)
	}
	for i, c := range s.Channels {
		if c == "" || len(c) > 64 || strings.ContainsAny(c, " \t\n,") {
			add("channels[%d]: %q is not a Slack channel ID (e.g. C0123ABCD)", i, c)
		}
	}
	if len(s.CloudDNSServers) == 0 {
		add("cloud_dns_servers: at least one address is required")
	}
	for i, a := range s.CloudDNSServers {
		if !a.IsValid() {
			add("cloud_dns_servers[%d]: not an IP address", i)
		}
	}
	for i, a := range s.VPNEndpoints {
		if !a.IsValid() {
			add("vpn_endpoints[%d]: not an IP address", i)
		}
	}
	if s.CloudCIDR.IsValid() && s.CloudCIDR != s.CloudCIDR.Masked() {
		add("cloud_cidr: %s has host bits set (did you mean %s?)", s.CloudCIDR, s.CloudCIDR.Masked())
	}
	for i, p := range s.CustomerCIDRs {
		if !p.IsValid() {
			add("customer_cidrs[%d]: not a CIDR", i)
		} else if p != p.Masked() {
			add("customer_cidrs[%d]: %s has host bits set (did you mean %s?)", i, p, p.Masked())
		}
	}
	for i, f := range s.EnvironmentFQDNs {
		if !ValidFQDN(f) {
			add("environment_fqdns[%d]: %q is not a valid DNS name", i, f)
		}
	}
	if s.CloudDomain != "" && !ValidFQDN(s.CloudDomain) {
		add("cloud_domain: %q is not a valid DNS name", s.CloudDomain)
	}
	switch s.Routing {
	case "", RoutingStatic, RoutingBGP:
	default:
		add("routing: %q must be static or bgp", s.Routing)
	}
	switch s.IKEVersion {
	case 0, 1, 2:
	default:
		add("ike_version: %d must be 1 or 2", s.IKEVersion)
	}
	for _, ph := range []struct {
		name string
		p    *Proposals
	}{{"phase1", s.Phase1}, {"phase2", s.Phase2}} {
		name, p := ph.name, ph.p
		if p == nil {
			continue
		}
		for i, g := range p.DHGroups {
			if g < 1 || g > 40 {
				add("%s.dh_groups[%d]: %d is not a Diffie-Hellman group number", name, i, g)
			}
		}
		for i, e := range p.Encryption {
			if strings.TrimSpace(e) == "" {
				add("%s.encryption[%d]: empty", name, i)
			}
		}
		for i, e := range p.Integrity {
			if strings.TrimSpace(e) == "" {
				add("%s.integrity[%d]: empty", name, i)
			}
		}
	}
	if len(probs) == 0 {
		return nil
	}
	return Errorf(EINVALID, "Site profile %q: %s.", s.Name, strings.Join(probs, "; "))
}

// ValidFQDN reports whether name is a syntactically valid DNS name (a
// trailing dot is allowed).
func ValidFQDN(name string) bool {
	name = strings.TrimSuffix(name, ".")
	if name == "" || len(name) > 253 {
		return false
	}
	if _, err := netip.ParseAddr(name); err == nil {
		return false
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}

// SiteService stores site profiles.
type SiteService interface {
	// FindSiteByID returns ENOTFOUND when there is no such site.
	FindSiteByID(ctx context.Context, id int64) (*Site, error)
	// FindSiteByName returns ENOTFOUND when there is no such site.
	FindSiteByName(ctx context.Context, name string) (*Site, error)
	// FindSites returns every site ordered by name.
	FindSites(ctx context.Context) ([]*Site, error)
	// UpsertSite creates the site or replaces the one with the same name,
	// setting ID and timestamps.
	UpsertSite(ctx context.Context, s *Site) error
}
