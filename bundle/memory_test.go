package bundle_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/bundle"
	"github.com/vpndiag/vpndiag/internal/procmem"
	"github.com/vpndiag/vpndiag/storage/sqlite"
)

// logReader generates n bytes of charon-like log lines, deterministic for a
// seed, compressing about as well as real logs (4–6×).
type logReader struct {
	left int64
	rng  *rand.Rand
	t    time.Time
	buf  []byte
}

func newLogReader(n int64, seed uint64) *logReader {
	return &logReader{left: n, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), t: base}
}

var logMsgs = []string{
	"[IKE] sending DPD request",
	"[ENC] generating INFORMATIONAL request %d [ ]",
	"[NET] sending packet: from 192.168.%d.1[4500] to 203.0.113.%d[4500] (%d bytes)",
	"[NET] received packet: from 203.0.113.%d[4500] to 192.168.%d.1[4500] (%d bytes)",
	"[IKE] retransmit %d of request with message ID %d",
	"[CHD] CHILD_SA net-net{%d} established with SPIs c%07x_i %08x_o and TS 10.1.0.0/16 === 10.20.0.0/16",
	"[KNL] querying SAD entry with SPI %08x failed: No such file or directory (%d)",
}

func (r *logReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	for len(r.buf) < len(p) && int64(len(r.buf)) < r.left {
		r.t = r.t.Add(time.Duration(r.rng.IntN(900)) * time.Millisecond)
		m := logMsgs[r.rng.IntN(len(logMsgs))]
		args := []any{r.rng.IntN(256), r.rng.IntN(256), r.rng.IntN(1500)}
		if strings.Contains(m, "%07x") {
			args = []any{r.rng.IntN(99), r.rng.Uint32() >> 4, r.rng.Uint32()}
		}
		n := strings.Count(m, "%")
		line := fmt.Sprintf("%s moon charon: %02d"+m+"\n", append([]any{r.t.Format(time.Stamp), r.rng.IntN(16)}, args[:n]...)...)
		r.buf = append(r.buf, line...)
	}
	n := copy(p, r.buf)
	if int64(n) > r.left {
		n = int(r.left)
	}
	r.buf = r.buf[:copy(r.buf, r.buf[n:])]
	r.left -= int64(n)
	return n, nil
}

// makeBigCase stores a case with files × size bytes of generated logs in
// the database at dbPath and, when logDir is set, writes the same logs there
// (for zip -r).
func makeBigCase(tb testing.TB, dbPath, logDir string, files int, size int64) {
	tb.Helper()
	db := MustOpenDBAt(tb, dbPath)
	c := MustSeedCase(tb, db, seed{marker: marker, status: vpndiag.CaseEscalated, samples: 2000})
	es := sqlite.NewEvidenceService(db)
	for i := 0; i < files; i++ {
		name := fmt.Sprintf("charon-%02d.log", i+1)
		var r io.Reader = newLogReader(size, uint64(i+1))
		if logDir != "" {
			f, err := os.Create(filepath.Join(logDir, name))
			if err != nil {
				tb.Fatal(err)
			}
			bw := bufio.NewWriterSize(f, 1<<20)
			if _, err := io.Copy(bw, r); err != nil {
				tb.Fatal(err)
			}
			bw.Flush()
			f.Close()
			f, _ = os.Open(filepath.Join(logDir, name))
			defer f.Close()
			r = f
		}
		e := &vpndiag.Evidence{CaseID: c.ID, Name: name, Kind: vpndiag.EvidenceLog, MediaType: "text/plain", UploadedBy: "U024BE7LH"}
		if err := es.CreateEvidence(context.Background(), e, r); err != nil {
			tb.Fatal(err)
		}
	}
}

// vmHWM returns the process's peak resident set size in bytes, or -1.
func vmHWM() int64 {
	u, err := procmem.Of(0)
	if err != nil {
		return -1
	}
	return u.Peak
}

// TestHelperExportChild is the child process of TestExport_BoundedMemory:
// it exports the case in $BUNDLE_CHILD_DB to $BUNDLE_CHILD_OUT and prints
// its peak RSS.
func TestHelperExportChild(t *testing.T) {
	dbPath := os.Getenv("BUNDLE_CHILD_DB")
	if dbPath == "" {
		t.Skip("child process of TestExport_BoundedMemory")
	}
	db := sqlite.NewDB(dbPath)
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	before := vmHWM()
	res, err := NewExporter(db).ExportFile(context.Background(), marker, os.Getenv("BUNDLE_CHILD_OUT"), true)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("HWM before=%d after=%d size=%d\n", before, vmHWM(), res.Size)
}

// TestExport_BoundedMemory exports a case with 20 MB of logs (200 MB in
// BenchmarkExport200MB) in a child process and checks its peak RSS.
func TestExport_BoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	dir := t.TempDir()
	const files, size = 4, 5 << 20
	makeBigCase(t, filepath.Join(dir, "big.db"), "", files, size)
	out := filepath.Join(dir, "big.zip")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperExportChild$", "-test.v")
	cmd.Env = append(os.Environ(), "BUNDLE_CHILD_DB="+filepath.Join(dir, "big.db"), "BUNDLE_CHILD_OUT="+out)
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, b)
	}
	var before, after, zsize int64
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "HWM ") {
			fmt.Sscanf(l, "HWM before=%d after=%d size=%d", &before, &after, &zsize)
		}
	}
	t.Logf("%d MB of logs → %.1f MB bundle; child peak RSS %.1f MB (%.1f MB before the export)",
		files*size>>20, float64(zsize)/(1<<20), float64(after)/(1<<20), float64(before)/(1<<20))
	if after <= 0 || after > 64<<20 {
		t.Fatalf("peak RSS %d bytes, want ≤ 64 MB", after)
	}
	rep, err := bundle.VerifyFile(out)
	if err != nil || !rep.OK() || rep.Bytes < files*size {
		t.Fatalf("verify: %v %+v", err, rep)
	}
}

var benchOnce sync.Once
var benchDir string

// BenchmarkExport200MB exports a case with 200 MB of generated logs (8 ×
// 25 MB), beside zip -r of the same files. Set BUNDLE_BENCH_DIR to keep the
// database and logs (for /usr/bin/time -v vpndiag export / zip -r).
func BenchmarkExport200MB(b *testing.B) {
	const files, size = 8, 25 << 20
	benchOnce.Do(func() {
		benchDir = os.Getenv("BUNDLE_BENCH_DIR")
		if benchDir == "" {
			benchDir = b.TempDir()
		}
		os.MkdirAll(filepath.Join(benchDir, "logs"), 0o755)
		if _, err := os.Stat(filepath.Join(benchDir, "case.db")); err != nil {
			makeBigCase(b, filepath.Join(benchDir, "case.db"), filepath.Join(benchDir, "logs"), files, size)
		}
	})
	b.Run("vpndiag-export", func(b *testing.B) {
		db := sqlite.NewDB(filepath.Join(benchDir, "case.db"))
		if err := db.Open(); err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		x := NewExporter(db)
		b.SetBytes(files * size)
		for b.Loop() {
			if _, err := x.ExportFile(context.Background(), marker, filepath.Join(benchDir, "out.zip"), true); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("zip-r", func(b *testing.B) {
		if _, err := exec.LookPath("zip"); err != nil {
			b.Skip("zip is not installed")
		}
		b.SetBytes(files * size)
		for b.Loop() {
			os.Remove(filepath.Join(benchDir, "zip-r.zip"))
			cmd := exec.Command("zip", "-qr", filepath.Join(benchDir, "zip-r.zip"), "logs")
			cmd.Dir = benchDir
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("zip -r: %v %s", err, out)
			}
		}
	})
}
