package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/conffile"
	"github.com/vpndiag/vpndiag/probes"
	"github.com/vpndiag/vpndiag/relay"
	"github.com/vpndiag/vpndiag/relay/agent"
	"github.com/vpndiag/vpndiag/relay/policy"
)

func (m *Main) runRelay(ctx context.Context, args []string) error {
	if len(args) > 0 && args[0] == "token" {
		return m.runRelayToken(ctx, args[1:])
	}
	fs := m.flagSet("relay", "--hub URL --token-file FILE --policy FILE [--ca FILE] [--name NAME] [--state FILE]\n       vpndiag relay token create|list|revoke …", `
Run the relay agent inside the customer network. It dials out to the bot's
hub over HTTPS (no inbound port; HTTPS_PROXY is honoured), authenticates
with its token, runs only the probes its local policy file allows, and
reconnects by itself when the link drops.

Manage tokens on the bot's side with:
  vpndiag relay token create --site SITE --name NAME   issue a token (shown once)
  vpndiag relay token list                             list tokens
  vpndiag relay token revoke NAME                      revoke; the relay is cut off`)
	hub := fs.String("hub", "", "bot hub URL, https://host:port (required)")
	tokenFile := fs.String("token-file", "", "file holding the relay token (required)")
	policyFile := fs.String("policy", "", "local policy file, YAML (required; see deploy/relay-policy.example.yaml)")
	caFile := fs.String("ca", "", "PEM file of a private CA that signed the hub's certificate")
	name := fs.String("name", "", "this relay's name; must match the token's")
	statePath := fs.String("state", "", "state file for keep-alive monitors (default: next to the token file)")
	logOpts := logFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError(fmt.Sprintf("relay: unexpected argument %q (did you mean 'vpndiag relay token …'?)", fs.Arg(0)))
	}
	var missing []string
	for _, f := range []struct{ v, name string }{{*hub, "--hub"}, {*tokenFile, "--token-file"}, {*policyFile, "--policy"}} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return usageError("relay: " + strings.Join(missing, ", ") + " required")
	}
	if _, err := agent.EndpointURL(*hub); err != nil {
		return usageError("relay: " + err.Error())
	}
	pol, err := policy.Load(*policyFile)
	if err != nil {
		return err
	}
	token, err := readToken(*tokenFile)
	if err != nil {
		return err
	}
	client := agent.NewHTTPClient(nil)
	if *caFile != "" {
		pool, err := agent.LoadCA(*caFile)
		if err != nil {
			return fmt.Errorf("relay: %w", err)
		}
		client = agent.NewHTTPClient(pool)
	}
	if *statePath == "" {
		*statePath = *tokenFile + ".state"
	}
	logCfg := &conffile.Config{Log: conffile.Log{Level: conffile.DefaultLogLevel, Format: conffile.DefaultLogFormat}}
	if err := logOpts.apply(logCfg); err != nil {
		return usageError("relay: " + err.Error())
	}
	log := m.logger(logCfg)
	log.Info("relay starting", "hub", *hub, "policy", pol.Summary(), "state", *statePath)
	a := &agent.Agent{
		Hub: *hub, Token: token, Name: *name, HTTPClient: client, StatePath: *statePath, Logger: log,
		Guard: policy.NewGuard(pol, &probes.Local{Logger: log}),
	}
	err = a.Run(ctx)
	var ae *agent.AuthError
	if errors.As(err, &ae) {
		return fmt.Errorf("relay: %w: %w", err, vpndiag.Errorf(vpndiag.EFORBIDDEN, "The hub refused this relay: %s", ae.Message))
	}
	if err == nil {
		log.Info("relay stopped")
	}
	return err
}

// readToken reads the token file, refusing an empty one and warning about
// one others can read.
func readToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("relay: cannot read the token file: %w", err)
	}
	token := strings.TrimSpace(string(b))
	if token == "" || strings.ContainsAny(token, " \t\n") {
		return "", fmt.Errorf("relay: the token file %s must hold one token (from 'vpndiag relay token create')", path)
	}
	if !strings.HasPrefix(token, relay.TokenPrefix) {
		return "", fmt.Errorf("relay: the token file %s does not hold a relay token (they start with %s)", path, relay.TokenPrefix)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		slog.Warn("relay: the token file is readable by others; chmod 600 it", "file", path, "mode", fi.Mode().Perm())
	}
	return token, nil
}

var relayNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

func (m *Main) runRelayToken(ctx context.Context, args []string) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintln(m.Stdout, "Usage: vpndiag relay token create --site SITE --name NAME | list | revoke NAME  [--db FILE] [--config FILE]")
			return errHelp
		}
		return usageError("relay token: give create, list or revoke")
	}
	action, args := args[0], args[1:]
	var usage, help string
	switch action {
	case "create":
		usage, help = "--site SITE --name NAME [--db FILE] [--config FILE]", "Issue a relay token bound to a site. The token is printed once, on stdout; only its hash is stored."
	case "list":
		usage, help = "[--format text|json] [--db FILE] [--config FILE]", "List relay tokens (revoked ones too) with when each relay was last seen."
	case "revoke":
		usage, help = "NAME [--db FILE] [--config FILE]", "Revoke a relay's token. The running bot cuts the relay off within seconds and it cannot reconnect."
	default:
		return usageError(fmt.Sprintf("relay token: unknown action %q; actions are create, list, revoke", action))
	}
	fs := m.flagSet("relay token "+action, usage, help)
	dbOpts := dbFlags(fs)
	site := fs.String("site", "", "site the relay serves (create)")
	name := fs.String("name", "", "relay name, e.g. hq-relay-1 (create)")
	format := fs.String("format", "text", "output format: text or json (list)")
	// Flags may follow the positional NAME of revoke.
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	switch action {
	case "create":
		if *site == "" || *name == "" {
			return usageError("relay token create: --site and --name are required")
		}
		if !relayNamePattern.MatchString(*name) {
			return usageError(fmt.Sprintf("relay token create: --name %q must be lower-case letters, digits, '.', '_' or '-' (at most 63)", *name))
		}
	case "list":
		if err := checkFormat("relay token list", *format); err != nil {
			return err
		}
	case "revoke":
		if len(pos) != 1 {
			return usageError("relay token revoke: give exactly one relay name")
		}
	}
	if len(pos) > 0 && action != "revoke" {
		return usageError(fmt.Sprintf("relay token %s: unexpected argument %q", action, pos[0]))
	}
	cfg, err := m.loadConfigDB(dbOpts)
	if err != nil {
		return err
	}
	db, err := m.openDB(ctx, cfg.DB, cfg.Evidence.MaxUploadBytes)
	if err != nil {
		return err
	}
	switch action {
	case "create":
		return m.createRelayToken(ctx, cfg, db, *site, *name)
	case "list":
		return m.listRelayTokens(ctx, db, *format)
	}
	return m.revokeRelayToken(ctx, db, pos[0])
}

// createRelayToken issues a token for the relay name at the site siteName
// (stored, or saved from the config), prints it once on Stdout and stores
// only its hash.
func (m *Main) createRelayToken(ctx context.Context, cfg *conffile.Config, db *store, siteName, name string) error {
	s, err := db.Sites.FindSiteByName(ctx, siteName)
	if vpndiag.ErrorCode(err) == vpndiag.ENOTFOUND {
		// A site of the config file the bot has not stored yet.
		cs := configSite(cfg, siteName)
		if cs == nil {
			return vpndiag.Errorf(vpndiag.ENOTFOUND, "No site named %s: add it to the config (sites:) or set it up from Slack first.", siteName)
		}
		s, err = cs, db.Sites.UpsertSite(ctx, cs)
	}
	if err != nil {
		return err
	}
	token, hash, prefix := relay.NewToken()
	if err := db.RelayTokens.CreateRelayToken(ctx, &vpndiag.RelayToken{Name: name, SiteID: s.ID, Hash: hash, Prefix: prefix}); err != nil {
		return err
	}
	fmt.Fprintf(m.Stderr, "Relay token for %s (site %s). It is shown once and only its hash is kept:\n", name, s.Name)
	fmt.Fprintln(m.Stdout, token)
	fmt.Fprintf(m.Stderr, "Put it in the relay's token file (chmod 600), e.g. /etc/vpndiag/relay.token, and start\n  vpndiag relay --hub https://BOT:PORT --token-file /etc/vpndiag/relay.token --policy /etc/vpndiag/policy.yaml --name %s\n", name)
	return nil
}

// listRelayTokens prints every relay token, revoked ones too, with its
// site and when its relay was last seen: a table, or JSON.
func (m *Main) listRelayTokens(ctx context.Context, db *store, format string) error {
	ts, err := db.RelayTokens.FindRelayTokens(ctx)
	if err != nil {
		return err
	}
	siteNames := map[int64]string{}
	if ss, err := db.Sites.FindSites(ctx); err == nil {
		for _, s := range ss {
			siteNames[s.ID] = s.Name
		}
	}
	if format == "json" {
		type row struct {
			*vpndiag.RelayToken
			Site string `json:"site"`
		}
		rows := make([]row, 0, len(ts))
		for _, t := range ts {
			rows = append(rows, row{t, siteNames[t.SiteID]})
		}
		return m.printJSON(rows)
	}
	if len(ts) == 0 {
		fmt.Fprintln(m.Stdout, "No relay tokens. Create one with: vpndiag relay token create --site SITE --name NAME")
		return nil
	}
	tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSITE\tTOKEN\tCREATED\tLAST SEEN\tSTATUS")
	for _, t := range ts {
		seen, status := "never", "active"
		if t.LastSeenAt != nil {
			seen = stamp(*t.LastSeenAt)
		}
		if t.RevokedAt != nil {
			status = "revoked " + stamp(*t.RevokedAt)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s…\t%s\t%s\t%s\n", t.Name, siteNames[t.SiteID], t.Prefix, stamp(t.CreatedAt), seen, status)
	}
	return tw.Flush()
}

// revokeRelayToken revokes the token of the relay name.
func (m *Main) revokeRelayToken(ctx context.Context, db *store, name string) error {
	if err := db.RelayTokens.RevokeRelayToken(ctx, name); err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, "Revoked the token of relay %s. The running bot cuts it off within seconds; it cannot reconnect.\n", name)
	return nil
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }
