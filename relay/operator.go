package relay

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

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
type Operator struct {
	// Hub runs the probes and knows the relays.
	Hub *Hub
	// TokenHash is HashToken of the operator token.
	TokenHash string
}

// operatorError is the JSON body of a refused operator request.
type operatorError struct {
	// Error is a user-safe sentence.
	Error string `json:"error"`
	// Code is the vpndiag error code.
	Code string `json:"code"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// ServeHTTP implements http.Handler for ProbePath and RelaysPath.
func (o *Operator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if o.TokenHash == "" || subtle.ConstantTimeCompare([]byte(HashToken(token)), []byte(o.TokenHash)) != 1 {
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
		if req.ID == "" {
			req.ID = NewJobID()
		}
		res, err := o.Hub.Probe(r.Context(), &req)
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
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(c.Hub, "/")+ProbePath, bytes.NewReader(body))
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
