package sqlite_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/storage/sqlite"
	"github.com/vpndiag/vpndiag/storage/storetest"
)

// fixedNow is the time a test clock starts at.
var fixedNow = time.Date(2026, 11, 25, 18, 55, 0, 123456789, time.UTC)

// MustOpenDB opens a new database in a temporary directory with a clock that
// steps one millisecond per call, and closes it when the test ends.
func MustOpenDB(tb testing.TB) *sqlite.DB {
	tb.Helper()
	return MustOpenDBAt(tb, filepath.Join(tb.TempDir(), "vpndiag.db"))
}

// MustOpenDBAt opens the database at path and closes it when the test ends.
func MustOpenDBAt(tb testing.TB, path string) *sqlite.DB {
	tb.Helper()
	db := sqlite.NewDB(path)
	now := fixedNow
	db.Now = func() time.Time {
		now = now.Add(time.Millisecond)
		return now
	}
	if err := db.Open(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Error(err)
		}
	})
	return db
}

// MustCreateCase stores a case with a marker derived from n.
func MustCreateCase(tb testing.TB, db *sqlite.DB, n int) *vpndiag.Case {
	tb.Helper()
	c := &vpndiag.Case{
		Marker:    marker(n),
		Title:     "Tunnel is down",
		Status:    vpndiag.CaseOpen,
		Origin:    "terminal",
		CreatedBy: "alice",
	}
	if err := sqlite.NewCaseService(db).CreateCase(context.Background(), c); err != nil {
		tb.Fatal(err)
	}
	return c
}

// marker returns a valid, distinct case marker for n < 32^4.
func marker(n int) string {
	const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	b := make([]byte, 4)
	for i := 3; i >= 0; i-- {
		b[i] = alphabet[n%32]
		n /= 32
	}
	return "VPN-20261125-" + string(b)
}

// wantCode fails unless err carries code.
func wantCode(tb testing.TB, err error, code string) {
	tb.Helper()
	if got := vpndiag.ErrorCode(err); got != code {
		tb.Fatalf("error code = %q, want %q (err: %v)", got, code, err)
	}
}

func TestDB_Open_Twice_MigrationsRecordedOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vpndiag.db")
	ctx := context.Background()
	var first []string
	for round := 0; round < 2; round++ {
		db := sqlite.NewDB(path)
		if err := db.Open(); err != nil {
			t.Fatal(err)
		}
		rows, err := db.SQL().QueryContext(ctx, `SELECT name, applied_at FROM migrations ORDER BY name`)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for rows.Next() {
			var name, at string
			if err := rows.Scan(&name, &at); err != nil {
				t.Fatal(err)
			}
			got = append(got, name+"@"+at)
		}
		rows.Close()
		if len(got) < 2 {
			t.Fatalf("round %d: migrations = %v, want at least 2", round, got)
		}
		if round == 0 {
			first = got
		} else if strings.Join(got, ",") != strings.Join(first, ",") {
			t.Fatalf("migrations changed on second open:\n%v\n%v", first, got)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestDB_Open_BadFiles(t *testing.T) {
	dir := t.TempDir()
	notDB := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notDB, []byte(strings.Repeat("this is not a database\n", 400)), 0o600); err != nil {
		t.Fatal(err)
	}
	aFile := filepath.Join(dir, "file")
	if err := os.WriteFile(aFile, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		path string
		want string
	}{
		{"NotADatabase", notDB, "not an SQLite database"},
		{"ParentIsAFile", filepath.Join(aFile, "vpndiag.db"), "not a directory"},
		{"Directory", dir, "is a directory"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			db := sqlite.NewDB(tt.path)
			err := db.Open()
			defer db.Close()
			wantCode(t, err, vpndiag.EUNAVAILABLE)
			t.Log(err)
			msg := vpndiag.ErrorMessage(err)
			if !strings.Contains(msg, tt.want) || !strings.Contains(msg, tt.path) || strings.Contains(msg, "\n") {
				t.Fatalf("message = %q, want one line naming %s and saying %q", msg, tt.path, tt.want)
			}
			if errors.Unwrap(err) == nil {
				t.Fatal("error does not wrap its cause")
			}
		})
	}
	// The file that is not a database was left as it was.
	if b, err := os.ReadFile(notDB); err != nil || string(b) != strings.Repeat("this is not a database\n", 400) {
		t.Fatalf("not-a-database file changed (%v)", err)
	}
	if _, err := os.Stat(notDB + "-wal"); err == nil {
		t.Fatal("a -wal file was created next to the file that is not a database")
	}
}

func TestDB_Open_ReadOnlyDir(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root ignores directory permissions")
	}
	dir := filepath.Join(t.TempDir(), "ro")
	if err := os.Mkdir(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o700) })
	path := filepath.Join(dir, "vpndiag.db")
	db := sqlite.NewDB(path)
	err := db.Open()
	defer db.Close()
	wantCode(t, err, vpndiag.EUNAVAILABLE)
	if msg := vpndiag.ErrorMessage(err); !strings.Contains(msg, path) || !strings.Contains(msg, "writable") {
		t.Fatalf("message = %q, want it to name %s and say to make it writable", msg, path)
	}
}

func TestDB_Check(t *testing.T) {
	db := MustOpenDB(t)
	MustCreateCase(t, db, 1)
	if err := db.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestDB_Pragmas(t *testing.T) {
	db := MustOpenDB(t)
	ctx := context.Background()
	for _, tt := range []struct {
		pragma string
		want   string
	}{
		{"journal_mode", "wal"},
		{"synchronous", "2"}, // FULL
		{"foreign_keys", "1"},
		{"busy_timeout", "5000"},
	} {
		t.Run(tt.pragma, func(t *testing.T) {
			var got string
			if err := db.SQL().QueryRowContext(ctx, "PRAGMA "+tt.pragma).Scan(&got); err != nil {
				t.Fatal(err)
			} else if got != tt.want {
				t.Fatalf("PRAGMA %s = %q, want %q", tt.pragma, got, tt.want)
			}
		})
	}
}

// TestDB_DiskFull stands in for a full disk with a page limit, which makes
// SQLite fail the same way (SQLITE_FULL).
func TestDB_DiskFull(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()

	t.Run("Open", func(t *testing.T) {
		path := filepath.Join(dir, "tiny.db")
		db := sqlite.NewDB(path + "?_pragma=max_page_count(4)")
		err := db.Open()
		defer db.Close()
		wantCode(t, err, vpndiag.EUNAVAILABLE)
		if msg := vpndiag.ErrorMessage(err); !strings.Contains(msg, "disk is full") || !strings.Contains(msg, path) {
			t.Fatalf("message = %q", msg)
		}
	})

	t.Run("Write", func(t *testing.T) {
		path := filepath.Join(dir, "small.db")
		db := sqlite.NewDB(path + "?_pragma=max_page_count(60)")
		if err := db.Open(); err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		c := MustCreateCase(t, db, 1)
		es := sqlite.NewEvidenceService(db)
		err := es.CreateEvidence(ctx, &vpndiag.Evidence{CaseID: c.ID, Name: "big.log", Kind: vpndiag.EvidenceLog},
			storetest.NewLogReader(8<<20, 3))
		wantCode(t, err, vpndiag.EUNAVAILABLE)
		if msg := vpndiag.ErrorMessage(err); !strings.Contains(msg, "disk is full") {
			t.Fatalf("message = %q", msg)
		}
		if list, err := es.FindEvidence(ctx, c.ID); err != nil || len(list) != 0 {
			t.Fatalf("evidence after failed write = %d, %v; want none", len(list), err)
		}
		// Small writes still work.
		if err := sqlite.NewEventService(db).AppendEvent(ctx, &vpndiag.Event{CaseID: c.ID, Kind: vpndiag.EventNote}); err != nil {
			t.Fatal(err)
		}
	})
}

// TestDB_BeginTx_WriterWaits checks that a second writer waits for the
// first, gives up with its context, and that reads go on meanwhile.
func TestDB_BeginTx_WriterWaits(t *testing.T) {
	db := MustOpenDB(t)
	c := MustCreateCase(t, db, 1)
	ctx := context.Background()

	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	err = sqlite.NewEventService(db).AppendEvent(short, &vpndiag.Event{CaseID: c.ID, Kind: vpndiag.EventNote})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second writer: %v, want context.DeadlineExceeded", err)
	}
	if _, err := sqlite.NewCaseService(db).FindCaseByID(ctx, c.ID); err != nil {
		t.Fatalf("read while a writer holds the lock: %v", err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := sqlite.NewEventService(db).AppendEvent(ctx, &vpndiag.Event{CaseID: c.ID, Kind: vpndiag.EventNote}); err != nil {
		t.Fatalf("writer after rollback: %v", err)
	}
}

func TestDB_Memory(t *testing.T) {
	db := sqlite.NewDB(":memory:")
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c := MustCreateCase(t, db, 1)
	got, err := sqlite.NewCaseService(db).FindCaseByMarker(context.Background(), c.Marker)
	if err != nil || got.ID != c.ID {
		t.Fatalf("FindCaseByMarker = %+v, %v", got, err)
	}
}

// TestDB_Open_NewerSchema: a database migrated by a newer vpndiag is refused
// with a clear error, and nothing is written to it.
func TestDB_Open_NewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vpndiag.db")
	db := MustOpenDBAt(t, path)
	if _, err := db.SQL().Exec(`INSERT INTO migrations (name, applied_at) VALUES ('migration/99999_future.sql', 'x')`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	again := sqlite.NewDB(path)
	err = again.Open()
	again.Close()
	wantCode(t, err, vpndiag.EUNAVAILABLE)
	if msg := vpndiag.ErrorMessage(err); !strings.Contains(msg, "99999_future.sql") || !strings.Contains(msg, "Upgrade vpndiag") {
		t.Fatalf("message = %q", msg)
	}
	if after, err := os.ReadFile(path); err != nil || !bytes.Equal(before, after) {
		t.Fatalf("the refused open changed the file (%v)", err)
	}
}
