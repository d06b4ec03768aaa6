package probes_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/probes"
)

// ikePayload is one payload of a message built by hand from RFC 7296 3.2.
type ikePayload struct {
	typ  uint8
	body []byte
}

// buildIKE builds an IKEv2 message: the 28-byte header (3.1) and the
// payloads chained by their Next Payload fields.
func buildIKE(spii, spir []byte, flags uint8, ps ...ikePayload) []byte {
	b := make([]byte, 28)
	copy(b[0:8], spii)
	copy(b[8:16], spir)
	if len(ps) > 0 {
		b[16] = ps[0].typ
	}
	b[17], b[18], b[19] = 0x20, 34, flags
	for i, p := range ps {
		next := uint8(0)
		if i+1 < len(ps) {
			next = ps[i+1].typ
		}
		b = append(b, next, 0, 0, 0)
		binary.BigEndian.PutUint16(b[len(b)-2:], uint16(4+len(p.body)))
		b = append(b, p.body...)
	}
	binary.BigEndian.PutUint32(b[24:28], uint32(len(b)))
	return b
}

func notifyPayload(t uint16, data []byte) ikePayload {
	b := []byte{0, 0, byte(t >> 8), byte(t)}
	return ikePayload{41, append(b, data...)}
}

// chosenSA is an SA payload with one proposal: AES-CBC-256 (key length
// attribute), PRF_HMAC_SHA2_256, AUTH_HMAC_SHA2_256_128, MODP 2048.
func chosenSA() ikePayload {
	transform := func(last, typ uint8, id uint16, attr []byte) []byte {
		t := []byte{last, 0, 0, 0, typ, 0, byte(id >> 8), byte(id)}
		t = append(t, attr...)
		binary.BigEndian.PutUint16(t[2:4], uint16(len(t)))
		return t
	}
	var ts []byte
	ts = append(ts, transform(3, 1, 12, []byte{0x80, 14, 0x01, 0x00})...)
	ts = append(ts, transform(3, 2, 5, nil)...)
	ts = append(ts, transform(3, 3, 12, nil)...)
	ts = append(ts, transform(0, 4, 14, nil)...)
	prop := []byte{0, 0, 0, 0, 1, 1, 0, 4}
	prop = append(prop, ts...)
	binary.BigEndian.PutUint16(prop[2:4], uint16(len(prop)))
	return ikePayload{33, prop}
}

// IKEResponder answers IKE_SA_INIT requests on 127.0.0.1 the way its mode
// says, from RFC 7296's message format.
type IKEResponder struct {
	Addr string
	Port int
	// Requests are the requests received and parsed.
	mu       sync.Mutex
	requests []*probes.IKEMessage
	bad      []string
}

// MustIKEResponder starts a responder. natt expects (and answers with) the
// non-ESP marker.
func MustIKEResponder(tb testing.TB, mode string, natt bool) *IKEResponder {
	tb.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { pc.Close() })
	r := &IKEResponder{Addr: pc.LocalAddr().String(), Port: pc.LocalAddr().(*net.UDPAddr).Port}
	go func() {
		buf := make([]byte, 65535)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			b := buf[:n]
			if natt {
				if n < 4 || !bytes.Equal(b[:4], []byte{0, 0, 0, 0}) {
					r.fail("no non-ESP marker")
					continue
				}
				b = b[4:]
			}
			req, err := probes.ParseIKEMessage(b)
			if err != nil {
				r.fail(err.Error())
				continue
			}
			r.mu.Lock()
			r.requests = append(r.requests, req)
			count := len(r.requests)
			r.mu.Unlock()
			resp := r.answer(mode, req, count)
			if resp == nil {
				continue
			}
			if natt {
				resp = append([]byte{0, 0, 0, 0}, resp...)
			}
			pc.WriteTo(resp, from)
		}
	}()
	return r
}

func (r *IKEResponder) fail(s string) {
	r.mu.Lock()
	r.bad = append(r.bad, s)
	r.mu.Unlock()
}

func (r *IKEResponder) answer(mode string, req *probes.IKEMessage, count int) []byte {
	spir := make([]byte, 8)
	rand.Read(spir)
	spii := req.SPIi[:]
	ok := func() []byte {
		ke := make([]byte, 4+256)
		ke[1] = 14
		return buildIKE(spii, spir, 0x20, chosenSA(), ikePayload{34, ke}, ikePayload{40, bytes.Repeat([]byte{7}, 32)},
			ikePayload{43, []byte("vpndiag-test-vendor")})
	}
	hasCookie := false
	for _, n := range req.Notifies {
		hasCookie = hasCookie || n.Type == probes.NotifyCookie
	}
	switch mode {
	case "ok":
		return ok()
	case "no-proposal":
		return buildIKE(spii, nil, 0x20, notifyPayload(probes.NotifyNoProposalChosen, nil))
	case "invalid-ke":
		return buildIKE(spii, nil, 0x20, notifyPayload(probes.NotifyInvalidKEPayload, []byte{0, 19}))
	case "cookie":
		if hasCookie {
			return ok()
		}
		return buildIKE(spii, nil, 0x20, notifyPayload(probes.NotifyCookie, bytes.Repeat([]byte{0xc0}, 16)))
	case "cookie-forever":
		return buildIKE(spii, nil, 0x20, notifyPayload(probes.NotifyCookie, bytes.Repeat([]byte{0xc0}, 16)))
	case "syntax":
		return buildIKE(spii, nil, 0x20, notifyPayload(probes.NotifyInvalidSyntax, nil))
	case "garbage":
		return []byte("HTTP/1.0 400 Bad Request\r\n\r\n")
	case "other-spi":
		return buildIKE(spir, spir, 0x20, notifyPayload(probes.NotifyNoProposalChosen, nil))
	case "drop-first":
		if count == 1 {
			return nil
		}
		return ok()
	}
	return nil // silent
}

func ikeReq(target string, params map[string]string, timeout time.Duration) *vpndiag.ProbeRequest {
	return &vpndiag.ProbeRequest{Kind: vpndiag.ProbeIKE, Target: target, Params: params, Timeout: timeout}
}

func TestIKEProbe(t *testing.T) {
	tests := []struct {
		mode    string
		timeout time.Duration
		outcome vpndiag.Outcome
		summary string
		check   func(t *testing.T, a probes.IKEAttempt)
	}{
		{"ok", 0, vpndiag.OutcomeOK, "IKE_SA_INIT response, aes256-sha256-modp2048 chosen", func(t *testing.T, a probes.IKEAttempt) {
			if !a.Answered || a.DHGroup != 14 || a.Sent != 1 || a.RTT <= 0 || len(a.VendorIDs) != 1 || a.ResponderSPI == "" {
				t.Errorf("%+v", a)
			}
		}},
		{"no-proposal", 0, probes.OutcomeNoProposal, "NO_PROPOSAL_CHOSEN", nil},
		{"invalid-ke", 0, probes.OutcomeInvalidKE, "INVALID_KE_PAYLOAD, wants DH group 19", func(t *testing.T, a probes.IKEAttempt) {
			if a.RequestedGroup != 19 {
				t.Errorf("requested group %d", a.RequestedGroup)
			}
		}},
		{"cookie", 0, vpndiag.OutcomeOK, "IKE_SA_INIT response", func(t *testing.T, a probes.IKEAttempt) {
			if !a.Cookie || a.Sent != 2 {
				t.Errorf("cookie %v sent %d", a.Cookie, a.Sent)
			}
		}},
		{"cookie-forever", 0, probes.OutcomeCookie, "COOKIE", nil},
		{"syntax", 0, probes.OutcomeNotify, "INVALID_SYNTAX", nil},
		{"garbage", 600 * time.Millisecond, probes.OutcomeNotIKE, "not an IKEv2 response", nil},
		{"other-spi", 600 * time.Millisecond, probes.OutcomeNotIKE, "not an IKEv2 response", nil},
		{"drop-first", 3 * time.Second, vpndiag.OutcomeOK, "IKE_SA_INIT response", func(t *testing.T, a probes.IKEAttempt) {
			if a.Sent != 2 || a.RTT > 100*time.Millisecond {
				t.Errorf("sent %d, rtt %s: the RTT is of the retransmission", a.Sent, a.RTT)
			}
		}},
		{"silent", 800 * time.Millisecond, vpndiag.OutcomeTimeout, "no answer to 3 requests", nil},
	}
	for _, tt := range tests {
		for _, natt := range []bool{false, true} {
			name := tt.mode + "/500"
			mode := "ike"
			if natt {
				name, mode = tt.mode+"/4500", "natt"
			}
			t.Run(name, func(t *testing.T) {
				r := MustIKEResponder(t, tt.mode, natt)
				params := map[string]string{"port": strconv.Itoa(r.Port), "natt_port": strconv.Itoa(r.Port), "mode": mode, "retransmit": "200ms"}
				res := MustProbe(t, ikeReq("127.0.0.1", params, tt.timeout))
				if res.Outcome != tt.outcome || !strings.Contains(res.Summary, tt.summary) {
					t.Fatalf("got %s %q, want %s containing %q", res.Outcome, res.Summary, tt.outcome, tt.summary)
				}
				d := MustDetail[probes.IKEResult](t, res)
				if len(d.Attempts) != 1 || d.Attempts[0].NATT != natt || d.Attempts[0].Port != r.Port {
					t.Fatalf("attempts %+v", d.Attempts)
				}
				if tt.check != nil {
					tt.check(t, d.Attempts[0])
				}
				r.mu.Lock()
				defer r.mu.Unlock()
				if len(r.bad) > 0 {
					t.Fatalf("responder rejected requests: %v", r.bad)
				}
				req := r.requests[0]
				if req.Flags != 0x08 || req.Exchange != 34 || req.MessageID != 0 || req.DHGroup != 14 || req.KELen != 256 || len(req.Nonce) != 32 || len(req.Proposals) != 2 {
					t.Errorf("request %+v", req)
				}
				var nat []string
				for _, n := range req.Notifies {
					nat = append(nat, n.Name)
				}
				if !strings.Contains(strings.Join(nat, ","), "NAT_DETECTION_SOURCE_IP,NAT_DETECTION_DESTINATION_IP") {
					t.Errorf("notifies %v", nat)
				}
			})
		}
	}
}

func TestIKEProbeBothPorts(t *testing.T) {
	ike := MustIKEResponder(t, "no-proposal", false)
	natt := MustIKEResponder(t, "silent", true)
	params := map[string]string{"port": strconv.Itoa(ike.Port), "natt_port": strconv.Itoa(natt.Port), "retransmit": "200ms", "proposals": "aes128-sha1-ecp256", "dh": "ecp256"}
	res := MustProbe(t, ikeReq("127.0.0.1", params, 700*time.Millisecond))
	d := MustDetail[probes.IKEResult](t, res)
	if res.Outcome != probes.OutcomeNoProposal || len(d.Attempts) != 2 || d.Attempts[1].Outcome != vpndiag.OutcomeTimeout || d.DHGroup != 19 {
		t.Fatalf("%s %q %+v", res.Outcome, res.Summary, d)
	}
	if d.Proposals[0] != "aes128-sha1-ecp256" {
		t.Errorf("proposals %v", d.Proposals)
	}
	ike.mu.Lock()
	defer ike.mu.Unlock()
	if req := ike.requests[0]; req.DHGroup != 19 || req.KELen != 64 {
		t.Errorf("KE group %d, %d bytes; want ecp256's 64", req.DHGroup, req.KELen)
	}
}

func TestIKEProbeClosedPort(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	pc.Close()
	res := MustProbe(t, ikeReq("127.0.0.1", map[string]string{"port": strconv.Itoa(port), "mode": "ike"}, 3*time.Second))
	if res.Outcome != vpndiag.OutcomeRefused || res.Duration > time.Second {
		t.Fatalf("%s %q after %s", res.Outcome, res.Summary, res.Duration)
	}
}

func TestIKEBadInput(t *testing.T) {
	tests := []struct {
		target string
		params map[string]string
		want   string
	}{
		{"", nil, "needs a VPN endpoint"},
		{"256.0.0.1", nil, "not a valid IP address"},
		{"127.0.0.1", map[string]string{"port": "0"}, "port must be between 1 and 65535"},
		{"127.0.0.1", map[string]string{"natt_port": "99999"}, "natt_port must be between 1 and 65535"},
		{"127.0.0.1", map[string]string{"mode": "ikev1"}, "mode must be both, ike or natt"},
		{"127.0.0.1", map[string]string{"proposals": "aes256-md5-modp2048"}, `unknown algorithm "md5"`},
		{"127.0.0.1", map[string]string{"proposals": "aes256-sha256"}, "no Diffie-Hellman group"},
		{"127.0.0.1", map[string]string{"proposals": "sha256-modp2048"}, "no encryption algorithm"},
		{"127.0.0.1", map[string]string{"proposals": "aes256gcm16-sha256-modp2048"}, "GCM takes no separate integrity"},
		{"127.0.0.1", map[string]string{"proposals": "aes256gcm16-modp2048"}, "no PRF"},
		{"127.0.0.1", map[string]string{"dh": "ecp384"}, "dh group ecp384 is not in its proposals"},
		{"127.0.0.1", map[string]string{"dh": "aes256"}, "must be a Diffie-Hellman group"},
		{"127.0.0.1", map[string]string{"retransmit": "1ms"}, "retransmit must be between"},
		{"127.0.0.1", map[string]string{"psk": "secret"}, `no parameter "psk"`},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			_, err := (&probes.Local{}).Probe(context.Background(), ikeReq(tt.target, tt.params, 0))
			if vpndiag.ErrorCode(err) != vpndiag.EINVALID || !strings.Contains(vpndiag.ErrorMessage(err), tt.want) {
				t.Fatalf("error %v, want EINVALID containing %q", err, tt.want)
			}
		})
	}
}

func TestParseIKEMessageMalformed(t *testing.T) {
	spi := bytes.Repeat([]byte{1}, 8)
	good := buildIKE(spi, spi, 0x20, chosenSA(), notifyPayload(14, nil))
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"short header", good[:20]},
		{"IKEv1 version", func() []byte { b := bytes.Clone(good); b[17] = 0x10; return b }()},
		{"length past the data", func() []byte { b := bytes.Clone(good); binary.BigEndian.PutUint32(b[24:], 9999); return b }()},
		{"payload length zero", func() []byte { b := bytes.Clone(good); b[30], b[31] = 0, 0; return b }()},
		{"payload length past the end", func() []byte { b := bytes.Clone(good); b[30], b[31] = 0xff, 0xff; return b }()},
		{"truncated chain", func() []byte {
			b := bytes.Clone(good[:len(good)-8])
			binary.BigEndian.PutUint32(b[24:], uint32(len(b)))
			return b
		}()},
		{"transform length past the proposal", func() []byte { b := bytes.Clone(good); b[28+4+8+3] = 200; return b }()},
	}
	if _, err := probes.ParseIKEMessage(good); err != nil {
		t.Fatalf("good message: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if m, err := probes.ParseIKEMessage(tt.b); err == nil {
				t.Fatalf("parsed %+v", m)
			}
		})
	}
}

func FuzzParseIKEMessage(f *testing.F) {
	spi := bytes.Repeat([]byte{1}, 8)
	f.Add(buildIKE(spi, spi, 0x20, chosenSA(), ikePayload{34, make([]byte, 68)}, ikePayload{40, make([]byte, 32)}))
	f.Add(buildIKE(spi, nil, 0x20, notifyPayload(17, []byte{0, 19})))
	f.Add(buildIKE(spi, nil, 0x20, notifyPayload(16390, make([]byte, 16)), ikePayload{43, []byte("x")}, ikePayload{99, nil}))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := probes.ParseIKEMessage(b)
		if err != nil {
			return
		}
		if m.KELen < 0 || len(b) < 28 {
			t.Fatalf("parsed %d bytes into %+v", len(b), m)
		}
		for _, p := range m.Proposals {
			_ = p.String()
		}
	})
}
