package redact_test

import (
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/vpndiag/vpndiag/evidence/redact"
)

func TestSAKeyReader(t *testing.T) {
	tests := []struct {
		name, in, want string
		n              int
	}{
		{"fortigate esp", "  dec: spi=5d0e6a71 esp=aes key=32 9f8e7d6c5b4a39281706f5e4d3c2b1a0\n", "  dec: spi=5d0e6a71 esp=aes key=32 <redacted:sa-key>\n", 1},
		{"fortigate ah", "       ah=sha256 key=32 0a1b2c3d4e5f60718293a4b5c6d7e8f9", "       ah=sha256 key=32 <redacted:sa-key>", 1},
		{"ike gateway key", "  key: b894656df6d73056-3c8f6e0801b4977e\n", "  key: <redacted:sa-key>\n", 1},
		{"ike SK", "     SK_ei: 75237437cff25754-cf7db509c4681115\n", "     SK_ei: <redacted:sa-key>\n", 1},
		{"spi and counters stay", "  dec:pkts/bytes=0/0, enc:pkts/bytes=482/40488\n  life: type=01 bytes=0/0 timeout=3297/3600\n", "  dec:pkts/bytes=0/0, enc:pkts/bytes=482/40488\n  life: type=01 bytes=0/0 timeout=3297/3600\n", 0},
		{"key words elsewhere", "key exchange: 2\nkey: short\n", "key exchange: 2\nkey: short\n", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := redact.NewSAKeyReader(strings.NewReader(tt.in))
			got, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want || r.Count() != tt.n {
				t.Errorf("got %q (%d), want %q (%d)", got, r.Count(), tt.want, tt.n)
			}
		})
	}
}

// TestSAKeyReaderStream: keys are found wherever the reads split the
// stream, and everything else passes unchanged.
func TestSAKeyReaderStream(t *testing.T) {
	var in, want strings.Builder
	keys := 1 // the last line's
	for i := range 20000 {
		switch i % 7 {
		case 3:
			keys++
			in.WriteString("  dec: spi=5d0e6a71 esp=aes key=16 9f8e7d6c5b4a39281706f5e4d3c2b1a0\n")
			want.WriteString("  dec: spi=5d0e6a71 esp=aes key=16 <redacted:sa-key>\n")
		default:
			line := strings.Repeat("x", i%97) + " monkey business\n"
			in.WriteString(line)
			want.WriteString(line)
		}
	}
	in.WriteString("  SK_ar: 4e8c3e430012d7d7-bc227ae5d10bf045") // no final newline
	want.WriteString("  SK_ar: <redacted:sa-key>")
	r := redact.NewSAKeyReader(iotest.OneByteReader(strings.NewReader(in.String())))
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want.String() {
		t.Errorf("stream differs (%d bytes, want %d)", len(got), want.Len())
	}
	if r.Count() != keys {
		t.Errorf("count %d, want %d", r.Count(), keys)
	}
}
