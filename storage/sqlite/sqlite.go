// Package sqlite implements the vpndiag service interfaces on SQLite, using
// modernc.org/sqlite (pure Go, no cgo).
//
// # Layout
//
// A DB owns one *sql.DB. Each service (CaseService, SessionService, …) is a
// thin type over a DB whose methods follow one shape: BeginTx, defer
// Rollback, call helper functions that take a *Tx, Commit. Helpers never open
// their own transaction, so what one service call writes is atomic: small
// writes go through the group commit (write.go), where each call runs under
// a SAVEPOINT of its own and several calls share one transaction and one
// fsync, each with its own outcome; reads and large writes (evidence) take
// a transaction of their own. The schema
// lives in migration/*.sql, embedded in the binary; Open applies every file
// not yet recorded in the migrations table, each in its own transaction.
//
// # Connection settings
//
// Every connection is opened with these DSN parameters:
//
//   - journal_mode(WAL): readers never block the writer and the writer never
//     blocks readers; a commit appends to the -wal file.
//   - synchronous(FULL): see Durability below.
//   - foreign_keys(1): references between tables are enforced.
//   - busy_timeout(5000): a connection waits up to 5 s for a lock held by
//     another process (e.g. `vpndiag export` reading while `serve` writes).
//   - _txlock=immediate: a read-write transaction takes the write lock at
//     BEGIN, so two transactions that both read and then write can never
//     deadlock on the lock upgrade (SQLITE_BUSY that no timeout resolves).
//     Read-only transactions (sql.TxOptions{ReadOnly: true}) stay deferred.
//
// Inside one process, write transactions also take a Go semaphore before
// BEGIN, so that concurrent writers (100 goroutines in the tests) block in
// the Go runtime instead of polling SQLite's busy handler and never see
// SQLITE_BUSY; busy_timeout only matters between processes. At most eight
// connections are open: one writer and readers, which WAL lets run alongside.
//
// # Durability
//
// The store runs with synchronous=FULL. Under WAL, synchronous=NORMAL syncs
// the WAL only at checkpoints: a committed transaction survives a process
// crash but can be lost on power failure or an OS crash. What this store
// records is mostly the acknowledgement of something a person did (a Slack
// button clicked, an answer typed, a file uploaded); once the bot has replied
// "got it" and moved the flow on, losing that step would make the bot ask
// again or contradict what the user already saw. With FULL the WAL is
// fsynced at every commit, so a commit that returned is on disk. The cost is
// one fsync per write transaction: BenchmarkAppendEvent measured 0.35-5 ms
// per commit with FULL against 0.05-0.1 ms with NORMAL on the development
// VM's disk. That is negligible at chat speed: a case produces tens of
// writes, not thousands.
//
// # Evidence
//
// Evidence content is stored as a raw DEFLATE stream (RFC 1951) split into
// 1 MiB rows of evidence_chunks, so that a large log is written and read in
// bounded memory and a zip writer can copy the stream without recompressing.
// AttachEvidence first compresses the upload into a temporary file (counting
// size and hashing as it goes, and enforcing MaxEvidenceBytes), then copies
// the chunks, the file's findings and its evidence.added event in one short
// write transaction, so a slow upload never holds the write lock and a file
// is stored with everything learnt from it or not at all.
//
// # Timestamps
//
// Times are stored as UTC text in RFC 3339 form with exactly nine fractional
// digits, e.g. 2026-11-25T18:55:00.123456789Z. The fixed width keeps text
// order equal to time order; values round-trip to the nanosecond.
//
// # PostgreSQL
//
// storage/postgres implements the same services for several bot replicas
// on one database; storage/storetest is the conformance suite both pass.
// The differences are described there: per-case row locks instead of this
// store's single writer, no group commit, microsecond times. What the two
// do the same way is written once under storage/internal: sqlrow (column
// lists, reading rows, checks before a write, JSON columns, case filters,
// the writes a transition or an attachment is made of) and deflate
// (evidence compression and chunks); each store keeps its SQL, its
// transactions and its error messages.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/storage/internal/deflate"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migration/*.sql
var migrationFS embed.FS

// DefaultMaxEvidenceBytes is the evidence size cap used when
// DB.MaxEvidenceBytes is 0.
const DefaultMaxEvidenceBytes = deflate.DefaultMax

// ChunkSize is the size of one stored piece of a compressed evidence stream.
const ChunkSize = 1 << 20

// dsnParams are added to every connection; see the package documentation.
const dsnParams = "_pragma=busy_timeout(5000)" +
	"&_pragma=journal_mode(WAL)" +
	"&_pragma=synchronous(FULL)" +
	"&_pragma=foreign_keys(1)" +
	"&_txlock=immediate"

// DB is the SQLite database behind every service of this package.
type DB struct {
	db *sql.DB

	// writeSem serialises write transactions inside this process.
	writeSem chan struct{}

	// wmu guards queue and leading: the group commit of write (see write.go).
	wmu     sync.Mutex
	queue   []*writeReq
	leading bool

	// DSN is the database file path, as given to NewDB.
	DSN string

	// Now returns the current time, used for every timestamp the store
	// sets (CreatedAt, UpdatedAt, event times); tests replace it with a
	// fixed or stepping clock. Times keep their nanoseconds.
	Now vpndiag.Clock

	// MaxEvidenceBytes caps the size of one evidence file (redacted,
	// uncompressed); 0 means DefaultMaxEvidenceBytes.
	MaxEvidenceBytes int64
}

// NewDB returns a DB for the SQLite file at path (":memory:" for a
// throw-away database on one connection). Open adds the connection
// parameters described in the package documentation; path may carry more
// of its own after a "?" (e.g. "vpndiag.db?_pragma=cache_size(-8000)").
// Call Open before use.
func NewDB(path string) *DB {
	return &DB{
		DSN:      path,
		Now:      vpndiag.Now,
		writeSem: make(chan struct{}, 1),
	}
}

// dsn returns the driver DSN: the path with the connection parameters.
func (db *DB) dsn() string {
	sep := "?"
	if strings.Contains(db.DSN, "?") {
		sep = "&"
	}
	return db.DSN + sep + dsnParams
}

// path returns the file path part of the DSN, for messages.
func (db *DB) path() string {
	p := strings.TrimPrefix(db.DSN, "file:")
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	return p
}

// Open opens the database, creating the file and its directory when
// missing, checks that it is a readable SQLite database and applies pending
// migrations. Errors carry a user-safe EUNAVAILABLE message that names the
// file and what to do.
func (db *DB) Open() error {
	if db.DSN == "" {
		return vpndiag.Errorf(vpndiag.EINVALID, "No database file is configured: set --db or database.path.")
	}
	path := db.path()
	memory := path == ":memory:" || strings.HasPrefix(path, ":memory:")
	if !memory {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return fmt.Errorf("sqlite: open: %w", openError(path, err))
		}
		if fi, err := os.Stat(path); err == nil && fi.IsDir() {
			return fmt.Errorf("sqlite: open: %w", vpndiag.Errorf(vpndiag.EUNAVAILABLE,
				"Cannot open database %s: it is a directory; point --db at a file inside it.", path))
		}
		if err := privateFiles(path); err != nil {
			return fmt.Errorf("sqlite: open: %w", openError(path, err))
		}
	}

	sqldb, err := sql.Open("sqlite", db.dsn())
	if err != nil {
		return fmt.Errorf("sqlite: open: %w", openError(path, err))
	}
	if memory {
		// Every connection to ":memory:" is a database of its own: use one.
		sqldb.SetMaxOpenConns(1)
	} else {
		sqldb.SetMaxOpenConns(8)
		sqldb.SetMaxIdleConns(8)
	}
	db.db = sqldb

	ctx := context.Background()
	// Reading the schema makes SQLite read the file header and page 1, so a
	// file that is not a database fails here rather than at the first query.
	var n int
	if err := sqldb.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema`).Scan(&n); err != nil {
		sqldb.Close()
		db.db = nil
		return fmt.Errorf("sqlite: open: %w", openError(path, err))
	}
	if err := db.migrate(ctx); err != nil {
		sqldb.Close()
		db.db = nil
		return fmt.Errorf("sqlite: open: %w", openError(path, err))
	}
	return nil
}

// Close closes the database. It is safe to call on a DB that failed to open.
func (db *DB) Close() error {
	if db.db == nil {
		return nil
	}
	if err := db.db.Close(); err != nil {
		return fmt.Errorf("sqlite: close: %w", err)
	}
	return nil
}

// Check runs PRAGMA integrity_check and returns an EUNAVAILABLE error
// listing the problems, or nil when the database is intact.
func (db *DB) Check(ctx context.Context) error {
	rows, err := db.db.QueryContext(ctx, `PRAGMA integrity_check`)
	if err != nil {
		return fmt.Errorf("sqlite: integrity check: %w", err)
	}
	defer rows.Close()
	var probs []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return fmt.Errorf("sqlite: integrity check: %w", err)
		}
		if s != "ok" {
			probs = append(probs, s)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: integrity check: %w", err)
	}
	if len(probs) > 0 {
		return fmt.Errorf("sqlite: integrity check: %w", vpndiag.Errorf(vpndiag.EUNAVAILABLE,
			"Database %s is damaged (%s); restore it from a backup.", db.path(), strings.Join(probs, "; ")))
	}
	return nil
}

// SQL returns the underlying *sql.DB, for tests and maintenance commands.
func (db *DB) SQL() *sql.DB { return db.db }

// Tx is a transaction with the time it started, which every row it writes
// uses as its timestamp.
type Tx struct {
	*sql.Tx
	db   *DB
	now  time.Time
	done bool
	// write is true when the transaction holds the write semaphore.
	write bool
}

// BeginTx starts a transaction. A read-write transaction (opts nil or not
// ReadOnly) first waits for the in-process write semaphore, then takes
// SQLite's write lock at BEGIN.
func (db *DB) BeginTx(ctx context.Context, opts *sql.TxOptions) (*Tx, error) {
	return db.beginTx(ctx, ctx, opts)
}

// beginTx is BeginTx waiting for the write semaphore with wait and binding
// the transaction to ctx (database/sql rolls it back when ctx is done).
func (db *DB) beginTx(wait, ctx context.Context, opts *sql.TxOptions) (*Tx, error) {
	if db.db == nil {
		return nil, fmt.Errorf("sqlite: begin: database %s is not open", db.path())
	}
	write := opts == nil || !opts.ReadOnly
	if write {
		select {
		case db.writeSem <- struct{}{}:
		case <-wait.Done():
			return nil, fmt.Errorf("sqlite: begin: %w", wait.Err())
		}
	}
	tx, err := db.db.BeginTx(ctx, opts)
	if err != nil {
		if write {
			<-db.writeSem
		}
		return nil, fmt.Errorf("sqlite: begin: %w", runtimeError(db.path(), err))
	}
	return &Tx{Tx: tx, db: db, now: db.Now().UTC(), write: write}, nil
}

// release gives back the write semaphore once.
func (tx *Tx) release() {
	if !tx.done {
		tx.done = true
		if tx.write {
			<-tx.db.writeSem
		}
	}
}

// Commit commits the transaction. A full disk or a read-only file becomes
// an EUNAVAILABLE error that says so.
func (tx *Tx) Commit() error {
	defer tx.release()
	if err := tx.Tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w", runtimeError(tx.db.path(), err))
	}
	return nil
}

// Rollback rolls the transaction back; after Commit it is a no-op returning
// sql.ErrTxDone, so it can always be deferred.
func (tx *Tx) Rollback() error {
	defer tx.release()
	return tx.Tx.Rollback()
}

// ExecContext executes a statement in the transaction. A full disk, a
// read-only file or an I/O error becomes an EUNAVAILABLE error that says so;
// other errors (constraints included) are returned as they are.
func (tx *Tx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	res, err := tx.Tx.ExecContext(ctx, query, args...)
	if err != nil {
		return nil, runtimeError(tx.db.path(), err)
	}
	return res, nil
}

// migrate applies the embedded migrations not yet recorded, in name order,
// each in its own transaction.
func (db *DB) migrate(ctx context.Context) error {
	if _, err := db.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS migrations (
		name TEXT PRIMARY KEY,
		applied_at TEXT NOT NULL
	)`); err != nil {
		return fmt.Errorf("migrations table: %w", err)
	}
	names, err := fs.Glob(migrationFS, "migration/*.sql")
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	sort.Strings(names)
	if err := db.refuseNewer(ctx, names); err != nil {
		return err
	}
	for _, name := range names {
		if err := db.migrateFile(ctx, name); err != nil {
			return fmt.Errorf("migration %s: %w", name, err)
		}
	}
	return nil
}

// refuseNewer returns an EUNAVAILABLE error, before anything is written,
// when the database records a migration this binary does not know: a newer
// vpndiag migrated it, and this one would misread it.
func (db *DB) refuseNewer(ctx context.Context, names []string) error {
	known := map[string]bool{}
	for _, n := range names {
		known[n] = true
	}
	rows, err := db.db.QueryContext(ctx, `SELECT name FROM migrations ORDER BY name`)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return fmt.Errorf("migrations: %w", err)
		}
		if !known[name] {
			return vpndiag.Errorf(vpndiag.EUNAVAILABLE,
				"Database %s has schema migration %s, which this vpndiag (%s) does not know: a newer vpndiag migrated it. Upgrade vpndiag; nothing was changed.",
				db.path(), strings.TrimPrefix(name, "migration/"), vpndiag.Version)
		}
	}
	return rows.Err()
}

// migrateFile applies one migration unless it is recorded already.
func (db *DB) migrateFile(ctx context.Context, name string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()

	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM migrations WHERE name = ?`, name).Scan(&n); err != nil {
		return err
	} else if n > 0 {
		return nil
	}
	buf, err := fs.ReadFile(migrationFS, name)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, string(buf)); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO migrations (name, applied_at) VALUES (?, ?)`,
		name, formatTime(tx.now)); err != nil {
		return err
	}
	return tx.Commit()
}

// sqliteCode returns the primary SQLite result code in err's chain, or 0.
func sqliteCode(err error) int {
	var e *sqlite.Error
	if errors.As(err, &e) {
		return e.Code() & 0xff
	}
	return 0
}

// openError turns a failure to open path into one user-safe sentence that
// names the file and what to do, keeping the cause for logs.
func openError(path string, err error) error {
	var verr *vpndiag.Error
	if errors.As(err, &verr) {
		return err
	}
	var msg string
	switch code := sqliteCode(err); {
	case code == sqlite3.SQLITE_NOTADB:
		msg = fmt.Sprintf("Cannot open database %s: the file is not an SQLite database; point --db at another path or move the file away.", path)
	case code == sqlite3.SQLITE_CORRUPT:
		msg = fmt.Sprintf("Cannot open database %s: the file is damaged; restore it from a backup or move it away.", path)
	case errors.Is(err, syscall.ENOTDIR):
		msg = fmt.Sprintf("Cannot open database %s: part of the path is a file, not a directory; choose another --db path.", path)
	case errors.Is(err, syscall.EROFS):
		msg = fmt.Sprintf("Cannot open database %s: the file system is read-only; choose a --db path on a writable disk.", path)
	case errors.Is(err, syscall.ENOSPC) || code == sqlite3.SQLITE_FULL:
		msg = fmt.Sprintf("Cannot open database %s: the disk is full; free some space and try again.", path)
	case errors.Is(err, fs.ErrPermission) || code == sqlite3.SQLITE_READONLY || code == sqlite3.SQLITE_PERM:
		msg = fmt.Sprintf("Cannot open database %s: no permission to write it or its directory; make the directory writable or choose another --db path.", path)
	case code == sqlite3.SQLITE_CANTOPEN:
		msg = fmt.Sprintf("Cannot open database %s: the file or its directory cannot be created or written; make the directory writable or choose another --db path.", path)
	case code == sqlite3.SQLITE_IOERR:
		msg = fmt.Sprintf("Cannot open database %s: the disk reported an I/O error; check the disk and try again.", path)
	default:
		msg = fmt.Sprintf("Cannot open database %s: %s.", path, firstLine(err.Error()))
	}
	return fmt.Errorf("%w: %w", vpndiag.Errorf(vpndiag.EUNAVAILABLE, "%s", msg), err)
}

// runtimeError turns the storage failures a user can act on (full disk,
// read-only file, I/O error) into a user-safe EUNAVAILABLE error; any other
// error is returned as is.
func runtimeError(path string, err error) error {
	var msg string
	switch sqliteCode(err) {
	case sqlite3.SQLITE_FULL:
		msg = fmt.Sprintf("Cannot write to database %s: the disk is full; free some space and try again.", path)
	case sqlite3.SQLITE_READONLY:
		msg = fmt.Sprintf("Cannot write to database %s: it is read-only; fix the file's permissions.", path)
	case sqlite3.SQLITE_IOERR:
		msg = fmt.Sprintf("Cannot write to database %s: the disk reported an I/O error; check the disk.", path)
	case sqlite3.SQLITE_BUSY:
		msg = fmt.Sprintf("Database %s is busy: another process holds it locked; try again.", path)
	default:
		return err
	}
	return fmt.Errorf("%w: %w", vpndiag.Errorf(vpndiag.EUNAVAILABLE, "%s", msg), err)
}

// isUnique reports whether err is a UNIQUE or PRIMARY KEY violation.
func isUnique(err error) bool {
	var e *sqlite.Error
	if errors.As(err, &e) {
		return e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// firstLine returns s up to its first newline, without a trailing period.
func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSuffix(s, ".")
}

// timeFormat is RFC 3339 with a fixed nine-digit fraction, so that text
// order is time order.
const timeFormat = "2006-01-02T15:04:05.000000000Z07:00"

// formatTime formats t in UTC for storage.
func formatTime(t time.Time) string { return t.UTC().Format(timeFormat) }

// nullTime formats an optional time; nil is NULL.
func nullTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return formatTime(*t)
}

// writer is a write transaction as sqlrow's steps made of several writes
// see it.
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
