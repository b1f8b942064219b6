package lifecycle

import "time"

// Event records a change of a container. Events are named in the past tense
// and journaled before they are applied. Every field that Apply reads is
// exported and survives a JSON round trip.
type Event interface{ eventName() string }

// CreateRequested is the intent to create a container. It carries the whole
// Config, so the container can be created again from the journal.
type CreateRequested struct {
	Config Config `json:"config"`
	// Boot is the kernel's boot ID at the create (reboot.go); "" when
	// unknown.
	Boot string    `json:"boot,omitempty"`
	At   time.Time `json:"at"`
}

// ContainerCreated records that containerd has the container.
type ContainerCreated struct {
	At time.Time `json:"at"`
}

// CreateFailed records that containerd refused the container, or that the
// supervisor stopped before the create finished and containerd does not
// have it. The ID is free again.
type CreateFailed struct {
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// StartRequested is the intent to create and start the task. Attempt is 0
// for a start a user asked for, which resets the restart history, and the
// number of the restart for one the restart policy scheduled. Checkpoint,
// when set, is the directory of the checkpoint the task is restored from.
type StartRequested struct {
	Attempt    int       `json:"attempt,omitempty"`
	Checkpoint string    `json:"checkpoint,omitempty"`
	At         time.Time `json:"at"`
}

// TaskStarted records that the task's init process runs with Pid.
type TaskStarted struct {
	Pid uint32    `json:"pid"`
	At  time.Time `json:"at"`
}

// TaskLaunching records the pid of the task that containerd created for
// the start under way, journaled before the task is started. From then on
// the task may run (and print) at any moment, so a task that vanishes
// before its TaskStarted is journaled (its shim killed, containerd gone,
// the host rebooted) is recorded as a run with a lost exit, never started
// again silently: the timeline holds every run that may have printed.
type TaskLaunching struct {
	Pid uint32    `json:"pid"`
	At  time.Time `json:"at"`
}

// StartFailed records that the task could not be started. The container is
// left exited with code 128 and the reason.
type StartFailed struct {
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// StopRequested records that a user asked the running task to stop: with
// Signal, escalating to SIGKILL at Deadline when Deadline is set.
type StopRequested struct {
	Signal   int       `json:"signal"`
	Deadline time.Time `json:"deadline,omitzero"`
	At       time.Time `json:"at"`
}

// SignalSent records that the signal of a user's kill (a StopRequested
// without a deadline) reached containerd for the task with Pid. A kill
// journaled without it may not have been sent: reconciliation sends it
// again, so a kill is delivered at least once.
type SignalSent struct {
	Signal int       `json:"signal"`
	Pid    uint32    `json:"pid"`
	At     time.Time `json:"at"`
}

// TaskExited records how the task with Pid ended. Each exit of a task is
// recorded exactly once.
type TaskExited struct {
	Pid      uint32    `json:"pid"`
	Code     int       `json:"code"`
	ExitedAt time.Time `json:"exited_at"`
	Reason   string    `json:"reason,omitempty"`
}

// RestartScheduled records the restart policy's decision to start the task
// again at Due: restart number Attempt since a user last started it, at
// backoff step Step. It is journaled with the exit it follows, so a
// supervisor that restarts meanwhile re-arms the timer for the time left.
type RestartScheduled struct {
	Attempt int       `json:"attempt"`
	Step    int       `json:"step"`
	Due     time.Time `json:"due"`
	Reason  string    `json:"reason"`
	At      time.Time `json:"at"`
	// Cause names what ended the run, for metrics: one of the Cause*
	// constants; empty in records written before it existed (an exit).
	Cause string `json:"cause,omitempty"`
}

// The causes of a RestartScheduled.
const (
	CauseExit        = "exit"         // the process exited
	CauseStartFailed = "start_failed" // the restart failed to start
	CauseVanished    = "vanished"     // containerd lost the task (a host reboot)
	CauseUnhealthy   = "unhealthy"    // the health check killed it (health.go)
)

// RestartCanceled records that a user stopped or killed a container whose
// restart was pending: the restart will not happen, and the container
// counts as stopped by the user.
type RestartCanceled struct {
	Attempt int       `json:"attempt"`
	Reason  string    `json:"reason"`
	At      time.Time `json:"at"`
}

// RemoveRequested is the intent to delete the container from containerd,
// with its bundle dir and logs.
type RemoveRequested struct {
	Force bool      `json:"force"`
	At    time.Time `json:"at"`
}

// ContainerRemoved records that the container is gone.
type ContainerRemoved struct {
	At time.Time `json:"at"`
}

// TaskPaused records that the task is paused.
type TaskPaused struct {
	At time.Time `json:"at"`
}

// TaskUnpaused records that the paused task runs again. Its journal name
// is TaskResumed, the word it was first written with: the name is the
// journal's format and the events feed's wire name (docs/API.md).
type TaskUnpaused struct {
	At time.Time `json:"at"`
}

// TaskOOMKilled records that the kernel's out-of-memory killer killed a
// process of the task (containerd's OOM event).
type TaskOOMKilled struct {
	At time.Time `json:"at"`
}

func (TaskOOMKilled) eventName() string { return "TaskOOMKilled" }

func (TaskPaused) eventName() string   { return "TaskPaused" }
func (TaskUnpaused) eventName() string { return "TaskResumed" }

func (CreateRequested) eventName() string  { return "CreateRequested" }
func (ContainerCreated) eventName() string { return "ContainerCreated" }
func (CreateFailed) eventName() string     { return "CreateFailed" }
func (StartRequested) eventName() string   { return "StartRequested" }
func (TaskStarted) eventName() string      { return "TaskStarted" }
func (TaskLaunching) eventName() string    { return "TaskLaunching" }
func (StartFailed) eventName() string      { return "StartFailed" }
func (StopRequested) eventName() string    { return "StopRequested" }
func (SignalSent) eventName() string       { return "SignalSent" }
func (TaskExited) eventName() string       { return "TaskExited" }
func (RestartScheduled) eventName() string { return "RestartScheduled" }
func (RestartCanceled) eventName() string  { return "RestartCanceled" }
func (RemoveRequested) eventName() string  { return "RemoveRequested" }
func (ContainerRemoved) eventName() string { return "ContainerRemoved" }

// EventName is the stable name of an event's type, used to register it
// with the journal.
func EventName(e Event) string { return e.eventName() }

// AllEvents returns a zero value of every event type, for registration
// with the journal.
func AllEvents() []Event {
	return []Event{
		TaskPaused{}, TaskUnpaused{},
		CreateRequested{}, ContainerCreated{}, CreateFailed{},
		StartRequested{}, TaskLaunching{}, TaskStarted{}, StartFailed{},
		StopRequested{}, SignalSent{}, TaskExited{},
		RemoveRequested{}, ContainerRemoved{},
		RestartScheduled{}, RestartCanceled{},
		TaskOOMKilled{},
		ExecStarted{}, ExecExited{},
		CheckpointRequested{}, Checkpointed{}, CheckpointFailed{},
		BootRecorded{}, HostRebooted{},
		HealthChanged{},
		NetworkSetupRequested{}, NetworkSetUp{}, NetworkReleaseRequested{}, NetworkReleased{},
		NetworkConnectRequested{}, NetworkConnected{}, NetworkDisconnectRequested{}, NetworkDisconnected{},
		UpdateRequested{}, UpdateSwapped{}, UpdateCommitted{}, UpdateRolledBack{}, UpdateAborted{}, SnapshotReleased{},
	}
}
