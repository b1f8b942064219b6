package testenv

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Private is a containerd of one test's own, for tests that stop, restart,
// wipe or otherwise hurt containerd without disturbing the tests that share
// the usual one. It runs scripts/containerd.sh with a run dir of its own.
type Private struct {
	t       testing.TB
	script  string
	RunDir  string // the daemon's run dir: root/, state/, the socket, the log
	Address string // its socket
	// BootIDFile stands for the kernel's boot ID file
	// (/proc/sys/kernel/random/boot_id) of the host this containerd runs
	// on: a supervisor under test reads it instead (vigil.Config.BootIDFile,
	// or the daemon's VIGIL_TEST_BOOT_ID_FILE), and Reboot writes a new ID
	// into it, as a real reboot gives the kernel a new one.
	BootIDFile string
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
		Address: filepath.Join(dir, "containerd.sock"), BootIDFile: filepath.Join(dir, "boot_id")}
	p.newBoot()
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

// Reboot simulates a host reboot as it really is: every process of the old
// boot that this containerd started dies (shims, containers, the logging
// binaries; the caller stops its supervisor first), what lives on tmpfs is
// emptied (containerd's state dir and runc's state of its namespaces,
// which the shims keep under /run/containerd/runc/NAMESPACE), containerd's
// root on disk is kept, with its container records, and the boot ID in
// BootIDFile changes. Then containerd starts again.
func (p *Private) Reboot() {
	p.t.Helper()
	p.reboot(false)
}

// Reflash simulates a reinstalled (or reflashed) box: a Reboot that also
// wipes containerd's root, so that containerd comes back without any
// container. vigil's state dir is kept (it is the caller's).
func (p *Private) Reflash() {
	p.t.Helper()
	p.reboot(true)
}

// newBoot writes a new random boot ID into BootIDFile.
func (p *Private) newBoot() {
	p.t.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		p.t.Fatal(err)
	}
	id := fmt.Sprintf("%x-%x-%x-%x-%x\n", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
	if err := os.WriteFile(p.BootIDFile, []byte(id), 0o644); err != nil {
		p.t.Fatal(err)
	}
}

func (p *Private) reboot(wipeRoot bool) {
	p.t.Helper()
	out, err := exec.Command("ctr", "--address", p.Address, "namespaces", "list", "--quiet").Output()
	if err != nil {
		p.t.Fatalf("list the namespaces of %s: %v", p.Address, err)
	}
	p.run("stop", "--all")
	dirs := []string{filepath.Join(p.RunDir, "state")}
	if wipeRoot {
		dirs = append(dirs, filepath.Join(p.RunDir, "root"))
	}
	for _, ns := range strings.Fields(string(out)) {
		if ns == "" || strings.ContainsAny(ns, "/.") {
			continue
		}
		dirs = append(dirs, filepath.Join("/run/containerd/runc", ns))
		// A paused container's processes die of the SIGKILL only
		// once unpaused, and a reboot leaves no cgroup behind.
		if err := clearCgroups(ns); err != nil {
			p.t.Fatal(err)
		}
	}
	for _, d := range dirs {
		// A reboot leaves no mount: the rootfs of a container made from an
		// image (an overlay the shim mounted in its bundle) goes too.
		if err := unmountUnder(d); err != nil {
			p.t.Fatal(err)
		}
		if err := os.RemoveAll(d); err != nil {
			p.t.Fatal(err)
		}
	}
	p.newBoot()
	p.Start()
}

// unmountUnder unmounts (lazily) every mount point below dir, deepest
// first.
func unmountUnder(dir string) error {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	var points []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		mp := unescapeMount(f[4])
		if strings.HasPrefix(mp, dir+"/") {
			points = append(points, mp)
		}
	}
	sort.Slice(points, func(i, j int) bool { return len(points[i]) > len(points[j]) })
	for _, mp := range points {
		if err := syscall.Unmount(mp, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			return fmt.Errorf("unmount %s: %w", mp, err)
		}
	}
	return nil
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, "\\") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
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

// clearCgroups does to the cgroups of containerd namespace ns (runc's
// /NAMESPACE/ID, under each cgroup v1 controller or the v2 hierarchy) what
// a reboot does: every process in them dies, paused ones included, and the
// cgroups are gone.
func clearCgroups(ns string) error {
	roots, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", ns))
	if fi, err := os.Stat(filepath.Join("/sys/fs/cgroup", ns)); err == nil && fi.IsDir() {
		roots = append(roots, filepath.Join("/sys/fs/cgroup", ns))
	}
	var dirs []string
	for _, root := range roots {
		filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, path)
			}
			return nil
		})
	}
	// Unpause and kill in every hierarchy first: a process stays in all of
	// them until it is gone.
	for _, d := range dirs {
		os.WriteFile(filepath.Join(d, "freezer.state"), []byte("THAWED"), 0) // v1
		os.WriteFile(filepath.Join(d, "cgroup.freeze"), []byte("0"), 0)      // v2
		b, _ := os.ReadFile(filepath.Join(d, "cgroup.procs"))
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	// Deepest first (WalkDir lists a dir before its children); a cgroup
	// whose processes are still dying refuses rmdir for a moment.
	for i := len(dirs) - 1; i >= 0; i-- {
		var err error
		for try := 0; try < 100; try++ {
			if err = syscall.Rmdir(dirs[i]); err == nil || errors.Is(err, fs.ErrNotExist) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove cgroup %s: %w", dirs[i], err)
		}
	}
	return nil
}
