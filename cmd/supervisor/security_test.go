package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/client"
)

// keyctlHelper builds testdata/keyctl, statically linked, and returns the
// directory holding it (to bind-mount into a container).
func keyctlHelper(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "keyctl"), "./testdata/keyctl")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the keyctl helper: %v\n%s", err, out)
	}
	return dir
}

// runOnce runs sh -c script in a new container with extra run flags,
// waits for it, and returns its output and exit code.
func runOnce(t *testing.T, d *daemon, rootfs, id string, flags []string, script string) (string, int) {
	t.Helper()
	args := append([]string{"run", "--name", id, "--rootfs", rootfs}, flags...)
	stdout, stderr, code := d.CLI(t, append(args, "--", "sh", "-c", script)...)
	t.Cleanup(func() { d.CLI(t, "rm", "-f", id) })
	return stdout + stderr, code
}

// The default confinement refuses what docker's does; seccomp=unconfined
// lifts it.
func TestDefaultSeccomp(t *testing.T) {
	d, rootfs := setup(t)
	helper := keyctlHelper(t)
	script := "grep Seccomp: /proc/self/status; unshare -U true && echo unshare: ok; /helper/keyctl"
	mount := []string{"-v", helper + ":/helper:ro"}

	out, _ := runOnce(t, d, rootfs, "confined", mount, script)
	if !strings.Contains(out, "Seccomp:\t2") || strings.Contains(out, "unshare: ok") || strings.Contains(out, "keyctl: ok") {
		t.Errorf("default container: %q; want seccomp filtering, unshare -U and keyctl refused", out)
	}
	if !strings.Contains(out, "keyctl: operation not permitted") {
		t.Errorf("default container: keyctl %q; want EPERM from seccomp", out)
	}
	out, _ = runOnce(t, d, rootfs, "unconfined", append(mount, "--security-opt", "seccomp=unconfined"), script)
	if !strings.Contains(out, "Seccomp:\t0") || !strings.Contains(out, "unshare: ok") || !strings.Contains(out, "keyctl: ok") {
		t.Errorf("seccomp=unconfined: %q; want no filter, unshare -U and keyctl working", out)
	}

	// A profile from a file: containerd's default less nothing, but with
	// keyctl refused with another errno, to show the file is the one used.
	profile := filepath.Join(t.TempDir(), "profile.json")
	os.WriteFile(profile, []byte(`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["keyctl"],"action":"SCMP_ACT_ERRNO","errnoRet":38}]}`), 0o600)
	out, _ = runOnce(t, d, rootfs, "profile", append(mount, "--security-opt", "seccomp="+profile), script)
	if !strings.Contains(out, "keyctl: function not implemented") || !strings.Contains(out, "unshare: ok") {
		t.Errorf("seccomp=FILE: %q; want keyctl ENOSYS from the profile, unshare allowed", out)
	}
}

// Defaults besides seccomp: the host name is the ID, the cgroup namespace
// is the container's own.
func TestDefaultHostnameAndCgroupNamespace(t *testing.T) {
	d, rootfs := setup(t)
	out, code := runOnce(t, d, rootfs, "box-1", nil, "hostname; cat /proc/self/cgroup")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) < 2 || lines[0] != "box-1" {
		t.Fatalf("hostname: exit %d, %q; want box-1", code, out)
	}
	// In a cgroup namespace of its own, its cgroups (v1 or v2) are roots.
	for _, l := range lines[1:] {
		if !strings.HasSuffix(l, ":/") {
			t.Errorf("/proc/self/cgroup: %q; want every cgroup at /", out)
			break
		}
	}
}

func TestCapAddAndPrivileged(t *testing.T) {
	d, rootfs := setup(t)
	const script = "ip addr add 10.99.0.1/32 dev lo && ip addr show dev lo | grep -q 10.99.0.1 && echo added"
	if out, _ := runOnce(t, d, rootfs, "plain", nil, script); strings.Contains(out, "added") {
		t.Errorf("without NET_ADMIN the address was added: %q", out)
	}
	if out, code := runOnce(t, d, rootfs, "netadmin", []string{"--cap-add", "NET_ADMIN"}, script); code != 0 || !strings.Contains(out, "added") {
		t.Errorf("--cap-add NET_ADMIN: exit %d, %q; want the address added", code, out)
	}
	if out, _ := runOnce(t, d, rootfs, "dropped", []string{"--cap-add", "NET_ADMIN", "--cap-drop", "ALL"}, script+"; id -u; chown 1 /tmp || echo chown refused"); !strings.Contains(out, "added") || !strings.Contains(out, "chown refused") {
		t.Errorf("--cap-drop ALL --cap-add NET_ADMIN: %q; want the address added and chown refused", out)
	}
	out, code := runOnce(t, d, rootfs, "privileged", []string{"--privileged"}, "grep -E 'Seccomp:|CapEff:' /proc/self/status; test -e /dev/kmsg && echo host devices")
	var capEff uint64
	if i := strings.Index(out, "CapEff:\t"); i >= 0 {
		fmt.Sscanf(out[i+len("CapEff:\t"):], "%x", &capEff)
	}
	const sysAdmin, netAdmin, sysModule = 1 << 21, 1 << 12, 1 << 16 // none of containerd's defaults
	if code != 0 || !strings.Contains(out, "Seccomp:\t0") || capEff&(sysAdmin|netAdmin|sysModule) != sysAdmin|netAdmin|sysModule || !strings.Contains(out, "host devices") {
		t.Errorf("--privileged: exit %d, %q; want no seccomp, every capability, host devices", code, out)
	}
}

func TestDeviceTmpfsUlimitSysctlAndMore(t *testing.T) {
	d, rootfs := setup(t)
	envFile := filepath.Join(t.TempDir(), "env")
	os.WriteFile(envFile, []byte("# a comment\nFROMFILE=yes\n\nBOTH=file\n"), 0o600)
	out, code := runOnce(t, d, rootfs, "many", []string{
		"--device", "/dev/null:/dev/mynull", "--device-cgroup-rule", "c 1:5 rwm",
		"--tmpfs", "/scratch:size=1m", "--ulimit", "nofile=1000:1001", "--shm-size", "8m",
		"--sysctl", "net.ipv4.ip_forward=1", "--group-add", "1234", "--security-opt", "no-new-privileges",
		"--env-file", envFile, "-e", "BOTH=flag",
	}, `test -c /dev/mynull && echo "mynull: char device"
grep ' /scratch ' /proc/mounts | grep -o 'tmpfs.*size=1024k'
echo "nofile: $(ulimit -n) $(ulimit -Hn)"
grep ' /dev/shm ' /proc/mounts | grep -o 'size=8192k'
echo "ip_forward: $(cat /proc/sys/net/ipv4/ip_forward)"
echo "groups: $(id -G)"
grep NoNewPrivs /proc/self/status
echo "env: $FROMFILE $BOTH"`)
	for _, want := range []string{"mynull: char device", "tmpfs", "size=1024k", "nofile: 1000 1001", "size=8192k",
		"ip_forward: 1", "1234", "NoNewPrivs:\t1", "env: yes flag"} {
		if !strings.Contains(out, want) {
			t.Errorf("exit %d, output %q lacks %q", code, out, want)
		}
	}
	// Values the daemon refuses before anything is created.
	for _, bad := range [][]string{
		{"--cap-add", "NOT_A_CAP"}, {"--sysctl", "kernel.hostname=x"}, {"--ulimit", "nofile=10:5"},
		{"--device", "/nonexistent/dev"}, {"--device-cgroup-rule", "x 1:2 q"}, {"--tmpfs", "relative"},
		{"--security-opt", "seccomp=" + envFile}, {"--security-opt", "label=disable"},
	} {
		args := append([]string{"create", "--rootfs", rootfs}, bad...)
		if _, stderr, code := d.CLI(t, append(args, "--", "true")...); code == 0 {
			t.Errorf("create %q succeeded; stderr %q", bad, stderr)
		}
	}
	if rows := psRows(t, d, "-a"); len(rows) != 1 {
		t.Errorf("ps -a after the refusals: %q; want only the container that ran", rows)
	}
}

// --init runs tini as PID 1, which reaps the orphans a program leaves;
// without it, the program as PID 1 does not.
func TestInitReapsZombies(t *testing.T) {
	d, rootfs := setup(t)
	// An orphan that exits while PID 1 (sleep, after exec) never waits.
	const script = `(sleep 0.2 &); exec sleep 1000`
	zombies := func(id string) int {
		out, _, _ := d.CLI(t, "exec", id, "sh", "-c", `cat /proc/[0-9]*/stat 2>/dev/null | grep -c ') Z '`)
		n := strings.Count(out, "\n")
		if n == 0 {
			return -1
		}
		var z int
		_, err := fmt.Sscan(strings.TrimSpace(out), &z)
		if err != nil {
			return -1
		}
		return z
	}
	for _, c := range []struct {
		id   string
		init bool
		want int
	}{{"noinit", false, 1}, {"withinit", true, 0}} {
		args := []string{"run", "-d", "--name", c.id, "--rootfs", rootfs}
		if c.init {
			args = append(args, "--init")
		}
		if _, stderr, code := d.CLI(t, append(args, "--", "sh", "-c", script)...); code != 0 {
			t.Fatalf("run %s: %s", c.id, stderr)
		}
		t.Cleanup(func() { d.CLI(t, "rm", "-f", c.id) })
		time.Sleep(time.Second)
		if got := zombies(c.id); got != c.want {
			t.Errorf("%s: %d zombies, want %d", c.id, got, c.want)
		}
	}
	out, _, _ := d.CLI(t, "exec", "withinit", "cat", "/proc/1/cmdline")
	if !strings.HasPrefix(out, "/dev/init\x00--\x00sh") {
		t.Errorf("PID 1 of the --init container: %q; want tini running the command", out)
	}
}

// stop sends the container's --stop-signal, and waits its --stop-timeout.
func TestStopSignalAndTimeout(t *testing.T) {
	d, rootfs := setup(t)
	runDetachedWith := func(id string, flags []string, script string) {
		args := append([]string{"run", "-d", "--name", id, "--rootfs", rootfs}, flags...)
		if _, stderr, code := d.CLI(t, append(args, "--", "sh", "-c", script)...); code != 0 {
			t.Fatalf("run %s: %s", id, stderr)
		}
		t.Cleanup(func() { d.CLI(t, "rm", "-f", id) })
	}
	runDetachedWith("usr1", []string{"--stop-signal", "USR1"}, `trap 'echo got USR1; exit 3' USR1; echo ready; while true; do sleep 0.1; done`)
	eventually(t, 10*time.Second, "usr1 ready", func() bool {
		out, _, _ := d.CLI(t, "logs", "usr1")
		return strings.Contains(out, "ready")
	})
	if _, stderr, code := d.CLI(t, "stop", "usr1"); code != 0 {
		t.Fatalf("stop: %s", stderr)
	}
	if st := inspect(t, d, "usr1"); st.Exit == nil || st.Exit.Code != 3 {
		t.Errorf("after stop: %+v; want exit 3 from the USR1 trap", st.Exit)
	}
	if out, _, _ := d.CLI(t, "logs", "usr1"); !strings.Contains(out, "got USR1") {
		t.Errorf("logs %q: the trap did not run", out)
	}

	// Ignores SIGTERM: stop without -t kills it after --stop-timeout.
	runDetachedWith("stubborn", []string{"--stop-timeout", "1"}, `trap '' TERM; echo ready; while true; do sleep 0.1; done`)
	eventually(t, 10*time.Second, "stubborn ready", func() bool {
		out, _, _ := d.CLI(t, "logs", "stubborn")
		return strings.Contains(out, "ready")
	})
	start := time.Now()
	if _, stderr, code := d.CLI(t, "stop", "stubborn"); code != 0 {
		t.Fatalf("stop: %s", stderr)
	}
	if took := time.Since(start); took > 6*time.Second {
		t.Errorf("stop took %v; want about the 1 s of --stop-timeout", took)
	}
	if st := inspect(t, d, "stubborn"); st.Exit == nil || st.Exit.Code != 137 {
		t.Errorf("after stop: %+v; want 137 (SIGKILL)", st.Exit)
	}
}

// run --rm: the container is gone once it exited; run in the foreground
// still prints its output and exit code.
func TestRunRm(t *testing.T) {
	d, rootfs := setup(t)
	stdout, stderr, code := d.CLI(t, "run", "--rm", "--name", "gone", "--rootfs", rootfs, "--", "sh", "-c", "echo bye; exit 3")
	if code != 3 || stdout != "bye\n" {
		t.Errorf("run --rm: exit %d, %q, %q; want 3 and bye", code, stdout, stderr)
	}
	// Removed before run returned: in the request that waited for the exit.
	if rows := psRows(t, d, "-a"); len(rows) != 0 {
		t.Errorf("after run --rm returned: ps -a shows %q", rows)
	}
	// The API's form: a wait that removes, on a container still running.
	if _, stderr, code := d.CLI(t, "run", "-d", "--name", "gone3", "--rootfs", rootfs, "--", "sh", "-c", "sleep 0.3; exit 4"); code != 0 {
		t.Fatalf("run -d: %s", stderr)
	}
	st, err := client.New(d.Socket).WaitAndRemove(context.Background(), "gone3")
	if err != nil || st.Exit == nil || st.Exit.Code != 4 {
		t.Errorf("wait?remove=1: %+v, %v; want the exit 4", st, err)
	}
	if rows := psRows(t, d, "-a"); len(rows) != 0 {
		t.Errorf("after wait?remove=1 answered: ps -a shows %q", rows)
	}
	// Detached, the daemon removes it at its exit (host.auto_remove).
	if _, stderr, code := d.CLI(t, "run", "-d", "--rm", "--name", "gone2", "--rootfs", rootfs, "--", "sleep", "0.3"); code != 0 {
		t.Fatalf("run -d --rm: %s", stderr)
	}
	eventually(t, 10*time.Second, "gone2 removed by the daemon", func() bool { return len(psRows(t, d, "-a")) == 0 })
	if _, stderr, code := d.CLI(t, "run", "-d", "--rm", "--restart", "always", "--rootfs", rootfs, "--", "true"); code == 0 || !strings.Contains(stderr, "conflict") {
		t.Errorf("--rm with --restart always: exit %d, %q; want a refusal", code, stderr)
	}
}
