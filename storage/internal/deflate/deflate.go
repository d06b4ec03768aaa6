// Package deflate holds what every store does the same way with evidence:
// compress an upload into a raw DEFLATE stream (RFC 1951) while counting
// and hashing it under a size cap, read it back checking the size and
// CRC-32 that were stored, and link an attachment's findings and event to
// the stored evidence.
package deflate

import (
	"compress/flate"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"strconv"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/internal/ctxio"
)

// DefaultMax is the evidence size cap (redacted, uncompressed) of a store
// configured with none.
const DefaultMax = 64 << 20

// Cap returns the size cap max, or DefaultMax when max is 0 or less.
func Cap(max int64) int64 {
	if max > 0 {
		return max
	}
	return DefaultMax
}

// Validate checks the evidence fields the caller must set.
func Validate(e *vpndiag.Evidence) error {
	if e.Name == "" {
		return vpndiag.Errorf(vpndiag.EINVALID, "Evidence needs a file name.")
	}
	switch e.Kind {
	case vpndiag.EvidenceConfig, vpndiag.EvidenceLog, vpndiag.EvidenceStatus, vpndiag.EvidenceOther:
	default:
		return vpndiag.Errorf(vpndiag.EINVALID, "Evidence kind %q is not config, log, status or other.", e.Kind)
	}
	return nil
}

// Compress writes the raw DEFLATE stream of r to w, setting e's Size,
// SHA256, CRC32 and CompressedSize; ETOOLARGE beyond max bytes.
func Compress(ctx context.Context, e *vpndiag.Evidence, r io.Reader, w io.Writer, max int64) error {
	cw := &countWriter{w: w}
	fw, err := flate.NewWriter(cw, flate.DefaultCompression)
	if err != nil {
		return err
	}
	sum, crc := sha256.New(), crc32.NewIEEE()
	n, err := io.Copy(io.MultiWriter(fw, sum, crc), io.LimitReader(ctxio.Reader(ctx, r), max+1))
	if err != nil {
		return fmt.Errorf("read %s: %w", e.Name, err)
	}
	if n > max {
		return vpndiag.Errorf(vpndiag.ETOOLARGE, "File %s is larger than the limit of %s; upload a shorter excerpt.",
			e.Name, FormatBytes(max))
	}
	if err := fw.Close(); err != nil {
		return err
	}
	e.Size, e.SHA256, e.CRC32, e.CompressedSize = n, hex.EncodeToString(sum.Sum(nil)), crc.Sum32(), cw.n
	return nil
}

// Link points a's findings that name the evidence file (and no stored ID)
// at the stored evidence, and adds "evidence_id" to its event's data when
// that is a JSON object. Call it once the evidence has its ID.
func Link(a *vpndiag.Attachment) error {
	e := a.Evidence
	for _, f := range a.Findings {
		for i := range f.Evidence {
			if f.Evidence[i].Name == e.Name && f.Evidence[i].EvidenceID == 0 {
				f.Evidence[i].EvidenceID = e.ID
			}
		}
	}
	if ev := a.Event; ev != nil {
		ev.CaseID = e.CaseID
		var obj map[string]json.RawMessage
		if len(ev.Data) == 0 || json.Unmarshal(ev.Data, &obj) != nil || obj == nil {
			return nil
		}
		obj["evidence_id"] = json.RawMessage(strconv.FormatInt(e.ID, 10))
		data, err := json.Marshal(obj)
		if err != nil {
			return err
		}
		ev.Data = data
	}
	return nil
}

// FormatBytes renders a byte count for people.
func FormatBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// NewReader decompresses the stored stream raw of evidence e and fails at
// the end if the size or CRC-32 differ from what was stored. Closing it
// closes raw.
func NewReader(raw io.ReadCloser, e *vpndiag.Evidence) io.ReadCloser {
	return &contentReader{raw: raw, fr: flate.NewReader(raw), crc: crc32.NewIEEE(), want: e}
}

// contentReader decompresses an evidence stream and checks its size and
// CRC-32 at the end.
type contentReader struct {
	raw  io.ReadCloser
	fr   io.ReadCloser
	crc  hash.Hash32
	n    int64
	want *vpndiag.Evidence
}

// Read implements io.Reader.
func (r *contentReader) Read(p []byte) (int, error) {
	n, err := r.fr.Read(p)
	r.crc.Write(p[:n])
	r.n += int64(n)
	if errors.Is(err, io.EOF) {
		if r.n != r.want.Size || r.crc.Sum32() != r.want.CRC32 {
			return n, fmt.Errorf("evidence %d: content is %d bytes with CRC-32 %08x, want %d bytes with %08x",
				r.want.ID, r.n, r.crc.Sum32(), r.want.Size, r.want.CRC32)
		}
	}
	return n, err
}

// Close implements io.Closer.
func (r *contentReader) Close() error {
	return errors.Join(r.fr.Close(), r.raw.Close())
}

// countWriter counts the bytes written through it.
type countWriter struct {
	w io.Writer
	n int64
}

// Write implements io.Writer.
func (w *countWriter) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	w.n += int64(n)
	return n, err
}
