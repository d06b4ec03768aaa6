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
func rosWords(s string) []string {
	var out []string
	var b strings.Builder
	inq, any := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && inq && i+1 < len(s):
			i++
			b.WriteByte(s[i])
		case c == '"':
			inq = !inq
			any = true
		case (c == ' ' || c == '\t') && !inq:
			if b.Len() > 0 || any {
				out = append(out, b.String())
			}
			b.Reset()
			any = false
		default:
			b.WriteByte(c)
		}
	}
	if b.Len() > 0 || any {
		out = append(out, b.String())
	}
	return out
}

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

// parseMikroTik reads the /ip ipsec part of a RouterOS export (plain,
// terse or verbose): peers, profiles, proposals, identities and policies,
// and RouterOS 6 peers that carry the phase 1 settings and the secret.
func parseMikroTik(ls []string) *Config {
	c := &Config{Vendor: "mikrotik", Syntax: "routeros", Routing: Default("static")}
	menu := ""
	items := map[string][]*rosItem{}
	defaults := map[string]*rosItem{} // "set [ find default=yes ]" per menu
	lines, nums := rosLines(ls)
	for i, l := range lines {
		w := rosWords(l)
		if len(w) == 0 {
			continue
		}
		if strings.HasPrefix(w[0], "/") {
			// "/ip ipsec peer" alone, or "/ip ipsec peer add …" (terse).
			path := []string{strings.TrimPrefix(w[0], "/")}
			j := 1
			for j < len(w) && !strings.Contains(w[j], "=") && w[j] != "add" && w[j] != "set" && w[j] != "print" && w[j] != "remove" {
				path = append(path, w[j])
				j++
			}
			menu = strings.Join(path, " ")
			w = w[j:]
			if len(w) == 0 {
				continue
			}
		}
		if !strings.HasPrefix(menu, "ip ipsec") || len(w) == 0 {
			continue
		}
		what := strings.TrimPrefix(menu, "ip ipsec ")
		it := &rosItem{line: nums[i], kv: map[string]Value[string]{}}
		isDefault := false
		switch w[0] {
		case "add":
		case "set":
			rest := strings.Join(w[1:], " ")
			if strings.Contains(rest, "default=yes") || len(w) > 1 && (w[1] == "default" || w[1] == "0") {
				isDefault = true
			} else {
				continue
			}
		default:
			continue
		}
		for j := 1; j < len(w); j++ {
			k, v, ok := strings.Cut(w[j], "=")
			if !ok {
				// "name "X"" without the equals sign, as some templates write it.
				if w[j] == "name" && j+1 < len(w) && !strings.Contains(w[j+1], "=") {
					it.kv["name"] = At(w[j+1], nums[i])
					j++
				}
				continue
			}
			it.kv[k] = At(v, nums[i])
		}
		if isDefault {
			if what == "policy" {
				continue // the default policy template
			}
			defaults[what] = it
			continue
		}
		items[what] = append(items[what], it)
	}
	byName := func(what, name string) *rosItem {
		for _, it := range items[what] {
			if v, ok := it.get("name"); ok && v.V == name {
				return it
			}
		}
		return nil
	}
	// setting returns key from it, else from the menu's modified default
	// entry, else RouterOS's built-in default.
	setting := func(it *rosItem, what, key string, builtin map[string]string) (Value[string], bool) {
		if it != nil {
			if v, ok := it.get(key); ok {
				return v, true
			}
		}
		// The default entry, as changed by "set [ find default=yes ]";
		// entries that are added start from the built-in values.
		if d := defaults[what]; d != nil && (it == nil || it.kv["name"].V == "default") {
			if v, ok := d.get(key); ok {
				return v, true
			}
		}
		if v, ok := builtin[key]; ok {
			return Default(v), true
		}
		return Value[string]{}, false
	}
	peers := items["peer"]
	policies := items["policy"]
	// RouterOS 6 before 6.44: no peer names; policies name the peer by
	// sa-dst-address.
	if len(peers) == 0 {
		seen := map[string]bool{}
		for _, p := range policies {
			if v, ok := p.get("sa-dst-address"); ok && !seen[v.V] {
				seen[v.V] = true
				peers = append(peers, &rosItem{line: p.line, kv: map[string]Value[string]{"address": v}})
			}
		}
	}
	for n, pe := range peers {
		if v, ok := pe.get("disabled"); ok && v.V == "yes" {
			continue
		}
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
		// Phase 1: the peer's profile (RouterOS 6: the peer itself).
		var prof *rosItem
		if v, ok := pe.get("profile"); ok {
			prof = byName("profile", v.V)
			if prof == nil && v.V != "default" {
				c.note(v.Line, "profile %s is not in this file; RouterOS defaults assumed", v.V)
			}
		}
		p1 := func(key string) (Value[string], bool) {
			if v, ok := pe.get(key); ok {
				return v, true
			}
			return setting(prof, "profile", key, rosProfileDefaults)
		}
		if v, ok := p1("lifetime"); ok {
			if d, ok := rosDuration(v.V); ok {
				t.Phase1.Lifetime = Value[time.Duration]{V: d, Line: v.Line, From: v.From}
			}
		}
		if v, ok := p1("dh-group"); ok {
			for _, g := range splitList(v.V) {
				if n, ok := dhGroup(g); ok {
					t.Phase1.DHGroups = append(t.Phase1.DHGroups, Value[int]{V: n, Line: v.Line, From: v.From})
				}
			}
		}
		enc, _ := p1("enc-algorithm")
		hash, _ := p1("hash-algorithm")
		if enc.Known() || hash.Known() {
			line, from := enc.Line, enc.From
			if hash.From == FromFile {
				line, from = max(line, hash.Line), FromFile
			}
			t.Phase1.Proposals = append(t.Phase1.Proposals, Value[string]{V: "enc-algorithm=" + enc.V + " hash-algorithm=" + hash.V, Line: line, From: from})
		}
		t.DPD.Enabled = Default(true)
		if v, ok := p1("dpd-interval"); ok {
			if v.V == "disable-dpd" {
				t.DPD.Enabled = At(false, v.Line)
			} else if d, ok := rosDuration(v.V); ok {
				t.DPD.Enabled = Value[bool]{V: true, Line: v.Line, From: v.From}
				t.DPD.Interval = Value[time.Duration]{V: d, Line: v.Line, From: v.From}
			}
		}
		if v, ok := p1("dpd-maximum-failures"); ok {
			if n, ok := atoi(v.V); ok {
				t.DPD.Retries = Value[int]{V: n, Line: v.Line, From: v.From}
			}
		}
		t.NATT = Default("enabled")
		if v, ok := p1("nat-traversal"); ok && v.V == "no" {
			t.NATT = At("disabled", v.Line)
		}
		// Authentication: identities (RouterOS 6.44+) or the peer's own.
		t.Auth, t.PSK = Value[string]{}, Value[bool]{}
		var id *rosItem
		for _, it := range items["identity"] {
			if v, ok := it.get("peer"); ok && v.V == pe.kv["name"].V && v.V != "" {
				id = it
			}
		}
		authOf := func(it *rosItem) {
			method, ok := it.get("auth-method")
			if !ok {
				method = Default("pre-shared-key")
			}
			if strings.HasPrefix(method.V, "pre-shared-key") {
				t.Auth = Value[string]{V: "psk", Line: method.Line, From: method.From}
				if v, ok := it.get("secret"); ok && strings.TrimSpace(v.V) != "" {
					t.PSK = At(true, v.Line)
				} else {
					t.PSK = At(false, it.line)
				}
			} else {
				t.Auth = Value[string]{V: "pubkey", Line: method.Line, From: method.From}
				if strings.HasPrefix(method.V, "eap") {
					t.Auth.V = "eap"
				}
				t.PSK = At(false, method.Line)
			}
		}
		switch {
		case id != nil:
			authOf(id)
		case pe.kv["secret"].Known() || pe.kv["auth-method"].Known():
			authOf(pe)
		case len(items["identity"]) > 0:
			t.PSK = At(false, pe.line)
			c.note(pe.line, "no /ip ipsec identity names peer %s", name)
		default:
			c.note(pe.line, "no /ip ipsec identity in this file: the pre-shared key could not be checked")
		}
		// Phase 2: the policies of this peer and their proposal.
		var pols []*rosItem
		for _, p := range policies {
			if v, ok := p.get("disabled"); ok && v.V == "yes" {
				continue
			}
			if v, ok := p.get("template"); ok && v.V == "yes" {
				continue
			}
			pv, ok := p.get("peer")
			sd, ok2 := p.get("sa-dst-address")
			if ok && pv.V == pe.kv["name"].V || !ok && ok2 && strings.TrimSuffix(sd.V, "/32") == strings.TrimSuffix(addr.V, "/32") || len(peers) == 1 && !ok && !ok2 {
				pols = append(pols, p)
			}
		}
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
				prop = byName("proposal", v.V)
			}
		}
		if len(pols) == 0 {
			c.note(pe.line, "no /ip ipsec policy for peer %s in this file: traffic selectors and phase 2 proposal not known", name)
		}
		if prop == nil && propName != "default" {
			c.note(pe.line, "proposal %s is not in this file; RouterOS defaults assumed", propName)
		}
		if v, ok := setting(prop, "proposal", "lifetime", rosProposalDefaults); ok {
			if d, ok := rosDuration(v.V); ok {
				t.Phase2.Lifetime = Value[time.Duration]{V: d, Line: v.Line, From: v.From}
			}
		}
		if v, ok := setting(prop, "proposal", "pfs-group", rosProposalDefaults); ok {
			if v.V == "none" || v.V == "" {
				t.PFS = Value[bool]{V: false, Line: v.Line, From: v.From}
			} else if n, ok := dhGroup(v.V); ok {
				t.PFS = Value[bool]{V: true, Line: v.Line, From: v.From}
				t.Phase2.DHGroups = []Value[int]{{V: n, Line: v.Line, From: v.From}}
			}
		}
		encs, _ := setting(prop, "proposal", "enc-algorithms", rosProposalDefaults)
		auths, _ := setting(prop, "proposal", "auth-algorithms", rosProposalDefaults)
		if encs.Known() {
			line, from := encs.Line, encs.From
			if auths.From == FromFile {
				line, from = max(line, auths.Line), FromFile
			}
			t.Phase2.Proposals = append(t.Phase2.Proposals, Value[string]{V: "enc-algorithms=" + encs.V + " auth-algorithms=" + auths.V, Line: line, From: from})
		}
		c.Tunnels = append(c.Tunnels, t)
	}
	sort.SliceStable(c.Tunnels, func(i, j int) bool { return c.Tunnels[i].Line < c.Tunnels[j].Line })
	return c
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
