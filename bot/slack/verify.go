package slack

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/vpndiag/vpndiag"
)

// Header names of Slack's request signing.
const (
	HeaderSignature = "X-Slack-Signature"
	HeaderTimestamp = "X-Slack-Request-Timestamp"
	HeaderRetryNum  = "X-Slack-Retry-Num"
)

// DefaultWindow is how far a request's timestamp may be from now, in either
// direction, before it is refused as a replay.
const DefaultWindow = 5 * time.Minute

// Errors of Verify. Each is wrapped with detail for the log; the HTTP answer
// is 401 for all of them.
var (
	ErrMissingSignature = errors.New("missing signature or timestamp header")
	ErrBadSignature     = errors.New("signature does not match")
	ErrStaleTimestamp   = errors.New("timestamp outside the replay window")
)

// Verifier checks Slack's v0 request signature: HMAC-SHA256 with the app's
// signing secret over "v0:{timestamp}:{body}", hex encoded after "v0=".
type Verifier struct {
	// Secret is the app's signing secret.
	Secret string
	// Clock is the time source; vpndiag.Now when nil.
	Clock vpndiag.Clock
	// Window is the replay window; DefaultWindow when zero.
	Window time.Duration
}

// Verify returns nil when h carries a valid signature of body made within
// the window around now.
func (v *Verifier) Verify(h http.Header, body []byte) error {
	sig, tsText := h.Get(HeaderSignature), h.Get(HeaderTimestamp)
	if sig == "" || tsText == "" {
		return ErrMissingSignature
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: timestamp %q is not a number", ErrStaleTimestamp, tsText)
	}
	now := vpndiag.Now
	if v.Clock != nil {
		now = v.Clock
	}
	window := v.Window
	if window == 0 {
		window = DefaultWindow
	}
	d := now().Sub(time.Unix(ts, 0))
	if d > window || d < -window {
		return fmt.Errorf("%w: timestamp is %s away from now", ErrStaleTimestamp, d.Round(time.Second))
	}
	hexSig, ok := strings.CutPrefix(sig, "v0=")
	if !ok {
		return fmt.Errorf("%w: unknown signature version", ErrBadSignature)
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return fmt.Errorf("%w: signature is not hex", ErrBadSignature)
	}
	if !hmac.Equal(got, Sign(v.Secret, tsText, body)) {
		return ErrBadSignature
	}
	return nil
}

// Sign returns the raw HMAC-SHA256 of "v0:{timestamp}:{body}" under secret.
func Sign(secret, timestamp string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("v0:" + timestamp + ":"))
	m.Write(body)
	return m.Sum(nil)
}

// SignatureHeader returns the X-Slack-Signature value Slack sends for body
// at timestamp, for tools and tests that play Slack's part.
func SignatureHeader(secret, timestamp string, body []byte) string {
	return "v0=" + hex.EncodeToString(Sign(secret, timestamp, body))
}
