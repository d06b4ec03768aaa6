package hardening_test

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vpndiag/vpndiag/bot/slack/slackfake"
	"github.com/vpndiag/vpndiag/internal/fixtures"
)

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

// planted is what the adversarial review planted, one file per family:
// name, content and the secrets in both.
type planted struct {
	name, content string
	secrets       []string
}

// plantedFiles are the spellings that once escaped redaction, the secret
// in a file name and a line longer than the redactor's 64 KiB pieces.
func plantedFiles() []planted {
	long := `{"comment":"` + strings.Repeat("x", 65500) + `","PreSharedKey":"Pl4ntLongLine.77"}`
	return []planted{
		{"aws-vpn-0abc.xml", "<vpn_connection id=\"vpn-0abc\">\n  <ike><pre_shared_key>Pl4ntAwsXml.01</pre_shared_key></ike>\n  <ike><pre_shared_key><![CDATA[Pl4ntCdata.02]]></pre_shared_key></ike>\n</vpn_connection>\n", []string{"Pl4ntAwsXml.01", "Pl4ntCdata.02"}},
		{"describe-vpn-connections.json", `{"VpnConnections":[{"Options":{"TunnelOptions":[{"OutsideIpAddress":"52.1.2.3","PreSharedKey":"Pl4ntAwsCli.03"}]}}]}` + "\n", []string{"Pl4ntAwsCli.03"}},
		{"main.tf", "resource \"aws_vpn_connection\" \"c\" {\n  tunnel1_preshared_key = \"Pl4ntTf1.04\"\n  tunnel2_preshared_key = \"Pl4ntTf2.05\"\n}\nresource \"google_compute_vpn_tunnel\" \"t\" {\n  shared_secret = \"Pl4ntGcp.06\"\n}\nresource \"azurerm_virtual_network_gateway_connection\" \"c\" {\n  shared_key = \"Pl4ntAzure.07\"\n}\n", []string{"Pl4ntTf1.04", "Pl4ntTf2.05", "Pl4ntGcp.06", "Pl4ntAzure.07"}},
		{"azuredeploy.json", "{\n  \"properties\": {\n    \"connectionType\": \"IPsec\",\n    \"sharedKey\": \"Pl4ntArm.08\"\n  }\n}\n", []string{"Pl4ntArm.08"}},
		{"vpn.yaml", "tunnels:\n  - name: psk-site\n    psk: Pl4ntYaml.09\n    pre_shared_key: \"Pl4ntYaml.10\"\n    ike_lifetime: 28800\n", []string{"Pl4ntYaml.09", "Pl4ntYaml.10"}},
		{"router.txt", "router bgp 65000\n neighbor 169.254.10.1 password 7 Pl4ntBgp011\nsnmp-server host 10.1.1.5 version 2c Pl4ntSnmp12\ninterface Gi0/0\n ip ospf message-digest-key 1 md5 Pl4ntOspf.13\n ppp chap password 7 Pl4ntChap.14\nenable secret 9 $9$Pl4ntEnable15$X.HsgL6x1il0RxkOSSvyQYwucySCt7q\n", []string{"Pl4ntBgp011", "Pl4ntSnmp12", "Pl4ntOspf.13", "Pl4ntChap.14", "Pl4ntEnable15"}},
		{"panos.xml", "<config><mgt-config><users><entry name=\"admin\"><phash>$1$Pl4ntPhash16$abcdefghij</phash></entry></users></mgt-config>\n<password><![CDATA[Pl4ntCdataPw.17]]></password></config>\n", []string{"Pl4ntPhash16", "Pl4ntCdataPw.17"}},
		{"ipsec.secrets", "moon.example.net sun.example.net :\n    PSK \"Pl4ntContinued.18\"\n", []string{"Pl4ntContinued.18"}},
		{"swanctl.conf", "secrets {\n  ike-1 {\n    secret = \"Pl4ntFirst.19\nPl4ntSecond.20\"\n  }\n}\n", []string{"Pl4ntFirst.19", "Pl4ntSecond.20"}},
		{"charon-debug.log", "Dec  3 10:00:00 moon charon: 11[IKE] PSK => 16 bytes @ 0x7f00\nDec  3 10:00:00 moon charon: 11[IKE]    0: 50 6C 34 6E 74 48 65 78 44 75 6D 70 2E 32 31 21  Pl4ntHexDump.21!\nDec  3 10:00:00 moon charon: 11[IKE] Sk_ei secret => 8 bytes @ 0x7f01\nDec  3 10:00:00 moon charon: 11[IKE]    0: DE AD BE EF 22 33 44 55                          ....\\\"3DU\n", []string{"Pl4ntHexDump.21", "50 6C 34 6E 74 48 65 78", "DE AD BE EF 22 33 44 55"}},
		{"vpn-psk-Pl4ntFileName22.conf", "conn psk-site\n  authby=secret\n  ikelifetime=28800s\n", []string{"Pl4ntFileName22"}},
		{"long-line.json", long + "\n", []string{"Pl4ntLongLine.77"}},
	}
}

// realWorld returns the real-world fixtures and the secrets of each
// (../shared/fixtures/real-world/secrets.txt).
func realWorld(t *testing.T) ([]string, map[string][]string) {
	t.Helper()
	dir, secrets := fixtures.RealWorld(t)
	files, _ := filepath.Glob(filepath.Join(dir, "*", "*"))
	if len(files) < 50 {
		t.Fatalf("real-world fixtures under %s: %d files", dir, len(files))
	}
	return files, secrets
}

// TestSecrets shares every VPN fixture (configs and logs), every real-world
// fixture and the planted spellings in a case thread through serve, exports
// the bundle, and scans the database file, its WAL and the bundle (raw and
// every entry decompressed) for every secret, and the bundle for the
// SHA-256 of every upload (which would let anyone test guesses offline).
func TestSecrets(t *testing.T) {
	var files []string
	for _, sub := range []string{"configs", "logs"} {
		names, _ := filepath.Glob(filepath.Join(fixtures.Dir(t, "vpn"), sub, "*.txt"))
		files = append(files, names...)
	}
	if len(files) < 20 {
		t.Fatalf("only %d fixtures found under %s", len(files), fixtures.Dir(t, "vpn"))
	}
	secrets := secretsOf(t, files)
	type upload struct {
		name    string
		content []byte
	}
	var uploads []upload
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		uploads = append(uploads, upload{filepath.Base(name), b})
	}
	// Real-world fixtures: secrets of 8 characters or more are searched
	// everywhere; shorter ones ("1234", "public") as whole words in the
	// file's own entry of the bundle, where they would be.
	rwFiles, rwSecrets := realWorld(t)
	short := map[string][]string{}
	for _, name := range rwFiles {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		base := filepath.Base(name)
		if bytes.IndexByte(b, 0) >= 0 {
			continue // UTF-16: the bot refuses it as binary, so stores nothing
		}
		uploads = append(uploads, upload{base, b})
		for _, s := range rwSecrets[base] {
			if len(s) >= 8 {
				secrets = append(secrets, s)
			} else {
				short[base] = append(short[base], s)
			}
		}
	}
	nPlanted := 0
	for _, p := range plantedFiles() {
		uploads = append(uploads, upload{p.name, []byte(p.content)})
		secrets = append(secrets, p.secrets...)
		nPlanted += len(p.secrets)
	}
	var uploadSums []string
	for _, u := range uploads {
		sum := sha256.Sum256(u.content)
		uploadSums = append(uploadSums, hex.EncodeToString(sum[:]))
	}
	fake := slackfake.New(t)
	srv := MustServe(t, fake, "", "")
	sl := NewSlack(t, fake, func() string { return srv.Addr })
	ctx := context.Background()
	startCase(t, sl, srv, "U1", "C1")
	root := sl.Root("C1")
	db := MustOpenDB(t, srv.DB)
	for i, u := range uploads {
		id := fmt.Sprintf("FS%04d", i)
		fake.AddFile(id, u.name, "text/plain", u.content, map[string]string{"C1": root})
		// Slack retries an event the app answers 503 (busy) to; so does this.
		r := Post(ctx, srv.Addr, "/slack/events", fileEvent(1000+i, "U1", "C1", root, id), "application/json")
		for try := 0; r.Status == 503 && try < 300; try++ {
			time.Sleep(100 * time.Millisecond)
			r = Post(ctx, srv.Addr, "/slack/events", fileEvent(1000+i, "U1", "C1", root, id), "application/json")
		}
		if !r.Acked() {
			t.Fatalf("file event %s: %+v", u.name, r)
		}
	}
	fake.WaitFor(t, 90*time.Second, "every upload stored", func() bool {
		return Count(t, db, "SELECT COUNT(*) FROM evidence") >= len(uploads)
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
	for name, ss := range short {
		b, ok := scan["bundle:evidence/"+name]
		if !ok {
			t.Errorf("%s is not in the bundle", name)
			continue
		}
		for _, s := range ss {
			if regexp.MustCompile(`(^|[^A-Za-z0-9])` + regexp.QuoteMeta(s) + `($|[^A-Za-z0-9])`).Match(b) {
				found++
				t.Errorf("secret %q is in bundle:evidence/%s", s, name)
			}
		}
	}
	// The bundle describes the redacted files only: no checksum of an
	// upload as it was sent, unless redaction left it unchanged (then it is
	// the checksum of a file in the bundle).
	shipped := map[string]bool{}
	for where, b := range scan {
		if strings.HasPrefix(where, "bundle:") {
			sum := sha256.Sum256(b)
			shipped[hex.EncodeToString(sum[:])] = true
		}
	}
	hashes := 0
	for where, b := range scan {
		if !strings.HasPrefix(where, "bundle") {
			continue
		}
		for _, h := range uploadSums {
			if !shipped[h] && bytes.Contains(b, []byte(h)) {
				hashes++
				t.Errorf("the SHA-256 of an unredacted upload is in %s", where)
			}
		}
	}
	t.Logf("secrets: %d uploads shared through serve (%d VPN fixtures, %d real-world, %d planted; %d evidence rows), %d secrets (%d planted, tables, PEM lines) searched in %d places (%.1f MiB: database, WAL, bundle and its %d files): %d found; upload SHA-256s in the bundle: %d",
		len(uploads), len(files), len(rwFiles), len(plantedFiles()), Count(t, db, "SELECT COUNT(*) FROM evidence"), len(secrets), nPlanted, len(scan), float64(bytesScanned)/(1<<20), len(zr.File), found, hashes)
}
