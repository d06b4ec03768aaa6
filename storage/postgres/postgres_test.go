package postgres_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/internal/testkit"
	"github.com/vpndiag/vpndiag/storage/postgres"
)

// TestDB_Open covers what a replica meets at start: migrations applied once
// however many replicas start together, a second start changing nothing,
// and every bad database refused with one clear sentence and nothing
// written.
func TestDB_Open(t *testing.T) {
	pg := testkit.StartPostgres(t)
	ctx := context.Background()

	t.Run("ReplicasStartTogether", func(t *testing.T) {
		url := pg.NewDatabase(t)
		const replicas = 6
		var wg sync.WaitGroup
		errs := make(chan error, replicas)
		for i := 0; i < replicas; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				db := postgres.NewDB(url)
				if err := db.Open(ctx); err != nil {
					errs <- err
					return
				}
				db.Close()
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		db := postgres.NewDB(url)
		if err := db.Open(ctx); err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var n, distinct int
		if err := db.Pool().QueryRow(ctx, `SELECT count(*), count(DISTINCT name) FROM schema_migrations`).Scan(&n, &distinct); err != nil {
			t.Fatal(err)
		}
		if n == 0 || n != distinct {
			t.Fatalf("schema_migrations has %d rows, %d distinct; want each migration once", n, distinct)
		}
		if err := db.Check(ctx); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("NewerSchema", func(t *testing.T) {
		url := pg.NewDatabase(t)
		db := postgres.NewDB(url)
		if err := db.Open(ctx); err != nil {
			t.Fatal(err)
		}
		db.Close()
		pg.Exec(t, url, `INSERT INTO schema_migrations (name, applied_at) VALUES ('99999_from_the_future.sql', now())`)
		before := tableCount(t, pg, url)

		db = postgres.NewDB(url)
		err := db.Open(ctx)
		db.Close()
		if vpndiag.ErrorCode(err) != vpndiag.EUNAVAILABLE {
			t.Fatalf("open of a newer schema: %v, want EUNAVAILABLE", err)
		}
		msg := vpndiag.ErrorMessage(err)
		for _, want := range []string{"99999_from_the_future.sql", "newer vpndiag", "Upgrade vpndiag", "nothing was changed"} {
			if !strings.Contains(msg, want) {
				t.Errorf("message %q does not say %q", msg, want)
			}
		}
		if after := tableCount(t, pg, url); after != before {
			t.Fatalf("refused open changed the schema: %d tables before, %d after", before, after)
		}
	})

	badURL := func(f func(u string) string) string { return f(pg.NewDatabase(t)) }
	for _, tt := range []struct {
		name string
		url  string
		code string
		want []string
	}{
		{"WrongPassword", badURL(func(u string) string { return strings.Replace(u, ":"+pg.Password+"@", ":not-the-password@", 1) }),
			vpndiag.EUNAVAILABLE, []string{"refused the login", `"vpndiag"`, "wrong password"}},
		{"Unreachable", fmt.Sprintf("postgres://vpndiag:x@127.0.0.1:%d/vpndiag?sslmode=disable&connect_timeout=5", closedPort(t)),
			vpndiag.EUNAVAILABLE, []string{"Cannot reach PostgreSQL at 127.0.0.1:", "connection refused"}},
		{"NoDatabase", pg.URL("nosuchdb"), vpndiag.EUNAVAILABLE, []string{"no such database"}},
		{"BadURL", "postgres://vpndiag:x@127.0.0.1:notaport/db", vpndiag.EINVALID, []string{"is not valid"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			db := postgres.NewDB(tt.url)
			start := time.Now()
			err := db.Open(ctx)
			db.Close()
			if got := vpndiag.ErrorCode(err); got != tt.code {
				t.Fatalf("code = %q, want %q (%v)", got, tt.code, err)
			}
			msg := vpndiag.ErrorMessage(err)
			if strings.Contains(msg, "\n") || strings.Contains(msg, pg.Password) || strings.Contains(msg, "not-the-password") {
				t.Fatalf("message is not one safe line: %q", msg)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q does not say %q", msg, w)
				}
			}
			if time.Since(start) > 15*time.Second {
				t.Errorf("took %v to fail", time.Since(start))
			}
		})
	}
}

// TestDB_ConnectionLost: once the server is gone, calls fail with
// EUNAVAILABLE (the bot answers 503 and Slack retries), not an internal
// error.
func TestDB_ConnectionLost(t *testing.T) {
	pg := testkit.StartPostgres(t)
	ctx := context.Background()
	db := postgres.NewDB(pg.NewDatabase(t))
	if err := db.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cases := postgres.NewCaseService(db)
	pg.Stop(t)
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	_, err := cases.FindCaseByID(cctx, 1)
	if vpndiag.ErrorCode(err) != vpndiag.EUNAVAILABLE {
		t.Fatalf("read with the server down: %v, want EUNAVAILABLE", err)
	}
	if _, err := postgres.NewDedupService(db).Claim(cctx, "k"); vpndiag.ErrorCode(err) != vpndiag.EUNAVAILABLE {
		t.Fatalf("write with the server down: %v, want EUNAVAILABLE", err)
	}
}

// tableCount returns the number of tables in the public schema.
func tableCount(t *testing.T, pg *testkit.Postgres, url string) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}
