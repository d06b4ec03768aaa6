package policy_test

import (
	"context"
	"errors"
	"net/netip"
	"testing"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/probes"
	"github.com/vpndiag/vpndiag/relay/policy"
)

// noResolver fails every lookup: the requests here use addresses only.
type noResolver struct{}

func (noResolver) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	return nil, errors.New("no resolver in this test")
}

// TestEveryProbeKindTargetsChecked walks the probe registry: every kind
// must declare what it connects to, and the policy must refuse each
// declared target, one at a time, when it is outside the allowlist, and
// accept the request when all of them are inside. A new kind that forgets
// to declare a target fails here, not in a customer's network.
func TestEveryProbeKindTargetsChecked(t *testing.T) {
	p := MustParse(t, "kinds: [dns, ping, tcp, traceroute, ike, keepalive]\ncidrs: [10.0.0.0/8]\n")
	const allowed, outside = "10.1.2.3", "192.0.2.66"
	if len(probes.Registry) != len(vpndiag.ProbeKinds) {
		t.Fatalf("registry has %d kinds, vpndiag.ProbeKinds %d", len(probes.Registry), len(vpndiag.ProbeKinds))
	}
	for _, kind := range vpndiag.ProbeKinds {
		d := probes.Registry[kind]
		t.Run(string(kind), func(t *testing.T) {
			tg := d.Targets
			if !tg.Target && len(tg.Params) == 0 {
				t.Fatalf("%s declares no network target", kind)
			}
			base := func() *vpndiag.ProbeRequest {
				req := &vpndiag.ProbeRequest{Kind: kind, Target: "name.example", Params: map[string]string{}}
				if tg.Target {
					req.Target = allowed
					if kind == vpndiag.ProbeTCP {
						req.Target = allowed + ":443"
					}
				}
				for _, k := range tg.Params {
					req.Params[k] = allowed
				}
				return req
			}
			if err := probes.Validate(base()); err != nil {
				t.Fatalf("the all-allowed request is not a valid %s request: %v", kind, err)
			}
			if _, err := p.Check(context.Background(), noResolver{}, base()); err != nil {
				t.Fatalf("all targets allowed, Check = %v", err)
			}
			var denied *policy.Denied
			if tg.Target {
				req := base()
				req.Target = outside
				if _, err := p.Check(context.Background(), noResolver{}, req); !errors.As(err, &denied) {
					t.Errorf("Target %s outside the allowlist: Check = %v, want a refusal", outside, err)
				}
			}
			for _, k := range tg.Params {
				req := base()
				req.Params[k] = outside
				if _, err := p.Check(context.Background(), noResolver{}, req); !errors.As(err, &denied) {
					t.Errorf("parameter %s = %s outside the allowlist: Check = %v, want a refusal", k, outside, err)
				}
			}
			if k := tg.Implicit; k != "" {
				req := base()
				delete(req.Params, k)
				if _, err := p.Check(context.Background(), noResolver{}, req); !errors.As(err, &denied) {
					t.Errorf("no %s (the probe would pick its own target): Check = %v, want a refusal", k, err)
				}
			}
		})
	}
}
