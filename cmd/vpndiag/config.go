package main

import (
	"flag"
	"log/slog"

	"github.com/vpndiag/vpndiag/conffile"
)

// loadConfig loads the config file (VPNDIAG_CONFIG when path is empty).
func (m *Main) loadConfig(path string) (*conffile.Config, error) {
	if path == "" {
		path = m.Getenv("VPNDIAG_CONFIG")
	}
	return conffile.Load(path, m.Getenv)
}

// logFlags adds --log-level and --log-format to fs; apply them with
// (*logOptions).apply after the config is loaded.
func logFlags(fs *flag.FlagSet) *logOptions {
	o := &logOptions{}
	fs.StringVar(&o.level, "log-level", "", "log level: debug, info, warn or error (overrides log.level)")
	fs.StringVar(&o.format, "log-format", "", "log format: text or json (overrides log.format)")
	return o
}

// logOptions are the command-line overrides of the config's log section.
type logOptions struct{ level, format string }

// apply overrides cfg's log settings with the flags given and checks them.
func (o *logOptions) apply(cfg *conffile.Config) error {
	if o.level != "" {
		cfg.Log.Level = o.level
	}
	if o.format != "" {
		cfg.Log.Format = o.format
	}
	return cfg.Log.Validate()
}

// logger returns a slog logger writing to Stderr at the configured level
// and format.
func (m *Main) logger(cfg *conffile.Config) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(cfg.Log.Level))
	opts := &slog.HandlerOptions{Level: lvl}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(m.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(m.Stderr, opts))
}
