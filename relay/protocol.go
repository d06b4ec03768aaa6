package relay

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/vpndiag/vpndiag"
)

// ProtocolVersion is the version of the wire protocol. A message with any
// other version is refused, so that a relay and a hub of incompatible
// releases fail clearly instead of misreading each other.
const ProtocolVersion = 1

// MaxMessageSize is the largest message either side accepts, in bytes.
// A probe result with a traceroute of 64 hops fits many times over.
const MaxMessageSize = 1 << 20

// Path is where the hub's relay endpoint is mounted, relative to the hub URL.
const Path = "/relay/v1/connect"

// Type names a message.
type Type string

// Message types.
const (
	TypeHello     Type = "hello"     // both ways, first message: who is talking
	TypeJob       Type = "job"       // hub → relay: run this probe
	TypeResult    Type = "result"    // relay → hub: what the probe found
	TypeSamples   Type = "samples"   // relay → hub: keep-alive samples of a monitor
	TypeAck       Type = "ack"       // hub → relay: a result or sample batch is stored
	TypeHeartbeat Type = "heartbeat" // both ways, every HeartbeatInterval
	TypeBye       Type = "bye"       // both ways, before closing on purpose
)

// Message is one message on the wire: a JSON object with the protocol
// version, the type, and exactly the payload field of that type.
type Message struct {
	// V is the protocol version, ProtocolVersion.
	V int `json:"v"`
	// Type says which payload field is set.
	Type Type `json:"type"`
	// Hello is set for TypeHello.
	Hello *Hello `json:"hello,omitempty"`
	// Job is set for TypeJob.
	Job *vpndiag.ProbeRequest `json:"job,omitempty"`
	// Result is set for TypeResult.
	Result *vpndiag.ProbeResult `json:"result,omitempty"`
	// Samples is set for TypeSamples.
	Samples *Samples `json:"samples,omitempty"`
	// Ack is set for TypeAck.
	Ack *Ack `json:"ack,omitempty"`
	// Heartbeat is set for TypeHeartbeat.
	Heartbeat *Heartbeat `json:"heartbeat,omitempty"`
	// Bye is set for TypeBye.
	Bye *Bye `json:"bye,omitempty"`
}

// Hello introduces a side. The relay sends it first; the hub answers with
// its own, which tells the relay its enrolled name and site.
type Hello struct {
	// Name is the relay's name (from the token, in the hub's hello).
	Name string `json:"name"`
	// Site is the site the relay serves (hub's hello only).
	Site string `json:"site,omitempty"`
	// Version is the sender's vpndiag version.
	Version string `json:"version"`
	// Kinds are the probe kinds the relay's policy allows (relay's hello only).
	Kinds []vpndiag.ProbeKind `json:"kinds,omitempty"`
	// Monitors are the keep-alive monitors running on the relay.
	Monitors []string `json:"monitors,omitempty"`
	// HeartbeatInterval is how often the sender sends heartbeats; the peer
	// declares the link dead after DeadAfter(HeartbeatInterval) of silence.
	HeartbeatInterval time.Duration `json:"heartbeat_interval_ns"`
}

// Samples carries keep-alive samples of one monitor.
type Samples struct {
	// Batch identifies the batch, so that a batch sent again after a
	// reconnect is stored once.
	Batch string `json:"batch"`
	// CaseID is the case the monitor belongs to.
	CaseID int64 `json:"case_id"`
	// Samples are the pings, oldest first.
	Samples []vpndiag.KeepaliveSample `json:"samples"`
}

// Ack confirms that the hub stored a result or a sample batch; the relay
// keeps and resends what is not acknowledged.
type Ack struct {
	// Job is the job ID of a stored result.
	Job string `json:"job,omitempty"`
	// Batch is the batch ID of stored samples.
	Batch string `json:"batch,omitempty"`
}

// Heartbeat proves the sender is alive.
type Heartbeat struct {
	// Time is the sender's clock when sent.
	Time time.Time `json:"time"`
	// Running counts the jobs the sender (a relay) is running.
	Running int `json:"running,omitempty"`
}

// Bye announces a deliberate close.
type Bye struct {
	// Reason is a sentence for the peer's logs, e.g. "token revoked".
	Reason string `json:"reason"`
}

// DeadAfter is how long a side waits without any message before it
// declares the link dead: three heartbeat intervals.
func DeadAfter(heartbeat time.Duration) time.Duration { return 3 * heartbeat }

// Encode returns m as JSON, setting V to ProtocolVersion. It checks m as
// Decode would, so that a side never sends what its peer must refuse.
func Encode(m *Message) ([]byte, error) {
	m.V = ProtocolVersion
	if err := m.check(); err != nil {
		return nil, err
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", m.Type, err)
	}
	if len(b) > MaxMessageSize {
		return nil, fmt.Errorf("encode %s: %d bytes is over the %d-byte message limit", m.Type, len(b), MaxMessageSize)
	}
	return b, nil
}

// Decode parses one message strictly: it must be at most MaxMessageSize
// bytes, of ProtocolVersion, of a known type, carry exactly that type's
// payload, have no unknown field and no trailing data.
func Decode(b []byte) (*Message, error) {
	if len(b) > MaxMessageSize {
		return nil, fmt.Errorf("decode: %d bytes is over the %d-byte message limit", len(b), MaxMessageSize)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var m Message
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("decode: trailing data after the message")
	}
	if m.V != ProtocolVersion {
		return nil, fmt.Errorf("decode: protocol version %d is not supported (this side speaks %d)", m.V, ProtocolVersion)
	}
	if err := m.check(); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	return &m, nil
}

// check verifies that exactly the payload of m.Type is set and that it
// holds what every receiver relies on.
func (m *Message) check() error {
	var n int
	for _, set := range []bool{m.Hello != nil, m.Job != nil, m.Result != nil, m.Samples != nil, m.Ack != nil, m.Heartbeat != nil, m.Bye != nil} {
		if set {
			n++
		}
	}
	var ok bool
	switch m.Type {
	case TypeHello:
		ok = m.Hello != nil
		if ok {
			if err := m.Hello.check(); err != nil {
				return err
			}
		}
	case TypeJob:
		ok = m.Job != nil
		if ok && m.Job.ID == "" {
			return errors.New("job without an id")
		}
		if ok && m.Job.Kind == "" {
			return fmt.Errorf("job %s without a kind", m.Job.ID)
		}
		if ok {
			if err := checkJob(m.Job); err != nil {
				return err
			}
		}
	case TypeResult:
		ok = m.Result != nil
		if ok && m.Result.ID == "" {
			return errors.New("result without a job id")
		}
		if ok {
			if err := checkResult(m.Result); err != nil {
				return err
			}
		}
	case TypeSamples:
		ok = m.Samples != nil
		if ok && m.Samples.Batch == "" {
			return errors.New("samples without a batch id")
		}
		if ok {
			if err := m.Samples.check(); err != nil {
				return err
			}
		}
	case TypeAck:
		ok = m.Ack != nil
		if ok && m.Ack.Job == "" && m.Ack.Batch == "" {
			return errors.New("ack of nothing")
		}
		if ok {
			if err := firstErr(checkLen("ack job", m.Ack.Job, MaxIDLen), checkLen("ack batch", m.Ack.Batch, MaxIDLen)); err != nil {
				return err
			}
		}
	case TypeHeartbeat:
		ok = m.Heartbeat != nil
	case TypeBye:
		ok = m.Bye != nil
		if ok {
			if err := checkLen("bye reason", m.Bye.Reason, MaxTextLen); err != nil {
				return err
			}
		}
	case "":
		return errors.New("message without a type")
	default:
		return fmt.Errorf("unknown message type %q", m.Type)
	}
	if !ok {
		return fmt.Errorf("%s message without its %s payload", m.Type, m.Type)
	}
	if n != 1 {
		return fmt.Errorf("%s message with %d payloads (want exactly one)", m.Type, n)
	}
	return nil
}
