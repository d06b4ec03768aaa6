package config

import (
	"sort"
	"strconv"
	"strings"
	"time"
)

// RouterOS defaults of the built-in "default" entries (RouterOS 6.44+ and
// 7): the profile (phase 1) and the proposal (phase 2). A peer negotiates
// IKEv1 main mode unless exchange-mode says otherwise.
var (
	rosProfileDefaults = map[string]string{
		"lifetime": "1d", "dh-group": "modp2048,modp1024", "enc-algorithm": "aes-128,3des",
		"hash-algorithm": "sha1", "dpd-interval": "2m", "dpd-maximum-failures": "5", "nat-traversal": "yes",
	}
	rosProposalDefaults = map[string]string{
		"lifetime": "30m", "pfs-group": "modp1024", "enc-algorithms": "aes-256-cbc,aes-192-cbc,aes-128-cbc", "auth-algorithms": "sha1",
	}
)

// rosItem is one "add" (or "set") command of an /ip ipsec menu.
type rosItem struct {
	line int
	kv   map[string]Value[string]
}

func (it *rosItem) get(k string) (Value[string], bool) {
	v, ok := it.kv[k]
	return v, ok
}

// rosWords splits a RouterOS command line into words, keeping quoted
// strings (with \" escapes) together and removing the quotes.
func rosWords(s string) []string { return quotedWords(s, true, false) }

// rosLines joins continuation lines (ending in a backslash) and drops
// comments, returning each logical line with the number of its first line.
func rosLines(ls []string) ([]string, []int) {
	var out []string
	var nums []int
	var cur strings.Builder
	start := 0
	for i, raw := range ls {
		l := strings.TrimRight(raw, " \t")
		if cur.Len() == 0 {
			t := strings.TrimSpace(l)
			if t == "" || strings.HasPrefix(t, "#") {
				continue
			}
			start = i + 1
		}
		// A continuation keeps the text before the backslash as it is
		// (a space there separates words; none means the value goes on)
		// and drops the next line's indentation.
		if cur.Len() > 0 {
			l = strings.TrimLeft(l, " \t")
		}
		if strings.HasSuffix(l, "\\") {
			cur.WriteString(strings.TrimSuffix(l, "\\"))
			continue
		}
		cur.WriteString(l)
		out = append(out, cur.String())
		nums = append(nums, start)
		cur.Reset()
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
		nums = append(nums, start)
	}
	return out, nums
}

// rosState is what parseMikroTik read from the /ip ipsec menus.
type rosState struct {
	c *Config
	// items are the added entries per menu ("peer", "profile", "proposal",
	// "identity", "policy").
	items map[string][]*rosItem
	// defaults are the menus' default entries as changed by "set [ find
	// default=yes ]".
	defaults map[string]*rosItem
	peers    []*rosItem
}

// parseMikroTik reads the /ip ipsec part of a RouterOS export (plain,
// terse or verbose): peers, profiles, proposals, identities and policies,
// and RouterOS 6 peers that carry the phase 1 settings and the secret.
func parseMikroTik(ls []string) *Config {
	s := &rosState{c: &Config{Vendor: "mikrotik", Syntax: "routeros", Routing: Default("static")}}
	s.items, s.defaults = rosIPsecItems(ls)
	s.peers = s.items["peer"]
	// RouterOS 6 before 6.44: no peer names; policies name the peer by
	// sa-dst-address.
	if len(s.peers) == 0 {
		seen := map[string]bool{}
		for _, p := range s.items["policy"] {
			if v, ok := p.get("sa-dst-address"); ok && !seen[v.V] {
				seen[v.V] = true
				s.peers = append(s.peers, &rosItem{line: p.line, kv: map[string]Value[string]{"address": v}})
			}
		}
	}
	for n, pe := range s.peers {
		if v, ok := pe.get("disabled"); ok && v.V == "yes" {
			continue
		}
		s.c.Tunnels = append(s.c.Tunnels, s.tunnel(n, pe))
	}
	sort.SliceStable(s.c.Tunnels, func(i, j int) bool { return s.c.Tunnels[i].Line < s.c.Tunnels[j].Line })
	return s.c
}

// rosIPsecItems reads the "add" commands of the /ip ipsec menus, and the
// "set" commands that change a menu's default entry.
func rosIPsecItems(ls []string) (items map[string][]*rosItem, defaults map[string]*rosItem) {
	items, defaults = map[string][]*rosItem{}, map[string]*rosItem{}
	menu := ""
	lines, nums := rosLines(ls)
	for i, l := range lines {
		w := rosWords(l)
		if len(w) == 0 {
			continue
		}
		if strings.HasPrefix(w[0], "/") {
			menu, w = rosMenu(w)
			if len(w) == 0 {
				continue
			}
		}
		if !strings.HasPrefix(menu, "ip ipsec") {
			continue
		}
		what := strings.TrimPrefix(menu, "ip ipsec ")
		switch {
		case w[0] == "add":
			items[what] = append(items[what], rosItemOf(w, nums[i]))
		case w[0] == "set" && rosSetsDefault(w) && what != "policy":
			// (The default policy is a template, not a policy.)
			defaults[what] = rosItemOf(w, nums[i])
		}
	}
	return items, defaults
}

// rosMenu reads the menu path that starts w: "/ip ipsec peer" alone, or
// "/ip ipsec peer add …" (terse); it returns the menu and the rest.
func rosMenu(w []string) (string, []string) {
	path := []string{strings.TrimPrefix(w[0], "/")}
	j := 1
	for j < len(w) && !strings.Contains(w[j], "=") && w[j] != "add" && w[j] != "set" && w[j] != "print" && w[j] != "remove" {
		path = append(path, w[j])
		j++
	}
	return strings.Join(path, " "), w[j:]
}

// rosSetsDefault reports whether a "set" command changes the menu's
// default entry: "set [ find default=yes ] …", "set default …", "set 0 …".
func rosSetsDefault(w []string) bool {
	return strings.Contains(strings.Join(w[1:], " "), "default=yes") || len(w) > 1 && (w[1] == "default" || w[1] == "0")
}

// rosItemOf reads the key=value words of an add or set command.
func rosItemOf(w []string, line int) *rosItem {
	it := &rosItem{line: line, kv: map[string]Value[string]{}}
	for j := 1; j < len(w); j++ {
		k, v, ok := strings.Cut(w[j], "=")
		if !ok {
			// "name "X"" without the equals sign, as some templates write it.
			if w[j] == "name" && j+1 < len(w) && !strings.Contains(w[j+1], "=") {
				it.kv["name"] = At(w[j+1], line)
				j++
			}
			continue
		}
		it.kv[k] = At(v, line)
	}
	return it
}

// byName returns the entry of menu what with that name, or nil.
func (s *rosState) byName(what, name string) *rosItem {
	for _, it := range s.items[what] {
		if v, ok := it.get("name"); ok && v.V == name {
			return it
		}
	}
	return nil
}

// setting returns key from it, else from the menu's modified default
// entry, else RouterOS's built-in default.
func (s *rosState) setting(it *rosItem, what, key string, builtin map[string]string) (Value[string], bool) {
	if it != nil {
		if v, ok := it.get(key); ok {
			return v, true
		}
	}
	// The default entry, as changed by "set [ find default=yes ]";
	// entries that are added start from the built-in values.
	if d := s.defaults[what]; d != nil && (it == nil || it.kv["name"].V == "default") {
		if v, ok := d.get(key); ok {
			return v, true
		}
	}
	if v, ok := builtin[key]; ok {
		return Default(v), true
	}
	return Value[string]{}, false
}

// like returns x with the line and origin of v.
func like[U, T any](x U, v Value[T]) Value[U] { return Value[U]{V: x, Line: v.Line, From: v.From} }

// tunnel builds the tunnel of the n-th peer.
func (s *rosState) tunnel(n int, pe *rosItem) *Tunnel {
	addr, hasAddr := pe.get("address")
	name := pe.kv["name"].V
	if name == "" {
		name = strings.TrimSuffix(addr.V, "/32")
	}
	if name == "" {
		name = "peer " + itoa(n+1)
	}
	t := &Tunnel{Name: "peer " + name, Line: pe.line, RouteBased: Default(false)}
	if hasAddr {
		t.Peers = append(t.Peers, At(strings.TrimSuffix(addr.V, "/32"), addr.Line))
	}
	if v, ok := pe.get("local-address"); ok {
		t.Local = v
	}
	t.IKEVersion = Default(1)
	if v, ok := pe.get("exchange-mode"); ok {
		if v.V == "ike2" {
			t.IKEVersion = At(2, v.Line)
		} else {
			t.IKEVersion = At(1, v.Line)
		}
	}
	s.phase1(t, pe)
	s.auth(t, pe, name)
	s.phase2(t, pe, addr, name)
	return t
}

// phase1 sets phase 1, DPD and NAT-T from the peer's profile (RouterOS 6:
// the peer itself).
func (s *rosState) phase1(t *Tunnel, pe *rosItem) {
	var prof *rosItem
	if v, ok := pe.get("profile"); ok {
		prof = s.byName("profile", v.V)
		if prof == nil && v.V != "default" {
			s.c.note(v.Line, "profile %s is not in this file; RouterOS defaults assumed", v.V)
		}
	}
	p1 := func(key string) (Value[string], bool) {
		if v, ok := pe.get(key); ok {
			return v, true
		}
		return s.setting(prof, "profile", key, rosProfileDefaults)
	}
	if v, ok := p1("lifetime"); ok {
		if d, ok := rosDuration(v.V); ok {
			t.Phase1.Lifetime = like(d, v)
		}
	}
	if v, ok := p1("dh-group"); ok {
		for _, g := range splitList(v.V) {
			if n, ok := dhGroup(g); ok {
				t.Phase1.DHGroups = append(t.Phase1.DHGroups, like(n, v))
			}
		}
	}
	enc, _ := p1("enc-algorithm")
	hash, _ := p1("hash-algorithm")
	if enc.Known() || hash.Known() {
		t.Phase1.Proposals = append(t.Phase1.Proposals, rosProposal("enc-algorithm", enc, "hash-algorithm", hash))
	}
	t.DPD.Enabled = Default(true)
	if v, ok := p1("dpd-interval"); ok {
		if v.V == "disable-dpd" {
			t.DPD.Enabled = At(false, v.Line)
		} else if d, ok := rosDuration(v.V); ok {
			t.DPD.Enabled = like(true, v)
			t.DPD.Interval = like(d, v)
		}
	}
	if v, ok := p1("dpd-maximum-failures"); ok {
		if n, ok := atoi(v.V); ok {
			t.DPD.Retries = like(n, v)
		}
	}
	t.NATT = Default("enabled")
	if v, ok := p1("nat-traversal"); ok && v.V == "no" {
		t.NATT = At("disabled", v.Line)
	}
}

// rosProposal writes "K1=V1 K2=V2" from the cipher and integrity settings,
// at the later line when the second is from the file.
func rosProposal(k1 string, v1 Value[string], k2 string, v2 Value[string]) Value[string] {
	line, from := v1.Line, v1.From
	if v2.From == FromFile {
		line, from = max(line, v2.Line), FromFile
	}
	return Value[string]{V: k1 + "=" + v1.V + " " + k2 + "=" + v2.V, Line: line, From: from}
}

// auth sets authentication and PSK from the identity that names the peer
// (RouterOS 6.44+) or the peer's own settings.
func (s *rosState) auth(t *Tunnel, pe *rosItem, name string) {
	var id *rosItem
	for _, it := range s.items["identity"] {
		if v, ok := it.get("peer"); ok && v.V == pe.kv["name"].V && v.V != "" {
			id = it
		}
	}
	switch {
	case id != nil:
		rosAuth(t, id)
		rosIdentities(t, id)
	case pe.kv["secret"].Known() || pe.kv["auth-method"].Known():
		rosAuth(t, pe)
		rosIdentities(t, pe)
	case len(s.items["identity"]) > 0:
		t.PSK = At(false, pe.line)
		s.c.note(pe.line, "no /ip ipsec identity names peer %s", name)
	default:
		s.c.note(pe.line, "no /ip ipsec identity in this file: the pre-shared key could not be checked")
	}
}

// rosAuth sets authentication and PSK from an identity or peer entry.
func rosAuth(t *Tunnel, it *rosItem) {
	method, ok := it.get("auth-method")
	if !ok {
		method = Default("pre-shared-key")
	}
	if strings.HasPrefix(method.V, "pre-shared-key") {
		t.Auth = like("psk", method)
		if v, ok := it.get("secret"); ok && strings.TrimSpace(v.V) != "" {
			t.PSK = At(true, v.Line)
		} else {
			t.PSK = At(false, it.line)
		}
		return
	}
	t.Auth = like("pubkey", method)
	if strings.HasPrefix(method.V, "eap") {
		t.Auth.V = "eap"
	}
	t.PSK = At(false, method.Line)
}

// rosIdentities sets the IKE identities from an identity (or RouterOS 6
// peer) entry's my-id and remote-id, as written ("address:192.0.2.1",
// "fqdn:vpn.example.com"); auto and ignore, RouterOS's defaults, name no
// identity.
func rosIdentities(t *Tunnel, it *rosItem) {
	if v, ok := it.get("my-id"); ok && v.V != "auto" && v.V != "" {
		t.LocalID = v
	}
	if v, ok := it.get("remote-id"); ok && v.V != "auto" && v.V != "ignore" && v.V != "" {
		t.RemoteID = v
	}
}

// peerPolicies returns the enabled policies of the peer: by name, by
// sa-dst-address, or every policy that names no peer when there is one.
func (s *rosState) peerPolicies(pe *rosItem, addr Value[string]) []*rosItem {
	var pols []*rosItem
	for _, p := range s.items["policy"] {
		if v, ok := p.get("disabled"); ok && v.V == "yes" {
			continue
		}
		if v, ok := p.get("template"); ok && v.V == "yes" {
			continue
		}
		pv, ok := p.get("peer")
		sd, ok2 := p.get("sa-dst-address")
		if ok && pv.V == pe.kv["name"].V || !ok && ok2 && strings.TrimSuffix(sd.V, "/32") == strings.TrimSuffix(addr.V, "/32") || len(s.peers) == 1 && !ok && !ok2 {
			pols = append(pols, p)
		}
	}
	return pols
}

// phase2 sets the selectors, phase 2 and PFS from the peer's policies and
// their proposal.
func (s *rosState) phase2(t *Tunnel, pe *rosItem, addr Value[string], name string) {
	pols := s.peerPolicies(pe, addr)
	var prop *rosItem
	propName := "default"
	for _, p := range pols {
		src, dst := p.kv["src-address"].V, p.kv["dst-address"].V
		if src == "" {
			src = "any"
		}
		if dst == "" {
			dst = "any"
		}
		t.Selectors = append(t.Selectors, Selector{Local: src, Remote: dst, Line: p.line})
		if v, ok := p.get("proposal"); ok && prop == nil {
			propName = v.V
			prop = s.byName("proposal", v.V)
		}
	}
	if len(pols) == 0 {
		s.c.note(pe.line, "no /ip ipsec policy for peer %s in this file: traffic selectors and phase 2 proposal not known", name)
	}
	if prop == nil && propName != "default" {
		s.c.note(pe.line, "proposal %s is not in this file; RouterOS defaults assumed", propName)
	}
	// Without a policy, which proposal phase 2 uses is not known: a
	// setting counts only where every proposal of the file and the
	// default one agree on it.
	uncertain := len(pols) == 0 && len(s.items["proposal"]) > 0
	p2 := func(key string) (Value[string], bool) {
		v, ok := s.setting(prop, "proposal", key, rosProposalDefaults)
		if !uncertain {
			return v, ok
		}
		for _, it := range s.items["proposal"] {
			if w, ok2 := s.setting(it, "proposal", key, rosProposalDefaults); ok2 != ok || w.V != v.V {
				return Value[string]{}, false
			}
		}
		return v, ok
	}
	if v, ok := p2("lifetime"); ok {
		if d, ok := rosDuration(v.V); ok {
			t.Phase2.Lifetime = like(d, v)
		}
	}
	if v, ok := p2("pfs-group"); ok {
		if v.V == "none" || v.V == "" {
			t.PFS = like(false, v)
		} else if n, ok := dhGroup(v.V); ok {
			t.PFS = like(true, v)
			t.Phase2.DHGroups = []Value[int]{like(n, v)}
		}
	}
	encs, _ := p2("enc-algorithms")
	auths, _ := p2("auth-algorithms")
	if encs.Known() {
		t.Phase2.Proposals = append(t.Phase2.Proposals, rosProposal("enc-algorithms", encs, "auth-algorithms", auths))
	}
}

// rosDuration reads RouterOS times: "1d", "30m", "8h", "1d2h3m4s", "00:30:00".
func rosDuration(s string) (time.Duration, bool) {
	s = strings.TrimSpace(s)
	if strings.Count(s, ":") == 2 {
		p := strings.Split(s, ":")
		h, ok1 := atoi(p[0])
		m, ok2 := atoi(p[1])
		sec, ok3 := atoi(p[2])
		if ok1 && ok2 && ok3 {
			return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(sec)*time.Second, true
		}
		return 0, false
	}
	var total time.Duration
	num := ""
	seen := false
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			num += string(r)
		case r == 'w' || r == 'd' || r == 'h' || r == 'm' || r == 's':
			n, ok := atoi(num)
			if !ok {
				return 0, false
			}
			unit := map[rune]time.Duration{'w': 7 * 24 * time.Hour, 'd': 24 * time.Hour, 'h': time.Hour, 'm': time.Minute, 's': time.Second}[r]
			total += time.Duration(n) * unit
			num, seen = "", true
		default:
			return 0, false
		}
	}
	if num != "" {
		n, ok := atoi(num)
		if !ok {
			return 0, false
		}
		total += time.Duration(n) * time.Second
		seen = true
	}
	return total, seen
}

func itoa(n int) string { return strconv.Itoa(n) }
