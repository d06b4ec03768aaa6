package config

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// Formats the package parses, as Config.Format() names them.
const (
	FormatSwanctl       = "strongswan-swanctl"
	FormatStrongSwanIPC = "strongswan-ipsec.conf"
	FormatLibreswan     = "libreswan-ipsec.conf"
	FormatCiscoASA      = "cisco-asa-cli"
	FormatCiscoIOS      = "cisco-ios-cli"
	FormatFortiGate     = "fortigate-cli"
	FormatJunosSet      = "juniper-set"
	FormatJunosHier     = "juniper-hierarchical"
	FormatPaloAltoSet   = "paloalto-set"
	FormatPaloAltoXML   = "paloalto-xml"
	FormatPfSenseXML    = "pfsense-xml"
	FormatPfSenseGUI    = "pfsense-gui-steps"
	FormatGeneric       = "generic-text"
	FormatIPsecSecrets  = "ipsec-secrets"
	FormatMikroTik      = "mikrotik-routeros"
	// Recognised but not parsed.
	FormatSonicWall = "sonicwall-cli"
	FormatYamaha    = "yamaha-cli"
	FormatScreenOS  = "juniper-screenos"
)

// Unsupported lists formats that are recognised but not parsed.
var Unsupported = map[string]string{
	FormatSonicWall: "SonicWall SonicOS CLI",
	FormatYamaha:    "Yamaha RTX",
	FormatScreenOS:  "Juniper ScreenOS (SSG/NetScreen)",
}

// marker is a piece of content that points at a format, with a weight.
type marker struct {
	re     *regexp.Regexp
	weight int
}

func mk(weight int, re string) marker { return marker{regexp.MustCompile(re), weight} }

// markers are per format; each marker counts once, whatever the number of
// lines matching it.
var markers = map[string][]marker{
	FormatSwanctl: {
		mk(3, `(?m)^\s*connections\s*\{`), mk(2, `(?m)^\s*children\s*\{`), mk(2, `(?m)^\s*(local|remote)_ts\s*=`),
		mk(2, `(?m)^\s*esp_proposals\s*=`), mk(2, `(?m)^\s*remote_addrs\s*=`), mk(1, `(?m)^\s*secrets\s*\{`),
	},
	FormatStrongSwanIPC: {
		mk(2, `(?m)^conn\s+\S+\s*$`), mk(2, `(?m)^\s*keyexchange\s*=`), mk(2, `(?i)strongswan`), mk(1, `(?m)^\s*(left|right)subnet\s*=`),
		mk(1, `(?m)^\s*(leftfirewall|mobike|rekeymargin|keylife|ikelifetime)\s*=`), mk(1, `(?m)^\s*authby\s*=`), mk(1, `(?m)^config setup`),
		mk(1, `(?m)^#\s*conn\s+\S+\s*$`), mk(1, `(?m)^#?\s*ipsec\.conf\b`),
	},
	FormatIPsecSecrets: {
		mk(5, `(?m)^[^#=\n{]*:\s*(PSK|RSA|ECDSA|EAP|XAUTH|NTLM|P12|PIN|PKCS8|BLISS|PPK)(\s|$)`), mk(2, `(?mi)^#.*ipsec\.secrets`),
	},
	FormatMikroTik: {
		mk(5, `(?m)^/ip ipsec (peer|profile|proposal|policy|identity)\s*$`), mk(3, `(?m)^/ip ipsec (peer|profile|proposal|policy|identity) (add|set)\s`),
		mk(2, `(?m)(^|\s)exchange-mode=(ike2|main|aggressive|ike)`), mk(2, `(?m)\s(pfs-group|dh-group|enc-algorithms?|auth-algorithms|hash-algorithm)=`),
		mk(1, `(?i)RouterOS|mikrotik`), mk(1, `(?m)(^|\s)(sa-src-address|sa-dst-address|peer)=`),
	},
	FormatLibreswan: {
		mk(2, `(?m)^conn\s+\S+\s*$`), mk(3, `(?i)libreswan|openswan|plutodebug`), mk(3, `(?m)^\s*(ikev2|salifetime|phase2alg|aggrmode|pfs|ikepad|fragmentation)\s*=`),
		mk(1, `(?m)^\s*(left|right)subnets?\s*=`), mk(1, `(?m)^\s*authby\s*=`), mk(1, `(?m)^version\s+2\.0`), mk(2, `(?m)^\s*ike\s*=.*;`),
	},
	FormatCiscoASA: {
		mk(4, `(?m)^ASA Version`), mk(3, `(?m)^tunnel-group\s+\S+\s+(type|ipsec-attributes)`), mk(3, `(?m)^crypto ikev1 (policy|enable)`),
		mk(2, `(?m)^crypto ipsec ikev1 transform-set`), mk(4, `(?m)^access-list\s+\S+\s+extended\s+permit`), mk(2, `(?m)^\s*nameif\s`),
		mk(2, `(?m)^\s*isakmp keepalive threshold`), mk(1, `(?m)^crypto map \S+ \d+ (match address|set peer)`), mk(1, `(?m)^crypto isakmp (policy|enable)`),
	},
	FormatCiscoIOS: {
		mk(3, `(?m)^crypto isakmp key\s`), mk(3, `(?m)^crypto keyring\s`), mk(3, `(?m)^crypto ikev2 (keyring|profile|proposal)`),
		mk(2, `(?m)^crypto ipsec transform-set \S+ esp-`), mk(2, `(?m)tunnel protection ipsec profile`), mk(2, `(?m)^crypto map \S+ \d+ ipsec-isakmp`),
		mk(1, `(?m)^access-list 1\d\d permit`), mk(1, `(?m)^crypto isakmp policy`), mk(2, `(?m)^crypto isakmp profile`), mk(1, `(?m)^interface Tunnel`),
		mk(2, `(?m)^boot-start-marker`), mk(1, `(?m)^service timestamps `), mk(1, `(?m)^version 1\d\.\d+\s*$`), mk(1, `(?m)^ip cef|^ipv6 cef`),
	},
	FormatFortiGate: {
		mk(5, `(?m)^\s*config vpn ipsec phase[12](-interface)?\s*$`), mk(3, `(?m)^config system global`), mk(2, `(?m)^\s*set psksecret\s`),
		mk(2, `(?m)^\s*set (keylife|keylifeseconds|phase1name|remote-gw)\s`), mk(1, `(?m)^\s*edit\s`), mk(1, `(?m)^\s*next\s*$`),
	},
	FormatJunosSet: {
		mk(4, `(?m)^set security (ike|ipsec)\s`), mk(2, `(?m)^set interfaces st0`), mk(1, `(?m)^set (security|interfaces|protocols|routing-options)\s`),
	},
	FormatJunosHier: {
		mk(3, `(?m)^\s*security\s*\{`), mk(2, `(?m)^\s*ike\s*\{`), mk(2, `(?m)^\s*ipsec\s*\{`), mk(2, `(?m)^\s*lifetime-seconds\s+\d+\s*;`),
		mk(2, `(?m)^\s*(gateway|proposal|policy)\s+\S+\s*\{`), mk(1, `(?m)^\s*(interfaces|system)\s*\{`), mk(1, `## SECRET-DATA`),
	},
	FormatPaloAltoSet: {
		mk(4, `(?m)^\s*set network (ike|tunnel)\s`), mk(4, `(?m)^\s*edit network (ike|tunnel)`), mk(2, `(ike|ipsec)-crypto-profiles`),
		mk(1, `(?m)^\s*set (protocol|authentication|peer-address)\s`),
	},
	FormatPaloAltoXML: {
		mk(3, `<ike-crypto-profiles>`), mk(3, `<ipsec-crypto-profiles>`), mk(2, `<entry name=`), mk(2, `<ike-gateway>|<gateway>`), mk(1, `<config version=`),
	},
	FormatPfSenseXML: {
		mk(3, `<phase1>`), mk(2, `<phase2>`), mk(2, `<ikeid>`), mk(2, `<remote-gateway>`), mk(2, `<pfsense>|<opnsense>`), mk(1, `<ipsec>`),
	},
	FormatPfSenseGUI: {
		mk(3, `(?i)Add a new Phase ?1 entry`), mk(2, `(?i)Key Exchange version`), mk(2, `(?i)Phase ?2 entry`), mk(1, `(?i)VPN-->IPSec`),
	},
	FormatGeneric: {
		mk(3, `(?m)^\s*-\s*IKE version\s*:`), mk(2, `(?m)^\s*-\s*Pre-Shared Key\s*:`), mk(2, `(?m)^\s*-\s*Perfect Forward Secrecy\s*:`),
		mk(1, `(?m)^\s*-\s*Lifetime\s*:`), mk(1, `(?m)^\s*-\s*DPD Interval\s*:`), mk(1, `(?i)Virtual Private Gateway`),
	},
	FormatSonicWall: {
		mk(3, `(?m)^vpn policy\s`), mk(3, `(?m)^proposal ipsec\s`), mk(2, `(?i)sonicwall|sonicos`), mk(1, `(?m)^shared-secret\s`),
	},
	FormatScreenOS: {
		mk(3, `(?m)^set ike gateway (ikev2 )?"`), mk(3, `(?m)^set vpn "[^"]+" (gateway|id|bind|proxy-id)`), mk(2, `(?m)^set (vrouter|zone) "`),
		mk(1, `(?m)^unset (key protection|zone|alg)`), mk(1, `(?m)get config`),
	},
	FormatYamaha: {
		mk(3, `(?m)^\s*ipsec ike\s`), mk(3, `(?m)^\s*tunnel select\s`), mk(2, `(?m)^\s*ipsec sa policy\s`), mk(1, `(?i)yamaha|RTX`),
	},
}

// family groups formats whose markers overlap, so that they are not taken
// for a mixed file.
func family(f string) string {
	switch f {
	case FormatStrongSwanIPC, FormatLibreswan, FormatIPsecSecrets:
		return "ipsec.conf"
	case FormatCiscoASA, FormatCiscoIOS:
		return "cisco"
	case FormatJunosSet, FormatJunosHier:
		return "juniper"
	case FormatPaloAltoSet, FormatPaloAltoXML:
		return "paloalto"
	case FormatPfSenseGUI, FormatGeneric:
		return "generic"
	}
	return f
}

// Candidate is a format with the score of its markers.
type Candidate struct {
	// Format is one of the Format constants.
	Format string `json:"format"`
	// Score is the sum of the weights of the markers found.
	Score int `json:"score"`
}

// MinScore is the score a format needs to be recognised.
const MinScore = 4

// Detect scores text against every known format and returns the
// candidates with at least MinScore, best first. Only the first 4 MiB are
// examined.
func Detect(text string) []Candidate {
	if len(text) > 4<<20 {
		text = text[:4<<20]
	}
	var out []Candidate
	for f, ms := range markers {
		s := 0
		for _, m := range ms {
			if m.re.MatchString(text) {
				s += m.weight
			}
		}
		if s >= MinScore {
			out = append(out, Candidate{Format: f, Score: s})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Score != out[j].Score {
			return out[i].Score > out[j].Score
		}
		return out[i].Format < out[j].Format
	})
	// A tunnel configuration with secrets pasted in is read as the
	// configuration.
	if len(out) >= 2 && out[0].Format == FormatIPsecSecrets {
		for i, c := range out[1:] {
			if c.Format == FormatStrongSwanIPC || c.Format == FormatLibreswan || c.Format == FormatSwanctl {
				out[0], out[i+1] = out[i+1], out[0]
				break
			}
		}
	}
	// Inside a family, the more specific format wins on a tie-break.
	if len(out) >= 2 && out[0].Score == out[1].Score && family(out[0].Format) == family(out[1].Format) {
		if out[1].Format == FormatLibreswan || out[1].Format == FormatCiscoIOS && strings.Contains(text, "crypto isakmp key") {
			out[0], out[1] = out[1], out[0]
		}
	}
	return out
}

// Mixed returns the candidates after the first that belong to another
// family and score at least half as much: content of another vendor in the
// same file.
func Mixed(cs []Candidate) []Candidate {
	if len(cs) < 2 {
		return nil
	}
	var out []Candidate
	for _, c := range cs[1:] {
		if family(c.Format) != family(cs[0].Format) && c.Score*2 >= cs[0].Score && c.Score >= MinScore+1 {
			out = append(out, c)
		}
	}
	return out
}

// ErrUnsupported is returned by Parse for a recognised but unsupported
// format.
var ErrUnsupported = errors.New("format recognised but not supported")

// Parse reads text in format (one of the Format constants).
func Parse(format, text string) (*Config, error) {
	ls := lines(text)
	switch format {
	case FormatSwanctl:
		return parseSwanctl(ls), nil
	case FormatStrongSwanIPC:
		return parseIPsecConf(ls, false), nil
	case FormatLibreswan:
		return parseIPsecConf(ls, true), nil
	case FormatCiscoASA:
		return parseCiscoASA(ls), nil
	case FormatCiscoIOS:
		return parseCiscoIOS(ls), nil
	case FormatFortiGate:
		return parseFortiGate(ls), nil
	case FormatJunosSet:
		return parseJunos(junosSet(ls), "set"), nil
	case FormatJunosHier:
		return parseJunos(junosFlatten(ls), "hierarchical"), nil
	case FormatPaloAltoSet:
		return parsePaloAlto(panSetStatements(ls), "set"), nil
	case FormatPaloAltoXML:
		st, err := xmlStatements(text)
		c := parsePaloAlto(st, "xml")
		if err != nil {
			c.note(0, "the XML is not well-formed (%v); only the part before the error was read", err)
		}
		return c, nil
	case FormatPfSenseXML:
		c, err := parsePfSense(text)
		if err != nil {
			c.note(0, "the XML is not well-formed (%v); only the part before the error was read", err)
		}
		return c, nil
	case FormatPfSenseGUI:
		return parseGeneric(ls, "pfsense", "gui-steps"), nil
	case FormatGeneric:
		return parseGeneric(ls, "generic", "text"), nil
	case FormatIPsecSecrets:
		return parseSecrets(ls), nil
	case FormatMikroTik:
		return parseMikroTik(ls), nil
	}
	if name, ok := Unsupported[format]; ok {
		return nil, fmt.Errorf("%s: %w", name, ErrUnsupported)
	}
	return nil, fmt.Errorf("config: unknown format %q", format)
}
