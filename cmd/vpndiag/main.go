// Command vpndiag diagnoses IPsec site-to-site VPN problems: in a terminal
// (vpndiag diagnose), as a Slack bot (vpndiag serve), and through a relay
// inside the customer's network (vpndiag relay).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/vpndiag/vpndiag"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	m := NewMain()
	err := m.Run(ctx, os.Args[1:])
	stop()
	if cerr := m.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Exit(m.report(err))
	}
}

// Main is the whole program, so tests can start it in-process: set the
// streams and Getenv, call Run with the arguments, then Close.
type Main struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Getenv reads the environment (os.Getenv by default).
	Getenv func(string) string

	closers []func() error
}

// NewMain returns a Main on the process's streams and environment.
func NewMain() *Main {
	return &Main{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
}

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string) error
}

// commands is the explicit registry of subcommands, in the order help lists them.
func (m *Main) commands() []command {
	return []command{
		{"diagnose", "walk a case through the troubleshooting flows in this terminal", m.runDiagnose},
		{"serve", "run the Slack bot (Socket Mode or HTTP) and the relay hub", m.runServe},
		{"relay", "run the relay agent inside the customer network; manage relay tokens", m.runRelay},
		{"probe", "run one probe (dns, ping, tcp, traceroute, ike, keepalive) and print its result", m.runProbe},
		{"analyze", "check device configs and logs against the guide's requirements", m.runAnalyze},
		{"export", "write a case's support bundle", m.runExport},
		{"bundle", "verify a support bundle", m.runBundle},
		{"db", "copy an SQLite database into PostgreSQL (db copy)", m.runDB},
		{"flows", "list, show and render the diagnosis flows", m.runFlows},
		{"check", "validate the config, flows and kb, then exit", m.runCheck},
		{"version", "print the version", m.runVersion},
	}
}

// Run runs the subcommand named by args[0].
func (m *Main) Run(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		m.usage(m.Stdout)
		if len(args) == 0 {
			return usageError("no command given")
		}
		return nil
	}
	for _, c := range m.commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:])
		}
	}
	names := make([]string, 0, len(m.commands()))
	for _, c := range m.commands() {
		names = append(names, c.name)
	}
	sort.Strings(names)
	return usageError(fmt.Sprintf("unknown command %q; commands are: %s (see vpndiag --help)", args[0], strings.Join(names, ", ")))
}

// Close releases what Run opened (database, listeners), last opened first.
func (m *Main) Close() error {
	var errs []error
	for i := len(m.closers) - 1; i >= 0; i-- {
		errs = append(errs, m.closers[i]())
	}
	m.closers = nil
	return errors.Join(errs...)
}

// onClose registers fn to run at Close.
func (m *Main) onClose(fn func() error) { m.closers = append(m.closers, fn) }

func (m *Main) usage(w io.Writer) {
	fmt.Fprintf(w, "vpndiag %s: diagnose IPsec site-to-site VPN problems\n\nUsage: vpndiag <command> [flags]\n\nCommands:\n", vpndiag.Version)
	for _, c := range m.commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nRun 'vpndiag <command> --help' for a command's flags.\n")
}

// usageError is a mistake in the command line: exit status 2.
type usageError string

func (e usageError) Error() string { return string(e) }

// errHelp is returned after --help was printed: exit status 0.
var errHelp = flag.ErrHelp

// report prints err as one clear line (more for config problems) and returns
// the exit status.
func (m *Main) report(err error) int {
	var ue usageError
	switch {
	case errors.Is(err, errHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(m.Stderr, "vpndiag: %s\n", ue)
		return 2
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(m.Stderr, "vpndiag: interrupted")
		return 130
	}
	var ve *vpndiag.Error
	if errors.As(err, &ve) {
		fmt.Fprintf(m.Stderr, "vpndiag: %s\n", ve.Message)
		if m.Getenv("VPNDIAG_DEBUG") != "" {
			fmt.Fprintf(m.Stderr, "vpndiag: detail: %v\n", err)
		}
		return 1
	}
	fmt.Fprintf(m.Stderr, "vpndiag: %v\n", err)
	return 1
}

// flagSet returns a FlagSet for a subcommand whose --help prints the
// summary, the usage line and the flags.
func (m *Main) flagSet(name, usage, help string) *flag.FlagSet {
	fs := flag.NewFlagSet("vpndiag "+name, flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(m.Stdout, "Usage: vpndiag %s %s\n\n%s\n", name, usage, strings.TrimSpace(help))
		var n int
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			fmt.Fprintln(m.Stdout, "\nFlags:")
			fs.SetOutput(m.Stdout)
			fs.PrintDefaults()
			fs.SetOutput(m.Stderr)
		}
	}
	return fs
}

// parse parses args with fs; a flag error becomes a usage error and --help
// returns errHelp.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return usageError(fmt.Sprintf("%s: %v", fs.Name(), err))
	}
	return nil
}

// checkFormat is the one rule for --format of a report: text or json.
func checkFormat(command, format string) error {
	if format != "text" && format != "json" {
		return usageError(fmt.Sprintf("%s: --format %q must be text or json", command, format))
	}
	return nil
}

// printJSON writes v to Stdout as indented JSON: the output of every
// command's --format json.
func (m *Main) printJSON(v any) error {
	enc := json.NewEncoder(m.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// parseInterspersed parses flags that may come before, between or after the
// positional arguments (vpndiag export CASE -o FILE) and returns the
// positional arguments; "--" ends the flags.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parse(fs, args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}
