package bundle

import (
	"archive/zip"
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"strings"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/internal/ctxio"
)

// Media types of the files of a bundle.
const (
	mediaJSON     = "application/json"
	mediaMarkdown = "text/markdown; charset=utf-8"
	mediaHTML     = "text/html; charset=utf-8"
)

// archive writes entries into a zip and records them for the manifest.
type archive struct {
	zw     *zip.Writer
	d      *caseData
	marker string
	files  []File
}

// entry is the writer of one generated entry: it hashes and counts what is
// written through it.
type entry struct {
	w io.Writer
	h hash.Hash
	n int64
}

func (e *entry) Write(p []byte) (int, error) {
	n, err := e.w.Write(p)
	e.h.Write(p[:n])
	e.n += int64(n)
	return n, err
}

// header returns the zip header of an entry: fixed time (the export time),
// mode 0644, the case marker as the entry comment.
func (a *archive) header(name string, method uint16) *zip.FileHeader {
	fh := &zip.FileHeader{Name: name, Method: method, Modified: a.d.created, Comment: a.marker}
	fh.SetMode(0o644)
	return fh
}

// generate writes one generated entry by calling fill with a writer that
// streams into the archive.
func (a *archive) generate(name, mediaType string, fill func(w io.Writer) error) error {
	zwr, err := a.zw.CreateHeader(a.header(name, zip.Deflate))
	if err != nil {
		return fmt.Errorf("bundle: %s: %w", name, err)
	}
	e := &entry{w: zwr, h: sha256.New()}
	bw := bufio.NewWriterSize(e, 32<<10)
	if err := fill(bw); err != nil {
		return fmt.Errorf("bundle: %s: %w", name, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("bundle: %s: %w", name, err)
	}
	a.files = append(a.files, File{Name: name, Size: e.n, SHA256: hex.EncodeToString(e.h.Sum(nil)), MediaType: mediaType})
	return nil
}

// write writes the whole archive to w and returns its manifest.
func (x *Exporter) write(ctx context.Context, d *caseData, w io.Writer) (*Manifest, error) {
	a := &archive{zw: zip.NewWriter(w), d: d, marker: d.c.Marker}
	a.zw.SetComment(fmt.Sprintf("vpndiag support bundle %s, created %s", d.c.Marker, d.created.Format("2006-01-02T15:04:05Z07:00")))
	steps := []struct {
		name, media string
		fill        func(io.Writer) error
	}{
		{SummaryName, mediaMarkdown, d.writeSummary},
		{ReportName, mediaHTML, d.writeReport},
		{TimelineName, mediaJSON, func(w io.Writer) error { return writeJSONList(w, d.c.Marker, "events", d.events) }},
		{AnswersName, mediaJSON, func(w io.Writer) error { return writeJSONList(w, d.c.Marker, "answers", d.answers) }},
		{FindingsName, mediaJSON, func(w io.Writer) error { return writeJSONList(w, d.c.Marker, "findings", d.findings) }},
	}
	for i, p := range d.probes {
		p := p
		steps = append(steps, struct {
			name, media string
			fill        func(io.Writer) error
		}{probeName(i, p), mediaJSON, func(w io.Writer) error {
			return writeJSON(w, struct {
				Case   string               `json:"case"`
				Result *vpndiag.ProbeResult `json:"result"`
			}{d.c.Marker, p})
		}})
	}
	if len(d.samples) > 0 {
		steps = append(steps, struct {
			name, media string
			fill        func(io.Writer) error
		}{KeepaliveName, mediaJSON, func(w io.Writer) error { return writeJSONList(w, d.c.Marker, "samples", d.samples) }})
	}
	for _, s := range steps {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := a.generate(s.name, s.media, s.fill); err != nil {
			return nil, err
		}
	}
	for _, e := range d.evidence {
		if err := x.copyEvidence(ctx, a, e); err != nil {
			return nil, err
		}
	}
	man := d.manifest(a.files)
	var mb bytes.Buffer
	if err := writeJSON(&mb, man); err != nil {
		return nil, fmt.Errorf("bundle: manifest: %w", err)
	}
	if err := a.small(ManifestName, mb.Bytes()); err != nil {
		return nil, err
	}
	if x.SigningKey != nil {
		sig, err := sign(x.SigningKey, mb.Bytes())
		if err != nil {
			return nil, err
		}
		if err := a.small(SignatureName, sig); err != nil {
			return nil, err
		}
	}
	if err := a.zw.Close(); err != nil {
		return nil, fmt.Errorf("bundle: close archive: %w", err)
	}
	return man, nil
}

// small writes an entry that is not listed in the manifest (the manifest
// and its signature).
func (a *archive) small(name string, data []byte) error {
	zwr, err := a.zw.CreateHeader(a.header(name, zip.Deflate))
	if err == nil {
		_, err = zwr.Write(data)
	}
	if err != nil {
		return fmt.Errorf("bundle: %s: %w", name, err)
	}
	return nil
}

// probeName is the archive name of the i-th probe result.
func probeName(i int, p *vpndiag.ProbeResult) string {
	kind := safeName(string(p.Kind))
	if kind == "attachment" {
		kind = "probe"
	}
	return fmt.Sprintf("%s%03d-%s.json", ProbesDir, i+1, kind)
}

// manifest builds the manifest of the files written.
func (d *caseData) manifest(files []File) *Manifest {
	m := &Manifest{
		Schema:        SchemaName,
		SchemaVersion: SchemaVersion,
		Case:          d.c.Marker,
		CreatedAt:     d.created,
		Tool:          Tool{Name: "vpndiag", Version: vpndiag.Version, Commit: vpndiag.Commit},
		Title:         d.c.Title,
		Status:        d.c.Status,
		InProgress:    d.inProgress(),
		Resolution:    d.c.Resolution,
		KBArticle:     d.c.KBArticle,
		CaseCreatedAt: d.c.CreatedAt,
		Site:          siteOf(d.site),
		Files:         files,
	}
	return m
}

// copyEvidence copies an attachment's stored DEFLATE stream into the archive
// unchanged and, on the way, inflates it into SHA-256 and CRC-32 to check it
// against the evidence record, so the manifest's checksum is proven to be
// the one of the bytes in the archive.
func (x *Exporter) copyEvidence(ctx context.Context, a *archive, e evidenceEntry) error {
	ev := e.ev
	raw, err := x.Evidence.OpenEvidenceRaw(ctx, ev.ID)
	if err != nil {
		return fmt.Errorf("bundle: open evidence %d: %w", ev.ID, err)
	}
	defer raw.Close()
	fh := a.header(e.name, zip.Deflate)
	rawTimes(fh)
	fh.CRC32 = ev.CRC32
	fh.CompressedSize64 = uint64(ev.CompressedSize)
	fh.UncompressedSize64 = uint64(ev.Size)
	zwr, err := a.zw.CreateRaw(fh)
	if err != nil {
		return fmt.Errorf("bundle: %s: %w", e.name, err)
	}

	// The inflater runs beside the copy, fed through a pipe.
	pr, pw := io.Pipe()
	type sums struct {
		n   int64
		sha string
		crc uint32
		err error
	}
	done := make(chan sums, 1)
	go func() {
		h, c := sha256.New(), crc32.NewIEEE()
		fr := flate.NewReader(bufio.NewReaderSize(pr, 64<<10))
		n, err := io.Copy(io.MultiWriter(h, c), fr)
		if err == nil {
			err = fr.Close()
		}
		if err == nil {
			// Bytes after the end of the stream are a mismatch too.
			var extra int64
			extra, err = io.Copy(io.Discard, pr)
			if err == nil && extra > 0 {
				err = fmt.Errorf("%d bytes after the end of the DEFLATE stream", extra)
			}
		}
		pr.CloseWithError(err)
		done <- sums{n, hex.EncodeToString(h.Sum(nil)), c.Sum32(), err}
	}()
	cw := &countWriter{w: zwr}
	_, err = io.Copy(io.MultiWriter(cw, pw), ctxio.Reader(ctx, raw))
	pw.CloseWithError(err)
	s := <-done
	switch {
	case err != nil && ctx.Err() != nil:
		return ctx.Err()
	case err != nil:
		return fmt.Errorf("bundle: copy evidence %q: %w", ev.Name, err)
	case s.err != nil:
		return corrupt(ev, fmt.Sprintf("the stored stream does not inflate: %v", s.err))
	case cw.n != ev.CompressedSize:
		return corrupt(ev, fmt.Sprintf("stored stream is %d bytes, the record says %d", cw.n, ev.CompressedSize))
	case s.n != ev.Size:
		return corrupt(ev, fmt.Sprintf("content is %d bytes, the record says %d", s.n, ev.Size))
	case !strings.EqualFold(s.sha, ev.SHA256):
		return corrupt(ev, fmt.Sprintf("content SHA-256 %s, the record says %s", s.sha, ev.SHA256))
	case s.crc != ev.CRC32:
		return corrupt(ev, fmt.Sprintf("content CRC-32 %08x, the record says %08x", s.crc, ev.CRC32))
	}
	a.files = append(a.files, File{
		Name: e.name, Size: s.n, SHA256: s.sha, MediaType: mediaTypeOf(ev),
		Evidence: &EvidenceInfo{
			Name: ev.Name, Kind: ev.Kind, Vendor: ev.Vendor,
			Redactions: ev.Redactions, UploadedBy: ev.UploadedBy, UploadedAt: ev.CreatedAt,
		},
	})
	return nil
}

// rawTimes sets the MS-DOS time fields and the extended timestamp extra
// field (UTC) from fh.Modified, which zip.Writer.CreateRaw does not do
// itself (CreateHeader does).
func rawTimes(fh *zip.FileHeader) {
	t := fh.Modified.UTC()
	fh.ModifiedDate = uint16(t.Day() + int(t.Month())<<5 + (t.Year()-1980)<<9)
	fh.ModifiedTime = uint16(t.Second()/2 + t.Minute()<<5 + t.Hour()<<11)
	var extra [9]byte
	binary.LittleEndian.PutUint16(extra[0:], 0x5455) // extended timestamp
	binary.LittleEndian.PutUint16(extra[2:], 5)
	extra[4] = 1 // modification time present
	binary.LittleEndian.PutUint32(extra[5:], uint32(t.Unix()))
	fh.Extra = append(fh.Extra, extra[:]...)
}

// corrupt is the error for an attachment whose stored content does not
// match its record: the export stops rather than ship a wrong file.
func corrupt(ev *vpndiag.Evidence, detail string) error {
	return fmt.Errorf("bundle: evidence %q (id %d) is damaged in the store: %s: %w", ev.Name, ev.ID, detail,
		vpndiag.Errorf(vpndiag.EINTERNAL, "Attachment %q of this case is damaged in the store; the bundle was not written.", ev.Name))
}

func mediaTypeOf(ev *vpndiag.Evidence) string {
	if ev.MediaType != "" {
		return ev.MediaType
	}
	return "application/octet-stream"
}

// writeJSON writes v as indented JSON with a final newline.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// writeJSONList writes {"case": marker, key: [items…]}, one item at a time.
func writeJSONList[T any](w io.Writer, marker, key string, items []T) error {
	m, _ := json.Marshal(marker)
	k, _ := json.Marshal(key)
	if _, err := fmt.Fprintf(w, "{\n  \"case\": %s,\n  %s: [", m, k); err != nil {
		return err
	}
	for i, it := range items {
		b, err := marshalIndent(it, "    ")
		if err != nil {
			return err
		}
		sep := ",\n    "
		if i == 0 {
			sep = "\n    "
		}
		if _, err := io.WriteString(w, sep); err != nil {
			return err
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	end := "]\n}\n"
	if len(items) > 0 {
		end = "\n  ]\n}\n"
	}
	_, err := io.WriteString(w, end)
	return err
}

// marshalIndent is json.MarshalIndent without HTML escaping.
func marshalIndent(v any, prefix string) ([]byte, error) {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetIndent(prefix, "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return []byte(strings.TrimSuffix(b.String(), "\n")), nil
}
