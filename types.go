package vigil

import (
	"github.com/vigilhq/vigil/actors"
	"github.com/vigilhq/vigil/actors/lifecycle"
	"github.com/vigilhq/vigil/c8dbridge"
	"github.com/vigilhq/vigil/stdio"
)

// The types of the facade's methods, named here so that a program that
// embeds vigil (or the daemon) needs no import of the engine's packages.
type (
	// ContainerConfig is what a container is created from: the one
	// configuration type, journaled as it is and turned into the OCI spec
	// by package c8dbridge.
	ContainerConfig = lifecycle.Config
	// State is everything known about one container.
	State = lifecycle.State
	// Stats is one sample of a task's resource usage.
	Stats = c8dbridge.Stats
	// Process is one process of a task, as Top lists it.
	Process = c8dbridge.Process
	// WaitCondition is what Wait waits for.
	WaitCondition = actors.WaitCondition
)

// The conditions of Wait, as docker's wait --condition names them.
const (
	WaitNotRunning = actors.WaitNotRunning
	WaitNextExit   = actors.WaitNextExit
	WaitRemoved    = actors.WaitRemoved
	// WaitHealthy waits until the health check says healthy; Wait fails
	// with a FailedPrecondition error when the container cannot become
	// healthy (no health check; it exited and no restart is pending).
	WaitHealthy = actors.WaitHealthy
)

// ParseWaitCondition parses a condition's name: not-running (also empty),
// next-exit, removed or healthy.
func ParseWaitCondition(s string) (WaitCondition, bool) { return actors.ParseWaitCondition(s) }

// ParseSignal parses a signal's name ("TERM", "SIGKILL") or number.
// Errors: InvalidArgument.
func ParseSignal(s string) (int, error) {
	sig, err := c8dbridge.ParseSignal(s)
	return int(sig), err
}

// CheckExec says whether the container in state st can run an exec of
// args now, as its actor will decide when the exec comes: a caller that
// must answer before it starts one (the daemon, before it upgrades the
// connection) asks it first. Errors: ErrInvalidTransition,
// ErrInvalidArgument.
func CheckExec(st State, args []string) error {
	_, err := lifecycle.Decide(st, lifecycle.Exec{ExecID: "check", Args: args})
	return err
}

// ValidateConfig checks a container's configuration without I/O (ranges,
// syntax, absolute paths), as Create does first. Errors: InvalidArgument.
func ValidateConfig(cfg ContainerConfig) error { return lifecycle.ValidateConfig(cfg) }

// The parts of a ContainerConfig that docker's run options set (log
// rotation, confinement, devices, kernel settings).
type (
	// LogOptions bound a container's log (--log-opt).
	LogOptions = lifecycle.LogOptions
	// HostConfig is a container's confinement, devices and kernel
	// settings (--security-opt, --cap-add, --device, ...).
	HostConfig = lifecycle.HostConfig
	// Device is a host device made available in a container.
	Device = lifecycle.Device
	// UsernsMap is the host range a container's user namespace maps its
	// root to (HostConfig.Userns).
	UsernsMap = lifecycle.UsernsMap
	// Tmpfs is a tmpfs mount of a container.
	Tmpfs = lifecycle.Tmpfs
	// Ulimit is a resource limit of a container's process.
	Ulimit = lifecycle.Ulimit
)

// StopTimeoutFromConfig, as the timeout of Stop and Restart, takes the
// container's own stop timeout (HostConfig.StopTimeout), or 10 s.
const StopTimeoutFromConfig = lifecycle.StopTimeoutFromConfig

// LogRotation is how a log with options o rotates when the daemon's
// defaults are docker's "local" driver's (stdio.DefaultRotation).
func LogRotation(o LogOptions) stdio.Rotation { return actors.LogRotation(o, nil) }
