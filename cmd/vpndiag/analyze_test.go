package main_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fixtureFiles returns the shared fixture files (../shared/fixtures/vpn next
// to the repository, or $VPNDIAG_FIXTURES), skipping when they are absent.
func fixtureFiles(tb testing.TB) (dir string, files []string) {
	tb.Helper()
	dir = os.Getenv("VPNDIAG_FIXTURES")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "shared", "fixtures", "vpn")
	}
	for _, sub := range []string{"configs", "logs"} {
		ms, _ := filepath.Glob(filepath.Join(dir, sub, "*.txt"))
		files = append(files, ms...)
	}
	if len(files) == 0 {
		tb.Skipf("shared VPN fixtures not found in %s (set VPNDIAG_FIXTURES)", dir)
	}
	return dir, files
}

// writeFile writes content to name in a temp dir and returns the path.
func writeFile(tb testing.TB, name, content string) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		tb.Fatal(err)
	}
	return p
}

const siteYAML = `name: hq
cloud_dns_servers: [10.0.0.2]
vpn_endpoints: [203.0.113.10]
cloud_cidr: 10.0.0.0/8
customer_cidrs: [10.20.0.0/16]
routing: static
ike_version: 2
`

const fortiConf = `config vpn ipsec phase1-interface
    edit "cloud"
        set ike-version 1
        set remote-gw 198.51.100.77
        set keylife 28800
        set psksecret ENC SuperSecretValue123
    next
end
config vpn ipsec phase2-interface
    edit "cloud"
        set phase1name "cloud"
        set pfs disable
        set keylifeseconds 3600
        set src-subnet 10.20.0.0 255.255.0.0
        set dst-subnet 10.0.0.0 255.0.0.0
    next
end
`

func TestAnalyzeCommand(t *testing.T) {
	conf := writeFile(t, "fw.conf", fortiConf)
	site := writeFile(t, "site.yaml", siteYAML)
	tests := []struct {
		name     string
		args     []string
		code     int
		stdout   []string // substrings expected on stdout, in order
		stderr   string
		notInOut string
	}{
		{"worst first with file:line", []string{"analyze", conf, "--site", site}, 0,
			[]string{"fortigate-cli configuration", "[CRITICAL] ike-version-mismatch", conf + ":3:", "[CRITICAL] peer-mismatch", conf + ":4:", "[ERROR] pfs-disabled", conf + ":12:"}, "", "SuperSecretValue123"},
		{"without site", []string{"analyze", conf}, 0, []string{"[ERROR] pfs-disabled", "Give --site"}, "", "peer-mismatch"},
		{"missing file", []string{"analyze", conf, "/nonexistent/x.conf"}, 1, []string{"pfs-disabled"}, "1 of 2 file(s) could not be read", ""},
		{"directory", []string{"analyze", t.TempDir()}, 1, nil, "is a directory", ""},
		{"no file", []string{"analyze"}, 2, nil, "no FILE given", ""},
		{"bad format", []string{"analyze", "--format", "yaml", conf}, 2, nil, `--format "yaml" must be text or json`, ""},
		{"bad site", []string{"analyze", conf, "--site", writeFile(t, "bad.yaml", "name: x\nvpn_endpoints: [nope]\n")}, 1, nil, "Site profile", ""},
		{"unknown site field", []string{"analyze", conf, "--site", writeFile(t, "bad2.yaml", "name: x\ncloud_dns_servers: [10.0.0.2]\npeer: 1.2.3.4\n")}, 1, nil, "field peer not found", ""},
		{"unknown content", []string{"analyze", writeFile(t, "note.txt", "please help, vpn down\n")}, 0, []string{"not understood", "unknown-format"}, "", ""},
		{"help", []string{"analyze", "--help"}, 0, []string{"Usage: vpndiag analyze FILE…"}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := MustRun(t, "", nil, tt.args...)
			if r.code != tt.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, tt.code, r.stdout, r.stderr)
			}
			rest := r.stdout
			for _, s := range tt.stdout {
				i := strings.Index(rest, s)
				if i < 0 {
					t.Errorf("stdout lacks %q (in order):\n%s", s, r.stdout)
					break
				}
				rest = rest[i+len(s):]
			}
			if tt.stderr != "" && !strings.Contains(r.stderr, tt.stderr) {
				t.Errorf("stderr %q lacks %q", r.stderr, tt.stderr)
			}
			if tt.notInOut != "" && strings.Contains(r.stdout, tt.notInOut) {
				t.Errorf("stdout contains %q", tt.notInOut)
			}
		})
	}
}

func TestAnalyzeJSON(t *testing.T) {
	conf := writeFile(t, "fw.conf", fortiConf)
	r := MustRun(t, "", nil, "analyze", "--format", "json", conf)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var out struct {
		Files []struct {
			Format   string `json:"format"`
			Findings []struct {
				Code     string `json:"code"`
				Evidence []struct {
					Line int `json:"line"`
				} `json:"evidence"`
			} `json:"findings"`
			Config struct {
				Tunnels []struct {
					Phase1 struct {
						Lifetime struct {
							Seconds int `json:"seconds"`
							Line    int `json:"line"`
						} `json:"lifetime"`
					} `json:"phase1"`
				} `json:"tunnels"`
			} `json:"config"`
		} `json:"files"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	f := out.Files[0]
	if f.Format != "fortigate-cli" || len(f.Findings) == 0 || f.Findings[0].Evidence[0].Line == 0 {
		t.Errorf("json %+v", f)
	}
	if lt := f.Config.Tunnels[0].Phase1.Lifetime; lt.Seconds != 28800 || lt.Line != 5 {
		t.Errorf("phase 1 lifetime %+v", lt)
	}
	if strings.Contains(r.stdout, "SuperSecretValue123") {
		t.Error("secret in JSON output")
	}
}

// TestAnalyzeAllFixtures runs the command on every fixture at once: it
// exits 0 and prints no secret from the hand-made table.
func TestAnalyzeAllFixtures(t *testing.T) {
	dir, files := fixtureFiles(t)
	for _, format := range []string{"text", "json"} {
		r := MustRun(t, "", nil, append([]string{"analyze", "--format", format}, files...)...)
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		table, err := os.ReadFile("../../evidence/redact/testdata/fixture-secrets.txt")
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(table), "\n") {
			if _, s, ok := strings.Cut(l, "\t"); ok && !strings.HasPrefix(l, "#") && strings.Contains(r.stdout, s) {
				t.Errorf("%s output holds secret %q", format, s)
			}
		}
		if format == "text" && !strings.Contains(r.stdout, filepath.Join(dir, "configs", "strongswan-swanctl-net2net-rekey-moon-short-lifetimes.txt")+":22:") {
			t.Error("text output lacks file:line of a finding")
		}
	}
}
