// Package slack is the Slack transport of the vpndiag bot, on
// github.com/slack-go/slack: the /vpn-diagnose slash command, flow steps as
// Block Kit messages with buttons and modals in a case thread, evidence
// files shared in the thread, bundle uploads, in Socket Mode (default) or
// HTTP mode with Slack's request signatures verified.
//
// Every delivery is acknowledged first and worked on afterwards by a bounded
// worker pool; work on one case is serialised; deliveries Slack repeats
// (retries, replayed envelopes, double clicks) change nothing the second time.
package slack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	slackgo "github.com/slack-go/slack"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/bot"
	"github.com/vpndiag/vpndiag/conffile"
)

// DefaultCommand is the slash command the manifest registers.
const DefaultCommand = "/vpn-diagnose"

// Config configures a Bot.
type Config struct {
	// BotToken (xoxb-…) calls the Web API and downloads files.
	BotToken string
	// AppToken (xapp-…) opens Socket Mode connections.
	AppToken string
	// SigningSecret verifies HTTP-mode requests.
	SigningSecret string
	// APIURL is the Slack API base, ending in "/"; Slack's when empty.
	APIURL string
	// MaxBodyBytes caps an HTTP request body; conffile.DefaultMaxBodyBytes when zero.
	MaxBodyBytes int64
	// MaxUploadBytes caps an evidence file; conffile.DefaultMaxUploadBytes when zero.
	MaxUploadBytes int64
	// Command is the slash command as registered; DefaultCommand when empty.
	Command string
	// Policy says who may diagnose and export. When it names user groups
	// and has no Members, the bot resolves them with usergroups.users.list,
	// cached for five minutes.
	Policy bot.Policy
	// Workers and Queue size the worker pool for what follows an
	// acknowledgement (Slack calls, probes, files, bundles); 8 and 1024
	// when zero. The pool that stores what an acknowledgement promises has
	// 4×Workers workers and the same queue: its work waits on the disk,
	// and the more of it runs at once, the more writes one group commit
	// (one fsync) takes.
	Workers, Queue int
	// JobTimeout bounds one piece of work (a click, probes, an export);
	// 5 minutes when zero.
	JobTimeout time.Duration
	// MaxRetryAfter caps the wait before the one retry after Slack answers
	// "rate limited"; 30 s when zero.
	MaxRetryAfter time.Duration
	// Clock is the time source (signature window, markers); vpndiag.Now when nil.
	Clock vpndiag.Clock
	// SocketPingInterval is how long Socket Mode waits for Slack's ping
	// before reconnecting; slack-go's default (30 s) when zero.
	SocketPingInterval time.Duration
	// ReconnectMin and ReconnectMax bound the jittered backoff between
	// Socket Mode reconnects; 1 s and 2 min when zero.
	ReconnectMin, ReconnectMax time.Duration
	// HTTPClient calls Slack; http.DefaultClient's settings with a 30 s
	// timeout when nil.
	HTTPClient *http.Client
	// AckWait bounds how long an HTTP-mode acknowledgement of a command,
	// click or modal submission waits for the work it acknowledges to store
	// its state change, so that a request answered 200 is never lost when
	// the process dies afterwards; past it the request is answered 503 and
	// Slack delivers it again. 2.5 s (inside Slack's 3 s) when zero.
	AckWait time.Duration
	// MaxStartsPerUser caps how many cases one user may open within
	// StartWindow; more are refused with a message saying when to try
	// again. 10 when zero; negative disables the cap.
	MaxStartsPerUser int
	// StartWindow is the window of MaxStartsPerUser; 10 minutes when zero.
	StartWindow time.Duration
}

// FromConfig returns the Config of a loaded configuration file.
func FromConfig(c *conffile.Config) Config {
	return Config{
		BotToken:         c.Slack.BotToken,
		AppToken:         c.Slack.AppToken,
		SigningSecret:    c.Slack.SigningSecret,
		APIURL:           c.Slack.APIURL,
		MaxBodyBytes:     c.Slack.MaxBodyBytes,
		MaxUploadBytes:   c.Evidence.MaxUploadBytes,
		MaxStartsPerUser: c.Slack.MaxCaseStartsPerUser,
		Policy: bot.Policy{
			Channels:    c.Slack.AllowedChannels,
			Users:       c.Slack.AllowedUsers,
			Usergroups:  c.Slack.AllowedUsergroups,
			ExportUsers: c.Slack.ExportUsers,
			Admins:      c.Slack.Admins,
		},
	}
}

// Deps are the services the bot drives.
type Deps struct {
	// Cases, Sessions-backed Diagnoser, Sites, Events and Dedup are required.
	Cases     vpndiag.CaseService
	Sites     vpndiag.SiteService
	Events    vpndiag.EventService
	Dedup     vpndiag.DedupService
	Diagnoser vpndiag.Diagnoser
	// Findings, when set, lets status count a case's findings.
	Findings vpndiag.FindingService
	// Prober runs probe steps; without it probe steps say probes are unavailable.
	Prober vpndiag.Prober
	// Evidence analyses files shared in case threads; without it files are refused politely.
	Evidence bot.EvidenceIntake
	// Exporter builds bundles; without it export is refused politely.
	Exporter bot.Exporter
	// Logger receives the bot's log lines; slog.Default() when nil.
	Logger *slog.Logger
}

// Bot is the Slack bot. Create it with New, serve it with Handler (HTTP
// mode) or RunSocketMode, and Close it to drain the work queue.
type Bot struct {
	cfg      Config
	deps     Deps
	api      *slackgo.Client
	log      *slog.Logger
	now      vpndiag.Clock
	verifier *Verifier
	policy   *bot.Policy
	pool     *bot.Pool
	locks    bot.Locks
	apiURL   *url.URL

	ctx    context.Context
	cancel context.CancelFunc

	// connected is true while a Socket Mode connection is up (Slack said hello).
	connected atomic.Bool

	// starts limits case starts per user.
	starts startLimiter
	// hints limits the hints answering typed chatter in a case thread to
	// one per case per hintWindow (in memory: a restart forgets it).
	hints startLimiter

	// lives remembers the live step message of each case.
	lives lives
	// seen remembers deliveries in flight or handled.
	seen deliveries
	// acking runs the first part of each piece of work (see submit); pool
	// the rest.
	acking *bot.Pool
}

// deliveries remembers the deliveries being handled or handled by this
// process, so that one delivered again (Slack's retry of an HTTP request, a
// Socket Mode envelope replayed after a reconnect) is recognised without a
// database write. What a delivery changes is kept exactly once by the
// store itself (a transition's idempotency key, a claimed file); this only
// keeps a repeat from being answered twice.
type deliveries struct {
	mu    sync.Mutex
	m     map[string][]string // key → its aliases (the envelope key)
	order []string
}

// maxDeliveries bounds how many deliveries are remembered.
const maxDeliveries = 50000

// begin reports whether the delivery key (or its Socket Mode envelope) is
// new, and remembers it.
func (d *deliveries) begin(key, envelope string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.m == nil {
		d.m = map[string][]string{}
	}
	env := envKey(envelope)
	if _, ok := d.m[key]; ok {
		return false
	}
	if _, ok := d.m[env]; ok && env != "" {
		return false
	}
	d.m[key] = nil
	d.order = append(d.order, key)
	if env != "" {
		d.m[key] = []string{env}
		d.m[env] = nil
		d.order = append(d.order, env)
	}
	for len(d.order) > maxDeliveries {
		delete(d.m, d.order[0])
		d.order = d.order[1:]
	}
	return true
}

// end forgets the delivery when its work did not get done, so that Slack's
// retry of it is worked on.
func (d *deliveries) end(key string, done bool) {
	if done {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, a := range d.m[key] {
		delete(d.m, a)
	}
	delete(d.m, key)
}

// delivery is the work on one delivery remembered in deliveries, under key
// ("" for a delivery without one).
type delivery struct {
	seen   *deliveries
	key    string
	failed bool
}

// work starts the work on the delivery key (begun); the caller defers end.
func (d *deliveries) work(key string) *delivery { return &delivery{seen: d, key: key} }

// end ends the work: a delivery whose change was not stored is forgotten,
// so that Slack's retry of it is worked on.
func (w *delivery) end() {
	if w.key != "" {
		w.seen.end(w.key, !w.failed)
	}
}

// notStored says the delivery's change could not be stored (the database
// is busy or full): the delivery is forgotten at once, before the 503 goes
// (Slack's retry may come at once), and the acknowledgement waiting on ctx
// answers 503.
func (w *delivery) notStored(ctx context.Context) {
	w.failed = true
	w.end()
	notStored(ctx)
}

// claimDelivery claims w's key in the store (see claim), the one write the
// acknowledgement waits for: first is false for a delivery handled before;
// an error (logged, and w.notStored) means the claim could not be stored.
func (b *Bot) claimDelivery(ctx context.Context, w *delivery) (first bool, err error) {
	first, err = b.claim(ctx, w.key)
	if err != nil {
		b.log.Error("slack: dedup", "error", err)
		w.notStored(ctx)
	}
	return first, err
}

// Connected reports whether the bot can hear from Slack: in Socket Mode,
// whether the websocket is up; in HTTP mode Slack calls in, so always true.
func (b *Bot) Connected() bool {
	if b.cfg.AppToken == "" {
		return true
	}
	return b.connected.Load()
}

// New checks cfg and deps and returns a Bot whose worker pool is running.
func New(cfg Config, deps Deps) (*Bot, error) {
	var missing []string
	if deps.Cases == nil {
		missing = append(missing, "Cases")
	}
	if deps.Sites == nil {
		missing = append(missing, "Sites")
	}
	if deps.Events == nil {
		missing = append(missing, "Events")
	}
	if deps.Dedup == nil {
		missing = append(missing, "Dedup")
	}
	if deps.Diagnoser == nil {
		missing = append(missing, "Diagnoser")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("slack bot: missing dependencies: %s", strings.Join(missing, ", "))
	}
	if cfg.BotToken == "" {
		return nil, errors.New("slack bot: a bot token is required")
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = conffile.DefaultMaxBodyBytes
	}
	if cfg.MaxUploadBytes == 0 {
		cfg.MaxUploadBytes = conffile.DefaultMaxUploadBytes
	}
	if cfg.Command == "" {
		cfg.Command = DefaultCommand
	}
	if cfg.Workers == 0 {
		cfg.Workers = 8
	}
	if cfg.Queue == 0 {
		cfg.Queue = 1024
	}
	if cfg.JobTimeout == 0 {
		cfg.JobTimeout = 5 * time.Minute
	}
	if cfg.MaxRetryAfter == 0 {
		cfg.MaxRetryAfter = 30 * time.Second
	}
	if cfg.Clock == nil {
		cfg.Clock = vpndiag.Now
	}
	if cfg.ReconnectMin == 0 {
		cfg.ReconnectMin = time.Second
	}
	if cfg.ReconnectMax == 0 {
		cfg.ReconnectMax = 2 * time.Minute
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if cfg.AckWait == 0 {
		cfg.AckWait = 2500 * time.Millisecond
	}
	if cfg.MaxStartsPerUser == 0 {
		cfg.MaxStartsPerUser = 10
	}
	if cfg.StartWindow == 0 {
		cfg.StartWindow = 10 * time.Minute
	}
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	opts := []slackgo.Option{slackgo.OptionHTTPClient(cfg.HTTPClient)}
	if cfg.AppToken != "" {
		opts = append(opts, slackgo.OptionAppLevelToken(cfg.AppToken))
	}
	apiURL := "https://slack.com/api/"
	if cfg.APIURL != "" {
		apiURL = cfg.APIURL
		opts = append(opts, slackgo.OptionAPIURL(cfg.APIURL))
	}
	u, err := url.Parse(apiURL)
	if err != nil {
		return nil, fmt.Errorf("slack bot: api url: %w", err)
	}
	b := &Bot{
		cfg:      cfg,
		deps:     deps,
		api:      slackgo.New(cfg.BotToken, opts...),
		log:      deps.Logger.With("component", "slack"),
		now:      cfg.Clock,
		verifier: &Verifier{Secret: cfg.SigningSecret, Clock: cfg.Clock},
		pool:     bot.NewPool(cfg.Workers, cfg.Queue),
		acking:   bot.NewPool(4*cfg.Workers, cfg.Queue),
		apiURL:   u,
		starts:   startLimiter{max: cfg.MaxStartsPerUser, window: cfg.StartWindow, now: cfg.Clock},
		hints:    startLimiter{max: 1, window: hintWindow, now: cfg.Clock},
	}
	policy := cfg.Policy
	if policy.Members == nil && (len(policy.Usergroups) > 0 || hasGroup(policy.ExportUsers)) {
		policy.Members = &bot.CachedMembers{Source: usergroups{b}, Clock: cfg.Clock}
	}
	b.policy = &policy
	b.ctx, b.cancel = context.WithCancel(context.Background())
	return b, nil
}

func hasGroup(ids []string) bool {
	for _, id := range ids {
		if strings.HasPrefix(id, "S") {
			return true
		}
	}
	return false
}

// Close stops accepting work, waits for queued work to finish, then cancels
// what is still running.
func (b *Bot) Close() error {
	done := make(chan struct{})
	go func() { b.pool.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(b.cfg.JobTimeout):
		b.cancel()
		<-done
	}
	b.cancel()
	return nil
}

// submit runs the work of one delivery in two parts, on two bounded pools.
// The first part (on the acknowledging pool; false when its queue is full,
// so the caller can tell the user to try again) stores the delivery's state
// change (a claim, a transition) and calls committed, which lets the
// acknowledgement go. What it hands to later (posting the next step,
// running probes, reading a file, building a bundle) runs afterwards on the
// worker pool, so an acknowledgement never waits behind the Slack calls of
// earlier work.
// When acks is not nil, the acknowledgement waits until the work calls
// committed (or its first part ends).
func (b *Bot) submit(name string, acks *commits, fn func(ctx context.Context)) bool {
	w := &work{done: make(chan struct{})}
	err := b.acking.Submit(func() {
		defer w.signal(true)
		ctx, cancel := context.WithTimeout(b.ctx, b.cfg.JobTimeout)
		ph := &phase{}
		ctx = context.WithValue(context.WithValue(ctx, workKey{}, w), phaseKey{}, ph)
		if !b.safely(name, func() { fn(ctx) }) {
			w.signal(false)
		}
		w.signal(true)
		if len(ph.later) == 0 {
			cancel()
			return
		}
		job := func() {
			defer cancel()
			lctx := context.WithValue(ctx, phaseKey{}, (*phase)(nil))
			for _, f := range ph.later {
				var err error
				b.safely(name, func() { err = f(lctx) })
				if err != nil {
					if ph.onErr != nil {
						ph.onErr(lctx, err)
					} else {
						b.log.Warn("slack: work failed", "job", name, "error", err)
					}
					return
				}
			}
		}
		submit := b.pool.Submit
		if uploadJobs[name] {
			// Downloads and analysis of shared files run on the pool's
			// heavy workers, so that uploads never hold the workers of
			// commands and clicks.
			submit = b.pool.SubmitHeavy
		}
		if submit(job) != nil {
			// The state change is stored: what shows it must not be
			// dropped, so it runs here when the pool is full.
			job()
		}
	})
	if err != nil {
		b.log.Warn("slack: work queue full; delivery refused", "job", name)
		return false
	}
	acks.add(w)
	return true
}

// safely runs fn and reports false when it panicked (logged).
func (b *Bot) safely(name string, fn func()) (ok bool) {
	defer func() {
		if r := recover(); r != nil {
			b.log.Error("slack: work panicked", "job", name, "panic", r)
			ok = false
		}
	}()
	fn()
	return true
}

// phase collects what the first part of a piece of work hands to later.
type phase struct {
	later []func(context.Context) error
	// onErr reports an error of the later part to the user.
	onErr func(context.Context, error)
}

// phaseKey keys the phase of a context.
type phaseKey struct{}

// later runs fn after the first part of the work of ctx, on the worker
// pool, or at once when ctx is already past its first part.
func later(ctx context.Context, fn func(context.Context) error) error {
	if ph, ok := ctx.Value(phaseKey{}).(*phase); ok && ph != nil {
		ph.later = append(ph.later, fn)
		return nil
	}
	return fn(ctx)
}

// laterLocked is later for work on one case: fn runs holding the case's
// lock, taken when it runs.
func (b *Bot) laterLocked(ctx context.Context, caseID int64, fn func(context.Context) error) error {
	return later(ctx, func(ctx context.Context) error {
		unlock, err := b.locks.Lock(ctx, caseID)
		if err != nil {
			return err
		}
		defer unlock()
		return fn(ctx)
	})
}

// onLaterError sets how an error of the later part of the work of ctx is
// reported.
func onLaterError(ctx context.Context, fn func(context.Context, error)) {
	if ph, ok := ctx.Value(phaseKey{}).(*phase); ok && ph != nil {
		ph.onErr = fn
	}
}

// work is one queued piece of work an acknowledgement may wait for.
type work struct {
	once   sync.Once
	done   chan struct{}
	stored bool
}

// signal ends the wait: stored says whether the work's state change is
// stored (or it had none to store). Only the first signal counts.
func (w *work) signal(stored bool) {
	w.once.Do(func() {
		w.stored = stored
		close(w.done)
	})
}

// workKey keys the work of a context.
type workKey struct{}

// committed tells the acknowledgement waiting on the work of ctx, if any,
// that its state change is stored: from here on, a crash loses nothing the
// acknowledgement promised.
func committed(ctx context.Context) {
	if w, ok := ctx.Value(workKey{}).(*work); ok {
		w.signal(true)
	}
}

// notStored tells the acknowledgement waiting on the work of ctx, if any,
// that the work could not store its state change (the database is full or
// locked): the request is answered 503, so Slack delivers it again. It does
// nothing after committed.
func notStored(ctx context.Context) {
	if w, ok := ctx.Value(workKey{}).(*work); ok {
		w.signal(false)
	}
}

// commits collects the work an acknowledgement waits for. A nil *commits
// collects nothing (Socket Mode).
type commits struct{ works []*work }

func (c *commits) add(w *work) {
	if c != nil {
		c.works = append(c.works, w)
	}
}

// wait reports whether every piece of work stored its state change before
// the deadline.
func (c *commits) wait(d time.Duration) bool {
	if c == nil || len(c.works) == 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	for _, w := range c.works {
		select {
		case <-w.done:
			if !w.stored {
				return false
			}
		case <-t.C:
			return false
		}
	}
	return true
}

// startLimiter caps events per key within a sliding window: case starts
// per user, hints per case thread.
type startLimiter struct {
	max    int
	window time.Duration
	now    vpndiag.Clock

	mu    sync.Mutex
	users map[string][]time.Time
}

// inWindow drops the starts of user that left the window and returns the
// rest. The caller holds l.mu.
func (l *startLimiter) inWindow(user string) []time.Time {
	now := l.now()
	if l.users == nil {
		l.users = map[string][]time.Time{}
	}
	// Forget users whose starts have all left the window, so the map stays
	// as small as the set of recently active users.
	if len(l.users) > 10000 {
		for u, ts := range l.users {
			if now.Sub(ts[len(ts)-1]) >= l.window {
				delete(l.users, u)
			}
		}
	}
	ts := l.users[user]
	for len(ts) > 0 && now.Sub(ts[0]) >= l.window {
		ts = ts[1:]
	}
	l.users[user] = ts
	return ts
}

// allow records a start by user and returns 0, or refuses it and returns
// how long until the oldest start in the window leaves it.
func (l *startLimiter) allow(user string) time.Duration {
	if l.max < 0 {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	ts := l.inWindow(user)
	if len(ts) >= l.max {
		return l.window - l.now().Sub(ts[0])
	}
	l.users[user] = append(ts, l.now())
	return 0
}

// forget takes back the latest start of user: it did not open a case, so
// it does not count against the cap.
func (l *startLimiter) forget(user string) {
	if l.max < 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if ts := l.users[user]; len(ts) > 0 {
		l.users[user] = ts[:len(ts)-1]
	}
}

// claim reports whether every key is claimed for the first time. A key
// already claimed means the delivery was handled before: nothing is done.
func (b *Bot) claim(ctx context.Context, keys ...string) (bool, error) {
	for _, k := range keys {
		if k == "" {
			continue
		}
		first, err := b.deps.Dedup.Claim(ctx, k)
		if err != nil {
			return false, fmt.Errorf("claim %s: %w", k, err)
		}
		if !first {
			b.log.Info("slack: duplicate delivery ignored", "key", k)
			return false, nil
		}
	}
	return true, nil
}

// usergroups resolves user groups with usergroups.users.list.
type usergroups struct{ b *Bot }

func (u usergroups) UsergroupMembers(ctx context.Context, group string) ([]string, error) {
	var ms []string
	err := u.b.call(ctx, "usergroups.users.list", func(ctx context.Context) error {
		var err error
		ms, err = u.b.api.GetUserGroupMembersContext(ctx, group)
		return err
	})
	return ms, err
}
