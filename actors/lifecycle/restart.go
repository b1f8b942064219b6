package lifecycle

import (
	"math"
	"time"
)

// withRestart adds the restart policy's decision to d when d records the
// end of a run (the container becomes exited: an exit, a failed start, a
// task that vanished): the RestartScheduled event, journaled with the exit
// in the same append, and the timer. at is the clock value of the command.
//
// A container that was only created is not restarted when containerd
// loses it (docker restarts only containers that were started before),
// and one being removed never is.
func withRestart(s State, d Decision, at time.Time) Decision {
	if len(d.Events) == 0 || s.Status == StatusExited || s.Status == StatusCreated {
		return d
	}
	after := Replay(s, d.Events)
	if after.Status != StatusExited || after.Exit == nil {
		return d
	}
	h := RestartHistory{
		Restarts:      s.RestartCount,
		Step:          s.BackoffStep,
		Code:          after.Exit.Code,
		StoppedByUser: after.StopRequested,
		Unhealthy:     after.HealthKilled,
	}
	started := s.Status == StatusRunning
	for _, e := range d.Events {
		switch e := e.(type) {
		case TaskStarted:
			started = true
		case StartFailed:
			h.Kind = ExitStartFailed
		case TaskExited:
			if e.Reason == HostRebootedReason {
				h.Kind = ExitRebooted
			} else if e.Reason != "" { // vigil, not the process, decided the code
				h.Kind = ExitVanished
			}
		}
	}
	if started && h.Kind != ExitStartFailed {
		h.Ran = max(after.Exit.At.Sub(after.StartedAt), 0)
	}
	return schedule(s, d, h, at)
}

// restartAfterReboot decides, for an exited container whose restart is not
// pending, whether a host reboot (kind ExitRebooted: the boot ID changed;
// ExitVanished: no boot IDs, and containerd lost the container) is a
// reason to start it again: always and unless-stopped (the latter unless a
// user stopped it) say yes. The exit it keeps is the one it had. The
// StartTask of the restart reuses the containerd container, or creates it
// again from the journaled config.
func restartAfterReboot(s State, d Decision, kind ExitKind, at time.Time) Decision {
	h := RestartHistory{
		Restarts:      s.RestartCount,
		Step:          s.BackoffStep,
		Kind:          kind,
		Code:          ExitCodeUnknown,
		StoppedByUser: s.StopRequested,
		Ran:           math.MaxInt64, // a new boot: the backoff starts over
	}
	return schedule(s, d, h, at)
}

func schedule(s State, d Decision, h RestartHistory, at time.Time) Decision {
	p := PlanRestart(s.Config.Restart, h, at, RestartSeed(s.ID, h.Restarts+1))
	if !p.Restart {
		if s.Config.Host.AutoRemove {
			// docker's --rm: the exit and the removal are one append.
			d.Events = append(d.Events, RemoveRequested{At: at})
			d.Effects = append(d.Effects, DeleteContainer{})
		}
		return d
	}
	d.Events = append(d.Events, RestartScheduled{Attempt: p.Attempt, Step: p.Step, Due: p.Due, Reason: p.Reason, At: at,
		Cause: h.cause()})
	// The timer goes first, so that the delay runs while the driver
	// cleans up the exited task rather than after.
	arm := ArmRestartTimer{Attempt: p.Attempt, Due: p.Due, After: p.Delay}
	d.Effects = append([]Effect{arm}, d.Effects...)
	return d
}

func cancelRestart(r *PendingRestart, why string, at time.Time) Decision {
	return Decision{Events: []Event{RestartCanceled{Attempt: r.Attempt, Reason: why, At: at}}}
}

// cause names what ended the run h describes (RestartScheduled.Cause).
func (h RestartHistory) cause() string {
	switch {
	case h.Unhealthy:
		return CauseUnhealthy
	case h.Kind == ExitVanished:
		return CauseVanished
	case h.Kind == ExitStartFailed:
		return CauseStartFailed
	}
	return CauseExit
}
