package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
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
	cfg, log, err := m.serveConfig(args)
	if err != nil {
		return err
	}
	s, err := m.openServer(ctx, cfg, log)
	if err != nil {
		return err
	}
	if err := s.openHub(); err != nil {
		return err
	}
	s.deps.Prober = s.prober()
	log.Info("vpndiag serve: probes", "run_by", cfg.ProbeRunner())
	if s.bot, err = botslack.New(botslack.FromConfig(cfg), s.deps); err != nil {
		return err
	}
	m.onClose(s.bot.Close)
	if s.bp != nil {
		// Before the database closes: give up the lease and the relay
		// links so that the other replicas take over at once.
		m.onClose(s.runBackplane(ctx))
	}
	return s.serve(ctx, s.handler())
}

// server is what `vpndiag serve` runs, built in steps by runServe: the
// store (and, on PostgreSQL, the replica backplane), the relay hub, the
// prober, the bot, then the HTTP endpoints.
type server struct {
	cfg  *conffile.Config
	log  *slog.Logger
	db   *store
	met  *metrics.Metrics
	deps botslack.Deps
	// bp is the replica backplane, nil on SQLite.
	bp *postgres.Backplane
	// hub is the endpoint relays dial, nil without hub.listen; hubSrv
	// serves it (and the operator endpoint) on hubLn.
	hub    *relay.Hub
	hubSrv *http.Server
	hubLn  net.Listener
	bot    *botslack.Bot
}

// serveConfig parses serve's flags, loads the config with the flags'
// overrides and checks what serve needs; it returns the logger to use.
func (m *Main) serveConfig(args []string) (*conffile.Config, *slog.Logger, error) {
	fs := m.flagSet("serve", "[--config FILE] [--listen ADDR] [--db FILE|URL]", `
Run the Slack bot: Socket Mode by default (slack.mode: socket; needs
SLACK_BOT_TOKEN and SLACK_APP_TOKEN), or HTTP mode (slack.mode: http; needs
SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET) serving /slack/commands,
/slack/interactions and /slack/events. The listen address also serves
/healthz in both modes. Set SLACK_API_URL to point the bot at another Slack
API (a test or staging Slack). See bot/README.md to create the Slack app.`)
	dbOpts := dbFlags(fs)
	listenAddr := fs.String("listen", "", "HTTP listen address (overrides slack.listen)")
	logOpts := logFlags(fs)
	if err := parse(fs, args); err != nil {
		return nil, nil, err
	}
	if fs.NArg() > 0 {
		return nil, nil, usageError(fmt.Sprintf("serve: unexpected argument %q", fs.Arg(0)))
	}
	cfg, err := m.loadConfigDB(dbOpts)
	if err != nil {
		return nil, nil, err
	}
	if *listenAddr != "" {
		if _, _, err := net.SplitHostPort(*listenAddr); err != nil {
			return nil, nil, usageError(fmt.Sprintf("serve: --listen %q is not host:port", *listenAddr))
		}
		cfg.Slack.Listen = *listenAddr
	}
	if err := logOpts.apply(cfg); err != nil {
		return nil, nil, err
	}
	if err := cfg.ValidateServe(); err != nil {
		return nil, nil, err
	}
	log := m.logger(cfg)
	if w := exposedSecrets(m.configPath(dbOpts.config)); w != "" {
		log.Warn("vpndiag serve: " + w)
	}
	return cfg, log, nil
}

// openServer opens the store (closed at Close), wires the bot's
// dependencies to it and, on PostgreSQL, makes this process one replica of
// several: the backplane keeps its lease and carries probes to the replica
// holding a relay.
func (m *Main) openServer(ctx context.Context, cfg *conffile.Config, log *slog.Logger) (*server, error) {
	db, err := m.openDB(ctx, cfg.DB, cfg.Evidence.MaxUploadBytes)
	if err != nil {
		return nil, err
	}
	s := &server{cfg: cfg, log: log, db: db, met: metrics.New()}
	if s.deps, err = serveDeps(ctx, cfg, db); err != nil {
		return nil, err
	}
	s.deps.Logger = log
	s.deps.Diagnoser = s.met.Diagnoser(s.deps.Diagnoser)
	if db.PG != nil {
		s.bp = postgres.NewBackplane(db.PG)
		s.bp.Logger = log
	}
	return s, nil
}

// openHub builds the hub relays dial into and the operator endpoint beside
// it, and opens their listener (hub.listen; nothing when it is empty). They
// serve from serve.
func (s *server) openHub() error {
	cfg, log := s.cfg, s.log
	if cfg.Hub.Listen == "" {
		return nil
	}
	hub := &relay.Hub{Tokens: s.db.RelayTokens, Results: s.db.Probes,
		Sites: s.deps.Sites, Cases: s.deps.Cases, Logger: log,
		RelayRate: cfg.Hub.RelayMessagesPerSecond, RelayBurst: cfg.Hub.RelayMessageBurst, RelayByteRate: cfg.Hub.RelayBytesPerSecond}
	s.hub = hub
	if s.bp != nil {
		hub.Monitors = s.bp
		s.bp.Held, s.bp.Probe = hub.Held, hub.Probe
	}
	s.met.GaugeFunc("vpndiag_relays_connected", "Relays connected to the hub.", func() float64 {
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
	op := &relay.Operator{Hub: hub, Prober: s.hubProber()}
	if cfg.Hub.OperatorToken != "" {
		op.TokenHash = relay.HashToken(cfg.Hub.OperatorToken)
	}
	hmux := http.NewServeMux()
	hmux.Handle(relay.Path, hub)
	hmux.Handle(relay.ProbePath, op)
	hmux.Handle(relay.RelaysPath, op)
	raw, err := net.Listen("tcp", cfg.Hub.Listen)
	if err != nil {
		return fmt.Errorf("serve: cannot listen on %s for relays (change hub.listen): %w", cfg.Hub.Listen, errors.Unwrap(err))
	}
	lim := listen.Limit(raw, cfg.Hub.MaxConnections, "hub", log)
	hub.Refusals, op.Refusals = lim, lim
	s.hubLn = lim
	s.hubSrv = listen.Server(listen.CloseOnRefusal(hmux), log)
	log.Info("vpndiag serve: relay hub connection cap", "max_connections", lim.Max(), "descriptor_limit", listen.DescriptorLimit())
	return nil
}

// hubProber runs a probe on this process's hub, or, with several
// replicas, on the replica that holds the relay's link.
func (s *server) hubProber() vpndiag.Prober {
	if s.bp == nil {
		return s.hub
	}
	return &relay.Replicated{Hub: s.hub, Backplane: s.bp}
}

// prober returns what runs the flows' probe steps, counted in the metrics:
// the relays (probes: relay), this process inside the customer network
// (probes: local), or nothing (probes: none, or relay without a hub).
func (s *server) prober() vpndiag.Prober {
	switch s.cfg.ProbeRunner() {
	case conffile.ProbesRelay:
		if s.hub != nil {
			return s.met.Prober(s.hubProber())
		}
	case conffile.ProbesLocal:
		return s.met.Prober(&probes.Local{Logger: s.log})
	}
	return nil
}

// runBackplane runs the replica backplane until the returned func, to be
// called at Close, stops it and waits for it.
func (s *server) runBackplane(ctx context.Context) func() error {
	bctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		if err := s.bp.Run(bctx); err != nil {
			s.log.Error("vpndiag serve: replica backplane", "err", err)
		}
		close(done)
	}()
	return func() error { cancel(); <-done; return nil }
}

// health returns the checks behind /healthz and /readyz: the database, the
// link to Slack and, with several replicas, this replica's first heartbeat.
func (s *server) health() *metrics.Health {
	db, b, bp := s.db, s.bot, s.bp
	h := &metrics.Health{Checks: map[string]metrics.Check{
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
		h.Checks["replica"] = bp.Joined
	}
	return h
}

// handler routes the listen address: health, metrics and, in HTTP mode,
// Slack's requests.
func (s *server) handler() http.Handler {
	health := s.health()
	mux := http.NewServeMux()
	mux.Handle("/healthz", health.Healthz())
	mux.Handle("/readyz", health.Readyz())
	mux.Handle("/metrics", metrics.Protect(s.met.Handler(), s.cfg.Metrics.Token))
	if s.cfg.Slack.Mode == "http" {
		h := s.bot.Handler()
		mux.Handle(botslack.PathCommands, s.met.HTTP("commands", true, h))
		mux.Handle(botslack.PathInteractions, s.met.HTTP("interactions", true, h))
		mux.Handle(botslack.PathEvents, s.met.HTTP("events", true, h))
	}
	return mux
}

// serve serves h on the listen address, the hub on its own and, in Socket
// Mode, the Slack connection, until ctx is done or one of them fails; then
// it shuts down gracefully: stop taking requests and let in-flight ones
// (acks) finish, close the relay links; the bot's queued work drains in
// Main.Close before the database is closed.
func (s *server) serve(ctx context.Context, h http.Handler) error {
	cfg, log := s.cfg, s.log
	raw, err := net.Listen("tcp", cfg.Slack.Listen)
	if err != nil {
		if s.hubLn != nil {
			_ = s.hubLn.Close() // opened already; nothing will serve it
		}
		return fmt.Errorf("serve: cannot listen on %s (choose another with --listen): %w", cfg.Slack.Listen, errors.Unwrap(err))
	}
	ln := listen.Limit(raw, 0, "http", log)
	srv := listen.Server(listen.CloseOnRefusal(h), log)
	errc := make(chan error, 3)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("serve: %w", err)
		}
	}()
	if s.hubSrv != nil {
		go func() {
			var err error
			if cfg.Hub.TLSCert != "" {
				err = s.hubSrv.ServeTLS(s.hubLn, cfg.Hub.TLSCert, cfg.Hub.TLSKey)
			} else {
				log.Warn("vpndiag serve: the relay hub serves plain HTTP; relays accept that only on loopback (set hub.tls_cert and hub.tls_key)")
				err = s.hubSrv.Serve(s.hubLn)
			}
			if err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("serve: relay hub: %w", err)
			}
		}()
		log.Info("vpndiag serve: relay hub up", "hub_addr", s.hubLn.Addr().String(), "tls", cfg.Hub.TLSCert != "")
	}
	log.Info("vpndiag serve: listening", "addr", ln.Addr().String(), "mode", cfg.Slack.Mode, "db", s.db.Where, "version", vpndiag.Version)
	if cfg.Slack.Mode == "socket" {
		go func() { errc <- s.bot.RunSocketMode(ctx) }()
	}
	select {
	case <-ctx.Done():
		err = nil
	case err = <-errc:
	}
	log.Info("vpndiag serve: shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	if s.hubSrv != nil {
		_ = s.hubSrv.Shutdown(sctx)
		_ = s.hub.Close()
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
	d.Diagnoser = flows.NewEngine(nil, db.flowServices())
	x, err := newExporter(cfg, db)
	if err != nil {
		return d, err
	}
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
