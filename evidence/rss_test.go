package evidence_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/vpndiag/vpndiag/evidence"
	"github.com/vpndiag/vpndiag/evidence/logs"
	"github.com/vpndiag/vpndiag/storage/sqlite"
)

// TestPeakRSS measures the peak resident memory of one upload of 32 and
// 64 MiB — a strongSwan log, and a file whose head is a configuration —
// through evidence.Service.Attach (what `vpndiag serve` does with a Slack
// upload) and through `vpndiag analyze`, each in a fresh process. It is
// slow and writes a few hundred MiB to the temporary directory, so it runs
// only with VPNDIAG_RSS=1:
//
//	VPNDIAG_RSS=1 go test ./evidence -run TestPeakRSS -v
func TestPeakRSS(t *testing.T) {
	if os.Getenv("VPNDIAG_RSS") == "" {
		t.Skip("set VPNDIAG_RSS=1 to measure the peak RSS of large uploads")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "vpndiag")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/vpndiag/vpndiag/cmd/vpndiag").CombinedOutput(); err != nil {
		t.Fatalf("build vpndiag: %v\n%s", err, out)
	}
	for _, size := range []int64{32 << 20, 64 << 20} {
		for _, kind := range []string{"log", "config-head"} {
			path := filepath.Join(dir, fmt.Sprintf("%s-%d.txt", kind, size>>20))
			writeUpload(t, path, kind, size)
			attach := peakRSS(t, exec.Command(os.Args[0], "-test.run=^TestPeakRSSChild$"), "VPNDIAG_RSS_CHILD="+path)
			analyze := peakRSS(t, exec.Command(bin, "analyze", "--format", "json", path))
			t.Logf("%-11s %3d MiB: peak RSS Service.Attach %4d MiB, vpndiag analyze %4d MiB", kind, size>>20, attach>>10, analyze>>10)
			if size == 64<<20 && attach >= 64<<10 {
				t.Errorf("%s %d MiB through Service.Attach peaked at %d MiB RSS, want under 64 MiB", kind, size>>20, attach>>10)
			}
		}
	}
}

// TestPeakRSSChild is the process TestPeakRSS measures: one Attach of the
// file named by VPNDIAG_RSS_CHILD into a fresh database.
func TestPeakRSSChild(t *testing.T) {
	path := os.Getenv("VPNDIAG_RSS_CHILD")
	if path == "" {
		t.Skip("run by TestPeakRSS")
	}
	ctx := context.Background()
	db := MustOpenDB(t)
	c := MustCreateCase(t, db)
	svc := &evidence.Service{Evidence: sqlite.NewEvidenceService(db)}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := svc.Attach(ctx, c.ID, filepath.Base(path), bufio.NewReader(f), "U1", testSite()); err != nil {
		t.Fatal(err)
	}
}

// writeUpload writes size bytes: a generated log, or the same behind the
// head of a swanctl configuration.
func writeUpload(t *testing.T, path, kind string, size int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	total := size
	if kind == "config-head" {
		// Over 64 KiB of configuration, so that detection sees only it.
		for i := 0; i < 400; i++ {
			n, _ := fmt.Fprintf(w, "connections {\n  cloud%d {\n    version = 2\n    remote_addrs = 203.0.113.5\n    local {\n      auth = psk\n    }\n    remote {\n      auth = psk\n    }\n    children {\n      net {\n        local_ts = 10.1.0.0/16\n        remote_ts = 10.10.0.0/16\n        rekey_time = 3240s\n      }\n    }\n  }\n}\n", i)
			size -= int64(n)
		}
	}
	if err := logs.Generate(w, size, 1); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	// Generate ends on a whole line past size; the upload is exactly size.
	if err := f.Truncate(total); err != nil {
		t.Fatal(err)
	}
}

// peakRSS runs cmd with extra environment and returns its peak RSS in KiB.
func peakRSS(t *testing.T, cmd *exec.Cmd, env ...string) int64 {
	t.Helper()
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%.2000s", cmd, err, out)
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		t.Fatal("no rusage on this platform")
	}
	return ru.Maxrss
}
