package main

import (
	"context"
	"fmt"
)

func (m *Main) runDiagnose(ctx context.Context, args []string) error {
	fs := m.flagSet("diagnose", "[--db FILE] [--answers FILE] [--format json]", `
Walk a case through the troubleshooting flows in this terminal, probes run
locally, everything stored in a local SQLite file.`)
	db := fs.String("db", "", "SQLite database file (default in the user's state directory)")
	if err := parse(fs, args); err != nil {
		return err
	}
	_ = db
	return fmt.Errorf("diagnose: the flows are not built yet")
}
