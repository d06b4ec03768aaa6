package logs_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag/evidence/logs"
	"github.com/vpndiag/vpndiag/kb"
)

// TestMessageCatalogue has, per vendor and message family, lines written as
// the vendors' log catalogues and public logs show them: the positive cases
// name a cause and give its finding, the negative ones look alike and give
// none (or not that one).
func TestMessageCatalogue(t *testing.T) {
	const cs = "Mar  4 10:11:12 gw charon: "
	const pl = "Mar  4 10:11:12 gw pluto[812]: "
	const asa = "Mar 04 2024 10:11:12: "
	const ios = "Mar  4 10:11:12.345: "
	const kmd = "Mar  4 10:11:12 srx kmd[1790]: "
	const fgt = `date=2024-03-04 time=10:11:12 devname="fw1" devid="FGVM01" logid="%s" type="event" subtype="vpn" level="error" vd="root" logdesc="%s" msg="%s" action="%s" remip=203.0.113.10 locip=198.51.100.2 remport=500 locport=500 outintf="port1" vpntunnel="to-cloud" status="%s" reason="%s" peer_notif="NOT-APPLICABLE"`
	tests := []struct {
		name   string
		family string
		lines  []string
		want   []string
		// text must appear in the summary of the first finding, when set.
		text string
	}{
		// strongSwan charon.
		{"charon IKEv1 PSK mismatch, initiator", "strongswan-charon", []string{
			cs + "09[ENC] <cloud|1> invalid HASH_V1 payload length, decryption failed?",
			cs + "09[ENC] <cloud|1> could not decrypt payloads",
			cs + "09[IKE] <cloud|1> message parsing failed"}, []string{kb.CodeAuthFailed}, "could not be decrypted"},
		{"charon IKEv1 PSK mismatch, responder", "strongswan-charon", []string{
			cs + "09[ENC] invalid ID_V1 payload length, decryption failed?",
			cs + "09[ENC] could not decrypt payloads"}, []string{kb.CodeAuthFailed}, ""},
		{"charon INVALID_ID_INFORMATION in Quick Mode", "strongswan-charon", []string{
			cs + "08[ENC] generating QUICK_MODE request 316948142 [ HASH SA No ID ID ]",
			cs + "08[ENC] parsed INFORMATIONAL_V1 request 460353720 [ HASH N(INVAL_ID) ]",
			cs + "08[IKE] received INVALID_ID_INFORMATION error notify"}, []string{kb.CodeTSUnacceptable}, ""},
		{"charon no matching CHILD_SA config", "strongswan-charon", []string{
			cs + "08[CFG] looking for a child config for 10.42.43.0/24|/0 === 192.168.48.0/24|/0",
			cs + "08[IKE] no matching CHILD_SA config found"}, []string{kb.CodeTSUnacceptable}, ""},
		{"charon IKEv1 NO_PROP protected by HASH is phase 2", "strongswan-charon", []string{
			cs + "06[ENC] parsed INFORMATIONAL_V1 request 3861985833 [ HASH N(NO_PROP) ]",
			cs + "06[IKE] received NO_PROPOSAL_CHOSEN error notify"}, []string{kb.CodePhase2NoProposal}, ""},
		{"charon IKEv1 NO_PROP unprotected is phase 1", "strongswan-charon", []string{
			cs + "14[ENC] parsed INFORMATIONAL_V1 request 3851683074 [ N(NO_PROP) ]",
			cs + "14[IKE] received NO_PROPOSAL_CHOSEN error notify"}, []string{kb.CodePhase1NoProposal}, ""},
		{"charon DPD retransmits give up: dead peer, not IKE unanswered", "strongswan-charon", []string{
			cs + "09[IKE] <cloud|3> IKE_SA cloud[3] established between 198.51.100.2[198.51.100.2]...203.0.113.10[203.0.113.10]",
			cs + "11[IKE] <cloud|3> sending DPD request",
			cs + "11[ENC] <cloud|3> generating INFORMATIONAL request 7 [ ]",
			cs + "12[IKE] <cloud|3> retransmit 1 of request with message ID 7",
			cs + "13[IKE] <cloud|3> retransmit 2 of request with message ID 7",
			cs + "14[IKE] <cloud|3> retransmit 3 of request with message ID 7",
			cs + "15[IKE] <cloud|3> giving up after 3 retransmits"}, []string{kb.CodeDPDPeerDead}, "DPD"},
		{"charon DPD retransmits without the final line", "strongswan-charon", []string{
			cs + "11[IKE] <cloud|3> sending DPD request",
			cs + "12[IKE] <cloud|3> retransmit 1 of request with message ID 7",
			cs + "13[IKE] <cloud|3> retransmit 2 of request with message ID 7",
			cs + "14[IKE] <cloud|3> retransmit 3 of request with message ID 7"}, []string{kb.CodeDPDPeerDead}, ""},
		{"charon IKE_SA_INIT unanswered stays IKE unanswered after a DPD death", "strongswan-charon", []string{
			cs + "11[IKE] <cloud|3> sending DPD request",
			cs + "15[IKE] <cloud|3> giving up after 3 retransmits",
			cs + "16[ENC] <cloud|4> generating IKE_SA_INIT request 0 [ SA KE No N(NATD_S_IP) N(NATD_D_IP) ]",
			cs + "17[IKE] <cloud|4> retransmit 1 of request with message ID 0",
			cs + "18[IKE] <cloud|4> retransmit 2 of request with message ID 0",
			cs + "19[IKE] <cloud|4> retransmit 3 of request with message ID 0",
			cs + "20[IKE] <cloud|4> giving up after 3 retransmits"}, []string{kb.CodeDPDPeerDead, kb.CodeIKENoResponse}, ""},
		{"charon informational retransmits on an established SA, no DPD line: dead peer", "strongswan-charon", []string{
			cs + "09[IKE] <cloud|3> IKE_SA cloud[3] established between 198.51.100.2[198.51.100.2]...203.0.113.10[203.0.113.10]",
			cs + "07[ENC] <cloud|3> parsed IKE_AUTH response 1 [ IDr AUTH SA TSi TSr ]",
			cs + "12[IKE] <cloud|3> retransmit 1 of request with message ID 9",
			cs + "13[IKE] <cloud|3> retransmit 2 of request with message ID 9",
			cs + "14[IKE] <cloud|3> retransmit 3 of request with message ID 9"}, []string{kb.CodeDPDPeerDead}, ""},
		{"charon CREATE_CHILD_SA retransmits: phase 2 unanswered", "strongswan-charon", []string{
			cs + "09[IKE] <cloud|3> IKE_SA cloud[3] established between 198.51.100.2[198.51.100.2]...203.0.113.10[203.0.113.10]",
			cs + "05[ENC] <cloud|3> generating CREATE_CHILD_SA request 4 [ SA No KE TSi TSr ]",
			cs + "12[IKE] <cloud|3> retransmit 1 of request with message ID 4",
			cs + "13[IKE] <cloud|3> retransmit 2 of request with message ID 4"}, []string{kb.CodePhase2NoProposal}, "phase 2"},
		{"charon IKE_AUTH unanswered after IKE_SA_INIT", "strongswan-charon", []string{
			cs + "05[ENC] <cloud|1> parsed IKE_SA_INIT response 0 [ SA KE No N(NATD_S_IP) N(NATD_D_IP) ]",
			cs + "05[ENC] <cloud|1> generating IKE_AUTH request 1 [ IDi AUTH SA TSi TSr ]",
			cs + "06[IKE] <cloud|1> retransmit 1 of request with message ID 1",
			cs + "07[IKE] <cloud|1> retransmit 2 of request with message ID 1",
			cs + "08[IKE] <cloud|1> retransmit 3 of request with message ID 1"}, []string{kb.CodeIKENoResponse}, "IKE_AUTH"},
		{"charon half-open peer", "strongswan-charon", []string{
			cs + "09[IKE] <cloud|2> received retransmit of request with ID 0, retransmitting response",
			cs + "10[IKE] <cloud|2> received retransmit of request with ID 0, retransmitting response",
			cs + "11[IKE] <cloud|2> received retransmit of request with ID 0, retransmitting response"}, []string{kb.CodeIKEHalfOpen}, "repeated 3 requests"},
		{"charon one repeated request is not half-open", "strongswan-charon", []string{
			cs + "09[IKE] <cloud|2> received retransmit of request with ID 4, retransmitting response"}, nil, ""},
		{"charon idle close of the IKE_SA", "strongswan-charon", []string{
			cs + "05[JOB] <cloud|1> deleting IKE_SA after 300 seconds of CHILD_SA inactivity"}, []string{kb.CodeIdleClose}, ""},
		{"charon idle close of a CHILD_SA", "strongswan-charon", []string{
			cs + "05[JOB] <cloud|1> deleting CHILD_SA after 300 seconds of inactivity"}, []string{kb.CodeIdleClose}, ""},
		{"charon rekey refused with NO_PROPOSAL_CHOSEN", "strongswan-charon", []string{
			cs + "05[IKE] <cloud|1> establishing CHILD_SA cloud{2} reqid 1",
			cs + "05[ENC] <cloud|1> generating CREATE_CHILD_SA request 2 [ N(REKEY_SA) SA No KE TSi TSr ]",
			cs + "06[ENC] <cloud|1> parsed CREATE_CHILD_SA response 2 [ N(NO_PROP) ]",
			cs + "06[IKE] <cloud|1> received NO_PROPOSAL_CHOSEN notify, no CHILD_SA built",
			cs + "06[IKE] <cloud|1> failed to establish CHILD_SA, keeping IKE_SA"}, []string{kb.CodePhase2NoProposal, kb.CodeRekeyFailed}, ""},
		{"charon no IKE config for the peer is not a proposal mismatch", "strongswan-charon", []string{
			cs + "12[IKE] no IKE config found for 198.51.100.2...203.0.113.10, sending NO_PROPOSAL_CHOSEN"}, []string{kb.CodeAuthFailed}, "identity or peer address"},
		{"charon healthy lines", "strongswan-charon", []string{
			cs + "09[IKE] <cloud|1> IKE_SA cloud[1] established between 198.51.100.2[198.51.100.2]...203.0.113.10[203.0.113.10]",
			cs + "09[IKE] <cloud|1> CHILD_SA cloud{1} established with SPIs c1a2b3c4_i c5d6e7f8_o and TS 10.0.0.0/16 === 192.168.10.0/24",
			cs + "10[IKE] <cloud|1> received DELETE for ESP CHILD_SA with SPI c5d6e7f8",
			cs + "11[IKE] <cloud|1> sending DPD request"}, nil, ""},

		// libreswan / Openswan pluto.
		{"pluto IKEv2 IKE_SA_INIT retransmissions with no final line", "libreswan-pluto", []string{
			`181 "cloud" #1: STATE_PARENT_I1: sent v2I1, expected v2R1`,
			`010 "cloud" #1: STATE_PARENT_I1: retransmission; will wait 0.5 seconds for response`,
			`010 "cloud" #1: STATE_PARENT_I1: retransmission; will wait 1 seconds for response`,
			`010 "cloud" #1: STATE_PARENT_I1: retransmission; will wait 2 seconds for response`}, []string{kb.CodeIKENoResponse}, ""},
		{"pluto one retransmission", "libreswan-pluto", []string{
			`181 "cloud" #1: STATE_PARENT_I1: sent v2I1, expected v2R1`,
			`010 "cloud" #1: STATE_PARENT_I1: retransmission; will wait 0.5 seconds for response`}, nil, ""},
		{"pluto Quick Mode retransmissions after Main Mode", "libreswan-pluto", []string{
			`004 "cloud" #1: STATE_MAIN_I4: ISAKMP SA established {auth=OAKLEY_PRESHARED_KEY cipher=aes_128 prf=oakley_sha group=modp1024}`,
			`117 "cloud" #2: STATE_QUICK_I1: initiate`,
			`010 "cloud" #2: STATE_QUICK_I1: retransmission; will wait 20s for response`,
			`010 "cloud" #2: STATE_QUICK_I1: retransmission; will wait 40s for response`}, []string{kb.CodePhase2NoProposal}, "phase 2"},
		{"pluto Quick Mode time-out", "libreswan-pluto", []string{
			pl + `"cloud" #1: ISAKMP SA established {auth=PRESHARED_KEY cipher=AES_CBC_256 integ=HMAC_SHA2_256 group=MODP2048}`,
			pl + `"cloud" #2: STATE_QUICK_I1: 60 second timeout exceeded after 7 retransmits.  No response (or no acceptable response) to our IKEv1 message`}, []string{kb.CodePhase2NoProposal}, ""},
		{"pluto DPD action hold", "libreswan-pluto", []string{
			pl + `"cloud" #1: ISAKMP SA established {auth=PRESHARED_KEY cipher=AES_CBC_256 integ=HMAC_SHA2_256 group=MODP2048}`,
			pl + `"cloud" #1: DPD action - putting connection into hold`}, []string{kb.CodeDPDPeerDead}, ""},
		{"pluto DPD action clear", "libreswan-pluto", []string{
			pl + `"cloud" #1: DPD action - clearing connection`}, []string{kb.CodeDPDPeerDead}, ""},
		{"pluto DPD action restart", "libreswan-pluto", []string{
			pl + `"cloud" #1: DPD action - restarting all connections that share this peer`}, []string{kb.CodeDPDPeerDead}, ""},
		{"pluto Quick Mode NO_PROPOSAL_CHOSEN is phase 2 only", "libreswan-pluto", []string{
			pl + `"cloud" #1: initiating IKEv1 Main Mode connection`,
			pl + `"cloud" #1: ISAKMP SA established {auth=PRESHARED_KEY cipher=AES_CBC_256 integ=HMAC_SHA2_256 group=MODP2048}`,
			pl + `"cloud" #2: initiating Quick Mode IKEv1+PSK+ENCRYPT+TUNNEL+PFS+UP {using isakmp#1 msgid:7f2a1c3b proposal=AES_CBC-HMAC_SHA1_96 pfsgroup=MODP2048}`,
			pl + `"cloud" #1: ignoring secured informational payload NO_PROPOSAL_CHOSEN, msgid=7f2a1c3b, length=12`}, []string{kb.CodePhase2NoProposal}, ""},
		{"pluto NO_PROPOSAL_CHOSEN after ISAKMP SA established, no phase on the line", "libreswan-pluto", []string{
			pl + `"cloud" #1: ISAKMP SA established {auth=PRESHARED_KEY cipher=AES_CBC_256 integ=HMAC_SHA2_256 group=MODP2048}`,
			pl + `"cloud" #1: ignoring informational payload NO_PROPOSAL_CHOSEN, msgid=00000000, length=12`}, []string{kb.CodePhase2NoProposal}, ""},
		{"pluto NO_PROPOSAL_CHOSEN in a new Main Mode is phase 1", "libreswan-pluto", []string{
			pl + `"cloud" #1: ISAKMP SA established {auth=PRESHARED_KEY cipher=AES_CBC_256 integ=HMAC_SHA2_256 group=MODP2048}`,
			pl + `"cloud" #3: initiating IKEv1 Main Mode connection`,
			pl + `"cloud" #3: ignoring informational payload NO_PROPOSAL_CHOSEN, msgid=00000000, length=12`}, []string{kb.CodePhase1NoProposal}, ""},
		{"pluto established SA stops answering", "libreswan-pluto", []string{
			pl + `"cloud" #1: STATE_V2_ESTABLISHED_IKE_SA: 300 second timeout exceeded after 10 retransmits.  No response (or no acceptable response) to our IKEv2 message`}, []string{kb.CodeDPDPeerDead}, ""},
		{"pluto healthy lines", "libreswan-pluto", []string{
			pl + `"cloud" #1: initiating IKEv2 connection to 203.0.113.10 using UDP`,
			pl + `"cloud" #2: IPsec SA established tunnel mode {ESP=>0x1a2b3c4d <0x5e6f7a8b xfrm=AES_CBC_128-HMAC_SHA1_96 DPD=active}`}, nil, ""},

		// Cisco ASA.
		{"ASA 713123 lost contact (DPD)", "cisco-asa", []string{
			asa + "%ASA-4-713123: Group = 203.0.113.10, IP = 203.0.113.10, IKE lost contact with remote peer, deleting connection (keepalive type: DPD)"}, []string{kb.CodeDPDPeerDead}, ""},
		{"ASA IPsec proposals unacceptable", "cisco-asa", []string{
			asa + "%ASA-5-713119: Group = 203.0.113.10, IP = 203.0.113.10, PHASE 1 COMPLETED",
			asa + "%ASA-5-713904: IP = 203.0.113.10, All IPSec SA proposals found unacceptable!"}, []string{kb.CodePhase2NoProposal}, ""},
		{"ASA IKEv2 crypto map policy not found (751022)", "cisco-asa", []string{
			asa + "%ASA-3-751022: Local:198.51.100.2:500 Remote:203.0.113.10:500 Username:203.0.113.10 IKEv2 Tunnel rejected: Crypto Map Policy not found for remote traffic selector 10.0.0.0/255.255.0.0/0/0 local traffic selector 192.168.10.0/255.255.255.0/0/0!"}, []string{kb.CodeTSUnacceptable}, ""},
		{"ASA IKEv2 negotiation aborted, no matching policy (750003)", "cisco-asa", []string{
			asa + "%ASA-5-750003: Local:198.51.100.2:500 Remote:203.0.113.10:500 Username:203.0.113.10 IKEv2 Negotiation aborted due to ERROR: Failed to find a matching policy"}, []string{kb.CodePhase1NoProposal}, ""},
		{"ASA idle timeout (113019)", "cisco-asa", []string{
			asa + "%ASA-4-113019: Group = 203.0.113.10, Username = 203.0.113.10, IP = 203.0.113.10, Session disconnected. Session Type: LAN-to-LAN, Duration: 0h:30m:02s, Bytes xmt: 1234, Bytes rcv: 5678, Reason: Idle Timeout"}, []string{kb.CodeIdleClose}, ""},
		{"ASA duplicate phase 1 packets (713201)", "cisco-asa", []string{
			asa + "%ASA-5-713201: IP = 203.0.113.10, Duplicate Phase 1 packet detected.  Retransmitting last packet.",
			asa + "%ASA-5-713201: IP = 203.0.113.10, Duplicate Phase 1 packet detected.  Retransmitting last packet."}, []string{kb.CodeIKEHalfOpen}, ""},
		{"ASA IKEv2 no preshared key for the tunnel group (751002)", "cisco-asa", []string{
			asa + "%ASA-3-751002: Local:198.51.100.2:500 Remote:203.0.113.10:500 Username:203.0.113.10 No preshared key or trustpoint configured for self in tunnel group 203.0.113.10"}, []string{kb.CodeAuthFailed}, ""},
		{"ASA encrypted packets for an SA gone here", "cisco-asa", []string{
			asa + "%ASA-4-713903: IP = 203.0.113.10, Received encrypted packet with no matching SA, dropping",
			asa + "%ASA-4-713903: IP = 203.0.113.10, Received encrypted packet with no matching SA, dropping",
			asa + "%ASA-4-713903: IP = 203.0.113.10, Received encrypted packet with no matching SA, dropping"}, []string{kb.CodeIKEHalfOpen}, ""},
		{"ASA healthy lines", "cisco-asa", []string{
			asa + "%ASA-5-713119: Group = 203.0.113.10, IP = 203.0.113.10, PHASE 1 COMPLETED",
			asa + "%ASA-5-713120: Group = 203.0.113.10, IP = 203.0.113.10, PHASE 2 COMPLETED (msgid=2c44baec)"}, nil, ""},

		// Cisco IOS.
		{"IOS IKE packet not encrypted (PSK mismatch)", "cisco-ios", []string{
			ios + "%CRYPTO-6-IKMP_NOT_ENCRYPTED: IKE packet from 203.0.113.10 was not encrypted and it should've been."}, []string{kb.CodeAuthFailed}, ""},
		{"IOS IKE messages for an SA gone here", "cisco-ios", []string{
			ios + "%CRYPTO-4-IKMP_NO_SA: IKE message from 203.0.113.10 has no SA and is not an initialization offer",
			ios + "%CRYPTO-4-IKMP_NO_SA: IKE message from 203.0.113.10 has no SA and is not an initialization offer",
			ios + "%CRYPTO-4-IKMP_NO_SA: IKE message from 203.0.113.10 has no SA and is not an initialization offer"}, []string{kb.CodeIKEHalfOpen}, ""},
		{"IOS one invalid SPI is transient", "cisco-ios", []string{
			ios + "%CRYPTO-4-RECVD_PKT_INV_SPI: decaps: rec'd IPSEC packet has invalid spi for destaddr=198.51.100.2, prot=50, spi=0xEFA48265(4020535909), srcaddr=203.0.113.10"}, nil, ""},
		{"IOS phase 1 offers refused", "cisco-ios", []string{
			ios + "ISAKMP:(0):atts are not acceptable. Next payload is 0",
			ios + "ISAKMP:(0):no offers accepted!"}, []string{kb.CodePhase1NoProposal}, ""},
		{"IOS phase 2 policy refused", "cisco-ios", []string{
			ios + "ISAKMP:(1001):phase 2 SA policy not acceptable! (local 198.51.100.2 remote 203.0.113.10)"}, []string{kb.CodePhase2NoProposal}, ""},
		{"IOS session up", "cisco-ios", []string{
			ios + "%CRYPTO-5-SESSION_STATUS: Crypto tunnel is UP  .  Peer 203.0.113.10:500       Id: 203.0.113.10"}, nil, ""},

		// Juniper kmd.
		{"Junos traffic selector mismatch", "juniper-kmd", []string{
			kmd + "KMD_VPN_TS_MISMATCH: Traffic-selector mismatch, vpn name: to-cloud, Peer Proposed traffic-selector local-ip: ipv4(10.0.0.0/16), Peer Proposed traffic-selector remote-ip: ipv4(192.168.10.0/24)"}, []string{kb.CodeTSUnacceptable}, ""},
		{"Junos IKE negotiation failed: no proposal", "juniper-kmd", []string{
			kmd + "IKE negotiation failed with error: No proposal chosen. IKE Version: 2, VPN: to-cloud Gateway: gw-cloud, Local: 198.51.100.2/500, Remote: 203.0.113.10/500, Local IKE-ID: Not-Available, Remote IKE-ID: Not-Available, VR-ID: 0, Role: Initiator"}, []string{kb.CodePhase1NoProposal}, ""},
		{"Junos IKE negotiation failed: authentication", "juniper-kmd", []string{
			kmd + "IKE negotiation failed with error: Authentication failed. IKE Version: 2, VPN: to-cloud Gateway: gw-cloud, Local: 198.51.100.2/500, Remote: 203.0.113.10/500, Local IKE-ID: 198.51.100.2, Remote IKE-ID: 203.0.113.10, VR-ID: 0, Role: Initiator"}, []string{kb.CodeAuthFailed}, ""},
		{"Junos IKE negotiation failed: timed out", "juniper-kmd", []string{
			kmd + "IKE negotiation failed with error: Timed out. IKE Version: 1, VPN: to-cloud Gateway: gw-cloud, Local: 198.51.100.2/500, Remote: 203.0.113.10/500, Local IKE-ID: Not-Available, Remote IKE-ID: Not-Available, VR-ID: 0, Role: Initiator"}, []string{kb.CodeIKENoResponse}, ""},
		{"Junos DPD peer down", "juniper-kmd", []string{
			kmd + "KMD_DPD_PEER_DOWN: DPD detected peer 203.0.113.10 is dead"}, []string{kb.CodeDPDPeerDead}, ""},
		{"Junos SA established and VPN up", "juniper-kmd", []string{
			kmd + "KMD_PM_SA_ESTABLISHED: Local gateway: 198.51.100.2, Remote gateway: 203.0.113.10, Local ID: ipv4_subnet(any:0,[0..7]=10.0.0.0/16), Remote ID: ipv4_subnet(any:0,[0..7]=192.168.10.0/24), Direction: inbound, SPI: 0x1a2b3c4d, AUX-SPI: 0, Mode: Tunnel, Type: dynamic",
			kmd + "KMD_VPN_UP_ALARM_USER: VPN to-cloud from 203.0.113.10 is up. Local-ip: 198.51.100.2, gateway name: gw-cloud, vpn name: to-cloud, tunnel-id: 131073"}, nil, ""},

		// FortiGate event log.
		{"FortiGate probable pre-shared secret mismatch", "fortigate-event", []string{
			fmt.Sprintf(fgt, "0101037124", "IPsec phase 1 error", "IPsec phase 1 error", "negotiate", "negotiate_error", "probable pre-shared secret mismatch")}, []string{kb.CodeAuthFailed}, ""},
		{"FortiGate phase 2 proposal", "fortigate-event", []string{
			fmt.Sprintf(fgt, "0101037123", "IPsec phase 2 error", "IPsec phase 2 error", "negotiate", "negotiate_error", "peer SA proposal not match local policy")}, []string{kb.CodePhase2NoProposal}, ""},
		{"FortiGate DPD failure", "fortigate-event", []string{
			fmt.Sprintf(fgt, "0101037136", "IPsec DPD failed", "IPsec DPD failure", "dpd", "dpd_failure", "N/A")}, []string{kb.CodeDPDPeerDead}, ""},
		{"FortiGate tunnel up", "fortigate-event", []string{
			fmt.Sprintf(fgt, "0101037138", "IPsec connection status changed", "IPsec connection status change", "tunnel-up", "N/A", "N/A")}, nil, ""},

		// PAN-OS system log: the show log system table and the syslog CSV.
		{"PAN-OS proxy ID mismatch (show log system)", "paloalto", []string{
			"2024/03/04 10:11:12 info     vpn     gw-cloud  ike-nego-p2-fail 0  IKE phase-2 negotiation failed when processing Proxy ID. Received local id 10.0.0.0/16 type IPv4 address protocol 0 port 0, received remote id 192.168.10.0/24 type IPv4 address protocol 0 port 0."}, []string{kb.CodeTSUnacceptable}, ""},
		{"PAN-OS phase 1 time-out (syslog CSV)", "paloalto", []string{
			`<14>Mar  4 10:11:12 PA-VM 1,2024/03/04 10:11:12,007200001234,SYSTEM,vpn,0,2024/03/04 10:11:12,,ike-nego-p1-fail,gw-cloud,0,0,general,informational,"IKE phase-1 negotiation is failed as initiator, main mode. Failed SA: 198.51.100.2[500]-203.0.113.10[500] cookie:1a2b3c4d5e6f7a8b:0000000000000000. Due to timeout.",1234,0x0,0,0,0,0,,PA-VM`}, []string{kb.CodeIKENoResponse}, ""},
		{"PAN-OS INVALID-ID-INFORMATION (syslog CSV)", "paloalto", []string{
			`<14>Mar  4 10:11:12 PA-VM 1,2024/03/04 10:11:12,007200001234,SYSTEM,vpn,0,2024/03/04 10:11:12,,ike-generic-event,gw-cloud,0,0,general,informational,"IKE protocol notification message received: INVALID-ID-INFORMATION (18).",1235,0x0,0,0,0,0,,PA-VM`}, []string{kb.CodeTSUnacceptable}, ""},
		{"PAN-OS ikemgr authentication failure", "paloalto", []string{
			"2025-01-22 17:26:22.690 -0800  [PNTF]: { 1: }: ====> Initiating IKEv2 SA negotiation <====",
			"2025-01-22 17:26:22.700 -0800  [PERR]: { 1: }: 198.51.100.2[500] - 203.0.113.10[500]:0x7fa610013da0 authentication failure"}, []string{kb.CodeAuthFailed}, ""},
		{"PAN-OS phase 1 succeeded", "paloalto", []string{
			"2024/03/04 10:11:12 info     vpn     gw-cloud  ike-nego-p1-succ 0  IKE phase-1 negotiation is succeeded as initiator, main mode. Established SA: 198.51.100.2[500]-203.0.113.10[500] cookie:1a2b:3c4d lifetime 28800 Sec."}, nil, ""},

		// Relayed through syslog servers: RFC 5424 and RFC 3164 prefixes.
		{"RFC 5424 relay in front of charon", "strongswan-charon", []string{
			"<134>1 2024-03-04T10:11:12.345Z relay01.example.net charon 1234 - - 13[IKE] <cloud|1> received AUTHENTICATION_FAILED notify error",
			"<134>1 2024-03-04T10:11:13.345Z relay01.example.net charon 1234 - - 13[IKE] <cloud|1> IKE_SA cloud[1] state change: CONNECTING => DESTROYING"}, []string{kb.CodeAuthFailed}, ""},
		{"RFC 3164 relay with an address and a sequence number in front of the ASA", "cisco-asa", []string{
			"<166>Mar  4 10:11:12 10.20.30.40 1523: Mar 04 2024 10:11:12: %ASA-4-713123: Group = 203.0.113.10, IP = 203.0.113.10, IKE lost contact with remote peer, deleting connection (keepalive type: DPD)"}, []string{kb.CodeDPDPeerDead}, ""},
		{"relay host in front of Junos kmd", "juniper-kmd", []string{
			"Mar  4 10:11:12 relay01 Mar  4 10:11:12 srx01 kmd[1790]: KMD_VPN_TS_MISMATCH: Traffic-selector mismatch, vpn name: to-cloud, Peer Proposed traffic-selector local-ip: ipv4(10.0.0.0/16), Peer Proposed traffic-selector remote-ip: ipv4(192.168.10.0/24)"}, []string{kb.CodeTSUnacceptable}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := MustAnalyze(t, "device.log", []byte(strings.Join(tt.lines, "\n")+"\n"))
			got := codes(r)
			want := slices.Clone(tt.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				for _, f := range r.Findings {
					t.Logf("%s %s", f.Code, f.Summary)
				}
				t.Errorf("codes %v, want %v", got, want)
			}
			if r.Family != tt.family {
				t.Errorf("family %q, want %q", r.Family, tt.family)
			}
			if fam, _ := logs.DetectFamily([]byte(strings.Join(tt.lines, "\n"))); fam != tt.family {
				t.Errorf("DetectFamily %q, want %q", fam, tt.family)
			}
			if tt.text != "" && (len(r.Findings) == 0 || !strings.Contains(r.Findings[0].Summary, tt.text)) {
				t.Errorf("first finding does not say %q: %v", tt.text, r.Findings)
			}
			for _, f := range r.Findings {
				if f.KBArticle == "" || f.Fix == "" || f.Detail == "" || len(f.Evidence) == 0 || f.Evidence[0].Line == 0 {
					t.Errorf("finding %s lacks article, fix, detail or a cited line", f.Code)
				}
			}
		})
	}
}

// TestRekeyRefusedNamesNoProposal: the rekey-failed finding of a refused
// rekey says why.
func TestRekeyRefusedNamesNoProposal(t *testing.T) {
	const cs = "Mar  4 10:11:12 gw charon: "
	r := MustAnalyze(t, "charon.log", []byte(strings.Join([]string{
		cs + "05[ENC] <cloud|1> generating CREATE_CHILD_SA request 2 [ N(REKEY_SA) SA No KE TSi TSr ]",
		cs + "06[IKE] <cloud|1> received NO_PROPOSAL_CHOSEN notify, no CHILD_SA built",
		cs + "06[IKE] <cloud|1> failed to establish CHILD_SA, keeping IKE_SA",
	}, "\n")+"\n"))
	for _, f := range r.Findings {
		if f.Code == kb.CodeRekeyFailed && !strings.Contains(f.Summary, "NO_PROPOSAL_CHOSEN") {
			t.Errorf("rekey-failed does not name NO_PROPOSAL_CHOSEN: %s", f.Summary)
		}
	}
	if !slices.Contains(codes(r), kb.CodeRekeyFailed) {
		t.Errorf("no rekey-failed: %v", codes(r))
	}
}

// TestPeriodicDropsAnyPeriod finds drops of periods from 30 s to hours,
// from up/down lines, a peer's DELETE and DPD, with the period in the
// finding; a DELETE that ends a rekey is not a drop.
func TestPeriodicDropsAnyPeriod(t *testing.T) {
	start := time.Date(0, 3, 4, 8, 0, 3, 0, time.UTC)
	syslog := func(t time.Time) string { return t.Format("Jan _2 15:04:05") }
	tests := []struct {
		name    string
		every   time.Duration
		n       int
		line    func(at time.Time, i int) []string
		period  time.Duration // 0: no periodic drop expected
		summary string
	}{
		{"IOS session down every hour through a relay", time.Hour, 5, func(at time.Time, i int) []string {
			return []string{fmt.Sprintf("%s 10.0.0.1 %d: %06d: *%s.123: %%CRYPTO-5-SESSION_STATUS: Crypto tunnel is DOWN. Peer 203.0.113.10:500  Id: 203.0.113.10", syslog(at), 100+i, 200+i, syslog(at.Add(-time.Second)))}
		}, time.Hour, "5 drops, every 60 min ± 1 min"},
		{"a peer's DELETE every 45 s", 45 * time.Second, 6, func(at time.Time, i int) []string {
			return []string{
				fmt.Sprintf("%s gw charon: 10[IKE] <cloud|1> received DELETE for ESP CHILD_SA with SPI c5d6e7f%d", syslog(at), i),
				fmt.Sprintf("%s gw charon: 10[IKE] <cloud|1> closing CHILD_SA cloud{%d} with SPIs c1a2b3c4_i (0 bytes) c5d6e7f8_o (0 bytes) and TS 10.0.0.0/16 === 192.168.10.0/24", syslog(at), i),
			}
		}, 45 * time.Second, "6 drops, every 45 s"},
		{"FortiGate tunnel down every 30 min", 30 * time.Minute, 4, func(at time.Time, i int) []string {
			return []string{fmt.Sprintf(`date=2024-03-04 time=%s logid="0101037138" type="event" subtype="vpn" level="notice" logdesc="IPsec connection status changed" msg="IPsec connection status change" action="tunnel-down" remip=203.0.113.10 vpntunnel="to-cloud"`, at.Format("15:04:05"))}
		}, 30 * time.Minute, "4 drops, every 30 min"},
		{"DPD deaths every 2 min", 2 * time.Minute, 5, func(at time.Time, i int) []string {
			return []string{fmt.Sprintf(`%s gw pluto[812]: "cloud" #%d: DPD action - putting connection into hold`, syslog(at), i)}
		}, 2 * time.Minute, "every 2 min"},
		{"DELETE right after each hourly rekey is no drop", time.Hour, 5, func(at time.Time, i int) []string {
			return []string{
				fmt.Sprintf("%s gw charon: 09[ENC] <cloud|1> parsed CREATE_CHILD_SA request %d [ N(REKEY_SA) SA No KE TSi TSr ]", syslog(at), i),
				fmt.Sprintf("%s gw charon: 09[IKE] <cloud|1> CHILD_SA cloud{%d} established with SPIs c1_i c2_o and TS 10.0.0.0/16 === 192.168.10.0/24", syslog(at), i+2),
				fmt.Sprintf("%s gw charon: 10[IKE] <cloud|1> received DELETE for ESP CHILD_SA with SPI c5d6e7f%d", syslog(at.Add(time.Second)), i),
			}
		}, 0, ""},
		{"drops every 20 s are below the shortest period", 20 * time.Second, 6, func(at time.Time, i int) []string {
			return []string{fmt.Sprintf(`%s gw pluto[812]: "cloud" #%d: DPD action - clearing connection`, syslog(at), i)}
		}, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			for i := 0; i < tt.n; i++ {
				at := start.Add(time.Duration(i) * tt.every)
				if i%2 == 1 {
					at = at.Add(tt.every / 60) // not exactly regular
				}
				for _, l := range tt.line(at, i) {
					b.WriteString(l + "\n")
				}
			}
			r := MustAnalyze(t, "drops.log", []byte(b.String()))
			var summary string
			for _, f := range r.Findings {
				if f.Code == kb.CodePeriodicDrop {
					summary = f.Summary
				}
			}
			if tt.period == 0 {
				if summary != "" {
					t.Errorf("periodic drop reported: %s", summary)
				}
				return
			}
			if summary == "" {
				t.Fatalf("no periodic-drop finding: %v", codes(r))
			}
			if d := r.DropPeriod - tt.period; d < -tt.period/20 || d > tt.period/20 {
				t.Errorf("period %s, want %s", r.DropPeriod, tt.period)
			}
			if !strings.Contains(summary, tt.summary) || !strings.Contains(summary, "±") {
				t.Errorf("summary %q does not say %q ± …", summary, tt.summary)
			}
		})
	}
}

// TestRelayTimestamps reads the time of a line behind a syslog relay's
// prefix.
func TestRelayTimestamps(t *testing.T) {
	tests := []struct{ line, want string }{
		{"<134>1 2024-03-04T10:11:12.345Z relay01 charon 1234 - - 13[IKE] x", "2024-03-04 10:11:12"},
		{"<166>Mar  4 10:11:12 10.20.30.40 1523: Mar 04 2024 10:11:12: %ASA-4-713123: x", "0000-03-04 10:11:12"},
		{"000123: *Mar  4 10:11:12.345: %CRYPTO-5-SESSION_STATUS: x", "0000-03-04 10:11:12"},
		{"relay01 1,2024/03/04 10:11:12,007200001234,SYSTEM,vpn,0", "2024-03-04 10:11:12"},
		{"123: no time at all in this line", ""},
	}
	for _, tt := range tests {
		ts, ok := logs.Timestamp([]byte(tt.line))
		got := ""
		if ok {
			got = ts.Format("2006-01-02 15:04:05")
		}
		if got != tt.want {
			t.Errorf("%q: %q, want %q", tt.line, got, tt.want)
		}
	}
}
