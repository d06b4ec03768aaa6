// Command logscan runs the log analyser (evidence/logs) on a file, streaming,
// and prints what it counted and every finding it reports, in the shape of
// `vpndiag analyze`'s text output. It
// is what bench/run times when `vpndiag analyze` cannot analyse a log.
//
//	go run ./bench/cmd/logscan /tmp/vpn.log
package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/vpndiag/vpndiag/evidence/logs"
)

func main() {
	if len(os.Args) != 2 || os.Args[1] == "-h" || os.Args[1] == "--help" {
		fmt.Fprintln(os.Stderr, "usage: logscan FILE")
		os.Exit(2)
	}
	f, err := os.Open(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "logscan:", err)
		os.Exit(1)
	}
	defer f.Close()
	res, err := logs.Analyze(context.Background(), f.Name(), f)
	if err != nil {
		fmt.Fprintln(os.Stderr, "logscan:", err)
		os.Exit(1)
	}
	// The shape of `vpndiag analyze`'s text output, which bench/run reads.
	fmt.Printf("%s: %s log, %d bytes, %d lines, %d examined\n", f.Name(), res.Family, res.Bytes, res.Lines, res.Matched)
	for _, fd := range res.Findings {
		fmt.Printf("[%s] %s\n  %s\n", strings.ToUpper(string(fd.Severity)), fd.Code, fd.Summary)
	}
}
