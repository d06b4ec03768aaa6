package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/vpndiag/vpndiag"
)

func (m *Main) runVersion(ctx context.Context, args []string) error {
	fs := m.flagSet("version", "", "Print the version, the commit it was built from and the Go version.")
	if err := parse(fs, args); err != nil {
		return err
	}
	commit := vpndiag.Commit
	if bi, ok := debug.ReadBuildInfo(); ok && commit == "" {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				commit = s.Value
			}
		}
	}
	if commit == "" {
		commit = "unknown"
	}
	fmt.Fprintf(m.Stdout, "vpndiag %s (commit %s, %s %s/%s)\n", vpndiag.Version, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}
