package slackfake

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Block Kit's documented limits (docs.slack.dev/reference/block-kit: blocks,
// block elements, composition objects; views; chat.postMessage), and one of
// our own: MaxMessageBlockText bounds the text of all blocks of a message
// together, because Slack refuses a message whose blocks are long in total
// (msg_blocks_too_long) well before any single block reaches its limit.
const (
	MaxMessageBlocks    = 50
	MaxViewBlocks       = 100
	MaxMessageText      = 40000 // top-level text; Slack truncates beyond
	MaxMessageBlockText = 12000 // ours: total block text of one message
	MaxSectionText      = 3000
	MaxSectionFields    = 10
	MaxFieldText        = 2000
	MaxHeaderText       = 150
	MaxContextElements  = 10
	MaxActionsElements  = 25
	MaxButtonText       = 75
	MaxButtonValue      = 2000
	MaxURL              = 3000
	MaxID               = 255 // action_id, block_id, callback_id
	MaxOptions          = 100
	MaxOptionText       = 75
	MaxOptionValue      = 150
	MaxOptionDesc       = 75
	MaxPlaceholder      = 150
	MaxInputLabel       = 2000
	MaxInputHint        = 2000
	MaxTextInputLength  = 3000
	MaxViewTitle        = 24
	MaxViewButton       = 24
	MaxPrivateMetadata  = 3000
	MaxConfirmTitle     = 100
	MaxConfirmText      = 300
	MaxConfirmButton    = 30
)

// Violation is one breach of Block Kit's limits or of the escaping rules.
type Violation struct {
	// Path locates it, e.g. "blocks[3].text.text".
	Path string
	// Problem says what is wrong.
	Problem string
}

func (v Violation) String() string { return v.Path + ": " + v.Problem }

// Surface is where a payload is shown.
type Surface int

const (
	SurfaceMessage Surface = iota // chat.postMessage, chat.update, postEphemeral, response_url
	SurfaceModal                  // views.open, views.update, views.push
)

type checker struct {
	out       []Violation
	blockIDs  map[string]bool
	actionIDs map[string]bool
	textTotal int
}

func (c *checker) bad(path, format string, args ...any) {
	c.out = append(c.out, Violation{Path: path, Problem: fmt.Sprintf(format, args...)})
}

func runes(s string) int { return utf8.RuneCountInString(s) }

// CheckMessage checks a message: its top-level text (the notification
// fallback) and its blocks (raw JSON array, may be empty).
func CheckMessage(text string, blocks json.RawMessage) []Violation {
	c := &checker{blockIDs: map[string]bool{}, actionIDs: map[string]bool{}}
	if runes(text) > MaxMessageText {
		c.bad("text", "%d characters, over %d", runes(text), MaxMessageText)
	}
	c.mrkdwn("text", text)
	if len(blocks) > 0 && string(blocks) != "null" {
		var bs []map[string]any
		if err := json.Unmarshal(blocks, &bs); err != nil {
			c.bad("blocks", "not an array of blocks: %v", err)
			return c.out
		}
		if len(bs) > MaxMessageBlocks {
			c.bad("blocks", "%d blocks, over %d per message", len(bs), MaxMessageBlocks)
		}
		for i, b := range bs {
			c.block(fmt.Sprintf("blocks[%d]", i), b, SurfaceMessage)
		}
		if c.textTotal > MaxMessageBlockText {
			c.bad("blocks", "%d characters of text in all blocks, over %d per message", c.textTotal, MaxMessageBlockText)
		}
	}
	return c.out
}

// CheckView checks a modal view (the "view" object of views.open).
func CheckView(view json.RawMessage) []Violation {
	c := &checker{blockIDs: map[string]bool{}, actionIDs: map[string]bool{}}
	var v map[string]any
	if err := json.Unmarshal(view, &v); err != nil {
		c.bad("view", "does not parse: %v", err)
		return c.out
	}
	if v["type"] != "modal" {
		c.bad("view.type", "%v, want modal", v["type"])
	}
	c.plain("view.title", v["title"], MaxViewTitle, true)
	c.plain("view.submit", v["submit"], MaxViewButton, false)
	c.plain("view.close", v["close"], MaxViewButton, false)
	if s, _ := v["private_metadata"].(string); runes(s) > MaxPrivateMetadata {
		c.bad("view.private_metadata", "%d characters, over %d", runes(s), MaxPrivateMetadata)
	}
	if s, _ := v["callback_id"].(string); runes(s) > MaxID {
		c.bad("view.callback_id", "%d characters, over %d", runes(s), MaxID)
	}
	bs, _ := v["blocks"].([]any)
	if len(bs) > MaxViewBlocks {
		c.bad("view.blocks", "%d blocks, over %d per modal", len(bs), MaxViewBlocks)
	}
	hasInput := false
	for i, b := range bs {
		m, _ := b.(map[string]any)
		if m["type"] == "input" {
			hasInput = true
		}
		c.block(fmt.Sprintf("view.blocks[%d]", i), m, SurfaceModal)
	}
	if hasInput && v["submit"] == nil {
		c.bad("view.submit", "a modal with input blocks needs a submit button")
	}
	return c.out
}

func (c *checker) id(path string, v any, seen map[string]bool) {
	s, ok := v.(string)
	if !ok || s == "" {
		return
	}
	if runes(s) > MaxID {
		c.bad(path, "%d characters, over %d", runes(s), MaxID)
	}
	if seen[s] {
		c.bad(path, "%q is not unique", s)
	}
	seen[s] = true
}

func (c *checker) block(path string, b map[string]any, surface Surface) {
	if b == nil {
		c.bad(path, "not a block")
		return
	}
	c.id(path+".block_id", b["block_id"], c.blockIDs)
	switch b["type"] {
	case "section":
		if b["text"] == nil && b["fields"] == nil {
			c.bad(path, "a section needs text or fields")
		}
		if b["text"] != nil {
			c.text(path+".text", b["text"], MaxSectionText)
		}
		if fs, ok := b["fields"].([]any); ok {
			if len(fs) > MaxSectionFields {
				c.bad(path+".fields", "%d fields, over %d", len(fs), MaxSectionFields)
			}
			for i, f := range fs {
				c.text(fmt.Sprintf("%s.fields[%d]", path, i), f, MaxFieldText)
			}
		}
		if a, ok := b["accessory"].(map[string]any); ok {
			c.element(path+".accessory", a)
		}
	case "header":
		c.plain(path+".text", b["text"], MaxHeaderText, true)
	case "context":
		els, _ := b["elements"].([]any)
		if len(els) == 0 || len(els) > MaxContextElements {
			c.bad(path+".elements", "%d elements, want 1 to %d", len(els), MaxContextElements)
		}
		for i, e := range els {
			m, _ := e.(map[string]any)
			if m["type"] == "image" {
				continue
			}
			c.text(fmt.Sprintf("%s.elements[%d]", path, i), e, MaxSectionText)
		}
	case "actions":
		els, _ := b["elements"].([]any)
		if len(els) == 0 || len(els) > MaxActionsElements {
			c.bad(path+".elements", "%d elements, want 1 to %d", len(els), MaxActionsElements)
		}
		for i, e := range els {
			m, _ := e.(map[string]any)
			c.element(fmt.Sprintf("%s.elements[%d]", path, i), m)
		}
	case "input":
		if surface != SurfaceModal {
			c.bad(path, "input blocks belong in modals")
		}
		c.plain(path+".label", b["label"], MaxInputLabel, true)
		if b["hint"] != nil {
			c.plain(path+".hint", b["hint"], MaxInputHint, true)
		}
		m, _ := b["element"].(map[string]any)
		c.element(path+".element", m)
	case "divider":
	default:
		c.bad(path+".type", "block type %v is not one the bot should send", b["type"])
	}
}

func (c *checker) element(path string, e map[string]any) {
	if e == nil {
		c.bad(path, "not an element")
		return
	}
	c.id(path+".action_id", e["action_id"], c.actionIDs)
	switch e["type"] {
	case "button":
		c.plain(path+".text", e["text"], MaxButtonText, true)
		if s, _ := e["value"].(string); runes(s) > MaxButtonValue {
			c.bad(path+".value", "%d characters, over %d", runes(s), MaxButtonValue)
		}
		if s, _ := e["url"].(string); runes(s) > MaxURL {
			c.bad(path+".url", "%d characters, over %d", runes(s), MaxURL)
		}
		if st, ok := e["style"].(string); ok && st != "primary" && st != "danger" {
			c.bad(path+".style", "%q is not primary or danger", st)
		}
		if cf, ok := e["confirm"].(map[string]any); ok {
			c.confirm(path+".confirm", cf)
		}
	case "static_select", "radio_buttons", "checkboxes", "overflow":
		if e["placeholder"] != nil {
			c.plain(path+".placeholder", e["placeholder"], MaxPlaceholder, true)
		}
		opts, _ := e["options"].([]any)
		limit := MaxOptions
		if e["type"] == "overflow" {
			limit = 5
		}
		if len(opts) == 0 || len(opts) > limit {
			c.bad(path+".options", "%d options, want 1 to %d", len(opts), limit)
		}
		values := map[string]bool{}
		for i, o := range opts {
			m, _ := o.(map[string]any)
			op := fmt.Sprintf("%s.options[%d]", path, i)
			c.text(op+".text", m["text"], MaxOptionText)
			v, _ := m["value"].(string)
			if v == "" || runes(v) > MaxOptionValue {
				c.bad(op+".value", "%d characters, want 1 to %d", runes(v), MaxOptionValue)
			}
			if values[v] {
				c.bad(op+".value", "%q is not unique", v)
			}
			values[v] = true
			if m["description"] != nil {
				c.text(op+".description", m["description"], MaxOptionDesc)
			}
		}
	case "plain_text_input":
		if e["placeholder"] != nil {
			c.plain(path+".placeholder", e["placeholder"], MaxPlaceholder, true)
		}
		max := MaxTextInputLength
		if n, ok := e["max_length"].(float64); ok {
			if int(n) > MaxTextInputLength {
				c.bad(path+".max_length", "%d, over %d", int(n), MaxTextInputLength)
			}
			max = min(int(n), MaxTextInputLength)
		}
		if s, _ := e["initial_value"].(string); runes(s) > max {
			c.bad(path+".initial_value", "%d characters, over the max_length %d", runes(s), max)
		}
	default:
		c.bad(path+".type", "element type %v is not one the bot should send", e["type"])
	}
}

func (c *checker) confirm(path string, cf map[string]any) {
	c.plain(path+".title", cf["title"], MaxConfirmTitle, true)
	c.text(path+".text", cf["text"], MaxConfirmText)
	c.plain(path+".confirm", cf["confirm"], MaxConfirmButton, true)
	c.plain(path+".deny", cf["deny"], MaxConfirmButton, true)
}

// text checks a text object of either type.
func (c *checker) text(path string, v any, max int) {
	m, ok := v.(map[string]any)
	if !ok {
		c.bad(path, "not a text object")
		return
	}
	switch m["type"] {
	case "plain_text":
		c.plain(path, v, max, true)
	case "mrkdwn":
		c.mrkdwn(path+".text", c.body(path, m, max))
	default:
		c.bad(path+".type", "%v is not plain_text or mrkdwn", m["type"])
	}
}

// plain checks a plain_text object of at most max characters.
func (c *checker) plain(path string, v any, max int, required bool) {
	if v == nil {
		if required {
			c.bad(path, "missing")
		}
		return
	}
	m, ok := v.(map[string]any)
	if !ok || m["type"] != "plain_text" {
		c.bad(path, "not a plain_text object")
		return
	}
	c.body(path, m, max)
}

// body checks the text of a text object m: present, at most max
// characters, counted in the message's total. It returns the text.
func (c *checker) body(path string, m map[string]any, max int) string {
	s, _ := m["text"].(string)
	if s == "" {
		c.bad(path+".text", "empty")
	}
	if runes(s) > max {
		c.bad(path+".text", "%d characters, over %d", runes(s), max)
	}
	c.textTotal += runes(s)
	return s
}

// token is what may follow '<' in mrkdwn the bot writes: a user, channel or
// user group mention, a date, or a link. Broadcasts (<!channel>, <!here>,
// <!everyone>) are never written by the bot.
var token = regexp.MustCompile(`^<(@[UW][A-Z0-9]+|#C[A-Z0-9]+(\|[^<>]*)?|!subteam\^S[A-Z0-9]+(\|[^<>]*)?|!date\^[0-9]+\^[^<>|]+(\|[^<>]*)?|(https?|mailto):[^<>|\s]+(\|[^<>]*)?)>`)

// entity is what may follow '&': one of the three escapes.
var entity = regexp.MustCompile(`^&(amp|lt|gt);`)

// mrkdwn checks that s is escaped (every '<' opens a token, every '&' an
// escape, no raw '>' other than a quote at the start of a line) and has no
// open code span or block.
func (c *checker) mrkdwn(path, s string) {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '<':
			m := token.FindString(s[i:])
			if m == "" {
				c.bad(path, "unescaped '<' at %d: %q", i, excerpt(s, i))
				return
			}
			i += len(m) - 1
		case '&':
			if !entity.MatchString(s[i:]) {
				c.bad(path, "unescaped '&' at %d: %q", i, excerpt(s, i))
				return
			}
		case '>':
			c.bad(path, "unescaped '>' at %d: %q", i, excerpt(s, i))
			return
		}
	}
	fences := strings.Count(s, "```")
	if fences%2 != 0 {
		c.bad(path, "an open code block (``` without its end)")
		return
	}
	if strings.Count(strings.ReplaceAll(s, "```", ""), "`")%2 != 0 {
		c.bad(path, "an open code span (` without its end)")
	}
}

func excerpt(s string, i int) string {
	lo, hi := max(0, i-20), min(len(s), i+20)
	return s[lo:hi]
}
