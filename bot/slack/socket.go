package slack

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	slackgo "github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"
)

// fatalAuth are apps.connections.open errors a reconnect cannot fix.
var fatalAuth = map[string]bool{"invalid_auth": true, "not_authed": true, "account_inactive": true, "token_revoked": true, "not_allowed_token_type": true}

// RunSocketMode serves Slack over Socket Mode until ctx is done. slack-go's
// client reconnects when Slack sends "disconnect"; around it, this loop
// reconnects with jittered exponential backoff whenever the client stops,
// and gives up only when Slack refuses the app token.
func (b *Bot) RunSocketMode(ctx context.Context) error {
	if b.cfg.AppToken == "" {
		return errors.New("slack socket mode: an app-level token (xapp-…) is required")
	}
	delay := b.cfg.ReconnectMin
	for {
		start := time.Now()
		err := b.runSocketOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var se slackgo.SlackErrorResponse
		if errors.As(err, &se) && fatalAuth[se.Err] || err != nil && fatalAuth[err.Error()] {
			b.log.Error("slack: Slack refused the app token; check slack.app_token / SLACK_APP_TOKEN (an xapp- token with connections:write)", "error", err)
			return fmt.Errorf("slack socket mode: %w", err)
		}
		if time.Since(start) > time.Minute {
			delay = b.cfg.ReconnectMin
		}
		wait := delay/2 + rand.N(delay/2+1)
		b.log.Warn("slack: socket mode stopped; reconnecting", "error", err, "in", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		delay = min(delay*2, b.cfg.ReconnectMax)
	}
}

// runSocketOnce runs one socketmode client until it stops.
func (b *Bot) runSocketOnce(ctx context.Context) error {
	var opts []socketmode.Option
	if b.cfg.SocketPingInterval > 0 {
		opts = append(opts, socketmode.OptionPingInterval(b.cfg.SocketPingInterval))
	}
	opts = append(opts, socketmode.OptionReadLimit(b.cfg.MaxBodyBytes*4))
	client := socketmode.New(b.api, opts...)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- client.RunContext(ctx) }()
	for {
		select {
		case err := <-errc:
			return err
		case evt := <-client.Events:
			if err := b.onSocketEvent(ctx, client, evt); err != nil {
				cancel()
				<-errc
				return err
			}
		}
	}
}

func (b *Bot) onSocketEvent(ctx context.Context, client *socketmode.Client, evt socketmode.Event) error {
	ack := func(payload any) {
		if evt.Request == nil {
			return
		}
		if err := client.AckCtx(ctx, evt.Request.EnvelopeID, payload); err != nil {
			b.log.Warn("slack: ack failed", "envelope", evt.Request.EnvelopeID, "error", err)
		}
	}
	envelope := func() string {
		if evt.Request == nil {
			return ""
		}
		return evt.Request.EnvelopeID
	}
	switch evt.Type {
	case socketmode.EventTypeConnecting:
		b.log.Debug("slack: socket mode connecting")
	case socketmode.EventTypeConnected:
		b.log.Info("slack: socket mode connected")
	case socketmode.EventTypeHello:
		b.connected.Store(true)
		b.log.Debug("slack: socket mode hello")
	case socketmode.EventTypeDisconnect:
		b.connected.Store(false)
		b.log.Info("slack: Slack asked to reconnect")
	case socketmode.EventTypeConnectionError:
		b.connected.Store(false)
		if ce, ok := evt.Data.(*slackgo.ConnectionErrorEvent); ok {
			b.log.Warn("slack: socket mode connection error", "error", ce.ErrorObj, "attempt", ce.Attempt, "backoff", ce.Backoff)
		}
	case socketmode.EventTypeInvalidAuth:
		return errors.New("invalid_auth")
	case socketmode.EventTypeErrorBadMessage, socketmode.EventTypeIncomingError:
		b.log.Warn("slack: socket mode message not understood", "data", fmt.Sprint(evt.Data))
	case socketmode.EventTypeSlashCommand:
		cmd, ok := evt.Data.(slackgo.SlashCommand)
		if !ok {
			ack(nil)
			return nil
		}
		acks := &commits{}
		b.ackAfter(ctx, evt.Request, acks, b.onCommand(cmd, envelope(), acks), ack)
	case socketmode.EventTypeInteractive:
		cb, ok := evt.Data.(slackgo.InteractionCallback)
		if !ok {
			ack(nil)
			return nil
		}
		acks := &commits{}
		b.ackAfter(ctx, evt.Request, acks, b.onInteraction(&cb, envelope(), acks), ack)
	case socketmode.EventTypeEventsAPI:
		ev, ok := evt.Data.(slackevents.EventsAPIEvent)
		if !ok {
			ack(nil)
			return nil
		}
		acks := &commits{}
		b.onEvent(ev, envelope(), acks)
		b.ackAfter(ctx, evt.Request, acks, nil, ack)
	}
	return nil
}

// ackAfter acknowledges an envelope once the work it queued has stored its
// state change, as HTTP mode answers 200 only then: an envelope
// acknowledged is not lost if the process dies next. Work that could not
// store its change is not acknowledged, so Slack delivers the envelope
// again. The wait runs beside the read loop, which goes on reading.
func (b *Bot) ackAfter(ctx context.Context, req *socketmode.Request, acks *commits, payload any, ack func(any)) {
	if len(acks.works) == 0 {
		ack(payload)
		return
	}
	go func() {
		if !acks.wait(b.cfg.AckWait) {
			env := ""
			if req != nil {
				env = req.EnvelopeID
			}
			b.log.Warn("slack: work not stored (failed, or not within the acknowledgement deadline); not acknowledging, so Slack delivers it again", "envelope", env, "wait", b.cfg.AckWait)
			return
		}
		if ctx.Err() == nil {
			ack(payload)
		}
	}()
}
