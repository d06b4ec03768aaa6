package slack_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag"
	botslack "github.com/vpndiag/vpndiag/bot/slack"
)

// slowIntake holds every upload until release is closed.
type slowIntake struct {
	release chan struct{}
	started chan struct{}
}

func (s *slowIntake) Attach(ctx context.Context, caseID int64, name string, r io.Reader, actor string) (string, []*vpndiag.Finding, error) {
	s.started <- struct{}{}
	select {
	case <-s.release:
	case <-ctx.Done():
	}
	_, _ = io.Copy(io.Discard, r)
	return name + ": read", nil, nil
}

// Eight uploads that take long (a large file's download and analysis) do
// not stall the bot: a command sent meanwhile is answered at once, and at
// most a quarter of the workers hold uploads.
func TestUploadsDoNotStallCommands(t *testing.T) {
	slow := &slowIntake{release: make(chan struct{}), started: make(chan struct{}, 16)}
	h := MustHarness(t, func(_ *botslack.Config, d *botslack.Deps) { d.Evidence = slow })
	cs, _ := mustStart(t, h, "U1", "C1")
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(slow.release)
	for i := range 8 {
		id := fmt.Sprintf("FUP%d", i)
		h.Fake.AddFile(id, fmt.Sprintf("big-%d.log", i), "text/plain", []byte(strings.Repeat("log line\n", 100)), nil)
		// The acknowledgement may wait for the upload's work; send them
		// all at once as Slack would.
		body := h.FileEvent("U1", "C1", cs.ThreadTS, id)
		wg.Go(func() { h.Post(botslack.PathEvents, body, "application/json") })
	}
	<-slow.started // uploads are being read
	t0 := time.Now()
	h.Command("U1", "C1", "status")
	eph := h.WaitEphemeral(1)
	if !strings.Contains(eph[len(eph)-1], cs.Marker) {
		t.Fatalf("status answer %q", eph)
	}
	t.Logf("status answered in %s while 8 uploads were in progress", time.Since(t0).Round(time.Millisecond))
	time.Sleep(100 * time.Millisecond)
	if n := len(slow.started) + 1; n > 2 {
		t.Fatalf("%d uploads read at once with 8 workers, want at most 2", n)
	}
}
