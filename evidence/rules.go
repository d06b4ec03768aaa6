package evidence

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/evidence/config"
	"github.com/vpndiag/vpndiag/kb"
)

// checker builds findings about one config file.
type checker struct {
	name  string
	lines []string // the redacted file, for the text of evidence lines
	site  *vpndiag.Site
	// vendor is the device family of the file (config.Config.Vendor), for
	// fixes that name the device's own setting.
	vendor string
	out    []*vpndiag.Finding
	// cur is the tunnel being checked; its line stands in for a value
	// that is a default (not in the file).
	cur *config.Tunnel
	// notChecked lists checks that could not be made, for the report.
	notChecked []string
}

func (c *checker) ref(line int) vpndiag.EvidenceRef {
	r := vpndiag.EvidenceRef{Name: c.name, Line: line}
	if line > 0 && line <= len(c.lines) {
		t := strings.TrimSpace(c.lines[line-1])
		if len(t) > 300 {
			t = t[:300] + "…"
		}
		r.Text = t
	}
	return r
}

// where formats "file:line" or "file (default)" for a summary.
func (c *checker) where(line int) string {
	if line > 0 {
		return fmt.Sprintf("%s:%d", c.name, line)
	}
	return c.name
}

func (c *checker) add(code string, sev vpndiag.Severity, line int, article, summary, detail, fix string) {
	if line == 0 && c.cur != nil {
		line = c.cur.Line
	}
	f := &vpndiag.Finding{
		Code:      code,
		Severity:  sev,
		Summary:   c.where(line) + ": " + summary,
		Detail:    fmt.Sprintf("%s (kb: %s)", detail, article),
		Fix:       fix,
		KBArticle: article,
		Source:    "rules/" + code,
	}
	f.Evidence = []vpndiag.EvidenceRef{c.ref(line)}
	c.out = append(c.out, f)
}

func secs(d time.Duration) string { return fmt.Sprintf("%d s", int64(d/time.Second)) }

// describe says how a value is set: "set to 10800 s" or "not set, so the
// vendor default of 86400 s applies".
func describe(v config.Value[time.Duration]) string {
	if v.From == config.FromDefault {
		return fmt.Sprintf("not set, so the default of %s applies", secs(v.V))
	}
	return "set to " + secs(v.V)
}

// CheckConfig applies the guide's rules to a parsed configuration. lines
// are the (redacted) lines of the file, for the evidence text; site may be
// nil. It returns the findings and the checks that could not be made.
func CheckConfig(name string, cfg *config.Config, lines []string, site *vpndiag.Site) ([]*vpndiag.Finding, []string) {
	c := &checker{name: name, lines: lines, site: site, vendor: cfg.Vendor}
	for _, t := range cfg.Tunnels {
		c.tunnel(cfg, t)
	}
	if site != nil && site.Routing != "" && cfg.Routing.Known() && cfg.Routing.From == config.FromFile && string(site.Routing) != cfg.Routing.V {
		c.notChecked = append(c.notChecked, fmt.Sprintf("routing: the file uses %s, the site profile says %s", cfg.Routing.V, site.Routing))
	}
	return c.out, dedupe(c.notChecked)
}

func dedupe(ss []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func (c *checker) tunnel(cfg *config.Config, t *config.Tunnel) {
	c.cur = t
	tn := fmt.Sprintf("tunnel %q", t.Name)
	ikev2 := t.IKEVersion.Known() && t.IKEVersion.V == 2 || c.site != nil && c.site.IKEVersion == 2 && (!t.IKEVersion.Known() || t.IKEVersion.V == 0)

	c.lifetimes(cfg, t, tn, ikev2)
	c.proposals(t, tn)
	c.idleClose(cfg, t, tn)

	// PFS.
	switch {
	case !t.PFS.Known():
		c.notChecked = append(c.notChecked, tn+": PFS setting not found")
	case !t.PFS.V:
		how := "is off"
		if t.PFS.From == config.FromDefault {
			how = "is not configured (off by default)"
		}
		c.add(kb.CodePFSDisabled, vpndiag.SeverityError, t.PFS.Line, kb.ArticlePhase2,
			fmt.Sprintf("%s: perfect forward secrecy (PFS) %s", tn, how),
			"The cloud negotiates phase 2 with PFS; a device without PFS gets NO_PROPOSAL_CHOSEN for the IPsec SA, or drops at rekey.",
			"Enable PFS for phase 2 with the Diffie-Hellman group given in the cloud's VPN configuration file (e.g. group 14).")
	}

	// Traffic selectors / SA pairs.
	if n := len(t.Selectors); n > kb.MaxSAPairs {
		var pairs []string
		for _, s := range t.Selectors {
			pairs = append(pairs, s.String())
		}
		c.add(kb.CodeMultipleSAPairs, vpndiag.SeverityError, t.Selectors[0].Line, kb.ArticleSingleSAPair,
			fmt.Sprintf("%s: %d traffic-selector (SA) pairs: %s", tn, n, strings.Join(pairs, "; ")),
			fmt.Sprintf("The cloud supports %d inbound/outbound SA pair per tunnel; more pairs make only one network work, or the tunnel flap as pairs replace each other.", kb.MaxSAPairs),
			"Summarise your networks into one local CIDR (or use 0.0.0.0/0) and the cloud side into its full internal range, so that there is exactly one pair.")
	} else if n == 0 && !t.RouteBased.V {
		c.notChecked = append(c.notChecked, tn+": traffic selectors not found")
	}

	// DPD.
	switch {
	case !t.DPD.Enabled.Known():
		c.notChecked = append(c.notChecked, tn+": DPD setting not found")
	case !t.DPD.Enabled.V:
		how := "is off"
		if t.DPD.Enabled.From == config.FromDefault {
			how = "is not configured (off by default)"
		}
		c.add(kb.CodeDPDDisabled, vpndiag.SeverityWarning, t.DPD.Enabled.Line, kb.ArticleDPDIdle,
			fmt.Sprintf("%s: dead peer detection %s", tn, how),
			fmt.Sprintf("The cloud sends DPD requests and closes the tunnel after %d unanswered; without DPD your device also keeps a dead tunnel up instead of renegotiating.", kb.DPDMissedReplies),
			"Enable DPD (e.g. every 10 seconds, 3 retries) and keep the tunnel busy with a keep-alive ping to a cloud DNS server.")
	}

	// NAT-T.
	if t.NATT.Known() && t.NATT.V == "disabled" {
		sev := vpndiag.SeverityInfo
		summary := fmt.Sprintf("%s: NAT traversal is disabled", tn)
		detail := fmt.Sprintf("Without NAT-T, IKE and ESP cannot pass a NAT device: fine only when the device's outside address is public and not translated (UDP %d is then not used).", kb.NATTPort)
		if behindNAT(t.Local.V) {
			sev = vpndiag.SeverityError
			summary += fmt.Sprintf(" but the local address %s is private, so the device sits behind NAT", t.Local.V)
			detail = fmt.Sprintf("Behind NAT, IKE and ESP must be encapsulated in UDP %d; with NAT-T off the tunnel cannot come up.", kb.NATTPort)
		}
		c.add(kb.CodeNATTraversal, sev, t.NATT.Line, kb.ArticlePhase1, summary, detail,
			fmt.Sprintf("If the device is behind NAT, enable NAT traversal and allow UDP %d both ways.", kb.NATTPort))
	} else if t.NATT.Known() && t.NATT.V == "forced" {
		c.add(kb.CodeNATTraversal, vpndiag.SeverityInfo, t.NATT.Line, kb.ArticlePhase1,
			fmt.Sprintf("%s: UDP encapsulation is forced", tn),
			fmt.Sprintf("All traffic goes over UDP %d even without NAT; firewalls on the path must allow it.", kb.NATTPort),
			fmt.Sprintf("Allow UDP %d both ways, or let NAT-T be detected automatically.", kb.NATTPort))
	}

	// PSK.
	switch {
	case t.Auth.Known() && t.Auth.V != "psk":
		c.add(kb.CodeNoPSK, vpndiag.SeverityError, t.Auth.Line, kb.ArticlePhase1,
			fmt.Sprintf("%s: authenticates with %s, not a pre-shared key", tn, t.Auth.V),
			"The cloud authenticates site-to-site tunnels with the pre-shared key from its VPN configuration file.",
			"Configure pre-shared key authentication with the key from the cloud's VPN configuration file.")
	case t.PSK.Known() && !t.PSK.V:
		c.add(kb.CodeNoPSK, vpndiag.SeverityError, t.PSK.Line, kb.ArticlePhase1,
			fmt.Sprintf("%s: no pre-shared key is configured", tn),
			"Without the pre-shared key phase 1 authentication fails (AUTHENTICATION_FAILED).",
			"Configure the pre-shared key from the cloud's VPN configuration file for this peer.")
	case !t.PSK.Known():
		c.notChecked = append(c.notChecked, tn+": pre-shared key not in this file")
	}

	// Against the site profile.
	if c.site == nil {
		c.notChecked = append(c.notChecked, "peers, IKE version and networks against the site profile: no --site given")
		return
	}
	if c.site.IKEVersion != 0 && t.IKEVersion.Known() && t.IKEVersion.V != 0 && t.IKEVersion.V != c.site.IKEVersion {
		how := "uses"
		if t.IKEVersion.From == config.FromDefault {
			how = "uses by default"
		}
		c.add(kb.CodeIKEVersionMismatch, vpndiag.SeverityCritical, t.IKEVersion.Line, kb.ArticlePhase1,
			fmt.Sprintf("%s %s IKEv%d; site %q is set up for IKEv%d", tn, how, t.IKEVersion.V, c.site.Name, c.site.IKEVersion),
			fmt.Sprintf("The cloud answers only IKEv%d: an IKEv%d attempt is refused at once (NO_PROPOSAL_CHOSEN to the first message) or gets no answer.", c.site.IKEVersion, t.IKEVersion.V),
			fmt.Sprintf("Set the IKE version to IKEv%d (%s), keeping the same proposals, lifetimes and key.", c.site.IKEVersion, deviceSetting(c.vendor, settingVersion)))
	}
	if len(c.site.VPNEndpoints) > 0 {
		for _, p := range t.Peers {
			a, err := netip.ParseAddr(p.V)
			if err != nil {
				c.notChecked = append(c.notChecked, fmt.Sprintf("%s: peer %q is not an IP address", tn, p.V))
				continue
			}
			found := false
			for _, e := range c.site.VPNEndpoints {
				if e == a {
					found = true
				}
			}
			if !found {
				var eps []string
				for _, e := range c.site.VPNEndpoints {
					eps = append(eps, e.String())
				}
				c.add(kb.CodePeerMismatch, vpndiag.SeverityCritical, p.Line, kb.ArticleConfigFile,
					fmt.Sprintf("%s: peer %s is not a VPN endpoint of site %q (%s)", tn, a, c.site.Name, strings.Join(eps, ", ")),
					"The device negotiates with an address the cloud does not use for this site (an old or mistyped endpoint), so IKE gets no answer.",
					fmt.Sprintf("Set the peer to %s (%s), the VPN endpoint from the cloud's VPN configuration file.", strings.Join(eps, " or "), deviceSetting(c.vendor, settingPeer)))
			}
		}
	}
	c.identities(tn, t)
	c.selectorsVsSite(tn, t)
}

// identities checks the IKE identities against the site profile: the cloud
// identifies each end by its public address (kb article phase1-ike-failure), so the
// device must send its peer address and expect an endpoint's.
func (c *checker) identities(tn string, t *config.Tunnel) {
	if t.LocalID.Known() && c.site.CustomerPeer.IsValid() && !sameAddr(t.LocalID.V, c.site.CustomerPeer) {
		c.add(kb.CodeIDMismatch, vpndiag.SeverityCritical, t.LocalID.Line, kb.ArticlePhase1,
			fmt.Sprintf("%s: sends the IKE identity %q; the cloud expects the device's address %s", tn, t.LocalID.V, c.site.CustomerPeer),
			"The cloud finds the tunnel for your device by the identity it sends; another identity matches none and it answers AUTHENTICATION_FAILED, exactly as for a wrong pre-shared key.",
			fmt.Sprintf("Set the local identity to the address %s (%s).", c.site.CustomerPeer, deviceSetting(c.vendor, settingLocalID)))
	}
	if t.RemoteID.Known() && len(c.site.VPNEndpoints) > 0 && !slices.ContainsFunc(c.site.VPNEndpoints, func(e netip.Addr) bool { return sameAddr(t.RemoteID.V, e) }) {
		c.add(kb.CodeIDMismatch, vpndiag.SeverityCritical, t.RemoteID.Line, kb.ArticlePhase1,
			fmt.Sprintf("%s: expects the peer identity %q; the cloud identifies itself by its endpoint address", tn, t.RemoteID.V),
			"An identity the cloud does not send makes your device refuse the cloud's answer (no matching peer config, AUTHENTICATION_FAILED).",
			fmt.Sprintf("Set the remote identity to the endpoint address %s (%s).", c.site.VPNEndpoints[0], deviceSetting(c.vendor, settingRemoteID)))
	}
}

// sameAddr reports whether an identity as written (an address, possibly
// with a type prefix such as "ipv4:" or "@") names addr.
func sameAddr(id string, addr netip.Addr) bool {
	id = strings.TrimSpace(strings.Trim(id, `"`))
	if i := strings.LastIndex(id, ":"); i >= 0 && strings.Count(id, ":") == 1 {
		id = id[i+1:]
	}
	a, err := netip.ParseAddr(id)
	return err == nil && a == addr
}

// Device settings the fixes name.
const (
	settingPeer = iota
	settingLocalID
	settingRemoteID
	settingVersion
)

// deviceSetting names a setting as the device family calls it, so that a
// fix reads in the customer's own terms.
func deviceSetting(vendor string, setting int) string {
	names := map[string][4]string{
		"strongswan": {"swanctl.conf: remote_addrs; ipsec.conf: right=", "swanctl.conf: local { id = }; ipsec.conf: leftid=", "swanctl.conf: remote { id = }; ipsec.conf: rightid=", "swanctl.conf: version = 2; ipsec.conf: keyexchange=ikev2"},
		"libreswan":  {"ipsec.conf: right=", "ipsec.conf: leftid=", "ipsec.conf: rightid=", "ipsec.conf: ikev2=insist"},
		"cisco-asa":  {"tunnel-group NAME and crypto map ... set peer", "crypto isakmp identity address", "tunnel-group NAME ipsec-attributes peer-id-validate", "crypto map ... set ikev2 ipsec-proposal, and an ikev2 enabled interface"},
		"cisco-ios":  {"crypto ikev2 keyring peer ... address, and tunnel destination or set peer", "IKEv1: crypto isakmp identity address; IKEv2: crypto ikev2 profile: identity local address", "crypto ikev2 profile: match identity remote address", "an IKEv2 profile (crypto ikev2 profile) on the tunnel"},
		"fortigate":  {"config vpn ipsec phase1-interface: set remote-gw", "config vpn ipsec phase1-interface: set localid", "config vpn ipsec phase1-interface: set peerid", "config vpn ipsec phase1-interface: set ike-version 2"},
		"juniper":    {"security ike gateway NAME address", "security ike gateway NAME local-identity inet", "security ike gateway NAME remote-identity inet", "security ike gateway NAME version v2-only"},
		"paloalto":   {"IKE Gateway: Peer Address", "IKE Gateway: Local Identification (IP address)", "IKE Gateway: Peer Identification (IP address)", "IKE Gateway: Version IKEv2 only mode"},
		"mikrotik":   {"/ip ipsec peer address=", "/ip ipsec identity my-id=address:", "/ip ipsec identity remote-id=ignore or address", "/ip ipsec peer exchange-mode=ike2"},
		"pfsense":    {"VPN > IPsec > Phase 1: Remote Gateway", "VPN > IPsec > Phase 1: My identifier (My IP address)", "VPN > IPsec > Phase 1: Peer identifier (Peer IP address)", "VPN > IPsec > Phase 1: Key Exchange version IKEv2"},
	}
	generic := [4]string{"the peer or remote gateway address", "the local identity (IP address type)", "the peer identity (IP address type)", "the IKE version"}
	if n, ok := names[vendor]; ok {
		return n[setting]
	}
	return generic[setting]
}

// selectorsVsSite checks that the remote side of the selectors covers the
// cloud's full internal range and the local side lies in the customer's
// ranges.
func (c *checker) selectorsVsSite(tn string, t *config.Tunnel) {
	if !c.site.CloudCIDR.IsValid() {
		return
	}
	for _, s := range t.Selectors {
		rem, err := netip.ParsePrefix(s.Remote)
		if err != nil {
			if s.Remote != "any" && s.Remote != "0.0.0.0/0" {
				c.notChecked = append(c.notChecked, fmt.Sprintf("%s: remote selector %q is not a CIDR", tn, s.Remote))
			}
			continue
		}
		if !(rem.Bits() <= c.site.CloudCIDR.Bits() && rem.Contains(c.site.CloudCIDR.Addr())) {
			c.add(kb.CodeTSUnacceptable, vpndiag.SeverityError, s.Line, kb.ArticleFullInternalRange,
				fmt.Sprintf("%s: remote traffic selector %s does not cover the cloud's internal range %s", tn, rem, c.site.CloudCIDR),
				"The cloud proposes its full internal range; a narrower or different remote network is refused (TS_UNACCEPTABLE) or leaves parts unreachable.",
				fmt.Sprintf("Set the remote network (encryption domain) to %s.", c.site.CloudCIDR))
		}
		if loc, err := netip.ParsePrefix(s.Local); err == nil && len(c.site.CustomerCIDRs) > 0 && loc.Bits() > 0 {
			in := false
			for _, p := range c.site.CustomerCIDRs {
				if p.Bits() <= loc.Bits() && p.Contains(loc.Addr()) {
					in = true
				}
			}
			if !in {
				c.add(kb.CodeTSUnacceptable, vpndiag.SeverityError, s.Line, kb.ArticleInternalRangeChanged,
					fmt.Sprintf("%s: local traffic selector %s is not within the site's customer ranges", tn, loc),
					"The cloud routes only the customer ranges configured for the site; other local networks are refused or not routed back.",
					"Use the customer ranges configured for the site, or update the site's ranges in the cloud.")
			}
		}
	}
}

// behindNAT reports whether a local address is private (the device is then
// behind NAT).
func behindNAT(local string) bool {
	a, err := netip.ParseAddr(local)
	return err == nil && (a.IsPrivate() || netip.MustParsePrefix("100.64.0.0/10").Contains(a))
}
