package lifecycle

import (
	"errors"
	"reflect"
	"testing"
)

func TestExecAllowedOnlyInARunningTask(t *testing.T) {
	run1 := running(t, "c", 42)
	paused := Apply(run1, TaskPaused{At: at(5)})
	created, _ := run(t, State{}, Create{Config: cfg("c"), At: at(0)}, RecordCreated{At: at(1)})
	exited := Apply(run1, TaskExited{Pid: 42, Code: 0, ExitedAt: at(6)})
	removing, _ := run(t, exited, Remove{At: at(7)})

	exec := Exec{ExecID: "e1", Args: []string{"sh"}, At: at(10)}
	d, err := Decide(run1, exec)
	if err != nil {
		t.Fatal(err)
	}
	want := Decision{Effects: []Effect{StartExec{ExecID: "e1", Args: []string{"sh"}}}}
	if !reflect.DeepEqual(d, want) {
		t.Fatalf("exec in a running task decided %#v, want %#v", d, want)
	}

	for name, s := range map[string]State{
		"none": {}, "created": created, "paused": paused, "exited": exited, "removing": removing,
	} {
		d, err := Decide(s, exec)
		if !errors.Is(err, ErrInvalidTransition) {
			t.Errorf("exec in a %s container: err %v, want ErrInvalidTransition", name, err)
		}
		if len(d.Events)+len(d.Effects) != 0 {
			t.Errorf("a refused exec in a %s container decided %#v", name, d)
		}
	}
}

func TestExecBadArguments(t *testing.T) {
	s := running(t, "c", 42)
	for _, c := range []Exec{
		{ExecID: "", Args: []string{"sh"}},
		{ExecID: "../x", Args: []string{"sh"}},
		{ExecID: "e1"},
		{ExecID: "e1", Args: []string{""}},
	} {
		if _, err := Decide(s, c); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("Decide(%+v): err %v, want ErrInvalidArgument", c, err)
		}
	}
}

// The exec's events change nothing of the container's state but its set
// of open execs, and survive the journal's round trip.
func TestExecEventsKeepTheStatus(t *testing.T) {
	run1 := running(t, "c", 42)

	d, err := Decide(run1, RecordExecStarted{ExecID: "e1", Pid: 77, Args: []string{"id", "-u"}, At: at(8)})
	if err != nil {
		t.Fatal(err)
	}
	started := ExecStarted{ExecID: "e1", Pid: 77, Args: []string{"id", "-u"}, At: at(8)}
	if !reflect.DeepEqual(d.Events, []Event{started}) {
		t.Fatalf("RecordExecStarted decided %#v", d.Events)
	}
	open := Apply(run1, started)
	d, err = Decide(open, RecordExecExited{ExecID: "e1", Pid: 77, Code: 137, ExitedAt: at(9), At: at(9)})
	if err != nil {
		t.Fatal(err)
	}
	ended := ExecExited{ExecID: "e1", Pid: 77, Code: 137, ExitedAt: at(9)}
	if !reflect.DeepEqual(d.Events, []Event{ended}) {
		t.Fatalf("RecordExecExited decided %#v", d.Events)
	}
	events := roundTrip(t, []Event{started, ended})
	if !reflect.DeepEqual(events, []Event{started, ended}) {
		t.Fatalf("round trip gave %#v", events)
	}
	if got := Replay(run1, events); canon(t, got) != canon(t, run1) {
		t.Fatalf("an exec that started and exited changed the state:\nbefore %s\nafter  %s", canon(t, run1), canon(t, got))
	}
	exited := Apply(run1, TaskExited{Pid: 42, Code: 3, ExitedAt: at(6)})

	// Nothing is recorded for a container that is gone.
	removed, _ := run(t, exited, Remove{At: at(10)}, RecordRemoved{At: at(11)})
	for _, c := range []Command{
		RecordExecStarted{ExecID: "e1", Pid: 77, At: at(12)},
		RecordExecExited{ExecID: "e1", Pid: 77, At: at(12)},
	} {
		if d, err := Decide(removed, c); err != nil || len(d.Events) != 0 {
			t.Errorf("%T in a removed container: %#v, %v", c, d, err)
		}
	}
}

func TestExecEventsAreRegistered(t *testing.T) {
	names := map[string]bool{}
	for _, e := range AllEvents() {
		names[EventName(e)] = true
	}
	for _, e := range []Event{ExecStarted{}, ExecExited{}} {
		if !names[EventName(e)] {
			t.Errorf("%s is missing from AllEvents", EventName(e))
		}
	}
}

// FuzzExec interleaves exec commands with a container's life and checks
// that an exec is allowed exactly in a running task that is not paused, and
// that exec commands change nothing of the container's state but its open
// execs.
func FuzzExec(f *testing.F) {
	f.Add([]byte{0, 1, 2, 6, 7, 8, 3, 6, 4, 6, 5, 6})
	f.Add([]byte{0, 6, 1, 6, 2, 7, 9, 8, 10, 6})
	f.Fuzz(func(t *testing.T, script []byte) {
		var s State
		pid := uint32(100)
		for i, op := range script {
			now := at(i)
			var c Command
			switch op % 11 {
			case 0:
				c = Create{Config: cfg("c"), At: now}
			case 1:
				c = RecordCreated{At: now}
			case 2:
				if d, err := Decide(s, Start{At: now}); err == nil {
					s = Replay(s, d.Events)
				}
				pid++
				c = RecordStarted{Pid: pid, At: now}
			case 3:
				c = RecordPaused{At: now}
			case 4:
				c = RecordUnpaused{At: now}
			case 5:
				c = ObserveExit{Pid: s.Pid, Code: 1, ExitedAt: now, At: now}
			case 9:
				c = Remove{Force: true, At: now}
			case 10:
				c = RecordRemoved{At: now}
			default: // 6, 7, 8: the exec commands
				ec := []Command{
					Exec{ExecID: "e", Args: []string{"sh"}, At: now},
					RecordExecStarted{ExecID: "e", Pid: 7, Args: []string{"sh"}, At: now},
					RecordExecExited{ExecID: "e", Pid: 7, Code: int(op), ExitedAt: now, At: now},
				}[op%11-6]
				d, err := Decide(s, ec)
				if err != nil && !errors.Is(err, ErrInvalidTransition) && !errors.Is(err, ErrInvalidArgument) {
					t.Fatalf("Decide(%s, %#v): unexpected error %v", s.Status, ec, err)
				}
				if _, ok := ec.(Exec); ok {
					allowed := s.Status == StatusRunning && !s.Paused
					if (err == nil) != allowed || (err == nil && len(d.Effects) != 1) || len(d.Events) != 0 {
						t.Fatalf("exec in %s (paused %v): %#v, %v", s.Status, s.Paused, d, err)
					}
				}
				after, before := Replay(s, d.Events), s
				after.Execs, before.Execs = nil, nil
				if canon(t, after) != canon(t, before) {
					t.Fatalf("%T changed more than the open execs:\nbefore %s\nafter  %s", ec, canon(t, before), canon(t, after))
				}
				s = Replay(s, d.Events)
				continue
			}
			d, err := Decide(s, c)
			if err != nil {
				continue
			}
			s = Replay(s, d.Events)
		}
	})
}
