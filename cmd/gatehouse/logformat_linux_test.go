package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// openPTY opens a pseudo-terminal pair: the controlling side and the
// terminal a process writes to.
func openPTY(t *testing.T) (ptm, pts *os.File) {
	t.Helper()
	ptm, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	var unlock int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, ptm.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		t.Fatalf("unlock pty: %v", e)
	}
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, ptm.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		t.Fatalf("pty number: %v", e)
	}
	pts, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	return ptm, pts
}

// TestServeLogsTextToATerminalAndJSONToAPipe runs the binary with its
// standard error on a real terminal, then on a pipe. It fails before the
// database (none answers), after logging a warning.
func TestServeLogsTextToATerminalAndJSONToAPipe(t *testing.T) {
	args := []string{"serve", "--no-edge", "--migrate=false", "--database-url", "postgres://127.0.0.1:1/none?connect_timeout=2"}
	env := append(os.Environ(), "GATEHOUSE_MASTER_KEY=", "GATEHOUSE_LOG_FORMAT=", "GATEHOUSE_CONFIG=")

	ptm, pts := openPTY(t)
	defer ptm.Close()
	cmd := exec.Command(buildCLI(t), args...)
	cmd.Env = env
	cmd.Stderr = pts
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pts.Close()
	var term bytes.Buffer
	read := make(chan struct{})
	go func() { _, _ = io.Copy(&term, ptm); close(read) }() // ends with EIO once the process exits
	_ = cmd.Wait()
	select {
	case <-read:
	case <-time.After(10 * time.Second):
		t.Fatal("terminal output did not end")
	}
	if !strings.Contains(term.String(), `level=WARN msg="no master key`) {
		t.Errorf("on a terminal: %q, want text", term.String())
	}

	cmd = exec.Command(buildCLI(t), args...)
	cmd.Env = env
	var pipe bytes.Buffer
	cmd.Stderr = &pipe
	_ = cmd.Run()
	if !strings.Contains(pipe.String(), `"level":"WARN","msg":"no master key`) {
		t.Errorf("on a pipe: %q, want json", pipe.String())
	}
}
