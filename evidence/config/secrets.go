package config

import (
	"regexp"
	"strconv"
	"strings"
)

// secretLine is one "[ids] : TYPE secret" entry of an ipsec.secrets file.
var secretLine = regexp.MustCompile(`^\s*([^#:]*?)\s*:\s*(PSK|RSA|ECDSA|EAP|XAUTH|NTLM|P12|PIN|PKCS8|BLISS|PPK)(\s|$)`)

// parseSecrets reads an ipsec.secrets file (strongSwan, libreswan,
// Openswan): it holds keys, which the redactor has replaced, and no
// tunnel parameters. The result has no tunnels and says so.
func parseSecrets(ls []string) *Config {
	c := &Config{Vendor: "ipsec", Syntax: "secrets", SecretsOnly: true}
	counts := map[string]int{}
	var order []string
	first := 0
	for i, l := range ls {
		m := secretLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		if first == 0 {
			first = i + 1
		}
		if counts[m[2]] == 0 {
			order = append(order, m[2])
		}
		counts[m[2]]++
	}
	var parts []string
	for _, k := range order {
		parts = append(parts, plural(counts[k], k+" entry", k+" entries"))
	}
	c.note(first, "an ipsec.secrets file (%s, redacted): it holds keys for the tunnels defined in ipsec.conf, no tunnel parameters", strings.Join(parts, ", "))
	return c
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}
