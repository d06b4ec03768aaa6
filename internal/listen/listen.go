// Package listen gives every HTTP listener of `vpndiag serve` the same
// protection against clients that hold connections without credentials:
// read, write and idle timeouts, and a cap on concurrent connections below
// the process's file-descriptor limit, so that a flood of one listener (the
// relay hub) never starves the others (Slack, /healthz) or the database.
//
// A connection over the cap is accepted and closed at once (the kernel's
// backlog would otherwise hold it, and the client would hang instead of
// failing fast); refusals are logged at most once per LogEvery with the
// number refused since the last line.
package listen

import (
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Timeouts of every listener. IdleTimeout closes a keep-alive connection
// that sent no new request; ReadHeaderTimeout one that sends nothing.
const (
	ReadHeaderTimeout = 10 * time.Second
	ReadTimeout       = 30 * time.Second
	WriteTimeout      = 30 * time.Second
	IdleTimeout       = 30 * time.Second
)

// LogEvery is the least time between two log lines about refusals of one
// listener.
const LogEvery = 10 * time.Second

// DescriptorLimit is the process's soft limit on open files (Go raises it
// to the hard limit at start-up), or 1024 when it cannot be read.
func DescriptorLimit() int {
	var r unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &r); err != nil || r.Cur == 0 {
		return 1024
	}
	if r.Cur > 1<<20 {
		return 1 << 20
	}
	return int(r.Cur)
}

// DefaultMax is the default cap of one listener: a quarter of the
// descriptor limit (two listeners take at most half; the rest is for the
// database, Slack's API and outbound probes), at least 8.
func DefaultMax() int { return max(DescriptorLimit()/4, 8) }

// Server returns an http.Server for h with the package's timeouts.
// Handlers that hijack the connection (WebSockets) set their own deadlines.
func Server(h http.Handler, log *slog.Logger) *http.Server {
	s := &http.Server{Handler: h, ReadHeaderTimeout: ReadHeaderTimeout, ReadTimeout: ReadTimeout,
		WriteTimeout: WriteTimeout, IdleTimeout: IdleTimeout}
	if log != nil {
		s.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	}
	return s
}

// Limit returns a listener that serves at most maxConns connections at once
// (≤ 0 means DefaultMax); name is the listener's name in log lines.
func Limit(ln net.Listener, maxConns int, name string, log *slog.Logger) *Limited {
	if maxConns <= 0 {
		maxConns = DefaultMax()
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Limited{Listener: ln, max: int64(maxConns), name: name, log: log}
}

// Limited is a listener with a cap on concurrent connections.
type Limited struct {
	net.Listener
	max  int64
	name string
	log  *slog.Logger

	open    atomic.Int64
	refused atomic.Int64 // since the process started

	mu      sync.Mutex
	lastLog time.Time
	unlog   int64 // refused since the last log line
}

// Max is the cap.
func (l *Limited) Max() int { return int(l.max) }

// Open is the number of connections open now.
func (l *Limited) Open() int { return int(l.open.Load()) }

// Refused counts the connections closed because the cap was reached.
func (l *Limited) Refused() int64 { return l.refused.Load() }

// Accept returns the next connection under the cap; those over it are
// closed at once and counted.
func (l *Limited) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.open.Add(1) > l.max {
			l.open.Add(-1)
			// Counted before the close, so a peer that sees its connection
			// closed also finds it in Refused.
			l.Refuse(c.RemoteAddr().String(), "too many connections")
			_ = c.Close()
			continue
		}
		return &limitedConn{Conn: c, l: l}, nil
	}
}

// Refuse counts and logs (rate-limited) one refusal on this listener.
func (l *Limited) Refuse(remote, reason string) {
	l.refused.Add(1)
	l.mu.Lock()
	l.unlog++
	now := time.Now()
	if now.Sub(l.lastLog) < LogEvery {
		l.mu.Unlock()
		return
	}
	n := l.unlog
	l.unlog, l.lastLog = 0, now
	l.mu.Unlock()
	l.log.Warn("connection refused", "listener", l.name, "reason", reason, "remote", remote,
		"refused_since_last_line", n, "open", l.open.Load(), "max", l.max)
}

type limitedConn struct {
	net.Conn
	l    *Limited
	once sync.Once
}

func (c *limitedConn) Close() error {
	c.once.Do(func() { c.l.open.Add(-1) })
	return c.Conn.Close()
}

// RateLog logs at most one line per Every for a repeated event (refused
// tokens, refused requests), with the count of events folded into it.
type RateLog struct {
	// Log receives the lines; nil discards.
	Log *slog.Logger
	// Every is the least time between two lines; 0 means LogEvery.
	Every time.Duration

	mu   sync.Mutex
	last time.Time
	n    int64
}

// Warn records one event; it logs msg with args when the last line is older
// than Every, adding how many events were not logged since.
func (r *RateLog) Warn(msg string, args ...any) {
	every := r.Every
	if every == 0 {
		every = LogEvery
	}
	r.mu.Lock()
	r.n++
	now := time.Now()
	if now.Sub(r.last) < every {
		r.mu.Unlock()
		return
	}
	n := r.n
	r.n, r.last = 0, now
	r.mu.Unlock()
	if r.Log != nil {
		r.Log.Warn(msg, append(args, "events_since_last_line", n)...)
	}
}

// CloseOnRefusal wraps h so that every answer of 400 or more closes the
// connection after it (Connection: close): a client that is refused keeps
// no keep-alive connection to hold.
func CloseOnRefusal(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(&closeOnRefusal{ResponseWriter: w}, r)
	})
}

type closeOnRefusal struct {
	http.ResponseWriter
	wrote bool
}

func (w *closeOnRefusal) WriteHeader(code int) {
	if !w.wrote && code >= 400 {
		w.Header().Set("Connection", "close")
	}
	w.wrote = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *closeOnRefusal) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (deadlines,
// hijacking for WebSockets).
func (w *closeOnRefusal) Unwrap() http.ResponseWriter { return w.ResponseWriter }
