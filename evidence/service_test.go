package evidence_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/evidence"
	"github.com/vpndiag/vpndiag/evidence/internal/fixtures"
	"github.com/vpndiag/vpndiag/evidence/logs"
	"github.com/vpndiag/vpndiag/kb"
	"github.com/vpndiag/vpndiag/storage/sqlite"
)

func mustJSON(tb testing.TB, v any) string {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// secretsOf returns the hand-listed secrets of a fixture (from the redact
// package's table).
func secretsOf(tb testing.TB, path string) []string {
	tb.Helper()
	f, err := os.Open("redact/testdata/fixture-secrets.txt")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	rel := filepath.Base(filepath.Dir(path)) + "/" + filepath.Base(path)
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if file, s, ok := strings.Cut(sc.Text(), "\t"); ok && file == rel {
			out = append(out, s)
		}
	}
	return out
}

// MustOpenDB opens a real SQLite database in a temporary directory.
func MustOpenDB(tb testing.TB) *sqlite.DB {
	tb.Helper()
	db := sqlite.NewDB(filepath.Join(tb.TempDir(), "vpndiag.db"))
	if err := db.Open(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// MustCreateCase stores a case.
func MustCreateCase(tb testing.TB, db *sqlite.DB) *vpndiag.Case {
	tb.Helper()
	m, err := vpndiag.NewMarker(time.Now(), nil)
	if err != nil {
		tb.Fatal(err)
	}
	c := &vpndiag.Case{Marker: m, Title: "tunnel down", Status: vpndiag.CaseOpen, Origin: "terminal", CreatedBy: "tester"}
	if err := sqlite.NewCaseService(db).CreateCase(context.Background(), c); err != nil {
		tb.Fatal(err)
	}
	return c
}

func newService(db *sqlite.DB) *evidence.Service {
	return &evidence.Service{
		Evidence: sqlite.NewEvidenceService(db),
		MaxBytes: 1 << 20,
	}
}

func TestAttach(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	c := MustCreateCase(t, db)
	svc := newService(db)
	path := filepath.Join(fixtures.Dir(t), "configs", "strongswan-swanctl-net2net-psk-moon.txt")
	raw := fixtures.MustRead(t, path)
	rep, err := svc.Attach(ctx, c.ID, "/home/me/"+filepath.Base(path), bytes.NewReader(raw), "U123", testSite())
	if err != nil {
		t.Fatal(err)
	}
	evs, err := sqlite.NewEvidenceService(db).FindEvidence(ctx, c.ID)
	if err != nil || len(evs) != 1 {
		t.Fatalf("evidence %v %v", evs, err)
	}
	e := evs[0]
	if e.Name != filepath.Base(path) || e.Kind != vpndiag.EvidenceConfig || e.Vendor != "strongswan-swanctl" || e.Redactions == 0 || e.OriginalSize != int64(len(raw)) {
		t.Errorf("evidence %+v", e)
	}
	rc, err := sqlite.NewEvidenceService(db).OpenEvidence(ctx, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := io.ReadAll(rc)
	rc.Close()
	for _, s := range secretsOf(t, path) {
		if bytes.Contains(stored, []byte(s)) {
			t.Errorf("secret %q stored", s)
		}
	}
	if !bytes.Contains(stored, []byte("<redacted:psk:")) || bytes.Count(stored, []byte("\n")) != bytes.Count(raw, []byte("\n")) {
		t.Error("stored content is not the redacted file")
	}
	fs, err := sqlite.NewFindingService(db).FindFindings(ctx, c.ID)
	if err != nil || len(fs) != len(rep.Findings) || len(fs) == 0 {
		t.Fatalf("findings %d stored, %d reported, %v", len(fs), len(rep.Findings), err)
	}
	for _, f := range fs {
		if f.Evidence[0].EvidenceID != e.ID {
			t.Errorf("finding %s not linked to evidence %d", f.Code, e.ID)
		}
	}
	events, err := sqlite.NewEventService(db).FindEvents(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	var added *vpndiag.Event
	for _, ev := range events {
		if ev.Kind == vpndiag.EventEvidenceAdded {
			added = ev
		}
	}
	if added == nil || added.Actor != "U123" || !strings.Contains(string(added.Data), kb.CodePhase2Lifetime) {
		t.Errorf("evidence.added event %+v", added)
	}
	for _, s := range secretsOf(t, path) {
		if strings.Contains(mustJSON(t, events), s) || strings.Contains(mustJSON(t, fs), s) {
			t.Errorf("secret %q in events or findings", s)
		}
	}
}

// TestAttachRefusals: too large, empty and binary files are refused with a
// clear message and nothing is stored.
func TestAttachRefusals(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	c := MustCreateCase(t, db)
	svc := newService(db)
	tests := []struct {
		name string
		in   []byte
		code string
		msg  string
	}{
		{"huge", bytes.Repeat([]byte("set psksecret abc\n"), (1<<20)/18+10), vpndiag.ETOOLARGE, "larger than the 1 MiB limit"},
		{"empty", nil, vpndiag.EINVALID, "is empty"},
		{"binary", []byte("\x00\x00\x01\x02\x03"), vpndiag.EINVALID, "not text"},
		{"zip", []byte("PK\x03\x04rest"), vpndiag.EINVALID, "zip archive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := svc.Attach(ctx, c.ID, tt.name+".txt", bytes.NewReader(tt.in), "U1", nil)
			if vpndiag.ErrorCode(err) != tt.code || !strings.Contains(vpndiag.ErrorMessage(err), tt.msg) {
				t.Errorf("error %v, want %s %q", err, tt.code, tt.msg)
			}
		})
	}
	if evs, _ := sqlite.NewEvidenceService(db).FindEvidence(ctx, c.ID); len(evs) != 0 {
		t.Errorf("%d evidence stored after refusals", len(evs))
	}
	if fs, _ := sqlite.NewFindingService(db).FindFindings(ctx, c.ID); len(fs) != 0 {
		t.Errorf("%d findings stored after refusals", len(fs))
	}
}

// TestAttachEchoedSecret: a secret repeated before the line that defines it
// is redacted too.
func TestAttachEchoedSecret(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	c := MustCreateCase(t, db)
	in := "# old key was Very-Secret-Key-42, do not reuse\nconfig vpn ipsec phase1-interface\n    edit \"c\"\n        set remote-gw 203.0.113.10\n        set psksecret Very-Secret-Key-42\n    next\nend\n"
	if _, err := newService(db).Attach(ctx, c.ID, "fgt.txt", strings.NewReader(in), "U1", nil); err != nil {
		t.Fatal(err)
	}
	evs, _ := sqlite.NewEvidenceService(db).FindEvidence(ctx, c.ID)
	rc, err := sqlite.NewEvidenceService(db).OpenEvidence(ctx, evs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if bytes.Contains(b, []byte("Very-Secret-Key-42")) {
		t.Errorf("echoed secret stored:\n%s", b)
	}
}

func FuzzAnalyze(f *testing.F) {
	for _, p := range append(fixtures.Files(f, "configs"), fixtures.Files(f, "logs")...) {
		b := fixtures.MustRead(f, p)
		if len(b) > 32<<10 {
			b = b[:32<<10]
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := evidence.Analyze(context.Background(), "fuzz", bytes.NewReader(in), testSite())
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Findings) == 0 && len(r.NotUnderstood) == 0 && len(r.Understood) == 0 {
			t.Fatal("empty report")
		}
	})
}

// BenchmarkAnalyzeLog measures a log through detection, redaction and
// analysis (set VPNDIAG_BENCH_LOG to a file from evidence/logs/cmd/genlog;
// 16 MiB generated in memory otherwise).
func BenchmarkAnalyzeLog(b *testing.B) {
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
		if _, err := evidence.Analyze(context.Background(), "bench.log", bytes.NewReader(data), nil); err != nil {
			b.Fatal(err)
		}
	}
}
