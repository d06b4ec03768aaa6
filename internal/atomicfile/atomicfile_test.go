package atomicfile_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vpndiag/vpndiag/internal/atomicfile"
)

func TestWriteFile(t *testing.T) {
	for _, tt := range []struct {
		name    string
		old     string // content before, "" for no file
		data    string
		perm    os.FileMode
		subdir  string // a missing directory under the temp dir makes the write fail
		wantErr bool
	}{
		{name: "new file", data: "one", perm: 0o600},
		{name: "replaces", old: "old content, longer", data: "new", perm: 0o600},
		{name: "perm whatever the umask", data: "x", perm: 0o640},
		{name: "empty", old: "old", data: "", perm: 0o600},
		{name: "missing directory", data: "x", perm: 0o600, subdir: "missing", wantErr: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, tt.subdir, "state.json")
			if tt.old != "" {
				if err := os.WriteFile(path, []byte(tt.old), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			err := atomicfile.WriteFile(path, []byte(tt.data), tt.perm)
			if tt.wantErr {
				if err == nil {
					t.Fatal("no error writing into a missing directory")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(path)
			if err != nil || string(b) != tt.data {
				t.Fatalf("content %q, %v; want %q", b, err, tt.data)
			}
			fi, err := os.Stat(path)
			if err != nil || fi.Mode().Perm() != tt.perm {
				t.Fatalf("mode %v, %v; want %v", fi.Mode().Perm(), err, tt.perm)
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != 1 {
				t.Fatalf("directory holds %d entries, want only the file (no temporary left)", len(entries))
			}
		})
	}
}
