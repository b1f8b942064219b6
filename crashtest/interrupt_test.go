//go:build crashtest

package crashtest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/internal/testenv"
	"github.com/vigilhq/vigil/stdio"
)

// TestCrashBeforeRestartRuns kills the daemon at each failpoint
// between a restart's StartRequested and its task's start (no task yet; a
// task created and not started; a task started and not journaled), twice
// in one restart at the first: after recovery the restart runs, once, and
// a container under on-failure:2 whose program always fails still runs
// exactly 3 times, with no StartFailed journaled.
func TestCrashBeforeRestartRuns(t *testing.T) {
	rootfs := testenv.Rootfs(t)
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	work, err := os.MkdirTemp("", "vci")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(work) })
	bin, err := buildFailpointBinary(root, work)
	if err != nil {
		t.Fatalf("build the failpoint binary: %v", err)
	}
	ctrd := testenv.PrivateContainerd(t)
	for _, fp := range []string{"actorBeforeStartTask", "c8dBeforeStartTask", "c8dAfterStartTask"} {
		t.Run(fp, func(t *testing.T) {
			h := &harness{t: t, ctrd: ctrd, bin: bin, rootfs: rootfs, ns: testenv.Namespace(t),
				work: work, state: t.TempDir(), socket: filepath.Join(work, "sock")}
			for _, kv := range os.Environ() {
				if !strings.HasPrefix(kv, "GOFAIL_") {
					h.env = append(h.env, kv)
				}
			}
			// The user's start passes, restart 1 dies at the failpoint;
			// recovery carries restart 1 out (dying there again where the
			// failpoint comes before the task runs); then restart 2 dies;
			// the last daemon has no failpoint. A daemon that does not die
			// within a few seconds has nothing left to do.
			terms := []string{fp + "=1*off->return", fp + "=return", fp + "=1*off->return", ""}
			deaths := 0
			for i, term := range terms {
				var fps []string
				if term != "" {
					fps = []string{term}
				}
				d, serving := h.startDaemon(fps)
				h.d = d
				if i == 0 {
					if !serving {
						t.Fatalf("the first daemon does not serve:\n%s", d.log())
					}
					if _, stderr, err := h.cli(20*time.Second, "run", "-d", "--name", "flaky", "--rootfs", rootfs,
						"--restart", "on-failure:2", "--restart-delay", "200ms", "sh", "-c", "exit 3"); err != nil {
						t.Fatalf("run: %v: %s", err, stderr)
					}
				}
				if term == "" {
					break
				}
				select {
				case <-d.done:
				case <-time.After(10 * time.Second):
				}
				if !d.exited() {
					break // settled, and serving
				}
				if !strings.Contains(d.log(), "failpoint "+fp+": killing the process") {
					t.Fatalf("daemon %d ended, but not at %s:\n%s", i+1, fp, d.log())
				}
				deaths++
			}
			if h.d.exited() {
				h.d, _ = h.startDaemon(nil)
			}
			if deaths < 2 {
				t.Fatalf("the daemon died %d times at %s, want at least 2", deaths, fp)
			}
			defer func() {
				h.cli(20*time.Second, "rm", "-f", "flaky")
				h.d.kill()
			}()
			var st State
			deadline := time.Now().Add(30 * time.Second)
			for {
				out, _, err := h.cli(10*time.Second, "inspect", "flaky")
				var sts []State
				if err == nil && json.Unmarshal([]byte(out), &sts) == nil && len(sts) == 1 {
					st = sts[0]
					if st.Status == "exited" && st.NextRestart == nil {
						break
					}
				}
				if time.Now().After(deadline) {
					t.Fatalf("flaky did not settle: %+v", st)
				}
				time.Sleep(100 * time.Millisecond)
			}
			out, _, err := h.cli(10*time.Second, "events", "--json", "--container", "flaky", "--until", "0s")
			if err != nil {
				t.Fatal(err)
			}
			recs, err := parseRecords(out)
			if err != nil {
				t.Fatal(err)
			}
			var kinds []string
			for _, r := range recs {
				switch r.Type {
				case "StartRequested", "TaskStarted", "StartFailed", "TaskExited":
					var ev event
					json.Unmarshal(r.Event, &ev)
					kinds = append(kinds, fmt.Sprintf("%s(%d)", r.Type, ev.Attempt))
				}
			}
			want := "StartRequested(0) TaskStarted(0) TaskExited(0) StartRequested(1) TaskStarted(0) TaskExited(0) " +
				"StartRequested(2) TaskStarted(0) TaskExited(0)"
			if got := strings.Join(kinds, " "); got != want || st.RestartCount != 2 || st.Exit == nil || st.Exit.Code != 3 {
				t.Fatalf("journal: %s\nwant:    %s\nstate %+v", got, want, st)
			}
			v := View{Records: recs, States: map[string]State{"flaky": st}, Containerd: map[string]Task{},
				Expect: map[string]*Expect{"flaky": {ID: "flaky", Code: 3, Policy: "on-failure", Max: 2, Created: true}}}
			for _, viol := range Check(v) {
				if !strings.Contains(viol, "containerd") { // containerd's view is not gathered here
					t.Errorf("violation: %s", viol)
				}
			}
		})
	}
}

// TestShimKilledBeforeStartJournaled kills the daemon at c8dAfterStartTask
// (the task runs and prints; its start is not journaled), then the task's
// shim, so the task is gone when the next daemon recovers: the run is
// recorded (TaskStarted with the pid journaled before the start, then its
// lost exit, 255), not started again silently, and the log holds no more
// runs' output than the journal has starts (docs/RELIABILITY.md, bug 4;
// the crash harness's cycle 473).
func TestShimKilledBeforeStartJournaled(t *testing.T) {
	rootfs := testenv.Rootfs(t)
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	work, err := os.MkdirTemp("", "vci")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(work) })
	bin, err := buildFailpointBinary(root, work)
	if err != nil {
		t.Fatalf("build the failpoint binary: %v", err)
	}
	ctrd := testenv.PrivateContainerd(t)
	h := &harness{t: t, ctrd: ctrd, bin: bin, rootfs: rootfs, ns: testenv.Namespace(t),
		work: work, state: t.TempDir(), socket: filepath.Join(work, "sock")}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOFAIL_") {
			h.env = append(h.env, kv)
		}
	}
	d, serving := h.startDaemon([]string{"c8dAfterStartTask=return"})
	h.d = d
	if !serving {
		t.Fatalf("the daemon does not serve:\n%s", d.log())
	}
	h.cli(20*time.Second, "run", "-d", "--name", "lost", "--rootfs", rootfs, "sh", "-c", "echo 1; sleep 1000")
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("the daemon did not die at c8dAfterStartTask:\n%s", d.log())
	}
	if !strings.Contains(d.log(), "failpoint c8dAfterStartTask: killing the process") {
		t.Fatalf("the daemon ended, but not at c8dAfterStartTask:\n%s", d.log())
	}
	time.Sleep(500 * time.Millisecond) // the program prints
	if !ctrd.KillShim(h.ns, "lost") {
		t.Fatal("no shim of the task to kill")
	}
	h.d, _ = h.startDaemon(nil)
	defer func() {
		h.cli(20*time.Second, "rm", "-f", "lost")
		h.d.kill()
	}()
	var st State
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, _, err := h.cli(10*time.Second, "inspect", "lost")
		var sts []State
		if err == nil && json.Unmarshal([]byte(out), &sts) == nil && len(sts) == 1 {
			st = sts[0]
			if st.Status == "exited" {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("lost did not settle (a start carried out again runs for good): %+v", st)
		}
		time.Sleep(100 * time.Millisecond)
	}
	out, _, err := h.cli(10*time.Second, "events", "--json", "--container", "lost", "--until", "0s")
	if err != nil {
		t.Fatal(err)
	}
	recs, err := parseRecords(out)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, r := range recs {
		switch r.Type {
		case "StartRequested", "TaskLaunching", "TaskStarted", "StartFailed", "TaskExited":
			var ev event
			json.Unmarshal(r.Event, &ev)
			kinds = append(kinds, fmt.Sprintf("%s(%d)", r.Type, ev.Code))
		}
	}
	want := "StartRequested(0) TaskLaunching(0) TaskStarted(0) TaskExited(255)"
	if got := strings.Join(kinds, " "); got != want {
		t.Fatalf("journal: %s\nwant:    %s\nstate %+v", got, want, st)
	}
	lines, err := readLog(stdio.LogPath(filepath.Join(h.state, "containers", "lost")))
	if err != nil {
		t.Fatal(err)
	}
	v := View{Records: recs, States: map[string]State{"lost": st}, Containerd: map[string]Task{},
		Logs: map[string][]string{"lost": lines},
		Expect: map[string]*Expect{"lost": {ID: "lost", Lines: 1, Policy: "no", Created: true,
			Faults: []Fault{{At: time.Now(), Codes: []int{255}, What: "shim killed"}}}}}
	if len(lines) != 1 {
		t.Errorf("log %q, want the one run's line", lines)
	}
	for _, viol := range Check(v) {
		if !strings.Contains(viol, "containerd") { // containerd's view is not gathered here
			t.Errorf("violation: %s", viol)
		}
	}
}
