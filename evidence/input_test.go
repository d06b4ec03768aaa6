package evidence_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/evidence"
	"github.com/vpndiag/vpndiag/evidence/internal/fixtures"
	"github.com/vpndiag/vpndiag/kb"
)

func utf16le(s string, bom bool) []byte {
	var b bytes.Buffer
	if bom {
		b.Write([]byte{0xFF, 0xFE})
	}
	for _, u := range utf16.Encode([]rune(s)) {
		_ = binary.Write(&b, binary.LittleEndian, u)
	}
	return b.Bytes()
}

// TestBadInput: every kind of bad input gets a clear statement and never a
// false "all good".
func TestBadInput(t *testing.T) {
	swan := string(fixtures.MustRead(t, fixtures.Dir(t)+"/configs/strongswan-swanctl-net2net-psk-moon.txt"))
	fgt := string(fixtures.MustRead(t, fixtures.Dir(t)+"/configs/fortigate-azure-vpn-phase1-phase2-excerpt.txt"))
	tests := []struct {
		name     string
		in       []byte
		kind     vpndiag.EvidenceKind
		code     string // a finding code expected
		notUnd   string // text expected in NotUnderstood
		format   string
		encoding string
	}{
		{"empty", nil, vpndiag.EvidenceOther, kb.CodeUnknownFormat, "empty", "", ""},
		{"white space", []byte("\n\n   \r\n"), vpndiag.EvidenceOther, kb.CodeUnknownFormat, "empty", "", ""},
		{"binary", []byte("\x00\x01\x02garbage\x00\xff"), vpndiag.EvidenceOther, kb.CodeUnknownFormat, "not text", "", ""},
		{"gzip", []byte{0x1f, 0x8b, 8, 0, 0, 0}, vpndiag.EvidenceOther, kb.CodeUnknownFormat, "gzip", "", ""},
		{"pcap", []byte{0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0}, vpndiag.EvidenceOther, kb.CodeUnknownFormat, "packet capture", "", ""},
		{"unknown text", []byte("Dear support,\nthe VPN is down again.\nRegards\n"), vpndiag.EvidenceOther, kb.CodeUnknownFormat, "neither", "", "utf-8"},
		{"unknown vendor", []byte("vpn-profile cloud\n  remote 203.0.113.10\n  cipher aes\n"), vpndiag.EvidenceOther, kb.CodeUnknownFormat, "neither", "", "utf-8"},
		{"no VPN at all", []byte("config system global\n    set hostname \"fw1\"\nend\nconfig system interface\n    edit \"port1\"\n        set ip 192.168.1.99 255.255.255.0\n    next\nend\n"), vpndiag.EvidenceConfig, kb.CodeNoVPNConfig, "", "fortigate-cli", "utf-8"},
		{"truncated swanctl", []byte(swan[:len(swan)/2]), vpndiag.EvidenceConfig, kb.CodePhase1Lifetime, "", "strongswan-swanctl", "utf-8"},
		{"CRLF", []byte(strings.ReplaceAll(swan, "\n", "\r\n")), vpndiag.EvidenceConfig, kb.CodePhase2Lifetime, "", "strongswan-swanctl", "utf-8"},
		{"UTF-16 with BOM", utf16le(fgt, true), vpndiag.EvidenceConfig, kb.CodePFSDisabled, "", "fortigate-cli", "utf-16le"},
		{"UTF-16 without BOM", utf16le(fgt, false), vpndiag.EvidenceConfig, kb.CodePFSDisabled, "", "fortigate-cli", "utf-16le"},
		{"Latin-1", []byte(strings.Replace(fgt, "set comments ''", "set comments \"D\xe9partement\"", 1)), vpndiag.EvidenceConfig, kb.CodePFSDisabled, "", "fortigate-cli", "latin-1"},
		{"mixed vendors", []byte(fgt + "\n" + swan), vpndiag.EvidenceConfig, kb.CodePhase2Lifetime, "mixed vendors", "strongswan-swanctl", "utf-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := MustAnalyze(t, "in.txt", tt.in, nil)
			if r.Kind != tt.kind {
				t.Errorf("kind %s, want %s", r.Kind, tt.kind)
			}
			if !strings.Contains(strings.Join(codes(r), " "), tt.code) {
				t.Errorf("codes %v lack %s", codes(r), tt.code)
			}
			if tt.notUnd != "" && !strings.Contains(strings.Join(r.NotUnderstood, "\n"), tt.notUnd) {
				t.Errorf("not understood %q lacks %q", r.NotUnderstood, tt.notUnd)
			}
			if r.Format != tt.format {
				t.Errorf("format %q, want %q", r.Format, tt.format)
			}
			if r.Encoding != tt.encoding {
				t.Errorf("encoding %q, want %q", r.Encoding, tt.encoding)
			}
			if len(r.Findings) == 0 && len(r.NotUnderstood) == 0 {
				t.Error("a report with nothing to say: that reads as all good")
			}
		})
	}
}

// TestLatin1Text: the converted text keeps the accented letter.
func TestLatin1Text(t *testing.T) {
	var out bytes.Buffer
	in := "config vpn ipsec phase1-interface\n    edit \"D\xe9p\"\n        set remote-gw 203.0.113.10\n    next\nend\n"
	r, err := evidence.AnalyzeWith(context.Background(), "x", strings.NewReader(in), nil, evidence.Options{Redacted: &out})
	if err != nil {
		t.Fatal(err)
	}
	if r.Config == nil || r.Config.Tunnels[0].Name != "Dép" || !strings.Contains(out.String(), "Dép") {
		t.Errorf("latin-1 not converted: %q", out.String())
	}
}

// TestNoSecretInReports analyses every fixture and checks that no secret
// the redactor found appears in the JSON report or the redacted content.
func TestNoSecretInReports(t *testing.T) {
	for _, p := range append(fixtures.Files(t, "configs"), fixtures.Files(t, "logs")...) {
		var out bytes.Buffer
		r, err := evidence.AnalyzeWith(context.Background(), p, bytes.NewReader(fixtures.MustRead(t, p)), testSite(), evidence.Options{Redacted: &out})
		if err != nil {
			t.Fatal(err)
		}
		js := mustJSON(t, r)
		for _, s := range secretsOf(t, p) {
			if strings.Contains(js, s) || strings.Contains(out.String(), s) {
				t.Errorf("%s: secret %q in the report or the redacted content", p, s)
			}
		}
	}
}

// TestBinary: the one binary check names what a non-text head looks like
// and passes text in every encoding the analysis reads (the chat intake
// used to refuse UTF-16 exports that Attach reads).
func TestBinary(t *testing.T) {
	log := "Mar  3 10:00:01 gw charon: 09[IKE] initiating IKE_SA cloud[1] to 203.0.113.10\n"
	tests := []struct {
		name string
		head []byte
		want string // substring; empty for text
	}{
		{"utf-8 log", []byte(log), ""},
		{"empty", nil, ""},
		{"utf-16le with BOM", utf16le(log, true), ""},
		{"utf-16le without BOM", utf16le(log, false), ""},
		{"latin-1", []byte("crypto isakmp key caf\xe9 address 203.0.113.10\n"), ""},
		{"gzip", []byte{0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0}, "gzip"},
		{"zip", []byte("PK\x03\x04\x14\x00\x00\x00"), "zip archive"},
		{"pcap", []byte{0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0}, "packet capture"},
		{"pdf", []byte("%PDF-1.7\n"), "PDF"},
		{"windows executable", []byte("MZ\x90\x00\x03\x00\x00\x00binary"), "NUL bytes"},
		{"control characters", bytes.Repeat([]byte{0x01, 0x02, 'a'}, 100), "control characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := evidence.Binary(tt.head)
			if tt.want == "" && got != "" || tt.want != "" && !strings.Contains(got, tt.want) {
				t.Errorf("Binary = %q, want %q", got, tt.want)
			}
		})
	}
}
