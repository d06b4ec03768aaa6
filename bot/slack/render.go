package slack

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	slackgo "github.com/slack-go/slack"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/bot"
	"github.com/vpndiag/vpndiag/kb"
)

// Block Kit limits (docs.slack.dev/reference/block-kit), and our own bound
// on the text of one message: Slack refuses a message whose blocks are long
// in total (msg_blocks_too_long) well before any one block is full, so a
// message carries at most maxMessageText characters of block text and says
// "and N more — full list in the bundle" for the rest.
const (
	maxSectionText = 3000
	maxHeaderText  = 150
	maxButtonText  = 75
	maxButtons     = 25
	maxBlocks      = 50
	maxMessageText = 10000
	maxFallback    = 2000
	// maxSectionFill is how full the bot fills a section it packs lines
	// into, leaving room for the "and N more" line.
	maxSectionFill = 2800
	// maxLine bounds one line built from stored or uploaded text (a
	// finding, a probe summary), so that one long value cannot fill a
	// message.
	maxLine = 600
)

// esc makes plain text (typed by a user, read from a file, or a title)
// safe in mrkdwn: it escapes the three characters Slack treats as control
// characters, so the text cannot forge mentions or links, and turns
// backticks into quotes, so it cannot open a code span that swallows the
// rest of the message.
func esc(s string) string {
	return escaper.Replace(s)
}

var (
	escaper     = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "`", "'")
	htmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")
)

// mention matches the user and user group mentions the bot itself writes
// in messages it builds from errors (the admins to ask for access).
var mention = regexp.MustCompile(`&lt;(@[UW][A-Z0-9]{1,20}|!subteam\^S[A-Z0-9]{1,20})&gt;`)

// safeText escapes s for mrkdwn but keeps user and user group mentions
// (never a broadcast such as <!channel>): for sentences the bot builds,
// such as error messages, that may quote what a user typed.
func safeText(s string) string {
	t := htmlEscaper.Replace(s)
	if strings.Count(t, "`")%2 != 0 {
		t = strings.ReplaceAll(t, "`", "'")
	}
	return mention.ReplaceAllString(t, "<$1>")
}

// fallback is the top-level text of a message (notifications, screen
// readers): plain words, escaped, bounded.
func fallback(format string, args ...any) string {
	return esc(clip(fmt.Sprintf(format, args...), maxFallback))
}

// clip shortens s to n runes, ending with "…" when cut.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// clipWords shortens s to n runes at a word boundary, ending with "…".
func clipWords(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)[:n-1]
	if i := strings.LastIndexAny(string(r), " -/"); i > n/2 {
		return strings.TrimRight(string(r)[:i], " -/,;:") + "…"
	}
	return string(r) + "…"
}

// code formats s as an inline code span: escaped, bounded, and without
// backticks that would end the span early.
func code(s string) string {
	s = strings.NewReplacer("\n", " ").Replace(clip(s, 200))
	if s == "" {
		return ""
	}
	return "`" + esc(s) + "`"
}

// fitMrkdwn bounds authored mrkdwn to n runes: cut at a line end, never
// inside a code span.
func fitMrkdwn(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)[:n-2]
	cut := string(r)
	if i := strings.LastIndexByte(cut, '\n'); i > len(cut)/2 {
		cut = cut[:i]
	}
	if strings.Count(strings.ReplaceAll(cut, "```", ""), "`")%2 != 0 {
		cut += "`"
	}
	if strings.Count(cut, "```")%2 != 0 {
		cut += "\n```"
	}
	return cut + "…"
}

func mrkdwn(text string) *slackgo.TextBlockObject {
	return slackgo.NewTextBlockObject(slackgo.MarkdownType, fitMrkdwn(text, maxSectionText), false, false)
}

func plain(text string, n int) *slackgo.TextBlockObject {
	return slackgo.NewTextBlockObject(slackgo.PlainTextType, clipWords(text, n), false, false)
}

func section(text string) *slackgo.SectionBlock {
	return slackgo.NewSectionBlock(mrkdwn(text), nil, nil)
}

func contextLine(text string) *slackgo.ContextBlock {
	return slackgo.NewContextBlock("", mrkdwn(text))
}

func button(a bot.Action, label string, style slackgo.Style) *slackgo.ButtonBlockElement {
	btn := slackgo.NewButtonBlockElement(a.ID(), a.Key, plain(label, maxButtonText))
	if style != "" {
		btn.WithStyle(style)
	}
	return btn
}

// packLines packs lines into sections of at most maxSectionFill runes, and
// at most budget runes and maxSections sections in all. Lines that do not
// fit are counted in "and N more", which names where the full list is.
func packLines(lines []string, budget, maxSections int, rest string) []slackgo.Block {
	var blocks []slackgo.Block
	var cur []string
	curLen, used := 0, 0
	flush := func() {
		if len(cur) > 0 {
			blocks = append(blocks, section(strings.Join(cur, "\n")))
			cur, curLen = nil, 0
		}
	}
	for i, l := range lines {
		n := utf8.RuneCountInString(l) + 1
		if curLen+n > maxSectionFill {
			flush()
		}
		if used+n > budget || len(blocks) >= maxSections || (len(blocks) == maxSections-1 && curLen+n > maxSectionFill) {
			flush()
			more := len(lines) - i
			blocks = append(blocks, contextLine(fmt.Sprintf("… and %d more — %s", more, rest)))
			return blocks
		}
		cur = append(cur, l)
		curLen += n
		used += n
	}
	flush()
	return blocks
}

// fitBlocks is the last guard before a message is sent: at most maxBlocks
// blocks (the last ones, which carry the buttons, are kept).
func fitBlocks(blocks []slackgo.Block) []slackgo.Block {
	if len(blocks) <= maxBlocks {
		return blocks
	}
	keep := 2 // the last two blocks: the actions and their context
	head := blocks[:maxBlocks-keep-1]
	out := append([]slackgo.Block{}, head...)
	out = append(out, contextLine(fmt.Sprintf("… %d more blocks left out.", len(blocks)-len(head)-keep)))
	return append(out, blocks[len(blocks)-keep:]...)
}

// kbRef names a kb article readably: its title, and the command that shows
// it in Slack.
func kbRef(slug string) string {
	if slug == "" {
		return ""
	}
	if e, err := kb.Article(slug); err == nil {
		return fmt.Sprintf(" — see *%s* (`%s kb %s`)", esc(e.Title), DefaultCommand, slug)
	}
	return fmt.Sprintf(" (kb %s)", code(slug))
}

// kbMessage renders a kb article as mrkdwn, bounded to one message.
func kbMessage(e *kb.Entry) string {
	var b strings.Builder
	fmt.Fprintf(&b, "*%s*\n_Guide section: %s_\n", esc(e.Title), esc(e.GuideSection))
	inFence := false
	for _, l := range strings.Split(e.Body, "\n") {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "```") {
			inFence = !inFence
			b.WriteString("```\n")
			continue
		}
		switch {
		case inFence:
			b.WriteString(htmlEscaper.Replace(l))
		case strings.HasPrefix(t, "#"):
			b.WriteString("*" + esc(strings.TrimSpace(strings.TrimLeft(t, "#"))) + "*")
		case strings.Count(l, "`")%2 == 0:
			// The article's own inline code, balanced on the line.
			b.WriteString(htmlEscaper.Replace(strings.ReplaceAll(l, "**", "*")))
		default:
			b.WriteString(esc(strings.ReplaceAll(l, "**", "*")))
		}
		b.WriteByte('\n')
	}
	return fitMrkdwn(strings.TrimSpace(b.String()), maxSectionText*3)
}

// statusWords is how a case status reads on its channel message.
func statusWords(s vpndiag.CaseStatus) string {
	switch s {
	case vpndiag.CaseOpen:
		return ":large_blue_circle: Open"
	case vpndiag.CaseResolved:
		return ":white_check_mark: Resolved"
	case vpndiag.CaseEscalated:
		return ":sos: Handed to support"
	case vpndiag.CaseClosed:
		return ":black_circle: Closed"
	}
	return string(s)
}

// caseCard is the channel message that opens a case's thread, updated in
// place as the case moves: status, owner, current step, resolution, and the
// case's own buttons (Close or Re-open).
func caseCard(cs *vpndiag.Case, siteName string, now *vpndiag.Step) (string, []slackgo.Block) {
	title := cs.Title
	if title == "" {
		title = "VPN troubleshooting"
	}
	var b strings.Builder
	fmt.Fprintf(&b, ":satellite_antenna: *VPN case %s* — %s\n", cs.Marker, esc(clip(title, 200)))
	fmt.Fprintf(&b, "*Status:* %s · *Owner:* <@%s>", statusWords(cs.Status), cs.CreatedBy)
	if siteName != "" {
		fmt.Fprintf(&b, " · *Site:* %s", esc(siteName))
	}
	if cs.Status == vpndiag.CaseOpen && now != nil {
		fmt.Fprintf(&b, "\n*Now:* %s", esc(clip(now.Title, 200)))
	}
	if cs.Resolution != "" && cs.Status != vpndiag.CaseOpen {
		res := cs.Resolution
		if now != nil && now.Kind.Terminal() {
			res = now.Title
		}
		fmt.Fprintf(&b, "\n*Outcome:* %s%s", esc(clip(res, 300)), kbRef(cs.KBArticle))
	}
	blocks := []slackgo.Block{section(b.String())}
	var els []slackgo.BlockElement
	act := func(key string) bot.Action { return bot.Action{CaseID: cs.ID, Seq: 0, Key: key} }
	if cs.Status == vpndiag.CaseOpen {
		blocks = append(blocks, contextLine("The diagnosis runs in this thread: answer with the buttons; drop device configs or logs there when asked (secrets are redacted before anything is stored)."))
		els = append(els, button(act(bot.KeyClose), "Close the case", ""))
	} else {
		els = append(els, button(act(bot.KeyReopen), "Re-open", ""))
	}
	if cs.ID > 0 {
		// (A case being opened has no ID yet: its buttons come with the
		// first update.)
		blocks = append(blocks, slackgo.NewActionBlock("case", els...))
	}
	return fallback("VPN case %s (%s): %s", cs.Marker, cs.Status, title), blocks
}

// autoLines lists the steps answered without a person on the way here:
// the question, the answer taken and what answered it.
func autoLines(s *vpndiag.Step) []string {
	var lines []string
	for _, a := range s.Auto {
		lines = append(lines, fmt.Sprintf("• %s — *%s* (%s)", esc(clip(a.Question, 200)), esc(clip(a.Answer, 200)), esc(clip(a.By, 200))))
	}
	return lines
}

// stepHead is the part of a step shown before and after it is answered.
func stepHead(s *vpndiag.Step) []slackgo.Block {
	var blocks []slackgo.Block
	if lines := autoLines(s); len(lines) > 0 {
		if len(lines) > 12 {
			lines = append(lines[:12], fmt.Sprintf("• … and %d more — all are in the bundle's timeline", len(lines)-12))
		}
		blocks = append(blocks, contextLine("Answered automatically:\n"+strings.Join(lines, "\n")))
	}
	if len(s.Notes) > 0 {
		var notes []string
		for _, n := range s.Notes {
			notes = append(notes, ":warning: "+esc(clip(n, 500)))
		}
		blocks = append(blocks, packLines(notes, 2500, 2, "all are in the bundle's timeline")...)
	}
	body := "*" + esc(clip(s.Title, 300)) + "*"
	if s.Text != "" {
		body += "\n" + s.Text
	}
	blocks = append(blocks, section(body))
	return blocks
}

// choiceButtons renders the choices of a question in the order the flow
// defines, at most 25 to an actions block. A label longer than a button
// takes is shortened at a word and shown in full above the buttons.
func choiceButtons(s *vpndiag.Step, keys func(vpndiag.Choice) bot.Action) []slackgo.Block {
	var blocks []slackgo.Block
	var long []string
	var els []slackgo.BlockElement
	n := 0
	for _, ch := range s.Choices {
		if !bot.ValidKey(ch.Key) {
			continue
		}
		if utf8.RuneCountInString(ch.Label) > maxButtonText {
			long = append(long, "• "+esc(ch.Label))
		}
		els = append(els, button(keys(ch), ch.Label, ""))
		if len(els) == maxButtons {
			blocks = append(blocks, slackgo.NewActionBlock(fmt.Sprintf("step-%d-%d", s.Seq, n), els...))
			els, n = nil, n+1
		}
	}
	if len(els) > 0 {
		blocks = append(blocks, slackgo.NewActionBlock(fmt.Sprintf("step-%d-%d", s.Seq, n), els...))
	}
	if len(long) > 0 {
		blocks = append([]slackgo.Block{contextLine(strings.Join(long, "\n"))}, blocks...)
	}
	return blocks
}

// inputLabel is the button and field label of an input step.
func inputLabel(in *vpndiag.InputSpec) string {
	if in == nil {
		return "Enter the value"
	}
	if in.Label != "" {
		return in.Label
	}
	switch in.Kind {
	case vpndiag.InputIP:
		return "Enter an IP address"
	case vpndiag.InputCIDR:
		return "Enter an address range (CIDR)"
	case vpndiag.InputFQDN:
		return "Enter a DNS name"
	case vpndiag.InputPort:
		return "Enter a port number"
	}
	return "Type your answer"
}

// stepActions are the buttons of a step waiting on the user.
func stepActions(s *vpndiag.Step, probeMode probeMode) []slackgo.Block {
	act := func(key string) bot.Action { return bot.Action{CaseID: s.CaseID, Seq: s.Seq, Key: key} }
	id := fmt.Sprintf("step-%d", s.Seq)
	switch s.Kind {
	case vpndiag.StepQuestion:
		return choiceButtons(s, func(ch vpndiag.Choice) bot.Action { return act(ch.Key) })
	case vpndiag.StepResolution:
		if len(s.Choices) == 0 {
			return nil
		}
		return append([]slackgo.Block{section("*" + esc(vpndiag.ConfirmFixQuestion) + "*")},
			choiceButtons(s, func(ch vpndiag.Choice) bot.Action { return act(ch.Key) })...)
	case vpndiag.StepInput:
		return []slackgo.Block{slackgo.NewActionBlock(id, button(act(bot.KeyInput), inputLabel(s.Input), slackgo.StylePrimary))}
	case vpndiag.StepEvidence:
		hint := "Drop the files into this thread."
		if s.Evidence != nil && s.Evidence.Hint != "" {
			hint = esc(s.Evidence.Hint) + "\nDrop the files into this thread."
		}
		return []slackgo.Block{
			contextLine(":paperclip: " + hint + " Secrets (PSKs, passwords, keys) are redacted before anything is stored."),
			slackgo.NewActionBlock(id, button(act(bot.KeySkip), "I have nothing to upload", "")),
		}
	case vpndiag.StepInfo:
		return []slackgo.Block{slackgo.NewActionBlock(id, button(act(bot.KeyContinue), "Continue", slackgo.StylePrimary))}
	case vpndiag.StepProbe:
		var els []slackgo.BlockElement
		note := ""
		switch probeMode {
		case probesRunnable:
			els = append(els, button(act(bot.KeyRun), "Run the probes", slackgo.StylePrimary))
		case probesNone:
			note = ":information_source: No relay is connected and this bot cannot reach your network, so run the check yourself and tell me what you saw — or skip it."
		}
		els = append(els, button(act(bot.KeyManual), "I'll run it myself", ""), button(act(bot.KeySkipProbe), "Skip this check", ""))
		var blocks []slackgo.Block
		if note != "" {
			blocks = append(blocks, contextLine(note))
		}
		return append(blocks, slackgo.NewActionBlock(id, els...))
	case vpndiag.StepEscalation:
		return []slackgo.Block{slackgo.NewActionBlock(id, button(act(bot.KeyExport), "Export the support bundle", slackgo.StylePrimary))}
	}
	return nil
}

// probeMode says how a probe step's probes can run.
type probeMode int

const (
	probesRunnable probeMode = iota // a relay or the bot itself runs them
	probesNone                      // nothing can: the user runs them or skips
)

// notRightButtons are "That's not right" about the steps the engine
// answered by itself on the way here (the latest five that may be
// reopened).
func notRightButtons(s *vpndiag.Step) []slackgo.Block {
	var els []slackgo.BlockElement
	for i := len(s.Auto) - 1; i >= 0 && len(els) < 5; i-- {
		a := s.Auto[i]
		key := bot.NotRightKey(a.Flow, a.State)
		if !a.Reopenable || key == "" {
			continue
		}
		els = append(els, button(bot.Action{CaseID: s.CaseID, Seq: s.Seq, Key: key}, "Not right: "+a.Question, ""))
	}
	if len(els) == 0 {
		return nil
	}
	return []slackgo.Block{slackgo.NewActionBlock(fmt.Sprintf("auto-%d", s.Seq), els...)}
}

// stepMessage renders a step waiting on the user.
func stepMessage(c *vpndiag.Case, s *vpndiag.Step, pm probeMode) (string, []slackgo.Block) {
	blocks := stepHead(s)
	if s.CaseStatus == vpndiag.CaseOpen || s.CaseStatus == "" {
		blocks = append(blocks, notRightButtons(s)...)
	}
	switch s.Kind {
	case vpndiag.StepProbe:
		blocks = append(blocks, section(probeList(s)))
	case vpndiag.StepResolution:
		blocks = append(blocks, contextLine(fmt.Sprintf(":bulb: The fix for case %s%s.", c.Marker, kbRef(s.KBArticle))))
	case vpndiag.StepEscalation:
		blocks = append(blocks, contextLine(fmt.Sprintf(":sos: Case %s needs support%s. Export the bundle and attach it to your support ticket.", c.Marker, kbRef(s.KBArticle))))
	}
	blocks = append(blocks, stepActions(s, pm)...)
	return fallback("%s: %s", c.Marker, s.Title), fitBlocks(blocks)
}

// answeredMessage renders a step after it was answered: no buttons, who
// answered what.
func answeredMessage(s *vpndiag.Step, user, answer string) (string, []slackgo.Block) {
	blocks := stepHead(s)
	if s.Kind == vpndiag.StepProbe {
		blocks = append(blocks, section(probeList(s)))
	}
	blocks = append(blocks, contextLine(fmt.Sprintf(":ballot_box_with_check: <@%s> answered *%s*", user, esc(clip(answer, 300)))))
	return fallback("%s — answered: %s", s.Title, answer), fitBlocks(blocks)
}

// movedMessage renders a step whose buttons are stale because the case
// moved on without them (a file decided it, someone went back, the case
// was closed).
func movedMessage(s *vpndiag.Step, why string) (string, []slackgo.Block) {
	blocks := stepHead(s)
	if s.Kind == vpndiag.StepProbe {
		blocks = append(blocks, section(probeList(s)))
	}
	blocks = append(blocks, contextLine(":fast_forward: "+why))
	return fallback("%s — %s", s.Title, why), fitBlocks(blocks)
}

func probeList(s *vpndiag.Step) string {
	var lines []string
	for _, p := range s.Probes {
		line := fmt.Sprintf("• %s %s", string(p.Kind), code(p.Target))
		if p.Purpose != "" {
			line += " — " + esc(clip(p.Purpose, 200))
		}
		lines = append(lines, line)
	}
	if len(lines) == 0 {
		return "_No probes._"
	}
	return fitMrkdwn(strings.Join(lines, "\n"), maxSectionFill)
}

// probeCommand is the command that runs p by hand: `vpndiag probe` with the
// same parameters, and the everyday tool where one does the same.
func probeCommand(p *vpndiag.ProbeRequest) (vpndiagCmd, native string) {
	var b strings.Builder
	fmt.Fprintf(&b, "vpndiag probe %s %s", p.Kind, shellWord(p.Target))
	keys := make([]string, 0, len(p.Params))
	for k := range p.Params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := p.Params[k]
		flag := "--" + strings.ReplaceAll(k, "_", "-")
		switch v {
		case "true":
			b.WriteString(" " + flag)
		case "false", "":
		default:
			b.WriteString(" " + flag + " " + shellWord(v))
		}
	}
	switch p.Kind {
	case vpndiag.ProbePing:
		count := p.Params["count"]
		if count == "" {
			count = "3"
		}
		native = fmt.Sprintf("ping -c %s %s", shellWord(count), shellWord(p.Target))
	case vpndiag.ProbeTCP:
		host, port := p.Target, p.Params["port"]
		if i := strings.LastIndexByte(host, ':'); port == "" && i > 0 {
			host, port = host[:i], host[i+1:]
		}
		native = fmt.Sprintf("nc -vz -w 5 %s %s", shellWord(host), shellWord(port))
	case vpndiag.ProbeDNS:
		native = "dig"
		if s := p.Params["server"]; s != "" {
			native += " @" + shellWord(s)
		}
		native += " " + shellWord(p.Target)
		if t := p.Params["type"]; t != "" {
			native += " " + shellWord(t)
		}
	case vpndiag.ProbeTraceroute:
		native = "traceroute " + shellWord(p.Target)
	}
	return b.String(), native
}

// shellWord quotes s for a POSIX shell when it needs it.
func shellWord(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_:/,@=+") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// probeRunningMessage renders a probe step while its probes run.
func probeRunningMessage(s *vpndiag.Step) (string, []slackgo.Block) {
	blocks := stepHead(s)
	blocks = append(blocks, section(probeList(s)), contextLine(fmt.Sprintf(":hourglass_flowing_sand: Running %d probe(s)…", len(s.Probes))))
	return fallback("%s — running…", s.Title), fitBlocks(blocks)
}

// probeResultsMessage renders a probe step with its results.
func probeResultsMessage(s *vpndiag.Step, results []*vpndiag.ProbeResult, note string) (string, []slackgo.Block) {
	blocks := stepHead(s)
	var lines []string
	for _, r := range results {
		if r == nil {
			continue
		}
		line := fmt.Sprintf("%s %s %s *%s*: %s", outcomeEmoji(r.Outcome), string(r.Kind), code(r.Target), esc(string(r.Outcome)), esc(clip(r.Summary, maxLine)))
		if r.Error != "" {
			line += " (" + esc(clip(r.Error, 300)) + ")"
		}
		lines = append(lines, line)
	}
	if len(lines) == 0 {
		lines = []string{"_No results._"}
	}
	blocks = append(blocks, packLines(lines, maxMessageText/2, 5, "full list in the bundle")...)
	if note != "" {
		blocks = append(blocks, contextLine(note))
	}
	return fallback("%s — results", s.Title), fitBlocks(blocks)
}

func outcomeEmoji(o vpndiag.Outcome) string {
	switch o {
	case vpndiag.OutcomeOK:
		return ":large_green_circle:"
	case vpndiag.OutcomeTimeout, vpndiag.OutcomeUnreachable, vpndiag.OutcomeRefused, vpndiag.OutcomeFail:
		return ":red_circle:"
	}
	return ":warning:"
}

func severityEmoji(s vpndiag.Severity) string {
	switch s {
	case vpndiag.SeverityCritical, vpndiag.SeverityError:
		return ":red_circle:"
	case vpndiag.SeverityWarning:
		return ":large_orange_circle:"
	}
	return ":information_source:"
}

// evidenceMessage renders what the analysis of a file found: worst first,
// as many findings as fit in one message, then "and N more".
func evidenceMessage(name, user, summary string, findings []*vpndiag.Finding, marker string) (string, []slackgo.Block) {
	head := fmt.Sprintf(":page_facing_up: *%s* from <@%s>: %s", esc(clip(name, 200)), user, esc(clip(summary, maxLine)))
	blocks := []slackgo.Block{section(head)}
	if len(findings) == 0 {
		blocks = append(blocks, contextLine("Nothing against the guide's requirements was found in this file."))
	}
	var lines []string
	for _, f := range findings {
		line := fmt.Sprintf("%s *%s* %s", severityEmoji(f.Severity), esc(clip(f.Summary, 300)), code(f.Code))
		if len(f.Evidence) > 0 && f.Evidence[0].Line > 0 {
			line += fmt.Sprintf(" (line %d)", f.Evidence[0].Line)
		}
		if f.Fix != "" {
			line += "\n    Fix: " + esc(clip(f.Fix, 300))
		}
		if f.KBArticle != "" {
			line += " — " + code(DefaultCommand+" kb "+f.KBArticle)
		}
		lines = append(lines, line)
	}
	rest := fmt.Sprintf("full list in the bundle (%s)", code(DefaultCommand+" export "+marker))
	blocks = append(blocks, packLines(lines, maxMessageText-len(head), maxBlocks-4, rest)...)
	return fallback("%s: %s (%d findings)", name, summary, len(findings)), fitBlocks(blocks)
}

// Modal callback IDs.
const (
	callbackInput  = bot.ActionVersion + ":input"
	callbackSetup  = bot.ActionVersion + ":setup"
	callbackManual = bot.ActionVersion + ":manual"
)

// Block and action IDs inside modals.
const (
	blockValue    = "value"
	actionValue   = "value"
	blockSite     = "site_yaml"
	blockOutcome  = "outcome"
	actionOutcome = "outcome"
	blockNote     = "note"
	actionNote    = "note"
)

// modalTitle is the title of the bot's modals (24 characters at most).
const modalTitle = "VPN diagnosis"

// inputModal asks for a step's typed value.
func inputModal(s *vpndiag.Step, meta string) slackgo.ModalViewRequest {
	el := slackgo.NewPlainTextInputBlockElement(nil, actionValue)
	el.MaxLength = vpndiag.MaxInputText
	if s.Input != nil && s.Input.Placeholder != "" {
		el.Placeholder = plain(s.Input.Placeholder, 150)
	}
	label := []rune(strings.TrimPrefix(inputLabel(s.Input), "Enter "))
	label[0] = unicode.ToUpper(label[0])
	var hint *slackgo.TextBlockObject
	if s.Input != nil && s.Input.Description != "" {
		hint = plain(s.Input.Description, 2000)
	}
	in := slackgo.NewInputBlock(blockValue, plain(string(label), 2000), hint, el)
	body := "*" + esc(clip(s.Title, 300)) + "*"
	if s.Text != "" {
		body += "\n" + s.Text
	}
	return slackgo.ModalViewRequest{
		Type:            slackgo.VTModal,
		Title:           plain(modalTitle, 24),
		Submit:          plain("Answer", 24),
		Close:           plain("Cancel", 24),
		CallbackID:      callbackInput,
		PrivateMetadata: meta,
		Blocks:          slackgo.Blocks{BlockSet: []slackgo.Block{section(body), in}},
	}
}

// manualModal shows the exact commands of a probe step and asks what the
// user saw: one of the step's outcomes, in the flow's order.
func manualModal(s *vpndiag.Step, meta string) slackgo.ModalViewRequest {
	var cmds []string
	for _, p := range s.Probes {
		vc, native := probeCommand(p)
		line := "```" + htmlEscaper.Replace(vc) + "```"
		if native != "" {
			line += "or with the usual tool:\n```" + htmlEscaper.Replace(native) + "```"
		}
		if p.Purpose != "" {
			line = esc(clip(p.Purpose, 200)) + ":\n" + line
		}
		cmds = append(cmds, line)
	}
	blocks := []slackgo.Block{section("*" + esc(clip(s.Title, 300)) + "*\nRun this from a host inside your network (next to your VPN device), then say what you saw.")}
	for i, c := range cmds {
		if i == 10 {
			blocks = append(blocks, contextLine(fmt.Sprintf("… and %d more commands.", len(cmds)-i)))
			break
		}
		blocks = append(blocks, section(c))
	}
	var opts []*slackgo.OptionBlockObject
	for _, ch := range s.Choices {
		if !bot.ValidKey(ch.Key) || len(opts) == 100 {
			continue
		}
		opts = append(opts, slackgo.NewOptionBlockObject(ch.Key, plain(ch.Label, 75), nil))
	}
	sel := slackgo.NewRadioButtonsBlockElement(actionOutcome, opts...)
	blocks = append(blocks, slackgo.NewInputBlock(blockOutcome, plain("What did you see?", 2000), nil, sel))
	note := slackgo.NewPlainTextInputBlockElement(plain("e.g. 3 packets transmitted, 0 received", 150), actionNote)
	note.Multiline = true
	note.MaxLength = 2000
	ni := slackgo.NewInputBlock(blockNote, plain("Paste the output (optional)", 2000), nil, note)
	ni.Optional = true
	blocks = append(blocks, ni)
	return slackgo.ModalViewRequest{
		Type:            slackgo.VTModal,
		Title:           plain(modalTitle, 24),
		Submit:          plain("Answer", 24),
		Close:           plain("Cancel", 24),
		CallbackID:      callbackManual,
		PrivateMetadata: meta,
		Blocks:          slackgo.Blocks{BlockSet: blocks},
	}
}

// siteTemplate prefills the setup modal for a new site.
const siteTemplate = `name: hq
cloud_dns_servers: [10.20.0.2, 10.20.0.3]
vpn_endpoints: [203.0.113.10, 203.0.113.11]
cloud_cidr: 10.20.0.0/16
environment_fqdns: [app.example.cloud]
cloud_domain: example.cloud
customer_cidrs: [192.168.0.0/24]
internal_resolvers: [192.168.0.53]
customer_peer: 198.51.100.7
routing: static
ike_version: 2
only_443: false
`

// maxSetupText is what one field of the setup modal takes (Block Kit's
// limit of a plain-text input); maxSetupParts bounds the fields.
const (
	maxSetupText  = 3000
	maxSetupParts = 8
)

// splitSetup splits a site profile into parts of at most maxSetupText
// characters at line ends, plus one empty part to grow into when the
// profile needs more than one. It reports false when the profile does not
// fit maxSetupParts fields.
func splitSetup(text string) ([]string, bool) {
	if utf8.RuneCountInString(text) <= maxSetupText {
		return []string{text}, true
	}
	var parts []string
	var cur strings.Builder
	for _, line := range strings.SplitAfter(text, "\n") {
		if utf8.RuneCountInString(line) > maxSetupText {
			return nil, false
		}
		if utf8.RuneCountInString(cur.String())+utf8.RuneCountInString(line) > maxSetupText {
			parts = append(parts, cur.String())
			cur.Reset()
		}
		cur.WriteString(line)
	}
	if cur.Len() > 0 {
		parts = append(parts, cur.String())
	}
	parts = append(parts, "")
	return parts, len(parts) <= maxSetupParts
}

// setupBlock names the input block (and its element) of part i of the
// setup modal.
func setupBlock(i int) string {
	if i == 0 {
		return blockSite
	}
	return fmt.Sprintf("%s_%d", blockSite, i+1)
}

// setupModal edits a site profile as YAML, over several fields when it is
// longer than one field takes.
func setupModal(yamlText, meta string) slackgo.ModalViewRequest {
	parts, ok := splitSetup(yamlText)
	intro := "Describe the site's VPN as the cloud provisioned it. Questions the profile answers are skipped in every case of this site."
	if !ok {
		parts = []string{""}
		intro += fmt.Sprintf("\n:warning: This site's profile is too long for this form (%d characters), so it is not shown; paste a whole new profile, or change it in the config file's `sites:`.", utf8.RuneCountInString(yamlText))
	} else if len(parts) > 1 {
		intro += "\nThe profile is longer than one field takes, so it is split over several; they are joined in order when you save."
	}
	blocks := []slackgo.Block{section(intro)}
	for i, part := range parts {
		el := slackgo.NewPlainTextInputBlockElement(nil, setupBlock(i))
		el.Multiline = true
		el.MaxLength = maxSetupText
		el.InitialValue = part
		label := "Site profile (YAML)"
		if len(parts) > 1 {
			label = fmt.Sprintf("Site profile (YAML), part %d of %d", i+1, len(parts))
		}
		var hint *slackgo.TextBlockObject
		if i == 0 {
			hint = plain("The same form as the sites: section of the config file.", 2000)
		}
		in := slackgo.NewInputBlock(setupBlock(i), plain(label, 2000), hint, el)
		in.Optional = i > 0
		blocks = append(blocks, in)
	}
	return slackgo.ModalViewRequest{
		Type:            slackgo.VTModal,
		Title:           plain("VPN site profile", 24),
		Submit:          plain("Save", 24),
		Close:           plain("Cancel", 24),
		CallbackID:      callbackSetup,
		PrivateMetadata: meta,
		Blocks:          slackgo.Blocks{BlockSet: blocks},
	}
}
