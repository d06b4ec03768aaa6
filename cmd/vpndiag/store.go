package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/flows"
	"github.com/vpndiag/vpndiag/storage/postgres"
	"github.com/vpndiag/vpndiag/storage/sqlite"
)

// store is the opened database behind every service: SQLite for one
// machine and the terminal, or PostgreSQL for several `vpndiag serve`
// replicas. The db setting (or VPNDIAG_DB, or --db) chooses: a postgres://
// or postgresql:// URL selects PostgreSQL, anything else is an SQLite file.
type store struct {
	vpndiag.Services

	// Kind is "sqlite" or "postgres".
	Kind string
	// Where names the database for logs, without a password.
	Where string
	// Ping checks that the database answers, for /readyz.
	Ping func(ctx context.Context) error
	// PG is the PostgreSQL database, nil on SQLite (the relay backplane
	// and leases need it).
	PG *postgres.DB
}

// flowServices are the stores the flow engine works over.
func (s *store) flowServices() flows.Services {
	return flows.Services{Cases: s.Cases, Sessions: s.Sessions, Events: s.Events, Sites: s.Sites,
		Findings: s.Findings, Probes: s.Probes, Evidence: s.Evidence}
}

// openDB opens (creating when needed) the database named by dsn and closes
// it at Close. For an SQLite file, its directory is created.
func (m *Main) openDB(ctx context.Context, dsn string, maxEvidence int64) (*store, error) {
	if postgres.IsURL(dsn) {
		db := postgres.NewDB(dsn)
		db.MaxEvidenceBytes = maxEvidence
		if err := db.Open(ctx); err != nil {
			return nil, err
		}
		m.onClose(db.Close)
		return &store{Services: postgres.NewServices(db),
			Kind: "postgres", Where: postgres.Redacted(dsn), Ping: db.Ping, PG: db}, nil
	}
	if dir := filepath.Dir(dsn); dir != "." {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("cannot create the database directory %s (choose another with --db): %w", dir, errors.Unwrap(err))
		}
	}
	db := sqlite.NewDB(dsn)
	db.MaxEvidenceBytes = maxEvidence
	if err := db.Open(); err != nil {
		return nil, err
	}
	m.onClose(db.Close)
	return &store{Services: sqlite.NewServices(db),
		Kind: "sqlite", Where: dsn, Ping: db.SQL().PingContext}, nil
}
