package evidence_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/vpndiag/vpndiag/evidence"
)

// TestStatusNotesNameTheDevicesCommand: a status file with one listing
// asks for the other in the device's own command, not in Cisco's.
func TestStatusNotesNameTheDevicesCommand(t *testing.T) {
	tests := []struct {
		name, text, want string
	}{
		{"junos ike only", "user@srx> show security ike security-associations\n" +
			"Index   State  Initiator cookie  Responder cookie  Mode           Remote Address\n" +
			"5482798 UP     1a2b3c4d5e6f7a8b  9c8d7e6f5a4b3c2d  IKEv2          203.0.113.10\n",
			"add the output of show security ipsec security-associations detail to check phase 2"},
		{"junos ipsec only", "user@srx> show security ipsec security-associations\n" +
			"  Total active tunnels: 1     Total Ipsec sas: 1\n" +
			"  ID    Algorithm       SPI      Life:sec/kb  Mon lsys Port  Gateway\n" +
			"  <131073 ESP:aes-cbc-256/sha256 1a2b3c4d 3012/ unlim - root 500 203.0.113.10\n" +
			"  >131073 ESP:aes-cbc-256/sha256 5e6f7a8b 3012/ unlim - root 500 203.0.113.10\n",
			"add the output of show security ike security-associations to check phase 1"},
		{"ios isakmp only", "router#show crypto isakmp sa\n" +
			"IPv4 Crypto ISAKMP SA\n" +
			"dst             src             state          conn-id status\n" +
			"203.0.113.10    198.51.100.2    QM_IDLE           1004 ACTIVE\n",
			"add the output of show crypto ipsec sa to check phase 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := evidence.AnalyzeWith(context.Background(), "sa.txt", strings.NewReader(tt.text), nil, evidence.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(rep.NotUnderstood, func(s string) bool { return strings.Contains(s, tt.want) }) {
				t.Errorf("notes %q lack %q", rep.NotUnderstood, tt.want)
			}
		})
	}
}
