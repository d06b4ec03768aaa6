package bundle_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/bundle"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

const marker = "VPN-20261125-7KQ2"

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// MustExport exports the case to memory.
func MustExport(tb testing.TB, x *bundle.Exporter, marker string) []byte {
	tb.Helper()
	var buf bytes.Buffer
	if _, err := x.Export(context.Background(), marker, &buf); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func smallSeed() seed {
	return seed{marker: marker, status: vpndiag.CaseEscalated, samples: 120, evidence: []evidenceFile{
		{"ipsec.conf", vpndiag.EvidenceConfig, strings.NewReader(testConfig)},
		{"charon.log", vpndiag.EvidenceLog, strings.NewReader(testLog)},
		{"ipsec.conf", vpndiag.EvidenceConfig, strings.NewReader(strings.Replace(testConfig, "86400s", "28800s", 1))},
	}}
}

// TestExport_Golden exports a small escalated case and compares every file
// of the bundle, and the archive's entry list, with testdata/golden; the
// same case exported twice gives the same bytes.
func TestExport_Golden(t *testing.T) {
	db := MustOpenDB(t)
	MustSeedCase(t, db, smallSeed())
	x := NewExporter(db)
	data := MustExport(t, x, marker)
	if again := MustExport(t, x, marker); !bytes.Equal(data, again) {
		t.Fatal("two exports of the same case at the same time differ")
	}
	files, order := unzip(t, data)

	var list strings.Builder
	for _, f := range order {
		fmt.Fprintf(&list, "%s\tmethod=%d\tmodified=%s\tmode=%v\tcomment=%s\n", f.Name, f.Method, f.Modified.UTC().Format("2006-01-02T15:04:05Z"), f.Mode(), f.Comment)
	}
	golden := map[string][]byte{"ENTRIES.txt": []byte(list.String())}
	for name, b := range files {
		golden[strings.ReplaceAll(name, "/", "__")] = b
	}
	dir := filepath.Join("testdata", "golden")
	if *update {
		os.RemoveAll(dir)
		os.MkdirAll(dir, 0o755)
		for name, b := range golden {
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	want, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("%v (run go test -run TestExport_Golden -update)", err)
	}
	if len(want) != len(golden) {
		t.Errorf("bundle has %d files (with ENTRIES.txt), golden has %d", len(golden), len(want))
	}
	for _, de := range want {
		w, _ := os.ReadFile(filepath.Join(dir, de.Name()))
		got, ok := golden[de.Name()]
		if !ok {
			t.Errorf("%s: missing from the bundle", de.Name())
		} else if !bytes.Equal(got, w) {
			t.Errorf("%s differs from testdata/golden (run with -update and review the diff)", de.Name())
		}
	}
	// The marker is in every file: a field, a header line, a comment, or
	// for evidence the entry comment.
	for _, f := range order {
		if !bytes.Contains(files[f.Name], []byte(marker)) && f.Comment != marker {
			t.Errorf("%s carries no marker", f.Name)
		}
		if f.Comment != marker {
			t.Errorf("%s: entry comment %q", f.Name, f.Comment)
		}
	}
	if order[len(order)-1].Name != bundle.ManifestName {
		t.Errorf("last entry is %s, want the manifest", order[len(order)-1].Name)
	}
	rep, err := bundle.Verify(bytes.NewReader(data), int64(len(data)))
	if err != nil || !rep.OK() {
		t.Fatalf("a fresh bundle does not verify: %v %+v", err, rep)
	}
}

// TestExport_Content checks what the summary and the manifest say about a
// complete case: findings worst first, the two uploads of ipsec.conf kept
// apart, the escalation reason, evidence checksums as stored.
func TestExport_Content(t *testing.T) {
	db := MustOpenDB(t)
	MustSeedCase(t, db, smallSeed())
	files, _ := unzip(t, MustExport(t, NewExporter(db), marker))
	var m bundle.Manifest
	if err := json.Unmarshal(files[bundle.ManifestName], &m); err != nil {
		t.Fatal(err)
	}
	if m.Case != marker || m.InProgress || m.Status != vpndiag.CaseEscalated || m.Site == nil || m.Site.CloudCIDR != "10.20.0.0/16" {
		t.Errorf("manifest: %+v", m)
	}
	var names []string
	for _, f := range m.Files {
		names = append(names, f.Name)
		if sha(files[f.Name]) != f.SHA256 || int64(len(files[f.Name])) != f.Size {
			t.Errorf("%s: manifest checksum or size wrong", f.Name)
		}
	}
	wantNames := []string{"summary.md", "report.html", "timeline.json", "answers.json", "findings.json",
		"probes/001-ike.json", "probes/002-dns.json", "probes/003-ping.json", "probes/004-tcp.json", "probes/keepalive.json",
		"evidence/ipsec.conf", "evidence/charon.log", "evidence/ipsec-2.conf"}
	if strings.Join(names, " ") != strings.Join(wantNames, " ") {
		t.Errorf("files:\n got %v\nwant %v", names, wantNames)
	}
	if string(files["evidence/ipsec.conf"]) != testConfig {
		t.Error("evidence/ipsec.conf is not the stored content")
	}
	sum := string(files["summary.md"])
	for _, want := range []string{
		"# VPN-20261125-7KQ2: The tunnel to the cloud is down since this morning",
		"| 1 | What do you see? | The tunnel is down | U024BE7LH (user) |",
		"| 2 | Can the relay reach the cloud VPN endpoint on UDP 500? | ok | bot (probe job-1) |",
		"### 1. [critical] dpd-peer-dead",
		"### 2. [error] phase1-lifetime",
		"### 4. [info] nat-traversal",
		"- Evidence: `ipsec.conf:5`",
		"Escalated to support at step triage.escalate (KB article further-assistance): The tunnel stays down",
		"Restarted strongswan on moon twice, no change",
		"Reset both tunnels from the console: Still down",
		"Ask whether this change was made (phase1-lifetime, error): Set ikelifetime=28800s.",
		"| hq-relay-1 → 10.20.0.2 | 120 | 12 | 10.0% |",
		"The dns probe to acme.example.cloud gave \"timeout\"",
	} {
		if !strings.Contains(sum, want) {
			t.Errorf("summary.md lacks %q", want)
		}
	}
	if strings.Contains(sum, "In progress") {
		t.Error("a finished case is marked in progress")
	}
	html := string(files["report.html"])
	for _, bad := range []string{"<script", "http://", "https://", "@import", "url(http"} {
		if strings.Contains(strings.ReplaceAll(html, `xmlns="http://www.w3.org/2000/svg"`, ""), bad) {
			t.Errorf("report.html contains %q: it must be self-contained", bad)
		}
	}
	for _, want := range []string{`<svg xmlns="http://www.w3.org/2000/svg" class="flow"`, `class="n k-escalation on cur"`, `class="e on"`, `<svg xmlns="http://www.w3.org/2000/svg" class="ka"`, `class="loss"`} {
		if !strings.Contains(html, want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
}

// TestExport_InProgressNoEvidence: a case still open, with no evidence and
// no keep-alive, exports what it has and says so.
func TestExport_InProgressNoEvidence(t *testing.T) {
	db := MustOpenDB(t)
	MustSeedCase(t, db, seed{marker: marker, status: vpndiag.CaseOpen})
	data := MustExport(t, NewExporter(db), marker)
	files, _ := unzip(t, data)
	var m bundle.Manifest
	json.Unmarshal(files[bundle.ManifestName], &m)
	if !m.InProgress || m.Status != vpndiag.CaseOpen {
		t.Errorf("manifest in_progress=%v status=%s", m.InProgress, m.Status)
	}
	sum := string(files["summary.md"])
	for _, want := range []string{"**In progress.**", "No evidence was attached to this case",
		"In progress: the case was waiting on step tunnel_check of flow triage", "No findings.",
		`The case stopped at step "tunnel_check"`, "Ask for the VPN device's configuration"} {
		if !strings.Contains(sum, want) {
			t.Errorf("summary.md lacks %q", want)
		}
	}
	if !strings.Contains(string(files["report.html"]), "<b>In progress.</b>") {
		t.Error("report.html does not say the case is in progress")
	}
	if _, ok := files[bundle.KeepaliveName]; ok {
		t.Error("keepalive.json written for a case without samples")
	}
	if rep, _ := bundle.Verify(bytes.NewReader(data), int64(len(data))); !rep.OK() {
		t.Fatalf("does not verify: %v", rep.Problems)
	}
}

// TestExport_ReadOnly: exporting changes nothing in the case.
func TestExport_ReadOnly(t *testing.T) {
	db := MustOpenDB(t)
	c := MustSeedCase(t, db, smallSeed())
	x := NewExporter(db)
	ctx := context.Background()
	before, _ := x.Events.FindEvents(ctx, c.ID)
	MustExport(t, x, marker)
	after, _ := x.Events.FindEvents(ctx, c.ID)
	c2, _ := x.Cases.FindCaseByID(ctx, c.ID)
	if len(after) != len(before) || !c2.UpdatedAt.Equal(c.UpdatedAt) {
		t.Fatalf("export changed the case: events %d → %d, updated %s → %s", len(before), len(after), c.UpdatedAt, c2.UpdatedAt)
	}
}

// TestExport_BadInput: each bad input is a clear error with the right code
// and leaves nothing behind.
func TestExport_BadInput(t *testing.T) {
	db := MustOpenDB(t)
	MustSeedCase(t, db, smallSeed())
	x := NewExporter(db)
	ctx := context.Background()
	dir := t.TempDir()
	existing := filepath.Join(dir, "existing.zip")
	os.WriteFile(existing, []byte("keep me"), 0o644)

	for _, tt := range []struct {
		name, marker, path string
		force              bool
		code, msg          string
	}{
		{"UnknownCase", "VPN-20261125-ZZZZ", filepath.Join(dir, "a.zip"), false, vpndiag.ENOTFOUND, "There is no case VPN-20261125-ZZZZ"},
		{"NotAMarker", "case-7", filepath.Join(dir, "b.zip"), false, vpndiag.EINVALID, `"case-7" is not a case marker`},
		{"Exists", marker, existing, false, vpndiag.ECONFLICT, "already exists; use --force"},
		{"IsDirectory", marker, dir, true, vpndiag.EINVALID, "is a directory"},
		{"NoSuchDirectory", marker, filepath.Join(dir, "nope", "c.zip"), false, vpndiag.EUNAVAILABLE, "the directory does not exist"},
		{"NotADirectory", marker, filepath.Join(existing, "d.zip"), false, vpndiag.EUNAVAILABLE, "Cannot write to"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := x.ExportFile(ctx, tt.marker, tt.path, tt.force)
			if code := vpndiag.ErrorCode(err); code != tt.code {
				t.Fatalf("code %q, want %q (err %v)", code, tt.code, err)
			}
			if msg := vpndiag.ErrorMessage(err); !strings.Contains(msg, tt.msg) {
				t.Fatalf("message %q lacks %q", msg, tt.msg)
			}
			assertNoLeftovers(t, dir, "existing.zip")
			if b, _ := os.ReadFile(existing); string(b) != "keep me" {
				t.Fatal("the existing file was changed")
			}
		})
	}
	t.Run("Force", func(t *testing.T) {
		res, err := x.ExportFile(ctx, strings.ToLower(marker), existing, true)
		if err != nil {
			t.Fatal(err)
		}
		if rep, err := bundle.VerifyFile(existing); err != nil || !rep.OK() || res.Path != existing || res.Marker != marker {
			t.Fatalf("forced export: %v %+v %+v", err, rep, res)
		}
		assertNoLeftovers(t, dir, "existing.zip")
	})
	t.Run("DefaultName", func(t *testing.T) {
		t.Chdir(t.TempDir())
		res, err := x.ExportFile(ctx, marker, "", false)
		if err != nil || res.Path != marker+"-bundle.zip" {
			t.Fatalf("%v %+v", err, res)
		}
	})
}

// failWriter fails after n bytes, like a disk filling up.
type failWriter struct{ n int }

func (w *failWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		k := w.n
		w.n = 0
		return k, errors.New("no space left on device")
	}
	w.n -= len(p)
	return len(p), nil
}

// TestExport_WriterFails: a writer that fails at any point stops the export
// with an error.
func TestExport_WriterFails(t *testing.T) {
	db := MustOpenDB(t)
	MustSeedCase(t, db, smallSeed())
	x := NewExporter(db)
	size := len(MustExport(t, x, marker))
	for _, n := range []int{0, 100, size / 3, size / 2, size - 10} {
		if _, err := x.Export(context.Background(), marker, &failWriter{n: n}); err == nil {
			t.Errorf("writer failing after %d of %d bytes: no error", n, size)
		}
	}
}

// assertNoLeftovers fails when dir holds anything but keep.
func assertNoLeftovers(tb testing.TB, dir string, keep ...string) {
	tb.Helper()
	des, _ := os.ReadDir(dir)
	for _, de := range des {
		if !contains(keep, de.Name()) {
			tb.Errorf("left behind: %s", de.Name())
		}
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// TestVerify names each problem of a tampered bundle.
func TestVerify(t *testing.T) {
	db := MustOpenDB(t)
	MustSeedCase(t, db, smallSeed())
	good := MustExport(t, NewExporter(db), marker)

	// flipByte changes one byte inside the compressed data of evidence/charon.log.
	flipByte := func() []byte {
		b := append([]byte{}, good...)
		_, order := unzip(t, good)
		for _, f := range order {
			if f.Name == "evidence/charon.log" {
				off, _ := f.DataOffset()
				b[off+int64(f.CompressedSize64/2)] ^= 0x20
			}
		}
		return b
	}
	editOne := func(target string, change func([]byte) []byte) func(string, []byte) []byte {
		return func(name string, b []byte) []byte {
			if name == target {
				return change(append([]byte{}, b...))
			}
			return b
		}
	}
	for _, tt := range []struct {
		name  string
		data  []byte
		wants []string // "file: kind" of every problem, in order
	}{
		{"Good", good, nil},
		{"ChangedByte", flipByte(), []string{"evidence/charon.log: changed"}},
		{"ChangedAndRezipped", rezip(t, good, editOne("summary.md", func(b []byte) []byte { b[200] ^= 1; return b }), nil, false),
			[]string{"summary.md: changed"}},
		{"MissingFile", rezip(t, good, func(name string, b []byte) []byte {
			if name == "probes/002-dns.json" {
				return nil
			}
			return b
		}, nil, false), []string{"probes/002-dns.json: missing"}},
		{"ExtraFile", rezip(t, good, nil, map[string][]byte{"evidence/extra.txt": []byte("hello")}, false),
			[]string{"evidence/extra.txt: extra"}},
		{"BadJSON", rezip(t, good, editOne("timeline.json", func(b []byte) []byte { return b[:len(b)/2] }), nil, true),
			[]string{"timeline.json: bad-json"}},
		{"MarkerRemoved", rezip(t, good, editOne("answers.json", func(b []byte) []byte {
			return bytes.ReplaceAll(b, []byte(marker), []byte("VPN-20261125-AAAA"))
		}), nil, true), []string{"answers.json: marker"}},
		{"Empty", nil, []string{"archive"}},
		{"NotAZip", []byte("PK this is not a zip"), []string{"archive"}},
		{"Truncated", good[:len(good)-200], []string{"archive"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := bundle.Verify(bytes.NewReader(tt.data), int64(len(tt.data)))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range rep.Problems {
				s := p.Kind
				if p.File != "" {
					s = p.File + ": " + p.Kind
				}
				got = append(got, s)
				if p.Message == "" {
					t.Errorf("problem without a message: %+v", p)
				}
			}
			if strings.Join(got, "\n") != strings.Join(tt.wants, "\n") {
				t.Fatalf("problems:\n got %q\nwant %q\n%v", got, tt.wants, rep.Problems)
			}
			if (rep.Err() == nil) != (len(tt.wants) == 0) || (rep.Err() != nil && vpndiag.ErrorCode(rep.Err()) != vpndiag.EINVALID) {
				t.Fatalf("Err() = %v", rep.Err())
			}
		})
	}
}

// TestVerify_Manifest: a manifest that is missing, does not parse or breaks
// the schema is named as such.
func TestVerify_Manifest(t *testing.T) {
	db := MustOpenDB(t)
	MustSeedCase(t, db, smallSeed())
	good := MustExport(t, NewExporter(db), marker)
	files, order := unzip(t, good)
	build := func(manifest []byte) []byte {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		for _, f := range order {
			b := files[f.Name]
			if f.Name == bundle.ManifestName {
				if manifest == nil {
					continue
				}
				b = manifest
			}
			w, _ := zw.Create(f.Name)
			w.Write(b)
		}
		zw.Close()
		return buf.Bytes()
	}
	var m map[string]any
	json.Unmarshal(files[bundle.ManifestName], &m)
	with := func(k string, v any) []byte {
		c := map[string]any{}
		for kk, vv := range m {
			c[kk] = vv
		}
		c[k] = v
		b, _ := json.Marshal(c)
		return b
	}
	for _, tt := range []struct {
		name string
		data []byte
		want string
	}{
		{"Missing", build(nil), "manifest.json: missing: no manifest"},
		{"BadJSON", build([]byte(`{"schema": "vpndiag-bundle",`)), "manifest.json: bad-json"},
		{"Version", build(with("schema_version", 7)), "manifest.json: schema: schema_version 7 is not supported"},
		{"Schema", build(with("schema", "other")), `manifest.json: schema: schema is "other"`},
		{"Marker", build(with("case", "nope")), `manifest.json: schema: case "nope" is not a case marker`},
		{"BadSHA", build(bytes.Replace(with("x", 1), []byte(`"sha256":"`), []byte(`"sha256":"zz`), 1)), "manifest.json: schema: files[0]: sha256"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := bundle.Verify(bytes.NewReader(tt.data), int64(len(tt.data)))
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Problems) == 0 || !strings.HasPrefix(rep.Problems[0].String(), tt.want) {
				t.Fatalf("problems %v, want first to start %q", rep.Problems, tt.want)
			}
		})
	}
}

// TestVerifyFile_Errors: a missing file or a directory is a clear error.
func TestVerifyFile_Errors(t *testing.T) {
	dir := t.TempDir()
	if _, err := bundle.VerifyFile(filepath.Join(dir, "none.zip")); vpndiag.ErrorCode(err) != vpndiag.ENOTFOUND {
		t.Errorf("missing file: %v", err)
	}
	if _, err := bundle.VerifyFile(dir); vpndiag.ErrorCode(err) != vpndiag.EINVALID {
		t.Errorf("directory: %v", err)
	}
}
