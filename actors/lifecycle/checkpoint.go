package lifecycle

import (
	"fmt"
	"path/filepath"
	"time"
)

// Checkpoint writes a criu checkpoint of the running task into Dir. The
// task stops after the checkpoint, as docker's does, unless LeaveRunning.
type Checkpoint struct {
	Dir          string
	LeaveRunning bool
	At           time.Time
}

// RecordCheckpointed is the outcome of a successful CheckpointTask effect.
type RecordCheckpointed struct{ At time.Time }

// RecordCheckpointFailed is the outcome of a failed CheckpointTask effect.
type RecordCheckpointFailed struct {
	Err string
	At  time.Time
}

func (Checkpoint) commandName() string             { return "checkpoint" }
func (RecordCheckpointed) commandName() string     { return "record-checkpointed" }
func (RecordCheckpointFailed) commandName() string { return "record-checkpoint-failed" }

// CheckpointTask asks containerd's shim to write a checkpoint of the task
// into Dir (and to stop the task after it unless LeaveRunning). Its
// outcome is fed back as RecordCheckpointed or RecordCheckpointFailed.
type CheckpointTask struct {
	Dir          string
	LeaveRunning bool
}

func (CheckpointTask) effectName() string { return "checkpoint-task" }

// CheckpointRequested is the intent to checkpoint the running task into
// Dir. It is journaled before containerd is asked, so that an exit the
// checkpoint causes is known for what it is even after a crash.
type CheckpointRequested struct {
	Dir          string    `json:"dir"`
	LeaveRunning bool      `json:"leave_running,omitempty"`
	At           time.Time `json:"at"`
}

// Checkpointed records that the checkpoint in Dir was written. Unless
// LeaveRunning, the task is stopping: its exit counts as a user's stop,
// so no restart policy restarts it.
type Checkpointed struct {
	Dir          string    `json:"dir"`
	LeaveRunning bool      `json:"leave_running,omitempty"`
	At           time.Time `json:"at"`
}

// CheckpointFailed records that no checkpoint was written; the task runs
// on as before.
type CheckpointFailed struct {
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

func (CheckpointRequested) eventName() string { return "CheckpointRequested" }
func (Checkpointed) eventName() string        { return "Checkpointed" }
func (CheckpointFailed) eventName() string    { return "CheckpointFailed" }

// PendingCheckpoint is a checkpoint whose intent is journaled and whose
// outcome is not.
type PendingCheckpoint struct {
	Dir          string `json:"dir"`
	LeaveRunning bool   `json:"leave_running,omitempty"`
}

func decideCheckpoint(s State, c Checkpoint) (Decision, error) {
	if c.Dir == "" || !filepath.IsAbs(c.Dir) {
		return Decision{}, fmt.Errorf("%w: checkpoint directory %q must be an absolute path", ErrInvalidArgument, c.Dir)
	}
	switch {
	case s.Status != StatusRunning:
		return refuse(s, "checkpoint")
	case s.Checkpoint != nil:
		return Decision{}, fmt.Errorf("%w: cannot checkpoint container %q: a checkpoint into %s is under way",
			ErrInvalidTransition, s.ID, s.Checkpoint.Dir)
	}
	return Decision{
		Events:  []Event{CheckpointRequested{Dir: c.Dir, LeaveRunning: c.LeaveRunning, At: c.At}},
		Effects: []Effect{CheckpointTask{Dir: c.Dir, LeaveRunning: c.LeaveRunning}},
	}, nil
}

func decideCheckpointOutcome(s State, c Command) Decision {
	p := s.Checkpoint
	if p == nil || s.Status != StatusRunning {
		return Decision{} // settled already (by the exit, or by reconciliation)
	}
	switch c := c.(type) {
	case RecordCheckpointed:
		return Decision{Events: []Event{Checkpointed{Dir: p.Dir, LeaveRunning: p.LeaveRunning, At: c.At}}}
	case RecordCheckpointFailed:
		return Decision{Events: []Event{CheckpointFailed{Reason: c.Err, At: c.At}}}
	}
	return Decision{}
}

// decideStartFrom is Start with a checkpoint to restore.
func decideStartFrom(s State, c Start) (Decision, error) {
	if !filepath.IsAbs(c.Checkpoint) {
		return Decision{}, fmt.Errorf("%w: checkpoint directory %q must be an absolute path", ErrInvalidArgument, c.Checkpoint)
	}
	switch s.Status {
	case StatusCreated, StatusExited:
	case StatusNone, StatusRemoved:
		return refuse(s, "start")
	default:
		return Decision{}, fmt.Errorf("%w: cannot start container %q from a checkpoint: it is %s",
			ErrInvalidTransition, s.ID, s.Status)
	}
	return Decision{
		Events:  []Event{StartRequested{Checkpoint: c.Checkpoint, At: c.At}},
		Effects: []Effect{StartTask{Config: s.Config, Checkpoint: c.Checkpoint}},
	}, nil
}

// reconcileCheckpoint settles a checkpoint whose outcome was not journaled
// (the supervisor stopped while containerd worked on it) when the task
// still runs: whether criu finished cannot be known, so the checkpoint is
// recorded as failed and the task runs on. A task that stopped is settled
// by its exit.
func reconcileCheckpoint(s State, d Decision, at time.Time) Decision {
	if s.Checkpoint == nil || s.Status != StatusRunning {
		return d
	}
	for _, e := range d.Events {
		if _, ok := e.(TaskExited); ok {
			return d
		}
	}
	failed := CheckpointFailed{Reason: "the supervisor stopped before containerd answered; the checkpoint may be incomplete", At: at}
	d.Events = append([]Event{failed}, d.Events...)
	return d
}
