package redact_test

import (
	"testing"

	"github.com/vpndiag/vpndiag/evidence/redact"
)

func TestFileName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"asa.txt", "asa.txt"},
		{`C:\Users\me\Desktop\charon.log`, "charon.log"},
		{"/etc/ipsec.secrets", "ipsec.secrets"},
		{"", "upload.txt"},
		{"..", ".."},
		{"psk=Sup3rS3cret.conf", "psk=redacted-psk.conf"},
		{"tunnel1_preshared_key=Xk9sPq2LmN.txt", "tunnel1_preshared_key=redacted-psk.txt"},
		{"vpn-psk-Sup3rS3cret.conf", "vpn-psk-redacted-psk.conf"},
		{"router password Adm1n!pass.txt", "router password redacted-password.txt"},
		{"xoxb-123456789012-abcdefghij.txt", "redacted-token.txt"},
		{"AKIAIOSFODNN7EXAMPLE.csv", "redacted-token.csv"},
		{"r07_strongswan-ikev2-stroke-net2net-psk-moon.ipsec.secrets", "r07_strongswan-ikev2-stroke-net2net-psk-moon.ipsec.secrets"},
		{"conn psk-site.conf", "conn psk-site.conf"},
		{"tunnel-group SECRET-HQ.txt", "tunnel-group SECRET-HQ.txt"},
		{"aws-vpn-0123456789abcdef0.xml", "aws-vpn-0123456789abcdef0.xml"},
		{"key-rotation-2024.txt", "key-rotation-2024.txt"},
	}
	for _, tt := range tests {
		if got := redact.FileName(tt.in); got != tt.want {
			t.Errorf("FileName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	// A name that repeats a secret learnt from the content.
	red := redact.New(redact.Options{})
	_ = red.String("crypto isakmp key Kx7pQ2vLm9 address 52.1.2.3\n")
	if got := red.Name("Kx7pQ2vLm9.txt"); got != "redacted-psk.txt" {
		t.Errorf("a learnt secret in a name: %q", got)
	}
}
