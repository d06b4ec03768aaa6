package main

import (
	"context"
	"fmt"
)

func (m *Main) runServe(ctx context.Context, args []string) error {
	fs := m.flagSet("serve", "[--config FILE] [--listen ADDR]", `
Run the Slack bot: Socket Mode by default, or HTTP mode (slack.mode: http),
and the hub that relays dial into.`)
	cfgPath := fs.String("config", "", "config file (default $VPNDIAG_CONFIG)")
	listen := fs.String("listen", "", "HTTP listen address (overrides slack.listen)")
	if err := parse(fs, args); err != nil {
		return err
	}
	_, _ = cfgPath, listen
	return fmt.Errorf("serve: the Slack bot is not built yet (issue: the Slack bot); use 'vpndiag diagnose' in a terminal")
}
