package lifecycle

import (
	"errors"
	"testing"
)

// runningUnder returns a state running pid 7 under policy p, built with
// Decide and Apply as the actor would.
func runningUnder(t *testing.T, p RestartPolicy) State {
	t.Helper()
	c := cfg("cp")
	c.Restart = p
	var s State
	for _, cmd := range []Command{Create{Config: c, At: at(0)}, RecordCreated{At: at(0)}, Start{At: at(0)}, RecordStarted{Pid: 7, At: at(0)}} {
		s = mustApply(t, s, cmd)
	}
	return s
}

func mustApply(t *testing.T, s State, c Command) State {
	t.Helper()
	d, err := Decide(s, c)
	if err != nil {
		t.Fatalf("%T: %v", c, err)
	}
	return Replay(s, d.Events)
}

// TestCheckpointExitIsNotRestarted: under every policy that restarts a
// crash, the exit a checkpoint causes is not restarted, whether the
// checkpoint's outcome was journaled or the supervisor stopped before it
// was; a checkpoint that leaves the task running is no stop.
func TestCheckpointExitIsNotRestarted(t *testing.T) {
	for _, p := range []RestartPolicy{{Name: RestartAlways}, {Name: RestartUnlessStopped}, {Name: RestartOnFailure}} {
		for _, recorded := range []bool{true, false} {
			s := mustApply(t, runningUnder(t, p), Checkpoint{Dir: "/ckpt", At: at(1)})
			if recorded {
				s = mustApply(t, s, RecordCheckpointed{At: at(2)})
			}
			d, err := Decide(s, ObserveExit{Pid: 7, Code: 137, ExitedAt: at(3), At: at(3)})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range d.Events {
				if _, ok := e.(RestartScheduled); ok {
					t.Errorf("%s, outcome journaled %v: the checkpoint's exit was restarted", p, recorded)
				}
			}
			if after := Replay(s, d.Events); after.Status != StatusExited || after.Checkpoint != nil || !after.StopRequested {
				t.Errorf("%s: after the exit: %+v", p, after)
			}
		}

		// Leave running, then a crash: the crash is restarted as usual.
		s := mustApply(t, runningUnder(t, p), Checkpoint{Dir: "/ckpt", LeaveRunning: true, At: at(1)})
		s = mustApply(t, s, RecordCheckpointed{At: at(2)})
		if s.StopRequested || s.LastCheckpoint != "/ckpt" || s.Status != StatusRunning {
			t.Fatalf("%s: after a checkpoint that leaves the task running: %+v", p, s)
		}
		d, _ := Decide(s, ObserveExit{Pid: 7, Code: 1, ExitedAt: at(3), At: at(3)})
		if n := len(d.Events); n != 2 {
			t.Errorf("%s: a crash after a leave-running checkpoint: events %+v, want the exit and a restart", p, d.Events)
		}
	}
}

// TestCheckpointFailedKeepsRunning: a failed checkpoint leaves the task
// running, not stopped by the user, and a later stop works.
func TestCheckpointFailedKeepsRunning(t *testing.T) {
	s := mustApply(t, runningUnder(t, RestartPolicy{Name: RestartAlways}), Checkpoint{Dir: "/ckpt", At: at(1)})
	s = mustApply(t, s, RecordCheckpointFailed{Err: "criu is not usable", At: at(2)})
	if s.Status != StatusRunning || s.StopRequested || s.Checkpoint != nil || s.Pid != 7 || s.LastCheckpoint != "" {
		t.Fatalf("after a failed checkpoint: %+v", s)
	}
	d, err := Decide(s, Stop{At: at(3)})
	if err != nil || len(d.Events) != 1 {
		t.Fatalf("stop after a failed checkpoint: %+v, %v", d, err)
	}
}

func TestCheckpointBadInput(t *testing.T) {
	s := runningUnder(t, RestartPolicy{})
	for _, dir := range []string{"", "rel", "./x"} {
		if _, err := Decide(s, Checkpoint{Dir: dir}); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("checkpoint into %q: %v, want ErrInvalidArgument", dir, err)
		}
		if _, err := Decide(State{ID: "x", Status: StatusExited}, Start{Checkpoint: dir + "x"}); dir != "" && !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("start from %q: %v, want ErrInvalidArgument", dir+"x", err)
		}
	}
	for _, st := range []Status{StatusNone, StatusCreated, StatusExited, StatusRemoved, StatusStarting} {
		if _, err := Decide(State{ID: "x", Status: st}, Checkpoint{Dir: "/ckpt"}); !errors.Is(err, ErrInvalidTransition) {
			t.Errorf("checkpoint of a %s container: %v, want ErrInvalidTransition", st, err)
		}
	}
}
