// Package postgres implements the vpndiag service interfaces on
// PostgreSQL, with github.com/jackc/pgx/v5 and a pgxpool connection pool,
// so that several `vpndiag serve` replicas can share one database.
//
// # Layout
//
// It mirrors storage/sqlite: a DB owns the pool; each service is a thin
// type whose methods BeginTx, defer Rollback, call helpers that take a *Tx,
// and Commit. The helpers share with storage/sqlite what does not depend on
// the database (storage/internal/sqlrow and storage/internal/deflate): the
// SQL, the locking and the transactions are this package's. The schema lives in migration/*.sql, embedded; Open applies
// every file not yet recorded in schema_migrations, each in its own
// transaction, while holding a session advisory lock, so replicas that start
// at the same moment apply each migration once and wait for each other. A
// database that records a migration this binary does not know (a newer
// vpndiag migrated it) is refused at Open with a clear error, before
// anything is written.
//
// # Concurrency between replicas
//
// Transactions run at READ COMMITTED. Everything that changes a case takes
// the case's row lock first (appending an event increments cases.event_seq
// with UPDATE … RETURNING; a transition locks the case with SELECT … FOR
// UPDATE before it reads the session's seq), so the writers of one case
// queue up whichever replica they run on, and a seq compare-and-swap sees
// the last committed value. Exactly-once effects rest on unique keys, as in
// SQLite: transition_keys for idempotency keys, dedup_keys for deliveries,
// probe_results.id for relay results, INSERT … ON CONFLICT DO NOTHING.
// There is no in-process write semaphore and no group commit: the server
// runs transactions side by side and groups WAL flushes itself.
//
// # Durability
//
// A commit returns once the server has flushed its WAL (synchronous_commit
// on, the server's default); what the server's operators configure for
// replication is theirs to decide.
//
// # Times
//
// Columns are timestamptz, which keeps microseconds. Every time is
// truncated to the microsecond before it is stored, so a value reads back
// equal to what the store set (vpndiag.Now already truncates).
//
// # Errors
//
// An unreachable server, a refused login or a missing database become one
// EUNAVAILABLE sentence at Open; a connection lost later becomes an
// EUNAVAILABLE "database cannot be reached" error, so callers answer 503 and
// Slack retries.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/storage/internal/deflate"
)

//go:embed migration/*.sql
var migrationFS embed.FS

// DefaultMaxEvidenceBytes is the evidence size cap used when
// DB.MaxEvidenceBytes is 0.
const DefaultMaxEvidenceBytes = deflate.DefaultMax

// ChunkSize is the size of one stored piece of a compressed evidence
// stream. It is smaller than SQLite's because pgx copies each parameter
// and each row through the connection's buffers, which a pool keeps per
// connection: 256 KiB keeps a replica's memory small while streaming.
const ChunkSize = 256 << 10

// DefaultMaxConns is the pool size of a replica: enough for a burst of
// Slack requests, each a short transaction, and the backplane; a server's
// max_connections (100 by default) fits several replicas.
const DefaultMaxConns = 16

// migrationLockID is the advisory lock key that serialises migrations
// between replicas ("vpndiag" in ASCII).
const migrationLockID = 0x7670_6e64_6961_67

// IsURL reports whether dsn names a PostgreSQL database (postgres:// or
// postgresql://) rather than an SQLite file.
func IsURL(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// DB is the PostgreSQL database behind every service of this package.
type DB struct {
	pool *pgxpool.Pool

	// URL is the connection URL, as given to NewDB.
	URL string

	// Now returns the current time for every timestamp the store sets;
	// tests replace it. Times are truncated to microseconds.
	Now vpndiag.Clock

	// MaxEvidenceBytes caps the size of one evidence file (redacted,
	// uncompressed); 0 means DefaultMaxEvidenceBytes.
	MaxEvidenceBytes int64

	// MaxConns caps the pool's connections; 0 means DefaultMaxConns, or
	// the URL's pool_max_conns when it sets one.
	MaxConns int32
}

// NewDB returns a DB for the database at url. Call Open before use.
func NewDB(url string) *DB {
	return &DB{URL: url, Now: vpndiag.Now}
}

// Redacted returns the URL without its password, for logs and messages.
func Redacted(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "the configured PostgreSQL database"
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.Redacted()
}

// where returns host:port/database of the configuration, for messages.
func where(cfg *pgconn.Config) string {
	host := cfg.Host
	if !strings.HasPrefix(host, "/") {
		host = net.JoinHostPort(host, fmt.Sprint(cfg.Port))
	}
	return fmt.Sprintf("%s/%s", host, cfg.Database)
}

// Open connects, checks that the server answers and that the login is
// accepted, and applies pending migrations. Every failure is one
// user-safe EUNAVAILABLE (or EINVALID for a malformed URL) sentence that
// says what to do; the cause is kept for logs.
func (db *DB) Open(ctx context.Context) error {
	cfg, err := pgxpool.ParseConfig(db.URL)
	if err != nil {
		return fmt.Errorf("postgres: open: %w", vpndiag.Errorf(vpndiag.EINVALID,
			"The database URL %s is not valid: %s.", Redacted(db.URL), firstLine(errors.Unwrap(err))))
	}
	switch {
	case db.MaxConns > 0:
		cfg.MaxConns = db.MaxConns
	case !strings.Contains(db.URL, "pool_max_conns"):
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 10 * time.Second
	}
	if cfg.ConnConfig.RuntimeParams["application_name"] == "" {
		cfg.ConnConfig.RuntimeParams["application_name"] = "vpndiag"
	}
	place := where(&cfg.ConnConfig.Config)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("postgres: open: %w", openError(place, cfg.ConnConfig.User, err))
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return fmt.Errorf("postgres: open: %w", openError(place, cfg.ConnConfig.User, err))
	}
	db.pool = pool
	if err := db.migrate(ctx); err != nil {
		pool.Close()
		db.pool = nil
		var verr *vpndiag.Error
		if errors.As(err, &verr) {
			return fmt.Errorf("postgres: open: %w", err)
		}
		return fmt.Errorf("postgres: open: %w", openError(place, cfg.ConnConfig.User, err))
	}
	return nil
}

// Close closes the pool. It is safe to call on a DB that failed to open.
func (db *DB) Close() error {
	if db.pool != nil {
		db.pool.Close()
	}
	return nil
}

// Ping checks that the database answers, for /readyz.
func (db *DB) Ping(ctx context.Context) error {
	if db.pool == nil {
		return errors.New("postgres: not open")
	}
	if err := db.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// Check verifies that the database answers and that its schema is the one
// this binary knows (nothing pending, nothing newer).
func (db *DB) Check(ctx context.Context) error {
	if err := db.Ping(ctx); err != nil {
		return err
	}
	applied, err := appliedMigrations(ctx, db.pool)
	if err != nil {
		return fmt.Errorf("postgres: check: %w", err)
	}
	names, err := migrationNames()
	if err != nil {
		return fmt.Errorf("postgres: check: %w", err)
	}
	if len(applied) != len(names) {
		return fmt.Errorf("postgres: check: %w", vpndiag.Errorf(vpndiag.EUNAVAILABLE,
			"Database schema has %d migrations applied, this vpndiag knows %d; restart vpndiag serve to migrate.", len(applied), len(names)))
	}
	return nil
}

// Pool returns the connection pool, for maintenance commands, the relay
// backplane and tests.
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// Tx is a transaction with the time it started, which every row it writes
// uses as its timestamp.
type Tx struct {
	pgx.Tx
	db  *DB
	now time.Time
}

// readOnly are the options of the services' read transactions.
var readOnly = pgx.TxOptions{AccessMode: pgx.ReadOnly}

// BeginTx starts a transaction with opts.
func (db *DB) BeginTx(ctx context.Context, opts pgx.TxOptions) (*Tx, error) {
	if db.pool == nil {
		return nil, fmt.Errorf("postgres: begin: database %s is not open", Redacted(db.URL))
	}
	tx, err := db.pool.BeginTx(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("postgres: begin: %w", runtimeError(err))
	}
	return &Tx{Tx: tx, db: db, now: micro(db.Now())}, nil
}

// Commit commits the transaction; a lost connection becomes EUNAVAILABLE.
func (tx *Tx) Commit() error {
	if err := tx.Tx.Commit(context.Background()); err != nil {
		return fmt.Errorf("postgres: commit: %w", runtimeError(err))
	}
	return nil
}

// Rollback rolls the transaction back; after Commit it is a no-op, so it
// can always be deferred.
func (tx *Tx) Rollback() error {
	err := tx.Tx.Rollback(context.Background())
	if errors.Is(err, pgx.ErrTxClosed) {
		return nil
	}
	return err
}

// exec runs a statement and returns the rows it affected.
func (tx *Tx) exec(ctx context.Context, sql string, args ...any) (int64, error) {
	tag, err := tx.Exec(ctx, sql, args...)
	if err != nil {
		return 0, runtimeError(err)
	}
	return tag.RowsAffected(), nil
}

// migrationNames returns the embedded migration files in order.
func migrationNames() ([]string, error) {
	names, err := fs.Glob(migrationFS, "migration/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	for i := range names {
		names[i] = strings.TrimPrefix(names[i], "migration/")
	}
	return names, nil
}

// querier is a pool, a connection or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// appliedMigrations returns the recorded migration names, or none when
// the table does not exist yet.
func appliedMigrations(ctx context.Context, q querier) ([]string, error) {
	var exists bool
	if err := q.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists); err != nil {
		return nil, err
	}
	if !exists {
		return nil, nil
	}
	rows, err := q.Query(ctx, `SELECT name FROM schema_migrations ORDER BY name`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// migrate applies the embedded migrations not yet recorded, each in its own
// transaction, holding the migration advisory lock on one connection.
func (db *DB) migrate(ctx context.Context) error {
	names, err := migrationNames()
	if err != nil {
		return err
	}
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(migrationLockID)); err != nil {
		return fmt.Errorf("migration lock: %w", err)
	}
	defer conn.Exec(context.Background(), `SELECT pg_advisory_unlock($1)`, int64(migrationLockID))

	applied, err := appliedMigrations(ctx, conn)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	known := map[string]bool{}
	for _, n := range names {
		known[n] = true
	}
	for _, a := range applied {
		if !known[a] {
			return vpndiag.Errorf(vpndiag.EUNAVAILABLE,
				"Database %s has schema migration %s, which this vpndiag (%s) does not know: a newer vpndiag migrated it. Upgrade vpndiag; nothing was changed.",
				Redacted(db.URL), a, vpndiag.Version)
		}
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		name       text PRIMARY KEY,
		applied_at timestamptz NOT NULL
	)`); err != nil {
		return fmt.Errorf("migrations table: %w", err)
	}
	done := map[string]bool{}
	for _, a := range applied {
		done[a] = true
	}
	for _, name := range names {
		if done[name] {
			continue
		}
		if err := db.migrateFile(ctx, conn.Conn(), name); err != nil {
			return fmt.Errorf("migration %s: %w", name, err)
		}
	}
	return nil
}

// migrateFile applies one migration and records it, in one transaction.
func (db *DB) migrateFile(ctx context.Context, conn *pgx.Conn, name string) error {
	buf, err := fs.ReadFile(migrationFS, "migration/"+name)
	if err != nil {
		return err
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, string(buf)); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (name, applied_at) VALUES ($1, $2)`,
		name, micro(db.Now())); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// openError turns a failure to reach or log in to the server into one
// user-safe sentence that names the server and what to do.
func openError(place, user string, err error) error {
	var verr *vpndiag.Error
	if errors.As(err, &verr) {
		return err
	}
	var msg string
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && (pgErr.Code == "28P01" || pgErr.Code == "28000"):
		msg = fmt.Sprintf("PostgreSQL at %s refused the login of user %q: wrong password or no access (pg_hba.conf); fix the credentials in db or VPNDIAG_DB.", place, user)
	case errors.As(err, &pgErr) && pgErr.Code == "3D000":
		msg = fmt.Sprintf("PostgreSQL at %s has no such database; create it (createdb) or fix db or VPNDIAG_DB.", place)
	case errors.As(err, &pgErr) && pgErr.Code == "42501":
		msg = fmt.Sprintf("PostgreSQL at %s: user %q may not create vpndiag's tables; grant it CREATE on the database or run the first start as the owner.", place, user)
	case errors.As(err, &pgErr):
		msg = fmt.Sprintf("PostgreSQL at %s: %s.", place, strings.TrimSuffix(pgErr.Message, "."))
	case isNetwork(err):
		msg = fmt.Sprintf("Cannot reach PostgreSQL at %s (%s); check that the server is up and db or VPNDIAG_DB points at it.", place, netCause(err))
	default:
		msg = fmt.Sprintf("Cannot open PostgreSQL database %s: %s.", place, firstLine(err))
	}
	return fmt.Errorf("%w: %w", vpndiag.Errorf(vpndiag.EUNAVAILABLE, "%s", msg), err)
}

// runtimeError turns a lost or refused connection into a user-safe
// EUNAVAILABLE error; any other error is returned as is.
func runtimeError(err error) error {
	if err == nil || !isNetwork(err) {
		return err
	}
	return fmt.Errorf("%w: %w", vpndiag.Errorf(vpndiag.EUNAVAILABLE, "The database cannot be reached now; try again in a moment."), err)
}

// isNetwork reports whether err is a failure to reach the server or a lost
// connection (as opposed to an error the server returned).
func isNetwork(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// The server is shutting down or refusing connections.
		return strings.HasPrefix(pgErr.Code, "08") || pgErr.Code == "57P01" || pgErr.Code == "57P02" || pgErr.Code == "57P03"
	}
	var ne net.Error
	var ce *pgconn.ConnectError
	return errors.As(err, &ne) || errors.As(err, &ce) || errors.Is(err, pgconn.ErrConnClosed) ||
		pgconn.SafeToRetry(err) || pgconn.Timeout(err) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// netCause names the network failure briefly: "connection refused",
// "timeout", …
func netCause(err error) string {
	s := err.Error()
	for _, c := range []string{"connection refused", "no such host", "i/o timeout", "timeout", "network is unreachable", "no route to host", "connection reset"} {
		if strings.Contains(s, c) {
			return c
		}
	}
	return "no connection"
}

// isUnique reports whether err is a unique or primary key violation.
func isUnique(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

// firstLine returns err's text up to its first newline, without a trailing
// period.
func firstLine(err error) string {
	if err == nil {
		return ""
	}
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSuffix(s, ".")
}

// micro returns t in UTC truncated to the microsecond, PostgreSQL's
// resolution.
func micro(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// microPtr is micro for an optional time.
func microPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	m := micro(*t)
	return &m
}

// nullJSON stores nil as NULL and anything else as JSON text.
func nullJSON(b []byte) any {
	if b == nil {
		return nil
	}
	return string(b)
}

// writer is a transaction as sqlrow's steps made of several writes see
// it.
type writer struct {
	ctx context.Context
	tx  *Tx
}

func (w writer) CreateEvidence(e *vpndiag.Evidence, content io.Reader) error {
	return createEvidence(w.ctx, w.tx, e, content)
}

func (w writer) CreateFindings(caseID int64, fs []*vpndiag.Finding) error {
	return createFindings(w.ctx, w.tx, caseID, fs)
}

func (w writer) AppendEvent(e *vpndiag.Event) error { return appendEvent(w.ctx, w.tx, e) }

func (w writer) CreateAnswer(a *vpndiag.Answer) error { return createAnswer(w.ctx, w.tx, a) }

func (w writer) CreateSession(s *vpndiag.Session) error { return createSession(w.ctx, w.tx, s) }

func (w writer) UpdateCase(id int64, upd vpndiag.CaseUpdate, withEvent bool) error {
	_, err := updateCase(w.ctx, w.tx, id, upd, withEvent)
	return err
}
