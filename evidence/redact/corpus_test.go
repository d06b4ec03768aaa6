package redact_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/vpndiag/vpndiag/evidence/redact"
)

// spelling is one way a secret (or a harmless look-alike) is written.
type spelling struct {
	family, name string
	in           string
	// secrets must all be gone from the output; none means the input is a
	// negative case and must come out unchanged.
	secrets []string
	// keep must all still be in the output (what a support engineer reads).
	keep []string
}

// corpus is every spelling the adversarial review tried, and more of each
// family, positive (a secret to remove) and negative (a name or a keyword
// that only looks like one, to keep).
var corpus = []spelling{
	// Cloud provider PSK formats.
	{"cloud", "AWS VPN connection XML", "      <pre_shared_key>Aw5XmlPsk_0001</pre_shared_key>", []string{"Aw5XmlPsk_0001"}, []string{"<pre_shared_key>", "</pre_shared_key>"}},
	{"cloud", "AWS XML CDATA", "<pre_shared_key><![CDATA[Aw5Cdata.0002]]></pre_shared_key>", []string{"Aw5Cdata.0002"}, []string{"<pre_shared_key>"}},
	{"cloud", "AWS CLI JSON PreSharedKey", `          "PreSharedKey": "AwsCliPsk.0003",`, []string{"AwsCliPsk.0003"}, []string{`"PreSharedKey": "`}},
	{"cloud", "AWS CLI JSON compact", `{"TunnelOptions":[{"OutsideIpAddress":"52.1.2.3","PreSharedKey":"AwsCliPsk.0004"}]}`, []string{"AwsCliPsk.0004"}, []string{"52.1.2.3", "OutsideIpAddress"}},
	{"cloud", "AWS CLI --options", `aws ec2 create-vpn-connection --options '{"TunnelOptions":[{"PreSharedKey":"AwsOpt.0005"}]}'`, []string{"AwsOpt.0005"}, []string{"create-vpn-connection"}},
	{"cloud", "AWS CloudFormation YAML", "          PreSharedKey: AwsCfnPsk.0006", []string{"AwsCfnPsk.0006"}, []string{"PreSharedKey:"}},
	{"cloud", "Terraform tunnel1_preshared_key", `  tunnel1_preshared_key = "TfTunnel1.0007"`, []string{"TfTunnel1.0007"}, []string{"tunnel1_preshared_key"}},
	{"cloud", "Terraform tunnel2_preshared_key", `  tunnel2_preshared_key="TfTunnel2.0008"`, []string{"TfTunnel2.0008"}, []string{"tunnel2_preshared_key"}},
	{"cloud", "Terraform state JSON", `            "tunnel1_preshared_key": "TfState.0009",`, []string{"TfState.0009"}, []string{"tunnel1_preshared_key"}},
	{"cloud", "GCP Terraform shared_secret", `  shared_secret      = "GcpShared.0010"`, []string{"GcpShared.0010"}, []string{"shared_secret"}},
	{"cloud", "GCP gcloud YAML sharedSecret", "sharedSecret: GcpYaml.0011", []string{"GcpYaml.0011"}, []string{"sharedSecret:"}},
	{"cloud", "GCP gcloud flag", "gcloud compute vpn-tunnels create t1 --peer-address=52.1.2.3 --shared-secret=GcpFlag.0012 --ike-version=2", []string{"GcpFlag.0012"}, []string{"--ike-version=2", "--peer-address=52.1.2.3"}},
	{"cloud", "GCP flag with space", "gcloud compute vpn-tunnels create t1 --shared-secret GcpFlag.0013 --region us-east1", []string{"GcpFlag.0013"}, []string{"--region us-east1"}},
	{"cloud", "Azure Terraform shared_key", `  shared_key = "AzureTf.0014"`, []string{"AzureTf.0014"}, []string{"shared_key"}},
	{"cloud", "Azure ARM sharedKey", `        "sharedKey": "AzureArm.0015",`, []string{"AzureArm.0015"}, []string{`"sharedKey"`}},
	{"cloud", "Azure ARM sharedKey value object", `"sharedKey": { "value": "AzureArm.0016" },`, []string{"AzureArm.0016"}, []string{`"sharedKey"`}},
	{"cloud", "Azure CLI --shared-key", "az network vpn-connection create -n c1 -g rg --shared-key AzureCli.0017 --vnet-gateway1 gw", []string{"AzureCli.0017"}, []string{"--vnet-gateway1 gw"}},
	{"cloud", "Azure PowerShell -SharedKey", `New-AzVirtualNetworkGatewayConnection -Name c1 -SharedKey 'AzurePs.0018' -EnableBgp $false`, []string{"AzurePs.0018"}, []string{"-EnableBgp"}},
	{"cloud", "Azure show JSON sharedKey", `  "sharedKey": "AzureShow.0019",`, []string{"AzureShow.0019"}, nil},
	{"cloud", "YAML psk", "  psk: YamlPsk.0020", []string{"YamlPsk.0020"}, []string{"psk:"}},
	{"cloud", "YAML psk quoted", `  psk: "Yaml Psk 0021"`, []string{"Yaml Psk 0021"}, []string{"psk:"}},
	{"cloud", "YAML pre_shared_key", "    pre_shared_key: 'YamlPre.0022'", []string{"YamlPre.0022"}, []string{"pre_shared_key:"}},
	{"cloud", "YAML list item psk", "  - psk: YamlList.0023", []string{"YamlList.0023"}, nil},
	{"cloud", "JSON psk", `{"psk": "JsonPsk.0024", "ike_version": 2}`, []string{"JsonPsk.0024"}, []string{`"ike_version": 2`}},
	{"cloud", "JSON pre_shared_key", `  "pre_shared_key" : "JsonPre.0025"`, []string{"JsonPre.0025"}, nil},
	{"cloud", "JSON escaped quote", `{"pre_shared_key": "Json\"Esc.0026"}`, []string{`Esc.0026`}, nil},
	{"cloud", "Ansible vars", "vpn_psk: AnsPsk.0027", []string{"AnsPsk.0027"}, []string{"vpn_psk:"}},
	{"cloud", "env file", "VPN_PRE_SHARED_KEY=EnvPsk.0028", []string{"EnvPsk.0028"}, []string{"VPN_PRE_SHARED_KEY="}},
	{"cloud", "OCI shared secret", `  "sharedSecret": "OciPsk.0029"`, []string{"OciPsk.0029"}, nil},
	{"cloud", "YAML psk on the next line", "psk: >-\n  YamlFolded.0030\nike: 2", []string{"YamlFolded.0030"}, []string{"ike: 2"}},
	{"cloud", "XML element on its own lines", "<sharedKey>\n  XmlNext.0031\n</sharedKey>", []string{"XmlNext.0031"}, []string{"</sharedKey>"}},
	{"cloud", "JSON key with spaces", `{"Pre-Shared Key": "JsonSpace.0106", "IKE Version": "ikev2"}`, []string{"JsonSpace.0106"}, []string{`"IKE Version": "ikev2"`}},
	{"cloud", "CloudFormation parameters file", `[{"ParameterKey": "PreSharedKey", "ParameterValue": "CfnParam.0107"}, {"ParameterKey": "Tunnel1InsideCidr", "ParameterValue": "169.254.10.0/30"}]`, []string{"CfnParam.0107"}, []string{"169.254.10.0/30"}},
	{"cloud", "SSM parameter", `{"Parameter": {"Name": "/vpn/hq/psk", "Type": "SecureString", "Value": "SsmParam.0108"}}`, []string{"SsmParam.0108"}, []string{"/vpn/hq/psk"}},
	{"cloud", "XML name/value", `<param name="tunnel1_psk" value="XmlNameValue.0109"/>`, []string{"XmlNameValue.0109"}, []string{`name="tunnel1_psk"`}},
	{"cloud", "WireGuard PresharedKey", "PresharedKey = WgPsk0110xYz+abcdefghijklmnopqrstuvwx=", []string{"WgPsk0110xYz+abcdefghijklmnopqrstuvwx="}, nil},
	{"cloud", "XML attribute", `<tunnel name="t1" psk="XmlAttr.0032" ike="2"/>`, []string{"XmlAttr.0032"}, []string{`name="t1"`, `ike="2"`}},

	// Device secrets.
	{"device", "IOS BGP neighbor password", " neighbor 169.254.10.1 password BgpPlain0033", []string{"BgpPlain0033"}, []string{"neighbor 169.254.10.1 password"}},
	{"device", "IOS BGP neighbor password 7", " neighbor 169.254.10.1 password 7 0822455D0A160034", []string{"0822455D0A160034"}, []string{"neighbor 169.254.10.1"}},
	{"device", "IOS BGP neighbor peer-group password", " neighbor AWS password 0 BgpPg.0035", []string{"BgpPg.0035"}, nil},
	{"device", "IOS snmp-server host", "snmp-server host 10.1.1.5 SnmpHost0036", []string{"SnmpHost0036"}, []string{"snmp-server host 10.1.1.5"}},
	{"device", "IOS snmp-server host version 2c", "snmp-server host 10.1.1.5 version 2c SnmpHost0037 udp-port 2162", []string{"SnmpHost0037"}, []string{"udp-port 2162", "version 2c"}},
	{"device", "IOS snmp-server host traps", "snmp-server host 10.1.1.5 traps version 2c SnmpHost0038", []string{"SnmpHost0038"}, nil},
	{"device", "IOS snmp-server host vrf", "snmp-server host 10.1.1.5 vrf MGMT informs version 2c SnmpHost0039", []string{"SnmpHost0039"}, []string{"vrf MGMT"}},
	{"device", "ASA snmp-server host community", "snmp-server host inside 10.1.1.5 community SnmpAsa0040 version 2c", []string{"SnmpAsa0040"}, []string{"version 2c"}},
	{"device", "IOS snmp community view", "snmp-server community SnmpComm0041 view V1 RO 10", []string{"SnmpComm0041"}, []string{"view V1 RO 10"}},
	{"device", "OSPF message-digest-key", " ip ospf message-digest-key 1 md5 OspfMd5.0042", []string{"OspfMd5.0042"}, []string{"message-digest-key 1 md5"}},
	{"device", "OSPF message-digest-key 7", " ip ospf message-digest-key 10 md5 7 0822455D0A16OSPF43", []string{"0822455D0A16OSPF43"}, nil},
	{"device", "OSPF authentication-key 7", " ip ospf authentication-key 7 OspfAuth.0044", []string{"OspfAuth.0044"}, nil},
	{"device", "OSPF area virtual-link md5", " area 1 virtual-link 2.2.2.2 message-digest-key 1 md5 OspfVl.0045", []string{"OspfVl.0045"}, nil},
	{"device", "PPP chap password", " ppp chap password PppChap.0046", []string{"PppChap.0046"}, []string{"ppp chap password"}},
	{"device", "PPP chap password 7", " ppp chap password 7 PppChap7.0047", []string{"PppChap7.0047"}, nil},
	{"device", "PPP pap sent-username", " ppp pap sent-username user1 password 0 PppPap.0048", []string{"PppPap.0048"}, []string{"sent-username user1"}},
	{"device", "IOS enable secret 9", "enable secret 9 $9$nhEmQVczB7dqsO$X.HsgL6x1il0RxkOSSvyQYwucySCt7qFm4v7pqCx0049", []string{"$9$nhEmQVczB7dqsO$X.HsgL6x1il0RxkOSSvyQYwucySCt7qFm4v7pqCx0049", "X.HsgL6x1il0RxkOSSvyQYwucySCt7qFm4v7pqCx0049"}, []string{"enable secret 9"}},
	{"device", "IOS enable algorithm-type", "enable algorithm-type scrypt secret $9$AlgoScrypt0050abc$defghijklmnop", []string{"AlgoScrypt0050abc"}, nil},
	{"device", "IOS username algorithm-type", "username admin privilege 15 algorithm-type sha256 secret $8$UserSha0051$xyzxyzxyz", []string{"UserSha0051"}, []string{"username admin"}},
	{"device", "IOS enable secret level", "enable secret level 15 5 $1$Lvl0052$abcdefghijklm", []string{"Lvl0052"}, nil},
	{"device", "IOS line password 7", " password 7 045802150C2E0053", []string{"045802150C2E0053"}, nil},
	{"device", "IOS tacacs key", "tacacs-server key 7 TacKey.0054", []string{"TacKey.0054"}, nil},
	{"device", "IOS tacacs server key", "tacacs server T1\n address ipv4 10.1.1.1\n key 7 TacSrvKey.0055", []string{"TacSrvKey.0055"}, []string{"address ipv4 10.1.1.1"}},
	{"device", "IOS radius key", "radius-server host 10.1.1.1 auth-port 1812 key RadKey.0056", []string{"RadKey.0056"}, nil},
	{"device", "IOS ntp authentication-key", "ntp authentication-key 1 md5 NtpKey.0057 7", []string{"NtpKey.0057"}, nil},
	{"device", "IOS key chain key-string", "  key-string 7 KeyStr.0058", []string{"KeyStr.0058"}, nil},
	{"device", "IOS HSRP md5 key-string", " standby 1 authentication md5 key-string HsrpKey.0059", []string{"HsrpKey.0059"}, nil},
	{"device", "ASA tunnel-group ikev1 PSK", " ikev1 pre-shared-key AsaPsk.0060", []string{"AsaPsk.0060"}, nil},
	{"device", "IOS isakmp key", "crypto isakmp key 0 IosIsakmp.0061 address 52.1.2.3", []string{"IosIsakmp.0061"}, []string{"address 52.1.2.3"}},
	{"device", "PAN-OS phash", "          <phash>$1$panphash$Pan0062hashvalue/</phash>", []string{"$1$panphash$Pan0062hashvalue/"}, []string{"<phash>"}},
	{"device", "PAN-OS phash CDATA", "<phash><![CDATA[$5$panc$Pan0063cdata]]></phash>", []string{"Pan0063cdata"}, nil},
	{"device", "PAN-OS pre-shared-key CDATA", "<pre-shared-key><key><![CDATA[-AQ==PanCdata0064]]></key></pre-shared-key>", []string{"PanCdata0064"}, nil},
	{"device", "XML password CDATA", "<password><![CDATA[Cdata Pw 0065]]></password>", []string{"Cdata Pw 0065"}, nil},
	{"device", "pfSense pre-shared-key", "<pre-shared-key>PfPsk.0066</pre-shared-key>", []string{"PfPsk.0066"}, nil},
	{"device", "FortiGate psksecret ENC", "    set psksecret ENC FgEnc0067abcdef==", []string{"FgEnc0067abcdef=="}, nil},
	{"device", "Junos pre-shared-key", `set security ike policy P pre-shared-key ascii-text "$9$Jun0068.abc-def"`, []string{"$9$Jun0068.abc-def"}, nil},
	{"device", "Junos $9$ anywhere", `    authentication-key "$9$Jun0069XyZ/abc"; ## SECRET-DATA`, []string{"Jun0069XyZ"}, nil},
	{"device", "Junos bgp authentication-key", "set protocols bgp group AWS neighbor 169.254.1.1 authentication-key JunBgp.0070", []string{"JunBgp.0070"}, nil},
	{"device", "MikroTik secret", `/ip ipsec identity add peer=aws secret=MtSecret.0071 auth-method=pre-shared-key`, []string{"MtSecret.0071"}, []string{"peer=aws", "auth-method=pre-shared-key"}},
	{"device", "VyOS pre-shared-secret", "set vpn ipsec site-to-site peer 52.1.2.3 authentication pre-shared-secret 'VyOS.0072'", []string{"VyOS.0072"}, nil},
	{"device", "VyOS 1.4 secret", "set vpn ipsec authentication psk AWS secret 'VyOS14.0073'", []string{"VyOS14.0073"}, []string{"psk AWS"}},
	{"device", "SonicWall shared-secret", "    shared-secret SwSecret.0074", []string{"SwSecret.0074"}, nil},
	{"device", "Check Point key", `set vpn community star VPN pre-shared-secret "CpPsk.0075"`, []string{"CpPsk.0075"}, nil},
	{"device", "WireGuard PrivateKey", "PrivateKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fB0076=", []string{"yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fB0076="}, nil},
	{"device", "ScreenOS admin password", `set admin password "ScreenOs.0101"`, []string{"ScreenOs.0101"}, nil},
	{"device", "ScreenOS ike gateway preshare", `set ike gateway "azure-gw" address 40.1.2.3 outgoing-interface "ethernet0/0" preshare "ScreenPre.0102" sec-level compatible`, []string{"ScreenPre.0102"}, []string{"sec-level compatible", `outgoing-interface "ethernet0/0"`}},
	{"device", "IOS OSPFv3 IPsec key", " ospfv3 encryption ipsec spi 1001 esp null md5 0 2757613409476813247330203120970103", []string{"2757613409476813247330203120970103"}, []string{"spi 1001 esp null md5 0"}},
	{"device", "IOS OSPFv3 IPsec encryption key", " ipv6 ospf encryption ipsec spi 500 esp aes-cbc 128 0 0123456789ABCDEF0123456789AB0104 sha1 0 0123456789ABCDEF0123456789ABCDEF01230105", []string{"0123456789ABCDEF0123456789AB0104", "0123456789ABCDEF0123456789ABCDEF01230105"}, nil},
	{"device", "crypt hash anywhere", "user1 hash $6$rounds=5000$salt0077$abcdefghijklmnopqrstuvwxyz", []string{"salt0077"}, nil},

	// strongSwan and libreswan secrets files.
	{"secrets", "ipsec.secrets entry on two lines", "moon.example.net sun.example.net :\n    PSK \"Cont.0078\"", []string{"Cont.0078"}, []string{"moon.example.net sun.example.net"}},
	{"secrets", "ipsec.secrets value on the next line", "moon sun : PSK\n  \"NextLine.0079\"", []string{"NextLine.0079"}, nil},
	{"secrets", "ipsec.secrets bare continuation", "10.1.0.1 10.2.0.1 :\n\tPSK 0x4E6578744C696E650080", []string{"0x4E6578744C696E650080"}, nil},
	{"secrets", "ipsec.secrets XAUTH continued", "carol :\n  XAUTH \"Xauth.0081\"", []string{"Xauth.0081"}, nil},
	{"secrets", "swanctl multi-line quoted secret", "secrets {\n  ike-1 {\n    secret = \"first line 0082\nsecond line 0082b\"\n  }\n}", []string{"first line 0082", "second line 0082b"}, []string{"ike-1 {"}},
	{"secrets", "swanctl three-line quoted secret", "    secret = \"a0083\nb0083 middle\nc0083 end\"", []string{"a0083", "b0083 middle", "c0083 end"}, nil},
	{"secrets", "swanctl single-quoted two lines", "    secret = 'sq0084\nsq0084 tail'", []string{"sq0084", "sq0084 tail"}, nil},
	{"secrets", "libreswan secrets", `@west @east : PSK "Libre.0085"`, []string{"Libre.0085"}, nil},

	// strongSwan debug logs dumping keys.
	{"dump", "charon SKEYSEED dump", "Dec  3 10:00:00 moon charon: 11[IKE] SKEYSEED => 32 bytes @ 0x7f3c2c001f40\n" +
		"Dec  3 10:00:00 moon charon: 11[IKE]    0: 6C 71 F1 A2 08 6D 45 3A 91 BC 0E 11 22 33 44 86  lq...mE:....\"3D.\n" +
		"Dec  3 10:00:00 moon charon: 11[IKE]   16: 0F 1E 2D 3C 4B 5A 69 78 87 96 A5 B4 C3 D2 E1 87  ..-<KZix........\n" +
		"Dec  3 10:00:01 moon charon: 11[IKE] IKE_SA home[1] established", []string{"6C 71 F1 A2 08 6D 45 3A", "0F 1E 2D 3C 4B 5A 69 78"}, []string{"SKEYSEED => 32 bytes", "IKE_SA home[1] established"}},
	{"dump", "charon Sk_d secret dump", "11[IKE] Sk_d secret => 16 bytes @ 0x55d1\n11[IKE]    0: A1 B2 C3 D4 E5 F6 07 18 29 3A 4B 5C 6D 7E 8F 88  ........):K\\m~..", []string{"A1 B2 C3 D4 E5 F6"}, []string{"Sk_d secret"}},
	{"dump", "charon PSK dump shows it in ASCII", "13[IKE] PSK => 12 bytes @ 0x7f00\n13[IKE]    0: 50 73 6B 44 75 6D 70 30 30 38 39 21              PskDump0089!", []string{"PskDump0089!", "50 73 6B 44 75 6D 70"}, []string{"PSK => 12 bytes"}},
	{"dump", "charon shared DH secret", "[IKE] shared Diffie Hellman secret => 8 bytes @ 0x1\n[IKE]    0: 01 02 03 04 05 06 07 90                          ........", []string{"01 02 03 04 05 06 07 90"}, nil},
	{"dump", "charon dump in journal", "Dec 03 10:00:00 moon charon-systemd[812]: Sk_ei secret => 16 bytes @ 0x7f\nDec 03 10:00:00 moon charon-systemd[812]:    0: 91 92 93 94 95 96 97 98 99 9A 9B 9C 9D 9E 9F 91  ................", []string{"91 92 93 94 95 96 97 98"}, nil},
	{"dump", "newest-first log: the dump before its header", "2026-12-03T10:00:01 charon[1]: 11[IKE] IKE_SA home[1] established\n" +
		"2026-12-03T10:00:00 charon[1]: 11[IKE]   16: 0F 1E 2D 3C 4B 5A 69 78 87 96 A5 B4 C3 D2 E1 98  ..-<KZix........\n" +
		"2026-12-03T10:00:00 charon[1]: 11[IKE]    0: 50 73 6B 52 65 76 65 72 73 65 64 30 30 39 38 21  PskReversed0098!\n" +
		"2026-12-03T10:00:00 charon[1]: 11[IKE] PSK => 32 bytes @ 0x7f00", []string{"PskReversed0098!", "0F 1E 2D 3C 4B 5A", "50 73 6B 52 65 76"}, []string{"IKE_SA home[1] established", "PSK => 32 bytes"}},
	{"dump", "IKEv1 SKEYID dump", "04[IKE] SKEYID_e => 4 bytes @ 0x1\n04[IKE]    0: DE AD 00 92                                      ....", []string{"DE AD 00 92"}, nil},

	// Tokens and other value shapes.
	{"token", "Slack bot token", "token: xoxb-123456789012-0093abcdefgh", []string{"xoxb-123456789012-0093abcdefgh"}, nil},
	{"token", "AWS secret access key", "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCY0094EXAMPLE", []string{"wJalrXUtnFEMI/K7MDENG/bPxRfiCY0094EXAMPLE"}, nil},
	{"token", "Authorization header", "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.Tok0095abcdef", []string{"eyJhbGciOiJIUzI1NiJ9.e30.Tok0095abcdef"}, nil},
	{"token", "URL credentials", "proxy http://admin:UrlPw.0096@proxy.example.net:3128", []string{"UrlPw.0096"}, []string{"proxy.example.net:3128"}},
	{"token", "JSON client_secret", `{"client_secret":"ClientSec.0097"}`, []string{"ClientSec.0097"}, nil},

	// Negative cases: names and keywords that look like secrets.
	{"negative", "ipsec.conf conn named psk", "conn psk-site\n\tauthby=psk\n\tikelifetime=28800s\n\tkeylife=3600s\n\tleft=10.1.0.1", nil, nil},
	{"negative", "ASA tunnel-group SECRET-HQ", "tunnel-group SECRET-HQ type ipsec-l2l\ntunnel-group SECRET-HQ ipsec-attributes", nil, nil},
	{"negative", "ASA tunnel-group named SECRET", "tunnel-group SECRET type ipsec-l2l", nil, nil},
	{"negative", "crypto map named secret", "crypto map SECRET 10 match address 101\ncrypto map SECRET 10 set peer 52.1.2.3", nil, nil},
	{"negative", "IOS authentication pre-share", "crypto isakmp policy 10\n encr aes 256\n authentication pre-share\n group 14\n lifetime 28800", nil, nil},
	{"negative", "IOS ikev2 profile named PSK", "crypto ikev2 profile PSK-PROFILE\n authentication remote pre-share\n authentication local pre-share\n keyring local PSK-KEYRING", nil, nil},
	{"negative", "swanctl auth psk", "    local {\n      auth = psk\n      id = moon.example.net\n    }\n    rekey_time = 28800s", nil, nil},
	{"negative", "swanctl section named secret", "  secret-tunnel {\n    remote_addrs = 52.1.2.3\n    proposals = aes256-sha256-modp2048\n  }", nil, nil},
	{"negative", "libreswan authby secret", "conn secret-west\n\tauthby=secret\n\tsalifetime=1h", nil, nil},
	{"negative", "Junos authentication-method", "set security ike proposal P1 authentication-method pre-shared-keys\nset security ike proposal P1 lifetime-seconds 28800", nil, nil},
	{"negative", "FortiGate authmethod psk", "    set authmethod psk\n    set keylife 28800\n    set psksecret-remote ENC", nil, nil},
	{"negative", "strongSwan log auth line", "11[IKE] authentication of 'moon.example.net' (myself) with pre-shared key successful", nil, nil},
	{"negative", "libreswan log psk", `"psk-site" #1: authenticated peer using authby=secret and ID_FQDN '@east'`, nil, nil},
	{"negative", "AWS XML tunnel names", "<vpn_connection id=\"vpn-0123\">\n  <ike>\n    <authentication_protocol>sha1</authentication_protocol>\n    <lifetime>28800</lifetime>\n  </ike>", nil, nil},
	{"negative", "JSON keys about keys", `{"PreSharedKeyLength": 32, "Phase1LifetimeSeconds": 28800, "PreSharedKeyRequired": true}`, nil, nil},
	{"negative", "Terraform reference to a PSK", `  tunnel1_preshared_key = var.tunnel1_psk`, nil, nil},
	{"negative", "YAML psk placeholder", "psk: ${PSK}\nshared_secret: \"{{ vpn_secret }}\"", nil, nil},
	{"negative", "charon packet dump kept readable header", "11[NET] received packet: from 52.1.2.3[500] to 10.1.0.1[500] (464 bytes)\n11[ENC] parsed IKE_SA_INIT response 0 [ SA KE No N(NATD_S_IP) ]", nil, nil},
	{"negative", "snmp-server host without community", "snmp-server enable traps ipsec start stop", nil, nil},
	{"negative", "OSPF authentication message-digest", " ip ospf authentication message-digest\n area 0 authentication message-digest", nil, nil},
	{"negative", "BGP neighbor remote-as", " neighbor 169.254.10.1 remote-as 64512\n neighbor 169.254.10.1 timers 10 30 30", nil, nil},
	{"negative", "ppp chap hostname", " ppp chap hostname branch-1\n ppp authentication chap", nil, nil},
	{"negative", "interface named password", "interface Tunnel100\n description to PASSWORD-DC\n tunnel destination 52.1.2.3", nil, nil},
	{"negative", "hex lines without a dump header", "[IKE]    0: 01 02 03 04", nil, nil},
	{"negative", "dump-shaped lines without a header", "[ENC]    0: 01 02 03 04 05 06 07 08 09 0A 0B 0C 0D 0E 0F 10  ................\n[ENC] parsed IKE_AUTH request 1 [ IDi AUTH SA TSi TSr ]", nil, nil},
	{"negative", "IOS key config-key", "crypto keyring KEYRING-SECRET\n  local-address 10.1.0.1", nil, nil},
	{"negative", "IOS key chain numbers", "key chain OSPF-KEYS\n key 1\n  cryptographic-algorithm hmac-sha-256", nil, nil},
	{"negative", "Junos key chain", "key-chain BGP {\n    key 0 {\n        start-time \"2024-1-1.00:00:00 +0000\";\n    }\n}", nil, nil},
	{"negative", "CloudFormation non-secret parameter", `{"ParameterKey": "Tunnel1InsideCidr", "ParameterValue": "169.254.10.0/30"}`, nil, nil},
	{"negative", "log line ending in : PSK", "Dec  3 10:00:00 gw charon: 11[CFG] selected auth method: PSK\nDec  3 10:00:00 gw charon: 11[CFG]   lifetime 28800s", nil, nil},
	{"negative", "GCP tunnel listing", "NAME: psk-tunnel-1\nREGION: us-east1\nPEER_ADDRESS: 52.1.2.3", nil, nil},
	{"negative", "Azure connection type", `"connectionType": "IPsec", "connectionProtocol": "IKEv2", "sharedKeyRequired": false`, nil, nil},
}

// TestCorpus runs every spelling through a fresh Redactor: no secret may
// remain, what support reads must stay, a negative case must come out
// unchanged, and the number of lines never changes.
func TestCorpus(t *testing.T) {
	if len(corpus) < 100 {
		t.Fatalf("the corpus has %d spellings, want at least 100", len(corpus))
	}
	leaks, over := 0, 0
	families := map[string]int{}
	for _, c := range corpus {
		families[c.family]++
		t.Run(c.family+"/"+c.name, func(t *testing.T) {
			red := redact.New(redact.Options{})
			got := red.String(c.in)
			if strings.Count(got, "\n") != strings.Count(c.in, "\n") {
				t.Errorf("line count changed: %q", got)
			}
			for _, s := range c.secrets {
				if strings.Contains(got, s) {
					leaks++
					t.Errorf("secret %q leaked:\n%s", s, got)
				}
			}
			for _, k := range c.keep {
				if !strings.Contains(got, k) {
					over++
					t.Errorf("%q was redacted away:\n%s", k, got)
				}
			}
			if len(c.secrets) == 0 && got != c.in {
				over++
				t.Errorf("negative case changed:\n got %q\nwant %q", got, c.in)
			}
			if len(c.secrets) > 0 && red.Count() == 0 {
				t.Error("no redaction counted")
			}
		})
	}
	t.Logf("corpus: %d spellings in %d families %v: %d leaks, %d over-redactions", len(corpus), len(families), families, leaks, over)
}

// TestLongLines puts a secret key and its value across every position of
// the 64 KiB boundary where the reader used to cut long lines into
// independent pieces, and many secrets into one 2 MiB line: none may
// survive, and the text around them must.
func TestLongLines(t *testing.T) {
	const piece = 64 << 10
	for off := piece - 40; off <= piece+8; off++ {
		for _, form := range []string{`"PreSharedKey": "%s"`, `tunnel1_preshared_key = "%s"`, `crypto isakmp key %s address 52.1.2.3`, `set psksecret %s`} {
			secret := fmt.Sprintf("LongLine%05d", off)
			kv := fmt.Sprintf(form, secret)
			line := strings.Repeat("x", off) + " " + kv + " tail-kept\n"
			got := redact.New(redact.Options{}).String(line + "next line\n")
			if strings.Contains(got, secret) {
				t.Fatalf("offset %d, %q: the secret survived", off, form)
			}
			if !strings.HasSuffix(got, " tail-kept\nnext line\n") || len(got) < off {
				t.Fatalf("offset %d: text around the secret lost: tail %q", off, got[max(0, len(got)-60):])
			}
		}
	}
	var b strings.Builder
	var secrets []string
	for i := 0; b.Len() < 2<<20; i++ {
		s := fmt.Sprintf("Many%06d", i)
		secrets = append(secrets, s)
		fmt.Fprintf(&b, `{"name":"t%d","PreSharedKey":"%s","lifetime":28800},`, i, s)
		b.WriteString(strings.Repeat(" ", i%9000))
	}
	got := redact.New(redact.Options{}).String(b.String())
	for _, s := range secrets {
		if strings.Contains(got, s) {
			t.Fatalf("%s survived in a 2 MiB line", s)
		}
	}
	if n := strings.Count(got, `"lifetime":28800`); n != len(secrets) {
		t.Fatalf("%d of %d lifetimes kept", n, len(secrets))
	}
}
