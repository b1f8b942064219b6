package main

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/internal/testenv"
)

// daemonRefuses runs `supervisor daemon` with args on a state dir and
// namespace and returns its log, failing the test unless it exits with an
// error (and without serving) within a minute.
func daemonRefuses(t *testing.T, stateDir, namespace string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sock := shortSocket(t)
	cmd := exec.CommandContext(ctx, buildBinary(t), append([]string{"--containerd", testenv.Containerd(t),
		"--namespace", namespace, "--state-dir", stateDir, "--socket", sock, "daemon"}, args...)...)
	cmd.Env = testEnv()
	var errb bytes.Buffer
	cmd.Stderr = &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("the daemon did not refuse within a minute:\n%s", errb.String())
	}
	if err == nil {
		t.Fatalf("the daemon exited with status 0, want a refusal:\n%s", errb.String())
	}
	return errb.String()
}

// TestTwoJournalsOneNamespace: a second daemon with a state dir of its own
// (another journal) refuses a namespace that the first one's journal owns,
// naming the owner and the ways out, and touches none of its containers;
// in a namespace of its own it runs beside the first. Taking the namespace
// over leaves the first one's containers as they are.
func TestTwoJournalsOneNamespace(t *testing.T) {
	rootfs := testenv.Rootfs(t)
	ns := testenv.Namespace(t)
	first := startDaemon(t, t.TempDir(), ns)
	runDetached(t, first, rootfs, "web", "sleep 600")
	// A container with restart policy no is what a wrongful orphan
	// removal would lose for good.
	if _, errOut, code := first.CLI(t, "create", "--name", "idle", "--rootfs", rootfs, "--", "true"); code != 0 {
		t.Fatalf("create idle: %s", errOut)
	}
	t.Cleanup(func() { first.CLI(t, "rm", "-f", "idle") })
	before := inspect(t, first, "web")
	info, _, _ := first.CLI(t, "info")
	if !strings.Contains(info, "Journal:") {
		t.Fatalf("info shows no journal identity:\n%s", info)
	}

	secondDir := t.TempDir()
	log := daemonRefuses(t, secondDir, ns)
	for _, want := range []string{"belongs to another journal", first.StateDir, "--namespace", "--take-over-namespace"} {
		if !strings.Contains(log, want) {
			t.Errorf("the refusal does not say %q:\n%s", want, log)
		}
	}
	after := inspect(t, first, "web")
	if after.Status != lifecycle.StatusRunning || after.Pid != before.Pid || after.Starts != 1 {
		t.Fatalf("the first daemon's container after the refusal: %+v", after)
	}
	if st := inspect(t, first, "idle"); st.Status != lifecycle.StatusCreated {
		t.Fatalf("idle after the refusal: %+v", st)
	}

	// Another namespace: side by side.
	second := startDaemon(t, secondDir, testenv.Namespace(t)+"-2")
	runDetached(t, second, rootfs, "web", "sleep 600")
	if st := inspect(t, second, "web"); st.Status != lifecycle.StatusRunning {
		t.Fatalf("the second daemon's web: %+v", st)
	}
	if st := inspect(t, first, "web"); st.Pid != before.Pid {
		t.Fatalf("the first daemon's web changed: %+v", st)
	}
	second.CLI(t, "rm", "-f", "web")
	second.Stop()

	// A take-over, once the first daemon is gone: the namespace is the
	// third journal's, and the first one's containers stay as they are.
	first.Stop()
	third := startDaemonArgs(t, t.TempDir(), ns, "--take-over-namespace")
	if rows := psRows(t, third, "-a"); len(rows) != 0 {
		t.Fatalf("the new owner lists %v", rows)
	}
	if !strings.Contains(third.Log(), "took over the namespace") {
		t.Errorf("the take-over is not logged:\n%s", third.Log())
	}
	third.Stop()
	// The first daemon now finds its namespace taken and refuses; its
	// containers were neither adopted nor removed.
	log = daemonRefuses(t, first.StateDir, ns)
	if !strings.Contains(log, "belongs to another journal") {
		t.Fatalf("the first daemon after the take-over:\n%s", log)
	}
	again := startDaemonArgs(t, first.StateDir, ns, "--take-over-namespace")
	if st := inspect(t, again, "web"); st.Status != lifecycle.StatusRunning || st.Pid != before.Pid {
		t.Fatalf("web after two take-overs: %+v", st)
	}
	if st := inspect(t, again, "idle"); st.Status != lifecycle.StatusCreated {
		t.Fatalf("idle after two take-overs: %+v", st)
	}
	if _, errOut, code := again.CLI(t, "rm", "-f", "web", "idle"); code != 0 {
		t.Fatalf("rm: %s", errOut)
	}
}
