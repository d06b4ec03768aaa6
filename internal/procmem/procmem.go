// Package procmem reads a Linux process's resident memory from
// /proc/PID/status, for the benchmarks and tests that measure it.
package procmem

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
)

// Usage is a process's resident memory in bytes.
type Usage struct {
	// RSS is the resident set now (VmRSS).
	RSS int64
	// Peak is the largest resident set so far (VmHWM).
	Peak int64
}

// Of returns the resident memory of process pid; 0 means this process.
func Of(pid int) (Usage, error) {
	name := "/proc/self/status"
	if pid != 0 {
		name = fmt.Sprintf("/proc/%d/status", pid)
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return Usage{}, fmt.Errorf("procmem: %w", err)
	}
	var u Usage
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := bytes.Fields(sc.Bytes())
		if len(f) < 2 {
			continue
		}
		var dst *int64
		switch string(f[0]) {
		case "VmRSS:":
			dst = &u.RSS
		case "VmHWM:":
			dst = &u.Peak
		default:
			continue
		}
		kb, err := strconv.ParseInt(string(f[1]), 10, 64)
		if err != nil {
			return Usage{}, fmt.Errorf("procmem: %s %q: %w", f[0], f[1], err)
		}
		*dst = kb << 10
	}
	if u.RSS == 0 && u.Peak == 0 {
		return Usage{}, fmt.Errorf("procmem: no VmRSS or VmHWM in %s", name)
	}
	return u, nil
}
