package config

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

// lines splits text into lines without their endings (LF or CRLF).
func lines(text string) []string {
	ls := strings.Split(text, "\n")
	for i, l := range ls {
		ls[i] = strings.TrimSuffix(l, "\r")
	}
	if n := len(ls); n > 0 && ls[n-1] == "" {
		ls = ls[:n-1]
	}
	return ls
}

// parseDuration reads "8h", "28800s", "60m", "1d", "10800" (unit is the
// unit of a bare number) and "8 hours". ok is false when it is not a
// duration.
func parseDuration(s string, unit time.Duration) (time.Duration, bool) {
	s = strings.TrimSpace(strings.Trim(strings.TrimSpace(s), `"'`))
	if s == "" {
		return 0, false
	}
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	if i == 0 {
		return 0, false
	}
	n, err := strconv.ParseFloat(s[:i], 64)
	if err != nil || n < 0 || n > 1e9 {
		return 0, false
	}
	switch strings.ToLower(strings.TrimSpace(s[i:])) {
	case "":
	case "s", "sec", "secs", "second", "seconds":
		unit = time.Second
	case "m", "min", "mins", "minute", "minutes":
		unit = time.Minute
	case "h", "hr", "hrs", "hour", "hours":
		unit = time.Hour
	case "d", "day", "days":
		unit = 24 * time.Hour
	default:
		return 0, false
	}
	return time.Duration(n * float64(unit)), true
}

// atoi parses a non-negative decimal integer.
func atoi(s string) (int, bool) {
	n, err := strconv.Atoi(strings.Trim(strings.TrimSpace(s), `";`))
	return n, err == nil && n >= 0
}

// dhGroup maps a group name as vendors write it ("group14", "modp2048",
// "x25519", "ecp256", "14", "dh14", "Group 2") to its IANA number.
func dhGroup(s string) (int, bool) {
	l := strings.ToLower(strings.TrimSpace(s))
	for _, p := range []string{"diffie-hellman group", "group ", "group", "dhgroup", "dh-group", "dh", "modp-", "pfs"} {
		if strings.HasPrefix(l, p) {
			if n, ok := atoi(strings.TrimPrefix(l, p)); ok && n > 0 && n < 64 {
				return n, true
			}
		}
	}
	if n, ok := atoi(l); ok && n > 0 && n < 64 {
		return n, true
	}
	named := map[string]int{
		"modp768": 1, "modp1024": 2, "modp1536": 5, "modp2048": 14, "modp3072": 15, "modp4096": 16,
		"modp6144": 17, "modp8192": 18, "ecp256": 19, "ecp384": 20, "ecp521": 21,
		"modp1024s160": 22, "modp2048s224": 23, "modp2048s256": 24, "ecp192": 25, "ecp224": 26,
		"ecp224bp": 27, "ecp256bp": 28, "ecp384bp": 29, "ecp512bp": 30, "curve25519": 31, "x25519": 31,
		"curve448": 32, "x448": 32,
	}
	n, ok := named[l]
	return n, ok
}

// proposalDH returns the DH groups named in a strongSwan/libreswan style
// proposal list "aes128-sha256-modp2048,aes256gcm16-x25519" or
// "aes256-sha1;dh14".
func proposalDH(list string) []int {
	var out []int
	seen := map[int]bool{}
	for _, p := range strings.FieldsFunc(list, func(r rune) bool { return r == ',' || r == ' ' }) {
		for _, tok := range strings.FieldsFunc(p, func(r rune) bool { return r == '-' || r == ';' || r == '+' || r == '!' }) {
			if n, ok := dhGroup(tok); ok && !isNumberOnly(tok) && !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	return out
}

func isNumberOnly(s string) bool {
	_, err := strconv.Atoi(s)
	return err == nil
}

// splitList splits "a,b c" into items.
func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' })
}

// ikeVersionWord maps "ikev1" and "ikev2" to 1 and 2, and either (the
// vendor's word for "both", when it has one) to 0.
func ikeVersionWord(v Value[string], either string) (Value[int], bool) {
	switch {
	case v.V == "ikev1":
		return At(1, v.Line), true
	case v.V == "ikev2":
		return At(2, v.Line), true
	case either != "" && v.V == either:
		return At(0, v.Line), true
	}
	return Value[int]{}, false
}

// quotedWords splits s into words at blanks outside double quotes,
// removing the quotes; "" is an empty word. With escapes, a backslash in
// quotes takes the next byte as it is (RouterOS); with bangComment, a "!"
// that starts a word after the first ends the line (FortiGate samples).
func quotedWords(s string, escapes, bangComment bool) []string {
	var out []string
	var b strings.Builder
	inq, word := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case escapes && c == '\\' && inq && i+1 < len(s):
			i++
			b.WriteByte(s[i])
			word = true
		case c == '"':
			inq = !inq
			word = true
		case !inq && (c == ' ' || c == '\t'):
			if word {
				out = append(out, b.String())
				b.Reset()
				word = false
			}
		case bangComment && !inq && c == '!' && !word && len(out) > 0:
			return out
		default:
			b.WriteByte(c)
			word = true
		}
	}
	if word {
		out = append(out, b.String())
	}
	return out
}

// uncomment removes a trailing comment starting with one of marks outside
// quotes.
func uncomment(s string, marks string) string {
	inq := byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case inq != 0:
			if c == inq {
				inq = 0
			}
		case c == '"' || c == '\'':
			inq = c
		case strings.IndexByte(marks, c) >= 0:
			return strings.TrimRight(s[:i], " \t")
		}
	}
	return s
}

// maskToPrefix turns "10.0.0.0 255.255.0.0" (or a wildcard mask
// "0.0.255.255" when wildcard) into "10.0.0.0/16"; ok is false otherwise.
func maskToPrefix(addr, mask string, wildcard bool) (string, bool) {
	parts := strings.Split(mask, ".")
	if len(parts) != 4 {
		return "", false
	}
	bits := 0
	var seenZero bool
	for _, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 255 {
			return "", false
		}
		if wildcard {
			n = 255 - n
		}
		for b := 7; b >= 0; b-- {
			if n&(1<<b) != 0 {
				if seenZero {
					return "", false
				}
				bits++
			} else {
				seenZero = true
			}
		}
	}
	return addr + "/" + strconv.Itoa(bits), true
}

// named returns the entry name of m, or an empty one with a note at line
// when the file does not hold it.
func named[T any](c *Config, m map[string]*T, name string, line int, format string, args ...any) *T {
	if p := m[name]; p != nil {
		return p
	}
	c.note(line, format, args...)
	return new(T)
}

// orDefault returns v when it is known, else the vendor default def.
func orDefault[T any](v Value[T], def T) Value[T] {
	if v.Known() {
		return v
	}
	return Default(def)
}

// appendNew appends s to list unless it is there already.
func appendNew(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

// aesName reads the AES cipher whose name starts at parts[j] ("aes256",
// "aes-256-cbc", "aes-gcm-256", IOS "aes-cbc-256", "esp-aes 256" where
// next is the following token) as "aes256" or "aes256gcm16", and returns
// it with the index of the last part it used.
func aesName(parts []string, j int, next string) (string, int) {
	bits := strings.TrimPrefix(parts[j], "aes")
	rest := strings.Join(parts[j+1:], "-")
	gcm := false
	if strings.HasPrefix(rest, "gcm") {
		gcm = true
		j++
	} else if strings.HasPrefix(rest, "cbc") || strings.HasPrefix(rest, "ctr") {
		// IOS "aes-cbc-256".
		j++
	}
	if k := strings.Index(bits, "gcm"); k >= 0 {
		gcm = true
		bits = bits[:k]
	}
	aesBits := func(s string) bool { return s == "128" || s == "192" || s == "256" }
	if bits == "" {
		// aes-256-cbc, aes-gcm-256, "esp-aes 256", "aes 256".
		switch {
		case len(parts) > j+1 && aesBits(parts[j+1]):
			bits = parts[j+1]
			j++
		case j == len(parts)-1 && aesBits(next):
			bits = next
		default:
			bits = "128"
		}
	}
	bits = strings.TrimPrefix(bits, "-")
	if gcm {
		return "aes" + bits + "gcm16", j
	}
	return "aes" + bits, j
}

// Algorithms returns the ciphers and integrity algorithms named in a
// proposal as any vendor writes it, normalised to strongSwan-like names:
// "aes128", "aes256", "aes128gcm16", "3des", "des", "chacha20poly1305";
// "sha1", "sha256", "sha384", "sha512", "md5", "aesxcbc", "null". Names it
// does not know are left out; PRF names (prfsha256) are not integrity.
func Algorithms(proposal string) (enc, integ []string) {
	l := strings.ToLower(proposal)
	if strings.Contains(l, "${") || strings.Contains(l, "%{") {
		return nil, nil
	}
	addE := func(s string) { enc = appendNew(enc, s) }
	addI := func(s string) { integ = appendNew(integ, s) }
	toks := strings.FieldsFunc(l, func(r rune) bool {
		return r == ' ' || r == '\t' || r == ',' || r == ';' || r == ':' || r == '"' || r == '[' || r == ']' || r == '(' || r == ')' || r == '/' || r == '='
	})
	for i, tok := range toks {
		next := ""
		if i+1 < len(toks) {
			next = toks[i+1]
		}
		// A tok may hold a whole strongSwan proposal: split on '-' but
		// keep vendor spellings like aes-256-cbc and sha2-256 together.
		parts := strings.Split(tok, "-")
		for j := 0; j < len(parts); j++ {
			p := parts[j]
			rest := strings.Join(parts[j+1:], "-")
			switch {
			case p == "" || strings.HasPrefix(p, "prf"):
			case p == "esp" || p == "ah" || p == "hmac" || p == "cbc" || p == "ctr" || p == "96" || p == "128" && j > 0 || p == "encryption" || p == "integrity" || p == "hash" || p == "encr":
			case p == "aes" || p == "aes256" || p == "aes128" || p == "aes192" || strings.HasPrefix(p, "aes") && !strings.HasPrefix(p, "aesxcbc") && !strings.HasPrefix(p, "aescmac"):
				var name string
				name, j = aesName(parts, j, next)
				addE(name)
			case p == "3des" || p == "des3" || p == "tripledes" || p == "des" && rest == "ede3" || p == "des" && strings.HasPrefix(rest, "ede3"):
				addE("3des")
				if strings.HasPrefix(rest, "ede3") {
					j++
				}
			case p == "des":
				addE("des")
			case strings.HasPrefix(p, "chacha20"):
				addE("chacha20poly1305")
			case strings.HasPrefix(p, "camellia"):
				addE(p)
			case p == "blowfish":
				addE("blowfish")
			case p == "null" && (strings.Contains(l, "integrity") || j > 0):
				addI("null")
			case p == "md5":
				addI("md5")
			case p == "sha" || p == "sha1" || p == "sha-1":
				if p == "sha" && len(parts) > j+1 && (parts[j+1] == "256" || parts[j+1] == "384" || parts[j+1] == "512") {
					addI("sha" + parts[j+1])
					j++
					continue
				}
				addI("sha1")
			case p == "sha2" && len(parts) > j+1:
				addI("sha" + parts[j+1])
				j++
			case p == "sha256" || p == "sha384" || p == "sha512":
				addI(p)
			case strings.HasPrefix(p, "sha2_"):
				addI("sha" + strings.TrimPrefix(p, "sha2_"))
			case p == "aesxcbc" || p == "xcbc":
				addI("aesxcbc")
			}
		}
	}
	return enc, integ
}
