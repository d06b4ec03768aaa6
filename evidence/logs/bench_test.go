package logs_test

import (
	"bytes"
	"context"
	"os"
	"testing"

	"github.com/vpndiag/vpndiag/evidence/logs"
	"github.com/vpndiag/vpndiag/kb"
)

// BenchmarkAnalyze measures throughput on a generated log (16 MiB in
// memory; set VPNDIAG_BENCH_LOG to a file, e.g. one from cmd/genlog, to
// measure that instead).
func BenchmarkAnalyze(b *testing.B) {
	var data []byte
	if p := os.Getenv("VPNDIAG_BENCH_LOG"); p != "" {
		var err error
		if data, err = os.ReadFile(p); err != nil {
			b.Fatal(err)
		}
	} else {
		var buf bytes.Buffer
		if err := logs.Generate(&buf, 16<<20, 1); err != nil {
			b.Fatal(err)
		}
		data = buf.Bytes()
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := logs.Analyze(context.Background(), "bench.log", bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}

func TestGenerate(t *testing.T) {
	var buf bytes.Buffer
	if err := logs.Generate(&buf, 4<<20, 1); err != nil {
		t.Fatal(err)
	}
	if buf.Len() < 4<<20 {
		t.Fatalf("generated %d bytes", buf.Len())
	}
	r := MustAnalyze(t, "gen.log", buf.Bytes())
	seen := map[string]bool{}
	for _, f := range r.Findings {
		seen[f.Code] = true
	}
	// 4 MiB is about 18 hours of log time: hourly drops.
	if !seen[kb.CodePeriodicDrop] || !seen[kb.CodeDPDPeerDead] {
		t.Errorf("generated log findings: %v", codes(r))
	}
	if r.Lines != int64(bytes.Count(buf.Bytes(), []byte("\n"))) {
		t.Errorf("lines %d", r.Lines)
	}
}

// TestKeywordLength keeps the one-pass scan fast: the shortest keyword is
// the window the scan skips by.
func TestKeywordLength(t *testing.T) {
	for _, k := range logs.Keywords() {
		if len(k) < 10 {
			t.Errorf("keyword %q is shorter than 10 bytes", k)
		}
	}
}
