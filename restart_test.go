package vigil_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/journal"
)

// journalEvents returns the events journaled for container id, reading the
// journal of a closed supervisor.
func journalEvents(t *testing.T, stateDir, id string) []lifecycle.Event {
	t.Helper()
	j, err := journal.Open(filepath.Join(stateDir, "journal.db"), journal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	var out []lifecycle.Event
	if err := j.Replay(id, func(r journal.Record) error {
		out = append(out, r.Event.(lifecycle.Event))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRestartOnFailureGivesUp(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	defer s.Close()
	ctx := ctxT(t)
	cfg := e.config("flaky", "echo run; exit 1")
	cfg.Restart = lifecycle.RestartPolicy{Name: lifecycle.RestartOnFailure, MaxRetries: 3}
	if _, err := s.Create(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Start(ctx, "flaky"); err != nil {
		t.Fatal(err)
	}
	eventuallyState(t, s, "flaky", 30*time.Second, func(st lifecycle.State) bool {
		return st.Status == lifecycle.StatusExited && st.RestartCount == 3 && st.NextRestart == nil
	})
	// A fourth restart would come 800 ms after the last exit.
	time.Sleep(1500 * time.Millisecond)
	st, err := s.Inspect(ctx, "flaky")
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != lifecycle.StatusExited || st.Starts != 4 || st.RestartCount != 3 || st.NextRestart != nil || st.Exit.Code != 1 {
		t.Fatalf("on-failure:3: %+v exit %+v; want 4 starts in all, then exited with code 1", st, st.Exit)
	}
	if got := logText(t, s.LogPath("flaky")); got != strings.Repeat("run\n", 4) {
		t.Fatalf("log %q, want 4 runs", got)
	}
	if err := s.Remove(ctx, "flaky", false); err != nil {
		t.Fatal(err)
	}
}

func TestRestartAlwaysBacksOff(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	ctx := ctxT(t)
	cfg := e.config("loop", "exit 0")
	// Delays of 0.5, 1, 2 and 2 s (the cap); docker's shorter defaults
	// would hide under the time containerd takes to clean up an exited
	// task here (its logger, built with the race detector, lingers 1 s).
	cfg.Restart = lifecycle.RestartPolicy{Name: lifecycle.RestartAlways, Delay: 500 * time.Millisecond, MaxDelay: 2 * time.Second}
	if _, err := s.Create(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Start(ctx, "loop"); err != nil {
		t.Fatal(err)
	}
	eventuallyState(t, s, "loop", 30*time.Second, func(st lifecycle.State) bool { return st.Starts >= 5 })
	if _, err := s.Stop(ctx, "loop", time.Second); err != nil {
		t.Fatal(err)
	}
	st, _ := s.Inspect(ctx, "loop")
	if st.NextRestart != nil {
		t.Fatalf("restart pending after a stop: %+v", st)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// From the journal: each restart's delay, and the time from the exit
	// that scheduled it to the restart (its StartRequested; containerd
	// takes its own time to start the task after that).
	var delays, gaps []time.Duration
	var scheduledAt time.Time
	for _, ev := range journalEvents(t, e.cfg.StateDir, "loop") {
		switch ev := ev.(type) {
		case lifecycle.RestartScheduled:
			delays = append(delays, ev.Due.Sub(ev.At))
			scheduledAt = ev.At
		case lifecycle.StartRequested:
			if ev.Attempt > 0 {
				gaps = append(gaps, ev.At.Sub(scheduledAt))
				scheduledAt = time.Time{}
			}
		}
	}
	t.Logf("delays %v, gaps %v", delays, gaps)
	if len(gaps) < 4 {
		t.Fatalf("%d restarts journaled, want 4 or more", len(gaps))
	}
	for i, want := range []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 2 * time.Second} {
		if delays[i] != want {
			t.Errorf("restart %d: delay %v, want %v", i+1, delays[i], want)
		}
		if gaps[i] < want || gaps[i] > want+1500*time.Millisecond {
			t.Errorf("restart %d came %v after the exit; want %v and a little more", i+1, gaps[i], want)
		}
	}
	if gaps[2] < gaps[0]+500*time.Millisecond {
		t.Errorf("gaps do not grow: %v", gaps)
	}

	s = e.open(t)
	defer s.Close()
	if err := s.Remove(ctx, "loop", true); err != nil {
		t.Fatal(err)
	}
}

func TestStopDuringBackoffCancelsRestart(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	ctx := ctxT(t)
	cfg := e.config("later", "exit 1")
	cfg.Restart = lifecycle.RestartPolicy{Name: lifecycle.RestartAlways, Delay: 2 * time.Second}
	if _, err := s.Create(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Start(ctx, "later"); err != nil {
		t.Fatal(err)
	}
	pending := eventuallyState(t, s, "later", 10*time.Second, func(st lifecycle.State) bool { return st.NextRestart != nil })
	st, err := s.Stop(ctx, "later", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if st.NextRestart != nil || !st.StopRequested || st.Status != lifecycle.StatusExited {
		t.Fatalf("after stop: %+v", st)
	}
	time.Sleep(time.Until(pending.NextRestart.Due) + 500*time.Millisecond)
	if st, _ := s.Inspect(ctx, "later"); st.Starts != 1 || st.Status != lifecycle.StatusExited {
		t.Fatalf("restarted after the stop: %+v", st)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	canceled := 0
	for _, ev := range journalEvents(t, e.cfg.StateDir, "later") {
		if c, ok := ev.(lifecycle.RestartCanceled); ok && c.Attempt == 1 {
			canceled++
		}
	}
	if canceled != 1 {
		t.Fatalf("%d cancellations journaled, want 1", canceled)
	}
	// The stop is durable: a new supervisor does not restart it either.
	s = e.open(t)
	defer s.Close()
	if st, _ := s.Inspect(ctx, "later"); st.NextRestart != nil || st.Starts != 1 {
		t.Fatalf("after reopen: %+v", st)
	}
	if err := s.Remove(ctx, "later", false); err != nil {
		t.Fatal(err)
	}
}

// TestHostRebootRestartsByPolicy simulates a host reboot on a containerd of
// its own, as a reboot is (every process of the old boot killed,
// containerd's state emptied, its root kept, a new boot ID) and as on a
// reinstalled box (containerd's root wiped too): containers under always
// and unless-stopped come back, in the containerd container that survived
// or one created again from the journal; one that a user stopped under
// unless-stopped does not, nor do those under no and on-failure, which are
// marked exited with 255. After a reflash those have no containerd
// container until a user starts (it is created again) or removes them.
func TestHostRebootRestartsByPolicy(t *testing.T) {
	for _, variant := range []string{"reboot", "reflash"} {
		t.Run(variant, func(t *testing.T) { testHostReboot(t, variant == "reflash") })
	}
}

func testHostReboot(t *testing.T, reflash bool) {
	e, p := newPrivateEnv(t)
	s := e.open(t)
	ctx := ctxT(t)
	policies := map[string]string{
		"always":         lifecycle.RestartAlways,
		"always-stopped": lifecycle.RestartAlways,
		"unless":         lifecycle.RestartUnlessStopped,
		"unless-stopped": lifecycle.RestartUnlessStopped,
		"on-failure":     lifecycle.RestartOnFailure,
		"no":             lifecycle.RestartNo,
	}
	pids := map[string]uint32{}
	for id, name := range policies {
		cfg := e.config(id, "echo up; exec sleep 600")
		cfg.Restart = lifecycle.RestartPolicy{Name: name}
		if _, err := s.Create(ctx, cfg); err != nil {
			t.Fatal(err)
		}
		st, err := s.Start(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		pids[id] = st.Pid
	}
	for _, id := range []string{"always-stopped", "unless-stopped"} {
		if _, err := s.Stop(ctx, id, 100*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	if reflash {
		p.Reflash()
	} else {
		p.Reboot()
	}

	s = e.open(t)
	defer s.Close()
	// Always forgets a user's stop on a reboot, as docker's always does
	// when its daemon starts; unless-stopped keeps it.
	for _, id := range []string{"always", "always-stopped", "unless"} {
		st := eventuallyState(t, s, id, 30*time.Second, func(st lifecycle.State) bool {
			return st.Status == lifecycle.StatusRunning
		})
		if st.Starts != 2 || st.RestartCount != 1 || st.Pid == pids[id] {
			t.Errorf("%s after the reboot: %+v", id, st)
		}
		// The new run's line reaches the log a moment after its start.
		deadline := time.Now().Add(10 * time.Second)
		for logText(t, s.LogPath(id)) != "up\nup\n" && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if got := logText(t, s.LogPath(id)); got != "up\nup\n" {
			t.Errorf("%s: log %q, want two runs", id, got)
		}
	}
	for _, id := range []string{"unless-stopped", "on-failure", "no"} {
		st, err := s.Inspect(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if st.Status != lifecycle.StatusExited || st.NextRestart != nil || st.Starts != 1 {
			t.Errorf("%s after the reboot: %+v", id, st)
		}
		if id != "unless-stopped" && (st.Exit.Code != lifecycle.ExitCodeUnknown || st.Exit.Reason == "") {
			t.Errorf("%s: exit %+v, want 255 with a reason", id, st.Exit)
		}
	}
	if st, _ := s.Inspect(ctx, "unless-stopped"); !st.StopRequested {
		t.Errorf("unless-stopped forgot the user's stop: %+v", st)
	}
	// What containerd has: every container, reused, after a reboot; only
	// those started again after a reflash. Never two of one, nor one the
	// journal does not know.
	have := e.containersIn(t, p.Address)
	want := "always always-stopped no on-failure unless unless-stopped"
	if reflash {
		want = "always always-stopped unless"
	}
	if got := strings.Join(have, " "); got != want {
		t.Errorf("containerd has %q, want %q", got, want)
	}
	if reflash {
		// A user's start creates the container again.
		if st, err := s.Start(ctx, "no"); err != nil || st.Status != lifecycle.StatusRunning {
			t.Errorf("start after a reflash: %+v, %v", st, err)
		}
	}
	for id := range policies {
		if err := s.Remove(ctx, id, true); err != nil {
			t.Error(err)
		}
	}
}
