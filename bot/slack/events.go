package slack

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	slackgo "github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/evidence"
)

// onEvent queues the work of an Events API callback: files shared in a
// case thread (file_shared), messages written in one (message), and the
// bot mentioned in one (app_mention).
// envelope is the Socket Mode envelope ID, if any; acks collects the queued
// work the acknowledgement waits for.
func (b *Bot) onEvent(ev slackevents.EventsAPIEvent, envelope string, acks *commits) {
	if ev.Type != slackevents.CallbackEvent {
		return
	}
	var eventID string
	var bots []string
	if cb, ok := ev.Data.(*slackevents.EventsAPICallbackEvent); ok {
		eventID, bots = cb.EventID, botUsers(cb)
	}
	if m, ok := ev.InnerEvent.Data.(*slackevents.MessageEvent); ok && (ignoredMessage(m) || mentionsBot(m.Text, bots)) {
		// Not a person writing in a thread, or a mention app_mention answers.
		return
	}
	key := "slack:evt:" + eventID
	if eventID == "" {
		key = envKey(envelope)
	}
	if key == "" || !b.seen.begin(key, envelope) {
		return
	}
	var fn func(ctx context.Context)
	// relevant, when set, says before the delivery is claimed (a store
	// write) whether there is anything to do.
	var relevant func(ctx context.Context) bool
	job := "app_mention"
	switch e := ev.InnerEvent.Data.(type) {
	case *slackevents.FileSharedEvent:
		fn, job = func(ctx context.Context) { b.fileShared(ctx, e) }, "file_shared"
	case *slackevents.AppMentionEvent:
		fn = func(ctx context.Context) { b.mentioned(ctx, e) }
	case *slackevents.MessageEvent:
		// Most replies in a channel are not in a case thread: only those
		// in one are claimed and answered.
		var cs *vpndiag.Case
		relevant = func(ctx context.Context) bool {
			cs = b.caseOfThread(ctx, e.Channel, e.ThreadTimeStamp)
			return cs != nil
		}
		fn, job = func(ctx context.Context) {
			b.threadMessage(ctx, cs, typed{channel: e.Channel, ts: e.TimeStamp, user: e.User, text: e.Text})
		}, "message"
	default:
		b.seen.end(key, false)
		return
	}
	if !b.submit(job, acks, func(ctx context.Context) {
		w := b.seen.work(key)
		defer w.end()
		if relevant != nil && !relevant(ctx) {
			return
		}
		if first, err := b.claimDelivery(ctx, w); err != nil || !first {
			return
		}
		committed(ctx)
		_ = later(ctx, func(ctx context.Context) error { fn(ctx); return nil })
	}) {
		b.seen.end(key, false)
	}
}

// fileShared finds the case thread a file was shared in and reads the file.
func (b *Bot) fileShared(ctx context.Context, e *slackevents.FileSharedEvent) {
	f, err := b.fileInfo(ctx, e.FileID)
	if err != nil {
		return
	}
	for _, sh := range []map[string][]slackgo.ShareFileInfo{f.Shares.Public, f.Shares.Private} {
		for _, info := range sh[e.ChannelID] {
			if info.ThreadTs == "" {
				continue
			}
			if cs := b.caseOfThread(ctx, e.ChannelID, info.ThreadTs); cs != nil {
				b.intake(ctx, cs, f, e.UserID)
				return
			}
		}
	}
}

// mentioned answers a person who wrote to the bot: outside a case thread
// it says how to open one; in one it reads the message as any other typed
// there (pasted device output is evidence), and always answers.
func (b *Bot) mentioned(ctx context.Context, e *slackevents.AppMentionEvent) {
	if e.BotID != "" || e.User == "" {
		return
	}
	thread := e.ThreadTimeStamp
	if thread == "" {
		thread = e.TimeStamp
	}
	to := replyTo{channel: e.Channel, user: e.User, threadTS: thread}
	cs := b.caseOfThread(ctx, e.Channel, thread)
	if cs == nil {
		b.tell(ctx, to, fmt.Sprintf("I work through `%s`: `%s start` opens a case in a thread, `%s help` says the rest.", b.cfg.Command, b.cfg.Command, b.cfg.Command))
		return
	}
	b.threadMessage(ctx, cs, typed{channel: e.Channel, ts: e.TimeStamp, user: e.User, text: e.Text, mention: true})
}

// caseOfThread returns the case whose thread is threadTS, or nil.
func (b *Bot) caseOfThread(ctx context.Context, channel, threadTS string) *vpndiag.Case {
	cs, _, err := b.deps.Cases.FindCases(ctx, vpndiag.CaseFilter{ChannelID: &channel, ThreadTS: &threadTS, Limit: 1})
	if err != nil {
		b.log.Error("slack: find case of thread", "error", err)
		return nil
	}
	if len(cs) == 0 {
		return nil
	}
	return cs[0]
}

func (b *Bot) fileInfo(ctx context.Context, id string) (*slackgo.File, error) {
	var f *slackgo.File
	err := b.call(ctx, "files.info", func(ctx context.Context) error {
		var err error
		f, _, _, err = b.api.GetFileInfoContext(ctx, id, 0, 0)
		return err
	})
	return f, err
}

// binaryTypes are media types refused without downloading.
var binaryTypes = []string{"image/", "video/", "audio/", "application/zip", "application/pdf", "application/x-", "application/octet-stream", "application/vnd."}

// intake downloads one file shared in a case thread (at most once per file)
// and hands it to take.
func (b *Bot) intake(ctx context.Context, cs *vpndiag.Case, f *slackgo.File, user string) {
	name := f.Name
	if name == "" {
		name = f.ID
	}
	url := f.URLPrivateDownload
	if url == "" {
		url = f.URLPrivate
	}
	b.take(ctx, cs, shared{
		key: "slack:file:" + f.ID, noun: "file", name: name, label: name, user: user, size: int64(f.Size),
		read: func(ctx context.Context) (string, []*vpndiag.Finding, error) {
			for _, p := range binaryTypes {
				if strings.HasPrefix(f.Mimetype, p) {
					return "", nil, refusal(fmt.Sprintf("it is a %s file; I read text configs and logs. Export them as text and upload them again.", f.Mimetype))
				}
			}
			return b.download(ctx, cs, url, name, user)
		},
	})
}

// shared is one piece of evidence shared in a case thread: a file, or
// device output pasted as a message.
type shared struct {
	// key claims it once and is the idempotency key of the step it
	// decides: "slack:file:F…" or "slack:msg:C…:ts".
	key string
	// noun is "file" or "message", for the answers.
	noun string
	// name is the name it is stored under; label how the thread names it.
	name, label string
	// user shared it.
	user string
	// size is its size in bytes, when known before reading.
	size int64
	// read hands it to evidence analysis (Deps.Evidence.Attach).
	read func(ctx context.Context) (summary string, findings []*vpndiag.Finding, err error)
}

// refusal is a reason, in plain words, not to read a piece of evidence.
type refusal string

func (r refusal) Error() string { return string(r) }

// take is the one intake of evidence shared in a case thread, files and
// pasted messages alike: claimed once, refused with a reason in the thread
// (closed case, no permission, over the size cap, binary), otherwise
// analysed and stored by evidence (redaction, detection, findings and the
// event in one transaction), what was read said in the thread, and an
// evidence step answered by the findings. It reports whether the evidence
// was stored.
func (b *Bot) take(ctx context.Context, cs *vpndiag.Case, s shared) bool {
	to := replyTo{channel: cs.ChannelID, user: s.user, threadTS: cs.ThreadTS}
	if ok, err := b.claim(ctx, s.key); err != nil || !ok {
		if err != nil {
			b.log.Error("slack: dedup", "error", err)
		}
		return false
	}
	// refuse says in the thread, for everyone, why it was not read (why
	// is plain words).
	refuse := func(why string) {
		b.log.Info("slack: evidence refused", "case", cs.Marker, "key", s.key, "name", s.name, "why", why)
		if _, err := b.post(ctx, cs.ChannelID, cs.ThreadTS, fallback("%s was not read: %s", s.label, why),
			[]slackgo.Block{section(fmt.Sprintf(":no_entry_sign: *%s* was not read: %s", esc(clip(s.label, 200)), esc(why)))}); err != nil {
			b.log.Warn("slack: refusal not posted", "case", cs.Marker, "error", err)
		}
	}
	if cs.Status != vpndiag.CaseOpen {
		refuse(fmt.Sprintf("case %s is %s. Re-open it with the button on the case's message in the channel, then share the %s again.", cs.Marker, cs.Status, s.noun))
		return false
	}
	if err := b.policy.CanDiagnose(ctx, s.user, cs.ChannelID); err != nil {
		b.tell(ctx, to, say(err))
		refuse("the person who shared it may not add evidence to this case.")
		return false
	}
	if b.deps.Evidence == nil {
		refuse("evidence analysis is not enabled on this bot.")
		return false
	}
	if s.size > b.cfg.MaxUploadBytes {
		refuse(fmt.Sprintf("it is %s, over the limit of %s. Upload the relevant part (the VPN section of the config, or the log lines around the failure).", humanBytes(s.size), humanBytes(b.cfg.MaxUploadBytes)))
		return false
	}
	summary, findings, err := s.read(ctx)
	var bin *binaryError
	var no refusal
	switch {
	case errors.As(err, &no):
		refuse(string(no))
		return false
	case errors.Is(err, errTooLarge):
		refuse(fmt.Sprintf("it is over the limit of %s.", humanBytes(b.cfg.MaxUploadBytes)))
		return false
	case errors.As(err, &bin):
		refuse(fmt.Sprintf("it looks binary: it is %s. I read text configs and logs. Export them as text and upload them again.", bin.kind))
		return false
	case err != nil:
		b.log.Warn("slack: evidence failed", "case", cs.Marker, "key", s.key, "error", err)
		refuse(userMessage(err))
		return false
	}
	committed(ctx)
	text, blocks := evidenceMessage(s.label, s.user, summary, findings, cs.Marker)
	if _, err := b.post(ctx, cs.ChannelID, cs.ThreadTS, text, blocks); err != nil {
		b.log.Warn("slack: evidence result not posted", "case", cs.Marker, "error", err)
	}
	b.answerEvidence(ctx, cs, s)
	return true
}

// answerEvidence moves the case on after a file was stored: the engine
// reads the case's findings from the store, so the step the file decides
// is passed when the case is looked at next. The live step message loses
// its buttons and says what decided it, and every step passed and the step
// the case now waits on (a resolution, say) are posted in the thread.
func (b *Bot) answerEvidence(ctx context.Context, cs *vpndiag.Case, s shared) {
	user := s.user
	unlock, err := b.locks.Lock(ctx, cs.ID)
	if err != nil {
		return
	}
	defer unlock()
	to := replyTo{channel: cs.ChannelID, user: user, threadTS: cs.ThreadTS}
	ls, hadLive := b.lives.get(cs.ID)
	cur, err := b.deps.Diagnoser.Current(ctx, cs.ID)
	if err != nil {
		b.log.Warn("slack: current step after evidence", "case", cs.Marker, "error", err)
		b.tell(ctx, to, say(err))
		return
	}
	next := cur
	if cur.Kind == vpndiag.StepEvidence {
		next, err = b.deps.Diagnoser.Reply(ctx, cs.ID, vpndiag.Reply{Seq: cur.Seq, Actor: user, IdempotencyKey: s.key})
		if vpndiag.ErrorCode(err) == vpndiag.ECONFLICT {
			return
		} else if err != nil {
			b.log.Warn("slack: evidence reply", "case", cs.Marker, "error", err)
			b.tell(ctx, to, say(err))
			return
		}
		ls, hadLive = liveStep{step: cur}, true
		if l, ok := b.lives.get(cs.ID); ok {
			ls.ts = l.ts
		}
	} else if !hadLive || ls.step.Seq == cur.Seq {
		// The file decided nothing: the case waits where it did.
		return
	}
	b.lives.take(cs.ID)
	if hadLive && ls.ts != "" {
		text, blocks := movedMessage(ls.step, fmt.Sprintf("Answered by the %s *%s* from <@%s>.", s.noun, esc(clip(s.label, 200)), user))
		if err := b.update(ctx, cs.ChannelID, ls.ts, text, blocks); err != nil {
			b.log.Warn("slack: decided step not updated", "case", cs.Marker, "error", err)
		}
	}
	if err := b.advance(ctx, cs, next, user); err != nil {
		b.log.Warn("slack: next step", "case", cs.Marker, "error", err)
	}
}

var errTooLarge = errors.New("file over the upload limit")

// binaryError refuses a download whose head is not text; kind says what
// it looks like (evidence.Binary's words).
type binaryError struct{ kind string }

func (e *binaryError) Error() string { return "file is binary: " + e.kind }

// download streams the file with the bot token (Authorization: Bearer) into
// evidence analysis, refusing binary content and stopping at the size cap.
func (b *Bot) download(ctx context.Context, cs *vpndiag.Case, url, name, user string) (string, []*vpndiag.Finding, error) {
	pr, pw := io.Pipe()
	go func() {
		w := &capWriter{w: pw, left: b.cfg.MaxUploadBytes}
		err := b.api.GetFileContext(ctx, url, w)
		if err == nil && w.over {
			err = errTooLarge
		}
		pw.CloseWithError(err)
	}()
	defer pr.Close()
	br := bufio.NewReaderSize(pr, 8192)
	head, err := br.Peek(8192)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		if errors.Is(err, errTooLarge) {
			return "", nil, errTooLarge
		}
		return "", nil, fmt.Errorf("download %s: %w", name, err)
	}
	if kind := evidence.Binary(head); kind != "" {
		return "", nil, &binaryError{kind}
	}
	src := &errReader{r: br}
	summary, findings, err := b.deps.Evidence.Attach(ctx, cs.ID, name, src, user)
	if src.err != nil {
		if errors.Is(src.err, errTooLarge) {
			return "", nil, errTooLarge
		}
		return "", nil, fmt.Errorf("download %s: %w", name, src.err)
	}
	return summary, findings, err
}

// capWriter passes at most left bytes and then fails, so a download stops
// at the cap.
type capWriter struct {
	w    io.Writer
	left int64
	over bool
}

func (c *capWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > c.left {
		c.over = true
		return 0, errTooLarge
	}
	c.left -= int64(len(p))
	return c.w.Write(p)
}

// errReader remembers a read error other than EOF.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		e.err = err
	}
	return n, err
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
