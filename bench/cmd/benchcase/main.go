// Command benchcase creates the case the bundle export benchmark exports: a
// SQLite database holding one escalated case with FILES generated strongSwan
// logs of SIZE each as evidence, and the same files under DIR/logs for
// `zip -r`. It prints the case marker.
//
//	go run ./bench/cmd/benchcase -db /tmp/b/case.db -dir /tmp/b -files 8 -size 25
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/evidence/logs"
	"github.com/vpndiag/vpndiag/storage/sqlite"
)

func main() {
	dbPath := flag.String("db", "", "database file to create (must not exist)")
	dir := flag.String("dir", "", "directory to write the logs into (as DIR/logs/)")
	files := flag.Int("files", 8, "number of log files")
	sizeMB := flag.Int("size", 25, "size of each log file in MiB")
	flag.Parse()
	if err := run(context.Background(), *dbPath, *dir, *files, int64(*sizeMB)<<20); err != nil {
		fmt.Fprintln(os.Stderr, "benchcase:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, dbPath, dir string, files int, size int64) error {
	if dbPath == "" || dir == "" {
		return errors.New("-db and -dir are required")
	}
	if files < 1 || files > 100 || size < 1<<20 || size > sqlite.DefaultMaxEvidenceBytes {
		return fmt.Errorf("-files must be 1 to 100 and -size 1 to %d MiB", sqlite.DefaultMaxEvidenceBytes>>20)
	}
	if _, err := os.Stat(dbPath); err == nil {
		return fmt.Errorf("%s exists; give a new file", dbPath)
	}
	logDir := filepath.Join(dir, "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return err
	}
	db := sqlite.NewDB(dbPath)
	if err := db.Open(); err != nil {
		return fmt.Errorf("open %s: %w", dbPath, err)
	}
	defer db.Close()
	marker, err := vpndiag.NewMarker(time.Now(), nil)
	if err != nil {
		return err
	}
	c := &vpndiag.Case{Marker: marker, Title: "Tunnel drops every hour (bundle export benchmark)", Status: vpndiag.CaseOpen,
		Origin: "terminal", CreatedBy: "bench"}
	if err := sqlite.NewCaseService(db).CreateCase(ctx, c); err != nil {
		return fmt.Errorf("create case: %w", err)
	}
	es := sqlite.NewEvidenceService(db)
	for i := range files {
		name := fmt.Sprintf("charon-%02d.log", i+1)
		path := filepath.Join(logDir, name)
		if err := writeLog(path, size, int64(i+1)); err != nil {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		e := &vpndiag.Evidence{CaseID: c.ID, Name: name, Kind: vpndiag.EvidenceLog, MediaType: "text/plain", Vendor: "strongswan-charon", UploadedBy: "bench"}
		err = es.CreateEvidence(ctx, e, f)
		f.Close()
		if err != nil {
			return fmt.Errorf("store %s: %w", name, err)
		}
	}
	fmt.Println(marker)
	return nil
}

func writeLog(path string, size, seed int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	if err := logs.Generate(bw, size, seed); err != nil {
		f.Close()
		return fmt.Errorf("generate %s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
