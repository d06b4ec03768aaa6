package main

import (
	"context"
	"errors"
	"fmt"
	iofs "io/fs"
	"os"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/storage/postgres"
	"github.com/vpndiag/vpndiag/storage/sqlite"
)

func (m *Main) runDB(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "copy" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprintln(m.Stdout, "Usage: vpndiag db copy --from FILE.db --to postgres://USER@HOST/DB\n\nRun 'vpndiag db copy --help' for its flags.")
			return nil
		}
		return usageError("db: the only subcommand is copy, e.g. vpndiag db copy --from vpndiag.db --to postgres://vpndiag@db.example/vpndiag")
	}
	fs := m.flagSet("db copy", "--from FILE.db --to postgres://USER[:PASSWORD]@HOST[:PORT]/DB [--format text|json]", `
Move a one-machine deployment to PostgreSQL: copy every case, session,
answer, event, probe result, keep-alive sample, evidence file, finding, site
and relay token (hash) from the SQLite file into an empty PostgreSQL
database, keeping every ID, in one transaction. Both sides are then read
back and compared table by table (row count and SHA-256 of the rows); any
difference rolls the copy back and leaves the target empty. Stop 'vpndiag
serve' first. The password may come from the URL, PGPASSWORD or ~/.pgpass.`)
	from := fs.String("from", "", "the SQLite database file to copy (read only, once brought to this vpndiag's schema as serve would)")
	to := fs.String("to", "", "the PostgreSQL database URL, postgres://… (created tables, empty)")
	format := fs.String("format", "text", "output: text or json")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return usageError(fmt.Sprintf("db copy: unexpected argument %q", fs.Arg(0)))
	case *from == "" || *to == "":
		return usageError("db copy: give both --from FILE.db and --to postgres://…")
	case !postgres.IsURL(*to):
		return usageError(fmt.Sprintf("db copy: --to %q is not a postgres:// URL", *to))
	}
	if err := checkFormat("db copy", *format); err != nil {
		return err
	}
	if fi, err := os.Stat(*from); errors.Is(err, iofs.ErrNotExist) {
		return vpndiag.Errorf(vpndiag.ENOTFOUND, "There is no SQLite database at %s to copy.", *from)
	} else if err == nil && fi.IsDir() {
		return vpndiag.Errorf(vpndiag.EINVALID, "%s is a directory; give the SQLite database file with --from.", *from)
	}
	src := sqlite.NewDB(*from)
	if err := src.Open(); err != nil {
		return err
	}
	m.onClose(src.Close)
	dst := postgres.NewDB(*to)
	if err := dst.Open(ctx); err != nil {
		return err
	}
	m.onClose(dst.Close)
	rep, err := postgres.CopyFromSQLite(ctx, src.SQL(), dst)
	if err != nil {
		return err
	}
	if *format == "json" {
		return m.printJSON(rep)
	}
	var total int64
	for _, t := range rep.Tables {
		fmt.Fprintf(m.Stdout, "%-18s %8d rows  sha256 %s\n", t.Name, t.Rows, t.SHA256)
		total += t.Rows
	}
	if rep.SubMicrosecondTimes > 0 {
		fmt.Fprintf(m.Stdout, "%d time(s) had digits below the microsecond; PostgreSQL keeps them to the microsecond.\n", rep.SubMicrosecondTimes)
	}
	fmt.Fprintf(m.Stdout, "vpndiag db copy: %d rows in %d tables copied to %s; counts and checksums match.\n",
		total, len(rep.Tables), postgres.Redacted(*to))
	return nil
}
