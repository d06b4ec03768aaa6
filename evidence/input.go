package evidence

import (
	"bufio"
	"bytes"
	"io"
	"sync"
	"unicode/utf16"
	"unicode/utf8"
)

// Binary says what the start of a file (its first 8 KiB are enough) looks
// like when it is not text that evidence analysis reads, e.g. "a zip
// archive (extract the text files first)"; empty for text in any encoding
// it reads (UTF-8, UTF-16 with or without BOM, Latin-1). It is the one
// binary check: an intake that sees the head first (a chat download) uses
// it to stop early, and Attach refuses the same files.
func Binary(head []byte) string {
	bin, _ := sniff(head)
	return bin
}

// sniff looks at the start of a file and says whether it is binary (and
// what it looks like) and which text encoding it uses.
func sniff(head []byte) (binary string, encoding string) {
	switch {
	case len(head) >= 2 && (head[0] == 0xFF && head[1] == 0xFE):
		return "", "utf-16le"
	case len(head) >= 2 && (head[0] == 0xFE && head[1] == 0xFF):
		return "", "utf-16be"
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		return "a gzip-compressed file (decompress it first)", ""
	case bytes.HasPrefix(head, []byte("PK\x03\x04")):
		return "a zip archive (extract the text files first)", ""
	case bytes.HasPrefix(head, []byte{0xd4, 0xc3, 0xb2, 0xa1}), bytes.HasPrefix(head, []byte{0xa1, 0xb2, 0xc3, 0xd4}), bytes.HasPrefix(head, []byte{0x0a, 0x0d, 0x0d, 0x0a}):
		return "a packet capture", ""
	case bytes.HasPrefix(head, []byte("%PDF")):
		return "a PDF document", ""
	case bytes.HasPrefix(head, []byte("\x7fELF")):
		return "an executable", ""
	}
	n := len(head)
	if n > 8192 {
		n = 8192
	}
	h := head[:n]
	// UTF-16 without BOM: NULs at every other byte of ASCII text.
	if n >= 8 {
		evenNUL, oddNUL := 0, 0
		for i := 0; i+1 < n; i += 2 {
			if h[i] == 0 && h[i+1] != 0 {
				evenNUL++
			}
			if h[i+1] == 0 && h[i] != 0 {
				oddNUL++
			}
		}
		if oddNUL*10 >= n/2*9 {
			return "", "utf-16le"
		}
		if evenNUL*10 >= n/2*9 {
			return "", "utf-16be"
		}
	}
	ctrl := 0
	for _, c := range h {
		if c == 0 {
			return "binary data (it contains NUL bytes)", ""
		}
		if c < 0x20 && c != '\n' && c != '\r' && c != '\t' && c != '\f' && c != 0x1b {
			ctrl++
		}
	}
	if n > 0 && ctrl*10 > n {
		return "binary data (too many control characters)", ""
	}
	if !utf8.Valid(trimPartialRune(h)) {
		return "", "latin-1"
	}
	return "", "utf-8"
}

// trimPartialRune drops an incomplete UTF-8 sequence at the end of b (the
// head may cut a character in two).
func trimPartialRune(b []byte) []byte {
	for i := 0; i < 3 && len(b) > 0; i++ {
		r, size := utf8.DecodeLastRune(b)
		if r != utf8.RuneError || size != 1 {
			return b
		}
		b = b[:len(b)-1]
	}
	return b
}

// decoder returns a reader yielding UTF-8 from r in encoding.
func decoder(r io.Reader, encoding string) io.Reader {
	switch encoding {
	case "utf-16le", "utf-16be":
		return &utf16Reader{r: bufio.NewReader(r), big: encoding == "utf-16be"}
	case "latin-1":
		return &latin1Reader{r: r}
	}
	return r
}

// utf16Reader decodes UTF-16 (dropping a BOM) into UTF-8.
type utf16Reader struct {
	r       *bufio.Reader
	big     bool
	out     []byte
	started bool
	pending []uint16
	err     error
}

func (u *utf16Reader) Read(p []byte) (int, error) {
	for len(u.out) == 0 && u.err == nil {
		var units []uint16
		for len(units) < 2048 {
			var b [2]byte
			if _, err := io.ReadFull(u.r, b[:]); err != nil {
				u.err = io.EOF
				if err != io.EOF && err != io.ErrUnexpectedEOF {
					u.err = err
				}
				break
			}
			var v uint16
			if u.big {
				v = uint16(b[0])<<8 | uint16(b[1])
			} else {
				v = uint16(b[1])<<8 | uint16(b[0])
			}
			if !u.started {
				u.started = true
				if v == 0xFEFF {
					continue
				}
			}
			units = append(units, v)
		}
		units = append(u.pending, units...)
		u.pending = nil
		// Keep a trailing high surrogate for the next round.
		if n := len(units); n > 0 && units[n-1] >= 0xD800 && units[n-1] < 0xDC00 && u.err == nil {
			u.pending = []uint16{units[n-1]}
			units = units[:n-1]
		}
		for _, r := range utf16.Decode(units) {
			u.out = utf8.AppendRune(u.out, r)
		}
	}
	if len(u.out) > 0 {
		n := copy(p, u.out)
		u.out = u.out[n:]
		return n, nil
	}
	return 0, u.err
}

// latin1Reader turns ISO-8859-1 bytes into UTF-8, leaving valid UTF-8
// lines as they are.
type latin1Reader struct {
	r   io.Reader
	out []byte
	err error
}

func (l *latin1Reader) Read(p []byte) (int, error) {
	for len(l.out) == 0 && l.err == nil {
		chunk := make([]byte, 32<<10)
		n, err := l.r.Read(chunk)
		l.err = err
		for _, c := range chunk[:n] {
			if c < 0x80 {
				l.out = append(l.out, c)
			} else {
				l.out = utf8.AppendRune(l.out, rune(c))
			}
		}
	}
	if len(l.out) > 0 {
		n := copy(p, l.out)
		l.out = l.out[n:]
		return n, nil
	}
	return 0, l.err
}

// readAhead reads r in a goroutine of its own, up to depth chunks of chunk
// bytes ahead of the caller, so that what produces the text (decoding and
// redaction) and what consumes it (detection and analysis) run on two
// cores at once. Close stops the goroutine; it must be called.
func readAhead(r io.Reader, chunk, depth int) io.ReadCloser {
	ra := &aheadReader{full: make(chan []byte, depth), free: make(chan []byte, depth+1), stop: make(chan struct{})}
	for range depth + 1 {
		ra.free <- make([]byte, chunk)
	}
	go ra.fill(r)
	return ra
}

type aheadReader struct {
	full chan []byte   // filled chunks, in order; closed after the last
	free chan []byte   // chunks to fill
	stop chan struct{} // closed by Close
	err  error         // the producer's final error, read after full is closed
	cur  []byte        // the chunk being read
	buf  []byte        // cur's whole buffer, to give back
	once sync.Once
}

func (a *aheadReader) fill(r io.Reader) {
	defer close(a.full)
	for {
		var b []byte
		select {
		case b = <-a.free:
		case <-a.stop:
			return
		}
		n, err := io.ReadFull(r, b)
		if n > 0 {
			select {
			case a.full <- b[:n]:
			case <-a.stop:
				return
			}
		}
		if err != nil {
			if err != io.EOF && err != io.ErrUnexpectedEOF {
				a.err = err
			}
			return
		}
	}
}

func (a *aheadReader) Read(p []byte) (int, error) {
	for len(a.cur) == 0 {
		if a.buf != nil {
			a.free <- a.buf[:cap(a.buf)]
			a.buf = nil
		}
		b, ok := <-a.full
		if !ok {
			if a.err != nil {
				return 0, a.err
			}
			return 0, io.EOF
		}
		a.cur, a.buf = b, b
	}
	n := copy(p, a.cur)
	a.cur = a.cur[n:]
	return n, nil
}

// Close stops the reading goroutine.
func (a *aheadReader) Close() error {
	a.once.Do(func() { close(a.stop) })
	return nil
}
