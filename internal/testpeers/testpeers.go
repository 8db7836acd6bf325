// Package testpeers starts the real services the integration tests talk to
// (Redis, Toxiproxy, an OpenTelemetry Collector, and nginx as a reverse
// proxy) as child processes on free 127.0.0.1 ports, and stops them by PID.
//
// scripts/install-peers.sh installs the binaries into $RESILIENT_TOOLS/bin
// (default $HOME/.cache/resilient-tools/bin); this package looks there first,
// then on PATH. A test starts a peer, hands the error to [Need], and stops the
// peer when it is done:
//
//	func TestStore_sharesState(t *testing.T) {
//		r, err := testpeers.StartRedis()
//		testpeers.Need(t, err)
//		t.Cleanup(func() { _ = r.Stop() })
//		// talk to r.Addr ...
//	}
//
// Locally a missing binary skips the test; in CI (CI set, or
// RESILIENT_REQUIRE_PEERS=1) it fails it, so a broken install cannot pass
// as a run of skips.
//
// Peers are plain child processes: their stdout and stderr go to a log file
// (no pipes, so the os/exec copying goroutines that go.uber.org/goleak would
// report are never started), and Stop waits for the process to exit.
package testpeers

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// ReadyTimeout bounds how long a Start function waits for its peer to answer.
const ReadyTimeout = 15 * time.Second

// StopGrace is how long Stop waits after SIGTERM before it sends SIGKILL.
const StopGrace = 5 * time.Second

// ErrNotInstalled is the error, wrapped, that a Start function returns when
// the peer's binary is neither in the tools directory nor on PATH. [Need]
// skips on it unless [Required] says the peers must be there.
var ErrNotInstalled = errors.New("not installed")

// Required reports whether the peers must be present: true when the CI
// environment variable is non-empty or RESILIENT_REQUIRE_PEERS is 1. Tests
// then fail, not skip, when a peer is missing.
func Required() bool {
	return os.Getenv("CI") != "" || os.Getenv("RESILIENT_REQUIRE_PEERS") == "1"
}

// Need ends the test when a peer could not be started. A missing binary
// (an error matching [ErrNotInstalled]) skips the test, or fails it when
// [Required] is true; any other error fails it, since a peer that is
// installed but does not start is a real problem. A nil error does nothing.
func Need(t testing.TB, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if errors.Is(err, ErrNotInstalled) && !Required() {
		t.Skipf("%v (skipping; set RESILIENT_REQUIRE_PEERS=1 or CI to fail instead)", err)
		return
	}
	t.Fatal(err)
}

// ToolsDir returns the directory scripts/install-peers.sh installs into:
// $RESILIENT_TOOLS, or $HOME/.cache/resilient-tools when that is unset.
// The binaries are in its bin subdirectory.
func ToolsDir() string {
	if d := os.Getenv("RESILIENT_TOOLS"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "resilient-tools")
	}
	return filepath.Join(home, ".cache", "resilient-tools")
}

// findBinary looks for name in ToolsDir()/bin, then on PATH.
func findBinary(peer, name string) (string, error) {
	bin := filepath.Join(ToolsDir(), "bin")
	p := filepath.Join(bin, name)
	if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
		return p, nil
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("testpeers: %s is missing: %s is %w (looked in %s and PATH); scripts/install-peers.sh installs it",
		peer, name, ErrNotInstalled, bin)
}

// freePorts returns n distinct TCP ports on 127.0.0.1 that were free a
// moment ago. Another process can take one before the peer binds it; launch
// retries with new ports when the peer exits before it is ready.
func freePorts(n int) ([]int, error) {
	ports := make([]int, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("testpeers: finding a free port: %w", err)
		}
		// Held open until all are picked, so the n ports differ.
		defer l.Close()
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports, nil
}

func hostPort(port int) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

// process is one run of a peer binary. Its output goes to logPath.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed once cmd.Wait has returned
}

// startProcess starts bin with args in dir, stdout and stderr appended to
// logPath.
func startProcess(name, bin, dir, logPath string, args ...string) (*process, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("testpeers: %s log: %w", name, err)
	}
	// The child holds its own descriptor; ours is closed once it has started.
	defer logFile.Close()

	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("testpeers: starting %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *process) pid() int { return p.cmd.Process.Pid }

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM, then SIGKILL after StopGrace, and waits for the exit.
// It is a no-op on a process that has exited.
func (p *process) stop() {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(StopGrace):
		p.kill()
	}
}

// kill sends SIGKILL and waits for the exit.
func (p *process) kill() {
	if !p.exited() {
		_ = p.cmd.Process.Kill()
	}
	<-p.done
}

// logTail returns the last lines of the process log, for error messages.
func (p *process) logTail() string {
	return tailFile(p.logPath, 20)
}

func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// waitReady polls ready until it succeeds, the process exits, or
// ReadyTimeout passes. On failure it stops the process and returns an error
// holding the last readiness error and the tail of the log. exitedEarly
// tells the caller that retrying on another port may help.
func (p *process) waitReady(what string, ready func() error) (exitedEarly bool, err error) {
	deadline := time.Now().Add(ReadyTimeout)
	for {
		lastErr := ready()
		if lastErr == nil {
			return false, nil
		}
		if p.exited() {
			return true, fmt.Errorf("testpeers: %s (pid %d) exited before it was ready on %s: %s\n--- end of its log ---\n%s",
				p.name, p.pid(), what, p.cmd.ProcessState, p.logTail())
		}
		if time.Now().After(deadline) {
			p.stop()
			return false, fmt.Errorf("testpeers: %s (pid %d) not ready on %s within %s: %v\n--- end of its log ---\n%s",
				p.name, p.pid(), what, ReadyTimeout, lastErr, p.logTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startAttempts is how many times launch tries fresh ports when a peer exits
// before it is ready (most often because another process took its port).
const startAttempts = 3

// launch creates the peer's temporary directory, picks nports free ports and
// calls start with them, retrying with new ports when start reports that the
// peer exited early. On failure it removes the directory.
func launch(peer string, nports int, start func(dir string, ports []int) (exitedEarly bool, err error)) (dir string, err error) {
	dir, err = os.MkdirTemp("", "testpeers-"+peer+"-")
	if err != nil {
		return "", fmt.Errorf("testpeers: %s: %w", peer, err)
	}
	for range startAttempts {
		var ports []int
		if ports, err = freePorts(nports); err != nil {
			break
		}
		var exitedEarly bool
		if exitedEarly, err = start(dir, ports); err == nil || !exitedEarly {
			break
		}
	}
	if err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

// stopPeer stops p (SIGTERM, then SIGKILL after StopGrace), waits for it to
// exit and removes its directory. It is safe to call more than once.
func stopPeer(p *process, dir string) error {
	if p != nil {
		p.stop()
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("testpeers: %w", err)
	}
	return nil
}

// pidOf returns p's process ID, or 0 when it was never started.
func pidOf(p *process) int {
	if p == nil {
		return 0
	}
	return p.pid()
}
