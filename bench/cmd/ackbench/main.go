// Command ackbench measures how fast the Slack bot acknowledges signed
// slash commands and button clicks in HTTP mode, against a bare net/http
// handler that only answers 200, with the same open-loop load generator at
// the same fixed rates on loopback.
//
// The bot is the real one (bot/slack's Handler, the built-in flows on the
// flow engine, a SQLite file on disk) talking to a minimal fake Slack Web
// API on loopback. It acknowledges first and works afterwards, so after
// each phase ackbench waits until the work is committed to SQLite (a case
// and a session per command, a transition per click) and reports how many
// were committed and how long the queue took to drain.
//
//	go run ./bench/cmd/ackbench -rates 100,500,1000 -seconds 3
//
// It prints a human summary on stderr and ROW lines (see bench/internal/row)
// on stdout. Only loopback is used.
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

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/bench/internal/row"
	sl "github.com/vpndiag/vpndiag/bench/internal/slackload"
	"github.com/vpndiag/vpndiag/bench/loadgen"
	"github.com/vpndiag/vpndiag/bot"
	botslack "github.com/vpndiag/vpndiag/bot/slack"
	"github.com/vpndiag/vpndiag/flows"
	"github.com/vpndiag/vpndiag/storage/sqlite"
)

func main() {
	rates := flag.String("rates", "100,500,1000", "comma-separated request rates per second")
	seconds := flag.Float64("seconds", 3, "seconds of timed load per rate and kind")
	dir := flag.String("dir", "", "directory for the SQLite file (default: a new temporary directory, removed after)")
	flag.Parse()
	rs, err := sl.ParseRates(*rates)
	if err != nil {
		fail(err)
	}
	if *seconds <= 0 || *seconds > 30 {
		fail(errors.New("-seconds must be more than 0 and at most 30"))
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "vpndiag-ackbench-")
		if err != nil {
			fail(err)
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	if err := run(context.Background(), rs, *seconds, *dir); err != nil {
		fail(err)
	}
}

func fail(err error) { sl.Fail("ackbench", err) }

// env is the bot in HTTP mode, the bare handler and the fake Slack, each on
// its own loopback listener.
type env struct {
	sessions *sqlite.SessionService
	bot      *sl.Bot
	bareURL  string
	slack    *sl.Slack
	logs     sl.LogCounter
	closers  []func()
}

func start(dir string) (*env, error) {
	e := &env{}
	var err error
	if e.slack, err = sl.StartSlack(); err != nil {
		return nil, err
	}
	e.closers = append(e.closers, e.slack.Close)

	db := sqlite.NewDB(filepath.Join(dir, "ackbench.db"))
	if err := db.Open(); err != nil {
		e.close()
		return nil, fmt.Errorf("open database: %w", err)
	}
	e.closers = append(e.closers, func() { _ = db.Close() })
	e.sessions = sqlite.NewSessionService(db)
	// Log lines are formatted as in production; warnings and errors are
	// kept for the report.
	if e.bot, err = sl.StartBot(sl.Services{Services: flows.Services{Cases: sqlite.NewCaseService(db), Sessions: e.sessions, Events: sqlite.NewEventService(db),
		Sites: sqlite.NewSiteService(db), Findings: sqlite.NewFindingService(db), Probes: sqlite.NewProbeService(db)},
		Dedup: sqlite.NewDedupService(db)}, e.slack.URL, &e.logs); err != nil {
		e.close()
		return nil, err
	}
	e.closers = append(e.closers, e.bot.Close)
	bareURL, stop, err := sl.ListenBare()
	if err != nil {
		e.close()
		return nil, err
	}
	e.bareURL = bareURL
	e.closers = append(e.closers, stop)
	return e, nil
}

func (e *env) close() {
	for i := len(e.closers) - 1; i >= 0; i-- {
		e.closers[i]()
	}
}

type measured struct {
	kind       string
	bare, bot  *loadgen.Result
	committed  int
	drain      time.Duration
	slackCalls int64
	// busy counts acknowledgements whose work was refused (queue full)
	// and the user told so.
	busy int64
}

func run(ctx context.Context, rates []int, seconds float64, dir string) error {
	e, err := start(dir)
	if err != nil {
		return err
	}
	defer e.close()
	defer e.logs.Report("ackbench")
	var all []measured
	for _, rate := range rates {
		n := int(float64(rate) * seconds)
		warm := min(rate/2, 200)
		channel := fmt.Sprintf("CBENCH%d", rate)
		hook := e.slack.CommandHook()
		user := func(i int) string { return fmt.Sprintf("U%d%06d", rate, i) }
		warmCmd := func(i int) []byte {
			return sl.Command(user(i), channel, "help", fmt.Sprintf("w%d.%d.trigger", rate, i), hook)
		}

		// Bare handler: the same signed slash command bodies.
		bare, err := loadgen.Run(ctx, loadgen.Config{Rate: rate, N: n, Warmup: warm, Request: func(i int) (*http.Request, error) {
			return sl.Signed(e.bareURL, botslack.PathCommands, sl.Command(user(i), channel, "start bench", fmt.Sprintf("b%d.%d.trigger", rate, i), hook))
		}})
		if err != nil {
			return err
		}
		// Slash commands: each opens a case (root message, case, session, first step).
		calls0, busy0 := e.slack.Calls.Load(), e.slack.Busy.Load()
		cmd, err := loadgen.Run(ctx, loadgen.Config{Rate: rate, N: n, Warmup: warm, Check: sl.NotBusy, Request: func(i int) (*http.Request, error) {
			if i < warm {
				return sl.Signed(e.bot.URL, botslack.PathCommands, warmCmd(i))
			}
			return sl.Signed(e.bot.URL, botslack.PathCommands, sl.Command(user(i), channel, "start bench case", fmt.Sprintf("c%d.%d.trigger", rate, i), hook))
		}})
		if err != nil {
			return err
		}
		cases, drain, err := e.bot.WaitCases(ctx, channel, cmd.OK)
		if err != nil {
			return err
		}
		if len(cases) < cmd.OK {
			fmt.Fprintf(os.Stderr, "ackbench: only %d of %d acknowledged commands committed (no progress for %s)\n", len(cases), cmd.OK, sl.Stall)
		}
		m := measured{kind: "slash command", bare: bare, bot: cmd, committed: len(cases), drain: drain, slackCalls: e.slack.Calls.Load() - calls0,
			busy: int64(cmd.Failed) + e.slack.Busy.Load() - busy0}
		all = append(all, m)
		report(m, rate)

		// Button clicks: one per case, on its current step's first choice.
		type target struct {
			cs   *vpndiag.Case
			seq  int
			body []byte
		}
		var targets []target
		for i, cs := range cases {
			st, err := e.bot.Engine.Current(ctx, cs.ID)
			if err != nil {
				return fmt.Errorf("current step of case %d: %w", cs.ID, err)
			}
			if st.Kind != vpndiag.StepQuestion || len(st.Choices) == 0 {
				return fmt.Errorf("case %d waits on a %s step, not a question", cs.ID, st.Kind)
			}
			id := bot.Action{CaseID: cs.ID, Seq: st.Seq, Key: st.Choices[0].Key}.ID()
			targets = append(targets, target{cs: cs, seq: st.Seq,
				body: sl.Click(channel, cs.ThreadTS, fmt.Sprintf("k%d.%d.trigger", rate, i), id, fmt.Sprintf("1700000100.%06d", i), e.slack.ActionHook())})
		}
		if len(targets) == 0 {
			return fmt.Errorf("no case was committed at %d req/s, so no click can be sent", rate)
		}
		bareClick, err := loadgen.Run(ctx, loadgen.Config{Rate: rate, N: len(targets), Warmup: warm, Request: func(i int) (*http.Request, error) {
			return sl.Signed(e.bareURL, botslack.PathInteractions, targets[max(i-warm, 0)].body)
		}})
		if err != nil {
			return err
		}
		calls0, busy0 = e.slack.Calls.Load(), e.slack.Busy.Load()
		clicks, err := loadgen.Run(ctx, loadgen.Config{Rate: rate, N: len(targets), Warmup: warm, Check: sl.NotBusy, Request: func(i int) (*http.Request, error) {
			if i < warm {
				return sl.Signed(e.bot.URL, botslack.PathCommands, warmCmd(i))
			}
			return sl.Signed(e.bot.URL, botslack.PathInteractions, targets[i-warm].body)
		}})
		if err != nil {
			return err
		}
		moved, drain, err := sl.Await(clicks.OK, func() (int, error) {
			moved := 0
			for _, t := range targets {
				s, err := e.sessions.FindSession(ctx, t.cs.ID)
				if err != nil {
					return 0, fmt.Errorf("session of case %d: %w", t.cs.ID, err)
				}
				if s.Seq > t.seq {
					moved++
				}
			}
			return moved, nil
		})
		if err != nil {
			return err
		}
		m = measured{kind: "button click", bare: bareClick, bot: clicks, committed: moved, drain: drain, slackCalls: e.slack.Calls.Load() - calls0,
			busy: int64(clicks.Failed) + e.slack.Busy.Load() - busy0}
		all = append(all, m)
		report(m, rate)
	}
	for _, m := range all {
		ratio := float64(m.bot.P99) / float64(max(m.bare.P99, time.Microsecond))
		r := row.Row{
			Figure: fmt.Sprintf("Ack latency, %s, %d req/s", m.kind, m.bot.Rate),
			Subject: fmt.Sprintf("p50 %s, p99 %s, max %s; of %d sent: %d refused (busy, or 5xx asking Slack to retry), %d committed (drained in %s)",
				row.Ms(m.bot.P50), row.Ms(m.bot.P99), row.Ms(m.bot.Max), m.bot.Sent, m.busy, m.committed, m.drain.Round(time.Millisecond)),
			Baseline: fmt.Sprintf("bare net/http: p50 %s, p99 %s, max %s", row.Ms(m.bare.P50), row.Ms(m.bare.P99), row.Ms(m.bare.Max)),
			Ratio:    fmt.Sprintf("p99 %.2f×", ratio),
			Goal:     "p99 ≤ 3× bare and ≤ 10 ms at 500 req/s",
		}
		if m.bot.Rate == 500 {
			r.Met = row.Bool(ratio <= 3 && m.bot.P99 <= 10*time.Millisecond && m.bot.Failed == 0 && m.busy == 0)
		}
		r.Print(os.Stdout)
	}
	return nil
}

func report(m measured, rate int) {
	fmt.Fprintf(os.Stderr, "ack %-13s %4d req/s: bot p50 %s p99 %s max %s (ok %d/%d, achieved %.0f/s, max lag %s%s) | bare p50 %s p99 %s max %s | %d refused (busy or retry), committed %d in %s, %d Slack calls\n",
		m.kind, rate, row.Ms(m.bot.P50), row.Ms(m.bot.P99), row.Ms(m.bot.Max), m.bot.OK, m.bot.Sent, m.bot.Achieved, row.Ms(m.bot.MaxLag),
		firstErr(m.bot), row.Ms(m.bare.P50), row.Ms(m.bare.P99), row.Ms(m.bare.Max), m.busy, m.committed, m.drain.Round(time.Millisecond), m.slackCalls)
}

func firstErr(r *loadgen.Result) string {
	if r.FirstError == "" {
		return ""
	}
	return ", first failure: " + r.FirstError
}
