package evidence

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/evidence/config"
	"github.com/vpndiag/vpndiag/kb"
)

// Lifetimes are compared as hard lifetimes: the moment the SA expires,
// which is what the cloud's 28800 s (IKE SA) and 3600 s (IPsec SA) are.
// Most vendors configure only that and renew some time before it. Where
// the device's own renewal time is configured apart (strongSwan swanctl
// rekey_time, with life_time or over_time for the expiry), the renewal
// must come before the cloud's expiry: a renewal at 3600 s with the SA
// kept until 3960 s races the cloud, which is the hourly IKEv2 drop.

// separateRekey reports whether the format configures renewal apart from
// the hard lifetime, so that Rekey is what the user wrote.
func separateRekey(cfg *config.Config) bool { return cfg.Format() == config.FormatSwanctl }

// near reports whether hard lies within the last tenth before want.
func near(hard, want time.Duration) bool { return hard <= want && hard >= want-want/10 }

func (c *checker) lifetimes(cfg *config.Config, t *config.Tunnel, tn string, ikev2 bool) {
	sep := separateRekey(cfg)
	// strongSwan's "either version" (swanctl version = 0, ipsec.conf
	// keyexchange=ike) initiates with IKEv2.
	if f := cfg.Format(); !ikev2 && t.IKEVersion.Known() && t.IKEVersion.V == 0 && (f == config.FormatSwanctl || f == config.FormatStrongSwanIPC) {
		ikev2 = true
	}

	// Phase 1.
	h, r := t.Phase1.Lifetime, t.Phase1.Rekey
	switch {
	case !h.Known() && r.Known() && r.V == 0:
		c.notChecked = append(c.notChecked, tn+": the IKE SA is never renewed nor expired (rekey_time = 0)")
	case !h.Known():
		c.notChecked = append(c.notChecked, tn+": phase 1 lifetime not found")
	case h.V == kb.IKELifetime, sep && r.Known() && r.V < h.V && near(h.V, kb.IKELifetime):
	case sep && r.Known() && r.V == kb.IKELifetime && h.V <= kb.IKELifetime+kb.IKELifetime/10:
		// Renewed at the cloud's 28800 s, as the guide asks; over_time
		// only bounds a renewal that fails. Unlike phase 2 (the IKEv2
		// hourly drop), no drop pattern of the IKE SA is known for this.
	default:
		summary := fmt.Sprintf("%s: phase 1 (IKE) lifetime is %s; the cloud expects %s", tn, describe(h), secs(kb.IKELifetime))
		line := h.Line
		if sep && r.Known() {
			if r.From == config.FromFile {
				line = r.Line
			}
			how := "by default"
			if r.From == config.FromFile || h.From == config.FromFile {
				how = "as configured"
			}
			summary = fmt.Sprintf("%s: the IKE SA is renewed at %s and expires at %s (%s); the cloud's IKE lifetime is %s", tn, secs(r.V), secs(h.V), how, secs(kb.IKELifetime))
		}
		detail := "Different phase 1 lifetimes make one side rekey or expire the IKE SA when the other does not expect it; tunnels then drop at rekey time."
		if h.V > kb.IKELifetime && (!r.Known() || r.V >= kb.IKELifetime-kb.IKELifetime/10) {
			detail = "The device keeps the IKE SA past the cloud's lifetime and renews it only when the cloud is already expiring it, so renewals race and the tunnel drops."
		}
		c.add(kb.CodePhase1Lifetime, vpndiag.SeverityWarning, line, kb.ArticlePhase1, summary, detail, phase1Fix(cfg, t))
	}

	// Phase 2.
	h, r = t.Phase2.Lifetime, t.Phase2.Rekey
	if !h.Known() {
		c.notChecked = append(c.notChecked, tn+": phase 2 lifetime not found")
		return
	}
	switch {
	case ikev2 && h.V == kb.IKEv2HourlyDropWorkaround:
		return
	case sep && r.Known() && r.V < h.V && near(h.V, kb.ChildSALifetime):
		return
	case h.V == kb.ChildSALifetime && !sep:
		// What the cloud expects. Devices that renew only shortly before
		// this may still collide with the cloud every hour with IKEv2:
		// the guide's workaround, offered for that symptom only.
		if ikev2 {
			c.add(kb.CodeIKEv2HourlyDrop, vpndiag.SeverityInfo, h.Line, kb.ArticleIKEv2HourlyDrop,
				fmt.Sprintf("%s: IKEv2 with a phase 2 lifetime of %s", tn, secs(h.V)),
				"This is what the cloud expects, but some IKEv2 devices drop the tunnel every 60 minutes instead of rekeying the CHILD_SA before the cloud does.",
				fmt.Sprintf("Only if the tunnel drops every hour: set the phase 2 lifetime to %d minutes (%s)%s.", int(kb.IKEv2HourlyDropWorkaround.Minutes()), secs(kb.IKEv2HourlyDropWorkaround), workaroundLine(cfg, t)))
		}
		return
	case sep && r.From == config.FromDefault && h.From == config.FromDefault:
		// Neither rekey_time nor life_time is written: strongSwan renews
		// at 3600 s and keeps the CHILD_SA until 3960 s. Said as a hint:
		// it matters when the tunnel drops every hour.
		if ikev2 {
			c.add(kb.CodeIKEv2HourlyDrop, vpndiag.SeverityInfo, h.Line, kb.ArticleIKEv2HourlyDrop,
				fmt.Sprintf("%s: IKEv2 with strongSwan's default CHILD_SA lifetimes (renewed at %s, expiring at %s)", tn, secs(r.V), secs(h.V)),
				fmt.Sprintf("The renewal at %s races the cloud's expiry at %s; with IKEv2 this can drop the tunnel every 60 minutes.", secs(r.V), secs(kb.ChildSALifetime)),
				fmt.Sprintf("If the tunnel drops every hour, write %s in the child (renewal by 51 min, expiry at the cloud's 3600 s).", swanctlChildLines(ikev2)))
		}
		return
	}
	// The renewal line when the file sets it (what the user chose), else
	// the lifetime's.
	line := h.Line
	if sep && r.Known() && r.From == config.FromFile {
		line = r.Line
	}
	if sep && r.Known() && r.V >= kb.ChildSALifetime-kb.ChildSALifetime/20 && r.V <= kb.ChildSALifetime+kb.ChildSALifetime/20 && h.V > kb.ChildSALifetime {
		// Renewal at (or just around) the cloud's expiry.
		code, article := kb.CodePhase2Lifetime, kb.ArticlePhase2
		detail := fmt.Sprintf("The device renews the IPsec SA only at %s and keeps it until %s, while the cloud expires it at %s: the renewal races the cloud's expiry and traffic drops.", secs(r.V), secs(h.V), secs(kb.ChildSALifetime))
		if ikev2 {
			code, article = kb.CodeIKEv2HourlyDrop, kb.ArticleIKEv2HourlyDrop
			detail = fmt.Sprintf("With IKEv2 this is what drops the tunnel every 60 minutes: the device renews the CHILD_SA at %s and keeps it until %s, while the cloud expires it at %s, so the two collide every hour.", secs(r.V), secs(h.V), secs(kb.ChildSALifetime))
		}
		c.add(code, vpndiag.SeverityWarning, line, article,
			fmt.Sprintf("%s: the CHILD_SA is renewed at %s and expires at %s, after the cloud's %s", tn, secs(r.V), secs(h.V), secs(kb.ChildSALifetime)),
			detail, phase2Fix(cfg, t, ikev2))
		return
	}
	summary := fmt.Sprintf("%s: phase 2 (IPsec) lifetime is %s; the cloud expects %s", tn, describe(h), secs(kb.ChildSALifetime))
	if sep && r.Known() {
		summary = fmt.Sprintf("%s: the CHILD_SA is renewed at %s and expires at %s; the cloud's lifetime is %s", tn, secs(r.V), secs(h.V), secs(kb.ChildSALifetime))
	}
	c.add(kb.CodePhase2Lifetime, vpndiag.SeverityWarning, line, kb.ArticlePhase2, summary,
		"A different phase 2 lifetime makes the two ends rekey the IPsec SAs at different times, which drops traffic or the tunnel.",
		phase2Fix(cfg, t, ikev2))
}

func swanctlChildLines(ikev2 bool) string {
	if ikev2 {
		return "rekey_time = 51m and life_time = 60m"
	}
	return "rekey_time = 54m and life_time = 60m"
}

// phase1Fix says what to write on the device for an IKE SA lifetime of
// 28800 s.
func phase1Fix(cfg *config.Config, t *config.Tunnel) string {
	const pre = "Make the IKE SA expire at 28800 s (8 hours), renewed before: "
	switch cfg.Format() {
	case config.FormatSwanctl:
		lines := "rekey_time = 7h and over_time = 1h"
		if strings.Contains(ref(cfg, t), "reauth_time") {
			lines = "reauth_time = 0s, rekey_time = 7h and over_time = 1h"
		}
		return pre + "in the connection write " + lines + " (renewal by 7 h, expiry at 8 h)."
	case config.FormatStrongSwanIPC:
		return pre + "ikelifetime=8h in the conn (renewal starts margintime, 9 min by default, before)."
	case config.FormatLibreswan:
		return pre + "ikelifetime=8h in the conn (rekeymargin, 9 min by default, renews it before)."
	case config.FormatCiscoASA:
		if t.IKEVersion.V == 2 {
			return pre + "in the crypto ikev2 policy write lifetime seconds 28800."
		}
		return pre + "in the crypto ikev1 policy write lifetime 28800."
	case config.FormatCiscoIOS:
		if t.IKEVersion.V == 2 {
			return pre + "in the crypto ikev2 profile write lifetime 28800."
		}
		return pre + "in the crypto isakmp policy write lifetime 28800."
	case config.FormatFortiGate:
		return pre + fmt.Sprintf("config vpn ipsec phase1-interface, edit %s, set keylife 28800.", t.Name)
	case config.FormatJunosSet, config.FormatJunosHier:
		return pre + "set security ike proposal NAME lifetime-seconds 28800 (the proposal of this gateway's IKE policy)."
	case config.FormatPaloAltoSet, config.FormatPaloAltoXML:
		return pre + "set network ike crypto-profiles ike-crypto-profile NAME lifetime hours 8 (the profile of this IKE gateway)."
	case config.FormatPfSenseXML, config.FormatPfSenseGUI:
		return pre + "Phase 1 Life Time 28800."
	case config.FormatMikroTik:
		return pre + "/ip ipsec profile set [ find name=PROFILE ] lifetime=8h (the profile of this peer)."
	}
	return "Set the phase 1 (IKE) lifetime to 28800 s (8 hours)."
}

// ref is the text of the parser's notes on the line the IKE SA's renewal
// time comes from, which says whether it is a reauthentication.
func ref(cfg *config.Config, t *config.Tunnel) string {
	var b strings.Builder
	for _, n := range cfg.Notes {
		if n.Line == t.Phase1.Rekey.Line {
			b.WriteString(n.Text)
		}
	}
	return b.String()
}

// phase2Fix says what to write on the device for an IPsec SA lifetime of
// 3600 s.
func phase2Fix(cfg *config.Config, t *config.Tunnel, ikev2 bool) string {
	const pre = "Make the IPsec SA expire at 3600 s (1 hour), renewed before: "
	alt := ""
	if ikev2 {
		alt = fmt.Sprintf(" With IKEv2, if the tunnel still drops every hour, use %d minutes (%s) instead.", int(kb.IKEv2HourlyDropWorkaround.Minutes()), secs(kb.IKEv2HourlyDropWorkaround))
	}
	switch cfg.Format() {
	case config.FormatSwanctl:
		by := "54"
		if ikev2 {
			by = "51"
		}
		return pre + "in the child write " + swanctlChildLines(ikev2) + " (renewed by " + by + " min, expiring at the cloud's 3600 s)."
	case config.FormatStrongSwanIPC:
		return pre + "lifetime=1h in the conn (renewal starts margintime, 9 min by default, before: by 51 min)."
	case config.FormatLibreswan:
		return pre + "salifetime=1h in the conn (rekeymargin, 9 min by default, renews it by 51 min)."
	case config.FormatCiscoASA:
		if t.RouteBased.V {
			return pre + "in the crypto ipsec profile write set security-association lifetime seconds 3600." + alt
		}
		return pre + fmt.Sprintf("%s set security-association lifetime seconds 3600.", t.Name) + alt
	case config.FormatCiscoIOS:
		return pre + "in the crypto map entry or IPsec profile write set security-association lifetime seconds 3600." + alt
	case config.FormatFortiGate:
		return pre + "config vpn ipsec phase2-interface, edit the phase 2 of " + t.Name + ", set keylifeseconds 3600." + alt
	case config.FormatJunosSet, config.FormatJunosHier:
		return pre + "set security ipsec proposal NAME lifetime-seconds 3600 (the proposal of this VPN's IPsec policy)." + alt
	case config.FormatPaloAltoSet, config.FormatPaloAltoXML:
		return pre + "set network ike crypto-profiles ipsec-crypto-profile NAME lifetime hours 1 (the profile of this tunnel)." + alt
	case config.FormatPfSenseXML, config.FormatPfSenseGUI:
		return pre + "Phase 2 Life Time 3600." + alt
	case config.FormatMikroTik:
		return pre + "/ip ipsec proposal set [ find name=PROPOSAL ] lifetime=1h (the proposal of this peer's policy)." + alt
	}
	return "Set the phase 2 (IPsec) lifetime to 3600 s (1 hour)." + alt
}

// HourlyDropFix says what to write on the device of t to stop IKEv2
// drops every 60 minutes: renew the CHILD_SA by 51 minutes.
func HourlyDropFix(cfg *config.Config, t *config.Tunnel) string {
	if cfg != nil && cfg.Format() == config.FormatSwanctl {
		return "In the child write rekey_time = 51m and life_time = 60m: renewal by 51 minutes, expiry at the cloud's 3600 s."
	}
	line := ""
	if cfg != nil && t != nil {
		line = workaroundLine(cfg, t)
	}
	return fmt.Sprintf("Set the phase 2 (CHILD_SA) lifetime to %d minutes (%s)%s.", int(kb.IKEv2HourlyDropWorkaround.Minutes()), secs(kb.IKEv2HourlyDropWorkaround), line)
}

// workaroundLine is the vendor's setting for the guide's 51-minute phase 2
// lifetime, as ": …", or "".
func workaroundLine(cfg *config.Config, t *config.Tunnel) string {
	switch cfg.Format() {
	case config.FormatStrongSwanIPC:
		return ": lifetime=51m in the conn"
	case config.FormatLibreswan:
		return ": salifetime=51m in the conn"
	case config.FormatCiscoASA, config.FormatCiscoIOS:
		return ": set security-association lifetime seconds 3060"
	case config.FormatFortiGate:
		return ": set keylifeseconds 3060 in the phase2-interface of " + t.Name
	case config.FormatJunosSet, config.FormatJunosHier:
		return ": lifetime-seconds 3060 in the IPsec proposal"
	case config.FormatPaloAltoSet, config.FormatPaloAltoXML:
		return ": lifetime minutes 51 in the IPsec crypto profile"
	case config.FormatPfSenseXML, config.FormatPfSenseGUI:
		return ": Phase 2 Life Time 3060"
	case config.FormatMikroTik:
		return ": lifetime=51m in the /ip ipsec proposal"
	}
	return ""
}

// accepted is what the cloud accepts in one phase: the site profile's
// lists where given, else the published set.
type accepted struct {
	enc, integ []string
	groups     []int
}

func acceptedSet(site *vpndiag.Site, phase int) accepted {
	def := kb.CloudPhase1
	var sp *vpndiag.Proposals
	if phase == 2 {
		def = kb.CloudPhase2
		if site != nil {
			sp = site.Phase2
		}
	} else if site != nil {
		sp = site.Phase1
	}
	a := accepted{enc: def.Encryption, integ: def.Integrity, groups: def.DHGroups}
	if sp == nil {
		return a
	}
	norm := func(in []string, integ bool) []string {
		var out []string
		for _, s := range in {
			e, i := config.Algorithms(s)
			if integ {
				e = i
			}
			if len(e) == 0 {
				e = []string{strings.ToLower(strings.TrimSpace(s))}
			}
			out = append(out, e...)
		}
		return out
	}
	if len(sp.Encryption) > 0 {
		a.enc = norm(sp.Encryption, false)
	}
	if len(sp.Integrity) > 0 {
		a.integ = norm(sp.Integrity, true)
	}
	if len(sp.DHGroups) > 0 {
		a.groups = sp.DHGroups
	}
	return a
}

var dhNames = map[int]string{1: "modp768", 2: "modp1024", 5: "modp1536", 14: "modp2048", 15: "modp3072", 16: "modp4096",
	17: "modp6144", 18: "modp8192", 19: "ecp256", 20: "ecp384", 21: "ecp521", 22: "modp1024s160", 23: "modp2048s224",
	24: "modp2048s256", 31: "x25519", 32: "x448"}

func groupName(n int) string {
	if s, ok := dhNames[n]; ok {
		return fmt.Sprintf("%d (%s)", n, s)
	}
	return fmt.Sprint(n)
}

func groupList(gs []int) string {
	var out []string
	for _, g := range gs {
		out = append(out, groupName(g))
	}
	return strings.Join(out, ", ")
}

// proposals compares the configured ciphers, integrity algorithms and
// DH / PFS groups with what the cloud accepts. A phase is flagged when
// none of what the device offers in one of these is accepted: the cloud
// then answers NO_PROPOSAL_CHOSEN.
func (c *checker) proposals(t *config.Tunnel, tn string) {
	for _, ph := range []struct {
		n      int
		p      config.Phase
		name   string
		groups bool
	}{{1, t.Phase1, "IKE (phase 1)", true}, {2, t.Phase2, "ESP (phase 2)", t.PFS.Known() && t.PFS.V}} {
		acc := acceptedSet(c.site, ph.n)
		var problems []string
		line := 0
		from := config.FromDefault
		var enc, integ []string
		encLine, integLine := 0, 0
		if offersDefault(ph.p.Proposals) {
			// strongSwan's "default" proposal (a broad built-in list) is
			// offered too: what the cloud picks cannot be told here.
			continue
		}
		for _, p := range ph.p.Proposals {
			e, i := config.Algorithms(p.V)
			if len(e) > 0 && encLine == 0 {
				encLine = p.Line
			}
			if len(i) > 0 && integLine == 0 {
				integLine = p.Line
			}
			enc = append(enc, e...)
			integ = append(integ, i...)
			if p.From == config.FromFile {
				from = config.FromFile
			}
		}
		aead := len(enc) > 0
		for _, e := range enc {
			if !strings.Contains(e, "gcm") && !strings.Contains(e, "chacha") {
				aead = false
			}
		}
		if len(enc) > 0 && !overlaps(enc, acc.enc) {
			problems = append(problems, fmt.Sprintf("cipher %s (accepted: %s)", strings.Join(dedupe(enc), ", "), strings.Join(acc.enc, ", ")))
			line = encLine
		}
		// Null integrity goes with an AEAD cipher; without a known cipher
		// it says nothing.
		if len(integ) > 0 && !aead && !overlaps(integ, acc.integ) && !(len(enc) == 0 && slices.Equal(integ, []string{"null"})) {
			problems = append(problems, fmt.Sprintf("integrity %s (accepted: %s)", strings.Join(dedupe(integ), ", "), strings.Join(acc.integ, ", ")))
			if line == 0 {
				line = integLine
			}
		}
		if ph.groups && len(ph.p.DHGroups) > 0 {
			var gs []int
			gline := 0
			for _, g := range ph.p.DHGroups {
				if !slices.Contains(gs, g.V) {
					gs = append(gs, g.V)
				}
				if gline == 0 && g.Line > 0 {
					gline = g.Line
				}
				if g.From == config.FromFile {
					from = config.FromFile
				}
			}
			ok := false
			for _, g := range gs {
				if slices.Contains(acc.groups, g) {
					ok = true
				}
			}
			if !ok {
				what := "DH group"
				if ph.n == 2 {
					what = "PFS group"
				}
				problems = append(problems, fmt.Sprintf("%s %s (accepted: %s)", what, groupList(gs), groupList(acc.groups)))
				if line == 0 {
					line = gline
				}
			}
		}
		if len(problems) == 0 {
			continue
		}
		how := ""
		if from == config.FromDefault {
			how = " (the device's defaults: not set in the file)"
		}
		code, article := kb.CodePhase1Proposal, kb.ArticlePhase1
		detail := "The cloud answers a proposal it does not accept with NO_PROPOSAL_CHOSEN, and phase 1 never comes up."
		fix := fmt.Sprintf("Offer at least one accepted combination for the IKE SA, e.g. aes256-sha256-%s.", firstGroup(acc.groups))
		if ph.n == 2 {
			code, article = kb.CodePhase2Proposal, kb.ArticlePhase2
			detail = "The cloud answers an IPsec proposal it does not accept with NO_PROPOSAL_CHOSEN: the CHILD_SA is not built, or the tunnel drops at the first rekey (when the PFS group is negotiated)."
			fix = fmt.Sprintf("Offer at least one accepted combination for the IPsec SA, e.g. aes256-sha256 with PFS group %s.", groupName(firstGroupN(acc.groups)))
		}
		c.add(code, vpndiag.SeverityError, line, article,
			fmt.Sprintf("%s: %s proposal not accepted by the cloud: %s%s", tn, ph.name, strings.Join(problems, "; "), how),
			detail, fix)
	}
}

// offersDefault reports whether a proposal list includes strongSwan's
// "default" keyword.
func offersDefault(ps []config.Value[string]) bool {
	for _, p := range ps {
		for _, w := range strings.FieldsFunc(p.V, func(r rune) bool { return r == ',' || r == ' ' }) {
			if w == "default" {
				return true
			}
		}
	}
	return false
}

// firstGroupN is the group to suggest: 14 (modp2048) when accepted.
func firstGroupN(gs []int) int {
	if len(gs) == 0 || slices.Contains(gs, 14) {
		return 14
	}
	return gs[0]
}

func firstGroup(gs []int) string {
	if s, ok := dhNames[firstGroupN(gs)]; ok {
		return s
	}
	return fmt.Sprintf("group%d", firstGroupN(gs))
}

func overlaps(a, b []string) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}

// idleClose flags a device that closes the tunnel when idle, with nothing
// of its own to bring it back: the cloud is a responder and cannot.
func (c *checker) idleClose(cfg *config.Config, t *config.Tunnel, tn string) {
	if !t.IdleTimeout.Known() || t.IdleTimeout.V <= 0 || t.KeepAlive.Known() && t.KeepAlive.V {
		return
	}
	var fix string
	switch cfg.Format() {
	case config.FormatSwanctl:
		fix = "Remove inactivity from the child (or write inactivity = 0s)"
	case config.FormatStrongSwanIPC, config.FormatLibreswan:
		fix = "Remove inactivity= from the conn"
	case config.FormatFortiGate:
		fix = fmt.Sprintf("In config vpn ipsec phase1-interface, edit %s, set idle-timeout disable; or in its phase2-interface set keepalive enable and set auto-negotiate enable", t.Name)
	case config.FormatCiscoASA:
		fix = "In the group-policy of this tunnel group write vpn-idle-timeout none"
	default:
		fix = "Disable the idle timeout of this tunnel"
	}
	fix += fmt.Sprintf(", and keep traffic flowing with a keep-alive ping to a cloud DNS server every %s.", secs(kb.KeepaliveInterval))
	c.add(kb.CodeIdleClose, vpndiag.SeverityWarning, t.IdleTimeout.Line, kb.ArticleResponderOnly,
		fmt.Sprintf("%s: the device closes the tunnel after %s without traffic, and nothing keeps it up", tn, secs(t.IdleTimeout.V)),
		"The cloud only answers and never initiates: once your device closes the idle tunnel, traffic from the cloud side cannot bring it back, and the next connection from your side loses its first packets while the tunnel is renegotiated.",
		fix)
}

// NoTunnelFinding is the finding for a configuration file in which no
// tunnel was found: a secrets file, a stock file, a device without
// site-to-site VPN.
func NoTunnelFinding(name, format string, cfg *config.Config) *vpndiag.Finding {
	f := &vpndiag.Finding{
		Code:      kb.CodeNoVPNConfig,
		Severity:  vpndiag.SeverityWarning,
		Summary:   fmt.Sprintf("%s: a %s configuration with no IPsec VPN tunnel in it", name, format),
		Detail:    fmt.Sprintf("No phase 1 / crypto map / connection was found, so nothing about the VPN could be checked (kb: %s).", kb.ArticleConfigFile),
		Fix:       "Attach the configuration of the device that terminates the VPN, including its IPsec section.",
		KBArticle: kb.ArticleConfigFile,
		Evidence:  []vpndiag.EvidenceRef{{Name: name}},
		Source:    "evidence/config",
	}
	switch {
	case cfg.SecretsOnly:
		f.Severity = vpndiag.SeverityInfo
		f.Summary = fmt.Sprintf("%s: an ipsec.secrets file: it holds keys (redacted here), no tunnel parameters", name)
		f.Detail = fmt.Sprintf("The tunnel settings (peers, lifetimes, proposals, PFS, DPD) live in ipsec.conf or swanctl.conf, not in the secrets file (kb: %s).", kb.ArticleConfigFile)
		f.Fix = "Attach ipsec.conf (or swanctl.conf) too; the secrets file is not needed for the diagnosis."
	case cfg.NoTunnelReason != "":
		f.Summary = fmt.Sprintf("%s: a %s configuration: %s", name, format, cfg.NoTunnelReason)
	}
	return f
}
