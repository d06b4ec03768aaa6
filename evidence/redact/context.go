package redact

import (
	"regexp"
	"strconv"
	"strings"
)

// Secrets that continue on following lines: the line that names the secret
// opens a mode in lineCtx, and the following lines are redacted according
// to it until it ends. The modes are bounded in lines, so a file that never
// closes a quote cannot make the rest of it disappear.
const (
	modeNone   = iota
	modeValue  // the first value on the next non-empty line (": PSK" then the key)
	modeQuote  // up to the closing quote (a multi-line quoted secret)
	modeIndent // lines indented more than the key (YAML block scalars)
	modeXML    // up to the closing tag (<sharedKey> alone on a line)
	modeJSON   // the next quoted string value ("sharedKey": { then "value": "…")
	modeUntil  // up to a terminator (a CDATA section)
)

// maxContinued bounds the lines one mode may redact.
const maxContinued = 256

// lineCtx is the per-stream context of the line redactor.
type lineCtx struct {
	mode   int
	kind   string
	indent int
	quote  byte
	until  string
	ph     string // the placeholder of the secret being continued
	lines  int    // lines redacted in this mode

	dump     int    // bytes left in a hex dump after a key header; 0 none
	dumpKind string // kind of the dumped value
	dumpPh   string // its placeholder
}

func (cx *lineCtx) open(mode int, kind string, indent int, quote byte) {
	*cx = lineCtx{mode: mode, kind: kind, indent: indent, quote: quote, dump: cx.dump, dumpKind: cx.dumpKind, dumpPh: cx.dumpPh}
}

func (cx *lineCtx) close() {
	cx.mode, cx.kind, cx.ph, cx.until, cx.lines, cx.quote = modeNone, "", "", "", 0, 0
}

// active reports whether the next line needs this context.
func (cx *lineCtx) active() bool { return cx.mode != modeNone || cx.dump > 0 }

var (
	// dumpHeader is strongSwan's %B: "NAME => 32 bytes @ 0x7f…".
	dumpHeader = regexp.MustCompile(`=> (\d{1,7}) bytes @ (?:0x)?[0-9a-fA-F]+\s*$`)
	// dumpLine is one line of it: "   0: 6C 71 F1 … 86  lq...", after any
	// log prefix.
	dumpLine = regexp.MustCompile(`^(.*?\s|)(\d{1,7}): ((?:[0-9A-Fa-f]{2} ){0,15}[0-9A-Fa-f]{2})(?:\s.*)?$`)
	// openSecretsEntry is an ipsec.secrets entry whose secret is on the
	// next line: "moon sun : PSK".
	openSecretsEntry = regexp.MustCompile(`:\s*(?:PSK|EAP|XAUTH|NTLM|PIN)\s*$`)
)

// startDump looks for a hex-dump header on a line. Every dump is redacted:
// strongSwan prints key material (SKEYSEED, Sk_*, the DH secret, the PSK,
// nonces) this way, and its ASCII column shows a PSK in clear.
func (cx *lineCtx) startDump(line string) {
	m := dumpHeader.FindStringSubmatch(line)
	if m == nil {
		return
	}
	n, err := strconv.Atoi(m[1])
	if err != nil || n <= 0 {
		return
	}
	cx.dump, cx.dumpPh = n, ""
	cx.dumpKind = KindSecret
	if l := strings.ToLower(line); strings.Contains(l, "psk") || strings.Contains(l, "pre-shared") || strings.Contains(l, "shared key") {
		cx.dumpKind = KindPSK
	}
}

// dumpLineOf redacts one line of a hex dump, or reports false (and ends
// the dump) when line is not one.
func (r *Redactor) dumpLineOf(line string, cx *lineCtx) (string, bool) {
	m := dumpLine.FindStringSubmatchIndex(line)
	if m == nil {
		cx.dump, cx.dumpPh = 0, ""
		return "", false
	}
	hex := line[m[6]:m[7]]
	// One placeholder for the whole dump, numbered by its first line.
	p := cx.dumpPh
	if p == "" {
		p = r.mark(cx.dumpKind, strings.TrimSpace(line[m[6]:]), false)
		cx.dumpPh = p
	} else {
		r.mu.Lock()
		r.n++
		r.mu.Unlock()
	}
	cx.dump -= (len(hex) + 1) / 3
	if cx.dump <= 0 {
		cx.dump, cx.dumpPh = 0, ""
	}
	return line[:m[6]] + p, true
}

// continued redacts a line inside a continuation mode. It reports false
// when the line is not part of the secret (the mode has ended and the line
// is redacted as usual).
func (r *Redactor) continued(line string, cx *lineCtx) (string, bool) {
	cx.lines++
	if cx.lines > maxContinued {
		cx.close()
		return "", false
	}
	trim := strings.TrimSpace(line)
	indent := len(line) - len(strings.TrimLeft(line, " \t"))
	secret := func(s, e int) string {
		v := line[s:e]
		if strings.TrimSpace(v) == "" {
			return line
		}
		p := r.placeholder(cx.kind, v)
		if cx.ph == "" {
			cx.ph = p
		}
		if cx.mode == modeXML {
			p = escapeXML(p)
		}
		return line[:s] + p + line[e:]
	}
	switch cx.mode {
	case modeValue:
		if trim == "" {
			return line, true
		}
		cx.close()
		if indent == 0 {
			// ipsec.secrets continues an entry on indented lines only
			// (a log line that ends in ": PSK" is followed by another).
			return "", false
		}
		v := trim
		s := indent
		if q := v[0]; q == '"' || q == '\'' {
			if j := strings.IndexByte(v[1:], q); j >= 0 {
				return secret(s+1, s+1+j), true
			}
			cx.open(modeQuote, cx.kind, 0, q)
			return secret(s+1, len(strings.TrimRight(line, " \t"))), true
		}
		if j := strings.IndexAny(v, " \t"); j >= 0 {
			v = v[:j]
		}
		return secret(s, s+len(v)), true
	case modeQuote:
		if j := strings.IndexByte(line, cx.quote); j >= 0 {
			cx.close()
			return secret(indent, max(indent, j)), true
		}
		return secret(indent, len(strings.TrimRight(line, " \t"))), true
	case modeIndent:
		if trim == "" {
			return line, true
		}
		if indent <= cx.indent {
			cx.close()
			return "", false
		}
		return secret(indent, len(strings.TrimRight(line, " \t"))), true
	case modeXML:
		if j := strings.Index(line, "</"); j >= 0 {
			cx.close()
			end := len(strings.TrimRight(line[:j], " \t"))
			if end <= indent {
				return line, true
			}
			return secret(indent, end), true
		}
		if strings.Contains(line, "<") {
			cx.close()
			return "", false
		}
		return secret(indent, len(strings.TrimRight(line, " \t"))), true
	case modeJSON:
		if m := jsonString.FindStringSubmatchIndex(line); m != nil {
			cx.close()
			return secret(m[2], m[3]), true
		}
		if strings.ContainsAny(line, "}]") || cx.lines > 3 {
			cx.close()
			return "", false
		}
		return line, true
	case modeUntil:
		if j := strings.Index(line, cx.until); j >= 0 {
			cx.close()
			if j <= indent {
				return line, true
			}
			return secret(indent, j), true
		}
		return secret(indent, len(strings.TrimRight(line, " \t"))), true
	}
	return "", false
}

// jsonString finds the first string value after a colon.
var jsonString = regexp.MustCompile(`:\s*"((?:[^"\\]|\\.)*)"`)
