package main

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"github.com/vpndiag/vpndiag/relay"
	"github.com/vpndiag/vpndiag/relay/agent"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/probes"
)

// goodOutcomes exit 0; any other outcome exits 1 after the result is
// printed, so that scripts can test a probe.
var goodOutcomes = map[vpndiag.Outcome]bool{vpndiag.OutcomeOK: true, probes.OutcomeForwarded: true}

func (m *Main) runProbe(ctx context.Context, args []string) error {
	kinds := make([]string, 0, len(vpndiag.ProbeKinds))
	for _, k := range vpndiag.ProbeKinds {
		kinds = append(kinds, string(k))
	}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fs := m.flagSet("probe", "KIND TARGET [flags] [--format json]", `
Run one probe in this process and print its result. KIND is one of
`+strings.Join(kinds, ", ")+`; 'vpndiag probe KIND --help' lists its flags.

Examples:
  vpndiag probe dns --server 10.0.0.2 --compare 10.8.0.2 db.corp.example
  vpndiag probe tcp --tls db.corp.example:443
  vpndiag probe ike 203.0.113.10

The exit status is 0 when the outcome is ok (or forwarded), 1 otherwise.`)
		if err := parse(fs, args); err != nil {
			return err
		}
		return usageError("probe: no probe kind given; kinds are " + strings.Join(kinds, ", "))
	}
	kind := vpndiag.ProbeKind(args[0])
	desc, ok := probes.Registry[kind]
	if !ok {
		return usageError(fmt.Sprintf("probe: unknown probe kind %q; kinds are %s", args[0], strings.Join(kinds, ", ")))
	}
	fs := m.flagSet("probe "+string(kind), desc.Target+" [flags] [--format json]",
		fmt.Sprintf("Run the %s probe in this process and print its result: it %s\n(the probes package documentation says what each flag means).", kind, desc.Summary))
	format := fs.String("format", "text", "output format: text or json")
	timeout := fs.Duration("timeout", 0, "probe timeout (default: the kind's own)")
	var extra paramList
	fs.Var(&extra, "param", "extra probe parameter key=value (repeatable)")
	relayName := fs.String("relay", "", "run the probe on this connected relay (or site:NAME) through the bot's hub, not here")
	hubURL := fs.String("hub", "", "with --relay: the bot's hub URL, https://host:port (default $VPNDIAG_HUB); the operator token comes from $VPNDIAG_OPERATOR_TOKEN")
	caFile := fs.String("ca", "", "with --relay: PEM CA bundle that signed the hub's certificate")
	values := map[string]*string{}
	bools := map[string]*bool{}
	for _, p := range desc.Params {
		name := strings.ReplaceAll(p.Key, "_", "-")
		if p.Bool {
			bools[name] = fs.Bool(name, false, p.Usage)
		} else {
			values[name] = fs.String(name, "", p.Usage)
		}
	}
	rest, err := parseInterspersed(fs, args[1:]) // bundle.go: flags before or after TARGET
	if err != nil {
		return err
	}
	if err := checkFormat("probe", *format); err != nil {
		return err
	}
	if len(rest) != 1 {
		return usageError(fmt.Sprintf("probe %s: give exactly one %s (got %d arguments)", kind, desc.Target, len(rest)))
	}
	req := &vpndiag.ProbeRequest{ID: "cli-" + time.Now().UTC().Format("20060102T150405.000"), Kind: kind, Target: rest[0], Timeout: *timeout, Params: map[string]string{}}
	fs.Visit(func(f *flag.Flag) {
		key := strings.ReplaceAll(f.Name, "-", "_")
		if p, ok := values[f.Name]; ok {
			req.Params[key] = *p
		} else if b, ok := bools[f.Name]; ok {
			req.Params[key] = fmt.Sprint(*b)
		}
	})
	for k, v := range extra {
		req.Params[k] = v
	}

	var prober vpndiag.Prober = &probes.Local{Logger: slog.New(slog.NewTextHandler(m.Stderr, nil))}
	if *relayName != "" {
		if err := probes.Validate(req); err != nil {
			return usageError(fmt.Sprintf("probe %s: %s", kind, vpndiag.ErrorMessage(err)))
		}
		if prober, err = m.operatorClient(*hubURL, *caFile); err != nil {
			return err
		}
		req.Relay = *relayName
		if req.Timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, req.Timeout+5*time.Second)
			defer cancel()
		}
	}
	res, err := prober.Probe(ctx, req)
	if err != nil {
		if vpndiag.ErrorCode(err) == vpndiag.EINVALID {
			return usageError(fmt.Sprintf("probe %s: %s", kind, vpndiag.ErrorMessage(err)))
		}
		return err
	}
	if *format == "json" {
		if err := m.printJSON(res); err != nil {
			return err
		}
	} else {
		printProbeResult(m.Stdout, res)
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		return ctx.Err()
	}
	switch {
	case res.Outcome == vpndiag.OutcomeError:
		return vpndiag.Errorf(vpndiag.EUNAVAILABLE, "probe %s: %s", kind, res.Error)
	case !goodOutcomes[res.Outcome]:
		return probeOutcomeError{kind, res.Outcome}
	}
	return nil
}

// probeOutcomeError is a probe that ran but whose outcome is not ok: exit
// status 1, one line on stderr.
type probeOutcomeError struct {
	kind    vpndiag.ProbeKind
	outcome vpndiag.Outcome
}

func (e probeOutcomeError) Error() string {
	return fmt.Sprintf("probe %s: outcome %s", e.kind, e.outcome)
}

// paramList collects --param key=value flags.
type paramList map[string]string

func (p *paramList) String() string { return "" }

func (p *paramList) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || strings.TrimSpace(k) == "" {
		return fmt.Errorf("want key=value, got %q", s)
	}
	if *p == nil {
		*p = paramList{}
	}
	(*p)[strings.TrimSpace(k)] = v
	return nil
}

// printProbeResult writes a result for people: the outcome and summary,
// then the kind's key details.
func printProbeResult(w io.Writer, res *vpndiag.ProbeResult) {
	fmt.Fprintf(w, "%s %s: %s\n", res.Kind, res.Outcome, res.Summary)
	if res.Error != "" {
		fmt.Fprintf(w, "  error: %s\n", res.Error)
	}
	if printDetail := detailPrinters[res.Kind]; printDetail != nil {
		printDetail(w, res)
	}
	fmt.Fprintf(w, "  took %s\n", msec(res.Duration))
}

// detailPrinters write a result's detail for people, one per probe kind.
var detailPrinters = map[vpndiag.ProbeKind]func(io.Writer, *vpndiag.ProbeResult){
	vpndiag.ProbeDNS:        detailPrinter(printDNSDetail),
	vpndiag.ProbePing:       detailPrinter(printPingDetail),
	vpndiag.ProbeTCP:        detailPrinter(printTCPDetail),
	vpndiag.ProbeTraceroute: detailPrinter(printTracerouteDetail),
	vpndiag.ProbeIKE:        detailPrinter(printIKEDetail),
	vpndiag.ProbeKeepalive:  detailPrinter(printKeepaliveDetail),
}

// detailPrinter decodes a result's detail into a T for write; a detail that
// does not decode is left out.
func detailPrinter[T any](write func(io.Writer, *T)) func(io.Writer, *vpndiag.ProbeResult) {
	return func(w io.Writer, res *vpndiag.ProbeResult) {
		var d T
		if probes.DecodeDetail(res, &d) == nil {
			write(w, &d)
		}
	}
}

// printDNSDetail writes the query (and the cloud DNS server's, when compared).
func printDNSDetail(w io.Writer, d *probes.DNSResult) {
	label := "server"
	if d.Cloud != nil {
		label = "internal resolver"
	}
	printDNSQuery(w, label, &d.Query)
	if d.Cloud != nil {
		printDNSQuery(w, "cloud DNS server", d.Cloud)
	}
}

// printPingDetail writes counts, loss, payload, socket and round-trip times.
func printPingDetail(w io.Writer, d *probes.PingResult) {
	fmt.Fprintf(w, "  %d sent, %d received, %.0f%% loss, %d-byte payload", d.Sent, d.Received, d.Loss, d.Size)
	if d.DF {
		fmt.Fprint(w, ", don't fragment")
	}
	sock := "unprivileged ICMP socket"
	if d.Privileged {
		sock = "raw ICMP socket"
	}
	fmt.Fprintf(w, ", %s\n", sock)
	if d.Received > 0 {
		fmt.Fprintf(w, "  rtt min/avg/max/stddev = %s/%s/%s/%s\n", msec(d.MinRTT), msec(d.AvgRTT), msec(d.MaxRTT), msec(d.StdDevRTT))
	}
}

// printTCPDetail writes the connection and, over TLS, the handshake and certificate.
func printTCPDetail(w io.Writer, d *probes.TCPResult) {
	fmt.Fprintf(w, "  %s connect %s", d.Address, msec(d.ConnectTime))
	if d.LocalAddress != "" {
		fmt.Fprintf(w, " from %s", d.LocalAddress)
	}
	fmt.Fprintln(w)
	if t := d.TLS; t != nil {
		fmt.Fprintf(w, "  %s %s, handshake %s, server name %q\n", t.Version, t.CipherSuite, msec(t.HandshakeTime), t.ServerName)
		fmt.Fprintf(w, "  subject %s\n  issuer  %s\n", t.Subject, t.Issuer)
		if len(t.DNSNames) > 0 {
			fmt.Fprintf(w, "  names   %s\n", strings.Join(t.DNSNames, ", "))
		}
		fmt.Fprintf(w, "  valid   %s to %s\n", t.NotBefore.Format(time.DateOnly), t.NotAfter.Format(time.DateOnly))
		if t.Verified {
			fmt.Fprintln(w, "  verified against the system roots")
		} else {
			fmt.Fprintf(w, "  not verified: %s\n", t.VerifyError)
		}
	}
}

// printTracerouteDetail writes one line a hop and the path's verdict.
func printTracerouteDetail(w io.Writer, d *probes.TracerouteResult) {
	for _, h := range d.Hops {
		fmt.Fprintf(w, "  %2d ", h.TTL)
		if h.Address == "" {
			fmt.Fprintln(w, " *")
			continue
		}
		fmt.Fprintf(w, " %-15s", h.Address)
		for _, p := range h.Probes {
			switch {
			case p.Address == "":
				fmt.Fprint(w, "  *")
			default:
				fmt.Fprintf(w, "  %s", msec(p.RTT))
				if p.Note != "" {
					fmt.Fprint(w, " "+p.Note)
				}
			}
		}
		fmt.Fprintln(w)
	}
	if d.Path != nil {
		fmt.Fprintf(w, "  path: %s: %s\n", d.Path.Verdict, d.Path.Explanation)
	}
}

// printIKEDetail writes what was offered and each attempt's answer.
func printIKEDetail(w io.Writer, d *probes.IKEResult) {
	fmt.Fprintf(w, "  offered %s, KE group %d\n", strings.Join(d.Proposals, ", "), d.DHGroup)
	for _, a := range d.Attempts {
		marker := ""
		if a.NATT {
			marker = " (non-ESP marker)"
		}
		fmt.Fprintf(w, "  UDP %d%s: %s after %d request(s)", a.Port, marker, a.Outcome, a.Sent)
		if a.RTT > 0 {
			fmt.Fprintf(w, ", %s", msec(a.RTT))
		}
		fmt.Fprintln(w)
		for _, n := range a.Notifies {
			fmt.Fprintf(w, "    notify %s", n.Name)
			if len(n.Data) > 0 && len(n.Data) <= 32 {
				fmt.Fprintf(w, " %s", hex.EncodeToString(n.Data))
			}
			fmt.Fprintln(w)
		}
		if a.Chosen != "" {
			fmt.Fprintf(w, "    chosen %s, responder SPI %s\n", a.Chosen, a.ResponderSPI)
		}
	}
}

// printKeepaliveDetail writes the counts, the up/down timeline and a periodic drop.
func printKeepaliveDetail(w io.Writer, d *probes.KeepaliveResult) {
	fmt.Fprintf(w, "  %d pings every %s, %d replies\n", d.Sent, d.Interval, d.Received)
	for _, t := range d.Transitions {
		state := "down"
		if t.Up {
			state = "up"
		}
		fmt.Fprintf(w, "  %s %s\n", t.Time.Format("15:04:05.000"), state)
	}
	if p := d.Periodic; p != nil {
		fmt.Fprintf(w, "  periodic drop every %s (%d drops, finding %s)\n", p.Period.Round(time.Millisecond), p.Drops, p.Code)
	}
}

func printDNSQuery(w io.Writer, label string, q *probes.DNSQuery) {
	fmt.Fprintf(w, "  %s %s over %s", label, q.Server, q.Transport)
	if q.Truncated {
		fmt.Fprint(w, " (UDP answer truncated, retried over TCP)")
	}
	if q.Rcode == "" {
		fmt.Fprintf(w, ": %s\n", q.Error)
		return
	}
	fmt.Fprintf(w, ": %s in %s", q.Rcode, msec(q.QueryTime))
	if q.Authoritative {
		fmt.Fprint(w, ", authoritative")
	}
	fmt.Fprintln(w)
	for _, a := range q.Answers {
		fmt.Fprintf(w, "    %s\t%d\t%s\t%s\n", a.Name, a.TTL, a.Type, a.Data)
	}
}

// msec formats a duration in milliseconds with two decimals.
func msec(d time.Duration) string {
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}

// operatorClient returns a prober that runs probes on a relay through the
// hub's operator endpoint.
func (m *Main) operatorClient(hub, caFile string) (*relay.OperatorClient, error) {
	if hub == "" {
		hub = m.Getenv("VPNDIAG_HUB")
	}
	if hub == "" {
		return nil, usageError("probe: --relay needs --hub URL (or VPNDIAG_HUB)")
	}
	token := m.Getenv("VPNDIAG_OPERATOR_TOKEN")
	if token == "" {
		return nil, usageError("probe: --relay needs the operator token in VPNDIAG_OPERATOR_TOKEN (hub.operator_token on the bot)")
	}
	var pool *x509.CertPool
	if caFile != "" {
		var err error
		if pool, err = agent.LoadCA(caFile); err != nil {
			return nil, err
		}
	}
	return &relay.OperatorClient{Hub: hub, Token: token, HTTPClient: agent.NewHTTPClient(pool)}, nil
}
