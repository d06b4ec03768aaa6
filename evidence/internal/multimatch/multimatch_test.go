package multimatch_test

import (
	"bytes"
	"math/rand"
	"strings"
	"testing"

	"github.com/vpndiag/vpndiag/evidence/internal/multimatch"
)

// naive finds the first occurrence of any keyword, the reference answer.
func naive(text []byte, kws []string, fold bool) int {
	best := -1
	t := text
	if fold {
		t = bytes.ToLower(text)
	}
	for _, k := range kws {
		if len(k) < 2 {
			continue
		}
		kk := []byte(k)
		if fold {
			kk = bytes.ToLower(kk)
		}
		if i := bytes.Index(t, kk); i >= 0 && (best < 0 || i < best) {
			best = i
		}
	}
	return best
}

func TestNext(t *testing.T) {
	kws := []string{"NO_PROPOSAL_CHOSEN", "retransmit", "AUTH_FAILED", "DPD", "peer not responding"}
	tests := []struct {
		text string
		fold bool
		want int
	}{
		{"nothing here", false, -1},
		{"", false, -1},
		{"DPD", false, 0},
		{"xxDPD", false, 2},
		{"sending retransmit 1 of request", false, 8},
		{"Sending Retransmit 1", false, -1},
		{"Sending Retransmit 1", true, 8},
		{"received NO_PROPOSAL_CHOSEN notify", false, 9},
		{"establishing IKE_SA failed, peer not responding", false, 28},
		{"N(AUTH_FAILED) then DPD", false, 2},
	}
	m := multimatch.New(kws, false)
	mf := multimatch.New(kws, true)
	for _, tt := range tests {
		mm := m
		if tt.fold {
			mm = mf
		}
		if got, _ := mm.Next([]byte(tt.text), 0); got != tt.want {
			t.Errorf("Next(%q, fold=%v) = %d, want %d", tt.text, tt.fold, got, tt.want)
		}
	}
}

// TestAgainstNaive compares every match position with a naive search on
// random text built from the keywords' own letters.
func TestAgainstNaive(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	kws := []string{"abc", "bca", "cab", "aab", "abcabc", "ba", "cc"}
	for _, fold := range []bool{false, true} {
		m := multimatch.New(kws, fold)
		for i := 0; i < 2000; i++ {
			n := rng.Intn(40)
			b := make([]byte, n)
			for j := range b {
				b[j] = "abcABx"[rng.Intn(6)]
			}
			from := 0
			for {
				got, k := m.Next(b, from)
				want := naive(b[from:], kws, fold)
				if want >= 0 {
					want += from
				}
				if got != want {
					t.Fatalf("fold=%v text %q from %d: got %d, want %d", fold, b, from, got, want)
				}
				if got < 0 {
					break
				}
				kw := m.Keyword(k)
				seg := string(b[got : got+len(kw)])
				if fold {
					seg = strings.ToLower(seg)
				}
				if seg != kw {
					t.Fatalf("keyword %q reported at %d but text is %q", kw, got, seg)
				}
				from = got + 1
			}
		}
	}
}

func TestEmpty(t *testing.T) {
	m := multimatch.New(nil, false)
	if s, _ := m.Next([]byte("abc"), 0); s != -1 {
		t.Fatalf("empty matcher matched at %d", s)
	}
	if m.Len() != 0 {
		t.Fatal("Len of empty matcher")
	}
}

func BenchmarkNext(b *testing.B) {
	kws := []string{"NO_PROPOSAL_CHOSEN", "AUTHENTICATION_FAILED", "TS_UNACCEPTABLE", "retransmit", "peer not responding", "declaring peer dead"}
	line := []byte("Jun 23 08:16:10 charon[3789]: 13[NET] <PEER|1> sending packet: from 192.168.0.1[4500] to 192.168.1.2[4500] (268 bytes)\n")
	text := bytes.Repeat(line, 1<<20/len(line))
	m := multimatch.New(kws, false)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		if s, _ := m.Next(text, 0); s >= 0 {
			b.Fatal("unexpected match")
		}
	}
}
