package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// Private is a containerd of one test's own, for tests that stop, restart,
// wipe or otherwise hurt containerd without disturbing the tests that share
// the usual one. It runs scripts/containerd.sh with a run dir of its own.
type Private struct {
	t       testing.TB
	script  string
	RunDir  string // the daemon's run dir: root/, state/, the socket, the log
	Address string // its socket
}

// PrivateContainerd starts a containerd for t alone and stops it, with every
// shim and container it started, when t ends. It skips (or fails) like
// Containerd when the machine cannot run one.
func PrivateContainerd(t testing.TB) *Private {
	t.Helper()
	if uid := os.Geteuid(); uid != 0 {
		unavailable(t, fmt.Sprintf("a private containerd needs root (running as uid %d)", uid))
	}
	if _, err := exec.LookPath("containerd"); err != nil {
		unavailable(t, "containerd is not installed (scripts/deps.sh installs it)")
	}
	root, err := repoRoot()
	if err != nil {
		unavailable(t, fmt.Sprintf("containerd: cannot find the repository root for scripts/containerd.sh: %v", err))
	}
	// A unix socket path must stay under 108 bytes: a short temp dir.
	dir, err := os.MkdirTemp("", "vc")
	if err != nil {
		t.Fatal(err)
	}
	p := &Private{t: t, script: filepath.Join(root, "scripts", "containerd.sh"), RunDir: dir,
		Address: filepath.Join(dir, "containerd.sock")}
	t.Cleanup(func() {
		p.run("stop", "--all")
		os.RemoveAll(dir)
	})
	p.Start()
	return p
}

func (p *Private) run(args ...string) {
	p.t.Helper()
	cmd := exec.Command("bash", append([]string{p.script}, args...)...)
	cmd.Env = append(os.Environ(), "VIGIL_RUN_DIR="+p.RunDir)
	if out, err := cmd.CombinedOutput(); err != nil {
		p.t.Fatalf("containerd.sh %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// Start starts the daemon and waits until it serves.
func (p *Private) Start() { p.t.Helper(); p.run("start") }

// Stop stops the daemon; shims and containers keep running, as when
// containerd crashes or is restarted in production.
func (p *Private) Stop() { p.t.Helper(); p.run("stop") }

// Restart stops and starts the daemon.
func (p *Private) Restart() { p.t.Helper(); p.Stop(); p.Start() }

// Reboot simulates a host reboot: every shim and container dies, and
// containerd's root and state are wiped before it starts again, with
// runc's state of its namespaces, which the shims keep under
// /run/containerd/runc/NAMESPACE (a real reboot empties /run).
func (p *Private) Reboot() {
	p.t.Helper()
	out, err := exec.Command("ctr", "--address", p.Address, "namespaces", "list", "--quiet").Output()
	if err != nil {
		p.t.Fatalf("list the namespaces of %s: %v", p.Address, err)
	}
	p.run("stop", "--all")
	dirs := []string{filepath.Join(p.RunDir, "root"), filepath.Join(p.RunDir, "state")}
	for _, ns := range strings.Fields(string(out)) {
		if ns == "" || strings.ContainsAny(ns, "/.") {
			continue
		}
		dirs = append(dirs, filepath.Join("/run/containerd/runc", ns))
	}
	for _, d := range dirs {
		if err := os.RemoveAll(d); err != nil {
			p.t.Fatal(err)
		}
	}
	p.Start()
}

// KillShim sends SIGKILL to the shim of container id in namespace ns and
// reports whether it found one.
func (p *Private) KillShim(ns, id string) bool {
	p.t.Helper()
	want := []string{"-namespace", ns, "-id", id, "-address", p.Address}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range procs {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if len(args) == 0 || !strings.HasSuffix(args[0], "containerd-shim-runc-v2") || !containsSeq(args, want) {
			continue
		}
		pid, err := strconv.Atoi(filepath.Base(filepath.Dir(f)))
		if err != nil {
			continue
		}
		return syscall.Kill(pid, syscall.SIGKILL) == nil
	}
	return false
}

// containsSeq reports whether each pair of want (flag, value) appears in
// args as adjacent elements.
func containsSeq(args, want []string) bool {
	for i := 0; i+1 < len(want); i += 2 {
		found := false
		for j := 0; j+1 < len(args); j++ {
			if args[j] == want[i] && args[j+1] == want[i+1] {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
