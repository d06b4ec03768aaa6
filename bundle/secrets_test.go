package bundle_test

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/vpndiag/vpndiag"
	"github.com/vpndiag/vpndiag/evidence/redact"
	"github.com/vpndiag/vpndiag/internal/fixtures"
	"github.com/vpndiag/vpndiag/storage/sqlite"
)

// knownSecrets reads the secrets of the shared fixtures listed by the
// redaction package's tests: FILE<TAB>SECRET per line.
func knownSecrets(tb testing.TB) map[string][]string {
	tb.Helper()
	f, err := os.Open("../evidence/redact/testdata/fixture-secrets.txt")
	if err != nil {
		tb.Fatalf("the list of fixture secrets: %v", err)
	}
	defer f.Close()
	out := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
			continue
		}
		file, secret, ok := strings.Cut(line, "\t")
		if ok {
			out[file] = append(out[file], secret)
		}
	}
	return out
}

// TestExport_NoSecrets uploads every fixture config and log through the
// redactor, as the bot does, with a finding quoting a redacted line, exports
// the case and scans every file of the bundle (and the archive's raw bytes)
// for every known secret and every value the redactor replaced.
func TestExport_NoSecrets(t *testing.T) {
	dir := fixtures.Dir(t, "vpn")
	db := MustOpenDB(t)
	c := MustSeedCase(t, db, seed{marker: marker, status: vpndiag.CaseEscalated})
	ctx := context.Background()
	es, fs := sqlite.NewEvidenceService(db), sqlite.NewFindingService(db)
	red := redact.New(redact.Options{})
	listed := knownSecrets(t)
	var secrets []string
	uploaded := 0
	for _, sub := range []string{"configs", "logs"} {
		names, err := filepath.Glob(filepath.Join(dir, sub, "*.txt"))
		if err != nil || len(names) == 0 {
			t.Fatalf("no fixtures in %s: %v", filepath.Join(dir, sub), err)
		}
		for _, name := range names {
			secrets = append(secrets, listed[sub+"/"+filepath.Base(name)]...)
			f, err := os.Open(name)
			if err != nil {
				t.Fatal(err)
			}
			kind := vpndiag.EvidenceConfig
			if sub == "logs" {
				kind = vpndiag.EvidenceLog
			}
			before := red.Count()
			var redacted bytes.Buffer
			if _, err := red.Copy(&redacted, f); err != nil {
				t.Fatal(err)
			}
			f.Close()
			e := &vpndiag.Evidence{CaseID: c.ID, Name: filepath.Base(name), Kind: kind, MediaType: "text/plain",
				Redactions: red.Count() - before, UploadedBy: "U024BE7LH"}
			if err := es.CreateEvidence(ctx, e, &redacted); err != nil {
				t.Fatal(err)
			}
			uploaded++
			// A finding that quotes a redacted line, as analysers do.
			for i, line := range strings.Split(redacted.String(), "\n") {
				if strings.Contains(line, "<redacted:") {
					if err := fs.CreateFindings(ctx, c.ID, []*vpndiag.Finding{{Code: "no-psk", Severity: vpndiag.SeverityInfo,
						Summary: "A pre-shared key is configured", Source: "test",
						Evidence: []vpndiag.EvidenceRef{{EvidenceID: e.ID, Name: e.Name, Line: i + 1, Text: line}}}}); err != nil {
						t.Fatal(err)
					}
					break
				}
			}
		}
	}
	// Values the redactor replaced; a short one (a pfSense PSK "1234") only
	// as a whole word, since "vpn-12345678" elsewhere is not that secret.
	var words []*regexp.Regexp
	for _, s := range red.Secrets() {
		switch {
		case len(s.Value) >= 8:
			secrets = append(secrets, s.Value)
		case len(s.Value) >= 3 && strings.Trim(s.Value, "abcdefghijklmnopqrstuvwxyz") != "":
			// (a short all-lower-case word such as "and" is a redactor's
			// false positive, not a secret to look for in prose)
			words = append(words, regexp.MustCompile(`(^|[^A-Za-z0-9])`+regexp.QuoteMeta(s.Value)+`($|[^A-Za-z0-9])`))
		}
	}
	if len(secrets) < 20 {
		t.Fatalf("only %d secrets to look for", len(secrets))
	}
	data := MustExport(t, NewExporter(db), marker)
	files, order := unzip(t, data)
	if len(order) < uploaded+5 {
		t.Fatalf("bundle has %d files for %d uploads", len(order), uploaded)
	}
	leaks := 0
	for _, s := range secrets {
		for name, b := range files {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("secret %q appears in %s", s, name)
				leaks++
			}
		}
		if bytes.Contains(data, []byte(s)) {
			t.Errorf("secret %q appears in the archive's raw bytes", s)
		}
	}
	for _, re := range words {
		for name, b := range files {
			if re.Match(b) {
				t.Errorf("secret %s appears in %s", re, name)
				leaks++
			}
		}
	}
	t.Logf("%d uploads, %d secrets looked for in %d files: %d leaks", uploaded, len(secrets)+len(words), len(files), leaks)
}
