// Package multimatch finds any of a set of keywords in a byte slice in one
// pass, with the Wu-Manber shift-table algorithm on two-byte blocks: most
// positions are skipped without looking at them, so scanning for dozens of
// keywords costs about as much as scanning for one.
package multimatch

import "bytes"

// Matcher finds the keywords it was built with. It is safe for concurrent
// use once built.
type Matcher struct {
	pats  [][]byte // the keywords, lowercased when fold
	m     int      // length of the shortest keyword: the window
	fold  bool     // ASCII case-insensitive
	shift []uint8  // by block hash: how far the window may move
	head  []int32  // by block hash: first keyword whose window ends with it, -1 none
	next  []int32  // by keyword: next keyword in the same bucket, -1 none
}

// lower folds ASCII upper case.
var lower [256]byte

func init() {
	for i := range lower {
		c := byte(i)
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		lower[i] = c
	}
}

// New builds a Matcher for keywords (each at least two bytes long; shorter
// ones are ignored). fold makes it ASCII case-insensitive.
func New(keywords []string, fold bool) *Matcher {
	mt := &Matcher{fold: fold, shift: make([]uint8, 1<<16), head: make([]int32, 1<<16)}
	for _, k := range keywords {
		if len(k) < 2 {
			continue
		}
		b := []byte(k)
		if fold {
			b = bytes.ToLower(b)
		}
		mt.pats = append(mt.pats, b)
		if mt.m == 0 || len(b) < mt.m {
			mt.m = len(b)
		}
	}
	if mt.m > 255 {
		mt.m = 255
	}
	def := uint8(0)
	if mt.m > 0 {
		def = uint8(mt.m - 1)
	}
	for i := range mt.shift {
		mt.shift[i] = def
		mt.head[i] = -1
	}
	mt.next = make([]int32, len(mt.pats))
	// With fold, the tables are indexed by the raw bytes: every case
	// variant of a block is entered, so scanning needs no folding.
	variants := func(c byte) []byte {
		if fold && c >= 'a' && c <= 'z' {
			return []byte{c, c - 'a' + 'A'}
		}
		return []byte{c}
	}
	for _, p := range mt.pats {
		w := p[:mt.m]
		for q := 1; q < mt.m; q++ {
			for _, a := range variants(w[q-1]) {
				for _, b := range variants(w[q]) {
					h := int(a)<<8 | int(b)
					if s := uint8(mt.m - 1 - q); s < mt.shift[h] {
						mt.shift[h] = s
					}
				}
			}
		}
	}
	// Buckets are by the folded last block of the window.
	for pi, p := range mt.pats {
		w := p[:mt.m]
		h := int(w[mt.m-2])<<8 | int(w[mt.m-1])
		mt.next[pi] = mt.head[h]
		mt.head[h] = int32(pi)
	}
	return mt
}

// Len returns the number of keywords.
func (mt *Matcher) Len() int { return len(mt.pats) }

// Keyword returns keyword i as built (lowercased when folding).
func (mt *Matcher) Keyword(i int) string { return string(mt.pats[i]) }

// Next returns the start of the first keyword occurrence in text at or after
// from, and which keyword it is; (-1, -1) when there is none. When several
// keywords start at the same position, the one found first is returned.
func (mt *Matcher) Next(text []byte, from int) (start, keyword int) {
	if len(mt.pats) == 0 || from < 0 {
		return -1, -1
	}
	m := mt.m
	pos := from + m - 1
	n := len(text)
	if mt.fold {
		for pos < n {
			if s := mt.shift[int(text[pos-1])<<8|int(text[pos])]; s != 0 {
				pos += int(s)
				continue
			}
			h := int(lower[text[pos-1]])<<8 | int(lower[text[pos]])
			st := pos - m + 1
			for pi := mt.head[h]; pi >= 0; pi = mt.next[pi] {
				if p := mt.pats[pi]; st+len(p) <= n && equalFold(text[st:st+len(p)], p) {
					return st, int(pi)
				}
			}
			pos++
		}
		return -1, -1
	}
	for pos < n {
		h := int(text[pos-1])<<8 | int(text[pos])
		if s := mt.shift[h]; s != 0 {
			pos += int(s)
			continue
		}
		st := pos - m + 1
		for pi := mt.head[h]; pi >= 0; pi = mt.next[pi] {
			if p := mt.pats[pi]; st+len(p) <= n && bytes.Equal(text[st:st+len(p)], p) {
				return st, int(pi)
			}
		}
		pos++
	}
	return -1, -1
}

// Contains reports whether text holds any keyword.
func (mt *Matcher) Contains(text []byte) bool {
	s, _ := mt.Next(text, 0)
	return s >= 0
}

// equalFold compares a with the lowercased p, folding a.
func equalFold(a, p []byte) bool {
	for i := range p {
		if lower[a[i]] != p[i] {
			return false
		}
	}
	return true
}
