// Command genlog writes a synthetic strongSwan log for benchmarking the log
// analyser, and prints the grep -E pattern of the analyser's keywords.
//
//	go run ./evidence/logs/cmd/genlog -size 100MB -o /tmp/vpn.log
//	time grep -cE "$(go run ./evidence/logs/cmd/genlog -pattern)" /tmp/vpn.log
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/vpndiag/vpndiag/evidence/logs"
)

func main() {
	size := flag.String("size", "100MB", "size of the log (e.g. 100MB, 1GB)")
	out := flag.String("o", "", "output file (required unless -pattern)")
	seed := flag.Int64("seed", 1, "random seed")
	pattern := flag.Bool("pattern", false, "print the grep -E pattern of the analyser's keywords and exit")
	flag.Parse()
	if *pattern {
		fmt.Println(logs.GrepPattern())
		return
	}
	n, err := parseSize(*size)
	if err != nil || *out == "" {
		fmt.Fprintln(os.Stderr, "usage: genlog -size 100MB -o FILE | genlog -pattern")
		os.Exit(2)
	}
	f, err := os.Create(*out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "genlog:", err)
		os.Exit(1)
	}
	if err := logs.Generate(f, n, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "genlog:", err)
		os.Exit(1)
	}
	if err := f.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "genlog:", err)
		os.Exit(1)
	}
}

func parseSize(s string) (int64, error) {
	mult := int64(1)
	u := strings.ToUpper(s)
	switch {
	case strings.HasSuffix(u, "GB"):
		mult, u = 1<<30, strings.TrimSuffix(u, "GB")
	case strings.HasSuffix(u, "MB"):
		mult, u = 1<<20, strings.TrimSuffix(u, "MB")
	case strings.HasSuffix(u, "KB"):
		mult, u = 1<<10, strings.TrimSuffix(u, "KB")
	}
	n, err := strconv.ParseInt(u, 10, 64)
	return n * mult, err
}
