package main

import (
	"context"
	"fmt"
)

func (m *Main) runExport(ctx context.Context, args []string) error {
	fs := m.flagSet("export", "CASE [-o FILE] [--force]", `
Write a case's support bundle: summary, timeline, decision path, probe
results, findings, redacted attachments and checksums, in one archive.`)
	out := fs.String("o", "", "output file")
	if err := parse(fs, args); err != nil {
		return err
	}
	_ = out
	return fmt.Errorf("export: the support bundle is not built yet")
}
