package bundle_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/bundle"
	"github.com/vpndiag/vpndiag/evidence"
	"github.com/vpndiag/vpndiag/storage/sqlite"
)

// TestExport_ManifestDescribesStoredContent attaches a config with a short
// PSK through the evidence intake and exports the case: the manifest gives
// the size and SHA-256 of the redacted file it ships, and neither the
// SHA-256 nor the size of the upload (with which anyone holding the bundle
// could test guesses of the PSK offline).
func TestExport_ManifestDescribesStoredContent(t *testing.T) {
	db := MustOpenDB(t)
	c := MustSeedCase(t, db, seed{marker: marker, status: vpndiag.CaseEscalated})
	upload := "conn aws\n  left=10.1.0.1\n  right=52.1.2.3\n  ikelifetime=28800s\n  authby=secret\n: PSK \"Guess1\"\n"
	svc := &evidence.Service{Evidence: sqlite.NewEvidenceService(db)}
	if _, err := svc.Attach(context.Background(), c.ID, "ipsec.conf", strings.NewReader(upload), "U1", nil); err != nil {
		t.Fatal(err)
	}
	data := MustExport(t, NewExporter(db), marker)
	files, _ := unzip(t, data)
	var man bundle.Manifest
	if err := json.Unmarshal(files[bundle.ManifestName], &man); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(upload))
	uploadSum := hex.EncodeToString(sum[:])
	raw := string(files[bundle.ManifestName])
	if strings.Contains(raw, uploadSum) {
		t.Errorf("the manifest holds the SHA-256 of the unredacted upload")
	}
	if strings.Contains(raw, "original_size") || strings.Contains(raw, "original_sha256") {
		t.Errorf("the manifest describes the upload before redaction:\n%s", raw)
	}
	found := false
	for _, f := range man.Files {
		if f.Evidence == nil || f.Evidence.Name != "ipsec.conf" {
			continue
		}
		found = true
		stored := files[f.Name]
		s := sha256.Sum256(stored)
		if f.SHA256 != hex.EncodeToString(s[:]) || f.Size != int64(len(stored)) {
			t.Errorf("%s: manifest %d bytes %s, file %d bytes", f.Name, f.Size, f.SHA256, len(stored))
		}
		if strings.Contains(string(stored), "Guess1") {
			t.Errorf("the PSK is in %s", f.Name)
		}
		if strings.Contains(raw, `"size": `+strconv.Itoa(len(upload))+",") {
			t.Errorf("the manifest gives the upload's size %d", len(upload))
		}
	}
	if !found {
		t.Fatal("the attachment is not in the manifest")
	}
}

// TestExport_RedactsStoredNames exports an attachment stored with a secret
// in its name (before the intake redacted names): neither the archive's
// entry names nor any file of the bundle hold it.
func TestExport_RedactsStoredNames(t *testing.T) {
	db := MustOpenDB(t)
	c := MustSeedCase(t, db, seed{marker: marker, status: vpndiag.CaseEscalated})
	e := &vpndiag.Evidence{CaseID: c.ID, Name: "vpn-psk-Sup3rS3cret9.conf", Kind: vpndiag.EvidenceConfig, MediaType: "text/plain", UploadedBy: "U1"}
	if err := sqlite.NewEvidenceService(db).CreateEvidence(context.Background(), e, strings.NewReader("conn hq\n")); err != nil {
		t.Fatal(err)
	}
	data := MustExport(t, NewExporter(db), marker)
	if strings.Contains(string(data), "Sup3rS3cret9") {
		t.Error("the secret in the name is in the archive's raw bytes")
	}
	files, order := unzip(t, data)
	for _, f := range order {
		if strings.Contains(f.Name, "Sup3rS3cret9") || strings.Contains(string(files[f.Name]), "Sup3rS3cret9") {
			t.Errorf("the secret in the name is in %s", f.Name)
		}
	}
	if _, ok := files["evidence/vpn-psk-redacted-psk.conf"]; !ok {
		t.Errorf("no evidence/vpn-psk-redacted-psk.conf in %v", order)
	}
}
