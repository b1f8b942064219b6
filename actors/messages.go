package actors

import (
	"io"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/c8dbridge"
	"github.com/vigilhq/vigil/stdio"
)

// Messages a container actor accepts. Send them with RequestFuture to the
// actor's PID; each is answered with a Reply. They are the embedded API as
// much as package vigil's methods are: the actor itself enforces what the
// facade checks (containerd reachable, Deps.Available; a Create's host
// paths, Deps.PrepareCreate), so a message and the facade's method give the
// same replies, the same errors and the same journal. Only what belongs to
// the caller's side differs: a future that times out or finds the actor
// gone gives protoactor's errors, which the facade turns into ErrTimeout
// and ErrNotFound.
type (
	// Create creates the container from Config, and with Start starts
	// it too (the reply then comes once it runs, as Start's). It is sent
	// by the supervisor's Create and Run; an embedder uses those.
	Create struct {
		Config lifecycle.Config
		Start  bool
	}
	// Start starts the container's task.
	Start struct{}
	// Stop sends SIGTERM and, after Timeout, SIGKILL. The reply comes once
	// the signal is sent; Wait for WaitNotRunning to see the exit.
	Stop struct{ Timeout time.Duration }
	// Kill sends Signal (a Linux signal number) to the task.
	Kill struct{ Signal int }
	// Remove deletes the container, its bundle dir and its logs. Force
	// kills a running task first.
	Remove struct{ Force bool }
	// Connect connects the container to Network besides its main one
	// (docker's network connect); Disconnect disconnects it. A running
	// container is attached at once, another at its next start.
	Connect    struct{ Network string }
	Disconnect struct{ Network string }
	// Pause pauses the running task; Unpause unpauses it.
	Pause   struct{}
	Unpause struct{}
	// Inspect returns the container's state.
	Inspect struct{}
	// Stats samples the running task's resource usage; it is answered
	// with a StatsReply. Top lists the task's processes; it is answered
	// with a TopReply. Both only read: nothing is decided or journaled.
	// A container whose task does not run is refused with
	// lifecycle.ErrInvalidTransition.
	Stats struct{}
	Top   struct{}
	// Wait replies once Condition holds.
	Wait struct{ Condition WaitCondition }
	// Reconcile compares the state with containerd's and records the
	// difference. Known, when set, is containerd's view of the container,
	// read by the caller for every container at once; when nil, the actor
	// asks containerd itself.
	Reconcile struct{ Known *Known }
	// Known is containerd's view of one container.
	Known struct {
		Exists bool                 // containerd has the container
		Task   c8dbridge.TaskStatus // its task; TaskAbsent when none
		// Asked is when the view was asked for (Deps.Clock). An actor
		// whose state changed since then asks containerd itself: the view
		// may predate the container, or its last start.
		Asked time.Time
	}
)

// Reply answers every container message: the state after the message was
// handled, and the error that refused or failed it.
type Reply struct {
	State lifecycle.State
	Err   error
}

// StatsReply answers Stats: the sample, or the error that kept it.
type StatsReply struct {
	Stats c8dbridge.Stats
	Err   error
}

// TopReply answers Top: the task's processes, or the error that kept them.
type TopReply struct {
	Processes []c8dbridge.Process
	Err       error
}

// WaitCondition is what a Wait waits for, as in docker's wait --condition.
type WaitCondition int

const (
	// WaitNotRunning: the task is not running (answered at once if so).
	WaitNotRunning WaitCondition = iota
	// WaitNextExit: the next exit of the task, even if it is not running yet.
	WaitNextExit
	// WaitRemoved: the container is removed.
	WaitRemoved
	// WaitHealthy: the running task's health check says healthy; answered
	// also when the container can no longer become healthy (it has no
	// health check, or it exited and no restart is pending): the reply's
	// state tells which.
	WaitHealthy
)

var waitNames = [...]string{"not-running", "next-exit", "removed", "healthy"}

func (w WaitCondition) String() string {
	if w < 0 || int(w) >= len(waitNames) {
		return "unknown"
	}
	return waitNames[w]
}

// ParseWaitCondition parses "not-running", "next-exit", "removed" or
// "healthy"; the empty string means not-running.
func ParseWaitCondition(s string) (WaitCondition, bool) {
	if s == "" {
		return WaitNotRunning, true
	}
	for i, n := range waitNames {
		if n == s {
			return WaitCondition(i), true
		}
	}
	return 0, false
}

// internal messages
type (
	stopTimerFired    struct{ pid uint32 }
	restartTimerFired struct {
		attempt int
		due     time.Time
	}
	watchEnded     struct{ pid uint32 }
	retryReconcile struct{}
	childGone      struct {
		id  string
		pid *actor.PID
	}
)

// Execs: a process run in a container's running task (exec.go).
type (
	// Exec starts a process in the running task with Spec and Stdio (see
	// c8dbridge.Runtime.Exec). It is answered with an ExecReply once the
	// process runs and ExecStarted is journaled. The actor handles one
	// Exec at a time, but not the wait for its exit. A container that is
	// not running, or is paused, is refused with
	// lifecycle.ErrInvalidTransition and nothing changes.
	Exec struct {
		Spec  c8dbridge.ExecSpec
		Stdio c8dbridge.ExecStdio
	}
	// ExecReply answers Exec: the process, and a channel that receives
	// its exit once ExecExited is journaled (or could not be: the actor
	// went away); or the error that kept it from starting.
	ExecReply struct {
		Process c8dbridge.ExecProcess
		Exited  <-chan ExecExit
		Err     error
	}
	// ExecExit is how an exec process ended: Code, or Err when its exit
	// could not be learned (then Code is 255).
	ExecExit struct {
		Code     int
		ExitedAt time.Time
		Err      error
	}
	// execExited reports an exec's exit to its actor, from the goroutine
	// that waits for it.
	execExited struct {
		execID string
		pid    uint32
		status c8dbridge.TaskStatus
		err    error
	}
)

// Checkpoints (checkpoint.go).
type (
	// Checkpoint writes a criu checkpoint of the running task into Dir
	// (absolute). The task stops after it unless LeaveRunning; its exit
	// then counts as a user's stop. The reply comes once the checkpoint is
	// written; Wait for WaitNotRunning to see the exit.
	Checkpoint struct {
		Dir          string
		LeaveRunning bool
	}
	// StartFromCheckpoint starts the task restored from the checkpoint in
	// Dir (absolute), as Start does otherwise.
	StartFromCheckpoint struct{ Dir string }
)

// Interactive I/O (attach.go). The Hub of an interactive container's run
// (stdio.Hub) is its actor's: the actor opens it before it starts the
// task, hands it to the clients that attach, and closes it when the next
// run replaces it or the actor stops. Nothing else holds it, so no lock is
// shared between containers and no actor waits on another's I/O.
type (
	// Attach joins the container's interactive stdio (created with
	// Interactive or Tty); it is answered with an AttachReply. Stdout and
	// Stderr receive the output written from now on (with a terminal, all
	// of it goes to Stdout; nil discards). Stdin says that the client will
	// write to the container's stdin, which needs Interactive. Without
	// Start the container must be running; with Start it is started
	// (created or exited: as Start, with the same checks) and joined
	// before its task exists, so that not a byte of output is missed.
	// Errors: ErrNotInteractive, lifecycle.ErrInvalidTransition when it
	// does not run (or does not start), lifecycle.ErrInvalidArgument for
	// Stdin without Interactive, Deps.Available's.
	Attach struct {
		Stdout, Stderr io.Writer
		Stdin, Start   bool
	}
	// AttachReply answers Attach: the run's Hub (for the client's input:
	// WriteStdin, CloseStdin), the client's subscription to its output,
	// the pid of the run's task, and whether it has a terminal.
	AttachReply struct {
		Hub *stdio.Hub
		Sub *stdio.Sub
		Pid uint32
		Tty bool
		Err error
	}
	// Resize sets the size of the container's terminal; answered with a
	// Reply. lifecycle.ErrInvalidArgument without a terminal or for a
	// zero size.
	Resize struct{ Width, Height uint32 }
	// CloseStdin closes the container's stdin in containerd's shim (the
	// client closes the Hub's side, AttachReply.Hub.CloseStdin); answered
	// with a Reply. A task that is gone is no error.
	CloseStdin struct{}
)
