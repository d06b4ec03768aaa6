package slack_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	botslack "github.com/vpndiag/vpndiag/bot/slack"
	"github.com/vpndiag/vpndiag/internal/fixtures"
)

// vector is a signature example from the fixtures.
type vector struct {
	Secret    string `json:"signing_secret"`
	Timestamp string `json:"x_slack_request_timestamp"`
	Body      string `json:"raw_body"`
	Signature string `json:"x_slack_signature"`
	Negative  struct {
		Secret string `json:"invalid_signing_secret"`
		Body   string `json:"invalid_body"`
	} `json:"negative_cases"`
}

// MustFixture reads one of Slack's payload samples in the shared fixtures
// (../shared/fixtures/slack, see its SOURCES.md).
func MustFixture(tb testing.TB, name string) []byte {
	tb.Helper()
	return fixtures.Read(tb, "slack", name)
}

func mustVector(tb testing.TB, name string) vector {
	tb.Helper()
	var v vector
	if err := json.Unmarshal(MustFixture(tb, name), &v); err != nil {
		tb.Fatal(err)
	}
	return v
}

func clockAt(ts string, offset time.Duration) func() time.Time {
	n, _ := strconv.ParseInt(ts, 10, 64)
	return func() time.Time { return time.Unix(n, 0).Add(offset) }
}

func header(sig, ts string) http.Header {
	h := http.Header{}
	if sig != "" {
		h.Set(botslack.HeaderSignature, sig)
	}
	if ts != "" {
		h.Set(botslack.HeaderTimestamp, ts)
	}
	return h
}

func TestVerifier_SlackPublishedVector(t *testing.T) {
	v := mustVector(t, "01_signature_vector_slack_docs.json")
	body := MustFixture(t, "02_slash_command_slack_docs.form.txt")
	if string(body) != v.Body {
		t.Fatal("fixture 02 is not the body of vector 01")
	}
	if got := botslack.SignatureHeader(v.Secret, v.Timestamp, body); got != v.Signature {
		t.Fatalf("SignatureHeader = %s, Slack's example says %s", got, v.Signature)
	}
	ver := &botslack.Verifier{Secret: v.Secret, Clock: clockAt(v.Timestamp, 30*time.Second)}
	if err := ver.Verify(header(v.Signature, v.Timestamp), body); err != nil {
		t.Fatalf("Slack's own example refused: %v", err)
	}
	// With the real clock the 2018 timestamp is a replay.
	real := &botslack.Verifier{Secret: v.Secret}
	if err := real.Verify(header(v.Signature, v.Timestamp), body); !errors.Is(err, botslack.ErrStaleTimestamp) {
		t.Fatalf("2018 timestamp with the real clock: %v, want stale", err)
	}
}

func TestVerifier_Refusals(t *testing.T) {
	v := mustVector(t, "03_signature_vector_slackgo_events_json.json")
	body := []byte(v.Body)
	good := func() *botslack.Verifier {
		return &botslack.Verifier{Secret: v.Secret, Clock: clockAt(v.Timestamp, 0)}
	}
	if err := good().Verify(header(v.Signature, v.Timestamp), body); err != nil {
		t.Fatalf("slack-go's valid vector refused: %v", err)
	}
	tests := []struct {
		name   string
		ver    *botslack.Verifier
		h      http.Header
		body   []byte
		target error
	}{
		{"wrong secret", &botslack.Verifier{Secret: v.Negative.Secret, Clock: clockAt(v.Timestamp, 0)}, header(v.Signature, v.Timestamp), body, botslack.ErrBadSignature},
		{"body changed after signing", good(), header(v.Signature, v.Timestamp), []byte(v.Negative.Body), botslack.ErrBadSignature},
		{"one byte appended", good(), header(v.Signature, v.Timestamp), append(append([]byte(nil), body...), ' '), botslack.ErrBadSignature},
		{"wrong version prefix", good(), header("v1="+v.Signature[3:], v.Timestamp), body, botslack.ErrBadSignature},
		{"no version prefix", good(), header(v.Signature[3:], v.Timestamp), body, botslack.ErrBadSignature},
		{"not hex", good(), header("v0=zz"+v.Signature[5:], v.Timestamp), body, botslack.ErrBadSignature},
		{"truncated", good(), header(v.Signature[:20], v.Timestamp), body, botslack.ErrBadSignature},
		{"timestamp of another request", good(), header(v.Signature, strconv.Itoa(mustAtoi(v.Timestamp)+1)), body, botslack.ErrBadSignature},
		{"stale by 5 min 1 s", &botslack.Verifier{Secret: v.Secret, Clock: clockAt(v.Timestamp, 5*time.Minute+time.Second)}, header(v.Signature, v.Timestamp), body, botslack.ErrStaleTimestamp},
		{"future by 5 min 1 s", &botslack.Verifier{Secret: v.Secret, Clock: clockAt(v.Timestamp, -5*time.Minute-time.Second)}, header(v.Signature, v.Timestamp), body, botslack.ErrStaleTimestamp},
		{"timestamp not a number", good(), header(v.Signature, "yesterday"), body, botslack.ErrStaleTimestamp},
		{"missing signature", good(), header("", v.Timestamp), body, botslack.ErrMissingSignature},
		{"missing timestamp", good(), header(v.Signature, ""), body, botslack.ErrMissingSignature},
		{"no headers", good(), http.Header{}, body, botslack.ErrMissingSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.ver.Verify(tt.h, tt.body); !errors.Is(err, tt.target) {
				t.Fatalf("Verify = %v, want %v", err, tt.target)
			}
		})
	}
	// The window's edges are inside.
	for _, off := range []time.Duration{5 * time.Minute, -5 * time.Minute} {
		ver := &botslack.Verifier{Secret: v.Secret, Clock: clockAt(v.Timestamp, off)}
		if err := ver.Verify(header(v.Signature, v.Timestamp), body); err != nil {
			t.Errorf("offset %s refused: %v", off, err)
		}
	}
}

func mustAtoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		panic(err)
	}
	return n
}
