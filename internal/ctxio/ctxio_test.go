package ctxio_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/vpndiag/vpndiag/internal/ctxio"
)

func TestReader(t *testing.T) {
	tests := []struct {
		name    string
		cancel  bool
		want    string
		wantErr error
	}{
		{name: "live context reads all", want: "charon log"},
		{name: "cancelled context reads nothing", cancel: true, wantErr: context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancel {
				cancel()
			}
			got, err := io.ReadAll(ctxio.Reader(ctx, strings.NewReader("charon log")))
			if !errors.Is(err, tt.wantErr) || string(got) != tt.want {
				t.Errorf("ReadAll = %q, %v; want %q, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestReaderStopsMidCopy(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	r := ctxio.Reader(ctx, strings.NewReader(strings.Repeat("x", 64)))
	buf := make([]byte, 16)
	if n, err := r.Read(buf); n != 16 || err != nil {
		t.Fatalf("first Read = %d, %v", n, err)
	}
	cancel()
	if n, err := r.Read(buf); n != 0 || !errors.Is(err, context.Canceled) {
		t.Errorf("Read after cancel = %d, %v; want 0, context.Canceled", n, err)
	}
}
