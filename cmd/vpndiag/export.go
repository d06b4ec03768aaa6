package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	iofs "io/fs"
	"os"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/bundle"
	"github.com/vpndiag/vpndiag/conffile"
	"github.com/vpndiag/vpndiag/flows"
	"github.com/vpndiag/vpndiag/storage/postgres"
)

func (m *Main) runExport(ctx context.Context, args []string) error {
	fs := m.flagSet("export", "CASE [-o FILE] [--force] [--db FILE] [--config FILE]", `
Write a case's support bundle: summary, timeline, decision path, probe
results, findings, redacted attachments and checksums, in one zip archive
that opens without vpndiag. CASE is the case marker, e.g. VPN-20261125-7KQ2.
The case is only read; a case still in progress exports what it has.
Check a bundle with 'vpndiag bundle verify FILE'.`)
	out := fs.String("o", "", "output file (default CASE-bundle.zip in the current directory)")
	force := fs.Bool("force", false, "replace the output file when it exists")
	dbOpts := dbFlags(fs)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError("export: give one case marker, e.g. vpndiag export VPN-20261125-7KQ2")
	}
	marker, err := bundle.NormalizeMarker(pos[0])
	if err != nil {
		return err
	}
	cfg, err := m.loadConfigDB(dbOpts)
	if err != nil {
		return err
	}
	// Exporting must not create a database: no database means no case.
	if _, err := os.Stat(cfg.DB); errors.Is(err, iofs.ErrNotExist) && !postgres.IsURL(cfg.DB) {
		return vpndiag.Errorf(vpndiag.ENOTFOUND, "There is no database at %s, so no case %s (choose the database with --db).", cfg.DB, marker)
	}
	db, err := m.openDB(ctx, cfg.DB, cfg.Evidence.MaxUploadBytes)
	if err != nil {
		return err
	}
	x, err := newExporter(cfg, db)
	if err != nil {
		return err
	}
	res, err := x.ExportFile(ctx, marker, *out, *force)
	if err != nil {
		return err
	}
	state := string(res.Manifest.Status)
	if res.Manifest.InProgress {
		state = "in progress"
	}
	signed := "not signed"
	if x.SigningKey != nil {
		signed = "signed by " + bundle.KeyID(x.SigningKey.Public().(ed25519.PublicKey))
	}
	fmt.Fprintf(m.Stdout, "%s: support bundle written to %s (%d files, %s, case %s, %s)\n",
		res.Marker, res.Path, len(res.Manifest.Files)+1, humanBytes(res.Size), state, signed)
	return nil
}

// newExporter returns the bundle exporter over db, signing with the key the
// config names, if any.
func newExporter(cfg *conffile.Config, db *store) (*bundle.Exporter, error) {
	x := &bundle.Exporter{Cases: db.Cases, Sessions: db.Sessions, Events: db.Events, Probes: db.Probes,
		Evidence: db.Evidence, Findings: db.Findings, Sites: db.Sites, Graph: flowGraph}
	if cfg.Bundle.SigningKey != "" {
		key, err := bundle.ReadSigningKey(cfg.Bundle.SigningKey)
		if err != nil {
			return nil, err
		}
		x.SigningKey = key
	}
	return x, nil
}

// flowGraph returns the graph of a flow at a version (the current version
// when version is 0) for the bundle's diagram.
func flowGraph(name string, version int) (vpndiag.FlowGraph, bool) {
	set := flows.Default()
	var d *flows.Def
	var err error
	if version > 0 {
		d, err = set.Version(name, version)
	} else {
		d, err = set.Current(name)
	}
	if err != nil {
		return vpndiag.FlowGraph{}, false
	}
	return d.Graph(), true
}

// humanBytes formats a size for people.
func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
