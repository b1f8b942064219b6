package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/api"
	"github.com/vigilhq/vigil/internal/testenv"
)

// execExits reads the journal of container id offline (the daemon must be
// stopped) and returns its ExecExited events by exec ID, failing the test
// if an exec's exit is journaled more than once.
func execExits(t *testing.T, d *daemon, id string) map[string]lifecycle.ExecExited {
	t.Helper()
	out, errOut, code := d.CLI(t, "journal", "dump", "--container", id, "--json")
	if code != 0 {
		t.Fatalf("journal dump: exit %d: %s", code, errOut)
	}
	exits := map[string]lifecycle.ExecExited{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var rec struct {
			Type  string
			Event json.RawMessage
		}
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("journal dump line %q: %v", l, err)
		}
		if rec.Type != "ExecExited" {
			continue
		}
		var e lifecycle.ExecExited
		if err := json.Unmarshal(rec.Event, &e); err != nil {
			t.Fatalf("journal dump line %q: %v", l, err)
		}
		if _, dup := exits[e.ExecID]; dup {
			t.Fatalf("the exit of exec %s is journaled twice:\n%s", e.ExecID, out)
		}
		exits[e.ExecID] = e
	}
	return exits
}

// openExecs returns the open execs that inspect shows, by their args.
func openExecs(t *testing.T, d *daemon, id string) map[string]api.Exec {
	t.Helper()
	out := map[string]api.Exec{}
	for _, x := range inspect(t, d, id).Execs {
		out[strings.Join(x.Args, " ")] = x
	}
	return out
}

// TestExecExitedWhileDaemonDown: two execs (one detached, one whose
// client streams its stdio through FIFOs) exit while no daemon runs; the
// next daemon journals each exit once with the code and time containerd
// kept, shows no open exec, and removes the FIFO dir.
func TestExecExitedWhileDaemonDown(t *testing.T) {
	rootfs := testenv.Rootfs(t)
	state, ns := t.TempDir(), testenv.Namespace(t)
	d1 := startDaemon(t, state, ns)
	const id = "execdown"
	if _, errOut, code := d1.CLI(t, "run", "-d", "--name", id, "--rootfs", rootfs, "--", "sleep", "600"); code != 0 {
		t.Fatalf("run: %s", errOut)
	}
	const detached, attached = "sh -c sleep 2; exit 9", "sh -c sleep 2; exit 5"
	if _, errOut, code := d1.CLI(t, "exec", "-d", id, "sh", "-c", "sleep 2; exit 9"); code != 0 {
		t.Fatalf("exec -d: exit %d: %s", code, errOut)
	}
	client := exec.Command(d1.binary, d1.globalArgs("exec", id, "sh", "-c", "sleep 2; exit 5")...)
	client.Env = testEnv()
	if err := client.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Process.Kill(); client.Wait() })
	var open map[string]api.Exec
	waitFor(t, "inspect to show both execs", 30*time.Second, func() bool {
		open = openExecs(t, d1, id)
		return len(open) == 2
	})
	fifoDir := filepath.Join(state, "containers", id, "exec", open[attached].ID)
	if _, err := os.Stat(fifoDir); err != nil {
		t.Fatalf("the FIFO dir of the attached exec: %v", err)
	}

	d1.Kill9()
	time.Sleep(3 * time.Second) // both exit 2 s after their start
	restart := time.Now()

	d2 := startDaemon(t, state, ns)
	t.Cleanup(func() { d2.CLI(t, "rm", "-f", id) }) // if the test fails before its own rm -f
	if st := inspect(t, d2, id); st.Status != lifecycle.StatusRunning || len(st.Execs) != 0 {
		t.Fatalf("after the restart: %s with open execs %+v; want running with none", st.Status, st.Execs)
	}
	if _, err := os.Stat(fifoDir); !os.IsNotExist(err) {
		t.Fatalf("the FIFO dir of the exec that ended while the daemon was down is still there: %v", err)
	}

	// The task's exit closes no exec a second time.
	if _, errOut, code := d2.CLI(t, "rm", "-f", id); code != 0 {
		t.Fatalf("rm -f: %s", errOut)
	}
	d2.Stop()
	exits := execExits(t, d2, id)
	for args, code := range map[string]int{detached: 9, attached: 5} {
		x := open[args]
		e, ok := exits[x.ID]
		switch {
		case !ok:
			t.Errorf("no exit journaled for %q (exec %s): %+v", args, x.ID, exits)
		case e.Code != code || e.Reason != "" || e.Pid != x.Pid:
			t.Errorf("exit of %q: %+v; want code %d of pid %d, no reason", args, e, code, x.Pid)
		case !e.ExitedAt.After(x.StartedAt) || !e.ExitedAt.Before(restart):
			t.Errorf("exit of %q at %v; want containerd's time, between its start %v and the restart %v",
				args, e.ExitedAt, x.StartedAt, restart)
		}
	}
	if len(exits) != 2 {
		t.Fatalf("%d exec exits journaled, want 2: %+v", len(exits), exits)
	}
}

// TestExecRunningAcrossDaemonRestart: an exec still runs when the next
// daemon starts; the daemon shows it open, waits for it again, and
// journals its exit once, with its code, when it ends.
func TestExecRunningAcrossDaemonRestart(t *testing.T) {
	rootfs := testenv.Rootfs(t)
	state, ns := t.TempDir(), testenv.Namespace(t)
	d1 := startDaemon(t, state, ns)
	const id = "execacross"
	if _, errOut, code := d1.CLI(t, "run", "-d", "--name", id, "--rootfs", rootfs, "--", "sleep", "600"); code != 0 {
		t.Fatalf("run: %s", errOut)
	}
	started := time.Now()
	if _, errOut, code := d1.CLI(t, "exec", "-d", id, "sh", "-c", "sleep 10; exit 7"); code != 0 {
		t.Fatalf("exec -d: exit %d: %s", code, errOut)
	}
	execs := inspect(t, d1, id).Execs
	if len(execs) != 1 {
		t.Fatalf("open execs %+v, want one", execs)
	}
	x := execs[0]
	d1.Kill9()

	d2 := startDaemon(t, state, ns)
	t.Cleanup(func() { d2.CLI(t, "rm", "-f", id) }) // if the test fails before its own rm -f
	if time.Since(started) < 8*time.Second {
		// Unless this machine is very slow, the exec still runs.
		if open := inspect(t, d2, id).Execs; len(open) != 1 || open[0].ID != x.ID || open[0].Pid != x.Pid {
			t.Fatalf("open execs after the restart: %+v, want %+v", open, x)
		}
	}
	waitFor(t, "the exec's exit to be recorded", 30*time.Second, func() bool {
		return len(inspect(t, d2, id).Execs) == 0
	})
	// The task's exit and the removal record nothing more.
	if _, errOut, code := d2.CLI(t, "rm", "-f", id); code != 0 {
		t.Fatalf("rm -f: %s", errOut)
	}
	d2.Stop()
	exits := execExits(t, d2, id)
	e, ok := exits[x.ID]
	if !ok || len(exits) != 1 {
		t.Fatalf("exec exits journaled: %+v; want one, of %s", exits, x.ID)
	}
	if e.Code != 7 || e.Reason != "" || e.Pid != x.Pid {
		t.Fatalf("exit %+v; want code 7 of pid %d, no reason", e, x.Pid)
	}
	if d := e.ExitedAt.Sub(x.StartedAt); d < 9*time.Second {
		t.Fatalf("exit at %v, %v after the start; want containerd's time, about 10 s after it", e.ExitedAt, d)
	}
}
