package config_test

import (
	"testing"
	"time"

	"github.com/vpndiag/vpndiag/evidence/config"
)

// TestSwanctlInheritFullPath: swanctl.conf names the section a connection
// inherits from by its full path ("conn2 : connections.conn1"); a child can
// name another connection's child the same way. The second tunnel has its
// template's settings; a path that names nothing adds nothing.
func TestSwanctlInheritFullPath(t *testing.T) {
	base := `connections {
   base {
      remote_addrs = 203.0.113.10
      version = 2
      proposals = aes256-sha256-modp2048
      local {
         auth = psk
      }
      remote {
         auth = psk
      }
      children {
         net {
            local_ts = 10.1.0.0/16
            remote_ts = 10.2.0.0/16
            esp_proposals = aes256-sha256-modp2048
            life_time = 60m
         }
      }
   }
`
	tests := []struct {
		name, text string
		want       tunnelWant
	}{
		{"connection from connections.base", base + `   second : connections.base {
      local {
         id = second
      }
      children {
         net {
            mark_in = 20
         }
      }
   }
}
`, tunnelWant{name: "second", peer: "203.0.113.10", ike: 2, pfs: "on", pfsGroup: 14, auth: "psk", p2: time.Hour, pairs: 1}},
		{"child from connections.base.children.net", base + `   third {
      remote_addrs = 203.0.113.20
      local {
         auth = psk
      }
      remote {
         auth = psk
      }
      children {
         net2 : connections.base.children.net {
         }
      }
   }
}
`, tunnelWant{name: "third", peer: "203.0.113.20", pfs: "on", pfsGroup: 14, p2: time.Hour, pairs: 1}},
		{"a path that names nothing", base + `   fourth : connections.nothere {
      remote_addrs = 203.0.113.30
      children {
         net {
            local_ts = 10.1.0.0/16
            remote_ts = 10.3.0.0/16
         }
      }
   }
}
`, tunnelWant{name: "fourth", peer: "203.0.113.30", pfs: "off", pairs: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Parse(config.FormatSwanctl, tt.text)
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Tunnels) != 2 {
				t.Fatalf("%d tunnels, want 2:\n%s", len(c.Tunnels), c.Summary())
			}
			c.Tunnels = c.Tunnels[1:]
			checkTunnel(t, c, tt.want)
		})
	}
}
