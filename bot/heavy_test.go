package bot_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag/bot"
)

// Eight uploads that each take a worker for a long time run at most
// HeavyWorkers at once, and a command submitted meanwhile runs at once:
// uploads never hold the workers of commands and clicks.
func TestPool_HeavyWorkKeepsWorkersFree(t *testing.T) {
	const workers = 8
	p := bot.NewPool(workers, 64)
	release := make(chan struct{})
	var running, peak atomic.Int32
	for range 8 {
		if err := p.SubmitHeavy(func() {
			n := running.Add(1)
			for m := peak.Load(); n > m && !peak.CompareAndSwap(m, n); m = peak.Load() {
			}
			<-release
			running.Add(-1)
		}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(50 * time.Millisecond)
	for i := range workers {
		ran := make(chan struct{})
		if err := p.Submit(func() { close(ran) }); err != nil {
			t.Fatal(err)
		}
		select {
		case <-ran:
		case <-time.After(time.Second):
			t.Fatalf("command %d did not run while 8 uploads were in progress", i+1)
		}
	}
	close(release)
	p.Close()
	if got, want := peak.Load(), int32(bot.HeavyWorkers(workers)); got != want {
		t.Fatalf("%d uploads ran at once, want %d", got, want)
	}
}
