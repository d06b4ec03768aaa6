package redact

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"regexp"
	"strings"
)

// MaxBlock bounds how much of one PEM block or certificate chain is held in
// memory; a longer block is still redacted whole.
const MaxBlock = 1 << 20

// Lines longer than the read buffer are redacted in overlapping windows:
// each window is cut at a point that no secret syntax and no known secret
// crosses, at least window bytes in, and what follows the cut (at least
// overlap bytes) starts the next window. So a key word and its value are
// never redacted apart, whatever the line's length, in bounded memory.
const (
	window  = 64 << 10
	overlap = 16 << 10
)

// Learn reads src to the end and remembers its secrets without writing
// anything, so that a following Copy of the same content also replaces a
// secret where it appears before the line that defines it.
func (r *Redactor) Learn(src io.Reader) error {
	_, err := io.Copy(io.Discard, NewReader(src, r))
	return err
}

// Copy writes the redacted content of src to dst and returns the number of
// bytes written. Line endings (LF or CRLF) and the number of lines are kept.
func (r *Redactor) Copy(dst io.Writer, src io.Reader) (int64, error) {
	n, err := io.Copy(dst, NewReader(src, r))
	return n, err
}

// Reader reads redacted content from an underlying reader, line by line, in
// bounded memory.
type Reader struct {
	red  *Redactor
	in   *bufio.Reader
	out  bytes.Buffer
	st   blockState
	cx   lineCtx    // secrets continued on following lines
	held []heldLine // dump-shaped lines waiting for what follows them
	err  error      // from the underlying reader, returned once out is drained
	long []byte     // the unprocessed part of a line longer than the buffer
	cont bool       // long continues a line whose start was already written
	done bool
}

// NewReader returns a Reader that redacts src with red.
func NewReader(src io.Reader, red *Redactor) *Reader {
	return &Reader{red: red, in: bufio.NewReaderSize(src, 64<<10)}
}

// Read implements io.Reader.
func (rd *Reader) Read(p []byte) (int, error) {
	for rd.out.Len() == 0 && !rd.done {
		rd.fill()
	}
	if rd.out.Len() > 0 {
		return rd.out.Read(p)
	}
	if rd.err != nil {
		return 0, rd.err
	}
	return 0, io.EOF
}

// fill processes input lines until some output is ready or input ends.
func (rd *Reader) fill() {
	for i := 0; i < 256 && rd.out.Len() < 32<<10; i++ {
		if rd.fastPath() {
			continue
		}
		line, err := rd.in.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			rd.long = append(rd.long, line...)
			if len(rd.long) >= window+overlap {
				rd.longWindow()
			}
			continue
		}
		if len(rd.long) > 0 {
			rd.long = append(rd.long, line...)
			body, end := splitEnding(rd.long)
			rd.lineBody(body, end, rd.cont)
			rd.long, rd.cont = rd.long[:0], false
		} else if len(line) > 0 {
			rd.line(line)
		}
		if err != nil {
			rd.releaseHeld(false)
			rd.st.flush(rd.red, &rd.out)
			if err != io.EOF {
				rd.err = err
			}
			rd.done = true
			return
		}
	}
}

// fastPath copies the complete lines buffered ahead up to the first line
// that holds a trigger word, without looking at them one by one; it
// reports whether it copied anything. It stands aside whenever a line needs
// context (inside a block, obfuscation, secrets learnt earlier).
func (rd *Reader) fastPath() bool {
	if len(rd.long) > 0 || len(rd.held) > 0 || rd.st.active() || rd.st.inChain || rd.cx.active() || rd.red.opts.PublicIPs || rd.red.opts.Hostnames || rd.red.hasKnown() {
		return false
	}
	// Look at what is buffered; fill the buffer only when little is left
	// (filling slides the buffer: doing it for every line that holds a
	// trigger word would copy the buffer once per line).
	n := rd.in.Buffered()
	if n < 4<<10 {
		n = rd.in.Size()
	}
	buf, _ := rd.in.Peek(n)
	end := bytes.LastIndexByte(buf, '\n') + 1
	if end == 0 {
		return false
	}
	chunk := buf[:end]
	if s, _ := triggers.Next(chunk, 0); s >= 0 {
		end = bytes.LastIndexByte(chunk[:s], '\n') + 1
	}
	// Dump-shaped lines at the end are left to line: in a log written
	// newest first, their header follows them.
	end = dumpTail(chunk[:end])
	// Blocks (PEM, Cisco certificate chains) start on lines of their own.
	for _, mark := range blockMarks {
		if i := bytes.Index(chunk[:end], mark); i >= 0 {
			end = bytes.LastIndexByte(chunk[:i], '\n') + 1
		}
	}
	if end == 0 {
		return false
	}
	rd.out.Write(chunk[:end])
	_, _ = rd.in.Discard(end)
	return true
}

// A log written newest first (OPNsense's log view, some exports) puts a
// hex dump before its header. Lines shaped exactly like strongSwan's dump
// lines ("  16: 0F 1E … 87  ..-<KZix…": sixteen byte columns, padded, and
// the ASCII column) are held until the next line shows whether a header
// follows them.
var reverseDumpLine = regexp.MustCompile(`^(?:.*\s)?\d{1,6}: (?:[0-9A-F]{2} ){0,15}[0-9A-F]{2} +\S.{0,15}$`)

// dumpShaped reports whether a line looks exactly like a dump line.
func dumpShaped(body []byte) bool {
	return len(body) < 512 && bytes.Contains(body, []byte(": ")) && reverseDumpLine.Match(body)
}

// maxHeld bounds the lines held: a dump of 4 KiB.
const maxHeld = 256

type heldLine struct{ body, end string }

// releaseHeld writes the held lines: redacted as a dump when a header
// follows them, as ordinary lines otherwise.
func (rd *Reader) releaseHeld(dump bool) {
	held := rd.held
	rd.held = nil
	cx := lineCtx{dump: 1 << 20, dumpKind: KindSecret}
	for _, h := range held {
		if dump {
			if out, ok := rd.red.dumpLineOf(h.body, &cx); ok {
				rd.out.WriteString(out)
				rd.out.WriteString(h.end)
				continue
			}
		}
		rd.out.WriteString(rd.red.line(h.body, nil))
		rd.out.WriteString(h.end)
	}
}

// dumpTail returns where the dump-shaped lines that end chunk begin
// (len(chunk) when there are none).
func dumpTail(chunk []byte) int {
	end := len(chunk)
	for n := 0; end > 0 && n < maxHeld; n++ {
		start := bytes.LastIndexByte(chunk[:end-1], '\n') + 1
		body, _ := splitEnding(chunk[start:end])
		if !dumpShaped(body) {
			break
		}
		end = start
	}
	return end
}

// blockMarks start the blocks that fastPath leaves to line.
var blockMarks = [][]byte{[]byte("-----BEGIN "), []byte("certificate chain"), []byte("CERTIFICATE CHAIN")}

// longWindow redacts the first part of a long line and keeps the rest.
func (rd *Reader) longWindow() {
	c := rd.red.safeCut(string(rd.long), len(rd.long)-overlap)
	rd.lineBody(rd.long[:c], "", rd.cont)
	n := copy(rd.long, rd.long[c:])
	rd.long, rd.cont = rd.long[:n], true
}

// line handles one line with its ending (if any).
func (rd *Reader) line(raw []byte) {
	body, end := splitEnding(raw)
	rd.lineBody(body, end, false)
}

// lineBody handles one line, or one window of a long line; cont is true for
// a window that does not start the line.
func (rd *Reader) lineBody(body []byte, end string, cont bool) {
	if !cont && !rd.cx.active() && !rd.st.active() {
		if dumpShaped(body) && len(rd.held) < maxHeld {
			rd.held = append(rd.held, heldLine{string(body), end})
			return
		}
		if len(rd.held) > 0 {
			rd.releaseHeld(dumpHeader.Match(body))
		}
	}
	if !cont && rd.cx.active() && !rd.st.active() {
		if rd.cx.dump > 0 {
			if out, ok := rd.red.dumpLineOf(string(body), &rd.cx); ok {
				rd.out.WriteString(out)
				rd.out.WriteString(end)
				return
			}
		}
		if rd.cx.mode != modeNone {
			if out, ok := rd.red.continued(string(body), &rd.cx); ok {
				rd.out.WriteString(rd.red.line(out, nil))
				rd.out.WriteString(end)
				return
			}
		}
	}
	if rd.st.active() {
		rd.st.add(rd.red, body, end, &rd.out)
		return
	}
	if rd.st.starts(body) {
		rd.st.add(rd.red, body, end, &rd.out)
		return
	}
	if !cont {
		rd.st.track(body)
	}
	if !triggers.Contains(body) && !rd.red.opts.PublicIPs && !rd.red.opts.Hostnames && !rd.red.hasKnown() {
		rd.out.Write(body)
		rd.out.WriteString(end)
		return
	}
	if cont {
		// The window starts inside a line: "\x01 " keeps rules anchored at
		// a line's start from matching here, and lets a key that starts
		// the window match as one after white space.
		s := rd.red.line("\x01 "+string(body), nil)
		rd.out.WriteString(s[2:])
		rd.out.WriteString(end)
		return
	}
	rd.out.WriteString(rd.red.line(string(body), &rd.cx))
	rd.out.WriteString(end)
}

func splitEnding(raw []byte) ([]byte, string) {
	switch {
	case bytes.HasSuffix(raw, []byte("\r\n")):
		return raw[:len(raw)-2], "\r\n"
	case bytes.HasSuffix(raw, []byte("\n")):
		return raw[:len(raw)-1], "\n"
	}
	return raw, ""
}

// blockState follows multi-line secrets: PEM blocks (-----BEGIN X-----
// ... -----END X-----, possibly inside quotes as FortiGate writes them) and
// Cisco certificate chains (hex lines after "certificate ..." up to "quit").
type blockState struct {
	kind    string   // "" when not in a block
	pem     bool     // a PEM block, else a Cisco hex chain
	prefix  string   // text before -----BEGIN on the first line
	indent  string   // indentation of the first hex line
	lines   []string // the block's lines so far (bounded)
	ends    []string // their line endings
	size    int
	inChain bool // inside "crypto pki/ca certificate chain"
	certHdr bool // the previous line was a "certificate ..." line of a chain
}

var (
	beginRe    = regexp.MustCompile(`-----BEGIN ([A-Z0-9 ]+)-----`)
	chainRe    = regexp.MustCompile(`(?i)^\s*crypto\s+(?:pki|ca)\s+certificate\s+chain\b`)
	certLineRe = regexp.MustCompile(`(?i)^\s+certificate\s+(?:(?:ca|self-signed|rollover)\s+)?[0-9a-f]+\s*$`)
	hexLineRe  = regexp.MustCompile(`^\s*[0-9A-Fa-f]{2,}(?:\s+[0-9A-Fa-f]{2,})*\s*$`)
)

func (b *blockState) active() bool { return b.kind != "" }

// track follows the context that Cisco hex chains need.
func (b *blockState) track(body []byte) {
	if chainRe.Match(body) {
		b.inChain = true
		b.certHdr = false
		return
	}
	if b.inChain {
		if len(body) > 0 && body[0] != ' ' && body[0] != '\t' {
			b.inChain = false
			b.certHdr = false
			return
		}
		b.certHdr = certLineRe.Match(body)
	}
}

// starts reports whether body opens a block, and sets it up.
func (b *blockState) starts(body []byte) bool {
	if b.inChain && b.certHdr && hexLineRe.Match(body) {
		b.kind, b.pem = KindCertificate, false
		b.indent = string(body[:len(body)-len(bytes.TrimLeft(body, " \t"))])
		return true
	}
	if !bytes.Contains(body, []byte("-----BEGIN ")) {
		return false
	}
	m := beginRe.FindSubmatchIndex(body)
	if m == nil {
		return false
	}
	label := string(body[m[2]:m[3]])
	b.kind = KindCertificate
	if strings.Contains(label, "PRIVATE KEY") || strings.Contains(label, "ENCRYPTED") {
		b.kind = KindPrivateKey
	} else if !strings.Contains(label, "CERTIFICATE") {
		b.kind = KindSecret
	}
	b.pem = true
	b.prefix = string(body[:m[0]])
	return true
}

// add takes one line of an open block and closes it when it ends.
func (b *blockState) add(red *Redactor, body []byte, end string, out *bytes.Buffer) {
	if !b.pem {
		t := bytes.TrimSpace(body)
		if !hexLineRe.Match(body) || bytes.EqualFold(t, []byte("quit")) {
			b.flush(red, out)
			// The terminating line is ordinary text.
			out.WriteString(red.Line(string(body)))
			out.WriteString(end)
			return
		}
		b.keep(string(body), end)
		return
	}
	b.keep(string(body), end)
	if i := bytes.Index(body, []byte("-----END ")); i >= 0 {
		if j := bytes.Index(body[i+9:], []byte("-----")); j >= 0 {
			b.flush(red, out)
		}
	}
}

// keep remembers a line of the block, bounded by MaxBlock.
func (b *blockState) keep(line, end string) {
	if b.size < MaxBlock {
		b.lines = append(b.lines, line)
		b.size += len(line)
	} else {
		// Remember only that a line was there, to keep the line count.
		b.lines = append(b.lines, "")
	}
	b.ends = append(b.ends, end)
}

// flush writes the redacted block: the placeholder where the block began,
// empty lines for the rest, and whatever followed the END marker.
func (b *blockState) flush(red *Redactor, out *bytes.Buffer) {
	if b.kind == "" {
		return
	}
	var suffix string
	content := strings.Join(b.lines, "\n")
	if b.pem {
		content = strings.TrimPrefix(content, b.prefix)
		if i := strings.Index(content, "-----END "); i >= 0 {
			if j := strings.Index(content[i+9:], "-----"); j >= 0 {
				cut := i + 9 + j + 5
				suffix = content[cut:]
				content = content[:cut]
			}
		}
	} else {
		var hex strings.Builder
		for _, l := range b.lines {
			hex.WriteString(strings.Join(strings.Fields(l), ""))
		}
		content = hex.String()
	}
	p := red.placeholder(b.kind, content)
	for i := range b.ends {
		switch {
		case i == 0 && b.pem:
			out.WriteString(b.prefix + p)
		case i == 0:
			out.WriteString(b.indent + p)
		}
		if i == len(b.ends)-1 {
			out.WriteString(suffix)
		}
		out.WriteString(b.ends[i])
	}
	if len(b.ends) == 0 {
		out.WriteString(b.prefix + p + suffix)
	}
	inChain := b.inChain
	*b = blockState{inChain: inChain}
}

// safeCut returns a cut point in s, at most c, that no rule's match and no
// known secret crosses, moved back to just after white space or a
// separator so that no word is cut; len(s) when there is none (a single
// match longer than the window). Only matches within overlap bytes of the
// cut are looked at: a longer one is not guaranteed to stay whole.
func (r *Redactor) safeCut(s string, c int) int {
	lo, hi := max(0, c-overlap), min(len(s), c+overlap)
	region := s[lo:hi]
	lower := strings.ToLower(region)
	for changed := true; changed; {
		changed = false
		for _, ru := range cutRules {
			if !containsAny(lower, ru.need) {
				continue
			}
			for _, m := range ru.re.FindAllStringIndex(region, -1) {
				if lo+m[0] < c && lo+m[1] > c {
					c, changed = lo+m[0], true
				}
			}
		}
		r.mu.Lock()
		known := r.known
		r.mu.Unlock()
		for _, k := range known {
			from := max(0, c-len(k.Value)+1)
			if i := strings.Index(s[from:min(len(s), c+len(k.Value)-1)], k.Value); i >= 0 && from+i < c {
				c, changed = from+i, true
			}
		}
	}
	for i := c - 1; i > 0 && c-i < overlap; i-- {
		if strings.IndexByte(" \t,;{}[]", s[i]) >= 0 {
			c = i + 1
			break
		}
	}
	if c <= 0 {
		return len(s)
	}
	return c
}

// cutRules are every pattern that finds a secret with its key word.
var cutRules = func() []rule {
	out := append(append([]rule(nil), rules...), shapes...)
	for _, re := range []*regexp.Regexp{jsonKV, nameValue, xmlElem, attrKV, wordKV, flagKV} {
		out = append(out, rule{re: re})
	}
	return out
}()
