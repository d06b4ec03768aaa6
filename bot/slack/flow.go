package slack

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	slackgo "github.com/slack-go/slack"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/bot"
)

// maxAutoSteps bounds how many probe steps run back to back without a user.
const maxAutoSteps = 20

// defaultProbeTimeout bounds a probe whose request names no timeout.
const defaultProbeTimeout = 30 * time.Second

// advance posts step in the case thread. Probe steps run at once: shown as
// "running…", updated in place with the results, answered with them, and
// the next step is posted, until a step needs the user. The caller holds the
// case lock.
func (b *Bot) advance(ctx context.Context, cs *vpndiag.Case, step *vpndiag.Step, actor string) error {
	for range maxAutoSteps {
		if step == nil {
			return nil
		}
		if step.Kind != vpndiag.StepProbe || b.deps.Prober == nil {
			text, blocks := stepMessage(cs, step)
			if step.Kind == vpndiag.StepProbe {
				blocks = append(blocks, contextLine(":warning: No relay is configured, so I can't run these probes yet."))
			}
			_, err := b.post(ctx, cs.ChannelID, cs.ThreadTS, text, blocks)
			return err
		}
		text, blocks := probeRunningMessage(step)
		ts, err := b.post(ctx, cs.ChannelID, cs.ThreadTS, text, blocks)
		if err != nil {
			return err
		}
		step, err = b.runProbes(ctx, cs, step, ts, actor)
		if err != nil {
			return err
		}
	}
	b.log.Warn("slack: too many automatic steps in a row", "case", cs.Marker)
	return nil
}

// runProbes runs a probe step's probes, updates the message at ts with the
// results and answers the step with them. It returns the next step, or nil
// when the probes could not run (the message then offers to run them again).
// maxStepProbes bounds the probes of one step running at the same time.
const maxStepProbes = 16

func (b *Bot) runProbes(ctx context.Context, cs *vpndiag.Case, step *vpndiag.Step, ts, actor string) (*vpndiag.Step, error) {
	if err := b.siteUsable(ctx, cs); err != nil {
		text, blocks := stepMessage(cs, step)
		blocks = append(blocks, contextLine(":warning: I could not run the probes: "+esc(userMessage(err))))
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
			b.log.Warn("slack: probe could not run", "case", cs.Marker, "probe", step.Probes[i].ID, "error", err)
			text, blocks := stepMessage(cs, step)
			blocks = append(blocks, contextLine(":warning: I could not run the probes: "+esc(userMessage(err))+" Click *Run the probes* to try again."))
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
		text, blocks := probeResultsMessage(step, results, ":warning: "+esc(userMessage(err)))
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
	blocks = append(blocks, contextLine(":hourglass_flowing_sand: "+esc(line)))
	if err := n.b.update(ctx, n.cs.ChannelID, n.ts, text+" — "+line, blocks); err != nil {
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
// response_action; acks, when not nil, collects the queued work the
// acknowledgement waits for.
func (b *Bot) onInteraction(cb *slackgo.InteractionCallback, envelope string, acks *commits) any {
	switch cb.Type {
	case slackgo.InteractionTypeBlockActions:
		for _, act := range cb.ActionCallback.BlockActions {
			if !b.submit("action", acks, func(ctx context.Context) { b.handleAction(ctx, cb, act, envelope) }) {
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

// inputMeta is the input modal's private metadata.
type inputMeta struct {
	Case    int64             `json:"k"`
	Seq     int               `json:"s"`
	Channel string            `json:"c"`
	TS      string            `json:"t"`
	Kind    vpndiag.InputKind `json:"i"`
}

func (b *Bot) handleAction(ctx context.Context, cb *slackgo.InteractionCallback, act *slackgo.BlockAction, envelope string) {
	user, channel := cb.User.ID, channelOf(cb)
	to := replyTo{channel: channel, user: user, threadTS: cb.Container.ThreadTs, responseURL: cb.ResponseURL}
	a, err := bot.ParseAction(act.ActionID)
	if err != nil {
		b.log.Warn("slack: action the bot never issued", "action_id", clip(act.ActionID, 100), "user", user, "channel", channel)
		b.tell(ctx, to, vpndiag.ErrorMessage(err))
		return
	}
	if ok, err := b.claim(ctx, envKey(envelope), "slack:act:"+cb.TriggerID+":"+act.ActionTs); err != nil {
		b.log.Error("slack: dedup", "error", err)
		notStored(ctx)
		b.tell(ctx, to, "I could not record your click; click again in a minute.")
		return
	} else if !ok {
		return
	}
	if err := b.action(ctx, cb, a, to); err != nil {
		if storeFailure(err) {
			notStored(ctx)
		}
		b.log.Warn("slack: action failed", "case", a.CaseID, "seq", a.Seq, "key", a.Key, "user", user, "error", err)
		b.tell(ctx, to, userMessage(err))
	}
}

var errStepDone = vpndiag.Errorf(vpndiag.ECONFLICT, "This step is already done.")

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
		if err := b.policy.CanExport(ctx, to.user, to.channel); err != nil {
			return err
		}
		return b.export(ctx, cs, to.user)
	}
	if err := b.policy.CanDiagnose(ctx, to.user, to.channel); err != nil {
		return err
	}
	if cs.Status != vpndiag.CaseOpen {
		return vpndiag.Errorf(vpndiag.ECONFLICT, "Case %s is %s; `%s start` opens a new one.", cs.Marker, cs.Status, b.cfg.Command)
	}
	if a.Key == bot.KeyInput {
		// No lock: the trigger expires in about 3 s.
		cur, err := b.deps.Diagnoser.Current(ctx, cs.ID)
		if err != nil {
			return fmt.Errorf("current step case %d: %w", cs.ID, err)
		}
		if cur.Seq != a.Seq || cur.Kind != vpndiag.StepInput {
			return errStepDone
		}
		meta := inputMeta{Case: cs.ID, Seq: cur.Seq, Channel: cs.ChannelID, TS: cb.Container.MessageTs}
		if cur.Input != nil {
			meta.Kind = cur.Input.Kind
		}
		m, _ := json.Marshal(meta)
		return b.openView(ctx, cb.TriggerID, inputModal(cur, string(m)))
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
	if cur.Seq != a.Seq {
		return errStepDone
	}
	reply := vpndiag.Reply{Seq: a.Seq, Actor: to.user, IdempotencyKey: fmt.Sprintf("slack:act:%d:%d", cs.ID, a.Seq)}
	var label string
	switch {
	case a.Key == bot.KeyRun && cur.Kind == vpndiag.StepProbe:
		if b.deps.Prober == nil {
			return vpndiag.Errorf(vpndiag.EUNAVAILABLE, "No relay is configured, so I can't run probes; ask your admin to start `vpndiag relay` in your network.")
		}
		// The probes may take a while; their results are stored as they
		// come and answer the step then, so the click is acknowledged now.
		committed(ctx)
		text, blocks := probeRunningMessage(cur)
		if err := b.update(ctx, cs.ChannelID, cb.Container.MessageTs, text, blocks); err != nil {
			return err
		}
		next, err := b.runProbes(ctx, cs, cur, cb.Container.MessageTs, to.user)
		if err != nil {
			return err
		}
		return b.advance(ctx, cs, next, to.user)
	case a.Key == bot.KeySkip && cur.Kind == vpndiag.StepEvidence:
		reply.Skip, label = true, "nothing to upload"
	case a.Key == bot.KeyContinue && cur.Kind == vpndiag.StepInfo:
		label = "Continue"
	case cur.Kind == vpndiag.StepQuestion:
		for _, ch := range cur.Choices {
			if ch.Key == a.Key {
				reply.Choice, label = ch.Key, ch.Label
			}
		}
		if reply.Choice == "" {
			b.log.Warn("slack: choice not offered by the step", "case", cs.Marker, "seq", a.Seq, "key", a.Key)
			return errStepDone
		}
	default:
		return errStepDone
	}
	next, err := b.deps.Diagnoser.Reply(ctx, cs.ID, reply)
	if vpndiag.ErrorCode(err) == vpndiag.ECONFLICT {
		return errStepDone
	} else if err != nil {
		return fmt.Errorf("reply case %d: %w", cs.ID, err)
	}
	committed(ctx)
	text, blocks := answeredMessage(cur, to.user, label)
	if err := b.update(ctx, cs.ChannelID, cb.Container.MessageTs, text, blocks); err != nil {
		b.log.Warn("slack: answered step not updated", "case", cs.Marker, "error", err)
	}
	return b.advance(ctx, cs, next, to.user)
}

// onViewSubmission validates a modal at once (Slack shows errors next to the
// fields) and queues the work of a valid one.
func (b *Bot) onViewSubmission(cb *slackgo.InteractionCallback, envelope string, acks *commits) any {
	values := map[string]map[string]slackgo.BlockAction{}
	if cb.View.State != nil {
		values = cb.View.State.Values
	}
	user := cb.User.ID
	switch cb.View.CallbackID {
	case callbackInput:
		var m inputMeta
		if err := json.Unmarshal([]byte(cb.View.PrivateMetadata), &m); err != nil || m.Case <= 0 {
			b.log.Warn("slack: input modal with bad metadata", "user", user, "view", cb.View.ID)
			return slackgo.NewErrorsViewSubmissionResponse(map[string]string{blockValue: "This form is out of date; close it and click the button again."})
		}
		v, err := bot.ValidateInput(m.Kind, values[blockValue][actionValue].Value)
		if err != nil {
			return slackgo.NewErrorsViewSubmissionResponse(map[string]string{blockValue: vpndiag.ErrorMessage(err)})
		}
		to := replyTo{channel: m.Channel, user: user}
		if !b.submit("input", acks, func(ctx context.Context) {
			if ok, err := b.claim(ctx, envKey(envelope), "slack:view:"+cb.View.ID); err != nil || !ok {
				if err != nil {
					b.log.Error("slack: dedup", "error", err)
					notStored(ctx)
					b.tell(ctx, to, "I could not record your answer; try again in a minute.")
				}
				return
			}
			if err := b.answerInput(ctx, m, v, user, cb.View.ID); err != nil {
				if storeFailure(err) {
					notStored(ctx)
				}
				b.log.Warn("slack: input failed", "case", m.Case, "seq", m.Seq, "error", err)
				b.tell(ctx, to, userMessage(err))
			}
		}) {
			return slackgo.NewErrorsViewSubmissionResponse(map[string]string{blockValue: "I'm busy right now; submit again in a minute."})
		}
		return nil
	case callbackSetup:
		var m setupMeta
		_ = json.Unmarshal([]byte(cb.View.PrivateMetadata), &m)
		site, err := parseSite(values[blockSite][actionSite].Value)
		if err != nil {
			return slackgo.NewErrorsViewSubmissionResponse(map[string]string{blockSite: clip(vpndiag.ErrorMessage(err), 1000)})
		}
		to := replyTo{channel: m.Channel, user: user}
		if !b.submit("setup", acks, func(ctx context.Context) {
			if ok, err := b.claim(ctx, envKey(envelope), "slack:view:"+cb.View.ID); err != nil || !ok {
				if err != nil {
					b.log.Error("slack: dedup", "error", err)
				}
				return
			}
			if err := b.policy.CanDiagnose(ctx, user, m.Channel); err != nil {
				b.tell(ctx, to, userMessage(err))
				return
			}
			// A new site belongs to this channel; an existing one may be
			// changed only by a channel that owns it.
			old, err := b.deps.Sites.FindSiteByName(ctx, site.Name)
			if err != nil && vpndiag.ErrorCode(err) != vpndiag.ENOTFOUND {
				b.log.Warn("slack: find site", "site", site.Name, "error", err)
				b.tell(ctx, to, userMessage(err))
				return
			}
			switch {
			case err == nil && !old.OwnedBy(m.Channel):
				b.tell(ctx, to, userMessage(siteOfAnotherChannel(site.Name)))
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
				b.log.Warn("slack: save site", "site", site.Name, "error", err)
				b.tell(ctx, to, userMessage(err))
				return
			}
			b.log.Info("slack: site profile saved", "site", site.Name, "user", user)
			b.tell(ctx, to, fmt.Sprintf("Site profile *%s* saved. `%s start site:%s` opens a case for it.", esc(site.Name), b.cfg.Command, site.Name))
		}) {
			return slackgo.NewErrorsViewSubmissionResponse(map[string]string{blockSite: "I'm busy right now; submit again in a minute."})
		}
		return nil
	}
	b.log.Warn("slack: submission of a modal the bot never opened", "callback_id", clip(cb.View.CallbackID, 100), "user", user)
	return nil
}

func (b *Bot) answerInput(ctx context.Context, m inputMeta, value, user, viewID string) error {
	cs, err := b.deps.Cases.FindCaseByID(ctx, m.Case)
	if err != nil || cs.ChannelID != m.Channel {
		return vpndiag.Errorf(vpndiag.ENOTFOUND, "That case no longer exists.")
	}
	if err := b.policy.CanDiagnose(ctx, user, cs.ChannelID); err != nil {
		return err
	}
	if cs.Status != vpndiag.CaseOpen {
		return vpndiag.Errorf(vpndiag.ECONFLICT, "Case %s is %s; `%s start` opens a new one.", cs.Marker, cs.Status, b.cfg.Command)
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
		return errStepDone
	}
	next, err := b.deps.Diagnoser.Reply(ctx, cs.ID, vpndiag.Reply{Seq: m.Seq, Value: value, Actor: user, IdempotencyKey: "slack:view:" + viewID})
	switch vpndiag.ErrorCode(err) {
	case "":
		committed(ctx)
	case vpndiag.ECONFLICT:
		return errStepDone
	case vpndiag.EINVALID:
		return vpndiag.Errorf(vpndiag.EINVALID, "%s Click the button again to enter another value.", vpndiag.ErrorMessage(err))
	default:
		return fmt.Errorf("reply case %d: %w", cs.ID, err)
	}
	text, blocks := answeredMessage(cur, user, value)
	if m.TS != "" {
		if err := b.update(ctx, cs.ChannelID, m.TS, text, blocks); err != nil {
			b.log.Warn("slack: answered step not updated", "case", cs.Marker, "error", err)
		}
	}
	return b.advance(ctx, cs, next, user)
}
