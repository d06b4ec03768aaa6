package testkit

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Postgres is a PostgreSQL server that a test started in a temporary
// directory: Debian's binaries, initdb and pg_ctl, run as an unprivileged
// user, listening on 127.0.0.1 with password authentication. It is stopped
// and its directory removed when the test that started it ends.
type Postgres struct {
	// Dir holds the data directory and the Unix socket.
	Dir string
	// Port is the loopback TCP port.
	Port int
	// User and Password are the superuser's credentials.
	User, Password string

	bin     string
	cred    *syscall.Credential
	n       atomic.Int64
	stopped atomic.Bool
}

// PostgresOptions tune the server a test starts.
type PostgresOptions struct {
	// Durable keeps fsync on, for benchmarks that must pay for it; tests
	// run with fsync off: a test never outlives an OS crash, and a commit
	// is still written to the OS before it returns, so Stop (a crash of
	// the server) loses nothing that was committed.
	Durable bool
}

// PostgresBinDir returns the directory of Debian's PostgreSQL binaries
// (VPNDIAG_PG_BIN, then the newest /usr/lib/postgresql/*/bin, then the
// directory of initdb on PATH), or "" when none is installed.
func PostgresBinDir() string {
	if d := os.Getenv("VPNDIAG_PG_BIN"); d != "" {
		return d
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi > vj
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "pg_ctl")); err == nil {
			return d
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Dir(r)
		}
	}
	return ""
}

// StartPostgres starts a PostgreSQL server for the test and returns it; it
// skips the test, saying why, when the binaries are missing or no
// unprivileged user can run them. The server is stopped at the end of tb.
func StartPostgres(tb testing.TB, opts ...PostgresOptions) *Postgres {
	tb.Helper()
	var o PostgresOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	bin := PostgresBinDir()
	if bin == "" {
		tb.Skip("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/pg_ctl; apt-get install postgresql): skipping the PostgreSQL test")
	}
	pg := &Postgres{bin: bin, User: "vpndiag", Password: randomHex(12)}
	// PostgreSQL refuses to run as root: run it as nobody then.
	if os.Geteuid() == 0 {
		u, err := user.Lookup("nobody")
		if err != nil {
			tb.Skipf("PostgreSQL cannot run as root and there is no user nobody to run it as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		pg.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	dir, err := os.MkdirTemp("", "vpndiag-pg-")
	if err != nil {
		tb.Fatal(err)
	}
	pg.Dir = dir
	tb.Cleanup(func() { os.RemoveAll(dir) })
	if pg.cred != nil {
		if err := os.Chown(dir, int(pg.cred.Uid), int(pg.cred.Gid)); err != nil {
			tb.Fatal(err)
		}
	}
	pwfile := filepath.Join(dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(pg.Password+"\n"), 0o600); err != nil {
		tb.Fatal(err)
	}
	if pg.cred != nil {
		if err := os.Chown(pwfile, int(pg.cred.Uid), int(pg.cred.Gid)); err != nil {
			tb.Fatal(err)
		}
	}
	data := filepath.Join(dir, "data")
	if out, err := pg.run("initdb", "-D", data, "-U", pg.User, "--pwfile", pwfile, "-A", "scram-sha-256",
		"--auth-local", "trust", "-E", "UTF8", "--locale", "C", "--no-sync"); err != nil {
		tb.Fatalf("initdb: %v\n%s", err, out)
	}
	os.Remove(pwfile)
	pg.Port = freePort(tb)
	conf := fmt.Sprintf("listen_addresses = '127.0.0.1'\nport = %d\nunix_socket_directories = '%s'\n"+
		"max_connections = 300\nshared_buffers = 32MB\nlog_min_messages = warning\n", pg.Port, dir)
	if !o.Durable {
		conf += "fsync = off\nfull_page_writes = off\n"
	}
	if err := appendFile(filepath.Join(data, "postgresql.conf"), conf); err != nil {
		tb.Fatal(err)
	}
	pg.Start(tb)
	tb.Cleanup(func() { pg.Stop(tb) })
	return pg
}

// Start starts the server (again, after Stop) on the same data and port.
func (pg *Postgres) Start(tb testing.TB) {
	tb.Helper()
	logFile := filepath.Join(pg.Dir, "server.log")
	if out, err := pg.run("pg_ctl", "-D", filepath.Join(pg.Dir, "data"), "-l", logFile, "-w", "-t", "60", "start"); err != nil {
		log, _ := os.ReadFile(logFile)
		tb.Fatalf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
	pg.stopped.Store(false)
}

// Stop stops the server at once (as a crash would); calling it again, or
// at the end of the test, does nothing more.
func (pg *Postgres) Stop(tb testing.TB) {
	tb.Helper()
	if pg.stopped.Swap(true) {
		return
	}
	if out, err := pg.run("pg_ctl", "-D", filepath.Join(pg.Dir, "data"), "-m", "immediate", "-w", "stop"); err != nil {
		tb.Logf("pg_ctl stop: %v\n%s", err, out)
	}
}

// run runs one of the server's binaries as the server's user.
func (pg *Postgres) run(name string, args ...string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(pg.bin, name), args...)
	cmd.Dir = pg.Dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "LANG=C")
	if pg.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: pg.cred}
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.Bytes(), err
}

// URL returns the connection URL of database name on the server.
func (pg *Postgres) URL(name string) string {
	u := url.URL{
		Scheme: "postgres",
		User:   url.UserPassword(pg.User, pg.Password),
		Host:   net.JoinHostPort("127.0.0.1", strconv.Itoa(pg.Port)),
		Path:   "/" + name,
	}
	return u.String() + "?sslmode=disable"
}

// NewDatabase creates an empty database on the server and returns its
// connection URL; every call gets a database of its own.
func (pg *Postgres) NewDatabase(tb testing.TB) string {
	tb.Helper()
	name := fmt.Sprintf("t%d_%s", pg.n.Add(1), randomHex(4))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, pg.URL("postgres"))
	if err != nil {
		tb.Fatalf("connect to the test PostgreSQL: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("create database: %v", err)
	}
	return pg.URL(name)
}

// Exec runs statements on database name as the superuser, for tests that
// prepare a database by hand.
func (pg *Postgres) Exec(tb testing.TB, dbURL, sql string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		tb.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		tb.Fatalf("exec %q: %v", strings.TrimSpace(sql), err)
	}
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(tb testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func appendFile(name, s string) error {
	f, err := os.OpenFile(name, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(s); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
