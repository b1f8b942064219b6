package main

import (
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/internal/testenv"
)

// TestDaemonStartsWhileContainerdIsDown: the daemon starts and serves from
// its journal; run fails with a clear error; once containerd is up, run
// works without a restart of the daemon.
func TestDaemonStartsWhileContainerdIsDown(t *testing.T) {
	rootfs := testenv.Rootfs(t)
	p := testenv.PrivateContainerd(t)
	state, ns := t.TempDir(), testenv.Namespace(t)

	d := startDaemonOn(t, p.Address, state, ns)
	if _, errOut, code := d.CLI(t, "run", "-d", "--name", "early", "--rootfs", rootfs, "--", "sleep", "600"); code != 0 {
		t.Fatalf("run: %s", errOut)
	}
	d.Stop()
	p.Stop()

	d = startDaemonOn(t, p.Address, state, ns)
	out, errOut, code := d.CLI(t, "ps", "-a")
	if code != 0 || !strings.Contains(out, "early") {
		t.Fatalf("ps with containerd down: exit %d, %q %q", code, out, errOut)
	}
	info, _, _ := d.CLI(t, "info")
	if !strings.Contains(info, "UNREACHABLE") {
		t.Fatalf("info does not say containerd is unreachable:\n%s", info)
	}
	_, errOut, code = d.CLI(t, "run", "-d", "--name", "late", "--rootfs", rootfs, "--", "true")
	if code == 0 || !strings.Contains(errOut, "containerd unavailable") {
		t.Fatalf("run with containerd down: exit %d, stderr %q; want a clear error", code, errOut)
	}

	p.Start()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, errOut, code = d.CLI(t, "run", "-d", "--name", "late", "--rootfs", rootfs, "--", "sleep", "600")
		if code == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("run after containerd came back: %s", errOut)
		}
		time.Sleep(500 * time.Millisecond)
	}
	info, _, _ = d.CLI(t, "info")
	if !strings.Contains(info, "reachable, version") || strings.Contains(info, "none yet") {
		t.Fatalf("info after containerd came back:\n%s", info)
	}
	out, _, _ = d.CLI(t, "ps")
	if !strings.Contains(out, "early") || !strings.Contains(out, "late") {
		t.Fatalf("ps after containerd came back:\n%s", out)
	}
	d.CLI(t, "rm", "-f", "early", "late")
}

// TestEventsCommand: `events --since` prints what happened before it ran.
func TestEventsCommand(t *testing.T) {
	rootfs := testenv.Rootfs(t)
	d := startDaemon(t, t.TempDir(), testenv.Namespace(t))
	if _, errOut, code := d.CLI(t, "run", "--name", "ev", "--rootfs", rootfs, "--", "/bin/sh", "-c", "exit 5"); code != 5 {
		t.Fatalf("run: exit %d: %s", code, errOut)
	}
	t.Cleanup(func() { d.CLI(t, "rm", "-f", "ev") })
	out, errOut, code := d.CLI(t, "events", "--since", "1h", "--until", time.Now().Format(time.RFC3339Nano), "--container", "ev")
	if code != 0 {
		t.Fatalf("events: exit %d: %s", code, errOut)
	}
	for _, want := range []string{"CreateRequested", "TaskStarted", "TaskExited", `"code":5`} {
		if !strings.Contains(out, want) {
			t.Errorf("events output lacks %s:\n%s", want, out)
		}
	}
	if i, j := strings.Index(out, "CreateRequested"), strings.Index(out, "TaskExited"); i < 0 || j < i {
		t.Errorf("events out of order:\n%s", out)
	}
	_, errOut, code = d.CLI(t, "events", "--container", "../x", "--until", "1s")
	if code == 0 || !strings.Contains(errOut, "invalid container ID") {
		t.Errorf("events --container ../x: exit %d: %s", code, errOut)
	}
}
