package deflate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/vpndiag/vpndiag"
)

// Spool checks the evidence fields of e and then, with checkCase, that its
// case exists (before an upload is read), compresses r into a temporary
// file under the cap max (see Compress) and returns the file rewound.
// Storing from the file keeps a slow upload from holding a transaction
// open. cleanup removes the file.
func Spool(ctx context.Context, e *vpndiag.Evidence, r io.Reader, max int64, checkCase func(caseID int64) error) (f *os.File, cleanup func(), err error) {
	if e == nil {
		return nil, nil, vpndiag.Errorf(vpndiag.EINVALID, "Evidence is required.")
	}
	if err := Validate(e); err != nil {
		return nil, nil, err
	}
	if err := checkCase(e.CaseID); err != nil {
		return nil, nil, err
	}
	tmp, err := os.CreateTemp("", "vpndiag-evidence-*.deflate")
	if err != nil {
		return nil, nil, fmt.Errorf("temporary file: %w", err)
	}
	cleanup = func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}
	if err := Compress(ctx, e, r, tmp, max); err != nil {
		cleanup()
		return nil, nil, err
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		cleanup()
		return nil, nil, err
	}
	return tmp, cleanup, nil
}

// WriteChunks reads r in pieces of size bytes and hands each to put with
// its number, from 0, until r ends.
func WriteChunks(r io.Reader, size int, put func(n int, data []byte) error) error {
	buf := make([]byte, size)
	for n := 0; ; n++ {
		m, err := io.ReadFull(r, buf)
		if m > 0 {
			if err := put(n, buf[:m]); err != nil {
				return err
			}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil
		} else if err != nil {
			return err
		}
	}
}

// LoadChunk appends stored chunk n of an evidence stream to buf and
// returns it, or ok false when there is no chunk n (the stream ended).
type LoadChunk func(n int, buf []byte) (chunk []byte, ok bool, err error)

// NewChunkReader streams the stored raw DEFLATE stream of evidence e, one
// chunk in memory at a time, each chunk loaded with its own query so that
// nothing stays open while a caller streams (evidence never changes once
// stored). At the end it checks that the stream has e's compressed size.
func NewChunkReader(e *vpndiag.Evidence, load LoadChunk) io.ReadCloser {
	return &chunkReader{id: e.ID, want: e.CompressedSize, load: load}
}

// chunkReader reads an evidence stream chunk by chunk.
type chunkReader struct {
	id   int64
	load LoadChunk
	n    int    // next chunk to load
	buf  []byte // the loaded chunk, reused
	pos  int    // read position in buf
	read int64  // bytes returned so far
	want int64  // the stored compressed size
	eof  bool
}

// Read implements io.Reader.
func (r *chunkReader) Read(p []byte) (int, error) {
	for r.pos >= len(r.buf) {
		if r.eof {
			return 0, io.EOF
		}
		if err := r.next(); err != nil {
			return 0, err
		}
	}
	n := copy(p, r.buf[r.pos:])
	r.pos += n
	r.read += int64(n)
	return n, nil
}

// next loads the next chunk into buf, or marks the end of the stream.
func (r *chunkReader) next() error {
	buf, ok, err := r.load(r.n, r.buf[:0])
	if err != nil {
		return fmt.Errorf("evidence %d chunk %d: %w", r.id, r.n, err)
	}
	r.buf, r.pos = buf, 0
	if ok {
		r.n++
		return nil
	}
	r.eof = true
	if r.read != r.want {
		return fmt.Errorf("evidence %d: stored stream is %d bytes, want %d", r.id, r.read, r.want)
	}
	return nil
}

// Close implements io.Closer.
func (r *chunkReader) Close() error {
	r.buf, r.eof = nil, true
	return nil
}
