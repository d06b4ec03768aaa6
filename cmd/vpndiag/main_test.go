package main_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// vpndiagBin is the binary built once for the tests that run it as a process
// (exit status, stderr as the user sees it).
var vpndiagBin string

func TestMain(m *testing.M) {
	if bin := os.Getenv("VPNDIAG_TEST_BIN"); bin != "" {
		// A binary built elsewhere, e.g. from an older commit to show that
		// a test fails without its fix.
		vpndiagBin = bin
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "vpndiag-bin-")
	if err != nil {
		panic(err)
	}
	vpndiagBin = filepath.Join(dir, "vpndiag")
	if out, err := exec.Command("go", "build", "-o", vpndiagBin, ".").CombinedOutput(); err != nil {
		os.Stderr.Write(out)
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is what one run of the binary did.
type result struct {
	stdout, stderr string
	code           int
}

// MustRun runs the vpndiag binary with args in a clean environment whose
// state directory is a temp dir, feeding stdin.
func MustRun(tb testing.TB, stdin string, env []string, args ...string) result {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60e9)
	defer cancel()
	cmd := exec.CommandContext(ctx, vpndiagBin, args...)
	state := tb.TempDir()
	cmd.Env = append([]string{"HOME=" + state, "XDG_STATE_HOME=" + state, "PATH=" + os.Getenv("PATH")}, env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		tb.Fatalf("run %v: %v", args, err)
	}
	return result{out.String(), errb.String(), code}
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		contains string
	}{
		{"no command", nil, 2, "no command given"},
		{"unknown command", []string{"diagnoze"}, 2, `unknown command "diagnoze"`},
		{"unknown flag", []string{"version", "--bogus"}, 2, "flag provided but not defined: -bogus"},
		{"check with missing config", []string{"check", "--config", "/nonexistent/vpndiag.yaml"}, 1, "cannot read /nonexistent/vpndiag.yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := MustRun(t, "", nil, tc.args...)
			if r.code != tc.code {
				t.Errorf("exit %d, want %d; stderr: %s", r.code, tc.code, r.stderr)
			}
			if !strings.Contains(r.stderr, tc.contains) {
				t.Errorf("stderr %q does not contain %q", r.stderr, tc.contains)
			}
		})
	}
}

func TestEverySubcommandHasHelp(t *testing.T) {
	r := MustRun(t, "", nil, "--help")
	if r.code != 0 {
		t.Fatalf("--help exit %d: %s", r.code, r.stderr)
	}
	var names []string
	for _, line := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(line, "  ") {
			names = append(names, strings.Fields(line)[0])
		}
	}
	if len(names) < 9 {
		t.Fatalf("help lists %d commands: %q", len(names), r.stdout)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			r := MustRun(t, "", nil, name, "--help")
			if r.code != 0 || !strings.Contains(r.stdout, "Usage: vpndiag "+name) {
				t.Errorf("%s --help: exit %d, stdout %q, stderr %q", name, r.code, r.stdout, r.stderr)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	r := MustRun(t, "", nil, "version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "vpndiag ") {
		t.Fatalf("version: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
}

func TestCheckReportsEveryProblem(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(cfg, []byte("log:\n  level: loud\nslack:\n  mode: pigeon\n  app_token: xoxb-wrong\n"), 0o600)
	r := MustRun(t, "", nil, "check", "--config", cfg)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1; stderr %s", r.code, r.stderr)
	}
	for _, want := range []string{"log.level", "slack.mode", "slack.app_token"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("check output does not name %s:\n%s", want, r.stderr)
		}
	}
	r = MustRun(t, "", []string{"SLACK_BOT_TOKEN=xoxb-1"}, "check", "--serve")
	if r.code != 1 || !strings.Contains(r.stderr, "slack.app_token: required in socket mode") {
		t.Errorf("check --serve without an app token: exit %d, %s", r.code, r.stderr)
	}
	r = MustRun(t, "", nil, "check")
	if r.code != 0 || !strings.Contains(r.stdout, "ok") {
		t.Errorf("check of the defaults: exit %d, %s %s", r.code, r.stdout, r.stderr)
	}
}
