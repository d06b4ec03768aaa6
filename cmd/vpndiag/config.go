package main

import (
	"flag"
	"log/slog"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/conffile"
)

// configPath names the config file to read: path, or VPNDIAG_CONFIG when
// path is empty ("" for none).
func (m *Main) configPath(path string) string {
	if path == "" {
		return m.Getenv("VPNDIAG_CONFIG")
	}
	return path
}

// loadConfig loads the config file (VPNDIAG_CONFIG when path is empty).
func (m *Main) loadConfig(path string) (*conffile.Config, error) {
	return conffile.Load(m.configPath(path), m.Getenv)
}

// configSite returns the site profile named name in the config file, nil
// when it has none.
func configSite(cfg *conffile.Config, name string) *vpndiag.Site {
	for i := range cfg.Sites {
		if cfg.Sites[i].Name == name {
			return &cfg.Sites[i]
		}
	}
	return nil
}

// dbFlags adds --config and --db, the flags of every command that opens
// the database; load them with (*Main).loadConfigDB.
func dbFlags(fs *flag.FlagSet) *dbOptions {
	o := &dbOptions{}
	fs.StringVar(&o.config, "config", "", "config file (default $VPNDIAG_CONFIG; none means defaults)")
	fs.StringVar(&o.db, "db", "", "database: SQLite file or postgres:// URL (default: $VPNDIAG_DB, the config's db, or the user's state directory)")
	return o
}

// dbOptions are --config and --db as given.
type dbOptions struct{ config, db string }

// loadConfigDB loads the config file named by --config (VPNDIAG_CONFIG when
// empty) and puts --db, when given, in its DB.
func (m *Main) loadConfigDB(o *dbOptions) (*conffile.Config, error) {
	cfg, err := m.loadConfig(o.config)
	if err != nil {
		return nil, err
	}
	if o.db != "" {
		cfg.DB = o.db
	}
	return cfg, nil
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
