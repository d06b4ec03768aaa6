package relay_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag/relay"
)

// refusals records Refuse calls.
type refusals struct {
	mu      sync.Mutex
	reasons []string
}

func (r *refusals) Refuse(remote, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reasons = append(r.reasons, reason)
}

func (r *refusals) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.reasons...)
}

// Every refused upgrade is answered with a sentence, recorded, and the
// connection is closed after it: a client without a valid token keeps no
// keep-alive connection.
func TestRefusalClosesConnection(t *testing.T) {
	ref := &refusals{}
	e := newHubEnv(t, func(h *relay.Hub) { h.Refusals = ref })
	token := e.enrol("hq-1", 0)
	addr := strings.TrimPrefix(e.srv.URL, "http://")
	for _, tt := range []struct{ name, req, status, reason string }{
		{"post", "POST " + relay.Path + " HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", "405", "not a GET"},
		{"no token", "GET " + relay.Path + " HTTP/1.1\r\nHost: h\r\n\r\n", "401", "no bearer token"},
		{"unknown token", "GET " + relay.Path + " HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer vpdr_nope\r\n\r\n", "401", "unknown relay token"},
		{"other name", "GET " + relay.Path + " HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer " + token + "\r\nX-Vpndiag-Relay: branch-1\r\n\r\n", "403", "used with another name"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			fmt.Fprint(c, tt.req)
			_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil || !strings.HasPrefix(resp.Status, tt.status) {
				t.Fatalf("response %v, %v; want %s", resp, err, tt.status)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			if _, err := br.ReadByte(); err != io.EOF {
				t.Fatalf("after the refusal: %v, want the connection closed (EOF)", err)
			}
			got := ref.list()
			if len(got) == 0 || !strings.Contains(got[len(got)-1], tt.reason) {
				t.Fatalf("refusals %q, want %q last", got, tt.reason)
			}
		})
	}
}
