package redact

import (
	"path"
	"regexp"
	"strings"
	"unicode"
)

// FileName returns the base name of an uploaded file (any directories
// dropped, with either slash) with every secret in it replaced, for storing
// and showing: file names go through the same rules as content, plus one
// for names, so "tunnel1_preshared_key=Xk9.txt" and "vpn-psk-Sup3rS3cret.conf"
// keep no secret. An empty name becomes "upload.txt". The intake and the
// bundle both use it.
func FileName(name string) string {
	return New(Options{}).Name(name)
}

// nameSecret is a segment of a file name that follows a secret's key word:
// "…-psk-Sup3rS3cret.conf".
var nameSecret = regexp.MustCompile(`(?i)(?:psk|secret|password|passwd|pwd|pass|token|key|presharedkey|sharedkey|sharedsecret|community)[-_ .=:+]+([^-_ .=:+/]+)`)

// placeholderRe finds placeholders, escaped or not.
var placeholderRe = regexp.MustCompile(`(?:<|&lt;)redacted:([a-z-]+):\d+(?:>|&gt;)`)

// Name returns a file's base name with every secret in it replaced, by
// r's rules and the secrets r has learnt (a file named after the key it
// holds). Placeholders take a form that is safe in a file name on every
// system: "redacted-psk".
func (r *Redactor) Name(name string) string {
	base := path.Base(strings.ReplaceAll(name, `\`, "/"))
	if base == "." || base == "/" || strings.TrimSpace(base) == "" {
		return "upload.txt"
	}
	// The extension stays out of the rules (a value would swallow it),
	// unless it looks like a secret itself.
	ext := path.Ext(base)
	if len(ext) > 10 || secretShaped(strings.TrimPrefix(ext, ".")) {
		ext = ""
	}
	stem := r.Line(strings.TrimSuffix(base, ext))
	// A segment that follows a key word and looks like a secret (mixed
	// character classes).
	ms := nameSecret.FindAllStringSubmatchIndex(stem, -1)
	for i := len(ms) - 1; i >= 0; i-- {
		st, e := ms[i][2], ms[i][3]
		v := stem[st:e]
		if insidePlaceholder(stem, st, e) || !secretShaped(v) {
			continue
		}
		stem = stem[:st] + r.placeholder(kindByName(stem[ms[i][0]:st]), v) + stem[e:]
	}
	return placeholderRe.ReplaceAllString(stem+r.Line(ext), "redacted-$1")
}

// secretShaped reports whether a name segment looks like a secret rather
// than a word: six characters or more of at least three classes (lower,
// upper, digits, others), or of two with a digit.
func secretShaped(v string) bool {
	if len(v) < 6 {
		return false
	}
	var lower, upper, digit, other int
	for _, c := range v {
		switch {
		case unicode.IsLower(c):
			lower = 1
		case unicode.IsUpper(c):
			upper = 1
		case unicode.IsDigit(c):
			digit = 1
		default:
			other = 1
		}
	}
	n := lower + upper + digit + other
	return n >= 3 || n == 2 && digit == 1 && len(v) >= 8
}
