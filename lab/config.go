package lab

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Gateway names one of the lab's two strongSwan gateways.
type Gateway string

const (
	// CustomerGateway is the customer's VPN device: it initiates.
	CustomerGateway Gateway = "cgw"
	// CloudGateway is the cloud VPN endpoint: responder only, DPD on.
	CloudGateway Gateway = "cld"
)

// strongswanConf renders a gateway's strongswan.conf: only the plugins the
// lab needs (kernel-libipsec for userspace ESP; no resolve plugin, which
// would rewrite the host's resolv.conf), shortened retransmits, a vici
// socket and a log file in the gateway's run directory.
func strongswanConf(dir string) string {
	return fmt.Sprintf(`# strongswan.conf of a vpndiag lab gateway; charon runs with STRONGSWAN_CONF pointing here.
charon {
	load = random nonce openssl aes sha1 sha2 hmac kdf gmp curve25519 kernel-libipsec kernel-netlink socket-default vici
	# Shortened for the lab: a dead peer is given up after about 7 s
	# (1 + 1.4 + 1.96 + 2.74 s) instead of about 165 s.
	retransmit_timeout = 1.0
	retransmit_base = 1.4
	retransmit_tries = 3
	plugins {
		vici {
			socket = unix://%[1]s/charon.vici
		}
	}
	syslog {
		daemon {
			default = -1
		}
	}
	filelog {
		lab {
			path = %[1]s/charon.log
			time_format = %%Y-%%m-%%dT%%H:%%M:%%S
			ike_name = yes
			append = yes
			flush_line = yes
			default = 1
			knl = 0
		}
	}
}
`, dir)
}

// confState is what the rendered configurations depend on.
type confState struct {
	psk         string
	faults      map[string]bool
	dpdDelay    time.Duration
	idleTimeout time.Duration
	dropPeriod  time.Duration
}

func secs(d time.Duration) string { return fmt.Sprintf("%ds", int(d/time.Second)) }

// customerSwanctl renders the customer gateway's swanctl.conf: IKEv2,
// IKE lifetime 28800 s, child SA 3600 s rekeyed at 51 min, PFS, UDP
// encapsulation forced (libipsec sends ESP only in UDP 4500).
func customerSwanctl(s confState) string {
	var b strings.Builder
	psk := s.psk
	if s.faults[FaultPSKMismatch] {
		psk = "mistyped-" + s.psk
	}
	ikeProposal := "aes256-sha256-modp2048"
	if s.faults[FaultIKEProposalMismatch] {
		ikeProposal = "aes128-sha1-modp1024"
	}
	espProposal := "aes256-sha256-modp2048"
	if s.faults[FaultPFSMismatch] {
		espProposal = "aes256-sha256-modp3072"
	}
	if s.faults[FaultPFSDisabled] {
		espProposal = "aes256-sha256"
	}
	localTS := CustomerCIDR
	if s.faults[FaultRangeChanged] {
		localTS = CustomerSecondCIDR
	}
	startAction, closeAction := "start", "start"
	if s.faults[FaultCustomerNeverInitiates] {
		startAction, closeAction = "trap", "trap"
	}
	if s.faults[FaultPeriodicDrop] {
		closeAction = "trap"
	}
	inactivity := ""
	if s.faults[FaultIdleClose] {
		inactivity = "\t\t\t\tinactivity = " + secs(s.idleTimeout) + "\n"
		closeAction = "none"
	}
	fmt.Fprintf(&b, `# swanctl.conf of the customer VPN gateway (vpndiag lab)
connections {
	%[1]s {
		version = 2
		local_addrs = %[2]s
		remote_addrs = %[3]s
		proposals = %[4]s
		rekey_time = %[5]s
		encap = yes
		mobike = no
		keyingtries = 0
%[6]s		children {
`, CustomerConn, CustomerGWAddr, CloudGWAddr, ikeProposal, secs(ikeLifetime), pskPeers(CustomerGWAddr, CloudGWAddr))
	child := func(name string, localTS netip.Prefix, startAction, closeAction, extra string) {
		fmt.Fprintf(&b, `			%[1]s {
				local_ts = %[2]s
				remote_ts = %[3]s
				esp_proposals = %[4]s
				rekey_time = %[5]s
				life_time = %[6]s
				start_action = %[7]s
				close_action = %[8]s
%[9]s			}
`, name, localTS, CloudCIDR, espProposal, secs(childRekey), secs(childLifetime), startAction, closeAction, extra)
	}
	child(CustomerChild, localTS, startAction, closeAction, inactivity)
	if s.faults[FaultTSMismatch] {
		child(SecondChild, CustomerSecondCIDR, "start", "start", "")
	}
	b.WriteString("\t\t}\n\t}\n}\n" + pskSecret("ike-cloud", CustomerGWAddr, CloudGWAddr, psk))
	return b.String()
}

// cloudSwanctl renders the cloud gateway's swanctl.conf: a responder that
// never initiates (no start action, no rekeying of its own: the customer
// rekeys), DPD on.
func cloudSwanctl(s confState) string {
	childLife := childLifetime
	extra := ""
	if s.faults[FaultPeriodicDrop] {
		// Scaled down; the lab ends each CHILD_SA at DropPeriod, before this
		// hard lifetime, because strongSwan would re-create a CHILD_SA
		// itself after its hard expiry, which a responder must not do.
		childLife = s.dropPeriod + 5*time.Second
	}
	if s.faults[FaultCustomerNeverInitiates] {
		extra = "\t\t\t\tinactivity = " + secs(s.idleTimeout) + "\n"
	}
	return fmt.Sprintf(`# swanctl.conf of the cloud VPN gateway (vpndiag lab): responder only
connections {
	%[1]s {
		version = 2
		local_addrs = %[2]s
		remote_addrs = %[3]s
		proposals = aes256-sha256-modp2048
		# Never rekeys nor reauthenticates itself: the customer does (IKE lifetime %[4]s).
		rekey_time = 0s
		dpd_delay = %[5]s
		encap = yes
		mobike = no
		unique = replace
%[12]s		children {
			%[6]s {
				local_ts = %[7]s
				remote_ts = %[8]s
				esp_proposals = aes256-sha256-modp2048
				rekey_time = 0s
				life_time = %[9]s
				dpd_action = clear
				start_action = none
				close_action = none
%[10]s			}
		}
	}
}
%[11]s`, CloudConn, CloudGWAddr, CustomerGWAddr, secs(ikeLifetime), secs(s.dpdDelay), CloudChild, CloudCIDR, CustomerCIDR,
		secs(childLife), extra, pskSecret("ike-customer", CloudGWAddr, CustomerGWAddr, s.psk), pskPeers(CloudGWAddr, CustomerGWAddr))
}

// cloudDNSConf renders the cloud DNS server's dnsmasq configuration: it is
// authoritative for the cloud domain and forwards nothing.
func cloudDNSConf(dir string) string {
	return dnsmasqConf("cloud DNS server", CloudDNSAddr, dir, fmt.Sprintf(`local=/%[1]s/
host-record=%[2]s,%[3]s
host-record=dns.%[1]s,%[4]s
`, CloudDomain, FrontEndFQDN, FrontEndAddr, CloudDNSAddr))
}

// resolverConf renders the customer's internal resolver: with the
// conditional forwarder it sends the cloud domain to the cloud DNS server;
// without it, it answers the environment's public address.
func resolverConf(dir string, forwarder bool) string {
	rule := fmt.Sprintf("# conditional forwarder for the cloud domain\nserver=/%s/%s\n", CloudDomain, CloudDNSAddr)
	if !forwarder {
		rule = fmt.Sprintf("# no conditional forwarder: the public answer\naddress=/%s/%s\n", FrontEndFQDN, FrontEndPublicAddr)
	}
	return dnsmasqConf("customer internal resolver", ResolverAddr, dir, rule)
}

// dnsmasqConf renders a lab dnsmasq configuration: only its own records
// (no resolv.conf, no hosts file), listening on listen only, with its pid
// and query log in dir, then rules.
func dnsmasqConf(what string, listen netip.Addr, dir, rules string) string {
	return fmt.Sprintf(`# dnsmasq: %[1]s (vpndiag lab)
no-resolv
no-hosts
bind-interfaces
listen-address=%[2]s
user=root
pid-file=%[3]s/dnsmasq.pid
log-facility=%[3]s/dnsmasq.log
log-queries
%[4]s`, what, listen, dir, rules)
}

// pskPeers renders a connection's local and remote sections: PSK
// authentication, each side identified by its address.
func pskPeers(local, remote netip.Addr) string {
	return fmt.Sprintf(`		local {
			auth = psk
			id = %s
		}
		remote {
			auth = psk
			id = %s
		}
`, local, remote)
}

// pskSecret renders the secrets section holding the PSK of the two
// addresses.
func pskSecret(name string, id1, id2 netip.Addr, psk string) string {
	return fmt.Sprintf(`secrets {
	%s {
		id-1 = %s
		id-2 = %s
		secret = "%s"
	}
}
`, name, id1, id2, psk)
}
