package lifecycle

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// rebootStates are the states a host reboot may find a container in, each
// made from a created container by a recipe; a recipe returns false where
// the state cannot happen under the policy (an exit by itself under always
// is always followed by a pending restart, say).
var rebootStates = []struct {
	name string
	make func(x *sim) bool
}{
	{"created", func(x *sim) bool { return true }},
	{"mid-create", func(x *sim) bool {
		x.s = Replay(State{}, []Event{CreateRequested{Config: x.s.Config, Boot: x.s.Boot, At: x.now}})
		return true
	}},
	{"running", func(x *sim) bool { x.do(Start{At: x.now}); return true }},
	{"paused", func(x *sim) bool { x.do(Start{At: x.now}); x.do(RecordPaused{At: x.now}); return true }},
	{"exited by itself", func(x *sim) bool {
		x.do(Start{At: x.now})
		x.exitAfter(ms, 3)
		if x.timer != nil && x.s.Config.Restart.Name == RestartOnFailure {
			x.fire()
			x.exitAfter(ms, 3) // on-failure:1 has used its retry
		}
		return x.s.NextRestart == nil
	}},
	{"stopped by the user", func(x *sim) bool {
		x.do(Start{At: x.now})
		x.do(Stop{Timeout: time.Second, At: x.now})
		x.exitAfter(ms, 143)
		return true
	}},
	{"killed by the user", func(x *sim) bool {
		x.do(Start{At: x.now})
		x.do(Kill{Signal: SIGKILL, At: x.now})
		x.exitAfter(ms, 137)
		return true
	}},
	{"restart pending", func(x *sim) bool {
		x.do(Start{At: x.now})
		x.exitAfter(ms, 3)
		x.timer = nil // it did not fire before the reboot
		return x.s.NextRestart != nil
	}},
	{"mid-start", func(x *sim) bool { x.crashStarts = 1; x.do(Start{At: x.now}); return true }},
	{"mid-restart", func(x *sim) bool {
		x.do(Start{At: x.now})
		x.exitAfter(ms, 3)
		if x.timer == nil {
			return false
		}
		x.crashStarts = 1
		x.fire()
		return x.s.Status == StatusStarting
	}},
	{"mid-rm", func(x *sim) bool {
		x.do(Start{At: x.now})
		x.exitAfter(ms, 0)
		if x.s.NextRestart != nil {
			x.do(Stop{At: x.now})
		}
		x.do(Remove{At: x.now}) // the sim does not delete: it stays removing
		return x.s.Status == StatusRemoving
	}},
}

// rebootOutcomes is the table of the README's restart-policy section: what
// a host reboot does to a container, by the state it found it in (rows,
// as rebootStates) and its policy (columns: no, on-failure:1, always,
// unless-stopped). "-" is a state the policy never leaves a container in.
var rebootOutcomes = map[string][4]string{
	"created":             {"created", "created", "created", "created"},
	"mid-create":          {"created", "created", "created", "created"},
	"running":             {"exited 255", "exited 255", "restarted", "restarted"},
	"paused":              {"exited 255", "exited 255", "restarted", "restarted"},
	"exited by itself":    {"exited 3", "exited 3", "-", "-"},
	"stopped by the user": {"exited 143", "exited 143", "restarted", "exited 143"},
	"killed by the user":  {"exited 137", "exited 137", "restarted", "exited 137"},
	"restart pending":     {"-", "restarted", "restarted", "restarted"},
	"mid-start":           {"exited 255", "exited 255", "restarted", "restarted"},
	"mid-restart":         {"-", "exited 255", "restarted", "restarted"},
	"mid-rm":              {"removed", "removed", "removed", "removed"},
}

var rebootPolicies = []string{"no", "on-failure:1", "always", "unless-stopped"}

// rebootOutcome describes a container after the reboot's reconcile: a
// restart (the timer armed fires, the task runs), or its status.
func rebootOutcome(x *sim) string {
	if x.timer != nil {
		x.fire()
		if x.s.Status == StatusRunning {
			return "restarted"
		}
	}
	switch x.s.Status {
	case StatusExited:
		return fmt.Sprintf("exited %d", x.s.Exit.Code)
	case StatusRemoving:
		x.do(RecordRemoved{At: x.now})
	}
	return x.s.Status.String()
}

// TestRebootRules: every policy × every state a host reboot may find a
// container in, through the reconcile that sees the new boot ID and
// containerd as a reboot leaves it (the container record kept, no task).
func TestRebootRules(t *testing.T) {
	for _, st := range rebootStates {
		for i, pol := range rebootPolicies {
			want := rebootOutcomes[st.name][i]
			t.Run(st.name+"/"+pol, func(t *testing.T) {
				p, err := ParseRestartPolicy(pol)
				if err != nil {
					t.Fatal(err)
				}
				x := &sim{t: t, now: t0, pid: 100}
				c := cfg("c")
				c.Restart = p
				x.do(Create{Config: c, Boot: "boot-1", At: x.now})
				if !st.make(x) {
					if want != "-" {
						t.Fatalf("the state cannot be made under %s, but the table says %q", pol, want)
					}
					return
				}
				if want == "-" {
					t.Fatalf("the table says the state cannot be, but it was made: %+v", x.s)
				}
				before := x.s
				x.now = x.now.Add(time.Hour)
				x.timer = nil
				obs := Observation{ContainerExists: true} // the record survived; no task did
				d := x.do(Reconcile{Observed: obs, Boot: "boot-2", At: x.now})
				if len(d.Events) == 0 {
					t.Fatal("the reboot journaled nothing")
				}
				if r, ok := d.Events[0].(HostRebooted); !ok || r.PreviousBoot != "boot-1" || r.Boot != "boot-2" {
					t.Fatalf("first event %#v, want HostRebooted", d.Events[0])
				}
				exits := 0
				for _, e := range d.Events {
					if _, ok := e.(TaskExited); ok {
						exits++
					}
				}
				if exits > 1 || (exits == 1) != before.Alive() {
					t.Fatalf("%d exits recorded for a container that was %s", exits, before.Status)
				}
				if !before.Alive() && before.Exit != nil && (x.s.Exit == nil || *x.s.Exit != *before.Exit) {
					t.Fatalf("the exit %+v was overwritten with %+v", before.Exit, x.s.Exit)
				}
				// Deciding again in the same boot decides nothing more.
				if d2, _ := Decide(x.s, Reconcile{Observed: obs, Boot: "boot-2", At: x.now}); len(d2.Events) != 0 {
					t.Fatalf("a second reconcile in the new boot decided %#v", d2.Events)
				}
				if got := rebootOutcome(x); got != want {
					t.Fatalf("after the reboot: %s, want %s (state %+v)", got, want, x.s)
				}
			})
		}
	}
}

// TestRebootTableInREADME: the README's table is this package's.
func TestRebootTableInREADME(t *testing.T) {
	var b strings.Builder
	fmt.Fprintf(&b, "| state at the reboot | %s |\n|---|---|---|---|---|\n", strings.Join(rebootPolicies, " | "))
	for _, st := range rebootStates {
		row := rebootOutcomes[st.name]
		fmt.Fprintf(&b, "| %s | %s |\n", st.name, strings.Join(row[:], " | "))
	}
	readme := readREADME(t)
	if !strings.Contains(readme, b.String()) {
		t.Fatalf("the README's restart-policy section lacks the table of the reboot rules:\n%s", b.String())
	}
}

// A restart due after the reboot waits for its due time; only an overdue
// one runs at once.
func TestRebootKeepsAPendingRestartsDueTime(t *testing.T) {
	x := &sim{t: t, now: t0, pid: 100}
	c := cfg("c")
	c.Restart = RestartPolicy{Name: RestartAlways, Delay: time.Hour}
	x.do(Create{Config: c, Boot: "boot-1", At: x.now})
	x.do(Start{At: x.now})
	x.exitAfter(ms, 3)
	due := x.s.NextRestart.Due
	d := x.do(Reconcile{Observed: Observation{ContainerExists: true}, Boot: "boot-2", At: x.now.Add(time.Minute)})
	if len(d.Effects) != 1 || d.Effects[0] != (ArmRestartTimer{Attempt: 1, Due: due, After: due.Sub(x.now.Add(time.Minute))}) {
		t.Fatalf("effects %#v", d.Effects)
	}
}

// A container created by a vigil that did not record boots records the
// boot it is first seen in, and nothing else happens.
func TestBootRecordedOnce(t *testing.T) {
	s := running(t, "c", 42)
	obs := Observation{ContainerExists: true, Task: TaskRunning, Pid: 42}
	d, err := Decide(s, Reconcile{Observed: obs, Boot: "boot-1", At: at(9)})
	if err != nil || len(d.Events) != 1 || d.Events[0] != (BootRecorded{Boot: "boot-1", At: at(9)}) {
		t.Fatalf("%#v, %v", d, err)
	}
	s = Replay(s, d.Events)
	if d, _ := Decide(s, Reconcile{Observed: obs, Boot: "boot-1", At: at(10)}); len(d.Events) != 0 {
		t.Fatalf("again: %#v", d.Events)
	}
}

func readREADME(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
