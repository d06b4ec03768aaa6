package relay_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/relay"
)

const operatorToken = "operator-token-0123456789"

func newOperator(t *testing.T, e *hubEnv) (*relay.Operator, *httptest.Server) {
	t.Helper()
	op := &relay.Operator{Hub: e.hub, TokenHash: relay.HashToken(operatorToken)}
	mux := http.NewServeMux()
	mux.Handle(relay.ProbePath, op)
	mux.Handle(relay.RelaysPath, op)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return op, srv
}

func operatorPost(t *testing.T, url, token string, req any) (int, string) {
	t.Helper()
	b, _ := json.Marshal(req)
	r, _ := http.NewRequest(http.MethodPost, url+relay.ProbePath, bytes.NewReader(b))
	r.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out bytes.Buffer
	_, _ = out.ReadFrom(resp.Body)
	return resp.StatusCode, out.String()
}

// Wrong operator tokens are throttled per address: after 5 in a minute even
// the right token is refused (429) until the minute has passed; each
// refusal is recorded.
func TestOperatorThrottlesWrongTokens(t *testing.T) {
	e := newHubEnv(t)
	op, srv := newOperator(t, e)
	ref := &refusals{}
	op.Refusals = ref
	for i := range relay.OperatorMaxFailures {
		if code, _ := operatorPost(t, srv.URL, "wrong-token-guess-"+string(rune('a'+i)), map[string]any{}); code != http.StatusUnauthorized {
			t.Fatalf("wrong token %d: %d, want 401", i+1, code)
		}
	}
	code, body := operatorPost(t, srv.URL, operatorToken, map[string]any{"kind": "tcp", "relay": "hq-1"})
	if code != http.StatusTooManyRequests || !strings.Contains(body, "Too many wrong operator tokens") {
		t.Fatalf("right token after 5 wrong ones: %d %s, want 429", code, body)
	}
	if n := len(ref.list()); n != relay.OperatorMaxFailures+1 {
		t.Fatalf("%d refusals recorded, want %d", n, relay.OperatorMaxFailures+1)
	}
}

// An operator probe cannot write into a case, and the job ID it sends is
// not used (so it cannot pre-empt a case's job).
func TestOperatorProbeIsAdHoc(t *testing.T) {
	e := newHubEnv(t)
	_, srv := newOperator(t, e)
	ws := e.dial(e.enrol("hq-1", 0))
	jobs := make(chan *vpndiag.ProbeRequest, 2)
	answer(t, ws, jobs)
	code, body := operatorPost(t, srv.URL, operatorToken, map[string]any{"case_id": e.cases[0], "kind": "tcp", "target": "10.0.0.1:443", "relay": "hq-1"})
	if code != http.StatusBadRequest || !strings.Contains(body, "cannot be written into a case") {
		t.Fatalf("probe into a case: %d %s, want 400", code, body)
	}
	code, body = operatorPost(t, srv.URL, operatorToken, map[string]any{"id": "case1-seq3-1", "kind": "tcp", "target": "10.0.0.1:443", "relay": "hq-1", "timeout": int64(5 * time.Second)})
	if code != http.StatusOK {
		t.Fatalf("ad hoc probe: %d %s", code, body)
	}
	if j := <-jobs; j.ID == "case1-seq3-1" || j.CaseID != 0 {
		t.Fatalf("relay got job %q of case %d: the operator chose the job ID or case", j.ID, j.CaseID)
	}
	// "site:NAME" picks a relay of that site.
	code, body = operatorPost(t, srv.URL, operatorToken, map[string]any{"kind": "tcp", "target": "10.0.0.1:443", "relay": "site:hq", "timeout": int64(5 * time.Second)})
	if code != http.StatusOK || !strings.Contains(body, `"relay":"hq-1"`) {
		t.Fatalf("probe on site:hq: %d %s", code, body)
	}
	<-jobs
	if code, _ = operatorPost(t, srv.URL, operatorToken, map[string]any{"kind": "tcp", "target": "10.0.0.1:443", "relay": "site:nowhere"}); code != http.StatusNotFound {
		t.Fatalf("probe on an unknown site: %d", code)
	}
	if rs, _ := e.probes.FindProbeResults(context.Background(), e.cases[0]); len(rs) != 0 {
		t.Fatalf("the operator's probe was stored in a case: %+v", rs)
	}
}

// The operator client (vpndiag probe --relay) refuses to send its token
// over plain HTTP to anything but loopback.
func TestOperatorClientRefusesPlainHTTP(t *testing.T) {
	for _, tt := range []struct {
		hub string
		ok  bool
	}{
		{"http://bot.example.com:8443", false},
		{"http://10.1.2.3:8443", false},
		{"ftp://bot.example.com", false},
		{"https://bot.example.com:8443", true},
		{"http://127.0.0.1:8443", true},
		{"http://[::1]:8443", true},
		{"http://localhost:8443", true},
	} {
		_, err := relay.HubURL(tt.hub, relay.ProbePath)
		if (err == nil) != tt.ok {
			t.Errorf("HubURL(%s) = %v, want ok=%v", tt.hub, err, tt.ok)
		}
	}
	c := &relay.OperatorClient{Hub: "http://bot.example.com:8443", Token: operatorToken,
		HTTPClient: &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
			t.Fatal("the client sent a request")
			return nil, nil
		})}}
	_, err := c.Probe(context.Background(), &vpndiag.ProbeRequest{Kind: vpndiag.ProbeTCP, Target: "10.0.0.1:443", Relay: "hq-1"})
	if vpndiag.ErrorCode(err) != vpndiag.EINVALID || !strings.Contains(vpndiag.ErrorMessage(err), "must be https") {
		t.Fatalf("plain HTTP off loopback: %v", err)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
