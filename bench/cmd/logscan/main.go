// Command logscan runs the log analyser (evidence/logs) on a file, streaming,
// and prints what it counted and every finding it reports, one per line. It
// is what bench/run times when `vpndiag analyze` cannot analyse a log.
//
//	go run ./bench/cmd/logscan /tmp/vpn.log
package main

import (
	"context"
	"fmt"
	"os"

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
	fmt.Printf("bytes %d lines %d matched %d family %s findings %d\n", res.Bytes, res.Lines, res.Matched, res.Family, len(res.Findings))
	for _, fd := range res.Findings {
		fmt.Printf("finding %s %s: %s\n", fd.Severity, fd.Code, fd.Summary)
	}
}
