package bot

import (
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/vpndiag/vpndiag"
)

// MaxInputText caps a typed value.
const MaxInputText = 500

// ValidateInput checks a typed value against kind and returns it trimmed, or
// an EINVALID error whose message says what is expected. The flow engine
// validates again; this check lets a modal answer at once with the error
// next to the field.
func ValidateInput(kind vpndiag.InputKind, value string) (string, error) {
	v := strings.TrimSpace(value)
	if v == "" {
		return "", vpndiag.Errorf(vpndiag.EINVALID, "A value is required.")
	}
	if !utf8.ValidString(v) || utf8.RuneCountInString(v) > MaxInputText {
		return "", vpndiag.Errorf(vpndiag.EINVALID, "At most %d characters of text.", MaxInputText)
	}
	switch kind {
	case vpndiag.InputIP:
		a, err := netip.ParseAddr(v)
		if err != nil || a.Zone() != "" {
			return "", vpndiag.Errorf(vpndiag.EINVALID, "%q is not an IP address (e.g. 10.20.0.2).", v)
		}
		return a.String(), nil
	case vpndiag.InputCIDR:
		p, err := netip.ParsePrefix(v)
		if err != nil {
			return "", vpndiag.Errorf(vpndiag.EINVALID, "%q is not a CIDR range (e.g. 10.20.0.0/16).", v)
		}
		if p != p.Masked() {
			return "", vpndiag.Errorf(vpndiag.EINVALID, "%s has host bits set; did you mean %s?", p, p.Masked())
		}
		return p.String(), nil
	case vpndiag.InputFQDN:
		if !vpndiag.ValidFQDN(v) {
			return "", vpndiag.Errorf(vpndiag.EINVALID, "%q is not a DNS name (e.g. app.example.cloud).", v)
		}
		return strings.ToLower(v), nil
	case vpndiag.InputPort:
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 65535 {
			return "", vpndiag.Errorf(vpndiag.EINVALID, "%q is not a port number (1-65535).", v)
		}
		return strconv.Itoa(n), nil
	}
	return v, nil
}
