package redact_test

import (
	"strings"
	"testing"

	"github.com/vpndiag/vpndiag/evidence/redact"
)

// TestXSLTFieldIsNoSecret: in a configuration template an XSLT field stands
// where the key goes; it is not a key, and taking it for one would redact
// every other field of the template (the peer, the names) with it. A key
// written next to such a template is still redacted.
func TestXSLTFieldIsNoSecret(t *testing.T) {
	tests := []struct {
		name, in string
		secret   string // "" when nothing may be redacted
	}{
		{"IOS keyring template", "crypto ikev2 keyring <xsl:value-of select=\"/Data/RP_IkeKeyring\"/>\n  peer <xsl:value-of select=\"/Data/SP_AzureGatewayIpAddress\"/>\n    pre-shared-key <xsl:value-of select=\"/Data/SP_PresharedKey\"/>\n", ""},
		{"ASA tunnel-group template", "tunnel-group <xsl:value-of select=\"Data/SP_AzureGatewayIpAddress\"/> ipsec-attributes\n pre-shared-key <xsl:value-of select=\"Data/SP_PresharedKey\"/>\n", ""},
		{"a real key beside a template", "crypto isakmp policy 10\n pre-shared-key Xk9-s3cr3t-Key\npeer <xsl:value-of select=\"/Data/SP_AzureGatewayIpAddress\"/>\n", "Xk9-s3cr3t-Key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			red := redact.New(redact.Options{})
			got := red.String(tt.in)
			if tt.secret == "" {
				if got != tt.in || red.Count() != 0 {
					t.Errorf("template changed (%d redactions):\n%s", red.Count(), got)
				}
				return
			}
			if strings.Contains(got, tt.secret) || !strings.Contains(got, "<xsl:value-of select=\"/Data/SP_AzureGatewayIpAddress\"/>") {
				t.Errorf("got:\n%s", got)
			}
		})
	}
}
