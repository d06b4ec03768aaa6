package metrics_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/vpndiag/vpndiag/metrics"
)

func TestProtect(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("metrics")) })
	tests := []struct {
		name, token, remote, header, value string
		want                               int
	}{
		{"loopback", "", "127.0.0.1:5000", "", "", 200},
		{"loopback v6", "", "[::1]:5000", "", "", 200},
		{"remote", "", "192.0.2.7:5000", "", "", 403},
		{"through a local proxy", "", "127.0.0.1:5000", "X-Forwarded-For", "192.0.2.7", 403},
		{"forwarded", "", "127.0.0.1:5000", "Forwarded", "for=192.0.2.7", 403},
		{"token from anywhere", "scrape-token-0123", "192.0.2.7:5000", "Authorization", "Bearer scrape-token-0123", 200},
		{"wrong token", "scrape-token-0123", "127.0.0.1:5000", "Authorization", "Bearer nope", 401},
		{"token required on loopback too", "scrape-token-0123", "127.0.0.1:5000", "", "", 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/metrics", nil)
			r.RemoteAddr = tt.remote
			if tt.header != "" {
				r.Header.Set(tt.header, tt.value)
			}
			w := httptest.NewRecorder()
			metrics.Protect(ok, tt.token).ServeHTTP(w, r)
			if w.Code != tt.want {
				t.Fatalf("%d %s, want %d", w.Code, w.Body, tt.want)
			}
		})
	}
}
