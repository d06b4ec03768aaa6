package bundle_test

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vpndiag/vpndiag/bundle"
)

// craftedBundle is a small archive whose entries inflate to hundreds of
// MiB that a naive verifier holds in memory: generated JSON files that are
// one huge string each, and a manifest that lists them or, with
// bigManifest, a million files (each then missing: a million problems).
func craftedBundle(tb testing.TB, bigManifest bool) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) { return flate.NewWriter(w, flate.BestCompression) })
	entry := func(name string, parts ...func(io.Writer)) {
		w, err := zw.Create(name)
		if err != nil {
			tb.Fatal(err)
		}
		for _, p := range parts {
			p(w)
		}
	}
	repeat := func(s string, n int) func(io.Writer) {
		return func(w io.Writer) {
			chunk := []byte(strings.Repeat(s, max(1, (1<<20)/len(s))))
			for left := n * len(s); left > 0; left -= len(chunk) {
				w.Write(chunk[:min(len(chunk), left)])
			}
		}
	}
	text := func(s string) func(io.Writer) { return func(w io.Writer) { io.WriteString(w, s) } }
	sum := strings.Repeat("0", 64)
	for _, name := range []string{"timeline.json", "answers.json", "findings.json"} {
		entry(name, text(`{"case":"`+marker+`","x":"`), repeat("A", 60<<20), text(`"}`))
	}
	f := `{"name":"probes/x.json","size":1,"sha256":"` + sum + `","media_type":"a"},`
	n := (60 << 20) / len(f)
	if !bigManifest {
		f, n = "", 0
		for _, name := range []string{"timeline.json", "answers.json", "findings.json", "report.html"} {
			f += `{"name":"` + name + `","size":1,"sha256":"` + sum + `","media_type":"a"},`
		}
		n = 1
	}
	entry(bundle.ManifestName, text(`{"schema":"vpndiag-bundle","schema_version":1,"case":"`+marker+`","created_at":"2026-11-25T12:00:00Z","tool":{"name":"vpndiag","version":"1"},"status":"open","files":[`),
		repeat(f, n), text(`{"name":"summary.md","size":1,"sha256":"`+sum+`","media_type":"a"}]}`))
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// TestHelperVerifyChild is the child process of TestVerify_BoundedMemory.
func TestHelperVerifyChild(t *testing.T) {
	path := os.Getenv("BUNDLE_VERIFY_FILE")
	if path == "" {
		t.Skip("child process of TestVerify_BoundedMemory")
	}
	rep, err := bundle.VerifyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("HWM %d ok %v\n", vmHWM(), rep.OK())
}

// TestVerify_BoundedMemory verifies crafted bundles of a few hundred KiB
// that inflate to hundreds of MiB, each in a child process: its peak RSS
// stays small and the bundle is reported as broken.
func TestVerify_BoundedMemory(t *testing.T) {
	for _, big := range []bool{false, true} {
		data := craftedBundle(t, big)
		path := filepath.Join(t.TempDir(), "crafted.zip")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperVerifyChild$", "-test.v")
		cmd.Env = append(os.Environ(), "BUNDLE_VERIFY_FILE="+path)
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child: %v\n%s", err, b)
		}
		var hwm int64
		ok := true
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "HWM ") {
				fmt.Sscanf(l, "HWM %d ok %t", &hwm, &ok)
			}
		}
		t.Logf("crafted bundle of %.0f KiB (manifest of a million files: %v): verify peak RSS %.1f MiB", float64(len(data))/1024, big, float64(hwm)/(1<<20))
		if ok {
			t.Error("the crafted bundle verified as sound")
		}
		if hwm <= 0 || hwm > 64<<20 {
			t.Errorf("peak RSS %d bytes, want ≤ 64 MiB", hwm)
		}
	}
}
