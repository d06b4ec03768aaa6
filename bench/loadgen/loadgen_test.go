package loadgen_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag/bench/loadgen"
)

func TestRunTimesEveryRequestAtTheRate(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		time.Sleep(20 * time.Millisecond)
	}))
	defer srv.Close()
	res, err := loadgen.Run(context.Background(), loadgen.Config{
		Rate: 200, N: 100, Warmup: 10,
		Request: func(int) (*http.Request, error) { return http.NewRequest(http.MethodGet, srv.URL, nil) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if hits.Load() != 110 || res.Sent != 100 || res.OK != 100 || res.Failed != 0 {
		t.Errorf("hits %d, result %+v", hits.Load(), res)
	}
	// Open loop: 20 ms answers do not slow a 5 ms schedule down.
	if res.Achieved < 150 || res.Achieved > 250 {
		t.Errorf("achieved %.0f req/s, want about 200", res.Achieved)
	}
	if res.P50 < 20*time.Millisecond || res.P99 < res.P50 || res.Max < res.P99 {
		t.Errorf("latencies p50 %v p99 %v max %v", res.P50, res.P99, res.Max)
	}
}

func TestRunCountsFailures(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("i") == "3" {
			http.Error(w, "refused", http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte("busy"))
	}))
	defer srv.Close()
	res, err := loadgen.Run(context.Background(), loadgen.Config{
		Rate: 1000, N: 10,
		Request: func(i int) (*http.Request, error) {
			return http.NewRequest(http.MethodGet, srv.URL+"?i="+string(rune('0'+i)), nil)
		},
		Check: func(i int, _ *http.Response, body []byte) error {
			if i == 5 && string(body) == "busy" {
				return errors.New("bot busy")
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.OK != 8 || res.Failed != 2 || !strings.Contains(res.FirstError, "HTTP 401") {
		t.Errorf("result %+v", res)
	}
}

func TestRunRefusesBadConfig(t *testing.T) {
	req := func(int) (*http.Request, error) { return http.NewRequest(http.MethodGet, "http://127.0.0.1:1/", nil) }
	for _, tc := range []struct {
		name string
		cfg  loadgen.Config
		want string
	}{
		{"zero rate", loadgen.Config{Rate: 0, N: 1, Request: req}, "rate 0"},
		{"huge rate", loadgen.Config{Rate: 1e6, N: 1, Request: req}, "rate 1000000"},
		{"no requests", loadgen.Config{Rate: 1, N: 0, Request: req}, "need N > 0"},
		{"negative warm-up", loadgen.Config{Rate: 1, N: 1, Warmup: -1, Request: req}, "need N > 0"},
		{"no request func", loadgen.Config{Rate: 1, N: 1}, "Request is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadgen.Run(context.Background(), tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func TestRunStopsWhenTheRequestCannotBeBuilt(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	res, err := loadgen.Run(context.Background(), loadgen.Config{Rate: 1000, N: 5, Request: func(i int) (*http.Request, error) {
		if i == 2 {
			return nil, errors.New("no more cases")
		}
		return http.NewRequest(http.MethodGet, srv.URL, nil)
	}})
	if err == nil || !strings.Contains(err.Error(), "request 2: no more cases") || res.Sent != 2 {
		t.Errorf("result %+v, error %v", res, err)
	}
}

func TestPercentile(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		var out []time.Duration
		for _, n := range ns {
			out = append(out, time.Duration(n)*time.Millisecond)
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	for _, tc := range []struct {
		in   []time.Duration
		p    float64
		want time.Duration
	}{
		{nil, 50, 0},
		{ms(7), 99, 7 * time.Millisecond},
		{ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{ms(hundred...), 50, 50 * time.Millisecond},
		{ms(hundred...), 99, 99 * time.Millisecond},
		{ms(hundred...), 100, 100 * time.Millisecond},
	} {
		if got := loadgen.Percentile(tc.in, tc.p); got != tc.want {
			t.Errorf("Percentile(%v, %v) = %v, want %v", tc.in, tc.p, got, tc.want)
		}
	}
}
