// Package ctxio holds the io helpers that the evidence intake, the bundle
// writer and the stores share: one way to stop a long copy when its
// context is done.
package ctxio

import (
	"context"
	"io"
)

// Reader returns a reader of r that fails with ctx.Err() once ctx is done,
// checked before each read, so that io.Copy over a large upload or
// attachment stops soon after the caller gives up.
func Reader(ctx context.Context, r io.Reader) io.Reader { return reader{ctx, r} }

type reader struct {
	ctx context.Context
	r   io.Reader
}

func (c reader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
