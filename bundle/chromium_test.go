package bundle_test

import (
	"context"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// chromiumArgs are the flags of a headless run that touches no network.
func chromiumArgs(tb testing.TB) []string {
	return []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
		"--user-data-dir=" + tb.TempDir()}
}

// consoleLine matches a console message in chromium's log.
var consoleLine = regexp.MustCompile(`(?m)^.*:CONSOLE\(\d+\)\].*$|^.*Uncaught.*$|^.*Refused to .*$`)

// TestReport_Chromium opens report.html of a complete case in headless
// Chromium: no console message, the DOM holds the sections, and the
// screenshot is neither blank nor flat. Set BUNDLE_SCREENSHOT=FILE to keep
// the screenshot.
func TestReport_Chromium(t *testing.T) {
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed (apt-get install chromium): report.html is not checked in a browser")
	}
	db := MustOpenDB(t)
	MustSeedCase(t, db, smallSeed())
	files, _ := unzip(t, MustExport(t, NewExporter(db), marker))
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	if err := os.WriteFile(page, files["report.html"], 0o644); err != nil {
		t.Fatal(err)
	}
	shot := os.Getenv("BUNDLE_SCREENSHOT")
	if shot == "" {
		shot = filepath.Join(dir, "shot.png")
	}
	run := func(extra ...string) (stdout, stderr string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		args := append(chromiumArgs(t), extra...)
		cmd := exec.CommandContext(ctx, bin, append(args, "file://"+page)...)
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("chromium %v: %v\n%s", extra, err, errb.String())
		}
		return out.String(), errb.String()
	}

	dom, logs := run("--enable-logging=stderr", "--v=0", "--dump-dom")
	if m := consoleLine.FindAllString(logs, -1); len(m) > 0 {
		t.Errorf("console messages:\n%s", strings.Join(m, "\n"))
	}
	for _, want := range []string{marker, "Decision path", `class="flow"`, "Keep-alive latency and loss", "dpd-peer-dead", "Timeline"} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered DOM lacks %q", want)
		}
	}

	_, logs = run("--enable-logging=stderr", "--v=0", "--hide-scrollbars", "--window-size=1280,2000", "--screenshot="+shot)
	if m := consoleLine.FindAllString(logs, -1); len(m) > 0 {
		t.Errorf("console messages:\n%s", strings.Join(m, "\n"))
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	colours := map[uint32]bool{}
	nonWhite, blue := 0, 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bb, _ := img.At(x, y).RGBA()
			r, g, bb = r>>8, g>>8, bb>>8
			colours[r<<16|g<<8|bb] = true
			if r < 245 || g < 245 || bb < 245 {
				nonWhite++
			}
			if bb > 200 && r < 80 && g > 80 && g < 140 { // the highlighted path (#1f6feb)
				blue++
			}
		}
	}
	total := b.Dx() * b.Dy()
	t.Logf("screenshot %dx%d: %d colours, %.1f%% non-white, %d path-blue pixels", b.Dx(), b.Dy(), len(colours), 100*float64(nonWhite)/float64(total), blue)
	if len(colours) < 50 || nonWhite < total/50 {
		t.Errorf("screenshot looks blank: %d colours, %d of %d pixels not white", len(colours), nonWhite, total)
	}
	if blue < 200 {
		t.Errorf("screenshot shows no highlighted path (%d blue pixels)", blue)
	}
}
