package main

import (
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/internal/testenv"
)

// TestOnlyANewBootIsAReboot: a kill -9 of the daemon and a restart of
// containerd, in the same boot, are no host reboot: the running container
// is adopted with its pid, the one a user stopped under always stays
// stopped, and no HostRebooted is journaled. A faithful reboot (new boot
// ID, containerd's root kept) then is one: always starts both again.
func TestOnlyANewBootIsAReboot(t *testing.T) {
	rootfs := testenv.Rootfs(t)
	p := testenv.PrivateContainerd(t)
	t.Setenv(envTestBootIDFile, p.BootIDFile)
	state, ns := t.TempDir(), testenv.Namespace(t)
	d := startDaemonOn(t, p.Address, state, ns)
	for _, id := range []string{"up", "stopped"} {
		if _, errOut, code := d.CLI(t, "run", "-d", "--restart", "always", "--name", id, "--rootfs", rootfs, "--",
			"sh", "-c", "trap 'exit 143' TERM; while true; do sleep 0.1; done"); code != 0 {
			t.Fatalf("run %s: %s", id, errOut)
		}
	}
	if _, errOut, code := d.CLI(t, "stop", "stopped"); code != 0 {
		t.Fatalf("stop: %s", errOut)
	}
	pid := inspect(t, d, "up").Pid

	check := func(what string) {
		t.Helper()
		if st := inspect(t, d, "up"); st.Status != lifecycle.StatusRunning || st.Pid != pid || st.Starts != 1 {
			t.Fatalf("%s: up is %+v", what, st)
		}
		if st := inspect(t, d, "stopped"); st.Status != lifecycle.StatusExited || st.Starts != 1 || st.NextRestart != nil {
			t.Fatalf("%s: stopped is %+v", what, st)
		}
		out, _, _ := d.CLI(t, "events", "--type", "HostRebooted", "--until", "0s")
		if strings.TrimSpace(out) != "" {
			t.Fatalf("%s: HostRebooted journaled:\n%s", what, out)
		}
	}
	d.Kill9()
	d = startDaemonOn(t, p.Address, state, ns)
	check("after kill -9 of the daemon")
	p.Restart()
	time.Sleep(time.Second) // the daemon reconnects and reconciles
	eventually(t, 30*time.Second, "a reconcile after containerd's restart", func() bool {
		out, _, _ := d.CLI(t, "info")
		return strings.Contains(out, "reachable")
	})
	check("after a restart of containerd")

	d.Kill9()
	p.Reboot()
	d = startDaemonOn(t, p.Address, state, ns)
	for _, id := range []string{"up", "stopped"} {
		eventually(t, 30*time.Second, id+" started again after the reboot", func() bool {
			st := inspect(t, d, id)
			return st.Status == lifecycle.StatusRunning && st.Starts == 2
		})
	}
	out, _, _ := d.CLI(t, "events", "--type", "HostRebooted", "--until", "0s")
	if n := strings.Count(out, "HostRebooted"); n != 2 {
		t.Fatalf("%d HostRebooted events after the reboot, want 2:\n%s", n, out)
	}
	d.CLI(t, "rm", "-f", "up", "stopped")
}
