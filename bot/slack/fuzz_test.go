package slack_test

import (
	"encoding/json"
	"os"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/vpndiag/vpndiag/bot"
	botslack "github.com/vpndiag/vpndiag/bot/slack"
)

func FuzzDecodeInteraction(f *testing.F) {
	for _, name := range []string{"05_block_actions_button_bolt_python.payload.json", "07_view_submission_bolt_python.payload.json", "08_view_submission_response_urls_slackgo.json"} {
		f.Add(MustFixture(f, name))
	}
	var env struct{ Payload json.RawMessage }
	_ = json.Unmarshal(MustFixture(f, "15_socket_mode_interactive_block_actions_button_java_sdk.json"), &env)
	f.Add([]byte(env.Payload))
	f.Add([]byte(`{"type":"block_actions","actions":[{"action_id":"vd1:1:2:yes"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		cb, err := botslack.DecodeInteraction(data)
		if err != nil {
			return
		}
		if cb.Type == "" {
			t.Fatal("decoded an interaction without a type")
		}
		for _, a := range cb.ActionCallback.BlockActions {
			if act, err := bot.ParseAction(a.ActionID); err == nil && act.ID() != a.ActionID {
				t.Fatalf("action %q decodes to %+v", a.ActionID, act)
			}
		}
	})
}

func TestManifest(t *testing.T) {
	b, err := os.ReadFile("../../slack/manifest.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Features struct {
			SlashCommands []struct{ Command string } `yaml:"slash_commands"`
		} `yaml:"features"`
		OAuth struct {
			Scopes struct{ Bot []string } `yaml:"scopes"`
		} `yaml:"oauth_config"`
		Settings struct {
			Events struct {
				BotEvents []string `yaml:"bot_events"`
			} `yaml:"event_subscriptions"`
			Interactivity struct {
				IsEnabled bool `yaml:"is_enabled"`
			} `yaml:"interactivity"`
			SocketMode bool `yaml:"socket_mode_enabled"`
		} `yaml:"settings"`
	}
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Features.SlashCommands) != 1 || m.Features.SlashCommands[0].Command != botslack.DefaultCommand {
		t.Errorf("slash commands %+v", m.Features.SlashCommands)
	}
	has := func(list []string, want ...string) {
		t.Helper()
		for _, w := range want {
			found := false
			for _, l := range list {
				found = found || l == w
			}
			if !found {
				t.Errorf("manifest lacks %q", w)
			}
		}
	}
	// Exactly the scopes and events the bot uses: the history scopes for
	// the message events of case threads (pasted device output), nothing
	// for direct messages or group DMs.
	want := []string{"commands", "chat:write", "files:read", "files:write", "usergroups:read", "app_mentions:read", "channels:history", "groups:history"}
	has(m.OAuth.Scopes.Bot, want...)
	if len(m.OAuth.Scopes.Bot) != len(want) {
		t.Errorf("manifest asks scopes %v, want only %v", m.OAuth.Scopes.Bot, want)
	}
	events := []string{"file_shared", "app_mention", "message.channels", "message.groups"}
	has(m.Settings.Events.BotEvents, events...)
	if len(m.Settings.Events.BotEvents) != len(events) {
		t.Errorf("manifest subscribes to %v, want only %v", m.Settings.Events.BotEvents, events)
	}
	if !m.Settings.Interactivity.IsEnabled || !m.Settings.SocketMode {
		t.Errorf("interactivity %v, socket mode %v", m.Settings.Interactivity.IsEnabled, m.Settings.SocketMode)
	}
}
