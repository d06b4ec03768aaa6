package testkit_test

import (
	"crypto/tls"
	"crypto/x509"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag/internal/testkit"
)

func TestMustCert(t *testing.T) {
	notAfter := time.Now().Add(48 * time.Hour).Truncate(time.Second)
	c := testkit.MustCert(t, "hub", notAfter, "127.0.0.1", "db.corp.example")
	if _, err := c.TLS.Leaf.Verify(x509.VerifyOptions{Roots: c.Pool, DNSName: "db.corp.example"}); err != nil {
		t.Errorf("verify by name: %v", err)
	}
	if err := c.TLS.Leaf.VerifyHostname("127.0.0.1"); err != nil {
		t.Errorf("verify by IP: %v", err)
	}
	if !c.TLS.Leaf.NotAfter.Equal(notAfter) || !c.TLS.Leaf.NotBefore.Before(time.Now()) {
		t.Errorf("validity %s .. %s", c.TLS.Leaf.NotBefore, c.TLS.Leaf.NotAfter)
	}
	if _, err := tls.X509KeyPair(c.PEM, c.KeyPEM); err != nil {
		t.Errorf("PEM pair: %v", err)
	}
	expired := testkit.MustCert(t, "old", time.Now().Add(-time.Hour), "old.example")
	if !expired.TLS.Leaf.NotAfter.Before(time.Now()) || !expired.TLS.Leaf.NotBefore.Before(expired.TLS.Leaf.NotAfter) {
		t.Errorf("expired certificate validity %s .. %s", expired.TLS.Leaf.NotBefore, expired.TLS.Leaf.NotAfter)
	}
}
