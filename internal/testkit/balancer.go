package testkit

import (
	"io"
	"net"
	"sync"
	"testing"
)

// Balancer is a TCP load balancer on 127.0.0.1 for tests of several
// replicas: each connection goes to the next backend, in turn, that accepts
// a dial, as a real load balancer with health checks would route around a
// dead replica. It closes when the test ends.
type Balancer struct {
	// Addr is the address clients dial.
	Addr string

	ln       net.Listener
	mu       sync.Mutex
	backends []string
	next     int
	conns    map[net.Conn]string // live client conns by backend
}

// StartBalancer listens on a free loopback port and spreads connections
// over backends.
func StartBalancer(tb testing.TB, backends ...string) *Balancer {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	b := &Balancer{Addr: ln.Addr().String(), ln: ln, backends: backends, conns: map[net.Conn]string{}}
	go b.serve()
	tb.Cleanup(b.Close)
	return b
}

// SetBackends replaces the backends for new connections.
func (b *Balancer) SetBackends(backends ...string) {
	b.mu.Lock()
	b.backends = append([]string(nil), backends...)
	b.mu.Unlock()
}

// Close stops accepting and cuts every connection.
func (b *Balancer) Close() {
	b.ln.Close()
	b.mu.Lock()
	for c := range b.conns {
		c.Close()
	}
	b.mu.Unlock()
}

func (b *Balancer) serve() {
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		go b.handle(c)
	}
}

func (b *Balancer) handle(c net.Conn) {
	b.mu.Lock()
	backends := append([]string(nil), b.backends...)
	start := b.next
	b.next++
	b.mu.Unlock()
	var up net.Conn
	var to string
	for i := range backends {
		addr := backends[(start+i)%len(backends)]
		if u, err := net.Dial("tcp", addr); err == nil {
			up, to = u, addr
			break
		}
	}
	if up == nil {
		c.Close()
		return
	}
	b.mu.Lock()
	b.conns[c] = to
	b.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, c); up.Close(); done <- struct{}{} }()
	go func() { io.Copy(c, up); c.Close(); done <- struct{}{} }()
	<-done
	<-done
	b.mu.Lock()
	delete(b.conns, c)
	b.mu.Unlock()
}
