package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/vpndiag/vpndiag/conffile"
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
	var problems conffile.Problems
	cfg, err := m.loadConfig(*cfgPath)
	var p conffile.Problems
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
	if w := exposedSecrets(m.configPath(*cfgPath)); w != "" {
		fmt.Fprintln(m.Stderr, "vpndiag check: warning: "+w)
	}
	if len(problems) > 0 {
		return problems
	}
	fmt.Fprintln(m.Stdout, "vpndiag check: ok")
	return nil
}

// exposedSecrets returns a warning when the config file at path holds
// secrets (tokens, the signing secret) and others may read it; "" when not.
func exposedSecrets(path string) string {
	if path == "" {
		return ""
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm()&0o044 == 0 {
		return ""
	}
	// The file's own values, without the environment's.
	cfg, err := conffile.Load(path, func(string) string { return "" })
	if cfg == nil && err != nil {
		return ""
	}
	var held []string
	for _, f := range []struct{ name, v string }{
		{"slack.bot_token", cfg.Slack.BotToken}, {"slack.app_token", cfg.Slack.AppToken},
		{"slack.signing_secret", cfg.Slack.SigningSecret}, {"hub.operator_token", cfg.Hub.OperatorToken},
		{"metrics.token", cfg.Metrics.Token},
	} {
		if f.v != "" {
			held = append(held, f.name)
		}
	}
	if len(held) == 0 {
		return ""
	}
	return fmt.Sprintf("%s holds %s and is readable by others (mode %04o): chmod 600 it, or move the secrets to the environment",
		path, strings.Join(held, ", "), fi.Mode().Perm())
}
