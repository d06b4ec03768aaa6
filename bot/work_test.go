package bot_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag/bot"
)

func TestLocks_SerialisePerKey(t *testing.T) {
	var l bot.Locks
	var inside, maxInside atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			unlock, err := l.Lock(context.Background(), 7)
			if err != nil {
				t.Error(err)
				return
			}
			n := inside.Add(1)
			for {
				m := maxInside.Load()
				if n <= m || maxInside.CompareAndSwap(m, n) {
					break
				}
			}
			time.Sleep(time.Millisecond)
			inside.Add(-1)
			unlock()
		})
	}
	wg.Wait()
	if maxInside.Load() != 1 {
		t.Fatalf("%d holders at once of one key", maxInside.Load())
	}
	// Another key is not blocked by a held one.
	unlock, _ := l.Lock(context.Background(), 1)
	defer unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	u2, err := l.Lock(ctx, 2)
	if err != nil {
		t.Fatalf("key 2 blocked by key 1: %v", err)
	}
	u2()
	// A held key times out with the context.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel2()
	if _, err := l.Lock(ctx2, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock on a held key: %v, want deadline exceeded", err)
	}
}

func TestPool_Bounded(t *testing.T) {
	p := bot.NewPool(2, 3)
	release := make(chan struct{})
	var ran atomic.Int32
	accepted := 0
	for range 10 {
		if p.Submit(func() { <-release; ran.Add(1) }) == nil {
			accepted++
		}
	}
	// 2 running + 3 queued; the busy answer may come earlier if workers
	// have not picked up yet.
	if accepted < 3 || accepted > 5 {
		t.Fatalf("accepted %d of 10 with 2 workers and a queue of 3", accepted)
	}
	close(release)
	p.Close()
	if int(ran.Load()) != accepted {
		t.Fatalf("ran %d, accepted %d", ran.Load(), accepted)
	}
	if err := p.Submit(func() {}); !errors.Is(err, bot.ErrBusy) {
		t.Fatalf("Submit after Close: %v", err)
	}
}
