package actors

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/c8dbridge"
)

// Health checks (lifecycle/health.go). While the task of a container with
// a health check runs, a timer (time.AfterFunc, sending healthTimerFired to
// the actor) asks for a probe every Interval. The actor starts the probe's
// process as an exec through the Runtime (so probes are serialized with
// the container's other execs by its mailbox); a goroutine waits for it,
// kills it when Timeout passes, deletes it from containerd and sends the
// result back as probeDone. The actor folds the result into its Probes
// (lifecycle's pure Observe) and hands them to Decide as RecordHealth,
// which journals only a change of the status. Then it arms the next timer:
// one probe at a time, and none while the task is paused.
//
// A probe's process is not journaled as an exec (ExecStarted): a check
// every few seconds would grow the journal without end. A probe that a
// crash of the supervisor interrupts ends by itself (or with its task);
// the new actor starts counting from the journaled status.

// probeKillWait bounds the wait for a probe that was killed at its timeout.
const probeKillWait = 5 * time.Second

type (
	// healthTimerFired asks for the next probe of the run with pid.
	healthTimerFired struct{ pid uint32 }
	// probeDone is the result of a probe of the run with pid.
	probeDone struct {
		pid    uint32
		result lifecycle.ProbeResult
	}
)

// healthChecker is the actor's side of the health check of the current
// run.
type healthChecker struct {
	pid     uint32 // the run being probed; 0 when none
	timer   *time.Timer
	probing bool
	probes  lifecycle.Probes
}

// syncHealth keeps the health check in step with the state: a running
// task with a check has a probe timer (from its last journaled status
// when the actor is new to the run), anything else has none.
func (c *container) syncHealth(ctx actor.Context) {
	s := c.state
	if s.Status != lifecycle.StatusRunning || !s.Config.Healthcheck.Enabled() || s.Health == nil {
		c.stopHealth()
		return
	}
	if c.health.pid == s.Pid {
		return
	}
	c.stopHealth()
	p := lifecycle.NewProbes()
	p.Status, p.FailingStreak, p.Log = s.Health.Status, s.Health.FailingStreak, s.Health.Log
	p.WasHealthy = s.Health.Status == lifecycle.HealthHealthy
	c.health = healthChecker{pid: s.Pid, probes: p}
	c.armProbe(ctx)
}

func (c *container) armProbe(ctx actor.Context) {
	if c.health.timer != nil {
		c.health.timer.Stop()
	}
	h := c.state.Config.Healthcheck.WithDefaults()
	self, root, msg := ctx.Self(), ctx.ActorSystem().Root, healthTimerFired{pid: c.health.pid}
	c.health.timer = time.AfterFunc(h.Interval, func() { root.Send(self, msg) })
}

func (c *container) stopHealth() {
	if c.health.timer != nil {
		c.health.timer.Stop()
	}
	c.health = healthChecker{}
}

// probeDue starts a probe of the current run.
func (c *container) probeDue(ctx actor.Context, m healthTimerFired) {
	c.health.timer = nil
	if m.pid != c.health.pid || c.health.probing || c.state.Status != lifecycle.StatusRunning || c.state.Pid != m.pid {
		return
	}
	if c.state.Paused || c.broken != nil {
		c.armProbe(ctx) // docker does not probe a paused container either
		return
	}
	h := c.state.Config.Healthcheck.WithDefaults()
	start := c.deps.now()
	spec := c8dbridge.ExecSpec{ExecID: fmt.Sprintf("health-%d", start.UnixNano()), Args: h.Args()}
	out := &probeOutput{}
	cctx, cancel := c.callCtx()
	proc, err := c.deps.Runtime.Exec(cctx, c.id, spec, c8dbridge.ExecStdio{Stdout: out, Stderr: out})
	cancel()
	if err != nil {
		c.probeEnded(ctx, probeDone{pid: m.pid, result: lifecycle.ProbeResult{Start: start, End: c.deps.now(),
			ExitCode: -1, Output: "the health check could not run: " + err.Error()}})
		return
	}
	c.health.probing = true
	self, root, rt, id, pid := ctx.Self(), ctx.ActorSystem().Root, c.deps.Runtime, c.id, m.pid
	log := c.log()
	go func() {
		r := lifecycle.ProbeResult{Start: start}
		wctx, cancel := context.WithTimeout(context.Background(), h.Timeout)
		st, err := proc.Wait(wctx)
		cancel()
		switch {
		case wctx.Err() == context.DeadlineExceeded:
			kctx, kcancel := context.WithTimeout(context.Background(), probeKillWait)
			_ = proc.Kill(kctx, syscall.SIGKILL)
			_, _ = proc.Wait(kctx)
			kcancel()
			r.ExitCode, r.Output = -1, fmt.Sprintf("the health check did not finish within %v", h.Timeout)
		case err != nil:
			r.ExitCode, r.Output = -1, "the health check's exit is unknown: "+err.Error()
		default:
			r.ExitCode, r.Output = int(st.ExitCode), out.String()
		}
		dctx, dcancel := context.WithTimeout(context.Background(), probeKillWait)
		if err := rt.DeleteExec(dctx, id, spec.ExecID); err != nil {
			log.Debug("cannot delete a health check's exec", "exec", spec.ExecID, "err", err)
		}
		dcancel()
		root.Send(self, probeDone{pid: pid, result: r})
	}()
}

// probeEnded folds a probe's result in, journals a transition, and arms
// the next probe.
func (c *container) probeEnded(ctx actor.Context, m probeDone) {
	if m.pid != c.health.pid {
		return // a probe of an earlier run
	}
	c.health.probing = false
	if c.state.Status != lifecycle.StatusRunning || c.state.Pid != m.pid {
		return
	}
	m.result.End = c.deps.now()
	h := c.state.Config.Healthcheck.WithDefaults()
	c.health.probes = h.Observe(c.health.probes, c.state.StartedAt, m.result)
	before := c.state.Health
	if err := c.handle(ctx, lifecycle.RecordHealth{Pid: m.pid, Probes: c.health.probes, At: m.result.End}); err != nil {
		c.log().Warn("cannot record the container's health", "err", err)
	}
	if now := c.state.Health; now != before && now != nil {
		c.log().Info("health changed", "status", now.Status, "failing_streak", now.FailingStreak)
	}
	if c.health.pid == m.pid && c.state.Status == lifecycle.StatusRunning {
		c.armProbe(ctx)
	}
}

// probeOutput keeps the first HealthOutputMax bytes a probe writes on
// stdout and stderr (written from containerd's copying goroutines).
type probeOutput struct {
	mu  sync.Mutex
	buf []byte
}

func (o *probeOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if room := lifecycle.HealthOutputMax - len(o.buf); room > 0 {
		o.buf = append(o.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (o *probeOutput) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return string(o.buf)
}

// healthSettled says whether a WaitHealthy is answered: the task is
// healthy, or it will not become so (no check; exited for good).
func (c *container) healthSettled() bool {
	s := c.state
	switch {
	case !s.Config.Healthcheck.Enabled():
		return true
	case s.Status == lifecycle.StatusRunning:
		return s.Health != nil && s.Health.Status == lifecycle.HealthHealthy
	case s.Status == lifecycle.StatusExited:
		return s.NextRestart == nil
	}
	return false
}

// Healthy says whether a state's running task is healthy.
func Healthy(s lifecycle.State) bool {
	return s.Status == lifecycle.StatusRunning && s.Health != nil && s.Health.Status == lifecycle.HealthHealthy
}
