package probes

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/vpndiag/vpndiag"
)

// OutcomeTLSFailed (tcp): the TCP connection opened but the TLS handshake
// failed (not TLS, protocol or cipher mismatch, reset during the handshake).
const OutcomeTLSFailed vpndiag.Outcome = "tls-failed"

// TCPRequest is the typed request of the tcp probe.
type TCPRequest struct {
	// Host is the IP address or name to connect to.
	Host string
	// Port is the TCP port.
	Port int
	// TLS asks for a TLS handshake after the connect.
	TLS bool
	// SNI is the server name sent in the handshake; default Host when it is
	// a name.
	SNI string
}

// ParseTCPRequest validates req as a tcp probe request.
func ParseTCPRequest(req *vpndiag.ProbeRequest) (*TCPRequest, error) {
	host, port, err := splitHostPort(req.Kind, req.Target)
	if err != nil {
		return nil, err
	}
	p := newParams(req)
	r := &TCPRequest{}
	if pp := p.integer("port", 0, 1, 65535); pp != 0 {
		if port != 0 && pp != port {
			p.fail("The tcp probe's target says port %d but its port parameter says %d.", port, pp)
		}
		port = pp
	}
	r.TLS = p.boolean("tls", false)
	r.SNI = p.str("sni", "")
	if err := p.done(); err != nil {
		return nil, err
	}
	if r.Host, err = checkHost(req.Kind, "a host to connect to", host); err != nil {
		return nil, err
	}
	if port == 0 {
		return nil, vpndiag.Errorf(vpndiag.EINVALID, "The tcp probe needs a port: give host:port or the port parameter.")
	}
	r.Port = port
	if r.SNI != "" && !validHostname(r.SNI) {
		return nil, vpndiag.Errorf(vpndiag.EINVALID, "The tcp probe's sni %q is not a valid host name.", r.SNI)
	}
	if r.SNI == "" {
		if _, err := netip.ParseAddr(r.Host); err != nil {
			r.SNI = r.Host
		}
	}
	return r, nil
}

// TLSInfo is what a TLS handshake showed.
type TLSInfo struct {
	// Version is the negotiated protocol, e.g. "TLS 1.3".
	Version string `json:"version"`
	// CipherSuite is the negotiated cipher suite.
	CipherSuite string `json:"cipher_suite"`
	// ServerName is the SNI sent; empty when none was.
	ServerName string `json:"server_name,omitempty"`
	// Subject and Issuer are the leaf certificate's distinguished names.
	Subject string `json:"subject"`
	Issuer  string `json:"issuer"`
	// DNSNames are the leaf certificate's subject alternative names.
	DNSNames []string `json:"dns_names,omitempty"`
	// NotBefore and NotAfter bound the leaf certificate's validity.
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	// Verified is true when the chain verifies against the system roots for
	// ServerName (or, without one, the address).
	Verified bool `json:"verified"`
	// VerifyError says why it did not verify.
	VerifyError string `json:"verify_error,omitempty"`
	// HandshakeTime is the TLS handshake's duration.
	HandshakeTime time.Duration `json:"handshake_time_ns"`
}

// TCPResult is the detail of a tcp probe.
type TCPResult struct {
	// Address is the ip:port connected to.
	Address string `json:"address"`
	// Connected is true when the TCP handshake completed.
	Connected bool `json:"connected"`
	// ConnectTime is the TCP handshake's duration (or the time until it
	// failed).
	ConnectTime time.Duration `json:"connect_time_ns"`
	// LocalAddress is the local end of the connection.
	LocalAddress string `json:"local_address,omitempty"`
	// TLS is the handshake's result, when asked for and reached.
	TLS *TLSInfo `json:"tls,omitempty"`
	// Error says why the connect or handshake failed.
	Error string `json:"error,omitempty"`
}

// ProbeTCP is the tcp probe: see the package documentation for its Params.
func ProbeTCP(ctx context.Context, req *vpndiag.ProbeRequest) *vpndiag.ProbeResult {
	return tcpDescriptor.probe(ctx, req)
}

// runTCP runs the tcp probe whose parameters r were parsed from req.
func runTCP(ctx context.Context, req *vpndiag.ProbeRequest, r *TCPRequest) *vpndiag.ProbeResult {
	started := time.Now()
	res := newResult(req)
	addr, err := resolve(ctx, r.Host)
	if err != nil {
		return unresolved(res, started, err)
	}
	d := &TCPResult{Address: net.JoinHostPort(addr.String(), strconv.Itoa(r.Port))}
	var dialer net.Dialer
	t0 := time.Now()
	conn, err := dialer.DialContext(ctx, "tcp", d.Address)
	d.ConnectTime = time.Since(t0)
	if err != nil {
		outcome, why := classifyNetErr(ctx, err)
		d.Error = why
		return finish(res, started, outcome, fmt.Sprintf("TCP %s: %s after %s", d.Address, why, ms(d.ConnectTime)), d)
	}
	defer conn.Close()
	d.Connected = true
	d.LocalAddress = conn.LocalAddr().String()
	summary := fmt.Sprintf("TCP %s: connected in %s", d.Address, ms(d.ConnectTime))
	if !r.TLS {
		return finish(res, started, vpndiag.OutcomeOK, summary, d)
	}

	info, err := tlsHandshake(ctx, conn, r.SNI)
	if err != nil {
		outcome, why := OutcomeTLSFailed, "TLS handshake failed"
		if o, w := classifyNetErr(ctx, err); o == vpndiag.OutcomeTimeout {
			outcome, why = o, "TLS handshake: "+w
		}
		d.Error = why
		return finish(res, started, outcome, summary+"; "+why, d)
	}
	d.TLS = info
	summary += fmt.Sprintf("; %s, certificate %s", info.Version, info.Subject)
	if left := time.Until(info.NotAfter); left < 0 {
		summary += fmt.Sprintf(", expired %s", info.NotAfter.Format(time.DateOnly))
	} else {
		summary += fmt.Sprintf(", expires %s (%d days)", info.NotAfter.Format(time.DateOnly), int(left.Hours()/24))
	}
	if !info.Verified {
		summary += ", not verified: " + info.VerifyError
	}
	return finish(res, started, vpndiag.OutcomeOK, summary, d)
}

// tlsHandshake runs a handshake on conn that accepts any certificate, then
// verifies the chain separately so that an untrusted or expired certificate
// is reported, not just refused.
func tlsHandshake(ctx context.Context, conn net.Conn, sni string) (*TLSInfo, error) {
	tc := tls.Client(conn, &tls.Config{ServerName: sni, InsecureSkipVerify: true, MinVersion: tls.VersionTLS10})
	t0 := time.Now()
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, err
	}
	st := tc.ConnectionState()
	info := &TLSInfo{
		Version:       tls.VersionName(st.Version),
		CipherSuite:   tls.CipherSuiteName(st.CipherSuite),
		ServerName:    sni,
		HandshakeTime: time.Since(t0),
	}
	if len(st.PeerCertificates) == 0 {
		info.VerifyError = "no certificate"
		return info, nil
	}
	leaf := st.PeerCertificates[0]
	info.Subject = leaf.Subject.String()
	info.Issuer = leaf.Issuer.String()
	info.DNSNames = leaf.DNSNames
	info.NotBefore, info.NotAfter = leaf.NotBefore.UTC(), leaf.NotAfter.UTC()
	opts := x509.VerifyOptions{DNSName: sni, Intermediates: x509.NewCertPool()}
	if sni == "" {
		host, _, _ := net.SplitHostPort(conn.RemoteAddr().String())
		opts.DNSName = host
	}
	for _, c := range st.PeerCertificates[1:] {
		opts.Intermediates.AddCert(c)
	}
	if _, err := leaf.Verify(opts); err != nil {
		info.VerifyError = err.Error()
	} else {
		info.Verified = true
	}
	return info, nil
}

// tcpDescriptor describes the tcp probe.
var tcpDescriptor = describe(Descriptor{
	Kind:    vpndiag.ProbeTCP,
	Summary: "connects to a TCP port, optionally with a TLS handshake that reports the certificate",
	Target:  "HOST:PORT",
	Params: []Param{
		{Key: "port", Usage: "TCP port, when the target is not host:port"},
		{Key: "tls", Usage: "run a TLS handshake and report the certificate", Bool: true},
		{Key: "sni", Usage: "TLS server name (default the target's host name)"},
	},
	Targets: Targets{Target: true, ServerName: "sni"},
}, ParseTCPRequest, func(*TCPRequest) time.Duration { return 10 * time.Second }, runTCP)
