// Package loadgen is an open-loop HTTP load generator: it sends requests at
// a fixed rate whatever the server does (a slow answer does not delay the
// next request, unlike a closed loop of N clients), and times every request
// from the moment it was due, so a server that falls behind shows up in the
// percentiles instead of quietly lowering the rate (coordinated omission).
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Config describes one run.
type Config struct {
	// Rate is the number of requests per second.
	Rate int
	// N is the number of timed requests.
	N int
	// Warmup requests are sent first, at the same rate, and not timed; they
	// open the client's connections.
	Warmup int
	// Request returns request i (0 ≤ i < Warmup+N; warm-up requests come
	// first). It is called by the scheduler, before the request is due.
	Request func(i int) (*http.Request, error)
	// Check, when set, inspects a 2xx answer; an error counts the request
	// as failed. Answers other than 2xx always count as failed.
	Check func(i int, resp *http.Response, body []byte) error
	// Client sends the requests; NewClient(Rate) when nil.
	Client *http.Client
}

// Result is what a run measured. Latencies are from the time a request was
// due to the time its whole answer was read.
type Result struct {
	// Rate is the configured rate; Achieved is timed requests sent per
	// second of the sending window.
	Rate     int     `json:"rate"`
	Achieved float64 `json:"achieved"`
	// Sent, OK and Failed count the timed requests.
	Sent   int `json:"sent"`
	OK     int `json:"ok"`
	Failed int `json:"failed"`
	// FirstError is the first failure, for the report.
	FirstError string `json:"first_error,omitempty"`
	// P50, P99 and Max are latency percentiles of the timed requests that
	// got an answer (failed ones included when they got one).
	P50 time.Duration `json:"p50_ns"`
	P99 time.Duration `json:"p99_ns"`
	Max time.Duration `json:"max_ns"`
	// MaxLag is the longest a request started after it was due: the
	// generator's own lateness; well under the latencies for a sound run.
	MaxLag time.Duration `json:"max_lag_ns"`
	// Duration is the whole run, from the first timed request being due to
	// the last answer.
	Duration time.Duration `json:"duration_ns"`
}

// NewClient returns a client fit for rate requests per second on loopback:
// enough idle connections that an open loop does not keep dialling, and a
// 10 s timeout so a stuck server fails requests instead of the run.
func NewClient(rate int) *http.Client {
	idle := max(rate, 64)
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConns:        idle,
			MaxIdleConnsPerHost: idle,
			IdleConnTimeout:     time.Minute,
		},
	}
}

type sample struct {
	latency, lag time.Duration
	answered     bool
	err          error
}

// Run sends cfg.Warmup then cfg.N requests at cfg.Rate and returns the
// measurements of the N timed ones. It stops early, returning what it has
// with ctx's error, when ctx ends.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if cfg.Rate <= 0 || cfg.Rate > 100000 {
		return nil, fmt.Errorf("loadgen: rate %d must be 1 to 100000 per second", cfg.Rate)
	}
	if cfg.N <= 0 || cfg.Warmup < 0 {
		return nil, fmt.Errorf("loadgen: need N > 0 and Warmup ≥ 0 (got %d, %d)", cfg.N, cfg.Warmup)
	}
	if cfg.Request == nil {
		return nil, errors.New("loadgen: Request is required")
	}
	client := cfg.Client
	if client == nil {
		client = NewClient(cfg.Rate)
	}
	interval := time.Second / time.Duration(cfg.Rate)
	total := cfg.Warmup + cfg.N
	samples := make([]sample, total)
	var wg sync.WaitGroup
	start := time.Now()
	var runErr error
	sent := 0
	for i := range total {
		due := start.Add(time.Duration(i) * interval)
		req, err := cfg.Request(i)
		if err != nil {
			runErr = fmt.Errorf("loadgen: request %d: %w", i, err)
			break
		}
		if d := time.Until(due); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
			case <-t.C:
			}
		}
		if ctx.Err() != nil {
			runErr = ctx.Err()
			break
		}
		sent++
		wg.Go(func() {
			s := &samples[i]
			s.lag = time.Since(due)
			resp, err := client.Do(req.WithContext(ctx))
			if err != nil {
				s.err = err
				return
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			s.latency, s.answered = time.Since(due), true
			switch {
			case err != nil:
				s.err = err
			case resp.StatusCode/100 != 2:
				s.err = fmt.Errorf("HTTP %d: %.80s", resp.StatusCode, body)
			case cfg.Check != nil:
				s.err = cfg.Check(i, resp, body)
			}
		})
	}
	lastDue := start.Add(time.Duration(max(sent-1, 0)) * interval)
	wg.Wait()
	timedStart := start.Add(time.Duration(cfg.Warmup) * interval)
	res := &Result{Rate: cfg.Rate, Duration: time.Since(timedStart)}
	var lat []time.Duration
	for i := cfg.Warmup; i < sent; i++ {
		s := samples[i]
		res.Sent++
		res.MaxLag = max(res.MaxLag, s.lag)
		if s.answered {
			lat = append(lat, s.latency)
		}
		if s.err != nil {
			res.Failed++
			if res.FirstError == "" {
				res.FirstError = s.err.Error()
			}
		} else {
			res.OK++
		}
	}
	if window := lastDue.Sub(timedStart); res.Sent > 1 && window > 0 {
		res.Achieved = float64(res.Sent-1) / window.Seconds()
	}
	slices.Sort(lat)
	res.P50, res.P99 = Percentile(lat, 50), Percentile(lat, 99)
	if len(lat) > 0 {
		res.Max = lat[len(lat)-1]
	}
	return res, runErr
}

// Percentile returns the p-th percentile (nearest rank) of sorted
// durations; 0 for none.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(float64(len(sorted))*p/100+0.999999) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}
