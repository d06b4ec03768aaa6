package probes_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/probes"
	"github.com/vpndiag/vpndiag/probes/internal/nstest"
)

func TestMain(m *testing.M) {
	nstest.Main(m, map[string]nstest.HelperFunc{
		"probe":     helperProbe,
		"keepalive": helperKeepalive,
		"flap":      helperFlap,
		"servers":   helperServers,
	})
}

// helperOutput is what the probe helper returns: a result or the error.
type helperOutput struct {
	Result *vpndiag.ProbeResult `json:"result"`
	Code   string               `json:"code"`
	Error  string               `json:"error"`
}

// helperProbe runs one probe through probes.Local inside a namespace.
func helperProbe(ctx context.Context, in []byte) (any, error) {
	var req vpndiag.ProbeRequest
	if err := json.Unmarshal(in, &req); err != nil {
		return nil, err
	}
	res, err := (&probes.Local{}).Probe(ctx, &req)
	return helperOutput{Result: res, Code: vpndiag.ErrorCode(err), Error: vpndiag.ErrorMessage(err)}, nil
}

// MustProbeIn runs req inside namespace i of c and returns its result.
func MustProbeIn(tb testing.TB, c *nstest.Chain, i int, req *vpndiag.ProbeRequest, opt *nstest.HelperOptions) *vpndiag.ProbeResult {
	tb.Helper()
	var out helperOutput
	c.RunHelper(tb, i, "probe", req, &out, opt)
	if out.Result == nil {
		tb.Fatalf("probe %s %s in %s: %s (%s)", req.Kind, req.Target, c.NS[i], out.Error, out.Code)
	}
	return out.Result
}
