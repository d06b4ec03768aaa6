package metrics

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"time"
)

// Check is one readiness condition: nil when ready, else why not.
type Check func(ctx context.Context) error

// Health serves /healthz (the process is up) and /readyz (every check
// passes: e.g. the database answers and Slack is connected).
type Health struct {
	// Checks are run on every /readyz request, each bounded by Timeout.
	Checks map[string]Check
	// Timeout bounds each check; default 2 s.
	Timeout time.Duration
	// Info are facts /readyz reports under "info" without judging them
	// (which database, this replica's role), each bounded by Timeout.
	Info map[string]func(ctx context.Context) string
}

// Healthz answers 200 "ok" while the process serves HTTP.
func (h *Health) Healthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
}

// Readyz answers 200 with each check's status when all pass, 503 otherwise.
func (h *Health) Readyz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		timeout := h.Timeout
		if timeout == 0 {
			timeout = 2 * time.Second
		}
		names := make([]string, 0, len(h.Checks))
		for name := range h.Checks {
			names = append(names, name)
		}
		sort.Strings(names)
		status := map[string]string{}
		ready := true
		for _, name := range names {
			ctx, cancel := context.WithTimeout(r.Context(), timeout)
			err := h.Checks[name](ctx)
			cancel()
			if err != nil {
				ready = false
				status[name] = err.Error()
			} else {
				status[name] = "ok"
			}
		}
		body := map[string]any{"ready": ready, "checks": status}
		if len(h.Info) > 0 {
			info := map[string]string{}
			for name, f := range h.Info {
				ctx, cancel := context.WithTimeout(r.Context(), timeout)
				info[name] = f(ctx)
				cancel()
			}
			body["info"] = info
		}
		w.Header().Set("Content-Type", "application/json")
		if !ready {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		json.NewEncoder(w).Encode(body)
	})
}
