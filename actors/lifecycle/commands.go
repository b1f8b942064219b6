package lifecycle

import "time"

// Command asks for a change. Commands are named in the imperative; the ones
// named Record* and Observe* carry the outcome of an effect or something
// containerd reported. Every command carries the time the driver saw it.
type Command interface{ commandName() string }

// Create a container from Config.
type Create struct {
	Config Config
	// Start starts the container once it is created (docker's run): the
	// outcome of the create and the intent of the start are then one
	// journal append (ContainerCreated, StartRequested).
	Start bool
	Boot  string // the kernel's boot ID, "" when unknown (reboot.go)
	At    time.Time
}

// Start the container's task; with Checkpoint, restore it from the
// checkpoint in that directory.
type Start struct {
	Checkpoint string
	At         time.Time
}

// Stop the task: SIGTERM (or the config's StopSignal) now, SIGKILL after
// Timeout if it still runs. A Timeout of StopTimeoutFromConfig takes the
// config's StopTimeout, or DefaultStopTimeout.
type Stop struct {
	Timeout time.Duration
	At      time.Time
}

// Kill sends Signal to the task.
type Kill struct {
	Signal int
	At     time.Time
}

// Remove the container; Force kills a running task first.
type Remove struct {
	Force bool
	At    time.Time
}

// StopTimeout is the stop timer firing for the task with Pid.
type StopTimeout struct {
	Pid uint32
	At  time.Time
}

// RecordCreated is the outcome of a successful CreateContainer effect.
type RecordCreated struct {
	Start bool // the create's Start: start the container now
	At    time.Time
}

// RecordCreateFailed is the outcome of a failed CreateContainer effect.
type RecordCreateFailed struct {
	Err string
	At  time.Time
}

// RecordStarted is the outcome of a successful StartTask effect.
type RecordStarted struct {
	Pid uint32
	At  time.Time
}

// RecordLaunching reports, during a StartTask effect, the pid of the task
// containerd created, before the task is started.
type RecordLaunching struct {
	Pid uint32
	At  time.Time
}

// RecordStartFailed is the outcome of a failed StartTask effect.
type RecordStartFailed struct {
	Err string
	At  time.Time
}

// RecordRemoved is the outcome of a successful DeleteContainer effect.
type RecordRemoved struct{ At time.Time }

// ObserveExit reports an exit of the task's init process, from a
// containerd event. ExitedAt is containerd's exit time; At, as for every
// command, the driver's clock when it saw the exit (the restart policy
// counts its delay from it). Reason is set when vigil, not containerd,
// decided the code.
type ObserveExit struct {
	Pid      uint32
	Code     int
	ExitedAt time.Time
	Reason   string
	At       time.Time
}

// RestartTimeout is the restart timer of the pending restart Attempt, due
// at Due, firing. A timer that no longer matches the pending restart (it
// was canceled, or another was scheduled) decides nothing.
type RestartTimeout struct {
	Attempt int
	Due     time.Time
	At      time.Time
}

// TaskPhase is what containerd says about a container's task.
type TaskPhase int

const (
	TaskAbsent      TaskPhase = iota // no task
	TaskCreated                      // created, never started
	TaskRunning                      // running
	TaskStopped                      // exited; ExitCode and ExitedAt are valid
	TaskPhasePaused                  // paused, but it still runs
)

// Observation is what containerd reports about one container.
type Observation struct {
	ContainerExists bool
	Task            TaskPhase
	Pid             uint32
	ExitCode        int
	ExitedAt        time.Time
	// Snapshot is the key of the snapshot the container is on ("" when
	// unknown); an update's recovery reads it (update.go).
	Snapshot string
}

// Reconcile compares the state with Observed and records what happened
// while the supervisor (or containerd) was away.
type Reconcile struct {
	Observed Observation
	// Boot is the kernel's boot ID now, "" when unknown. One other than the
	// state's says that the host rebooted (reboot.go).
	Boot string
	At   time.Time
}

func (Create) commandName() string             { return "create" }
func (Start) commandName() string              { return "start" }
func (Stop) commandName() string               { return "stop" }
func (Kill) commandName() string               { return "kill" }
func (Remove) commandName() string             { return "remove" }
func (StopTimeout) commandName() string        { return "stop-timeout" }
func (RecordCreated) commandName() string      { return "record-created" }
func (RecordCreateFailed) commandName() string { return "record-create-failed" }
func (RecordStarted) commandName() string      { return "record-started" }
func (RecordLaunching) commandName() string    { return "record-launching" }
func (RecordStartFailed) commandName() string  { return "record-start-failed" }
func (RecordRemoved) commandName() string      { return "record-removed" }
func (ObserveExit) commandName() string        { return "observe-exit" }
func (RestartTimeout) commandName() string     { return "restart-timeout" }
func (Reconcile) commandName() string          { return "reconcile" }

// Pause pauses the running task.
type Pause struct{ At time.Time }

// Unpause unpauses the paused task.
type Unpause struct{ At time.Time }

// RecordSignalSent is the outcome of a SignalTask effect that containerd
// carried out.
type RecordSignalSent struct {
	Signal int
	At     time.Time
}

// RecordPaused is the outcome of a PauseTask effect, or a TaskPaused event
// of containerd.
type RecordPaused struct{ At time.Time }

// RecordUnpaused is the outcome of a UnpauseTask effect, or a TaskUnpaused
// event of containerd.
type RecordUnpaused struct{ At time.Time }

// ObserveOOM reports containerd's out-of-memory event for the container:
// the kernel killed one of its processes.
type ObserveOOM struct{ At time.Time }

func (ObserveOOM) commandName() string { return "observe-oom" }

func (Pause) commandName() string            { return "pause" }
func (Unpause) commandName() string          { return "unpause" }
func (RecordPaused) commandName() string     { return "record-paused" }
func (RecordSignalSent) commandName() string { return "record-signal-sent" }
func (RecordUnpaused) commandName() string   { return "record-unpaused" }

// PauseTask pauses the task. Its outcome is fed back as RecordPaused; a
// crash before that is settled by Reconcile, which sees the paused task.
type PauseTask struct{}

// UnpauseTask unpauses the task. Its outcome is fed back as RecordUnpaused.
type UnpauseTask struct{}

func (PauseTask) effectName() string   { return "pause-task" }
func (UnpauseTask) effectName() string { return "unpause-task" }

// Effect is a side effect that Decide asks the driver to perform.
type Effect interface{ effectName() string }

// CreateContainer creates the container in containerd from Config. Its
// outcome is fed back as RecordCreated or RecordCreateFailed.
type CreateContainer struct {
	Config Config
	Start  bool // the create's Start, handed to RecordCreated
}

// StartTask creates and starts the task (creating the containerd container
// again from Config if it vanished), restored from the checkpoint in the
// directory Checkpoint when set. Its outcome is fed back as RecordStarted
// or RecordStartFailed.
type StartTask struct {
	Config     Config
	Checkpoint string
}

// SignalTask sends Signal to the task's init process.
type SignalTask struct{ Signal int }

// ArmStopTimer asks for a StopTimeout for Pid after After.
type ArmStopTimer struct {
	Pid   uint32
	After time.Duration
}

// ArmRestartTimer asks for a RestartTimeout{Attempt, Due} after After. A
// container has at most one restart timer: arming one replaces the last.
type ArmRestartTimer struct {
	Attempt int
	Due     time.Time
	After   time.Duration
}

// DeleteTask deletes the stopped task from containerd (a cleanup whose
// failure changes no state).
type DeleteTask struct{}

// DeleteContainer kills any task and deletes the container, its bundle dir
// and its logs. Its outcome is fed back as RecordRemoved.
type DeleteContainer struct{}

func (CreateContainer) effectName() string { return "create-container" }
func (StartTask) effectName() string       { return "start-task" }
func (SignalTask) effectName() string      { return "signal-task" }
func (ArmStopTimer) effectName() string    { return "arm-stop-timer" }
func (ArmRestartTimer) effectName() string { return "arm-restart-timer" }
func (DeleteTask) effectName() string      { return "delete-task" }
func (DeleteContainer) effectName() string { return "delete-container" }

// Decision is what Decide returns: events to journal and apply, then
// effects to perform, in order.
type Decision struct {
	Events  []Event
	Effects []Effect
}
