package procmem_test

import (
	"os"
	"os/exec"
	"runtime"
	"testing"

	"github.com/vpndiag/vpndiag/internal/procmem"
)

func TestOf(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc on this system:", err)
	}
	self, err := procmem.Of(0)
	if err != nil {
		t.Fatal(err)
	}
	// Touch 32 MiB so that the peak is at least that.
	buf := make([]byte, 32<<20)
	for i := range buf {
		buf[i] = byte(i)
	}
	after, err := procmem.Of(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if self.RSS <= 0 || after.Peak < self.Peak || after.Peak < 32<<20 || after.RSS > after.Peak {
		t.Errorf("before %+v, after touching 32 MiB %+v", self, after)
	}
	runtime.KeepAlive(buf)

	cmd := exec.Command("sleep", "5")
	if err := cmd.Start(); err != nil {
		t.Skip("cannot start sleep:", err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	if child, err := procmem.Of(cmd.Process.Pid); err != nil || child.RSS <= 0 || child.Peak < child.RSS {
		t.Errorf("child: %+v, %v", child, err)
	}
	if _, err := procmem.Of(-1); err == nil {
		t.Error("a process that cannot exist: no error")
	}
}
