package storetest_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/internal/testkit"
	"github.com/vpndiag/vpndiag/storage/postgres"
	"github.com/vpndiag/vpndiag/storage/sqlite"
	"github.com/vpndiag/vpndiag/storage/storetest"
)

// fixedNow is the time a test clock starts at.
var fixedNow = time.Date(2026, 11, 25, 18, 55, 0, 123456789, time.UTC)

// steppingClock returns a clock that steps one millisecond per call.
func steppingClock() vpndiag.Clock {
	now := fixedNow
	return func() time.Time {
		now = now.Add(time.Millisecond)
		return now
	}
}

func TestSQLite(t *testing.T) {
	storetest.Run(t, func(tb testing.TB) *storetest.Store {
		tb.Helper()
		db := sqlite.NewDB(filepath.Join(tb.TempDir(), "vpndiag.db"))
		db.Now = steppingClock()
		if err := db.Open(); err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { db.Close() })
		return &storetest.Store{
			Services:            sqlite.NewServices(db),
			SetMaxEvidenceBytes: func(n int64) { db.MaxEvidenceBytes = n },
			Exec: func(ctx context.Context, sql string) error {
				_, err := db.SQL().ExecContext(ctx, sql)
				return err
			},
			QueryInt: func(ctx context.Context, sql string) (n int64, err error) {
				err = db.SQL().QueryRowContext(ctx, sql).Scan(&n)
				return n, err
			},
			ChunkSize: sqlite.ChunkSize,
		}
	})
}

func TestPostgres(t *testing.T) {
	pg := testkit.StartPostgres(t)
	storetest.Run(t, func(tb testing.TB) *storetest.Store {
		tb.Helper()
		db := postgres.NewDB(pg.NewDatabase(tb))
		db.Now = steppingClock()
		if err := db.Open(context.Background()); err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { db.Close() })
		return &storetest.Store{
			Services:            postgres.NewServices(db),
			SetMaxEvidenceBytes: func(n int64) { db.MaxEvidenceBytes = n },
			Exec: func(ctx context.Context, sql string) error {
				_, err := db.Pool().Exec(ctx, sql)
				return err
			},
			QueryInt: func(ctx context.Context, sql string) (n int64, err error) {
				err = db.Pool().QueryRow(ctx, sql).Scan(&n)
				return n, err
			},
			ChunkSize: postgres.ChunkSize,
		}
	})
}
