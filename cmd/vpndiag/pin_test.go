package main_test

import (
	"bytes"
	"crypto/tls"
	"io"
	stdlog "log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag/internal/testkit"
)

// With --ca the relay trusts only that CA: a TLS-inspecting proxy whose
// certificate the system trusts (here through SSL_CERT_FILE) never sees the
// relay token. Before the fix --ca was added to the system roots, and the
// proxy got the token in the upgrade request.
func TestRelayCAPins(t *testing.T) {
	dir := t.TempDir()
	ours := testkit.MustCert(t, "our private CA", time.Time{}, "127.0.0.1")
	proxy := testkit.MustCert(t, "inspecting proxy", time.Time{}, "127.0.0.1")
	var sawToken atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			sawToken.Add(1)
		}
		http.Error(w, "no", http.StatusServiceUnavailable)
	}))
	srv.Config.ErrorLog = stdlog.New(io.Discard, "", 0) // the refused handshakes
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{proxy.TLS}}
	srv.StartTLS()
	defer srv.Close()

	ca := filepath.Join(dir, "ca.pem")
	system := filepath.Join(dir, "system.pem")
	tokenFile := filepath.Join(dir, "relay.token")
	policy := filepath.Join(dir, "policy.yaml")
	os.WriteFile(ca, ours.PEM, 0o600)
	os.WriteFile(system, proxy.PEM, 0o600)
	os.WriteFile(tokenFile, []byte("vpdr_pinning-test-token-0123456789abcdefghij\n"), 0o600)
	os.WriteFile(policy, []byte("version: 1\nkinds: [tcp]\ncidrs: [127.0.0.1/32]\n"), 0o600)

	cmd := exec.Command(vpndiagBin, "relay", "--hub", srv.URL, "--ca", ca, "--token-file", tokenFile, "--policy", policy,
		"--state", filepath.Join(dir, "state.json"))
	cmd.Env = []string{"HOME=" + dir, "PATH=" + os.Getenv("PATH"), "SSL_CERT_FILE=" + system, "SSL_CERT_DIR=" + dir}
	var log bytes.Buffer
	cmd.Stderr = &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // several connection attempts
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if n := sawToken.Load(); n > 0 {
		t.Fatalf("the proxy trusted by the system saw the relay token %d times despite --ca\n%s", n, log.String())
	}
	if !bytes.Contains(log.Bytes(), []byte("certificate")) {
		t.Errorf("the relay did not say why it could not connect:\n%s", log.String())
	}
}
