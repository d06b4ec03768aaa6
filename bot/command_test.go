package bot_test

import (
	"strings"
	"testing"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/bot"
)

func TestParseCommand(t *testing.T) {
	tests := []struct {
		text string
		want bot.Command
	}{
		{"", bot.Command{Verb: bot.VerbHelp}},
		{"   ", bot.Command{Verb: bot.VerbHelp}},
		{"help", bot.Command{Verb: bot.VerbHelp}},
		{"HELP", bot.Command{Verb: bot.VerbHelp}},
		{"start", bot.Command{Verb: bot.VerbStart}},
		{"start tunnel up but  DNS fails", bot.Command{Verb: bot.VerbStart, Topic: "tunnel up but DNS fails"}},
		{"start site:hq", bot.Command{Verb: bot.VerbStart, Site: "hq"}},
		{"Start SITE:acme-prod drops every hour", bot.Command{Verb: bot.VerbStart, Site: "acme-prod", Topic: "drops every hour"}},
		{"setup", bot.Command{Verb: bot.VerbSetup}},
		{"setup hq", bot.Command{Verb: bot.VerbSetup, Site: "hq"}},
		{"status", bot.Command{Verb: bot.VerbStatus}},
		{"status vpn-20261125-7kq2", bot.Command{Verb: bot.VerbStatus, Case: "VPN-20261125-7KQ2"}},
		{"export VPN-20261125-7KQ2", bot.Command{Verb: bot.VerbExport, Case: "VPN-20261125-7KQ2"}},
		{"cases", bot.Command{Verb: bot.VerbCases}},
		{"kb", bot.Command{Verb: bot.VerbKB}},
		{"kb Phase1-IKE-Failure", bot.Command{Verb: bot.VerbKB, Article: "phase1-ike-failure"}},
	}
	for _, tt := range tests {
		got, err := bot.ParseCommand(tt.text)
		if err != nil {
			t.Errorf("ParseCommand(%q): %v", tt.text, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseCommand(%q) = %+v, want %+v", tt.text, got, tt.want)
		}
	}
}

func TestParseCommand_Bad(t *testing.T) {
	tests := []struct {
		text, wantMsg string
	}{
		{"frobnicate", `I don't know "frobnicate".`},
		{"help me", `"help" takes no arguments.`},
		{"cases all", `"cases" takes no arguments.`},
		{"status 42", `"42" is not a case marker`},
		{"export VPN-1-2", `"VPN-1-2" is not a case marker`},
		{"status VPN-20261125-7KQ2 extra", "status takes at most one case marker."},
		{"setup a b", "setup takes at most one site name."},
		{"kb a b", "kb takes at most one article name."},
		{"kb <!here>", `"<!here>" is not an article name`},
		{"setup <!channel>", `"<!channel>" is not a site name.`},
		{"start site:", `"" is not a site name.`},
		{"start site:a/b", `"a/b" is not a site name.`},
		{"start " + strings.Repeat("x", 201), "The topic is too long"},
		{strings.Repeat("a", bot.MaxCommandText+1), "That command is too long"},
		{"start \xff\xfe", "That command is not valid text."},
	}
	for _, tt := range tests {
		_, err := bot.ParseCommand(tt.text)
		if vpndiag.ErrorCode(err) != vpndiag.EINVALID {
			t.Errorf("ParseCommand(%.40q): err = %v, want EINVALID", tt.text, err)
			continue
		}
		if msg := vpndiag.ErrorMessage(err); !strings.Contains(msg, tt.wantMsg) {
			t.Errorf("ParseCommand(%.40q): message %q, want it to contain %q", tt.text, msg, tt.wantMsg)
		}
	}
}

func TestHelp(t *testing.T) {
	h := bot.Help("/vpn-diagnose")
	for _, want := range []string{"/vpn-diagnose start", "/vpn-diagnose setup", "/vpn-diagnose status", "/vpn-diagnose export", "/vpn-diagnose cases", "Examples:"} {
		if !strings.Contains(h, want) {
			t.Errorf("help lacks %q", want)
		}
	}
}

func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{"", "help", "start site:hq dns", "status VPN-20261125-7KQ2", "export", "cases", "setup hq", "x y z", "start \xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		c, err := bot.ParseCommand(text)
		if err != nil {
			if vpndiag.ErrorCode(err) != vpndiag.EINVALID {
				t.Fatalf("ParseCommand(%q): error code %q, want invalid", text, vpndiag.ErrorCode(err))
			}
			return
		}
		switch c.Verb {
		case bot.VerbHelp, bot.VerbStart, bot.VerbSetup, bot.VerbStatus, bot.VerbExport, bot.VerbCases, bot.VerbKB:
		default:
			t.Fatalf("ParseCommand(%q): verb %q", text, c.Verb)
		}
		if c.Case != "" && !vpndiag.MarkerPattern.MatchString(c.Case) {
			t.Fatalf("ParseCommand(%q): case %q is not a marker", text, c.Case)
		}
		if strings.ContainsAny(c.Site, " <>&/") {
			t.Fatalf("ParseCommand(%q): site %q", text, c.Site)
		}
	})
}
