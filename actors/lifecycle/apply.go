package lifecycle

import "time"

// Apply returns s changed by event e. It never fails: the journal holds only
// events that Decide produced, so each one fits the state it follows.
// Replay after a crash and live operation both use it.
func Apply(s State, e Event) State {
	switch e := e.(type) {
	case CreateRequested:
		s = State{ID: e.Config.ID, Status: StatusCreating, Config: e.Config, CreatedAt: e.At}
	case ContainerCreated:
		s.Status = StatusCreated
	case CreateFailed:
		s.Status = StatusRemoved
		s.Error = "create failed: " + e.Reason
	case TaskPaused:
		s.Paused = true
	case TaskResumed:
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
		s.Error = ""
		s.NextRestart = nil
		s.RestartCount = e.Attempt // a user's start (0) resets the history
		if e.Attempt == 0 {
			s.BackoffStep = 0
		}
	case TaskStarted:
		s.Status = StatusRunning
		s.Pid = e.Pid
		s.StartedAt = e.At
		s.Starts++
	case StartFailed:
		s.Status = StatusExited
		s.Pid = 0
		s.Exit = &Exit{Code: ExitCodeStartFailed, At: e.At, Reason: "start failed: " + e.Reason}
		s.Error = "start failed: " + e.Reason
	case StopRequested:
		s.StopRequested = true
		if !e.Deadline.IsZero() {
			s.StopDeadline = e.Deadline
		}
	case TaskExited:
		s.Exit = &Exit{Pid: e.Pid, Code: e.Code, At: e.ExitedAt, Reason: e.Reason}
		s.Paused = false
		s.StopDeadline = time.Time{}
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
	case ContainerRemoved:
		s.Status = StatusRemoved
		s.Pid = 0
	}
	return s
}

// Replay folds events into a state, starting from s.
func Replay(s State, events []Event) State {
	for _, e := range events {
		s = Apply(s, e)
	}
	return s
}
