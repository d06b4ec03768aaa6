package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/vpndiag/vpndiag/config"
)

func (m *Main) runCheck(ctx context.Context, args []string) error {
	fs := m.flagSet("check", "[--config FILE] [--serve]", `
Validate the configuration file, the flows and the kb, report every problem
found (not just the first) and exit non-zero when there is any.`)
	cfgPath := fs.String("config", "", "config file (default $VPNDIAG_CONFIG; none means defaults)")
	serve := fs.Bool("serve", false, "also check what 'vpndiag serve' needs (Slack tokens)")
	if err := parse(fs, args); err != nil {
		return err
	}
	var problems config.Problems
	cfg, err := m.loadConfig(*cfgPath)
	var p config.Problems
	if errors.As(err, &p) {
		problems = append(problems, p...)
	} else if err != nil {
		return err
	}
	if *serve && cfg != nil {
		if err := cfg.ValidateServe(); errors.As(err, &p) {
			problems = append(problems, p...)
		}
	}
	problems = append(problems, checkContent()...)
	if len(problems) > 0 {
		return problems
	}
	fmt.Fprintln(m.Stdout, "vpndiag check: ok")
	return nil
}
