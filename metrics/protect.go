package metrics

import (
	"crypto/sha256"
	"crypto/subtle"
	"net"
	"net/http"
	"strings"
)

// Protect guards h (the /metrics handler): with a token, every request must
// carry `Authorization: Bearer <token>`; without one, only clients on
// loopback that came through no proxy (no X-Forwarded-For, Forwarded or
// X-Real-Ip header: a reverse proxy on the same host would make every
// client look local) are answered. Others get 403 with a sentence, and the
// connection is closed.
func Protect(h http.Handler, token string) http.Handler {
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if token != "" {
			got, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			sum := sha256.Sum256([]byte(got))
			if subtle.ConstantTimeCompare(sum[:], want[:]) == 1 {
				h.ServeHTTP(w, r)
				return
			}
			refuse(w, http.StatusUnauthorized, "metrics: wrong or missing bearer token (metrics.token)")
			return
		}
		if !localDirect(r) {
			refuse(w, http.StatusForbidden, "metrics: answered on loopback only; set metrics.token to scrape from elsewhere")
			return
		}
		h.ServeHTTP(w, r)
	})
}

// localDirect reports whether r comes from a loopback address, not through
// a proxy.
func localDirect(r *http.Request) bool {
	for _, hdr := range []string{"X-Forwarded-For", "Forwarded", "X-Real-Ip"} {
		if r.Header.Get(hdr) != "" {
			return false
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func refuse(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Connection", "close")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(msg + "\n"))
}
