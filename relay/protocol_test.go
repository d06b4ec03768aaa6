package relay_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/relay"
)

func TestDecodeRejects(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"empty", ``, "decode: EOF"},
		{"not json", `hello`, "invalid character"},
		{"no version", `{"type":"heartbeat","heartbeat":{"time":"2026-01-01T00:00:00Z"}}`, "protocol version 0 is not supported"},
		{"future version", `{"v":2,"type":"heartbeat","heartbeat":{}}`, "protocol version 2 is not supported"},
		{"unknown type", `{"v":1,"type":"shell","bye":{"reason":"x"}}`, `unknown message type "shell"`},
		{"no type", `{"v":1,"bye":{"reason":"x"}}`, "message without a type"},
		{"unknown field", `{"v":1,"type":"bye","bye":{"reason":"x"},"exec":"rm"}`, `unknown field "exec"`},
		{"unknown nested field", `{"v":1,"type":"job","job":{"id":"j","kind":"tcp","cmd":"x"}}`, `unknown field "cmd"`},
		{"missing payload", `{"v":1,"type":"job"}`, "job message without its job payload"},
		{"two payloads", `{"v":1,"type":"bye","bye":{"reason":"x"},"heartbeat":{}}`, "with 2 payloads"},
		{"job without id", `{"v":1,"type":"job","job":{"kind":"tcp"}}`, "job without an id"},
		{"job without kind", `{"v":1,"type":"job","job":{"id":"j1"}}`, "job j1 without a kind"},
		{"result without id", `{"v":1,"type":"result","result":{"outcome":"ok"}}`, "result without a job id"},
		{"samples without batch", `{"v":1,"type":"samples","samples":{"case_id":1}}`, "samples without a batch id"},
		{"empty ack", `{"v":1,"type":"ack","ack":{}}`, "ack of nothing"},
		{"trailing", `{"v":1,"type":"bye","bye":{"reason":"x"}} {}`, "trailing data"},
		{"wrong type", `{"v":"1","type":"bye","bye":{}}`, "cannot unmarshal"},
		{"1 MiB job id", `{"v":1,"type":"result","result":{"id":"` + strings.Repeat("x", 1<<20-100) + `"}}`, "result id of 1048476 bytes is over the 128-byte limit"},
		{"long batch id", `{"v":1,"type":"samples","samples":{"batch":"` + strings.Repeat("b", 129) + `","case_id":1}}`, "batch id of 129 bytes"},
		{"long monitor name", `{"v":1,"type":"samples","samples":{"batch":"b","case_id":1,"samples":[{"monitor":"` + strings.Repeat("m", 300) + `"}]}}`, "sample monitor of 300 bytes"},
		{"long summary", `{"v":1,"type":"result","result":{"id":"j","summary":"` + strings.Repeat("s", 5000) + `"}}`, "result summary of 5000 bytes"},
		{"many kinds", `{"v":1,"type":"hello","hello":{"name":"r","version":"1","kinds":[` + strings.Repeat(`"dns",`, 64) + `"dns"]}}`, "hello with 65 kinds"},
		{"long bye", `{"v":1,"type":"bye","bye":{"reason":"` + strings.Repeat("r", 5000) + `"}}`, "bye reason of 5000 bytes"},
		{"too large", `{"v":1,"type":"bye","bye":{"reason":"` + strings.Repeat("x", relay.MaxMessageSize) + `"}}`, "over the 1048576-byte message limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := relay.Decode([]byte(tt.in))
			if err == nil {
				t.Fatalf("Decode = %+v, want error %q", m, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Decode error = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 25, 14, 2, 0, 0, time.UTC)
	msgs := []*relay.Message{
		{Type: relay.TypeHello, Hello: &relay.Hello{Name: "hq-1", Version: "dev", Kinds: []vpndiag.ProbeKind{vpndiag.ProbeTCP}, HeartbeatInterval: 2 * time.Second}},
		{Type: relay.TypeJob, Job: &vpndiag.ProbeRequest{ID: "j1", CaseID: 3, Kind: vpndiag.ProbeTCP, Target: "10.0.0.1:443", Timeout: time.Second}},
		{Type: relay.TypeResult, Result: &vpndiag.ProbeResult{ID: "j1", Kind: vpndiag.ProbeTCP, Outcome: vpndiag.OutcomeOK, Detail: []byte(`{"a":1}`), StartedAt: at}},
		{Type: relay.TypeSamples, Samples: &relay.Samples{Batch: "b1", CaseID: 3, Samples: []vpndiag.KeepaliveSample{{Monitor: "m", Time: at, OK: true, RTT: time.Millisecond}}}},
		{Type: relay.TypeAck, Ack: &relay.Ack{Job: "j1"}},
		{Type: relay.TypeHeartbeat, Heartbeat: &relay.Heartbeat{Time: at, Running: 2}},
		{Type: relay.TypeBye, Bye: &relay.Bye{Reason: "token revoked"}},
	}
	for _, m := range msgs {
		b, err := relay.Encode(m)
		if err != nil {
			t.Fatalf("Encode(%s): %v", m.Type, err)
		}
		got, err := relay.Decode(b)
		if err != nil {
			t.Fatalf("Decode(%s): %v", b, err)
		}
		b2, _ := relay.Encode(got)
		if !bytes.Equal(b, b2) {
			t.Fatalf("round trip changed %s:\n%s\n%s", m.Type, b, b2)
		}
	}
	if _, err := relay.Encode(&relay.Message{Type: relay.TypeJob}); err == nil {
		t.Fatal("Encode of a job without its payload succeeded")
	}
}

// FuzzDecode: Decode never panics, and whatever it accepts encodes back to
// something it accepts and decodes to the same encoding.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"v":1,"type":"heartbeat","heartbeat":{"time":"2026-01-01T00:00:00Z"}}`,
		`{"v":1,"type":"job","job":{"id":"j1","kind":"tcp","target":"10.0.0.1:443","params":{"tls":"true"},"timeout":1000000000}}`,
		`{"v":1,"type":"result","result":{"id":"j1","kind":"dns","outcome":"ok","detail":{"x":[1,2]}}}`,
		`{"v":1,"type":"samples","samples":{"batch":"b","case_id":1,"samples":[{"monitor":"m","time":"2026-01-01T00:00:00Z","ok":true}]}}`,
		`{"v":1,"type":"hello","hello":{"name":"hq","version":"dev","heartbeat_interval_ns":5}}`,
		`{"v":1,"type":"ack","ack":{"job":"j"}}`,
		`{"v":1,"type":"bye","bye":{"reason":"x"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := relay.Decode(b)
		if err != nil {
			return
		}
		enc, err := relay.Encode(m)
		if err != nil {
			t.Fatalf("accepted %q but cannot encode it: %v", b, err)
		}
		m2, err := relay.Decode(enc)
		if err != nil {
			t.Fatalf("re-encoded %q is refused: %v", enc, err)
		}
		enc2, err := relay.Encode(m2)
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not stable:\n%s\n%s", enc, enc2)
		}
	})
}
