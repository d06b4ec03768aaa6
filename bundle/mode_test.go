package bundle_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/vpndiag/vpndiag/bundle"
)

// TestExportFile_OwnerOnly exports with the most permissive umask and over
// a world-readable file: the bundle, which holds a customer's redacted
// configurations and logs, is readable by its owner only.
func TestExportFile_OwnerOnly(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	db := MustOpenDB(t)
	MustSeedCase(t, db, smallSeed())
	dir := t.TempDir()
	fresh := filepath.Join(dir, "fresh.zip")
	replaced := filepath.Join(dir, "replaced.zip")
	if err := os.WriteFile(replaced, []byte("old"), 0o666); err != nil {
		t.Fatal(err)
	}
	x := NewExporter(db)
	if _, err := x.ExportFile(context.Background(), marker, fresh, false); err != nil {
		t.Fatal(err)
	}
	if _, err := x.ExportFile(context.Background(), marker, replaced, true); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{fresh, replaced} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != bundle.FileMode {
			t.Errorf("%s: mode %v, want %v", filepath.Base(p), fi.Mode().Perm(), bundle.FileMode)
		}
	}
}
