package redact

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"regexp"
)

// SA status commands print live key material: FortiGate `diagnose vpn
// tunnel list` shows each SA's ESP and AH keys ("esp=aes key=32 9f8e…"),
// `diagnose vpn ike gateway list` the IKE SA's keys ("key: b894…-3c8f…",
// "SK_ei: …"). Whoever holds them and a capture can decrypt the tunnel's
// traffic, so they never reach storage.
var saKeyRes = []*regexp.Regexp{
	regexp.MustCompile(`\bkey=\d+ (?P<v>[0-9a-fA-F]{8,})`),
	regexp.MustCompile(`^\s*(?:key|SK_[a-z]{1,3}|PPK)\s*:\s+(?P<v>[0-9a-fA-F][0-9a-fA-F-]{15,})\s*$`),
}

// SAKeyPlaceholder replaces a key found by SAKeyReader.
const SAKeyPlaceholder = "<redacted:sa-key>"

// SAKeyReader replaces SA key material in what it reads, line by line in
// bounded memory (a line longer than 64 KiB passes in pieces).
type SAKeyReader struct {
	in  *bufio.Reader
	out []byte
	err error
	n   int
}

// NewSAKeyReader returns a reader that redacts SA keys from r.
func NewSAKeyReader(r io.Reader) *SAKeyReader {
	return &SAKeyReader{in: bufio.NewReaderSize(r, 64<<10)}
}

// Count is the number of keys replaced so far.
func (s *SAKeyReader) Count() int { return s.n }

// Read implements io.Reader. Complete lines buffered ahead that hold no
// key word pass in one copy; a line that does is scrubbed on its own.
func (s *SAKeyReader) Read(p []byte) (int, error) {
	for {
		if len(s.out) > 0 {
			n := copy(p, s.out)
			s.out = s.out[n:]
			return n, nil
		}
		if s.err != nil {
			return 0, s.err
		}
		if s.in.Buffered() == 0 {
			if _, err := s.in.Peek(1); err != nil && s.in.Buffered() == 0 {
				s.err = err
				continue
			}
		}
		buf, _ := s.in.Peek(s.in.Buffered())
		if end := bytes.LastIndexByte(buf, '\n') + 1; end > 0 {
			chunk := buf[:end]
			cut := keyWord(chunk)
			if cut < 0 {
				n := copy(p, chunk)
				_, _ = s.in.Discard(n)
				return n, nil
			}
			if start := bytes.LastIndexByte(chunk[:cut], '\n') + 1; start > 0 {
				n := copy(p, chunk[:start])
				_, _ = s.in.Discard(n)
				return n, nil
			}
		}
		line, err := s.in.ReadSlice('\n')
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			s.err = err
		}
		s.out = append(s.out[:0], s.scrub(line)...)
	}
}

// keyWord is the index of the first word a key line needs, or -1.
func keyWord(b []byte) int {
	i := -1
	for _, w := range [][]byte{[]byte("key"), []byte("SK_"), []byte("PPK")} {
		if j := bytes.Index(b, w); j >= 0 && (i < 0 || j < i) {
			i = j
		}
	}
	return i
}

func (s *SAKeyReader) scrub(line []byte) []byte {
	if keyWord(line) < 0 {
		return line
	}
	for _, re := range saKeyRes {
		for {
			m := re.FindSubmatchIndex(line)
			if m == nil {
				break
			}
			s.n++
			line = append(append(append([]byte{}, line[:m[2]]...), SAKeyPlaceholder...), line[m[3]:]...)
		}
	}
	return line
}
