package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const (
	netnsDir   = "/run/netns"
	charonPath = "/usr/lib/ipsec/charon"
)

func isRoot() bool { return os.Geteuid() == 0 }

// run runs a command and returns its combined output; the error includes
// the command and its output.
func run(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// inNS runs a command inside namespace ns with `ip netns exec`, which also
// bind-mounts /etc/netns/NS/resolv.conf over /etc/resolv.conf.
func inNS(ctx context.Context, ns string, args ...string) (string, error) {
	return run(ctx, "ip", append([]string{"netns", "exec", ns}, args...)...)
}

// nsExists reports whether the named namespace exists.
func nsExists(ns string) bool {
	_, err := os.Stat(filepath.Join(netnsDir, ns))
	return err == nil
}

// doInNS runs fn on a goroutine whose OS thread has joined namespace ns.
// Sockets fn creates (listeners, ICMP or UDP sockets, dialled connections)
// belong to ns for their whole life, wherever they are used afterwards. The
// thread is discarded when fn returns, so no other goroutine ever runs in ns.
func doInNS(ns string, fn func() error) error {
	f, err := os.Open(filepath.Join(netnsDir, ns))
	if err != nil {
		return fmt.Errorf("open netns %s: %w", ns, err)
	}
	defer f.Close()
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the goroutine exits with the thread locked, so the
		// runtime terminates the thread instead of reusing it elsewhere.
		runtime.LockOSThread()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// nsPids lists the processes whose network namespace is ns.
func nsPids(ctx context.Context, ns string) []int {
	out, err := run(ctx, "ip", "netns", "pids", ns)
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(out) {
		if p, err := strconv.Atoi(f); err == nil && p != os.Getpid() {
			pids = append(pids, p)
		}
	}
	return pids
}

// killNSProcesses terminates every process in namespace ns: SIGTERM, then
// SIGKILL for those still alive after a grace period.
func killNSProcesses(ctx context.Context, ns string) {
	pids := nsPids(ctx, ns)
	for _, p := range pids {
		_ = syscall.Kill(p, syscall.SIGTERM)
	}
	deadline := time.Now().Add(3 * time.Second)
	for len(pids) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		pids = alive(pids)
	}
	for _, p := range pids {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
	for i := 0; i < 40 && len(alive(pids)) > 0; i++ {
		time.Sleep(50 * time.Millisecond)
	}
}

// alive returns the pids that still exist and are not zombies.
func alive(pids []int) []int {
	var out []int
	for _, p := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			continue
		}
		// The state follows the parenthesised command name.
		s := string(b)
		if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) && s[i+2] == 'Z' {
			continue
		}
		out = append(out, p)
	}
	return out
}

// Teardown removes everything a lab named prefix may have left, whether or
// not its holder is still running: see teardown.
func Teardown(ctx context.Context, prefix string) error {
	if err := ValidName(prefix); err != nil {
		return err
	}
	return teardown(ctx, prefix)
}

// teardown removes everything a lab with this prefix may have left: its
// processes, namespaces (and with them their veths) and /etc/netns entries.
// It never touches namespaces outside the prefix's fixed set of names.
func teardown(ctx context.Context, prefix string) error {
	var errs []error
	for _, ns := range namespacesFor(prefix).All() {
		if nsExists(ns) {
			killNSProcesses(ctx, ns)
			if _, err := run(ctx, "ip", "netns", "del", ns); err != nil && nsExists(ns) {
				errs = append(errs, err)
			}
		}
		if err := os.RemoveAll(filepath.Join("/etc/netns", ns)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Leftovers lists what remains on the host of a lab with this prefix:
// namespaces, /etc/netns entries and host-side interfaces whose names start
// with it. Empty after a successful Down.
func Leftovers(ctx context.Context, prefix string) []string {
	var out []string
	for _, ns := range namespacesFor(prefix).All() {
		if nsExists(ns) {
			out = append(out, "netns "+ns)
		}
		if _, err := os.Stat(filepath.Join("/etc/netns", ns)); err == nil {
			out = append(out, "/etc/netns/"+ns)
		}
	}
	if links, err := run(ctx, "ip", "-o", "link", "show"); err == nil {
		for _, line := range strings.Split(links, "\n") {
			f := strings.Fields(line)
			if len(f) > 1 && strings.HasPrefix(strings.TrimSuffix(f[1], ":"), prefix) {
				out = append(out, "link "+strings.TrimSuffix(f[1], ":"))
			}
		}
	}
	return out
}
