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
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/vpndiag/vpndiag/bench/internal/row"
	sl "github.com/vpndiag/vpndiag/bench/internal/slackload"
	"github.com/vpndiag/vpndiag/bench/loadgen"
	botslack "github.com/vpndiag/vpndiag/bot/slack"
	"github.com/vpndiag/vpndiag/flows"
	"github.com/vpndiag/vpndiag/storage/postgres"
	"github.com/vpndiag/vpndiag/storage/sqlite"
)

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
	rs, err := sl.ParseRates(*rates)
	if err != nil {
		fail(err)
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

func fail(err error) { sl.Fail("replbench", err) }

func openSQLite(path string) (sl.Services, func(), error) {
	db := sqlite.NewDB(path)
	if err := db.Open(); err != nil {
		return sl.Services{}, nil, err
	}
	return sl.Services{Services: flows.Services{Cases: sqlite.NewCaseService(db), Sessions: sqlite.NewSessionService(db), Events: sqlite.NewEventService(db),
		Sites: sqlite.NewSiteService(db), Findings: sqlite.NewFindingService(db), Probes: sqlite.NewProbeService(db)},
		Dedup: sqlite.NewDedupService(db)}, func() { db.Close() }, nil
}

func openPostgres(ctx context.Context, dsn string) (sl.Services, func(), error) {
	db := postgres.NewDB(dsn)
	db.MaxConns = 16
	if err := db.Open(ctx); err != nil {
		return sl.Services{}, nil, err
	}
	return sl.Services{Services: flows.Services{Cases: postgres.NewCaseService(db), Sessions: postgres.NewSessionService(db), Events: postgres.NewEventService(db),
		Sites: postgres.NewSiteService(db), Findings: postgres.NewFindingService(db), Probes: postgres.NewProbeService(db)},
		Dedup: postgres.NewDedupService(db)}, func() { db.Close() }, nil
}

func run(ctx context.Context, dsn, dir string, rates []int, replicas, replicaRate int, seconds float64) error {
	slack, err := sl.StartSlack()
	if err != nil {
		return err
	}
	defer slack.Close()
	log := &sl.LogCounter{}
	defer log.Report("replbench")

	bareURL, stopBare, err := sl.ListenBare()
	if err != nil {
		return err
	}
	defer stopBare()

	ls, closeSQLite, err := openSQLite(filepath.Join(dir, "replbench.db"))
	if err != nil {
		return fmt.Errorf("open SQLite: %w", err)
	}
	defer closeSQLite()
	lite, err := sl.StartBot(ls, slack.URL, log)
	if err != nil {
		return err
	}
	defer lite.Close()
	var pgBots []*sl.Bot
	for i := 0; i < max(replicas, 1); i++ {
		ps, closePG, err := openPostgres(ctx, dsn)
		if err != nil {
			return fmt.Errorf("open PostgreSQL: %w", err)
		}
		defer closePG()
		b, err := sl.StartBot(ps, slack.URL, log)
		if err != nil {
			return err
		}
		defer b.Close()
		pgBots = append(pgBots, b)
	}

	hook := slack.CommandHook()
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
			return sl.Signed(urls[i%len(urls)], botslack.PathCommands,
				sl.Command(fmt.Sprintf("U%d%06d", phase, i), channel, text, fmt.Sprintf("t%d.%d", phase, i), hook))
		}}
		if check {
			cfg.Check = sl.NotBusy
		}
		res, err := loadgen.Run(ctx, cfg)
		return res, channel, err
	}
	// committed waits until the acknowledged cases of channel are stored
	// with their sessions, or the count stops growing.
	committed := func(b *sl.Bot, channel string, want int) (int, time.Duration, error) {
		cs, waited, err := b.WaitCases(ctx, channel, want)
		return len(cs), waited, err
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
		sq, sqChan, err := load([]string{lite.URL}, rate, true)
		if err != nil {
			return err
		}
		sqN, sqDrain, err := committed(lite, sqChan, sq.OK)
		if err != nil {
			return err
		}
		pg, pgChan, err := load([]string{pgBots[0].URL}, rate, true)
		if err != nil {
			return err
		}
		pgN, pgDrain, err := committed(pgBots[0], pgChan, pg.OK)
		if err != nil {
			return err
		}
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
			urls[i] = b.URL
		}
		bare, _, err := load([]string{bareURL}, replicaRate, false)
		if err != nil {
			return err
		}
		r, ch, err := load(urls, replicaRate, true)
		if err != nil {
			return err
		}
		n, drain, err := committed(pgBots[0], ch, r.OK)
		if err != nil {
			return err
		}
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
	return nil
}

func ratio(a, b time.Duration) string {
	if b <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f×", float64(a)/float64(b))
}
