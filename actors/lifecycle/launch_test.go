package lifecycle

import (
	"reflect"
	"testing"
)

// starting returns a container whose start is journaled (on-failure:2) and,
// with pid != 0, whose task was created with pid (TaskLaunching) but whose
// start is not yet recorded.
func starting(t *testing.T, pid uint32) State {
	t.Helper()
	c := cfg("c1")
	c.Restart = RestartPolicy{Name: RestartOnFailure, MaxRetries: 2}
	s, _ := run(t, State{}, Create{Config: c, At: at(0)}, RecordCreated{At: at(1)}, Start{At: at(2)})
	if pid != 0 {
		s, _ = run(t, s, RecordLaunching{Pid: pid, At: at(3)})
	}
	if s.Status != StatusStarting || s.Pid != pid {
		t.Fatalf("setup: %s pid %d", s.Status, s.Pid)
	}
	return s
}

func eventNames(es []Event) []string {
	var out []string
	for _, e := range es {
		out = append(out, EventName(e))
	}
	return out
}

func effectNames(es []Effect) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.effectName())
	}
	return out
}

// A task that was created (its pid journaled) and vanished before its start
// was recorded may have run and printed: it is recorded as a run with a
// lost exit, and the restart policy decides; it is not started again
// silently (docs/RELIABILITY.md, bug 4).
func TestLaunchedTaskThatVanishedIsARun(t *testing.T) {
	for _, o := range []Observation{
		{ContainerExists: true, Task: TaskAbsent},
		{ContainerExists: true, Task: TaskCreated, Pid: 999}, // another task
	} {
		s := starting(t, 41)
		d, err := Decide(s, Reconcile{Observed: o, At: at(10)})
		if err != nil {
			t.Fatal(err)
		}
		// on-failure does not restart a task that containerd lost, as
		// for a running task that vanished.
		if got, want := eventNames(d.Events), []string{"TaskStarted", "TaskExited"}; !reflect.DeepEqual(got, want) {
			t.Fatalf("task %v: events %v, want %v", o.Task, got, want)
		}
		st, ex := d.Events[0].(TaskStarted), d.Events[1].(TaskExited)
		if st.Pid != 41 || ex.Pid != 41 || ex.Code != ExitCodeUnknown || ex.Reason != LaunchLostReason {
			t.Fatalf("task %v: %+v %+v", o.Task, st, ex)
		}
		for _, e := range d.Effects {
			if _, ok := e.(StartTask); ok {
				t.Fatalf("task %v: started again at once: %v", o.Task, effectNames(d.Effects))
			}
		}
		after := Replay(s, d.Events)
		if after.Starts != 1 || after.Status != StatusExited || after.Exit.Pid != 41 {
			t.Fatalf("task %v: after: %s starts %d next %+v", o.Task, after.Status, after.Starts, after.NextRestart)
		}
	}
}

// A task that was created and never started (the supervisor stopped in
// between) did not run: the start is carried out, with no event.
func TestLaunchedTaskNeverStartedIsStarted(t *testing.T) {
	s := starting(t, 41)
	d, err := Decide(s, Reconcile{Observed: Observation{ContainerExists: true, Task: TaskCreated, Pid: 41}, At: at(10)})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Events) != 0 || !reflect.DeepEqual(effectNames(d.Effects), []string{"start-task"}) {
		t.Fatalf("events %v effects %v, want only start-task", eventNames(d.Events), effectNames(d.Effects))
	}
	// Running or exited: adopted as this start's run.
	d, _ = Decide(s, Reconcile{Observed: Observation{ContainerExists: true, Task: TaskStopped, Pid: 41, ExitCode: 3}, At: at(10)})
	if got := eventNames(d.Events); !reflect.DeepEqual(got[:2], []string{"TaskStarted", "TaskExited"}) || d.Events[1].(TaskExited).Code != 3 {
		t.Fatalf("stopped: %v", got)
	}
}

// The exit of a launched task whose start is not recorded (its shim died as
// it started) records the start too: the run is in the timeline.
func TestExitOfLaunchedTaskRecordsItsStart(t *testing.T) {
	s := starting(t, 41)
	d, err := Decide(s, ObserveExit{Pid: 41, Code: 137, ExitedAt: at(5), At: at(6)})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := eventNames(d.Events), []string{"TaskStarted", "TaskExited", "RestartScheduled"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	// Another pid's exit is stale.
	if d, _ := Decide(s, ObserveExit{Pid: 42, Code: 1, At: at(6)}); len(d.Events) != 0 {
		t.Fatalf("another pid's exit: %v", eventNames(d.Events))
	}
}

// The task of the run before, exited and recorded but not deleted (containerd
// was away), found while a restart starts, is no run of the restart: it is
// deleted and the start carried out (docs/RELIABILITY.md, bug 3).
func TestOldTaskInTheWayOfAStart(t *testing.T) {
	c := cfg("c1")
	c.Restart = RestartPolicy{Name: RestartOnFailure, MaxRetries: 2}
	s, _ := run(t, State{}, Create{Config: c, At: at(0)}, RecordCreated{At: at(1)}, Start{At: at(2)},
		RecordStarted{Pid: 30, At: at(3)}, ObserveExit{Pid: 30, Code: 3, ExitedAt: at(4), At: at(4)})
	if s.NextRestart == nil {
		t.Fatalf("setup: no restart: %+v", s)
	}
	s, _ = run(t, s, RestartTimeout{Attempt: s.NextRestart.Attempt, Due: s.NextRestart.Due, At: at(5)})
	if s.Status != StatusStarting {
		t.Fatalf("setup: %s", s.Status)
	}
	d, err := Decide(s, Reconcile{Observed: Observation{ContainerExists: true, Task: TaskStopped, Pid: 30, ExitCode: 3}, At: at(6)})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Events) != 0 || !reflect.DeepEqual(effectNames(d.Effects), []string{"delete-task", "start-task"}) {
		t.Fatalf("events %v effects %v; want no event, delete-task then start-task", eventNames(d.Events), effectNames(d.Effects))
	}
	// Its exit event, late, is stale too.
	if d, _ := Decide(s, ObserveExit{Pid: 30, Code: 3, At: at(6)}); len(d.Events) != 0 {
		t.Fatalf("the old run's exit recorded again: %v", eventNames(d.Events))
	}
}

// A host reboot finds a launched task gone: recorded as a run, once.
func TestRebootAfterLaunchIsARun(t *testing.T) {
	s := starting(t, 41)
	s.Boot = "boot-1"
	d, err := Decide(s, Reconcile{Observed: Observation{}, Boot: "boot-2", At: at(10)})
	if err != nil {
		t.Fatal(err)
	}
	if got := eventNames(d.Events); len(got) < 3 || got[1] != "TaskStarted" || got[2] != "TaskExited" {
		t.Fatalf("events %v, want HostRebooted, TaskStarted, TaskExited, ...", got)
	}
}
