// Package nstest builds chains of Linux network namespaces for the probes'
// tests, and runs code inside them.
//
// # How code runs in a namespace
//
// A namespace is entered by re-executing the test binary under
// `ip netns exec NS`, in a helper mode selected by an environment variable
// (Main dispatches it before the tests run). The whole helper process lives
// in the namespace, so everything the probe starts (pro-bing's goroutines,
// the keep-alive monitor's timers, the resolver) is inside it. Switching one
// locked OS thread with setns(2) was the alternative; it was not chosen
// because goroutines started by the code under test run on other threads,
// outside the namespace.
//
// # Network safety
//
// Namespaces are named with the test process's pid and a random suffix, so
// that tests of several engineers can run at once; veths are created inside
// the namespaces, so their names never meet. The addresses (10.250.0.0/16)
// exist only inside these namespaces: no packet leaves them. Every
// namespace is deleted at Cleanup, even when the test fails.
package nstest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	envHelper = "VPNDIAG_NSTEST_HELPER"
	envInput  = "VPNDIAG_NSTEST_INPUT"
	envUID    = "VPNDIAG_NSTEST_UID"
)

// HelperFunc runs inside a namespace. in is the JSON input given by the
// test; the result is JSON-encoded to the test. ctx ends on SIGTERM.
type HelperFunc func(ctx context.Context, in []byte) (any, error)

// Main runs the helper named by the environment when the binary was
// re-executed as one, and the tests otherwise. Call it from TestMain.
func Main(m *testing.M, helpers map[string]HelperFunc) {
	name := os.Getenv(envHelper)
	if name == "" {
		os.Exit(m.Run())
	}
	fn, ok := helpers[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "nstest: no helper %q\n", name)
		os.Exit(3)
	}
	if uid := os.Getenv(envUID); uid != "" {
		// Drop to an unprivileged user: setuid from root clears the
		// capabilities (no CAP_NET_RAW).
		n, _ := strconv.Atoi(uid)
		if err := syscall.Setgroups(nil); err != nil {
			fmt.Fprintf(os.Stderr, "nstest: setgroups: %v\n", err)
			os.Exit(3)
		}
		if err := syscall.Setgid(n); err != nil {
			fmt.Fprintf(os.Stderr, "nstest: setgid: %v\n", err)
			os.Exit(3)
		}
		if err := syscall.Setuid(n); err != nil {
			fmt.Fprintf(os.Stderr, "nstest: setuid: %v\n", err)
			os.Exit(3)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	out, err := fn(ctx, []byte(os.Getenv(envInput)))
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "nstest: helper %s: %v\n", name, err)
		os.Exit(1)
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintf(os.Stderr, "nstest: encode: %v\n", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// Require skips tb unless it runs as root with `ip` and may create network
// namespaces.
func Require(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("skipped: network namespace tests need root (run the tests as root, as CI does)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		tb.Skip("skipped: network namespace tests need the ip command (Debian package iproute2)")
	}
}

// RequireNft skips tb unless nft is installed.
func RequireNft(tb testing.TB) {
	tb.Helper()
	if _, err := exec.LookPath("nft"); err != nil {
		tb.Skip("skipped: this test drops packets with nft (Debian package nftables)")
	}
}

// Chain is a line of namespaces NS[0] — NS[1] — … — NS[n-1], each pair
// joined by a veth on the subnet 10.250.i.0/24 (NS[i] is .1, NS[i+1] is
// .2), with forwarding on in the middle ones and routes so that every
// namespace reaches every address of the chain.
type Chain struct {
	// NS are the namespaces' names, client first.
	NS []string
}

// Subnet returns the subnet of link i (between NS[i] and NS[i+1]).
func Subnet(i int) string { return fmt.Sprintf("10.250.%d.0/24", i) }

// Left returns the address of NS[i] on its link towards NS[0] (i > 0).
func (c *Chain) Left(i int) string { return fmt.Sprintf("10.250.%d.2", i-1) }

// Right returns the address of NS[i] on its link away from NS[0].
func (c *Chain) Right(i int) string { return fmt.Sprintf("10.250.%d.1", i) }

// Client returns NS[0]'s address; Target the last namespace's.
func (c *Chain) Client() string { return c.Right(0) }

// Target returns the address of the last namespace.
func (c *Chain) Target() string { return c.Left(len(c.NS) - 1) }

// MustChain creates n namespaces (n >= 2) and deletes them at Cleanup.
func MustChain(tb testing.TB, n int) *Chain {
	tb.Helper()
	Require(tb)
	var rnd [3]byte
	rand.Read(rnd[:])
	prefix := fmt.Sprintf("vdp%d%s", os.Getpid(), hex.EncodeToString(rnd[:]))
	c := &Chain{}
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("%s-%d", prefix, i)
		if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
			tb.Skipf("skipped: cannot create a network namespace (%v: %s); these tests need CAP_SYS_ADMIN", err, bytes.TrimSpace(out))
		}
		c.NS = append(c.NS, name)
		tb.Cleanup(func() {
			if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
				tb.Logf("nstest: delete namespace %s: %v: %s", name, err, out)
			}
		})
		c.IP(tb, i, "link", "set", "lo", "up")
	}
	for i := 0; i+1 < n; i++ {
		// The veth is created inside NS[i], its peer inside NS[i+1].
		c.IP(tb, i, "link", "add", "right", "type", "veth", "peer", "name", "left", "netns", c.NS[i+1])
		c.IP(tb, i, "addr", "add", c.Right(i)+"/24", "dev", "right")
		c.IP(tb, i+1, "addr", "add", c.Left(i+1)+"/24", "dev", "left")
		c.IP(tb, i, "link", "set", "right", "up")
		c.IP(tb, i+1, "link", "set", "left", "up")
	}
	for i := 0; i < n; i++ {
		for j := 0; j+1 < n; j++ {
			switch {
			case j < i-1: // a link towards NS[0]
				c.IP(tb, i, "route", "add", Subnet(j), "via", c.Right(i-1))
			case j > i: // a link away from NS[0]
				c.IP(tb, i, "route", "add", Subnet(j), "via", c.Left(i+1))
			}
		}
		if i > 0 && i < n-1 {
			c.Exec(tb, i, "sysctl", "-qw", "net.ipv4.ip_forward=1")
		}
	}
	return c
}

// IP runs `ip -n NS[i] args…` and fails tb on an error.
func (c *Chain) IP(tb testing.TB, i int, args ...string) {
	tb.Helper()
	args = append([]string{"-n", c.NS[i]}, args...)
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		tb.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// Exec runs a command inside NS[i] and fails tb on an error.
func (c *Chain) Exec(tb testing.TB, i int, args ...string) string {
	tb.Helper()
	args = append([]string{"netns", "exec", c.NS[i]}, args...)
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		tb.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Nft loads an nft script into NS[i].
func (c *Chain) Nft(tb testing.TB, i int, script string) {
	tb.Helper()
	RequireNft(tb)
	cmd := exec.Command("ip", "netns", "exec", c.NS[i], "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("nft in %s: %v: %s\n%s", c.NS[i], err, out, script)
	}
}

// HelperOptions tune a helper run.
type HelperOptions struct {
	// UID, when non-zero, makes the helper drop to that user (no
	// capabilities) before it runs.
	UID int
	// Timeout bounds the helper; default 60 s.
	Timeout time.Duration
}

// RunHelper runs helper name inside NS[i] with in as its input and decodes
// its output into out.
func (c *Chain) RunHelper(tb testing.TB, i int, name string, in, out any, opt *HelperOptions) {
	tb.Helper()
	h := c.StartHelper(tb, i, name, in, opt)
	if err := h.Wait(out); err != nil {
		tb.Fatal(err)
	}
}

// Helper is a helper process running in a namespace.
type Helper struct {
	cmd    *exec.Cmd
	stdout bytes.Buffer
	stderr bytes.Buffer
	cancel context.CancelFunc
	done   chan error
}

// StartHelper starts helper name inside NS[i] and returns at once; Stop and
// Wait end it. It is killed at Cleanup if still running.
func (c *Chain) StartHelper(tb testing.TB, i int, name string, in any, opt *HelperOptions) *Helper {
	tb.Helper()
	if opt == nil {
		opt = &HelperOptions{}
	}
	if opt.Timeout == 0 {
		opt.Timeout = 60 * time.Second
	}
	input, err := json.Marshal(in)
	if err != nil {
		tb.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), opt.Timeout)
	h := &Helper{cancel: cancel, done: make(chan error, 1)}
	h.cmd = exec.CommandContext(ctx, "ip", "netns", "exec", c.NS[i], exe)
	h.cmd.Env = append(os.Environ(), envHelper+"="+name, envInput+"="+string(input))
	if opt.UID != 0 {
		h.cmd.Env = append(h.cmd.Env, envUID+"="+strconv.Itoa(opt.UID))
	}
	h.cmd.Stdout, h.cmd.Stderr = &h.stdout, &h.stderr
	h.cmd.Cancel = func() error { return h.cmd.Process.Signal(syscall.SIGTERM) }
	h.cmd.WaitDelay = 5 * time.Second
	if err := h.cmd.Start(); err != nil {
		cancel()
		tb.Fatalf("start helper %s: %v", name, err)
	}
	go func() { h.done <- h.cmd.Wait() }()
	tb.Cleanup(func() {
		h.cancel()
		<-h.done
		h.done <- nil
	})
	return h
}

// Stop asks the helper to finish (SIGTERM: its context ends).
func (h *Helper) Stop() { h.cmd.Process.Signal(syscall.SIGTERM) }

// Wait waits for the helper and decodes its output into out.
func (h *Helper) Wait(out any) error {
	err := <-h.done
	h.done <- err
	if err != nil {
		return fmt.Errorf("helper: %v\nstderr: %s", err, h.stderr.String())
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(io.MultiReader(&h.stdout)).Decode(out); err != nil {
		return fmt.Errorf("helper output: %v: %q (stderr %s)", err, h.stdout.String(), h.stderr.String())
	}
	return nil
}
