package bot

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/vpndiag/vpndiag"
)

// Verb is a /vpn-diagnose subcommand.
type Verb string

// The subcommands of /vpn-diagnose.
const (
	VerbHelp   Verb = "help"
	VerbStart  Verb = "start"
	VerbSetup  Verb = "setup"
	VerbStatus Verb = "status"
	VerbExport Verb = "export"
	VerbCases  Verb = "cases"
	VerbKB     Verb = "kb"
)

// MaxCommandText caps the text of a command; Slack itself sends at most a few
// thousand characters.
const MaxCommandText = 2000

// Command is a parsed /vpn-diagnose invocation.
type Command struct {
	// Verb is the subcommand; help when the text was empty.
	Verb Verb
	// Case is the case marker named by status or export; empty for "the most
	// recent case in this channel".
	Case string
	// Site is the site profile named by start (site:NAME) or setup (NAME).
	Site string
	// Article is the kb article named by kb; empty lists them.
	Article string
	// Topic is the rest of start's text: the symptom in the user's words.
	Topic string
}

// ParseCommand parses the text that follows /vpn-diagnose. Words are
// case-insensitive; an unknown verb, a malformed marker or extra words give
// an EINVALID error whose message the user sees together with the help.
func ParseCommand(text string) (Command, error) {
	if len(text) > MaxCommandText {
		return Command{}, vpndiag.Errorf(vpndiag.EINVALID, "That command is too long (%d characters; at most %d).", len(text), MaxCommandText)
	}
	if !utf8.ValidString(text) {
		return Command{}, vpndiag.Errorf(vpndiag.EINVALID, "That command is not valid text.")
	}
	fields := strings.Fields(text)
	if len(fields) == 0 {
		return Command{Verb: VerbHelp}, nil
	}
	verb := Verb(strings.ToLower(fields[0]))
	args := fields[1:]
	switch verb {
	case VerbHelp, VerbCases:
		if len(args) > 0 {
			return Command{}, vpndiag.Errorf(vpndiag.EINVALID, "%q takes no arguments.", string(verb))
		}
		return Command{Verb: verb}, nil
	case VerbStart:
		c := Command{Verb: verb}
		if len(args) > 0 && strings.HasPrefix(strings.ToLower(args[0]), "site:") {
			c.Site = args[0][len("site:"):]
			if c.Site == "" || !validSiteName(c.Site) {
				return Command{}, vpndiag.Errorf(vpndiag.EINVALID, "%q is not a site name.", c.Site)
			}
			args = args[1:]
		}
		c.Topic = strings.Join(args, " ")
		if n := utf8.RuneCountInString(c.Topic); n > 200 {
			return Command{}, vpndiag.Errorf(vpndiag.EINVALID, "The topic is too long (%d characters; at most 200).", n)
		}
		return c, nil
	case VerbSetup:
		if len(args) > 1 {
			return Command{}, vpndiag.Errorf(vpndiag.EINVALID, "setup takes at most one site name.")
		}
		c := Command{Verb: verb}
		if len(args) == 1 {
			if !validSiteName(args[0]) {
				return Command{}, vpndiag.Errorf(vpndiag.EINVALID, "%q is not a site name.", args[0])
			}
			c.Site = args[0]
		}
		return c, nil
	case VerbKB:
		if len(args) > 1 {
			return Command{}, vpndiag.Errorf(vpndiag.EINVALID, "kb takes at most one article name.")
		}
		c := Command{Verb: verb}
		if len(args) == 1 {
			if !validSiteName(args[0]) {
				return Command{}, vpndiag.Errorf(vpndiag.EINVALID, "%q is not an article name (they look like phase1-ike-failure).", args[0])
			}
			c.Article = strings.ToLower(args[0])
		}
		return c, nil
	case VerbStatus, VerbExport:
		if len(args) > 1 {
			return Command{}, vpndiag.Errorf(vpndiag.EINVALID, "%s takes at most one case marker.", string(verb))
		}
		c := Command{Verb: verb}
		if len(args) == 1 {
			m := strings.ToUpper(args[0])
			if !vpndiag.MarkerPattern.MatchString(m) {
				return Command{}, vpndiag.Errorf(vpndiag.EINVALID, "%q is not a case marker (they look like VPN-20261125-7KQ2).", args[0])
			}
			c.Case = m
		}
		return c, nil
	}
	return Command{}, vpndiag.Errorf(vpndiag.EINVALID, "I don't know %q.", fields[0])
}

func validSiteName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// Help returns the usage of the command named cmd (e.g. "/vpn-diagnose"),
// with examples, in Slack's mrkdwn.
func Help(cmd string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "*%s* walks you through the IPsec site-to-site VPN troubleshooting guide, one question at a time, in a thread.\n\n", cmd)
	fmt.Fprintf(&b, "• `%s start [site:NAME] [what is wrong]` open a case in a thread and ask the first question\n", cmd)
	fmt.Fprintf(&b, "• `%s setup [NAME]` describe a site's VPN (cloud DNS servers, endpoints, ranges) once, so questions it answers are skipped\n", cmd)
	fmt.Fprintf(&b, "• `%s status [CASE]` where a case stands (the latest in this channel when no case is named)\n", cmd)
	fmt.Fprintf(&b, "• `%s export [CASE]` upload the case's support bundle into its thread\n", cmd)
	fmt.Fprintf(&b, "• `%s cases` the open cases in this channel\n", cmd)
	fmt.Fprintf(&b, "• `%s kb [NAME]` read a knowledge-base article (the list when no name is given)\n", cmd)
	fmt.Fprintf(&b, "• `%s help` this text\n\n", cmd)
	fmt.Fprintf(&b, "Examples: `%s start tunnel is up but DNS does not resolve` · `%s start site:hq` · `%s status VPN-20261125-7KQ2` · `%s export`\n", cmd, cmd, cmd, cmd)
	b.WriteString("In a case thread, answer with the buttons and drop device configs or logs into the thread: secrets are redacted before anything is stored.")
	return b.String()
}
