package lifecycle

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// withExecs is s after the execs ids started, with pids 70, 71, ...
func withExecs(t *testing.T, s State, ids ...string) State {
	t.Helper()
	for i, id := range ids {
		s, _ = run(t, s, RecordExecStarted{ExecID: id, Pid: uint32(70 + i), Args: []string{"sh", "-c", id}, At: at(20 + i)})
	}
	if len(s.Execs) != len(ids) {
		t.Fatalf("setup: open execs %+v, want %v", s.Execs, ids)
	}
	return s
}

func execIDs(s State) string {
	var ids []string
	for _, x := range s.Execs {
		ids = append(ids, x.ID)
	}
	return strings.Join(ids, ",")
}

func TestOpenExecs(t *testing.T) {
	s := withExecs(t, running(t, "c", 42), "e1", "e2", "e3")
	want := OpenExec{ID: "e2", Pid: 71, Args: []string{"sh", "-c", "e2"}, StartedAt: at(21)}
	if x, ok := s.OpenExec("e2"); !ok || !reflect.DeepEqual(x, want) {
		t.Fatalf("OpenExec(e2) = %+v, %v; want %+v", x, ok, want)
	}
	if s.Status != StatusRunning || s.Pid != 42 {
		t.Fatalf("execs changed the container: %+v", s)
	}

	// The exit of the middle one closes it alone; the others keep their
	// order.
	s2, events := run(t, s, RecordExecExited{ExecID: "e2", Pid: 71, Code: 4, ExitedAt: at(30), At: at(31)})
	if got := execIDs(s2); got != "e1,e3" {
		t.Fatalf("open after e2's exit: %s, want e1,e3", got)
	}
	if want := []Event{ExecExited{ExecID: "e2", Pid: 71, Code: 4, ExitedAt: at(30)}}; !reflect.DeepEqual(events, want) {
		t.Fatalf("events %#v, want %#v", events, want)
	}
	if got := execIDs(s); got != "e1,e2,e3" {
		t.Fatalf("Apply changed the state it was given: open %s", got)
	}

	// inspect shows them, and nothing when none is open.
	b, _ := json.Marshal(s2)
	if !strings.Contains(string(b), `"execs":[{"id":"e1","pid":70,"args":["sh","-c","e1"],"started_at":"2026-01-02T03:04:25Z"}`) {
		t.Fatalf("inspect JSON lacks the open execs: %s", b)
	}
	b, _ = json.Marshal(running(t, "c", 42))
	if strings.Contains(string(b), "execs") {
		t.Fatalf("a state without execs shows them: %s", b)
	}
	// A snapshot of an older supervisor, without the field, loads with
	// none; one with execs loads them.
	var old State
	if err := json.Unmarshal([]byte(`{"id":"c","status":"running","config":{"id":"c","rootfs":"/r","args":["sh"]},"pid":42,"starts":1,"restart_count":0}`), &old); err != nil || old.Execs != nil || old.Status != StatusRunning {
		t.Fatalf("old snapshot: %+v, %v", old, err)
	}
	var back State
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	b, _ = json.Marshal(s)
	if err := json.Unmarshal(b, &back); err != nil || canon(t, back) != canon(t, s) {
		t.Fatalf("a state with execs does not survive JSON: %v\n%s\n%s", err, canon(t, s), canon(t, back))
	}
}

// An exec's exit is recorded once, whoever reports it first; a report of
// an exec that is not open decides nothing.
func TestExecExitRecordedOnce(t *testing.T) {
	s := withExecs(t, running(t, "c", 42), "e1")
	exit := RecordExecExited{ExecID: "e1", Pid: 70, Code: 9, ExitedAt: at(30), At: at(31)}
	d, err := Decide(s, exit)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Decision{Events: []Event{ExecExited{ExecID: "e1", Pid: 70, Code: 9, ExitedAt: at(30)}},
		Effects: []Effect{DeleteExec{ExecID: "e1"}}}); !reflect.DeepEqual(d, want) {
		t.Fatalf("first report decided %#v, want %#v", d, want)
	}
	s = Replay(s, d.Events)
	for name, c := range map[string]Command{
		"the same report again":      exit,
		"a report with another code": RecordExecExited{ExecID: "e1", Pid: 70, Code: ExitCodeUnknown, Reason: ReasonExecLost, At: at(32)},
		"an exec never started":      RecordExecExited{ExecID: "nosuch", Pid: 5, Code: 1, At: at(32)},
	} {
		if d, err := Decide(s, c); err != nil || len(d.Events)+len(d.Effects) != 0 {
			t.Errorf("%s decided %#v, %v; want nothing", name, d, err)
		}
	}
	// A start reported twice is recorded once.
	s = withExecs(t, s, "e2")
	if d, err := Decide(s, RecordExecStarted{ExecID: "e2", Pid: 70, At: at(40)}); err != nil || len(d.Events) != 0 {
		t.Fatalf("a second start of e2 decided %#v, %v", d, err)
	}
	// A report without the pid takes the recorded one.
	d, _ = Decide(s, RecordExecExited{ExecID: "e2", Code: ExitCodeUnknown, Reason: ReasonExecLost, ExitedAt: at(41), At: at(41)})
	if len(d.Events) != 1 || d.Events[0].(ExecExited).Pid != 70 {
		t.Fatalf("lost exec decided %#v, want its recorded pid 70", d.Events)
	}
}

// The exit of the task's init process closes every open exec in the same
// decision (so in the same journal append), whoever reports it: an exit
// event, reconciliation finding the task stopped or gone, a forced
// removal; a late report of an exec's own exit then decides nothing.
func TestTaskExitClosesExecs(t *testing.T) {
	base := withExecs(t, running(t, "c", 42), "e1", "e2")
	closed := func(at0 int) []Event {
		return []Event{
			ExecExited{ExecID: "e1", Pid: 70, Code: ExitCodeExecKilled, ExitedAt: at(at0), Reason: ReasonTaskExited},
			ExecExited{ExecID: "e2", Pid: 71, Code: ExitCodeExecKilled, ExitedAt: at(at0), Reason: ReasonTaskExited},
		}
	}
	always := base
	always.Config.Restart = RestartPolicy{Name: RestartAlways}
	removing, _ := run(t, base, Remove{Force: true, At: at(50)})

	for _, tc := range []struct {
		name   string
		state  State
		cmd    Command
		events []Event // before the closing ExecExited events
		after  []Event // after them
		at     int
	}{
		{name: "exit event", state: base, cmd: ObserveExit{Pid: 42, Code: 3, ExitedAt: at(60), At: at(61)},
			events: []Event{TaskExited{Pid: 42, Code: 3, ExitedAt: at(60)}}, at: 60},
		{name: "reconcile: task stopped", state: base,
			cmd:    Reconcile{Observed: Observation{ContainerExists: true, Task: TaskStopped, Pid: 42, ExitCode: 5, ExitedAt: at(60)}, At: at(70)},
			events: []Event{TaskExited{Pid: 42, Code: 5, ExitedAt: at(60)}}, at: 60},
		{name: "reconcile: container gone", state: base, cmd: Reconcile{Observed: Observation{}, At: at(70)},
			events: []Event{TaskExited{Pid: 42, Code: ExitCodeUnknown, ExitedAt: at(70),
				Reason: "the container vanished from containerd while the supervisor was away"}}, at: 70},
		{name: "exit with a restart policy", state: always, cmd: ObserveExit{Pid: 42, Code: 3, ExitedAt: at(60), At: at(61)},
			events: []Event{TaskExited{Pid: 42, Code: 3, ExitedAt: at(60)}}, at: 60,
			after: []Event{RestartScheduled{Attempt: 1, Step: 0, Due: at(61).Add(100e6), Reason: "always", At: at(61)}}},
		{name: "forced removal", state: removing, cmd: ObserveExit{Pid: 42, Code: 137, ExitedAt: at(60), At: at(61)},
			events: []Event{TaskExited{Pid: 42, Code: 137, ExitedAt: at(60)}}, at: 60},
		{name: "removed without a recorded exit", state: removing, cmd: RecordRemoved{At: at(65)},
			events: []Event{ContainerRemoved{At: at(65)}}, at: 65},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Decide(tc.state, tc.cmd)
			if err != nil {
				t.Fatal(err)
			}
			want := append(append(append([]Event{}, tc.events...), closed(tc.at)...), tc.after...)
			if r, ok := d.Events[len(d.Events)-1].(RestartScheduled); ok && len(tc.after) == 1 {
				want[len(want)-1] = r // the policy's numbers are tested elsewhere
			}
			if !reflect.DeepEqual(d.Events, want) {
				t.Fatalf("events\n%#v\nwant\n%#v", d.Events, want)
			}
			var deletes []string
			for _, eff := range d.Effects {
				if x, ok := eff.(DeleteExec); ok {
					deletes = append(deletes, x.ExecID)
				}
			}
			if strings.Join(deletes, ",") != "e1,e2" {
				t.Fatalf("effects %#v, want a DeleteExec for e1 and e2", d.Effects)
			}
			after := Replay(tc.state, d.Events)
			if len(after.Execs) != 0 {
				t.Fatalf("execs still open after the task's end: %+v", after.Execs)
			}
			// The exec's own exit, reported later, is not recorded again.
			if d, err := Decide(after, RecordExecExited{ExecID: "e1", Pid: 70, Code: 0, At: at(80)}); err != nil || len(d.Events) != 0 {
				t.Fatalf("late exec exit decided %#v, %v", d, err)
			}
			// Reconciling again decides no exec event.
			if d, _ := Decide(after, tc.cmd); hasExecEvent(d) {
				t.Fatalf("a second %T decided %#v", tc.cmd, d.Events)
			}
		})
	}

	// A stale exit (another pid) closes nothing.
	if d, _ := Decide(base, ObserveExit{Pid: 41, Code: 1, At: at(60)}); len(d.Events) != 0 {
		t.Fatalf("a stale exit decided %#v", d.Events)
	}
}

func hasExecEvent(d Decision) bool {
	for _, e := range d.Events {
		switch e.(type) {
		case ExecStarted, ExecExited:
			return true
		}
	}
	return false
}

// FuzzExecRecovery drives a container with execs through random commands
// (exec starts and exits reported by a live wait or by reconciliation,
// the task's exits, reconciles, restarts, removals) and checks: an exec's
// exit is journaled at most once and only after its start; no exec is open
// once its run ended; open execs exist only while the task runs or the
// container is being removed; and the replay of the journaled events
// (after the journal's encode/decode round trip) equals the live state.
func FuzzExecRecovery(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 3, 4, 5, 6, 2, 3, 7, 8, 9})
	f.Add([]byte{0, 1, 2, 3, 3, 10, 3, 5, 4, 4, 2, 3, 11, 12})
	f.Add([]byte{0, 1, 2, 3, 9, 12, 13, 4, 0, 1, 2, 3, 6})
	f.Fuzz(func(t *testing.T, script []byte) {
		var (
			s       State
			journal []Event
			pid     uint32 = 100
			execN          = 0
			started        = map[string]bool{}
			exited         = map[string]int{}
		)
		pos := 0
		next := func() byte {
			if pos >= len(script) {
				return 0
			}
			b := script[pos]
			pos++
			return b
		}
		pick := func() string { // an exec ID, open or not
			if execN == 0 {
				return "x0"
			}
			return "x" + string(rune('0'+int(next())%(execN+1)))
		}
		for i := 0; pos < len(script) && i < 200; i++ {
			now := at(i)
			var c Command
			switch next() % 14 {
			case 0:
				conf := cfg("c")
				conf.Restart = fuzzPolicy(next(), 0)
				c = Create{Config: conf, At: now}
			case 1:
				c = RecordCreated{At: now}
			case 2:
				if d, err := Decide(s, Start{At: now}); err == nil && len(d.Events) > 0 {
					s = Replay(s, d.Events)
					journal = append(journal, d.Events...)
				}
				pid++
				c = RecordStarted{Pid: pid, At: now}
			case 3, 4:
				if execN == 9 {
					continue // exec IDs are never reused
				}
				execN++
				c = RecordExecStarted{ExecID: "x" + string(rune('0'+execN)), Pid: 1000 + uint32(execN), Args: []string{"sh"}, At: now}
			case 5, 6: // an exec's own exit, live or found by reconciliation
				c = RecordExecExited{ExecID: pick(), Code: int(next()), ExitedAt: now, At: now}
			case 7: // reconciliation found the exec gone
				c = RecordExecExited{ExecID: pick(), Code: ExitCodeUnknown, Reason: ReasonExecLost, ExitedAt: now, At: now}
			case 8:
				c = ObserveExit{Pid: s.Pid, Code: int(next()), ExitedAt: now, At: now}
			case 9:
				c = Reconcile{Observed: Observation{ContainerExists: next()%3 != 0, Task: TaskPhase(next() % 5), Pid: s.Pid, ExitedAt: now}, At: now}
			case 10:
				c = RecordPaused{At: now}
			case 11:
				c = Remove{Force: next()%2 == 0, At: now}
			case 12:
				c = RecordRemoved{At: now}
			case 13:
				if r := s.NextRestart; r != nil {
					c = RestartTimeout{Attempt: r.Attempt, Due: r.Due, At: now}
				} else {
					c = Stop{At: now}
				}
			}
			d, err := Decide(s, c)
			if err != nil {
				if !errors.Is(err, ErrInvalidTransition) && !errors.Is(err, ErrInvalidArgument) {
					t.Fatalf("Decide(%s, %#v): %v", s.Status, c, err)
				}
				continue
			}
			for _, e := range d.Events {
				s = Apply(s, e)
				switch e := e.(type) {
				case ExecStarted:
					started[e.ExecID] = true
				case ExecExited:
					if !started[e.ExecID] {
						t.Fatalf("exit of exec %s that never started", e.ExecID)
					}
					if exited[e.ExecID]++; exited[e.ExecID] > 1 {
						t.Fatalf("exit of exec %s recorded twice", e.ExecID)
					}
				}
				journal = append(journal, e)
			}
			if len(s.Execs) > 0 && s.Status != StatusRunning && s.Status != StatusRemoving {
				t.Fatalf("execs %s open in status %s after %#v", execIDs(s), s.Status, d.Events)
			}
		}
		if replayed := Replay(State{}, roundTrip(t, journal)); canon(t, replayed) != canon(t, s) {
			t.Fatalf("replay differs from live:\nlive   %s\nreplay %s", canon(t, s), canon(t, replayed))
		}
	})
}
