package status

import (
	"fmt"
	"regexp"
	"strings"
)

// The formats Parse reads.
const (
	FormatSwanctl   = "strongswan-swanctl-sas" // swanctl --list-sas
	FormatStroke    = "strongswan-statusall"   // ipsec statusall / ipsec status
	FormatLibreswan = "libreswan-status"       // ipsec status (ipsec whack --status), ipsec trafficstatus
	FormatASA       = "cisco-asa-sa"           // ASA show crypto ipsec sa, show crypto ikev1|ikev2|isakmp sa, show vpn-sessiondb [detail] l2l
	FormatIOS       = "cisco-ios-sa"           // IOS show crypto ipsec sa, show crypto isakmp|ikev2 sa
	FormatFortiGate = "fortigate-vpn-list"     // diagnose vpn tunnel list, diagnose vpn ike gateway list
	FormatJunos     = "junos-sa"               // show security ike|ipsec security-associations [detail], show security ipsec statistics
	FormatPANOS     = "panos-vpn"              // show vpn ike-sa, show vpn ipsec-sa, show vpn flow [tunnel-id N]
)

// Formats lists every format, for documentation and tests.
var Formats = []string{FormatSwanctl, FormatStroke, FormatLibreswan, FormatASA, FormatIOS, FormatFortiGate, FormatJunos, FormatPANOS}

// commands are, per format, the device's commands that list its IKE SAs
// and its IPsec SAs, for notes that ask for the listing a file lacks.
var commands = map[string][2]string{
	FormatSwanctl:   {"swanctl --list-sas", "swanctl --list-sas"},
	FormatStroke:    {"ipsec statusall", "ipsec statusall"},
	FormatLibreswan: {"ipsec status", "ipsec trafficstatus"},
	FormatASA:       {"show crypto ikev2 sa (or show crypto ikev1 sa)", "show crypto ipsec sa"},
	FormatIOS:       {"show crypto isakmp sa (or show crypto ikev2 sa)", "show crypto ipsec sa"},
	FormatFortiGate: {"diagnose vpn ike gateway list", "diagnose vpn tunnel list"},
	FormatJunos:     {"show security ike security-associations", "show security ipsec security-associations detail"},
	FormatPANOS:     {"show vpn ike-sa", "show vpn ipsec-sa"},
}

// Commands returns the device's commands that list its IKE (phase 1) SAs
// and its IPsec (phase 2) SAs, for a format of Formats; empty for another.
func Commands(format string) (ike, ipsec string) {
	c := commands[format]
	return c[0], c[1]
}

type marker struct {
	format string
	weight int
	re     *regexp.Regexp
}

// Markers are lines only the vendor's SA status output prints. Weight 3
// is enough on its own; weaker ones need company.
var markers = []marker{
	// The command itself, as echoed after a prompt: swanctl prints nothing
	// at all when there is no SA, and that is the answer.
	{FormatSwanctl, 4, regexp.MustCompile(`(?m)^\S*[$#>%]\s*(?:sudo\s+)?swanctl\s+(?:--list-sas|-l)\b`)},
	{FormatSwanctl, 3, regexp.MustCompile(`(?m)^\S+: #\d+, [A-Z_]+, IKEv[12], [0-9a-f]{16}_i`)},
	{FormatSwanctl, 3, regexp.MustCompile(`(?m)^\s+\S+: #\d+, reqid \d+, [A-Z_]+, (TUNNEL|TRANSPORT|BEET)`)},
	{FormatSwanctl, 2, regexp.MustCompile(`(?m)^\s+(local|remote)\s+'[^']*' @ \S+\[\d+\]`)},
	{FormatSwanctl, 2, regexp.MustCompile(`(?m)^\s+(in|out) +[0-9a-f]{8}(\s*\([^)]*\))?, +\d+ bytes, +\d+ packets`)},
	{FormatStroke, 3, regexp.MustCompile(`(?m)^Security Associations \(\d+ up, \d+ connecting\)`)},
	{FormatStroke, 2, regexp.MustCompile(`(?m)^Status of IKE charon daemon \(`)},
	{FormatStroke, 3, regexp.MustCompile(`(?m)^\s*\S+\[\d+\]: (ESTABLISHED|CONNECTING|REKEYING|DELETING|PASSIVE|CREATED)\b`)},
	{FormatStroke, 2, regexp.MustCompile(`(?m)^\s*\S+\{\d+\}: +(INSTALLED|ROUTED|REKEYING|REKEYED|INSTALLING|CREATED|DELETING)`)},
	{FormatStroke, 2, regexp.MustCompile(`\d+ bytes_i\b`)},
	{FormatLibreswan, 3, regexp.MustCompile(`(?m)^(?:\d{3} )?#\d+: "[^"]+"\S*(?:\s+[^\s:]+)?:\d+\s+STATE_[A-Z0-9_]+\s*\(`)},
	{FormatLibreswan, 3, regexp.MustCompile(`(?m)^(?:\d{3} )?#\d+: "[^"]+".*type=ESP,.*inBytes=\d+, outBytes=\d+`)},
	{FormatLibreswan, 2, regexp.MustCompile(`Traffic: ESPin=\d+[KMG]?B ESPout=\d+[KMG]?B`)},
	{FormatLibreswan, 2, regexp.MustCompile(`(?m)^[^\n]{0,40}?[$#]\s*(?:sudo\s+)?ipsec\s+(?:trafficstatus|whack\s+--trafficstatus)\b`)},
	{FormatLibreswan, 2, regexp.MustCompile(`(?m)^(?:\d{3} )?"[^"]+"\S*:\s+\S*\.\.\.\S*;\s+(?:erouted|unrouted|routed|prospective erouted)`)},
	{FormatIOS, 3, regexp.MustCompile(`(?m)^\s*#pkts encaps: \d+`)},
	{FormatIOS, 3, regexp.MustCompile(`(?m)^\s*local\s+ident \(addr/mask/prot/port\)`)},
	{FormatIOS, 2, regexp.MustCompile(`(?m)^\s*inbound esp sas:`)},
	{FormatIOS, 3, regexp.MustCompile(`(?m)^\s*dst\s+src\s+state\s+conn-id\s+(slot\s+)?status`)},
	{FormatIOS, 3, regexp.MustCompile(`(?m)^\s*Tunnel-id\s+Local\s+Remote\s+`)},
	{FormatASA, 3, regexp.MustCompile(`(?m)^\s*IKEv[12] SAs:`)},
	{FormatASA, 3, regexp.MustCompile(`(?mi)^\s*There are no (?:ipsec|isakmp|ikev1|ikev2) sas`)},
	{FormatIOS, 2, regexp.MustCompile(`(?m)^\S*[#>]\s*show crypto (?:ipsec|isakmp|ikev1|ikev2) sa\b`)},
	{FormatASA, 1, regexp.MustCompile(`(?m)Crypto map tag: \S+, seq num: \d+`)},
	{FormatASA, 3, regexp.MustCompile(`(?m)^\s*Session Type: LAN-to-LAN`)},
	{FormatASA, 2, regexp.MustCompile(`(?m)^\s*Bytes Tx\s*: \d+\s+Bytes Rx\s*: \d+`)},
	{FormatASA, 1, regexp.MustCompile(`in use settings =\{(RA|L2L),`)},
	{FormatFortiGate, 3, regexp.MustCompile(`(?m)^\s*name=\S+ ver=[12] serial=\d+`)},
	{FormatFortiGate, 2, regexp.MustCompile(`(?m)^\s*proxyid_num=\d+ child_num=\d+`)},
	{FormatFortiGate, 2, regexp.MustCompile(`(?m)^\s*stat: rxp=\d+ txp=\d+`)},
	{FormatFortiGate, 2, regexp.MustCompile(`(?m)^\s*dec:pkts/bytes=\d+/\d+`)},
	{FormatFortiGate, 2, regexp.MustCompile(`(?m)^\s*IPsec SA: created \d+/\d+\s+established \d+/\d+`)},
	{FormatJunos, 3, regexp.MustCompile(`(?m)^\s*Total active tunnels: \d+`)},
	{FormatJunos, 3, regexp.MustCompile(`(?m)^\s*Index\s+State\s+Initiator cookie\s+Responder cookie`)},
	{FormatJunos, 3, regexp.MustCompile(`(?m)^\s*Direction: (inbound|outbound), SPI: `)},
	{FormatJunos, 2, regexp.MustCompile(`(?m)^\s*(Local|Remote) Identity: ipv[46]`)},
	{FormatJunos, 2, regexp.MustCompile(`(?m)^\s*(Encrypted|Decrypted) packets:\s+\d+`)},
	// The command as echoed after the prompt, an IKE SA row and a
	// summary SA row: each output alone reaches a safe score with its
	// header.
	{FormatJunos, 2, regexp.MustCompile(`(?m)^\S*[>#]\s*show security (?:ike|ipsec) security-associations\b`)},
	{FormatJunos, 2, regexp.MustCompile(`(?m)^\s*\d+\s+(?:UP|DOWN)\s+[0-9a-f]{16}\s+[0-9a-f]{16}\s+(?:IKEv[12]|Main|Aggressive)\s`)},
	{FormatJunos, 2, regexp.MustCompile(`(?m)^\s*[<>]\d+\s+ESP:\S+\s+[0-9a-f]{8}\s`)},
	{FormatPANOS, 3, regexp.MustCompile(`(?m)^\s*GwID(/client IP)?\s+TnID\s+Peer-Address`)},
	{FormatPANOS, 3, regexp.MustCompile(`(?m)^\s*Show (IPSec SA|IKEv2 SA|IKEv1 IKE SA|IKE SA):`)},
	{FormatPANOS, 3, regexp.MustCompile(`(?m)^\s*total IPSec tunnel (configured|shown):`)},
	{FormatPANOS, 2, regexp.MustCompile(`(?m)^\s*(encap|decap) packets:\s+\d+`)},
	{FormatPANOS, 2, regexp.MustCompile(`(?m)^\s*id\s+name\s+state\s+monitor\s+local-ip\s+peer-ip`)},
	{FormatPANOS, 2, regexp.MustCompile(`(?m)^\S*>\s*show vpn (?:ike-sa|ipsec-sa|flow)\b`)},
	{FormatPANOS, 2, regexp.MustCompile(`(?m)^\s*Gateway ID\s+Peer-Address\s+Gateway Name\s+Role`)},
}

// Detect says which SA status format text (the head of a file) looks like,
// and how strongly: 0 when it is none. A score of 4 or more is a safe
// call; configurations and logs never print these lines.
func Detect(text string) (format string, score int) {
	scores := map[string]int{}
	for _, m := range markers {
		if m.re.MatchString(text) {
			scores[m.format] += m.weight
		}
	}
	// ASA and IOS share most of show crypto ipsec sa.
	if scores[FormatASA] > 0 && scores[FormatIOS] > 0 {
		scores[FormatASA] += scores[FormatIOS]
		delete(scores, FormatIOS)
	}
	for _, f := range Formats {
		if s := scores[f]; s > score {
			format, score = f, s
		}
	}
	return format, score
}

// Parse reads text in format into a Status.
func Parse(format, text string) (*Status, error) {
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	st := &Status{Format: format, Lines: len(lines)}
	switch format {
	case FormatSwanctl:
		parseSwanctl(st, lines)
	case FormatStroke:
		parseStroke(st, lines)
	case FormatLibreswan:
		parseLibreswan(st, lines)
	case FormatASA, FormatIOS:
		parseCisco(st, lines)
	case FormatFortiGate:
		parseFortiGate(st, lines)
	case FormatJunos:
		parseJunos(st, lines)
	case FormatPANOS:
		parsePANOS(st, lines)
	default:
		return nil, fmt.Errorf("status: unknown format %q", format)
	}
	return st, nil
}
