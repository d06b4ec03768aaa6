// Package conffile loads vpndiag's YAML configuration file, overlays secrets
// from the environment and validates the result, reporting every problem
// with the name of its field.
package conffile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/vpndiag/vpndiag"
)

// Config is the whole configuration. Every field has a default, so an empty
// file (or none) is a valid configuration for terminal mode.
type Config struct {
	// DB is the database: an SQLite file path (one machine, the terminal),
	// or a postgres:// (postgresql://) URL that selects PostgreSQL for
	// several `vpndiag serve` replicas. Default: $XDG_STATE_HOME/vpndiag/vpndiag.db
	// (~/.local/state/vpndiag/vpndiag.db). Env: VPNDIAG_DB.
	DB string `yaml:"db"`
	// Log configures logging.
	Log Log `yaml:"log"`
	// Metrics configures /metrics.
	Metrics Metrics `yaml:"metrics"`
	// Slack configures the bot (vpndiag serve).
	Slack Slack `yaml:"slack"`
	// Hub configures the endpoint relays dial into (vpndiag serve).
	Hub Hub `yaml:"hub"`
	// Probes says who runs the probe steps of `vpndiag serve`: "relay"
	// (relays in the customer network dial into hub.listen), "local" (the
	// bot runs them itself: it sits inside the customer network), or "none"
	// (people run them by hand from the commands the bot shows). Default:
	// "relay" when hub.listen is set, "none" otherwise.
	Probes string `yaml:"probes"`
	// Evidence configures uploads.
	Evidence Evidence `yaml:"evidence"`
	// Bundle configures support bundles.
	Bundle Bundle `yaml:"bundle"`
	// Sites are site profiles loaded at start-up (they can also be set up
	// from Slack).
	Sites []vpndiag.Site `yaml:"sites"`
}

// Log configures log/slog output.
type Log struct {
	// Level is debug, info, warn or error. Default info.
	Level string `yaml:"level"`
	// Format is text or json. Default text.
	Format string `yaml:"format"`
}

// Slack configures the Slack bot.
type Slack struct {
	// Mode is "socket" (default: no public URL needed) or "http".
	Mode string `yaml:"mode"`
	// BotToken (xoxb-…) calls the Web API. Env: SLACK_BOT_TOKEN.
	BotToken string `yaml:"bot_token"`
	// AppToken (xapp-…, connections:write) opens Socket Mode. Env: SLACK_APP_TOKEN.
	AppToken string `yaml:"app_token"`
	// SigningSecret verifies HTTP-mode requests. Env: SLACK_SIGNING_SECRET.
	SigningSecret string `yaml:"signing_secret"`
	// APIURL points the bot at another Slack API base (tests, staging),
	// ending in "/". Env: SLACK_API_URL.
	APIURL string `yaml:"api_url"`
	// Listen is the HTTP address for HTTP mode, /metrics (see Metrics) and health.
	// Default ":8080".
	Listen string `yaml:"listen"`
	// MaxBodyBytes caps an HTTP request body. Default 1 MiB.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// AllowedChannels may run diagnoses; empty allows every channel.
	AllowedChannels []string `yaml:"allowed_channels"`
	// AllowedUsers may run diagnoses; empty (with AllowedUsergroups empty)
	// allows every user.
	AllowedUsers []string `yaml:"allowed_users"`
	// AllowedUsergroups are user group IDs whose members may run diagnoses.
	AllowedUsergroups []string `yaml:"allowed_usergroups"`
	// ExportUsers may export the bundle of any case (user or user group
	// IDs); the people who took part in a case may always export it.
	ExportUsers []string `yaml:"export_users"`
	// Admins are told to users who are refused ("ask @… for access").
	Admins []string `yaml:"admins"`
	// MaxCaseStartsPerUser caps how many cases one user may open in ten
	// minutes; more are refused with a message. Default 10; -1 disables.
	MaxCaseStartsPerUser int `yaml:"max_case_starts_per_user"`
}

// Who runs probe steps (Config.Probes).
const (
	ProbesRelay = "relay"
	ProbesLocal = "local"
	ProbesNone  = "none"
)

// ProbeRunner returns who runs probe steps: Probes, or its default.
func (c *Config) ProbeRunner() string {
	if c.Probes != "" {
		return c.Probes
	}
	if c.Hub.Listen != "" {
		return ProbesRelay
	}
	return ProbesNone
}

// Hub configures the relay endpoint of the bot.
type Hub struct {
	// Listen is the HTTPS address relays dial. Empty disables the hub.
	Listen string `yaml:"listen"`
	// TLSCert and TLSKey are PEM files for the hub's certificate.
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
	// OperatorToken lets `vpndiag probe --relay` run a probe through a
	// connected relay; empty disables that endpoint. Env: VPNDIAG_OPERATOR_TOKEN.
	OperatorToken string `yaml:"operator_token"`
	// MaxConnections caps the hub's concurrent connections (relays, operator
	// requests and anything else that dials the port); more are closed at
	// once. 0 (default) means a quarter of the process's open-file limit, so
	// that a flood of the hub port leaves Slack, /healthz and the database
	// their descriptors.
	MaxConnections int `yaml:"max_connections"`
	// RelayMessagesPerSecond, RelayMessageBurst and RelayBytesPerSecond
	// limit what each connected relay may send (results and keep-alive
	// sample batches together); a relay over them is slowed down, not
	// refused. 0 (default) means 20 a second, bursts of 200, 256 KiB/s
	// (relay.RelayMessagesPerSecond and the constants beside it). An
	// operator may raise them for a site whose relay runs many probes at
	// once.
	RelayMessagesPerSecond int `yaml:"relay_messages_per_second"`
	RelayMessageBurst      int `yaml:"relay_message_burst"`
	RelayBytesPerSecond    int `yaml:"relay_bytes_per_second"`
}

// Metrics configures the Prometheus endpoint /metrics on slack.listen.
type Metrics struct {
	// Token, when set, is required as `Authorization: Bearer <token>` from
	// any client; empty (default) answers only clients on loopback that
	// came through no proxy. Env: VPNDIAG_METRICS_TOKEN.
	Token string `yaml:"token"`
}

// Evidence configures uploads.
type Evidence struct {
	// MaxUploadBytes caps one uploaded file. Default 64 MiB.
	MaxUploadBytes int64 `yaml:"max_upload_bytes"`
}

// Bundle configures support bundles.
type Bundle struct {
	// SigningKey is a PEM file holding the ed25519 private key that signs
	// every exported bundle (`vpndiag bundle keygen FILE` makes one), so
	// that `vpndiag bundle verify --key FILE.pub` proves a bundle came from
	// this deployment. It must be readable by its owner only. Empty: bundles
	// are not signed, and verify checks their integrity only.
	// Env: VPNDIAG_BUNDLE_SIGNING_KEY.
	SigningKey string `yaml:"signing_key"`
}

// Defaults.
const (
	DefaultListen         = ":8080"
	DefaultMaxBodyBytes   = 1 << 20
	DefaultMaxUploadBytes = 64 << 20
	DefaultLogLevel       = "info"
	DefaultLogFormat      = "text"
)

// DefaultDBPath returns the database path used when none is configured: in
// the user's state directory.
func DefaultDBPath(getenv func(string) string) string {
	if d := getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "vpndiag", "vpndiag.db")
	}
	if h := getenv("HOME"); h != "" {
		return filepath.Join(h, ".local", "state", "vpndiag", "vpndiag.db")
	}
	return "vpndiag.db"
}

// Problems is every problem found in a configuration, each naming its field.
type Problems []string

// Error implements error.
func (p Problems) Error() string {
	if len(p) == 1 {
		return "config: " + p[0]
	}
	return fmt.Sprintf("config: %d problems:\n  - %s", len(p), strings.Join(p, "\n  - "))
}

// Load reads the file at path (none when path is empty), overlays the
// environment through getenv, fills defaults and validates. A returned
// Problems error lists every problem.
func Load(path string, getenv func(string) string) (*Config, error) {
	var c Config
	if path != "" {
		f, err := os.Open(path)
		if err != nil {
			return nil, Problems{fmt.Sprintf("cannot read %s: %v", path, errors.Unwrap(err))}
		}
		defer f.Close()
		if err := Decode(f, &c); err != nil {
			return nil, Problems{fmt.Sprintf("%s: %v", path, err)}
		}
	}
	c.applyEnv(getenv)
	c.applyDefaults(getenv)
	if err := c.Validate(); err != nil {
		return &c, err
	}
	return &c, nil
}

// Decode parses YAML strictly: an unknown field is an error that names it.
func Decode(r io.Reader, c *Config) error {
	data, err := io.ReadAll(io.LimitReader(r, 16<<20))
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		msg = strings.TrimPrefix(msg, "unmarshal errors:\n")
		msg = strings.Join(strings.Fields(strings.ReplaceAll(msg, "\n", "; ")), " ")
		return fmt.Errorf("not valid YAML config: %s", msg)
	}
	return nil
}

func (c *Config) applyEnv(getenv func(string) string) {
	set := func(dst *string, name string) {
		if v := getenv(name); v != "" {
			*dst = v
		}
	}
	set(&c.Metrics.Token, "VPNDIAG_METRICS_TOKEN")
	set(&c.DB, "VPNDIAG_DB")
	set(&c.Slack.BotToken, "SLACK_BOT_TOKEN")
	set(&c.Slack.AppToken, "SLACK_APP_TOKEN")
	set(&c.Slack.SigningSecret, "SLACK_SIGNING_SECRET")
	set(&c.Slack.APIURL, "SLACK_API_URL")
	set(&c.Hub.OperatorToken, "VPNDIAG_OPERATOR_TOKEN")
	set(&c.Bundle.SigningKey, "VPNDIAG_BUNDLE_SIGNING_KEY")
}

func (c *Config) applyDefaults(getenv func(string) string) {
	if c.DB == "" {
		c.DB = DefaultDBPath(getenv)
	}
	if c.Log.Level == "" {
		c.Log.Level = DefaultLogLevel
	}
	if c.Log.Format == "" {
		c.Log.Format = DefaultLogFormat
	}
	if c.Slack.Mode == "" {
		c.Slack.Mode = "socket"
	}
	if c.Slack.Listen == "" {
		c.Slack.Listen = DefaultListen
	}
	if c.Slack.MaxBodyBytes == 0 {
		c.Slack.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.Evidence.MaxUploadBytes == 0 {
		c.Evidence.MaxUploadBytes = DefaultMaxUploadBytes
	}
}

// Validate checks the log settings.
func (l Log) Validate() error {
	var p Problems
	switch l.Level {
	case "debug", "info", "warn", "error":
	default:
		p = append(p, fmt.Sprintf("log.level: %q must be debug, info, warn or error", l.Level))
	}
	switch l.Format {
	case "text", "json":
	default:
		p = append(p, fmt.Sprintf("log.format: %q must be text or json", l.Format))
	}
	if len(p) > 0 {
		return p
	}
	return nil
}

// Validate checks every field that does not depend on what is being run.
func (c *Config) Validate() error {
	var p Problems
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	if err := c.Log.Validate(); err != nil {
		p = append(p, err.(Problems)...)
	}
	switch c.Slack.Mode {
	case "socket", "http":
	default:
		add("slack.mode: %q must be socket or http", c.Slack.Mode)
	}
	if c.Slack.BotToken != "" && !strings.HasPrefix(c.Slack.BotToken, "xoxb-") {
		add("slack.bot_token: must start with xoxb- (a bot token, from OAuth & Permissions)")
	}
	if c.Slack.AppToken != "" && !strings.HasPrefix(c.Slack.AppToken, "xapp-") {
		add("slack.app_token: must start with xapp- (an app-level token with connections:write)")
	}
	if c.Slack.APIURL != "" {
		if u, err := url.Parse(c.Slack.APIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("slack.api_url: %q is not an http(s) URL", c.Slack.APIURL)
		} else if !strings.HasSuffix(u.Path, "/") {
			add("slack.api_url: %q must end with /", c.Slack.APIURL)
		}
	}
	if _, _, err := net.SplitHostPort(c.Slack.Listen); err != nil {
		add("slack.listen: %q is not host:port", c.Slack.Listen)
	}
	if c.Slack.MaxCaseStartsPerUser < -1 {
		add("slack.max_case_starts_per_user: %d must be -1 (no cap), 0 (default) or more", c.Slack.MaxCaseStartsPerUser)
	}
	if c.Slack.MaxBodyBytes < 1024 {
		add("slack.max_body_bytes: %d is below 1024", c.Slack.MaxBodyBytes)
	}
	switch c.Probes {
	case "", ProbesNone, ProbesLocal:
	case ProbesRelay:
		if c.Hub.Listen == "" {
			add("probes: relay needs hub.listen (the address relays dial into)")
		}
	default:
		add("probes: %q is not relay, local or none", c.Probes)
	}
	if c.Hub.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Hub.Listen); err != nil {
			add("hub.listen: %q is not host:port", c.Hub.Listen)
		}
		if (c.Hub.TLSCert == "") != (c.Hub.TLSKey == "") {
			add("hub.tls_cert and hub.tls_key: set both or neither")
		}
		if c.Hub.MaxConnections < 0 {
			add("hub.max_connections: %d must be 0 (a quarter of the open-file limit) or more", c.Hub.MaxConnections)
		}
		for _, l := range []struct {
			name string
			v    int
		}{
			{"relay_messages_per_second", c.Hub.RelayMessagesPerSecond},
			{"relay_message_burst", c.Hub.RelayMessageBurst},
			{"relay_bytes_per_second", c.Hub.RelayBytesPerSecond},
		} {
			if l.v < 0 {
				add("hub.%s: %d must be 0 (the default limit) or more", l.name, l.v)
			}
		}
		if c.Hub.OperatorToken != "" && len(c.Hub.OperatorToken) < 16 {
			add("hub.operator_token: at least 16 characters")
		}
	}
	if c.Metrics.Token != "" && len(c.Metrics.Token) < 16 {
		add("metrics.token: at least 16 characters")
	}
	if c.Evidence.MaxUploadBytes < 1024 {
		add("evidence.max_upload_bytes: %d is below 1024", c.Evidence.MaxUploadBytes)
	}
	if k := c.Bundle.SigningKey; k != "" {
		if fi, err := os.Stat(k); err != nil {
			add("bundle.signing_key: cannot read %s: %v", k, errors.Unwrap(err))
		} else if fi.Mode().Perm()&0o077 != 0 {
			add("bundle.signing_key: %s can be read by others (mode %v): make it private with chmod 600", k, fi.Mode().Perm())
		}
	}
	seen := map[string]bool{}
	for i := range c.Sites {
		s := &c.Sites[i]
		if seen[s.Name] {
			add("sites[%d].name: %q is used twice", i, s.Name)
		}
		seen[s.Name] = true
		if err := s.Validate(); err != nil {
			add("sites[%d]: %s", i, vpndiag.ErrorMessage(err))
		}
	}
	if len(p) > 0 {
		return p
	}
	return nil
}

// ValidateServe checks what `vpndiag serve` needs on top of Validate.
func (c *Config) ValidateServe() error {
	var p Problems
	if c.Slack.BotToken == "" {
		p = append(p, "slack.bot_token: required to serve (or set SLACK_BOT_TOKEN)")
	}
	switch c.Slack.Mode {
	case "socket":
		if c.Slack.AppToken == "" {
			p = append(p, "slack.app_token: required in socket mode (or set SLACK_APP_TOKEN)")
		}
	case "http":
		if c.Slack.SigningSecret == "" {
			p = append(p, "slack.signing_secret: required in http mode (or set SLACK_SIGNING_SECRET)")
		}
	}
	if len(p) > 0 {
		return p
	}
	return nil
}
