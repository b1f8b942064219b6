package lifecycle

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func at(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }

func cfg(id string) Config {
	return Config{ID: id, Rootfs: "/rootfs", Args: []string{"/bin/sh", "-c", "exit 7"}}
}

// run drives s through commands, applying every decided event, and returns
// the final state and all events.
func run(t *testing.T, s State, cmds ...Command) (State, []Event) {
	t.Helper()
	var all []Event
	for _, c := range cmds {
		d, err := Decide(s, c)
		if err != nil {
			t.Fatalf("Decide(%s, %T): %v", s.Status, c, err)
		}
		for _, e := range d.Events {
			s = Apply(s, e)
		}
		all = append(all, d.Events...)
	}
	return s, all
}

func running(t *testing.T, id string, pid uint32) State {
	s, _ := run(t, State{}, Create{Config: cfg(id), At: at(0)}, RecordCreated{At: at(1)},
		Start{At: at(2)}, RecordStarted{Pid: pid, At: at(3)})
	if s.Status != StatusRunning || s.Pid != pid {
		t.Fatalf("setup: %+v", s)
	}
	return s
}

func TestStatusString(t *testing.T) {
	if StatusRunning.String() != "running" || Status(99).String() != "Status(99)" {
		t.Fatal(StatusRunning.String(), Status(99).String())
	}
	b, err := json.Marshal(State{Status: StatusExited})
	if err != nil || !strings.Contains(string(b), `"status":"exited"`) {
		t.Fatalf("%s %v", b, err)
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil || s.Status != StatusExited {
		t.Fatalf("%+v %v", s, err)
	}
	if err := json.Unmarshal([]byte(`{"status":"bogus"}`), &s); err == nil {
		t.Fatal("parsed a bogus status")
	}
}

func TestDecideTable(t *testing.T) {
	created, _ := run(t, State{}, Create{Config: cfg("c"), At: at(0)}, RecordCreated{At: at(1)})
	creating, _ := run(t, State{}, Create{Config: cfg("c"), Start: true, At: at(0)})
	bridgeCfg := cfg("c")
	bridgeCfg.Network = "bridge"
	creatingBridge, _ := run(t, State{}, Create{Config: bridgeCfg, Start: true, At: at(0)})
	runningState := running(t, "c", 42)
	exited, _ := run(t, runningState, ObserveExit{Pid: 42, Code: 7, ExitedAt: at(9)})
	removed, _ := run(t, exited, Remove{At: at(10)}, RecordRemoved{At: at(11)})

	for _, tc := range []struct {
		name    string
		state   State
		cmd     Command
		events  []Event
		effects []Effect
		err     error
	}{
		{name: "create", state: State{}, cmd: Create{Config: cfg("c"), At: at(0)},
			events: []Event{CreateRequested{Config: cfg("c"), At: at(0)}}, effects: []Effect{CreateContainer{Config: cfg("c")}}},
		{name: "create bad id", state: State{}, cmd: Create{Config: cfg("../x")}, err: ErrInvalidArgument},
		{name: "create relative rootfs", state: State{}, cmd: Create{Config: Config{ID: "a", Rootfs: "r", Args: []string{"x"}}}, err: ErrInvalidArgument},
		{name: "create no args", state: State{}, cmd: Create{Config: Config{ID: "a", Rootfs: "/r"}}, err: ErrInvalidArgument},
		{name: "create existing", state: created, cmd: Create{Config: cfg("c")}, err: ErrInvalidTransition},
		{name: "create after remove", state: removed, cmd: Create{Config: cfg("c"), At: at(20)},
			events: []Event{CreateRequested{Config: cfg("c"), At: at(20)}}, effects: []Effect{CreateContainer{Config: cfg("c")}}},
		{name: "create and start", state: State{}, cmd: Create{Config: cfg("c"), Start: true, At: at(0)},
			events: []Event{CreateRequested{Config: cfg("c"), At: at(0)}}, effects: []Effect{CreateContainer{Config: cfg("c"), Start: true}}},
		{name: "created, then started: one append", state: creating, cmd: RecordCreated{Start: true, At: at(1)},
			events:  []Event{ContainerCreated{At: at(1)}, StartRequested{At: at(1)}},
			effects: []Effect{StartTask{Config: cfg("c")}}},
		{name: "created, start on a bridge: the setup's intent in the same append", state: creatingBridge, cmd: RecordCreated{Start: true, At: at(1)},
			events:  []Event{ContainerCreated{At: at(1)}, StartRequested{At: at(1)}, NetworkSetupRequested{Network: "bridge", At: at(1)}},
			effects: []Effect{SetupNetwork{Config: bridgeCfg}}},
		{name: "created without start", state: creating, cmd: RecordCreated{At: at(1)},
			events: []Event{ContainerCreated{At: at(1)}}},
		{name: "start created", state: created, cmd: Start{At: at(2)},
			events: []Event{StartRequested{At: at(2)}}, effects: []Effect{StartTask{Config: cfg("c")}}},
		{name: "start running is a no-op", state: runningState, cmd: Start{}},
		{name: "start missing", state: State{ID: "x"}, cmd: Start{}, err: ErrInvalidTransition},
		{name: "start removed", state: removed, cmd: Start{}, err: ErrInvalidTransition},
		{name: "stop running", state: runningState, cmd: Stop{Timeout: 5 * time.Second, At: at(5)},
			events:  []Event{StopRequested{Signal: SIGTERM, Deadline: at(10), At: at(5)}},
			effects: []Effect{SignalTask{Signal: SIGTERM}, ArmStopTimer{Pid: 42, After: 5 * time.Second}}},
		{name: "stop exited is a no-op", state: exited, cmd: Stop{Timeout: time.Second}},
		{name: "stop negative timeout", state: runningState, cmd: Stop{Timeout: -1}, err: ErrInvalidArgument},
		{name: "kill running", state: runningState, cmd: Kill{Signal: 9, At: at(5)},
			events: []Event{StopRequested{Signal: 9, At: at(5)}}, effects: []Effect{SignalTask{Signal: 9}}},
		{name: "kill exited", state: exited, cmd: Kill{Signal: 9}, err: ErrInvalidTransition},
		{name: "kill bad signal", state: runningState, cmd: Kill{Signal: 0}, err: ErrInvalidArgument},
		{name: "kill signal too large", state: runningState, cmd: Kill{Signal: 65}, err: ErrInvalidArgument},
		{name: "exit", state: runningState, cmd: ObserveExit{Pid: 42, Code: 7, ExitedAt: at(9)},
			events: []Event{TaskExited{Pid: 42, Code: 7, ExitedAt: at(9)}}, effects: []Effect{DeleteTask{}}},
		{name: "exit of another pid is stale", state: runningState, cmd: ObserveExit{Pid: 41, Code: 1}},
		{name: "duplicate exit", state: exited, cmd: ObserveExit{Pid: 42, Code: 137, ExitedAt: at(12)}},
		{name: "remove running", state: runningState, cmd: Remove{}, err: ErrInvalidTransition},
		{name: "force remove running", state: runningState, cmd: Remove{Force: true, At: at(5)},
			events: []Event{RemoveRequested{Force: true, At: at(5)}}, effects: []Effect{DeleteContainer{}}},
		{name: "remove exited", state: exited, cmd: Remove{At: at(10)},
			events: []Event{RemoveRequested{At: at(10)}}, effects: []Effect{DeleteContainer{}}},
		{name: "remove removed", state: removed, cmd: Remove{}, err: ErrInvalidTransition},
		{name: "stop timeout escalates", state: func() State { s, _ := run(t, runningState, Stop{Timeout: time.Second, At: at(5)}); return s }(),
			cmd: StopTimeout{Pid: 42}, effects: []Effect{SignalTask{Signal: SIGKILL}}},
		{name: "stop timeout after exit", state: exited, cmd: StopTimeout{Pid: 42}},
		{name: "nil command", state: State{}, cmd: nil, err: ErrInvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.state
			d, err := Decide(tc.state, tc.cmd)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				if len(d.Events)+len(d.Effects) != 0 {
					t.Fatalf("refused command decided %+v", d)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(d.Events, tc.events) {
				t.Errorf("events = %#v\nwant %#v", d.Events, tc.events)
			}
			if !reflect.DeepEqual(d.Effects, tc.effects) {
				t.Errorf("effects = %#v\nwant %#v", d.Effects, tc.effects)
			}
			if !reflect.DeepEqual(before, tc.state) {
				t.Error("Decide modified its state")
			}
		})
	}
}

func TestErrorsNameTheContainer(t *testing.T) {
	s := running(t, "web", 1)
	_, err := Decide(s, Remove{})
	if err == nil || !strings.Contains(err.Error(), `"web"`) || !strings.Contains(err.Error(), "running") {
		t.Fatalf("unclear error: %v", err)
	}
}

func TestLifecycleEndToEnd(t *testing.T) {
	s := running(t, "c", 42)
	s, _ = run(t, s, Stop{Timeout: 10 * time.Second, At: at(4)})
	if !s.StopRequested || !s.StopDeadline.Equal(at(14)) {
		t.Fatalf("stop not recorded: %+v", s)
	}
	s, ev := run(t, s, ObserveExit{Pid: 42, Code: 143, ExitedAt: at(5)}, ObserveExit{Pid: 42, Code: 137, ExitedAt: at(6)})
	if len(ev) != 1 {
		t.Fatalf("exit recorded %d times", len(ev))
	}
	if s.Status != StatusExited || s.Exit.Code != 143 || !s.Exit.At.Equal(at(5)) || !s.StopDeadline.IsZero() {
		t.Fatalf("after exit: %+v exit=%+v", s, s.Exit)
	}
	s, _ = run(t, s, Start{At: at(7)}, RecordStarted{Pid: 43, At: at(8)})
	if s.StopRequested || s.Starts != 2 || s.Pid != 43 {
		t.Fatalf("restart: %+v", s)
	}
	s, _ = run(t, s, Remove{Force: true, At: at(9)}, ObserveExit{Pid: 43, Code: 137, ExitedAt: at(9)}, RecordRemoved{At: at(10)})
	if s.Status != StatusRemoved || s.Exit.Pid != 43 {
		t.Fatalf("force remove: %+v", s)
	}
}

func TestStartFailed(t *testing.T) {
	s, _ := run(t, State{}, Create{Config: cfg("c")}, RecordCreated{}, Start{At: at(1)}, RecordStartFailed{Err: "exec: no such file", At: at(2)})
	if s.Status != StatusExited || s.Exit.Code != ExitCodeStartFailed || !strings.Contains(s.Error, "no such file") {
		t.Fatalf("%+v", s)
	}
}

func TestCreateFailedFreesTheID(t *testing.T) {
	s, _ := run(t, State{}, Create{Config: cfg("c")}, RecordCreateFailed{Err: "boom"})
	if s.Status != StatusRemoved {
		t.Fatalf("%+v", s)
	}
	if _, err := Decide(s, Create{Config: cfg("c")}); err != nil {
		t.Fatalf("ID not free again: %v", err)
	}
}

func TestReconcile(t *testing.T) {
	creating, _ := run(t, State{}, Create{Config: cfg("c"), At: at(0)})
	created, _ := run(t, creating, RecordCreated{})
	starting, _ := run(t, created, Start{At: at(1)})
	runningState := running(t, "c", 42)
	stopping, _ := run(t, runningState, Stop{Timeout: 10 * time.Second, At: at(10)})
	exited, _ := run(t, runningState, ObserveExit{Pid: 42, Code: 0, ExitedAt: at(5)})
	removing, _ := run(t, exited, Remove{})
	killing, _ := run(t, runningState, Kill{Signal: 1, At: at(10)})
	killed, _ := run(t, killing, RecordSignalSent{Signal: 1, At: at(11)})

	up := func(p TaskPhase, pid uint32) Observation {
		return Observation{ContainerExists: true, Task: p, Pid: pid}
	}
	stopped := Observation{ContainerExists: true, Task: TaskStopped, Pid: 42, ExitCode: 7, ExitedAt: at(50)}
	for _, tc := range []struct {
		name       string
		state      State
		obs        Observation
		wantStatus Status
		wantExit   *Exit
		wantEff    []Effect
	}{
		{"creating, container made", creating, up(TaskAbsent, 0), StatusCreated, nil, nil},
		{"creating, container missing", creating, Observation{}, StatusRemoved, nil, nil},
		{"created, container vanished", created, Observation{}, StatusExited,
			&Exit{Code: 255, At: at(100), Reason: "the container vanished from containerd"}, nil},
		{"starting, task runs", starting, up(TaskRunning, 77), StatusRunning, nil, nil},
		{"starting, task exited", starting, Observation{ContainerExists: true, Task: TaskStopped, Pid: 77, ExitCode: 3, ExitedAt: at(60)},
			StatusExited, &Exit{Pid: 77, Code: 3, At: at(60)}, []Effect{DeleteTask{}}},
		// The supervisor's own crash interrupted the start: it is carried
		// out, not recorded as failed.
		{"starting, task never created", starting, up(TaskAbsent, 0), StatusStarting, nil, []Effect{StartTask{Config: cfg("c")}}},
		{"starting, task created, never started", starting, up(TaskCreated, 0), StatusStarting, nil, []Effect{StartTask{Config: cfg("c")}}},
		{"running, still runs", runningState, up(TaskRunning, 42), StatusRunning, nil, nil},
		{"running, stop pending", stopping, up(TaskRunning, 42), StatusRunning, nil, []Effect{ArmStopTimer{Pid: 42, After: 0}}},
		{"running, kill journaled, maybe not sent", killing, up(TaskRunning, 42), StatusRunning, nil, []Effect{SignalTask{Signal: 1}}},
		{"running, kill journaled, paused", killing, up(TaskPhasePaused, 42), StatusRunning, nil, []Effect{SignalTask{Signal: 1}, UnpauseTask{}}},
		{"running, kill sent", killed, up(TaskRunning, 42), StatusRunning, nil, nil},
		{"running, exited while away", runningState, stopped, StatusExited, &Exit{Pid: 42, Code: 7, At: at(50)}, []Effect{DeleteTask{}}},
		{"running, task gone", runningState, up(TaskAbsent, 0), StatusExited,
			&Exit{Pid: 42, Code: 255, At: at(100), Reason: "the task vanished from containerd while the supervisor was away"}, nil},
		{"running, container gone", runningState, Observation{}, StatusExited,
			&Exit{Pid: 42, Code: 255, At: at(100), Reason: "the container vanished from containerd while the supervisor was away"}, nil},
		{"exited, stopped task left", exited, stopped, StatusExited, &Exit{Pid: 42, Code: 0, At: at(5)}, []Effect{DeleteTask{}}},
		{"removing", removing, up(TaskAbsent, 0), StatusRemoving, &Exit{Pid: 42, Code: 0, At: at(5)}, []Effect{DeleteContainer{}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := Reconcile{Observed: tc.obs, At: at(100)}
			d, err := Decide(tc.state, cmd)
			if err != nil {
				t.Fatal(err)
			}
			s := Replay(tc.state, d.Events)
			if s.Status != tc.wantStatus {
				t.Errorf("status = %s, want %s", s.Status, tc.wantStatus)
			}
			if tc.wantExit != nil && !reflect.DeepEqual(s.Exit, tc.wantExit) {
				t.Errorf("exit = %+v, want %+v", s.Exit, tc.wantExit)
			}
			if !reflect.DeepEqual(d.Effects, tc.wantEff) {
				t.Errorf("effects = %#v, want %#v", d.Effects, tc.wantEff)
			}
			// Idempotent: the same observation of the new state, again,
			// decides no events.
			obs := tc.obs
			if s.Status == StatusRunning && obs.Task == TaskRunning {
				obs.Pid = s.Pid
			}
			d2, err := Decide(s, Reconcile{Observed: obs, At: at(200)})
			if err != nil {
				t.Fatal(err)
			}
			if len(d2.Events) != 0 {
				t.Errorf("second reconcile decided %#v", d2.Events)
			}
		})
	}
}

// A kill is pending from its StopRequested until its SignalSent; a stop's
// signal is covered by its deadline and records nothing more.
func TestKillPendingUntilSent(t *testing.T) {
	s, evs := run(t, running(t, "c", 42), Kill{Signal: 10, At: at(5)})
	if s.PendingSignal != 10 || !s.StopRequested || len(evs) != 1 {
		t.Fatalf("after kill: pending %d, stop %v, events %#v", s.PendingSignal, s.StopRequested, evs)
	}
	if d, _ := Decide(s, RecordSignalSent{Signal: 15, At: at(6)}); len(d.Events) != 0 {
		t.Fatalf("another signal's outcome decided %#v", d.Events)
	}
	s, evs = run(t, s, RecordSignalSent{Signal: 10, At: at(6)})
	if want := []Event{SignalSent{Signal: 10, Pid: 42, At: at(6)}}; !reflect.DeepEqual(evs, want) || s.PendingSignal != 0 {
		t.Fatalf("sent: events %#v, pending %d", evs, s.PendingSignal)
	}
	if d, _ := Decide(s, RecordSignalSent{Signal: 10, At: at(7)}); len(d.Events) != 0 {
		t.Fatalf("a second outcome decided %#v", d.Events)
	}

	s, _ = run(t, running(t, "c", 42), Stop{Timeout: time.Second, At: at(5)})
	if s.PendingSignal != 0 {
		t.Fatalf("a stop left pending signal %d", s.PendingSignal)
	}
	if d, _ := Decide(s, RecordSignalSent{Signal: SIGTERM, At: at(6)}); len(d.Events) != 0 {
		t.Fatalf("a stop's signal decided %#v", d.Events)
	}

	// The exit of the task ends what was pending.
	s, _ = run(t, running(t, "c", 42), Kill{Signal: 10, At: at(5)}, ObserveExit{Pid: 42, Code: 0, ExitedAt: at(6), At: at(6)})
	if s.PendingSignal != 0 {
		t.Fatalf("pending signal %d after the exit", s.PendingSignal)
	}
}

// roundTrip encodes and decodes events the way the journal does (JSON
// through a registry of type names), to prove that events carry everything
// Apply reads.
func roundTrip(t testing.TB, events []Event) []Event {
	t.Helper()
	byName := map[string]reflect.Type{}
	for _, e := range AllEvents() {
		byName[EventName(e)] = reflect.TypeOf(e)
	}
	out := make([]Event, 0, len(events))
	for _, e := range events {
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		p := reflect.New(byName[EventName(e)])
		if err := json.Unmarshal(b, p.Interface()); err != nil {
			t.Fatal(err)
		}
		out = append(out, p.Elem().Interface().(Event))
	}
	return out
}

func canon(t testing.TB, s State) string {
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// fuzzPolicy picks a restart policy for FuzzLifecycle from b.
func fuzzPolicy(b, n byte) RestartPolicy {
	switch b % 6 {
	case 1:
		return RestartPolicy{Name: RestartAlways}
	case 2:
		return RestartPolicy{Name: RestartOnFailure, MaxRetries: int(n % 4)}
	case 3:
		return RestartPolicy{Name: RestartUnlessStopped}
	case 4:
		return RestartPolicy{Name: RestartAlways, Delay: 3 * time.Second, MaxDelay: 20 * time.Second, ResetAfter: 5 * time.Second, Jitter: 0.5}
	case 5:
		return RestartPolicy{Name: RestartOnFailure, Delay: time.Millisecond}
	}
	return RestartPolicy{}
}

// FuzzLifecycle feeds random command sequences, with effects performed by a
// simulated containerd whose outcomes are also random and restart timers
// that fire when the script says, and checks the invariants: Decide never
// panics and refuses only with its sentinels; every status change is in
// the transition table; each run's exit is recorded at most once; nothing
// but Create changes a removed container; a restart is pending only while
// the container is exited, is scheduled only as its policy allows, and
// never sooner than the policy's shortest delay; reconciling twice decides
// nothing the second time; and replaying the journaled events (after an
// encode/decode round trip) gives the live state.
func FuzzLifecycle(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add([]byte{0, 0, 1, 1, 4, 4, 2, 2, 9, 7, 3, 3, 0})
	f.Add([]byte{0, 200, 1, 3, 8, 8, 8, 5, 6, 7})
	f.Add([]byte{0, 1, 0, 1, 4, 0, 1, 10, 4, 1, 1, 10, 2, 3, 4, 0, 0, 10})
	f.Add([]byte{0, 2, 3, 1, 4, 0, 7, 10, 4, 0, 7, 10, 4, 0, 7, 10, 11, 1, 2})
	f.Add([]byte{0, 3, 0, 1, 4, 0, 1, 2, 5, 10, 7, 0, 0, 0, 10, 3, 9})
	f.Add([]byte{0, 4, 0, 1, 8, 0, 3, 0, 10, 7, 0, 0, 0, 10, 5, 1})
	f.Add([]byte{0, 0, 1, 1, 14, 14, 4, 0, 1, 14, 1, 1, 14, 5, 0})
	f.Add([]byte{0, 1, 0, 1, 1, 15, 0, 0, 1, 0, 10, 16, 1, 15, 0, 1, 1, 7, 1, 2, 0, 0, 15, 0, 0, 1, 1})
	f.Fuzz(func(t *testing.T, script []byte) {
		var (
			s       State
			journal []Event
			nextPid uint32           = 100
			exits                    = map[uint32]int{}
			clock                    = 0
			pos                      = 0
			timer   *ArmRestartTimer // the restart timer armed last
			boot    = "boot-0"       // the host's boot ID
			boots   = 0
		)
		next := func() byte {
			if pos >= len(script) {
				return 0
			}
			b := script[pos]
			pos++
			return b
		}
		var step func(c Command, depth int)
		step = func(c Command, depth int) {
			clock++
			d, err := Decide(s, c)
			if err != nil {
				if !errors.Is(err, ErrInvalidTransition) && !errors.Is(err, ErrInvalidArgument) {
					t.Fatalf("Decide(%s, %#v): unexpected error %v", s.Status, c, err)
				}
				return
			}
			for _, e := range d.Events {
				before := s.Status
				s = Apply(s, e)
				if !CanTransition(before, s.Status) {
					t.Fatalf("%T moved %s -> %s, not in the table", e, before, s.Status)
				}
				if before == StatusRemoved {
					if _, ok := e.(CreateRequested); !ok {
						t.Fatalf("%T changed a removed container", e)
					}
				}
				if x, ok := e.(TaskExited); ok && x.Pid != 0 {
					exits[x.Pid]++
					if exits[x.Pid] > 1 {
						t.Fatalf("exit of pid %d recorded %d times", x.Pid, exits[x.Pid])
					}
				}
				if r, ok := e.(RestartScheduled); ok {
					checkRestart(t, s, r)
				}
				if _, ok := e.(TaskOOMKilled); ok && (before != StatusRunning && before != StatusExited) {
					t.Fatalf("OOM kill recorded in status %s", before)
				}
				if _, ok := e.(StartRequested); ok && s.OOMKilled {
					t.Fatal("a start kept the OOM kill of the last run")
				}
				if s.NextRestart != nil && s.Status != StatusExited {
					t.Fatalf("%T left a restart pending in status %s", e, s.Status)
				}
				if s.Checkpoint != nil && s.Status != StatusRunning {
					t.Fatalf("%T left a checkpoint pending in status %s", e, s.Status)
				}
				journal = append(journal, e)
			}
			if depth > 3 {
				return
			}
			// The simulated containerd performs the effects.
			for _, eff := range d.Effects {
				ok := next()%5 != 0
				now := at(clock)
				switch e := eff.(type) {
				case CreateContainer:
					if ok {
						step(RecordCreated{Start: e.Start, At: now}, depth+1)
					} else {
						step(RecordCreateFailed{Err: "refused", At: now}, depth+1)
					}
				case StartTask:
					if ok {
						nextPid++
						if next()%3 == 0 {
							step(RecordLaunching{Pid: nextPid, At: now}, depth+1)
							if next()%2 == 0 {
								break // the start's outcome is lost: a reconcile decides
							}
						}
						step(RecordStarted{Pid: nextPid, At: now}, depth+1)
					} else {
						step(RecordStartFailed{Err: "refused", At: now}, depth+1)
					}
				case DeleteContainer:
					if ok {
						step(RecordRemoved{At: now}, depth+1)
					}
				case ArmRestartTimer:
					timer = &e
				case PauseTask:
					if ok {
						step(RecordPaused{At: now}, depth+1)
					}
				case UnpauseTask:
					if ok {
						step(RecordUnpaused{At: now}, depth+1)
					}
				case SignalTask:
					if ok { // else: the supervisor died before it was sent
						step(RecordSignalSent{Signal: e.Signal, At: now}, depth+1)
					}
				case CheckpointTask:
					if !ok {
						step(RecordCheckpointFailed{Err: "criu failed", At: now}, depth+1)
						break
					}
					pid := s.Pid
					step(RecordCheckpointed{At: now}, depth+1)
					if !e.LeaveRunning && next()%2 == 0 {
						step(ObserveExit{Pid: pid, Code: 137, ExitedAt: now, At: now}, depth+1)
					}
				}
			}
		}
		for pos < len(script) {
			op := next()
			now := at(clock)
			var c Command
			switch op % 17 {
			case 0:
				conf := cfg("c")
				conf.Restart = fuzzPolicy(next(), next())
				c = Create{Config: conf, Start: next()%2 == 0, Boot: boot, At: now}
			case 1:
				c = Start{At: now}
			case 2:
				c = Stop{Timeout: time.Duration(next()) * time.Second, At: now}
			case 3:
				c = Kill{Signal: int(next() % 70), At: now}
			case 4:
				c = ObserveExit{Pid: s.Pid + uint32(next()%2), Code: int(next()), ExitedAt: now, At: now}
			case 5:
				c = Remove{Force: next()%2 == 0, At: now}
			case 6:
				c = StopTimeout{Pid: s.Pid, At: now}
			case 7, 8:
				obs := Observation{ContainerExists: next()%4 != 0, Task: TaskPhase(next() % 5), Pid: s.Pid, ExitCode: int(next()), ExitedAt: now}
				if next()%6 == 0 { // the host rebooted: no task survives
					boots++
					boot = fmt.Sprintf("boot-%d", boots)
					obs.Task = TaskAbsent
				}
				before, n := s, len(journal)
				if (obs.Task == TaskRunning || obs.Task == TaskPhasePaused) && s.Pid == 0 {
					nextPid++
					obs.Pid = nextPid
				}
				step(Reconcile{Observed: obs, Boot: boot, At: now}, 0)
				rebooted := 0
				for _, e := range journal[n:] {
					if _, ok := e.(HostRebooted); ok {
						rebooted++
					}
				}
				if want := before.Boot != "" && before.Boot != boot && before.Status != StatusNone && before.Status != StatusRemoved; (rebooted == 1) != want || rebooted > 1 {
					t.Fatalf("%d HostRebooted for a container seen in %q, now in %q", rebooted, before.Boot, boot)
				}
				if s.Status != StatusNone && s.Status != StatusRemoved && s.Boot != boot && before.Boot != "" {
					t.Fatalf("after a reconcile in %q the state is of boot %q", boot, s.Boot)
				}
				if s.Status == StatusRunning && (obs.Task == TaskRunning || obs.Task == TaskPhasePaused) {
					obs.Pid = s.Pid
				}
				if obs.Task == TaskPhasePaused && s.Status == StatusRunning && !s.Paused {
					obs.Task = TaskRunning // the reconcile's effects unpaused it (a kill sent again)
				}
				// A start that the reconcile carried out launched another
				// task than the one observed: containerd's view changed.
				relaunched := (s.Status == StatusStarting || s.Status == StatusRunning) && s.Pid != 0 && s.Pid != before.Pid && s.Pid != obs.Pid
				if d, _ := Decide(s, Reconcile{Observed: obs, Boot: boot, At: now}); len(d.Events) != 0 && !(s.Status == StatusExited && obs.Task == TaskRunning) && !relaunched {
					t.Fatalf("reconcile not idempotent in %s with %+v: %#v", s.Status, obs, d.Events)
				}
				continue
			case 9:
				c = Start{At: now}
			case 10: // the restart timer armed last fires
				if timer == nil {
					continue
				}
				c = RestartTimeout{Attempt: timer.Attempt, Due: timer.Due, At: now}
				timer = nil
			case 11: // a timer that matches nothing fires
				c = RestartTimeout{Attempt: int(next() % 3), Due: now, At: now}
			case 12:
				c = Pause{At: now}
			case 13:
				c = Unpause{At: now}
			case 15:
				c = Checkpoint{Dir: []string{"/ckpt", "ckpt", ""}[next()%3], LeaveRunning: next()%2 == 0, At: now}
			case 16:
				c = Start{Checkpoint: "/ckpt", At: now}
			case 14:
				oom, n := s.OOMKilled, len(journal)
				step(ObserveOOM{At: now}, 0)
				if oom && len(journal) != n {
					t.Fatal("an OOM kill was recorded twice for one run")
				}
				continue
			}
			step(c, 0)
		}
		replayed := Replay(State{}, roundTrip(t, journal))
		if canon(t, replayed) != canon(t, s) {
			t.Fatalf("replay differs from live:\nlive   %s\nreplay %s", canon(t, s), canon(t, replayed))
		}
	})
}

// checkRestart checks a RestartScheduled event r against the state s it
// was applied to and the container's policy.
func checkRestart(t *testing.T, s State, r RestartScheduled) {
	t.Helper()
	p := s.Config.Restart.withDefaults()
	delay := r.Due.Sub(r.At)
	shortest := p.Delay - time.Duration(float64(p.Delay)*p.Jitter)
	switch {
	case p.Name == RestartNo:
		t.Fatalf("restart scheduled under policy no: %+v", r)
	case p.Name == RestartOnFailure && p.MaxRetries > 0 && r.Attempt > p.MaxRetries:
		t.Fatalf("restart %d scheduled under %s", r.Attempt, p)
	case p.Name == RestartOnFailure && s.Exit != nil && s.Exit.Code == 0:
		t.Fatalf("on-failure restart after exit 0: %+v", r)
	case delay < shortest || delay <= 0 || delay > p.MaxDelay:
		t.Fatalf("restart after %v, outside [%v, %v]", delay, shortest, p.MaxDelay)
	case r.Attempt != s.RestartCount+1:
		t.Fatalf("attempt %d after %d restarts", r.Attempt, s.RestartCount)
	case s.StopRequested && p.Name != RestartAlways:
		t.Fatalf("restart scheduled under %s after a user stop: %+v", p, r)
	}
}

// journalNames are the events whose journal name is not their type's:
// the name is the journal's format and the events feed's wire name, so it
// stays as it was first written (docs/API.md).
var journalNames = map[string]string{"TaskUnpaused": "TaskResumed"}

func TestAllEventsHaveUniqueNames(t *testing.T) {
	seen := map[string]bool{}
	for _, e := range AllEvents() {
		n := EventName(e)
		if seen[n] {
			t.Fatalf("duplicate event name %s", n)
		}
		seen[n] = true
		want := fmt.Sprintf("%T", e)[len("lifecycle."):]
		if w, ok := journalNames[want]; ok {
			want = w
		}
		if n != want {
			t.Errorf("event %T named %s, want %s", e, n, want)
		}
	}
}
