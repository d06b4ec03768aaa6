package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag/evidence/config"
)

// TestTemplates: configurations published as templates (XSLT fields,
// Jinja expressions) are recognised and read with each field as one name,
// on the lines where the template has them.
func TestTemplates(t *testing.T) {
	tests := []struct {
		name, format, text string
		want               tunnelWant
		line               int // the tunnel's line
	}{
		{"ASA crypto map from an XSLT template", config.FormatCiscoASA, `<?xml version="1.0" encoding="utf-16"?>
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
  <xsl:output method="text"/>
  <xsl:template match="/">! sample
object-group network <xsl:value-of select="Data/RP_Cloud"/>
<xsl:for-each select="Data/Subnets/Subnet">
 network-object <xsl:value-of select="SP_Ip"/><xsl:text> </xsl:text><xsl:value-of select="SP_Mask"/>
</xsl:for-each>
crypto isakmp enable outside
crypto isakmp policy 10
 authentication pre-share
 encryption aes-256
 hash sha
 group 14
 lifetime 28800
crypto ipsec transform-set <xsl:value-of select="Data/RP_Set"/> esp-aes-256 esp-sha-hmac
crypto ipsec security-association lifetime seconds 3600
crypto map <xsl:value-of select="Data/RP_Map"/> 10 match address <xsl:value-of select="Data/RP_ACL"/>
crypto map <xsl:value-of select="Data/RP_Map"/> 10 set peer <xsl:value-of select="Data/SP_GatewayIp"/>
crypto map <xsl:value-of select="Data/RP_Map"/> 10 set transform-set <xsl:value-of select="Data/RP_Set"/>
crypto map <xsl:value-of select="Data/RP_Map"/> interface outside
tunnel-group <xsl:value-of select="Data/SP_GatewayIp"/> type ipsec-l2l
tunnel-group <xsl:value-of select="Data/SP_GatewayIp"/> ipsec-attributes
 pre-shared-key <xsl:value-of select="Data/SP_PresharedKey"/>
</xsl:template>
</xsl:stylesheet>
`, tunnelWant{peer: "${SP_GatewayIp}", p1: 28800 * time.Second, p2: time.Hour, psk: "yes", pfs: "off"}, 18},
		{"IOS IKEv2 keyring and profile named by XSLT fields", config.FormatCiscoIOS, `<xsl:template match="/">
crypto ikev2 proposal <xsl:value-of select="/Data/RP_Proposal"/>
  encryption aes-cbc-256
  integrity sha1
  group 14
crypto ikev2 keyring <xsl:value-of select="/Data/RP_Keyring"/>
  peer <xsl:value-of select="/Data/SP_GatewayIp"/>
    address <xsl:value-of select="/Data/SP_GatewayIp"/>
    pre-shared-key <xsl:value-of select="/Data/SP_PresharedKey"/>
crypto ikev2 profile <xsl:value-of select="/Data/RP_Profile"/>
  match identity remote address <xsl:value-of select="/Data/SP_GatewayIp"/> 255.255.255.255
  authentication remote pre-share
  authentication local pre-share
  keyring local <xsl:value-of select="/Data/RP_Keyring"/>
crypto ipsec transform-set <xsl:value-of select="/Data/RP_Set"/> esp-aes 256 esp-sha-hmac
crypto ipsec profile <xsl:value-of select="/Data/RP_IPsecProfile"/>
  set transform-set <xsl:value-of select="/Data/RP_Set"/>
  set ikev2-profile <xsl:value-of select="/Data/RP_Profile"/>
interface Tunnel1
  tunnel destination <xsl:value-of select="/Data/SP_GatewayIp"/>
  tunnel protection ipsec profile <xsl:value-of select="/Data/RP_IPsecProfile"/>
</xsl:template>
`, tunnelWant{peer: "${SP_GatewayIp}", ike: 2, psk: "yes", routeBased: true}, 19},
		{"Junos set commands with Jinja fields", config.FormatJunosSet, `set security ike proposal {{ p1_name }} authentication-method pre-shared-keys
set security ike proposal {{ p1_name }} dh-group group2
set security ike policy {{ policy }} proposals {{ p1_name }}
set security ike policy {{ policy }} pre-shared-key ascii-text "{{ psk }}"
set security ike gateway {{ gw }} ike-policy {{ policy }}
set security ike gateway {{ gw }} address {{ cloud.peer_ip }}
set security ipsec vpn {{ vpn_name }} ike gateway {{ gw }}
`, tunnelWant{name: "${vpn_name}", peer: "${peer_ip}", psk: "yes", p1: 28800 * time.Second}, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if cs := config.Detect(tt.text); len(cs) == 0 || cs[0].Format != tt.format {
				t.Fatalf("detected %v, want %s", cs, tt.format)
			}
			c, err := config.Parse(tt.format, tt.text)
			if err != nil {
				t.Fatal(err)
			}
			checkTunnel(t, c, tt.want)
			if len(c.Tunnels) > 0 && c.Tunnels[0].Line != tt.line {
				t.Errorf("tunnel on line %d, want %d (the template's line)", c.Tunnels[0].Line, tt.line)
			}
		})
	}
}

// TestNotTemplates: text that only looks like a template here and there is
// read as it is: angle brackets in comments, a literal "{{" in a
// description, and an XML configuration that is no XSLT.
func TestNotTemplates(t *testing.T) {
	text := `! the <b>cloud</b> tunnel {{ not a field
crypto isakmp policy 10
 encryption aes-256
 group 14
 lifetime 28800
crypto isakmp key s3cr3t address 203.0.113.10
crypto ipsec transform-set TS esp-aes 256 esp-sha-hmac
crypto map CM 10 ipsec-isakmp
 set peer 203.0.113.10
 set transform-set TS
 set pfs group14
 match address 101
access-list 101 permit ip 10.0.0.0 0.0.0.255 10.1.0.0 0.0.0.255
`
	c, err := config.Parse(config.FormatCiscoIOS, text)
	if err != nil {
		t.Fatal(err)
	}
	checkTunnel(t, c, tunnelWant{name: "crypto map CM 10", peer: "203.0.113.10", psk: "yes", pfs: "on", pfsGroup: 14, pairs: 1})
	if strings.Contains(c.Summary(), "${") {
		t.Errorf("placeholders invented:\n%s", c.Summary())
	}
}
