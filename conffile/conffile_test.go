package conffile_test

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vpndiag/vpndiag/conffile"
)

// env returns a Getenv over m.
func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadFull(t *testing.T) {
	c, err := conffile.Load("testdata/full.yaml", env(map[string]string{"SLACK_BOT_TOKEN": "xoxb-from-env"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Slack.BotToken != "xoxb-from-env" {
		t.Errorf("environment must override the file: bot_token = %q", c.Slack.BotToken)
	}
	if c.Slack.SigningSecret != "file-secret" || c.Slack.Mode != "http" || c.Log.Format != "json" {
		t.Errorf("file values not loaded: %+v", c.Slack)
	}
	if c.Hub.RelayMessagesPerSecond != 500 || c.Hub.RelayMessageBurst != 1000 || c.Hub.RelayBytesPerSecond != 0 {
		t.Errorf("hub relay limits not decoded: %+v", c.Hub)
	}
	if len(c.Sites) != 1 {
		t.Fatalf("sites = %d, want 1", len(c.Sites))
	}
	s := c.Sites[0]
	if s.CloudDNSServers[1] != netip.MustParseAddr("10.10.0.3") || s.CloudCIDR != netip.MustParsePrefix("10.10.0.0/16") ||
		s.CustomerPeer != netip.MustParseAddr("198.51.100.7") || !s.Only443 || s.IKEVersion != 2 {
		t.Errorf("site not decoded: %+v", s)
	}
	if err := c.ValidateServe(); err != nil {
		t.Errorf("ValidateServe: %v", err)
	}
}

func TestLoadDefaults(t *testing.T) {
	c, err := conffile.Load("", env(map[string]string{"HOME": "/home/op"}))
	if err != nil {
		t.Fatal(err)
	}
	if want := "/home/op/.local/state/vpndiag/vpndiag.db"; c.DB != want {
		t.Errorf("DB = %q, want %q", c.DB, want)
	}
	c, _ = conffile.Load("", env(map[string]string{"HOME": "/home/op", "XDG_STATE_HOME": "/state", "VPNDIAG_DB": ""}))
	if want := "/state/vpndiag/vpndiag.db"; c.DB != want {
		t.Errorf("DB = %q, want %q", c.DB, want)
	}
	if c.Slack.Mode != "socket" || c.Slack.Listen != conffile.DefaultListen || c.Evidence.MaxUploadBytes != conffile.DefaultMaxUploadBytes {
		t.Errorf("defaults not applied: %+v", c)
	}
	err = c.ValidateServe()
	var p conffile.Problems
	if !errors.As(err, &p) || len(p) != 2 {
		t.Fatalf("ValidateServe with no tokens = %v, want 2 problems", err)
	}
}

func TestLoadReportsEveryProblem(t *testing.T) {
	_, err := conffile.Load("testdata/bad.yaml", env(nil))
	var p conffile.Problems
	if !errors.As(err, &p) {
		t.Fatalf("Load = %v, want Problems", err)
	}
	for _, want := range []string{
		"log.level", "slack.mode", "slack.bot_token: must start with xoxb-", "slack.api_url",
		"sites[0]", "cloud_cidr", "sites[1].name: \"hq\" is used twice",
		"hub.relay_bytes_per_second: -1",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("problems do not mention %q:\n%v", want, err)
		}
	}
	if len(p) < 6 {
		t.Errorf("got %d problems, want every one of them:\n%v", len(p), err)
	}
}

func TestLoadBadFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	for _, tc := range []struct {
		name, path, want string
	}{
		{"missing", filepath.Join(dir, "nope.yaml"), "cannot read"},
		{"not yaml", write("bad.yaml", "slack: [unclosed\n"), "not valid YAML"},
		{"unknown field", write("typo.yaml", "slack:\n  bot_tokn: xoxb-1\n"), "bot_tokn"},
		{"bad address", write("addr.yaml", "sites:\n  - name: x\n    cloud_dns_servers: [10.0.0.999]\n"), "10.0.0.999"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := conffile.Load(tc.path, env(nil))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load = %v, want an error mentioning %q", err, tc.want)
			}
			if strings.Count(err.Error(), "\n") > 0 {
				t.Errorf("a file that cannot be read is one line: %q", err)
			}
		})
	}
	if c, err := conffile.Load(write("empty.yaml", "\n"), env(nil)); err != nil || c.Slack.Mode != "socket" {
		t.Fatalf("empty file: %v", err)
	}
}

// The commented sample in deploy/ must stay a valid config with every option.
func TestSampleConfigLoads(t *testing.T) {
	c, err := conffile.Load("../deploy/vpndiag.example.yaml", env(nil))
	if err != nil {
		t.Fatalf("deploy/vpndiag.example.yaml: %v", err)
	}
	if len(c.Sites) != 1 || c.Sites[0].Name != "hq" || c.Slack.APIURL != "https://slack.com/api/" {
		t.Errorf("sample not loaded as written: %+v", c)
	}
}

// TestProbeRunner: who runs probe steps, and its default.
func TestProbeRunner(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		body, want, problem string
	}{
		{"", conffile.ProbesNone, ""},
		{"hub:\n  listen: 127.0.0.1:8443\n", conffile.ProbesRelay, ""},
		{"probes: local\n", conffile.ProbesLocal, ""},
		{"probes: none\nhub:\n  listen: 127.0.0.1:8443\n", conffile.ProbesNone, ""},
		{"probes: relay\n", "", "probes: relay needs hub.listen"},
		{"probes: everywhere\n", "", `probes: "everywhere" is not relay, local or none`},
	} {
		path := filepath.Join(dir, "c.yaml")
		if err := os.WriteFile(path, []byte(tc.body), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := conffile.Load(path, env(nil))
		if tc.problem != "" {
			if err == nil || !strings.Contains(err.Error(), tc.problem) {
				t.Errorf("%q: Load = %v, want %q", tc.body, err, tc.problem)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%q: %v", tc.body, err)
		}
		if got := c.ProbeRunner(); got != tc.want {
			t.Errorf("%q: probes run by %q, want %q", tc.body, got, tc.want)
		}
	}
}

// TestBundleSigningKey checks the signing key's field: from the file or
// the environment, and refused when missing or readable by others.
func TestBundleSigningKey(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "bundle.key")
	if err := os.WriteFile(key, []byte("k"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "c.yaml")
	os.WriteFile(cfg, []byte("bundle:\n  signing_key: "+key+"\n"), 0o600)
	if c, err := conffile.Load(cfg, env(nil)); err != nil || c.Bundle.SigningKey != key {
		t.Fatalf("from the file: %v %+v", err, c)
	}
	if c, err := conffile.Load("", env(map[string]string{"VPNDIAG_BUNDLE_SIGNING_KEY": key})); err != nil || c.Bundle.SigningKey != key {
		t.Fatalf("from the environment: %v", err)
	}
	os.Chmod(key, 0o644)
	if _, err := conffile.Load(cfg, env(nil)); err == nil || !strings.Contains(err.Error(), "bundle.signing_key") || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("a key others can read: %v", err)
	}
	if _, err := conffile.Load("", env(map[string]string{"VPNDIAG_BUNDLE_SIGNING_KEY": filepath.Join(dir, "none")})); err == nil || !strings.Contains(err.Error(), "bundle.signing_key: cannot read") {
		t.Errorf("a missing key: %v", err)
	}
}
