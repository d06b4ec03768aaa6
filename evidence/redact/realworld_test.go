package redact_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/vpndiag/vpndiag/evidence/redact"
	"github.com/vpndiag/vpndiag/internal/fixtures"
)

// tunnelParam finds the lines that carry a tunnel's parameters: lifetimes,
// proposals, peers and selectors, DPD, PFS, and the names of tunnels, maps
// and profiles.
var tunnelParam = regexp.MustCompile(`(?i)(lifetime|keylife|rekey|reauth|proposals?\b|\besp\s*=|\bike\s*=|encryption|integrity|dh-group|\bgroup\s*\d|\bpfs\b|\bdpd|^conn |tunnel-group|crypto map|crypto ikev[12]|crypto isakmp policy|_addrs|_ts\s*=|subnets?\s*=|set peer|remote-gw|remote-id|gateway|keyexchange|authby|transform-set|interface tunnel|tunnel (?:source|destination)|ipsec-attributes|\bleft=|\bright=|peer\b)`)

// ipv4 finds addresses.
var ipv4 = regexp.MustCompile(`\b(?:\d{1,3}\.){3}\d{1,3}\b`)

// TestRealWorldFixtures redacts every real-world config and log: every
// secret listed in secrets.txt is gone, and no tunnel parameter changed
// (a line that carries one is unchanged unless it also holds a listed
// secret, in which case its addresses stay), and the line count is kept.
func TestRealWorldFixtures(t *testing.T) {
	dir, secrets := fixtures.RealWorld(t)
	files, _ := filepath.Glob(filepath.Join(dir, "*", "*"))
	if len(files) < 50 {
		t.Fatalf("only %d real-world fixtures", len(files))
	}
	var nSecrets, leaks, paramLines, over int
	for _, path := range files {
		name := filepath.Base(path)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		in := string(b)
		red := redact.New(redact.Options{})
		if err := red.Learn(strings.NewReader(in)); err != nil {
			t.Fatal(err)
		}
		out := red.String(in)
		for _, s := range secrets[name] {
			nSecrets++
			if strings.Contains(out, s) {
				leaks++
				t.Errorf("%s: secret %.40q survived", name, s)
			}
		}
		il, ol := strings.Split(in, "\n"), strings.Split(out, "\n")
		if len(il) != len(ol) {
			t.Errorf("%s: %d lines became %d", name, len(il), len(ol))
			continue
		}
		for i, l := range il {
			if !tunnelParam.MatchString(l) {
				continue
			}
			paramLines++
			if l == ol[i] {
				continue
			}
			holds := false
			for _, s := range secrets[name] {
				holds = holds || strings.Contains(l, s)
			}
			if !holds {
				over++
				t.Errorf("%s:%d: tunnel parameters redacted:\n  %q\n  %q", name, i+1, l, ol[i])
				continue
			}
			for _, a := range ipv4.FindAllString(l, -1) {
				if !strings.Contains(ol[i], a) {
					over++
					t.Errorf("%s:%d: address %s redacted: %q", name, i+1, a, ol[i])
				}
			}
		}
	}
	t.Logf("real-world: %d files, %d listed secrets: %d leaked; %d tunnel-parameter lines: %d over-redacted", len(files), nSecrets, leaks, paramLines, over)
}
