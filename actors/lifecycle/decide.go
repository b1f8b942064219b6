package lifecycle

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/vigilhq/vigil/internal/containerid"
)

// Sentinel errors of Decide. Callers test them with errors.Is; each
// carries an errdefs class (errdefs.IsFailedPrecondition and so on).
var (
	// ErrInvalidTransition: the command does not fit the container's status.
	ErrInvalidTransition = errdefs.ErrFailedPrecondition.WithMessage("lifecycle: invalid transition")
	// ErrInvalidArgument: the command carries a bad value.
	ErrInvalidArgument = errdefs.ErrInvalidArgument.WithMessage("lifecycle: invalid argument")
)

// Linux signal numbers used by stop. The package stays free of syscall so
// that it builds and tests the same everywhere.
const (
	SIGKILL = 9
	SIGTERM = 15
	maxSig  = 64
)

// ExitCodeUnknown is recorded when a task vanished and its real code cannot
// be known.
const ExitCodeUnknown = 255

// LaunchLostReason is the reason of the exit recorded for a task that was
// created (TaskLaunching) and vanished before its start was recorded.
const LaunchLostReason = "the task vanished while it started, before its start was recorded (its shim or containerd stopped); its exit code is lost"

// ExitCodeStartFailed is recorded when a task could not be started.
const ExitCodeStartFailed = 128

// Decide returns what command c changes in state s, or an error wrapping
// ErrInvalidTransition or ErrInvalidArgument when c is refused. It does not
// modify s. A command that changes nothing returns an empty Decision.
func Decide(s State, c Command) (Decision, error) {
	d, err := decide(s, c)
	if err != nil {
		return d, err
	}
	d = closeExecs(s, d)             // the execs die with their task (exec.go)
	return withNetwork(s, c, d), nil // network.go
}

func decide(s State, c Command) (Decision, error) {
	if d, err, ok := decideUpdate(s, c); ok { // update.go
		return d, err
	}
	switch c := c.(type) {
	case Create:
		return decideCreate(s, c)
	case Start:
		if c.Checkpoint != "" {
			return decideStartFrom(s, c)
		}
		switch s.Status {
		case StatusCreated, StatusExited:
			return Decision{
				Events:  []Event{StartRequested{At: c.At}},
				Effects: []Effect{StartTask{Config: s.Config}},
			}, nil
		case StatusRunning:
			return Decision{}, nil // already running: nothing to do, like docker
		}
		return refuse(s, "start")
	case Stop:
		timeout := c.Timeout
		if timeout == StopTimeoutFromConfig {
			timeout = DefaultStopTimeout
			if t := s.Config.Host.StopTimeout; t != nil {
				timeout = *t
			}
		}
		if timeout < 0 {
			return Decision{}, fmt.Errorf("%w: stop timeout %v is negative", ErrInvalidArgument, c.Timeout)
		}
		switch s.Status {
		case StatusRunning:
			deadline := c.At.Add(timeout)
			sig := s.Config.stopSignal() // the image's, or SIGTERM
			if s.Config.Host.StopSignal != 0 {
				sig = s.Config.Host.StopSignal
			}
			return unpauseAfterSignal(s, Decision{
				Events:  []Event{StopRequested{Signal: sig, Deadline: deadline, At: c.At}},
				Effects: []Effect{SignalTask{Signal: sig}, ArmStopTimer{Pid: s.Pid, After: timeout}},
			}), nil
		case StatusExited:
			if r := s.NextRestart; r != nil {
				return cancelRestart(r, "stopped by the user", c.At), nil
			}
			return Decision{}, nil // not running: nothing to stop, like docker
		case StatusCreated:
			return Decision{}, nil
		}
		return refuse(s, "stop")
	case Kill:
		if c.Signal <= 0 || c.Signal > maxSig {
			return Decision{}, fmt.Errorf("%w: signal %d is out of range 1-%d", ErrInvalidArgument, c.Signal, maxSig)
		}
		if r := s.NextRestart; r != nil && s.Status == StatusExited {
			// Like docker: killing a restarting container cancels the
			// restart; there is no process to signal.
			return cancelRestart(r, "killed by the user", c.At), nil
		}
		if s.Status != StatusRunning {
			return refuse(s, "kill")
		}
		return unpauseAfterSignal(s, Decision{
			Events:  []Event{StopRequested{Signal: c.Signal, At: c.At}},
			Effects: []Effect{SignalTask{Signal: c.Signal}},
		}), nil
	case Pause:
		switch {
		case s.Status != StatusRunning:
			return refuse(s, "pause")
		case s.Paused:
			return Decision{}, fmt.Errorf("%w: cannot pause container %q: it is already paused", ErrInvalidTransition, s.ID)
		}
		return Decision{Effects: []Effect{PauseTask{}}}, nil
	case Unpause:
		if s.Status != StatusRunning || !s.Paused {
			return Decision{}, fmt.Errorf("%w: cannot unpause container %q: it is not paused", ErrInvalidTransition, s.ID)
		}
		return Decision{Effects: []Effect{UnpauseTask{}}}, nil
	case RecordSignalSent:
		// Only a kill's signal is recorded: a stop's is covered by its
		// deadline, which reconciliation re-arms.
		if s.Status != StatusRunning || s.PendingSignal == 0 || s.PendingSignal != c.Signal {
			return Decision{}, nil
		}
		return Decision{Events: []Event{SignalSent{Signal: c.Signal, Pid: s.Pid, At: c.At}}}, nil
	case RecordPaused:
		if s.Status != StatusRunning || s.Paused {
			return Decision{}, nil
		}
		return Decision{Events: []Event{TaskPaused{At: c.At}}}, nil
	case RecordUnpaused:
		if s.Status != StatusRunning || !s.Paused {
			return Decision{}, nil
		}
		return Decision{Events: []Event{TaskUnpaused{At: c.At}}}, nil
	case ObserveOOM:
		// containerd may deliver the OOM event before or after the exit it
		// causes; either way it belongs to the current or last run. A
		// container that is starting again has left that run behind.
		if (s.Status != StatusRunning && s.Status != StatusExited) || s.OOMKilled {
			return Decision{}, nil
		}
		return Decision{Events: []Event{TaskOOMKilled{At: c.At}}}, nil
	case StopTimeout:
		if s.Status != StatusRunning || s.Pid != c.Pid || s.StopDeadline.IsZero() {
			return Decision{}, nil // the task already exited, or another run started
		}
		return unpauseAfterSignal(s, Decision{Effects: []Effect{SignalTask{Signal: SIGKILL}}}), nil
	case Remove:
		return decideRemove(s, c)
	case Checkpoint:
		return decideCheckpoint(s, c)
	case RecordCheckpointed, RecordCheckpointFailed:
		return decideCheckpointOutcome(s, c), nil
	case RecordCreated:
		if s.Status != StatusCreating {
			return Decision{}, nil
		}
		d := Decision{Events: []Event{ContainerCreated{At: c.At}}}
		if c.Start {
			// The outcome of the create and the intent of the start in
			// one append: the intent is still durable before the task is
			// created, and a crash before this append leaves creating,
			// which reconciliation settles (ContainerCreated, or
			// CreateFailed) as it always did; the start was not
			// acknowledged, so nothing acknowledged is lost.
			d.Events = append(d.Events, StartRequested{At: c.At})
			d.Effects = []Effect{StartTask{Config: s.Config}}
		}
		return d, nil
	case RecordCreateFailed:
		if s.Status != StatusCreating {
			return Decision{}, nil
		}
		return Decision{Events: []Event{CreateFailed{Reason: c.Err, At: c.At}}}, nil
	case RecordStarted:
		if s.Status != StatusStarting || (s.Net != nil && !s.Net.Up) { // a task starts only once its network is set up
			return Decision{}, nil
		}
		if s.Status != StatusStarting {
			return Decision{}, nil
		}
		return Decision{Events: []Event{TaskStarted{Pid: c.Pid, At: c.At}}}, nil
	case RecordLaunching:
		if s.Status != StatusStarting || s.Pid == c.Pid {
			return Decision{}, nil
		}
		return Decision{Events: []Event{TaskLaunching{Pid: c.Pid, At: c.At}}}, nil
	case RecordStartFailed:
		if s.Status != StatusStarting {
			return Decision{}, nil
		}
		return withRestart(s, Decision{Events: []Event{StartFailed{Reason: c.Err, At: c.At}}}, c.At), nil
	case RestartTimeout:
		r := s.NextRestart
		if s.Status != StatusExited || r == nil || r.Attempt != c.Attempt || !r.Due.Equal(c.Due) {
			return Decision{}, nil // canceled, or superseded by another schedule
		}
		return Decision{
			Events:  []Event{StartRequested{Attempt: r.Attempt, At: c.At}},
			Effects: []Effect{StartTask{Config: s.Config}},
		}, nil
	case RecordRemoved:
		if s.Status != StatusRemoving {
			return Decision{}, nil
		}
		return Decision{Events: []Event{ContainerRemoved{At: c.At}}}, nil
	case ObserveExit:
		return withRestart(s, decideExit(s, TaskExited{Pid: c.Pid, Code: c.Code, ExitedAt: c.ExitedAt, Reason: c.Reason}), c.At), nil
	case Reconcile:
		if rebooted(s, c) {
			return decideReboot(s, c), nil // reboot.go
		}
		d := withRestart(s, reconcileCheckpoint(s, decideReconcile(s, c), c.At), c.At)
		if c.Boot != "" && s.Boot == "" && s.Status != StatusNone && s.Status != StatusRemoved {
			// Created by a vigil that did not record boots.
			d.Events = append([]Event{BootRecorded{Boot: c.Boot, At: c.At}}, d.Events...)
		}
		if s.ReleaseSnapshot != "" { // an update's snapshot (update.go)
			d.Effects = append(d.Effects, ReleaseSnapshot{Key: s.ReleaseSnapshot})
		}
		return d, nil
	case RecordHealth:
		return decideHealth(s, c), nil // health.go
	case RecordNetworkSetUp, RecordNetworkSetupFailed, RecordNetworkReleased:
		return decideNetwork(s, c) // network.go
	case Connect, Disconnect, RecordNetworkConnected, RecordNetworkConnectFailed, RecordNetworkDisconnected:
		return decideConnect(s, c) // connect.go
	case Exec, RecordExecStarted, RecordExecExited:
		return decideExec(s, c) // exec.go
	case nil:
		return Decision{}, fmt.Errorf("%w: nil command", ErrInvalidArgument)
	}
	return Decision{}, fmt.Errorf("%w: unknown command %T", ErrInvalidArgument, c)
}

// unpauseAfterSignal unpauses a paused task after a signal is sent to it, so
// that the signal is delivered (as docker does on stop and kill).
func unpauseAfterSignal(s State, d Decision) Decision {
	if s.Paused {
		d.Effects = append(d.Effects, UnpauseTask{})
	}
	return d
}

func refuse(s State, verb string) (Decision, error) {
	if s.Status == StatusNone || s.Status == StatusRemoved {
		return Decision{}, fmt.Errorf("%w: cannot %s container %q: it does not exist", ErrInvalidTransition, verb, s.ID)
	}
	return Decision{}, fmt.Errorf("%w: cannot %s container %q: it is %s", ErrInvalidTransition, verb, s.ID, s.Status)
}

// ValidateConfig checks what can be checked without I/O.
func ValidateConfig(cfg Config) error {
	if err := containerid.Validate(cfg.ID); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	if err := validateSource(cfg); err != nil { // image.go
		return err
	}
	if len(cfg.Args) == 0 || cfg.Args[0] == "" {
		return fmt.Errorf("%w: no command given for container %q", ErrInvalidArgument, cfg.ID)
	}
	if cfg.Cwd != "" && !filepath.IsAbs(cfg.Cwd) {
		return fmt.Errorf("%w: working directory %q must be an absolute path", ErrInvalidArgument, cfg.Cwd)
	}
	if err := ValidateProcess(cfg.Args, cfg.Cwd, cfg.Env); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	if strings.IndexByte(cfg.Rootfs, 0) >= 0 {
		return fmt.Errorf("%w: rootfs %q holds a NUL byte", ErrInvalidArgument, cfg.Rootfs)
	}
	if err := validateResources(cfg); err != nil {
		return err
	}
	if err := validateHealth(cfg); err != nil {
		return err
	}
	if err := validateNetwork(cfg); err != nil { // network.go
		return err
	}
	if err := validateLogOptions(cfg.Log); err != nil {
		return err
	}
	if err := validateHost(cfg.Host); err != nil {
		return err
	}
	if cfg.Host.AutoRemove && cfg.Restart.Name != "" && cfg.Restart.Name != RestartNo {
		return fmt.Errorf("%w: auto-remove (--rm) and the restart policy %s conflict: a removed container cannot restart", ErrInvalidArgument, cfg.Restart.Name)
	}
	return cfg.Restart.Validate()
}

func decideCreate(s State, c Create) (Decision, error) {
	if s.Status != StatusNone && s.Status != StatusRemoved {
		return Decision{}, fmt.Errorf("%w: container %q already exists (it is %s)", ErrInvalidTransition, c.Config.ID, s.Status)
	}
	if s.ID != "" && c.Config.ID != s.ID {
		return Decision{}, fmt.Errorf("%w: config ID %q does not match container %q", ErrInvalidArgument, c.Config.ID, s.ID)
	}
	if err := ValidateConfig(c.Config); err != nil {
		return Decision{}, err
	}
	return Decision{
		Events:  []Event{CreateRequested{Config: c.Config, Boot: c.Boot, At: c.At}},
		Effects: []Effect{CreateContainer{Config: c.Config, Start: c.Start}},
	}, nil
}

func decideRemove(s State, c Remove) (Decision, error) {
	switch s.Status {
	case StatusCreated, StatusExited:
	case StatusRemoving:
		// A remove that was interrupted: do it again.
		return Decision{Effects: []Effect{DeleteContainer{}}}, nil
	case StatusCreating, StatusStarting, StatusRunning:
		if !c.Force {
			return Decision{}, fmt.Errorf("%w: cannot remove container %q: it is %s; stop it first or force the removal",
				ErrInvalidTransition, s.ID, s.Status)
		}
	default:
		return refuse(s, "remove")
	}
	return Decision{
		Events:  []Event{RemoveRequested{Force: c.Force, At: c.At}},
		Effects: []Effect{DeleteContainer{}},
	}, nil
}

// decideExit records exit e once. An exit is identified by the pid of the
// run it ends: a second report for that pid (a duplicate event, or the
// same exit seen by an event and by reconciliation) changes nothing, and a
// report for a pid other than the current run's is stale.
func decideExit(s State, e TaskExited) Decision {
	switch s.Status {
	case StatusRunning:
		if e.Pid != s.Pid {
			return Decision{}
		}
	case StatusStarting:
		// The exit of a task whose start was not recorded yet (its shim
		// died as it started, or the supervisor stopped meanwhile): the
		// task ran, so its start is recorded with its exit. An exit of
		// the run before (recorded already) or of another task is stale.
		if e.Pid == 0 || (s.Pid != 0 && e.Pid != s.Pid) || (s.Exit != nil && s.Exit.Pid == e.Pid) {
			return Decision{}
		}
		return Decision{Events: []Event{TaskStarted{Pid: e.Pid, At: e.ExitedAt}, e}, Effects: []Effect{DeleteTask{}}}
	case StatusRemoving:
		if s.Pid == 0 || e.Pid != s.Pid || (s.Exit != nil && s.Exit.Pid == e.Pid) {
			return Decision{}
		}
	default:
		return Decision{}
	}
	return Decision{Events: []Event{e}, Effects: []Effect{DeleteTask{}}}
}

func decideReconcile(s State, c Reconcile) Decision {
	o := c.Observed
	gone := func(why string) Decision {
		return Decision{Events: []Event{TaskExited{Pid: s.Pid, Code: ExitCodeUnknown, ExitedAt: c.At, Reason: why}}}
	}
	switch s.Status {
	case StatusCreating:
		if o.ContainerExists {
			return Decision{Events: []Event{ContainerCreated{At: c.At}}}
		}
		return Decision{Events: []Event{CreateFailed{Reason: "the supervisor stopped before containerd created the container", At: c.At}}}
	case StatusCreated:
		if !o.ContainerExists {
			return gone("the container vanished from containerd")
		}
	case StatusStarting:
		if !o.ContainerExists {
			return gone("the container vanished from containerd")
		}
		switch o.Task {
		case TaskRunning:
			return Decision{Events: []Event{TaskStarted{Pid: o.Pid, At: c.At}}}
		case TaskPhasePaused:
			return Decision{Events: []Event{TaskStarted{Pid: o.Pid, At: c.At}, TaskPaused{At: c.At}}}
		case TaskStopped:
			if s.Pid == 0 && s.Exit != nil && s.Exit.Pid != 0 && o.Pid == s.Exit.Pid {
				// The task of the run before, whose exit is recorded and
				// whose deletion failed (containerd was away): no run of
				// this start. Delete it, then carry out the start.
				return Decision{Effects: []Effect{DeleteTask{}, StartTask{Config: s.Config, Checkpoint: s.RestoredFrom}}}
			}
			return Decision{
				Events: []Event{
					TaskStarted{Pid: o.Pid, At: c.At},
					TaskExited{Pid: o.Pid, Code: o.ExitCode, ExitedAt: o.ExitedAt},
				},
				Effects: []Effect{DeleteTask{}},
			}
		default:
			if s.Pid != 0 && (o.Task != TaskCreated || o.Pid != s.Pid) {
				// The task journaled as launching is gone before its start
				// was recorded: it may have run and printed, so it is
				// recorded as a run whose exit was lost, and the restart
				// policy decides, as for any run that vanished.
				d := Decision{Events: []Event{
					TaskStarted{Pid: s.Pid, At: c.At},
					TaskExited{Pid: s.Pid, Code: ExitCodeUnknown, ExitedAt: c.At, Reason: LaunchLostReason},
				}}
				if o.Task == TaskCreated {
					d.Effects = []Effect{DeleteTask{}}
				}
				return d
			}
			// The supervisor stopped (or lost containerd) before the task
			// ran: no task, or one created and never started. That is no
			// failure of the container: the journaled start is carried out
			// now, once (StartTask clears a created task first). A restart
			// keeps its attempt number, so the supervisor's crash uses up
			// none of the container's retries.
			return Decision{Effects: []Effect{StartTask{Config: s.Config, Checkpoint: s.RestoredFrom}}}
		}
	case StatusRunning:
		if !o.ContainerExists {
			return gone("the container vanished from containerd while the supervisor was away")
		}
		switch o.Task {
		case TaskRunning, TaskPhasePaused:
			if o.Pid != s.Pid {
				return Decision{Events: []Event{TaskStarted{Pid: o.Pid, At: c.At}}}
			}
			var d Decision
			// A pause or unpause that happened while nobody watched.
			if paused := o.Task == TaskPhasePaused; paused != s.Paused {
				if paused {
					d.Events = append(d.Events, TaskPaused{At: c.At})
				} else {
					d.Events = append(d.Events, TaskUnpaused{At: c.At})
				}
			}
			if s.PendingSignal != 0 {
				// A kill journaled but maybe never sent (the supervisor
				// stopped in between): send it again, unpausing a paused
				// task afterwards so that it is delivered.
				d.Effects = append(d.Effects, SignalTask{Signal: s.PendingSignal})
				if o.Task == TaskPhasePaused {
					d.Effects = append(d.Effects, UnpauseTask{})
				}
			}
			if !s.StopDeadline.IsZero() {
				// A stop was pending: re-arm its timer for the time left.
				left := s.StopDeadline.Sub(c.At)
				if left < 0 {
					left = 0
				}
				d.Effects = append(d.Effects, ArmStopTimer{Pid: s.Pid, After: left})
			}
			return d
		case TaskStopped:
			return decideExit(s, TaskExited{Pid: s.Pid, Code: o.ExitCode, ExitedAt: o.ExitedAt})
		default:
			return gone("the task vanished from containerd while the supervisor was away")
		}
	case StatusExited:
		var d Decision
		if r := s.NextRestart; r != nil {
			// A restart was pending: re-arm its timer for the time left.
			// If containerd lost the container meanwhile, StartTask
			// creates it again from the journaled config.
			left := max(r.Due.Sub(c.At), 0)
			d.Effects = append(d.Effects, ArmRestartTimer{Attempt: r.Attempt, Due: r.Due, After: left})
		}
		if o.ContainerExists && (o.Task == TaskStopped || o.Task == TaskCreated) {
			d.Effects = append(d.Effects, DeleteTask{})
		}
		if s.NextRestart == nil && !o.ContainerExists && s.Starts > 0 && (c.Boot == "" || s.Boot == "") {
			// Without boot IDs, a container that containerd lost is
			// taken for a host reboot (reboot.go tells one for sure).
			d = restartAfterReboot(s, d, ExitVanished, c.At)
		}
		return d
	case StatusRemoving:
		return Decision{Effects: []Effect{DeleteContainer{}}}
	}
	return Decision{}
}
