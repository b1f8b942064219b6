// Package vigil is the embeddable supervisor: a Go program opens it
// in-process, creates containers, and talks to each container's actor
// through its PID with typed messages (package actors), or through the
// methods of Supervisor. Both routes meet the same checks and give the
// same replies: the actor enforces what a method checks. The
// `supervisor daemon` command is a thin HTTP layer over this same API
// (package api holds its wire types, package client its Go client).
//
// This package is a facade: the engine behind it (the actor system,
// recovery, orphan removal, the events feed, attaching to interactive
// containers) is internal/engine. It names every type its methods take and return, so a
// program needs no other import of vigil's engine.
//
// A program that embeds vigil must call RunLoggerIfInvoked first thing in
// main: containerd's shim runs the program itself to capture a container's
// output.
//
// Open replays the journal, reconciles every container with containerd
// (adopting tasks that still run, recording exits that happened while no
// supervisor was up) and only then returns. Close stops the actors and
// leaves the containers running; the next Open picks them up again.
package vigil

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigilhq/vigil/internal/engine"
)

// DefaultNamespace is the containerd namespace vigil uses unless told.
const DefaultNamespace = engine.DefaultNamespace

// JournalFile is the name of the journal file in Config.StateDir.
const JournalFile = engine.JournalFile

// The defaults of Config.RetainRemovedFor and Config.RetainRemovedCount.
const (
	DefaultRetainRemovedFor   = engine.DefaultRetainRemovedFor
	DefaultRetainRemovedCount = engine.DefaultRetainRemovedCount
)

// Errors of the API, tested with errors.Is. Each carries an errdefs class
// (errdefs.IsNotFound and so on), as errors from containerd do; package
// api maps the classes to HTTP statuses.
var (
	ErrNotFound             = engine.ErrNotFound             // no such container (NotFound)
	ErrAlreadyExists        = engine.ErrAlreadyExists        // the ID is in use (AlreadyExists)
	ErrInvalidArgument      = engine.ErrInvalidArgument      // a bad value in a request (InvalidArgument)
	ErrInvalidTransition    = engine.ErrInvalidTransition    // the request does not fit the container's state (FailedPrecondition)
	ErrInvalidID            = engine.ErrInvalidID            // a malformed container ID (InvalidArgument)
	ErrTimeout              = engine.ErrTimeout              // no answer in time (DeadlineExceeded)
	ErrJournalDamaged       = engine.ErrJournalDamaged       // Open: records cannot be replayed (DataLoss)
	ErrSlowConsumer         = engine.ErrSlowConsumer         // Events: the reader fell behind (ResourceExhausted)
	ErrNotInteractive       = engine.ErrNotInteractive       // Attach: created without Interactive or Tty (FailedPrecondition)
	ErrDetached             = engine.ErrDetached             // Attachment.Wait after Detach
	ErrCommandNotFound      = engine.ErrCommandNotFound      // Exec: no such program (InvalidArgument)
	ErrCommandNotExecutable = engine.ErrCommandNotExecutable // Exec: the program cannot run (InvalidArgument)
	ErrCriuUnusable         = engine.ErrCriuUnusable         // Checkpoint: criu cannot run here (NotImplemented)
	ErrNamespaceOwned       = engine.ErrNamespaceOwned       // Open: another journal owns the namespace (FailedPrecondition)
	ErrJournalNoSpace       = engine.ErrJournalNoSpace       // a command could not be journaled: the disk is full, the journal's reserve used up (ResourceExhausted)
)

// The types of the facade, defined by the engine.
type (
	// Config configures Open.
	Config = engine.Config
	// Health says how the supervisor sees containerd.
	Health = engine.Health
	// Event is a journaled event, as Events delivers it.
	Event = engine.Event
	// EventFilter selects events.
	EventFilter = engine.EventFilter
	// ExecConfig is a process to run in a container's task.
	ExecConfig = engine.ExecConfig
	// Execution is a process Exec started.
	Execution = engine.Execution
	// AttachOptions says which of a container's stdio an Attachment joins.
	AttachOptions = engine.AttachOptions
	// Attachment is a client joined to an interactive container's stdio.
	Attachment = engine.Attachment
	// CheckpointOptions are the options of Checkpoint.
	CheckpointOptions = engine.CheckpointOptions
)

// Supervisor is an open vigil supervisor.
type Supervisor struct {
	e *engine.Supervisor
}

// Open starts a supervisor: it opens the journal, spawns one actor per
// journaled container (each replays its journal), subscribes to
// containerd's events and reconciles every container before it returns.
// If containerd does not answer, Open returns at once all the same: the
// supervisor answers Inspect, List, Wait and logs from the journal, refuses
// what needs containerd with an Unavailable-class error, and reconciles as
// soon as containerd answers. With an empty Config.LoggerBinary, the
// program must have called RunLoggerIfInvoked.
func Open(ctx context.Context, cfg Config) (*Supervisor, error) {
	if cfg.LoggerBinary == "" && !loggerHooked.Load() {
		return nil, fmt.Errorf("vigil: %w: Config.LoggerBinary is empty, so containerd's shim will run this program "+
			"to capture each container's output, but it never called vigil.RunLoggerIfInvoked(): "+
			"call it first thing in main, or set Config.LoggerBinary", ErrInvalidArgument)
	}
	e, err := engine.Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &Supervisor{e: e}, nil
}

// Close stops the actors and the event router and closes the journal and
// the containerd connection. Containers keep running.
func (s *Supervisor) Close() error { return s.e.Close() }

// Root is the actor system's root context, for sending messages to the
// PIDs that Create and PID return.
func (s *Supervisor) Root() *actor.RootContext { return s.e.Root() }

// Create creates a container and returns the PID of its actor. The rootfs
// and the sources of its mounts must exist, and a user name must be in the
// rootfs.
func (s *Supervisor) Create(ctx context.Context, cfg ContainerConfig) (*actor.PID, error) {
	return s.e.Create(ctx, cfg)
}

// PID returns the PID of a container's actor.
func (s *Supervisor) PID(ctx context.Context, id string) (*actor.PID, error) { return s.e.PID(ctx, id) }

// Start starts a container's task.
func (s *Supervisor) Start(ctx context.Context, id string) (State, error) { return s.e.Start(ctx, id) }

// StartFromCheckpoint starts a container's task restored from the
// checkpoint in dir: a name or an absolute path (see CheckpointDir).
func (s *Supervisor) StartFromCheckpoint(ctx context.Context, id, dir string) (State, error) {
	return s.e.StartFromCheckpoint(ctx, id, dir)
}

// Checkpoint writes a criu checkpoint of a container's running task into
// dir: a name or an absolute path (see CheckpointDir).
func (s *Supervisor) Checkpoint(ctx context.Context, id, dir string, opts CheckpointOptions) (State, error) {
	return s.e.Checkpoint(ctx, id, dir, opts)
}

// CheckpointDir is the directory a checkpoint of container id named dir
// is in: STATE/containers/ID/checkpoints/NAME for a name, dir itself for
// an absolute path. Either must be a trusted directory (owned by root,
// not writable by group or others, no symbolic link on the way), or it is
// ErrInvalidArgument.
func (s *Supervisor) CheckpointDir(id, dir string) (string, error) { return s.e.CheckpointDir(id, dir) }

// Stop sends SIGTERM to a container's task, SIGKILL after timeout, and
// waits until the task is no longer running.
func (s *Supervisor) Stop(ctx context.Context, id string, timeout time.Duration) (State, error) {
	return s.e.Stop(ctx, id, timeout)
}

// Restart stops a container's task as Stop does and starts it again.
func (s *Supervisor) Restart(ctx context.Context, id string, timeout time.Duration) (State, error) {
	return s.e.Restart(ctx, id, timeout)
}

// Kill sends signal sig to a container's task.
func (s *Supervisor) Kill(ctx context.Context, id string, sig int) (State, error) {
	return s.e.Kill(ctx, id, sig)
}

// Remove deletes a container; force kills a running task first.
func (s *Supervisor) Remove(ctx context.Context, id string, force bool) error {
	return s.e.Remove(ctx, id, force)
}

// Pause pauses a container's running task.
func (s *Supervisor) Pause(ctx context.Context, id string) (State, error) { return s.e.Pause(ctx, id) }

// Unpause unpauses a container's paused task.
func (s *Supervisor) Unpause(ctx context.Context, id string) (State, error) {
	return s.e.Unpause(ctx, id)
}

// Inspect returns a container's state.
func (s *Supervisor) Inspect(ctx context.Context, id string) (State, error) {
	return s.e.Inspect(ctx, id)
}

// List returns the state of every container, sorted by ID.
func (s *Supervisor) List(ctx context.Context) ([]State, error) { return s.e.List(ctx) }

// Wait waits until cond holds for a container, or ctx ends. It is not
// bounded by Config.RequestTimeout.
func (s *Supervisor) Wait(ctx context.Context, id string, cond WaitCondition) (State, error) {
	return s.e.Wait(ctx, id, cond)
}

// Run creates a container and starts it, as Create and Start do, in one
// command of the container's actor (the create's outcome and the start's
// intent are one journal append), and returns its state once it runs. An
// error with a state that is neither none nor removed is a
// container that was created but did not start.
func (s *Supervisor) Run(ctx context.Context, cfg ContainerConfig) (State, error) {
	return s.e.Run(ctx, cfg)
}

// WaitAndRemove waits until a container no longer runs, then removes it
// and returns its state as its exit left it (docker's run --rm in the
// foreground: read the output to its end first, then call this). It is not
// bounded by Config.RequestTimeout.
func (s *Supervisor) WaitAndRemove(ctx context.Context, id string) (State, error) {
	return s.e.WaitAndRemove(ctx, id)
}

// Stats samples the resource usage of a container's running (or paused)
// task. A container whose task does not run gives ErrInvalidTransition.
func (s *Supervisor) Stats(ctx context.Context, id string) (Stats, error) { return s.e.Stats(ctx, id) }

// Top lists the processes of a container's running (or paused) task.
func (s *Supervisor) Top(ctx context.Context, id string) ([]Process, error) { return s.e.Top(ctx, id) }

// Exec runs a process in a container's running task.
func (s *Supervisor) Exec(ctx context.Context, id string, cfg ExecConfig) (*Execution, error) {
	return s.e.Exec(ctx, id, cfg)
}

// Attach joins a running interactive container's stdio (or, with
// opts.Start, starts it once joined).
func (s *Supervisor) Attach(ctx context.Context, id string, opts AttachOptions) (*Attachment, error) {
	return s.e.Attach(ctx, id, opts)
}

// Events calls fn with each journaled event that matches f: those already
// journaled first, then each new one, until ctx ends, f.Until passes or fn
// fails.
func (s *Supervisor) Events(ctx context.Context, f EventFilter, fn func(Event) error) error {
	return s.e.Events(ctx, f, fn)
}

// Health reports whether containerd answers, its version, when every
// container was last reconciled, and how many containers there are.
func (s *Supervisor) Health(ctx context.Context) (Health, error) { return s.e.Health(ctx) }

// LogPath is the JSON-lines log file of a container (see package stdio).
// It is only meaningful for a valid ID.
func (s *Supervisor) LogPath(id string) string { return s.e.LogPath(id) }

// MetricsHandler serves the supervisor's metrics in Prometheus's text
// format (docs/API.md, "GET /metrics"); the daemon serves it on its socket
// and, with --metrics-addr, on TCP.
func (s *Supervisor) MetricsHandler() http.Handler { return s.e.MetricsHandler() }

// MetricsGatherer is the registry behind MetricsHandler, for a program
// that gathers the metrics its own way.
func (s *Supervisor) MetricsGatherer() prometheus.Gatherer { return s.e.MetricsGatherer() }

// Ping returns once the supervisor actor answered, or an error when it
// does not answer in time or is gone (the daemon's systemd watchdog).
func (s *Supervisor) Ping(ctx context.Context) error { return s.e.Ping(ctx) }
