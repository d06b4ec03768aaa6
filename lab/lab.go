// Package lab runs a real IPsec site-to-site VPN in network namespaces, so
// that vpndiag's flows, probes and analysers can be tested against the real
// thing, with faults injected by name.
//
// The topology (all in namespaces whose names start with the lab's unique
// prefix; nothing is connected to the host's network):
//
//	lan  192.168.10.10 (+192.168.20.10)  customer LAN host, where the relay runs
//	res  192.168.10.53                   customer internal resolver (dnsmasq, conditional forwarder)
//	cgw  192.168.10.1 | 198.51.100.2     customer VPN gateway (charon, initiator)
//	path 198.51.100.1 | 203.0.113.1      the Internet between them; faults use nftables here
//	cld  203.0.113.10 | 10.100.0.1       cloud VPN gateway (charon, responder only)
//	dns  10.100.0.10                     cloud DNS server (dnsmasq); answers ping
//	fe   10.100.0.20                     cloud front-end: TCP 443 (TLS) and 80; drops ICMP
//
// Both gateways run strongSwan's charon with the kernel-libipsec plugin
// (userspace ESP over a TUN device, always encapsulated in UDP 4500), one
// charon per namespace with its own strongswan.conf, vici socket and log.
package lab

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"time"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/kb"
)

// The lab's fixed addresses. They exist only inside the lab's namespaces;
// every instance uses the same ones, isolated by its namespaces.
var (
	// LANHostAddr is the customer LAN host, where the relay runs.
	LANHostAddr = netip.MustParseAddr("192.168.10.10")
	// LANHostSecondAddr is the LAN host's address in the customer's second
	// subnet, which only the ts-mismatch fault proposes to the cloud.
	LANHostSecondAddr = netip.MustParseAddr("192.168.20.10")
	// ResolverAddr is the customer's internal DNS resolver.
	ResolverAddr = netip.MustParseAddr("192.168.10.53")
	// CustomerGWLANAddr is the customer gateway's LAN address, the LAN's default route.
	CustomerGWLANAddr = netip.MustParseAddr("192.168.10.1")
	// CustomerGWAddr is the customer gateway's public address (its IKE peer address).
	CustomerGWAddr = netip.MustParseAddr("198.51.100.2")
	// CloudGWAddr is the cloud VPN endpoint's public address.
	CloudGWAddr = netip.MustParseAddr("203.0.113.10")
	// OldCloudGWAddr is a cloud VPN endpoint address no longer in use: the
	// wrong-peer-address fault points the customer at it. Nothing answers
	// there.
	OldCloudGWAddr = netip.MustParseAddr("203.0.113.11")
	// CloudDNSAddr is the cloud DNS server, the only cloud host that answers ping.
	CloudDNSAddr = netip.MustParseAddr("10.100.0.10")
	// FrontEndAddr is the environment front-end (internal load balancer).
	FrontEndAddr = netip.MustParseAddr("10.100.0.20")
	// FrontEndPublicAddr is what the environment FQDN resolves to publicly:
	// the answer a resolver without the conditional forwarder gives. Nothing
	// answers there.
	FrontEndPublicAddr = netip.MustParseAddr("203.0.113.80")
	// CustomerCIDR is the customer's range agreed with the cloud.
	CustomerCIDR = netip.MustParsePrefix("192.168.10.0/24")
	// CustomerSecondCIDR is the customer's second subnet (ts-mismatch).
	CustomerSecondCIDR = netip.MustParsePrefix("192.168.20.0/24")
	// CloudCIDR is the cloud's internal range.
	CloudCIDR = netip.MustParsePrefix("10.100.0.0/16")
)

// Names used by the lab's DNS and strongSwan configurations.
const (
	// CloudDomain is the domain the conditional forwarder sends to the cloud DNS.
	CloudDomain = "vpnlab.example"
	// FrontEndFQDN is the environment's name; privately it resolves to FrontEndAddr.
	FrontEndFQDN = "prod." + CloudDomain
	// CustomerConn and CustomerChild name the customer gateway's connection
	// and CHILD_SA in swanctl.conf and in its charon log.
	CustomerConn  = "customer"
	CustomerChild = "customer"
	// CustomerFQDNID is the IKE identity the id-mismatch fault gives the
	// customer gateway instead of its address, which the cloud expects.
	CustomerFQDNID = "vpn.customer.example"
	// SecondChild is the customer's second CHILD_SA (ts-mismatch only).
	SecondChild = "second"
	// CloudConn and CloudChild name the cloud gateway's connection and child.
	CloudConn  = "cloud"
	CloudChild = "cloud"
)

// Namespaces are the lab's network namespace names.
type Namespaces struct {
	LAN        string // customer LAN host (relay)
	Resolver   string // customer internal resolver
	CustomerGW string // customer VPN gateway
	Path       string // router between the gateways, where faults are injected
	CloudGW    string // cloud VPN gateway (responder only)
	DNS        string // cloud DNS server
	FrontEnd   string // cloud front-end
}

// All lists the namespaces in creation order.
func (n Namespaces) All() []string {
	return []string{n.LAN, n.Resolver, n.CustomerGW, n.Path, n.CloudGW, n.DNS, n.FrontEnd}
}

// namespacesFor derives the namespace names from a prefix.
func namespacesFor(prefix string) Namespaces {
	return Namespaces{
		LAN: prefix + "-lan", Resolver: prefix + "-res", CustomerGW: prefix + "-cgw", Path: prefix + "-path",
		CloudGW: prefix + "-cld", DNS: prefix + "-dns", FrontEnd: prefix + "-fe",
	}
}

// Options configure a lab.
type Options struct {
	// Name is the lab's unique prefix for namespaces; empty picks "vl" and
	// six random hex digits. It must be 2–10 characters of [a-z0-9].
	Name string
	// Dir is the run directory for configs, logs, sockets and state; empty
	// means a directory the caller provides (Up uses tb.TempDir(); the
	// vpnlab command uses /run/vpndiag-lab/NAME).
	Dir string
	// PSK is the pre-shared key both gateways share; empty picks a random one.
	PSK string
	// DPDDelay is the cloud's dead peer detection interval; 0 means 10 s.
	DPDDelay time.Duration
	// IdleTimeout is how long an idle CHILD_SA lives while the
	// customer-never-initiates fault (the cloud closes it) or the idle-close
	// fault (the customer closes it) is on; 0 means 20 s.
	IdleTimeout time.Duration
	// DropPeriod is the interval of the periodic-drop fault; 0 means 20 s.
	DropPeriod time.Duration
	// Logf receives progress lines; nil discards them.
	Logf func(format string, args ...any)
}

func (o *Options) setDefaults() error {
	if o.Name == "" {
		b := make([]byte, 3)
		if _, err := rand.Read(b); err != nil {
			return fmt.Errorf("lab name: %w", err)
		}
		o.Name = "vl" + hex.EncodeToString(b)
	}
	if err := ValidName(o.Name); err != nil {
		return err
	}
	if o.PSK == "" {
		b := make([]byte, 16)
		if _, err := rand.Read(b); err != nil {
			return fmt.Errorf("lab psk: %w", err)
		}
		o.PSK = "lab-" + hex.EncodeToString(b)
	}
	if o.DPDDelay <= 0 {
		o.DPDDelay = 10 * time.Second
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 20 * time.Second
	}
	if o.DropPeriod <= 0 {
		o.DropPeriod = 20 * time.Second
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	return nil
}

// ValidName reports whether name can prefix the lab's namespaces: 2 to 10
// characters of lower-case letters and digits, starting with a letter.
func ValidName(name string) error {
	if len(name) < 2 || len(name) > 10 {
		return vpndiag.Errorf(vpndiag.EINVALID, "Lab name %q must be 2 to 10 characters long.", name)
	}
	for i, r := range name {
		if !(r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9') {
			return vpndiag.Errorf(vpndiag.EINVALID, "Lab name %q must be lower-case letters and digits, starting with a letter.", name)
		}
	}
	return nil
}

// Requirements returns an error naming what is missing to run a lab on this
// machine (root, the packages of lab/packages.txt), or nil.
func Requirements() error {
	var missing []string
	for _, bin := range []string{"ip", "nft", "dnsmasq", "swanctl", "ping"} {
		if _, err := exec.LookPath(bin); err != nil {
			missing = append(missing, bin)
		}
	}
	if _, err := exec.LookPath(charonPath); err != nil {
		missing = append(missing, charonPath)
	}
	var probs []string
	if !isRoot() {
		probs = append(probs, "it must run as root (network namespaces)")
	}
	if len(missing) > 0 {
		probs = append(probs, "missing "+strings.Join(missing, ", "))
	}
	if len(probs) == 0 {
		return nil
	}
	return fmt.Errorf("the VPN lab cannot run: %s; install the packages in lab/packages.txt "+
		"(apt-get install -y $(cat lab/packages.txt)) and run as root", strings.Join(probs, "; "))
}

// Site is the site profile describing the lab, as a customer would have it
// provisioned.
func Site(name string) *vpndiag.Site {
	return &vpndiag.Site{
		Name:              "lab-" + name,
		CloudDNSServers:   []netip.Addr{CloudDNSAddr},
		VPNEndpoints:      []netip.Addr{CloudGWAddr},
		CloudCIDR:         CloudCIDR,
		EnvironmentFQDNs:  []string{FrontEndFQDN},
		CloudDomain:       CloudDomain,
		CustomerCIDRs:     []netip.Prefix{CustomerCIDR},
		InternalResolvers: []netip.Addr{ResolverAddr},
		CustomerPeer:      CustomerGWAddr,
		Routing:           vpndiag.RoutingStatic,
		IKEVersion:        2,
	}
}

// The guide's settings the gateways use.
var (
	ikeLifetime   = kb.IKELifetime
	childLifetime = kb.ChildSALifetime
	childRekey    = kb.IKEv2HourlyDropWorkaround
)
