package slack

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"

	slackgo "github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
)

// Paths of HTTP mode, as the manifest registers them.
const (
	PathCommands     = "/slack/commands"
	PathInteractions = "/slack/interactions"
	PathEvents       = "/slack/events"
)

// Handler returns the HTTP-mode handler serving PathCommands,
// PathInteractions and PathEvents. Every request must carry a valid Slack
// signature made within five minutes (401 otherwise, nothing stored); bodies
// over MaxBodyBytes get 413; a body that does not parse gets 400.
func (b *Bot) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle(PathCommands, b.signed(b.serveCommand))
	mux.Handle(PathInteractions, b.signed(b.serveInteraction))
	mux.Handle(PathEvents, b.signed(b.serveEvent))
	return mux
}

// signed reads the capped body, answers Slack's ssl_check, verifies the
// signature and passes the body on.
func (b *Bot) signed(next func(w http.ResponseWriter, r *http.Request, body []byte)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, b.cfg.MaxBodyBytes))
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				b.log.Warn("slack: request body over the cap", "path", r.URL.Path, "limit", b.cfg.MaxBodyBytes, "remote", r.RemoteAddr)
				http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
				return
			}
			http.Error(w, "cannot read body", http.StatusBadRequest)
			return
		}
		// Slack's certificate check is a bare form with ssl_check=1; it
		// carries no command or payload and changes nothing.
		if form, err := url.ParseQuery(string(body)); err == nil && form.Get("ssl_check") == "1" && form.Get("command") == "" && form.Get("payload") == "" {
			w.WriteHeader(http.StatusOK)
			return
		}
		if err := b.verifier.Verify(r.Header, body); err != nil {
			b.log.Warn("slack: request refused", "path", r.URL.Path, "reason", err, "remote", r.RemoteAddr)
			http.Error(w, "invalid signature", http.StatusUnauthorized)
			return
		}
		if n := r.Header.Get(HeaderRetryNum); n != "" {
			b.log.Info("slack: retried delivery", "path", r.URL.Path, "retry", n, "reason", r.Header.Get("X-Slack-Retry-Reason"))
		}
		next(w, r, body)
	})
}

func writeJSON(w http.ResponseWriter, v any) {
	if v == nil {
		w.WriteHeader(http.StatusOK)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func (b *Bot) serveCommand(w http.ResponseWriter, r *http.Request, body []byte) {
	form, err := url.ParseQuery(string(body))
	if err != nil || form.Get("command") == "" {
		http.Error(w, "not a slash command", http.StatusBadRequest)
		return
	}
	cmd := slackgo.SlashCommand{
		Token: form.Get("token"), TeamID: form.Get("team_id"), TeamDomain: form.Get("team_domain"),
		EnterpriseID: form.Get("enterprise_id"), ChannelID: form.Get("channel_id"), ChannelName: form.Get("channel_name"),
		UserID: form.Get("user_id"), UserName: form.Get("user_name"), Command: form.Get("command"),
		Text: form.Get("text"), ResponseURL: form.Get("response_url"), TriggerID: form.Get("trigger_id"),
		APIAppID: form.Get("api_app_id"),
	}
	acks := &commits{}
	resp := b.onCommand(cmd, "", acks)
	if !b.awaitCommits(w, r, acks) {
		return
	}
	writeJSON(w, resp)
}

// awaitCommits waits until the work a request queued has stored its state
// change, so that a 200 is a promise: a request acknowledged is not lost if
// the process dies next. Work that could not store its change (full or
// locked database), or takes longer than AckWait, is answered 503 (and
// reports false): Slack delivers the request again, and the second delivery
// is recognised as a duplicate once the first is done.
func (b *Bot) awaitCommits(w http.ResponseWriter, r *http.Request, acks *commits) bool {
	if acks.wait(b.cfg.AckWait) {
		return true
	}
	b.log.Warn("slack: work not stored (failed, or not within the acknowledgement deadline); asking Slack to retry", "path", r.URL.Path, "wait", b.cfg.AckWait)
	w.Header().Set("Retry-After", "1")
	http.Error(w, "busy: not stored yet, retry", http.StatusServiceUnavailable)
	return false
}

func (b *Bot) serveInteraction(w http.ResponseWriter, r *http.Request, body []byte) {
	form, err := url.ParseQuery(string(body))
	if err != nil || form.Get("payload") == "" {
		http.Error(w, "missing payload", http.StatusBadRequest)
		return
	}
	cb, err := DecodeInteraction([]byte(form.Get("payload")))
	if err != nil {
		b.log.Warn("slack: interaction payload does not parse", "error", err)
		http.Error(w, "payload does not parse", http.StatusBadRequest)
		return
	}
	acks := &commits{}
	resp := b.onInteraction(cb, "", acks)
	if !b.awaitCommits(w, r, acks) {
		return
	}
	writeJSON(w, resp)
}

// DecodeInteraction decodes an interaction payload (the JSON in the
// payload form field, or a Socket Mode interactive envelope's payload).
func DecodeInteraction(data []byte) (*slackgo.InteractionCallback, error) {
	var cb slackgo.InteractionCallback
	if err := json.Unmarshal(data, &cb); err != nil {
		return nil, err
	}
	if cb.Type == "" {
		return nil, errors.New("interaction payload without a type")
	}
	return &cb, nil
}

func (b *Bot) serveEvent(w http.ResponseWriter, r *http.Request, body []byte) {
	var outer struct {
		Type      string `json:"type"`
		Challenge string `json:"challenge"`
	}
	if err := json.Unmarshal(body, &outer); err != nil {
		http.Error(w, "body does not parse", http.StatusBadRequest)
		return
	}
	if outer.Type == slackevents.URLVerification {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, outer.Challenge)
		return
	}
	ev, err := slackevents.ParseEvent(json.RawMessage(body), slackevents.OptionNoVerifyToken())
	if err != nil {
		// An event type slack-go does not know is acknowledged and ignored,
		// so Slack does not retry it.
		b.log.Debug("slack: event not understood", "error", err)
		w.WriteHeader(http.StatusOK)
		return
	}
	acks := &commits{}
	b.onEvent(ev, "", acks)
	if !b.awaitCommits(w, r, acks) {
		return
	}
	w.WriteHeader(http.StatusOK)
}
