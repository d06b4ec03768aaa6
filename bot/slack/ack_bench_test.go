package slack_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	botslack "github.com/vpndiag/vpndiag/bot/slack"
)

// BenchmarkVerify times the v0 signature check of a slash command body,
// the part of every acknowledgement that depends on the body's size.
func BenchmarkVerify(b *testing.B) {
	h := MustHarness(b)
	body := h.CommandForm("U1", "C1", "start tunnel down")
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	hdr := http.Header{}
	hdr.Set(botslack.HeaderTimestamp, ts)
	hdr.Set(botslack.HeaderSignature, botslack.SignatureHeader(Secret, ts, body))
	v := &botslack.Verifier{Secret: Secret}
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if err := v.Verify(hdr, body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAckHelp times the HTTP-mode handler end to end on a signed slash
// command it answers inline (help: read the capped body, verify, parse,
// render the answer), without a network in between; bench/cmd/ackbench
// measures the same over loopback under load.
func BenchmarkAckHelp(b *testing.B) {
	h := MustHarness(b)
	handler := h.Bot.Handler()
	body := h.CommandForm("U1", "C1", "help")
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	sig := botslack.SignatureHeader(Secret, ts, body)
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, botslack.PathCommands, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set(botslack.HeaderTimestamp, ts)
		req.Header.Set(botslack.HeaderSignature, sig)
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("HTTP %d: %s", w.Code, w.Body)
		}
	}
}
