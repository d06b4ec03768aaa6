package evidence_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/evidence"
	"github.com/vpndiag/vpndiag/evidence/status"
	"github.com/vpndiag/vpndiag/kb"
	"github.com/vpndiag/vpndiag/storage/sqlite"
)

// TestAnalyzeStatus: SA status outputs are their own kind, read by the
// status package, and live SA keys never come out.
func TestAnalyzeStatus(t *testing.T) {
	tests := []struct {
		file, format string
		code         string
	}{
		{"swanctl-no-child.txt", status.FormatSwanctl, kb.CodeSANoChild},
		{"statusall-no-inbound.txt", status.FormatStroke, kb.CodeSANoInbound},
		{"asa-multiple-pairs.txt", status.FormatASA, kb.CodeSAMultiplePairs},
		{"fortigate-no-inbound.txt", status.FormatFortiGate, kb.CodeSANoInbound},
		{"junos-half-open.txt", status.FormatJunos, kb.CodeSAHalfOpen},
		{"panos-no-child.txt", status.FormatPANOS, kb.CodeSANoChild},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("status", "testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			var redacted bytes.Buffer
			rep, err := evidence.AnalyzeWith(context.Background(), tt.file, bytes.NewReader(raw), testSite(), evidence.Options{Redacted: &redacted})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Kind != vpndiag.EvidenceStatus || rep.Format != tt.format || rep.Status == nil {
				t.Fatalf("kind %s format %s status %v", rep.Kind, rep.Format, rep.Status != nil)
			}
			var codes []string
			for _, f := range rep.Findings {
				codes = append(codes, f.Code)
			}
			if !slices.Contains(codes, tt.code) {
				t.Errorf("findings %v, want %s among them", codes, tt.code)
			}
			if redacted.Len() != len(raw) && !bytes.Contains(redacted.Bytes(), []byte("<redacted:")) {
				t.Errorf("redacted copy is %d bytes, the file %d", redacted.Len(), len(raw))
			}
			out := mustJSON(t, rep) + redacted.String()
			for _, key := range []string{"9f8e7d6c5b4a39281706f5e4d3c2b1a0", "0a1b2c3d4e5f60718293a4b5c6d7e8f9", "1122334455667788990011223344556677889900", "ffeeddccbbaa99887766554433221100"} {
				if strings.Contains(out, key) {
					t.Errorf("SA key %s in the report or the redacted copy", key)
				}
			}
		})
	}
}

// failingStore stores nothing and fails, as a full disk would.
type failingStore struct{ *sqlite.EvidenceService }

func (failingStore) AttachEvidence(context.Context, *vpndiag.Attachment, io.Reader) error {
	return errors.New("disk I/O error")
}

// TestAttachStoreFailure: a failed store is an error, never a report of a
// stored file.
func TestAttachStoreFailure(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	c := MustCreateCase(t, db)
	svc := &evidence.Service{Evidence: failingStore{sqlite.NewEvidenceService(db)}}
	rep, err := svc.Attach(ctx, c.ID, "charon.log", strings.NewReader(hourlyLog()), "U1", testSite())
	if err == nil || rep != nil {
		t.Fatalf("Attach = %v, %v; want an error and no report", rep, err)
	}
	if !strings.Contains(err.Error(), "disk I/O error") {
		t.Errorf("error %q does not say why", err)
	}
}

// hourlyLog drops the tunnel every 60 minutes.
func hourlyLog() string {
	var b strings.Builder
	start := time.Date(0, 6, 1, 8, 0, 3, 0, time.UTC)
	for i := 0; i < 6; i++ {
		ts := start.Add(time.Duration(i) * 60 * time.Minute)
		fmt.Fprintf(&b, "%s gw charon: 09[IKE] <cloud|1> sending DPD request\n", ts.Format("Jan _2 15:04:05"))
		fmt.Fprintf(&b, "%s gw charon: 09[IKE] <cloud|1> giving up after 5 retransmits\n", ts.Add(20*time.Second).Format("Jan _2 15:04:05"))
		fmt.Fprintf(&b, "%s gw charon: 09[IKE] <cloud|1> IKE_SA cloud[1] established between 198.51.100.2[198.51.100.2]...203.0.113.5[203.0.113.5]\n", ts.Add(30*time.Second).Format("Jan _2 15:04:05"))
	}
	return b.String()
}

const ikev2Config = `connections {
  cloud {
    version = 2
    remote_addrs = 203.0.113.5
    local {
      auth = psk
    }
    remote {
      auth = psk
    }
    children {
      net {
        local_ts = 10.1.0.0/16
        remote_ts = 10.10.0.0/16
        rekey_time = 3240s
      }
    }
  }
}
`

// TestAttachCrossCheck: a log attached after the case's IKEv2 config is
// checked against it, as vpndiag analyze checks files given together, in
// either order, and the finding points at both stored files.
func TestAttachCrossCheck(t *testing.T) {
	for _, order := range [][2]string{{"swanctl.conf", "charon.log"}, {"charon.log", "swanctl.conf"}} {
		t.Run(order[0]+" first", func(t *testing.T) {
			ctx := context.Background()
			db := MustOpenDB(t)
			c := MustCreateCase(t, db)
			svc := newService(db)
			files := map[string]string{"swanctl.conf": ikev2Config, "charon.log": hourlyLog()}
			var last *evidence.Report
			for _, name := range order {
				rep, err := svc.Attach(ctx, c.ID, name, strings.NewReader(files[name]), "U1", testSite())
				if err != nil {
					t.Fatal(err)
				}
				last = rep
			}
			var cross *vpndiag.Finding
			for _, f := range last.Findings {
				if f.Code == kb.CodeIKEv2HourlyDrop && f.Source == "evidence/crosscheck" {
					cross = f
				}
			}
			if cross == nil {
				t.Fatalf("no cross-check finding on the second file")
			}
			stored, _ := sqlite.NewFindingService(db).FindFindings(ctx, c.ID)
			n := 0
			for _, f := range stored {
				if f.Source == "evidence/crosscheck" {
					n++
					for _, ref := range f.Evidence {
						if ref.EvidenceID == 0 {
							t.Errorf("cross-check reference %s not linked to stored evidence", ref.Name)
						}
					}
				}
			}
			if n != 1 {
				t.Errorf("%d cross-check findings stored, want 1", n)
			}
		})
	}
}
