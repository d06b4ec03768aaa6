package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	slackgo "github.com/slack-go/slack"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/bot"
	"github.com/vpndiag/vpndiag/evidence/redact"
)

// maxAutoSteps bounds how many probe steps run back to back without a user.
const maxAutoSteps = 20

// defaultProbeTimeout bounds a probe whose request names no timeout.
const defaultProbeTimeout = 30 * time.Second

// liveStep is the message of the step a case waits on, whose buttons are
// live: when the case moves without them (a file decides the step, the case
// is closed), the message is updated so that its buttons go.
type liveStep struct {
	ts   string
	step *vpndiag.Step
}

// lives remembers the live step message of each case.
type lives struct {
	mu sync.Mutex
	m  map[int64]liveStep
}

func (l *lives) set(caseID int64, ls liveStep) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[int64]liveStep{}
	}
	if len(l.m) > 10000 {
		l.m = map[int64]liveStep{}
	}
	l.m[caseID] = ls
}

func (l *lives) get(caseID int64) (liveStep, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ls, ok := l.m[caseID]
	return ls, ok
}

func (l *lives) take(caseID int64) (liveStep, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ls, ok := l.m[caseID]
	delete(l.m, caseID)
	return ls, ok
}

// probeMode says whether the bot can run probe steps itself.
func (b *Bot) probeMode() probeMode {
	if b.deps.Prober == nil {
		return probesNone
	}
	return probesRunnable
}

// retire takes the buttons off the live step message of a case, saying why
// the case moved on without them.
func (b *Bot) retire(ctx context.Context, cs *vpndiag.Case, why string) {
	ls, ok := b.lives.take(cs.ID)
	if !ok {
		return
	}
	text, blocks := movedMessage(ls.step, why)
	if err := b.update(ctx, cs.ChannelID, ls.ts, text, blocks); err != nil {
		b.log.Warn("slack: stale step not updated", "case", cs.Marker, "error", err)
	}
}

// answered shows the live step message (ts) as answered and forgets it.
func (b *Bot) answered(ctx context.Context, cs *vpndiag.Case, ts string, st *vpndiag.Step, user, label string) {
	b.lives.take(cs.ID)
	if ts == "" {
		return
	}
	text, blocks := answeredMessage(st, user, label)
	if err := b.update(ctx, cs.ChannelID, ts, text, blocks); err != nil {
		b.log.Warn("slack: answered step not updated", "case", cs.Marker, "error", err)
	}
}

// navBlock is the row under a step with Back (when a person's answer can
// be undone) and Start over.
func (b *Bot) navBlock(s *vpndiag.Step) slackgo.Block {
	act := func(key string) bot.Action { return bot.Action{CaseID: s.CaseID, Seq: s.Seq, Key: key} }
	var els []slackgo.BlockElement
	if s.CanGoBack {
		els = append(els, button(act(bot.KeyBack), "Back", ""))
	}
	els = append(els, button(act(bot.KeyRestart), "Start over", ""))
	return slackgo.NewActionBlock(fmt.Sprintf("nav-%d", s.Seq), els...)
}

// postStep posts a step waiting on the user and remembers it as the live
// step of the case.
func (b *Bot) postStep(ctx context.Context, cs *vpndiag.Case, step *vpndiag.Step) (string, error) {
	text, blocks := stepMessage(cs, step, b.probeMode())
	if step.Kind != vpndiag.StepEscalation && step.CaseStatus == vpndiag.CaseOpen || step.CaseStatus == "" && !step.Kind.Terminal() {
		if len(blocks) < maxBlocks {
			blocks = append(blocks, b.navBlock(step))
		}
	}
	ts, err := b.post(ctx, cs.ChannelID, cs.ThreadTS, text, blocks)
	if err != nil {
		return "", err
	}
	if !step.Kind.Terminal() || len(step.Choices) > 0 || step.Kind == vpndiag.StepEscalation {
		b.lives.set(cs.ID, liveStep{ts: ts, step: step})
	}
	return ts, nil
}

// advance posts step in the case thread. Probe steps run at once when the
// bot can run probes: shown as "running…", updated in place with the
// results, answered with them, and the next step is posted, until a step
// needs the user. The case's channel message is updated to match. The
// caller holds the case lock.
func (b *Bot) advance(ctx context.Context, cs *vpndiag.Case, step *vpndiag.Step, actor string) error {
	if err := b.ensureThread(ctx, cs); err != nil {
		return err
	}
	defer func() { b.refreshCard(ctx, cs, step) }()
	for range maxAutoSteps {
		if step == nil {
			return nil
		}
		if step.Kind.Terminal() {
			b.noteOutcome(ctx, cs, step)
		}
		if step.Kind != vpndiag.StepProbe || b.deps.Prober == nil {
			_, err := b.postStep(ctx, cs, step)
			return err
		}
		text, blocks := probeRunningMessage(step)
		ts, err := b.post(ctx, cs.ChannelID, cs.ThreadTS, text, blocks)
		if err != nil {
			return err
		}
		b.lives.set(cs.ID, liveStep{ts: ts, step: step})
		next, err := b.runProbes(ctx, cs, step, ts, actor)
		if err != nil {
			return err
		}
		if next == nil {
			return nil
		}
		b.lives.take(cs.ID)
		step = next
	}
	b.log.Warn("slack: too many automatic steps in a row", "case", cs.Marker)
	return nil
}

// noteOutcome reads the case again after the flow reached a resolution or
// a hand-over, so that its channel message shows the outcome.
func (b *Bot) noteOutcome(ctx context.Context, cs *vpndiag.Case, step *vpndiag.Step) {
	fresh, err := b.deps.Cases.FindCaseByID(ctx, cs.ID)
	if err != nil {
		b.log.Warn("slack: case after its outcome", "case", cs.Marker, "error", err)
		return
	}
	*cs = *fresh
	if cs.Resolution == "" {
		cs.Resolution = step.Resolution
	}
}

// refreshCard updates the case's channel message in place: status, owner,
// site, the step it waits on, the outcome.
func (b *Bot) refreshCard(ctx context.Context, cs *vpndiag.Case, now *vpndiag.Step) {
	if cs.ThreadTS == "" {
		return
	}
	site := ""
	if cs.SiteID != 0 {
		if s, err := b.deps.Sites.FindSiteByID(ctx, cs.SiteID); err == nil {
			site = s.Name
		}
	}
	text, blocks := caseCard(cs, site, now)
	if err := b.update(ctx, cs.ChannelID, cs.ThreadTS, text, blocks); err != nil {
		b.log.Warn("slack: case message not updated", "case", cs.Marker, "error", err)
	}
}

// maxStepProbes bounds the probes of one step running at the same time.
const maxStepProbes = 16

// runProbes runs a probe step's probes, updates the message at ts with the
// results and answers the step with them. It returns the next step, or nil
// when the probes could not run (the message then offers to run them
// again, to run them by hand, or to skip them).
func (b *Bot) runProbes(ctx context.Context, cs *vpndiag.Case, step *vpndiag.Step, ts, actor string) (*vpndiag.Step, error) {
	if err := b.siteUsable(ctx, cs); err != nil {
		text, blocks := stepMessage(cs, step, probesRunnable)
		blocks = append(blocks, contextLine(":warning: I could not run the probes: "+say(err)))
		return nil, b.update(ctx, cs.ChannelID, ts, text, blocks)
	}
	results := make([]*vpndiag.ProbeResult, len(step.Probes))
	errs := make([]error, len(step.Probes))
	var wg sync.WaitGroup
	// A step's probes run at once (a connectivity sweep is six): the step
	// takes as long as its slowest probe, not the sum of rounds. The relay's
	// own max_concurrent still bounds what runs in the customer network.
	sem := make(chan struct{}, maxStepProbes)
	notice := &retryNotice{b: b, cs: cs, step: step, ts: ts}
	for i, req := range step.Probes {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if req.CaseID == 0 {
				req.CaseID = cs.ID
			}
			if req.SiteID == 0 {
				// The hub routes by site: a relay of the case's site.
				req.SiteID = cs.SiteID
			}
			results[i], errs[i] = b.probeRetrying(ctx, req, notice)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil || results[i] == nil {
			if err == nil {
				err = vpndiag.Errorf(vpndiag.EINTERNAL, "The probe returned no result.")
			}
			b.log.Warn("slack: probe could not run", "case", cs.Marker, "probe", step.Probes[i].Kind, "error", err)
			text, blocks := probeResultsMessage(step, results, ":warning: "+say(err))
			blocks = append(blocks, stepActions(step, probesRunnable)...)
			b.lives.set(cs.ID, liveStep{ts: ts, step: step})
			return nil, b.update(ctx, cs.ChannelID, ts, text, blocks)
		}
	}
	next, err := b.deps.Diagnoser.Reply(ctx, cs.ID, vpndiag.Reply{
		Seq: step.Seq, Results: results, Actor: actor,
		IdempotencyKey: fmt.Sprintf("slack:probe:%d:%d", cs.ID, step.Seq),
	})
	if vpndiag.ErrorCode(err) == vpndiag.ECONFLICT {
		b.log.Info("slack: probe step answered meanwhile", "case", cs.Marker, "seq", step.Seq)
		return nil, nil
	} else if err != nil {
		text, blocks := probeResultsMessage(step, results, ":warning: "+say(err))
		_ = b.update(ctx, cs.ChannelID, ts, text, blocks)
		return nil, fmt.Errorf("reply probes case %d: %w", cs.ID, err)
	}
	text, blocks := probeResultsMessage(step, results, "")
	if err := b.update(ctx, cs.ChannelID, ts, text, blocks); err != nil {
		b.log.Warn("slack: probe results not shown", "case", cs.Marker, "error", err)
	}
	return next, nil
}

// Retry bounds of a probe whose relay is unavailable.
const (
	probeRetryMin = 500 * time.Millisecond
	probeRetryMax = 5 * time.Second
)

// probeRetrying runs one probe. While the relay is unavailable (offline,
// or its link dropped mid-probe) it shows why on the step's message with
// ", retrying" and tries again with backoff until the work's deadline, so
// that the step completes or fails once. Each try is a new job: a result a
// relay delivers late for an earlier try is stored once under that try's
// job ID and does not answer the step again.
func (b *Bot) probeRetrying(ctx context.Context, req *vpndiag.ProbeRequest, notice *retryNotice) (*vpndiag.ProbeResult, error) {
	timeout := req.Timeout
	if timeout <= 0 {
		timeout = defaultProbeTimeout
	}
	delay := probeRetryMin
	for try := 1; ; try++ {
		r := *req
		if try > 1 && r.ID != "" {
			// A job the relay may still deliver keeps its ID; a retry is a
			// new job.
			r.ID = fmt.Sprintf("%s-retry%d", req.ID, try-1)
		}
		pctx, cancel := context.WithTimeout(ctx, timeout+5*time.Second)
		res, err := b.deps.Prober.Probe(pctx, &r)
		cancel()
		if err == nil || vpndiag.ErrorCode(err) != vpndiag.EUNAVAILABLE || ctx.Err() != nil {
			if err == nil && try > 1 {
				b.log.Info("slack: probe ran after retries", "case", notice.cs.Marker, "probe", req.ID, "tries", try)
			}
			return res, err
		}
		dl, ok := ctx.Deadline()
		if ok && time.Until(dl) < delay+timeout {
			return nil, err
		}
		b.log.Warn("slack: relay unavailable; retrying", "case", notice.cs.Marker, "probe", req.ID, "try", try, "in", delay, "error", err)
		notice.show(ctx, vpndiag.ErrorMessage(err))
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
		delay = min(delay*2, probeRetryMax)
	}
}

// retryNotice shows on a probe step's message why its probes are being
// retried, once per distinct reason.
type retryNotice struct {
	b    *Bot
	cs   *vpndiag.Case
	step *vpndiag.Step
	ts   string

	mu   sync.Mutex
	last string
}

func (n *retryNotice) show(ctx context.Context, why string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if why == n.last {
		return
	}
	n.last = why
	text, blocks := probeRunningMessage(n.step)
	line := strings.TrimSuffix(strings.TrimSpace(why), ".") + ", retrying…"
	blocks = append(blocks, contextLine(":hourglass_flowing_sand: "+safeText(line)))
	if err := n.b.update(ctx, n.cs.ChannelID, n.ts, text, blocks); err != nil {
		n.b.log.Warn("slack: retry notice not shown", "case", n.cs.Marker, "error", err)
	}
}

// channelOf returns the channel an interaction happened in.
func channelOf(cb *slackgo.InteractionCallback) string {
	if cb.Channel.ID != "" {
		return cb.Channel.ID
	}
	return cb.Container.ChannelID
}

// onInteraction handles block actions and modal submissions. The returned
// value (nil for none) is the acknowledgement's payload: a modal's
// response_action; acks collects the queued work the acknowledgement
// waits for.
func (b *Bot) onInteraction(cb *slackgo.InteractionCallback, envelope string, acks *commits) any {
	switch cb.Type {
	case slackgo.InteractionTypeBlockActions:
		for _, act := range cb.ActionCallback.BlockActions {
			if _, err := bot.ParseAction(act.ActionID); err != nil {
				// Not a button of ours: said so, nothing to remember.
				if !b.submit("foreign action", nil, func(ctx context.Context) { b.handleAction(ctx, cb, act, "") }) {
					b.submitFailed(cb)
				}
				continue
			}
			key := "slack:act:" + cb.TriggerID + ":" + act.ActionTs
			if !b.seen.begin(key, envelope) {
				b.log.Info("slack: duplicate delivery ignored", "key", key)
				continue
			}
			if !b.submit("action", acks, func(ctx context.Context) { b.handleAction(ctx, cb, act, key) }) {
				b.seen.end(key, false)
				b.submitFailed(cb)
			}
		}
		return nil
	case slackgo.InteractionTypeViewSubmission:
		return b.onViewSubmission(cb, envelope, acks)
	}
	b.log.Debug("slack: interaction ignored", "type", cb.Type)
	return nil
}

func (b *Bot) submitFailed(cb *slackgo.InteractionCallback) {
	to := replyTo{channel: channelOf(cb), user: cb.User.ID, threadTS: cb.Container.ThreadTs}
	go func() {
		ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
		defer cancel()
		b.tell(ctx, to, "I'm busy right now; click again in a minute.")
	}()
}

// stepMeta is the private metadata of the modals that answer a step.
type stepMeta struct {
	Case    int64             `json:"k"`
	Seq     int               `json:"s"`
	Channel string            `json:"c"`
	TS      string            `json:"t"`
	Kind    vpndiag.InputKind `json:"i,omitempty"`
}

// handleAction works on one click. key is the delivery's key: a click
// delivered again (a replayed envelope) changes nothing, because the
// transition it makes carries an idempotency key of its own and the
// delivery is remembered once handled.
func (b *Bot) handleAction(ctx context.Context, cb *slackgo.InteractionCallback, act *slackgo.BlockAction, key string) {
	user, channel := cb.User.ID, channelOf(cb)
	to := replyTo{channel: channel, user: user, threadTS: cb.Container.ThreadTs, responseURL: cb.ResponseURL}
	w := b.seen.work(key)
	defer w.end()
	report := func(ctx context.Context, err error) {
		if storeFailure(err) {
			b.log.Error("slack: click not stored", "action_id", act.ActionID, "error", err)
			b.tell(ctx, to, "I could not record your click (the database is busy); click again in a minute.")
			return
		}
		b.log.Warn("slack: action failed", "action_id", act.ActionID, "user", user, "error", err)
		b.tell(ctx, to, say(err))
	}
	onLaterError(ctx, report)
	a, err := bot.ParseAction(act.ActionID)
	if err != nil {
		b.log.Warn("slack: action the bot never issued", "action_id", clip(act.ActionID, 100), "user", user, "channel", channel)
		b.tell(ctx, to, safeText(vpndiag.ErrorMessage(err)))
		return
	}
	if err := b.action(ctx, cb, a, to); err != nil {
		if storeFailure(err) {
			w.notStored(ctx)
		}
		report(ctx, err)
	}
}

var errStepDone = vpndiag.Errorf(vpndiag.ECONFLICT, "This step is already done.")

// saidError is a refusal whose message is mrkdwn the bot built itself
// (escaped, with links), shown as it is.
type saidError struct {
	code, text string
}

func (e *saidError) Error() string { return "slack: " + e.code + ": " + e.text }

// say is the mrkdwn that tells a user about err.
func say(err error) string {
	var se *saidError
	if errors.As(err, &se) {
		return se.text
	}
	return safeText(userMessage(err))
}

// stepDone says a button is stale, and where the case stands now.
func (b *Bot) stepDone(ctx context.Context, cs *vpndiag.Case) error {
	if ls, ok := b.lives.get(cs.ID); ok {
		if link := b.permalink(ctx, cs.ChannelID, ls.ts); link != "" {
			return &saidError{vpndiag.ECONFLICT, fmt.Sprintf("This step is already done. The case now waits on <%s|%s>.", link, strings.ReplaceAll(esc(clip(ls.step.Title, 100)), "|", "/"))}
		}
		return &saidError{vpndiag.ECONFLICT, fmt.Sprintf("This step is already done. The case now waits on *%s*, further down the thread.", esc(clip(ls.step.Title, 100)))}
	}
	return errStepDone
}

func (b *Bot) action(ctx context.Context, cb *slackgo.InteractionCallback, a bot.Action, to replyTo) error {
	cs, err := b.deps.Cases.FindCaseByID(ctx, a.CaseID)
	if vpndiag.ErrorCode(err) == vpndiag.ENOTFOUND || (err == nil && cs.ChannelID != to.channel) {
		b.log.Warn("slack: action for an unknown case or another channel", "case", a.CaseID, "channel", to.channel, "user", to.user)
		return vpndiag.Errorf(vpndiag.EINVALID, "I don't recognise that button; it may come from an older version of the bot.")
	} else if err != nil {
		return fmt.Errorf("find case %d: %w", a.CaseID, err)
	}
	to.threadTS = cs.ThreadTS
	if a.Key == bot.KeyExport {
		// Nothing to store first: acknowledge, then build and upload.
		committed(ctx)
		return later(ctx, func(ctx context.Context) error { return b.exportFor(ctx, cs, to) })
	}
	if err := b.policy.CanDiagnose(ctx, to.user, to.channel); err != nil {
		return err
	}
	switch a.Key {
	case bot.KeyClose, bot.KeyReopen:
		unlock, err := b.locks.Lock(ctx, cs.ID)
		if err != nil {
			return err
		}
		defer unlock()
		return b.setOpen(ctx, cs, a.Key == bot.KeyReopen, to.user)
	}
	if cs.Status != vpndiag.CaseOpen {
		return vpndiag.Errorf(vpndiag.ECONFLICT, "Case %s is %s. Re-open it with the button on its message in the channel, or `%s start` opens a new one.", cs.Marker, cs.Status, b.cfg.Command)
	}
	switch a.Key {
	case bot.KeyInput, bot.KeyManual:
		// No lock: the trigger expires in about 3 s.
		cur, err := b.deps.Diagnoser.Current(ctx, cs.ID)
		if err != nil {
			return fmt.Errorf("current step case %d: %w", cs.ID, err)
		}
		meta := stepMeta{Case: cs.ID, Seq: cur.Seq, Channel: cs.ChannelID, TS: cb.Container.MessageTs}
		if a.Key == bot.KeyInput {
			if cur.Seq != a.Seq || cur.Kind != vpndiag.StepInput {
				return b.stepDone(ctx, cs)
			}
			if cur.Input != nil {
				meta.Kind = cur.Input.Kind
			}
			m, _ := json.Marshal(meta)
			return b.openView(ctx, cb.TriggerID, inputModal(cur, string(m)))
		}
		if cur.Seq != a.Seq || cur.Kind != vpndiag.StepProbe {
			return b.stepDone(ctx, cs)
		}
		m, _ := json.Marshal(meta)
		return b.openView(ctx, cb.TriggerID, manualModal(cur, string(m)))
	}
	unlock, err := b.locks.Lock(ctx, cs.ID)
	if err != nil {
		return err
	}
	defer unlock()
	switch a.Key {
	case bot.KeyBack, bot.KeyRestart:
		return b.moveBack(ctx, cs, a, to.user, cb.Container.MessageTs)
	}
	// The step the button belongs to is the live step this process showed
	// (no read); otherwise (after a restart) the store says.
	var cur *vpndiag.Step
	if ls, ok := b.lives.get(cs.ID); ok && ls.step.Seq == a.Seq {
		cur = ls.step
	} else if cur, err = b.deps.Diagnoser.Current(ctx, cs.ID); err != nil {
		return fmt.Errorf("current step case %d: %w", cs.ID, err)
	}
	if cur.Seq != a.Seq {
		return b.stepDone(ctx, cs)
	}
	reply := vpndiag.Reply{Seq: a.Seq, Actor: to.user, IdempotencyKey: fmt.Sprintf("slack:act:%d:%d", cs.ID, a.Seq)}
	var label string
	switch {
	case a.Key == bot.KeyRun && cur.Kind == vpndiag.StepProbe:
		if b.deps.Prober == nil {
			return vpndiag.Errorf(vpndiag.EINVALID, "No relay is connected and this bot cannot reach your network, so I can't run these probes. Click *I'll run it myself* for the exact commands, or *Skip this check*.")
		}
		// The probes may take a while; their results are stored as they
		// come and answer the step then, so the click is acknowledged now.
		committed(ctx)
		unlock()
		return b.laterLocked(ctx, cs.ID, func(ctx context.Context) error {
			text, blocks := probeRunningMessage(cur)
			if err := b.update(ctx, cs.ChannelID, cb.Container.MessageTs, text, blocks); err != nil {
				return err
			}
			next, err := b.runProbes(ctx, cs, cur, cb.Container.MessageTs, to.user)
			if err != nil || next == nil {
				return err
			}
			b.lives.take(cs.ID)
			return b.advance(ctx, cs, next, to.user)
		})
	case a.Key == bot.KeySkipProbe && cur.Kind == vpndiag.StepProbe:
		for _, p := range cur.Probes {
			reply.Results = append(reply.Results, &vpndiag.ProbeResult{ID: p.ID, CaseID: cs.ID, Kind: p.Kind, Target: p.Target,
				Outcome: vpndiag.OutcomeError, Summary: "not run: skipped by the user", Error: "skipped"})
		}
		label = "Skipped (not run)"
	case a.Key == bot.KeySkip && cur.Kind == vpndiag.StepEvidence:
		reply.Skip, label = true, "nothing to upload"
	case a.Key == bot.KeyContinue && cur.Kind == vpndiag.StepInfo:
		label = "Continue"
	case strings.HasPrefix(a.Key, bot.KeyNotRight+"."):
		target, ok := bot.ParseNotRight(a.Key)
		if !ok {
			return b.stepDone(ctx, cs)
		}
		reply.Reopen, label = target, "That's not right"
	case cur.Kind == vpndiag.StepQuestion || (cur.Kind.Terminal() && len(cur.Choices) > 0):
		for _, ch := range cur.Choices {
			if ch.Key == a.Key {
				reply.Choice, label = ch.Key, ch.Label
			}
		}
		if reply.Choice == "" {
			b.log.Warn("slack: choice not offered by the step", "case", cs.Marker, "seq", a.Seq, "key", a.Key)
			return b.stepDone(ctx, cs)
		}
	default:
		return b.stepDone(ctx, cs)
	}
	next, err := b.deps.Diagnoser.Reply(ctx, cs.ID, reply)
	if vpndiag.ErrorCode(err) == vpndiag.ECONFLICT {
		return b.stepDone(ctx, cs)
	} else if err != nil {
		return fmt.Errorf("reply case %d: %w", cs.ID, err)
	}
	committed(ctx)
	return later(ctx, func(ctx context.Context) error {
		return b.showReply(ctx, cs, cur, next, reply, cb.Container.MessageTs, to.user, label)
	})
}

// showReply shows an answer in the thread: the step answered, and what
// comes next.
func (b *Bot) showReply(ctx context.Context, cs *vpndiag.Case, cur, next *vpndiag.Step, reply vpndiag.Reply, ts, user, label string) error {
	unlock, err := b.locks.Lock(ctx, cs.ID)
	if err != nil {
		return err
	}
	defer unlock()
	to := replyTo{user: user}
	b.answered(ctx, cs, ts, cur, to.user, label)
	if cur.Kind == vpndiag.StepResolution && reply.Choice == vpndiag.ChoiceFixed {
		// The fix held: the case is resolved where it stands.
		b.noteOutcome(ctx, cs, next)
		if _, err := b.post(ctx, cs.ChannelID, cs.ThreadTS, fallback("Case %s resolved.", cs.Marker),
			[]slackgo.Block{section(fmt.Sprintf(":white_check_mark: <@%s> confirmed the fix: case %s is resolved. *Re-open* on the case's message in the channel if the problem comes back.", to.user, cs.Marker))}); err != nil {
			b.log.Warn("slack: resolution not posted", "case", cs.Marker, "error", err)
		}
		b.refreshCard(ctx, cs, next)
		return nil
	}
	return b.advance(ctx, cs, next, to.user)
}

// moveBack undoes the last answer (Back) or starts the diagnosis over.
func (b *Bot) moveBack(ctx context.Context, cs *vpndiag.Case, a bot.Action, user, ts string) error {
	lc := b.deps.Diagnoser
	var next *vpndiag.Step
	var err error
	what := "went back one step"
	if a.Key == bot.KeyBack {
		next, err = lc.Back(ctx, cs.ID, a.Seq, user)
	} else {
		next, err = lc.Restart(ctx, cs.ID, user)
		what = "started the diagnosis over"
	}
	if vpndiag.ErrorCode(err) == vpndiag.ECONFLICT {
		return b.stepDone(ctx, cs)
	} else if err != nil {
		return fmt.Errorf("move case %d back: %w", cs.ID, err)
	}
	committed(ctx)
	return b.laterLocked(ctx, cs.ID, func(ctx context.Context) error {
		b.retire(ctx, cs, fmt.Sprintf("<@%s> %s.", user, what))
		return b.advance(ctx, cs, next, user)
	})
}

// setOpen closes or re-opens a case: its status, its channel message, the
// live step's buttons, a line in the thread. The caller holds the lock.
func (b *Bot) setOpen(ctx context.Context, cs *vpndiag.Case, open bool, user string) error {
	if open == (cs.Status == vpndiag.CaseOpen) {
		return vpndiag.Errorf(vpndiag.ECONFLICT, "Case %s is already %s.", cs.Marker, cs.Status)
	}
	st := vpndiag.CaseClosed
	if open {
		st = vpndiag.CaseOpen
	}
	upd, err := b.deps.Cases.UpdateCase(ctx, cs.ID, vpndiag.CaseUpdate{Status: &st})
	if err != nil {
		return fmt.Errorf("case %d status: %w", cs.ID, err)
	}
	committed(ctx)
	*cs = *upd
	return b.laterLocked(ctx, cs.ID, func(ctx context.Context) error {
		return b.showOpen(ctx, cs, open, user)
	})
}

// showOpen shows a case closed or re-opened.
func (b *Bot) showOpen(ctx context.Context, cs *vpndiag.Case, open bool, user string) error {
	verb := "closed"
	if open {
		verb = "re-opened"
	}
	if err := b.deps.Events.AppendEvent(ctx, &vpndiag.Event{CaseID: cs.ID, Actor: user, Kind: vpndiag.EventCaseUpdated,
		Message: fmt.Sprintf("case %s by %s", verb, user)}); err != nil {
		b.log.Warn("slack: case event", "case", cs.Marker, "error", err)
	}
	b.log.Info("slack: case "+verb, "case", cs.Marker, "user", user)
	if !open {
		b.retire(ctx, cs, fmt.Sprintf("Case closed by <@%s>.", user))
		if _, err := b.post(ctx, cs.ChannelID, cs.ThreadTS, fallback("Case %s closed.", cs.Marker),
			[]slackgo.Block{section(fmt.Sprintf(":black_circle: <@%s> closed case %s. *Re-open* on the case's message in the channel continues it where it stopped.", user, cs.Marker))}); err != nil {
			return err
		}
		b.refreshCard(ctx, cs, nil)
		return nil
	}
	if _, err := b.post(ctx, cs.ChannelID, cs.ThreadTS, fallback("Case %s re-opened.", cs.Marker),
		[]slackgo.Block{section(fmt.Sprintf(":large_blue_circle: <@%s> re-opened case %s; it continues here.", user, cs.Marker))}); err != nil {
		return err
	}
	cur, err := b.deps.Diagnoser.Current(ctx, cs.ID)
	if err != nil {
		return fmt.Errorf("current step case %d: %w", cs.ID, err)
	}
	return b.advance(ctx, cs, cur, user)
}

// onViewSubmission validates a modal at once (Slack shows errors next to the
// fields) and queues the work of a valid one.
func (b *Bot) onViewSubmission(cb *slackgo.InteractionCallback, envelope string, acks *commits) any {
	values := map[string]map[string]slackgo.BlockAction{}
	if cb.View.State != nil {
		values = cb.View.State.Values
	}
	user := cb.User.ID
	key := "slack:view:" + cb.View.ID
	busy := func(block string) any {
		return slackgo.NewErrorsViewSubmissionResponse(map[string]string{block: "I'm busy right now; submit again in a minute."})
	}
	switch cb.View.CallbackID {
	case callbackInput, callbackManual:
		var m stepMeta
		if err := json.Unmarshal([]byte(cb.View.PrivateMetadata), &m); err != nil || m.Case <= 0 {
			b.log.Warn("slack: step modal with bad metadata", "user", user, "view", cb.View.ID)
			block := blockValue
			if cb.View.CallbackID == callbackManual {
				block = blockOutcome
			}
			return slackgo.NewErrorsViewSubmissionResponse(map[string]string{block: "This form is out of date; close it and click the button again."})
		}
		var reply vpndiag.Reply
		var label, block string
		if cb.View.CallbackID == callbackInput {
			block = blockValue
			v, err := vpndiag.ValidateInput(m.Kind, values[blockValue][actionValue].Value)
			if err != nil {
				return slackgo.NewErrorsViewSubmissionResponse(map[string]string{blockValue: vpndiag.ErrorMessage(err)})
			}
			reply.Value, label = v, v
		} else {
			block = blockOutcome
			opt := values[blockOutcome][actionOutcome].SelectedOption
			if opt.Value == "" || !bot.ValidKey(opt.Value) {
				return slackgo.NewErrorsViewSubmissionResponse(map[string]string{blockOutcome: "Pick what you saw."})
			}
			reply.Choice = opt.Value
			label = opt.Text.Text + " (run by hand)"
			if label == " (run by hand)" {
				label = opt.Value + " (run by hand)"
			}
		}
		note := strings.TrimSpace(values[blockNote][actionNote].Value)
		if !b.seen.begin(key, envelope) {
			return nil
		}
		to := replyTo{channel: m.Channel, user: user}
		if !b.submit("answer", acks, func(ctx context.Context) {
			w := b.seen.work(key)
			defer w.end()
			reply.IdempotencyKey = key
			onLaterError(ctx, func(ctx context.Context, err error) {
				b.log.Warn("slack: answer not shown", "case", m.Case, "error", err)
				b.tell(ctx, to, say(err))
			})
			if err := b.answerModal(ctx, m, reply, label, note, user); err != nil {
				if storeFailure(err) {
					w.notStored(ctx)
					b.log.Error("slack: answer not stored", "case", m.Case, "error", err)
					b.tell(ctx, to, "I could not record your answer (the database is busy); submit it again in a minute.")
					return
				}
				b.log.Warn("slack: answer refused", "case", m.Case, "seq", m.Seq, "error", err)
				b.tell(ctx, to, say(err))
			}
		}) {
			b.seen.end(key, false)
			return busy(block)
		}
		return nil
	case callbackSetup:
		var m setupMeta
		_ = json.Unmarshal([]byte(cb.View.PrivateMetadata), &m)
		var parts []string
		for i := 0; i < maxSetupParts; i++ {
			if v, ok := values[setupBlock(i)]; ok {
				parts = append(parts, v[setupBlock(i)].Value)
			}
		}
		site, err := parseSite(strings.Join(parts, ""))
		if err != nil {
			return slackgo.NewErrorsViewSubmissionResponse(map[string]string{blockSite: clip(vpndiag.ErrorMessage(err), 1000)})
		}
		if !b.seen.begin(key, envelope) {
			return nil
		}
		to := replyTo{channel: m.Channel, user: user}
		if !b.submit("setup", acks, func(ctx context.Context) {
			w := b.seen.work(key)
			defer w.end()
			if err := b.policy.CanDiagnose(ctx, user, m.Channel); err != nil {
				b.tell(ctx, to, say(err))
				return
			}
			// A new site belongs to this channel; an existing one may be
			// changed only by a channel that owns it.
			old, err := b.deps.Sites.FindSiteByName(ctx, site.Name)
			if err != nil && vpndiag.ErrorCode(err) != vpndiag.ENOTFOUND {
				b.log.Warn("slack: find site", "site", site.Name, "error", err)
				b.tell(ctx, to, say(err))
				return
			}
			switch {
			case err == nil && !old.OwnedBy(m.Channel):
				b.tell(ctx, to, say(siteOfAnotherChannel(site.Name)))
				return
			case len(site.Channels) > 0 && !site.OwnedBy(m.Channel):
				// An explicit list (shared with other channels) keeps this one.
				site.Channels = append(site.Channels, m.Channel)
			case len(site.Channels) > 0:
			case err == nil:
				site.Channels = old.Channels
			default:
				site.Channels = []string{m.Channel}
			}
			if err := b.deps.Sites.UpsertSite(ctx, site); err != nil {
				if storeFailure(err) {
					w.notStored(ctx)
				}
				b.log.Warn("slack: save site", "site", site.Name, "error", err)
				b.tell(ctx, to, say(err))
				return
			}
			committed(ctx)
			b.log.Info("slack: site profile saved", "site", site.Name, "user", user)
			_ = later(ctx, func(ctx context.Context) error {
				b.tell(ctx, to, fmt.Sprintf("Site profile *%s* saved. `%s start site:%s` opens a case for it.", esc(site.Name), b.cfg.Command, esc(site.Name)))
				return nil
			})
		}) {
			b.seen.end(key, false)
			return busy(blockSite)
		}
		return nil
	}
	b.log.Warn("slack: submission of a modal the bot never opened", "callback_id", clip(cb.View.CallbackID, 100), "user", user)
	return nil
}

// answerModal answers the step a modal was opened for: a typed value, or
// the outcome of probes the user ran by hand (with the output they pasted,
// redacted, kept as a note).
func (b *Bot) answerModal(ctx context.Context, m stepMeta, reply vpndiag.Reply, label, note, user string) error {
	cs, err := b.deps.Cases.FindCaseByID(ctx, m.Case)
	if err != nil || cs.ChannelID != m.Channel {
		return vpndiag.Errorf(vpndiag.ENOTFOUND, "That case no longer exists.")
	}
	if err := b.policy.CanDiagnose(ctx, user, cs.ChannelID); err != nil {
		return err
	}
	if cs.Status != vpndiag.CaseOpen {
		return vpndiag.Errorf(vpndiag.ECONFLICT, "Case %s is %s. Re-open it with the button on its message in the channel, or `%s start` opens a new one.", cs.Marker, cs.Status, b.cfg.Command)
	}
	unlock, err := b.locks.Lock(ctx, cs.ID)
	if err != nil {
		return err
	}
	defer unlock()
	cur, err := b.deps.Diagnoser.Current(ctx, cs.ID)
	if err != nil {
		return fmt.Errorf("current step case %d: %w", cs.ID, err)
	}
	if cur.Seq != m.Seq {
		return b.stepDone(ctx, cs)
	}
	reply.Seq, reply.Actor = m.Seq, user
	next, err := b.deps.Diagnoser.Reply(ctx, cs.ID, reply)
	switch vpndiag.ErrorCode(err) {
	case "":
		committed(ctx)
	case vpndiag.ECONFLICT:
		return b.stepDone(ctx, cs)
	case vpndiag.EINVALID:
		return vpndiag.Errorf(vpndiag.EINVALID, "%s Click the button again to answer.", vpndiag.ErrorMessage(err))
	default:
		return fmt.Errorf("reply case %d: %w", cs.ID, err)
	}
	return later(ctx, func(ctx context.Context) error { return b.showModalAnswer(ctx, cs, m, cur, next, label, note, user) })
}

// showModalAnswer keeps the output a person pasted (redacted) and shows
// their answer and what comes next.
func (b *Bot) showModalAnswer(ctx context.Context, cs *vpndiag.Case, m stepMeta, cur, next *vpndiag.Step, label, note, user string) error {
	unlock, err := b.locks.Lock(ctx, cs.ID)
	if err != nil {
		return err
	}
	defer unlock()
	if note != "" {
		r := redact.New(redact.Options{})
		var lines []string
		for _, l := range strings.Split(clip(note, 2000), "\n") {
			lines = append(lines, r.Line(l))
		}
		if err := b.deps.Events.AppendEvent(ctx, &vpndiag.Event{CaseID: cs.ID, Actor: user, Kind: vpndiag.EventNote,
			Message: fmt.Sprintf("output of %q as pasted by the user:\n%s", cur.Title, strings.Join(lines, "\n"))}); err != nil {
			b.log.Warn("slack: note not stored", "case", cs.Marker, "error", err)
		}
	}
	ts := m.TS
	if ts == "" {
		if ls, ok := b.lives.get(cs.ID); ok {
			ts = ls.ts
		}
	}
	b.answered(ctx, cs, ts, cur, user, label)
	return b.advance(ctx, cs, next, user)
}

// storeFailure reports whether err means the store could not be written,
// so that a retry can succeed (as opposed to a refusal, a conflict or a
// Slack API error a person must see or act on).
func storeFailure(err error) bool {
	if err == nil {
		return false
	}
	var se slackgo.SlackErrorResponse
	var rl *slackgo.RateLimitedError
	if errors.As(err, &se) || errors.As(err, &rl) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var ve *vpndiag.Error
	if !errors.As(err, &ve) {
		return false
	}
	return ve.Code == vpndiag.EUNAVAILABLE || ve.Code == vpndiag.EINTERNAL
}
