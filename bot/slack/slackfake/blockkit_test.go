package slackfake_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/vpndiag/vpndiag/bot/slack/slackfake"
)

func section(text string) map[string]any {
	return map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": text}}
}

func button(id, text string) map[string]any {
	return map[string]any{"type": "button", "action_id": id, "text": map[string]any{"type": "plain_text", "text": text}}
}

func blocks(tb testing.TB, bs ...any) json.RawMessage {
	b, err := json.Marshal(bs)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestCheckMessage(t *testing.T) {
	many := make([]any, 51)
	for i := range many {
		many[i] = section("x")
	}
	long := make([]any, 5)
	for i := range long {
		long[i] = section(strings.Repeat("y", 2900))
	}
	tests := []struct {
		name   string
		text   string
		blocks json.RawMessage
		want   string // "" for no violation
	}{
		{"Plain", "VPN case VPN-20261125-7KQ2 opened by <@U1>: tunnel &amp; DNS", blocks(t, section("*x* `code` <@U1> <https://example.com|a link>")), ""},
		{"ChannelPingInFallback", "file <!channel>.png", nil, "unescaped '<'"},
		{"HereInBlock", "ok", blocks(t, section("<!here> look")), "unescaped '<'"},
		{"RawAmpersand", "a & b", nil, "unescaped '&'"},
		{"RawGreater", "ok", blocks(t, section("a > b")), "unescaped '>'"},
		{"OpenCodeSpan", "ok", blocks(t, section("• `ike_lifetime…")), "open code span"},
		{"OpenFence", "ok", blocks(t, section("```\nlog")), "open code block"},
		{"TooManyBlocks", "ok", blocks(t, many...), "51 blocks"},
		{"SectionTooLong", "ok", blocks(t, section(strings.Repeat("z", 3001))), "3001 characters, over 3000"},
		{"TotalTooLong", "ok", blocks(t, long...), "characters of text in all blocks"},
		{"HeaderTooLong", "ok", blocks(t, map[string]any{"type": "header", "text": map[string]any{"type": "plain_text", "text": strings.Repeat("h", 151)}}), "over 150"},
		{"ButtonTooLong", "ok", blocks(t, map[string]any{"type": "actions", "elements": []any{button("a", strings.Repeat("b", 76))}}), "over 75"},
		{"DuplicateAction", "ok", blocks(t, map[string]any{"type": "actions", "elements": []any{button("a", "x"), button("a", "y")}}), "not unique"},
		{"DuplicateBlockID", "ok", blocks(t, map[string]any{"type": "divider", "block_id": "b"}, map[string]any{"type": "divider", "block_id": "b"}), "not unique"},
		{"LongActionID", "ok", blocks(t, map[string]any{"type": "actions", "elements": []any{button(strings.Repeat("i", 256), "x")}}), "over 255"},
		{"InputInMessage", "ok", blocks(t, map[string]any{"type": "input", "label": map[string]any{"type": "plain_text", "text": "x"}, "element": map[string]any{"type": "plain_text_input"}}), "belong in modals"},
		{"EmptyText", "ok", blocks(t, section("")), "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vs := slackfake.CheckMessage(tt.text, tt.blocks)
			got := fmt.Sprint(vs)
			if tt.want == "" && len(vs) > 0 || tt.want != "" && !strings.Contains(got, tt.want) {
				t.Errorf("CheckMessage = %s; want %q", got, tt.want)
			}
		})
	}
}

func TestCheckView(t *testing.T) {
	input := func(initial string, max int) map[string]any {
		return map[string]any{"type": "input", "block_id": "v", "label": map[string]any{"type": "plain_text", "text": "Site profile"},
			"element": map[string]any{"type": "plain_text_input", "action_id": "v", "max_length": max, "initial_value": initial}}
	}
	view := func(title string, bs ...any) json.RawMessage {
		b, _ := json.Marshal(map[string]any{"type": "modal", "title": map[string]any{"type": "plain_text", "text": title},
			"submit": map[string]any{"type": "plain_text", "text": "Save"}, "blocks": bs})
		return b
	}
	opts := make([]any, 101)
	for i := range opts {
		opts[i] = map[string]any{"text": map[string]any{"type": "plain_text", "text": "o"}, "value": fmt.Sprint(i)}
	}
	tests := []struct {
		name string
		view json.RawMessage
		want string
	}{
		{"OK", view("VPN site profile", input("name: hq", 3000)), ""},
		{"PrefilledOver3000", view("VPN site profile", input(strings.Repeat("a", 4471), 3000)), "4471 characters, over the max_length 3000"},
		{"TitleTooLong", view("A title that is far too long"), "over 24"},
		{"TooManyOptions", view("t", map[string]any{"type": "input", "label": map[string]any{"type": "plain_text", "text": "x"},
			"element": map[string]any{"type": "static_select", "action_id": "s", "options": opts}}), "101 options"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vs := slackfake.CheckView(tt.view)
			got := fmt.Sprint(vs)
			if tt.want == "" && len(vs) > 0 || tt.want != "" && !strings.Contains(got, tt.want) {
				t.Errorf("CheckView = %s; want %q", got, tt.want)
			}
		})
	}
}
