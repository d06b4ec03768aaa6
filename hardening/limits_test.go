package hardening_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag/bot/slack/slackfake"
)

// fileEvent is an Events API file_shared event: user shared file fileID
// in channel (the fake's files.info says in which thread, threadTS).
func fileEvent(n int, user, channel, threadTS, fileID string) []byte {
	_ = threadTS
	b, _ := json.Marshal(map[string]any{
		"token": "x", "team_id": "T1", "api_app_id": "A1", "type": "event_callback",
		"event_id": fmt.Sprintf("EvLimit%06d", n), "event_time": time.Now().Unix(),
		"event": map[string]any{
			"type": "file_shared", "file_id": fileID, "user_id": user, "channel_id": channel,
			"file": map[string]any{"id": fileID}, "event_ts": fmt.Sprintf("1700000300.%06d", n),
		},
	})
	return b
}

// bigReader yields n bytes of a text-looking pattern without holding them.
type bigReader struct{ left int64 }

func (r *bigReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	n := min(int64(len(p)), r.left)
	for i := range p[:n] {
		p[i] = "text=aaaaaaaaaaa&"[i%17]
	}
	r.left -= n
	return int(n), nil
}

// TestLimits sends huge bodies, a huge upload, deeply nested JSON and a
// burst of case starts from one user: each is refused clearly, serve does
// not crash, and its memory stays bounded.
func TestLimits(t *testing.T) {
	fake := slackfake.New(t)
	srv := MustServe(t, fake, "", "evidence:\n  max_upload_bytes: 1048576\n")
	sl := NewSlack(t, fake, func() string { return srv.Addr })
	ctx := context.Background()
	_, _ = startCase(t, sl, srv, "U1", "C1")
	settle(t, fake)
	peak0, _ := srv.RSS()

	// Huge bodies: 64 MiB streamed at each endpoint, signed or not.
	for _, path := range []string{"/slack/commands", "/slack/interactions", "/slack/events"} {
		req, _ := http.NewRequest(http.MethodPost, "http://"+srv.Addr+path, &bigReader{left: 64 << 20})
		req.ContentLength = 64 << 20
		req.Header = Sign(Secret, time.Now(), []byte("unknown"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := httpClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		// The server may answer 413 and close before the client has sent
		// everything; either is a refusal.
		if err == nil && resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("64 MiB body to %s: %d, want 413", path, resp.StatusCode)
		}
		t.Logf("limits: 64 MiB body to %s: %v", path, statusOf(resp, err))
	}

	// Deeply nested JSON: 100 000 nested arrays in an interaction payload,
	// and as an event body; signed, under the body cap.
	deep := strings.Repeat("[", 100000) + strings.Repeat("]", 100000)
	for _, c := range []struct {
		path, ctype string
		body        []byte
	}{
		{"/slack/interactions", "application/x-www-form-urlencoded", InteractionBody([]byte(`{"type":"block_actions","actions":` + deep + `}`))},
		{"/slack/interactions", "application/x-www-form-urlencoded", InteractionBody([]byte(deep))},
		{"/slack/events", "application/json", []byte(`{"type":"event_callback","event":{"type":"message","files":` + deep + `}}`)},
		{"/slack/events", "application/json", []byte(strings.Repeat(`{"a":`, 100000) + "1" + strings.Repeat("}", 100000))},
	} {
		r := Post(ctx, srv.Addr, c.path, c.body, c.ctype)
		if r.Err != nil || (r.Status != http.StatusBadRequest && r.Status != http.StatusOK) {
			t.Errorf("deep JSON to %s: %d %v", c.path, r.Status, r.Err)
		}
		t.Logf("limits: %d KiB of nested JSON to %s: %d", len(c.body)>>10, c.path, r.Status)
	}

	// Huge uploads: files of 4 MiB and 32 MiB, over evidence.max_upload_bytes
	// (1 MiB here).
	root := sl.Root("C1")
	big := bytes.Repeat([]byte("conn hq\n  ike = aes256-sha256-modp2048\n"), (4<<20)/38)
	fake.AddFile("FBIG1", "huge.conf", "text/plain", big, map[string]string{"C1": root})
	huge := bytes.Repeat([]byte("2026-11-25 10:00:00 charon: 09[IKE] retransmit 1 of request\n"), (32<<20)/58)
	fake.AddFile("FBIG2", "huge.log", "text/plain", huge, map[string]string{"C1": root})
	for i, id := range []string{"FBIG1", "FBIG2"} {
		settle(t, fake)
		from := len(fake.Calls(""))
		r := Post(ctx, srv.Addr, "/slack/events", fileEvent(i, "U1", "C1", root, id), "application/json")
		if !r.Acked() {
			t.Errorf("file event %s: %+v", id, r)
		}
		var text string
		fake.WaitFor(t, 30*time.Second, "the refusal of "+id, func() bool {
			for _, c := range fake.Calls("")[from:] {
				if c.Method == "chat.postMessage" && strings.Contains(c.Form.Get("text"), "was not read") {
					text = c.Form.Get("text")
					return true
				}
			}
			return false
		})
		if !strings.Contains(text, "limit of 1.0 MiB") {
			t.Errorf("%s refused with %q; want the limit named", id, text)
		}
		t.Logf("limits: upload %s refused: %q", id, text)
	}
	if n := Count(t, MustOpenDB(t, srv.DB), "SELECT COUNT(*) FROM evidence"); n != 0 {
		t.Errorf("%d evidence rows stored from refused uploads", n)
	}

	// Many cases from one user at once: the per-user cap (10 per 10
	// minutes by default) refuses the rest with a message.
	settle(t, fake)
	from := len(fake.Calls(""))
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			if r := sl.Command(ctx, "UFLOOD", fmt.Sprintf("CF%02d", i), "start"); !r.Acked() {
				t.Errorf("start %d: %+v", i, r)
			}
		})
	}
	wg.Wait()
	settle(t, fake)
	opened := Count(t, MustOpenDB(t, srv.DB), "SELECT COUNT(*) FROM cases WHERE created_by = 'UFLOOD'")
	refusals := 0
	for _, s := range told(fake, from) {
		if strings.Contains(s, "You have opened 10 cases in the last 10 minutes") {
			refusals++
		}
	}
	if opened != 10 || refusals != 30 {
		t.Errorf("40 starts by one user: %d cases opened, %d refusals; want 10 and 30", opened, refusals)
	}
	t.Logf("limits: 40 concurrent starts by one user: %d opened, %d refused with the cap's message", opened, refusals)

	// Still alive, memory bounded.
	resp, err := http.Get("http://" + srv.Addr + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("serve is not healthy after the limits: %v %v", statusOf(resp, err), srv.Log())
	}
	resp.Body.Close()
	if srv.Exited() {
		t.Fatal("serve crashed")
	}
	peak, cur := srv.RSS()
	t.Logf("limits: serve RSS peak %.1f MiB (%.1f MiB before the limits), now %.1f MiB", float64(peak)/(1<<20), float64(peak0)/(1<<20), float64(cur)/(1<<20))
	if peak > 256<<20 {
		t.Errorf("peak RSS %.1f MiB; want under 256 MiB", float64(peak)/(1<<20))
	}
}

func statusOf(resp *http.Response, err error) string {
	if err != nil {
		return "connection ended by the server (" + err.Error() + ")"
	}
	return resp.Status
}
