package probes_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/probes"
	"github.com/vpndiag/vpndiag/probes/internal/nstest"
)

const charonBin = "/usr/lib/ipsec/charon"

// MustCharon runs strongSwan's charon in namespace ns of c as an IKEv2
// responder on addr accepting ikeProposal with a pre-shared key, and
// stops it at Cleanup.
//
// charon writes its pid to the compiled-in /run/charon.pid, so two charons
// (another test's, another engineer's) would collide: each runs in its own
// mount namespace with a private tmpfs on /run. Its strongswan.conf, vici
// socket and log live in a temporary directory.
func MustCharon(t *testing.T, c *nstest.Chain, ns int, addr, ikeProposal string) {
	t.Helper()
	for _, bin := range []string{charonBin, "swanctl", "unshare"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("skipped: strongSwan test needs %s (Debian packages strongswan-charon, strongswan-swanctl, util-linux)", bin)
		}
	}
	dir := t.TempDir()
	vici := "unix://" + filepath.Join(dir, "charon.vici")
	conf := fmt.Sprintf(`charon {
  load_modular = no
  load = random nonce openssl pem pkcs1 x509 pubkey kernel-netlink socket-default vici
  port = 500
  port_nat_t = 4500
  install_routes = no
  filelog {
    test {
      path = %s
      time_format = %%T
      default = 1
      ike = 2
      flush_line = yes
    }
  }
  plugins {
    vici {
      socket = %s
    }
  }
}
`, filepath.Join(dir, "charon.log"), vici)
	swanctl := fmt.Sprintf(`connections {
  gw {
    version = 2
    local_addrs = %s
    proposals = %s
    local {
      auth = psk
      id = gw.vpndiag.test
    }
    remote {
      auth = psk
    }
    children {
      net {
        local_ts = %s/32
        esp_proposals = aes256-sha256
      }
    }
  }
}
secrets {
  ike-test {
    secret = "vpndiag-test-psk-not-used"
  }
}
`, addr, ikeProposal, addr)
	for name, text := range map[string]string{"strongswan.conf": conf, "swanctl.conf": swanctl} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	env := append(os.Environ(), "STRONGSWAN_CONF="+filepath.Join(dir, "strongswan.conf"))
	cmd := exec.Command("ip", "netns", "exec", c.NS[ns], "unshare", "--mount", "--propagation", "private",
		"sh", "-c", "mount -t tmpfs tmpfs /run && exec "+charonBin)
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start charon: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "charon.log"))
			t.Logf("charon output:\n%s\ncharon.log:\n%s", out.String(), log)
		}
	})
	swan := func(args ...string) ([]byte, error) {
		cmd := exec.Command("swanctl", append(args, "--uri", vici)...)
		cmd.Env = env
		return cmd.CombinedOutput()
	}
	for i := 0; ; i++ {
		if _, err := swan("--stats"); err == nil {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("charon exited: %v\n%s", err, out.String())
		default:
		}
		if i == 100 {
			t.Fatalf("charon's vici socket did not come up\n%s", out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if b, err := swan("--load-all", "--noprompt", "--file", filepath.Join(dir, "swanctl.conf")); err != nil {
		t.Fatalf("swanctl --load-all: %v\n%s", err, b)
	}
}

// TestIKEProbeStrongSwan sends the ike probe to a real strongSwan
// responder in a namespace, one hop from the client.
func TestIKEProbeStrongSwan(t *testing.T) {
	c := nstest.MustChain(t, 2)
	gw := c.Target()
	MustCharon(t, c, 1, gw, "aes256-sha256-modp2048")

	tests := []struct {
		name    string
		params  map[string]string
		outcome vpndiag.Outcome
		check   func(t *testing.T, a probes.IKEAttempt)
	}{
		{"default proposals: a response on 500 and 4500", nil, vpndiag.OutcomeOK, func(t *testing.T, a probes.IKEAttempt) {
			if a.Outcome != vpndiag.OutcomeOK || a.Chosen != "aes256-sha256-modp2048" || a.DHGroup != 14 {
				t.Errorf("UDP %d: %+v", a.Port, a)
			}
		}},
		{"proposal mismatch", map[string]string{"proposals": "aes128-sha1-modp1024", "mode": "ike"}, probes.OutcomeNoProposal, nil},
		{"wrong KE group", map[string]string{"proposals": "aes256-sha256-ecp256-modp2048", "mode": "ike"}, probes.OutcomeInvalidKE, func(t *testing.T, a probes.IKEAttempt) {
			if a.RequestedGroup != 14 {
				t.Errorf("requested group %d, want 14", a.RequestedGroup)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			params := map[string]string{"retransmit": "500ms"}
			for k, v := range tt.params {
				params[k] = v
			}
			res := MustProbeIn(t, c, 0, &vpndiag.ProbeRequest{Kind: vpndiag.ProbeIKE, Target: gw, Params: params, Timeout: 5 * time.Second}, nil)
			if res.Outcome != tt.outcome {
				t.Fatalf("%s %q", res.Outcome, res.Summary)
			}
			d := MustDetail[probes.IKEResult](t, res)
			for _, a := range d.Attempts {
				if tt.check != nil {
					tt.check(t, a)
				}
				t.Logf("strongSwan answered on UDP %d: %s in %s after %d request(s)", a.Port, a.Outcome, a.RTT, a.Sent)
			}
			if !strings.Contains(res.Summary, "UDP 500") {
				t.Errorf("summary %q", res.Summary)
			}
		})
	}
}
