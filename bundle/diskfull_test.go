package bundle_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vpndiag/vpndiag"
)

// MustTmpfs mounts a tmpfs of the given options on a new directory,
// unmounted at cleanup; the test skips when not root.
func MustTmpfs(tb testing.TB, opts string) string {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("not root: cannot mount a tmpfs to fill up or make read-only")
	}
	dir := tb.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", opts, "tmpfs", dir).CombinedOutput(); err != nil {
		tb.Skipf("mount tmpfs: %v %s", err, out)
	}
	tb.Cleanup(func() { exec.Command("umount", dir).Run() })
	return dir
}

// TestExportFile_DiskFull exports a 3 MB bundle onto a 1 MB tmpfs: a clear
// "disk is full" error, and nothing left behind, neither under the final
// name nor as a temporary file.
func TestExportFile_DiskFull(t *testing.T) {
	dir := MustTmpfs(t, "size=1m")
	db := MustOpenDB(t)
	s := smallSeed()
	s.evidence = append(s.evidence, evidenceFile{"big.log", vpndiag.EvidenceLog, newLogReader(24<<20, 7)})
	MustSeedCase(t, db, s)
	path := filepath.Join(dir, "bundle.zip")
	_, err := NewExporter(db).ExportFile(context.Background(), marker, path, false)
	if vpndiag.ErrorCode(err) != vpndiag.EUNAVAILABLE || !strings.Contains(vpndiag.ErrorMessage(err), "The disk is full") {
		t.Fatalf("err = %v (%q)", err, vpndiag.ErrorMessage(err))
	}
	assertNoLeftovers(t, dir)
}

// TestExportFile_ReadOnly exports into a read-only file system.
func TestExportFile_ReadOnly(t *testing.T) {
	dir := MustTmpfs(t, "ro,size=1m")
	db := MustOpenDB(t)
	MustSeedCase(t, db, smallSeed())
	_, err := NewExporter(db).ExportFile(context.Background(), marker, filepath.Join(dir, "bundle.zip"), false)
	if vpndiag.ErrorCode(err) != vpndiag.EUNAVAILABLE || !strings.Contains(vpndiag.ErrorMessage(err), "Cannot write to") {
		t.Fatalf("err = %v (%q)", err, vpndiag.ErrorMessage(err))
	}
	assertNoLeftovers(t, dir)
}
