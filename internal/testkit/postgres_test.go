package testkit_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/vpndiag/vpndiag/internal/testkit"
)

func TestStartPostgres(t *testing.T) {
	pg := testkit.StartPostgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	url := pg.NewDatabase(t)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var name string
	if err := conn.QueryRow(ctx, `SELECT current_database()`).Scan(&name); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(url, "postgres://") || !strings.Contains(url, "/"+name+"?") {
		t.Errorf("URL %s does not name database %s", url, name)
	}
	if other := pg.NewDatabase(t); other == url {
		t.Errorf("NewDatabase returned %s twice", url)
	}

	// Password authentication is on: a wrong password is refused.
	bad := strings.Replace(url, ":"+pg.Password+"@", ":wrong@", 1)
	if c, err := pgx.Connect(ctx, bad); err == nil {
		c.Close(ctx)
		t.Fatal("a wrong password was accepted")
	}
}
