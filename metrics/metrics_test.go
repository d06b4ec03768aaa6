package metrics_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/metrics"
	"github.com/vpndiag/vpndiag/probes"
)

// scrape returns the /metrics text of m.
func scrape(tb testing.TB, m *metrics.Metrics) string {
	tb.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestProberObservesKindAndOutcome(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedAddr := closed.Addr().String()
	closed.Close()

	m := metrics.New()
	p := m.Prober(&probes.Local{})
	for _, target := range []string{ln.Addr().String(), closedAddr} {
		if _, err := p.Probe(context.Background(), &vpndiag.ProbeRequest{ID: "j-" + target, Kind: vpndiag.ProbeTCP, Target: target}); err != nil {
			t.Fatal(err)
		}
	}
	text := scrape(t, m)
	for _, want := range []string{
		`vpndiag_probe_duration_seconds_count{kind="tcp",outcome="ok"} 1`,
		`vpndiag_probe_duration_seconds_count{kind="tcp",outcome="refused"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestHTTPCountsAndAckLatency(t *testing.T) {
	m := metrics.New()
	h := m.HTTP("commands", true, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("bad") != "" {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		w.Write([]byte("ok"))
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	for _, q := range []string{"", "", "?bad=1"} {
		resp, err := http.Get(srv.URL + q)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	m.SlackAPIError("chat.update", "ratelimited")
	text := scrape(t, m)
	for _, want := range []string{
		`vpndiag_http_requests_total{code="200",endpoint="commands"} 2`,
		`vpndiag_http_requests_total{code="401",endpoint="commands"} 1`,
		`vpndiag_slack_ack_seconds_count{endpoint="commands"} 3`,
		`vpndiag_slack_api_errors_total{error="ratelimited",method="chat.update"} 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestHealth(t *testing.T) {
	slackUp := false
	h := &metrics.Health{Checks: map[string]metrics.Check{
		"database": func(context.Context) error { return nil },
		"slack": func(context.Context) error {
			if !slackUp {
				return errors.New("not connected")
			}
			return nil
		},
	}, Info: map[string]func(context.Context) string{
		"replica": func(context.Context) string { return "replica r1, one of 3 live" },
	}}
	mux := http.NewServeMux()
	mux.Handle("/healthz", h.Healthz())
	mux.Handle("/readyz", h.Readyz())
	srv := httptest.NewServer(mux)
	defer srv.Close()

	get := func(path string) (int, map[string]any) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("/healthz = %d", code)
	}
	code, body := get("/readyz")
	if code != 503 || body["checks"].(map[string]any)["slack"] != "not connected" {
		t.Errorf("/readyz with Slack down = %d %v", code, body)
	}
	slackUp = true
	if code, body := get("/readyz"); code != 200 || body["ready"] != true {
		t.Errorf("/readyz when ready = %d %v", code, body)
	}
	// Info is reported, and judges nothing.
	if _, body := get("/readyz"); body["info"].(map[string]any)["replica"] != "replica r1, one of 3 live" || len(body["checks"].(map[string]any)) != 2 {
		t.Errorf("/readyz info = %v", body)
	}
}
