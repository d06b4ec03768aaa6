package sqlite

import (
	"context"
	"fmt"
	"sync/atomic"
)

// Group commit.
//
// With synchronous=FULL every commit waits for an fsync of the WAL, which
// on a busy disk costs one to several milliseconds. Small writes that
// arrive while one is committing (a burst of Slack clicks, each claimed and
// then answered) would queue behind one fsync each. write instead lets the
// first caller lead: it takes every request queued so far, runs each inside
// one transaction under a SAVEPOINT of its own (a request that fails is
// rolled back alone, as if it had its own transaction), commits once, and
// hands every caller its own result. Callers still return only after their
// write is durable; they just share the fsync.

// writeReq is one caller's write waiting for a batch.
type writeReq struct {
	ctx  context.Context
	fn   func(tx *Tx) error
	done chan error
}

// write runs fn in a read-write transaction shared with the writes queued
// at the same moment, and returns once that transaction has committed (nil)
// or fn's own error, or the commit's error. fn must use only tx, and may run
// in another goroutine than the caller's.
func (db *DB) write(ctx context.Context, fn func(tx *Tx) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sqlite: write: %w", err)
	}
	req := &writeReq{ctx: ctx, fn: fn, done: make(chan error, 1)}
	db.wmu.Lock()
	db.queue = append(db.queue, req)
	lead := !db.leading
	db.leading = true
	db.wmu.Unlock()
	if lead {
		db.lead()
	}
	return <-req.done
}

// lead runs batches until the queue is empty.
func (db *DB) lead() {
	for {
		db.wmu.Lock()
		batch := db.queue
		db.queue = nil
		if len(batch) == 0 {
			db.leading = false
			db.wmu.Unlock()
			return
		}
		db.wmu.Unlock()
		db.runBatch(batch)
	}
}

// runBatch runs batch in one transaction and answers every request.
func (db *DB) runBatch(batch []*writeReq) {
	wait, release := batchContext(batch)
	tx, err := db.beginTx(wait, context.Background(), nil)
	release()
	if err != nil {
		for _, r := range batch {
			r.done <- err
		}
		return
	}
	defer tx.Rollback()
	errs := make([]error, len(batch))
	savepoints := len(batch) > 1
	for i, r := range batch {
		if err := r.ctx.Err(); err != nil {
			errs[i] = fmt.Errorf("sqlite: write: %w", err)
			continue
		}
		if savepoints {
			if _, err := tx.ExecContext(context.Background(), `SAVEPOINT w`); err != nil {
				failAll(batch, fmt.Errorf("sqlite: savepoint: %w", err))
				return
			}
		}
		errs[i] = r.fn(tx)
		if !savepoints {
			continue
		}
		undo := `RELEASE w`
		if errs[i] != nil {
			undo = `ROLLBACK TO w; RELEASE w`
		}
		if _, err := tx.ExecContext(context.Background(), undo); err != nil {
			// The transaction cannot be trusted: nothing of the batch is
			// committed, and every caller is told so.
			failAll(batch, fmt.Errorf("sqlite: %s: %w", undo, err))
			return
		}
	}
	if len(batch) == 1 && errs[0] != nil {
		batch[0].done <- errs[0]
		return
	}
	if err := tx.Commit(); err != nil {
		failAll(batch, err)
		return
	}
	for i, r := range batch {
		r.done <- errs[i]
	}
}

// failAll answers every request of batch with err.
func failAll(batch []*writeReq, err error) {
	for _, r := range batch {
		r.done <- err
	}
}

// batchContext returns a context for waiting to begin the batch's
// transaction: it is done once every request's context is done, so that
// callers who all gave up stop waiting for the write lock. release frees
// what it set up.
func batchContext(batch []*writeReq) (ctx context.Context, release func()) {
	if len(batch) == 1 {
		return batch[0].ctx, func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	left := int32(len(batch))
	stops := make([]func() bool, 0, len(batch))
	for _, r := range batch {
		stops = append(stops, context.AfterFunc(r.ctx, func() {
			if atomic.AddInt32(&left, -1) == 0 {
				cancel()
			}
		}))
	}
	return ctx, func() {
		for _, stop := range stops {
			stop()
		}
		cancel()
	}
}
