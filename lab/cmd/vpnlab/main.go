// Command vpnlab runs the vpndiag VPN lab for people: bring it up, apply and
// clear faults by name, look at it, tear it down. The lab/up, lab/down and
// lab/fault scripts call it.
//
//	vpnlab up [-name N]          start the lab in the background (a holder process)
//	vpnlab fault [-name N] [-clear] FAULT
//	vpnlab status [-name N]      namespaces, active faults, SAs
//	vpnlab faults                list the faults
//	vpnlab down [-name N]        tear it down (always succeeds when nothing is left)
//	vpnlab serve [-name N]       hold the lab in the foreground until interrupted
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/lab"
)

// defaultName is the lab name people get unless they pass -name.
const defaultName = "vlab"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "vpnlab:", message(err))
		os.Exit(1)
	}
}

// message is the user-facing text of err.
func message(err error) string {
	var e *vpndiag.Error
	if errors.As(err, &e) {
		return e.Message
	}
	return err.Error()
}

func run(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: vpnlab up|down|fault|status|faults|serve [-name NAME] ...")
	}
	fs := flag.NewFlagSet("vpnlab "+args[0], flag.ContinueOnError)
	name := fs.String("name", defaultName, "lab name: prefix of its namespaces")
	clear := fs.Bool("clear", false, "fault: clear the fault instead of applying it")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if err := lab.ValidName(*name); err != nil {
		return err
	}
	dir := lab.DefaultDir(*name)
	switch args[0] {
	case "up":
		return up(ctx, *name, dir, out)
	case "serve":
		return serve(ctx, *name, dir)
	case "down":
		return down(ctx, *name, dir, out)
	case "faults":
		for _, f := range lab.Faults() {
			fmt.Fprintf(out, "%-26s %s\n%-26s effect: %s\n", f.Name, f.Summary, "", f.Effect)
		}
		return nil
	case "fault":
		if fs.NArg() != 1 {
			return errors.New("usage: vpnlab fault [-name NAME] [-clear] FAULT (see vpnlab faults)")
		}
		if _, err := lab.LookupFault(fs.Arg(0)); err != nil {
			return err
		}
		l, err := lab.Attach(ctx, dir)
		if err != nil {
			return err
		}
		t0 := time.Now()
		if *clear {
			err = l.Clear(ctx, fs.Arg(0))
		} else {
			err = l.Fault(ctx, fs.Arg(0))
		}
		if err != nil {
			return err
		}
		verb := "applied"
		if *clear {
			verb = "cleared"
		}
		fmt.Fprintf(out, "%s %s in %v\n", fs.Arg(0), verb, time.Since(t0).Round(time.Millisecond))
		return nil
	case "status":
		return status(ctx, dir, out)
	}
	return fmt.Errorf("unknown command %q", args[0])
}

// up starts `vpnlab serve` detached and waits until the lab is ready.
func up(ctx context.Context, name, dir string, out io.Writer) error {
	if err := lab.Requirements(); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	// A holder of the same name goes first (Start also removes leftovers).
	stopHolder(dir)
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	logPath := dir + ".log"
	logf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(self, "serve", "-name", name)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.After(60 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(dir, "ready")); err == nil {
			break
		}
		select {
		case err := <-exited:
			b, _ := os.ReadFile(logPath)
			return fmt.Errorf("lab did not come up (%v):\n%s", err, b)
		case <-deadline:
			return fmt.Errorf("lab not ready after 60 s; see %s", logPath)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return status(ctx, dir, out)
}

// serve holds the lab until interrupted, then tears it down.
func serve(ctx context.Context, name, dir string) error {
	l, err := lab.Start(ctx, lab.Options{Name: name, Dir: dir, Logf: func(f string, a ...any) {
		fmt.Printf(time.Now().Format("15:04:05 ")+f+"\n", a...)
	}})
	if err != nil {
		if l != nil {
			_ = l.Down()
		}
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "holder.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		_ = l.Down()
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "ready"), nil, 0o644); err != nil {
		_ = l.Down()
		return err
	}
	<-ctx.Done()
	return l.Down()
}

// stopHolder ends the holder process of the lab in dir, if it runs.
func stopHolder(dir string) {
	b, err := os.ReadFile(filepath.Join(dir, "holder.pid"))
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return
	}
	// Only signal it if it is a vpnlab process.
	if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err != nil || strings.TrimSpace(string(comm)) != "vpnlab" {
		return
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	for i := 0; i < 150; i++ {
		if err := syscall.Kill(pid, 0); err != nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func down(ctx context.Context, name, dir string, out io.Writer) error {
	stopHolder(dir)
	if err := lab.Teardown(ctx, name); err != nil {
		return err
	}
	if left := lab.Leftovers(ctx, name); len(left) > 0 {
		return fmt.Errorf("lab %s left: %s", name, strings.Join(left, ", "))
	}
	_ = os.Remove(filepath.Join(dir, "ready"))
	_ = os.Remove(filepath.Join(dir, "holder.pid"))
	fmt.Fprintf(out, "lab %s is down (logs kept in %s)\n", name, dir)
	return nil
}

func status(ctx context.Context, dir string, out io.Writer) error {
	l, err := lab.Attach(ctx, dir)
	if err != nil {
		return err
	}
	active, _ := l.Active()
	fmt.Fprintf(out, "lab %s (dir %s)\n", l.Name, l.Dir)
	fmt.Fprintf(out, "namespaces: lan=%s res=%s cgw=%s path=%s cld=%s dns=%s fe=%s\n",
		l.NS.LAN, l.NS.Resolver, l.NS.CustomerGW, l.NS.Path, l.NS.CloudGW, l.NS.DNS, l.NS.FrontEnd)
	fmt.Fprintf(out, "LAN host %s, resolver %s, customer gw %s, cloud gw %s, cloud DNS %s, front-end %s (%s)\n",
		lab.LANHostAddr, lab.ResolverAddr, lab.CustomerGWAddr, lab.CloudGWAddr, lab.CloudDNSAddr, lab.FrontEndAddr, lab.FrontEndFQDN)
	fmt.Fprintf(out, "active faults: %s\n", strings.Join(active, ", "))
	for _, gw := range []lab.Gateway{lab.CustomerGateway, lab.CloudGateway} {
		s, err := l.SAs(ctx, gw)
		if err != nil {
			fmt.Fprintf(out, "%s: %v\n", gw, err)
			continue
		}
		fmt.Fprintf(out, "%s: IKE %q children %v (log %s)\n", gw, s.IKE, s.Children, l.CharonLog(gw))
	}
	return nil
}
