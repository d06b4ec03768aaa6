// Command replbench measures what PostgreSQL costs the Slack bot's
// acknowledgement: the ack p99 of signed slash commands (each opens a case:
// a case, its event, a session and a delivery key are written before the
// work goes on) on PostgreSQL, beside the same bot on an SQLite file and a
// bare net/http handler that only answers 200, at the same fixed rates with
// the same open-loop load generator; then several replicas of the bot on one
// PostgreSQL database, the load spread over them round robin as a balancer
// would, at a higher rate.
//
//	go run ./bench/cmd/replbench -db postgres://… -rates 100,500 -replicas 3 -replica-rate 1000
//
// The replicas run in this process, each with its own bot, flow engine and
// connection pool, so they share the machine's cores as separate processes
// on one host would. After each phase it waits until every acknowledged
// case is committed and reports how many were. It prints a summary on
// stderr and ROW lines (bench/internal/row) on stdout. Only loopback and
// the given database are used; the database should be empty and is left
// with the benchmark's cases.
package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/bench/internal/row"
	"github.com/vpndiag/vpndiag/bench/loadgen"
	botslack "github.com/vpndiag/vpndiag/bot/slack"
	"github.com/vpndiag/vpndiag/flows"
	"github.com/vpndiag/vpndiag/storage/postgres"
	"github.com/vpndiag/vpndiag/storage/sqlite"
)

// secret is the signing secret shared by the generator and the bots.
const secret = "bench-signing-secret-0123456789ab"

// goalP99 is the ack p99 the replicas must stay under at their rate: far
// inside Slack's 3 s and the bot's own 2.5 s acknowledgement deadline. One
// bot on PostgreSQL is held to twice SQLite's p99 in the same run.
const goalP99 = 100 * time.Millisecond

func main() {
	dbURL := flag.String("db", "", "PostgreSQL database URL, postgres://… (required; an empty database)")
	rates := flag.String("rates", "100,500", "comma-separated request rates per second for the one-bot comparison")
	replicas := flag.Int("replicas", 3, "replicas of the bot on PostgreSQL for the last phase")
	replicaRate := flag.Int("replica-rate", 1000, "request rate of the replica phase")
	seconds := flag.Float64("seconds", 3, "seconds of timed load per phase")
	flag.Parse()
	if !postgres.IsURL(*dbURL) {
		fail(errors.New("-db: give a postgres:// URL"))
	}
	var rs []int
	for _, f := range strings.Split(*rates, ",") {
		r, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || r <= 0 || r > 5000 {
			fail(fmt.Errorf("-rates: %q is not a rate from 1 to 5000", f))
		}
		rs = append(rs, r)
	}
	if *seconds <= 0 || *seconds > 30 || *replicas < 1 || *replicas > 8 || *replicaRate <= 0 || *replicaRate > 5000 {
		fail(errors.New("-seconds must be in (0, 30], -replicas in [1, 8], -replica-rate in [1, 5000]"))
	}
	dir, err := os.MkdirTemp("", "vpndiag-replbench-")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(dir)
	if err := run(context.Background(), *dbURL, dir, rs, *replicas, *replicaRate, *seconds); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "replbench:", err)
	os.Exit(1)
}

// bot is one bot in HTTP mode on its own loopback listener.
type bot struct {
	url   string
	cases vpndiag.CaseService
	sess  vpndiag.SessionService
	close func()
}

// services are what a bot is wired to.
type services struct {
	cases    vpndiag.CaseService
	sessions vpndiag.SessionService
	events   vpndiag.EventService
	sites    vpndiag.SiteService
	findings vpndiag.FindingService
	probes   vpndiag.ProbeService
	dedup    vpndiag.DedupService
}

// errorLog counts the bots' warnings and errors, formatting each record as
// JSON as production does.
type errorLog struct {
	json slog.Handler
	n    atomic.Int64
}

func (l *errorLog) Enabled(_ context.Context, lv slog.Level) bool { return lv >= slog.LevelInfo }
func (l *errorLog) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		l.n.Add(1)
	}
	return l.json.Handle(ctx, r)
}
func (l *errorLog) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *errorLog) WithGroup(string) slog.Handler      { return l }

func listen(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}

// startBot wires a bot as `vpndiag serve` does and serves it.
func startBot(s services, slackURL string, log *errorLog) (*bot, error) {
	engine := flows.NewEngine(nil, flows.Services{Cases: s.cases, Sessions: s.sessions, Events: s.events, Sites: s.sites,
		Findings: s.findings, Probes: s.probes})
	b, err := botslack.New(botslack.Config{BotToken: "xoxb-bench", SigningSecret: secret, APIURL: slackURL},
		botslack.Deps{Cases: s.cases, Sites: s.sites, Events: s.events, Dedup: s.dedup, Diagnoser: engine,
			Findings: s.findings, Logger: slog.New(log)})
	if err != nil {
		return nil, err
	}
	u, stop, err := listen(b.Handler())
	if err != nil {
		b.Close()
		return nil, err
	}
	return &bot{url: u, cases: s.cases, sess: s.sessions, close: func() { stop(); _ = b.Close() }}, nil
}

func openSQLite(path string) (services, func(), error) {
	db := sqlite.NewDB(path)
	if err := db.Open(); err != nil {
		return services{}, nil, err
	}
	return services{sqlite.NewCaseService(db), sqlite.NewSessionService(db), sqlite.NewEventService(db),
		sqlite.NewSiteService(db), sqlite.NewFindingService(db), sqlite.NewProbeService(db), sqlite.NewDedupService(db)}, func() { db.Close() }, nil
}

func openPostgres(ctx context.Context, dsn string) (services, func(), error) {
	db := postgres.NewDB(dsn)
	db.MaxConns = 16
	if err := db.Open(ctx); err != nil {
		return services{}, nil, err
	}
	return services{postgres.NewCaseService(db), postgres.NewSessionService(db), postgres.NewEventService(db),
		postgres.NewSiteService(db), postgres.NewFindingService(db), postgres.NewProbeService(db), postgres.NewDedupService(db)}, func() { db.Close() }, nil
}

func run(ctx context.Context, dsn, dir string, rates []int, replicas, replicaRate int, seconds float64) error {
	// The fake Slack Web API: every method succeeds.
	var ts atomic.Int64
	slackURL, stopSlack, err := listen(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		n := ts.Add(1)
		fmt.Fprintf(w, `{"ok":true,"channel":"C1","ts":"1700000000.%06d","message_ts":"1700000000.%06d"}`, n, n)
	}))
	if err != nil {
		return err
	}
	defer stopSlack()
	slackURL += "/api/"
	log := &errorLog{json: slog.NewJSONHandler(io.Discard, nil)}

	bareURL, stopBare, err := listen(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	if err != nil {
		return err
	}
	defer stopBare()

	ls, closeSQLite, err := openSQLite(filepath.Join(dir, "replbench.db"))
	if err != nil {
		return fmt.Errorf("open SQLite: %w", err)
	}
	defer closeSQLite()
	lite, err := startBot(ls, slackURL, log)
	if err != nil {
		return err
	}
	defer lite.close()
	var pgBots []*bot
	for i := 0; i < max(replicas, 1); i++ {
		ps, closePG, err := openPostgres(ctx, dsn)
		if err != nil {
			return fmt.Errorf("open PostgreSQL: %w", err)
		}
		defer closePG()
		b, err := startBot(ps, slackURL, log)
		if err != nil {
			return err
		}
		defer b.close()
		pgBots = append(pgBots, b)
	}

	hook := slackURL + "hooks/commands/T0001/1"
	phase := 0
	// load sends n signed "start" commands at rate, round robin over urls,
	// each from its own user in a channel of the phase's own.
	load := func(urls []string, rate int, check bool) (*loadgen.Result, string, error) {
		phase++
		channel := fmt.Sprintf("CREPL%d", phase)
		n := int(float64(rate) * seconds)
		warm := min(rate/2, 200)
		cfg := loadgen.Config{Rate: rate, N: n, Warmup: warm, Request: func(i int) (*http.Request, error) {
			text := "start bench case"
			if i < warm {
				text = "help"
			}
			return signed(urls[i%len(urls)], botslack.PathCommands,
				command(fmt.Sprintf("U%d%06d", phase, i), channel, text, fmt.Sprintf("t%d.%d", phase, i), hook))
		}}
		if check {
			cfg.Check = func(_ int, _ *http.Response, body []byte) error {
				if bytes.Contains(body, []byte("busy")) {
					return errors.New("acknowledged as busy: work refused")
				}
				return nil
			}
		}
		res, err := loadgen.Run(ctx, cfg)
		return res, channel, err
	}
	// committed waits until the acknowledged cases of channel are stored
	// with their sessions, or the count stops growing.
	committed := func(b *bot, channel string, want int) (int, time.Duration) {
		t0, last, lastChange := time.Now(), -1, time.Now()
		for {
			cs, _, err := b.cases.FindCases(ctx, vpndiag.CaseFilter{ChannelID: &channel})
			ready := 0
			if err == nil {
				for _, c := range cs {
					if _, err := b.sess.FindSession(ctx, c.ID); err == nil {
						ready++
					}
				}
			}
			if ready != last {
				last, lastChange = ready, time.Now()
			}
			if ready >= want || time.Since(lastChange) > 5*time.Second {
				return ready, time.Since(t0)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	summary := func(name string, r *loadgen.Result) string {
		s := fmt.Sprintf("%s p50 %s p99 %s max %s (ok %d/%d, %.0f/s, max lag %s", name, row.Ms(r.P50), row.Ms(r.P99), row.Ms(r.Max),
			r.OK, r.Sent, r.Achieved, row.Ms(r.MaxLag))
		if r.FirstError != "" {
			s += ", first failure: " + r.FirstError
		}
		return s + ")"
	}

	for _, rate := range rates {
		bare, _, err := load([]string{bareURL}, rate, false)
		if err != nil {
			return err
		}
		sq, sqChan, err := load([]string{lite.url}, rate, true)
		if err != nil {
			return err
		}
		sqN, sqDrain := committed(lite, sqChan, sq.OK)
		pg, pgChan, err := load([]string{pgBots[0].url}, rate, true)
		if err != nil {
			return err
		}
		pgN, pgDrain := committed(pgBots[0], pgChan, pg.OK)
		fmt.Fprintf(os.Stderr, "ack slash command %4d req/s: %s, committed %d in %s | %s, committed %d in %s | %s\n", rate,
			summary("PostgreSQL", pg), pgN, pgDrain.Round(time.Millisecond), summary("SQLite", sq), sqN, sqDrain.Round(time.Millisecond),
			summary("bare", bare))
		met := pg.P99 <= 2*sq.P99 && pg.Failed == 0 && pgN == pg.OK
		row.Row{
			Figure:   fmt.Sprintf("ack p99, slash command, %d req/s: PostgreSQL vs SQLite vs bare handler", rate),
			Subject:  fmt.Sprintf("PostgreSQL p99 %s (%d/%d ok, all committed: %v)", row.Ms(pg.P99), pg.OK, pg.Sent, pgN == pg.OK),
			Baseline: fmt.Sprintf("SQLite p99 %s; bare p99 %s", row.Ms(sq.P99), row.Ms(bare.P99)),
			Ratio:    ratio(pg.P99, sq.P99) + " SQLite",
			Goal:     "p99 ≤ 2× SQLite's, none refused or lost",
			Met:      &met,
		}.Print(os.Stdout)
	}

	if replicas > 1 {
		urls := make([]string, len(pgBots))
		for i, b := range pgBots {
			urls[i] = b.url
		}
		bare, _, err := load([]string{bareURL}, replicaRate, false)
		if err != nil {
			return err
		}
		r, ch, err := load(urls, replicaRate, true)
		if err != nil {
			return err
		}
		n, drain := committed(pgBots[0], ch, r.OK)
		fmt.Fprintf(os.Stderr, "ack slash command %4d req/s over %d replicas on PostgreSQL: %s, committed %d in %s | %s\n",
			replicaRate, replicas, summary("replicas", r), n, drain.Round(time.Millisecond), summary("bare", bare))
		met := r.P99 <= goalP99 && r.Failed == 0 && n == r.OK
		row.Row{
			Figure:   fmt.Sprintf("ack p99, slash command, %d req/s over %d replicas on one PostgreSQL", replicaRate, replicas),
			Subject:  fmt.Sprintf("p99 %s (%d/%d ok, all committed: %v)", row.Ms(r.P99), r.OK, r.Sent, n == r.OK),
			Baseline: fmt.Sprintf("bare p99 %s", row.Ms(bare.P99)),
			Ratio:    ratio(r.P99, bare.P99) + " bare",
			Goal:     "p99 ≤ " + row.Ms(goalP99) + ", none refused or lost",
			Met:      &met,
		}.Print(os.Stdout)
	}
	if n := log.n.Load(); n > 0 {
		fmt.Fprintf(os.Stderr, "replbench: the bots logged %d warnings or errors\n", n)
	}
	return nil
}

func ratio(a, b time.Duration) string {
	if b <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f×", float64(a)/float64(b))
}

// signed returns a POST of a form body signed as Slack signs it.
func signed(base, path string, body []byte) (*http.Request, error) {
	req, err := http.NewRequest(http.MethodPost, base+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "v0:%s:", ts)
	mac.Write(body)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
	return req, nil
}

// command is the form of a slash command as Slack sends it.
func command(user, channel, text, trigger, responseURL string) []byte {
	f := url.Values{}
	f.Set("token", "gIkuvaNzQIHg97ATvDxqgjtO")
	f.Set("team_id", "T0001")
	f.Set("team_domain", "example")
	f.Set("channel_id", channel)
	f.Set("channel_name", "vpn-bench")
	f.Set("user_id", user)
	f.Set("user_name", "oncall-"+user)
	f.Set("command", botslack.DefaultCommand)
	f.Set("text", text)
	f.Set("api_app_id", "A123456")
	f.Set("response_url", responseURL)
	f.Set("trigger_id", trigger)
	return []byte(f.Encode())
}
