// Package redact replaces secrets in device configurations, logs and file
// names before anything is stored: pre-shared keys, passwords, private keys,
// certificates, SNMP communities and API tokens. Like `sos clean`, the same
// secret always gets the same placeholder (e.g. <redacted:psk:1>), so a
// redacted file can still be compared with another; the mapping stays in
// memory with the Redactor and is never written anywhere by this package.
//
// The default is safe: besides the device syntaxes (Cisco, Juniper,
// FortiGate, Palo Alto, strongSwan, libreswan …), any key/value pair in
// JSON, YAML, XML (elements, attributes, CDATA), HCL, INI or on a command
// line whose key names a secret (keys.go: tunnel1_preshared_key,
// PreSharedKey, sharedKey, shared_secret, psk, password …) has its value
// replaced, and so do values known by their shape (crypt hashes, tokens,
// credentials in URLs). Secrets that go on over following lines (an
// ipsec.secrets entry, a multi-line quoted secret, a YAML block, a hex dump
// after a strongSwan "=> N bytes @" header) are followed line by line, and
// lines longer than the read buffer are redacted in overlapping windows
// cut where no secret is. FileName puts a file's name through the same
// rules.
//
// Public IP addresses and host names can optionally be obfuscated too, with
// a private map of their own.
//
// Redaction works line by line and never changes the number of lines, so a
// line number in a finding points at the same line in the original file.
package redact

import (
	"bytes"
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/vpndiag/vpndiag/evidence/internal/multimatch"
)

// Kinds of secrets, used in placeholders.
const (
	KindPSK         = "psk"
	KindPassword    = "password"
	KindPrivateKey  = "private-key"
	KindCertificate = "certificate"
	KindCommunity   = "snmp-community"
	KindToken       = "token"
	KindSecret      = "secret" // any other secret value
	KindIP          = "ip"     // an obfuscated public IP address
	KindHost        = "host"   // an obfuscated host name
)

// Options choose what is obfuscated beyond secrets.
type Options struct {
	// PublicIPs replaces public IPv4 addresses with <ip:N>.
	PublicIPs bool
	// Hostnames replaces fully qualified host names with <host:N>.
	Hostnames bool
}

// Secret is one replaced value and its placeholder. It is kept in memory only.
type Secret struct {
	// Placeholder is what replaced the value, e.g. <redacted:psk:1>.
	Placeholder string
	// Kind is one of the Kind constants.
	Kind string
	// Value is the original text.
	Value string
}

// Redactor redacts lines and remembers which secret got which placeholder.
// It is safe for concurrent use; use one Redactor for files that should
// share placeholders.
type Redactor struct {
	opts Options

	mu      sync.Mutex
	byValue map[string]string // kind + "\x00" + value → placeholder
	secrets []Secret
	counts  map[string]int // per kind, for numbering
	n       int            // replacements made (occurrences)
	known   []Secret       // secrets long enough to be replaced wherever they appear
}

// New returns a Redactor.
func New(opts Options) *Redactor {
	return &Redactor{opts: opts, byValue: map[string]string{}, counts: map[string]int{}}
}

// Count returns the number of replacements made so far (occurrences, not
// distinct secrets).
func (r *Redactor) Count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

// Secrets returns the distinct secrets replaced so far, in the order first
// seen. The caller must keep them out of storage and bundles.
func (r *Redactor) Secrets() []Secret {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Secret(nil), r.secrets...)
}

// placeholder returns the placeholder for value of kind, allocating one.
func (r *Redactor) placeholder(kind, value string) string {
	return r.mark(kind, value, true)
}

// mark is placeholder; echo false keeps the value out of the secrets looked
// for on every line (a hex dump's bytes, noise that would only slow every
// later line down).
func (r *Redactor) mark(kind, value string, echo bool) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n++
	// The same value is one secret whatever rule found it, except that
	// addresses and names keep their own numbering.
	key := value
	if kind == KindIP || kind == KindHost {
		key = kind + "\x00" + value
	}
	if p, ok := r.byValue[key]; ok {
		return p
	}
	r.counts[kind]++
	var p string
	if kind == KindIP || kind == KindHost {
		p = fmt.Sprintf("<%s:%d>", kind, r.counts[kind])
	} else {
		p = fmt.Sprintf("<redacted:%s:%d>", kind, r.counts[kind])
	}
	r.byValue[key] = p
	sec := Secret{Placeholder: p, Kind: kind, Value: value}
	r.secrets = append(r.secrets, sec)
	if echo && kind != KindIP && kind != KindHost && len(value) >= minEcho && !strings.ContainsAny(value, "\n") {
		r.known = append(r.known, sec)
	}
	return p
}

// rule is one secret syntax: the regexp's group "v" is the secret.
type rule struct {
	// need are lower-case words one of which the line must hold for re
	// to be tried: a cheap test that spares most lines the regexp.
	need []string
	re   *regexp.Regexp
	kind string
	// kindOf, when set, chooses the kind from the whole match.
	kindOf func(m string) string
}

// skipValue reports values that are syntax, not secrets, or already masked.
func skipValue(v string) bool {
	t := strings.Trim(v, `"'`)
	if t == "" || t[0] == '=' || strings.HasPrefix(t, "<redacted:") || strings.HasPrefix(t, "&lt;redacted:") {
		return true
	}
	if strings.Trim(t, "*xX") == "" { // ***** or XXXX: masked by the vendor or the customer
		return true
	}
	// Template fields and placeholders: ${PSK}, {{ psk }}, <SCRUBBED>, <事前共有鍵>.
	if strings.HasPrefix(t, "${") && strings.HasSuffix(t, "}") || strings.HasPrefix(t, "{{") && strings.HasSuffix(t, "}}") ||
		t[0] == '<' && t[len(t)-1] == '>' && !strings.ContainsAny(t[1:len(t)-1], "<>") {
		return true
	}
	switch strings.ToLower(t) {
	case "ascii-text", "hexadecimal", "key", "address", "hostname", "local", "remote", "enc", "encrypted",
		"text", "0", "5", "6", "7", "8", "9", "mask", "keyring", "none", "enable", "disable", "yes", "no",
		"{", ";", "ro", "rw", "version":
		return true
	}
	return false
}

func kindByName(m string) string {
	l := strings.ToLower(m)
	switch {
	case strings.Contains(l, "psk") || strings.Contains(l, "pre-shared") || strings.Contains(l, "preshared") || strings.Contains(l, "shared-secret"):
		return KindPSK
	case strings.Contains(l, "community"):
		return KindCommunity
	case strings.Contains(l, "pass") || strings.Contains(l, "pwd"):
		return KindPassword
	case strings.Contains(l, "token") || strings.Contains(l, "api"):
		return KindToken
	case strings.Contains(l, "private") || strings.Contains(l, "prv"):
		return KindPrivateKey
	case strings.Contains(l, "crt") || strings.Contains(l, "cert"):
		return KindCertificate
	}
	return KindSecret
}

// quotedOrWord is a value: a double- or single-quoted string, a quote left
// open to the end of the line (it continues on the next lines), or a word.
const quotedOrWord = `(?P<v>"[^"]*"|'[^']*'|["'].*$|[^\s;]+)`

// rules are the device and file syntaxes, tried in order on a line that
// holds a trigger word; a value replaced by an earlier rule is not seen as a
// secret by a later one. The structured pass (keys.go) follows them, then
// the value shapes.
var rules = []rule{
	// FortiGate: set psksecret ENC <...>, set password ENC <...>, any "set X ENC value".
	{need: []string{"enc"}, re: regexp.MustCompile(`(?i)\bset\s+\S+\s+ENC\s+(?P<v>\S+)`), kindOf: kindByName},
	// FortiGate and others: set psksecret <plain>, set password <plain>.
	{need: []string{"set"}, re: regexp.MustCompile(`(?i)\bset\s+(?:psksecret|password|passwd|secret|ppk-secret|auth-pwd|sslvpn-password|passphrase|key|community)\s+` + quotedOrWord), kindOf: kindByName},
	// Yamaha RTX: ipsec ike pre-shared-key 1 text <key>.
	{need: []string{"pre-shared-key"}, re: regexp.MustCompile(`(?i)(?:^|[\s"'])pre-shared-key\s+\d+\s+(?:text|ascii)\s+` + quotedOrWord), kind: KindPSK},
	// Juniper: pre-shared-key ascii-text "$9$..." / hexadecimal.
	{need: []string{"pre-shared-key"}, re: regexp.MustCompile(`(?i)(?:^|[\s"'])pre-shared-key\s+(?:ascii-text|hexadecimal)\s+` + quotedOrWord), kind: KindPSK},
	// Palo Alto set commands: authentication pre-shared-key key <key>.
	{need: []string{"pre-shared-key"}, re: regexp.MustCompile(`(?i)(?:^|[\s"'])pre-shared-key\s+key\s+` + quotedOrWord), kind: KindPSK},
	// Cisco IOS keyring: pre-shared-key address A [mask M] key [0|6] <key>.
	{need: []string{"pre-shared-key"}, re: regexp.MustCompile(`(?i)(?:^|[\s"'])pre-shared-key\s+(?:address|hostname)\s+\S+(?:\s+\S+)?\s+key\s+(?:\d\s+)?` + quotedOrWord), kind: KindPSK},
	// Cisco IOS: crypto isakmp key [0|6] <key> address A.
	{need: []string{"isakmp"}, re: regexp.MustCompile(`(?i)\bcrypto\s+isakmp\s+key\s+(?:\d\s+)?(?P<v>\S+)`), kind: KindPSK},
	// Cisco ASA / IOS IKEv2: [ikev1] pre-shared-key <key>, pre-shared-key [local|remote] [0|6] <key>,
	// ikev2 local-authentication pre-shared-key <key>.
	{need: []string{"pre-shared-key"}, re: regexp.MustCompile(`(?i)(?:^|[\s"'])pre-shared-key\s+(?:(?:local|remote)\s+)?(?:\d\s+)?` + quotedOrWord), kind: KindPSK},
	// Vendor-neutral parameter sheets and GUI steps: "Pre-Shared Key : <key>".
	{need: []string{"shared"}, re: regexp.MustCompile(`(?i)\bpre-?shared[ -]?key\s*[:=]\s*(?P<v>\S.*?)\s*$`), kind: KindPSK},
	// SonicWall: shared-secret <key>; VyOS pre-shared-secret; Check Point.
	{need: []string{"shared-secret"}, re: regexp.MustCompile(`(?i)\bshared-secret\s+` + quotedOrWord), kind: KindPSK},
	// strongSwan swanctl.conf: secret = <value> (any secrets section).
	{need: []string{"="}, re: regexp.MustCompile(`(?i)^\s*(?:secret|pin|psk)\s*=\s*(?P<v>"[^"]*"|'[^']*'|\S.*?)\s*$`), kind: KindPSK},
	// ipsec.secrets (strongSwan, libreswan): ... : PSK "key", : EAP "x", user : XAUTH "pw".
	{need: []string{"psk", "eap", "xauth", "ntlm"}, re: regexp.MustCompile(`(?i):\s*(?:PSK|EAP|XAUTH|NTLM)\s+` + quotedOrWord), kindOf: secretsKind},
	// ipsec.secrets continuation line (an entry goes on while lines start
	// with white space): "    PSK "key"".
	{need: []string{"psk", "eap", "xauth", "ntlm", "pin"}, re: regexp.MustCompile(`^\s+(?:PSK|EAP|XAUTH|NTLM|PIN)\s+` + quotedOrWord), kindOf: secretsKind},
	// ipsec.secrets: : RSA key.pem "passphrase".
	{need: []string{"rsa", "ecdsa", "bliss", "p12", "pkcs"}, re: regexp.MustCompile(`(?i)(?::\s*|^\s+)(?:RSA|ECDSA|BLISS|P12|PKCS8|PKCS12)\s+\S+\s+` + quotedOrWord), kind: KindPassword},
	// Cisco: enable password/secret, passwd, username u password/secret [N] x,
	// with an optional algorithm-type.
	{need: []string{"enable", "passwd", "username", "server", "key-string", "authentication-key", "message-digest-key"}, re: regexp.MustCompile(`(?i)\b(?:enable(?:\s+algorithm-type\s+\S+)?\s+(?:password|secret)(?:\s+level\s+\d+)?|passwd|username\s+\S+(?:\s+privilege\s+\d+)?(?:\s+algorithm-type\s+\S+)?\s+(?:password|secret)|(?:tacacs|radius)-server\s+(?:\S+\s+)*?key|key-string|authentication-key(?:\s+\d+\s+md5)?|message-digest-key\s+\d+\s+md5)\s+(?:\d\s+)?` + quotedOrWord), kind: KindPassword},
	// Cisco BGP neighbor password, PPP CHAP/PAP passwords, a "password" or
	// "key" statement of its own (line vty, tacacs server blocks).
	{need: []string{"password"}, re: regexp.MustCompile(`(?i)\b(?:neighbor\s+\S+|ppp\s+(?:chap|pap|ms-chap|ms-chap-v2)|sent-username\s+\S+)\s+password\s+(?:\d\s+)?` + quotedOrWord), kind: KindPassword},
	{need: []string{"password"}, re: regexp.MustCompile(`^\s*password\s+(?:[0-9]\s+)?` + quotedOrWord + `(?:\s+\d)?\s*$`), kind: KindPassword},
	// (a key's value holds a non-digit: "key 1" numbers a key chain's key)
	{need: []string{"key"}, re: regexp.MustCompile(`^\s*key\s+(?:[0-9]\s+)?(?P<v>"[^"]*"|\S*[^\s0-9]\S*)(?:\s+\d)?\s*$`), kind: KindPassword},
	// ScreenOS: set admin password "x", set ike gateway … preshare "x".
	{need: []string{"password"}, re: regexp.MustCompile(`(?i)\bset\s+(?:admin|user\s+\S+)\s+password\s+` + quotedOrWord), kind: KindPassword},
	{need: []string{"preshare"}, re: regexp.MustCompile(`(?i)\bpreshare\s+` + quotedOrWord), kind: KindPSK},
	// IOS OSPFv3 / IPv6 IPsec keys: … spi N esp null md5 0 HEX, esp aes-cbc 128 0 HEX.
	{need: []string{"spi"}, re: regexp.MustCompile(`(?i)\bspi\s+\d+\s+(?:esp|ah)\s+(?:null\s+|(?:des|3des|aes-cbc\s+\d+)\s+[07]\s+(?P<e>[0-9a-f]{16,})\s+)?(?:md5|sha1)\s+[07]\s+(?P<v>[0-9a-f]{16,})`), kind: KindSecret},
	{need: []string{"spi"}, re: regexp.MustCompile(`(?i)\bspi\s+\d+\s+esp\s+(?:des|3des|aes-cbc\s+\d+)\s+[07]\s+(?P<v>[0-9a-f]{16,})`), kind: KindSecret},
	// SNMP communities: Cisco snmp-server community X, snmp-server host H
	// [vrf V] [informs|traps] [version V] [community] X, Junos community X.
	{need: []string{"snmp-server"}, re: regexp.MustCompile(`(?i)\bsnmp-server\s+community\s+` + quotedOrWord), kind: KindCommunity},
	{need: []string{"snmp-server"}, re: regexp.MustCompile(`(?i)\bsnmp-server\s+host\s+(?:\S+\s+)??(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9a-f]*:[0-9a-f:]+|[a-z0-9-]+(?:\.[a-z0-9-]+)+)(?:\s+vrf\s+\S+)?(?:\s+(?:informs|traps|poll))?(?:\s+version\s+(?:1|2c|3\s+(?:auth|noauth|priv)))?(?:\s+community)?\s+(?P<v>[^\s]+)`), kind: KindCommunity},
	{need: []string{"community"}, re: regexp.MustCompile(`(?i)^\s*(?:set\s+snmp\s+)?community\s+` + quotedOrWord), kind: KindCommunity},
	// Junos secrets: encrypted-password, authentication-key, simple-password.
	{need: []string{"-password"}, re: regexp.MustCompile(`(?i)(?:^|[\s;{])(?:encrypted-password|simple-password)\s+` + quotedOrWord), kind: KindPassword},
	// Junos and VyOS "secret": lower case, and the value quoted or ending
	// the statement, so a tunnel or map named SECRET stays.
	{need: []string{"secret"}, re: regexp.MustCompile(`(?:^|[\s;{])secret\s+(?P<v>"[^"]*"|'[^']*'|[^\s;]+;|[^\s;]+\s*$)`), kind: KindSecret},
	// Palo Alto encrypted values anywhere.
	{need: []string{"-aq=="}, re: regexp.MustCompile(`(?P<v>-AQ==[A-Za-z0-9+/=_-]+)`), kind: KindSecret},
	// API tokens.
	{need: []string{"xox"}, re: regexp.MustCompile(`(?P<v>\bxox[abposre]-[0-9A-Za-z-]{8,})`), kind: KindToken},
	{need: []string{"xapp-"}, re: regexp.MustCompile(`(?P<v>\bxapp-[0-9A-Za-z-]{8,})`), kind: KindToken},
	{need: []string{"akia", "asia"}, re: regexp.MustCompile(`(?P<v>\b(?:AKIA|ASIA)[0-9A-Z]{16}\b)`), kind: KindToken},
	{need: []string{"gh"}, re: regexp.MustCompile(`(?P<v>\bgh[pousr]_[0-9A-Za-z]{20,})`), kind: KindToken},
	{need: []string{"bearer"}, re: regexp.MustCompile(`(?i)\bbearer\s+(?P<v>[A-Za-z0-9._~+/-]{12,}=*)`), kind: KindToken},
	{need: []string{"secret", "api", "token"}, re: regexp.MustCompile(`(?i)\b(?:aws_secret_access_key|secret_access_key|api[_-]?key|api[_-]?token|access[_-]?token|auth[_-]?token|client[_-]?secret|signing[_-]?secret)["']?\s*[:=]\s*` + quotedOrWord), kind: KindToken},
	// Generic key = value / key: value with an unmistakable secret name.
	{need: []string{"pass"}, re: regexp.MustCompile(`(?i)\b(?:password|passwd|passphrase)["']?\s*[:=]\s*` + quotedOrWord), kind: KindPassword},
}

// shapes are values recognised by their form wherever they are: crypt
// hashes ($1$, $5$, $6$, $8$, $9$ and bcrypt), Junos $9$ secrets,
// credentials in URLs.
var shapes = []rule{
	{need: []string{"$"}, re: regexp.MustCompile(`(?P<v>\$(?:1|2[aby]?|5|6|7|8|9|sha1|pbkdf2)\$[A-Za-z0-9./=+-]+(?:\$[A-Za-z0-9./=+-]+)*)`), kind: KindPassword},
	{need: []string{"://"}, re: regexp.MustCompile(`\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@"'<>]+:(?P<v>[^\s@/"'<>]+)@`), kind: KindPassword},
}

func secretsKind(m string) string {
	if strings.Contains(strings.ToUpper(m), "PSK") {
		return KindPSK
	}
	return KindPassword
}

// triggers are the words one of which a line must hold for the rules to be
// tried at all: scanning for them is much cheaper than running the rules.
// Every rule, key name and shape above needs one of them.
var triggers = multimatch.New([]string{
	"psk", "secret", "pass", "pre-shared", "preshared", "isakmp key", "key-string", "-key", "key ",
	"community", "ENC ", "xox", "xapp-", "AKIA", "ASIA", "ghp_", "gho_", "ghu_", "ghs_", "ghr_",
	"bearer", "token", "api", "<key>", "<prv>", "<crt>", "<cert", "-AQ==", "pin ", "pin=", "XAUTH",
	"EAP", "NTLM", "RSA ", "ECDSA", "P12", "PKCS", "-hash>", "authorizedkeys", "SECRET-DATA",
	"shared", "pwd", "phash", "private", "_key", "accesskey", "authkey", "authenticationkey", "keystring",
	"encryptionkey", "signingkey", "snmp-server", "preshare", "ipsec spi", "md5", "bytes @", "$1$", "$2a$", "$2b$", "$2y$", "$5$",
	"$6$", "$7$", "$8$", "$9$", "$sha1$", "$pbkdf2", "://", "CDATA", "prv", "communit",
}, true)

// ipOrHostTrigger finds lines that may hold an address or a name.
var (
	ipRe   = regexp.MustCompile(`\b(?:\d{1,3}\.){3}\d{1,3}\b`)
	hostRe = regexp.MustCompile(`(?i)\b(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:com|net|org|io|cloud|local|internal|corp|lan|intra|biz|info|eu|uk|de|fr|nl|us|ca|au|jp|cn|in|br|ch|se|no|dk|fi|it|es|pl|be|at|ie|nz|sg|hk|za|co|app|dev|ai|me|tv|gov|edu|mil|int|example|test|invalid|home|site|online|tech|xyz)\b`)
)

// minEcho is the shortest secret that is also replaced where it appears
// outside its syntax (echoed in a comment or a log line): shorter values
// would replace ordinary words.
const minEcho = 6

// echoes replaces known secrets wherever they appear in line.
func (r *Redactor) echoes(line string) string {
	r.mu.Lock()
	known := r.known
	r.mu.Unlock()
	for _, s := range known {
		if strings.Contains(line, s.Value) {
			r.mu.Lock()
			r.n += strings.Count(line, s.Value)
			r.mu.Unlock()
			line = strings.ReplaceAll(line, s.Value, s.Placeholder)
		}
	}
	return line
}

// hasKnown reports whether any secret has been learnt that must be looked
// for on every line.
func (r *Redactor) hasKnown() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.known) > 0
}

// Line returns line (without its newline) with every secret on it replaced.
// It does not handle what continues on following lines (PEM blocks,
// certificate chains, multi-line quoted secrets, hex dumps): use Copy or a
// Reader for whole files.
func (r *Redactor) Line(line string) string {
	return r.line(line, nil)
}

// line redacts one line; cx, when not nil, is the stream's context, which
// the line may open for the lines that follow.
func (r *Redactor) line(line string, cx *lineCtx) string {
	if triggers.Contains([]byte(line)) {
		line = r.secretsIn(line, cx)
	}
	if r.hasKnown() {
		line = r.echoes(line)
	}
	if r.opts.PublicIPs {
		line = r.obfuscateIPs(line)
	}
	if r.opts.Hostnames {
		line = r.obfuscateHosts(line)
	}
	return line
}

// secretsIn applies the rules, the structured pass and the value shapes.
func (r *Redactor) secretsIn(line string, cx *lineCtx) string {
	if strings.Contains(line, "## SECRET-DATA") {
		line = r.junosSecretData(line)
	}
	line = r.apply(line, rules, cx)
	line = r.structured(line, cx)
	line = r.apply(line, shapes, nil)
	if cx != nil {
		if cx.mode == modeNone && openSecretsEntry.MatchString(line) {
			cx.open(modeValue, secretsKind(line[strings.LastIndexByte(line, ':'):]), 0, 0)
		}
		if strings.Contains(line, " bytes @ ") {
			cx.startDump(line)
		}
	}
	return line
}

// apply replaces the values the rules find on line.
func (r *Redactor) apply(line string, rules []rule, cx *lineCtx) string {
	lower := strings.ToLower(line)
	for _, ru := range rules {
		if !containsAny(lower, ru.need) {
			continue
		}
		vi := ru.re.SubexpIndex("v")
		ms := ru.re.FindAllStringSubmatchIndex(line, -1)
		if len(ms) == 0 {
			continue
		}
		held := placeholderSpans(line)
		var edits []edit
		for i := len(ms) - 1; i >= 0; i-- {
			m := ms[i]
			s, e := m[2*vi], m[2*vi+1]
			if s < 0 || held.overlap(m[0], e) {
				continue
			}
			v := line[s:e]
			if skipValue(v) {
				continue
			}
			kind := ru.kind
			if ru.kindOf != nil {
				kind = ru.kindOf(line[m[0]:m[1]])
			}
			// Keep quotes; redact what is inside them. A quote left open
			// goes on to the following lines.
			open := false
			if len(v) >= 2 && (v[0] == '"' && v[len(v)-1] == '"' || v[0] == '\'' && v[len(v)-1] == '\'') {
				s, e, v = s+1, e-1, v[1:len(v)-1]
			} else if v[0] == '"' || v[0] == '\'' {
				if cx != nil {
					cx.open(modeQuote, kind, 0, v[0])
					open = true
				}
				s, v = s+1, v[1:]
				v = strings.TrimRight(v, " \t")
				e = s + len(v)
				if v == "" {
					continue
				}
			}
			p := r.placeholder(kind, v)
			if open {
				cx.ph = p
			}
			if inXMLElement(line, s, e) {
				p = escapeXML(p)
			}
			edits = append(edits, edit{s, e, p})
		}
		line = splice(line, edits)
	}
	return line
}

// edit replaces line[s:e] with p.
type edit struct {
	s, e int
	p    string
}

// splice applies edits, given right to left and not overlapping, in one
// pass (replacing one at a time would copy a long line once per secret).
func splice(line string, edits []edit) string {
	if len(edits) == 0 {
		return line
	}
	var b strings.Builder
	b.Grow(len(line) + 16*len(edits))
	at := 0
	for i := len(edits) - 1; i >= 0; i-- {
		ed := edits[i]
		b.WriteString(line[at:ed.s])
		b.WriteString(ed.p)
		at = ed.e
	}
	b.WriteString(line[at:])
	return b.String()
}

// spans are the [start, end) of the placeholders on a line, in order.
type spans [][2]int

// placeholderSpans finds the placeholders on line, whose kind names (like
// "password:") must not look like secrets to a later rule.
func placeholderSpans(line string) spans {
	var out spans
	for off := 0; off < len(line); {
		i := strings.Index(line[off:], "redacted:")
		if i < 0 {
			break
		}
		i += off
		j := strings.IndexByte(line[i:], '>')
		if j < 0 {
			j = len(line) - i
		}
		out = append(out, [2]int{i, i + j})
		off = i + j
	}
	return out
}

// overlap reports whether [s, e) overlaps a span.
func (sp spans) overlap(s, e int) bool {
	k := sort.Search(len(sp), func(k int) bool { return sp[k][1] > s })
	return k < len(sp) && sp[k][0] < e
}

// containsAny reports whether s holds one of words; true when there are none.
func containsAny(s string, words []string) bool {
	for _, w := range words {
		if strings.Contains(s, w) {
			return true
		}
	}
	return len(words) == 0
}

// inXMLElement reports whether [s, e) is the whole text of an XML element,
// where a placeholder must be escaped to keep the file well-formed.
func inXMLElement(line string, s, e int) bool {
	return s > 0 && line[s-1] == '>' && strings.HasPrefix(line[e:], "</")
}

// insidePlaceholder reports whether [s, e) overlaps a placeholder already
// on the line (whose kind names, like "password:", must not look like
// secrets to a later rule).
func insidePlaceholder(line string, s, e int) bool {
	return placeholderSpans(line).overlap(s, e)
}

// junosQuoted finds quoted strings on a Junos line marked ## SECRET-DATA.
var junosQuoted = regexp.MustCompile(`"([^"]*)"`)

func (r *Redactor) junosSecretData(line string) string {
	body, comment, _ := strings.Cut(line, "## SECRET-DATA")
	ms := junosQuoted.FindAllStringSubmatchIndex(body, -1)
	if len(ms) == 0 {
		// Unquoted: the last word before the semicolon.
		f := strings.Fields(strings.TrimRight(strings.TrimSpace(body), ";"))
		if len(f) >= 2 && !skipValue(f[len(f)-1]) {
			v := f[len(f)-1]
			i := strings.LastIndex(body, v)
			body = body[:i] + r.placeholder(kindByName(body), v) + body[i+len(v):]
		}
		return body + "## SECRET-DATA" + comment
	}
	for i := len(ms) - 1; i >= 0; i-- {
		s, e := ms[i][2], ms[i][3]
		if skipValue(body[s:e]) {
			continue
		}
		body = body[:s] + r.placeholder(kindByName(body), body[s:e]) + body[e:]
	}
	return body + "## SECRET-DATA" + comment
}

func (r *Redactor) obfuscateIPs(line string) string {
	return ipRe.ReplaceAllStringFunc(line, func(s string) string {
		a, err := netip.ParseAddr(s)
		if err != nil || !publicIP(a) {
			return s
		}
		return r.placeholder(KindIP, s)
	})
}

// fileExt are name endings that look like host names but are files.
var fileExt = []string{".txt", ".pem", ".conf", ".log", ".xml", ".der", ".crt", ".key", ".sh", ".cfg"}

func (r *Redactor) obfuscateHosts(line string) string {
	return hostRe.ReplaceAllStringFunc(line, func(s string) string {
		l := strings.ToLower(s)
		for _, e := range fileExt {
			if strings.HasSuffix(l, e) {
				return s
			}
		}
		return r.placeholder(KindHost, l)
	})
}

// publicIP reports whether a is a globally routable unicast address.
func publicIP(a netip.Addr) bool {
	if !a.IsGlobalUnicast() || a.IsPrivate() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("100.64.0.0/10"),   // CGNAT
	netip.MustParsePrefix("169.254.0.0/16"),  // link-local
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("240.0.0.0/4"),
}

// String redacts a whole text, multi-line blocks included.
func (r *Redactor) String(s string) string {
	var b bytes.Buffer
	_, _ = r.Copy(&b, strings.NewReader(s))
	return b.String()
}
