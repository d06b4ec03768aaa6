package slack

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	slackgo "github.com/slack-go/slack"
	"gopkg.in/yaml.v3"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/bot"
)

// ephemeral is an immediate ephemeral answer to a slash command (the HTTP
// response body, or the Socket Mode ack payload).
func ephemeral(text string) *slackgo.Msg {
	return &slackgo.Msg{ResponseType: slackgo.ResponseTypeEphemeral, Text: text}
}

// onCommand handles a slash command: it answers what needs no work at once
// and queues the rest. envelope is the Socket Mode envelope ID, if any. The
// returned value (nil for none) is the acknowledgement's payload; acks, when
// not nil, collects the queued work the acknowledgement waits for.
func (b *Bot) onCommand(cmd slackgo.SlashCommand, envelope string, acks *commits) any {
	c, err := bot.ParseCommand(cmd.Text)
	if err != nil {
		return ephemeral(vpndiag.ErrorMessage(err) + "\n\n" + bot.Help(b.cfg.Command))
	}
	b.log.Info("slack: command", "verb", c.Verb, "user", cmd.UserID, "channel", cmd.ChannelID)
	if c.Verb == bot.VerbHelp {
		return ephemeral(bot.Help(b.cfg.Command))
	}
	to := replyTo{channel: cmd.ChannelID, user: cmd.UserID, responseURL: cmd.ResponseURL}
	keys := []string{envKey(envelope), "slack:cmd:" + cmd.TriggerID}
	if !b.submit("command "+string(c.Verb), acks, func(ctx context.Context) {
		if ok, err := b.claim(ctx, keys...); err != nil {
			b.log.Error("slack: dedup", "error", err)
			notStored(ctx)
			b.tell(ctx, to, "I could not record your command; try again in a minute.")
			return
		} else if !ok {
			return
		}
		if c.Verb == bot.VerbStart {
			if wait := b.starts.allow(cmd.UserID); wait > 0 {
				b.log.Warn("slack: case starts over the per-user cap", "user", cmd.UserID, "max", b.cfg.MaxStartsPerUser, "window", b.cfg.StartWindow)
				b.tell(ctx, to, fmt.Sprintf("You have opened %d cases in the last %s, the most allowed; continue one of them (`%s cases` lists them) or try again in %s.",
					b.cfg.MaxStartsPerUser, humanDuration(b.cfg.StartWindow), b.cfg.Command, humanDuration(wait)))
				return
			}
		}
		if err := b.runCommand(ctx, cmd, c, to); err != nil {
			if storeFailure(err) {
				notStored(ctx)
			}
			b.log.Warn("slack: command failed", "verb", c.Verb, "user", cmd.UserID, "error", err)
			b.tell(ctx, to, userMessage(err))
		}
	}) {
		return ephemeral("I'm busy right now; try again in a minute.")
	}
	return nil
}

func envKey(envelope string) string {
	if envelope == "" {
		return ""
	}
	return "slack:env:" + envelope
}

func (b *Bot) runCommand(ctx context.Context, cmd slackgo.SlashCommand, c bot.Command, to replyTo) error {
	switch c.Verb {
	case bot.VerbSetup:
		if err := b.policy.CanDiagnose(ctx, cmd.UserID, cmd.ChannelID); err != nil {
			return err
		}
		return b.openSetup(ctx, cmd, c.Site)
	case bot.VerbStart:
		if err := b.policy.CanDiagnose(ctx, cmd.UserID, cmd.ChannelID); err != nil {
			return err
		}
		return b.startCase(ctx, cmd, c)
	case bot.VerbStatus:
		if err := b.policy.CanDiagnose(ctx, cmd.UserID, cmd.ChannelID); err != nil {
			return err
		}
		cs, err := b.findCase(ctx, cmd.ChannelID, c.Case)
		if err != nil {
			return err
		}
		b.tell(ctx, to, b.statusText(ctx, cs))
		b.repostStep(ctx, cs)
		return nil
	case bot.VerbCases:
		if err := b.policy.CanDiagnose(ctx, cmd.UserID, cmd.ChannelID); err != nil {
			return err
		}
		return b.listCases(ctx, cmd.ChannelID, to)
	case bot.VerbExport:
		if err := b.policy.CanExport(ctx, cmd.UserID, cmd.ChannelID); err != nil {
			return err
		}
		cs, err := b.findCase(ctx, cmd.ChannelID, c.Case)
		if err != nil {
			return err
		}
		b.tell(ctx, to, fmt.Sprintf("Building the support bundle of %s; it will appear in the case thread.", cs.Marker))
		return b.export(ctx, cs, cmd.UserID)
	}
	return fmt.Errorf("command %q not handled", c.Verb)
}

// findCase returns the case named by marker, or the newest case of the
// channel. A case of another channel is reported as not found, so a marker
// cannot be guessed from elsewhere.
func (b *Bot) findCase(ctx context.Context, channel, marker string) (*vpndiag.Case, error) {
	if marker == "" {
		cs, _, err := b.deps.Cases.FindCases(ctx, vpndiag.CaseFilter{ChannelID: &channel, Limit: 1})
		if err != nil {
			return nil, fmt.Errorf("find cases: %w", err)
		}
		if len(cs) == 0 {
			return nil, vpndiag.Errorf(vpndiag.ENOTFOUND, "There is no case in this channel yet; `%s start` opens one.", b.cfg.Command)
		}
		return cs[0], nil
	}
	cs, err := b.deps.Cases.FindCaseByMarker(ctx, marker)
	if vpndiag.ErrorCode(err) == vpndiag.ENOTFOUND || (err == nil && cs.ChannelID != channel) {
		if err == nil {
			b.log.Warn("slack: case asked for from another channel", "marker", marker, "channel", channel, "case_channel", cs.ChannelID)
		}
		return nil, vpndiag.Errorf(vpndiag.ENOTFOUND, "There is no case %s in this channel.", marker)
	} else if err != nil {
		return nil, fmt.Errorf("find case %s: %w", marker, err)
	}
	return cs, nil
}

// startCase posts the case's root message, stores the case with its
// thread, starts the flow and posts the first step in the thread.
func (b *Bot) startCase(ctx context.Context, cmd slackgo.SlashCommand, c bot.Command) error {
	cs := &vpndiag.Case{
		Title:     c.Topic,
		Status:    vpndiag.CaseOpen,
		Origin:    "slack",
		ChannelID: cmd.ChannelID,
		CreatedBy: cmd.UserID,
	}
	if cs.Title == "" {
		cs.Title = "VPN troubleshooting"
	}
	site, err := b.pickSite(ctx, c.Site, cmd.ChannelID)
	if err != nil {
		return err
	}
	if site != nil {
		cs.SiteID = site.ID
	}
	if cs.Marker, err = vpndiag.NewUniqueMarker(ctx, b.deps.Cases, b.now(), nil); err != nil {
		return err
	}
	text, blocks := rootMessage(cs.Marker, cs.Title, cmd.UserID)
	// The root message first: if Slack refuses it (bot not in the channel),
	// nothing is stored.
	ts, err := b.post(ctx, cmd.ChannelID, "", text, blocks)
	if err != nil {
		return err
	}
	cs.ThreadTS = ts
	if err := b.deps.Cases.CreateCase(ctx, cs); err != nil {
		b.failRoot(ctx, cs, "could not be stored")
		return fmt.Errorf("create case: %w", err)
	}
	if cs.ThreadTS != ts { // a store that ignores ThreadTS on create
		if _, err := b.deps.Cases.UpdateCase(ctx, cs.ID, vpndiag.CaseUpdate{ThreadTS: &ts}); err != nil {
			return fmt.Errorf("store thread of case %d: %w", cs.ID, err)
		}
		cs.ThreadTS = ts
	}
	unlock, err := b.locks.Lock(ctx, cs.ID)
	if err != nil {
		return err
	}
	defer unlock()
	step, err := b.deps.Diagnoser.Start(ctx, cs.ID, "", cmd.UserID)
	if err != nil {
		b.failRoot(ctx, cs, "could not start: "+vpndiag.ErrorMessage(err))
		return fmt.Errorf("start case %d: %w", cs.ID, err)
	}
	committed(ctx)
	b.log.Info("slack: case opened", "case", cs.Marker, "id", cs.ID, "user", cmd.UserID, "channel", cmd.ChannelID)
	return b.advance(ctx, cs, step, cmd.UserID)
}

func (b *Bot) failRoot(ctx context.Context, cs *vpndiag.Case, why string) {
	_ = b.update(ctx, cs.ChannelID, cs.ThreadTS, fmt.Sprintf("VPN case %s %s.", cs.Marker, why),
		[]slackgo.Block{section(fmt.Sprintf(":warning: VPN case %s %s. Try `%s start` again.", cs.Marker, esc(why), b.cfg.Command))})
}

// pickSite returns the named site, the only site the channel may use when
// there is exactly one, or nil. A site of other channels is refused.
func (b *Bot) pickSite(ctx context.Context, name, channel string) (*vpndiag.Site, error) {
	if name != "" {
		s, err := b.deps.Sites.FindSiteByName(ctx, name)
		if vpndiag.ErrorCode(err) == vpndiag.ENOTFOUND {
			return nil, vpndiag.Errorf(vpndiag.ENOTFOUND, "There is no site profile %q; `%s setup %s` creates it.", name, b.cfg.Command, name)
		}
		if err == nil && !s.UsableIn(channel) {
			return nil, siteOfAnotherChannel(name)
		}
		return s, err
	}
	sites, err := b.deps.Sites.FindSites(ctx)
	if err != nil {
		return nil, fmt.Errorf("find sites: %w", err)
	}
	return onlyUsable(sites, channel), nil
}

// repostStep posts the step an open case waits on in its thread again,
// with its buttons, so that a case can be continued when the message of
// its step is lost (deleted, or never posted because the bot stopped
// between storing an answer and showing the next step).
func (b *Bot) repostStep(ctx context.Context, cs *vpndiag.Case) {
	if cs.Status != vpndiag.CaseOpen || cs.ThreadTS == "" {
		return
	}
	st, err := b.deps.Diagnoser.Current(ctx, cs.ID)
	if err != nil || st.Kind.Terminal() {
		return
	}
	text, blocks := stepMessage(cs, st)
	if st.Kind == vpndiag.StepProbe && b.deps.Prober == nil {
		blocks = append(blocks, contextLine(":warning: No relay is configured, so I can't run these probes yet."))
	}
	if _, err := b.post(ctx, cs.ChannelID, cs.ThreadTS, text, blocks); err != nil {
		b.log.Warn("slack: step not posted again", "case", cs.Marker, "error", err)
	}
}

func (b *Bot) statusText(ctx context.Context, cs *vpndiag.Case) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "*%s* — %s\nStatus: *%s* · opened by <@%s> on %s", cs.Marker, esc(cs.Title), cs.Status, cs.CreatedBy, cs.CreatedAt.UTC().Format("2006-01-02 15:04 UTC"))
	if cs.SiteID != 0 {
		if s, err := b.deps.Sites.FindSiteByID(ctx, cs.SiteID); err == nil {
			fmt.Fprintf(&sb, " · site %s", esc(s.Name))
		}
	}
	if cs.Status == vpndiag.CaseOpen {
		if st, err := b.deps.Diagnoser.Current(ctx, cs.ID); err == nil {
			fmt.Fprintf(&sb, "\nWaiting on: *%s* (%s, step %d)", esc(st.Title), st.Kind, st.Seq)
		} else {
			b.log.Warn("slack: current step", "case", cs.Marker, "error", err)
		}
	}
	if cs.Resolution != "" {
		fmt.Fprintf(&sb, "\nResolution: %s%s", esc(cs.Resolution), kbRef(cs.KBArticle))
	}
	if b.deps.Findings != nil {
		if fs, err := b.deps.Findings.FindFindings(ctx, cs.ID); err == nil && len(fs) > 0 {
			fmt.Fprintf(&sb, "\nFindings: %d, worst: %s %s", len(fs), severityEmoji(fs[0].Severity), esc(fs[0].Summary))
		}
	}
	return sb.String()
}

func (b *Bot) listCases(ctx context.Context, channel string, to replyTo) error {
	cs, total, err := b.deps.Cases.FindCases(ctx, vpndiag.CaseFilter{ChannelID: &channel, Limit: 10})
	if err != nil {
		return fmt.Errorf("find cases: %w", err)
	}
	if len(cs) == 0 {
		b.tell(ctx, to, fmt.Sprintf("There is no case in this channel yet; `%s start` opens one.", b.cfg.Command))
		return nil
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "*Cases in this channel* (%d of %d, newest first)\n", len(cs), total)
	for _, c := range cs {
		fmt.Fprintf(&sb, "• `%s` %s — *%s*, <@%s>, %s\n", c.Marker, esc(clip(c.Title, 80)), c.Status, c.CreatedBy, c.CreatedAt.UTC().Format("2006-01-02"))
	}
	b.tell(ctx, to, sb.String())
	return nil
}

// export builds the bundle into a temporary file and uploads it into the
// case thread with the files upload v2 flow.
func (b *Bot) export(ctx context.Context, cs *vpndiag.Case, user string) error {
	// Exporting changes no state until the upload's event: acknowledge now.
	committed(ctx)
	if b.deps.Exporter == nil {
		return vpndiag.Errorf(vpndiag.EUNAVAILABLE, "Exporting bundles is not enabled on this bot; ask your admin.")
	}
	f, err := os.CreateTemp("", "vpndiag-bundle-*")
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	name, err := b.deps.Exporter.Export(ctx, cs.ID, f)
	if err != nil {
		return fmt.Errorf("export case %d: %w", cs.ID, err)
	}
	size, err := f.Seek(0, 2)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if size == 0 {
		return fmt.Errorf("export case %d: empty bundle", cs.ID)
	}
	var sum *slackgo.FileSummary
	err = b.call(ctx, "files.upload.v2", func(ctx context.Context) error {
		if _, err := f.Seek(0, 0); err != nil {
			return err
		}
		var err error
		sum, err = b.api.UploadFileContext(ctx, slackgo.UploadFileParameters{
			Reader:          f,
			FileSize:        int(size),
			Filename:        name,
			Title:           fmt.Sprintf("Support bundle %s", cs.Marker),
			InitialComment:  fmt.Sprintf(":package: Support bundle of %s, exported by <@%s>. Attach it to your support ticket.", cs.Marker, user),
			Channel:         cs.ChannelID,
			ThreadTimestamp: cs.ThreadTS,
		})
		return err
	})
	if err != nil {
		return err
	}
	data, _ := json.Marshal(map[string]any{"slack_file_id": sum.ID, "filename": name, "size": size})
	if err := b.deps.Events.AppendEvent(ctx, &vpndiag.Event{CaseID: cs.ID, Actor: user, Kind: vpndiag.EventExport,
		Message: fmt.Sprintf("bundle %s uploaded to Slack", name), Data: data}); err != nil {
		b.log.Warn("slack: export event", "case", cs.Marker, "error", err)
	}
	b.log.Info("slack: bundle uploaded", "case", cs.Marker, "file", sum.ID, "bytes", size)
	return nil
}

// setupMeta is the setup modal's private metadata.
type setupMeta struct {
	Channel string `json:"c"`
}

func (b *Bot) openSetup(ctx context.Context, cmd slackgo.SlashCommand, name string) error {
	text := siteTemplate
	if name != "" {
		s, err := b.deps.Sites.FindSiteByName(ctx, name)
		switch {
		case err == nil && !s.OwnedBy(cmd.ChannelID):
			// Read only by the channels that own it; one without channels
			// comes from the config file and is changed there.
			if len(s.Channels) == 0 {
				return vpndiag.Errorf(vpndiag.EFORBIDDEN, "Site profile %q comes from the bot's configuration; ask an admin to change it there.", name)
			}
			return siteOfAnotherChannel(name)
		case err == nil:
			out, err := yaml.Marshal(s)
			if err != nil {
				return fmt.Errorf("site yaml: %w", err)
			}
			text = string(out)
		case vpndiag.ErrorCode(err) == vpndiag.ENOTFOUND:
			text = strings.Replace(siteTemplate, "name: hq", "name: "+name, 1)
		default:
			return fmt.Errorf("find site: %w", err)
		}
	}
	meta, _ := json.Marshal(setupMeta{Channel: cmd.ChannelID})
	return b.openView(ctx, cmd.TriggerID, setupModal(text, string(meta)))
}

// parseSite decodes the setup modal's YAML strictly and validates it.
func parseSite(text string) (*vpndiag.Site, error) {
	var s vpndiag.Site
	dec := yaml.NewDecoder(strings.NewReader(text))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		return nil, vpndiag.Errorf(vpndiag.EINVALID, "Not a valid site profile: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// humanDuration rounds d up to whole minutes (seconds under a minute) for
// messages.
func humanDuration(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%d s", int((d+time.Second-1)/time.Second))
	}
	m := int((d + time.Minute - 1) / time.Minute)
	if m == 1 {
		return "1 minute"
	}
	return fmt.Sprintf("%d minutes", m)
}
