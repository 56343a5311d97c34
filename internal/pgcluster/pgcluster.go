// Package pgcluster starts and stops local PostgreSQL clusters from the
// installed server binaries: a throwaway one for a test run, or a persistent
// one kept in a project directory for development. A cluster listens only on
// 127.0.0.1, trusts every connection and trades durability for speed.
package pgcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

const (
	logFileName   = "postgres.log"
	readyTimeout  = 30 * time.Second
	stopTimeout   = 60 * time.Second
	startAttempts = 3
	debianLibDir  = "/usr/lib/postgresql"
)

// Cluster is a PostgreSQL server started by this process.
type Cluster struct {
	// Dir is the data directory.
	Dir string
	// Port is the TCP port the server listens on, on 127.0.0.1 only.
	Port int
	// LogFile is the server's log, inside Dir.
	LogFile string

	proc     *os.Process
	exited   chan struct{} // closed when the postmaster has exited
	waitErr  error         // the postmaster's exit status, set before exited is closed
	tempRoot string        // removed by Stop when not empty
	stopOnce sync.Once
	stopErr  error
}

// URL returns the connection URL of database dbname as the postgres
// superuser.
func (c *Cluster) URL(dbname string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.Port, url.PathEscape(dbname))
}

// BinDir returns the directory holding the PostgreSQL server binaries
// (initdb, pg_ctl, postgres): $PG_BIN if set, else the newest version under
// /usr/lib/postgresql, else what `pg_config --bindir` reports.
func BinDir() (string, error) {
	if dir := os.Getenv("PG_BIN"); dir != "" {
		if err := checkServerBinaries(dir); err != nil {
			return "", fmt.Errorf("pgcluster: PG_BIN=%s: %w", dir, err)
		}
		return dir, nil
	}
	if dir := newestDebianBinDir(); dir != "" {
		return dir, nil
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		dir := strings.TrimSpace(string(out))
		if checkServerBinaries(dir) == nil {
			return dir, nil
		}
	}
	return "", errors.New("pgcluster: no PostgreSQL server binaries (initdb, pg_ctl, postgres) in $PG_BIN, " +
		debianLibDir + "/*/bin or `pg_config --bindir`; install them with `apt-get install postgresql` " +
		"or set PG_BIN to their directory")
}

func checkServerBinaries(dir string) error {
	for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			return fmt.Errorf("no %s: %w", name, err)
		}
		if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			return fmt.Errorf("%s is not an executable file", filepath.Join(dir, name))
		}
	}
	return nil
}

// newestDebianBinDir returns the bin directory of the highest PostgreSQL
// version installed the Debian way, or "" if there is none.
func newestDebianBinDir() string {
	entries, err := os.ReadDir(debianLibDir)
	if err != nil {
		return ""
	}
	var best string
	var bestVersion []int
	for _, e := range entries {
		version, ok := parseVersion(e.Name())
		if !ok {
			continue
		}
		dir := filepath.Join(debianLibDir, e.Name(), "bin")
		if checkServerBinaries(dir) != nil {
			continue
		}
		if best == "" || slices.Compare(version, bestVersion) > 0 {
			best, bestVersion = dir, version
		}
	}
	return best
}

// parseVersion parses a directory name such as "15" or "9.6".
func parseVersion(s string) ([]int, bool) {
	var version []int
	for part := range strings.SplitSeq(s, ".") {
		n, err := strconv.Atoi(part)
		if err != nil || n < 0 {
			return nil, false
		}
		version = append(version, n)
	}
	return version, true
}

// StartTemp starts a cluster in a new temporary directory, which Stop
// removes.
func StartTemp(ctx context.Context, logw io.Writer) (*Cluster, error) {
	root, err := os.MkdirTemp("", "pgcluster-")
	if err != nil {
		return nil, fmt.Errorf("pgcluster: create temporary directory: %w", err)
	}
	// The server may run as another user (see Start), who must be able to
	// enter the directory.
	if err := os.Chmod(root, 0o755); err != nil {
		_ = os.RemoveAll(root)
		return nil, fmt.Errorf("pgcluster: make %s accessible: %w", root, err)
	}
	c, err := Start(ctx, filepath.Join(root, "data"), logw)
	if err != nil {
		_ = os.RemoveAll(root)
		return nil, err
	}
	c.tempRoot = root
	return c, nil
}

// Start starts a server on data directory dir, creating and initialising
// the directory first if it holds no cluster yet. The server listens on a
// free port of 127.0.0.1 and logs to LogFile; Start returns once it accepts
// connections. Progress messages go to logw, which may be nil.
//
// PostgreSQL refuses to run as root, so when this process is root the server
// runs as the postgres system user, who is given the data directory.
func Start(ctx context.Context, dir string, logw io.Writer) (*Cluster, error) {
	if logw == nil {
		logw = io.Discard
	}
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return nil, fmt.Errorf("pgcluster: data directory: %w", err)
	}
	owner, err := serverAccount()
	if err != nil {
		return nil, err
	}
	if err := prepareDataDir(dir, owner); err != nil {
		return nil, err
	}
	_, err = os.Stat(filepath.Join(dir, "PG_VERSION"))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := initdb(ctx, bin, dir, owner, logw); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, fmt.Errorf("pgcluster: data directory %s: %w", dir, err)
	}
	if err := clearStaleLock(ctx, dir, logw); err != nil {
		return nil, err
	}

	for attempt := 1; ; attempt++ {
		c, retry, err := startServer(ctx, bin, dir, owner)
		if err == nil {
			version, _ := os.ReadFile(filepath.Join(dir, "PG_VERSION"))
			fmt.Fprintf(logw, "pgcluster: PostgreSQL %s ready on 127.0.0.1:%d (data %s)\n",
				strings.TrimSpace(string(version)), c.Port, dir)
			return c, nil
		}
		if !retry || attempt == startAttempts {
			return nil, err
		}
		fmt.Fprintf(logw, "pgcluster: retrying: %v\n", err)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("pgcluster: start postgres on %s: %w", dir, ctx.Err())
		case <-time.After(time.Duration(attempt) * 500 * time.Millisecond):
		}
	}
}

// account is the system user the server runs as. A nil *account means the
// user running this process.
type account struct {
	name   string
	uid    uint32
	gid    uint32
	groups []uint32
}

// serverAccount returns the postgres system user when this process runs as
// root, and nil otherwise.
func serverAccount() (*account, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("pgcluster: running as root, which PostgreSQL refuses, and there is no postgres user "+
			"to run the server as (install the postgresql package or `useradd --system postgres`): %w", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("pgcluster: user postgres: uid %q: %w", u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("pgcluster: user postgres: gid %q: %w", u.Gid, err)
	}
	a := &account{name: u.Username, uid: uint32(uid), gid: uint32(gid), groups: []uint32{uint32(gid)}}
	gids, err := u.GroupIds()
	if err != nil {
		return nil, fmt.Errorf("pgcluster: user postgres: groups: %w", err)
	}
	for _, g := range gids {
		if n, err := strconv.ParseUint(g, 10, 32); err == nil && !slices.Contains(a.groups, uint32(n)) {
			a.groups = append(a.groups, uint32(n))
		}
	}
	return a, nil
}

func (a *account) sysProcAttr() *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{}
	if a != nil {
		attr.Credential = &syscall.Credential{Uid: a.uid, Gid: a.gid, Groups: a.groups}
	}
	return attr
}

// checkReachable returns an error if a cannot enter every existing directory
// above dir; initdb and postgres would otherwise fail with obscure messages.
func (a *account) checkReachable(dir string) error {
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		switch {
		case err == nil && !a.canSearch(fi):
			return fmt.Errorf("pgcluster: data directory %s is inside %s (mode %04o), which user %s cannot enter; "+
				"use a directory outside it or allow access with `chmod o+x %s`", dir, p, fi.Mode().Perm(), a.name, p)
		case err != nil && !errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("pgcluster: data directory %s: %w", dir, err)
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

func (a *account) canSearch(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return true
	}
	perm := fi.Mode().Perm()
	switch {
	case st.Uid == a.uid:
		return perm&0o100 != 0
	case slices.Contains(a.groups, st.Gid):
		return perm&0o010 != 0
	default:
		return perm&0o001 != 0
	}
}

// prepareDataDir creates dir and its missing parents and, when the server
// runs as another user, hands them to that user.
func prepareDataDir(dir string, owner *account) error {
	if owner != nil {
		if err := owner.checkReachable(dir); err != nil {
			return err
		}
	}
	var created []string
	for p := dir; ; p = filepath.Dir(p) {
		if _, err := os.Stat(p); err == nil {
			break
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("pgcluster: data directory %s: %w", dir, err)
		}
		created = append(created, p)
		if p == filepath.Dir(p) {
			break
		}
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return fmt.Errorf("pgcluster: create parent of data directory: %w", err)
	}
	if len(created) > 0 && created[0] == dir {
		if err := os.Mkdir(dir, 0o700); err != nil {
			return fmt.Errorf("pgcluster: create data directory: %w", err)
		}
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("pgcluster: data directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("pgcluster: data directory %s is not a directory", dir)
	}
	if owner == nil {
		return nil
	}
	for _, p := range created {
		if err := os.Chown(p, int(owner.uid), int(owner.gid)); err != nil {
			return fmt.Errorf("pgcluster: give %s to user %s: %w", p, owner.name, err)
		}
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid != owner.uid {
		err := filepath.WalkDir(dir, func(path string, _ fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(path, int(owner.uid), int(owner.gid))
		})
		if err != nil {
			return fmt.Errorf("pgcluster: give data directory %s to user %s: %w", dir, owner.name, err)
		}
	}
	return nil
}

func initdb(ctx context.Context, bin, dir string, owner *account, logw io.Writer) error {
	fmt.Fprintf(logw, "pgcluster: initialising data directory %s\n", dir)
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "initdb"),
		"-D", dir, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync")
	cmd.Dir = dir
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.SysProcAttr = owner.sysProcAttr()
	// SIGTERM rather than SIGKILL on cancellation lets initdb stop the
	// bootstrap server it runs and clean up after itself.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("pgcluster: initdb %s: %w\n%s", dir, err, lastLines(out.String(), 20))
	}
	return nil
}

// clearStaleLock deals with a postmaster.pid left behind by a server that
// was killed. Postgres itself ignores a lock file whose process is gone, but
// refuses to start when that process id has since been reused, as happens
// after a container restart; such a file is removed here. A server still
// running on dir gets a few seconds to finish shutting down.
func clearStaleLock(ctx context.Context, dir string, logw io.Writer) error {
	lockFile := filepath.Join(dir, "postmaster.pid")
	data, err := os.ReadFile(lockFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("pgcluster: read lock file: %w", err)
	}
	firstLine, _, _ := strings.Cut(string(data), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(firstLine))
	if err != nil || pid <= 0 || pid == os.Getpid() || !processExists(pid) {
		return nil
	}
	deadline := time.Now().Add(10 * time.Second)
	for isServerOn(pid, dir) {
		if time.Now().After(deadline) {
			return fmt.Errorf("pgcluster: a PostgreSQL server (pid %d) is already running on %s; stop it with `pg_ctl -D %s -m fast stop`",
				pid, dir, dir)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("pgcluster: wait for server %d on %s to exit: %w", pid, dir, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
		if !processExists(pid) {
			return nil
		}
	}
	fmt.Fprintf(logw, "pgcluster: removing stale %s (pid %d is now another process)\n", lockFile, pid)
	if err := os.Remove(lockFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("pgcluster: remove stale lock file: %w", err)
	}
	return nil
}

// processExists reports whether pid is a process this one may signal; a
// process of another user cannot be a server this one started, and postgres
// ignores such lock files itself.
func processExists(pid int) bool {
	return syscall.Kill(pid, 0) == nil
}

// isServerOn reports whether pid is a postgres process working in dir. It
// errs on the side of yes where /proc cannot tell.
func isServerOn(pid int, dir string) bool {
	proc := "/proc/" + strconv.Itoa(pid)
	comm, err := os.ReadFile(proc + "/comm")
	if err != nil {
		return true
	}
	if name := strings.TrimSpace(string(comm)); name != "postgres" && name != "postmaster" {
		return false
	}
	cwd, err := os.Readlink(proc + "/cwd")
	if err != nil {
		return true
	}
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real
	}
	return cwd == dir
}

// startServer runs postgres on a free port and waits until it accepts
// connections. retry reports whether the failure may not recur, as when
// another process took the port first.
func startServer(ctx context.Context, bin, dir string, owner *account) (c *Cluster, retry bool, err error) {
	port, err := freePort()
	if err != nil {
		return nil, false, err
	}
	logPath := filepath.Join(dir, logFileName)
	logFile, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, false, fmt.Errorf("pgcluster: open server log: %w", err)
	}
	defer logFile.Close()
	if owner != nil {
		if err := logFile.Chown(int(owner.uid), int(owner.gid)); err != nil {
			return nil, false, fmt.Errorf("pgcluster: give server log to user %s: %w", owner.name, err)
		}
	}
	logStart, err := logFile.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, false, fmt.Errorf("pgcluster: server log: %w", err)
	}

	cmd := exec.Command(filepath.Join(bin, "postgres"),
		"-D", dir,
		"-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1",
		// No Unix socket: its default directory (/var/run/postgresql on
		// Debian) may not be writable, and its path length is limited.
		"-c", "unix_socket_directories=",
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "max_connections=300",
	)
	cmd.Dir = dir
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = owner.sysProcAttr()
	// A process group of its own keeps a terminal's Ctrl-C away from the
	// server, so the program using it can shut down in order first.
	cmd.SysProcAttr.Setpgid = true
	setParentDeathSignal(cmd.SysProcAttr, syscall.SIGINT)

	c = &Cluster{Dir: dir, Port: port, LogFile: logPath, exited: make(chan struct{})}
	if err := c.spawn(cmd); err != nil {
		return nil, false, fmt.Errorf("pgcluster: run postgres: %w", err)
	}
	readyErr := c.waitReady(ctx)
	if readyErr == nil {
		return c, false, nil
	}
	select {
	case <-c.exited:
	default:
		_ = c.proc.Kill()
		<-c.exited
	}
	tail := readLogTail(logPath, logStart)
	retry = strings.Contains(tail, "Address already in use") ||
		strings.Contains(tail, "is still in use") || // shared memory of a killed server's children
		!portFree(port)
	if ctx.Err() != nil {
		retry = false
	}
	return nil, retry, fmt.Errorf("pgcluster: start postgres on %s, port %d: %w; server log %s:\n%s",
		dir, port, readyErr, logPath, tail)
}

// spawn starts cmd and reaps it in the background.
func (c *Cluster) spawn(cmd *exec.Cmd) error {
	started := make(chan error, 1)
	go func() {
		// The parent-death signal fires when the thread that started the
		// child ends, not the process; so this goroutine keeps its thread
		// until the server has exited, and the thread ends with it.
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		c.waitErr = cmd.Wait()
		close(c.exited)
	}()
	if err := <-started; err != nil {
		return err
	}
	c.proc = cmd.Process
	return nil
}

// setParentDeathSignal asks the kernel to send sig to the server if this
// process dies without stopping it, so a killed run leaves no server behind.
// The field exists only on some systems (Linux, FreeBSD); it is set by name
// so that the package still builds elsewhere.
func setParentDeathSignal(attr *syscall.SysProcAttr, sig syscall.Signal) {
	f := reflect.ValueOf(attr).Elem().FieldByName("Pdeathsig")
	if f.IsValid() && f.Type() == reflect.TypeOf(sig) {
		f.Set(reflect.ValueOf(sig))
	}
}

func (c *Cluster) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	var lastErr error
	for {
		attemptCtx, cancelAttempt := context.WithTimeout(ctx, 2*time.Second)
		conn, err := pgx.Connect(attemptCtx, c.URL("postgres"))
		if err == nil {
			_ = conn.Close(attemptCtx)
			cancelAttempt()
			return nil
		}
		cancelAttempt()
		lastErr = err
		select {
		case <-c.exited:
			return fmt.Errorf("postgres exited: %v", c.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("not accepting connections: %w (last attempt: %v)", ctx.Err(), lastErr)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Signal sends sig to the server (the postmaster) and every process it
// started (each runs in a session of its own, so there is no process
// group to signal): SIGSTOP hangs the whole database as a stalled host
// would, SIGCONT resumes it. For fault tests; Linux only (it reads /proc).
func (c *Cluster) Signal(sig syscall.Signal) error {
	pids := []int{c.proc.Pid}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return fmt.Errorf("pgcluster: list processes: %w", err)
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		i := strings.LastIndexByte(string(stat), ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(string(stat[i+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(c.proc.Pid) {
			pids = append(pids, pid)
		}
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("pgcluster: signal %v to postgres process %d (port %d): %w", sig, pid, c.Port, err)
		}
	}
	return nil
}

// Stop shuts the server down the way `pg_ctl -m fast stop` does: open
// transactions are rolled back and clients disconnected. A cluster from
// StartTemp is then deleted. Calling Stop again returns the first result.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() {
		c.stopErr = c.shutdown()
		if c.tempRoot != "" {
			if err := os.RemoveAll(c.tempRoot); err != nil {
				c.stopErr = errors.Join(c.stopErr, fmt.Errorf("pgcluster: remove %s: %w", c.tempRoot, err))
			}
		}
	})
	return c.stopErr
}

func (c *Cluster) shutdown() error {
	select {
	case <-c.exited:
		return fmt.Errorf("pgcluster: postgres on port %d had exited before Stop (%v); see %s", c.Port, c.waitErr, c.LogFile)
	default:
	}
	if err := c.proc.Signal(syscall.SIGINT); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("pgcluster: stop postgres on port %d: %w", c.Port, err)
	}
	select {
	case <-c.exited:
		if c.waitErr != nil {
			return fmt.Errorf("pgcluster: stop postgres on port %d: %w; see %s", c.Port, c.waitErr, c.LogFile)
		}
		return nil
	case <-time.After(stopTimeout):
	}
	// Its children notice the postmaster's death and exit by themselves.
	_ = c.proc.Kill()
	<-c.exited
	return fmt.Errorf("pgcluster: postgres on port %d did not shut down within %v and was killed; see %s",
		c.Port, stopTimeout, c.LogFile)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgcluster: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func portFree(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}

// readLogTail returns the last lines the server logged after offset.
func readLogTail(path string, offset int64) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	return lastLines(string(data), 20)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
