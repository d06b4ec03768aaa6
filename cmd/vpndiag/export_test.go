package main_test

import (
	"archive/zip"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/storage/sqlite"
)

// MustCaseDB stores one open case with an attachment in a new database and
// returns the database's path and the case marker.
func MustCaseDB(tb testing.TB) (string, string) {
	tb.Helper()
	ctx := context.Background()
	path := filepath.Join(tb.TempDir(), "vpndiag.db")
	db := sqlite.NewDB(path)
	if err := db.Open(); err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	c := &vpndiag.Case{Marker: "VPN-20261125-7KQ2", Title: "DNS names do not resolve over the VPN", Status: vpndiag.CaseOpen,
		Origin: "terminal", CreatedBy: "alice"}
	if err := sqlite.NewCaseService(db).CreateCase(ctx, c); err != nil {
		tb.Fatal(err)
	}
	if err := sqlite.NewSessionService(db).CreateSession(ctx, &vpndiag.Session{CaseID: c.ID, Flow: "triage", State: "start",
		Path: vpndiag.Path{{Flow: "triage", State: "start"}}}); err != nil {
		tb.Fatal(err)
	}
	e := &vpndiag.Evidence{CaseID: c.ID, Name: "ipsec.conf", Kind: vpndiag.EvidenceConfig, MediaType: "text/plain", UploadedBy: "alice"}
	if err := sqlite.NewEvidenceService(db).CreateEvidence(ctx, e, strings.NewReader("conn hq\n  psk=<redacted:psk:1>\n")); err != nil {
		tb.Fatal(err)
	}
	return path, c.Marker
}

func TestExportAndVerify(t *testing.T) {
	dbPath, marker := MustCaseDB(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "case.zip")

	r := MustRun(t, "", nil, "export", marker, "--db", dbPath, "-o", out)
	if r.code != 0 || !strings.Contains(r.stdout, marker) || !strings.Contains(r.stdout, out) || !strings.Contains(r.stdout, "in progress") {
		t.Fatalf("export: %+v", r)
	}
	r = MustRun(t, "", nil, "bundle", "verify", out)
	if r.code != 0 || !strings.Contains(r.stdout, "ok: bundle of case "+marker) {
		t.Fatalf("verify: %+v", r)
	}
	// Lower-case marker, flags first, default output name in the working directory.
	cwd := t.TempDir()
	cmdArgs := []string{"export", "--db", dbPath, strings.ToLower(marker)}
	r = MustRunIn(t, cwd, cmdArgs...)
	if r.code != 0 {
		t.Fatalf("export to the default name: %+v", r)
	}
	if _, err := os.Stat(filepath.Join(cwd, marker+"-bundle.zip")); err != nil {
		t.Fatal(err)
	}

	// A tampered bundle: an extra file.
	tampered := filepath.Join(dir, "tampered.zip")
	copyWithExtra(t, out, tampered)
	r = MustRun(t, "", nil, "bundle", "verify", tampered)
	if r.code != 1 || !strings.Contains(r.stdout, "evidence/extra.txt: extra") || !strings.Contains(r.stderr, "1 problem") {
		t.Fatalf("verify tampered: %+v", r)
	}
	r = MustRun(t, "", nil, "bundle", "verify", "--json", tampered)
	if r.code != 1 || !strings.Contains(r.stdout, `"kind": "extra"`) {
		t.Fatalf("verify --json tampered: %+v", r)
	}
}

func TestExport_BadInput(t *testing.T) {
	dbPath, marker := MustCaseDB(t)
	dir := t.TempDir()
	existing := filepath.Join(dir, "existing.zip")
	os.WriteFile(existing, []byte("keep"), 0o644)
	notZip := filepath.Join(dir, "not.zip")
	os.WriteFile(notZip, []byte("hello"), 0o644)
	for _, tt := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"NoCase", []string{"export", "--db", dbPath}, 2, "give one case marker"},
		{"NotAMarker", []string{"export", "case-1", "--db", dbPath}, 1, `"case-1" is not a case marker`},
		{"UnknownCase", []string{"export", "VPN-20261125-ZZZZ", "--db", dbPath, "-o", filepath.Join(dir, "x.zip")}, 1, "There is no case VPN-20261125-ZZZZ"},
		{"NoDatabase", []string{"export", marker, "--db", filepath.Join(dir, "none.db")}, 1, "There is no database at"},
		{"Exists", []string{"export", marker, "--db", dbPath, "-o", existing}, 1, "already exists; use --force"},
		{"NoDirectory", []string{"export", marker, "--db", dbPath, "-o", filepath.Join(dir, "no", "x.zip")}, 1, "the directory does not exist"},
		{"VerifyNoFile", []string{"bundle", "verify", filepath.Join(dir, "none.zip")}, 1, "There is no file"},
		{"VerifyNotZip", []string{"bundle", "verify", notZip}, 1, "1 problem"},
		{"BundleNoVerb", []string{"bundle", notZip}, 2, "vpndiag bundle verify FILE"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := MustRun(t, "", nil, tt.args...)
			if r.code != tt.code || !strings.Contains(r.stderr, tt.msg) {
				t.Fatalf("exit %d stderr %q, want %d and %q", r.code, r.stderr, tt.code, tt.msg)
			}
			if b, _ := os.ReadFile(existing); string(b) != "keep" {
				t.Fatal("existing file changed")
			}
			if _, err := os.Stat(filepath.Join(dir, "x.zip")); err == nil {
				t.Fatal("a bundle was written for a failed export")
			}
			if _, err := os.Stat(filepath.Join(dir, "none.db")); err == nil {
				t.Fatal("export created a database")
			}
		})
	}
}

// MustRunIn runs the binary in dir.
func MustRunIn(tb testing.TB, dir string, args ...string) result {
	tb.Helper()
	tb.Chdir(dir)
	return MustRun(tb, "", nil, args...)
}

// copyWithExtra copies a bundle and adds evidence/extra.txt.
func copyWithExtra(tb testing.TB, from, to string) {
	tb.Helper()
	zr, err := zip.OpenReader(from)
	if err != nil {
		tb.Fatal(err)
	}
	defer zr.Close()
	f, err := os.Create(to)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	zw := zip.NewWriter(f)
	for _, e := range zr.File {
		if err := zw.Copy(e); err != nil {
			tb.Fatal(err)
		}
	}
	w, _ := zw.Create("evidence/extra.txt")
	w.Write([]byte("not from the case"))
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
}

// TestBundleSigning makes a key with 'bundle keygen', exports with it set
// in the config and verifies: without --key the output says it proves
// integrity only, with the key it proves the origin, and with another key,
// or an unsigned bundle with a key, verify fails.
func TestBundleSigning(t *testing.T) {
	dbPath, marker := MustCaseDB(t)
	dir := t.TempDir()
	key, other := filepath.Join(dir, "bundle.key"), filepath.Join(dir, "other.key")
	for _, k := range []string{key, other} {
		if r := MustRun(t, "", nil, "bundle", "keygen", k); r.code != 0 || !strings.Contains(r.stdout, "signing_key: "+k) {
			t.Fatalf("keygen: %+v", r)
		}
	}
	if fi, err := os.Stat(key); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key mode: %v %v", fi.Mode(), err)
	}
	if r := MustRun(t, "", nil, "bundle", "keygen", key); r.code == 0 || !strings.Contains(r.stderr, "already exists") {
		t.Fatalf("keygen over an existing key: %+v", r)
	}
	signed, unsigned := filepath.Join(dir, "signed.zip"), filepath.Join(dir, "unsigned.zip")
	r := MustRun(t, "", []string{"VPNDIAG_BUNDLE_SIGNING_KEY=" + key}, "export", marker, "--db", dbPath, "-o", signed)
	if r.code != 0 || !strings.Contains(r.stdout, "signed by ed25519:") {
		t.Fatalf("signed export: %+v", r)
	}
	if r := MustRun(t, "", nil, "export", marker, "--db", dbPath, "-o", unsigned); r.code != 0 || !strings.Contains(r.stdout, "not signed") {
		t.Fatalf("unsigned export: %+v", r)
	}
	for _, tt := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unsigned, no key", []string{unsigned}, 0, "integrity only: the files match the manifest, but the bundle is not signed"},
		{"signed, no key", []string{signed}, 0, "integrity only: signed by ed25519:"},
		{"signed, its key", []string{signed, "--key", key + ".pub"}, 0, "origin: signed by ed25519:"},
		{"signed, another key", []string{signed, "--key", other + ".pub"}, 1, "the bundle was not exported with your key"},
		{"unsigned, a key", []string{unsigned, "--key", key + ".pub"}, 1, "not signed, so its origin cannot be proven"},
		{"bad key", []string{signed, "--key", "nonsense"}, 2, "neither a public key file nor a base64"},
	} {
		r := MustRun(t, "", nil, append([]string{"bundle", "verify"}, tt.args...)...)
		if r.code != tt.code || !strings.Contains(r.stdout+r.stderr, tt.want) {
			t.Errorf("%s: exit %d, want %d with %q:\n%s%s", tt.name, r.code, tt.code, tt.want, r.stdout, r.stderr)
		}
	}
}
