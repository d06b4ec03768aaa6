package sqlite_test

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/storage/sqlite"
)

func TestEvidenceService_RoundTrip(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	es := sqlite.NewEvidenceService(db)
	c := MustCreateCase(t, db, 1)

	for _, tt := range []struct {
		name    string
		content []byte
	}{
		{"Empty", []byte{}},
		{"Config", []byte("conn hq\n  left=%defaultroute\n  right=203.0.113.10\n  psk=[REDACTED]\n")},
		{"Log3MiB", logLines(3<<20, 1)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := &vpndiag.Evidence{CaseID: c.ID, Name: tt.name + ".txt", Kind: vpndiag.EvidenceLog,
				MediaType: "text/plain", Vendor: "strongswan-ipsec.conf", OriginalSize: 99,
				OriginalSHA256: "ab", Redactions: 1, UploadedBy: "U1"}
			if err := es.CreateEvidence(ctx, e, bytes.NewReader(tt.content)); err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(tt.content)
			if e.ID == 0 || e.Size != int64(len(tt.content)) || e.SHA256 != hex.EncodeToString(sum[:]) ||
				e.CRC32 != crc32.ChecksumIEEE(tt.content) || e.CompressedSize == 0 || e.CreatedAt.IsZero() {
				t.Fatalf("fields not set: %+v", e)
			}
			got, err := es.FindEvidenceByID(ctx, e.ID)
			if err != nil {
				t.Fatal(err)
			} else if !reflect.DeepEqual(got, e) {
				t.Fatalf("metadata:\n got %+v\nwant %+v", got, e)
			}

			rc, err := es.OpenEvidence(ctx, e.ID)
			if err != nil {
				t.Fatal(err)
			}
			content, err := io.ReadAll(rc)
			if err != nil {
				t.Fatal(err)
			}
			if err := rc.Close(); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(content, tt.content) {
				t.Fatalf("content differs: %d bytes, want %d", len(content), len(tt.content))
			}

			raw, err := es.OpenEvidenceRaw(ctx, e.ID)
			if err != nil {
				t.Fatal(err)
			}
			stream, err := io.ReadAll(raw)
			if err != nil {
				t.Fatal(err)
			}
			raw.Close()
			if int64(len(stream)) != e.CompressedSize {
				t.Fatalf("raw stream is %d bytes, want %d", len(stream), e.CompressedSize)
			}
			inflated, err := io.ReadAll(flate.NewReader(bytes.NewReader(stream)))
			if err != nil {
				t.Fatal(err)
			} else if !bytes.Equal(inflated, tt.content) {
				t.Fatal("raw stream does not inflate to the content")
			}
		})
	}

	list, err := es.FindEvidence(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 || list[0].Name != "Empty.txt" || list[2].Name != "Log3MiB.txt" {
		t.Fatalf("FindEvidence = %+v", list)
	}
}

func TestEvidenceService_Errors(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	db.MaxEvidenceBytes = 1000
	es := sqlite.NewEvidenceService(db)
	c := MustCreateCase(t, db, 1)
	ok := func() *vpndiag.Evidence {
		return &vpndiag.Evidence{CaseID: c.ID, Name: "a.log", Kind: vpndiag.EvidenceLog}
	}

	if err := es.CreateEvidence(ctx, ok(), strings.NewReader(strings.Repeat("x", 1000))); err != nil {
		t.Fatalf("content at the cap: %v", err)
	}
	for _, tt := range []struct {
		name string
		e    *vpndiag.Evidence
		r    io.Reader
		code string
		msg  string
	}{
		{"OverCap", ok(), strings.NewReader(strings.Repeat("x", 1001)), vpndiag.ETOOLARGE,
			"File a.log is larger than the limit of 1000 bytes; upload a shorter excerpt."},
		{"NoCase", &vpndiag.Evidence{CaseID: 999, Name: "a.log", Kind: vpndiag.EvidenceLog}, strings.NewReader("x"), vpndiag.ENOTFOUND, ""},
		{"NoName", &vpndiag.Evidence{CaseID: c.ID, Kind: vpndiag.EvidenceLog}, strings.NewReader("x"), vpndiag.EINVALID, ""},
		{"BadKind", &vpndiag.Evidence{CaseID: c.ID, Name: "a", Kind: "pcap"}, strings.NewReader("x"), vpndiag.EINVALID, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := es.CreateEvidence(ctx, tt.e, tt.r)
			wantCode(t, err, tt.code)
			if tt.msg != "" && vpndiag.ErrorMessage(err) != tt.msg {
				t.Fatalf("message = %q, want %q", vpndiag.ErrorMessage(err), tt.msg)
			}
		})
	}
	var n int
	if err := db.SQL().QueryRowContext(ctx, `SELECT (SELECT count(*) FROM evidence) + (SELECT count(*) FROM evidence_chunks)`).Scan(&n); err != nil {
		t.Fatal(err)
	} else if n != 2 {
		t.Fatalf("rows after refused uploads = %d, want 2 (one evidence, one chunk)", n)
	}

	for name, open := range map[string]func(context.Context, int64) (io.ReadCloser, error){
		"OpenEvidence": es.OpenEvidence, "OpenEvidenceRaw": es.OpenEvidenceRaw,
	} {
		_, err := open(ctx, 999)
		if vpndiag.ErrorCode(err) != vpndiag.ENOTFOUND {
			t.Fatalf("%s(999): %v, want ENOTFOUND", name, err)
		}
	}
	_, err := es.FindEvidenceByID(ctx, 999)
	wantCode(t, err, vpndiag.ENOTFOUND)
}

// TestEvidenceService_LargeBoundedMemory streams a 24 MiB log in and out
// and checks that the Go heap never grows by more than a fraction of it.
func TestEvidenceService_LargeBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("large evidence in -short mode")
	}
	const size = 24 << 20
	ctx := context.Background()
	db := MustOpenDB(t)
	db.MaxEvidenceBytes = size
	es := sqlite.NewEvidenceService(db)
	c := MustCreateCase(t, db, 1)

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak uint64
	sample := func() {
		runtime.ReadMemStats(&ms)
		if ms.HeapInuse > peak {
			peak = ms.HeapInuse
		}
	}

	start := time.Now()
	gen := &logReader{left: size, seed: 7, every: 1 << 20, sample: sample}
	e := &vpndiag.Evidence{CaseID: c.ID, Name: "charon.log", Kind: vpndiag.EvidenceLog}
	if err := es.CreateEvidence(ctx, e, gen); err != nil {
		t.Fatal(err)
	}
	write := time.Since(start)
	if e.Size != size || e.SHA256 != gen.sum() {
		t.Fatalf("stored %d bytes sha256 %s, want %d bytes sha256 %s", e.Size, e.SHA256, size, gen.sum())
	}

	start = time.Now()
	rc, err := es.OpenEvidence(ctx, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	buf := make([]byte, 64<<10)
	var read, next int64
	for {
		n, err := rc.Read(buf)
		h.Write(buf[:n])
		read += int64(n)
		if read >= next {
			sample()
			next += 1 << 20
		}
		if err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	rc.Close()
	if read != size || hex.EncodeToString(h.Sum(nil)) != e.SHA256 {
		t.Fatalf("read %d bytes, want %d with the stored hash", read, size)
	}
	growth := int64(peak) - int64(base)
	t.Logf("%d MiB (compressed %.1f MiB): write %v, read %v, peak heap growth %.1f MiB",
		size>>20, float64(e.CompressedSize)/(1<<20), write, time.Since(start), float64(growth)/(1<<20))
	if growth > size/4 {
		t.Fatalf("heap grew by %d bytes while streaming %d", growth, size)
	}

	var chunks int64
	if err := db.SQL().QueryRowContext(ctx, `SELECT count(*) FROM evidence_chunks WHERE evidence_id = ?`, e.ID).Scan(&chunks); err != nil {
		t.Fatal(err)
	} else if want := (e.CompressedSize + sqlite.ChunkSize - 1) / sqlite.ChunkSize; chunks != want || chunks < 2 {
		t.Fatalf("stored %d chunks, want %d (and at least 2)", chunks, want)
	}

	// Over the cap: refused after reading at most cap+1 bytes.
	db.MaxEvidenceBytes = size / 2
	gen = &logReader{left: size, seed: 8}
	err = es.CreateEvidence(ctx, &vpndiag.Evidence{CaseID: c.ID, Name: "big.log", Kind: vpndiag.EvidenceLog}, gen)
	wantCode(t, err, vpndiag.ETOOLARGE)
	if list, err := es.FindEvidence(ctx, c.ID); err != nil || len(list) != 1 {
		t.Fatalf("evidence after refused upload = %d, %v; want 1", len(list), err)
	}
}

// logLines returns n bytes of generated log.
func logLines(n int, seed uint64) []byte {
	b, err := io.ReadAll(&logReader{left: n, seed: seed})
	if err != nil {
		panic(err)
	}
	return b
}

// logReader generates n bytes of plausible IKE log lines, hashing them, and
// calls sample every `every` bytes.
type logReader struct {
	left   int
	seed   uint64
	rng    *rand.Rand
	line   []byte
	h      hash.Hash
	every  int
	count  int
	sample func()
}

func (r *logReader) Read(p []byte) (int, error) {
	if r.rng == nil {
		r.rng = rand.New(rand.NewPCG(r.seed, r.seed))
		r.h = sha256.New()
	}
	if r.left == 0 {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && r.left > 0 {
		if len(r.line) == 0 {
			r.line = fmt.Appendf(r.line[:0], "Nov 25 10:%02d:%02d vpn charon[%d]: %02d[IKE] <hq|%d> sending packet: from 198.51.100.%d[%d] to 203.0.113.%d[4500] (%d bytes)\n",
				r.rng.IntN(60), r.rng.IntN(60), 1000+r.rng.IntN(50), r.rng.IntN(16), r.rng.IntN(300),
				r.rng.IntN(255), 500+r.rng.IntN(2)*4000, r.rng.IntN(255), 60+r.rng.IntN(1400))
		}
		m := copy(p[n:], r.line)
		if m > r.left {
			m = r.left
		}
		r.line = r.line[m:]
		n += m
		r.left -= m
	}
	r.h.Write(p[:n])
	if r.sample != nil {
		r.count += n
		if r.count >= r.every {
			r.count = 0
			r.sample()
		}
	}
	return n, nil
}

// sum returns the hex SHA-256 of everything generated.
func (r *logReader) sum() string { return hex.EncodeToString(r.h.Sum(nil)) }

// TestEvidenceService_DetectsDamage changes the stored checksum and size
// behind the service's back: reading must fail rather than return content
// that does not match its metadata.
func TestEvidenceService_DetectsDamage(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	es := sqlite.NewEvidenceService(db)
	c := MustCreateCase(t, db, 1)
	e := &vpndiag.Evidence{CaseID: c.ID, Name: "a.conf", Kind: vpndiag.EvidenceConfig}
	if err := es.CreateEvidence(ctx, e, strings.NewReader("conn hq\n  right=203.0.113.10\n")); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, update string
		open         func(context.Context, int64) (io.ReadCloser, error)
	}{
		{"CRC", `UPDATE evidence SET crc32 = crc32 + 1 WHERE id = ?`, es.OpenEvidence},
		{"CompressedSize", `UPDATE evidence SET crc32 = crc32 - 1, compressed_size = compressed_size + 1 WHERE id = ?`, es.OpenEvidenceRaw},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := db.SQL().ExecContext(ctx, tt.update, e.ID); err != nil {
				t.Fatal(err)
			}
			rc, err := tt.open(ctx, e.ID)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			if _, err := io.ReadAll(rc); err == nil {
				t.Fatal("damaged evidence read without error")
			}
		})
	}
}

// AttachEvidence stores a file, its findings and its event together: when
// the findings cannot be stored, neither is the file nor its event.
func TestEvidenceService_AttachOneTransaction(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	c := MustCreateCase(t, db, 1)
	store := sqlite.NewEvidenceService(db)
	before, _ := sqlite.NewEventService(db).FindEvents(ctx, c.ID)
	events0 := len(before)
	e := &vpndiag.Evidence{CaseID: c.ID, Name: "a.txt", Kind: vpndiag.EvidenceLog, MediaType: "text/plain"}
	bad := &vpndiag.Finding{Code: "x", Severity: "nonsense", Evidence: []vpndiag.EvidenceRef{{Name: "a.txt"}}}
	ev := &vpndiag.Event{Actor: "U1", Kind: vpndiag.EventEvidenceAdded, Message: "a.txt attached", Data: []byte(`{"name":"a.txt"}`)}
	err := store.AttachEvidence(ctx, &vpndiag.Attachment{Evidence: e, Findings: []*vpndiag.Finding{bad}, Event: ev}, strings.NewReader("hello\n"))
	if vpndiag.ErrorCode(err) != vpndiag.EINVALID {
		t.Fatalf("AttachEvidence = %v, want EINVALID", err)
	}
	es, _ := store.FindEvidence(ctx, c.ID)
	evs, _ := sqlite.NewEventService(db).FindEvents(ctx, c.ID)
	if len(es) != 0 || len(evs) != events0 {
		t.Errorf("after a failed attach: %d evidence, %d events stored", len(es), len(evs))
	}

	// The same, valid: all three are stored, linked to the evidence.
	good := &vpndiag.Finding{Code: "sa-healthy", Severity: vpndiag.SeverityInfo, Summary: "ok", Source: "t", Evidence: []vpndiag.EvidenceRef{{Name: "a.txt", Line: 1}}}
	if err := store.AttachEvidence(ctx, &vpndiag.Attachment{Evidence: e, Findings: []*vpndiag.Finding{good}, Event: ev}, strings.NewReader("hello\n")); err != nil {
		t.Fatal(err)
	}
	fs, _ := sqlite.NewFindingService(db).FindFindings(ctx, c.ID)
	evs, _ = sqlite.NewEventService(db).FindEvents(ctx, c.ID)
	if e.ID == 0 || len(fs) != 1 || fs[0].Evidence[0].EvidenceID != e.ID || len(evs) != events0+1 || !strings.Contains(string(evs[len(evs)-1].Data), fmt.Sprintf(`"evidence_id":%d`, e.ID)) {
		t.Errorf("evidence %d, findings %+v, events %+v", e.ID, fs, evs)
	}
}
