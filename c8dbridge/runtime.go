package c8dbridge

import (
	"context"
	"syscall"
	"time"

	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/stdio"
)

// Labels vigil puts on every containerd container it creates.
const (
	// LabelManaged marks a container as created by vigil.
	LabelManaged = "io.vigil.managed"
	// LabelBundle records the container's bundle dir under the state dir.
	LabelBundle = "io.vigil.bundle"
)

// ContainerSpec is what a container is created from: the lifecycle's
// Config, the one configuration type from the API to the OCI spec. The
// fields this package reads are ID (validated), Rootfs (absolute), Args
// (Args[0] is the program), Env (the default PATH is added when PATH is
// missing), Cwd ("/" when empty), Labels (stored on the containerd
// container), the limits (Memory, CPUs, CPUShares, PidsLimit), User
// (looked up in the rootfs), ReadOnly, Mounts (their sources must exist),
// Hostname and Tty (its stdio must then be FIFOs: Stdio.Tty); or,
// instead of Rootfs, Image and ImageDigest: the container's rootfs is then
// a snapshot of its own (key: the ID) on the image whose manifest (for its
// platform) has ImageDigest, found by Image's name or, after the name
// moved or when the name is a multi-platform index, by the digest itself
// (imagecreate.go). Host holds the confinement, devices and kernel
// settings (hostspec.go).
// Network: "host" runs the task in the host's network namespace; a
// container on a CNI network joins the namespace file ID, and one of
// "container:OTHER" the file OTHER, in the Client's NetNSDir (package
// network makes them); any other gives the task a new one with only
// loopback.
type ContainerSpec = lifecycle.Config

// Mount is a bind mount of the host path Source at Target in the container.
type Mount = lifecycle.Mount

// Stdio says where a task's output goes.
type Stdio struct {
	// LogPath is the base path of the log files of a detached task (see
	// stdio.LogPath), written by the logging binary (see package stdio),
	// which outlives the supervisor.
	LogPath string
	// Checkpoint, when set, is the directory (absolute) of the criu
	// checkpoint the task is restored from instead of started afresh
	// (checkpoint.go).
	Checkpoint string

	// With Stdout set the task is interactive: its stdio goes through the
	// FIFOs at these paths instead of the logging binary, and the caller
	// owns their other ends (stdio.Hub), which it must open before
	// StartTask. Stdin is "" when stdin is not kept open; Stderr is ""
	// with Tty (a terminal merges both streams).
	Stdin, Stdout, Stderr string
	Tty                   bool

	// Log is how the logging binary (or the Hub) rotates the log.
	Log stdio.Rotation

	// Launching, when set, is called by StartTask with the pid of the
	// task containerd created, before the task is started: the caller
	// journals it, so that a task that runs and then vanishes before its
	// start is recorded is still known. An error from it aborts the start
	// (the created task is deleted).
	Launching func(pid uint32) error
}

// TaskState is the state containerd reports for a container's task.
type TaskState int

const (
	TaskAbsent  TaskState = iota // the container exists but has no task
	TaskCreated                  // the task exists and was not started
	TaskRunning
	TaskPaused
	TaskStopped // the task exited; ExitCode and ExitedAt are valid
	TaskUnknown
)

func (s TaskState) String() string {
	switch s {
	case TaskAbsent:
		return "absent"
	case TaskCreated:
		return "created"
	case TaskRunning:
		return "running"
	case TaskPaused:
		return "paused"
	case TaskStopped:
		return "stopped"
	default:
		return "unknown"
	}
}

// TaskStatus is a container's task as containerd reports it.
type TaskStatus struct {
	State    TaskState
	Pid      uint32
	ExitCode uint32
	ExitedAt time.Time
	// Owner is the container's LabelOwner, the journal that created it;
	// only TaskStatuses sets it.
	Owner string
	// Snapshot is the key of the container's snapshot ("" for a rootfs);
	// only TaskStatuses sets it (Updater.ContainerSnapshot asks for one).
	Snapshot string
}

// Event is a containerd task event, decoded into vigil's own types:
// TaskStarted, TaskExited, TaskOOM, TaskWasPaused, TaskWasUnpaused, TaskDeleted.
type Event interface{ ContainerID() string }

// TaskStarted reports that a task's init process started.
type TaskStarted struct {
	Container string
	Pid       uint32
}

// TaskExited reports that a process of a task exited. ProcessID equals
// Container for the init process and is the exec ID otherwise.
type TaskExited struct {
	Container string
	ProcessID string
	Pid       uint32
	ExitCode  uint32
	ExitedAt  time.Time
}

// TaskOOM reports an out-of-memory event in a container.
type TaskOOM struct{ Container string }

// TaskWasPaused reports that a task was paused. (The name TaskPaused is
// taken by the TaskState constant.)
type TaskWasPaused struct{ Container string }

// TaskWasUnpaused reports that a task was unpaused.
type TaskWasUnpaused struct{ Container string }

// TaskDeleted reports that a task (or exec process) was deleted.
type TaskDeleted struct {
	Container string
	Pid       uint32
	ExitCode  uint32
	ExitedAt  time.Time
}

func (e TaskStarted) ContainerID() string     { return e.Container }
func (e TaskExited) ContainerID() string      { return e.Container }
func (e TaskOOM) ContainerID() string         { return e.Container }
func (e TaskWasPaused) ContainerID() string   { return e.Container }
func (e TaskWasUnpaused) ContainerID() string { return e.Container }
func (e TaskDeleted) ContainerID() string     { return e.Container }

// Runtime is everything vigil needs from containerd. Errors are classified
// with github.com/containerd/errdefs: test them with errdefs.IsNotFound,
// errdefs.IsAlreadyExists, errdefs.IsUnavailable and so on.
type Runtime interface {
	// CreateContainer creates the container and its bundle dir. Returns
	// AlreadyExists if a container with that ID exists in the namespace.
	CreateContainer(ctx context.Context, spec ContainerSpec) error
	// StartTask creates and starts the container's task with the given
	// stdio and returns the pid of its init process. A stopped task left
	// from an earlier run is deleted first. NotFound if no container.
	StartTask(ctx context.Context, id string, stdio Stdio) (pid uint32, err error)
	// Kill sends sig to the task's init process. NotFound if there is no
	// task (or no container).
	Kill(ctx context.Context, id string, sig syscall.Signal) error
	// TaskStatus reports the task. A container without a task gives
	// TaskAbsent and no error; NotFound only if the container is gone.
	TaskStatus(ctx context.Context, id string) (TaskStatus, error)
	// PauseTask pauses the task; UnpauseTask unpauses it. NotFound if there is
	// no task; FailedPrecondition-class errors from containerd when the
	// task is not in a state that allows it.
	PauseTask(ctx context.Context, id string) error
	UnpauseTask(ctx context.Context, id string) error
	// Stats samples the task's resource usage from its cgroup (v1 or v2);
	// Top lists its processes. Both only read. NotFound if there is no
	// task.
	Stats(ctx context.Context, id string) (Stats, error)
	Top(ctx context.Context, id string) ([]Process, error)
	// WaitTask blocks until the task's init process exits (at once if it
	// already has) or ctx ends, and returns the exit as TaskStopped with
	// ExitCode and ExitedAt. NotFound if there is no task.
	WaitTask(ctx context.Context, id string) (TaskStatus, error)
	// DeleteTask deletes a stopped task, or a created one that never
	// started. No task is not an error; FailedPrecondition if it runs.
	DeleteTask(ctx context.Context, id string) error
	// DeleteContainer kills (SIGKILL) and deletes any task, deletes the
	// container and removes its bundle dir. No container is not an error.
	DeleteContainer(ctx context.Context, id string) error
	// TaskStatuses reports, in two calls to containerd, every container of
	// the namespace that carries LabelManaged and its task (TaskAbsent
	// when it has none) and owner: what reconciling all containers needs
	// at once.
	TaskStatuses(ctx context.Context) (map[string]TaskStatus, error)
	// Containers lists the IDs of the containers in the namespace that
	// carry LabelManaged.
	Containers(ctx context.Context) ([]string, error)
	// Subscribe streams the namespace's /tasks/ events until ctx ends or the
	// connection breaks; then the error channel receives one error.
	Subscribe(ctx context.Context) (<-chan Event, <-chan error)
	// Version asks containerd for its version; an Unavailable-class error
	// says it does not answer.
	Version(ctx context.Context) (string, error)
	// ClaimNamespace makes o the owner of the namespace if it has none, is
	// o's, or takeOver is set, and returns the owner before the claim;
	// another journal's namespace is refused with ErrNamespaceOwned
	// (owner.go).
	ClaimNamespace(ctx context.Context, o Owner, takeOver bool) (Owner, error)
	// CheckpointTask writes a criu checkpoint of the running task into
	// dir and stops the task after it unless leaveRunning (checkpoint.go).
	// NotFound if there is no task; NotImplemented (ErrCriuUnusable)
	// when criu cannot run on this host.
	CheckpointTask(ctx context.Context, id, dir string, leaveRunning bool) error
	// ForceDeleteTask kills (unpausing a paused task), and deletes the task
	// whatever its state, for a forced removal that a kill did not end;
	// it returns the exit containerd reports, or TaskAbsent when there was
	// no task.
	ForceDeleteTask(ctx context.Context, id string) (TaskStatus, error)
	// ResizeTask sets the size of the task's terminal; CloseStdin closes
	// the task's stdin (the shim's writer). NotFound if there is no task.
	ResizeTask(ctx context.Context, id string, width, height uint32) error
	CloseStdin(ctx context.Context, id string) error
	// Close closes the connection.
	Close() error
	// Exec starts a process in the container's running task and returns
	// once it runs; see Client.Exec for its stdio and its errors.
	Exec(ctx context.Context, id string, spec ExecSpec, stdio ExecStdio) (ExecProcess, error)
	// ExecStatus, WaitExec and DeleteExec find an exec process again by
	// its ID after a restart of the supervisor (exec_recover.go): its
	// status, a wait for its exit, and its removal once the exit is
	// journaled. NotFound when containerd no longer knows it (not an
	// error for DeleteExec).
	ExecStatus(ctx context.Context, id, execID string) (TaskStatus, error)
	WaitExec(ctx context.Context, id, execID string) (TaskStatus, error)
	DeleteExec(ctx context.Context, id, execID string) error
}
