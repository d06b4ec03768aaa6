package relay

import (
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"

	"github.com/coder/websocket"

	"github.com/vpndiag/vpndiag"
)

// Refuser counts and logs refused requests without flooding the log
// (listen.Limited implements it).
type Refuser interface {
	Refuse(remote, reason string)
}

// refuse records one refused request: rate-limited through Refusals, or
// logged at Warn when none is set.
func (h *Hub) refuse(r *http.Request, reason string) {
	if h.Refusals != nil {
		h.Refusals.Refuse(r.RemoteAddr, reason)
		return
	}
	h.log().Warn("relay: refused", "reason", reason, "remote", r.RemoteAddr)
}

// httpError writes a plain-text refusal the relay prints as is, and closes
// the connection after it: a refused client gets no keep-alive connection
// to hold.
func httpError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Connection", "close")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	fmt.Fprintln(w, msg)
}

// ServeHTTP accepts a relay's connection: it authenticates the bearer
// token, upgrades to a WebSocket and serves the link until it ends.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		h.refuse(r, "not a GET")
		httpError(w, http.StatusMethodNotAllowed, "relay endpoint: use GET with a WebSocket upgrade")
		return
	}
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || strings.TrimSpace(token) == "" {
		h.refuse(r, "no bearer token")
		httpError(w, http.StatusUnauthorized, "relay endpoint: missing Authorization: Bearer <relay token>")
		return
	}
	hash := HashToken(token)
	t, err := h.Tokens.FindRelayTokenByHash(r.Context(), hash)
	if vpndiag.ErrorCode(err) == vpndiag.ENOTFOUND {
		h.refuse(r, "unknown relay token")
		httpError(w, http.StatusUnauthorized, "relay endpoint: the relay token is not recognised (create one with 'vpndiag relay token create')")
		return
	} else if err != nil {
		h.log().Error("relay: token lookup", "err", err)
		httpError(w, http.StatusServiceUnavailable, "relay endpoint: cannot check tokens now; try again")
		return
	}
	if subtle.ConstantTimeCompare([]byte(t.Hash), []byte(hash)) != 1 {
		h.refuse(r, "unknown relay token")
		httpError(w, http.StatusUnauthorized, "relay endpoint: the relay token is not recognised")
		return
	}
	if t.RevokedAt != nil {
		h.refuse(r, "revoked token of relay "+t.Name)
		httpError(w, http.StatusUnauthorized, fmt.Sprintf("relay endpoint: the token of relay %s was revoked on %s", t.Name, t.RevokedAt.UTC().Format("2006-01-02 15:04 UTC")))
		return
	}
	if name := r.Header.Get("X-Vpndiag-Relay"); name != "" && name != t.Name {
		h.refuse(r, "token of relay "+t.Name+" used with another name")
		httpError(w, http.StatusForbidden, fmt.Sprintf("relay endpoint: this token belongs to relay %s, not %s", t.Name, name))
		return
	}
	if err := h.Tokens.TouchRelayToken(r.Context(), t.ID, h.now()); err != nil {
		h.log().Warn("relay: touch token", "relay", t.Name, "err", err)
	}
	ws, err := websocket.Accept(w, r, nil)
	if err != nil {
		h.log().Warn("relay: websocket accept", "relay", t.Name, "err", err)
		return
	}
	ws.SetReadLimit(MaxMessageSize)
	c := &conn{hub: h, ws: ws, name: t.Name, tokenID: t.ID, hash: hash, siteID: t.SiteID, remote: r.RemoteAddr, done: make(chan struct{}), gone: make(chan struct{}),
		msgs: newBucket(h.relayRate()), bytes: newBucket(h.relayByteRate(), RelayByteBurst)}
	c.serve(r.Context())
}

// relayRate is the rate and burst of each relay's results and batches.
func (h *Hub) relayRate() (rate, burst float64) {
	rate, burst = RelayMessagesPerSecond, RelayMessageBurst
	if h.RelayRate > 0 {
		rate = float64(h.RelayRate)
	}
	if h.RelayBurst > 0 {
		burst = float64(h.RelayBurst)
	}
	return rate, burst
}

// relayByteRate is the rate in bytes per second of each relay's results
// and batches.
func (h *Hub) relayByteRate() float64 {
	if h.RelayByteRate > 0 {
		return float64(h.RelayByteRate)
	}
	return RelayBytesPerSecond
}
