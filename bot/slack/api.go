package slack

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	slackgo "github.com/slack-go/slack"

	"github.com/vpndiag/vpndiag"
)

// call runs one Web API call. When Slack answers "rate limited" it waits for
// Retry-After (capped at MaxRetryAfter) and tries once more. Errors are
// logged with what an operator should do about them.
func (b *Bot) call(ctx context.Context, method string, fn func(ctx context.Context) error) error {
	err := fn(ctx)
	var rl *slackgo.RateLimitedError
	if errors.As(err, &rl) {
		wait := min(max(rl.RetryAfter, 0), b.cfg.MaxRetryAfter)
		b.log.Warn("slack: rate limited; retrying once", "method", method, "retry_after", rl.RetryAfter, "wait", wait)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
			err = fn(ctx)
		case <-ctx.Done():
			t.Stop()
			err = ctx.Err()
		}
	}
	if err != nil {
		b.logAPIError(method, err)
		return fmt.Errorf("slack %s: %w", method, err)
	}
	return nil
}

func (b *Bot) logAPIError(method string, err error) {
	var se slackgo.SlackErrorResponse
	var rl *slackgo.RateLimitedError
	switch {
	case errors.As(err, &se) && se.Err == "missing_scope":
		b.log.Error("slack: the app lacks a scope for this call; add it under OAuth & Permissions (or in slack/manifest.yaml) and reinstall the app",
			"method", method, "needed", se.Needed, "provided", se.Provided)
	case errors.As(err, &se) && (se.Err == "channel_not_found" || se.Err == "not_in_channel"):
		b.log.Warn("slack: cannot use the channel; invite the bot to it (/invite @vpndiag) or check the channel ID", "method", method, "error", se.Err)
	case errors.As(err, &se) && (se.Err == "invalid_auth" || se.Err == "not_authed" || se.Err == "token_revoked" || se.Err == "account_inactive"):
		b.log.Error("slack: the bot token was refused; check slack.bot_token / SLACK_BOT_TOKEN", "method", method, "error", se.Err)
	case errors.As(err, &rl):
		b.log.Warn("slack: still rate limited after one retry", "method", method, "retry_after", rl.RetryAfter)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		b.log.Warn("slack: call cancelled", "method", method, "error", err)
	default:
		b.log.Error("slack: API call failed", "method", method, "error", err)
	}
}

// userMessage turns an error into a sentence safe to show in Slack.
func userMessage(err error) string {
	var se slackgo.SlackErrorResponse
	var rl *slackgo.RateLimitedError
	var ve *vpndiag.Error
	switch {
	case errors.As(err, &ve):
		return ve.Message
	case errors.As(err, &rl):
		return "Slack is rate limiting me; try again in a minute."
	case errors.As(err, &se) && se.Err == "missing_scope":
		needed := se.Needed
		if needed == "" {
			needed = "a permission"
		}
		return fmt.Sprintf("The app is missing the Slack scope %s; ask a workspace admin to add it and reinstall the app.", needed)
	case errors.As(err, &se) && (se.Err == "channel_not_found" || se.Err == "not_in_channel"):
		return "I can't post in this channel; invite me first (/invite @vpndiag)."
	case errors.As(err, &se) && (se.Err == "expired_trigger_id" || se.Err == "invalid_trigger_id" || se.Err == "exchanged_trigger_id"):
		return "Slack took too long to open the form; click again."
	}
	return "Something went wrong on my side; the details are in the bot's log. Try again, or ask your admin."
}

// post posts a message (in a thread when threadTS is set) and returns its ts.
func (b *Bot) post(ctx context.Context, channel, threadTS, text string, blocks []slackgo.Block) (string, error) {
	opts := []slackgo.MsgOption{slackgo.MsgOptionText(text, false)}
	if len(blocks) > 0 {
		opts = append(opts, slackgo.MsgOptionBlocks(blocks...))
	}
	if threadTS != "" {
		opts = append(opts, slackgo.MsgOptionTS(threadTS))
	}
	var ts string
	err := b.call(ctx, "chat.postMessage", func(ctx context.Context) error {
		var err error
		_, ts, err = b.api.PostMessageContext(ctx, channel, opts...)
		return err
	})
	return ts, err
}

// update replaces the message at ts.
func (b *Bot) update(ctx context.Context, channel, ts, text string, blocks []slackgo.Block) error {
	opts := []slackgo.MsgOption{slackgo.MsgOptionText(text, false)}
	if len(blocks) > 0 {
		opts = append(opts, slackgo.MsgOptionBlocks(blocks...))
	}
	return b.call(ctx, "chat.update", func(ctx context.Context) error {
		_, _, _, err := b.api.UpdateMessageContext(ctx, channel, ts, opts...)
		return err
	})
}

// replyTo says where a user-facing answer goes.
type replyTo struct {
	channel, user, threadTS string
	// responseURL, when set, is used when the channel refuses an ephemeral
	// message (the bot is not a member).
	responseURL string
}

// tell answers a user ephemerally; failures are logged, not returned.
func (b *Bot) tell(ctx context.Context, to replyTo, text string) {
	if to.channel == "" || to.user == "" {
		b.log.Warn("slack: nowhere to tell the user", "text", text)
		return
	}
	opts := []slackgo.MsgOption{slackgo.MsgOptionText(text, false)}
	if to.threadTS != "" {
		opts = append(opts, slackgo.MsgOptionTS(to.threadTS))
	}
	err := b.call(ctx, "chat.postEphemeral", func(ctx context.Context) error {
		_, err := b.api.PostEphemeralContext(ctx, to.channel, to.user, opts...)
		return err
	})
	if err == nil || to.responseURL == "" || !b.responseURLAllowed(to.responseURL) {
		return
	}
	if werr := slackgo.PostWebhookContext(ctx, to.responseURL, &slackgo.WebhookMessage{Text: text, ResponseType: slackgo.ResponseTypeEphemeral}); werr != nil {
		b.log.Warn("slack: response_url fallback failed", "error", werr)
	}
}

// responseURLAllowed accepts Slack's https hooks and the configured API host.
func (b *Bot) responseURLAllowed(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	if u.Scheme == "https" && (u.Host == "hooks.slack.com" || strings.HasSuffix(u.Host, ".slack.com")) {
		return true
	}
	return u.Scheme == b.apiURL.Scheme && strings.EqualFold(u.Host, b.apiURL.Host)
}

// openView opens a modal with trigger.
func (b *Bot) openView(ctx context.Context, trigger string, v slackgo.ModalViewRequest) error {
	// A trigger lives about 3 seconds: do not wait for a rate limit longer.
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	return b.call(ctx, "views.open", func(ctx context.Context) error {
		_, err := b.api.OpenViewContext(ctx, trigger, v)
		return err
	})
}

// permalink returns the link to the message at ts, or "" when Slack does
// not give one (the message is gone, or the call failed).
func (b *Bot) permalink(ctx context.Context, channel, ts string) string {
	if ts == "" {
		return ""
	}
	var link string
	err := b.call(ctx, "chat.getPermalink", func(ctx context.Context) error {
		var err error
		link, err = b.api.GetPermalinkContext(ctx, &slackgo.PermalinkParameters{Channel: channel, Ts: ts})
		return err
	})
	if err != nil || !strings.HasPrefix(link, "https://") || strings.ContainsAny(link, "<>|") {
		return ""
	}
	return link
}
