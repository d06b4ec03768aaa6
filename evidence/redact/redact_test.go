package redact_test

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vpndiag/vpndiag/evidence/internal/fixtures"
	"github.com/vpndiag/vpndiag/evidence/redact"
)

// fixtureSecrets reads testdata/fixture-secrets.txt: file → secrets.
func fixtureSecrets(t *testing.T) map[string][]string {
	t.Helper()
	f, err := os.Open("testdata/fixture-secrets.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		file, secret, ok := strings.Cut(l, "\t")
		if !ok {
			t.Fatalf("bad line %q", l)
		}
		out[file] = append(out[file], secret)
	}
	return out
}

// TestNoFixtureSecretSurvives redacts every fixture and checks that none of
// the secrets listed by hand appears in the output, that the line count is
// kept, and that every file with secrets got redactions.
func TestNoFixtureSecretSurvives(t *testing.T) {
	dir := fixtures.Dir(t)
	want := fixtureSecrets(t)
	files := append(fixtures.Files(t, "configs"), fixtures.Files(t, "logs")...)
	for _, path := range files {
		rel, _ := filepath.Rel(dir, path)
		t.Run(rel, func(t *testing.T) {
			in := fixtures.MustRead(t, path)
			red := redact.New(redact.Options{})
			var out bytes.Buffer
			if _, err := red.Copy(&out, bytes.NewReader(in)); err != nil {
				t.Fatal(err)
			}
			if got, w := bytes.Count(out.Bytes(), []byte("\n")), bytes.Count(in, []byte("\n")); got != w {
				t.Errorf("line count changed: %d, want %d", got, w)
			}
			for _, s := range want[rel] {
				if bytes.Contains(out.Bytes(), []byte(s)) {
					t.Errorf("secret %q survived redaction", s)
				}
				if !bytes.Contains(in, []byte(s)) {
					t.Errorf("table lists %q, which is not in the fixture", s)
				}
			}
			if len(want[rel]) > 0 && red.Count() == 0 {
				t.Error("no redactions in a file with secrets")
			}
			// Every secret the redactor found is gone from the output.
			for _, s := range red.Secrets() {
				if len(s.Value) >= 4 && bytes.Contains(out.Bytes(), []byte(s.Value)) {
					t.Errorf("redacted value %q (%s) still in output", s.Value, s.Placeholder)
				}
			}
			// No PEM body and no FortiGate ENC value is left.
			for i, l := range strings.Split(out.String(), "\n") {
				if strings.Contains(l, " ENC ") && !strings.Contains(l, "<redacted:") && !strings.HasSuffix(strings.TrimSpace(l), "ENC") {
					t.Errorf("line %d keeps an ENC value: %q", i+1, l)
				}
				if strings.HasPrefix(strings.TrimSpace(l), "MII") {
					t.Errorf("line %d keeps PEM data: %q", i+1, l)
				}
			}
		})
	}
}

func TestSyntaxes(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"swanctl bare", "      secret = 0sv+NkxY9LLZvwj4", "      secret = <redacted:psk:1>"},
		{"swanctl double quotes", `   secret = "This is a strong password"`, `   secret = "<redacted:psk:1>"`},
		{"swanctl single quotes", `   secret = 'My "home"!'`, `   secret = '<redacted:psk:1>'`},
		{"ipsec.secrets PSK", `: PSK "v+NkxY9LLZvwj4qCC2o/gGrWDF2d21jL"`, `: PSK "<redacted:psk:1>"`},
		{"ipsec.secrets ids PSK", `moon.example.net sun.example.net : PSK 0x1234abcd`, `moon.example.net sun.example.net : PSK <redacted:psk:1>`},
		{"ipsec.secrets XAUTH", `carol : XAUTH "p4ssw0rd"`, `carol : XAUTH "<redacted:password:1>"`},
		{"ipsec.secrets RSA passphrase", `: RSA moonKey.pem "s3cret"`, `: RSA moonKey.pem "<redacted:password:1>"`},
		{"ASA ikev1", ` ikev1 pre-shared-key Sup3rS3cret`, ` ikev1 pre-shared-key <redacted:psk:1>`},
		{"ASA masked", ` ikev1 pre-shared-key *****`, ` ikev1 pre-shared-key *****`},
		{"ASA ikev2", ` ikev2 remote-authentication pre-shared-key K3y!`, ` ikev2 remote-authentication pre-shared-key <redacted:psk:1>`},
		{"ASA enable", `enable password 8Ry2YjIyt7RRXU24 encrypted`, `enable password <redacted:password:1> encrypted`},
		{"IOS isakmp key", `crypto isakmp key MyK3y address 40.76.1.1`, `crypto isakmp key <redacted:psk:1> address 40.76.1.1`},
		{"IOS isakmp key type 6", `crypto isakmp key 6 MyK3y address 40.76.1.1`, `crypto isakmp key 6 <redacted:psk:1> address 40.76.1.1`},
		{"IOS keyring", `  pre-shared-key address 205.251.233.121 key PASSWORD`, `  pre-shared-key address 205.251.233.121 key <redacted:psk:1>`},
		{"IOS ikev2 keyring", `    pre-shared-key local Abc123`, `    pre-shared-key local <redacted:psk:1>`},
		{"IOS username", `username admin privilege 15 secret 5 $1$abcd$xyz`, `username admin privilege 15 secret 5 <redacted:password:1>`},
		{"IOS snmp", `snmp-server community pub1ic RO`, `snmp-server community <redacted:snmp-community:1> RO`},
		{"FortiGate ENC", `        set psksecret ENC 6WTWfJoD+ZSv==`, `        set psksecret ENC <redacted:psk:1>`},
		{"FortiGate ENC empty", `        set psksecret ENC`, `        set psksecret ENC`},
		{"FortiGate plain", `  set psksecret plain-text-password1`, `  set psksecret <redacted:psk:1>`},
		{"FortiGate password ENC", `        set password ENC SH27gkQR1mm=`, `        set password ENC <redacted:password:1>`},
		{"FortiGate not a secret", `    set admin-ssh-password enable`, `    set admin-ssh-password enable`},
		{"Juniper hierarchical", `            pre-shared-key ascii-text "$9$h08cvWdbs2aZ"; ## SECRET-DATA`, `            pre-shared-key ascii-text "<redacted:psk:1>"; ## SECRET-DATA`},
		{"Juniper set", `set security ike policy p pre-shared-key ascii-text plain-text-password1`, `set security ike policy p pre-shared-key ascii-text <redacted:psk:1>`},
		{"Juniper password", `        encrypted-password "$1$Ksoy$F2jh"; ## SECRET-DATA`, `        encrypted-password "<redacted:password:1>"; ## SECRET-DATA`},
		{"Juniper community", `    community s3cr3tcomm {`, `    community <redacted:snmp-community:1> {`},
		{"Juniper radius secret", `        secret "$9$abcDEF123"; ## SECRET-DATA`, `        secret "<redacted:secret:1>"; ## SECRET-DATA`},
		{"libreswan authby is not a secret", `"west" #1: authenticated peer using authby=secret and FQDN '@east'`, `"west" #1: authenticated peer using authby=secret and FQDN '@east'`},
		{"Palo Alto set", `  set authentication pre-shared-key key plain-text-password1`, `  set authentication pre-shared-key key <redacted:psk:1>`},
		{"Palo Alto XML", `<pre-shared-key><key>-AQ==abcdEF+/=</key></pre-shared-key>`, `<pre-shared-key><key>&lt;redacted:secret:1&gt;</key></pre-shared-key>`},
		{"pfSense XML", `            <pre-shared-key>1234</pre-shared-key>`, `            <pre-shared-key>&lt;redacted:psk:1&gt;</pre-shared-key>`},
		{"XML empty", `            <private-key></private-key>`, `            <private-key></private-key>`},
		{"XML keylen kept", `<keylen>128</keylen>`, `<keylen>128</keylen>`},
		{"generic sheet", `  - Pre-Shared Key           : PRE-SHARED-KEY-IN-PLAIN-TEXT`, `  - Pre-Shared Key           : <redacted:psk:1>`},
		{"generic method kept", `  - Authentication Method    : Pre-Shared Key`, `  - Authentication Method    : Pre-Shared Key`},
		{"pfSense GUI", ` e. Pre-Shared Key: plain-text-password1`, ` e. Pre-Shared Key: <redacted:psk:1>`},
		{"SonicWall", `shared-secret PRE-SHARED-KEY-IN-PLAIN-TEXT`, `shared-secret <redacted:psk:1>`},
		{"SonicWall method kept", `auth-method shared-secret `, `auth-method shared-secret `},
		{"Yamaha", `ipsec ike pre-shared-key 1 text plain-text-password1 `, `ipsec ike pre-shared-key 1 text <redacted:psk:1> `},
		{"Slack token", `token: xoxb-1234567890-abcdefghij`, `token: <redacted:token:1>`},
		{"AWS key", `aws_access_key_id=AKIAIOSFODNN7EXAMPLE`, `aws_access_key_id=<redacted:token:1>`},
		{"log line kept", `found peer pre-shared key matching 77.77.77.77`, `found peer pre-shared key matching 77.77.77.77`},
		{"authby kept", `	authby=secret`, `	authby=secret`},
		{"Junos keys kept", `set security ipsec policy p perfect-forward-secrecy keys group2`, `set security ipsec policy p perfect-forward-secrecy keys group2`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			red := redact.New(redact.Options{})
			if got := red.String(tt.in); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestConsistentPlaceholders(t *testing.T) {
	red := redact.New(redact.Options{})
	in := "set psksecret abc123\nset psksecret other\n  pre-shared-key abc123\n"
	got := red.String(in)
	want := "set psksecret <redacted:psk:1>\nset psksecret <redacted:psk:2>\n  pre-shared-key <redacted:psk:1>\n"
	if got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	// A second file through the same Redactor shares the placeholders.
	if got := red.String("crypto isakmp key other address 1.2.3.4"); got != "crypto isakmp key <redacted:psk:2> address 1.2.3.4" {
		t.Fatalf("second file: %q", got)
	}
	if red.Count() != 4 || len(red.Secrets()) != 2 {
		t.Fatalf("Count %d, Secrets %d", red.Count(), len(red.Secrets()))
	}
}

func TestPEMBlocks(t *testing.T) {
	in := "a\r\n        set private-key \"-----BEGIN ENCRYPTED PRIVATE KEY-----\r\nMIIFDjBABgkqhkiG9w0BBQ0w\r\nabc\r\n-----END ENCRYPTED PRIVATE KEY-----\"\r\n" +
		"-----BEGIN CERTIFICATE-----\nMIID5jCCAs6g\n-----END CERTIFICATE-----\n" +
		"x -----BEGIN CERTIFICATE-----MIID5jCCAs6g-----END CERTIFICATE----- y\n" +
		"-----BEGIN RSA PRIVATE KEY-----\ntruncated\n"
	red := redact.New(redact.Options{})
	got := red.String(in)
	want := "a\r\n        set private-key \"<redacted:private-key:1>\r\n\r\n\r\n\"\r\n" +
		"<redacted:certificate:1>\n\n\n" +
		"x <redacted:certificate:2> y\n" +
		"<redacted:private-key:2>\n\n"
	if got != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}

func TestCiscoCertificateChain(t *testing.T) {
	in := "crypto pki certificate chain TP-self-signed-1\n certificate self-signed 01\n  3082022B 30820194 A0030201\n  02020101 300D0609 2A864886\n  \tquit\ncrypto ca certificate chain ASDM\n certificate ca 0a1b\n    308204 a1b2c3\n  quit\nhostname r1\n"
	red := redact.New(redact.Options{})
	got := red.String(in)
	want := "crypto pki certificate chain TP-self-signed-1\n certificate self-signed 01\n  <redacted:certificate:1>\n\n  \tquit\ncrypto ca certificate chain ASDM\n certificate ca 0a1b\n    <redacted:certificate:2>\n  quit\nhostname r1\n"
	if got != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}

func TestObfuscation(t *testing.T) {
	red := redact.New(redact.Options{PublicIPs: true, Hostnames: true})
	got := red.String("peer 40.76.1.1 and 10.0.0.1 via vpn.example.com and 40.76.1.1 file moonKey.pem\n")
	want := "peer <ip:1> and 10.0.0.1 via <host:1> and <ip:1> file moonKey.pem\n"
	if got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	plain := redact.New(redact.Options{})
	if got := plain.String("peer 40.76.1.1 via vpn.example.com\n"); got != "peer 40.76.1.1 via vpn.example.com\n" {
		t.Fatalf("obfuscated without options: %q", got)
	}
}

func TestReaderLongLine(t *testing.T) {
	long := strings.Repeat("a", 200<<10) + " set psksecret abc\n"
	red := redact.New(redact.Options{})
	got := red.String(long + "set psksecret abc\n")
	if !strings.HasSuffix(got, "set psksecret <redacted:psk:1>\n") || len(got) < 200<<10 {
		t.Fatalf("long line mishandled: tail %q", got[len(got)-40:])
	}
}

func FuzzRedact(f *testing.F) {
	for _, p := range append(fixtures.Files(f, "configs"), fixtures.Files(f, "logs")...) {
		b := fixtures.MustRead(f, p)
		if len(b) > 16<<10 {
			b = b[:16<<10]
		}
		f.Add(b)
	}
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nMII"))
	f.Fuzz(func(t *testing.T, in []byte) {
		red := redact.New(redact.Options{PublicIPs: true})
		if err := red.Learn(bytes.NewReader(in)); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if _, err := red.Copy(&out, bytes.NewReader(in)); err != nil {
			t.Fatal(err)
		}
		if a, b := bytes.Count(in, []byte("\n")), bytes.Count(out.Bytes(), []byte("\n")); a != b {
			t.Fatalf("line count %d → %d", a, b)
		}
		for _, s := range red.Secrets() {
			// Addresses and names are obfuscated only where they stand
			// alone, so they may survive inside longer text.
			if s.Kind == redact.KindIP || s.Kind == redact.KindHost {
				continue
			}
			if len(s.Value) >= 6 && !strings.Contains(s.Value, "\n") && bytes.Contains(out.Bytes(), []byte(s.Value)) {
				t.Fatalf("secret %q survived", s.Value)
			}
		}
	})
}
