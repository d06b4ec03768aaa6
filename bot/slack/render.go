package slack

import (
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	slackgo "github.com/slack-go/slack"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/bot"
)

// Block Kit limits.
const (
	maxSectionText = 3000
	maxHeaderText  = 150
	maxButtonText  = 75
	maxButtons     = 25
)

// esc escapes the three characters Slack's mrkdwn treats as control
// characters, so user-typed text cannot forge mentions or links.
func esc(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// clip shortens s to n runes, ending with "…" when cut.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func mrkdwn(text string) *slackgo.TextBlockObject {
	return slackgo.NewTextBlockObject(slackgo.MarkdownType, clip(text, maxSectionText), false, false)
}

func plain(text string, n int) *slackgo.TextBlockObject {
	return slackgo.NewTextBlockObject(slackgo.PlainTextType, clip(text, n), false, false)
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

// rootMessage is the channel message that opens a case's thread.
func rootMessage(marker, title, user string) (string, []slackgo.Block) {
	t := title
	if t == "" {
		t = "VPN troubleshooting"
	}
	text := fmt.Sprintf("VPN case %s opened by <@%s>: %s", marker, user, esc(t))
	return text, []slackgo.Block{
		section(fmt.Sprintf(":satellite_antenna: *VPN case %s* opened by <@%s>\n%s", marker, user, esc(t))),
		contextLine("The diagnosis runs in this thread: answer with the buttons; drop device configs or logs here when asked (secrets are redacted before anything is stored)."),
	}
}

// stepHead is the part of a step shown before and after it is answered.
func stepHead(s *vpndiag.Step) []slackgo.Block {
	var blocks []slackgo.Block
	if len(s.Auto) > 0 {
		lines := make([]string, len(s.Auto))
		for i, a := range s.Auto {
			lines[i] = "• " + esc(a.Question+" — "+a.Answer+" (by "+a.By+")")
		}
		blocks = append(blocks, contextLine("Answered automatically:\n"+strings.Join(lines, "\n")))
	}
	body := "*" + esc(s.Title) + "*"
	if s.Text != "" {
		body += "\n" + s.Text
	}
	blocks = append(blocks, section(body))
	return blocks
}

// stepMessage renders a step waiting on the user.
func stepMessage(c *vpndiag.Case, s *vpndiag.Step) (string, []slackgo.Block) {
	blocks := stepHead(s)
	act := func(key string) bot.Action { return bot.Action{CaseID: s.CaseID, Seq: s.Seq, Key: key} }
	switch s.Kind {
	case vpndiag.StepQuestion:
		choices := append([]vpndiag.Choice(nil), s.Choices...)
		sort.SliceStable(choices, func(i, j int) bool { return choices[i].Key < choices[j].Key })
		var els []slackgo.BlockElement
		for _, ch := range choices {
			if !bot.ValidKey(ch.Key) || len(els) == maxButtons {
				continue
			}
			els = append(els, button(act(ch.Key), ch.Label, ""))
		}
		blocks = append(blocks, slackgo.NewActionBlock(fmt.Sprintf("step-%d", s.Seq), els...))
	case vpndiag.StepInput:
		label := "Enter the value"
		if s.Input != nil && s.Input.Var != "" {
			label = "Enter " + strings.ReplaceAll(s.Input.Var, "_", " ")
		}
		blocks = append(blocks, slackgo.NewActionBlock(fmt.Sprintf("step-%d", s.Seq), button(act(bot.KeyInput), label, slackgo.StylePrimary)))
	case vpndiag.StepEvidence:
		hint := "Drop the files into this thread."
		if s.Evidence != nil && s.Evidence.Hint != "" {
			hint = s.Evidence.Hint + "\nDrop the files into this thread."
		}
		blocks = append(blocks, contextLine(":paperclip: "+hint+" Secrets (PSKs, passwords, keys) are redacted before anything is stored."))
		blocks = append(blocks, slackgo.NewActionBlock(fmt.Sprintf("step-%d", s.Seq), button(act(bot.KeySkip), "I have nothing to upload", "")))
	case vpndiag.StepInfo:
		blocks = append(blocks, slackgo.NewActionBlock(fmt.Sprintf("step-%d", s.Seq), button(act(bot.KeyContinue), "Continue", slackgo.StylePrimary)))
	case vpndiag.StepProbe:
		blocks = append(blocks, section(probeList(s)))
		blocks = append(blocks, slackgo.NewActionBlock(fmt.Sprintf("step-%d", s.Seq), button(act(bot.KeyRun), "Run the probes", slackgo.StylePrimary)))
	case vpndiag.StepResolution:
		blocks = append(blocks, contextLine(fmt.Sprintf(":white_check_mark: Case %s resolved%s. `/vpn-diagnose export %s` uploads the support bundle if you still need help.", c.Marker, kbRef(s.KBArticle), c.Marker)))
	case vpndiag.StepEscalation:
		blocks = append(blocks, contextLine(fmt.Sprintf(":sos: Case %s needs support%s. Export the bundle and attach it to your support ticket.", c.Marker, kbRef(s.KBArticle))))
		blocks = append(blocks, slackgo.NewActionBlock(fmt.Sprintf("step-%d", s.Seq), button(act(bot.KeyExport), "Export the support bundle", slackgo.StylePrimary)))
	}
	return fmt.Sprintf("%s: %s", c.Marker, s.Title), blocks
}

func kbRef(slug string) string {
	if slug == "" {
		return ""
	}
	return fmt.Sprintf(" (kb: `%s`)", slug)
}

// answeredMessage renders a step after it was answered: no buttons, who
// answered what.
func answeredMessage(s *vpndiag.Step, user, answer string) (string, []slackgo.Block) {
	blocks := stepHead(s)
	blocks = append(blocks, contextLine(fmt.Sprintf(":ballot_box_with_check: <@%s> answered *%s*", user, esc(answer))))
	return fmt.Sprintf("%s — answered by %s: %s", s.Title, user, answer), blocks
}

func probeList(s *vpndiag.Step) string {
	var lines []string
	for _, p := range s.Probes {
		line := fmt.Sprintf("• `%s %s`", p.Kind, esc(p.Target))
		if p.Purpose != "" {
			line += " — " + esc(p.Purpose)
		}
		lines = append(lines, line)
	}
	if len(lines) == 0 {
		return "_No probes._"
	}
	return strings.Join(lines, "\n")
}

// probeRunningMessage renders a probe step while its probes run.
func probeRunningMessage(s *vpndiag.Step) (string, []slackgo.Block) {
	blocks := stepHead(s)
	blocks = append(blocks, section(probeList(s)), contextLine(fmt.Sprintf(":hourglass_flowing_sand: Running %d probe(s)…", len(s.Probes))))
	return s.Title + " — running…", blocks
}

// probeResultsMessage renders a probe step with its results.
func probeResultsMessage(s *vpndiag.Step, results []*vpndiag.ProbeResult, note string) (string, []slackgo.Block) {
	blocks := stepHead(s)
	var lines []string
	for _, r := range results {
		line := fmt.Sprintf("%s `%s %s` *%s*: %s", outcomeEmoji(r.Outcome), r.Kind, esc(r.Target), r.Outcome, esc(r.Summary))
		if r.Error != "" {
			line += " (" + esc(r.Error) + ")"
		}
		lines = append(lines, line)
	}
	blocks = append(blocks, section(strings.Join(lines, "\n")))
	if note != "" {
		blocks = append(blocks, contextLine(note))
	}
	return s.Title + " — results", blocks
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

// evidenceMessage renders what the analysis of a file found.
func evidenceMessage(name, user, summary string, findings []*vpndiag.Finding) (string, []slackgo.Block) {
	head := fmt.Sprintf(":page_facing_up: *%s* from <@%s>: %s", esc(name), user, esc(summary))
	blocks := []slackgo.Block{section(head)}
	if len(findings) == 0 {
		blocks = append(blocks, contextLine("Nothing against the guide's requirements was found in this file."))
	}
	var lines []string
	for _, f := range findings {
		line := fmt.Sprintf("%s *%s* `%s`", severityEmoji(f.Severity), esc(f.Summary), esc(f.Code))
		if len(f.Evidence) > 0 && f.Evidence[0].Line > 0 {
			line += fmt.Sprintf(" (line %d)", f.Evidence[0].Line)
		}
		if f.Fix != "" {
			line += "\n    Fix: " + esc(f.Fix)
		}
		if f.KBArticle != "" {
			line += fmt.Sprintf(" — kb: `%s`", f.KBArticle)
		}
		lines = append(lines, line)
	}
	// One section per ~10 findings keeps each under the text limit.
	for len(lines) > 0 {
		n := min(len(lines), 10)
		blocks = append(blocks, section(strings.Join(lines[:n], "\n")))
		lines = lines[n:]
	}
	return fmt.Sprintf("%s: %s (%d findings)", name, summary, len(findings)), blocks
}

// Modal callback IDs.
const (
	callbackInput = bot.ActionVersion + ":input"
	callbackSetup = bot.ActionVersion + ":setup"
)

// Block and action IDs inside modals.
const (
	blockValue  = "value"
	actionValue = "value"
	blockSite   = "site_yaml"
	actionSite  = "site_yaml"
)

// inputModal asks for a step's typed value.
func inputModal(s *vpndiag.Step, meta string) slackgo.ModalViewRequest {
	el := slackgo.NewPlainTextInputBlockElement(nil, actionValue)
	el.MaxLength = bot.MaxInputText
	if s.Input != nil && s.Input.Placeholder != "" {
		el.Placeholder = plain(s.Input.Placeholder, 150)
	}
	label := "Value"
	if s.Input != nil {
		label = fmt.Sprintf("%s (%s)", strings.ReplaceAll(s.Input.Var, "_", " "), s.Input.Kind)
	}
	in := slackgo.NewInputBlock(blockValue, plain(label, 2000), nil, el)
	return slackgo.ModalViewRequest{
		Type:            slackgo.VTModal,
		Title:           plain("VPN diagnosis", 24),
		Submit:          plain("Answer", 24),
		Close:           plain("Cancel", 24),
		CallbackID:      callbackInput,
		PrivateMetadata: meta,
		Blocks:          slackgo.Blocks{BlockSet: []slackgo.Block{section("*" + esc(s.Title) + "*\n" + s.Text), in}},
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

// setupModal edits a site profile as YAML.
func setupModal(yamlText, meta string) slackgo.ModalViewRequest {
	el := slackgo.NewPlainTextInputBlockElement(nil, actionSite)
	el.Multiline = true
	el.MaxLength = 3000
	el.InitialValue = yamlText
	in := slackgo.NewInputBlock(blockSite, plain("Site profile (YAML)", 2000), plain("The same form as the sites: section of the config file.", 2000), el)
	return slackgo.ModalViewRequest{
		Type:            slackgo.VTModal,
		Title:           plain("VPN site profile", 24),
		Submit:          plain("Save", 24),
		Close:           plain("Cancel", 24),
		CallbackID:      callbackSetup,
		PrivateMetadata: meta,
		Blocks: slackgo.Blocks{BlockSet: []slackgo.Block{
			section("Describe the site's VPN as the cloud provisioned it. Questions the profile answers are skipped in every case of this site."),
			in,
		}},
	}
}
