package listen_test

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag/internal/listen"
)

// A listener at its cap closes further connections at once, counts them,
// logs one line for a burst, and takes connections again once one closes.
func TestLimitClosesOverCap(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	l := listen.Limit(raw, 2, "test", slog.New(slog.NewTextHandler(&logs, nil)))
	defer l.Close()
	accepted := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	dial := func() net.Conn {
		c, err := net.Dial("tcp", raw.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	dial()
	dial()
	first := <-accepted
	<-accepted
	for range 5 {
		c := dial()
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("over the cap: read = %v, want EOF (closed at once)", err)
		}
	}
	if l.Refused() != 5 || l.Open() != 2 {
		t.Fatalf("refused %d, open %d; want 5 and 2", l.Refused(), l.Open())
	}
	if n := strings.Count(logs.String(), "connection refused"); n != 1 {
		t.Fatalf("%d log lines for 5 refusals, want 1:\n%s", n, logs.String())
	}
	first.Close()
	dial()
	select {
	case <-accepted:
	case <-time.After(2 * time.Second):
		t.Fatal("no connection accepted after one closed")
	}
}

func TestServerTimeouts(t *testing.T) {
	s := listen.Server(nil, nil)
	if s.IdleTimeout == 0 || s.IdleTimeout > 30*time.Second || s.ReadTimeout == 0 || s.WriteTimeout == 0 || s.ReadHeaderTimeout == 0 {
		t.Fatalf("timeouts %+v", s)
	}
}

func TestCloseOnRefusal(t *testing.T) {
	for _, code := range []int{200, 401, 503} {
		h := listen.CloseOnRefusal(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(code) }))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
		if got := w.Header().Get("Connection") == "close"; got != (code >= 400) {
			t.Errorf("%d: Connection %q", code, w.Header().Get("Connection"))
		}
	}
}
