package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// gatehousePackage is what buildGatehouse builds.
const gatehousePackage = "github.com/gatehouse-dev/gatehouse/cmd/gatehouse"

// buildGatehouse builds the gatehouse command into dir and returns its
// path.
func buildGatehouse(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "gatehouse")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, gatehousePackage)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", gatehousePackage, err, out)
	}
	return bin, nil
}

// supportsFlag reports whether `gatehouse edge` has the flag, from its help.
func supportsFlag(bin, flag string) bool {
	out, _ := exec.Command(bin, "edge", "--help").CombinedOutput()
	return bytes.Contains(out, []byte("--"+flag+" "))
}

// edgeProcess is a `gatehouse edge` running as a process of its own, so
// that its CPU time and memory are its own.
type edgeProcess struct {
	cmd     *exec.Cmd
	addr    string // host:port it serves on
	logPath string
	exited  chan struct{}
	exitErr error
}

// edgeOptions is how to start an edge.
type edgeOptions struct {
	bin         string
	databaseURL string
	masterKey   string
	stateDir    string // "" when the edge has no --state-dir
	logPath     string
}

// startEdgeProcess starts `gatehouse edge` on a free loopback port; it
// returns at once, before the edge serves.
func startEdgeProcess(o edgeOptions) (*edgeProcess, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	args := []string{"edge", "--edge-addr", addr, "--log-format", "text", "--reload-interval", reloadInterval.String()}
	if o.stateDir != "" {
		args = append(args, "--state-dir", o.stateDir)
	}
	logFile, err := os.OpenFile(o.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	fmt.Fprintf(logFile, "--- edgebench: %s %s\n", time.Now().UTC().Format(time.RFC3339Nano), strings.Join(args, " "))
	cmd := exec.Command(o.bin, args...)
	// Only the settings above: none of this shell's GATEHOUSE_ variables.
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GATEHOUSE_") && !strings.HasPrefix(kv, "DATABASE_URL=") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "DATABASE_URL="+o.databaseURL, "GATEHOUSE_MASTER_KEY="+o.masterKey)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start edge: %w", err)
	}
	p := &edgeProcess{cmd: cmd, addr: addr, logPath: o.logPath, exited: make(chan struct{})}
	go func() {
		p.exitErr = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// freeAddr returns a loopback address no one listens on now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func (p *edgeProcess) url() string { return "http://" + p.addr }
func (p *edgeProcess) pid() int    { return p.cmd.Process.Pid }

// stop asks the edge to shut down and waits for it, killing it after a
// while.
func (p *edgeProcess) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// logTail is the end of the edge's log, for error messages.
func (p *edgeProcess) logTail() string {
	b, _ := os.ReadFile(p.logPath)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// exitedErr is why the edge exited, or nil while it runs.
func (p *edgeProcess) exitedErr() error {
	select {
	case <-p.exited:
		if p.exitErr == nil {
			return errors.New("edge exited")
		}
		return fmt.Errorf("edge exited: %w", p.exitErr)
	default:
		return nil
	}
}

// cpuTime is the process's CPU time so far, user and system, from
// /proc/<pid>/stat (Linux).
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The fields after the command name, which may hold spaces: state is
	// field 3, utime 14 and stime 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("malformed /proc stat")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	// USER_HZ is 100 on every Linux architecture Go supports.
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}

// rss is the process's resident set size in bytes, from
// /proc/<pid>/status (Linux).
func rss(pid int) (int64, error) { return procStatusBytes(pid, "VmRSS") }

// peakRSS is the process's peak resident set size over its life so far
// (VmHWM), in bytes.
func peakRSS(pid int) (int64, error) { return procStatusBytes(pid, "VmHWM") }

// procStatusBytes reads a field in kB of /proc/<pid>/status (Linux).
func procStatusBytes(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc status", field)
}

// rssSampler polls a process's RSS every few milliseconds and keeps the
// peak since the last reset.
type rssSampler struct {
	pid  int
	mu   sync.Mutex
	peak int64
	last int64
	err  error
	stop chan struct{}
	done chan struct{}
}

const rssEvery = 3 * time.Millisecond

func startRSSSampler(pid int) *rssSampler {
	s := &rssSampler{pid: pid, stop: make(chan struct{}), done: make(chan struct{})}
	s.sample()
	go func() {
		defer close(s.done)
		t := time.NewTicker(rssEvery)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				s.sample()
			}
		}
	}()
	return s
}

func (s *rssSampler) sample() {
	v, err := rss(s.pid)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		if s.err == nil {
			s.err = err
		}
		return
	}
	s.last = v
	s.peak = max(s.peak, v)
}

// reset starts a new peak from the current RSS, which it returns.
func (s *rssSampler) reset() int64 {
	s.sample()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.peak = s.last
	return s.last
}

// peakSinceReset is the highest RSS seen since the last reset.
func (s *rssSampler) peakSinceReset() int64 {
	s.sample()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak
}

func (s *rssSampler) close() {
	close(s.stop)
	<-s.done
}

// quietWindow and quietCPU define a quiet edge: one that used at most
// quietCPU of CPU time in the last quietWindow (two clock ticks: its
// periodic checks, not a state write or a reload).
const (
	quietWindow = 250 * time.Millisecond
	quietCPU    = 20 * time.Millisecond
)

// waitQuiet waits until the process is quiet, so that work it does on
// its own (writing its state after a start, a garbage collection) does
// not count in the next measurement. It gives up after timeout.
func waitQuiet(ctx context.Context, pid int, timeout time.Duration) (time.Duration, error) {
	t0 := time.Now()
	prev, err := cpuTime(pid)
	if err != nil {
		return 0, err
	}
	for {
		sleepUntil(ctx, time.Now().Add(quietWindow))
		if err := ctx.Err(); err != nil {
			return time.Since(t0), err
		}
		cur, err := cpuTime(pid)
		if err != nil {
			return time.Since(t0), err
		}
		if cur-prev <= quietCPU {
			return time.Since(t0), nil
		}
		if time.Since(t0) > timeout {
			return time.Since(t0), fmt.Errorf("the edge is still busy after %v (%v of CPU in the last %v)", timeout, cur-prev, quietWindow)
		}
		prev = cur
	}
}
