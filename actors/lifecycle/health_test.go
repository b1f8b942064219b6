package lifecycle

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func healthCfg(id string, action HealthAction, restart string) Config {
	c := cfg(id)
	c.Healthcheck = &Healthcheck{Test: []string{"CMD-SHELL", "test -f /ok"}, Interval: time.Second, Retries: 2, StartPeriod: 5 * time.Second}
	c.HealthOnFailure = action
	if restart != "" {
		p, err := ParseRestartPolicy(restart)
		if err != nil {
			panic(err)
		}
		c.Restart = p
	}
	return c
}

func healthyRunning(t *testing.T, c Config, pid uint32) State {
	t.Helper()
	s, _ := run(t, State{}, Create{Config: c, At: at(0)}, RecordCreated{At: at(1)},
		Start{At: at(2)}, RecordStarted{Pid: pid, At: at(3)})
	if s.Health == nil || s.Health.Status != HealthStarting {
		t.Fatalf("a started container with a check is not starting: %+v", s.Health)
	}
	return s
}

func probe(sec, code int) ProbeResult {
	return ProbeResult{Start: at(sec), End: at(sec), ExitCode: code, Output: "out"}
}

func TestHealthObserve(t *testing.T) {
	h := Healthcheck{Test: []string{"CMD", "true"}, Retries: 2, StartPeriod: 10 * time.Second}
	started := at(0)
	for _, tc := range []struct {
		name   string
		probes []ProbeResult
		want   HealthStatus
		streak int
	}{
		{"none yet", nil, HealthStarting, 0},
		{"success", []ProbeResult{probe(1, 0)}, HealthHealthy, 0},
		{"failures in the start period do not count", []ProbeResult{probe(1, 1), probe(2, 1), probe(3, 1)}, HealthStarting, 0},
		{"failures after the start period count", []ProbeResult{probe(11, 1), probe(12, 1)}, HealthUnhealthy, 2},
		{"one failure is not enough", []ProbeResult{probe(11, 1)}, HealthStarting, 1},
		{"healthy, then failures in the start period count", []ProbeResult{probe(1, 0), probe(2, 1), probe(3, 1)}, HealthUnhealthy, 2},
		{"a success resets the streak", []ProbeResult{probe(11, 1), probe(12, 0), probe(13, 1)}, HealthHealthy, 1},
		{"unhealthy, then healthy again", []ProbeResult{probe(11, 1), probe(12, 1), probe(13, 0)}, HealthHealthy, 0},
		{"a timeout is a failure", []ProbeResult{probe(11, -1), probe(12, -1)}, HealthUnhealthy, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := NewProbes()
			for _, r := range tc.probes {
				p = h.Observe(p, started, r)
			}
			if p.Status != tc.want || p.FailingStreak != tc.streak {
				t.Fatalf("status %s streak %d, want %s %d", p.Status, p.FailingStreak, tc.want, tc.streak)
			}
		})
	}
}

func TestHealthLogBounded(t *testing.T) {
	h := Healthcheck{Test: []string{"CMD", "true"}}
	p := NewProbes()
	big := strings.Repeat("x", 3*HealthOutputMax)
	for i := range 3 * HealthLogSize {
		p = h.Observe(p, at(0), ProbeResult{Start: at(i), ExitCode: 0, Output: big})
	}
	if len(p.Log) != HealthLogSize {
		t.Fatalf("log has %d results, want %d", len(p.Log), HealthLogSize)
	}
	if !p.Log[len(p.Log)-1].Start.Equal(at(3*HealthLogSize - 1)) {
		t.Fatalf("the log does not end with the last result: %v", p.Log[len(p.Log)-1].Start)
	}
	for _, r := range p.Log {
		if len(r.Output) != HealthOutputMax {
			t.Fatalf("output of %d bytes kept, want %d", len(r.Output), HealthOutputMax)
		}
	}
}

func TestHealthTransitionsJournaled(t *testing.T) {
	s := healthyRunning(t, healthCfg("web", HealthActionNone, ""), 42)
	h := *s.Config.Healthcheck
	p := NewProbes()
	step := func(r ProbeResult) Decision {
		t.Helper()
		p = h.Observe(p, s.StartedAt, r)
		d, err := Decide(s, RecordHealth{Pid: 42, Probes: p, At: r.End})
		if err != nil {
			t.Fatal(err)
		}
		s = Replay(s, d.Events)
		return d
	}
	if d := step(probe(4, 0)); len(d.Events) != 1 || d.Events[0].(HealthChanged).Status != HealthHealthy {
		t.Fatalf("healthy: %+v", d)
	}
	if d := step(probe(5, 0)); len(d.Events) != 0 {
		t.Fatalf("a probe that changes nothing journals: %+v", d)
	}
	if d := step(probe(10, 1)); len(d.Events) != 0 {
		t.Fatalf("one failure journals: %+v", d)
	}
	d := step(probe(11, 1))
	if len(d.Events) != 1 || len(d.Effects) != 0 {
		t.Fatalf("unhealthy with action none: %+v", d)
	}
	e := d.Events[0].(HealthChanged)
	if e.Status != HealthUnhealthy || e.FailingStreak != 2 || len(e.Log) != 4 || e.Action != "" {
		t.Fatalf("unhealthy event: %+v", e)
	}
	if s.Health.Status != HealthUnhealthy || len(s.Health.Log) != 4 {
		t.Fatalf("state: %+v", s.Health)
	}
	// A report about another run, or after the exit, decides nothing.
	if d, _ := Decide(s, RecordHealth{Pid: 7, Probes: Probes{Status: HealthHealthy}, At: at(12)}); len(d.Events) != 0 {
		t.Fatalf("stale pid: %+v", d)
	}
	s, _ = run(t, s, ObserveExit{Pid: 42, Code: 0, ExitedAt: at(13), At: at(13)})
	if d, _ := Decide(s, RecordHealth{Pid: 42, Probes: Probes{Status: HealthHealthy}, At: at(14)}); len(d.Events) != 0 {
		t.Fatalf("after the exit: %+v", d)
	}
	// The next start begins as starting again.
	s, _ = run(t, s, Start{At: at(15)}, RecordStarted{Pid: 43, At: at(16)})
	if s.Health.Status != HealthStarting {
		t.Fatalf("after a start: %+v", s.Health)
	}
}

func unhealthy(t *testing.T, s State) (State, Decision) {
	t.Helper()
	d, err := Decide(s, RecordHealth{Pid: s.Pid, Probes: Probes{Status: HealthUnhealthy, FailingStreak: 2,
		Log: []ProbeResult{probe(20, 1), probe(21, 1)}}, At: at(21)})
	if err != nil {
		t.Fatal(err)
	}
	return Replay(s, d.Events), d
}

func TestHealthOnFailureRestart(t *testing.T) {
	s := healthyRunning(t, healthCfg("web", HealthActionRestart, "on-failure"), 42)
	s, d := unhealthy(t, s)
	if len(d.Effects) != 1 || d.Effects[0] != (SignalTask{Signal: SIGKILL}) {
		t.Fatalf("effects %+v, want SIGKILL", d.Effects)
	}
	if e := d.Events[0].(HealthChanged); e.Action != HealthActionRestart {
		t.Fatalf("action %q", e.Action)
	}
	if !s.HealthKilled || s.StopRequested || s.PendingSignal != SIGKILL {
		t.Fatalf("state after the kill intent: %+v", s)
	}
	// The kill is an intent: a reconcile that finds the task still running
	// sends it again.
	d, err := Decide(s, Reconcile{Observed: Observation{ContainerExists: true, Task: TaskRunning, Pid: 42}, At: at(22)})
	if err != nil || len(d.Effects) != 1 || d.Effects[0] != (SignalTask{Signal: SIGKILL}) {
		t.Fatalf("reconcile after the intent: %+v %v", d, err)
	}
	s, evs := run(t, s, RecordSignalSent{Signal: SIGKILL, At: at(22)},
		ObserveExit{Pid: 42, Code: 137, ExitedAt: at(23), At: at(23)})
	var sched *RestartScheduled
	for _, e := range evs {
		if r, ok := e.(RestartScheduled); ok {
			sched = &r
		}
	}
	if sched == nil || !strings.Contains(sched.Reason, "unhealthy") || sched.Cause != CauseUnhealthy {
		t.Fatalf("no restart caused by health: %+v", evs)
	}
	// Back-off: the second health kill of a short run waits longer.
	first := sched.Due.Sub(at(23))
	s, _ = run(t, s, RestartTimeout{Attempt: sched.Attempt, Due: sched.Due, At: sched.Due},
		RecordStarted{Pid: 44, At: sched.Due})
	if s.HealthKilled || s.Health.Status != HealthStarting {
		t.Fatalf("the restart did not reset health: %+v", s)
	}
	s, _ = unhealthy(t, s)
	_, evs = run(t, s, RecordSignalSent{Signal: SIGKILL, At: sched.Due}, ObserveExit{Pid: 44, Code: 137, ExitedAt: sched.Due, At: sched.Due})
	var second *RestartScheduled
	for _, e := range evs {
		if r, ok := e.(RestartScheduled); ok {
			second = &r
		}
	}
	if second == nil || second.Attempt != 2 || second.Due.Sub(sched.Due) <= first {
		t.Fatalf("second restart %+v after a first delay of %v", second, first)
	}
}

func TestHealthOnFailureKill(t *testing.T) {
	s := healthyRunning(t, healthCfg("web", HealthActionKill, "always"), 42)
	s, d := unhealthy(t, s)
	if len(d.Effects) != 1 || !s.StopRequested {
		t.Fatalf("kill: %+v %+v", d, s)
	}
	_, evs := run(t, s, ObserveExit{Pid: 42, Code: 137, ExitedAt: at(23), At: at(23)})
	for _, e := range evs {
		if _, ok := e.(RestartScheduled); ok {
			t.Fatalf("a container the health check killed was restarted: %+v", evs)
		}
	}
}

func TestHealthPausedThawedForKill(t *testing.T) {
	s := healthyRunning(t, healthCfg("web", HealthActionKill, ""), 42)
	s, _ = run(t, s, RecordPaused{At: at(4)})
	_, d := unhealthy(t, s)
	if len(d.Effects) != 2 || d.Effects[1] != (UnpauseTask{}) {
		t.Fatalf("effects %+v", d.Effects)
	}
}

func TestHealthValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  func(*Config)
		ok   bool
	}{
		{"none", func(c *Config) { c.Healthcheck = &Healthcheck{Test: []string{"NONE"}} }, true},
		{"cmd", func(c *Config) { c.Healthcheck = &Healthcheck{Test: []string{"CMD", "true"}} }, true},
		{"cmd without program", func(c *Config) { c.Healthcheck = &Healthcheck{Test: []string{"CMD"}} }, false},
		{"shell with two strings", func(c *Config) { c.Healthcheck = &Healthcheck{Test: []string{"CMD-SHELL", "a", "b"}} }, false},
		{"unknown kind", func(c *Config) { c.Healthcheck = &Healthcheck{Test: []string{"RUN", "true"}} }, false},
		{"tiny interval", func(c *Config) {
			c.Healthcheck = &Healthcheck{Test: []string{"CMD", "true"}, Interval: time.Microsecond}
		}, false},
		{"negative retries", func(c *Config) { c.Healthcheck = &Healthcheck{Test: []string{"CMD", "true"}, Retries: -1} }, false},
		{"negative start period", func(c *Config) { c.Healthcheck = &Healthcheck{Test: []string{"CMD", "true"}, StartPeriod: -1} }, false},
		{"unknown action", func(c *Config) { c.HealthOnFailure = "explode" }, false},
		{"restart needs a policy", func(c *Config) {
			c.Healthcheck = &Healthcheck{Test: []string{"CMD", "true"}}
			c.HealthOnFailure = HealthActionRestart
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := cfg("web")
			tc.cfg(&c)
			err := ValidateConfig(c)
			if (err == nil) != tc.ok {
				t.Fatalf("ValidateConfig: %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("error %v is not ErrInvalidArgument", err)
			}
		})
	}
	if got := (&Healthcheck{Test: []string{"CMD-SHELL", "exit 1"}}).Args(); len(got) != 3 || got[0] != "/bin/sh" {
		t.Fatalf("shell args %q", got)
	}
	if (&Healthcheck{Test: []string{"NONE"}}).Enabled() || (*Healthcheck)(nil).Enabled() {
		t.Fatal("NONE or nil enabled")
	}
}

// An image's health check is the container's unless the container gives
// its own (--health-cmd) or none (--no-healthcheck), as in docker.
func TestImageHealthcheckPrecedence(t *testing.T) {
	img := ImageDefaults{Name: "img", Cmd: []string{"serve"}, Healthcheck: &Healthcheck{Test: []string{"CMD", "probe"}}}
	for _, tc := range []struct {
		own  *Healthcheck
		want string
	}{
		{nil, "probe"},
		{&Healthcheck{Test: []string{"NONE"}}, "NONE"},
		{&Healthcheck{Test: []string{"CMD-SHELL", "mine"}}, "mine"},
	} {
		got, err := ApplyImage(Config{ID: "web", Healthcheck: tc.own}, img, nil)
		if err != nil {
			t.Fatal(err)
		}
		if h := got.Healthcheck; h == nil || h.Test[len(h.Test)-1] != tc.want {
			t.Errorf("own %+v: got %+v, want the check ending in %q", tc.own, h, tc.want)
		}
	}
}
