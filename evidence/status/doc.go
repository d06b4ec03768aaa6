// Package status reads SA status output — what a customer pastes when "the
// tunnel is up but nothing passes" — into one typed model and checks it.
//
// Understood commands: strongSwan `swanctl --list-sas` and `ipsec statusall`
// (or `ipsec status`); libreswan `ipsec status` (`ipsec whack --status`) and
// `ipsec trafficstatus`; Cisco ASA and IOS `show crypto ipsec sa` together with
// `show crypto ikev2 sa` and `show crypto isakmp sa`, and the ASA's `show
// vpn-sessiondb [detail] l2l`; FortiGate `diagnose vpn
// tunnel list`; Junos `show security ike security-associations` and `show
// security ipsec security-associations [detail]`; PAN-OS `show vpn ike-sa`,
// `show vpn ipsec-sa` and `show vpn flow`.
//
// Every IKE SA becomes an IKESA (peer, state, established or negotiating)
// and every IPsec / child SA a ChildSA (traffic selectors, inbound and
// outbound SPI, bytes and packets each way), each with the line it was read
// from.
//
// Traffic is judged from what the customer can show. Counters are totals
// since the SA was set up, so one listing proves little once an SA has
// carried traffic: when a file holds the same SA twice (the same command
// run a few seconds apart, as the findings' fixes ask), what grew between
// the two decides; with one listing, strongSwan's and FortiGate's seconds
// since the last packet each way decide; otherwise a note asks for the
// second listing. A direction that never carried anything is conclusive
// on its own.
//
// Finding codes (kb constants; flows branch on them):
//
//   - sa-no-child (kb.CodeSANoChild, error): an IKE SA is established but no
//     IPsec SA exists for it: phase 1 works, phase 2 (proposal, PFS group or
//     traffic selectors) is failing.
//   - sa-no-inbound (kb.CodeSANoInbound, error): an IPsec SA has sent packets
//     but received none: the customer's traffic leaves encrypted and nothing
//     comes back — ESP (IP protocol 50, or UDP 4500) is dropped on the way, or
//     the cloud does not route / answer for these addresses.
//   - sa-no-outbound (kb.CodeSANoOutbound, error): an IPsec SA receives
//     packets from the cloud but sends none back: the reply leaves the device
//     unencrypted or not at all — no route to the cloud range through the
//     tunnel, NAT applied to the traffic (no NAT exemption), or a firewall
//     policy on the customer's side.
//   - sa-half-open (kb.CodeSAHalfOpen, error): an IKE SA is stuck negotiating
//     (CONNECTING, MM_WAIT_MSG*, AG_INIT_EXCH, IN-NEG, "connecting"): the
//     peer does not answer or does not accept the proposal.
//   - sa-none (kb.CodeSANone, error): the output lists IKE SAs and there
//     is none, established or negotiating, and no IPsec SA: the tunnel is
//     down, not "up with nothing passing"; the cloud only answers, so the
//     device must bring it up, and its IKE log says why it does not.
//   - sa-selectors-mismatch (kb.CodeSASelectorsMismatch, error): an IPsec SA's
//     traffic selectors are not the site profile's ranges (customer CIDRs on
//     the local side, the cloud CIDR on the remote side): traffic outside
//     them is not encrypted or is dropped by the cloud.
//   - sa-multiple-pairs (kb.CodeSAMultiplePairs, error): more than one IPsec
//     SA pair with the cloud; the cloud supports one.
//   - sa-healthy (kb.CodeSAHealthy, info): an IPsec SA is up and currently
//     carries packets both ways (grown between two listings, or last
//     packets each way within seconds): the tunnel itself passes traffic, so
//     look past it (routing, firewall, DNS).
package status
