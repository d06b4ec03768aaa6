package main

import (
	"context"
	"fmt"
)

func (m *Main) runRelay(ctx context.Context, args []string) error {
	fs := m.flagSet("relay", "[--hub URL] [--token-file FILE] [--policy FILE] | token create|list|revoke", `
Run the relay agent inside the customer network: it dials out to the bot,
authenticates with its token and runs only the probes its local policy
allows.`)
	hub := fs.String("hub", "", "bot hub URL, https://…")
	policy := fs.String("policy", "", "local policy file (YAML)")
	if err := parse(fs, args); err != nil {
		return err
	}
	_, _ = hub, policy
	return fmt.Errorf("relay: the relay is not built yet; run probes locally with 'vpndiag diagnose'")
}
