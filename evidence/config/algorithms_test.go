package config_test

import (
	"slices"
	"testing"

	"github.com/vpndiag/vpndiag/evidence/config"
)

// TestAlgorithms normalises ciphers and integrity algorithms as each
// vendor writes them.
func TestAlgorithms(t *testing.T) {
	tests := []struct {
		in         string
		enc, integ []string
	}{
		{"aes128-sha256-x25519", []string{"aes128"}, []string{"sha256"}},
		{"aes256gcm16-prfsha384-ecp384", []string{"aes256gcm16"}, nil},
		{"aes128gcm128-x25519", []string{"aes128gcm16"}, nil},
		{"aes256-sha1;dh14", []string{"aes256"}, []string{"sha1"}},
		{"encryption aes-256", []string{"aes256"}, nil},
		{"encryption aes 256", []string{"aes256"}, nil},
		{"encryption aes-cbc-256 aes-cbc-128 3des", []string{"aes256", "aes128", "3des"}, nil},
		{"hash sha", nil, []string{"sha1"}},
		{"integrity sha256", nil, []string{"sha256"}},
		{"ts: esp-aes 256 esp-sha-hmac", []string{"aes256"}, []string{"sha1"}},
		{"esp-3des esp-md5-hmac", []string{"3des"}, []string{"md5"}},
		{"esp-aes esp-sha256-hmac", []string{"aes128"}, []string{"sha256"}},
		{"azure-proposal: sha1 aes-256-cbc", []string{"aes256"}, []string{"sha1"}},
		{"hmac-sha1-96 hmac-sha-256-128 aes-128-cbc", []string{"aes128"}, []string{"sha1", "sha256"}},
		{"aes-gcm-256", []string{"aes256gcm16"}, nil},
		{"enc-algorithm=aes-128,3des hash-algorithm=sha1", []string{"aes128", "3des"}, []string{"sha1"}},
		{"enc-algorithms=aes-256-cbc auth-algorithms=sha256", []string{"aes256"}, []string{"sha256"}},
		{"sha2-256", nil, []string{"sha256"}},
		{"${IKE_PROPOSAL}", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			enc, integ := config.Algorithms(tt.in)
			if !slices.Equal(enc, tt.enc) || !slices.Equal(integ, tt.integ) {
				t.Errorf("Algorithms(%q) = %v, %v; want %v, %v", tt.in, enc, integ, tt.enc, tt.integ)
			}
		})
	}
}
