package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/internal/testenv"
)

// TestRemoveForcePaused: rm -f of a paused container removes it, and the
// journal holds exactly one exit of its run.
func TestRemoveForcePaused(t *testing.T) {
	state, ns := t.TempDir(), testenv.Namespace(t)
	d := startDaemon(t, state, ns)
	runCounter(t, d, "held")
	pid := inspectOne(t, d, "held").Pid
	if _, errOut, code := d.CLI(t, "pause", "held"); code != 0 {
		t.Fatalf("pause: exit %d: %s", code, errOut)
	}
	if _, errOut, code := d.CLI(t, "rm", "-f", "held"); code != 0 {
		t.Fatalf("rm -f of a paused container: exit %d: %s", code, errOut)
	}
	if out, _, _ := d.CLI(t, "ps", "-a"); strings.Contains(out, "held") {
		t.Fatalf("ps -a after rm -f:\n%s", out)
	}
	d.Stop()
	out, errOut, code := d.CLI(t, "journal", "dump", "--container", "held", "--json")
	if code != 0 {
		t.Fatalf("journal dump: exit %d: %s", code, errOut)
	}
	exits := 0
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var rec struct {
			Type  string
			Event lifecycle.TaskExited
		}
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("journal dump line %q: %v", l, err)
		}
		if rec.Type == "TaskExited" {
			exits++
			if rec.Event.Pid != pid {
				t.Errorf("exit journaled for pid %d, want %d", rec.Event.Pid, pid)
			}
		}
	}
	if exits != 1 {
		t.Fatalf("%d exits journaled, want 1:\n%s", exits, out)
	}
}
