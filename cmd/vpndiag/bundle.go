package main

import (
	"context"
	"fmt"
)

func (m *Main) runBundle(ctx context.Context, args []string) error {
	fs := m.flagSet("bundle", "verify FILE", `Verify a support bundle's manifest, checksums and schema.`)
	if err := parse(fs, args); err != nil {
		return err
	}
	return fmt.Errorf("bundle: bundle verification is not built yet")
}
