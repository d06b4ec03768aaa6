package bot

import (
	"context"
	"errors"
	"sync"
)

// Locks serialises work per key (a case): two clicks on one case run one
// after the other, clicks on different cases run in parallel.
type Locks struct {
	mu    sync.Mutex
	locks map[int64]*keyLock
}

type keyLock struct {
	ch   chan struct{}
	refs int
}

// Lock waits until key is free or ctx is done, and returns the function that
// frees it.
func (l *Locks) Lock(ctx context.Context, key int64) (unlock func(), err error) {
	l.mu.Lock()
	if l.locks == nil {
		l.locks = map[int64]*keyLock{}
	}
	k := l.locks[key]
	if k == nil {
		k = &keyLock{ch: make(chan struct{}, 1)}
		l.locks[key] = k
	}
	k.refs++
	l.mu.Unlock()

	release := func() {
		l.mu.Lock()
		k.refs--
		if k.refs == 0 {
			delete(l.locks, key)
		}
		l.mu.Unlock()
	}
	select {
	case k.ch <- struct{}{}:
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			<-k.ch
			release()
		})
	}, nil
}

// ErrBusy is returned by Pool.Submit when the queue is full.
var ErrBusy = errors.New("bot: work queue full")

// Pool runs submitted work on a fixed number of goroutines with a bounded
// queue, so a burst of Slack deliveries cannot start unbounded goroutines.
//
// Heavy work (large uploads: a download, redaction and analysis of up to
// the upload cap) goes through SubmitHeavy to workers and a queue of its
// own, HeavyWorkers of them: however many uploads arrive, every one of the
// pool's workers stays free for commands and clicks, and at most
// HeavyWorkers uploads are in memory at once.
type Pool struct {
	queue chan func()
	heavy chan func()
	wg    sync.WaitGroup
	once  sync.Once
	mu    sync.RWMutex
	done  bool
}

// HeavyWorkers returns how many heavy jobs a pool of workers runs at once:
// a quarter of them, at least 1 and at most 4.
func HeavyWorkers(workers int) int { return min(max(workers/4, 1), 4) }

// NewPool starts workers goroutines with a queue of queue jobs, and
// HeavyWorkers(workers) for heavy work with a queue of its own (a quarter
// of queue, at least 4).
func NewPool(workers, queue int) *Pool {
	if workers < 1 {
		workers = 1
	}
	p := &Pool{queue: make(chan func(), queue), heavy: make(chan func(), max(queue/4, 4))}
	run := func(q chan func()) {
		for fn := range q {
			fn()
		}
	}
	for range workers {
		p.wg.Go(func() { run(p.queue) })
	}
	for range HeavyWorkers(workers) {
		p.wg.Go(func() { run(p.heavy) })
	}
	return p
}

// SubmitHeavy queues heavy work without blocking; ErrBusy when its queue is
// full or the pool is closed.
func (p *Pool) SubmitHeavy(fn func()) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.done {
		return ErrBusy
	}
	select {
	case p.heavy <- fn:
		return nil
	default:
		return ErrBusy
	}
}

// Submit queues fn without blocking; ErrBusy when the queue is full or the
// pool is closed.
func (p *Pool) Submit(fn func()) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.done {
		return ErrBusy
	}
	select {
	case p.queue <- fn:
		return nil
	default:
		return ErrBusy
	}
}

// Close stops accepting work and waits for queued work to finish.
func (p *Pool) Close() {
	p.once.Do(func() {
		p.mu.Lock()
		p.done = true
		close(p.queue)
		close(p.heavy)
		p.mu.Unlock()
	})
	p.wg.Wait()
}
