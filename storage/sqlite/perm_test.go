package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/storage/sqlite"
)

// The database and its WAL files are 0600 even under a permissive umask,
// and an existing world-readable database is tightened when opened.
func TestDatabaseFilesArePrivate(t *testing.T) {
	old := syscall.Umask(0o002)
	defer syscall.Umask(old)
	dir := t.TempDir()
	path := filepath.Join(dir, "vpndiag.db")
	if err := os.WriteFile(filepath.Join(dir, "old.db"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, filepath.Join(dir, "old.db")} {
		db := sqlite.NewDB(p)
		if err := db.Open(); err != nil {
			t.Fatal(err)
		}
		marker, _ := vpndiag.NewMarker(vpndiag.Now(), nil)
		if err := sqlite.NewCaseService(db).CreateCase(context.Background(), &vpndiag.Case{Marker: marker, Title: "t", Status: vpndiag.CaseOpen, Origin: "terminal", CreatedBy: "t"}); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{p, p + "-wal", p + "-shm"} {
			fi, err := os.Stat(f)
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("%s is %v, want 0600", filepath.Base(f), fi.Mode().Perm())
			}
		}
		db.Close()
	}
}
