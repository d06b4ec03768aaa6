package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	slackgo "github.com/slack-go/slack"
	"gopkg.in/yaml.v3"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/bot"
	"github.com/vpndiag/vpndiag/kb"
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
		return ephemeral(safeText(vpndiag.ErrorMessage(err)) + "\n\n" + bot.Help(b.cfg.Command))
	}
	b.log.Info("slack: command", "verb", c.Verb, "user", cmd.UserID, "channel", cmd.ChannelID)
	switch c.Verb {
	case bot.VerbHelp:
		return ephemeral(bot.Help(b.cfg.Command))
	case bot.VerbKB:
		return ephemeral(b.kbText(c.Article))
	}
	to := replyTo{channel: cmd.ChannelID, user: cmd.UserID, responseURL: cmd.ResponseURL}
	key := "slack:cmd:" + cmd.TriggerID
	if !b.seen.begin(key, envelope) {
		b.log.Info("slack: duplicate delivery ignored", "key", key)
		return nil
	}
	if !b.submit("command "+string(c.Verb), acks, func(ctx context.Context) {
		w := b.seen.work(key)
		defer w.end()
		// The claim is the one write the acknowledgement waits for: from
		// here on the command is done once, whatever happens to this
		// process or to Slack's retries.
		if first, err := b.claimDelivery(ctx, w); err != nil {
			b.tell(ctx, to, "I could not record your command (the database is busy); try again in a minute.")
			return
		} else if !first {
			return
		}
		report := func(ctx context.Context, err error) {
			b.log.Warn("slack: command failed", "verb", c.Verb, "user", cmd.UserID, "error", err)
			b.tell(ctx, to, say(err))
		}
		onLaterError(ctx, report)
		if c.Verb == bot.VerbStart {
			// The case and its session are what the acknowledgement of a
			// start promises: stored before it goes (startCase calls
			// committed); the thread's messages come after.
			if err := b.runCommand(ctx, cmd, c, to); err != nil {
				if storeFailure(err) {
					w.notStored(ctx)
				}
				report(ctx, err)
			}
			return
		}
		if c.Verb == bot.VerbStatus {
			// A case whose flow never started (the bot stopped between
			// storing it and starting it) is started before the
			// acknowledgement, like any start.
			if cs, err := b.findCase(ctx, cmd.ChannelID, c.Case); err == nil && cs.Status == vpndiag.CaseOpen && b.policy.CanDiagnose(ctx, cmd.UserID, cmd.ChannelID) == nil {
				if _, err := b.resume(ctx, cs, cs.CreatedBy); storeFailure(err) {
					w.notStored(ctx)
					report(ctx, err)
					return
				}
			}
		}
		// Nothing else a command does changes a case: the claim is the
		// acknowledgement's one write.
		committed(ctx)
		_ = later(ctx, func(ctx context.Context) error { return b.runCommand(ctx, cmd, c, to) })
	}) {
		b.seen.end(key, false)
		return ephemeral("I'm busy right now; try again in a minute.")
	}
	return nil
}

// kbText is a kb article as mrkdwn, or the list of articles.
func (b *Bot) kbText(slug string) string {
	if slug != "" {
		e, err := kb.Article(slug)
		if err == nil {
			return kbMessage(e)
		}
		slug = esc(slug)
	}
	var sb strings.Builder
	if slug != "" {
		fmt.Fprintf(&sb, "There is no article %s. ", code(slug))
	}
	fmt.Fprintf(&sb, "The knowledge-base articles (`%s kb NAME` shows one):\n", b.cfg.Command)
	for _, e := range kb.Articles() {
		fmt.Fprintf(&sb, "• %s — %s\n", code(e.Slug), esc(e.Title))
	}
	return fitMrkdwn(sb.String(), maxSectionText)
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
		if wait := b.starts.allow(cmd.UserID); wait > 0 {
			b.log.Warn("slack: case starts over the per-user cap", "user", cmd.UserID, "max", b.cfg.MaxStartsPerUser, "window", b.cfg.StartWindow)
			return vpndiag.Errorf(vpndiag.EFORBIDDEN, "You have opened %d cases in the last %s, the most allowed; continue one of them (`%s cases` lists them) or try again in %s.",
				b.cfg.MaxStartsPerUser, humanDuration(b.cfg.StartWindow), b.cfg.Command, humanDuration(wait))
		}
		if err := b.startCase(ctx, cmd, c); err != nil {
			// Only cases that opened count against the cap.
			b.starts.forget(cmd.UserID)
			return err
		}
		return nil
	case bot.VerbStatus:
		if err := b.policy.CanDiagnose(ctx, cmd.UserID, cmd.ChannelID); err != nil {
			return err
		}
		cs, err := b.findCase(ctx, cmd.ChannelID, c.Case)
		if err != nil {
			return err
		}
		b.tell(ctx, to, b.statusText(ctx, cs))
		return nil
	case bot.VerbCases:
		if err := b.policy.CanDiagnose(ctx, cmd.UserID, cmd.ChannelID); err != nil {
			return err
		}
		return b.listCases(ctx, cmd.ChannelID, to)
	case bot.VerbExport:
		if err := b.policy.ChannelAllowed(cmd.ChannelID); err != nil {
			return err
		}
		cs, err := b.findCase(ctx, cmd.ChannelID, c.Case)
		if err != nil {
			return err
		}
		return b.exportFor(ctx, cs, to)
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
	// The case and its session first: they are what the acknowledgement
	// promises. The thread's root message (a Slack call) comes after.
	if err := b.deps.Cases.CreateCase(ctx, cs); err != nil {
		return fmt.Errorf("create case: %w", err)
	}
	unlock, err := b.locks.Lock(ctx, cs.ID)
	if err != nil {
		return err
	}
	defer unlock()
	step, err := b.deps.Diagnoser.Start(ctx, cs.ID, "", cmd.UserID)
	if err != nil {
		b.abandon(ctx, cs, cmd.UserID)
		return fmt.Errorf("start case %d: %w", cs.ID, err)
	}
	committed(ctx)
	b.log.Info("slack: case opened", "case", cs.Marker, "id", cs.ID, "user", cmd.UserID, "channel", cmd.ChannelID)
	return b.laterLocked(ctx, cs.ID, func(ctx context.Context) error {
		if err := b.ensureThread(ctx, cs); err != nil {
			// Slack refused the case's message (the bot is not in the
			// channel, say): the case cannot be worked on there, so it is
			// closed, and it does not count against the cap.
			b.abandon(ctx, cs, cmd.UserID)
			b.starts.forget(cmd.UserID)
			return err
		}
		return b.advance(ctx, cs, step, cmd.UserID)
	})
}

// ensureThread posts the channel message that opens the case's thread when
// the case has none yet (it is posted after the case is stored, so a crash
// in between leaves a case without one), and stores its ts.
func (b *Bot) ensureThread(ctx context.Context, cs *vpndiag.Case) error {
	if cs.ThreadTS != "" {
		return nil
	}
	text, blocks := caseCard(cs, "", nil)
	ts, err := b.post(ctx, cs.ChannelID, "", text, blocks)
	if err != nil {
		return err
	}
	upd, err := b.deps.Cases.UpdateCase(ctx, cs.ID, vpndiag.CaseUpdate{ThreadTS: &ts})
	if err != nil {
		return fmt.Errorf("store thread of case %d: %w", cs.ID, err)
	}
	*cs = *upd
	return nil
}

// abandon closes a case that could not be opened in Slack.
func (b *Bot) abandon(ctx context.Context, cs *vpndiag.Case, user string) {
	closed := vpndiag.CaseClosed
	if _, err := b.deps.Cases.UpdateCase(ctx, cs.ID, vpndiag.CaseUpdate{Status: &closed}); err != nil {
		b.log.Warn("slack: case not closed after a failed start", "case", cs.Marker, "error", err)
	}
	cs.Status = closed
	b.log.Info("slack: case closed: it could not be opened in Slack", "case", cs.Marker, "user", user)
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

// statusText is where a case stands, for the person who asked: the same
// facts as its channel message, with a link to the step it waits on
// (rather than the step posted again).
func (b *Bot) statusText(ctx context.Context, cs *vpndiag.Case) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "*%s* — %s\n*Status:* %s · opened by <@%s> on %s", cs.Marker, esc(clip(cs.Title, 200)), statusWords(cs.Status), cs.CreatedBy, cs.CreatedAt.UTC().Format("2006-01-02 15:04 UTC"))
	if cs.SiteID != 0 {
		if s, err := b.deps.Sites.FindSiteByID(ctx, cs.SiteID); err == nil {
			fmt.Fprintf(&sb, " · site %s", esc(s.Name))
		}
	}
	if cs.Status == vpndiag.CaseOpen {
		if ls, ok := b.lives.get(cs.ID); ok && b.isCurrent(ctx, cs, ls.step.Seq) {
			title := esc(clip(ls.step.Title, 200))
			if link := b.permalink(ctx, cs.ChannelID, ls.ts); link != "" {
				fmt.Fprintf(&sb, "\n*Waiting on:* <%s|%s>", link, title)
			} else {
				fmt.Fprintf(&sb, "\n*Waiting on:* %s (in the case thread)", title)
			}
		} else if st, err := b.resume(ctx, cs, cs.CreatedBy); err == nil {
			fmt.Fprintf(&sb, "\n*Waiting on:* %s", esc(clip(st.Title, 200)))
			if err := b.ensureThread(ctx, cs); err != nil {
				b.log.Warn("slack: case thread not opened", "case", cs.Marker, "error", err)
			} else if !st.Kind.Terminal() || len(st.Choices) > 0 {
				// The step's message is not known to this process (it was
				// restarted since): post it again so its buttons work.
				if ts, err := b.postStep(ctx, cs, st); err == nil {
					if link := b.permalink(ctx, cs.ChannelID, ts); link != "" {
						fmt.Fprintf(&sb, " — <%s|posted again in the thread>", link)
					}
				} else {
					b.log.Warn("slack: step not posted again", "case", cs.Marker, "error", err)
				}
			}
		} else {
			b.log.Warn("slack: current step", "case", cs.Marker, "error", err)
		}
	}
	if cs.Resolution != "" && cs.Status != vpndiag.CaseOpen {
		fmt.Fprintf(&sb, "\n*Outcome:* %s%s", esc(clip(cs.Resolution, 200)), kbRef(cs.KBArticle))
	}
	if b.deps.Findings != nil {
		if fs, err := b.deps.Findings.FindFindings(ctx, cs.ID); err == nil && len(fs) > 0 {
			fmt.Fprintf(&sb, "\n*Findings:* %d, worst: %s %s", len(fs), severityEmoji(fs[0].Severity), esc(clip(fs[0].Summary, 200)))
		}
	}
	return sb.String()
}

// resume returns the step a case waits on; a case whose flow never
// started (the bot stopped between storing the case and starting it) is
// started now.
func (b *Bot) resume(ctx context.Context, cs *vpndiag.Case, actor string) (*vpndiag.Step, error) {
	st, err := b.deps.Diagnoser.Current(ctx, cs.ID)
	if vpndiag.ErrorCode(err) != vpndiag.ENOTFOUND {
		return st, err
	}
	unlock, err := b.locks.Lock(ctx, cs.ID)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if st, err := b.deps.Diagnoser.Current(ctx, cs.ID); vpndiag.ErrorCode(err) != vpndiag.ENOTFOUND {
		return st, err
	}
	b.log.Info("slack: starting the flow of a case that never started", "case", cs.Marker)
	return b.deps.Diagnoser.Start(ctx, cs.ID, "", actor)
}

// isCurrent reports whether the case waits on the step of seq.
func (b *Bot) isCurrent(ctx context.Context, cs *vpndiag.Case, seq int) bool {
	st, err := b.deps.Diagnoser.Current(ctx, cs.ID)
	return err == nil && st.Seq == seq
}

// listCases lists the open cases of a channel.
func (b *Bot) listCases(ctx context.Context, channel string, to replyTo) error {
	open := vpndiag.CaseOpen
	cs, total, err := b.deps.Cases.FindCases(ctx, vpndiag.CaseFilter{ChannelID: &channel, Status: &open, Limit: 10})
	if err != nil {
		return fmt.Errorf("find cases: %w", err)
	}
	if len(cs) == 0 {
		b.tell(ctx, to, fmt.Sprintf("There is no open case in this channel; `%s start` opens one.", b.cfg.Command))
		return nil
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "*Open cases in this channel* (%d of %d, newest first)\n", len(cs), total)
	for _, c := range cs {
		fmt.Fprintf(&sb, "• %s %s — <@%s>, %s\n", code(c.Marker), esc(clip(c.Title, 80)), c.CreatedBy, c.CreatedAt.UTC().Format("2006-01-02"))
	}
	b.tell(ctx, to, sb.String())
	return nil
}

// participants are the people who opened a case or acted in it.
func (b *Bot) participants(ctx context.Context, cs *vpndiag.Case) ([]string, error) {
	out := []string{cs.CreatedBy}
	evs, err := b.deps.Events.FindEvents(ctx, cs.ID)
	if err != nil {
		return nil, fmt.Errorf("events of case %d: %w", cs.ID, err)
	}
	for _, e := range evs {
		if e.Actor != "" {
			out = append(out, e.Actor)
		}
	}
	return out, nil
}

// exportInfo is the data of a case's export event.
type exportInfo struct {
	FileID   string `json:"slack_file_id"`
	Filename string `json:"filename"`
	Size     int64  `json:"size"`
	// Version is the case version exported: the last event that is not an
	// export.
	Version int64 `json:"version"`
}

// exportFor exports the bundle of a case for the person who asked, if they
// may: one bundle per version of the case. When nothing happened in the
// case since its last export, that bundle is pointed at again rather than
// built and uploaded a second time.
func (b *Bot) exportFor(ctx context.Context, cs *vpndiag.Case, to replyTo) error {
	if b.deps.Exporter == nil {
		return vpndiag.Errorf(vpndiag.EINVALID, "Exporting bundles is not enabled on this bot; ask your admin.")
	}
	ps, err := b.participants(ctx, cs)
	if err != nil {
		return err
	}
	if err := b.policy.CanExport(ctx, to.user, cs.ChannelID, ps); err != nil {
		return err
	}
	unlock, err := b.locks.Lock(ctx, cs.ID)
	if err != nil {
		return err
	}
	defer unlock()
	evs, err := b.deps.Events.FindEvents(ctx, cs.ID)
	if err != nil {
		return fmt.Errorf("events of case %d: %w", cs.ID, err)
	}
	var version int64
	var last *exportInfo
	for _, e := range evs {
		if e.Kind != vpndiag.EventExport {
			version = max(version, e.ID)
			continue
		}
		var x exportInfo
		if json.Unmarshal(e.Data, &x) == nil && x.FileID != "" {
			last = &x
		}
	}
	if last != nil && last.Version == version {
		b.tell(ctx, to, fmt.Sprintf("Nothing changed in %s since its bundle %s was exported, so it is not built again: it is further up in the case thread (%s).",
			cs.Marker, code(last.Filename), humanBytes(last.Size)))
		return nil
	}
	b.tell(ctx, to, fmt.Sprintf("Building the support bundle of %s; it will appear in the case thread.", cs.Marker))
	return b.export(ctx, cs, to.user, version)
}

// export builds the bundle into a temporary file and uploads it into the
// case thread with the files upload v2 flow. The caller holds the lock.
func (b *Bot) export(ctx context.Context, cs *vpndiag.Case, user string, version int64) error {
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
	data, _ := json.Marshal(exportInfo{FileID: sum.ID, Filename: name, Size: size, Version: version})
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
		return nil, vpndiag.Errorf(vpndiag.EINVALID, "Not a valid site profile: %s", humanYAML(err))
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// yamlType names a Go type of the site profile in words.
var yamlType = strings.NewReplacer("[]string", "a list", "[]netip.Addr", "a list of IP addresses", "[]netip.Prefix", "a list of CIDR ranges",
	"netip.Addr", "an IP address", "netip.Prefix", "a CIDR range", "int", "a number", "bool", "true or false", "string", "text")

// yamlLine matches one problem of a YAML decoding error.
var (
	yamlUnknown = regexp.MustCompile(`^line (\d+): field (\S+) not found in type \S+$`)
	yamlWrong   = regexp.MustCompile("^line (\\d+): cannot unmarshal !!(\\w+) (`[^`]*`)? ?into (\\S+)$")
	yamlSyntax  = regexp.MustCompile(`^line (\d+): (.*)$`)
)

// humanYAML turns a YAML decoding error into sentences a person can act
// on, without Go type names.
func humanYAML(err error) string {
	if errors.Is(err, io.EOF) {
		return "the form is empty."
	}
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n")
	var out []string
	for _, l := range strings.Split(msg, "\n") {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		switch {
		case yamlUnknown.MatchString(l):
			m := yamlUnknown.FindStringSubmatch(l)
			out = append(out, fmt.Sprintf("line %s: there is no field %q (the fields are those of the sites: section of the config file).", m[1], m[2]))
		case yamlWrong.MatchString(l):
			m := yamlWrong.FindStringSubmatch(l)
			what := strings.Trim(m[3], "`")
			if what == "" {
				what = "this value"
			} else {
				what = strconv.Quote(what)
			}
			out = append(out, fmt.Sprintf("line %s: %s should be %s.", m[1], what, yamlType.Replace(m[4])))
		case yamlSyntax.MatchString(l):
			m := yamlSyntax.FindStringSubmatch(l)
			out = append(out, fmt.Sprintf("line %s is not valid YAML (%s); check the indentation and the \": \" after each field name.", m[1], m[2]))
		default:
			out = append(out, "it is not valid YAML; check the indentation and the \": \" after each field name.")
		}
		if len(out) == 5 {
			break
		}
	}
	return strings.Join(out, " ")
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
