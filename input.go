package vpndiag

import (
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxInputText caps a typed answer, in characters (runes), for every kind.
const MaxInputText = 500

// ValidateInput is the one rule for a typed answer, used by the flow engine
// and by every surface that asks for one (a Slack modal checks it at once to
// show the error next to the field; the engine checks again). It returns the
// value trimmed and in canonical form (an IP address as netip prints it, a
// range masked, a DNS name lower-case without its trailing dot, a port
// without leading zeros), or an EINVALID error whose message says what is
// expected, safe to show a user.
func ValidateInput(kind InputKind, value string) (string, error) {
	v := strings.TrimSpace(value)
	if v == "" {
		return "", Errorf(EINVALID, "Please type an answer.")
	}
	if !utf8.ValidString(v) {
		return "", Errorf(EINVALID, "The answer is not valid text.")
	}
	if n := utf8.RuneCountInString(v); n > MaxInputText {
		return "", Errorf(EINVALID, "The answer is too long (%d characters; at most %d).", n, MaxInputText)
	}
	switch kind {
	case InputIP:
		a, err := netip.ParseAddr(v)
		if err != nil || a.Zone() != "" {
			return "", Errorf(EINVALID, "%q is not an IP address (e.g. 10.20.0.2).", v)
		}
		return a.String(), nil
	case InputCIDR:
		p, err := netip.ParsePrefix(v)
		if err != nil {
			return "", Errorf(EINVALID, "%q is not a CIDR range (e.g. 192.168.10.0/24).", v)
		}
		if p != p.Masked() {
			return "", Errorf(EINVALID, "%s has host bits set; did you mean %s?", p, p.Masked())
		}
		return p.String(), nil
	case InputFQDN:
		if !ValidFQDN(v) {
			return "", Errorf(EINVALID, "%q is not a DNS name (e.g. app.example.cloud).", v)
		}
		return strings.ToLower(strings.TrimSuffix(v, ".")), nil
	case InputPort:
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 65535 {
			return "", Errorf(EINVALID, "%q is not a port number (1-65535).", v)
		}
		return strconv.Itoa(n), nil
	case InputText:
		return v, nil
	}
	return "", Errorf(EINVALID, "Unknown input kind %q.", kind)
}
