package bundle

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"regexp"
)

// Verify checks the generated JSON files of a bundle without holding them
// in memory: scanJSON reads a document once, checks its syntax and returns
// its top-level "case" string, in memory bounded by maxJSONDepth and the
// small captures, whatever the document's size or the length of its
// strings.

const (
	// maxJSONDepth bounds nesting (our files nest four levels deep).
	maxJSONDepth = 64
	// maxCapture bounds the "case" value kept (a marker is 17 bytes).
	maxCapture = 64
	// maxNumber bounds a number's text.
	maxNumber = 64
)

var numberRe = regexp.MustCompile(`^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$`)

type jsonScanner struct {
	r   *bufio.Reader
	off int64
}

// scanJSON checks that r holds one JSON object and returns the value of
// its top-level "case" member when that is a string (ok false otherwise).
func scanJSON(r io.Reader) (caseValue string, ok bool, err error) {
	s := &jsonScanner{r: bufio.NewReaderSize(r, 32<<10)}
	c, err := s.next()
	if err != nil {
		return "", false, err
	}
	if c != '{' {
		return "", false, s.errorf("the document is not a JSON object")
	}
	caseValue, ok, err = s.object(1, true)
	if err != nil {
		return "", false, err
	}
	if c, err := s.next(); err == nil {
		return "", false, s.errorf("invalid character %q after the top-level value", c)
	} else if !errors.Is(err, io.EOF) {
		return "", false, err
	}
	return caseValue, ok, nil
}

// syntaxError is a document that is not valid JSON (other errors are the
// underlying reader's).
type syntaxError struct{ msg string }

func (e *syntaxError) Error() string { return e.msg }

func (s *jsonScanner) errorf(format string, args ...any) error {
	return &syntaxError{fmt.Sprintf("offset %d: %s", s.off, fmt.Sprintf(format, args...))}
}

func (s *jsonScanner) byte() (byte, error) {
	c, err := s.r.ReadByte()
	if err == nil {
		s.off++
	}
	return c, err
}

// next returns the next byte that is not white space.
func (s *jsonScanner) next() (byte, error) {
	for {
		c, err := s.byte()
		if err != nil {
			return 0, err
		}
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return c, nil
	}
}

// unexpected turns an early end into a syntax error.
func (s *jsonScanner) unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return s.errorf("unexpected end of JSON input")
	}
	return err
}

// object reads the members of an object whose '{' was read; top asks for
// the "case" member.
func (s *jsonScanner) object(depth int, top bool) (caseValue string, ok bool, err error) {
	if depth > maxJSONDepth {
		return "", false, s.errorf("nested more than %d levels", maxJSONDepth)
	}
	c, err := s.next()
	if err != nil {
		return "", false, s.unexpected(err)
	}
	if c == '}' {
		return "", false, nil
	}
	for {
		if c != '"' {
			return "", false, s.errorf("invalid character %q looking for a member name", c)
		}
		var key []byte
		if err := s.str(&key, maxCapture); err != nil {
			return "", false, err
		}
		if c, err = s.next(); err != nil {
			return "", false, s.unexpected(err)
		} else if c != ':' {
			return "", false, s.errorf("invalid character %q after a member name", c)
		}
		if c, err = s.next(); err != nil {
			return "", false, s.unexpected(err)
		}
		if top && string(key) == "case" {
			ok = false
			if c == '"' {
				var v []byte
				if err := s.str(&v, maxCapture+1); err != nil {
					return "", false, err
				}
				caseValue, ok = string(v), len(v) <= maxCapture
			} else if err := s.value(c, depth); err != nil {
				return "", false, err
			}
		} else if err := s.value(c, depth); err != nil {
			return "", false, err
		}
		if c, err = s.next(); err != nil {
			return "", false, s.unexpected(err)
		}
		switch c {
		case '}':
			return caseValue, ok, nil
		case ',':
			if c, err = s.next(); err != nil {
				return "", false, s.unexpected(err)
			}
		default:
			return "", false, s.errorf("invalid character %q after an object member", c)
		}
	}
}

// value reads one value whose first byte is c.
func (s *jsonScanner) value(c byte, depth int) error {
	switch {
	case c == '{':
		_, _, err := s.object(depth+1, false)
		return err
	case c == '[':
		return s.array(depth + 1)
	case c == '"':
		return s.str(nil, 0)
	case c == 't':
		return s.literal("rue")
	case c == 'f':
		return s.literal("alse")
	case c == 'n':
		return s.literal("ull")
	case c == '-' || c >= '0' && c <= '9':
		return s.number(c)
	}
	return s.errorf("invalid character %q looking for the beginning of a value", c)
}

func (s *jsonScanner) array(depth int) error {
	if depth > maxJSONDepth {
		return s.errorf("nested more than %d levels", maxJSONDepth)
	}
	c, err := s.next()
	if err != nil {
		return s.unexpected(err)
	}
	if c == ']' {
		return nil
	}
	for {
		if err := s.value(c, depth); err != nil {
			return err
		}
		if c, err = s.next(); err != nil {
			return s.unexpected(err)
		}
		switch c {
		case ']':
			return nil
		case ',':
			if c, err = s.next(); err != nil {
				return s.unexpected(err)
			}
		default:
			return s.errorf("invalid character %q after an array element", c)
		}
	}
}

// str reads a string whose opening quote was read, keeping up to max bytes
// of it (unescaped) in *keep when keep is not nil.
func (s *jsonScanner) str(keep *[]byte, max int) error {
	for {
		c, err := s.byte()
		if err != nil {
			return s.unexpected(err)
		}
		switch {
		case c == '"':
			return nil
		case c < 0x20:
			return s.errorf("control character %#x in a string", c)
		case c == '\\':
			e, err := s.byte()
			if err != nil {
				return s.unexpected(err)
			}
			switch e {
			case '"', '\\', '/':
				c = e
			case 'b', 'f', 'n', 'r', 't':
				c = ' ' // white space of some kind: a marker never holds one
			case 'u':
				for i := 0; i < 4; i++ {
					h, err := s.byte()
					if err != nil {
						return s.unexpected(err)
					}
					if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
						return s.errorf("invalid character %q in a \\u escape", h)
					}
				}
				c = '?' // a marker never holds one
			default:
				return s.errorf("invalid escape \\%c", e)
			}
		}
		if keep != nil && len(*keep) < max {
			*keep = append(*keep, c)
		}
	}
}

func (s *jsonScanner) literal(rest string) error {
	for i := 0; i < len(rest); i++ {
		c, err := s.byte()
		if err != nil {
			return s.unexpected(err)
		}
		if c != rest[i] {
			return s.errorf("invalid character %q in a literal", c)
		}
	}
	return nil
}

func (s *jsonScanner) number(first byte) error {
	b := []byte{first}
	for {
		c, err := s.r.ReadByte()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return err
		}
		if !(c >= '0' && c <= '9' || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-') {
			_ = s.r.UnreadByte()
			break
		}
		s.off++
		if len(b) >= maxNumber {
			return s.errorf("a number longer than %d characters", maxNumber)
		}
		b = append(b, c)
	}
	if !numberRe.Match(b) {
		return s.errorf("invalid number %q", b)
	}
	return nil
}
