package actors

import (
	"reflect"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/journal"
)

// runningWith creates and starts container id under restart policy p.
func (h *harness) runningWith(id string, p lifecycle.RestartPolicy) *actor.PID {
	h.t.Helper()
	pid := h.spawn(id, true)
	cfg := lifecycle.Config{ID: id, Rootfs: "/r", Args: []string{"sleep"}, Restart: p}
	if _, err := h.cmd(pid, Create{Config: cfg}); err != nil {
		h.t.Fatal(err)
	}
	if s, err := h.cmd(pid, Start{}); err != nil || s.Status != lifecycle.StatusRunning {
		h.t.Fatalf("start: %v %+v", err, s)
	}
	return pid
}

func (h *harness) inspect(pid *actor.PID) lifecycle.State {
	h.t.Helper()
	s, err := h.cmd(pid, Inspect{})
	if err != nil {
		h.t.Fatal(err)
	}
	return s
}

func TestRestartTimerStartsTheTaskAgain(t *testing.T) {
	h := newHarness(t, journal.NewMemory())
	pid := h.runningWith("c1", lifecycle.RestartPolicy{Name: lifecycle.RestartOnFailure, MaxRetries: 2, Delay: 20 * time.Millisecond})
	for n := 1; n <= 2; n++ {
		h.rt.Exit("c1", 1)
		eventually(t, "the restart", func() bool {
			s := h.inspect(pid)
			return s.Status == lifecycle.StatusRunning && s.Starts == n+1
		})
		if s := h.inspect(pid); s.RestartCount != n || s.NextRestart != nil {
			t.Fatalf("after restart %d: %+v", n, s)
		}
	}
	h.rt.Exit("c1", 1)
	h.cmd(pid, Wait{Condition: WaitNotRunning})
	time.Sleep(100 * time.Millisecond) // longer than any delay the policy could choose
	s := h.inspect(pid)
	if s.Status != lifecycle.StatusExited || s.Starts != 3 || s.NextRestart != nil {
		t.Fatalf("on-failure:2 did not give up: %+v", s)
	}
	if want := h.replayed("c1"); !reflect.DeepEqual(want, s) {
		t.Fatalf("state %+v\ndiffers from the journal %+v", s, want)
	}
}

func TestStopDuringBackoffStopsTheTimer(t *testing.T) {
	h := newHarness(t, journal.NewMemory())
	pid := h.runningWith("c1", lifecycle.RestartPolicy{Name: lifecycle.RestartAlways, Delay: 200 * time.Millisecond})
	h.rt.Exit("c1", 0)
	eventually(t, "the pending restart", func() bool { return h.inspect(pid).NextRestart != nil })
	s, err := h.cmd(pid, Stop{Timeout: time.Second})
	if err != nil || s.NextRestart != nil || !s.StopRequested {
		t.Fatalf("stop during backoff: %v %+v", err, s)
	}
	time.Sleep(400 * time.Millisecond)
	if s := h.inspect(pid); s.Status != lifecycle.StatusExited || s.Starts != 1 {
		t.Fatalf("restarted after the stop: %+v", s)
	}
	canceled := 0
	_ = h.journal.Replay("c1", func(r journal.Record) error {
		if _, ok := r.Event.(lifecycle.RestartCanceled); ok {
			canceled++
		}
		return nil
	})
	if canceled != 1 {
		t.Fatalf("%d cancellations journaled", canceled)
	}
}

func TestPendingRestartSurvivesTheSupervisor(t *testing.T) {
	store := journal.NewMemory()
	h := newHarness(t, store)
	pid := h.runningWith("c1", lifecycle.RestartPolicy{Name: lifecycle.RestartAlways, Delay: 400 * time.Millisecond})
	h.rt.Exit("c1", 3)
	eventually(t, "the pending restart", func() bool { return h.inspect(pid).NextRestart != nil })
	due := h.inspect(pid).NextRestart.Due
	h.close() // the timer dies with the supervisor

	h2 := newHarnessWith(t, store, h.rt)
	pid = h2.spawn("c1", false)
	if s, err := h2.cmd(pid, Reconcile{}); err != nil || s.NextRestart == nil || !s.NextRestart.Due.Equal(due) {
		t.Fatalf("after recovery: %v %+v", err, s)
	}
	eventually(t, "the restart", func() bool { return h2.inspect(pid).Status == lifecycle.StatusRunning })
	s := h2.inspect(pid)
	if s.StartedAt.Before(due) || s.Starts != 2 || s.RestartCount != 1 {
		t.Fatalf("restarted at %v, due %v: %+v", s.StartedAt, due, s)
	}
	// The timer of the first supervisor died with it: no second restart.
	time.Sleep(500 * time.Millisecond)
	if s := h2.inspect(pid); s.Starts != 2 {
		t.Fatalf("restarted twice: %+v", s)
	}
}
