package relay

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/vpndiag/vpndiag"
)

// Operator endpoints, mounted beside Path on the hub's listener. They let an
// engineer run one probe through a connected relay from the command line
// (`vpndiag probe KIND --relay NAME --hub URL`) and list the relays.
const (
	ProbePath  = "/relay/v1/probe"
	RelaysPath = "/relay/v1/relays"
)

// Operator serves the operator endpoints. Requests must carry
// `Authorization: Bearer <operator token>`; the token's SHA-256 (as
// HashToken computes it) is compared in constant time with TokenHash. With
// an empty TokenHash the endpoints refuse every request.
//
// Failed tokens are throttled per client address: after
// OperatorMaxFailures in OperatorFailureWindow every request from that
// address is refused (429) until the window has passed, and each refusal
// is logged (rate-limited) through Refusals.
//
// An operator probe is ad hoc: it belongs to no case (a request naming a
// case is refused), its job ID is the hub's (a client's ID is ignored), and
// its result is stored as an ad hoc result.
type Operator struct {
	// Hub runs the probes and knows the relays.
	Hub *Hub
	// TokenHash is HashToken of the operator token.
	TokenHash string
	// Refusals, when set, counts and logs refused requests (rate-limited);
	// nil logs through Hub.Logger.
	Refusals Refuser

	mu       sync.Mutex
	failures map[string]*failures // by client IP
}

// Throttling of failed operator tokens.
const (
	// OperatorMaxFailures is how many wrong tokens one address may send
	// per OperatorFailureWindow.
	OperatorMaxFailures = 5
	// OperatorFailureWindow is the window of OperatorMaxFailures.
	OperatorFailureWindow = time.Minute
	// maxTrackedClients bounds the addresses remembered.
	maxTrackedClients = 10000
	// maxOperatorProbeTime bounds how long an operator request may wait
	// for its probe.
	maxOperatorProbeTime = 10 * time.Minute
)

// failures counts one address's wrong tokens in the current window.
type failures struct {
	since time.Time
	n     int
}

// clientIP is the host part of r.RemoteAddr.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// throttled reports whether ip sent too many wrong tokens lately.
func (o *Operator) throttled(ip string, now time.Time) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	f := o.failures[ip]
	return f != nil && now.Sub(f.since) < OperatorFailureWindow && f.n >= OperatorMaxFailures
}

// failed counts a wrong token from ip.
func (o *Operator) failed(ip string, now time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.failures == nil {
		o.failures = map[string]*failures{}
	}
	f := o.failures[ip]
	if f == nil || now.Sub(f.since) >= OperatorFailureWindow {
		if len(o.failures) >= maxTrackedClients {
			for k, g := range o.failures {
				if now.Sub(g.since) >= OperatorFailureWindow {
					delete(o.failures, k)
				}
			}
		}
		f = &failures{since: now}
		o.failures[ip] = f
	}
	f.n++
}

func (o *Operator) refuse(r *http.Request, reason string) {
	if o.Refusals != nil {
		o.Refusals.Refuse(r.RemoteAddr, reason)
		return
	}
	if o.Hub != nil {
		o.Hub.log().Warn("operator: refused", "reason", reason, "remote", r.RemoteAddr)
	}
}

// operatorError is the JSON body of a refused operator request.
type operatorError struct {
	// Error is a user-safe sentence.
	Error string `json:"error"`
	// Code is the vpndiag error code.
	Code string `json:"code"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	if code >= 400 {
		// A refused client gets no keep-alive connection to hold.
		w.Header().Set("Connection", "close")
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// ServeHTTP implements http.Handler for ProbePath and RelaysPath.
func (o *Operator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	ip := clientIP(r)
	if o.throttled(ip, now) {
		o.refuse(r, "operator: too many wrong tokens")
		w.Header().Set("Retry-After", fmt.Sprint(int(OperatorFailureWindow.Seconds())))
		writeJSON(w, http.StatusTooManyRequests, operatorError{"Too many wrong operator tokens from this address; wait a minute.", vpndiag.EFORBIDDEN})
		return
	}
	token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if o.TokenHash == "" || subtle.ConstantTimeCompare([]byte(HashToken(token)), []byte(o.TokenHash)) != 1 {
		o.failed(ip, now)
		o.refuse(r, "operator: missing or wrong token")
		writeJSON(w, http.StatusUnauthorized, operatorError{"The operator token is missing or wrong (hub.operator_token / VPNDIAG_OPERATOR_TOKEN).", vpndiag.EFORBIDDEN})
		return
	}
	switch {
	case r.URL.Path == RelaysPath && r.Method == http.MethodGet:
		st, err := o.Hub.Relays(r.Context())
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, operatorError{vpndiag.ErrorMessage(err), vpndiag.ErrorCode(err)})
			return
		}
		writeJSON(w, http.StatusOK, st)
	case r.URL.Path == ProbePath && r.Method == http.MethodPost:
		var req vpndiag.ProbeRequest
		dec := json.NewDecoder(io.LimitReader(r.Body, MaxMessageSize))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			writeJSON(w, http.StatusBadRequest, operatorError{fmt.Sprintf("The probe request is not valid JSON: %v.", err), vpndiag.EINVALID})
			return
		}
		if req.Relay == "" {
			writeJSON(w, http.StatusBadRequest, operatorError{"Name the relay to run the probe on.", vpndiag.EINVALID})
			return
		}
		if name, ok := strings.CutPrefix(req.Relay, "site:"); ok {
			// `vpndiag probe --relay site:NAME`: any relay of that site.
			if o.Hub.Sites == nil {
				writeJSON(w, http.StatusBadRequest, operatorError{"This hub does not know sites; name a relay.", vpndiag.EINVALID})
				return
			}
			site, err := o.Hub.Sites.FindSiteByName(r.Context(), name)
			if err != nil {
				writeJSON(w, http.StatusNotFound, operatorError{fmt.Sprintf("There is no site %q.", name), vpndiag.ENOTFOUND})
				return
			}
			req.Relay, req.SiteID = "", site.ID
		}
		if req.CaseID != 0 {
			writeJSON(w, http.StatusBadRequest, operatorError{"An operator probe is ad hoc: it cannot be written into a case (leave case_id out).", vpndiag.EINVALID})
			return
		}
		// The hub picks the job ID; one chosen by the client could pre-empt
		// a case's job.
		req.ID = ""
		wait := maxOperatorProbeTime
		if req.Timeout > 0 && req.Timeout < wait {
			wait = req.Timeout + 5*time.Second
		}
		// The listener's write timeout is for ordinary requests; a probe
		// may take longer.
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(wait + 5*time.Second))
		ctx, cancel := context.WithTimeout(r.Context(), wait)
		defer cancel()
		res, err := o.Hub.Probe(ctx, &req)
		if err != nil {
			code := http.StatusBadGateway
			switch vpndiag.ErrorCode(err) {
			case vpndiag.EINVALID:
				code = http.StatusBadRequest
			case vpndiag.ENOTFOUND:
				code = http.StatusNotFound
			case vpndiag.EUNAVAILABLE:
				code = http.StatusServiceUnavailable
			}
			writeJSON(w, code, operatorError{vpndiag.ErrorMessage(err), vpndiag.ErrorCode(err)})
			return
		}
		writeJSON(w, http.StatusOK, res)
	default:
		writeJSON(w, http.StatusNotFound, operatorError{"No such operator endpoint.", vpndiag.ENOTFOUND})
	}
}

// OperatorClient runs probes through a hub's operator endpoint; it
// implements vpndiag.Prober.
type OperatorClient struct {
	// Hub is the hub URL, https://host:port.
	Hub string
	// Token is the operator token.
	Token string
	// HTTPClient is used for requests; nil means http.DefaultClient.
	HTTPClient *http.Client
}

var _ vpndiag.Prober = (*OperatorClient)(nil)

// Probe sends req to the hub, which runs it on req.Relay, and returns the
// relay's result. The context bounds the whole call.
func (c *OperatorClient) Probe(ctx context.Context, req *vpndiag.ProbeRequest) (*vpndiag.ProbeResult, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("operator probe: %w", err)
	}
	u, err := HubURL(c.Hub, ProbePath)
	if err != nil {
		return nil, vpndiag.Errorf(vpndiag.EINVALID, "%s", err.Error())
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return nil, vpndiag.Errorf(vpndiag.EINVALID, "The hub URL %q is not valid.", c.Hub)
	}
	hreq.Header.Set("Authorization", "Bearer "+c.Token)
	hreq.Header.Set("Content-Type", "application/json")
	client := c.HTTPClient
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(hreq)
	if err != nil {
		return nil, fmt.Errorf("operator probe: %w", vpndiag.Errorf(vpndiag.EUNAVAILABLE, "Cannot reach the hub at %s: %v.", c.Hub, err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxMessageSize))
	if err != nil {
		return nil, fmt.Errorf("operator probe: read: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e operatorError
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return nil, &vpndiag.Error{Code: e.Code, Message: e.Error}
		}
		return nil, vpndiag.Errorf(vpndiag.EUNAVAILABLE, "The hub answered %s.", resp.Status)
	}
	var res vpndiag.ProbeResult
	if err := json.Unmarshal(data, &res); err != nil {
		return nil, fmt.Errorf("operator probe: decode result: %w", err)
	}
	return &res, nil
}

// HubURL returns the URL of path on the hub, refusing anything but https
// except on loopback (development): a relay or operator token must never
// cross a network in clear text.
func HubURL(hub, path string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(hub))
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("hub URL %q is not a URL such as https://vpndiag.example.com:8443", hub)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return "", fmt.Errorf("hub URL %q must be https: the token would cross the network in clear text (http only for loopback)", hub)
		}
	default:
		return "", fmt.Errorf("hub URL %q must be https", hub)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	u.RawQuery, u.Fragment = "", ""
	return u.String(), nil
}

// isLoopback reports whether host is localhost or a loopback address.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
