package relay

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/vpndiag/vpndiag"
)

// Bounds of every field of a message, checked by Decode (and Encode), so
// that one relay token cannot make the hub keep or store megabytes per
// message: MaxMessageSize bounds a message, these bound what the hub
// remembers (job and batch IDs in maps) and stores (a result's texts).
const (
	// MaxIDLen bounds job and batch IDs (NewJobID makes 28 bytes).
	MaxIDLen = 128
	// MaxNameLen bounds relay and monitor names, probe kinds, outcomes,
	// versions and parameter names.
	MaxNameLen = 256
	// MaxTextLen bounds a target, a summary, an error, a purpose, a bye
	// reason and a parameter value.
	MaxTextLen = 4096
	// MaxDetailBytes bounds a result's Detail JSON.
	MaxDetailBytes = 512 << 10
	// MaxParams bounds a job's parameters.
	MaxParams = 32
	// MaxListLen bounds the kinds and monitors of a hello.
	MaxListLen = 64
	// MaxBatchSamples bounds the samples of one batch (a relay keeps at
	// most 10 000 pending per monitor while the link is down).
	MaxBatchSamples = 10000
)

func checkLen(field, v string, limit int) error {
	if len(v) > limit {
		return fmt.Errorf("%s of %d bytes is over the %d-byte limit", field, len(v), limit)
	}
	return nil
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func (h *Hello) check() error {
	if len(h.Kinds) > MaxListLen || len(h.Monitors) > MaxListLen {
		return fmt.Errorf("hello with %d kinds and %d monitors (at most %d each)", len(h.Kinds), len(h.Monitors), MaxListLen)
	}
	errs := []error{checkLen("hello name", h.Name, MaxNameLen), checkLen("hello site", h.Site, MaxNameLen), checkLen("hello version", h.Version, MaxNameLen)}
	for _, k := range h.Kinds {
		errs = append(errs, checkLen("hello kind", string(k), MaxNameLen))
	}
	for _, m := range h.Monitors {
		errs = append(errs, checkLen("hello monitor", m, MaxNameLen))
	}
	if h.HeartbeatInterval < 0 {
		errs = append(errs, errors.New("hello with a negative heartbeat interval"))
	}
	return firstErr(errs...)
}

func checkJob(r *vpndiag.ProbeRequest) error {
	if len(r.Params) > MaxParams {
		return fmt.Errorf("job with %d parameters (at most %d)", len(r.Params), MaxParams)
	}
	errs := []error{checkLen("job id", r.ID, MaxIDLen), checkLen("job kind", string(r.Kind), MaxNameLen),
		checkLen("job target", r.Target, MaxTextLen), checkLen("job relay", r.Relay, MaxNameLen),
		checkLen("job purpose", r.Purpose, MaxTextLen)}
	for k, v := range r.Params {
		errs = append(errs, checkLen("job parameter name", k, MaxNameLen), checkLen("job parameter "+truncate(k), v, MaxTextLen))
	}
	return firstErr(errs...)
}

func checkResult(r *vpndiag.ProbeResult) error {
	return firstErr(checkLen("result id", r.ID, MaxIDLen), checkLen("result kind", string(r.Kind), MaxNameLen),
		checkLen("result target", r.Target, MaxTextLen), checkLen("result outcome", string(r.Outcome), MaxNameLen),
		checkLen("result summary", r.Summary, MaxTextLen), checkLen("result error", r.Error, MaxTextLen),
		checkLen("result relay", r.Relay, MaxNameLen), checkLen("result detail", string(r.Detail), MaxDetailBytes))
}

func (s *Samples) check() error {
	if len(s.Samples) > MaxBatchSamples {
		return fmt.Errorf("batch of %d samples (at most %d)", len(s.Samples), MaxBatchSamples)
	}
	if err := checkLen("batch id", s.Batch, MaxIDLen); err != nil {
		return err
	}
	for i := range s.Samples {
		if err := checkLen("sample monitor", s.Samples[i].Monitor, MaxNameLen); err != nil {
			return err
		}
	}
	return nil
}

// truncate shortens a name for an error message.
func truncate(s string) string {
	if len(s) > 32 {
		return s[:32] + "…"
	}
	return s
}

// Rate limits of one relay link: results and sample batches together. A
// relay over them is not refused: the hub reads its next message only when
// the bucket allows, so the link (and the relay's queue) slows down and the
// hub's memory stays bounded by one message per link.
const (
	// RelayMessagesPerSecond is the sustained rate of results and batches.
	RelayMessagesPerSecond = 20
	// RelayMessageBurst is how many may come at once (a reconnect delivers
	// its backlog).
	RelayMessageBurst = 200
	// RelayBytesPerSecond is the sustained volume of results and batches.
	RelayBytesPerSecond = 256 << 10
	// RelayByteBurst is the volume that may come at once.
	RelayByteBurst = 4 * MaxMessageSize
)

// bucket is a token bucket; wait returns how long to wait before n tokens
// are available and takes them.
type bucket struct {
	mu    sync.Mutex
	rate  float64 // tokens per second
	burst float64
	level float64
	last  time.Time
}

func newBucket(rate, burst float64) *bucket {
	return &bucket{rate: rate, burst: burst, level: burst}
}

// take takes n tokens (n is capped at burst) and returns how long the
// caller must wait before using them.
func (b *bucket) take(now time.Time, n float64) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	n = min(n, b.burst)
	if !b.last.IsZero() {
		b.level = min(b.burst, b.level+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
	b.level -= n
	if b.level >= 0 {
		return 0
	}
	return time.Duration(-b.level / b.rate * float64(time.Second))
}
