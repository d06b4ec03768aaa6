package main

import (
	"context"
	"fmt"
)

func (m *Main) runAnalyze(ctx context.Context, args []string) error {
	fs := m.flagSet("analyze", "FILE… [--site PROFILE.yaml] [--format json]", `
Check VPN device configurations and logs against the guide's requirements
and print the findings.`)
	format := fs.String("format", "text", "output format: text or json")
	if err := parse(fs, args); err != nil {
		return err
	}
	_ = format
	return fmt.Errorf("analyze: evidence analysis is not built yet")
}
