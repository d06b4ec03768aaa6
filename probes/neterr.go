package probes

import (
	"context"
	"errors"
	"net"
	"os"
	"syscall"

	"github.com/vpndiag/vpndiag"
)

// classifyNetErr turns a network error into an outcome and a short reason
// that is safe to show: refused (RST or ICMP port unreachable), unreachable
// (no route, ICMP host/net unreachable), timeout (nothing before the
// deadline) or error (anything else, e.g. permissions).
func classifyNetErr(ctx context.Context, err error) (vpndiag.Outcome, string) {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return vpndiag.OutcomeRefused, "connection refused"
	case errors.Is(err, syscall.EHOSTUNREACH):
		return vpndiag.OutcomeUnreachable, "host unreachable"
	case errors.Is(err, syscall.ENETUNREACH):
		return vpndiag.OutcomeUnreachable, "network unreachable"
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return vpndiag.OutcomeError, "not permitted (a local firewall or missing privilege)"
	case errors.Is(err, syscall.ECONNRESET):
		return vpndiag.OutcomeRefused, "connection reset"
	case errors.Is(err, context.Canceled):
		return vpndiag.OutcomeError, "cancelled"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return vpndiag.OutcomeTimeout, "no answer before the deadline"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return vpndiag.OutcomeTimeout, "no answer before the deadline"
	}
	if ctx.Err() != nil {
		return ctxOutcome(ctx), "no answer before the deadline"
	}
	return vpndiag.OutcomeError, "network error"
}
