package lab

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/vpndiag/vpndiag/kb"
)

// frontEnd is the cloud front-end: HTTPS on 443 and HTTP on 80, served by
// the lab's holder process from listeners opened inside the fe namespace.
type frontEnd struct {
	servers []*http.Server
}

// startFrontEnd opens the listeners in namespace ns and serves them.
func startFrontEnd(ns string) (*frontEnd, error) {
	cert, err := selfSigned(FrontEndFQDN, FrontEndAddr)
	if err != nil {
		return nil, err
	}
	var l443, l80 net.Listener
	err = doInNS(ns, func() error {
		var err error
		if l443, err = net.Listen("tcp", netip.AddrPortFrom(FrontEndAddr, kb.HTTPSPort).String()); err != nil {
			return err
		}
		if l80, err = net.Listen("tcp", netip.AddrPortFrom(FrontEndAddr, kb.HTTPPort).String()); err != nil {
			l443.Close()
			return err
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "vpndiag lab front-end %s\n", FrontEndFQDN)
	})
	fe := &frontEnd{servers: []*http.Server{
		{Handler: h, ReadHeaderTimeout: 5 * time.Second, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}},
		{Handler: h, ReadHeaderTimeout: 5 * time.Second},
	}}
	go func() { _ = fe.servers[0].ServeTLS(l443, "", "") }()
	go func() { _ = fe.servers[1].Serve(l80) }()
	return fe, nil
}

// Close stops serving.
func (f *frontEnd) Close() {
	for _, s := range f.servers {
		_ = s.Close()
	}
}

// selfSigned makes a certificate for the front-end's name and address.
func selfSigned(name string, addr netip.Addr) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     []string{name},
		IPAddresses:  []net.IP{addr.AsSlice()},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
