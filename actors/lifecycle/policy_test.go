package lifecycle

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

const ms = time.Millisecond

func TestParseRestartPolicy(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want RestartPolicy
		err  bool
	}{
		{in: "no", want: RestartPolicy{Name: RestartNo}},
		{in: "always", want: RestartPolicy{Name: RestartAlways}},
		{in: "unless-stopped", want: RestartPolicy{Name: RestartUnlessStopped}},
		{in: "on-failure", want: RestartPolicy{Name: RestartOnFailure}},
		{in: "on-failure:3", want: RestartPolicy{Name: RestartOnFailure, MaxRetries: 3}},
		{in: "on-failure:0", want: RestartPolicy{Name: RestartOnFailure}},
		{in: "on-failure:-1", err: true},
		{in: "on-failure:x", err: true},
		{in: "on-failure:", err: true},
		{in: "always:3", err: true},
		{in: "sometimes", err: true},
		{in: "Always", err: true},
	} {
		p, err := ParseRestartPolicy(tc.in)
		if tc.err {
			if !errors.Is(err, ErrInvalidArgument) {
				t.Errorf("ParseRestartPolicy(%q) = %+v, %v; want ErrInvalidArgument", tc.in, p, err)
			}
			continue
		}
		if err != nil || p != tc.want {
			t.Errorf("ParseRestartPolicy(%q) = %+v, %v; want %+v", tc.in, p, err, tc.want)
		}
		if tc.in != "on-failure:0" && p.String() != tc.in {
			t.Errorf("%+v.String() = %q, want %q", p, p.String(), tc.in)
		}
	}
	if s := (RestartPolicy{}).String(); s != "no" {
		t.Errorf("zero policy reads %q", s)
	}
}

// Whatever a journaled policy says, the delay before a restart is never
// below half the floor.
func TestBackoffDelayFloor(t *testing.T) {
	p := RestartPolicy{Name: RestartAlways, Delay: time.Nanosecond, MaxDelay: time.Nanosecond, Jitter: MaxRestartJitter}
	for seed := range uint64(100) {
		if d := BackoffDelay(p, 0, seed); d < MinRestartDelay/2 {
			t.Fatalf("BackoffDelay = %v, below the floor", d)
		}
	}
}

func TestValidateRestartPolicy(t *testing.T) {
	for _, tc := range []struct {
		p  RestartPolicy
		ok bool
	}{
		{RestartPolicy{}, true},
		{RestartPolicy{Name: RestartOnFailure, MaxRetries: 5, Delay: time.Second, MaxDelay: 10 * time.Second, ResetAfter: time.Minute, Jitter: 0.5}, true},
		{RestartPolicy{Name: RestartAlways, Delay: 2 * time.Minute}, true}, // the cap follows a long delay
		{RestartPolicy{Name: "bogus"}, false},
		{RestartPolicy{Name: RestartOnFailure, MaxRetries: -1}, false},
		{RestartPolicy{Name: RestartAlways, MaxRetries: 2}, false},
		{RestartPolicy{Name: RestartAlways, Delay: -time.Second}, false},
		{RestartPolicy{Name: RestartAlways, MaxDelay: -time.Second}, false},
		{RestartPolicy{Name: RestartAlways, ResetAfter: -time.Second}, false},
		{RestartPolicy{Name: RestartAlways, Delay: 2 * time.Second, MaxDelay: time.Second}, false},
		{RestartPolicy{Name: RestartAlways, Jitter: 0.6}, false},
		{RestartPolicy{Name: RestartAlways, Jitter: -0.1}, false},
		{RestartPolicy{Name: RestartAlways, Jitter: math.NaN()}, false},
		{RestartPolicy{Name: RestartAlways, Delay: time.Nanosecond}, false}, // below the floor: a spinning loop
		{RestartPolicy{Name: RestartAlways, Delay: MinRestartDelay, MaxDelay: time.Nanosecond}, false},
		{RestartPolicy{Name: RestartAlways, Delay: MinRestartDelay}, true},
	} {
		err := tc.p.Validate()
		if tc.ok != (err == nil) || (err != nil && !errors.Is(err, ErrInvalidArgument)) {
			t.Errorf("Validate(%+v) = %v, want ok=%v", tc.p, err, tc.ok)
		}
		cfgErr := ValidateConfig(Config{ID: "c", Rootfs: "/r", Args: []string{"x"}, Restart: tc.p})
		if (err == nil) != (cfgErr == nil) {
			t.Errorf("ValidateConfig disagrees with Validate for %+v: %v", tc.p, cfgErr)
		}
	}
}

func TestRestartPolicyJSON(t *testing.T) {
	p := RestartPolicy{Name: RestartOnFailure, MaxRetries: 3, Delay: 1500 * ms, MaxDelay: 7*time.Second + 1, Jitter: 0.25}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"name":"on-failure","max_retries":3,"delay":"1.5s","max_delay":"7.000000001s","jitter":0.25}`
	if string(b) != want {
		t.Fatalf("marshal = %s, want %s", b, want)
	}
	var q RestartPolicy
	if err := json.Unmarshal(b, &q); err != nil || q != p {
		t.Fatalf("round trip: %+v %v", q, err)
	}
	// The zero policy is left out of a config, so configs without one
	// read as they did before restart policies existed.
	b, _ = json.Marshal(Config{ID: "c"})
	if strings.Contains(string(b), "restart") {
		t.Fatalf("zero policy written: %s", b)
	}
	for in, want := range map[string]RestartPolicy{`"on-failure:3"`: {Name: RestartOnFailure, MaxRetries: 3}, `"always"`: {Name: RestartAlways}} {
		if err := json.Unmarshal([]byte(in), &q); err != nil || q != want {
			t.Errorf("unmarshal %s: %+v %v", in, q, err)
		}
	}
	for _, bad := range []string{`{"name":"always","retries":1}`, `{"delay":"soon"}`, `{"delay":5}`, `"sometimes"`, `"always:1"`, `3`, `[]`} {
		if err := json.Unmarshal([]byte(bad), &q); err == nil {
			t.Errorf("unmarshal %s: no error", bad)
		}
	}
}

func TestBackoffDelay(t *testing.T) {
	var docker RestartPolicy
	want := []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, 1600 * ms, 3200 * ms, 6400 * ms,
		12800 * ms, 25600 * ms, 51200 * ms, time.Minute, time.Minute}
	for step, w := range want {
		if got := BackoffDelay(docker, step, 0); got != w {
			t.Errorf("docker step %d: %v, want %v", step, got, w)
		}
	}
	if got := BackoffDelay(docker, 1000, 0); got != time.Minute {
		t.Errorf("step 1000: %v", got)
	}
	custom := RestartPolicy{Delay: time.Second, MaxDelay: 5 * time.Second}
	for step, w := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second} {
		if got := BackoffDelay(custom, step, 0); got != w {
			t.Errorf("custom step %d: %v, want %v", step, got, w)
		}
	}
	// Jitter takes off at most its fraction, chosen by the seed alone.
	jit := RestartPolicy{Delay: time.Second, MaxDelay: 8 * time.Second, Jitter: 0.5}
	seen := map[time.Duration]bool{}
	for seed := range uint64(200) {
		for step := range 5 {
			d, full := BackoffDelay(jit, step, seed), BackoffDelay(RestartPolicy{Delay: time.Second, MaxDelay: 8 * time.Second}, step, 0)
			if d > full || d < full/2 {
				t.Fatalf("seed %d step %d: %v outside [%v, %v]", seed, step, d, full/2, full)
			}
			if d != BackoffDelay(jit, step, seed) {
				t.Fatal("same seed, different delay")
			}
			if step == 0 {
				seen[d] = true
			}
		}
	}
	if len(seen) < 100 {
		t.Errorf("200 seeds gave only %d different delays", len(seen))
	}
	if RestartSeed("a", 1) == RestartSeed("b", 1) || RestartSeed("a", 1) == RestartSeed("a", 2) {
		t.Error("seeds do not differ by container and attempt")
	}
}

func TestPlanRestart(t *testing.T) {
	now := t0
	pol := func(s string) RestartPolicy {
		p, err := ParseRestartPolicy(s)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	exit := func(code int) RestartHistory { return RestartHistory{Code: code, Ran: time.Second} }
	with := func(h RestartHistory, f func(*RestartHistory)) RestartHistory { f(&h); return h }
	stopped := func(h *RestartHistory) { h.StoppedByUser = true }
	vanished := func(h *RestartHistory) { h.Kind, h.Code = ExitVanished, ExitCodeUnknown }
	startFailed := func(h *RestartHistory) { h.Kind, h.Code, h.Ran = ExitStartFailed, ExitCodeStartFailed, 0 }
	restarts := func(n, step int) func(*RestartHistory) {
		return func(h *RestartHistory) { h.Restarts, h.Step = n, step }
	}

	for _, tc := range []struct {
		name    string
		policy  string
		h       RestartHistory
		restart bool
		step    int
		delay   time.Duration
	}{
		{"no, failure", "no", exit(1), false, 0, 0},
		{"no, vanished", "no", with(exit(0), vanished), false, 0, 0},
		{"always, success", "always", exit(0), true, 0, 100 * ms},
		{"always, failure", "always", exit(1), true, 0, 100 * ms},
		{"always, stopped", "always", with(exit(143), stopped), false, 0, 0},
		{"always, stopped, then vanished (reboot)", "always", with(with(exit(0), stopped), vanished), true, 0, 100 * ms},
		{"unless-stopped, failure", "unless-stopped", exit(2), true, 0, 100 * ms},
		{"unless-stopped, stopped", "unless-stopped", with(exit(137), stopped), false, 0, 0},
		{"unless-stopped, stopped, then vanished (reboot)", "unless-stopped", with(with(exit(0), stopped), vanished), false, 0, 0},
		{"unless-stopped, vanished", "unless-stopped", with(exit(0), vanished), true, 0, 100 * ms},
		{"on-failure, success", "on-failure", exit(0), false, 0, 0},
		{"on-failure, failure", "on-failure", exit(1), true, 0, 100 * ms},
		{"on-failure, stopped", "on-failure", with(exit(143), stopped), false, 0, 0},
		{"on-failure, vanished", "on-failure", with(exit(1), vanished), false, 0, 0},
		{"on-failure:3, third retry", "on-failure:3", with(exit(1), restarts(2, 1)), true, 2, 400 * ms},
		{"on-failure:3, retries used", "on-failure:3", with(exit(1), restarts(3, 2)), false, 0, 0},
		{"on-failure unbounded, many retries", "on-failure", with(exit(1), restarts(1000, 10)), true, 10, time.Minute},
		{"user start failed", "always", with(exit(0), startFailed), false, 0, 0},
		{"restart failed to start", "always", with(with(exit(0), startFailed), restarts(1, 0)), true, 1, 200 * ms},
		{"on-failure, restart failed to start", "on-failure:2", with(with(exit(0), startFailed), restarts(1, 0)), true, 1, 200 * ms},
		{"quick exit doubles", "always", with(exit(0), restarts(4, 3)), true, 4, 1600 * ms},
		{"capped", "always", with(exit(0), restarts(40, 10)), true, 10, time.Minute},
		{"long run resets", "always", with(with(exit(0), restarts(40, 10)), func(h *RestartHistory) { h.Ran = 10 * time.Second }), true, 0, 100 * ms},
		{"just short of the reset", "always", with(with(exit(0), restarts(2, 1)), func(h *RestartHistory) { h.Ran = 10*time.Second - 1 }), true, 2, 400 * ms},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := PlanRestart(pol(tc.policy), tc.h, now, 0)
			if p.Reason == "" {
				t.Error("no reason given")
			}
			if p.Restart != tc.restart {
				t.Fatalf("restart = %v (%s), want %v", p.Restart, p.Reason, tc.restart)
			}
			if !tc.restart {
				return
			}
			if p.Attempt != tc.h.Restarts+1 || p.Step != tc.step || p.Delay != tc.delay || !p.Due.Equal(now.Add(tc.delay)) {
				t.Fatalf("plan %+v, want attempt %d step %d delay %v", p, tc.h.Restarts+1, tc.step, tc.delay)
			}
		})
	}
}

// sim drives one container through Decide and Apply with an injected
// clock, performing effects like a containerd whose tasks get pids from
// 100 up; timers are only recorded.
type sim struct {
	t     *testing.T
	s     State
	now   time.Time
	pid   uint32
	timer *ArmRestartTimer // the last armed restart timer
	log   []Event
	// failStarts makes that many StartTask effects fail.
	failStarts int
	// crashStarts makes that many StartTask effects vanish, as when the
	// supervisor dies between journaling the start and creating the task.
	crashStarts int
	// runs counts the tasks started.
	runs int
}

func newSim(t *testing.T, p RestartPolicy) *sim {
	c := cfg("c")
	c.Restart = p
	x := &sim{t: t, now: t0, pid: 100}
	x.do(Create{Config: c, At: x.now})
	return x
}

func (x *sim) do(c Command) Decision {
	x.t.Helper()
	d, err := Decide(x.s, c)
	if err != nil {
		x.t.Fatalf("Decide(%s, %T): %v", x.s.Status, c, err)
	}
	x.s = Replay(x.s, d.Events)
	x.log = append(x.log, d.Events...)
	for _, eff := range d.Effects {
		switch e := eff.(type) {
		case CreateContainer:
			x.do(RecordCreated{At: x.now})
		case StartTask:
			if x.crashStarts > 0 {
				x.crashStarts--
				return d // the rest of this decision died with the supervisor
			}
			if x.failStarts > 0 {
				x.failStarts--
				x.do(RecordStartFailed{Err: "exec: no such file", At: x.now})
				break
			}
			x.pid++
			x.runs++
			x.do(RecordStarted{Pid: x.pid, At: x.now})
		case ArmRestartTimer:
			x.timer = &e
		}
	}
	return d
}

// exitAfter lets the running task run for d, then exit with code.
func (x *sim) exitAfter(d time.Duration, code int) Decision {
	x.t.Helper()
	x.now = x.now.Add(d)
	return x.do(ObserveExit{Pid: x.s.Pid, Code: code, ExitedAt: x.now, At: x.now})
}

// fire advances the clock to the pending restart and fires its timer.
func (x *sim) fire() {
	x.t.Helper()
	if x.timer == nil {
		x.t.Fatal("no restart timer armed")
	}
	x.now = x.timer.Due
	tm := *x.timer
	x.timer = nil
	x.do(RestartTimeout{Attempt: tm.Attempt, Due: tm.Due, At: x.now})
}

func scheduled(d Decision) *RestartScheduled {
	for _, e := range d.Events {
		if r, ok := e.(RestartScheduled); ok {
			return &r
		}
	}
	return nil
}

func TestScheduleOnFailure(t *testing.T) {
	x := newSim(t, RestartPolicy{Name: RestartOnFailure, MaxRetries: 3})
	x.do(Start{At: x.now})
	var delays []time.Duration
	for range 10 {
		r := scheduled(x.exitAfter(50*ms, 1))
		if r == nil {
			break
		}
		if x.s.NextRestart == nil || x.s.Status != StatusExited {
			t.Fatalf("pending restart not in the state: %+v", x.s)
		}
		delays = append(delays, r.Due.Sub(x.now))
		x.fire()
		if x.s.Status != StatusRunning || x.s.RestartCount != r.Attempt {
			t.Fatalf("after restart %d: %+v", r.Attempt, x.s)
		}
	}
	if want := []time.Duration{100 * ms, 200 * ms, 400 * ms}; !reflect.DeepEqual(delays, want) {
		t.Fatalf("delays %v, want %v", delays, want)
	}
	if x.s.Starts != 4 || x.s.RestartCount != 3 || x.s.Status != StatusExited || x.s.NextRestart != nil || x.s.Exit.Code != 1 {
		t.Fatalf("after giving up: %+v", x.s)
	}
	// A user's start begins a new history: three retries again.
	x.do(Start{At: x.now})
	if x.s.RestartCount != 0 || x.s.BackoffStep != 0 {
		t.Fatalf("user start kept the history: %+v", x.s)
	}
	if r := scheduled(x.exitAfter(ms, 1)); r == nil || r.Attempt != 1 || r.Due.Sub(x.now) != 100*ms {
		t.Fatalf("after a user start: %+v", r)
	}
	// Exit 0 is no failure.
	x.fire()
	if r := scheduled(x.exitAfter(ms, 0)); r != nil {
		t.Fatalf("restarted after exit 0: %+v", r)
	}
}

func TestScheduleAlwaysBacksOffToTheCap(t *testing.T) {
	x := newSim(t, RestartPolicy{Name: RestartAlways})
	x.do(Start{At: x.now})
	var prev time.Duration
	for i := range 30 {
		r := scheduled(x.exitAfter(10*ms, 0))
		if r == nil {
			t.Fatalf("exit %d: no restart", i)
		}
		d := r.Due.Sub(x.now)
		switch {
		case d > time.Minute:
			t.Fatalf("restart %d after %v, beyond the cap", i+1, d)
		case d < prev:
			t.Fatalf("restart %d after %v, shorter than the one before (%v)", i+1, d, prev)
		case i >= 10 && d != time.Minute:
			t.Fatalf("restart %d after %v; want the cap", i+1, d)
		}
		prev = d
		x.fire()
	}
	if x.s.RestartCount != 30 || x.s.Starts != 31 {
		t.Fatalf("%+v", x.s)
	}
	// Ten seconds of running start the doubling over.
	if r := scheduled(x.exitAfter(10*time.Second, 0)); r == nil || r.Due.Sub(x.now) != 100*ms || r.Step != 0 {
		t.Fatalf("after a long run: %+v", r)
	}
	x.fire()
	if r := scheduled(x.exitAfter(time.Second, 0)); r == nil || r.Due.Sub(x.now) != 200*ms {
		t.Fatalf("after a short run: %+v", r)
	}
}

func TestScheduleCustomBackoff(t *testing.T) {
	x := newSim(t, RestartPolicy{Name: RestartUnlessStopped, Delay: 2 * time.Second, MaxDelay: 5 * time.Second, ResetAfter: time.Minute})
	x.do(Start{At: x.now})
	var delays []time.Duration
	for range 5 {
		r := scheduled(x.exitAfter(30*time.Second, 3)) // short of the reset time
		delays = append(delays, r.Due.Sub(x.now))
		x.fire()
	}
	if want := []time.Duration{2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second, 5 * time.Second}; !reflect.DeepEqual(delays, want) {
		t.Fatalf("delays %v, want %v", delays, want)
	}
}

func TestUserStopPreventsRestart(t *testing.T) {
	for _, name := range []string{RestartAlways, RestartUnlessStopped, RestartOnFailure} {
		for _, how := range []Command{Stop{Timeout: time.Second}, Kill{Signal: SIGKILL}} {
			x := newSim(t, RestartPolicy{Name: name})
			x.do(Start{At: x.now})
			x.do(how)
			if r := scheduled(x.exitAfter(ms, 137)); r != nil {
				t.Errorf("%s after %T: restart scheduled %+v", name, how, r)
			}
		}
	}
}

func TestStopDuringBackoffCancels(t *testing.T) {
	for _, how := range []Command{Stop{Timeout: time.Second}, Kill{Signal: SIGTERM}} {
		x := newSim(t, RestartPolicy{Name: RestartAlways, Delay: 5 * time.Second})
		x.do(Start{At: x.now})
		x.exitAfter(ms, 1)
		pending := *x.timer
		d := x.do(how)
		if len(d.Events) != 1 || len(d.Effects) != 0 {
			t.Fatalf("%T during backoff: %+v", how, d)
		}
		if c, ok := d.Events[0].(RestartCanceled); !ok || c.Attempt != 1 {
			t.Fatalf("%T during backoff: %+v", how, d.Events)
		}
		if x.s.NextRestart != nil || !x.s.StopRequested || x.s.Status != StatusExited {
			t.Fatalf("after cancel: %+v", x.s)
		}
		// The timer, if it still fires, decides nothing.
		if d := x.do(RestartTimeout{Attempt: pending.Attempt, Due: pending.Due, At: pending.Due}); len(d.Events)+len(d.Effects) != 0 {
			t.Fatalf("canceled timer decided %+v", d)
		}
		// Stopping again is a no-op; killing an exited container is refused again.
		if d := x.do(Stop{}); len(d.Events) != 0 {
			t.Fatalf("second stop: %+v", d)
		}
		if _, err := Decide(x.s, Kill{Signal: 9}); !errors.Is(err, ErrInvalidTransition) {
			t.Fatalf("kill after cancel: %v", err)
		}
	}
}

func TestStaleRestartTimer(t *testing.T) {
	x := newSim(t, RestartPolicy{Name: RestartAlways, Delay: 5 * time.Second})
	x.do(Start{At: x.now})
	x.exitAfter(ms, 1)
	old := *x.timer
	// The user starts it during the backoff: that start replaces the restart.
	x.do(Start{At: x.now})
	if x.s.NextRestart != nil || x.s.RestartCount != 0 || x.s.Status != StatusRunning {
		t.Fatalf("after user start: %+v", x.s)
	}
	x.exitAfter(time.Second, 1) // schedules attempt 1 again, at another time
	if x.timer.Attempt != old.Attempt || x.timer.Due.Equal(old.Due) {
		t.Fatalf("setup: %+v vs %+v", x.timer, old)
	}
	if d := x.do(RestartTimeout{Attempt: old.Attempt, Due: old.Due, At: old.Due}); len(d.Events) != 0 {
		t.Fatalf("stale timer decided %+v", d.Events)
	}
	x.fire()
	if x.s.Status != StatusRunning || x.s.RestartCount != 1 {
		t.Fatalf("%+v", x.s)
	}
}

func TestFailedRestartIsRetried(t *testing.T) {
	x := newSim(t, RestartPolicy{Name: RestartOnFailure, MaxRetries: 2})
	// A user's start that fails is not retried: the user was told.
	x.failStarts = 1
	if r := scheduled(x.do(Start{At: x.now})); r != nil || x.s.Status != StatusExited {
		t.Fatalf("user start failure retried: %+v %+v", r, x.s)
	}
	// A restart that fails to start is retried, and counts as a retry.
	x.do(Start{At: x.now})
	x.exitAfter(ms, 1)
	x.failStarts = 1
	x.fire()
	if x.s.Status != StatusExited || x.s.Exit.Code != ExitCodeStartFailed || x.s.NextRestart == nil {
		t.Fatalf("failed restart: %+v", x.s)
	}
	if r := x.s.NextRestart; r.Attempt != 2 || r.Due.Sub(x.now) != 200*ms {
		t.Fatalf("failed restart: next %+v", r)
	}
	x.fire()
	if x.s.Status != StatusRunning {
		t.Fatalf("second restart: %+v", x.s)
	}
	if r := scheduled(x.exitAfter(ms, 1)); r != nil {
		t.Fatalf("on-failure:2 restarted a third time: %+v", r)
	}
	if x.s.Starts != 2 || x.s.RestartCount != 2 {
		t.Fatalf("%+v", x.s)
	}
}

func TestReconcileKeepsTheSchedule(t *testing.T) {
	x := newSim(t, RestartPolicy{Name: RestartAlways, Delay: 5 * time.Second})
	x.do(Start{At: x.now})
	x.exitAfter(ms, 1)
	due := x.s.NextRestart.Due
	// The supervisor restarts 2 s later: replay, then reconcile.
	replayed := Replay(State{}, roundTrip(t, x.log))
	if canon(t, replayed) != canon(t, x.s) {
		t.Fatalf("replay differs:\n%s\n%s", canon(t, replayed), canon(t, x.s))
	}
	for _, obs := range []Observation{
		{ContainerExists: true, Task: TaskStopped, Pid: x.s.Exit.Pid, ExitCode: 1}, // task not deleted yet
		{ContainerExists: true},
		{}, // containerd lost it: the restart recreates it
	} {
		d, err := Decide(replayed, Reconcile{Observed: obs, At: x.now.Add(2 * time.Second)})
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Events) != 0 {
			t.Fatalf("reconcile %+v decided %+v", obs, d.Events)
		}
		arm := d.Effects[0]
		if want := (ArmRestartTimer{Attempt: 1, Due: due, After: 3 * time.Second}); arm != want {
			t.Fatalf("reconcile %+v: %+v, want %+v", obs, arm, want)
		}
	}
	// Overdue: armed to fire at once.
	d, _ := Decide(replayed, Reconcile{Observed: Observation{ContainerExists: true}, At: due.Add(time.Hour)})
	if want := []Effect{ArmRestartTimer{Attempt: 1, Due: due}}; !reflect.DeepEqual(d.Effects, want) {
		t.Fatalf("overdue: %+v", d.Effects)
	}
}

func TestRestartAfterReboot(t *testing.T) {
	for _, tc := range []struct {
		name    string
		policy  string
		setup   func(x *sim)
		restart bool
		code    int
	}{
		{"running always", "always", nil, true, 255},
		{"running unless-stopped", "unless-stopped", nil, true, 255},
		{"running on-failure", "on-failure", nil, false, 255},
		{"running no", "no", nil, false, 255},
		{"exited always, stopped by the user", "always", func(x *sim) { x.do(Stop{At: x.now}); x.exitAfter(ms, 143) }, true, 143},
		{"exited unless-stopped, stopped by the user", "unless-stopped", func(x *sim) { x.do(Stop{At: x.now}); x.exitAfter(ms, 143) }, false, 143},
		{"exited unless-stopped, restart canceled", "unless-stopped", func(x *sim) { x.exitAfter(ms, 1); x.do(Stop{At: x.now}) }, false, 1},
		{"exited always, restart canceled", "always", func(x *sim) { x.exitAfter(ms, 1); x.do(Kill{Signal: 9, At: x.now}) }, true, 1},
		{"exited on-failure, retries used", "on-failure:1", func(x *sim) { x.exitAfter(ms, 1); x.fire(); x.exitAfter(ms, 1) }, false, 1},
		{"exited no", "no", func(x *sim) { x.exitAfter(ms, 0) }, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := ParseRestartPolicy(tc.policy)
			x := newSim(t, p)
			x.do(Start{At: x.now})
			if tc.setup != nil {
				tc.setup(x)
			}
			// The supervisor sees containerd come back empty.
			x.now = x.now.Add(time.Hour)
			d := x.do(Reconcile{Observed: Observation{}, At: x.now})
			if x.s.Status != StatusExited || x.s.Exit.Code != tc.code {
				t.Fatalf("after the reboot: %+v exit %+v", x.s, x.s.Exit)
			}
			r := scheduled(d)
			if (r != nil) != tc.restart {
				t.Fatalf("restart scheduled: %+v, want %v", r, tc.restart)
			}
			// Reconciling again changes nothing.
			if d2, _ := Decide(x.s, Reconcile{Observed: Observation{}, At: x.now}); len(d2.Events) != 0 {
				t.Fatalf("second reconcile: %+v", d2.Events)
			}
			if !tc.restart {
				return
			}
			if got := r.Due.Sub(x.now); got != 100*ms {
				t.Fatalf("reboot restart after %v", got)
			}
			x.fire() // StartTask creates the container again (see the actor)
			if x.s.Status != StatusRunning || x.s.StopRequested {
				t.Fatalf("after the restart: %+v", x.s)
			}
		})
	}
	// A container that was never started is not started by a reboot.
	x := newSim(t, RestartPolicy{Name: RestartAlways})
	if d := x.do(Reconcile{At: x.now}); scheduled(d) != nil || x.s.Status != StatusExited {
		t.Fatalf("created container: %+v %+v", d, x.s)
	}
	if d := x.do(Reconcile{At: x.now}); len(d.Events) != 0 {
		t.Fatalf("created container, second reconcile: %+v", d)
	}
}

func TestForceRemoveDoesNotRestart(t *testing.T) {
	x := newSim(t, RestartPolicy{Name: RestartAlways})
	x.do(Start{At: x.now})
	x.do(Remove{Force: true, At: x.now})
	if r := scheduled(x.exitAfter(ms, 137)); r != nil || x.s.Status != StatusRemoving {
		t.Fatalf("%+v %+v", r, x.s)
	}
	// Removing during a backoff drops the pending restart.
	x = newSim(t, RestartPolicy{Name: RestartAlways})
	x.do(Start{At: x.now})
	x.exitAfter(ms, 1)
	x.do(Remove{At: x.now})
	if x.s.NextRestart != nil {
		t.Fatalf("pending restart kept while removing: %+v", x.s)
	}
}

// TestStateJSONKeepsTheRestart: a state written as JSON (as a snapshot of
// the journal is) reads back with its policy, history and pending restart.
func TestStateJSONKeepsTheRestart(t *testing.T) {
	x := newSim(t, RestartPolicy{Name: RestartOnFailure, MaxRetries: 4, Delay: 3 * time.Second, Jitter: 0.2})
	x.do(Start{At: x.now})
	x.exitAfter(ms, 1)
	x.fire()
	x.exitAfter(ms, 2)
	if x.s.NextRestart == nil || x.s.RestartCount != 1 || x.s.BackoffStep != 1 {
		t.Fatalf("setup: %+v", x.s)
	}
	b, err := json.Marshal(x.s)
	if err != nil {
		t.Fatal(err)
	}
	var back State
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, x.s) {
		t.Fatalf("round trip:\n%+v\n%+v", back, x.s)
	}
}

// A start or restart that the supervisor's own crash interrupted before the
// task was created (or after it was created, before it started) is carried
// out when the supervisor reconciles, with its attempt number: the crash
// uses up no retry, and a container under on-failure:N that always fails
// runs exactly N+1 times however often the supervisor dies.
func TestInterruptedStartIsCarriedOut(t *testing.T) {
	for _, task := range []TaskPhase{TaskAbsent, TaskCreated} {
		for crashes := 0; crashes <= 3; crashes++ {
			const retries = 3
			x := newSim(t, RestartPolicy{Name: RestartOnFailure, MaxRetries: retries})
			x.crashStarts = 1 // the user's start too
			x.do(Start{At: x.now})
			for x.s.Status == StatusStarting {
				x.now = x.now.Add(time.Second)
				x.do(Reconcile{Observed: Observation{ContainerExists: true, Task: task}, At: x.now})
			}
			for x.s.Status == StatusRunning {
				x.exitAfter(ms, 1)
				if x.timer == nil {
					break
				}
				x.crashStarts = crashes
				x.fire()
				for x.s.Status == StatusStarting {
					x.now = x.now.Add(time.Second)
					x.do(Reconcile{Observed: Observation{ContainerExists: true, Task: task}, At: x.now})
				}
			}
			if x.runs != retries+1 || x.s.RestartCount != retries || x.s.Exit.Code != 1 {
				t.Errorf("task %v, %d crashes per restart: %d runs, restart count %d, exit %+v; want %d runs",
					task, crashes, x.runs, x.s.RestartCount, x.s.Exit, retries+1)
			}
			for _, e := range x.log {
				if f, ok := e.(StartFailed); ok {
					t.Errorf("task %v: a crash was recorded as a failed start: %+v", task, f)
				}
			}
		}
	}
}
