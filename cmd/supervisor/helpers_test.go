package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigilhq/vigil/client"
	"github.com/vigilhq/vigil/internal/testenv"
)

// The binary under test, built once per test process by buildBinary and
// removed by TestMain.
var (
	buildOnce sync.Once
	buildDir  string
	buildPath string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// buildBinary builds this package into a temporary directory, once per test
// process, and returns the binary's path. Under -race the binary is built
// with the race detector too.
func buildBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			buildErr = fmt.Errorf("the go command is needed to build the binary under test: %w", err)
			return
		}
		buildDir, buildErr = os.MkdirTemp("", "vigil-supervisor-")
		if buildErr != nil {
			return
		}
		buildPath = filepath.Join(buildDir, "supervisor")
		args := []string{"build", "-o", buildPath}
		if raceEnabled {
			args = append(args, "-race")
		}
		cmd := exec.Command(goTool, append(args, ".")...)
		if !raceEnabled {
			// Static, as the released binaries (scripts/crossbuild.sh): no
			// C library mapped into every logger.
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	})
	if buildErr != nil {
		t.Fatalf("build the supervisor: %v", buildErr)
	}
	return buildPath
}

// daemon is a `supervisor daemon` process started by a test.
type daemon struct {
	Cmd       *exec.Cmd
	Socket    string
	StateDir  string
	Namespace string
	Address   string
	// Stderr is the daemon's log (JSON lines). Read it after Stop or Kill9;
	// while the daemon runs, use Log.
	Stderr *bytes.Buffer

	binary string
	mu     sync.Mutex    // guards Stderr while the daemon writes to it
	exited chan struct{} // closed once Cmd.Wait returned
	killed bool          // by Kill9
}

// lockedWriter writes to w under mu.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// Log returns what the daemon logged so far.
func (d *daemon) Log() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.Stderr.String()
}

// startDaemon starts `supervisor daemon` on a socket of its own, with the
// containerd of testenv.Containerd, and waits until it serves. The daemon
// is stopped with SIGTERM when the test ends.
func startDaemon(t *testing.T, stateDir, namespace string) *daemon {
	t.Helper()
	return startDaemonAt(t, shortSocket(t), stateDir, namespace)
}

// shortSocket returns a path for a unix socket in a directory of its own
// that the test removes: a socket path must be shorter than 108 bytes, and
// t.TempDir's paths can be longer.
func shortSocket(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "vg")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "sock")
}

// startDaemonAt is startDaemon on a given socket path.
func startDaemonAt(t *testing.T, socket, stateDir, namespace string) *daemon {
	t.Helper()
	return startDaemonWith(t, testenv.Containerd(t), socket, stateDir, namespace)
}

// startDaemonOn is startDaemon with the containerd at address, which need
// not be up.
func startDaemonOn(t *testing.T, address, stateDir, namespace string) *daemon {
	t.Helper()
	return startDaemonWith(t, address, shortSocket(t), stateDir, namespace)
}

func startDaemonWith(t *testing.T, address, socket, stateDir, namespace string) *daemon {
	t.Helper()
	return startDaemonFlags(t, address, socket, stateDir, namespace)
}

// startDaemonArgs is startDaemon with flags of the daemon command.
func startDaemonArgs(t *testing.T, stateDir, namespace string, flags ...string) *daemon {
	t.Helper()
	return startDaemonFlags(t, testenv.Containerd(t), shortSocket(t), stateDir, namespace, flags...)
}

func startDaemonFlags(t *testing.T, address, socket, stateDir, namespace string, flags ...string) *daemon {
	t.Helper()
	d := &daemon{
		Socket:    socket,
		StateDir:  stateDir,
		Namespace: namespace,
		Address:   address,
		Stderr:    new(bytes.Buffer),
		binary:    buildBinary(t),
		exited:    make(chan struct{}),
	}
	// The tests' containers have only loopback unless a test asks for a
	// network (network_test.go): a bridge would outlive their namespace.
	// A later flag wins.
	args := append([]string{"--log-format", "json", "--log-level", "debug", "daemon", "--default-network", "none"}, flags...)
	d.Cmd = exec.Command(d.binary, d.globalArgs(args...)...)
	d.Cmd.Env = testEnv()
	d.Cmd.Stderr = lockedWriter{&d.mu, d.Stderr}
	if err := d.Cmd.Start(); err != nil {
		t.Fatalf("start the daemon: %v", err)
	}
	go func() {
		d.Cmd.Wait()
		close(d.exited)
	}()
	t.Cleanup(func() {
		d.Stop()
		log := d.Stderr.String()
		switch {
		case strings.Contains(log, "WARNING: DATA RACE"):
			t.Errorf("the daemon reported a data race:\n%s", log)
		case !d.killed && d.Cmd.ProcessState.ExitCode() != 0:
			t.Errorf("the daemon ended with %v, want exit status 0 on SIGTERM:\n%s", d.Cmd.ProcessState, log)
		case t.Failed():
			t.Logf("daemon log (socket %s):\n%s", d.Socket, log)
		}
	})

	deadline := time.Now().Add(30 * time.Second)
	c := client.New(d.Socket)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := c.Info(ctx)
		cancel()
		if err == nil {
			return d
		}
		select {
		case <-d.exited:
			t.Fatalf("the daemon exited before it served (%v):\n%s", d.Cmd.ProcessState, d.Stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the daemon did not serve on %s within 30 s: %v\n%s", d.Socket, err, d.Log())
		}
	}
}

// globalArgs returns the global flags that point the binary at this
// daemon, followed by args.
func (d *daemon) globalArgs(args ...string) []string {
	return append([]string{
		"--containerd", d.Address,
		"--namespace", d.Namespace,
		"--state-dir", d.StateDir,
		"--socket", d.Socket,
	}, args...)
}

// testEnv is the environment of the processes tests start: this one's,
// without vigil's own settings, which the tests give as flags (the test
// seams, VIGIL_TEST_*, are kept). A binary
// built with the race detector sleeps a second before a successful exit
// unless told not to.
func testEnv() []string {
	var env []string
	gorace := "atexit_sleep_ms=0"
	for _, kv := range os.Environ() {
		switch {
		case strings.HasPrefix(kv, "VIGIL_") && !strings.HasPrefix(kv, "VIGIL_TEST_"):
		case strings.HasPrefix(kv, "GORACE="):
			gorace = strings.TrimPrefix(kv, "GORACE=") + " " + gorace
		default:
			env = append(env, kv)
		}
	}
	return append(env, "GORACE="+gorace)
}

// Kill9 kills the daemon with SIGKILL, as a crash would, and waits for it.
func (d *daemon) Kill9() {
	d.killed = true
	d.Cmd.Process.Signal(syscall.SIGKILL)
	<-d.exited
}

// Stop sends SIGTERM and waits for the daemon to exit; after 30 s it kills
// it. d.Cmd.ProcessState tells how it ended. Stopping a daemon that has
// exited does nothing.
func (d *daemon) Stop() {
	d.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(30 * time.Second):
		// Not Kill9: the test's cleanup reports the daemon's hang.
		d.Cmd.Process.Signal(syscall.SIGKILL)
		<-d.exited
	}
}

// CLI runs the supervisor binary against the daemon with args and returns
// its output and exit status. It fails the test if the binary cannot run
// or takes more than a minute.
func (d *daemon) CLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, d.binary, d.globalArgs(args...)...)
	cmd.Env = testEnv()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("supervisor %q: %v", args, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("supervisor %q did not finish within a minute; stderr:\n%s", args, errb.String())
	}
	code = cmd.ProcessState.ExitCode()
	t.Logf("supervisor %s: exit %d", strings.Join(args, " "), code)
	if strings.Contains(errb.String(), "WARNING: DATA RACE") {
		t.Errorf("supervisor %q reported a data race:\n%s", args, errb.String())
	}
	return out.String(), errb.String(), code
}
