package hardening_test

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag/bot/slack/slackfake"
)

const vpnFixtures = "/work/shared/fixtures/vpn"

// secretsOf returns the secrets of the fixtures: the testdata table, plus
// every body line of every PEM block (keys and certificates) in the files.
func secretsOf(t *testing.T, files []string) []string {
	t.Helper()
	f, err := os.Open("testdata/secrets.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := sc.Text(); line != "" && !strings.HasPrefix(line, "#") {
			if _, s, ok := strings.Cut(line, "\t"); ok {
				out = append(out, s)
			}
		}
	}
	pemLine := regexp.MustCompile(`^[A-Za-z0-9+/=]{40,}$`)
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		in := false
		for _, line := range strings.Split(string(b), "\n") {
			line = strings.Trim(strings.TrimSpace(line), `"`)
			switch {
			case strings.Contains(line, "-----BEGIN"):
				in = true
			case strings.Contains(line, "-----END"):
				in = false
			case in && pemLine.MatchString(line):
				out = append(out, line)
			}
		}
	}
	return out
}

// TestSecrets shares every VPN fixture (configs and logs) in a case thread
// through serve, exports the bundle, and scans the database file, its WAL
// and the bundle (raw and every entry decompressed) for every secret.
func TestSecrets(t *testing.T) {
	var files []string
	for _, sub := range []string{"configs", "logs"} {
		names, _ := filepath.Glob(filepath.Join(vpnFixtures, sub, "*.txt"))
		files = append(files, names...)
	}
	if len(files) < 20 {
		t.Fatalf("only %d fixtures found under %s", len(files), vpnFixtures)
	}
	secrets := secretsOf(t, files)
	fake := slackfake.New(t)
	srv := MustServe(t, fake, "", "")
	sl := NewSlack(t, fake, func() string { return srv.Addr })
	ctx := context.Background()
	startCase(t, sl, srv, "U1", "C1")
	root := sl.Root("C1")
	db := MustOpenDB(t, srv.DB)
	for i, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		id := fmt.Sprintf("FS%04d", i)
		fake.AddFile(id, filepath.Base(name), "text/plain", b, map[string]string{"C1": root})
		if r := Post(ctx, srv.Addr, "/slack/events", fileEvent(1000+i, "U1", "C1", root, id), "application/json"); !r.Acked() {
			t.Fatalf("file event %s: %+v", name, r)
		}
	}
	fake.WaitFor(t, 60*time.Second, "every fixture stored", func() bool {
		return Count(t, db, "SELECT COUNT(*) FROM evidence") >= len(files)
	})
	settle(t, fake)
	if r := sl.Command(ctx, "U1", "C1", "export"); !r.Acked() {
		t.Fatalf("export: %+v", r)
	}
	fake.WaitFor(t, 60*time.Second, "the bundle upload", func() bool { return len(fake.Uploads()) == 1 })
	bundle := fake.Uploads()[0].Content

	// What is scanned: the database and its WAL as they are on disk, the
	// bundle as uploaded and every file in it.
	scan := map[string][]byte{}
	for _, p := range []string{srv.DB, srv.DB + "-wal"} {
		if b, err := os.ReadFile(p); err == nil {
			scan[filepath.Base(p)] = b
		}
	}
	scan["bundle.zip"] = bundle
	zr, err := zip.NewReader(bytes.NewReader(bundle), int64(len(bundle)))
	if err != nil {
		t.Fatalf("the bundle is not a zip: %v", err)
	}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		scan["bundle:"+f.Name] = b
	}
	// The database also after a checkpoint, so pages only in the WAL are
	// in the main file too.
	if _, err := db.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err == nil {
		if b, err := os.ReadFile(srv.DB); err == nil {
			scan["vpndiag.db after checkpoint"] = b
		}
	}
	// Control: the scan reads the files' text (a setting next to the
	// secrets, kept by redaction, is there).
	control := false
	for where, b := range scan {
		if strings.HasPrefix(where, "bundle:") && bytes.Contains(b, []byte("ikelifetime=10800s")) {
			control = true
		}
	}
	if !control {
		t.Error("the bundle's files do not hold the fixtures' text (ikelifetime=10800s); the scan would prove nothing")
	}
	found := 0
	var bytesScanned int
	for where, b := range scan {
		bytesScanned += len(b)
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				found++
				t.Errorf("secret %.40q is in %s", s, where)
			}
		}
	}
	t.Logf("secrets: %d fixtures shared through serve (%d evidence rows), %d secrets (table + PEM lines) searched in %d places (%.1f MiB: database, WAL, bundle and its %d files): %d found",
		len(files), Count(t, db, "SELECT COUNT(*) FROM evidence"), len(secrets), len(scan), float64(bytesScanned)/(1<<20), len(zr.File), found)
}
