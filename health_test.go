package vigil_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	"github.com/vigilhq/vigil"
	"github.com/vigilhq/vigil/actors/lifecycle"
)

// A probe that starts failing makes the container unhealthy; with
// --health-on-failure restart and an on-failure policy the health check
// kills it and the policy restarts it with its backoff; the events say why.
func TestHealthUnhealthyRestartsWithBackoff(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	defer s.Close()
	ctx := ctxT(t)
	start := time.Now()

	var (
		mu  sync.Mutex
		got []vigil.Event
	)
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go s.Events(rctx, vigil.EventFilter{Since: start, Containers: []string{"sick"}}, func(ev vigil.Event) error {
		mu.Lock()
		got = append(got, ev)
		mu.Unlock()
		return nil
	})

	// Each run is healthy for about a second, then its probe fails: /dev/shm
	// is a tmpfs of the run, so a restart starts healthy again.
	cfg := e.config("sick", "sleep 1; touch /dev/shm/bad; exec sleep 1000")
	cfg.Healthcheck = &lifecycle.Healthcheck{Test: []string{"CMD-SHELL", "echo probing; test ! -f /dev/shm/bad"},
		Interval: 200 * time.Millisecond, Timeout: 5 * time.Second, Retries: 2}
	cfg.HealthOnFailure = lifecycle.HealthActionRestart
	cfg.Restart = lifecycle.RestartPolicy{Name: lifecycle.RestartOnFailure, Delay: 300 * time.Millisecond, MaxDelay: 5 * time.Second}
	if _, err := s.Create(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Start(ctx, "sick"); err != nil {
		t.Fatal(err)
	}
	st, err := s.Wait(ctx, "sick", vigil.WaitHealthy)
	if err != nil {
		t.Fatalf("wait healthy: %v", err)
	}
	if st.Health == nil || st.Health.Status != lifecycle.HealthHealthy || len(st.Health.Log) == 0 ||
		!strings.Contains(st.Health.Log[len(st.Health.Log)-1].Output, "probing") {
		t.Fatalf("health after wait: %+v", st.Health)
	}

	eventuallyState(t, s, "sick", 45*time.Second, func(st lifecycle.State) bool { return st.RestartCount >= 2 })
	if _, err := s.Stop(ctx, "sick", 0); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "events of two restarts", func() bool {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, ev := range got {
			if ev.Type == "RestartScheduled" {
				n++
			}
		}
		return n >= 2
	})
	cancel()

	mu.Lock()
	defer mu.Unlock()
	var unhealthy []lifecycle.HealthChanged
	var restarts []lifecycle.RestartScheduled
	var exits []lifecycle.TaskExited
	for _, ev := range got {
		switch x := ev.Event.(type) {
		case lifecycle.HealthChanged:
			if x.Status == lifecycle.HealthUnhealthy {
				unhealthy = append(unhealthy, x)
			}
		case lifecycle.RestartScheduled:
			restarts = append(restarts, x)
		case lifecycle.TaskExited:
			exits = append(exits, x)
		}
	}
	if len(unhealthy) < 2 {
		t.Fatalf("%d unhealthy transitions in the events, want 2 or more: %+v", len(unhealthy), got)
	}
	for _, u := range unhealthy[:2] {
		if u.Action != lifecycle.HealthActionRestart || u.FailingStreak != 2 || len(u.Log) == 0 || len(u.Log) > lifecycle.HealthLogSize ||
			u.Log[len(u.Log)-1].ExitCode != 1 {
			t.Fatalf("unhealthy event %+v", u)
		}
	}
	for i, r := range restarts[:2] {
		if !strings.Contains(r.Reason, "unhealthy") || r.Attempt != i+1 {
			t.Fatalf("restart %d: %+v; want one caused by health", i+1, r)
		}
	}
	if exits[0].Code != 137 {
		t.Fatalf("the health check's kill gave code %d, want 137", exits[0].Code)
	}
	// Backoff: the second run was as short as the first, so its delay
	// doubled.
	if d1, d2 := restarts[0].Due.Sub(restarts[0].At), restarts[1].Due.Sub(restarts[1].At); d2 < 2*d1-time.Millisecond {
		t.Fatalf("delays %v then %v: no backoff", d1, d2)
	}
	if restarts[1].Step != restarts[0].Step+1 {
		t.Fatalf("backoff steps %d then %d", restarts[0].Step, restarts[1].Step)
	}
}

// A container without a health check cannot become healthy: the wait
// says so at once, with a FailedPrecondition error.
func TestHealthWaitWithoutCheck(t *testing.T) {
	e := newEnv(t)
	s := e.open(t)
	defer s.Close()
	ctx := ctxT(t)
	if _, err := s.Create(ctx, e.config("plain", "exec sleep 1000")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Start(ctx, "plain"); err != nil {
		t.Fatal(err)
	}
	defer s.Remove(context.Background(), "plain", true)
	_, err := s.Wait(ctx, "plain", vigil.WaitHealthy)
	if err == nil || !errdefs.IsFailedPrecondition(err) || !strings.Contains(err.Error(), "no health check") {
		t.Fatalf("wait healthy without a check: %v", err)
	}
	// A check that never passes, with action kill: unhealthy, killed, not
	// restarted although the policy is always; the wait ends with an error.
	cfg := e.config("doomed", "exec sleep 1000")
	cfg.Healthcheck = &lifecycle.Healthcheck{Test: []string{"CMD", "false"}, Interval: 100 * time.Millisecond, Retries: 1}
	cfg.HealthOnFailure = lifecycle.HealthActionKill
	cfg.Restart = lifecycle.RestartPolicy{Name: lifecycle.RestartAlways}
	if _, err := s.Create(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Start(ctx, "doomed"); err != nil {
		t.Fatal(err)
	}
	st, err := s.Wait(ctx, "doomed", vigil.WaitHealthy)
	if !errors.Is(err, lifecycle.ErrInvalidTransition) {
		t.Fatalf("wait healthy on a doomed container: %v", err)
	}
	if st.Status != lifecycle.StatusExited || st.Exit == nil || st.Exit.Code != 137 || st.NextRestart != nil ||
		st.Health == nil || st.Health.Status != lifecycle.HealthUnhealthy {
		t.Fatalf("doomed: %+v exit %+v health %+v", st, st.Exit, st.Health)
	}
}
