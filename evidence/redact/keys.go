package redact

import (
	"regexp"
	"strings"
)

// The structured pass finds key/value pairs in any of the common formats
// (JSON, YAML, XML elements and attributes, HCL and INI, command-line flags)
// and replaces the value when the key names a secret. A key names a secret
// when its normalised form (lower case, letters and digits only) ends with
// one of secretSuffixes: tunnel1_preshared_key, PreSharedKey, sharedKey,
// shared_secret, vpn_psk and VPN_PRE_SHARED_KEY all do, and none of
// PreSharedKeyLength, sharedKeyRequired, authby or auth does. So a new
// spelling of a known secret name is redacted by default.

// secretSuffixes are the normalised endings of secret key names, by kind.
var secretSuffixes = []struct{ suffix, kind string }{
	{"presharedkey", KindPSK}, {"presharedsecret", KindPSK}, {"sharedkey", KindPSK}, {"sharedsecret", KindPSK},
	{"psksecret", KindPSK}, {"ppksecret", KindPSK}, {"psk", KindPSK}, {"pskey", KindPSK},
	{"password", KindPassword}, {"passwd", KindPassword}, {"passphrase", KindPassword}, {"pwd", KindPassword},
	{"phash", KindPassword}, {"passwordhash", KindPassword},
	{"privatekey", KindPrivateKey}, {"prv", KindPrivateKey},
	{"community", KindCommunity}, {"communitystring", KindCommunity},
	{"apikey", KindToken}, {"apitoken", KindToken}, {"accesstoken", KindToken}, {"authtoken", KindToken},
	{"bearertoken", KindToken}, {"refreshtoken", KindToken}, {"token", KindToken}, {"accesskey", KindToken},
	{"clientsecret", KindSecret}, {"secretaccesskey", KindSecret}, {"secretkey", KindSecret}, {"secret", KindSecret},
	{"authkey", KindSecret}, {"authenticationkey", KindSecret}, {"md5key", KindSecret}, {"keystring", KindSecret},
	{"encryptionkey", KindSecret}, {"signingkey", KindSecret}, {"sharedsecretkey", KindPSK},
}

// xmlOnlyKeys are element names that hold secrets in device XML (PAN-OS,
// pfSense) but are too generic as keys elsewhere.
var xmlOnlyKeys = map[string]string{
	"key": KindSecret, "crt": KindCertificate, "certificate": KindCertificate, "bcrypthash": KindPassword,
	"sha512hash": KindPassword, "md5hash": KindPassword, "authorizedkeys": KindSecret,
}

// normKey lower-cases a key name and keeps letters and digits.
func normKey(k string) string {
	b := make([]byte, 0, len(k))
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case c >= 'A' && c <= 'Z':
			b = append(b, c+'a'-'A')
		case c >= 'a' && c <= 'z' || c >= '0' && c <= '9':
			b = append(b, c)
		}
	}
	return string(b)
}

// secretKey reports whether a key names a secret, and its kind.
func secretKey(k string, xml bool) (string, bool) {
	n := normKey(k)
	if n == "" {
		return "", false
	}
	if xml {
		if kind, ok := xmlOnlyKeys[n]; ok {
			return kind, true
		}
	}
	for _, s := range secretSuffixes {
		if strings.HasSuffix(n, s.suffix) {
			return s.kind, true
		}
	}
	return "", false
}

var (
	// jsonKV: "key": "value" (or {"value": "…"} as ARM parameter files
	// write it), "key": word, "key": { at the end of a line.
	jsonKV = regexp.MustCompile(`"(?P<k>[A-Za-z0-9_.$ -]{1,64})"\s*:\s*(?:\{\s*"value"\s*:\s*)?(?P<v>"(?:[^"\\]|\\.)*"?|\{\s*$|[^\s,}\]"]+)`)
	// xmlElem: <key attrs>value</ or <key><![CDATA[value]]>.
	xmlElem = regexp.MustCompile(`<(?P<k>[A-Za-z_][\w.:-]{0,63})(?:\s[^<>]*)?>\s*(?P<v><!\[CDATA\[.*?\]\]>|<!\[CDATA\[.*$|[^<\s][^<]*?)\s*(?:</|$)`)
	// xmlOpen: <key> alone at the end of a line: the value follows.
	xmlOpen = regexp.MustCompile(`<(?P<k>[A-Za-z_][\w.:-]{0,63})(?:\s[^<>/]*)?>\s*$`)
	// attrKV: key="value" or key='value' (XML attributes, HCL, INI).
	attrKV = regexp.MustCompile(`(?:^|[\s{,;(])(?P<k>[A-Za-z_][\w.:-]{0,63})\s*=\s*(?P<v>"(?:[^"\\]|\\.)*"?|'[^']*'?)`)
	// lineKV: key: value or key = value at the start of a line (YAML, INI,
	// HCL, swanctl): the value is the rest of the line.
	lineKV = regexp.MustCompile(`^\s*(?:-\s+)?(?P<k>[A-Za-z_][\w.-]{0,63})(?:\s*=\s*|\s*:(?:\s+|$))(?P<v>.*?)\s*$`)
	// wordKV: key=value inside a line (env files, MikroTik, query strings).
	wordKV = regexp.MustCompile(`(?:^|[\s,;&?(])(?P<k>[A-Za-z_][\w.-]{0,63})=(?P<v>[^\s"',;&)]+)`)
	// nameValue: a key named by one field and its value in the next:
	// {"ParameterKey": "PreSharedKey", "ParameterValue": "…"} (CloudFormation),
	// {"Name": "/vpn/psk", "Value": "…"} (SSM), <param name="psk" value="…"/>.
	nameValue = regexp.MustCompile(`(?i)"?\b(?:parameter_?key|parametername|name|key)"?\s*[:=]\s*"(?P<k>[^"]{1,128})"(?:\s*,\s*"\w{1,32}"\s*:\s*(?:"[^"]*"|[\w.-]+)){0,4}\s*[,;]?\s*"?(?:parameter_?value|value)"?\s*[:=]\s*(?P<v>"(?:[^"\\]|\\.)*")`)
	// flagKV: --flag value, --flag=value, -Flag 'value' (CLIs, PowerShell).
	flagKV = regexp.MustCompile(`(?:^|\s)--?(?P<k>[A-Za-z][\w-]{1,63})(?:=|\s+)(?P<v>"(?:[^"\\]|\\.)*"?|'[^']*'?|[^\s"'-][^\s]*)`)
)

// structuredValue reports whether v is a value to redact (not a reference,
// a template, a boolean or an empty string).
func structuredValue(v string) bool {
	t := strings.TrimSpace(v)
	if len(t) >= 2 && (t[0] == '"' || t[0] == '\'') && t[len(t)-1] == t[0] {
		t = t[1 : len(t)-1]
	}
	t = strings.TrimSpace(t)
	if t == "" || skipValue(t) {
		return false
	}
	switch strings.ToLower(t) {
	case "true", "false", "null", "nil", "~", "[]", "{}", "none", "required", "optional", "sensitive", "(sensitive value)":
		return false
	}
	for _, p := range []string{"${", "{{", "%{", "<%", "$(", "[parameters(", "[variables(", "var.", "local.", "data.", "module.", "each.", "!ref", "!sub", "!getatt", "{{resolve:", "arn:"} {
		if strings.HasPrefix(strings.ToLower(t), p) {
			return false
		}
	}
	if t[0] == '$' && isIdent(t[1:]) { // $PSK, $env:PSK in shell and PowerShell
		return false
	}
	if strings.HasPrefix(strings.ToLower(t), "$env:") {
		return false
	}
	return true
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// structured runs the key/value finders over line and replaces the values of
// secret keys. It sets cx when a secret key's value starts on a following
// line.
func (r *Redactor) structured(line string, cx *lineCtx) string {
	lower := strings.ToLower(line)
	if !containsAny(lower, keyStems) {
		return line
	}
	// XML first: its placeholders are escaped.
	if strings.Contains(line, "<") {
		line = r.kvPass(line, xmlElem, true, cx)
		if m := xmlOpen.FindStringSubmatch(line); m != nil && cx != nil {
			if kind, ok := secretKey(m[1], true); ok {
				cx.open(modeXML, kind, 0, 0)
			}
		}
	}
	if strings.Contains(line, `"`) {
		line = r.kvPass(line, jsonKV, false, cx)
		line = r.kvPass(line, nameValue, false, cx)
	}
	if strings.Contains(line, "=") {
		line = r.kvPass(line, attrKV, false, cx)
		line = r.kvPass(line, wordKV, false, cx)
	}
	if strings.ContainsAny(line, ":=") {
		line = r.kvPass(line, lineKV, false, cx)
	}
	if strings.Contains(line, "-") {
		line = r.kvPass(line, flagKV, false, cx)
	}
	return line
}

// keyStems are what every secret key name holds (lower case): a line
// without any has no secret key.
var keyStems = []string{"psk", "shared", "pass", "pwd", "phash", "private", "prv", "communit", "token", "secret", "key", "crt", "cert", "hash"}

// kvPass replaces the value of every secret key re finds on line.
func (r *Redactor) kvPass(line string, re *regexp.Regexp, xml bool, cx *lineCtx) string {
	ms := re.FindAllStringSubmatchIndex(line, -1)
	if len(ms) == 0 {
		return line
	}
	ki, vi := re.SubexpIndex("k"), re.SubexpIndex("v")
	held := placeholderSpans(line)
	var edits []edit
	for i := len(ms) - 1; i >= 0; i-- {
		m := ms[i]
		ks, ke, s, e := m[2*ki], m[2*ki+1], m[2*vi], m[2*vi+1]
		if ks < 0 || s < 0 || held.overlap(ks, e) {
			continue
		}
		kind, ok := secretKey(line[ks:ke], xml)
		if !ok {
			continue
		}
		v := line[s:e]
		indent := len(line) - len(strings.TrimLeft(line, " \t"))
		switch strings.TrimSpace(v) {
		case "{":
			if cx != nil {
				cx.open(modeJSON, kind, 0, 0)
			}
			continue
		case "", "|", "|-", "|+", ">", ">-", ">+":
			if re == lineKV && cx != nil {
				cx.open(modeIndent, kind, indent, 0)
			}
			continue
		}
		// A CDATA section: its content is the value.
		if strings.HasPrefix(v, "<![CDATA[") {
			s += len("<![CDATA[")
			if strings.HasSuffix(v, "]]>") {
				e -= len("]]>")
			} else if cx != nil {
				cx.open(modeUntil, kind, 0, 0)
				cx.until = "]]>"
			}
			v = line[s:e]
		}
		if !structuredValue(v) {
			continue
		}
		// Quotes stay; what is inside them goes. An unterminated quote
		// continues on the next lines.
		if q := v[0]; q == '"' || q == '\'' {
			if len(v) >= 2 && v[len(v)-1] == q && !(q == '"' && strings.HasSuffix(v, `\"`) && !strings.HasSuffix(v, `\\"`)) {
				s, e = s+1, e-1
			} else {
				s++
				if cx != nil {
					cx.open(modeQuote, kind, 0, q)
				}
			}
		}
		if s >= e {
			continue
		}
		p := r.placeholder(kind, line[s:e])
		if cx != nil && cx.mode != modeNone && cx.ph == "" {
			cx.ph = p
		}
		if xml {
			p = escapeXML(p)
		}
		edits = append(edits, edit{s, e, p})
	}
	return splice(line, edits)
}

func escapeXML(p string) string { return strings.NewReplacer("<", "&lt;", ">", "&gt;").Replace(p) }
