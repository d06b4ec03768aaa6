package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/bot"
	botslack "github.com/vpndiag/vpndiag/bot/slack"
	"github.com/vpndiag/vpndiag/bundle"
	"github.com/vpndiag/vpndiag/conffile"
	"github.com/vpndiag/vpndiag/flows"
	"github.com/vpndiag/vpndiag/internal/listen"
	"github.com/vpndiag/vpndiag/metrics"
	"github.com/vpndiag/vpndiag/probes"
	"github.com/vpndiag/vpndiag/relay"
	"github.com/vpndiag/vpndiag/storage/postgres"
)

func (m *Main) runServe(ctx context.Context, args []string) error {
	fs := m.flagSet("serve", "[--config FILE] [--listen ADDR] [--db FILE|URL]", `
Run the Slack bot: Socket Mode by default (slack.mode: socket; needs
SLACK_BOT_TOKEN and SLACK_APP_TOKEN), or HTTP mode (slack.mode: http; needs
SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET) serving /slack/commands,
/slack/interactions and /slack/events. The listen address also serves
/healthz in both modes. Set SLACK_API_URL to point the bot at another Slack
API (a test or staging Slack). See bot/README.md to create the Slack app.`)
	cfgPath := fs.String("config", "", "config file (default $VPNDIAG_CONFIG)")
	listenAddr := fs.String("listen", "", "HTTP listen address (overrides slack.listen)")
	dbPath := fs.String("db", "", "database: SQLite file or postgres:// URL (overrides db)")
	logOpts := logFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError(fmt.Sprintf("serve: unexpected argument %q", fs.Arg(0)))
	}
	cfg, err := m.loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	if *listenAddr != "" {
		if _, _, err := net.SplitHostPort(*listenAddr); err != nil {
			return usageError(fmt.Sprintf("serve: --listen %q is not host:port", *listenAddr))
		}
		cfg.Slack.Listen = *listenAddr
	}
	if *dbPath != "" {
		cfg.DB = *dbPath
	}
	if err := logOpts.apply(cfg); err != nil {
		return err
	}
	if err := cfg.ValidateServe(); err != nil {
		return err
	}
	log := m.logger(cfg)
	if *cfgPath == "" {
		*cfgPath = m.Getenv("VPNDIAG_CONFIG")
	}
	if w := exposedSecrets(*cfgPath); w != "" {
		log.Warn("vpndiag serve: " + w)
	}
	db, err := m.openDB(ctx, cfg.DB, cfg.Evidence.MaxUploadBytes)
	if err != nil {
		return err
	}
	met := metrics.New()
	deps, err := serveDeps(ctx, cfg, db)
	if err != nil {
		return err
	}
	deps.Logger = log
	deps.Diagnoser = met.Diagnoser(deps.Diagnoser)

	// On PostgreSQL this process is one replica of several: the backplane
	// keeps its lease and carries probes to the replica holding a relay.
	var bp *postgres.Backplane
	if db.PG != nil {
		bp = postgres.NewBackplane(db.PG)
		bp.Logger = log
	}

	// The hub relays dial into, and the operator endpoint beside it.
	var hub *relay.Hub
	var hubSrv *http.Server
	var hubLn net.Listener
	if cfg.Hub.Listen != "" {
		hub = &relay.Hub{Tokens: db.RelayTokens, Results: db.Probes,
			Sites: deps.Sites, Cases: deps.Cases, Logger: log}
		if cfg.ProbeRunner() == conffile.ProbesRelay {
			deps.Prober = met.Prober(hub)
			if bp != nil {
				deps.Prober = met.Prober(&relay.Replicated{Hub: hub, Backplane: bp})
			}
		}
		if bp != nil {
			hub.Monitors = bp
			bp.Held, bp.Probe = hub.Held, hub.Probe
		}
		met.GaugeFunc("vpndiag_relays_connected", "Relays connected to the hub.", func() float64 {
			st, err := hub.Relays(context.Background())
			if err != nil {
				return 0
			}
			n := 0
			for _, r := range st {
				if r.Connected {
					n++
				}
			}
			return float64(n)
		})
		hmux := http.NewServeMux()
		hmux.Handle(relay.Path, hub)
		op := &relay.Operator{Hub: hub}
		if bp != nil {
			op.Prober = &relay.Replicated{Hub: hub, Backplane: bp}
		}
		if cfg.Hub.OperatorToken != "" {
			op.TokenHash = relay.HashToken(cfg.Hub.OperatorToken)
		}
		hmux.Handle(relay.ProbePath, op)
		hmux.Handle(relay.RelaysPath, op)
		raw, err := net.Listen("tcp", cfg.Hub.Listen)
		if err != nil {
			return fmt.Errorf("serve: cannot listen on %s for relays (change hub.listen): %w", cfg.Hub.Listen, errors.Unwrap(err))
		}
		lim := listen.Limit(raw, cfg.Hub.MaxConnections, "hub", log)
		hub.Refusals, op.Refusals = lim, lim
		hubLn = lim
		hubSrv = listen.Server(listen.CloseOnRefusal(hmux), log)
		log.Info("vpndiag serve: relay hub connection cap", "max_connections", lim.Max(), "descriptor_limit", listen.DescriptorLimit())
	}

	if cfg.ProbeRunner() == conffile.ProbesLocal {
		// The bot sits inside the customer network: it runs probes itself.
		deps.Prober = met.Prober(&probes.Local{Logger: log})
	}
	log.Info("vpndiag serve: probes", "run_by", cfg.ProbeRunner())

	b, err := botslack.New(botslack.FromConfig(cfg), deps)
	if err != nil {
		return err
	}
	m.onClose(b.Close)

	if bp != nil {
		bctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			if err := bp.Run(bctx); err != nil {
				log.Error("vpndiag serve: replica backplane", "err", err)
			}
			close(done)
		}()
		// Before the database closes: give up the lease and the relay
		// links so that the other replicas take over at once.
		m.onClose(func() error { cancel(); <-done; return nil })
	}
	health := &metrics.Health{Checks: map[string]metrics.Check{
		"database": db.Ping,
		"slack": func(context.Context) error {
			if !b.Connected() {
				return errors.New("not connected to Slack")
			}
			return nil
		},
	}, Info: map[string]func(context.Context) string{
		"database": func(context.Context) string { return db.Kind + " " + db.Where },
		"replica":  func(ctx context.Context) string { return replicaRole(ctx, bp) },
	}}
	if bp != nil {
		health.Checks["replica"] = bp.Joined
	}
	mux := http.NewServeMux()
	mux.Handle("/healthz", health.Healthz())
	mux.Handle("/readyz", health.Readyz())
	mux.Handle("/metrics", metrics.Protect(met.Handler(), cfg.Metrics.Token))
	if cfg.Slack.Mode == "http" {
		h := b.Handler()
		mux.Handle(botslack.PathCommands, met.HTTP("commands", true, h))
		mux.Handle(botslack.PathInteractions, met.HTTP("interactions", true, h))
		mux.Handle(botslack.PathEvents, met.HTTP("events", true, h))
	}
	raw, err := net.Listen("tcp", cfg.Slack.Listen)
	if err != nil {
		return fmt.Errorf("serve: cannot listen on %s (choose another with --listen): %w", cfg.Slack.Listen, errors.Unwrap(err))
	}
	ln := listen.Limit(raw, 0, "http", log)
	srv := listen.Server(listen.CloseOnRefusal(mux), log)
	errc := make(chan error, 3)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("serve: %w", err)
		}
	}()
	if hubSrv != nil {
		go func() {
			var err error
			if cfg.Hub.TLSCert != "" {
				err = hubSrv.ServeTLS(hubLn, cfg.Hub.TLSCert, cfg.Hub.TLSKey)
			} else {
				log.Warn("vpndiag serve: the relay hub serves plain HTTP; relays accept that only on loopback (set hub.tls_cert and hub.tls_key)")
				err = hubSrv.Serve(hubLn)
			}
			if err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("serve: relay hub: %w", err)
			}
		}()
		log.Info("vpndiag serve: relay hub up", "hub_addr", hubLn.Addr().String(), "tls", cfg.Hub.TLSCert != "")
	}
	log.Info("vpndiag serve: listening", "addr", ln.Addr().String(), "mode", cfg.Slack.Mode, "db", db.Where, "version", vpndiag.Version)
	if cfg.Slack.Mode == "socket" {
		go func() { errc <- b.RunSocketMode(ctx) }()
	}
	select {
	case <-ctx.Done():
		err = nil
	case err = <-errc:
	}
	// Graceful shutdown: stop taking requests and let in-flight ones (acks)
	// finish, close the relay links, then drain the bot's queued work (Close,
	// in Main.Close) before the database is closed.
	log.Info("vpndiag serve: shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	if hubSrv != nil {
		_ = hubSrv.Shutdown(sctx)
		_ = hub.Close()
	}
	log.Info("vpndiag serve: stopped")
	return err
}

// serveDeps wires the bot to the store, the flow engine and the bundle
// exporter, and loads the configured site profiles. Probes (the relay hub)
// and evidence analysis plug into Deps.Prober and Deps.Evidence here.
func serveDeps(ctx context.Context, cfg *conffile.Config, db *store) (botslack.Deps, error) {
	d := botslack.Deps{
		Cases:    db.Cases,
		Sites:    db.Sites,
		Events:   db.Events,
		Dedup:    db.Dedup,
		Findings: db.Findings,
	}
	for i := range cfg.Sites {
		if err := d.Sites.UpsertSite(ctx, &cfg.Sites[i]); err != nil {
			return d, fmt.Errorf("serve: load site %q: %w", cfg.Sites[i].Name, err)
		}
	}
	sessions := db.Sessions
	d.Diagnoser = flows.NewEngine(nil, flows.Services{Cases: d.Cases, Sessions: sessions, Events: d.Events, Sites: d.Sites,
		Findings: d.Findings, Probes: db.Probes, Evidence: db.Evidence})
	x := &bundle.Exporter{Cases: d.Cases, Sessions: sessions, Events: d.Events, Probes: db.Probes,
		Evidence: db.Evidence, Findings: d.Findings, Sites: d.Sites,
		Graph: flowGraph}
	key, err := signingKey(cfg)
	if err != nil {
		return d, err
	}
	x.SigningKey = key
	d.Evidence = newEvidenceIntake(db, cfg.Evidence.MaxUploadBytes)
	d.Exporter = bot.ExportFunc(func(ctx context.Context, caseID int64, w io.Writer) (string, error) {
		c, err := d.Cases.FindCaseByID(ctx, caseID)
		if err != nil {
			return "", err
		}
		if _, err := x.Export(ctx, c.Marker, w); err != nil {
			return "", err
		}
		return bundle.DefaultFileName(c.Marker), nil
	})
	return d, nil
}

// replicaRole says for /readyz what part this process plays: the only
// instance (SQLite), or one replica of several and how many relay links it
// holds.
func replicaRole(ctx context.Context, bp *postgres.Backplane) string {
	if bp == nil {
		return "single instance (SQLite: run one vpndiag serve per database)"
	}
	live, err := bp.Replicas(ctx)
	if err != nil {
		return fmt.Sprintf("replica %s (the other replicas cannot be listed now: %v)", bp.ID, vpndiag.ErrorMessage(err))
	}
	return fmt.Sprintf("replica %s, one of %d live; holds %d relay link(s)", bp.ID, len(live), live[bp.ID])
}
