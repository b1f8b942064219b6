package lifecycle

import "time"

// Apply returns s changed by event e. It never fails: the journal holds only
// events that Decide produced, so each one fits the state it follows.
// Replay after a crash and live operation both use it.
func Apply(s State, e Event) State {
	if s, ok := applyUpdate(s, e); ok { // update.go
		return s
	}
	if s, ok := applyConnect(s, e); ok { // connect.go
		return s
	}
	switch e := e.(type) {
	case CreateRequested:
		s = State{ID: e.Config.ID, Status: StatusCreating, Config: e.Config, CreatedAt: e.At, Boot: e.Boot}
	case BootRecorded:
		s.Boot = e.Boot
	case HostRebooted:
		s.Boot = e.Boot
	case ContainerCreated:
		s.Status = StatusCreated
	case CreateFailed:
		s.Status = StatusRemoved
		s.Error = "create failed: " + e.Reason
	case TaskPaused:
		s.Paused = true
	case TaskUnpaused:
		s.Paused = false
	case TaskOOMKilled:
		s.OOMKilled = true
	case StartRequested:
		s.Status = StatusStarting
		s.Pid = 0
		s.Paused = false
		s.OOMKilled = false
		s.StopRequested = false
		s.StopDeadline = time.Time{}
		s.PendingSignal = 0
		s.Error = ""
		s.NextRestart = nil
		s.Checkpoint = nil
		s.RestoredFrom = e.Checkpoint
		s.HealthKilled = false
		s.RestartCount = e.Attempt // a user's start (0) resets the history
		if e.Attempt == 0 {
			s.BackoffStep = 0
		}
	case TaskLaunching:
		s.Pid = e.Pid // still starting: the task may or may not run
	case TaskStarted:
		s.Status = StatusRunning
		s.Pid = e.Pid
		s.StartedAt = e.At
		s.Starts++
		if s.Config.Healthcheck.Enabled() {
			s.Health = &HealthState{Status: HealthStarting} // health.go
		}
		s.Update = graceBegins(s.Update, e.At)
	case StartFailed:
		s.Status = StatusExited
		s.Pid = 0
		s.Exit = &Exit{Code: ExitCodeStartFailed, At: e.At, Reason: "start failed: " + e.Reason}
		s.Error = "start failed: " + e.Reason
	case StopRequested:
		s.StopRequested = true
		if e.Deadline.IsZero() {
			s.PendingSignal = e.Signal // a kill: pending until SignalSent
		} else {
			s.StopDeadline = e.Deadline
		}
	case SignalSent:
		s.PendingSignal = 0
	case TaskExited:
		if p := s.Checkpoint; p != nil && !p.LeaveRunning {
			// The exit of a checkpoint whose outcome is not journaled (the
			// supervisor stopped meanwhile): the user asked it to stop.
			s.StopRequested = true
		}
		s.Checkpoint = nil
		s.Exit = &Exit{Pid: e.Pid, Code: e.Code, At: e.ExitedAt, Reason: e.Reason}
		s.Paused = false
		s.StopDeadline = time.Time{}
		s.PendingSignal = 0
		if s.Status != StatusRemoving {
			s.Status = StatusExited
			s.Pid = 0
		}
	case RestartScheduled:
		s.NextRestart = &PendingRestart{Attempt: e.Attempt, Due: e.Due, Reason: e.Reason}
		s.BackoffStep = e.Step
	case RestartCanceled:
		s.NextRestart = nil
		s.StopRequested = true
	case RemoveRequested:
		s.Status = StatusRemoving
		s.NextRestart = nil
	case CheckpointRequested:
		s.Checkpoint = &PendingCheckpoint{Dir: e.Dir, LeaveRunning: e.LeaveRunning}
	case Checkpointed:
		s.Checkpoint = nil
		s.LastCheckpoint = e.Dir
		if !e.LeaveRunning {
			s.StopRequested = true // the task stops: a user's stop, not a crash
		}
	case CheckpointFailed:
		s.Checkpoint = nil
		s.Error = "checkpoint failed: " + e.Reason
	case ContainerRemoved:
		s.Status = StatusRemoved
		s.Pid = 0
		s.Net = nil // the removal released it (network.go)
	case NetworkSetupRequested:
		s.Net = &NetAttachment{Network: e.Network, Extra: extrasOf(s)} // connect.go
	case NetworkSetUp:
		var extra []NetAttachment
		if s.Net != nil {
			for _, x := range s.Net.Extra {
				x.Up, x.IPs = true, e.Extra[x.Network]
				extra = append(extra, x)
			}
		}
		s.Net = &NetAttachment{Network: netName(s), Up: true, IPs: e.IPs, Extra: extra}
	case NetworkReleaseRequested:
		if s.Net != nil {
			n := *s.Net
			n.Releasing = true
			s.Net = &n
		}
	case NetworkReleased:
		s.Net = nil
	case ExecStarted:
		s.Execs = withExec(s.Execs, e) // exec.go
	case ExecExited:
		s.Execs = withoutExec(s.Execs, e.ExecID)
	case HealthChanged:
		s = applyHealth(s, e) // health.go
	}
	return s
}

// netName is the network of the attachment under way, or the configured one.
func netName(s State) string {
	if s.Net != nil {
		return s.Net.Network
	}
	return NetworkOf(s.Config)
}

// Replay folds events into a state, starting from s.
func Replay(s State, events []Event) State {
	for _, e := range events {
		s = Apply(s, e)
	}
	return s
}
