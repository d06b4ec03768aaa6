package hardening_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag/bot/slack/slackfake"
	"github.com/vpndiag/vpndiag/evidence/logs"
)

// TestUploadRSS shares a 32 MiB and then a 64 MiB log (the default upload
// limit) in a case thread through serve and checks that both are stored
// and that serve's peak resident memory, start-up included, stays under
// 64 MiB: an upload is streamed to disk and read back in bounded memory,
// never held whole.
func TestUploadRSS(t *testing.T) {
	fake := slackfake.New(t)
	srv := MustServe(t, fake, "", "evidence:\n  max_upload_bytes: 67108864\n")
	sl := NewSlack(t, fake, func() string { return srv.Addr })
	ctx := context.Background()
	startCase(t, sl, srv, "U1", "C1")
	settle(t, fake)
	root := sl.Root("C1")
	db := MustOpenDB(t, srv.DB)
	peak0, cur0 := srv.RSS()
	t.Logf("serve before any upload: peak RSS %d MiB (now %d MiB)", peak0>>20, cur0>>20)
	for i, size := range []int64{32 << 20, 64 << 20} {
		var buf bytes.Buffer
		if err := logs.Generate(&buf, size, int64(i+1)); err != nil {
			t.Fatal(err)
		}
		id := fmt.Sprintf("FRSS%d", i)
		fake.AddFile(id, fmt.Sprintf("charon-%d.log", size>>20), "text/plain", buf.Bytes()[:size], map[string]string{"C1": root})
		buf = bytes.Buffer{}
		t0 := time.Now()
		// Slack retries an event the bot answers 503 (busy) to.
		for try := 0; ; try++ {
			r := Post(ctx, srv.Addr, "/slack/events", fileEvent(2000+i, "U1", "C1", root, id), "application/json")
			if r.Acked() {
				break
			}
			if try == 20 {
				t.Fatalf("file event %s: %+v", id, r)
			}
			time.Sleep(500 * time.Millisecond)
		}
		fake.WaitFor(t, 180*time.Second, fmt.Sprintf("the %d MiB log stored", size>>20), func() bool {
			return Count(t, db, "SELECT COUNT(*) FROM evidence") == i+1
		})
		peak, cur := srv.RSS()
		t.Logf("upload %d MiB: stored in %v; serve peak RSS so far %d MiB (now %d MiB)", size>>20, time.Since(t0).Round(time.Millisecond), peak>>20, cur>>20)
		if peak >= 64<<20 {
			t.Errorf("serve peaked at %d MiB RSS with a %d MiB upload, want under 64 MiB", peak>>20, size>>20)
		}
	}
}
