package logs

import (
	"bytes"
	"strconv"
	"time"
)

var months = map[string]time.Month{
	"Jan": 1, "Feb": 2, "Mar": 3, "Apr": 4, "May": 5, "Jun": 6,
	"Jul": 7, "Aug": 8, "Sep": 9, "Oct": 10, "Nov": 11, "Dec": 12,
}

// num reads n digits at b[i:]; ok is false when they are not all digits.
func num(b []byte, i, n int) (int, bool) {
	if i < 0 || i+n > len(b) {
		return 0, false
	}
	v := 0
	for _, c := range b[i : i+n] {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}

// clock reads "15:04:05" at b[i:].
func clock(b []byte, i int) (h, m, s int, ok bool) {
	var ok1, ok2, ok3 bool
	h, ok1 = num(b, i, 2)
	m, ok2 = num(b, i+3, 2)
	s, ok3 = num(b, i+6, 2)
	return h, m, s, ok1 && ok2 && ok3 && b[i+2] == ':' && b[i+5] == ':'
}

// Timestamp finds the time a log line was written, in the formats the
// analysed devices use: syslog "Jan  2 15:04:05" (the year is unknown and
// left at 0), Cisco ASA "Jun 10 2010 17:36:05", ISO "2006-01-02T15:04:05" or
// "2006/01/02 15:04:05", FortiGate "date=2006-01-02 time=15:04:05" and the
// epoch seconds of cloud tunnel logs ("event_timestamp": 1611780218).
func Timestamp(line []byte) (time.Time, bool) {
	b := bytes.TrimLeft(line, " \t")
	if i := bytes.Index(line, []byte("date=")); i >= 0 {
		if t, ok := isoAt(line, i+5); ok {
			if j := bytes.Index(line, []byte("time=")); j >= 0 {
				off := j + 5
				if off < len(line) && line[off] == '"' {
					off++
				}
				if h, m, s, ok := clock(line, off); ok {
					return t.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(s)*time.Second), true
				}
			}
			return t, true
		}
	}
	if i := bytes.Index(line, []byte("event_timestamp")); i >= 0 {
		j := i + len("event_timestamp")
		for j < len(line) && (line[j] == '"' || line[j] == ':' || line[j] == ' ') {
			j++
		}
		k := j
		for k < len(line) && line[k] >= '0' && line[k] <= '9' {
			k++
		}
		if n, err := strconv.ParseInt(string(line[j:k]), 10, 64); err == nil && k > j {
			if n > 1e12 {
				n /= 1000
			}
			return time.Unix(n, 0).UTC(), true
		}
	}
	if t, ok := stamp(b); ok {
		return t, true
	}
	// A syslog relay's prefix in front of the device's line: "<PRI>",
	// RFC 5424's version, relay host names or addresses, sequence numbers
	// ("000123:") and IOS's clock markers ("*", "."). The first time found
	// at the start of a field within the first bytes is the line's.
	lim := min(len(b), 160)
	for i := 1; i < lim; i++ {
		switch b[i-1] {
		case ' ', '>', ',', '*', '.', '\t':
		default:
			continue
		}
		if c := b[i]; c < '0' || c > '9' && (c < 'A' || c > 'S') {
			continue
		}
		if t, ok := stamp(b[i:]); ok {
			return t, true
		}
	}
	return time.Time{}, false
}

// stamp reads a syslog or ISO time at the start of b.
func stamp(b []byte) (time.Time, bool) {
	if len(b) >= 15 {
		if mon, ok := months[string(b[:3])]; ok && b[3] == ' ' {
			i := 4
			if b[i] == ' ' {
				i++
			}
			day, ok := num(b, i, 2)
			if !ok {
				day, ok = num(b, i, 1)
				i++
			} else {
				i += 2
			}
			if ok && i < len(b) && b[i] == ' ' {
				i++
				year := 0
				if y, ok := num(b, i, 4); ok && i+4 < len(b) && b[i+4] == ' ' {
					year, i = y, i+5
				}
				if h, m, s, ok := clock(b, i); ok {
					return time.Date(year, mon, day, h, m, s, 0, time.UTC), true
				}
			}
		}
		if t, ok := isoAt(b, 0); ok && len(b) >= 19 && (b[10] == 'T' || b[10] == ' ') {
			if h, m, s, ok := clock(b, 11); ok {
				return t.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(s)*time.Second), true
			}
		}
	}
	return time.Time{}, false
}

// isoAt reads a date "2006-01-02" or "2006/01/02" at b[i:] (optionally
// quoted).
func isoAt(b []byte, i int) (time.Time, bool) {
	if i < len(b) && b[i] == '"' {
		i++
	}
	y, ok1 := num(b, i, 4)
	mo, ok2 := num(b, i+5, 2)
	d, ok3 := num(b, i+8, 2)
	if !ok1 || !ok2 || !ok3 || (b[i+4] != '-' && b[i+4] != '/') || b[i+7] != b[i+4] || mo < 1 || mo > 12 || d < 1 || d > 31 {
		return time.Time{}, false
	}
	return time.Date(y, time.Month(mo), d, 0, 0, 0, 0, time.UTC), true
}
