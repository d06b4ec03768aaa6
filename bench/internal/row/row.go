// Package row formats the result rows the bench programs print, so that
// bench/run can gather them into one table: one line per figure,
//
//	ROW|figure|vpndiag|baseline|ratio|goal|verdict
//
// where vpndiag and baseline are absolute numbers for people, ratio is
// vpndiag over the baseline as the figure defines it, and verdict is "met",
// "NOT met" or "n/a".
package row

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Row is one line of the results table.
type Row struct {
	// Figure names what was measured, e.g. "ack p99, slash command, 500 req/s".
	Figure string
	// Subject and Baseline are the absolute figures, e.g. "p99 1.2 ms".
	Subject, Baseline string
	// Ratio is Subject over Baseline as the figure defines it, e.g. "2.1×".
	Ratio string
	// Goal is the goal in words, e.g. "≤ 3× and ≤ 10 ms".
	Goal string
	// Met is whether the goal was met; nil when it does not apply.
	Met *bool
}

// Print writes r as a ROW line.
func (r Row) Print(w io.Writer) {
	verdict := "n/a"
	if r.Met != nil {
		verdict = "NOT met"
		if *r.Met {
			verdict = "met"
		}
	}
	clean := func(s string) string { return strings.NewReplacer("|", "/", "\n", " ").Replace(s) }
	fmt.Fprintf(w, "ROW|%s|%s|%s|%s|%s|%s\n", clean(r.Figure), clean(r.Subject), clean(r.Baseline), clean(r.Ratio), clean(r.Goal), verdict)
}

// Bool returns a pointer to v, for Row.Met.
func Bool(v bool) *bool { return &v }

// Ms formats a duration in milliseconds with two decimals.
func Ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

// Ratio formats a/b as "1.23×", or "–" when b is zero.
func Ratio(a, b float64) string {
	if b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

// MiB formats bytes as MiB with one decimal.
func MiB[T int64 | uint64](n T) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
