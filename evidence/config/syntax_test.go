package config_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vpndiag/vpndiag/evidence/config"
)

var updateSyntax = flag.Bool("update", false, "rewrite the golden files in testdata/syntax")

// TestVendorSyntax reads small configurations written in each vendor's
// documented syntax (testdata/syntax/*, our own files) and compares the
// normalised model with NAME.golden: the format is detected, not given.
func TestVendorSyntax(t *testing.T) {
	files, err := filepath.Glob("testdata/syntax/*")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range files {
		if strings.HasSuffix(f, ".golden") {
			continue
		}
		n++
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			cs := config.Detect(string(b))
			if len(cs) == 0 {
				t.Fatal("format not detected")
			}
			c, err := config.Parse(cs[0].Format, string(b))
			if err != nil {
				t.Fatal(err)
			}
			got := c.Summary()
			for _, tun := range c.Tunnels {
				got += fmt.Sprintf("local of %q: %s\n", tun.Name, tun.Local)
			}
			golden := strings.TrimSuffix(f, filepath.Ext(f)) + ".golden"
			if *updateSyntax {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -run TestVendorSyntax -update)", err)
			}
			if string(want) != got {
				t.Errorf("model differs from %s (run go test -run TestVendorSyntax -update and review the diff):\n%s", golden, got)
			}
		})
	}
	if n == 0 {
		t.Fatal("no files in testdata/syntax")
	}
}
