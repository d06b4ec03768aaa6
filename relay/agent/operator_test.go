package agent_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/relay"
)

// An operator runs a probe through a connected relay from the command line
// side: the hub's operator endpoint, authenticated by the operator token.
func TestOperatorProbeThroughRelay(t *testing.T) {
	e := MustEnv(t)
	ra := e.StartAgent(e.Enrol("hq-1"), nil)
	ra.WaitConnected(t)
	const token = "vpdo_operator-secret"
	srv := httptest.NewServer(&relay.Operator{Hub: e.Hub(), TokenHash: relay.HashToken(token)})
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	addr := tcpListener(t)
	c := &relay.OperatorClient{Hub: srv.URL, Token: token}
	res, err := c.Probe(ctx, &vpndiag.ProbeRequest{Kind: vpndiag.ProbeTCP, Target: addr, Relay: "hq-1", Timeout: 3 * time.Second})
	if err != nil || res.Outcome != vpndiag.OutcomeOK || res.Relay != "hq-1" {
		t.Fatalf("operator probe = %+v, %v", res, err)
	}
	res, err = c.Probe(ctx, &vpndiag.ProbeRequest{Kind: vpndiag.ProbeTCP, Target: "169.254.169.254:80", Relay: "hq-1"})
	if err != nil || res.Outcome != vpndiag.OutcomeDenied {
		t.Fatalf("forbidden target through the operator endpoint = %+v, %v", res, err)
	}

	for _, tc := range []struct {
		name  string
		token string
		req   *vpndiag.ProbeRequest
		code  string
	}{
		{"wrong token", "nope", &vpndiag.ProbeRequest{Kind: vpndiag.ProbeTCP, Target: addr, Relay: "hq-1"}, vpndiag.EFORBIDDEN},
		{"no relay named", token, &vpndiag.ProbeRequest{Kind: vpndiag.ProbeTCP, Target: addr}, vpndiag.EINVALID},
		{"unknown relay", token, &vpndiag.ProbeRequest{Kind: vpndiag.ProbeTCP, Target: addr, Relay: "nobody"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &relay.OperatorClient{Hub: srv.URL, Token: tc.token}
			res, err := c.Probe(ctx, tc.req)
			if err == nil {
				t.Fatalf("Probe = %+v, want an error", res)
			}
			if tc.code != "" && vpndiag.ErrorCode(err) != tc.code {
				t.Fatalf("error %v has code %q, want %q", err, vpndiag.ErrorCode(err), tc.code)
			}
			if vpndiag.ErrorMessage(err) == "Internal error." {
				t.Fatalf("error %v has no user-facing message", err)
			}
		})
	}

	// An operator endpoint with no token configured refuses everyone.
	closed := httptest.NewServer(&relay.Operator{Hub: e.Hub()})
	defer closed.Close()
	if _, err := (&relay.OperatorClient{Hub: closed.URL, Token: ""}).Probe(ctx, &vpndiag.ProbeRequest{Kind: vpndiag.ProbeTCP, Target: addr, Relay: "hq-1"}); vpndiag.ErrorCode(err) != vpndiag.EFORBIDDEN {
		t.Fatalf("no operator token configured: %v", err)
	}
}
