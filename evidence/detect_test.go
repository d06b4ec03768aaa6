package evidence_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/evidence"
)

// TestRecognise: a few lines pasted in a chat are recognised as the
// evidence Attach would read, secrets are counted, and typed sentences
// are not evidence.
func TestRecognise(t *testing.T) {
	read := func(path string) string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	fixtures := filepath.Join("..", "..", "shared", "fixtures", "vpn")
	tests := []struct {
		name    string
		text    string
		kind    vpndiag.EvidenceKind
		secrets bool
	}{
		{"swanctl --list-sas", read(filepath.Join("status", "testdata", "swanctl-no-child.txt")), vpndiag.EvidenceStatus, false},
		{"charon lines", read(filepath.Join(fixtures, "logs", "strongswan-charon-psk-mismatch-authentication-failed.txt")), vpndiag.EvidenceLog, false},
		{"swanctl.conf with secrets", read(filepath.Join(fixtures, "configs", "strongswan-swanctl-net2net-psk-moon.txt")), vpndiag.EvidenceConfig, true},
		{"ipsec.secrets line", "192.168.0.1 : PSK \"v3ryS3cretKey!\"\n", vpndiag.EvidenceConfig, true},
		{"yes", "yes", vpndiag.EvidenceOther, false},
		{"done, still down", "done, still down", vpndiag.EvidenceOther, false},
		{"question", "the tunnel is down since the firewall upgrade, any idea? peer 203.0.113.5 does not answer", vpndiag.EvidenceOther, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := evidence.Recognise(tt.text)
			if got.Kind != tt.kind {
				t.Errorf("kind %s (%q), want %s", got.Kind, got.Format, tt.kind)
			}
			if (got.Kind == vpndiag.EvidenceOther) != (got.Format == "") {
				t.Errorf("kind %s with format %q", got.Kind, got.Format)
			}
			if (got.Secrets > 0) != tt.secrets {
				t.Errorf("%d secrets, want some: %v", got.Secrets, tt.secrets)
			}
		})
	}
}
