// Command sweep times the connectivity sweep a flow runs — DNS to the cloud
// DNS server and to the internal resolver, ping, TCP 443 and 80, and a
// traceroute — with vpndiag's probes run concurrently (all at once, up to 16, as
// the bot runs a probe step), against each probe alone, and against the
// command-line tools (dig, dig, ping, nc -z, nc -z, traceroute) run one
// after another on the same targets with the same counts and timeouts.
//
// It must run inside the lab's LAN namespace, where every target exists:
//
//	lab/up -name bs1
//	ip netns exec bs1-lan go run ./bench/cmd/sweep
//	lab/down -name bs1
//
// bench/run does exactly that with a uniquely named lab. sweep refuses to run
// unless the namespace it runs in has the lab's LAN address, so its probes
// can never reach a real network. It prints a summary on stderr and ROW
// lines (see bench/internal/row) on stdout.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/bench/internal/row"
	"github.com/vpndiag/vpndiag/kb"
	"github.com/vpndiag/vpndiag/lab"
	"github.com/vpndiag/vpndiag/probes"
)

// concurrency is how many probes of a step the bot runs at once
// (bot/slack's runProbes).
const concurrency = 16

// step is one probe of the sweep and the command that does the same.
type step struct {
	name string
	req  vpndiag.ProbeRequest
	cli  []string
}

func sweep() []step {
	dnsSrv, res, fe := lab.CloudDNSAddr.String(), lab.ResolverAddr.String(), lab.FrontEndAddr.String()
	port := func(p int) string { return strconv.Itoa(p) }
	return []step{
		{"dns via cloud DNS", vpndiag.ProbeRequest{Kind: vpndiag.ProbeDNS, Target: lab.FrontEndFQDN, Params: map[string]string{"server": dnsSrv, "type": "A"}, Timeout: 5 * time.Second},
			[]string{"dig", "+time=5", "+tries=1", "@" + dnsSrv, lab.FrontEndFQDN, "A"}},
		{"dns via internal resolver", vpndiag.ProbeRequest{Kind: vpndiag.ProbeDNS, Target: lab.FrontEndFQDN, Params: map[string]string{"server": res, "type": "A"}, Timeout: 5 * time.Second},
			[]string{"dig", "+time=5", "+tries=1", "@" + res, lab.FrontEndFQDN, "A"}},
		{"ping cloud DNS", vpndiag.ProbeRequest{Kind: vpndiag.ProbePing, Target: dnsSrv, Params: map[string]string{"count": "3"}, Timeout: 5 * time.Second},
			[]string{"ping", "-n", "-c", "3", "-W", "2", dnsSrv}},
		{"tcp 443", vpndiag.ProbeRequest{Kind: vpndiag.ProbeTCP, Target: net.JoinHostPort(fe, port(kb.HTTPSPort)), Timeout: 5 * time.Second},
			[]string{"nc", "-z", "-w", "5", fe, port(kb.HTTPSPort)}},
		{"tcp 80", vpndiag.ProbeRequest{Kind: vpndiag.ProbeTCP, Target: net.JoinHostPort(fe, port(kb.HTTPPort)), Timeout: 5 * time.Second},
			[]string{"nc", "-z", "-w", "5", fe, port(kb.HTTPPort)}},
		{"traceroute cloud DNS", vpndiag.ProbeRequest{Kind: vpndiag.ProbeTraceroute, Target: dnsSrv, Params: map[string]string{"max_hops": "20"}, Timeout: 30 * time.Second},
			[]string{"traceroute", "-n", "-m", "20", "-w", "1", dnsSrv}},
	}
}

func main() {
	runs := flag.Int("runs", 3, "repetitions of each measurement; the median is reported")
	scenario := flag.String("scenario", "healthy", "label of the lab's state in the report, e.g. the fault applied")
	broken := flag.Bool("broken", false, "the lab has a fault applied: probes and commands may fail (they are timed all the same)")
	flag.Parse()
	if *runs < 1 || *runs > 20 {
		fail(errors.New("-runs must be 1 to 20"))
	}
	if err := inLab(); err != nil {
		fail(err)
	}
	if err := run(context.Background(), *runs, *scenario, *broken); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "sweep:", err)
	os.Exit(1)
}

// inLab checks that this process runs in a lab's LAN namespace.
func inLab() error {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return err
	}
	for _, a := range addrs {
		if p, ok := a.(*net.IPNet); ok && p.IP.Equal(lab.LANHostAddr.AsSlice()) {
			return nil
		}
	}
	return fmt.Errorf("not inside a lab's LAN namespace (no interface has %s); run it with `ip netns exec NAME-lan`", lab.LANHostAddr)
}

// tolerate is set for a broken lab: failed probes and commands are timed,
// not errors.
var tolerate bool

func probe(ctx context.Context, s step) (time.Duration, error) {
	req := s.req
	t0 := time.Now()
	res, err := (&probes.Local{}).Probe(ctx, &req)
	d := time.Since(t0)
	if err != nil {
		return d, err
	}
	if res.Outcome != vpndiag.OutcomeOK && !tolerate {
		return d, fmt.Errorf("%s: outcome %s: %s", s.name, res.Outcome, res.Summary)
	}
	return d, nil
}

// concurrent runs the steps' probes at most limit at a time.
func concurrent(ctx context.Context, steps []step, limit int) (time.Duration, error) {
	sem := make(chan struct{}, limit)
	errs := make([]error, len(steps))
	var wg sync.WaitGroup
	t0 := time.Now()
	for i, s := range steps {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			_, errs[i] = probe(ctx, s)
		})
	}
	wg.Wait()
	return time.Since(t0), errors.Join(errs...)
}

func cli(ctx context.Context, s step) (time.Duration, error) {
	t0 := time.Now()
	out, err := exec.CommandContext(ctx, s.cli[0], s.cli[1:]...).CombinedOutput()
	d := time.Since(t0)
	if err != nil && !tolerate {
		return d, fmt.Errorf("%v: %w: %.200s", s.cli, err, out)
	}
	return d, nil
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func run(ctx context.Context, runs int, scenario string, broken bool) error {
	tolerate = broken
	steps := sweep()
	for _, s := range steps {
		if _, err := exec.LookPath(s.cli[0]); err != nil {
			return fmt.Errorf("%s is not installed (Debian: bind9-dnsutils, iputils-ping, netcat-openbsd, traceroute)", s.cli[0])
		}
	}
	// Warm up: the first run pays for the tunnel's trap and ARP.
	if !broken {
		if _, err := concurrent(ctx, steps, len(steps)); err != nil {
			fmt.Fprintln(os.Stderr, "sweep: warm-up:", err)
		}
	}
	single := make([][]time.Duration, len(steps))
	cliEach := make([][]time.Duration, len(steps))
	var swept, all, seq []time.Duration
	for range runs {
		for i, s := range steps {
			d, err := probe(ctx, s)
			if err != nil {
				return err
			}
			single[i] = append(single[i], d)
		}
		d, err := concurrent(ctx, steps, concurrency)
		if err != nil {
			return err
		}
		swept = append(swept, d)
		if d, err = concurrent(ctx, steps, len(steps)); err != nil {
			return err
		}
		all = append(all, d)
		var total time.Duration
		for i, s := range steps {
			d, err := cli(ctx, s)
			if err != nil {
				return err
			}
			cliEach[i] = append(cliEach[i], d)
			total += d
		}
		seq = append(seq, total)
	}
	slowest, slowName := time.Duration(0), ""
	for i, s := range steps {
		m := median(single[i])
		fmt.Fprintf(os.Stderr, "sweep (%s): %-26s vpndiag alone %10s   %-10s %10s\n", scenario, s.name, row.Ms(m), s.cli[0], row.Ms(median(cliEach[i])))
		if m > slowest {
			slowest, slowName = m, s.name
		}
	}
	sw, cl, al := median(swept), median(seq), median(all)
	fmt.Fprintf(os.Stderr, "sweep (%s): all 6 at once %s\n", scenario, row.Ms(al))
	fmt.Fprintf(os.Stderr, "sweep (%s): concurrent %s, CLI sequence %s, slowest single probe %s (%s); medians of %d runs\n", scenario, row.Ms(sw), row.Ms(cl), row.Ms(slowest), slowName, runs)
	toSlowest, toCLI := float64(sw)/float64(slowest), float64(sw)/float64(cl)
	row.Row{
		Figure:   fmt.Sprintf("Probe sweep, lab %s: 6 probes, %d at a time as the bot runs them, vs the slowest alone", scenario, concurrency),
		Subject:  fmt.Sprintf("sweep %s (all 6 at once: %s)", row.Ms(sw), row.Ms(al)),
		Baseline: fmt.Sprintf("slowest single probe (%s) %s", slowName, row.Ms(slowest)),
		Ratio:    fmt.Sprintf("%.2f×", toSlowest), Goal: "≤ 1.2×", Met: row.Bool(toSlowest <= 1.2),
	}.Print(os.Stdout)
	row.Row{
		Figure:   fmt.Sprintf("Probe sweep, lab %s: vs dig, dig, ping, nc -z, nc -z, traceroute in sequence", scenario),
		Subject:  fmt.Sprintf("sweep %s", row.Ms(sw)),
		Baseline: fmt.Sprintf("CLI sequence %s", row.Ms(cl)),
		Ratio:    fmt.Sprintf("%.2f×", toCLI), Goal: "≤ 0.35×", Met: row.Bool(toCLI <= 0.35),
	}.Print(os.Stdout)
	return nil
}
