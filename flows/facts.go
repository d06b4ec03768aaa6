package flows

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/kb"
)

// FactNames are the facts a flow can use in placeholders, auto rules and
// probe targets besides its input variables. Facts come from the case's
// site profile, except source_in_vpn_ranges, derived from the session
// variable source_ip and the profile's customer ranges.
var FactNames = []string{
	"site", "dns_server", "dns_servers", "vpn_endpoint", "vpn_endpoints",
	"env_fqdn", "env_fqdns", "cloud_cidr", "cloud_domain", "customer_cidr",
	"customer_cidrs", "internal_resolver", "internal_resolvers", "customer_peer",
	"routing", "ike_version", "only_443", "tcp_ports", "console_version",
	"self_service_routing", "source_in_vpn_ranges",
}

// guideFacts are the guide's numbers from package kb, usable as
// placeholders so that no flow text repeats a literal.
var guideFacts = map[string]string{
	"ike_lifetime_s":           strconv.Itoa(int(kb.IKELifetime.Seconds())),
	"child_lifetime_s":         strconv.Itoa(int(kb.ChildSALifetime.Seconds())),
	"ikev2_child_lifetime_min": strconv.Itoa(int(kb.IKEv2HourlyDropWorkaround.Minutes())),
	"keepalive_interval_s":     strconv.Itoa(int(kb.KeepaliveInterval.Seconds())),
	"dpd_missed":               strconv.Itoa(kb.DPDMissedReplies),
	"max_sa_pairs":             strconv.Itoa(kb.MaxSAPairs),
	"self_service_version":     kb.SelfServiceRoutingVersion,
	"dns_port":                 strconv.Itoa(kb.DNSPort),
	"ike_port":                 strconv.Itoa(kb.IKEPort),
	"natt_port":                strconv.Itoa(kb.NATTPort),
	"esp_protocol":             strconv.Itoa(kb.ESPProtocol),
	"https_port":               strconv.Itoa(kb.HTTPSPort),
	"http_port":                strconv.Itoa(kb.HTTPPort),
}

func init() {
	for _, k := range sortedKeys(guideFacts) {
		FactNames = append(FactNames, k)
	}
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// listFacts are the facts that hold several values, usable in ProbeDef.Each.
var listFacts = map[string]bool{
	"dns_servers": true, "vpn_endpoints": true, "env_fqdns": true,
	"customer_cidrs": true, "internal_resolvers": true, "tcp_ports": true,
}

// listSingular names the session variable a list fact falls back to when
// the case has no site profile.
var listSingular = map[string]string{
	"dns_servers": "dns_server", "vpn_endpoints": "vpn_endpoint", "env_fqdns": "env_fqdn",
	"customer_cidrs": "customer_cidr", "internal_resolvers": "internal_resolver",
}

// Source names for AutoAnswer.By.
const (
	sourceProfile = "site profile"
	sourceEarlier = "an earlier answer"
)

// Facts is what is known about a case: its site profile and its session
// variables. Session variables (answers given in this case) win over the
// profile.
type Facts struct {
	// Site is the case's site profile; nil when none is known.
	Site *vpndiag.Site
	// Vars are the session variables.
	Vars map[string]string
}

// Lookup returns a fact's value and where it comes from ("site profile",
// "an earlier answer"); ok is false when it is not known.
func (f Facts) Lookup(name string) (value, source string, ok bool) {
	if v, ok := f.Vars[name]; ok && v != "" {
		if src := f.Vars["src:"+name]; src != "" {
			return v, src, true
		}
		return v, sourceEarlier, true
	}
	if v, ok := guideFacts[name]; ok {
		return v, "the guide", true
	}
	if name == "source_in_vpn_ranges" {
		return f.sourceInRanges()
	}
	if listFacts[name] {
		l, src := f.List(name)
		if len(l) == 0 {
			return "", "", false
		}
		if src == "" {
			src = "the guide"
		}
		return strings.Join(l, ", "), src, true
	}
	if v := f.siteFact(name); v != "" {
		return v, sourceProfile, true
	}
	return "", "", false
}

// List returns the values of a list fact: from the site profile, else the
// session variable of the singular name (e.g. dns_server for dns_servers).
func (f Facts) List(name string) ([]string, string) {
	if l := f.siteList(name); len(l) > 0 {
		return l, sourceProfile
	}
	if name == "tcp_ports" {
		return []string{strconv.Itoa(kb.HTTPSPort), strconv.Itoa(kb.HTTPPort)}, ""
	}
	if v, ok := f.Vars[listSingular[name]]; ok && v != "" {
		return []string{v}, sourceEarlier
	}
	return nil, ""
}

func (f Facts) siteList(name string) []string {
	s := f.Site
	if s == nil {
		return nil
	}
	addrs := func(as []netip.Addr) []string {
		var out []string
		for _, a := range as {
			if a.IsValid() {
				out = append(out, a.String())
			}
		}
		return out
	}
	switch name {
	case "dns_servers":
		return addrs(s.CloudDNSServers)
	case "vpn_endpoints":
		return addrs(s.VPNEndpoints)
	case "internal_resolvers":
		return addrs(s.InternalResolvers)
	case "env_fqdns":
		return append([]string(nil), s.EnvironmentFQDNs...)
	case "customer_cidrs":
		var out []string
		for _, p := range s.CustomerCIDRs {
			out = append(out, p.String())
		}
		return out
	case "tcp_ports":
		if s.Only443 {
			return []string{strconv.Itoa(kb.HTTPSPort)}
		}
		return []string{strconv.Itoa(kb.HTTPSPort), strconv.Itoa(kb.HTTPPort)}
	}
	return nil
}

func (f Facts) siteFact(name string) string {
	s := f.Site
	if s == nil {
		return ""
	}
	first := func(list string) string {
		if l := f.siteList(list); len(l) > 0 {
			return l[0]
		}
		return ""
	}
	switch name {
	case "site":
		return s.Name
	case "dns_server":
		return first("dns_servers")
	case "vpn_endpoint":
		return first("vpn_endpoints")
	case "env_fqdn":
		return first("env_fqdns")
	case "customer_cidr":
		return first("customer_cidrs")
	case "internal_resolver":
		return first("internal_resolvers")
	case "cloud_cidr":
		if s.CloudCIDR.IsValid() {
			return s.CloudCIDR.String()
		}
	case "cloud_domain":
		return s.CloudDomain
	case "customer_peer":
		if s.CustomerPeer.IsValid() {
			return s.CustomerPeer.String()
		}
	case "routing":
		return string(s.Routing)
	case "ike_version":
		if s.IKEVersion != 0 {
			return strconv.Itoa(s.IKEVersion)
		}
	case "only_443":
		return yesNo(s.Only443)
	case "console_version":
		return s.ConsoleVersion
	case "self_service_routing":
		if s.ConsoleVersion != "" {
			if ok, valid := versionAtLeast(s.ConsoleVersion, kb.SelfServiceRoutingVersion); valid {
				return yesNo(ok)
			}
		}
	}
	return ""
}

// sourceInRanges derives whether the source_ip variable is inside one of
// the customer ranges of the profile (or the customer_cidr variable).
func (f Facts) sourceInRanges() (string, string, bool) {
	ip, err := netip.ParseAddr(f.Vars["source_ip"])
	if err != nil {
		return "", "", false
	}
	ranges, src := f.List("customer_cidrs")
	if len(ranges) == 0 {
		return "", "", false
	}
	for _, r := range ranges {
		if p, err := netip.ParsePrefix(r); err == nil && p.Contains(ip) {
			return "yes", src, true
		}
	}
	return "no", src, true
}

// Expand replaces {name} and {name|fallback} placeholders with facts; a
// placeholder without a known fact becomes its fallback, or stays as it is
// and is reported in missing.
func (f Facts) Expand(text string) (out string, missing []string) {
	out = varPattern.ReplaceAllStringFunc(text, func(m string) string {
		sub := varPattern.FindStringSubmatch(m)
		if v, _, ok := f.Lookup(sub[1]); ok {
			return v
		}
		if sub[2] != "" {
			return sub[2][1:]
		}
		missing = append(missing, sub[1])
		return m
	})
	return out, missing
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// versionAtLeast compares dotted versions numerically ("11.10.0" ≥ "11.7.0");
// valid is false when v is not a dotted number.
func versionAtLeast(v, min string) (ok, valid bool) {
	parse := func(s string) ([]int, bool) {
		var out []int
		for _, p := range strings.Split(strings.TrimPrefix(strings.TrimSpace(s), "v"), ".") {
			n, err := strconv.Atoi(p)
			if err != nil || n < 0 {
				return nil, false
			}
			out = append(out, n)
		}
		return out, len(out) > 0
	}
	a, ok1 := parse(v)
	b, _ := parse(min)
	if !ok1 {
		return false, false
	}
	for i := 0; i < max(len(a), len(b)); i++ {
		var x, y int
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			return x > y, true
		}
	}
	return true, true
}
