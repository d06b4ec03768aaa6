// Package slackfake is a recording fake of the Slack Web API and of Socket
// Mode, for tests of the bot. It extends slack-go's slacktest server with
// the endpoints the bot calls (chat.postMessage, chat.update,
// chat.postEphemeral, views.open, files.info, file downloads,
// files.getUploadURLExternal, the upload URL, files.completeUploadExternal,
// usergroups.users.list, apps.connections.open), response URLs under
// /hooks/ (recorded as "response_url"), and a Socket Mode websocket
// that sends envelopes and collects acks. Every call is recorded.
package slackfake

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	slackgo "github.com/slack-go/slack"
	"github.com/slack-go/slack/slacktest"
)

// BotToken is the token the fake accepts for file downloads and uploads.
const BotToken = "xoxb-fake-bot-token"

// AppToken is the app-level token the fake accepts for apps.connections.open.
const AppToken = "xapp-fake-app-token"

// Call is one recorded Web API request.
type Call struct {
	// Method is the API method, e.g. "chat.postMessage", or "upload" and
	// "download" for the file URLs.
	Method string
	// Form holds form fields (and query parameters).
	Form url.Values
	// JSON is the body of a JSON request (views.open).
	JSON json.RawMessage
	// Auth is the Authorization header.
	Auth string
	// Time is when it arrived.
	Time time.Time
}

// Message is a message as the fake stores it, after posts and updates.
type Message struct {
	Channel  string
	TS       string
	ThreadTS string
	Text     string
	Blocks   json.RawMessage
	// Updates counts chat.update calls on it.
	Updates int
}

// Upload is a file received through the upload v2 flow.
type Upload struct {
	FileID   string
	Filename string
	Title    string
	Content  []byte
	// Channel and ThreadTS are set by files.completeUploadExternal.
	Channel  string
	ThreadTS string
	Comment  string
}

// Failure is a queued error answer for a method.
type Failure struct {
	// Error is Slack's error code, e.g. "channel_not_found".
	Error string
	// Needed is the missing scope, for missing_scope.
	Needed string
	// RetryAfter, when set, answers 429 with this Retry-After (seconds).
	RetryAfter int
}

// Server is the fake Slack.
type Server struct {
	*slacktest.Server
	tb testing.TB

	mu       sync.Mutex
	calls    []Call
	messages []*Message
	seq      int
	files    map[string]*file
	uploads  map[string]*Upload
	order    []string
	groups   map[string][]string
	fails    map[string][]Failure
	checked  int

	socket *socket
}

type file struct {
	info    slackgo.File
	content []byte
}

// New starts a fake Slack, stopped at the end of the test.
func New(tb testing.TB) *Server {
	s := &Server{tb: tb, files: map[string]*file{}, uploads: map[string]*Upload{}, groups: map[string][]string{}, fails: map[string][]Failure{}}
	s.socket = newSocket(s)
	s.Server = slacktest.NewTestServer(func(c slacktest.Customize) {
		for _, m := range []string{"chat.postMessage", "chat.update", "chat.postEphemeral", "chat.getPermalink", "views.open", "files.info",
			"files.getUploadURLExternal", "files.completeUploadExternal", "usergroups.users.list", "apps.connections.open"} {
			c.Handle("/"+m, s.api(m))
		}
		c.Handle("/files-pri/", s.download)
		c.Handle("/upload/v1/", s.upload)
		c.Handle("/hooks/", func(w http.ResponseWriter, r *http.Request) {
			c := s.record("response_url", r)
			var m struct {
				Text   string          `json:"text"`
				Blocks json.RawMessage `json:"blocks"`
			}
			_ = json.Unmarshal(c.JSON, &m)
			s.check("response_url", CheckMessage(m.Text, m.Blocks))
			_, _ = io.WriteString(w, "ok")
		})
		c.Handle("/socket", s.socket.serve)
	})
	s.Start()
	tb.Cleanup(func() { s.socket.closeAll(); s.Stop() })
	return s
}

// APIURL is the base URL to give the bot (ends in "/").
func (s *Server) APIURL() string { return s.GetAPIURL() }

// Fail queues failures answered, in order, to the next calls of method.
func (s *Server) Fail(method string, fs ...Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fails[method] = append(s.fails[method], fs...)
}

// SetUsergroup sets a user group's members.
func (s *Server) SetUsergroup(id string, members ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.groups[id] = members
}

// AddFile registers a file that files.info describes and the download URL
// serves (only with BotToken). shares, when given, are channel → thread_ts
// where the file was shared.
func (s *Server) AddFile(id, name, mimetype string, content []byte, shares map[string]string) slackgo.File {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := slackgo.File{ID: id, Name: name, Title: name, Mimetype: mimetype, Size: len(content)}
	f.URLPrivate = fmt.Sprintf("%sfiles-pri/T1-%s/%s", s.APIURL(), id, url.PathEscape(name))
	f.URLPrivateDownload = fmt.Sprintf("%sfiles-pri/T1-%s/download/%s", s.APIURL(), id, url.PathEscape(name))
	if len(shares) > 0 {
		f.Shares.Public = map[string][]slackgo.ShareFileInfo{}
		for ch, ts := range shares {
			f.Shares.Public[ch] = append(f.Shares.Public[ch], slackgo.ShareFileInfo{Ts: ts + "1", ThreadTs: ts})
		}
	}
	s.files[id] = &file{info: f, content: content}
	return f
}

// Share records that file id was shared in the thread threadTS of channel,
// as files.info then reports it.
func (s *Server) Share(id, channel, threadTS string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.files[id]
	if f == nil {
		return
	}
	if f.info.Shares.Public == nil {
		f.info.Shares.Public = map[string][]slackgo.ShareFileInfo{}
	}
	f.info.Shares.Public[channel] = append(f.info.Shares.Public[channel], slackgo.ShareFileInfo{Ts: threadTS + "1", ThreadTs: threadTS})
}

// Calls returns the recorded calls of method ("" for all), oldest first.
func (s *Server) Calls(method string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if method == "" || c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

// Messages returns the messages posted in channel (thread replies
// included), oldest first, as last updated.
func (s *Server) Messages(channel string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Message
	for _, m := range s.messages {
		if channel == "" || m.Channel == channel {
			out = append(out, *m)
		}
	}
	return out
}

// Uploads returns the completed uploads, oldest first.
func (s *Server) Uploads() []Upload {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Upload
	for _, id := range s.order {
		if u := s.uploads[id]; u.Channel != "" {
			out = append(out, *u)
		}
	}
	return out
}

// WaitFor polls cond every 10 ms until it holds or timeout passes, and fails
// the test with what otherwise.
func (s *Server) WaitFor(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("slackfake: timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (s *Server) record(method string, r *http.Request) Call {
	c := Call{Method: method, Auth: r.Header.Get("Authorization"), Time: time.Now(), Form: url.Values{}}
	for k, v := range r.URL.Query() {
		c.Form[k] = v
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	switch ct {
	case "application/json":
		c.JSON = body
	case "application/x-www-form-urlencoded":
		f, _ := url.ParseQuery(string(body))
		for k, v := range f {
			c.Form[k] = v
		}
	}
	s.mu.Lock()
	s.calls = append(s.calls, c)
	s.mu.Unlock()
	switch method {
	case "chat.postMessage", "chat.update", "chat.postEphemeral":
		s.check(method, CheckMessage(c.Form.Get("text"), json.RawMessage(c.Form.Get("blocks"))))
	case "views.open", "views.update", "views.push":
		var req struct {
			View json.RawMessage `json:"view"`
		}
		if err := json.Unmarshal(c.JSON, &req); err != nil {
			_ = json.Unmarshal([]byte(c.Form.Get("view")), &req.View)
		}
		s.check(method, CheckView(req.View))
	}
	return c
}

// check fails the test for every violation of Block Kit's limits in a
// payload the bot sent.
func (s *Server) check(method string, vs []Violation) {
	for _, v := range vs {
		s.tb.Errorf("slackfake: %s payload breaks Block Kit's limits: %s", method, v)
	}
	s.mu.Lock()
	s.checked++
	s.mu.Unlock()
}

// Checked counts the payloads checked against Block Kit's limits so far.
func (s *Server) Checked() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.checked
}

func (s *Server) nextFailure(method string) (Failure, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fs := s.fails[method]
	if len(fs) == 0 {
		return Failure{}, false
	}
	s.fails[method] = fs[1:]
	return fs[0], true
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) api(method string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c := s.record(method, r)
		if f, ok := s.nextFailure(method); ok {
			if f.RetryAfter > 0 {
				w.Header().Set("Retry-After", strconv.Itoa(f.RetryAfter))
				w.WriteHeader(http.StatusTooManyRequests)
				return
			}
			resp := map[string]any{"ok": false, "error": f.Error}
			if f.Needed != "" {
				resp["needed"], resp["provided"] = f.Needed, "commands,chat:write"
			}
			writeJSON(w, resp)
			return
		}
		switch method {
		case "chat.postMessage":
			s.mu.Lock()
			s.seq++
			ts := fmt.Sprintf("1700000000.%06d", s.seq)
			s.messages = append(s.messages, &Message{Channel: c.Form.Get("channel"), TS: ts, ThreadTS: c.Form.Get("thread_ts"), Text: c.Form.Get("text"), Blocks: json.RawMessage(c.Form.Get("blocks"))})
			s.mu.Unlock()
			writeJSON(w, map[string]any{"ok": true, "channel": c.Form.Get("channel"), "ts": ts})
		case "chat.update":
			s.mu.Lock()
			var found *Message
			for _, m := range s.messages {
				if m.Channel == c.Form.Get("channel") && m.TS == c.Form.Get("ts") {
					found = m
				}
			}
			if found != nil {
				found.Text, found.Blocks = c.Form.Get("text"), json.RawMessage(c.Form.Get("blocks"))
				found.Updates++
			}
			s.mu.Unlock()
			if found == nil {
				writeJSON(w, map[string]any{"ok": false, "error": "message_not_found"})
				return
			}
			writeJSON(w, map[string]any{"ok": true, "channel": found.Channel, "ts": found.TS, "text": found.Text})
		case "chat.getPermalink":
			ch, ts := c.Form.Get("channel"), c.Form.Get("message_ts")
			writeJSON(w, map[string]any{"ok": true, "channel": ch, "permalink": "https://fake.slack.com/archives/" + ch + "/p" + strings.ReplaceAll(ts, ".", "")})
		case "chat.postEphemeral":
			writeJSON(w, map[string]any{"ok": true, "message_ts": "1700000000.999999"})
		case "views.open":
			writeJSON(w, map[string]any{"ok": true, "view": map[string]any{"id": "V" + strconv.Itoa(len(s.Calls("views.open")))}})
		case "files.info":
			s.mu.Lock()
			f := s.files[c.Form.Get("file")]
			s.mu.Unlock()
			if f == nil {
				writeJSON(w, map[string]any{"ok": false, "error": "file_not_found"})
				return
			}
			writeJSON(w, map[string]any{"ok": true, "file": f.info})
		case "files.getUploadURLExternal":
			s.mu.Lock()
			s.seq++
			id := fmt.Sprintf("F%07d", s.seq)
			s.uploads[id] = &Upload{FileID: id, Filename: c.Form.Get("filename")}
			s.order = append(s.order, id)
			s.mu.Unlock()
			writeJSON(w, map[string]any{"ok": true, "upload_url": s.APIURL() + "upload/v1/" + id, "file_id": id})
		case "files.completeUploadExternal":
			var files []struct{ ID, Title string }
			_ = json.Unmarshal([]byte(c.Form.Get("files")), &files)
			var out []map[string]any
			s.mu.Lock()
			for _, f := range files {
				u := s.uploads[f.ID]
				if u == nil || u.Content == nil {
					s.mu.Unlock()
					writeJSON(w, map[string]any{"ok": false, "error": "file_not_found"})
					return
				}
				u.Title, u.Channel, u.ThreadTS, u.Comment = f.Title, c.Form.Get("channel_id"), c.Form.Get("thread_ts"), c.Form.Get("initial_comment")
				out = append(out, map[string]any{"id": u.FileID, "title": u.Title})
			}
			s.mu.Unlock()
			writeJSON(w, map[string]any{"ok": true, "files": out})
		case "usergroups.users.list":
			s.mu.Lock()
			ms, ok := s.groups[c.Form.Get("usergroup")]
			s.mu.Unlock()
			if !ok {
				writeJSON(w, map[string]any{"ok": false, "error": "no_such_subteam"})
				return
			}
			writeJSON(w, map[string]any{"ok": true, "users": ms})
		case "apps.connections.open":
			if c.Auth != "Bearer "+AppToken {
				writeJSON(w, map[string]any{"ok": false, "error": "invalid_auth"})
				return
			}
			writeJSON(w, map[string]any{"ok": true, "url": "ws://" + s.ServerAddr + "/socket"})
		}
	}
}

// download serves a registered file to the bot token only, as
// files.slack.com does.
func (s *Server) download(w http.ResponseWriter, r *http.Request) {
	c := s.record("download", r)
	if c.Auth != "Bearer "+BotToken {
		http.Error(w, "not authorised", http.StatusForbidden)
		return
	}
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/files-pri/"), "/")
	id := strings.TrimPrefix(parts[0], "T1-")
	s.mu.Lock()
	f := s.files[id]
	s.mu.Unlock()
	if f == nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", f.info.Mimetype)
	_, _ = w.Write(f.content)
}

// upload receives the bytes of an upload v2 flow, as files.slack.com does:
// multipart with the file under "file", answered "OK - <size>".
func (s *Server) upload(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimPrefix(r.URL.Path, "/upload/v1/")
	c := Call{Method: "upload", Auth: r.Header.Get("Authorization"), Time: time.Now(), Form: url.Values{"file_id": {id}}}
	var content []byte
	_, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err == nil {
		mr := multipart.NewReader(r.Body, params["boundary"])
		for {
			p, err := mr.NextPart()
			if err != nil {
				break
			}
			if p.FormName() == "file" {
				content, _ = io.ReadAll(p)
				c.Form.Set("filename", p.FileName())
			}
		}
	}
	s.mu.Lock()
	s.calls = append(s.calls, c)
	u := s.uploads[id]
	if u != nil && content != nil {
		u.Content = content
	}
	s.mu.Unlock()
	if u == nil || content == nil {
		http.Error(w, "bad upload", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "OK - %d", len(content))
}

// View is a modal the bot opened: one recorded views.open call.
type View struct {
	// CallbackID and PrivateMetadata are the view's, as sent.
	CallbackID      string
	PrivateMetadata string
	// Inputs are the block ID and action ID of each input block, in order.
	Inputs [][2]string
}

// Views returns the modals opened so far, in call order; a call whose body
// does not decode is left out.
func (s *Server) Views() []View {
	var out []View
	for _, c := range s.Calls("views.open") {
		var req struct {
			View struct {
				CallbackID      string `json:"callback_id"`
				PrivateMetadata string `json:"private_metadata"`
				Blocks          []struct {
					Type    string `json:"type"`
					BlockID string `json:"block_id"`
					Element struct {
						ActionID string `json:"action_id"`
					} `json:"element"`
				} `json:"blocks"`
			} `json:"view"`
		}
		if json.Unmarshal(c.JSON, &req) != nil {
			continue
		}
		v := View{CallbackID: req.View.CallbackID, PrivateMetadata: req.View.PrivateMetadata}
		for _, b := range req.View.Blocks {
			if b.Type == "input" {
				v.Inputs = append(v.Inputs, [2]string{b.BlockID, b.Element.ActionID})
			}
		}
		out = append(out, v)
	}
	return out
}
