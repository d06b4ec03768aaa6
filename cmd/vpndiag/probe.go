package main

import (
	"context"
	"fmt"
)

func (m *Main) runProbe(ctx context.Context, args []string) error {
	fs := m.flagSet("probe", "KIND [flags] [--relay NAME] [--format json]", `
Run one probe (dns, ping, tcp, traceroute, ike, keepalive) locally or through
a connected relay, and print its result.`)
	format := fs.String("format", "text", "output format: text or json")
	if err := parse(fs, args); err != nil {
		return err
	}
	_ = format
	return fmt.Errorf("probe: the probes are not built yet")
}
