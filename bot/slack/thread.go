package slack

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	slackgo "github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/evidence"
)

// hintWindow is how long a case thread's typed chatter gets no second
// hint (hints).
const hintWindow = 10 * time.Minute

// ignoredMessage says whether a message event is not a person writing in
// a thread: a bot's message, an edit, a deletion, a join, a file share
// (file_shared reads files), or a message outside any thread.
func ignoredMessage(e *slackevents.MessageEvent) bool {
	return e.SubType != "" && e.SubType != "thread_broadcast" || e.BotID != "" || e.User == "" ||
		e.ThreadTimeStamp == "" || e.ThreadTimeStamp == e.TimeStamp
}

// mentionsBot says whether text mentions one of the bot's user IDs (from
// the event's authorizations): app_mention answers those messages.
func mentionsBot(text string, bots []string) bool {
	for _, id := range bots {
		if id != "" && (strings.Contains(text, "<@"+id+">") || strings.Contains(text, "<@"+id+"|")) {
			return true
		}
	}
	return false
}

// botUsers are the bot's user IDs an Events API callback was delivered for.
func botUsers(cb *slackevents.EventsAPICallbackEvent) []string {
	var ids []string
	for _, a := range cb.Authorizations {
		if a.IsBot && a.UserID != "" {
			ids = append(ids, a.UserID)
		}
	}
	return append(ids, cb.AuthedUsers...)
}

// typed is a message a person wrote in a case thread.
type typed struct {
	channel, ts, user, text string
	// mention: the bot was @-mentioned, so the message is always answered.
	mention bool
}

// threadMessage answers a message typed in a case thread: pasted device
// output (a configuration, log lines, SA status) goes through the same
// intake as a file; a message with a secret in it is answered with a
// request to delete it; anything else gets what the case waits for, at
// most once per case every hintWindow unless the bot was mentioned.
func (b *Bot) threadMessage(ctx context.Context, cs *vpndiag.Case, m typed) {
	to := replyTo{channel: m.channel, user: m.user, threadTS: cs.ThreadTS}
	raw := m.text
	if m.mention {
		raw = leadingMention.ReplaceAllString(raw, "") // "@vpndiag" is not part of what was pasted
	}
	text := pastedText(raw)
	if strings.TrimSpace(text) == "" && !m.mention {
		return // nothing typed (a file shared without words, say)
	}
	rec := evidence.Recognise(text)
	stored := false
	if rec.Kind != vpndiag.EvidenceOther {
		at := messageTime(m.ts)
		who := m.user
		if !userID.MatchString(who) {
			who = "someone"
		}
		name := fmt.Sprintf("pasted-%s-%s.%s", at.Format("150405"), who, pasteExt(rec.Kind))
		stored = b.take(ctx, cs, shared{
			key: "slack:msg:" + m.channel + ":" + m.ts, noun: "message", name: name, user: m.user,
			label: fmt.Sprintf("Text pasted at %s UTC (stored as %s)", at.Format("15:04"), name),
			size:  int64(len(text)),
			read: func(ctx context.Context) (string, []*vpndiag.Finding, error) {
				return b.deps.Evidence.Attach(ctx, cs.ID, name, strings.NewReader(text), m.user)
			},
		})
	}
	if rec.Secrets > 0 {
		b.secretNotice(ctx, cs, m.user, rec.Secrets, stored)
		return
	}
	if rec.Kind != vpndiag.EvidenceOther {
		return
	}
	// In memory only: after a restart a thread may get one hint more.
	if !m.mention && b.hints.allow(strconv.FormatInt(cs.ID, 10)) > 0 {
		return
	}
	b.tell(ctx, to, "I read buttons and files (and device output pasted here: a config, log lines, SA status), not typed sentences, in a case thread. "+b.statusText(ctx, cs))
}

// secretNotice asks the person who pasted a secret in the thread to delete
// the message: a bot token cannot delete another person's message. The
// secret is never repeated.
func (b *Bot) secretNotice(ctx context.Context, cs *vpndiag.Case, user string, n int, stored bool) {
	kept := "vpndiag stored nothing of it."
	if stored {
		kept = "vpndiag stored only a redacted copy, without it."
	}
	what := "a secret"
	if n > 1 {
		what = fmt.Sprintf("%d secrets", n)
	}
	who := "someone"
	if userID.MatchString(user) {
		who = "<@" + user + ">"
	}
	line := fmt.Sprintf(":warning: %s, the message you posted contains %s (a pre-shared key, password or key material). %s "+
		"Everyone in this channel can still read your message: please delete it (hover over it → ⋮ *More actions* → *Delete message*); "+
		"the bot cannot delete a person's message. If people outside your team can read this channel, change the secret on both ends.",
		who, what, kept)
	if _, err := b.post(ctx, cs.ChannelID, cs.ThreadTS, fallback("The message you posted contains %s: please delete it.", what),
		[]slackgo.Block{section(line)}); err != nil {
		b.log.Warn("slack: secret notice not posted", "case", cs.Marker, "error", err)
	}
}

// pasteExt is the stored file's extension for a pasted text of kind.
func pasteExt(kind vpndiag.EvidenceKind) string {
	switch kind {
	case vpndiag.EvidenceConfig:
		return "conf"
	case vpndiag.EvidenceLog:
		return "log"
	}
	return "txt"
}

// messageTime is the time of a Slack message timestamp ("1700000300.000100").
func messageTime(ts string) time.Time {
	sec, _, _ := strings.Cut(ts, ".")
	n, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		return time.Time{}.UTC()
	}
	return time.Unix(n, 0).UTC()
}

var (
	// leadingMention is the mention that starts a message written to the bot.
	leadingMention = regexp.MustCompile(`^\s*<@[UW][A-Z0-9]+(?:\|[^<>]*)?>\s*`)
	// userID is a Slack user ID, safe to write as a mention.
	userID = regexp.MustCompile(`^[UW][A-Z0-9]{1,20}$`)
	// slackLink is Slack's markup of a link, a mention or a channel:
	// <https://x|label>, <mailto:a@b|a@b>, <@U1>, <#C1|name>.
	slackLink = regexp.MustCompile(`<([^<>|\s]*)(?:\|([^<>]*))?>`)
	// fence is a code fence line or inline marker: ``` with an optional language.
	fence          = regexp.MustCompile("```")
	slackUnescaper = strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&")
)

// pastedText is the text a person pasted, as they pasted it: Slack's code
// fences removed, its links turned back into their text, and &lt; &gt;
// &amp; unescaped.
func pastedText(s string) string {
	s = fence.ReplaceAllString(s, "\n")
	s = slackLink.ReplaceAllStringFunc(s, func(m string) string {
		sub := slackLink.FindStringSubmatch(m)
		if sub[2] != "" {
			return sub[2]
		}
		return strings.TrimPrefix(sub[1], "mailto:")
	})
	s = slackUnescaper.Replace(s)
	return strings.Trim(s, "\n")
}
